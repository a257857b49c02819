//! One invocation of the engine: a [`Run`] owns its identity, its deadline
//! and the store whose calls it cuts, and takes a set of grades through
//! the steps in order (claim, read, plan, post and record, release). The
//! summary is folded from the grades' outcomes at the end.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime};

use futures::future::Either;
use futures::StreamExt;
use time::OffsetDateTime;

use crate::activity::{Activity, ActivityKey};
use crate::store::{
    AcceptedBefore, GradeKey, Lease, LeaseOutcome, PendingGrade, Store, WorkCopies,
};

use crate::outcome::{GradeOutcome, PendingReason};

use super::plan::{self, KnownOutcome, Plan};
use super::posting::{Posting, PostingDeps};
use super::record::Recorder;
use super::summary::{FinishedGrade, PlannedScore, RunFacts};
use super::{BatchRun, RunSummary, SyncEngine, SyncError};

/// How long a lease or claim outlives its holder's deadline (Lambda stops
/// the holder at the deadline; the grace covers clock skew and a request
/// still in flight at the LMS).
const LOCK_GRACE: Duration = Duration::from_secs(5);

/// One invocation's run.
pub(super) struct Run<'e> {
    engine: &'e SyncEngine,
    /// The engine's store with a meter of this run's own, whose every call
    /// is cut once only half the deadline margin is left: posts in flight
    /// at the stop get that half to record their outcomes.
    store: Store,
    /// Writes the outcomes through that store, noting when.
    recorder: Recorder,
    id: String,
    dry_run: bool,
    deadline: SystemTime,
    started: Instant,
    /// Set when the run started with no more time than its deadline margin:
    /// why it takes nothing.
    too_late: Option<String>,
}

/// Where a run's grades come from; either goes through the same steps.
enum Work {
    /// Keys named by stream records: read consistently once claimed.
    Keys(Vec<GradeKey>),
    /// Copies from the work index (the daily run): each is confirmed just
    /// before it is posted.
    Copies(WorkCopies),
}

/// What the daily run's read of the work index found.
struct Discovered {
    copies: WorkCopies,
    /// How long the read took.
    ms: u64,
}

/// Grade keys by the activity they name (`None`: a key that names none;
/// its item is read all the same, and fails as malformed).
type ByActivity = BTreeMap<Option<ActivityKey>, Vec<GradeKey>>;

/// What the claim step got: the activities this run holds, and the others
/// with why their grades wait.
struct Claims {
    held: BTreeSet<Option<ActivityKey>>,
    left: Vec<(Option<ActivityKey>, PendingReason)>,
}

/// What the read step found for the claimed activities.
struct ReadWork {
    grades: Vec<PendingGrade>,
    activities: HashMap<ActivityKey, Result<Activity, String>>,
    /// What the LMS accepted for each grade, when read with the grades
    /// (keys); `None`: each is read beside its confirmation (copies).
    accepted_before: Option<AcceptedBefore>,
    items_read: u64,
}

/// The grades a run finished, and what its steps counted.
struct Worked {
    finished: Vec<FinishedGrade>,
    facts: RunFacts,
}

/// Whether the daily run may go on: with the lease held (`Option<Lease>`,
/// `None` for a dry run, which takes none), and then with what was read
/// beside it ([`DailyStart`]).
enum LeaseTaken<Held = Option<Lease>> {
    /// This run holds the lease.
    Held(Held),
    /// Another run holds it: who, until when.
    Elsewhere(String),
}

impl<T> LeaseTaken<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> LeaseTaken<U> {
        match self {
            LeaseTaken::Held(held) => LeaseTaken::Held(f(held)),
            LeaseTaken::Elsewhere(held) => LeaseTaken::Elsewhere(held),
        }
    }
}

/// The daily run's start: the lease held, with what the read of the work
/// index found.
struct DailyStart {
    lease: Option<Lease>,
    found: Result<Discovered, SyncError>,
}

impl<'e> Run<'e> {
    /// A run of `engine` that must answer by `deadline`.
    pub(super) fn start(engine: &'e SyncEngine, dry_run: bool, deadline: SystemTime) -> Self {
        let margin = engine.tuning.deadline_margin;
        let left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        let too_late = (left <= margin && !margin.is_zero()).then(|| too_late(left, margin));
        let started = Instant::now();
        let cut_at = deadline.checked_sub(margin / 2).unwrap_or(deadline);
        let store = engine.store.cut_at(cut_at).metered();
        Self {
            engine,
            recorder: Recorder::new(store.clone(), started),
            store,
            id: uuid::Uuid::new_v4().to_string(),
            dry_run,
            deadline,
            started,
            too_late,
        }
    }

    /// The run's id (also the lease and claims' owner).
    pub(super) fn id(&self) -> &str {
        &self.id
    }

    /// The daily run: lease and discovery through the work index side by
    /// side, then the steps.
    pub(super) async fn daily(
        self,
        activity: Option<&ActivityKey>,
    ) -> Result<RunSummary, SyncError> {
        if let Some(why) = self.too_late.clone() {
            return Ok(self.taking_nothing(why));
        }
        let DailyStart { lease, found } = match self.lease_beside_discovery(activity).await? {
            LeaseTaken::Held(start) => start,
            LeaseTaken::Elsewhere(held) => return Ok(self.skipped(held)),
        };
        let worked = match found {
            Ok(found) => self.work_found(found).await,
            Err(e) => Err(e),
        };
        if let Some(lease) = lease {
            self.release_lease(&lease).await;
        }
        Ok(self.summary(worked?))
    }

    /// Takes the lease while the work index is read: a scan takes no lock
    /// and every copy is confirmed before it is posted, so the first post
    /// waits for the longer of the two rather than both. The lease answers
    /// first: held elsewhere, or failing, the read is dropped unfinished
    /// and the run answers at once.
    async fn lease_beside_discovery(
        &self,
        activity: Option<&ActivityKey>,
    ) -> Result<LeaseTaken<DailyStart>, SyncError> {
        let discovery = std::pin::pin!(self.discover(activity));
        let lease = std::pin::pin!(self.take_lease());
        Ok(match futures::future::select(lease, discovery).await {
            Either::Left((lease, discovery)) => match lease? {
                LeaseTaken::Held(lease) => LeaseTaken::Held(DailyStart {
                    lease,
                    found: discovery.await,
                }),
                LeaseTaken::Elsewhere(held) => LeaseTaken::Elsewhere(held),
            },
            Either::Right((found, lease)) => lease.await?.map(|lease| DailyStart { lease, found }),
        })
    }

    /// A stream batch: the grades `keys` name, through the same steps.
    pub(super) async fn batch(self, keys: Vec<GradeKey>) -> Result<BatchRun, SyncError> {
        if let Some(why) = self.too_late.clone() {
            // Every record is asked for again, by a batch with time to post it.
            let wait = GradeOutcome::Pending(PendingReason::Deadline);
            let outcomes = keys.into_iter().map(|key| (key, wait.clone())).collect();
            let summary = self.taking_nothing(why);
            return Ok(BatchRun { summary, outcomes });
        }
        let worked = self.work(Work::Keys(keys)).await?;
        let outcomes = worked
            .finished
            .iter()
            .map(|grade| (grade.key.clone(), grade.outcome.clone()))
            .collect();
        Ok(BatchRun {
            summary: self.summary(worked),
            outcomes,
        })
    }

    fn summary(&self, worked: Worked) -> RunSummary {
        let mut summary = RunSummary::fold(&self.id, self.dry_run, worked.facts, &worked.finished);
        summary.record_consumed(self.store.consumed());
        summary.duration_ms = elapsed_ms(self.started);
        let milestones = self.recorder.milestones();
        summary.phase_ms.first_post = milestones.first_post_ms();
        summary.phase_ms.last_outcome = milestones.last_outcome_ms();
        summary
    }

    /// The summary of a run that started too late to do anything.
    fn taking_nothing(&self, why: String) -> RunSummary {
        RunSummary {
            stopped_by_deadline: true,
            ..self.skipped(why)
        }
    }

    fn skipped(&self, held: String) -> RunSummary {
        let mut summary = RunSummary {
            run_id: self.id.clone(),
            dry_run: self.dry_run,
            skipped: Some(held),
            duration_ms: elapsed_ms(self.started),
            ..RunSummary::default()
        };
        // What the lease, and any read begun beside it, consumed.
        summary.record_consumed(self.store.consumed());
        summary
    }

    async fn take_lease(&self) -> Result<LeaseTaken, SyncError> {
        if self.dry_run {
            return Ok(LeaseTaken::Held(None));
        }
        let (now, until) = (OffsetDateTime::now_utc(), self.lock_expiry());
        Ok(
            match self.store.acquire_lease(&self.id, now, until).await? {
                LeaseOutcome::Acquired(lease) => LeaseTaken::Held(Some(lease)),
                LeaseOutcome::HeldByAnother(held) => LeaseTaken::Elsewhere(format!(
                    "another sync run ({}) holds the lease until {}",
                    held.owner, held.expires_at
                )),
            },
        )
    }

    /// When this run's lease and claims expire if it never releases them.
    fn lock_expiry(&self) -> OffsetDateTime {
        OffsetDateTime::from(self.deadline + LOCK_GRACE)
    }

    /// Releases may use the time past the cut of the grades' writes, up to a
    /// quarter of the margin before the deadline: a lease or claim left held
    /// keeps the next holder off until it expires, but the run must still
    /// answer before Lambda stops it, whatever the DynamoDB timeouts. A
    /// release cut there is left to expire.
    fn release_store(&self) -> Store {
        let margin = self.engine.tuning.deadline_margin;
        let cut_at = self.deadline.checked_sub(margin / 4);
        self.store.cut_at(cut_at.unwrap_or(self.deadline))
    }

    async fn release_lease(&self, lease: &Lease) {
        if let Err(e) = self.release_store().release_lease(lease).await {
            tracing::warn!(error = %e, "could not release the sync lease; it expires by itself");
        }
    }

    /// The work index's copies (of one activity, or all), and how long
    /// reading them took.
    async fn discover(&self, activity: Option<&ActivityKey>) -> Result<Discovered, SyncError> {
        let started = Instant::now();
        let copies = self.store.pending_work(activity).await?;
        Ok(Discovered {
            copies,
            ms: elapsed_ms(started),
        })
    }

    /// The steps for what discovery found, with its counts in the facts.
    async fn work_found(&self, found: Discovered) -> Result<Worked, SyncError> {
        let Discovered { copies, ms } = found;
        let (items_read, incomplete) = (copies.items_read, !copies.complete);
        let mut worked = Box::pin(self.work(Work::Copies(copies))).await?;
        worked.facts.phase_ms.discovery = ms;
        worked.facts.items_read += items_read;
        worked.facts.discovery_incomplete = incomplete;
        Ok(worked)
    }

    /// Claim, read, plan, confirm, post and record, release (see the module docs).
    async fn work(&self, work: Work) -> Result<Worked, SyncError> {
        let by_activity = group_by_activity(work.keys());
        let started = Instant::now();
        let claims = self.claim(&by_activity).await;
        let claim_ms = elapsed_ms(started);
        let result = self.work_claimed(work, &by_activity, &claims.held).await;
        self.release_claims(&claims.held).await;
        let mut worked = result?;
        worked.facts.phase_ms.claim = claim_ms;
        for (activity, why) in claims.left {
            let keys = by_activity.get(&activity).into_iter().flatten();
            let label = activity.as_ref().map(ToString::to_string);
            worked.finished.extend(keys.map(|key| FinishedGrade {
                key: key.clone(),
                activity: label.clone().unwrap_or_default(),
                user: key.sk.clone(),
                outcome: GradeOutcome::Pending(why),
            }));
        }
        Ok(worked)
    }

    async fn work_claimed(
        &self,
        work: Work,
        by_activity: &ByActivity,
        claimed: &BTreeSet<Option<ActivityKey>>,
    ) -> Result<Worked, SyncError> {
        let started = Instant::now();
        let read = self.read_claimed(work, by_activity, claimed).await?;
        let mut facts = RunFacts {
            items_read: read.items_read,
            grades_found: read.grades.len() as u64,
            ..RunFacts::default()
        };
        facts.phase_ms.read = elapsed_ms(started);
        let plan = plan::plan(read.grades, read.activities);
        facts.activities_seen = plan.activities_seen;
        facts.activities_needing_relaunch = plan.activities_needing_relaunch;
        if self.dry_run {
            return Ok(rehearse(plan, facts));
        }
        let started = Instant::now();
        let mut finished = self.record_known(plan.known).await;
        facts.phase_ms.outcome_writes = elapsed_ms(started);
        // Boxed: posting is most of a run's state.
        let posting = Posting::new(self.posting_deps(), &plan.ready, read.accepted_before);
        let posted = Box::pin(posting.post_all(&plan.ready)).await;
        finished.extend(posted.finished);
        posted.counts.add_to(&mut facts);
        Ok(Worked { finished, facts })
    }

    /// The claimed activities' grades and the activities themselves: read
    /// consistently for keys, with what the LMS accepted for each grade, in
    /// one round of requests; for copies, taken from the index, reading only
    /// the activities the index had no copy of (launched before activities
    /// were indexed, or a moment ago).
    async fn read_claimed(
        &self,
        work: Work,
        by_activity: &ByActivity,
        claimed: &BTreeSet<Option<ActivityKey>>,
    ) -> Result<ReadWork, SyncError> {
        let mut read = match work {
            Work::Keys(_) => {
                let keys: Vec<GradeKey> = by_activity
                    .iter()
                    .filter(|(activity, _)| claimed.contains(*activity))
                    .flat_map(|(_, keys)| keys.iter().cloned())
                    .collect();
                let read = self.store.read_batch(&keys).await?;
                ReadWork {
                    grades: read.grades,
                    activities: read.activities,
                    accepted_before: Some(read.accepted_before),
                    items_read: read.items_read,
                }
            }
            Work::Copies(mut copies) => {
                copies.grades.retain(|g| claimed.contains(&g.activity));
                ReadWork {
                    grades: copies.grades,
                    activities: copies.activities,
                    accepted_before: None,
                    items_read: 0,
                }
            }
        };
        read.activities
            .retain(|key, _| claimed.contains(&Some(key.clone())));
        let missing: Vec<ActivityKey> = claimed
            .iter()
            .flatten()
            .filter(|key| !read.activities.contains_key(*key))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let activities = self.store.activities(&missing).await?;
            read.items_read += activities.len() as u64;
            read.activities.extend(activities);
        }
        Ok(read)
    }

    /// Claims every activity with keys (keys naming no activity need no
    /// claim, nor does a dry run).
    async fn claim(&self, by_activity: &ByActivity) -> Claims {
        let (now, until) = (OffsetDateTime::now_utc(), self.lock_expiry());
        // Owned keys: a stream of borrowed ones makes the future not Send.
        let results: Vec<_> = futures::stream::iter(by_activity.keys().cloned())
            .map(|activity| async move {
                let outcome = match (&activity, self.dry_run) {
                    (None, _) | (_, true) => Ok(None),
                    (Some(key), false) => self
                        .store
                        .claim_activity(key, &self.id, now, until)
                        .await
                        .map(Some),
                };
                (activity, outcome)
            })
            .buffer_unordered(self.engine.tuning.concurrency)
            .collect()
            .await;
        let mut claims = Claims {
            held: BTreeSet::new(),
            left: Vec::new(),
        };
        for (activity, outcome) in results {
            match outcome {
                Ok(None | Some(LeaseOutcome::Acquired(_))) => {
                    claims.held.insert(activity);
                }
                Ok(Some(LeaseOutcome::HeldByAnother(lock))) => {
                    tracing::info!(activity = ?activity, holder = %lock.owner, "another run is posting this activity; its grades are left to it");
                    claims
                        .left
                        .push((activity, PendingReason::ClaimedElsewhere));
                }
                Err(e) => {
                    tracing::warn!(activity = ?activity, error = %e, "could not claim the activity; its grades wait");
                    claims.left.push((activity, PendingReason::StoreError));
                }
            }
        }
        claims
    }

    async fn release_claims(&self, claimed: &BTreeSet<Option<ActivityKey>>) {
        if self.dry_run {
            return;
        }
        let store = &self.release_store();
        let owner = self.id.as_str();
        futures::stream::iter(claimed.iter().flatten().cloned())
            .for_each_concurrent(self.engine.tuning.concurrency, |key| async move {
                if let Err(e) = store.release_activity(&key, owner).await {
                    tracing::warn!(activity = %key, error = %e, "could not release a claim; it expires by itself");
                }
            })
            .await;
    }

    /// What the post step works with.
    fn posting_deps(&self) -> PostingDeps<'_> {
        PostingDeps {
            client: &self.engine.client,
            tuning: &self.engine.tuning,
            rosters: &self.engine.rosters,
            store: &self.store,
            recorder: &self.recorder,
            deadline: self.deadline,
        }
    }

    /// Writes the outcomes known without calling LTIaaS.
    async fn record_known(&self, known: Vec<KnownOutcome>) -> Vec<FinishedGrade> {
        futures::stream::iter(known)
            .map(|grade| async move {
                let outcome = match grade.outcome {
                    GradeOutcome::Failed(reason) => self.recorder.fail(&grade.stored, reason).await,
                    GradeOutcome::Pending(reason) => {
                        self.recorder
                            .leave_pending(&grade.stored, reason, None)
                            .await
                    }
                    // The plan knows only failures and waits; nothing to write.
                    other => other,
                };
                FinishedGrade::new(&grade.stored, outcome)
            })
            .buffer_unordered(self.engine.tuning.concurrency)
            .collect()
            .await
    }
}

impl Work {
    fn keys(&self) -> Vec<GradeKey> {
        match self {
            Work::Keys(keys) => keys.clone(),
            Work::Copies(copies) => copies.grades.iter().map(PendingGrade::key).collect(),
        }
    }
}

/// A dry run: what would be posted, nothing written.
fn rehearse(plan: Plan, mut facts: RunFacts) -> Worked {
    for work in &plan.ready {
        let dialect = work.activity.services.score_dialect();
        facts
            .would_post
            .extend(work.grades.iter().map(|g| PlannedScore {
                activity_key: work.activity.key.to_string(),
                score: g.grade.to_score(dialect),
            }));
    }
    let finished = plan
        .known
        .into_iter()
        .map(|known| FinishedGrade::new(&known.stored, known.outcome))
        .collect();
    Worked { finished, facts }
}

/// Why a run that started inside its deadline margin takes nothing.
fn too_late(left: Duration, margin: Duration) -> String {
    let (left_ms, margin_ms) = (left.as_millis() as u64, margin.as_millis() as u64);
    tracing::error!(
        left_ms,
        margin_ms,
        "the run started inside its deadline margin and takes nothing; \
         raise the function's timeout or lower SYNC_DEADLINE_MARGIN_MS"
    );
    format!(
        "the run started with {left_ms} ms left, within its {margin_ms} ms deadline margin \
         (SYNC_DEADLINE_MARGIN_MS): it took no lease, claim or grade"
    )
}

fn elapsed_ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

fn group_by_activity(keys: Vec<GradeKey>) -> ByActivity {
    let mut groups = ByActivity::new();
    let unique: BTreeSet<GradeKey> = keys.into_iter().collect();
    for key in unique {
        groups.entry(key.activity()).or_default().push(key);
    }
    groups
}

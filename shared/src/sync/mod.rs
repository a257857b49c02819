//! The sync engine: posts pending grades through LTIaaS with each
//! activity's service key, and records every grade's outcome.
//!
//! Work comes from two sources and goes through the same steps:
//! - [`SyncEngine::run`], the daily run: takes the lease (so two scheduled
//!   invocations never sync at once) and finds every pending grade through
//!   the work index, which also holds copies of the grades and activities;
//! - [`SyncEngine::post_now`], the stream path: the grades named by a batch
//!   of DynamoDB stream records, seconds after the tool wrote them.
//!
//! The steps, for a set of grades:
//! 1. **claim** each activity (a lock item per activity), so that whoever
//!    posts an activity's grades is alone with them until the outcomes are
//!    written: two posts of one grade never overlap;
//! 2. **read** the grades and activities: the stream path reads them
//!    consistently *after* claiming; the daily run has the index's copies
//!    (eventually consistent, a fraction of the price) and must confirm each
//!    before posting it;
//! 3. **plan** (pure, [`plan`]): which grades are posted, which wait and why;
//! 4. **confirm** a copy just before posting it: a conditional write that
//!    applies only if the table still holds the copy's value (a copy that
//!    lags is read again, consistently, and its current value posted, or
//!    nothing if it is no longer pending). So every value posted was the
//!    table's value at a moment when this holder held the claim: each holder
//!    posts values at least as new as the previous holder's, and the values
//!    the LMS receives only ever get newer;
//! 5. **post** under the request gate ([`limits`]) and **record** each
//!    outcome with a write that applies only if the grade is unchanged since
//!    it was read or confirmed, so a grade is marked SYNCED only with the
//!    value the LMS got last;
//! 6. **release** the claims.
//!
//! A grade leaves the work index only after LTIaaS accepted (or rejected
//! it for good) and only if the tool did not change it meanwhile, so a
//! crash at any point leaves every grade posted or still pending.

pub mod limits;
pub mod line_item;
pub mod plan;
mod post;
pub mod roster;
pub mod summary;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use thiserror::Error;
use time::OffsetDateTime;

use crate::activity::Activity;
use crate::activity::ActivityKey;
use crate::config::SyncTuning;
use crate::ltiaas::LtiaasClient;
use crate::store::{GradeKey, LeaseOutcome, PendingGrade, Store, StoreError, WorkCopies};

use limits::RequestGate;
use plan::{interleave_by_platform, Plan};
use post::{outcome_after_write, ActivityPoster, RunState};
pub use summary::{GradeOutcome, PendingReason, PlannedScore, RunSummary};

/// How long a lease or claim outlives its holder's deadline (Lambda stops
/// the holder at the deadline; the grace covers clock skew and a request
/// still in flight at the LMS).
const LOCK_GRACE: Duration = Duration::from_secs(5);

/// What the daily run syncs.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    /// Only this activity (None: every activity with pending grades).
    pub activity: Option<ActivityKey>,
    /// Report what would be posted; post and write nothing.
    pub dry_run: bool,
    /// The Lambda deadline; no post starts within the margin before it.
    pub deadline: SystemTime,
}

/// A run that could not do its work at all.
#[derive(Debug, Error)]
pub enum SyncError {
    /// The lease or the pending grades could not be read or written.
    #[error("the sync could not use its DynamoDB table: {0}")]
    Store(#[from] StoreError),
}

/// What a stream batch did: the summary, and each grade key's outcome.
#[derive(Debug, Clone, Default)]
pub struct BatchRun {
    /// Counts, as for a daily run.
    pub summary: RunSummary,
    /// The outcome of each key asked for (absent: the grade was no longer
    /// pending when read, so there was nothing to do).
    pub outcomes: HashMap<GradeKey, GradeOutcome>,
}

/// The engine, built once per cold start.
#[derive(Debug, Clone)]
pub struct SyncEngine {
    client: LtiaasClient,
    store: Store,
    tuning: SyncTuning,
    /// Rosters read by earlier runs of this process.
    rosters: std::sync::Arc<roster::RosterCache>,
}

/// Where a run's grades come from; either goes through the same steps.
enum Work {
    /// Keys named by stream records: read consistently once claimed.
    Keys(Vec<GradeKey>),
    /// Copies from the work index (the daily run): each is confirmed just
    /// before it is posted.
    Copies(WorkCopies),
}

impl Work {
    fn keys(&self) -> Vec<GradeKey> {
        match self {
            Work::Keys(keys) => keys.clone(),
            Work::Copies(copies) => copies.grades.iter().map(PendingGrade::key).collect(),
        }
    }
}

/// What the read step found for the claimed activities.
type ReadWork = (
    Vec<PendingGrade>,
    HashMap<ActivityKey, Result<Activity, String>>,
);

/// One grade's outcome, labelled for the summary.
struct Settled {
    key: GradeKey,
    activity: String,
    user: String,
    outcome: GradeOutcome,
}

/// A run's identity and limits.
struct RunContext {
    run_id: String,
    dry_run: bool,
    deadline: SystemTime,
}

impl SyncEngine {
    /// An engine over the given client, store and tuning.
    pub fn new(client: LtiaasClient, store: Store, tuning: SyncTuning) -> Self {
        Self {
            client,
            store,
            tuning,
            rosters: Default::default(),
        }
    }

    /// The daily run (see the module docs): every pending grade, or one
    /// activity's.
    ///
    /// No post starts in the last `deadline_margin` before the deadline, and
    /// every DynamoDB call is cut once only half the margin is left: posts
    /// still in flight at the stop get the first half to record their
    /// outcomes, and the run always answers before Lambda stops it.
    #[tracing::instrument(skip_all, fields(run_id))]
    pub async fn run(&self, request: SyncRequest) -> Result<RunSummary, SyncError> {
        let started = Instant::now();
        let context = self.context(request.dry_run, request.deadline);
        tracing::Span::current().record("run_id", context.run_id.as_str());
        let engine = self.bounded(&context);
        let mut summary = RunSummary {
            run_id: context.run_id.clone(),
            dry_run: request.dry_run,
            ..RunSummary::default()
        };
        let lease = match engine.take_lease(&context).await? {
            Ok(lease) => lease,
            Err(held) => {
                summary.skipped = Some(held);
                summary.duration_ms = started.elapsed().as_millis() as u64;
                return Ok(summary);
            }
        };
        let result = engine.daily_work(&request, &context, &mut summary).await;
        if let Some(lease) = lease {
            let store = engine.store.cut_at(context.deadline);
            if let Err(e) = store.release_lease(&lease).await {
                tracing::warn!(error = %e, "could not release the sync lease; it expires by itself");
            }
        }
        result?;
        summary.record_consumed(engine.store.consumed());
        summary.duration_ms = started.elapsed().as_millis() as u64;
        Ok(summary)
    }

    /// The stream path: posts the grades named by `keys` now (no lease; the
    /// activity claims keep it apart from the daily run and other batches).
    #[tracing::instrument(skip_all, fields(run_id, grades = keys.len()))]
    pub async fn post_now(
        &self,
        keys: Vec<GradeKey>,
        deadline: SystemTime,
    ) -> Result<BatchRun, SyncError> {
        let started = Instant::now();
        let context = self.context(false, deadline);
        tracing::Span::current().record("run_id", context.run_id.as_str());
        let engine = self.bounded(&context);
        let mut batch = BatchRun::default();
        batch.summary.run_id = context.run_id.clone();
        let settled =
            Box::pin(engine.sync_work(Work::Keys(keys), &context, &mut batch.summary)).await?;
        for grade in settled {
            batch.outcomes.insert(grade.key, grade.outcome);
        }
        batch.summary.record_consumed(engine.store.consumed());
        batch.summary.duration_ms = started.elapsed().as_millis() as u64;
        Ok(batch)
    }

    fn context(&self, dry_run: bool, deadline: SystemTime) -> RunContext {
        let left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        if left <= self.tuning.deadline_margin {
            tracing::error!(
                left_ms = left.as_millis() as u64,
                margin_ms = self.tuning.deadline_margin.as_millis() as u64,
                "SYNC_DEADLINE_MARGIN_MS leaves no time to post before the deadline; \
                 lower it below the function's timeout"
            );
        }
        RunContext {
            run_id: uuid::Uuid::new_v4().to_string(),
            dry_run,
            deadline,
        }
    }

    /// This engine with its store calls cut at half the margin before the deadline.
    fn bounded(&self, context: &RunContext) -> Self {
        let cut_at = context
            .deadline
            .checked_sub(self.tuning.deadline_margin / 2)
            .unwrap_or(context.deadline);
        Self {
            store: self.store.cut_at(cut_at).metered(),
            ..self.clone()
        }
    }

    /// `Ok(None)`: a dry run needs no lease. `Err`: who holds it.
    async fn take_lease(
        &self,
        context: &RunContext,
    ) -> Result<Result<Option<crate::store::Lease>, String>, SyncError> {
        if context.dry_run {
            return Ok(Ok(None));
        }
        let now = OffsetDateTime::now_utc();
        let until = OffsetDateTime::from(context.deadline + LOCK_GRACE);
        Ok(
            match self
                .store
                .acquire_lease(&context.run_id, now, until)
                .await?
            {
                LeaseOutcome::Acquired(lease) => Ok(Some(lease)),
                LeaseOutcome::HeldByAnother(held) => Err(format!(
                    "another sync run ({}) holds the lease until {}",
                    held.owner, held.expires_at
                )),
            },
        )
    }

    async fn daily_work(
        &self,
        request: &SyncRequest,
        context: &RunContext,
        summary: &mut RunSummary,
    ) -> Result<(), SyncError> {
        let started = Instant::now();
        let found = self.store.pending_work(request.activity.as_ref()).await?;
        summary.phase_ms.discovery = elapsed_ms(started);
        summary.items_read = found.items_read;
        // Boxed: a run's future holds every step's state and should not
        // have to fit on whatever stack polls it.
        Box::pin(self.sync_work(Work::Copies(found), context, summary)).await?;
        Ok(())
    }

    /// Claim, read, plan, confirm, post and record, release (see the module docs).
    async fn sync_work(
        &self,
        work: Work,
        context: &RunContext,
        summary: &mut RunSummary,
    ) -> Result<Vec<Settled>, SyncError> {
        let by_activity = group_by_activity(work.keys());
        let started = Instant::now();
        let (claimed, held) = self.claim(&by_activity, context).await;
        summary.phase_ms.claim = elapsed_ms(started);
        let result = self
            .sync_claimed(work, &by_activity, &claimed, context, summary)
            .await;
        self.release(&claimed, context).await;
        let mut settled = result?;
        for (activity, why) in held {
            let keys = by_activity.get(&activity).into_iter().flatten();
            settled.extend(keys.map(|key| {
                Settled {
                    key: key.clone(),
                    activity: activity
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    user: key.sk.clone(),
                    outcome: GradeOutcome::Pending(why),
                }
            }));
        }
        for grade in &settled {
            summary.record(&grade.activity, &grade.user, &grade.outcome);
        }
        summary.stopped_by_deadline = summary
            .pending_reasons
            .contains_key(PendingReason::Deadline.name());
        Ok(settled)
    }

    async fn sync_claimed(
        &self,
        work: Work,
        by_activity: &BTreeMap<Option<ActivityKey>, Vec<GradeKey>>,
        claimed: &BTreeSet<Option<ActivityKey>>,
        context: &RunContext,
        summary: &mut RunSummary,
    ) -> Result<Vec<Settled>, SyncError> {
        let started = Instant::now();
        let (grades, activities) = self
            .read_claimed(work, by_activity, claimed, summary)
            .await?;
        summary.phase_ms.read = elapsed_ms(started);
        summary.grades_found = grades.len() as u64;
        let plan = plan::plan(grades, activities);
        summary.activities_seen = plan.activities_seen;
        summary.activities_needing_relaunch = plan.activities_needing_relaunch;
        if context.dry_run {
            return Ok(self.rehearse(plan, summary));
        }
        let started = Instant::now();
        let mut settled = self.record_decided(plan.decided).await;
        summary.phase_ms.outcome_writes = elapsed_ms(started);
        // Boxed: posting is most of a run's state, and a run's future should
        // not have to fit on whatever stack polls it.
        settled.extend(Box::pin(self.post_ready(plan.ready, context, summary)).await);
        Ok(settled)
    }

    /// The claimed activities' grades and the activities themselves: read
    /// consistently for keys; for copies, taken from the index, reading only
    /// the activities the index had no copy of (launched before activities
    /// were indexed, or a moment ago).
    async fn read_claimed(
        &self,
        work: Work,
        by_activity: &BTreeMap<Option<ActivityKey>, Vec<GradeKey>>,
        claimed: &BTreeSet<Option<ActivityKey>>,
        summary: &mut RunSummary,
    ) -> Result<ReadWork, SyncError> {
        let claimed_keys: Vec<ActivityKey> = claimed.iter().flatten().cloned().collect();
        let (grades, mut activities) = match work {
            Work::Keys(_) => {
                let keys: Vec<GradeKey> = by_activity
                    .iter()
                    .filter(|(activity, _)| claimed.contains(*activity))
                    .flat_map(|(_, keys)| keys.iter().cloned())
                    .collect();
                let grades = self.store.read_pending(&keys).await?;
                summary.items_read += grades.len() as u64;
                (grades, HashMap::new())
            }
            Work::Copies(copies) => {
                let mut grades = copies.grades;
                grades.retain(|g| claimed.contains(&g.activity));
                (grades, copies.activities)
            }
        };
        activities.retain(|key, _| claimed.contains(&Some(key.clone())));
        let missing: Vec<ActivityKey> = claimed_keys
            .into_iter()
            .filter(|key| !activities.contains_key(key))
            .collect();
        if !missing.is_empty() {
            let read = self.store.activities(&missing).await?;
            summary.items_read += read.len() as u64;
            activities.extend(read);
        }
        Ok((grades, activities))
    }

    /// Claims every activity with keys (keys naming no activity need no
    /// claim). Returns the claimed, and the others with why their grades
    /// wait (another holder posts them, or the claim could not be written).
    async fn claim(
        &self,
        by_activity: &BTreeMap<Option<ActivityKey>, Vec<GradeKey>>,
        context: &RunContext,
    ) -> (
        BTreeSet<Option<ActivityKey>>,
        Vec<(Option<ActivityKey>, PendingReason)>,
    ) {
        let (mut claimed, mut held) = (BTreeSet::new(), Vec::new());
        let now = OffsetDateTime::now_utc();
        let until = OffsetDateTime::from(context.deadline + LOCK_GRACE);
        // Owned keys: a stream of borrowed ones makes the future not Send.
        let results: Vec<_> = futures::stream::iter(by_activity.keys().cloned())
            .map(|activity| async move {
                let outcome = match (&activity, context.dry_run) {
                    (None, _) | (_, true) => Ok(None),
                    (Some(key), false) => self
                        .store
                        .claim_activity(key, &context.run_id, now, until)
                        .await
                        .map(Some),
                };
                (activity, outcome)
            })
            .buffer_unordered(self.tuning.concurrency)
            .collect()
            .await;
        for (activity, outcome) in results {
            match outcome {
                Ok(None | Some(LeaseOutcome::Acquired(_))) => {
                    claimed.insert(activity);
                }
                Ok(Some(LeaseOutcome::HeldByAnother(lock))) => {
                    tracing::info!(activity = ?activity, holder = %lock.owner, "another run is posting this activity; its grades are left to it");
                    held.push((activity, PendingReason::ClaimedElsewhere));
                }
                Err(e) => {
                    tracing::warn!(activity = ?activity, error = %e, "could not claim the activity; its grades wait");
                    held.push((activity, PendingReason::StoreError));
                }
            }
        }
        (claimed, held)
    }

    /// Gives the claims back. Releases may use the time up to the deadline
    /// itself, past the cut of the grades' writes: a claim left held keeps
    /// the next holder (a follow-up run, a stream batch) off its activity
    /// until it expires.
    async fn release(&self, claimed: &BTreeSet<Option<ActivityKey>>, context: &RunContext) {
        if context.dry_run {
            return;
        }
        let store = &self.store.cut_at(context.deadline);
        futures::stream::iter(claimed.iter().flatten().cloned())
            .for_each_concurrent(self.tuning.concurrency, |key| async move {
                if let Err(e) = store.release_activity(&key, &context.run_id).await {
                    tracing::warn!(activity = %key, error = %e, "could not release a claim; it expires by itself");
                }
            })
            .await;
    }

    /// A dry run: what would be posted, nothing written.
    fn rehearse(&self, plan: Plan, summary: &mut RunSummary) -> Vec<Settled> {
        for work in &plan.ready {
            summary
                .would_post
                .extend(work.grades.iter().map(|g| PlannedScore {
                    activity_key: work.activity.key.to_string(),
                    score: g.grade.to_score(work.activity.services.score_dialect()),
                }));
        }
        plan.decided
            .into_iter()
            .map(|d| labelled(&d.stored, d.outcome))
            .collect()
    }

    /// Writes the outcomes decided without calling LTIaaS.
    async fn record_decided(&self, decided: Vec<plan::Decided>) -> Vec<Settled> {
        let now = OffsetDateTime::now_utc();
        futures::stream::iter(decided)
            .map(|d| async move {
                let written = match &d.outcome {
                    GradeOutcome::Failed { status, reason } => {
                        self.store
                            .mark_failed(&d.stored, *status, reason, now)
                            .await
                    }
                    GradeOutcome::Pending(reason) => {
                        self.store.note_pending(&d.stored, reason.note(), now).await
                    }
                    // The plan decides only failures and waits; nothing to write.
                    GradeOutcome::Posted | GradeOutcome::AlreadySettled => {
                        Ok(crate::store::WriteOutcome::Applied)
                    }
                };
                labelled(&d.stored, outcome_after_write(d.outcome, written))
            })
            .buffer_unordered(self.tuning.concurrency)
            .collect()
            .await
    }

    /// Posts every ready grade, interleaving platforms, and records each outcome.
    async fn post_ready(
        &self,
        ready: Vec<plan::ActivityWork>,
        context: &RunContext,
        summary: &mut RunSummary,
    ) -> Vec<Settled> {
        let gate = RequestGate::new(
            &self.tuning,
            ready.iter().map(|w| w.activity.ids.platform_id.as_str()),
            context.deadline,
        );
        let state = RunState::default();
        let posters: Vec<ActivityPoster> = ready.iter().map(ActivityPoster::new).collect();
        let order = interleave_by_platform(&ready);
        let settled: Vec<Settled> = futures::stream::iter(order)
            .map(|(a, g)| {
                let (gate, state, poster, grade) =
                    (&gate, &state, &posters[a], &ready[a].grades[g]);
                async move {
                    let outcome = self.post_grade(poster, grade, gate, state).await;
                    labelled(&grade.stored, outcome)
                }
            })
            // The gate holds requests to LTIaaS to the concurrency; twice
            // as many grades in progress let their DynamoDB writes overlap
            // the posts instead of holding a posting slot.
            .buffer_unordered(self.tuning.concurrency * 2)
            .collect()
            .await;
        summary.activities_needing_relaunch += state.relaunch_marked.load(Ordering::Relaxed);
        summary.line_items_created = state.line_items_created.load(Ordering::Relaxed);
        summary.rosters_read = state.rosters_read.load(Ordering::Relaxed);
        summary.rosters_unavailable = state.rosters_unavailable.load(Ordering::Relaxed);
        summary.requests = gate.requests();
        summary.retries = gate.retries();
        summary.phase_ms.line_items = state.line_items_time.millis();
        summary.phase_ms.confirm = state.confirm_time.millis();
        summary.phase_ms.posts = state.posts_time.millis();
        summary.phase_ms.outcome_writes += state.writes_time.millis();
        settled
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

fn labelled(grade: &PendingGrade, outcome: GradeOutcome) -> Settled {
    Settled {
        key: grade.key(),
        activity: grade
            .activity
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_else(|| grade.pk.clone()),
        user: grade.user_label(),
        outcome,
    }
}

/// Keys by the activity they name (`None`: a key that names none; its item
/// is read all the same, and fails as malformed).
fn group_by_activity(keys: Vec<GradeKey>) -> BTreeMap<Option<ActivityKey>, Vec<GradeKey>> {
    let mut groups: BTreeMap<Option<ActivityKey>, Vec<GradeKey>> = BTreeMap::new();
    let unique: BTreeSet<GradeKey> = keys.into_iter().collect();
    for key in unique {
        groups.entry(key.activity()).or_default().push(key);
    }
    groups
}

//! The post step: each ready grade is confirmed, posted under the request
//! gate to its activity's line item (resolved once per run), and its
//! outcome recorded with a conditional write.
//!
//! - this file: the pipeline of one grade, and the step's shared state;
//! - `line_items`: each activity's line item, resolved once per run;
//! - `learners`: the roster check before an activity's first post;
//! - `consequence`: what an LTIaaS error means for the grade, its activity
//!   and the run, and carrying that out;
//! - `read_back`: a post whose outcome is unknown is not repeated blindly.

mod consequence;
mod learners;
mod line_items;
mod read_back;

use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use futures::StreamExt;
use time::OffsetDateTime;

use crate::activity::Activity;
use crate::config::SyncTuning;
use crate::grade::ScorePost;
use crate::ltiaas::{LtiaasClient, LtiaasError};
use crate::secrets::ServiceKey;
use crate::store::{AcceptedBefore, Confirmation, GradeKey, PostedItem, Store, StoreError};

use super::line_item::Resolved;
use super::once::{self, Delivery, Fingerprint};
use super::plan::{interleave_by_platform, ActivityWork, ReadyGrade};
use super::record::Recorder;
use super::roster::RosterCache;
use super::summary::{FinishedGrade, RunFacts};
use crate::ltiaas::RequestGate;
use crate::outcome::{FailReason, GradeOutcome, PendingReason};

use consequence::{Consequence, Failure};
use learners::RosterRead;
use line_items::LineItemState;

/// Grades in progress per request LTIaaS may have in flight.
const GRADES_IN_PROGRESS_PER_SLOT: usize = 4;

/// What the post step works with, lent by its run: it needs nothing else
/// of the run, so what a run holds can change without touching posting.
pub(super) struct PostingDeps<'r> {
    pub(super) client: &'r LtiaasClient,
    pub(super) tuning: &'r SyncTuning,
    /// Rosters read by earlier runs of this process.
    pub(super) rosters: &'r RosterCache,
    /// The run's store (metered, cut before the deadline), for reads and
    /// the writes that are not outcomes.
    pub(super) store: &'r Store,
    /// The run's writer of outcomes.
    pub(super) recorder: &'r Recorder,
    pub(super) deadline: SystemTime,
}

/// The post step of one run.
pub(super) struct Posting<'r> {
    deps: PostingDeps<'r>,
    gate: RequestGate,
    counts: PostingCounts,
    activities: Vec<ActivityState>,
    /// What the LMS accepted for each grade, when the run read it with the
    /// grades (a stream batch); otherwise each grade reads its own.
    accepted_before: Option<AcceptedBefore>,
}

/// One activity's state while its grades are posted.
struct ActivityState {
    activity: Activity,
    service_key: ServiceKey,
    line_item: tokio::sync::Mutex<LineItemState>,
    /// A 404 on a cached id re-resolves the line item once per run.
    re_resolved: AtomicBool,
    /// Set when LTIaaS refused the service key: why.
    key_refused: Mutex<Option<String>>,
    /// The course roster, read at most once per run, page by page (see
    /// `check_learner`).
    roster: RosterRead,
    /// The largest `scoreMaximum` among the grades, for a line item created.
    score_maximum_hint: Option<f64>,
}

/// What the post step counted and measured.
#[derive(Default)]
pub(super) struct PostingCounts {
    line_items_created: AtomicU64,
    relaunch_marked: AtomicU64,
    rosters_read: AtomicU64,
    rosters_unavailable: AtomicU64,
    requests: u64,
    retries: u64,
    /// Time spent, summed over the concurrent tasks (see `PhaseTimings`).
    line_items_time: BusyTime,
    confirm_time: BusyTime,
    posts_time: BusyTime,
    writes_time: BusyTime,
}

/// The grades the post step finished, and its counts.
pub(super) struct Posted {
    pub(super) finished: Vec<FinishedGrade>,
    pub(super) counts: PostingCounts,
}

impl<'r> Posting<'r> {
    pub(super) fn new(
        deps: PostingDeps<'r>,
        ready: &[ActivityWork],
        accepted_before: Option<AcceptedBefore>,
    ) -> Self {
        let platforms = ready.iter().map(|w| w.activity.ids.platform_id.as_str());
        Self {
            gate: RequestGate::new(deps.tuning, platforms, deps.deadline),
            deps,
            counts: PostingCounts::default(),
            activities: ready.iter().map(ActivityState::new).collect(),
            accepted_before,
        }
    }

    /// Posts every ready grade, interleaving platforms, and records each outcome.
    pub(super) async fn post_all(mut self, ready: &[ActivityWork]) -> Posted {
        let finished: Vec<FinishedGrade> = futures::stream::iter(interleave_by_platform(ready))
            .map(|(a, g)| {
                let (this, grade) = (&self, &ready[a].grades[g]);
                async move {
                    let outcome = this.post_grade(&this.activities[a], grade).await;
                    FinishedGrade::new(&grade.stored, outcome)
                }
            })
            // The gate holds requests to LTIaaS to the concurrency. A grade
            // spends about as long on its DynamoDB round trips (confirm,
            // record what was accepted, outcome) as on its post when LTIaaS
            // is quick, so four times as many grades in progress keep the
            // gate busy while theirs run (BENCHMARKS.md section 12).
            .buffer_unordered(self.deps.tuning.concurrency * GRADES_IN_PROGRESS_PER_SLOT)
            .collect()
            .await;
        self.counts.requests = self.gate.requests();
        self.counts.retries = self.gate.retries();
        Posted {
            finished,
            counts: self.counts,
        }
    }

    /// Posts one grade and records its outcome; the first grade of an
    /// activity that needs its roster also reads it, beside its own steps.
    #[tracing::instrument(skip_all, fields(activity = %state.activity.key, user = %ready.grade.user_id))]
    async fn post_grade(&self, state: &ActivityState, ready: &ReadyGrade) -> GradeOutcome {
        let needs_roster = self.needs_roster(state, ready);
        let roster = async {
            if needs_roster {
                self.read_roster_once(state).await;
            }
        };
        let (_, outcome) = tokio::join!(roster, self.post_one(state, ready, needs_roster));
        outcome
    }

    async fn post_one(
        &self,
        state: &ActivityState,
        ready: &ReadyGrade,
        needs_roster: bool,
    ) -> GradeOutcome {
        if let Some(early) = self.before_any_call(state, ready).await {
            return early;
        }
        let resolved = self.counts.line_items_time.measure(async {
            self.check_learner(state, ready, needs_roster).await?;
            self.line_item(state).await
        });
        let line_item = match resolved.await {
            Ok(line_item) => line_item,
            Err(failure) => {
                let written = self.record_result(Err(failure), state, ready);
                return self.counts.writes_time.measure(written).await;
            }
        };
        // No confirmation (a write) for a post that could not start anyway.
        if self.gate.past_deadline() {
            return GradeOutcome::Pending(PendingReason::Deadline);
        }
        // What the LMS accepted before is read beside the confirmation (or
        // was read with the grade): the claim keeps every other writer of it
        // away, so either order reads the same, and the post waits one
        // round trip less.
        let key = ready.stored.key();
        let both = async { tokio::join!(self.confirm(ready), self.accepted_before(&key)) };
        let (confirmed, before) = self.counts.confirm_time.measure(both).await;
        let current = match confirmed {
            Ok(current) => current,
            Err(finished) => return finished,
        };
        let (score, fingerprint) = match self.delivery(state, &current, before).await {
            Ok(Delivery::Post { score, fingerprint }) => (score, fingerprint),
            Ok(Delivery::Unchanged) => {
                let settled = self.deps.recorder.mark_unchanged(&current.stored);
                return self.counts.writes_time.measure(settled).await;
            }
            Err(finished) => return finished,
        };
        let result = self
            .counts
            .posts_time
            .measure(self.post_score(state, &score, line_item))
            .await;
        if result.is_ok() {
            let remembered = self.remember(&current, &score, &fingerprint);
            self.counts.writes_time.measure(remembered).await;
        }
        let written = self.record_result(result, state, &current);
        self.counts.writes_time.measure(written).await
    }

    /// Whether and how to send the grade, given what the LMS accepted for
    /// it before (`once`). `Err`: what was accepted could not be read; the
    /// grade waits rather than risk a second post or Canvas attempt.
    async fn delivery(
        &self,
        state: &ActivityState,
        ready: &ReadyGrade,
        before: Result<Option<PostedItem>, StoreError>,
    ) -> Result<Delivery, GradeOutcome> {
        match before {
            Ok(before) => {
                let dialect = state.activity.services.score_dialect();
                Ok(once::delivery(&ready.grade, dialect, before.as_ref()))
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read what the LMS accepted before; the grade stays pending");
                let why = PendingReason::StoreError;
                Err(self
                    .deps
                    .recorder
                    .leave_pending(&ready.stored, why, Some(&e.reason()))
                    .await)
            }
        }
    }

    /// What the LMS accepted for the grade at `key`, as the run read it
    /// with the grades, or read now.
    async fn accepted_before(&self, key: &GradeKey) -> Result<Option<PostedItem>, StoreError> {
        match &self.accepted_before {
            Some(read) => read.of(key),
            None => self.deps.store.read_posted(key).await,
        }
    }

    /// Records what the LMS accepted, before the grade is marked SYNCED. A
    /// failure costs at most one more post of the same value later.
    async fn remember(&self, ready: &ReadyGrade, score: &ScorePost, fingerprint: &Fingerprint) {
        let accepted = once::accepted(
            &ready.stored.key(),
            score,
            fingerprint,
            OffsetDateTime::now_utc(),
        );
        if let Err(e) = self.deps.store.record_posted(&accepted).await {
            tracing::warn!(error = %e, "could not record what the LMS accepted; an unchanged value may be posted again");
        }
    }

    /// The outcome of a grade that must not be posted at all (the deadline,
    /// the run stopped calling LTIaaS, the key refused earlier this run).
    async fn before_any_call(
        &self,
        state: &ActivityState,
        ready: &ReadyGrade,
    ) -> Option<GradeOutcome> {
        if self.gate.past_deadline() {
            return Some(GradeOutcome::Pending(PendingReason::Deadline));
        }
        if let Some((why, detail)) = self.gate.stopped() {
            let failure = Failure::new(Consequence::StopRun(*why), detail.clone());
            return Some(self.apply(failure, state, &ready.stored).await);
        }
        let reason = state.key_refused()?;
        let waits = self.deps.recorder.leave_pending(
            &ready.stored,
            PendingReason::NeedsRelaunch,
            Some(&reason),
        );
        Some(waits.await)
    }

    /// The grade to post: `ready` itself when it was read from the table or
    /// its copy is still the table's value; the table's current value when
    /// the copy lagged. `Err`: nothing to post (no longer pending, now
    /// invalid, or DynamoDB failed), with the outcome.
    async fn confirm<'a>(
        &self,
        ready: &'a ReadyGrade,
    ) -> Result<Cow<'a, ReadyGrade>, GradeOutcome> {
        if ready.stored.is_confirmed() {
            return Ok(Cow::Borrowed(ready));
        }
        let store = &self.deps.store;
        match store
            .confirm_current(&ready.stored, OffsetDateTime::now_utc())
            .await
        {
            Ok(Confirmation::Current) => return Ok(Cow::Borrowed(ready)),
            Ok(Confirmation::Refused(invalid)) => {
                let refused = self
                    .deps
                    .recorder
                    .fail(&ready.stored, FailReason::from(invalid));
                return Err(refused.await);
            }
            Ok(Confirmation::Changed) => {}
            Err(e) => return Err(unconfirmed(e)),
        }
        tracing::info!("the grade is not what the index showed; posting it as it is now");
        match store.read_pending_grade(&ready.stored.key()).await {
            Ok(None) => Err(GradeOutcome::AlreadySettled),
            Ok(Some(stored)) => match stored.grade.clone() {
                Ok(grade) => Ok(Cow::Owned(ReadyGrade { stored, grade })),
                Err(invalid) => {
                    let reason = FailReason::from(invalid);
                    Err(self.deps.recorder.fail(&stored, reason).await)
                }
            },
            Err(e) => Err(unconfirmed(e)),
        }
    }

    /// Posts the score; after a 404 on a cached or launch-named line item,
    /// resolves it afresh (once per activity per run) and posts again.
    async fn post_score(
        &self,
        state: &ActivityState,
        score: &ScorePost,
        line_item: Resolved,
    ) -> Result<(), Failure> {
        self.deps.recorder.milestones().post_sent();
        let mut result = self.post_with_read_back(state, &line_item.id, score).await;
        if matches!(result, Err(LtiaasError::Rejected { status: 404, .. }))
            && line_item.source.may_be_stale()
        {
            if let Some(fresh) = self.re_resolve(state, &line_item).await? {
                result = self.post_with_read_back(state, &fresh.id, score).await;
            }
        }
        result.map_err(|error| Failure::from_error(&error, false, error.to_string()))
    }

    /// Writes what posting one grade came to.
    async fn record_result(
        &self,
        result: Result<(), Failure>,
        state: &ActivityState,
        ready: &ReadyGrade,
    ) -> GradeOutcome {
        match result {
            Ok(()) => self.deps.recorder.mark_synced(&ready.stored).await,
            Err(failure) => self.apply(failure, state, &ready.stored).await,
        }
    }
}

impl ActivityState {
    fn new(work: &ActivityWork) -> Self {
        Self {
            activity: work.activity.clone(),
            service_key: work.service_key.clone(),
            line_item: tokio::sync::Mutex::new(LineItemState::Unresolved),
            re_resolved: AtomicBool::new(false),
            key_refused: Mutex::new(None),
            roster: RosterRead::default(),
            score_maximum_hint: work
                .grades
                .iter()
                .filter_map(|g| g.grade.score_maximum)
                .reduce(f64::max),
        }
    }

    fn key_refused(&self) -> Option<String> {
        self.key_refused.lock().expect("not poisoned").clone()
    }
}

impl PostingCounts {
    /// Adds what the post step counted to the run's facts.
    pub(super) fn add_to(&self, facts: &mut RunFacts) {
        facts.activities_needing_relaunch += self.relaunch_marked.load(Ordering::Relaxed);
        facts.line_items_created = self.line_items_created.load(Ordering::Relaxed);
        facts.rosters_read = self.rosters_read.load(Ordering::Relaxed);
        facts.rosters_unavailable = self.rosters_unavailable.load(Ordering::Relaxed);
        facts.requests = self.requests;
        facts.retries = self.retries;
        facts.phase_ms.line_items = self.line_items_time.millis();
        facts.phase_ms.confirm = self.confirm_time.millis();
        facts.phase_ms.posts = self.posts_time.millis();
        facts.phase_ms.outcome_writes += self.writes_time.millis();
    }
}

/// Time summed over concurrent tasks, in microseconds.
#[derive(Default)]
struct BusyTime(AtomicU64);

impl BusyTime {
    /// Runs `work`, adding the time it took.
    async fn measure<T>(&self, work: impl Future<Output = T>) -> T {
        let started = std::time::Instant::now();
        let out = work.await;
        self.0
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        out
    }

    /// The total, in milliseconds.
    fn millis(&self) -> u64 {
        self.0.load(Ordering::Relaxed) / 1000
    }
}

/// A grade that could not be confirmed is not posted; it stays pending.
fn unconfirmed(error: crate::store::StoreError) -> GradeOutcome {
    tracing::warn!(error = %error, "could not confirm a grade against the table; it stays pending");
    GradeOutcome::Pending(PendingReason::StoreError)
}

//! Executing a plan: each ready grade is posted under the request gate, to
//! its activity's line item (resolved once per run), and its outcome is
//! recorded with a conditional write.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

use crate::activity::Activity;
use crate::ltiaas::LtiaasError;
use crate::secrets::ServiceKey;
use crate::store::{PendingGrade, StoreError, WriteOutcome};

use super::limits::RequestGate;
use super::line_item::{self, Resolved, Source};
use super::plan::{ActivityWork, ReadyGrade};
use super::roster::{self, Roster};
use super::summary::{GradeOutcome, PendingReason};
use super::SyncEngine;

/// What an LTIaaS error means for the grade (and its activity, and the run).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Consequence {
    /// The LMS refused this grade for good: record it as failed.
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The LMS's message.
        message: String,
    },
    /// Leave the grade pending, for this reason.
    Wait(PendingReason),
    /// The service key was refused: mark the activity for a relaunch.
    KeyRefused,
    /// Every further call would fail the same way: stop the run's calls.
    StopRun(PendingReason),
    /// ltisync itself knows the LMS cannot take this grade (not a learner,
    /// no column it may use): record it as failed, with no HTTP status.
    Unpostable(String),
}

/// The one place that decides what an LTIaaS error means. While resolving
/// the line item nothing is the grade's fault, so rejections wait too.
pub(super) fn consequence(error: &LtiaasError, resolving_line_item: bool) -> Consequence {
    match error {
        LtiaasError::NotSent => Consequence::Wait(PendingReason::Deadline),
        LtiaasError::ApiKeyRefused(_) => Consequence::StopRun(PendingReason::ApiKeyRefused),
        LtiaasError::Redirected { .. } => Consequence::StopRun(PendingReason::LtiaasRedirected),
        LtiaasError::Unauthorized { .. } => Consequence::KeyRefused,
        _ if resolving_line_item => Consequence::Wait(PendingReason::LineItemUnavailable),
        LtiaasError::Rejected { status, message } => Consequence::Rejected {
            status: *status,
            message: message.clone(),
        },
        _ => Consequence::Wait(PendingReason::RetriesExhausted),
    }
}

/// Where an activity's line item stands during one run.
enum LineItemState {
    Unresolved,
    Ready(Resolved),
    Failed(Failure),
}

/// Why a grade was not posted, and what that means.
#[derive(Clone)]
struct Failure {
    consequence: Consequence,
    reason: String,
}

/// One activity's state while its grades are posted.
pub(super) struct ActivityPoster {
    activity: Activity,
    service_key: ServiceKey,
    line_item: tokio::sync::Mutex<LineItemState>,
    /// A 404 on a cached id re-resolves the line item once per run.
    re_resolved: AtomicBool,
    /// Set when LTIaaS refused the service key: why.
    key_refused: Mutex<Option<String>>,
    /// The course roster, read at most once per run (see `check_learner`).
    roster: tokio::sync::Mutex<Option<Arc<Roster>>>,
    score_maximum_hint: Option<f64>,
}

impl ActivityPoster {
    pub(super) fn new(work: &ActivityWork) -> Self {
        Self {
            activity: work.activity.clone(),
            service_key: work.service_key.clone(),
            line_item: tokio::sync::Mutex::new(LineItemState::Unresolved),
            re_resolved: AtomicBool::new(false),
            key_refused: Mutex::new(None),
            roster: tokio::sync::Mutex::new(None),
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

/// Time summed over concurrent tasks, in microseconds.
#[derive(Default)]
pub(super) struct BusyTime(AtomicU64);

impl BusyTime {
    /// Runs `work`, adding the time it took.
    pub(super) async fn measure<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        let started = std::time::Instant::now();
        let out = work.await;
        self.0
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        out
    }

    /// The total, in milliseconds.
    pub(super) fn millis(&self) -> u64 {
        self.0.load(Ordering::Relaxed) / 1000
    }
}

/// What the tasks of one run share besides the gate.
#[derive(Default)]
pub(super) struct RunState {
    pub(super) line_items_created: AtomicU64,
    pub(super) relaunch_marked: AtomicU64,
    pub(super) rosters_read: AtomicU64,
    pub(super) rosters_unavailable: AtomicU64,
    /// Time spent, summed over the concurrent tasks (see `PhaseTimings`).
    pub(super) line_items_time: BusyTime,
    pub(super) confirm_time: BusyTime,
    pub(super) posts_time: BusyTime,
    pub(super) writes_time: BusyTime,
}

impl SyncEngine {
    /// Posts one grade and records its outcome.
    #[tracing::instrument(skip_all, fields(activity = %poster.activity.key, user = %ready.grade.user_id))]
    pub(super) async fn post_grade(
        &self,
        poster: &ActivityPoster,
        ready: &ReadyGrade,
        gate: &RequestGate,
        state: &RunState,
    ) -> GradeOutcome {
        if gate.past_deadline() {
            return GradeOutcome::Pending(PendingReason::Deadline);
        }
        if let Some((why, detail)) = gate.stopped() {
            let consequence = Consequence::StopRun(*why);
            return self
                .apply(consequence, poster, &ready.stored, detail, gate, state)
                .await;
        }
        if let Some(reason) = poster.key_refused() {
            return self
                .leave_pending(&ready.stored, PendingReason::NeedsRelaunch, &reason)
                .await;
        }
        let resolved = state
            .line_items_time
            .measure(async {
                self.check_learner(poster, ready, gate, state).await?;
                self.line_item(poster, gate, state).await
            })
            .await;
        let line_item = match resolved {
            Ok(line_item) => line_item,
            Err(failure) => {
                let written = self.record_outcome(Err(failure), poster, ready, gate, state);
                return state.writes_time.measure(written).await;
            }
        };
        // No confirmation (a write) for a post that could not start anyway.
        if gate.past_deadline() {
            return GradeOutcome::Pending(PendingReason::Deadline);
        }
        let current = match state.confirm_time.measure(self.confirm(ready)).await {
            Ok(current) => current,
            Err(settled) => return settled,
        };
        let post = self.post_score(poster, &current, line_item, gate, state);
        let result = state.posts_time.measure(post).await;
        state
            .writes_time
            .measure(self.record_outcome(result, poster, &current, gate, state))
            .await
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
        let now = OffsetDateTime::now_utc();
        match self.store.confirm_current(&ready.stored, now).await {
            Ok(WriteOutcome::Applied) => return Ok(Cow::Borrowed(ready)),
            Ok(WriteOutcome::Changed) => {}
            Err(e) => return Err(unconfirmed(e)),
        }
        tracing::info!("the grade is not what the index showed; posting it as it is now");
        match self.store.read_pending_grade(&ready.stored.key()).await {
            Ok(None) => Err(GradeOutcome::AlreadySettled),
            Ok(Some(stored)) => match stored.grade.clone() {
                Ok(grade) => Ok(Cow::Owned(ReadyGrade { stored, grade })),
                Err(invalid) => Err(self
                    .fail(&stored, None, format!("invalid grade: {invalid}"))
                    .await),
            },
            Err(e) => Err(unconfirmed(e)),
        }
    }

    /// Writes what posting one grade came to.
    async fn record_outcome(
        &self,
        result: Result<(), Failure>,
        poster: &ActivityPoster,
        ready: &ReadyGrade,
        gate: &RequestGate,
        state: &RunState,
    ) -> GradeOutcome {
        match result {
            Ok(()) => {
                let written = self
                    .store
                    .mark_synced(&ready.stored, OffsetDateTime::now_utc())
                    .await;
                outcome_after_write(GradeOutcome::Posted, written)
            }
            Err(failure) => {
                let reason = failure.reason;
                self.apply(
                    failure.consequence,
                    poster,
                    &ready.stored,
                    &reason,
                    gate,
                    state,
                )
                .await
            }
        }
    }

    /// Posts the score; after a 404 on a cached or launch-named line item,
    /// resolves it afresh (once per activity per run) and posts again.
    async fn post_score(
        &self,
        poster: &ActivityPoster,
        ready: &ReadyGrade,
        line_item: Resolved,
        gate: &RequestGate,
        state: &RunState,
    ) -> Result<(), Failure> {
        let score = ready
            .grade
            .to_score(poster.activity.services.score_dialect());
        let platform = poster.activity.ids.platform_id.as_str();
        let post = |id: String| {
            let score = &score;
            gate.with_retries(move || {
                let id = id.clone();
                async move {
                    gate.send(platform, || {
                        self.client.post_score(&poster.service_key, &id, score)
                    })
                    .await
                }
            })
        };
        let mut result = post(line_item.id.clone()).await;
        if matches!(result, Err(LtiaasError::Rejected { status: 404, .. }))
            && line_item.source.may_be_stale()
        {
            if let Some(fresh) = self.re_resolve(poster, &line_item, gate, state).await? {
                result = post(fresh.id).await;
            }
        }
        result.map_err(|error| Failure {
            consequence: consequence(&error, false),
            reason: error.to_string(),
        })
    }

    /// Carries out a consequence on the grade (and its activity, and the run).
    async fn apply(
        &self,
        consequence: Consequence,
        poster: &ActivityPoster,
        grade: &PendingGrade,
        reason: &str,
        gate: &RequestGate,
        state: &RunState,
    ) -> GradeOutcome {
        // A request the gate held back because the run had stopped calling
        // LTIaaS waits for the stop's reason, not for the deadline.
        let (consequence, reason) = match (consequence, gate.stopped()) {
            (Consequence::Wait(PendingReason::Deadline), Some((why, detail))) => {
                (Consequence::StopRun(*why), detail.as_str())
            }
            (consequence, _) => (consequence, reason),
        };
        match consequence {
            Consequence::Rejected { status, message } => {
                tracing::warn!(status, reason = %message, "the LMS rejected a grade");
                self.fail(grade, Some(status), message).await
            }
            Consequence::Unpostable(why) => {
                tracing::info!(reason = %why, "a grade cannot be posted");
                self.fail(grade, None, why).await
            }
            // Nothing was sent: the run's time is up; nothing to note.
            Consequence::Wait(PendingReason::Deadline) => {
                GradeOutcome::Pending(PendingReason::Deadline)
            }
            Consequence::Wait(why) => self.leave_pending(grade, why, reason).await,
            Consequence::KeyRefused => {
                self.mark_key_refused(poster, reason, state).await;
                self.leave_pending(grade, PendingReason::NeedsRelaunch, reason)
                    .await
            }
            Consequence::StopRun(why) => {
                stop_run(gate, why, reason);
                match why {
                    // ltisync's own credential: not the grade's business, no write.
                    PendingReason::ApiKeyRefused => GradeOutcome::Pending(why),
                    _ => self.leave_pending(grade, why, reason).await,
                }
            }
        }
    }

    async fn fail(
        &self,
        grade: &PendingGrade,
        status: Option<u16>,
        reason: String,
    ) -> GradeOutcome {
        let written = self
            .store
            .mark_failed(grade, status, &reason, OffsetDateTime::now_utc())
            .await;
        outcome_after_write(GradeOutcome::Failed { status, reason }, written)
    }

    /// Refuses a grade for anyone the course roster does not list as an
    /// active learner. The roster is read at most once per activity per
    /// run; a recent read of the same course (this warm process's
    /// [`roster::RosterCache`]) spares the read for users it lists as
    /// active learners, never for a refusal.
    async fn check_learner(
        &self,
        poster: &ActivityPoster,
        ready: &ReadyGrade,
        gate: &RequestGate,
        state: &RunState,
    ) -> Result<(), Failure> {
        let user = ready.grade.user_id.as_str();
        let mut roster = poster.roster.lock().await;
        if roster.is_none() {
            if self.tuning.roster_check && self.rosters.lists_learner(&poster.activity, user) {
                return Ok(());
            }
            let read = Arc::new(self.read_roster(poster, gate, state).await?);
            self.rosters.remember(&poster.activity, &read);
            *roster = Some(read);
        }
        let refusal = roster
            .as_ref()
            .and_then(|r| r.refusal(&ready.grade.user_id));
        match refusal {
            None => Ok(()),
            Some(why) => Err(Failure {
                consequence: Consequence::Unpostable(why.clone()),
                reason: why,
            }),
        }
    }

    async fn read_roster(
        &self,
        poster: &ActivityPoster,
        gate: &RequestGate,
        state: &RunState,
    ) -> Result<Roster, Failure> {
        if !self.tuning.roster_check {
            return Ok(Roster::NotChecked);
        }
        let read = roster::read(&self.client, gate, &poster.activity, &poster.service_key).await;
        match read {
            Ok(Roster::Unavailable(why)) => {
                state.rosters_unavailable.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(reason = %why, "no roster check for this activity; posting unchecked");
                Ok(Roster::Unavailable(why))
            }
            Ok(roster) => {
                state.rosters_read.fetch_add(1, Ordering::Relaxed);
                Ok(roster)
            }
            Err(error) => Err(Failure {
                consequence: consequence(&error, true),
                reason: format!("roster: {error}"),
            }),
        }
    }

    /// The activity's line item, resolved once per run.
    async fn line_item(
        &self,
        poster: &ActivityPoster,
        gate: &RequestGate,
        state: &RunState,
    ) -> Result<Resolved, Failure> {
        let mut current = poster.line_item.lock().await;
        match &*current {
            LineItemState::Ready(resolved) => return Ok(resolved.clone()),
            LineItemState::Failed(failure) => return Err(failure.clone()),
            LineItemState::Unresolved => {}
        }
        let result = match line_item::known(&poster.activity) {
            Some(known) => Ok(known),
            None => self.find_or_create(poster, gate, state).await,
        };
        *current = match &result {
            Ok(resolved) => LineItemState::Ready(resolved.clone()),
            Err(failure) => LineItemState::Failed(failure.clone()),
        };
        result
    }

    /// After a 404 on a cached or launch-named id: forget it and resolve
    /// afresh, once per activity per run. `None`: nothing new to try.
    async fn re_resolve(
        &self,
        poster: &ActivityPoster,
        stale: &Resolved,
        gate: &RequestGate,
        state: &RunState,
    ) -> Result<Option<Resolved>, Failure> {
        let mut current = poster.line_item.lock().await;
        match &*current {
            LineItemState::Ready(now) if now.id != stale.id => return Ok(Some(now.clone())),
            LineItemState::Failed(failure) => return Err(failure.clone()),
            _ => {}
        }
        if !poster.activity.services.may_list_line_items()
            || poster.re_resolved.swap(true, Ordering::SeqCst)
        {
            return Ok(None);
        }
        if stale.source == Source::Cache {
            if let Err(e) = self
                .store
                .forget_line_item(&poster.activity.key, &stale.id)
                .await
            {
                tracing::warn!(error = %e, "could not forget a stale line item id");
            }
        }
        tracing::info!("the LMS no longer knows the cached line item; resolving again");
        let result = self.find_or_create(poster, gate, state).await;
        *current = match &result {
            Ok(resolved) => LineItemState::Ready(resolved.clone()),
            Err(failure) => LineItemState::Failed(failure.clone()),
        };
        result.map(Some)
    }

    async fn find_or_create(
        &self,
        poster: &ActivityPoster,
        gate: &RequestGate,
        state: &RunState,
    ) -> Result<Resolved, Failure> {
        let found = line_item::find_or_create(
            &self.client,
            gate,
            &poster.activity,
            &poster.service_key,
            poster.score_maximum_hint,
        )
        .await
        .map_err(|error| Failure {
            consequence: consequence(&error, true),
            reason: format!("line item: {error}"),
        })?
        .ok_or_else(|| Failure {
            consequence: Consequence::Unpostable(NO_LINE_ITEM_TO_CREATE.into()),
            reason: NO_LINE_ITEM_TO_CREATE.into(),
        })?;
        if found.source == Source::Created {
            state.line_items_created.fetch_add(1, Ordering::Relaxed);
            tracing::info!(line_item = %found.id, "created a line item");
        }
        if let Err(e) = self
            .store
            .cache_line_item(&poster.activity.key, &found.id)
            .await
        {
            tracing::warn!(error = %e, "could not cache the line item id");
        }
        Ok(found)
    }

    /// Marks the activity once per run: LTIaaS refused its service key.
    async fn mark_key_refused(&self, poster: &ActivityPoster, reason: &str, state: &RunState) {
        {
            let mut refused = poster.key_refused.lock().expect("not poisoned");
            if refused.is_some() {
                return;
            }
            *refused = Some(reason.to_owned());
        }
        tracing::warn!(reason, "service key refused; the activity needs a relaunch");
        let marked = self
            .store
            .mark_needs_relaunch(
                &poster.activity.key,
                &poster.service_key,
                reason,
                OffsetDateTime::now_utc(),
            )
            .await;
        match marked {
            Ok(true) => {
                state.relaunch_marked.fetch_add(1, Ordering::Relaxed);
            }
            // A launch replaced the key meanwhile: nothing to mark.
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not mark the activity as needing a relaunch")
            }
        }
    }

    pub(super) async fn leave_pending(
        &self,
        grade: &PendingGrade,
        reason: PendingReason,
        detail: &str,
    ) -> GradeOutcome {
        let note = format!("{}: {detail}", reason.note());
        let written = self
            .store
            .note_pending(grade, &note, OffsetDateTime::now_utc())
            .await;
        outcome_after_write(GradeOutcome::Pending(reason), written)
    }
}

/// `lastError` when no line item was listed and the LMS lets ltisync read
/// line items but not create them.
const NO_LINE_ITEM_TO_CREATE: &str = "NO_LINE_ITEM_SCOPE: the LMS lists no line item for \
     this link and grants only the read-only line item scope, so none can be created; add a \
     gradebook column for the link in the LMS, launch once, then requeue";

/// Stops the run's LTIaaS calls: every further one would fail the same way.
fn stop_run(gate: &RequestGate, why: PendingReason, reason: &str) {
    if gate.stop(why, reason) {
        tracing::error!(
            reason,
            "no further calls to LTIaaS this run: {}",
            why.note()
        );
    }
}

/// A grade that could not be confirmed is not posted; it stays pending.
fn unconfirmed(error: StoreError) -> GradeOutcome {
    tracing::warn!(error = %error, "could not confirm a grade against the table; it stays pending");
    GradeOutcome::Pending(PendingReason::StoreError)
}

/// The outcome once its DynamoDB write is known.
pub(super) fn outcome_after_write(
    outcome: GradeOutcome,
    written: Result<WriteOutcome, StoreError>,
) -> GradeOutcome {
    match written {
        Ok(WriteOutcome::Applied) => outcome,
        Ok(WriteOutcome::Changed) => GradeOutcome::Pending(PendingReason::ChangedDuringRun),
        Err(e) => {
            tracing::warn!(error = %e, "could not record a grade's outcome; it stays pending");
            GradeOutcome::Pending(PendingReason::StoreError)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn each_error_has_one_consequence() {
        let rejected = LtiaasError::Rejected {
            status: 422,
            message: "not a student".into(),
        };
        assert_eq!(
            consequence(&rejected, false),
            Consequence::Rejected {
                status: 422,
                message: "not a student".into()
            }
        );
        assert_eq!(
            consequence(&rejected, true),
            Consequence::Wait(PendingReason::LineItemUnavailable),
            "a line item problem is not the grade's fault"
        );
        let unauthorized = LtiaasError::Unauthorized {
            credential: crate::ltiaas::Credential::ServiceKey,
            message: String::new(),
        };
        assert_eq!(consequence(&unauthorized, true), Consequence::KeyRefused);
        assert_eq!(
            consequence(&LtiaasError::ApiKeyRefused(String::new()), false),
            Consequence::StopRun(PendingReason::ApiKeyRefused)
        );
        let moved = LtiaasError::Redirected {
            status: 302,
            location: "x".into(),
        };
        assert_eq!(
            consequence(&moved, true),
            Consequence::StopRun(PendingReason::LtiaasRedirected)
        );
        assert_eq!(
            consequence(&LtiaasError::Timeout(Duration::ZERO), false),
            Consequence::Wait(PendingReason::RetriesExhausted)
        );
        assert_eq!(
            consequence(&LtiaasError::NotSent, true),
            Consequence::Wait(PendingReason::Deadline)
        );
    }
}

//! The sync engine: finds pending grades, resolves each activity's line
//! item, posts the scores through LTIaaS with the activity's service key,
//! and records every grade's outcome.
//!
//! One call to [`SyncEngine::run`] is one run: it takes the lease (so two
//! invocations never sync at once), reads the pending grades through the
//! sparse index, posts them with bounded concurrency, and returns a
//! [`RunSummary`]. A grade leaves the pending index only after LTIaaS
//! accepted it (or rejected it for good) and only if the tool did not change
//! it meanwhile, so a crash at any point leaves every grade posted or still
//! pending, and calling `run` again drains whatever is left.

pub mod limits;
pub mod line_item;
pub mod summary;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use thiserror::Error;
use time::OffsetDateTime;

use crate::activity::{Activity, ActivityKey};
use crate::config::SyncTuning;
use crate::grade::Grade;
use crate::ltiaas::{LtiaasClient, LtiaasError};
use crate::secrets::ServiceKey;
use crate::store::{LeaseOutcome, PendingGrade, Store, StoreError, WriteOutcome};

use limits::RequestGate;
use line_item::{Resolved, Source};
pub use summary::{GradeOutcome, PendingReason, PlannedScore, RunSummary};

/// How long a lease outlives its run's deadline (Lambda stops the run at
/// the deadline; the grace covers clock skew between invocations).
const LEASE_GRACE: Duration = Duration::from_secs(5);

/// What to sync.
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

/// The engine, built once per cold start.
#[derive(Debug, Clone)]
pub struct SyncEngine {
    client: LtiaasClient,
    store: Store,
    tuning: SyncTuning,
}

/// The line item of an activity during one run.
enum Slot {
    Unresolved,
    Ready(Resolved),
    Failed(LineItemFailure),
}

#[derive(Clone)]
struct LineItemFailure {
    /// What the failure means for the grades waiting on it.
    pending: PendingReason,
    reason: String,
}

/// One activity's state during a run.
struct ActivityRun {
    activity: Activity,
    service_key: ServiceKey,
    line_item: tokio::sync::Mutex<Slot>,
    refreshed: AtomicBool,
    relaunch: Mutex<Option<String>>,
    score_maximum_hint: Option<f64>,
}

impl ActivityRun {
    fn relaunch_reason(&self) -> Option<String> {
        self.relaunch.lock().expect("not poisoned").clone()
    }
}

/// Counters and run-wide stops shared by the tasks of one run.
#[derive(Default)]
struct RunCounters {
    line_items_created: AtomicU64,
    relaunch_marked: AtomicU64,
    /// Set when every further call to LTIaaS would fail too (the API key
    /// was refused, or LTIaaS redirects): why, and the detail.
    stopped: std::sync::OnceLock<(PendingReason, String)>,
}

impl SyncEngine {
    /// An engine over the given client, store and tuning.
    pub fn new(client: LtiaasClient, store: Store, tuning: SyncTuning) -> Self {
        Self {
            client,
            store,
            tuning,
        }
    }

    /// One sync run (see the module docs).
    ///
    /// No post starts in the last `deadline_margin` before the deadline, and
    /// every DynamoDB call is cut once only half the margin is left: posts
    /// still in flight at the stop get the first half to record their
    /// outcomes, and the run always answers before Lambda stops it.
    pub async fn run(&self, request: SyncRequest) -> Result<RunSummary, SyncError> {
        let store_cut_at = request
            .deadline
            .checked_sub(self.tuning.deadline_margin / 2)
            .unwrap_or(request.deadline);
        let bounded = Self {
            store: self.store.cut_at(store_cut_at),
            ..self.clone()
        };
        bounded.run_bounded(request).await
    }

    async fn run_bounded(&self, request: SyncRequest) -> Result<RunSummary, SyncError> {
        let started = Instant::now();
        let mut summary = RunSummary {
            run_id: uuid::Uuid::new_v4().to_string(),
            dry_run: request.dry_run,
            ..RunSummary::default()
        };
        let lease = if request.dry_run {
            None
        } else {
            let now = OffsetDateTime::now_utc();
            let until = OffsetDateTime::from(request.deadline + LEASE_GRACE);
            match self
                .store
                .acquire_lease(&summary.run_id, now, until)
                .await?
            {
                LeaseOutcome::Acquired(lease) => Some(lease),
                LeaseOutcome::HeldByAnother(held) => {
                    summary.skipped = Some(format!(
                        "another sync run ({}) holds the lease until {}",
                        held.owner, held.expires_at
                    ));
                    summary.duration_ms = started.elapsed().as_millis() as u64;
                    return Ok(summary);
                }
            }
        };
        let result = self.run_leased(&request, &mut summary).await;
        if let Some(lease) = lease {
            if let Err(e) = self.store.release_lease(&lease).await {
                tracing::warn!(error = %e, "could not release the sync lease; it expires by itself");
            }
        }
        result?;
        summary.duration_ms = started.elapsed().as_millis() as u64;
        Ok(summary)
    }

    async fn run_leased(
        &self,
        request: &SyncRequest,
        summary: &mut RunSummary,
    ) -> Result<(), SyncError> {
        let scan = self.store.pending_grades(request.activity.as_ref()).await?;
        summary.items_read = scan.items_read;
        summary.grades_found = scan.grades.len() as u64;
        let mut by_activity: BTreeMap<ActivityKey, Vec<PendingGrade>> = BTreeMap::new();
        let mut immediate: Vec<(PendingGrade, GradeOutcome)> = Vec::new();
        for grade in scan.grades {
            match grade.activity.clone() {
                Some(key) => by_activity.entry(key).or_default().push(grade),
                None => {
                    let reason = invalid_reason(&grade);
                    immediate.push((grade, failed(None, reason)));
                }
            }
        }
        summary.activities_seen = by_activity.len() as u64;
        let keys: Vec<ActivityKey> = by_activity.keys().cloned().collect();
        let mut activities = self.store.activities(&keys).await?;
        summary.items_read += activities.len() as u64;

        let mut runs: Vec<ActivityWork> = Vec::new();
        for (key, grades) in by_activity {
            let (valid, invalid): (Vec<_>, Vec<_>) =
                grades.into_iter().partition(|g| g.grade.is_ok());
            for grade in invalid {
                let reason = invalid_reason(&grade);
                immediate.push((grade, failed(None, reason)));
            }
            let blocked = match activities.remove(&key) {
                None => Err(PendingReason::ActivityNotLaunched),
                Some(Err(reason)) => {
                    tracing::warn!(activity = %key, reason, "the activity item is malformed; its grades wait");
                    Err(PendingReason::ActivityMalformed)
                }
                Some(Ok(activity)) if activity.needs_relaunch.is_some() => {
                    summary.activities_needing_relaunch += 1;
                    Err(PendingReason::NeedsRelaunch)
                }
                Some(Ok(Activity {
                    service_key: None, ..
                })) => Err(PendingReason::NoServiceKey),
                Some(Ok(activity)) => Ok(activity),
            };
            let activity = match blocked {
                Ok(activity) => activity,
                Err(reason) => {
                    immediate.extend(
                        valid
                            .into_iter()
                            .map(|g| (g, GradeOutcome::Pending(reason))),
                    );
                    continue;
                }
            };
            let grades: Vec<(PendingGrade, Grade)> = valid
                .into_iter()
                .map(|g| {
                    let grade = g.grade.clone().expect("partitioned on validity");
                    (g, grade)
                })
                .collect();
            if request.dry_run {
                summary
                    .would_post
                    .extend(grades.iter().map(|(_, g)| PlannedScore {
                        activity_key: key.to_string(),
                        score: g.to_score(),
                    }));
                continue;
            }
            let score_maximum_hint = grades
                .iter()
                .filter_map(|(_, g)| g.score_maximum)
                .reduce(f64::max);
            runs.push((
                Arc::new(ActivityRun {
                    service_key: activity.service_key.clone().expect("checked above"),
                    activity,
                    line_item: tokio::sync::Mutex::new(Slot::Unresolved),
                    refreshed: AtomicBool::new(false),
                    relaunch: Mutex::new(None),
                    score_maximum_hint,
                }),
                grades,
            ));
        }

        let now = OffsetDateTime::now_utc();
        let immediate_outcomes: Vec<(String, String, GradeOutcome)> =
            futures::stream::iter(immediate)
                .map(|(grade, outcome)| async move {
                    let outcome = if request.dry_run {
                        outcome
                    } else {
                        self.record_immediate(&grade, outcome, now).await
                    };
                    (activity_label(&grade), grade.user_label(), outcome)
                })
                .buffer_unordered(self.tuning.concurrency)
                .collect()
                .await;

        let gate = RequestGate::new(
            &self.tuning,
            runs.iter()
                .map(|(r, _)| r.activity.ids.platform_id.as_str()),
            request.deadline,
        );
        let counters = RunCounters::default();
        let tasks = interleave_by_platform(&runs);
        let posted: Vec<(String, String, GradeOutcome)> = futures::stream::iter(tasks)
            .map(|(run, grade, parsed)| {
                let (gate, counters) = (&gate, &counters);
                async move {
                    let outcome = self.sync_grade(&run, grade, parsed, gate, counters).await;
                    (
                        run.activity.key.to_string(),
                        parsed.user_id.clone(),
                        outcome,
                    )
                }
            })
            .buffer_unordered(self.tuning.concurrency)
            .collect()
            .await;

        for (activity, user, outcome) in immediate_outcomes.iter().chain(&posted) {
            summary.record(activity, user, outcome);
        }
        summary.activities_needing_relaunch += counters.relaunch_marked.load(Ordering::Relaxed);
        summary.line_items_created = counters.line_items_created.load(Ordering::Relaxed);
        summary.requests = gate.requests();
        summary.retries = gate.retries();
        summary.stopped_by_deadline = summary
            .pending_reasons
            .contains_key(PendingReason::Deadline.name());
        Ok(())
    }

    /// Writes an outcome decided without calling LTIaaS.
    async fn record_immediate(
        &self,
        grade: &PendingGrade,
        outcome: GradeOutcome,
        now: OffsetDateTime,
    ) -> GradeOutcome {
        let written = match &outcome {
            GradeOutcome::Failed { status, reason } => {
                self.store.mark_failed(grade, *status, reason, now).await
            }
            GradeOutcome::Pending(reason) => {
                self.store
                    .note_pending(grade, pending_note(*reason), now)
                    .await
            }
            GradeOutcome::Posted => unreachable!("nothing is posted without LTIaaS"),
        };
        settle(outcome, written)
    }

    /// Posts one grade and records its outcome.
    async fn sync_grade(
        &self,
        run: &ActivityRun,
        grade: &PendingGrade,
        parsed: &Grade,
        gate: &RequestGate,
        counters: &RunCounters,
    ) -> GradeOutcome {
        if gate.past_deadline() {
            return GradeOutcome::Pending(PendingReason::Deadline);
        }
        match counters.stopped.get() {
            Some((PendingReason::ApiKeyRefused, _)) => {
                return GradeOutcome::Pending(PendingReason::ApiKeyRefused)
            }
            Some((reason, detail)) => return self.leave_pending(grade, *reason, detail).await,
            None => {}
        }
        if let Some(reason) = run.relaunch_reason() {
            return self
                .leave_pending(grade, PendingReason::NeedsRelaunch, &reason)
                .await;
        }
        let mut line_item = match self.line_item(run, gate, counters).await {
            Ok(resolved) => resolved,
            Err(failure) => {
                return self
                    .after_line_item_failure(run, grade, failure, counters)
                    .await
            }
        };
        let score = parsed.to_score();
        let platform = run.activity.ids.platform_id.as_str();
        let post = |id: String| {
            let score = &score;
            async move {
                gate.with_retries(|| {
                    let id = id.clone();
                    async move {
                        gate.once(platform, || {
                            self.client.post_score(&run.service_key, &id, score)
                        })
                        .await
                    }
                })
                .await
            }
        };
        let mut result = post(line_item.id.clone()).await;
        if matches!(result, Err(LtiaasError::Rejected { status: 404, .. }))
            && line_item.source.may_be_stale()
        {
            match self
                .refresh_line_item(run, &line_item, gate, counters)
                .await
            {
                Ok(Some(fresh)) => {
                    line_item = fresh;
                    result = post(line_item.id.clone()).await;
                }
                Ok(None) => {}
                Err(failure) => {
                    return self
                        .after_line_item_failure(run, grade, failure, counters)
                        .await
                }
            }
        }
        match result {
            Ok(()) => {
                let written = self
                    .store
                    .mark_synced(grade, OffsetDateTime::now_utc())
                    .await;
                settle(GradeOutcome::Posted, written)
            }
            Err(error) => self.after_score_error(run, grade, error, counters).await,
        }
    }

    /// The activity's line item, resolved once per run.
    async fn line_item(
        &self,
        run: &ActivityRun,
        gate: &RequestGate,
        counters: &RunCounters,
    ) -> Result<Resolved, LineItemFailure> {
        let mut slot = run.line_item.lock().await;
        match &*slot {
            Slot::Ready(resolved) => return Ok(resolved.clone()),
            Slot::Failed(failure) => return Err(failure.clone()),
            Slot::Unresolved => {}
        }
        let result = match line_item::known(&run.activity) {
            Some(known) => Ok(known),
            None => self.find_or_create(run, gate, counters).await,
        };
        *slot = match &result {
            Ok(resolved) => Slot::Ready(resolved.clone()),
            Err(failure) => Slot::Failed(failure.clone()),
        };
        result
    }

    /// After a 404 on a cached or launch-named id: forget it and resolve
    /// afresh, once per activity per run. `None`: nothing new to try.
    async fn refresh_line_item(
        &self,
        run: &ActivityRun,
        stale: &Resolved,
        gate: &RequestGate,
        counters: &RunCounters,
    ) -> Result<Option<Resolved>, LineItemFailure> {
        let mut slot = run.line_item.lock().await;
        match &*slot {
            Slot::Ready(current) if current.id != stale.id => return Ok(Some(current.clone())),
            Slot::Failed(failure) => return Err(failure.clone()),
            _ => {}
        }
        if run.refreshed.swap(true, Ordering::SeqCst) {
            return Ok(None);
        }
        if stale.source == Source::Cache {
            if let Err(e) = self
                .store
                .forget_line_item(&run.activity.key, &stale.id)
                .await
            {
                tracing::warn!(error = %e, activity = %run.activity.key, "could not forget a stale line item id");
            }
        }
        tracing::info!(activity = %run.activity.key, "the LMS no longer knows the cached line item; resolving again");
        let result = self.find_or_create(run, gate, counters).await;
        *slot = match &result {
            Ok(resolved) => Slot::Ready(resolved.clone()),
            Err(failure) => Slot::Failed(failure.clone()),
        };
        result.map(Some)
    }

    async fn find_or_create(
        &self,
        run: &ActivityRun,
        gate: &RequestGate,
        counters: &RunCounters,
    ) -> Result<Resolved, LineItemFailure> {
        let found = line_item::find_or_create(
            &self.client,
            gate,
            &run.activity,
            &run.service_key,
            run.score_maximum_hint,
        )
        .await
        .map_err(|error| LineItemFailure {
            pending: match error {
                LtiaasError::Unauthorized { .. } => PendingReason::NeedsRelaunch,
                LtiaasError::ApiKeyRefused(_) => PendingReason::ApiKeyRefused,
                LtiaasError::Redirected { .. } => PendingReason::LtiaasRedirected,
                LtiaasError::NotSent => PendingReason::Deadline,
                _ => PendingReason::LineItemUnavailable,
            },
            reason: format!("line item: {error}"),
        })?;
        if found.source == Source::Created {
            counters.line_items_created.fetch_add(1, Ordering::Relaxed);
            tracing::info!(activity = %run.activity.key, line_item = %found.id, "created a line item");
        }
        if let Err(e) = self
            .store
            .cache_line_item(&run.activity.key, &found.id)
            .await
        {
            tracing::warn!(error = %e, activity = %run.activity.key, "could not cache the line item id");
        }
        Ok(found)
    }

    async fn after_line_item_failure(
        &self,
        run: &ActivityRun,
        grade: &PendingGrade,
        failure: LineItemFailure,
        counters: &RunCounters,
    ) -> GradeOutcome {
        match failure.pending {
            PendingReason::NeedsRelaunch => {
                self.needs_relaunch(run, &failure.reason, counters).await
            }
            PendingReason::ApiKeyRefused => {
                stop_run(counters, PendingReason::ApiKeyRefused, &failure.reason);
                return GradeOutcome::Pending(PendingReason::ApiKeyRefused);
            }
            PendingReason::LtiaasRedirected => {
                stop_run(counters, PendingReason::LtiaasRedirected, &failure.reason)
            }
            PendingReason::Deadline => return GradeOutcome::Pending(PendingReason::Deadline),
            _ => {}
        }
        self.leave_pending(grade, failure.pending, &failure.reason)
            .await
    }

    /// What a failed score post means for the grade.
    async fn after_score_error(
        &self,
        run: &ActivityRun,
        grade: &PendingGrade,
        error: LtiaasError,
        counters: &RunCounters,
    ) -> GradeOutcome {
        let reason = error.to_string();
        match error {
            // Nothing was sent: the run's time is up.
            LtiaasError::NotSent => GradeOutcome::Pending(PendingReason::Deadline),
            // ltisync's own credential: not the grade's business, no write.
            LtiaasError::ApiKeyRefused(_) => {
                stop_run(counters, PendingReason::ApiKeyRefused, &reason);
                GradeOutcome::Pending(PendingReason::ApiKeyRefused)
            }
            // The configuration moved, not the grade: pending, and no more calls.
            LtiaasError::Redirected { .. } => {
                stop_run(counters, PendingReason::LtiaasRedirected, &reason);
                self.leave_pending(grade, PendingReason::LtiaasRedirected, &reason)
                    .await
            }
            LtiaasError::Unauthorized { .. } => {
                self.needs_relaunch(run, &reason, counters).await;
                self.leave_pending(grade, PendingReason::NeedsRelaunch, &reason)
                    .await
            }
            LtiaasError::Rejected { status, message } => {
                tracing::warn!(activity = %run.activity.key, user = %grade.user_label(), status, reason = %message, "the LMS rejected a grade");
                let written = self
                    .store
                    .mark_failed(grade, Some(status), &message, OffsetDateTime::now_utc())
                    .await;
                settle(failed(Some(status), message), written)
            }
            _ => {
                self.leave_pending(grade, PendingReason::RetriesExhausted, &reason)
                    .await
            }
        }
    }

    /// Marks the activity once per run: LTIaaS refused its service key.
    async fn needs_relaunch(&self, run: &ActivityRun, reason: &str, counters: &RunCounters) {
        {
            let mut relaunch = run.relaunch.lock().expect("not poisoned");
            if relaunch.is_some() {
                return;
            }
            *relaunch = Some(reason.to_owned());
        }
        tracing::warn!(activity = %run.activity.key, reason, "service key refused; the activity needs a relaunch");
        let marked = self
            .store
            .mark_needs_relaunch(
                &run.activity.key,
                &run.service_key,
                reason,
                OffsetDateTime::now_utc(),
            )
            .await;
        match marked {
            Ok(true) => {
                counters.relaunch_marked.fetch_add(1, Ordering::Relaxed);
            }
            // A launch replaced the key meanwhile: nothing to mark.
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not mark the activity as needing a relaunch")
            }
        }
    }

    async fn leave_pending(
        &self,
        grade: &PendingGrade,
        reason: PendingReason,
        detail: &str,
    ) -> GradeOutcome {
        let note = format!("{}: {detail}", pending_note(reason));
        let written = self
            .store
            .note_pending(grade, &note, OffsetDateTime::now_utc())
            .await;
        settle(GradeOutcome::Pending(reason), written)
    }
}

/// Stops the run's LTIaaS calls: every further one would fail the same way
/// (the API key itself was refused, or LTIaaS redirects elsewhere).
fn stop_run(counters: &RunCounters, why: PendingReason, reason: &str) {
    if counters.stopped.set((why, reason.to_owned())).is_ok() {
        tracing::error!(
            reason,
            "no further calls to LTIaaS this run: {}",
            pending_note(why)
        );
    }
}

/// The outcome once its DynamoDB write is known.
fn settle(outcome: GradeOutcome, written: Result<WriteOutcome, StoreError>) -> GradeOutcome {
    match written {
        Ok(WriteOutcome::Applied) => outcome,
        Ok(WriteOutcome::Changed) => GradeOutcome::Pending(PendingReason::ChangedDuringRun),
        Err(e) => {
            tracing::warn!(error = %e, "could not record a grade's outcome; it stays pending");
            GradeOutcome::Pending(PendingReason::StoreError)
        }
    }
}

fn failed(status: Option<u16>, reason: String) -> GradeOutcome {
    GradeOutcome::Failed { status, reason }
}

fn invalid_reason(grade: &PendingGrade) -> String {
    match &grade.grade {
        Err(e) => format!("invalid grade: {e}"),
        Ok(_) => "invalid grade".into(),
    }
}

fn activity_label(grade: &PendingGrade) -> String {
    grade
        .activity
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_else(|| grade.pk.clone())
}

fn pending_note(reason: PendingReason) -> &'static str {
    match reason {
        PendingReason::Deadline => "the run ran out of time",
        PendingReason::NeedsRelaunch => {
            "the service key was refused; launch the activity from the LMS once to renew it"
        }
        PendingReason::RetriesExhausted => "LTIaaS kept failing; will retry next run",
        PendingReason::ChangedDuringRun => "changed during the run",
        PendingReason::ActivityNotLaunched => {
            "no launch has recorded this activity yet; launch it once from the LMS"
        }
        PendingReason::NoServiceKey => {
            "the activity's launches carried no service key (no grade service in that LMS context)"
        }
        PendingReason::LineItemUnavailable => {
            "the activity's line item could not be found or created"
        }
        PendingReason::StoreError => "DynamoDB failed",
        PendingReason::ActivityMalformed => {
            "the activity item does not follow the schema; relaunch the activity or fix the item"
        }
        PendingReason::ApiKeyRefused => "LTIaaS refused ltisync's API key; fix the API key secret",
        PendingReason::LtiaasRedirected => {
            "LTIaaS redirects ltisync elsewhere; check LTIAAS_URL and what stands in front of LTIaaS"
        }
    }
}

/// An activity and the valid grades it has to post.
type ActivityWork = (Arc<ActivityRun>, Vec<(PendingGrade, Grade)>);

type Task<'a> = (Arc<ActivityRun>, &'a PendingGrade, &'a Grade);

/// Orders the grades so consecutive posts go to different platforms: one
/// busy LMS then never holds every global slot while waiting for its own.
fn interleave_by_platform(runs: &[ActivityWork]) -> Vec<Task<'_>> {
    let mut queues: HashMap<&str, VecDeque<Task<'_>>> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for (run, grades) in runs {
        let platform = run.activity.ids.platform_id.as_str();
        let queue = queues.entry(platform).or_insert_with(|| {
            order.push(platform);
            VecDeque::new()
        });
        queue.extend(grades.iter().map(|(g, parsed)| (run.clone(), g, parsed)));
    }
    let mut tasks = Vec::new();
    while !queues.is_empty() {
        for platform in &order {
            if let Some(queue) = queues.get_mut(platform) {
                match queue.pop_front() {
                    Some(task) => tasks.push(task),
                    None => {
                        queues.remove(platform);
                    }
                }
            }
        }
    }
    tasks
}

//! The `sync` function: [`ltisync::sync::SyncEngine`] behind two kinds of
//! event.
//!
//! - A DynamoDB stream batch (the `GradeStreamFunction` of the stack): the
//!   grades its records name are posted now ([`stream`]), and the answer is a
//!   partial batch response.
//! - Anything else (the daily EventBridge schedule, a manual invoke) runs a
//!   full sync; a scheduled event carries nothing ltisync reads. A manual
//!   invoke may narrow and rehearse it:
//!
//! ```json
//! {"activityKey": "platform#course#link", "dryRun": true}
//! {"activity": {"platformId": "…", "contextId": "…", "resourceLinkId": "…"}}
//! ```
//!
//! The function returns the [`RunSummary`], logs it as one record and
//! prints its counts as CloudWatch metrics (Embedded Metric Format).

#![warn(missing_docs)]

pub mod follow_up;
pub mod stream;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ltisync::sync::{PendingReason, RunSummary, SyncEngine, SyncRequest};
use ltisync::{ActivityIds, ActivityKey};
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

/// Why an invocation failed: each is something the deployment must fix, so
/// the errors alarm fires. The kind reaches CloudWatch and the dead-letter
/// queue as the Lambda error type (not a Rust type name).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SyncFailure {
    /// LTIaaS refused ltisync's API key; every grade is still pending.
    #[error("LTIaaS refused ltisync's API key; fix the secret named by LTIAAS_API_KEY_SECRET. Every grade is still pending.")]
    ApiKeyRefused,
    /// LTIaaS answered with a redirect; the grades are pending with the Location.
    #[error("LTIaaS answered with a redirect, so the run stopped; {0} grades are still pending with the Location in lastError. Check LTIAAS_URL and whatever stands in front of LTIaaS (proxy, captive portal).")]
    LtiaasRedirected(u64),
    /// The table could not be used (throttling, an outage, a stall past the
    /// time limits); nothing was lost.
    #[error("{0}")]
    StoreUnavailable(String),
}

impl SyncFailure {
    /// The error type CloudWatch shows.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ApiKeyRefused => "ApiKeyRefused",
            Self::LtiaasRedirected(_) => "LtiaasRedirected",
            Self::StoreUnavailable(_) => "StoreUnavailable",
        }
    }
}

impl From<SyncFailure> for lambda_runtime::Diagnostic {
    fn from(failure: SyncFailure) -> Self {
        Self {
            error_type: failure.kind().to_owned(),
            error_message: failure.to_string(),
        }
    }
}

/// The fields of an invocation event that ltisync reads; all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncEvent {
    /// Sync only this activity (its key, as in the table).
    #[serde(default)]
    pub activity_key: Option<String>,
    /// Sync only this activity (its three ids).
    #[serde(default)]
    pub activity: Option<ActivityInput>,
    /// Report what would be posted without posting or writing anything.
    #[serde(default)]
    pub dry_run: bool,
    /// Set by a run that started this one as its follow-up: how many in a row.
    #[serde(default)]
    pub follow_up: u32,
}

/// An activity named by its ids.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityInput {
    /// `platform.id`.
    pub platform_id: String,
    /// `launch.context.id`.
    pub context_id: String,
    /// `launch.resourceLink.id`.
    pub resource_link_id: String,
}

/// What an invocation event asks for: the sync, and which follow-up in a
/// row it is (0: not a follow-up).
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The run to make.
    pub request: SyncRequest,
    /// Set by a run that started this one as its follow-up: how many in a row.
    pub follow_up: u32,
}

/// Reads what an event asks for (anything but an object: a full sync).
pub fn parse_event(event: &Value, deadline: SystemTime) -> Result<Invocation, String> {
    let parsed: SyncEvent = if event.is_object() {
        serde_json::from_value(event.clone())
            .map_err(|e| format!("the invocation event is not understood: {e}"))?
    } else {
        SyncEvent::default()
    };
    let activity = match (parsed.activity_key, parsed.activity) {
        (Some(_), Some(_)) => return Err("give activityKey or activity, not both".into()),
        (Some(key), None) => Some(ActivityKey::parse(&key).map_err(|e| e.to_string())?),
        (None, Some(a)) => Some(
            ActivityIds::new(a.platform_id, a.context_id, a.resource_link_id)
                .map_err(|e| e.to_string())?
                .key(),
        ),
        (None, None) => None,
    };
    let request = SyncRequest {
        activity,
        dry_run: parsed.dry_run,
        deadline,
    };
    Ok(Invocation {
        request,
        follow_up: parsed.follow_up,
    })
}

/// The function's state, built once per cold start.
#[derive(Debug, Clone)]
pub struct SyncFunction {
    engine: SyncEngine,
    function_name: String,
    follow_ups: Option<follow_up::FollowUps>,
}

impl SyncFunction {
    /// The function over an engine; `function_name` labels the metrics.
    pub fn new(engine: SyncEngine, function_name: impl Into<String>) -> Self {
        Self {
            engine,
            function_name: function_name.into(),
            follow_ups: None,
        }
    }

    /// Starts follow-up runs when a run stops at its deadline with work left.
    pub fn with_follow_ups(mut self, follow_ups: follow_up::FollowUps) -> Self {
        self.follow_ups = Some(follow_ups);
        self
    }

    /// The engine behind the function.
    pub fn engine(&self) -> &SyncEngine {
        &self.engine
    }

    /// Runs the sync an event asks for, until `deadline`, and answers with
    /// its summary. An event ltisync cannot read is answered, not failed:
    /// `{"error": {"kind": "BadEvent", "message": ...}}` (retrying the same
    /// event could not help). The invocation fails only when the deployment
    /// must be fixed (API key refused, LTIaaS redirecting, table unusable),
    /// so the errors alarm fires.
    pub async fn handle(&self, event: &Value, deadline: SystemTime) -> Result<Value, SyncFailure> {
        if let Some(records) = stream::read_batch(event) {
            let response = self.post_batch(&records, deadline).await;
            return Ok(serde_json::to_value(response).expect("plain data"));
        }
        match parse_event(event, deadline) {
            Ok(Invocation { request, follow_up }) => self
                .run(request, follow_up)
                .await
                .map(|summary| serde_json::to_value(summary).expect("a summary is plain data")),
            Err(message) => {
                tracing::error!(error = %message, "the invocation event is not a sync request");
                Ok(serde_json::json!({"error": {"kind": "BadEvent", "message": message}}))
            }
        }
    }

    /// Posts the grades a stream batch names; never fails the invocation
    /// (a failure would make the mapping retry the whole batch): what must
    /// be tried again is named in the response instead.
    async fn post_batch(
        &self,
        records: &[stream::StreamRecord],
        deadline: SystemTime,
    ) -> stream::BatchResponse {
        let keys = records.iter().filter_map(|r| r.grade.clone()).collect();
        let run = match self.engine.post_now(keys, deadline).await {
            Ok(run) => run,
            Err(e) => {
                tracing::error!(error = %e, "the stream batch could not be worked; every grade in it is retried");
                return stream::all_wanted(records);
            }
        };
        let response = stream::failures(records, &run);
        tracing::info!(
            run_id = %run.summary.run_id,
            records = records.len(),
            retry = response.batch_item_failures.len(),
            posted = run.summary.grades_posted,
            failed = run.summary.grades_failed,
            pending = run.summary.grades_pending,
            duration_ms = run.summary.duration_ms,
            summary = %serde_json::to_string(&run.summary).unwrap_or_default(),
            "grade stream batch"
        );
        self.print_metrics(&run.summary);
        response
    }

    async fn run(&self, request: SyncRequest, follow_up: u32) -> Result<RunSummary, SyncFailure> {
        let mut summary = self.engine.run(request.clone()).await.map_err(|e| {
            tracing::error!(error = %e, "sync run failed");
            SyncFailure::StoreUnavailable(e.to_string())
        })?;
        if let Some(follow_ups) = &self.follow_ups {
            summary.follow_up = follow_ups.after(&summary, &request, follow_up).await;
        }
        tracing::info!(
            run_id = %summary.run_id,
            dry_run = summary.dry_run,
            skipped = summary.skipped.as_deref(),
            activities = summary.activities_seen,
            posted = summary.grades_posted,
            failed = summary.grades_failed,
            pending = summary.grades_pending,
            needs_relaunch = summary.activities_needing_relaunch,
            line_items_created = summary.line_items_created,
            retries = summary.retries,
            stopped_by_deadline = summary.stopped_by_deadline,
            duration_ms = summary.duration_ms,
            summary = %serde_json::to_string(&summary).unwrap_or_default(),
            "sync run"
        );
        self.print_metrics(&summary);
        // A refused API key or a redirecting LTIaaS is the deployment's
        // fault: fail the invocation so the errors alarm fires (the summary
        // above says what was left).
        match summary.deployment_faults().next() {
            Some((PendingReason::ApiKeyRefused, _)) => return Err(SyncFailure::ApiKeyRefused),
            Some((PendingReason::LtiaasRedirected, count)) => {
                return Err(SyncFailure::LtiaasRedirected(count))
            }
            _ => {}
        }
        Ok(summary)
    }

    /// EMF records go to stdout as they are; CloudWatch turns them into metrics.
    fn print_metrics(&self, summary: &RunSummary) {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_millis();
        println!("{}", summary.emf(&self.function_name, now_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deadline() -> SystemTime {
        SystemTime::now()
    }

    #[test]
    fn a_scheduled_event_asks_for_a_full_sync() {
        let event = serde_json::json!({"version": "0", "detail-type": "Scheduled Event",
            "source": "aws.events", "detail": {}});
        let Invocation { request, follow_up } = parse_event(&event, deadline()).unwrap();
        assert!(request.activity.is_none() && !request.dry_run && follow_up == 0);
        assert!(parse_event(&Value::Null, deadline())
            .unwrap()
            .request
            .activity
            .is_none());
    }

    #[test]
    fn a_manual_event_narrows_to_one_activity() {
        let by_key = parse_event(
            &serde_json::json!({"activityKey": "p#c#r", "dryRun": true}),
            deadline(),
        )
        .unwrap()
        .request;
        assert_eq!(by_key.activity.unwrap().as_str(), "p#c#r");
        assert!(by_key.dry_run);
        let by_ids = parse_event(
            &serde_json::json!({"activity": {"platformId": "p", "contextId": "c#1", "resourceLinkId": "r"}}),
            deadline(),
        )
        .unwrap()
        .request;
        assert_eq!(by_ids.activity.unwrap().as_str(), "p#c%231#r");
    }

    #[test]
    fn a_bad_manual_event_says_what_is_wrong() {
        let err = parse_event(&serde_json::json!({"activityKey": "nope"}), deadline()).unwrap_err();
        assert!(err.contains("not an activity key"), "{err}");
        let err = parse_event(&serde_json::json!({"dryRun": "yes"}), deadline()).unwrap_err();
        assert!(err.contains("not understood"), "{err}");
    }
}

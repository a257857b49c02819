//! Follow-up runs: a daily run that stops at its deadline with grades left
//! asks Lambda to run the function again at once (an asynchronous invoke of
//! itself, `{"followUp": n}`), so no backlog waits a day for the next
//! schedule. At most `SYNC_MAX_FOLLOW_UPS` in a row; the summary says what
//! was decided.
//!
//! An asynchronous invoke is queued by Lambda and retried on throttling;
//! the run releases its lease before it asks, so the follow-up finds the
//! lease free (with or without a reserved concurrency of 1).

use std::time::{Duration, SystemTime};

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use ltisync::sync::summary::FollowUp;
use ltisync::sync::{RunSummary, SyncRequest};
use serde_json::json;

/// At most 5 s, and never past the deadline less a moment to answer.
fn invoke_time_limit(deadline: SystemTime) -> Duration {
    let reserve = Duration::from_millis(250);
    deadline
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
        .saturating_sub(reserve)
        .min(Duration::from_secs(5))
}

/// Starts follow-up runs of one function.
#[derive(Debug, Clone)]
pub struct FollowUps {
    lambda: aws_sdk_lambda::Client,
    function_name: String,
    max_in_a_row: u32,
}

impl FollowUps {
    /// Follow-ups of `function_name` through `lambda`, at most `max_in_a_row`.
    pub fn new(
        lambda: aws_sdk_lambda::Client,
        function_name: impl Into<String>,
        max_in_a_row: u32,
    ) -> Self {
        Self {
            lambda,
            function_name: function_name.into(),
            max_in_a_row,
        }
    }

    /// What to do after `summary`, the run `request` asked for, which was
    /// follow-up number `number` (0: started by the schedule or by hand).
    /// `None` when no follow-up is needed.
    pub async fn after(
        &self,
        summary: &RunSummary,
        request: &SyncRequest,
        number: u32,
    ) -> Option<FollowUp> {
        if !summary.stopped_by_deadline || summary.dry_run || summary.skipped.is_some() {
            return None;
        }
        let next = number + 1;
        let mut follow_up = FollowUp {
            number: next,
            max_in_a_row: self.max_in_a_row,
            started: false,
            not_started: None,
        };
        if self.max_in_a_row == 0 {
            follow_up.not_started = Some(
                "follow-up runs are off (SYNC_MAX_FOLLOW_UPS=0); the next schedule continues"
                    .into(),
            );
            return Some(follow_up);
        }
        if next > self.max_in_a_row {
            follow_up.not_started = Some(format!(
                "{number} follow-up runs in a row already; the next schedule continues"
            ));
            return Some(follow_up);
        }
        match self.start(request, next).await {
            Ok(()) => follow_up.started = true,
            Err(reason) => {
                tracing::warn!(
                    reason,
                    "could not start a follow-up run; the next schedule continues"
                );
                follow_up.not_started = Some(reason);
            }
        }
        Some(follow_up)
    }

    async fn start(&self, request: &SyncRequest, number: u32) -> Result<(), String> {
        let mut payload = json!({"followUp": number});
        if let Some(activity) = &request.activity {
            payload["activityKey"] = json!(activity.as_str());
        }
        let limit = invoke_time_limit(request.deadline);
        if limit.is_zero() {
            return Err("no time was left before the deadline to ask for it".into());
        }
        let call = self
            .lambda
            .invoke()
            .function_name(&self.function_name)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload.to_string()))
            .send();
        match tokio::time::timeout(limit, call).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!(
                "Lambda refused the follow-up invoke: {}",
                aws_sdk_lambda::error::DisplayErrorContext(&e)
            )),
            Err(_) => Err(format!(
                "Lambda did not answer the follow-up invoke within {} ms",
                limit.as_millis()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_invoke_never_waits_past_the_deadline() {
        assert_eq!(invoke_time_limit(SystemTime::now()), Duration::ZERO);
        let far = SystemTime::now() + Duration::from_secs(600);
        assert_eq!(invoke_time_limit(far), Duration::from_secs(5));
        let near = SystemTime::now() + Duration::from_secs(1);
        assert!(invoke_time_limit(near) <= Duration::from_millis(750));
    }
}

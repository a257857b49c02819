//! What an LTIaaS error means for the grade, its activity and the run, in
//! one place ([`consequence`]), and carrying it out ([`Posting::apply`]).

use time::OffsetDateTime;

use crate::ltiaas::LtiaasError;
use crate::store::PendingGrade;

use super::{ActivityState, Posting};
use crate::ltiaas::RequestGate;
use crate::outcome::{FailReason, GradeOutcome, PendingReason};

/// What an error means.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::sync) enum Consequence {
    /// The grade cannot be posted, for good: the LMS refused it, or ltisync
    /// knows it would (not a learner, no column it may use).
    Fail(FailReason),
    /// Leave the grade pending, for this reason.
    Wait(PendingReason),
    /// The service key was refused: mark the activity for a relaunch.
    KeyRefused,
    /// Every further call would fail the same way: stop the run's calls.
    StopRun(PendingReason),
}

/// Why a grade was not posted: the consequence, and the detail for the
/// note of a grade left pending.
#[derive(Debug, Clone)]
pub(super) struct Failure {
    consequence: Consequence,
    detail: String,
}

impl Failure {
    pub(super) fn new(consequence: Consequence, detail: String) -> Self {
        Self {
            consequence,
            detail,
        }
    }

    /// A failure for `error`, met while resolving the line item or posting.
    pub(super) fn from_error(
        error: &LtiaasError,
        resolving_line_item: bool,
        detail: String,
    ) -> Self {
        Self::new(consequence(error, resolving_line_item), detail)
    }

    /// Stops the run's LTIaaS calls at once when the failure means every
    /// further call would fail the same way: for a failure met outside a
    /// grade's own steps (the roster read), before anything else can send.
    pub(super) fn stop_now(&self, gate: &RequestGate) {
        if let Consequence::StopRun(why) = self.consequence {
            stop_run(gate, why, &self.detail);
        }
    }

    /// A grade ltisync will not post, for good.
    pub(super) fn fail(reason: FailReason) -> Self {
        let detail = reason.text();
        Self::new(Consequence::Fail(reason), detail)
    }
}

/// The one place that decides what an LTIaaS error means. While resolving
/// the line item nothing is the grade's fault, so rejections wait too.
pub(in crate::sync) fn consequence(error: &LtiaasError, resolving_line_item: bool) -> Consequence {
    match error {
        LtiaasError::NotSent => Consequence::Wait(PendingReason::Deadline),
        LtiaasError::ApiKeyRefused(_) => Consequence::StopRun(PendingReason::ApiKeyRefused),
        LtiaasError::Redirected { .. } => Consequence::StopRun(PendingReason::LtiaasRedirected),
        LtiaasError::Unauthorized { .. } => Consequence::KeyRefused,
        _ if resolving_line_item => Consequence::Wait(PendingReason::LineItemUnavailable),
        // Still refused after the retries: the next run or stream retry
        // posts it again; the newest value must never end FAILED.
        LtiaasError::NotNewer { .. } => Consequence::Wait(PendingReason::LmsHoldsNewer),
        LtiaasError::Rejected { status, message } => Consequence::Fail(FailReason::LmsRejected {
            status: *status,
            message: message.clone(),
        }),
        _ => Consequence::Wait(PendingReason::RetriesExhausted),
    }
}

impl Posting<'_> {
    /// Carries out a failure's consequence on the grade (and its activity,
    /// and the run).
    pub(super) async fn apply(
        &self,
        failure: Failure,
        state: &ActivityState,
        grade: &PendingGrade,
    ) -> GradeOutcome {
        let Failure {
            consequence,
            detail,
        } = held_back_by_stop(failure, &self.gate);
        let recorder = self.deps.recorder;
        match consequence {
            Consequence::Fail(reason) => {
                match &reason {
                    FailReason::LmsRejected { status, message } => {
                        tracing::warn!(status, reason = %message, "the LMS rejected a grade")
                    }
                    other => tracing::info!(reason = %other.text(), "a grade cannot be posted"),
                }
                recorder.fail(grade, reason).await
            }
            // Nothing was sent: the run's time is up; nothing to note.
            Consequence::Wait(PendingReason::Deadline) => {
                GradeOutcome::Pending(PendingReason::Deadline)
            }
            Consequence::Wait(why) => recorder.leave_pending(grade, why, Some(&detail)).await,
            Consequence::KeyRefused => {
                self.mark_key_refused(state, &detail).await;
                let why = PendingReason::NeedsRelaunch;
                recorder.leave_pending(grade, why, Some(&detail)).await
            }
            Consequence::StopRun(why) => {
                stop_run(&self.gate, why, &detail);
                match why {
                    // ltisync's own credential: not the grade's business, no write.
                    PendingReason::ApiKeyRefused => GradeOutcome::Pending(why),
                    _ => recorder.leave_pending(grade, why, Some(&detail)).await,
                }
            }
        }
    }

    /// Marks the activity once per run: LTIaaS refused its service key.
    async fn mark_key_refused(&self, state: &ActivityState, reason: &str) {
        {
            let mut refused = state.key_refused.lock().expect("not poisoned");
            if refused.is_some() {
                return;
            }
            *refused = Some(reason.to_owned());
        }
        tracing::warn!(reason, "service key refused; the activity needs a relaunch");
        let marked = self
            .deps
            .store
            .mark_needs_relaunch(
                &state.activity.key,
                &state.service_key,
                reason,
                OffsetDateTime::now_utc(),
            )
            .await;
        match marked {
            Ok(true) => {
                self.counts
                    .relaunch_marked
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            // A launch replaced the key meanwhile: nothing to mark.
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not mark the activity as needing a relaunch")
            }
        }
    }
}

/// A request the gate held back because the run had stopped calling
/// LTIaaS waits for the stop's reason, not for the deadline.
fn held_back_by_stop(failure: Failure, gate: &RequestGate) -> Failure {
    match (&failure.consequence, gate.stopped()) {
        (Consequence::Wait(PendingReason::Deadline), Some((why, detail))) => {
            Failure::new(Consequence::StopRun(*why), detail.clone())
        }
        _ => failure,
    }
}

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
            Consequence::Fail(FailReason::LmsRejected {
                status: 422,
                message: "not a student".into()
            })
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
        let same_second = LtiaasError::NotNewer {
            status: 409,
            message: String::new(),
        };
        assert_eq!(
            consequence(&same_second, false),
            Consequence::Wait(PendingReason::LmsHoldsNewer),
            "a same-second refusal is never final"
        );
        assert_eq!(
            consequence(&LtiaasError::NotSent, true),
            Consequence::Wait(PendingReason::Deadline)
        );
    }
}

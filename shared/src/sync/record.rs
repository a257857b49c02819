//! Recording a grade's outcome: one conditional write each (see
//! `Store::mark_synced`, `mark_failed`, `note_pending`), which applies only
//! if the tool did not change the grade since it was read. What the write
//! did decides the outcome the run reports.

use time::OffsetDateTime;

use crate::store::{PendingGrade, StoreError, WriteOutcome};

use super::outcome::{FailReason, GradeOutcome, PendingReason};
use super::run::Run;

impl Run<'_> {
    /// Marks a posted grade SYNCED.
    pub(super) async fn mark_synced(&self, grade: &PendingGrade) -> GradeOutcome {
        let written = self
            .store
            .mark_synced(grade, OffsetDateTime::now_utc())
            .await;
        self.milestones.outcome_written();
        outcome_after_write(GradeOutcome::Posted, written)
    }

    /// Marks a grade SYNCED without a post: the LMS holds this very score.
    pub(super) async fn mark_unchanged(&self, grade: &PendingGrade) -> GradeOutcome {
        let written = self
            .store
            .mark_synced(grade, OffsetDateTime::now_utc())
            .await;
        self.milestones.outcome_written();
        outcome_after_write(GradeOutcome::Unchanged, written)
    }

    /// Marks a grade FAILED, for `reason`.
    pub(super) async fn fail(&self, grade: &PendingGrade, reason: FailReason) -> GradeOutcome {
        let written = self
            .store
            .mark_failed(grade, &reason, OffsetDateTime::now_utc())
            .await;
        self.milestones.outcome_written();
        outcome_after_write(GradeOutcome::Failed(reason), written)
    }

    /// Leaves a grade pending, noting why (and the detail, when there is one).
    pub(super) async fn leave_pending(
        &self,
        grade: &PendingGrade,
        reason: PendingReason,
        detail: Option<&str>,
    ) -> GradeOutcome {
        let note = match detail {
            Some(detail) => format!("{}: {detail}", reason.note()),
            None => reason.note().to_owned(),
        };
        let written = self
            .store
            .note_pending(grade, reason, &note, OffsetDateTime::now_utc())
            .await;
        self.milestones.outcome_written();
        outcome_after_write(GradeOutcome::Pending(reason), written)
    }
}

/// The outcome once its DynamoDB write is known: a grade the tool changed
/// meanwhile, or whose write failed, stays pending.
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

//! Recording a grade's outcome: one conditional write each (see
//! `Store::mark_synced`, `mark_failed`, `note_pending`), which applies only
//! if the tool did not change the grade since it was read. What the write
//! did decides the outcome the run reports.
//!
//! The [`Recorder`] is the run's one writer of outcomes: the plan's known
//! outcomes and the post step's both go through it, and it notes when the
//! first score was sent and the last outcome written ([`Milestones`]), so
//! the post step needs nothing of the run but this and the store.

use std::time::Instant;

use time::OffsetDateTime;

use crate::outcome::{FailReason, GradeOutcome, PendingReason};
use crate::store::{PendingGrade, Store, StoreError, WriteOutcome};

use super::milestones::Milestones;

/// Writes a run's outcomes, and notes when it sent and wrote.
pub(super) struct Recorder {
    /// The run's store (metered, cut before the deadline).
    store: Store,
    milestones: Milestones,
}

impl Recorder {
    /// A recorder writing through `store`, timing from `started`.
    pub(super) fn new(store: Store, started: Instant) -> Self {
        Self {
            store,
            milestones: Milestones::new(started),
        }
    }

    /// When the run first sent a score and last wrote an outcome.
    pub(super) fn milestones(&self) -> &Milestones {
        &self.milestones
    }

    /// Marks a posted grade SYNCED.
    pub(super) async fn mark_synced(&self, grade: &PendingGrade) -> GradeOutcome {
        self.settle(grade, GradeOutcome::Posted).await
    }

    /// Marks a grade SYNCED without a post: the LMS holds this very score.
    pub(super) async fn mark_unchanged(&self, grade: &PendingGrade) -> GradeOutcome {
        self.settle(grade, GradeOutcome::Unchanged).await
    }

    /// Marks a grade FAILED, for `reason`.
    pub(super) async fn fail(&self, grade: &PendingGrade, reason: FailReason) -> GradeOutcome {
        let written = self
            .store
            .mark_failed(grade, &reason, OffsetDateTime::now_utc())
            .await;
        self.written(GradeOutcome::Failed(reason), written)
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
        self.written(GradeOutcome::Pending(reason), written)
    }

    /// Marks a grade SYNCED; `outcome` says whether a post got it there.
    async fn settle(&self, grade: &PendingGrade, outcome: GradeOutcome) -> GradeOutcome {
        let written = self
            .store
            .mark_synced(grade, OffsetDateTime::now_utc())
            .await;
        self.written(outcome, written)
    }

    fn written(
        &self,
        outcome: GradeOutcome,
        written: Result<WriteOutcome, StoreError>,
    ) -> GradeOutcome {
        self.milestones.outcome_written();
        outcome_after_write(outcome, written)
    }
}

/// The outcome once its DynamoDB write is known: a grade the tool changed
/// meanwhile, or whose write failed, stays pending.
fn outcome_after_write(
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

//! The roster check before an activity's first post in a run (the rule
//! lives in `sync::roster`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::super::plan::ReadyGrade;
use super::super::roster::{self, Roster};
use super::consequence::Failure;
use super::{ActivityState, Posting};

impl Posting<'_> {
    /// Refuses a grade for anyone the course roster does not list as an
    /// active learner. The roster is read at most once per activity per
    /// run; a recent read of the same course (this warm process's
    /// [`roster::RosterCache`]) spares the read for users it lists as
    /// active learners, never for a refusal.
    pub(super) async fn check_learner(
        &self,
        state: &ActivityState,
        ready: &ReadyGrade,
    ) -> Result<(), Failure> {
        let engine = self.run.engine;
        let user = ready.grade.user_id.as_str();
        let mut roster = state.roster.lock().await;
        if roster.is_none() {
            if engine.tuning.roster_check && engine.rosters.lists_learner(&state.activity, user) {
                return Ok(());
            }
            let read = Arc::new(self.read_roster(state).await?);
            engine.rosters.remember(&state.activity, &read);
            *roster = Some(read);
        }
        match roster.as_ref().and_then(|r| r.refusal(user)) {
            None => Ok(()),
            Some(reason) => Err(Failure::fail(reason)),
        }
    }

    async fn read_roster(&self, state: &ActivityState) -> Result<Roster, Failure> {
        let engine = self.run.engine;
        if !engine.tuning.roster_check {
            return Ok(Roster::NotChecked);
        }
        let read = roster::read(
            &engine.client,
            &self.gate,
            &state.activity,
            &state.service_key,
        );
        match read.await {
            Ok(Roster::Unavailable(why)) => {
                self.counts
                    .rosters_unavailable
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(reason = %why, "no roster check for this activity; posting unchecked");
                Ok(Roster::Unavailable(why))
            }
            Ok(roster) => {
                self.counts.rosters_read.fetch_add(1, Ordering::Relaxed);
                Ok(roster)
            }
            Err(error) => Err(Failure::from_error(
                &error,
                true,
                format!("roster: {error}"),
            )),
        }
    }
}

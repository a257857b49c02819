//! The roster check before an activity's first post in a run (the rule
//! lives in `sync::roster`).
//!
//! The roster is read once per activity per run, by the first grade that
//! needs it, page by page: each page's standings are published as they
//! arrive, so a grade whose user a page lists goes on at once instead of
//! waiting for the last page (a course of 300 at 100 members a page is
//! three LTIaaS round trips; its first post waited for all three).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::watch;

use super::super::plan::ReadyGrade;
use super::super::roster::{self, Roster, Standing};
use super::consequence::Failure;
use super::{ActivityState, Posting};

/// One activity's roster as this run reads it.
pub(super) struct RosterRead {
    /// Whether a grade has taken on the read.
    taken: AtomicBool,
    progress: watch::Sender<Progress>,
}

/// What the read has found so far.
#[derive(Clone, Default)]
struct Progress {
    /// Standings by page, as read.
    pages: Vec<Arc<HashMap<String, Standing>>>,
    /// The whole roster once read, or why it could not be.
    done: Option<Result<Arc<Roster>, Failure>>,
}

impl Default for RosterRead {
    fn default() -> Self {
        Self {
            taken: AtomicBool::new(false),
            progress: watch::Sender::new(Progress::default()),
        }
    }
}

impl Progress {
    /// The roster's verdict on `user`, when what was read decides it: a
    /// page that lists the user as an active learner lets the grade go at
    /// once; a refusal waits for the whole roster (a later page may list
    /// the user again, and a roster that fails to read refuses nobody).
    fn verdict(&self, user: &str) -> Option<Result<(), Failure>> {
        let listed = self.pages.iter().find_map(|page| page.get(user));
        if matches!(listed, Some(Standing::ActiveLearner)) {
            return Some(Ok(()));
        }
        match self.done.as_ref()? {
            Ok(roster) => Some(refusal_of(roster, user)),
            Err(failure) => Some(Err(failure.clone())),
        }
    }
}

fn refusal_of(roster: &Roster, user: &str) -> Result<(), Failure> {
    match roster.refusal(user) {
        None => Ok(()),
        Some(reason) => Err(Failure::fail(reason)),
    }
}

impl Posting<'_> {
    /// Whether this grade's check needs the roster read in this run: no
    /// read has finished, and a recent read of the same course (this warm
    /// process's [`roster::RosterCache`]) does not already list its user as
    /// an active learner (the cache spares reads, never decides a refusal).
    pub(super) fn needs_roster(&self, state: &ActivityState, ready: &ReadyGrade) -> bool {
        let deps = &self.deps;
        let unread = state.roster.progress.borrow().done.is_none();
        let cached = deps.tuning.roster_check
            && deps
                .rosters
                .lists_learner(&state.activity, &ready.grade.user_id);
        unread && !cached
    }

    /// Reads the activity's roster if no other grade has taken the read
    /// on. Run beside the grade's own steps (see `post_grade`), so the
    /// grade that reads is not held back by the pages after its own.
    pub(super) async fn read_roster_once(&self, state: &ActivityState) {
        if !state.roster.taken.swap(true, Ordering::AcqRel) {
            self.read_roster(state).await;
        }
    }

    /// Refuses a grade for anyone the course roster does not list as an
    /// active learner, as soon as what was read decides it. `needs_roster`
    /// is the grade's one answer to [`Self::needs_roster`] (asked once: the
    /// cache may expire meanwhile, and a grade that read "no read needed"
    /// must not then wait for a read nobody took on).
    pub(super) async fn check_learner(
        &self,
        state: &ActivityState,
        ready: &ReadyGrade,
        needs_roster: bool,
    ) -> Result<(), Failure> {
        if !needs_roster && state.roster.progress.borrow().done.is_none() {
            return Ok(());
        }
        self.verdict(state, &ready.grade.user_id).await
    }

    /// Waits until what was read decides `user`'s grade.
    async fn verdict(&self, state: &ActivityState, user: &str) -> Result<(), Failure> {
        let mut progress = state.roster.progress.subscribe();
        loop {
            if let Some(verdict) = progress.borrow_and_update().verdict(user) {
                return verdict;
            }
            if progress.changed().await.is_err() {
                // The state outlives every grade's check; never reached.
                return Ok(());
            }
        }
    }

    /// Reads the roster, publishing each page, then the whole.
    async fn read_roster(&self, state: &ActivityState) {
        let deps = &self.deps;
        let done = if deps.tuning.roster_check {
            let publish = |page: &HashMap<String, Standing>| {
                let page = Arc::new(page.clone());
                state.roster.progress.send_modify(|p| p.pages.push(page));
            };
            let key = &state.service_key;
            let read = roster::read(deps.client, &self.gate, &state.activity, key, publish);
            self.counted(read.await)
        } else {
            Ok(Roster::NotChecked)
        };
        let done = done.map(Arc::new);
        if let Ok(roster) = &done {
            deps.rosters.remember(&state.activity, roster);
        }
        state.roster.progress.send_modify(|p| p.done = Some(done));
    }

    /// Counts a roster read, and says why when it failed.
    fn counted(&self, read: Result<Roster, crate::ltiaas::LtiaasError>) -> Result<Roster, Failure> {
        match read {
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
            Err(error) => {
                let failure = Failure::from_error(&error, true, format!("roster: {error}"));
                failure.stop_now(&self.gate);
                Err(failure)
            }
        }
    }
}

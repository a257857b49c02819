//! The sync engine: posts pending grades through LTIaaS with each
//! activity's service key, and records every grade's outcome.
//!
//! Work comes from two sources and goes through the same steps:
//! - [`SyncEngine::run`], the daily run: takes the lease (so two scheduled
//!   invocations never sync at once) and, beside it, finds every pending
//!   grade through the work index, which also holds copies of the grades
//!   and activities;
//! - [`SyncEngine::post_now`], the stream path: the grades named by a batch
//!   of DynamoDB stream records, seconds after the tool wrote them.
//!
//! The steps, for a set of grades:
//! 1. **claim** each activity (a lock item per activity), so that whoever
//!    posts an activity's grades is alone with them until the outcomes are
//!    written: two posts of one grade never overlap;
//! 2. **read** the grades and activities: the stream path reads them, and
//!    what the LMS accepted for each grade, consistently *after* claiming,
//!    in one round of requests; the daily run has the index's copies
//!    (eventually consistent, a fraction of the price) and must confirm each
//!    before posting it;
//! 3. **plan** (pure, [`plan`]): which grades are posted, which wait and why;
//! 4. **confirm** a copy just before posting it: a conditional write that
//!    applies only if the table still holds the copy's value (a copy that
//!    lags is read again, consistently, and its current value posted, or
//!    nothing if it is no longer pending). So every value posted was the
//!    table's value at a moment when this holder held the claim: each holder
//!    posts values at least as new as the previous holder's, and the values
//!    the LMS receives only ever get newer;
//! 5. **post** under the request gate ([`RequestGate`]) and **record** each
//!    outcome with a write that applies only if the grade is unchanged since
//!    it was read or confirmed, so a grade is marked SYNCED only with the
//!    value the LMS got last;
//! 6. **release** the claims.
//!
//! A grade leaves the work index only after LTIaaS accepted (or rejected
//! it for good) and only if the tool did not change it meanwhile, so a
//! crash at any point leaves every grade posted or still pending.
//!
//! # Layout
//! - `run`: one invocation (a `Run`): the order of its steps, and the
//!   store whose calls it cuts before the deadline;
//! - [`plan`]: the pure step; `posting`: the post step (pipeline, line item
//!   cache, roster check, what an error means); `once`: what the LMS
//!   accepted before decides whether and how a grade is sent; `record`:
//!   the `Recorder`, which writes outcomes and notes when they were written;
//! - [`line_item`], [`roster`]: the line item rule and the roster rule;
//!   [`summary`]: the run summary, folded from the outcomes at the end of a
//!   run.
//!
//! The vocabulary of outcomes ([`crate::outcome`]) and the request gate
//! ([`RequestGate`]) live below this module: the store records outcomes and
//! `ltisync reconcile` paces its reads without a run.

pub mod line_item;
mod milestones;
mod once;
pub mod plan;
mod posting;
mod record;
pub mod roster;
mod run;
pub mod summary;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use thiserror::Error;

use crate::activity::ActivityKey;
use crate::config::SyncTuning;
use crate::ltiaas::LtiaasClient;
#[cfg(doc)]
use crate::ltiaas::RequestGate;
use crate::store::{GradeKey, Store, StoreError};

pub use crate::outcome::{FailCode, FailReason, GradeOutcome, PendingReason, StoredReason};
pub use once::Fingerprint;
pub use summary::{PlannedScore, RunSummary};

use run::Run;

/// What the daily run syncs.
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

/// What a stream batch did: the summary, and each grade key's outcome.
#[derive(Debug, Clone, Default)]
pub struct BatchRun {
    /// Counts, as for a daily run.
    pub summary: RunSummary,
    /// The outcome of each key asked for (absent: the grade was no longer
    /// pending when read, so there was nothing to do).
    pub outcomes: HashMap<GradeKey, GradeOutcome>,
}

/// The engine, built once per cold start; each invocation is a [`Run`] of it.
#[derive(Debug, Clone)]
pub struct SyncEngine {
    client: LtiaasClient,
    store: Store,
    tuning: SyncTuning,
    /// Rosters read by earlier runs of this process.
    rosters: Arc<roster::RosterCache>,
}

impl SyncEngine {
    /// An engine over the given client, store and tuning.
    pub fn new(client: LtiaasClient, store: Store, tuning: SyncTuning) -> Self {
        Self {
            client,
            store,
            tuning,
            rosters: Default::default(),
        }
    }

    /// The daily run (see the module docs): every pending grade, or one
    /// activity's.
    ///
    /// No post starts in the last `deadline_margin` before the deadline, and
    /// every DynamoDB call is cut once only half the margin is left: posts
    /// still in flight at the stop get the first half to record their
    /// outcomes, and the run always answers before Lambda stops it.
    #[tracing::instrument(skip_all, fields(run_id))]
    pub async fn run(&self, request: SyncRequest) -> Result<RunSummary, SyncError> {
        let run = Run::start(self, request.dry_run, request.deadline);
        tracing::Span::current().record("run_id", run.id());
        // Boxed: a run's future holds every step's state and should not
        // have to fit on whatever stack polls it.
        Box::pin(run.daily(request.activity.as_ref())).await
    }

    /// The stream path: posts the grades named by `keys` now (no lease; the
    /// activity claims keep it apart from the daily run and other batches).
    #[tracing::instrument(skip_all, fields(run_id, grades = keys.len()))]
    pub async fn post_now(
        &self,
        keys: Vec<GradeKey>,
        deadline: SystemTime,
    ) -> Result<BatchRun, SyncError> {
        let run = Run::start(self, false, deadline);
        tracing::Span::current().record("run_id", run.id());
        Box::pin(run.batch(keys)).await
    }
}

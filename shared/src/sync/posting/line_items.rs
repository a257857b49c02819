//! Each activity's line item during one run: resolved once (by the rule in
//! `sync::line_item`), cached on the activity item, and resolved afresh
//! once when the LMS no longer knows a cached or launch-named id.

use std::sync::atomic::Ordering;

use super::super::line_item::{self, Resolved, Source};
use super::consequence::Failure;
use super::{ActivityState, Posting};
use crate::outcome::FailReason;

/// Where an activity's line item stands during one run.
pub(super) enum LineItemState {
    Unresolved,
    Ready(Resolved),
    Failed(Failure),
}

impl LineItemState {
    fn from_result(result: &Result<Resolved, Failure>) -> Self {
        match result {
            Ok(resolved) => Self::Ready(resolved.clone()),
            Err(failure) => Self::Failed(failure.clone()),
        }
    }
}

impl Posting<'_> {
    /// The activity's line item, resolved once per run.
    pub(super) async fn line_item(&self, state: &ActivityState) -> Result<Resolved, Failure> {
        let mut current = state.line_item.lock().await;
        match &*current {
            LineItemState::Ready(resolved) => return Ok(resolved.clone()),
            LineItemState::Failed(failure) => return Err(failure.clone()),
            LineItemState::Unresolved => {}
        }
        let result = match line_item::known(&state.activity) {
            Some(known) => Ok(known),
            None => self.find_or_create(state).await,
        };
        *current = LineItemState::from_result(&result);
        result
    }

    /// After a 404 on a cached or launch-named id: forget it and resolve
    /// afresh, once per activity per run. `None`: nothing new to try.
    pub(super) async fn re_resolve(
        &self,
        state: &ActivityState,
        stale: &Resolved,
    ) -> Result<Option<Resolved>, Failure> {
        let mut current = state.line_item.lock().await;
        match &*current {
            LineItemState::Ready(now) if now.id != stale.id => return Ok(Some(now.clone())),
            LineItemState::Failed(failure) => return Err(failure.clone()),
            _ => {}
        }
        if !state.activity.services.may_list_line_items()
            || state.re_resolved.swap(true, Ordering::SeqCst)
        {
            return Ok(None);
        }
        if stale.source == Source::Cache {
            let forgotten = self
                .deps
                .store
                .forget_line_item(&state.activity.key, &stale.id);
            if let Err(e) = forgotten.await {
                tracing::warn!(error = %e, "could not forget a stale line item id");
            }
        }
        tracing::info!("the LMS no longer knows the cached line item; resolving again");
        let result = self.find_or_create(state).await;
        *current = LineItemState::from_result(&result);
        result.map(Some)
    }

    async fn find_or_create(&self, state: &ActivityState) -> Result<Resolved, Failure> {
        let found = line_item::find_or_create(
            self.deps.client,
            &self.gate,
            &state.activity,
            &state.service_key,
            state.score_maximum_hint,
        )
        .await
        .map_err(|error| Failure::from_error(&error, true, format!("line item: {error}")))?
        .ok_or_else(|| Failure::fail(FailReason::NoLineItemToCreate))?;
        if found.source == Source::Created {
            self.counts
                .line_items_created
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(line_item = %found.id, "created a line item");
        }
        let cached = self
            .deps
            .store
            .cache_line_item(&state.activity.key, &found.id);
        if let Err(e) = cached.await {
            tracing::warn!(error = %e, "could not cache the line item id");
        }
        Ok(found)
    }
}

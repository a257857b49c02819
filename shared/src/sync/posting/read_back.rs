//! No blind re-post: a score post whose outcome is unknown (a timeout, a
//! connection that ended after sending, a relay's 502/504) may already be
//! in the gradebook. Before the retry, the user's result is read back
//! (`GET /api/lineitems/:id/scores?userId=`); if the gradebook already
//! shows this value (the score as a fraction of its maximum, and the
//! comment), the post counts as accepted and is not sent again. Where the
//! result cannot be read (no result scope, a 4xx, an error), the retry
//! posts as it would have.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::grade::ScorePost;
use crate::ltiaas::{LtiaasError, PageGuard, ResultPage};

use super::{ActivityState, Posting};

/// Most pages of results read back for one user.
const MAX_RESULT_PAGES: usize = 10;

impl Posting<'_> {
    /// Posts `score` to line item `id` with the gate's retries, reading the
    /// result back before any retry that follows an unknown outcome.
    pub(super) async fn post_with_read_back(
        &self,
        state: &ActivityState,
        id: &str,
        score: &ScorePost,
    ) -> Result<(), LtiaasError> {
        let platform = state.activity.ids.platform_id.as_str();
        let client = self.deps.client;
        let unknown = AtomicBool::new(false);
        let attempt = || async {
            if unknown.swap(false, Ordering::Relaxed)
                && self.gradebook_shows(state, id, score).await
            {
                tracing::info!(
                    "the gradebook already shows the score a lost answer was for; not posted again"
                );
                return Ok(());
            }
            let sent = self
                .gate
                .send(platform, || {
                    client.post_score(&state.service_key, id, score)
                })
                .await;
            if sent.as_ref().is_err_and(LtiaasError::outcome_unknown) {
                unknown.store(true, Ordering::Relaxed);
            }
            sent
        };
        self.gate.with_retries(attempt).await
    }

    /// Whether the gradebook shows `score` for its user on line item `id`;
    /// `false` when that cannot be told.
    async fn gradebook_shows(&self, state: &ActivityState, id: &str, score: &ScorePost) -> bool {
        let (Some(given), Some(maximum)) = (score.score_given, score.score_maximum) else {
            return false;
        };
        let platform = state.activity.ids.platform_id.as_str();
        let (client, key, user) = (self.deps.client, &state.service_key, &score.user_id);
        let mut guard = PageGuard::new(MAX_RESULT_PAGES, "the line item's results");
        let mut page: Result<ResultPage, LtiaasError> = self
            .gate
            .send(platform, || client.results(key, id, Some(user)))
            .await;
        loop {
            let Ok(current) = page else {
                return false;
            };
            let mine = current.scores.iter().filter(|r| r.user_id == *user);
            if mine
                .into_iter()
                .any(|r| r.shows(given, maximum, score.comment.as_deref()))
            {
                return true;
            }
            let Some(next) = current.next.filter(|next| guard.check(next).is_ok()) else {
                return false;
            };
            page = self
                .gate
                .send(platform, || client.results_page(key, id, &next))
                .await;
        }
    }
}

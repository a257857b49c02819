//! How the sync paces its requests to LTIaaS: an overall and a
//! per-platform concurrency limit, an optional global request rate, and
//! retries with exponential backoff and jitter that honour `Retry-After`,
//! the run's retry budget and the Lambda deadline.
//!
//! The limits hold for requests to LTIaaS only: a grade's DynamoDB writes
//! (its confirmation before the post, its outcome after) take no slot, so
//! a slower table never lowers the posting rate while it keeps up.

use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use backon::{ExponentialBuilder, Retryable};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;

use crate::config::SyncTuning;
use crate::ltiaas::LtiaasError;
use crate::outcome::PendingReason;

/// Shared by every request of one run.
pub struct RequestGate {
    tuning: SyncTuning,
    /// Requests in flight over all platforms (`SYNC_CONCURRENCY`).
    overall: Semaphore,
    platforms: HashMap<String, Arc<Semaphore>>,
    rate: Option<DefaultDirectRateLimiter>,
    deadline: SystemTime,
    requests: AtomicU64,
    retries: AtomicU64,
    /// Set when every further request would fail too (the API key was
    /// refused, or LTIaaS redirects): why, and the detail.
    stopped: OnceLock<(PendingReason, String)>,
}

impl RequestGate {
    /// A gate for the given platforms, stopping retries `tuning.deadline_margin`
    /// before `deadline`.
    pub fn new<'a>(
        tuning: &SyncTuning,
        platforms: impl IntoIterator<Item = &'a str>,
        deadline: SystemTime,
    ) -> Self {
        let platforms = platforms
            .into_iter()
            .map(|p| {
                (
                    p.to_owned(),
                    Arc::new(Semaphore::new(tuning.platform_concurrency)),
                )
            })
            .collect();
        // A burst of one spaces requests evenly, so no window of a second
        // ever sees more than the configured rate.
        let rate = tuning
            .rate_limit
            .and_then(NonZeroU32::new)
            .map(|per_second| {
                RateLimiter::direct(Quota::per_second(per_second).allow_burst(NonZeroU32::MIN))
            });
        Self {
            tuning: tuning.clone(),
            overall: Semaphore::new(tuning.concurrency),
            platforms,
            rate,
            deadline,
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            stopped: OnceLock::new(),
        }
    }

    /// Stops every further request of the run. True the first time.
    pub fn stop(&self, why: PendingReason, detail: &str) -> bool {
        self.stopped.set((why, detail.to_owned())).is_ok()
    }

    /// Why the run stopped calling LTIaaS, if it did.
    pub fn stopped(&self) -> Option<&(PendingReason, String)> {
        self.stopped.get()
    }

    /// Time left before the run must stop starting work.
    pub fn time_left(&self) -> Duration {
        self.deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .saturating_sub(self.tuning.deadline_margin)
    }

    /// Whether the run should stop starting posts.
    pub fn past_deadline(&self) -> bool {
        self.time_left().is_zero()
    }

    /// Requests sent so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Retries made so far.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Sends one request to `platform`: waits for a platform slot, then an
    /// overall one (in that order, so a task waiting for a busy platform
    /// holds no slot another platform could use) and the rate limiter, then
    /// runs `request`, unless the deadline came near or the run stopped
    /// calling LTIaaS while it waited ([`LtiaasError::NotSent`]). No retries.
    pub async fn send<T, F, Fut>(&self, platform: &str, request: F) -> Result<T, LtiaasError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, LtiaasError>>,
    {
        let _slot = match self.platforms.get(platform) {
            Some(semaphore) => Some(semaphore.acquire().await.expect("never closed")),
            None => None,
        };
        let _overall = self.overall.acquire().await.expect("never closed");
        if let Some(rate) = &self.rate {
            rate.until_ready().await;
        }
        if self.past_deadline() || self.stopped.get().is_some() {
            return Err(LtiaasError::NotSent);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        request().await
    }

    /// Runs `attempt` until it succeeds, fails for good, or retrying is no
    /// longer allowed (attempts, budget, a delay too long, the deadline).
    /// Each attempt should go through [`Self::send`].
    pub async fn with_retries<T, F, Fut>(&self, attempt: F) -> Result<T, LtiaasError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, LtiaasError>>,
    {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.tuning.retry_base)
            .with_max_delay(self.tuning.retry_max_delay)
            .with_max_times(self.tuning.max_attempts.saturating_sub(1))
            .with_jitter();
        attempt
            .retry(backoff)
            .when(LtiaasError::is_retryable)
            .adjust(|error: &LtiaasError, delay: Option<Duration>| {
                let delay = delay?;
                // The server's Retry-After is a floor on the wait; a server
                // asking for more than the longest wait is left for next run.
                let asked = error.retry_after().unwrap_or_default();
                if asked > self.tuning.retry_max_delay {
                    return None;
                }
                // Jitter may push the backoff past the cap: clamp it.
                let wait = delay.max(asked).min(self.tuning.retry_max_delay);
                if wait >= self.time_left() {
                    return None;
                }
                let used = self.retries.fetch_add(1, Ordering::Relaxed);
                if used >= u64::from(self.tuning.retry_budget) {
                    self.retries.fetch_sub(1, Ordering::Relaxed);
                    return None;
                }
                Some(wait)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    fn gate(tuning: SyncTuning) -> RequestGate {
        RequestGate::new(&tuning, ["p"], SystemTime::now() + Duration::from_secs(600))
    }

    fn fast() -> SyncTuning {
        SyncTuning {
            retry_base: Duration::from_millis(1),
            retry_max_delay: Duration::from_millis(50),
            deadline_margin: Duration::ZERO,
            ..SyncTuning::default()
        }
    }

    async fn failing(gate: &RequestGate, error: fn() -> LtiaasError) -> usize {
        let calls = AtomicUsize::new(0);
        let _ = gate
            .with_retries(|| async {
                calls.fetch_add(1, Ordering::Relaxed);
                Err::<(), _>(error())
            })
            .await;
        calls.load(Ordering::Relaxed)
    }

    #[tokio::test]
    async fn retryable_errors_are_retried_up_to_the_attempt_limit() {
        let g = gate(fast());
        assert_eq!(
            failing(&g, || LtiaasError::Timeout(Duration::ZERO)).await,
            4
        );
        assert_eq!(g.retries(), 3);
        let permanent = || LtiaasError::Rejected {
            status: 422,
            message: String::new(),
        };
        assert_eq!(failing(&g, permanent).await, 1);
    }

    #[tokio::test]
    async fn the_run_budget_caps_retries_over_all_requests() {
        let g = gate(SyncTuning {
            retry_budget: 2,
            ..fast()
        });
        assert_eq!(
            failing(&g, || LtiaasError::Unreachable(String::new())).await,
            3
        );
        assert_eq!(
            failing(&g, || LtiaasError::Unreachable(String::new())).await,
            1
        );
        assert_eq!(g.retries(), 2);
    }

    #[tokio::test]
    async fn a_retry_after_longer_than_allowed_stops_retrying() {
        let g = gate(fast());
        let too_long = || LtiaasError::Throttled {
            status: 429,
            message: String::new(),
            retry_after: Some(Duration::from_secs(3600)),
        };
        assert_eq!(failing(&g, too_long).await, 1);
    }

    #[tokio::test]
    async fn backoff_with_jitter_is_clamped_not_abandoned() {
        let g = gate(SyncTuning {
            max_attempts: 12,
            retry_base: Duration::from_millis(1),
            retry_max_delay: Duration::from_millis(2),
            ..fast()
        });
        assert_eq!(
            failing(&g, || LtiaasError::Timeout(Duration::ZERO)).await,
            12
        );
    }

    #[tokio::test]
    async fn nothing_is_sent_when_the_deadline_passes_while_waiting_for_a_slot() {
        let tuning = SyncTuning {
            platform_concurrency: 1,
            ..fast()
        };
        let g = RequestGate::new(
            &tuning,
            ["p"],
            SystemTime::now() + Duration::from_millis(200),
        );
        let sent = AtomicUsize::new(0);
        // The first request holds the platform's only slot past the deadline.
        let holder = g.send("p", || async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            Ok(())
        });
        let waiter = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(
                !g.past_deadline(),
                "the deadline was still ahead when it queued"
            );
            g.send("p", || async {
                sent.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
            .await
        };
        let (held, waited) = tokio::join!(holder, waiter);
        assert!(held.is_ok());
        assert!(matches!(waited, Err(LtiaasError::NotSent)), "{waited:?}");
        assert_eq!(sent.load(Ordering::Relaxed), 0);
        assert_eq!(g.requests(), 1);
    }

    #[tokio::test]
    async fn a_request_waiting_when_the_run_stops_calling_ltiaas_is_not_sent() {
        let tuning = SyncTuning {
            concurrency: 1,
            ..fast()
        };
        let g = RequestGate::new(
            &tuning,
            ["p", "q"],
            SystemTime::now() + Duration::from_secs(60),
        );
        let sent = AtomicUsize::new(0);
        // The one overall slot is taken by a request to another platform,
        // which finds the API key refused.
        let refused = g.send("q", || async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(g.stop(PendingReason::ApiKeyRefused, "refused"));
            Err::<(), _>(LtiaasError::ApiKeyRefused("refused".into()))
        });
        let waiter = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            g.send("p", || async {
                sent.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
            .await
        };
        let (_, waited) = tokio::join!(refused, waiter);
        assert!(matches!(waited, Err(LtiaasError::NotSent)), "{waited:?}");
        assert_eq!(sent.load(Ordering::Relaxed), 0);
        assert_eq!(
            g.stopped().map(|(why, _)| *why),
            Some(PendingReason::ApiKeyRefused)
        );
        assert!(
            !g.stop(PendingReason::LtiaasRedirected, "later"),
            "the first reason stays"
        );
    }

    #[tokio::test]
    async fn requests_in_flight_never_exceed_the_overall_limit() {
        let tuning = SyncTuning {
            concurrency: 3,
            platform_concurrency: 8,
            ..fast()
        };
        let g = RequestGate::new(
            &tuning,
            ["p", "q"],
            SystemTime::now() + Duration::from_secs(60),
        );
        let (now, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let requests = (0..12).map(|i| {
            g.send(if i % 2 == 0 { "p" } else { "q" }, || async {
                let in_flight = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(in_flight, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                Ok::<(), LtiaasError>(())
            })
        });
        futures::future::join_all(requests).await;
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn no_retry_waits_past_the_deadline() {
        let tuning = SyncTuning {
            retry_base: Duration::from_secs(5),
            retry_max_delay: Duration::from_secs(60),
            deadline_margin: Duration::ZERO,
            ..SyncTuning::default()
        };
        let g = RequestGate::new(&tuning, ["p"], SystemTime::now() + Duration::from_secs(2));
        assert_eq!(
            failing(&g, || LtiaasError::Timeout(Duration::ZERO)).await,
            1
        );
    }
}

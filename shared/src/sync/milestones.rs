//! When a run first sent a score and last wrote an outcome: what someone
//! waiting on the run sees from outside, beside `phaseMs`, whose posting
//! phases are summed over concurrent tasks and so cannot say it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Milliseconds since the run started, taken as they happen.
#[derive(Debug)]
pub(super) struct Milestones {
    started: Instant,
    /// `u64::MAX` until a score is sent.
    first_post: AtomicU64,
    /// 0 until an outcome is written.
    last_outcome: AtomicU64,
}

impl Milestones {
    pub(super) fn new(started: Instant) -> Self {
        Self {
            started,
            first_post: AtomicU64::new(u64::MAX),
            last_outcome: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        // At least 1: an outcome written in the run's first millisecond
        // still counts as written.
        (self.started.elapsed().as_millis() as u64).max(1)
    }

    /// A score is about to be sent.
    pub(super) fn post_sent(&self) {
        self.first_post.fetch_min(self.now_ms(), Ordering::Relaxed);
    }

    /// An outcome was written.
    pub(super) fn outcome_written(&self) {
        self.last_outcome
            .fetch_max(self.now_ms(), Ordering::Relaxed);
    }

    /// When the first score was sent, if any was.
    pub(super) fn first_post_ms(&self) -> Option<u64> {
        Some(self.first_post.load(Ordering::Relaxed)).filter(|&ms| ms != u64::MAX)
    }

    /// When the last outcome was written, if any was.
    pub(super) fn last_outcome_ms(&self) -> Option<u64> {
        Some(self.last_outcome.load(Ordering::Relaxed)).filter(|&ms| ms != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_post_is_the_earliest_and_the_last_outcome_the_latest() {
        let milestones = Milestones::new(Instant::now());
        assert_eq!(
            (milestones.first_post_ms(), milestones.last_outcome_ms()),
            (None, None)
        );
        milestones.post_sent();
        let first = milestones.first_post_ms().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(10));
        milestones.post_sent();
        milestones.outcome_written();
        assert_eq!(milestones.first_post_ms(), Some(first));
        let last = milestones.last_outcome_ms().unwrap();
        assert!(last >= 10 && last > first, "{first} {last}");
    }
}

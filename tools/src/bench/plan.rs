//! How big each section is: the full run `make bench` makes, and the toy
//! sizes of `bench --tiny`.

use std::time::Duration;

/// How big each section is.
pub(super) struct Plan {
    pub(super) activities: usize,
    pub(super) grades_per_activity: usize,
    pub(super) platforms: usize,
    pub(super) latencies_ms: Vec<u64>,
    pub(super) concurrencies: Vec<usize>,
    /// Posting time per throughput point (the run is cut by its deadline).
    pub(super) window: Duration,
    pub(super) rate_limit: u32,
    /// The table whose read cost is measured.
    pub(super) cost_activities: usize,
    pub(super) cost_grades_per_activity: usize,
    pub(super) launch_starts: usize,
    pub(super) launch_invocations: usize,
    /// Grades written one at a time to time the stream path.
    pub(super) stream_latency_grades: usize,
    /// Grades written at once (over `platforms`) for the stream burst.
    pub(super) stream_burst_grades: usize,
    /// Activities and grades of the "each value once" days.
    pub(super) once_activities: usize,
    pub(super) once_grades_per_activity: usize,
    /// The table `ltisync reconcile` reads.
    pub(super) reconcile_activities: usize,
    pub(super) reconcile_grades_per_activity: usize,
    /// Learners (and grades) of the course the status page shows.
    pub(super) status_learners: usize,
    /// Views timed per LTIaaS latency.
    pub(super) status_views: usize,
    /// End to end: (activities, grades each) of the daily run, grades of
    /// the stream batch (over as many activities), grades of the one
    /// activity, and runs per row (the median is shown).
    pub(super) e2e_daily: (usize, usize),
    pub(super) e2e_batch: usize,
    pub(super) e2e_one: usize,
    pub(super) e2e_runs: usize,
}

impl Plan {
    /// The sizes `make bench` measures at.
    pub(super) fn full() -> Self {
        Self {
            activities: 100,
            grades_per_activity: 150,
            platforms: 10,
            latencies_ms: vec![20, 100],
            concurrencies: vec![1, 4, 16, 32, 64],
            window: Duration::from_secs(8),
            rate_limit: 100,
            cost_activities: 1000,
            cost_grades_per_activity: 100,
            launch_starts: 20,
            launch_invocations: 300,
            stream_latency_grades: 200,
            stream_burst_grades: 10_000,
            once_activities: 10,
            once_grades_per_activity: 100,
            reconcile_activities: 1000,
            reconcile_grades_per_activity: 30,
            status_learners: 2000,
            status_views: 20,
            e2e_daily: (10, 200),
            e2e_batch: 100,
            e2e_one: 300,
            e2e_runs: 5,
        }
    }

    /// Toy sizes that only check the harness works (`--tiny`).
    pub(super) fn tiny() -> Self {
        Self {
            activities: 4,
            grades_per_activity: 5,
            platforms: 2,
            latencies_ms: vec![5],
            concurrencies: vec![1, 4],
            window: Duration::from_millis(500),
            rate_limit: 20,
            cost_activities: 10,
            cost_grades_per_activity: 20,
            launch_starts: 2,
            launch_invocations: 5,
            stream_latency_grades: 5,
            stream_burst_grades: 40,
            once_activities: 2,
            once_grades_per_activity: 10,
            reconcile_activities: 3,
            reconcile_grades_per_activity: 4,
            status_learners: 20,
            status_views: 2,
            e2e_daily: (2, 3),
            e2e_batch: 4,
            e2e_one: 5,
            e2e_runs: 1,
        }
    }
}

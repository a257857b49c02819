//! Figures from samples: percentiles, times as the tables show them, and
//! the simulator's requests counted by route.

use std::collections::BTreeMap;

use ltisync_tests::simulator::Simulator;

/// The value at quantile `p` (0 to 1) of `values`: the sorted sample at
/// position (count - 1) × p, rounded; `None` when there are none.
pub(super) fn percentile<T: Copy + PartialOrd>(values: &[T], p: f64) -> Option<T> {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).expect("comparable"));
    if sorted.is_empty() {
        return None;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    Some(sorted[index])
}

/// A time in milliseconds as the tables show it, to a tenth; `n/a` when
/// there is none.
pub(super) fn milliseconds(value: Option<f64>) -> String {
    value.map_or("n/a".into(), |v| format!("{v:.1} ms"))
}

/// The requests the simulator received since the `since`-th, counted by
/// route.
pub(super) fn requests_by_route(sim: &Simulator, since: usize) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for request in &sim.requests()[since..] {
        *counts.entry(format!("{:?}", request.route)).or_insert(0) += 1;
    }
    counts
}

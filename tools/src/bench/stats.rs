//! Figures from samples: the percentiles the sections report.

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

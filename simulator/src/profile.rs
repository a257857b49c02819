//! Which LMS a platform runs, as far as scores go, and the last score each
//! holds per user and line item. A platform's profile is chosen by its
//! first launch's `productFamilyCode`, or by an admin call
//! (`POST /_sim/profiles`, `Simulator::set_profile`).
//!
//! Only the vocabulary lives here, so the state can hold it; what each
//! profile refuses is in `quirks.rs`, which reads and updates the state.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An LMS's quirks about scores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LmsProfile {
    /// Every valid score is accepted (the LTI rules only).
    #[default]
    Generic,
    /// 409 for a score stamped in the same second as the last one, or earlier.
    Moodle,
    /// 400 for a score equal to the stored one.
    #[serde(rename = "openedx")]
    OpenEdx,
    /// Attempts counted; 422 past the allowed ones; 400 for a submission
    /// time more than a minute ahead.
    Canvas,
}

impl LmsProfile {
    /// The profile of a platform whose launches say `code`
    /// (`platform.productFamilyCode`).
    pub fn of_product_family(code: &str) -> Self {
        match code.trim().to_ascii_lowercase().as_str() {
            "canvas" => Self::Canvas,
            "moodle" => Self::Moodle,
            "openedx" | "open_edx" | "edx" => Self::OpenEdx,
            _ => Self::Generic,
        }
    }
}

/// The last score accepted for one user on one line item.
#[derive(Debug, Clone, PartialEq)]
pub struct LastScore {
    /// When it arrived, in whole seconds since the epoch.
    second: u64,
    score_given: Option<f64>,
    score_maximum: Option<f64>,
}

impl LastScore {
    /// The score in `body`, arriving at `at`.
    pub(crate) fn of(body: &Value, at: SystemTime) -> Self {
        Self {
            second: at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs(),
            score_given: body.get("scoreGiven").and_then(Value::as_f64),
            score_maximum: body.get("scoreMaximum").and_then(Value::as_f64),
        }
    }

    /// Whether `later` arrived in the same whole second as this one, or
    /// before it (Moodle compares stamps in whole seconds).
    pub(crate) fn not_before(&self, later: &Self) -> bool {
        self.second >= later.second
    }

    /// Whether both give the same score on the same maximum.
    pub(crate) fn same_score(&self, other: &Self) -> bool {
        self.score_given == other.score_given && self.score_maximum == other.score_maximum
    }
}

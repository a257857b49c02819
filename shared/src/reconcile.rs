//! The gradebook compared with the table: for each grade the sync marked
//! SYNCED, what the LMS's results show now. Pure: the CLI reads the
//! activity's grades and its line item's results, this module sorts them.
//!
//! SYNCED means the LMS answered 2xx once; the gradebook may show another
//! value since (an instructor's override, a late policy), or none (a
//! deleted column, a course copy, an outage that answered 200 and dropped
//! the score).

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::ltiaas::LmsResult;

/// How far two fractions of the maximum may be apart and still match (a
/// gradebook may round the score it shows).
pub const TOLERANCE: f64 = 1e-4;

/// What the table says the LMS accepted for one user.
#[derive(Debug, Clone, PartialEq)]
pub struct Posted {
    /// The LMS user id.
    pub user_id: String,
    /// Points given.
    pub score_given: f64,
    /// Points possible.
    pub score_maximum: f64,
}

/// What the gradebook shows for a grade, compared with what was posted.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "class")]
pub enum Finding {
    /// The gradebook shows the value posted.
    Matches,
    /// The gradebook shows another value (an instructor may have changed
    /// it: never overwritten unless asked).
    Differs {
        /// What it shows, on its scale.
        result_score: f64,
        /// Its scale.
        result_maximum: f64,
        /// Whether it is higher than what was posted.
        higher: bool,
        /// The comment shown with it, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    /// The gradebook shows no result for a grade the LMS once accepted.
    Missing,
}

impl Finding {
    /// The class's name, as printed and in JSON.
    pub fn class(&self) -> &'static str {
        match self {
            Self::Matches => "matches",
            Self::Differs { .. } => "differs",
            Self::Missing => "missing",
        }
    }
}

/// Compares what was posted with what the gradebook shows for that user.
pub fn compare(posted: &Posted, shown: Option<&LmsResult>) -> Finding {
    let Some((result, score)) = shown.and_then(|r| Some((r, r.result_score?))) else {
        return Finding::Missing;
    };
    let shown_fraction = score / result.result_maximum;
    let posted_fraction = posted.score_given / posted.score_maximum;
    if (shown_fraction - posted_fraction).abs() <= TOLERANCE {
        return Finding::Matches;
    }
    Finding::Differs {
        result_score: score,
        result_maximum: result.result_maximum,
        higher: shown_fraction > posted_fraction,
        comment: result.comment.clone(),
    }
}

/// One activity's grades sorted: each posted grade's finding, and the
/// users the gradebook shows a result for that the table has no grade of.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reconciled {
    /// Each posted grade's user and finding, in user order.
    pub findings: BTreeMap<String, Finding>,
    /// Results for users the table has no grade for (informational).
    pub unknown: Vec<LmsResult>,
}

/// Sorts `posted` against `results` (the line item's results, all pages);
/// `graded` names every user the table has a grade for, posted or not.
pub fn reconcile(posted: &[Posted], results: &[LmsResult], graded: &HashSet<String>) -> Reconciled {
    let findings = posted
        .iter()
        .map(|p| {
            let shown = results.iter().rev().find(|r| r.user_id == p.user_id);
            (p.user_id.clone(), compare(p, shown))
        })
        .collect();
    let unknown = results
        .iter()
        .filter(|r| !graded.contains(&r.user_id))
        .cloned()
        .collect();
    Reconciled { findings, unknown }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(user: &str, score: Option<f64>, maximum: f64) -> LmsResult {
        LmsResult {
            user_id: user.into(),
            result_score: score,
            result_maximum: maximum,
            comment: Some("late".into()),
        }
    }

    fn posted(user: &str, given: f64, maximum: f64) -> Posted {
        Posted {
            user_id: user.into(),
            score_given: given,
            score_maximum: maximum,
        }
    }

    #[test]
    fn scores_are_compared_as_fractions_of_their_maximum() {
        let sent = posted("ada", 7.0, 10.0);
        assert_eq!(
            compare(&sent, Some(&result("ada", Some(70.0), 100.0))),
            Finding::Matches
        );
        assert_eq!(
            compare(&sent, Some(&result("ada", Some(0.70001), 1.0))),
            Finding::Matches
        );
        let lower = compare(&sent, Some(&result("ada", Some(60.0), 100.0)));
        assert!(
            matches!(lower, Finding::Differs { higher: false, .. }),
            "{lower:?}"
        );
        assert_eq!(compare(&sent, None), Finding::Missing);
        assert_eq!(
            compare(&sent, Some(&result("ada", None, 100.0))),
            Finding::Missing,
            "a result without a score"
        );
    }

    #[test]
    fn each_grade_gets_a_class_and_strangers_are_listed() {
        let sent = [
            posted("ada", 7.0, 10.0),
            posted("bob", 5.0, 10.0),
            posted("cy", 9.0, 10.0),
        ];
        let results = [
            result("ada", Some(70.0), 100.0),
            result("bob", Some(80.0), 100.0),
            result("eve", Some(10.0), 100.0),
        ];
        let graded: HashSet<String> = ["ada", "bob", "cy", "dan"].map(String::from).into();
        let sorted = reconcile(&sent, &results, &graded);
        let classes: Vec<(&str, &str)> = sorted
            .findings
            .iter()
            .map(|(u, f)| (u.as_str(), f.class()))
            .collect();
        assert_eq!(
            classes,
            [("ada", "matches"), ("bob", "differs"), ("cy", "missing")]
        );
        assert_eq!(sorted.unknown.len(), 1);
        assert_eq!(sorted.unknown[0].user_id, "eve");
        let json = serde_json::to_value(&sorted.findings["bob"]).unwrap();
        assert_eq!(json["class"], "differs");
        assert_eq!(json["higher"], true);
    }
}

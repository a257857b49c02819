//! Each value reaches the gradebook once.
//!
//! Before a grade is posted, the score it would send is compared with what
//! the LMS accepted last for that grade (its posted item, beside the grade,
//! see `store::PostedItem`):
//! - the same score (same [`Fingerprint`]): nothing is sent, the grade is
//!   settled SYNCED (`gradesUnchanged`): a tool rewriting the same value, or
//!   an operator's plain requeue, costs no call;
//! - another score of the same submission: sent as an update of Canvas's
//!   attempt (`new_submission: false`), so a retry, a requeue or a
//!   correction never adds an attempt;
//! - a submission not posted before (or the first post at all): sent as a
//!   new attempt.
//!
//! After the LMS accepts a post, its fingerprint and submission are
//! recorded there before the grade is marked SYNCED, so a crash between the
//! two settles the grade on the next run without a second post.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::grade::{Grade, ScoreDialect, ScorePost};
use crate::store::{posted_sk, GradeKey, PostedItem};

/// Where Canvas's extension sits in a score body.
const CANVAS_EXTENSION: &str = "https://canvas.instructure.com/lti/submission";

/// A stable hash of the score a grade sends: its AGS body, Canvas's
/// extension included, except whether it starts a new attempt (which says
/// how to file the value, not what it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The fingerprint of `score`: SHA-256 over its JSON with sorted keys,
    /// the first 128 bits in hex.
    pub fn of(score: &ScorePost) -> Self {
        let mut body = serde_json::to_value(score).expect("a score serialises");
        if let Some(extension) = body
            .get_mut(CANVAS_EXTENSION)
            .and_then(|e| e.as_object_mut())
        {
            extension.remove("new_submission");
        }
        let digest = Sha256::digest(body.to_string().as_bytes());
        Self(digest.iter().take(16).map(|b| format!("{b:02x}")).collect())
    }

    /// The hex text stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What to do with a grade, given what the LMS accepted before.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Delivery {
    /// The LMS holds this very score: settle the grade without a call.
    Unchanged,
    /// Send `score`; once accepted, record it as `fingerprint`.
    Post {
        /// The body, with Canvas's attempt flag set.
        score: ScorePost,
        /// Its fingerprint.
        fingerprint: Fingerprint,
    },
}

/// What to do with `grade`, given what was accepted before (`before`).
pub(super) fn delivery(
    grade: &Grade,
    dialect: ScoreDialect,
    before: Option<&PostedItem>,
) -> Delivery {
    let score = grade.to_score(dialect);
    let fingerprint = Fingerprint::of(&score);
    let Some(before) = before else {
        return Delivery::Post { score, fingerprint };
    };
    if before.fingerprint.as_deref() == Some(fingerprint.as_str()) {
        return Delivery::Unchanged;
    }
    let score = if before.submitted_at.as_deref() == score.submitted_at() {
        score.updating_the_attempt()
    } else {
        score
    };
    Delivery::Post { score, fingerprint }
}

/// The posted item that records `score` as accepted at `now`.
pub(super) fn accepted(
    key: &GradeKey,
    score: &ScorePost,
    fingerprint: &Fingerprint,
    now: OffsetDateTime,
) -> PostedItem {
    PostedItem {
        pk: key.pk.clone(),
        sk: posted_sk(&key.sk),
        fingerprint: Some(fingerprint.as_str().to_owned()),
        posted_at: crate::store::now_rfc3339(now),
        submitted_at: score.submitted_at().map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> OffsetDateTime {
        OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
    }

    fn graded(score: f64, submitted: Option<&str>) -> Grade {
        Grade::new("u1", score, 10.0)
            .unwrap()
            .with_submission(None, submitted.map(at))
    }

    fn posted(grade: &Grade) -> PostedItem {
        let Delivery::Post { score, fingerprint } = delivery(grade, ScoreDialect::Canvas, None)
        else {
            panic!("nothing accepted before: posted");
        };
        let key = GradeKey {
            pk: "ACT#p#c#r".into(),
            sk: "GRADE#u1".into(),
        };
        accepted(&key, &score, &fingerprint, at("2026-12-04T10:00:00Z"))
    }

    fn new_submission(delivery: &Delivery) -> Option<bool> {
        match delivery {
            Delivery::Post { score, .. } => {
                score.canvas_submission.as_ref().map(|c| c.new_submission)
            }
            Delivery::Unchanged => None,
        }
    }

    #[test]
    fn the_same_score_is_not_sent_again() {
        let grade = graded(7.0, Some("2026-12-04T09:00:00Z"));
        let before = posted(&grade);
        assert_eq!(
            delivery(&grade, ScoreDialect::Canvas, Some(&before)),
            Delivery::Unchanged
        );
        let forced = PostedItem {
            fingerprint: None,
            ..before
        };
        assert_eq!(
            new_submission(&delivery(&grade, ScoreDialect::Canvas, Some(&forced))),
            Some(false),
            "a forced resend updates the attempt"
        );
    }

    #[test]
    fn only_a_submissions_first_post_starts_an_attempt() {
        let first = graded(7.0, Some("2026-12-04T09:00:00Z"));
        assert_eq!(
            new_submission(&delivery(&first, ScoreDialect::Canvas, None)),
            Some(true)
        );
        let before = posted(&first);
        let corrected = graded(8.0, Some("2026-12-04T09:00:00Z"));
        assert_eq!(
            new_submission(&delivery(&corrected, ScoreDialect::Canvas, Some(&before))),
            Some(false)
        );
        let resubmitted = graded(9.0, Some("2026-12-05T09:00:00Z"));
        assert_eq!(
            new_submission(&delivery(&resubmitted, ScoreDialect::Canvas, Some(&before))),
            Some(true)
        );
        let without = graded(7.0, None);
        let before = posted(&without);
        assert_eq!(
            new_submission(&delivery(
                &graded(6.0, None),
                ScoreDialect::Canvas,
                Some(&before)
            )),
            Some(false)
        );
    }

    #[test]
    fn the_fingerprint_covers_the_body_but_not_the_attempt_flag() {
        let score = graded(7.0, Some("2026-12-04T09:00:00Z")).to_score(ScoreDialect::Canvas);
        let same = Fingerprint::of(&score);
        assert_eq!(Fingerprint::of(&score.clone().updating_the_attempt()), same);
        assert_eq!(same.as_str().len(), 32);
        for other in [
            graded(7.5, Some("2026-12-04T09:00:00Z")),
            graded(7.0, Some("2026-12-04T09:00:01Z")),
        ] {
            assert_ne!(Fingerprint::of(&other.to_score(ScoreDialect::Canvas)), same);
        }
        let standard = graded(7.0, Some("2026-12-04T09:00:00Z")).to_score(ScoreDialect::Standard);
        assert_ne!(
            Fingerprint::of(&standard),
            same,
            "Canvas's extension is part of the body"
        );
    }
}

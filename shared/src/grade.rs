//! Grades: what the tool records for one user in one activity, and the
//! score that becomes at LTIaaS.
//!
//! The stored form (schema version 1) is documented in docs/writing-grades.md; this
//! module holds the rules every grade must pass before it is posted.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use thiserror::Error;
use time::OffsetDateTime;

/// The grade item schema version this code writes and reads.
pub const GRADE_SCHEMA_VERSION: u32 = 1;

macro_rules! progress_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal, default $default:ident, [$($variant:ident),+]) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
        pub enum $name {
            $(
                #[doc = concat!("`", stringify!($variant), "`")]
                $variant,
            )+
        }

        impl Default for $name {
            fn default() -> Self {
                Self::$default
            }
        }

        impl $name {
            /// The AGS spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => stringify!($variant),)+
                }
            }
        }

        impl FromStr for $name {
            type Err = InvalidGrade;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $(stringify!($variant) => Ok(Self::$variant),)+
                    other => Err(InvalidGrade::UnknownProgress {
                        field: $what,
                        value: crate::excerpt::excerpt(other),
                        allowed: concat!($(stringify!($variant), " "),+).trim_end(),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

progress_enum!(
    /// How far the user got with the activity (AGS `activityProgress`).
    ActivityProgress, "activityProgress", default Completed,
    [Initialized, Started, InProgress, Submitted, Completed]
);
progress_enum!(
    /// Where grading stands (AGS `gradingProgress`).
    GradingProgress, "gradingProgress", default FullyGraded,
    [FullyGraded, Pending, PendingManual, Failed, NotReady]
);

/// Why a grade cannot be posted.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum InvalidGrade {
    /// No user id.
    #[error("userId is missing or empty")]
    MissingUser,
    /// `scoreGiven` below zero or not a finite number.
    #[error("scoreGiven must be a number of at least 0, got {0}")]
    BadScore(f64),
    /// `scoreMaximum` not above zero or not a finite number.
    #[error("scoreMaximum must be a number above 0, got {0}")]
    BadMaximum(f64),
    /// `scoreGiven` without `scoreMaximum`.
    #[error("scoreMaximum is required when scoreGiven is set")]
    MissingMaximum,
    /// A progress value AGS does not know.
    #[error("{field} '{value}' is not one of: {allowed}")]
    UnknownProgress {
        /// `activityProgress` or `gradingProgress`.
        field: &'static str,
        /// The value given.
        value: String,
        /// The accepted values.
        allowed: &'static str,
    },
    /// An attribute stored with the wrong DynamoDB type.
    #[error("{attribute}: expected {expected}, found {found}")]
    WrongType {
        /// The attribute's name.
        attribute: &'static str,
        /// The type the schema gives it.
        expected: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// `startedAt` later than `submittedAt`.
    #[error("startedAt must not be later than submittedAt")]
    StartedAfterSubmitted,
    /// An attribute the grade schema does not know: a misspelling (say
    /// `score_given`) would otherwise read as "no score" and clear it at the
    /// LMS, so nothing is posted.
    #[error("unknown attribute '{name}'{hint}: the grade schema has no such attribute, so nothing was posted")]
    UnknownAttribute {
        /// The attribute as written.
        name: String,
        /// ` (did you mean 'scoreGiven'?)`, or nothing.
        hint: String,
    },
    /// A `pk` whose ids are not in the canonical encoding: no launch can
    /// ever match it, so it would wait forever.
    #[error("pk '{found}' is not in the canonical encoding of its ids; write '{canonical}' (docs/writing-grades.md, Keys)")]
    NonCanonicalKey {
        /// The `pk` as written.
        found: String,
        /// The `pk` the canonical encoding gives for the same ids.
        canonical: String,
    },
    /// A stored item ltisync cannot read (missing key parts, another schema
    /// version, unparsable values).
    #[error("the grade item is malformed: {0}")]
    Malformed(String),
}

/// One user's grade in one activity.
#[derive(Debug, Clone, PartialEq)]
pub struct Grade {
    /// The LMS user id (`user.id` in the ID token).
    pub user_id: String,
    /// Points given; `None` clears the score at the LMS.
    pub score_given: Option<f64>,
    /// Points possible; required with `score_given`.
    pub score_maximum: Option<f64>,
    /// Plain-text comment for the learner.
    pub comment: Option<String>,
    /// Default `Completed`.
    pub activity_progress: ActivityProgress,
    /// Default `FullyGraded`.
    pub grading_progress: GradingProgress,
    /// When the tool graded it.
    pub graded_at: OffsetDateTime,
    /// When the learner started the work, when the tool knows.
    pub started_at: Option<OffsetDateTime>,
    /// When the learner submitted the work: what the LMS should count as
    /// the submission time (the post itself comes later).
    pub submitted_at: Option<OffsetDateTime>,
}

impl Grade {
    /// A fully graded, completed score of `score_given` out of `score_maximum`,
    /// graded now.
    pub fn new(
        user_id: impl Into<String>,
        score_given: f64,
        score_maximum: f64,
    ) -> Result<Self, InvalidGrade> {
        let grade = Self {
            user_id: user_id.into(),
            score_given: Some(score_given),
            score_maximum: Some(score_maximum),
            comment: None,
            activity_progress: ActivityProgress::default(),
            grading_progress: GradingProgress::default(),
            graded_at: OffsetDateTime::now_utc(),
            started_at: None,
            submitted_at: None,
        };
        grade.validate()?;
        Ok(grade)
    }

    /// Adds a comment.
    pub fn with_comment(mut self, comment: impl Into<String>) -> Self {
        self.comment = Some(comment.into());
        self
    }

    /// Sets both progress values.
    pub fn with_progress(mut self, activity: ActivityProgress, grading: GradingProgress) -> Self {
        self.activity_progress = activity;
        self.grading_progress = grading;
        self
    }

    /// Sets when the learner started and submitted the work.
    pub fn with_submission(
        mut self,
        started_at: Option<OffsetDateTime>,
        submitted_at: Option<OffsetDateTime>,
    ) -> Self {
        self.started_at = started_at;
        self.submitted_at = submitted_at;
        self
    }

    /// Checks the rules of the schema.
    pub fn validate(&self) -> Result<(), InvalidGrade> {
        if self.user_id.trim().is_empty() {
            return Err(InvalidGrade::MissingUser);
        }
        if let Some(score) = self.score_given {
            if !score.is_finite() || score < 0.0 {
                return Err(InvalidGrade::BadScore(score));
            }
        }
        if let Some(max) = self.score_maximum {
            if !max.is_finite() || max <= 0.0 {
                return Err(InvalidGrade::BadMaximum(max));
            }
        }
        if self.score_given.is_some() && self.score_maximum.is_none() {
            return Err(InvalidGrade::MissingMaximum);
        }
        if let (Some(started), Some(submitted)) = (self.started_at, self.submitted_at) {
            if started > submitted {
                return Err(InvalidGrade::StartedAfterSubmitted);
            }
        }
        Ok(())
    }

    /// The score LTIaaS receives: progress always set, `scoreMaximum` sent
    /// together with `scoreGiven`, no `timestamp` (LTIaaS stamps it), and
    /// the submission times in the form `dialect` reads.
    pub fn to_score(&self, dialect: ScoreDialect) -> ScorePost {
        let submission =
            (self.started_at.is_some() || self.submitted_at.is_some()).then(|| Submission {
                started_at: self.started_at.map(rfc3339),
                submitted_at: self.submitted_at.map(rfc3339),
            });
        let canvas_submission = (dialect == ScoreDialect::Canvas).then(|| CanvasSubmission {
            submitted_at: self.submitted_at.map(rfc3339),
            new_submission: true,
        });
        ScorePost {
            user_id: self.user_id.clone(),
            activity_progress: self.activity_progress,
            grading_progress: self.grading_progress,
            score_given: self.score_given,
            score_maximum: self.score_given.and(self.score_maximum),
            comment: self.comment.clone(),
            submission,
            canvas_submission,
        }
    }
}

/// Which LMS reads the score, where that changes what is sent.
///
/// Canvas takes a submission's time from the moment the score arrives
/// unless its own extension says otherwise, so a grade synced after the due
/// date would be marked late; every other LMS reads the AGS `submission`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScoreDialect {
    /// AGS as written.
    #[default]
    Standard,
    /// AGS plus Canvas's `https://canvas.instructure.com/lti/submission`.
    Canvas,
}

impl ScoreDialect {
    /// The dialect of a platform, from the ID token's
    /// `platform.productFamilyCode` (`canvas`, `moodle`, ...).
    pub fn of_product_family(code: Option<&str>) -> Self {
        match code {
            Some(code) if code.trim().eq_ignore_ascii_case("canvas") => Self::Canvas,
            _ => Self::Standard,
        }
    }
}

/// A time as RFC 3339 in UTC (`2026-11-28T09:30:00Z`).
fn rfc3339(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a valid time formats as RFC 3339")
}

/// AGS `submission`: when the learner worked on what is graded.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Submission {
    /// When the learner started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When the learner submitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<String>,
}

/// Canvas's score extension: the submission time Canvas records (and
/// judges lateness by) instead of the time the score arrives, and whether
/// the score starts a new attempt. Canvas adds an attempt for every score
/// unless `new_submission` is false (and refuses once the assignment's
/// allowed attempts are used), so only a submission's first post says true.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CanvasSubmission {
    /// When the learner submitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<String>,
    /// Whether this score starts a new attempt.
    pub new_submission: bool,
}

/// `POST /api/lineitems/:id/scores` body.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScorePost {
    /// The LMS user id.
    pub user_id: String,
    /// AGS activity progress.
    pub activity_progress: ActivityProgress,
    /// AGS grading progress.
    pub grading_progress: GradingProgress,
    /// Points given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score_given: Option<f64>,
    /// Points possible (only with `score_given`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score_maximum: Option<f64>,
    /// Comment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// When the learner started and submitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submission: Option<Submission>,
    /// Canvas only: the submission time Canvas records, and whether the
    /// score starts a new attempt.
    #[serde(
        rename = "https://canvas.instructure.com/lti/submission",
        skip_serializing_if = "Option::is_none"
    )]
    pub canvas_submission: Option<CanvasSubmission>,
}

impl ScorePost {
    /// The submission this score belongs to (`submittedAt` as sent).
    pub fn submitted_at(&self) -> Option<&str> {
        self.submission.as_ref()?.submitted_at.as_deref()
    }

    /// Marks the score as an update of its submission's attempt (Canvas):
    /// the submission was posted before.
    pub fn updating_the_attempt(mut self) -> Self {
        if let Some(canvas) = &mut self.canvas_submission {
            canvas.new_submission = false;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_grades_are_rejected_with_their_reason() {
        assert_eq!(
            Grade::new("u", -1.0, 10.0).unwrap_err(),
            InvalidGrade::BadScore(-1.0)
        );
        assert_eq!(
            Grade::new("u", 1.0, 0.0).unwrap_err(),
            InvalidGrade::BadMaximum(0.0)
        );
        assert_eq!(
            Grade::new(" ", 1.0, 2.0).unwrap_err(),
            InvalidGrade::MissingUser
        );
        assert!(Grade::new("u", f64::NAN, 2.0).is_err());
        let err = "Done".parse::<ActivityProgress>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "activityProgress 'Done' is not one of: Initialized Started InProgress Submitted Completed"
        );
    }

    #[test]
    fn zero_is_a_valid_score_and_is_sent() {
        let score = Grade::new("u", 0.0, 10.0)
            .unwrap()
            .to_score(ScoreDialect::Canvas);
        let json = serde_json::to_value(&score).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"userId": "u", "activityProgress": "Completed",
                "gradingProgress": "FullyGraded", "scoreGiven": 0.0, "scoreMaximum": 10.0,
                "https://canvas.instructure.com/lti/submission": {"new_submission": true}})
        );
    }

    #[test]
    fn a_cleared_score_sends_no_maximum() {
        let mut grade = Grade::new("u", 1.0, 10.0).unwrap().with_comment("redo");
        grade.score_given = None;
        let json = serde_json::to_value(grade.to_score(ScoreDialect::Standard)).unwrap();
        assert!(json.get("scoreMaximum").is_none());
        assert_eq!(json["comment"], "redo");
    }

    #[test]
    fn submission_times_go_as_ags_and_for_canvas_also_as_its_extension() {
        let at = |s: &str| {
            OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
        };
        let grade = Grade::new("u", 1.0, 2.0).unwrap().with_submission(
            Some(at("2026-11-20T09:00:00+01:00")),
            Some(at("2026-11-20T10:15:30.5Z")),
        );
        let canvas = serde_json::to_value(grade.to_score(ScoreDialect::Canvas)).unwrap();
        assert_eq!(
            canvas["submission"],
            serde_json::json!({"startedAt": "2026-11-20T08:00:00Z",
                               "submittedAt": "2026-11-20T10:15:30.5Z"})
        );
        assert_eq!(
            canvas["https://canvas.instructure.com/lti/submission"],
            serde_json::json!({"submitted_at": "2026-11-20T10:15:30.5Z", "new_submission": true})
        );
        let update =
            serde_json::to_value(grade.to_score(ScoreDialect::Canvas).updating_the_attempt())
                .unwrap();
        assert_eq!(
            update["https://canvas.instructure.com/lti/submission"]["new_submission"],
            false
        );
        let moodle = serde_json::to_value(grade.to_score(ScoreDialect::Standard)).unwrap();
        assert!(moodle
            .get("https://canvas.instructure.com/lti/submission")
            .is_none());
        assert_eq!(moodle["submission"], canvas["submission"]);
        let backwards = grade.with_submission(
            Some(at("2026-11-21T00:00:00Z")),
            Some(at("2026-11-20T00:00:00Z")),
        );
        assert_eq!(
            backwards.validate().unwrap_err(),
            InvalidGrade::StartedAfterSubmitted
        );
    }

    #[test]
    fn the_dialect_follows_the_product_family() {
        assert_eq!(
            ScoreDialect::of_product_family(Some("Canvas")),
            ScoreDialect::Canvas
        );
        for other in [Some("moodle"), Some(""), None] {
            assert_eq!(
                ScoreDialect::of_product_family(other),
                ScoreDialect::Standard
            );
        }
    }
}

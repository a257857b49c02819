//! What happens to a grade: the sync's vocabulary, in one leaf module.
//!
//! Every other part of the engine, the stream path, the function and the
//! CLI match on these types; none of them reads prose back. Each reason has
//! a stable machine code, derived once from the variant's name, that is
//! stored beside the human text (`lastErrorCode` beside `lastError`), so
//! rewording a sentence never reclassifies a stored grade.

use serde::{Deserialize, Serialize};
use strum::{EnumDiscriminants, EnumIter, EnumString, IntoStaticStr};

/// Why a grade is still pending after a run; it will be tried again.
///
/// The code (`deadline`, `needsRelaunch`, …) names the reason in the run
/// summary, in metrics (`PendingDeadline`, …) and in `lastErrorCode`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    EnumIter,
    EnumString,
    IntoStaticStr,
)]
#[serde(rename_all = "camelCase")]
#[strum(serialize_all = "camelCase")]
pub enum PendingReason {
    /// The run stopped starting posts before the Lambda deadline.
    Deadline,
    /// LTIaaS refused the activity's service key; a launch must replace it.
    NeedsRelaunch,
    /// Network errors, timeouts, 429 or 5xx outlasted the retry budget.
    RetriesExhausted,
    /// The tool changed the grade while it was being posted; the new value
    /// goes next run.
    ChangedDuringRun,
    /// No launch has recorded this activity yet.
    ActivityNotLaunched,
    /// The activity was launched, but without a service key.
    NoServiceKey,
    /// The activity's line item could not be found or created.
    LineItemUnavailable,
    /// The outcome could not be written to DynamoDB.
    StoreError,
    /// The activity item does not follow the schema.
    ActivityMalformed,
    /// LTIaaS refused ltisync's API key; the run stopped calling it.
    ApiKeyRefused,
    /// LTIaaS answered with a redirect (a moved URL, a captive portal); the
    /// run stopped calling it.
    LtiaasRedirected,
    /// Another run or stream batch holds the activity's claim and is
    /// posting its grades now; they are left to it.
    ClaimedElsewhere,
    /// The LMS kept refusing the score as no newer than the one it holds
    /// (a same-second update, or clocks apart); it is posted again.
    LmsHoldsNewer,
}

impl PendingReason {
    /// The stable machine code (camelCase).
    pub fn code(self) -> &'static str {
        self.into()
    }

    /// Whether a later attempt at the same grade may succeed without anyone
    /// changing anything (the stream path asks for such records again).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Self::Deadline
                | Self::RetriesExhausted
                | Self::LineItemUnavailable
                | Self::StoreError
                | Self::ApiKeyRefused
                | Self::LtiaasRedirected
                | Self::ClaimedElsewhere
                | Self::LmsHoldsNewer
        )
    }

    /// Whether the run must end as an invocation error so the deployment's
    /// alarm fires: every grade would wait for the same fix.
    pub fn is_deployment_fault(self) -> bool {
        matches!(self, Self::ApiKeyRefused | Self::LtiaasRedirected)
    }

    /// What the reason means, for `lastError`.
    pub fn note(self) -> &'static str {
        match self {
            Self::Deadline => "the run ran out of time",
            Self::NeedsRelaunch => {
                "the service key was refused; launch the activity from the LMS once to renew it"
            }
            Self::RetriesExhausted => "LTIaaS kept failing",
            Self::ChangedDuringRun => "changed during the run",
            Self::ActivityNotLaunched => {
                "no launch has recorded this activity yet; launch it once from the LMS"
            }
            Self::NoServiceKey => {
                "the activity's launches carried no service key (no grade service in that LMS context)"
            }
            Self::LineItemUnavailable => "the activity's line item could not be found or created",
            Self::StoreError => "DynamoDB failed",
            Self::ActivityMalformed => {
                "the activity item does not follow the schema; relaunch the activity or fix the item"
            }
            Self::ApiKeyRefused => "LTIaaS refused ltisync's API key; fix the API key secret",
            Self::LtiaasRedirected => {
                "LTIaaS redirects ltisync elsewhere; check LTIAAS_URL and what stands in front of LTIaaS"
            }
            Self::ClaimedElsewhere => "another sync is posting this activity's grades",
            Self::LmsHoldsNewer => {
                "the LMS refused the score as no newer than the one it holds; it is posted again"
            }
        }
    }
}

/// Why a grade was not posted, for good: it stays FAILED until the tool
/// writes it again or an operator requeues it.
///
/// [`FailCode`] is the same list without the details: the stable machine
/// code stored in `lastErrorCode`.
#[derive(Debug, Clone, PartialEq, EnumDiscriminants)]
#[strum_discriminants(
    name(FailCode),
    doc = "A [`FailReason`] without its details: the code stored in `lastErrorCode`.",
    derive(
        Hash,
        PartialOrd,
        Ord,
        Serialize,
        Deserialize,
        EnumIter,
        EnumString,
        IntoStaticStr
    ),
    serde(rename_all = "camelCase"),
    strum(serialize_all = "camelCase")
)]
pub enum FailReason {
    /// The LMS refused the score (a 4xx that retrying cannot cure).
    LmsRejected {
        /// The HTTP status LTIaaS relayed.
        status: u16,
        /// The LMS's message, in its own words (redacted, capped).
        message: String,
    },
    /// The course roster does not list the user as an active learner, so
    /// the LMS would refuse the score; no call was made. Holds who and why.
    NotALearner(String),
    /// The grade item breaks the schema (what is wrong with it).
    InvalidGrade(String),
    /// The LMS did not grant the AGS score scope for the activity.
    NoScoreScope,
    /// No line item scope was granted and no line item was named at launch.
    NoLineItemScope,
    /// Only the read-only line item scope was granted and no line item is
    /// listed for the link, so none can be created.
    NoLineItemToCreate,
    /// The grade item holds an attribute the schema does not know: which,
    /// and the closest known name.
    UnknownAttribute(String),
    /// The grade's `pk` is not the canonical encoding of its ids: the
    /// canonical form.
    NonCanonicalKey(String),
}

impl From<crate::grade::InvalidGrade> for FailReason {
    /// A grade the schema refuses: its own code where the tool's mistake
    /// has one, else `invalidGrade`.
    fn from(invalid: crate::grade::InvalidGrade) -> Self {
        use crate::grade::InvalidGrade;
        match invalid {
            InvalidGrade::UnknownAttribute { .. } => Self::UnknownAttribute(invalid.to_string()),
            InvalidGrade::NonCanonicalKey { .. } => Self::NonCanonicalKey(invalid.to_string()),
            other => Self::InvalidGrade(other.to_string()),
        }
    }
}

impl FailReason {
    /// The stable machine code.
    pub fn code(&self) -> FailCode {
        self.into()
    }

    /// The HTTP status, when the LMS answered.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::LmsRejected { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The human text for `lastError` (unchanged from before the codes:
    /// readers of old items see the same sentences).
    pub fn text(&self) -> String {
        match self {
            Self::LmsRejected { message, .. } => message.clone(),
            Self::NotALearner(why) => format!("NOT_A_LEARNER: {why}"),
            Self::InvalidGrade(why) => format!("invalid grade: {why}"),
            Self::NoScoreScope => NO_SCORE_SCOPE.to_owned(),
            Self::NoLineItemScope => NO_LINE_ITEM_SCOPE.to_owned(),
            Self::NoLineItemToCreate => NO_LINE_ITEM_TO_CREATE.to_owned(),
            Self::UnknownAttribute(why) => format!("invalid grade: {why}"),
            Self::NonCanonicalKey(why) => format!("invalid grade: {why}"),
        }
    }
}

impl FailCode {
    /// The code as stored (camelCase).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What one grade came to in a run.
#[derive(Debug, Clone, PartialEq)]
pub enum GradeOutcome {
    /// Posted and marked synced.
    Posted,
    /// The LMS already holds this very score (it accepted it before):
    /// marked synced without a call.
    Unchanged,
    /// Not posted, for good (recorded on the grade).
    Failed(FailReason),
    /// Still pending.
    Pending(PendingReason),
    /// Found in the work index, but already posted or rejected when its
    /// copy was confirmed (the index lagged the table): nothing to do.
    AlreadySettled,
}

/// Why a stored grade is where it is, read back from its item: a code
/// written by this version, or recognised in the text of an item written
/// before codes were stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredReason {
    /// A pending grade's reason.
    Pending(PendingReason),
    /// A failed grade's reason.
    Failed(FailCode),
    /// No code, and text no version of ltisync wrote.
    Unknown,
}

impl StoredReason {
    /// Reads `lastErrorCode`, or for an item written before it existed,
    /// recognises the text that version wrote (`lastError`).
    pub fn read(code: Option<&str>, text: Option<&str>, failed: bool) -> Self {
        match (code, failed) {
            (Some(code), false) => code.parse().map_or(Self::Unknown, Self::Pending),
            (Some(code), true) => code.parse().map_or(Self::Unknown, Self::Failed),
            (None, false) => legacy_pending(text.unwrap_or_default()),
            (None, true) => legacy_failed(text.unwrap_or_default()),
        }
    }
}

/// Items written before `lastErrorCode` carry only the note, which started
/// with the reason's sentence.
fn legacy_pending(text: &str) -> StoredReason {
    use strum::IntoEnumIterator;
    // The note once said when it would be tried again; the page says that now.
    const OLD_RETRIES_EXHAUSTED: &str = "LTIaaS kept failing; will retry next run";
    if text.starts_with(OLD_RETRIES_EXHAUSTED) {
        return StoredReason::Pending(PendingReason::RetriesExhausted);
    }
    PendingReason::iter()
        .find(|r| text.starts_with(r.note()))
        .map_or(StoredReason::Unknown, StoredReason::Pending)
}

/// Failures written before `lastErrorCode` began with a code word, or were
/// the LMS's own words (no code word: an LMS rejection).
fn legacy_failed(text: &str) -> StoredReason {
    let code = if text.starts_with("NOT_A_LEARNER") {
        FailCode::NotALearner
    } else if text.starts_with("NO_SCORE_SCOPE") {
        FailCode::NoScoreScope
    } else if text.starts_with(NO_LINE_ITEM_TO_CREATE) {
        FailCode::NoLineItemToCreate
    } else if text.starts_with("NO_LINE_ITEM_SCOPE") {
        FailCode::NoLineItemScope
    } else if text.starts_with("invalid grade") {
        FailCode::InvalidGrade
    } else {
        FailCode::LmsRejected
    };
    StoredReason::Failed(code)
}

/// `lastError` of grades whose activity's key may not post scores.
const NO_SCORE_SCOPE: &str = "NO_SCORE_SCOPE: the LMS did not grant the AGS score scope \
     for this activity, so no score can be posted; enable it in the LMS's tool settings, \
     launch the activity once, then requeue";

/// `lastError` of grades whose activity has no line item ltisync may use.
const NO_LINE_ITEM_SCOPE: &str = "NO_LINE_ITEM_SCOPE: the LMS granted no line item \
     scope and named no line item at launch, so there is no column to post to; give the link \
     a gradebook column (or the line item scope) in the LMS, launch once, then requeue";

/// `lastError` when no line item was listed and the LMS lets ltisync read
/// line items but not create them.
const NO_LINE_ITEM_TO_CREATE: &str = "NO_LINE_ITEM_SCOPE: the LMS lists no line item for \
     this link and grants only the read-only line item scope, so none can be created; add a \
     gradebook column for the link in the LMS, launch once, then requeue";

#[cfg(test)]
mod tests {
    use strum::IntoEnumIterator;

    use super::*;

    #[test]
    fn every_code_reads_back_as_its_reason() {
        for reason in PendingReason::iter() {
            let read = StoredReason::read(Some(reason.code()), Some("reworded"), false);
            assert_eq!(read, StoredReason::Pending(reason));
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.code());
        }
        for code in FailCode::iter() {
            let read = StoredReason::read(Some(code.as_str()), Some("reworded"), true);
            assert_eq!(read, StoredReason::Failed(code));
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
        assert_eq!(PendingReason::NeedsRelaunch.code(), "needsRelaunch");
        assert_eq!(FailCode::NotALearner.as_str(), "notALearner");
    }

    #[test]
    fn an_unknown_code_is_unknown_not_another_reason() {
        assert_eq!(
            StoredReason::read(Some("somethingNew"), None, false),
            StoredReason::Unknown
        );
        assert_eq!(
            StoredReason::read(Some("somethingNew"), None, true),
            StoredReason::Unknown
        );
    }

    #[test]
    fn items_written_before_codes_are_recognised_by_their_text() {
        for reason in PendingReason::iter() {
            let note = format!("{}: detail", reason.note());
            let read = StoredReason::read(None, Some(&note), false);
            assert_eq!(read, StoredReason::Pending(reason), "{note}");
        }
        let failures = [
            FailReason::NotALearner("user 'tim' is inactive".into()),
            FailReason::InvalidGrade("userId is missing".into()),
            FailReason::NoScoreScope,
            FailReason::NoLineItemScope,
            FailReason::NoLineItemToCreate,
            FailReason::LmsRejected {
                status: 422,
                message: "Course has concluded".into(),
            },
        ];
        for failure in failures {
            let read = StoredReason::read(None, Some(&failure.text()), true);
            assert_eq!(read, StoredReason::Failed(failure.code()), "{failure:?}");
        }
        assert_eq!(
            StoredReason::read(None, Some("a note from elsewhere"), false),
            StoredReason::Unknown
        );
    }

    #[test]
    fn only_an_lms_rejection_carries_a_status() {
        let rejected = FailReason::LmsRejected {
            status: 409,
            message: "m".into(),
        };
        assert_eq!(rejected.http_status(), Some(409));
        assert_eq!(rejected.text(), "m");
        assert_eq!(FailReason::NoScoreScope.http_status(), None);
        assert!(FailReason::NotALearner("x".into())
            .text()
            .starts_with("NOT_A_LEARNER: x"));
    }
}

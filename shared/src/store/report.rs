//! Items as operators' reports read them (the `ltisync` commands): what
//! kind each item is, and where a grade stands. Lenient on purpose: one
//! malformed item never fails a report, it shows as what can be read.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{activity_key_of, schema, ActivityItem, RawItem, SyncStatus};
use crate::activity::ActivityKey;
use crate::outcome::StoredReason;

/// What kind an item is, from its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemKind {
    /// An activity (`ACT#<key>` / `ACTIVITY`).
    Activity(ActivityKey),
    /// A grade (`ACT#<key>` / `GRADE#…`).
    Grade(ActivityKey),
    /// A claim, the lease, or anything else.
    Other,
}

impl ItemKind {
    /// The kind of `item`.
    pub fn of(item: &RawItem) -> Self {
        let key = text(item, schema::PK).and_then(activity_key_of);
        match (key, text(item, schema::SK)) {
            (Some(key), Some(schema::ACTIVITY_SK)) => Self::Activity(key),
            (Some(key), Some(sk)) if sk.starts_with(schema::GRADE_PREFIX) => Self::Grade(key),
            _ => Self::Other,
        }
    }
}

/// Where a grade stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradeStage {
    /// Pending, and no run has touched it since the tool wrote it.
    Queued,
    /// Pending; a run confirmed it and is posting it (or stopped before
    /// recording the outcome: the next run posts it again).
    Posting,
    /// Pending after a run, for this reason.
    Waiting(StoredReason),
    /// The LMS accepted it.
    Synced,
    /// Not posted, for good, for this reason.
    Failed(StoredReason),
    /// Written without `pending` and never touched by a run: neither the
    /// stream nor the daily run will post it until it is written again.
    NeverQueued,
    /// Not pending, and no outcome this version knows.
    Unknown,
}

/// A grade item as reports read it.
#[derive(Debug, Clone, PartialEq)]
pub struct GradeState {
    /// The LMS user id, as stored.
    pub user_id: Option<String>,
    /// Where it stands.
    pub stage: GradeStage,
    /// Why it waits or failed, in words (`lastError`).
    pub last_error: Option<String>,
    /// The HTTP status of the LMS's refusal (`lastHttpStatus`).
    pub http_status: Option<u16>,
    /// When it failed (`failedAt`).
    pub failed_at: Option<String>,
}

impl GradeState {
    /// Reads a grade item.
    pub fn read(item: &RawItem) -> Self {
        let last_error = text(item, schema::sync::LAST_ERROR);
        let code = text(item, schema::sync::LAST_ERROR_CODE);
        let stage = match (item.contains_key(schema::PENDING), SyncStatus::of(item)) {
            (true, Some(SyncStatus::Pending)) => {
                GradeStage::Waiting(StoredReason::read(code, last_error, false))
            }
            (true, Some(SyncStatus::Posting)) => GradeStage::Posting,
            (true, _) => GradeStage::Queued,
            (false, Some(SyncStatus::Synced)) => GradeStage::Synced,
            (false, Some(SyncStatus::Failed)) => {
                GradeStage::Failed(StoredReason::read(code, last_error, true))
            }
            (false, None) if !item.contains_key(schema::sync::STATUS) => GradeStage::NeverQueued,
            (false, _) => GradeStage::Unknown,
        };
        let http_status = match item.get(schema::sync::LAST_HTTP_STATUS) {
            Some(AttributeValue::N(n)) => n.parse().ok(),
            _ => None,
        };
        Self {
            user_id: text(item, schema::USER_ID).map(str::to_owned),
            stage,
            last_error: last_error.map(str::to_owned),
            http_status,
            failed_at: text(item, schema::sync::FAILED_AT).map(str::to_owned),
        }
    }

    /// Whether the tool's write or a requeue left it waiting to be posted.
    pub fn is_pending(&self) -> bool {
        matches!(
            self.stage,
            GradeStage::Queued | GradeStage::Posting | GradeStage::Waiting(_)
        )
    }
}

impl ActivityItem {
    /// Reads an activity item as stored; `None` when it does not follow
    /// the schema.
    pub fn read(item: &RawItem) -> Option<Self> {
        serde_dynamo::from_item(item.clone()).ok()
    }
}

/// A string attribute of an item, if it is one.
pub(crate) fn text<'a>(item: &'a RawItem, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{FailCode, PendingReason};

    fn item(pairs: &[(&str, &str)]) -> RawItem {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), AttributeValue::S(v.to_string())))
            .collect()
    }

    #[test]
    fn a_grade_reads_with_its_code_or_with_its_old_text() {
        let keys = [("pk", "ACT#p#c#r"), ("sk", "GRADE#u"), ("userId", "u")];
        let new = item(&[
            keys[0],
            keys[1],
            ("pending", "ACT#p#c#r"),
            ("syncStatus", "PENDING"),
            ("lastErrorCode", "retriesExhausted"),
            ("lastError", "reworded"),
        ]);
        let wait = GradeStage::Waiting(StoredReason::Pending(PendingReason::RetriesExhausted));
        assert_eq!(GradeState::read(&new).stage, wait);
        // Written before lastErrorCode: the note's first words tell.
        let old = item(&[
            keys[0],
            keys[1],
            ("pending", "ACT#p#c#r"),
            ("syncStatus", "PENDING"),
            (
                "lastError",
                "LTIaaS kept failing; will retry next run: HTTP 503",
            ),
        ]);
        assert_eq!(GradeState::read(&old).stage, wait);
        let old_failed = item(&[
            keys[0],
            keys[1],
            keys[2],
            ("syncStatus", "FAILED"),
            ("lastError", "NOT_A_LEARNER: user 'u' is inactive"),
        ]);
        let state = GradeState::read(&old_failed);
        assert_eq!(
            state.stage,
            GradeStage::Failed(StoredReason::Failed(FailCode::NotALearner))
        );
        assert_eq!(state.user_id.as_deref(), Some("u"));
        assert!(!state.is_pending());
    }

    #[test]
    fn stages_follow_pending_and_the_status() {
        let pending = ("pending", "ACT#p#c#r");
        let cases = [
            (item(&[pending]), GradeStage::Queued),
            (
                item(&[pending, ("syncStatus", "POSTING")]),
                GradeStage::Posting,
            ),
            (
                item(&[pending, ("syncStatus", "SYNCED")]),
                GradeStage::Queued,
            ),
            (item(&[("syncStatus", "SYNCED")]), GradeStage::Synced),
            (item(&[("syncStatus", "whatever")]), GradeStage::Unknown),
            (item(&[("userId", "u")]), GradeStage::NeverQueued),
        ];
        for (item, stage) in cases {
            assert_eq!(GradeState::read(&item).stage, stage, "{item:?}");
        }
    }

    #[test]
    fn the_kind_of_an_item_comes_from_its_keys() {
        let activity = item(&[("pk", "ACT#p#c#r"), ("sk", "ACTIVITY")]);
        let grade = item(&[("pk", "ACT#p#c#r"), ("sk", "GRADE#u")]);
        let lease = item(&[("pk", "LEASE#sync"), ("sk", "LEASE")]);
        let key = ActivityKey::parse("p#c#r").unwrap();
        assert_eq!(ItemKind::of(&activity), ItemKind::Activity(key.clone()));
        assert_eq!(ItemKind::of(&grade), ItemKind::Grade(key));
        assert_eq!(ItemKind::of(&lease), ItemKind::Other);
    }
}

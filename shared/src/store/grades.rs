//! Grade items: written by the tool (one `PutItem` each), found through the
//! sparse `pending` index, and marked by the sync with their outcome.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use time::OffsetDateTime;

use super::dynamo::is_condition_failure;
use super::grade_item::{
    is_known_attribute, is_tool_attribute, unknown_attribute, GradeItem, TOOL_ATTRIBUTES,
};
use super::schema::sync::{
    FAILED_AT, LAST_ATTEMPT_AT, LAST_ERROR, LAST_ERROR_CODE, LAST_HTTP_STATUS, POSTING_AT, STATUS,
    SYNCED_AT,
};
use super::{activity_key_of, now_rfc3339, schema, CutOff, Store, StoreError, SyncStatus, Why};
use crate::activity::{ActivityIds, ActivityKey};
use crate::excerpt::excerpt;
use crate::grade::{Grade, InvalidGrade};
use crate::outcome::{FailReason, PendingReason};

fn status(status: SyncStatus) -> AttributeValue {
    AttributeValue::S(status.as_str().to_owned())
}

fn stamp(now: OffsetDateTime) -> AttributeValue {
    AttributeValue::S(now_rfc3339(now))
}

/// A grade waiting to be posted, as read from the table.
#[derive(Debug, Clone)]
pub struct PendingGrade {
    /// The item's partition key.
    pub pk: String,
    /// The item's sort key.
    pub sk: String,
    /// Its activity, when `pk` names one.
    pub activity: Option<ActivityKey>,
    /// The grade, or why it cannot be posted.
    pub grade: Result<Grade, InvalidGrade>,
    /// The tool-owned attributes as read, for the "unchanged" condition.
    snapshot: HashMap<String, AttributeValue>,
    /// Attributes the schema does not know, as read: a requeue writes them
    /// back, so a misspelled score fails again rather than posting none.
    unknown: HashMap<String, AttributeValue>,
    /// Read from the table itself, consistently: the value the table held
    /// at that moment. A copy from the work index is not, until
    /// [`Store::confirm_current`] says so.
    confirmed: bool,
}

/// The key of a grade item, as the index or a stream record names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GradeKey {
    /// Partition key: `ACT#<activity key>`.
    pub pk: String,
    /// Sort key: `GRADE#<enc(user id)>`.
    pub sk: String,
}

impl GradeKey {
    /// The key of `user`'s grade in `activity` (without a column).
    pub fn of(activity: &ActivityKey, user: &str) -> Self {
        GradeKey {
            pk: super::activity_pk(activity),
            sk: super::grade_sk(user),
        }
    }

    /// The activity the key names, if `pk` is an activity's.
    pub fn activity(&self) -> Option<ActivityKey> {
        activity_key_of(&self.pk)
    }

    /// Whether the key is a grade's (an activity's `pk`, a `GRADE#` sort key).
    pub fn is_grade(&self) -> bool {
        self.pk.starts_with(schema::ACTIVITY_PREFIX) && self.sk.starts_with(schema::GRADE_PREFIX)
    }

    pub(super) fn attributes(&self) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (schema::PK.to_owned(), AttributeValue::S(self.pk.clone())),
            (schema::SK.to_owned(), AttributeValue::S(self.sk.clone())),
        ])
    }
}

/// What confirming a copy from the work index found.
#[derive(Debug, Clone, PartialEq)]
pub enum Confirmation {
    /// The table holds the copy's value: it may be posted.
    Current,
    /// The table holds the copy's value, but the item also holds what the
    /// schema refuses (an unknown attribute, which the index does not
    /// copy): the grade fails, nothing is posted.
    Refused(InvalidGrade),
    /// The table holds another value, or the grade is no longer pending;
    /// nothing was written.
    Changed,
}

/// What a conditional outcome write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Written.
    Applied,
    /// The tool changed the grade since it was read; nothing was written
    /// and the grade stays pending with its new value.
    Changed,
}

impl Store {
    /// Records (or replaces) a grade, making it pending: the Rust form of
    /// the one `PutItem` docs/writing-grades.md documents. Writing the same grade twice
    /// is harmless.
    pub async fn record_grade(&self, ids: &ActivityIds, grade: &Grade) -> Result<(), StoreError> {
        grade.validate().map_err(|e| {
            StoreError::Rejected(Why::new(format!("grade for user '{}': {e}", grade.user_id)))
        })?;
        let item = GradeItem::pending(ids, grade).to_item()?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .cut_off_by(self)
            .await??;
        Ok(())
    }

    /// One grade item exactly as stored (a consistent read), whatever its
    /// state: what `ltisync explain` shows.
    pub async fn grade_item(&self, key: &GradeKey) -> Result<Option<super::RawItem>, StoreError> {
        self.item_at(&key.pk, &key.sk).await
    }

    /// One grade as it is now (a consistent read), if it is still pending.
    pub async fn read_pending_grade(
        &self,
        key: &GradeKey,
    ) -> Result<Option<PendingGrade>, StoreError> {
        let item = self.item_at(&key.pk, &key.sk).await?;
        Ok(item
            .filter(|item| item.contains_key(schema::PENDING))
            .map(|item| parse_pending(item).confirmed()))
    }

    /// Confirms that `grade` (a copy from the work index, which may lag the
    /// table) is what the table holds now: a conditional write that marks
    /// it `POSTING` only if every tool attribute still holds the copy's
    /// value, and returns the whole item, which the index's copy lacks:
    /// an attribute the schema does not know refuses the grade (see
    /// [`Confirmation`]). The grade stays pending whatever the answer, so a
    /// crash after this write leaves it for the next run.
    pub async fn confirm_current(
        &self,
        grade: &PendingGrade,
        now: OffsetDateTime,
    ) -> Result<Confirmation, StoreError> {
        let values = grade.values_with([
            (":status", status(SyncStatus::Posting)),
            (":now", stamp(now)),
        ]);
        let result = self
            .update_at(grade.pk.clone(), grade.sk.clone())
            .update_expression(format!("SET {STATUS} = :status, {POSTING_AT} = :now"))
            .condition_expression(grade.unchanged_condition())
            .set_expression_attribute_names(Some(condition_names()))
            .set_expression_attribute_values(Some(values))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .cut_off_by(self)
            .await?;
        // The write leaves the tool's attributes alone, so a retry after a
        // lost answer applies again: a failed condition is a change.
        match result {
            Ok(out) => {
                self.meter.write(&out.consumed_capacity);
                let unknown = out.attributes.as_ref().and_then(unknown_attribute);
                Ok(unknown.map_or(Confirmation::Current, Confirmation::Refused))
            }
            Err(e) if is_condition_failure(&e) => Ok(Confirmation::Changed),
            Err(e) => Err(e.into()),
        }
    }

    /// Marks a posted grade as synced, unless it changed since it was read.
    pub async fn mark_synced(
        &self,
        grade: &PendingGrade,
        now: OffsetDateTime,
    ) -> Result<WriteOutcome, StoreError> {
        let values = grade.values_with([
            (":status", status(SyncStatus::Synced)),
            (":now", stamp(now)),
        ]);
        let update = format!(
            "SET {STATUS} = :status, {SYNCED_AT} = :now \
             REMOVE #pending, {LAST_ERROR}, {LAST_ERROR_CODE}, {LAST_HTTP_STATUS}, {POSTING_AT}"
        );
        self.write_outcome(
            grade,
            &update,
            values,
            OwnWrite::leaving_index(schema::sync::SYNCED_AT),
        )
        .await
    }

    /// Records a permanent failure: the grade leaves the pending index with
    /// its reason (text and code), and is not tried again until the tool
    /// changes it.
    pub async fn mark_failed(
        &self,
        grade: &PendingGrade,
        reason: &FailReason,
        now: OffsetDateTime,
    ) -> Result<WriteOutcome, StoreError> {
        let mut values = grade.values_with([
            (":status", status(SyncStatus::Failed)),
            (":now", stamp(now)),
            (":reason", AttributeValue::S(reason.text())),
            (
                ":code",
                AttributeValue::S(reason.code().as_str().to_owned()),
            ),
        ]);
        let set = format!(
            "SET {STATUS} = :status, {FAILED_AT} = :now, {LAST_ERROR} = :reason, \
             {LAST_ERROR_CODE} = :code"
        );
        let expression = match reason.http_status() {
            Some(http) => {
                values.insert(":http".into(), AttributeValue::N(http.to_string()));
                format!("{set}, {LAST_HTTP_STATUS} = :http REMOVE #pending, {POSTING_AT}")
            }
            None => format!("{set} REMOVE #pending, {LAST_HTTP_STATUS}, {POSTING_AT}"),
        };
        self.write_outcome(
            grade,
            &expression,
            values,
            OwnWrite::leaving_index(schema::sync::FAILED_AT),
        )
        .await
    }

    /// Notes why a grade is still pending after this run (it stays in the
    /// index): the reason's code, and `note` in words.
    pub async fn note_pending(
        &self,
        grade: &PendingGrade,
        reason: PendingReason,
        note: &str,
        now: OffsetDateTime,
    ) -> Result<WriteOutcome, StoreError> {
        let values = grade.values_with([
            (":status", status(SyncStatus::Pending)),
            (":now", stamp(now)),
            (":reason", AttributeValue::S(note.to_owned())),
            (":code", AttributeValue::S(reason.code().to_owned())),
        ]);
        let update = format!(
            "SET {STATUS} = :status, {LAST_ATTEMPT_AT} = :now, {LAST_ERROR} = :reason, \
             {LAST_ERROR_CODE} = :code REMOVE {POSTING_AT}"
        );
        self.write_outcome(
            grade,
            &update,
            values,
            OwnWrite {
                stamp: schema::sync::LAST_ATTEMPT_AT,
                leaves_index: false,
            },
        )
        .await
    }

    /// Makes a grade pending again with the write a tool makes (its own
    /// attributes as read, `pending` set, the sync's attributes gone), only
    /// if the tool did not change it since it was read: an operator's
    /// requeue never changes a value.
    pub async fn requeue(&self, grade: &PendingGrade) -> Result<WriteOutcome, StoreError> {
        let item = requeued_item(grade);
        match self.put_requeued(grade, &item).await? {
            WriteOutcome::Applied => Ok(WriteOutcome::Applied),
            // The item as written means a lost answer and a retry, not a change.
            WriteOutcome::Changed => {
                let now = self.item_at(&grade.pk, &grade.sk).await?;
                Ok(if now.as_ref() == Some(&item) {
                    WriteOutcome::Applied
                } else {
                    WriteOutcome::Changed
                })
            }
        }
    }

    /// [`requeue`](Self::requeue) without reading the grade back after a
    /// refused condition, for a caller granted only the conditional
    /// PutItem (the status page): its own write retried after a lost
    /// answer then reads as `Changed`, and the grade is pending all the same.
    pub async fn requeue_unread(&self, grade: &PendingGrade) -> Result<WriteOutcome, StoreError> {
        self.put_requeued(grade, &requeued_item(grade)).await
    }

    async fn put_requeued(
        &self,
        grade: &PendingGrade,
        item: &HashMap<String, AttributeValue>,
    ) -> Result<WriteOutcome, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item.clone()))
            .condition_expression(grade.unchanged_condition())
            .set_expression_attribute_names(Some(condition_names()))
            .set_expression_attribute_values(
                Some(grade.condition_values().collect()).filter(|v: &HashMap<_, _>| !v.is_empty()),
            )
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .cut_off_by(self)
            .await?;
        match result {
            Ok(out) => {
                self.meter.write(&out.consumed_capacity);
                Ok(WriteOutcome::Applied)
            }
            Err(e) if is_condition_failure(&e) => Ok(WriteOutcome::Changed),
            Err(e) => Err(e.into()),
        }
    }

    async fn write_outcome(
        &self,
        grade: &PendingGrade,
        update: &str,
        values: HashMap<String, AttributeValue>,
        own: OwnWrite,
    ) -> Result<WriteOutcome, StoreError> {
        let stamp = values[":now"].clone();
        match self.update_if_unchanged(grade, update, values).await? {
            true => Ok(WriteOutcome::Applied),
            false => self.own_write_or_change(grade, own, &stamp).await,
        }
    }

    /// `update` on the grade's item, only while every tool attribute holds
    /// the value that was read: whether it applied.
    async fn update_if_unchanged(
        &self,
        grade: &PendingGrade,
        update: &str,
        values: HashMap<String, AttributeValue>,
    ) -> Result<bool, StoreError> {
        let result = self
            .update_at(grade.pk.clone(), grade.sk.clone())
            .update_expression(update)
            .condition_expression(grade.unchanged_condition())
            .set_expression_attribute_names(Some(condition_names()))
            .set_expression_attribute_values(Some(values))
            .send()
            .cut_off_by(self)
            .await?;
        self.applied(result)
    }

    /// After a failed condition: did the tool change the grade, or does the
    /// item show this very write? The latter happens when the write took
    /// effect, its answer was lost, and the SDK retried it against the item
    /// it had already changed; the summary must count it as written.
    async fn own_write_or_change(
        &self,
        grade: &PendingGrade,
        own: OwnWrite,
        stamp: &AttributeValue,
    ) -> Result<WriteOutcome, StoreError> {
        let item = self
            .item_at(&grade.pk, &grade.sk)
            .await?
            .unwrap_or_default();
        let unchanged = TOOL_ATTRIBUTES.iter().all(|(name, _)| {
            let expected = match *name {
                schema::PENDING if own.leaves_index => None,
                _ => grade.snapshot.get(*name),
            };
            item.get(*name) == expected
        });
        if unchanged && item.get(own.stamp) == Some(stamp) {
            Ok(WriteOutcome::Applied)
        } else {
            Ok(WriteOutcome::Changed)
        }
    }
}

/// How to recognise an outcome write in the item it wrote.
#[derive(Debug, Clone, Copy)]
struct OwnWrite {
    /// The attribute the write set to its own time (to the nanosecond).
    stamp: &'static str,
    /// Whether the write removed `pending`.
    leaves_index: bool,
}

impl OwnWrite {
    fn leaving_index(stamp: &'static str) -> Self {
        Self {
            stamp,
            leaves_index: true,
        }
    }
}

/// The item a requeue writes: the grade's own attributes as read, its
/// keys, and `pending`.
fn requeued_item(grade: &PendingGrade) -> HashMap<String, AttributeValue> {
    let mut item = grade.snapshot.clone();
    item.extend(grade.unknown.clone());
    item.extend(grade.key().attributes());
    item.insert(
        schema::PENDING.to_owned(),
        AttributeValue::S(grade.pk.clone()),
    );
    item
}

fn condition_names() -> HashMap<String, String> {
    TOOL_ATTRIBUTES
        .iter()
        .map(|(a, _)| (format!("#{a}"), (*a).to_owned()))
        .collect()
}

impl PendingGrade {
    /// "Every tool-owned attribute still holds what was read."
    fn unchanged_condition(&self) -> String {
        TOOL_ATTRIBUTES
            .iter()
            .map(|(a, _)| {
                if self.snapshot.contains_key(*a) {
                    format!("#{a} = :was_{a}")
                } else {
                    format!("attribute_not_exists(#{a})")
                }
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    fn condition_values(&self) -> impl Iterator<Item = (String, AttributeValue)> + '_ {
        self.snapshot
            .iter()
            .map(|(a, v)| (format!(":was_{a}"), v.clone()))
    }

    /// An update's own values, with the ones its "unchanged" condition needs.
    fn values_with<const N: usize>(
        &self,
        own: [(&str, AttributeValue); N],
    ) -> HashMap<String, AttributeValue> {
        own.into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .chain(self.condition_values())
            .collect()
    }

    /// Reads a grade item as stored (any item: what is wrong with it ends
    /// up in [`PendingGrade::grade`]), or its copy in the work index.
    pub fn from_item(item: HashMap<String, AttributeValue>) -> Self {
        parse_pending(item)
    }

    /// Whether it was read from the table itself, consistently (else it is
    /// an unconfirmed copy from the work index).
    pub fn is_confirmed(&self) -> bool {
        self.confirmed
    }

    pub(super) fn confirmed(self) -> Self {
        Self {
            confirmed: true,
            ..self
        }
    }

    /// The item's key.
    pub fn key(&self) -> GradeKey {
        GradeKey {
            pk: self.pk.clone(),
            sk: self.sk.clone(),
        }
    }

    /// The user id as stored, for reports, even when the grade is invalid.
    pub fn user_label(&self) -> String {
        match (&self.grade, self.snapshot.get(schema::USER_ID)) {
            (Ok(g), _) => g.user_id.clone(),
            (Err(_), Some(AttributeValue::S(user))) => user.clone(),
            _ => self.sk.clone(),
        }
    }
}

pub(super) fn parse_pending(mut item: HashMap<String, AttributeValue>) -> PendingGrade {
    let text = |item: &HashMap<String, AttributeValue>, name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => s.clone(),
        _ => String::new(),
    };
    let pk = text(&item, schema::PK);
    let sk = text(&item, schema::SK);
    let activity = activity_key_of(&pk);
    let pending = text(&item, schema::PENDING);
    let unknown = unknown_attribute(&item);
    let others = item
        .iter()
        .filter(|(name, _)| !is_known_attribute(name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    item.retain(|name, _| is_tool_attribute(name));
    let grade = match (&activity, unknown) {
        (None, _) => Err(unreadable_pk(&pk)),
        (Some(_), _) if pending != pk => Err(InvalidGrade::Malformed(
            "the pending attribute must be a copy of pk".into(),
        )),
        (Some(_), Some(unknown)) => Err(unknown),
        (Some(_), None) => GradeItem::read(&pk, &sk, &item).and_then(Grade::try_from),
    };
    PendingGrade {
        pk,
        sk,
        activity,
        grade,
        snapshot: item,
        unknown: others,
        confirmed: false,
    }
}

/// Why a `pk` names no activity: in the wrong encoding (with the one it
/// should have), or not an activity's key at all.
fn unreadable_pk(pk: &str) -> InvalidGrade {
    let canonical = pk
        .strip_prefix(schema::ACTIVITY_PREFIX)
        .and_then(ActivityKey::canonical_of);
    match canonical {
        Some(key) => InvalidGrade::NonCanonicalKey {
            found: excerpt(pk),
            canonical: format!("{}{key}", schema::ACTIVITY_PREFIX),
        },
        None => InvalidGrade::Malformed(format!(
            "pk '{}' is not 'ACT#' followed by an activity key",
            excerpt(pk)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }

    fn n(v: &str) -> AttributeValue {
        AttributeValue::N(v.into())
    }

    fn valid() -> Vec<(&'static str, AttributeValue)> {
        vec![
            ("pk", s("ACT#p#c#r")),
            ("sk", s("GRADE#u%201")),
            ("pending", s("ACT#p#c#r")),
            ("schemaVersion", n("1")),
            ("userId", s("u 1")),
            ("scoreGiven", n("9")),
            ("scoreMaximum", n("10")),
            ("gradedAt", s("2026-11-01T10:00:00Z")),
            ("syncStatus", s("PENDING")),
        ]
    }

    #[test]
    fn a_valid_item_parses_with_defaults_and_keeps_only_tool_attributes() {
        let g = parse_pending(item(&valid()));
        let grade = g.grade.clone().unwrap();
        assert_eq!(grade.user_id, "u 1");
        assert_eq!(grade.activity_progress.as_str(), "Completed");
        assert!(!g.snapshot.contains_key("syncStatus"));
        let condition = g.unchanged_condition();
        assert!(condition.contains("#scoreGiven = :was_scoreGiven"));
        assert!(condition.contains("attribute_not_exists(#comment)"));
    }

    /// An attribute set to a value, and words the reason must contain.
    fn malformed_cases() -> Vec<(&'static str, AttributeValue, &'static str)> {
        vec![
            (
                "scoreGiven",
                n("-1"),
                "scoreGiven must be a number of at least 0",
            ),
            (
                "scoreMaximum",
                n("0"),
                "scoreMaximum must be a number above 0",
            ),
            (
                "activityProgress",
                s("Done"),
                "activityProgress 'Done' is not one of",
            ),
            ("userId", s(""), "userId is missing"),
            ("schemaVersion", n("2"), "schemaVersion 2 is not supported"),
            (
                "scoreGiven",
                s("ninety"),
                "scoreGiven: expected a number (N), found a string (S)",
            ),
            (
                "scoreGiven",
                AttributeValue::Null(true),
                "scoreGiven: expected a number (N), found null (NULL)",
            ),
            (
                "comment",
                n("3"),
                "comment: expected a string (S), found a number (N)",
            ),
            (
                "scoreMaximum",
                AttributeValue::Bool(true),
                "scoreMaximum: expected a number (N), found a boolean (BOOL)",
            ),
            ("gradedAt", s("yesterday"), "gradedAt 'yesterday'"),
            (
                "submittedAt",
                s("2026-13-01"),
                "submittedAt '2026-13-01' is not an RFC 3339 time",
            ),
            (
                "startedAt",
                n("1700000000"),
                "startedAt: expected a string (S), found a number (N)",
            ),
            ("pending", s("other"), "copy of pk"),
            ("sk", s("GRADE#someone-else"), "sk must be"),
            ("pk", s("ACT#bad"), "is not 'ACT#'"),
        ]
    }

    #[test]
    fn malformed_items_say_what_is_wrong() {
        for (name, value, expected) in &malformed_cases() {
            let mut fields = valid();
            fields.retain(|(k, _)| k != name);
            fields.push((name, value.clone()));
            let err = parse_pending(item(&fields)).grade.unwrap_err().to_string();
            assert!(err.contains(expected), "{name}: {err}");
        }
    }
}

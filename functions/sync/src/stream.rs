//! DynamoDB stream batches: the fast path.
//!
//! The event source mapping delivers the table's stream records in batches
//! (filtered so that only a tool's grade writes arrive). Each wanted record
//! names a grade to post now; the engine reads the grade's *current* item,
//! so a record whose grade changed since posts the newest value (or nothing,
//! when it is no longer pending). The answer is the standard partial batch
//! response naming the records worth retrying.

use ltisync::store::{schema, GradeKey};
use ltisync::sync::{BatchRun, GradeOutcome};
use serde::Serialize;
use serde_json::Value;

/// One stream record, as far as ltisync reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    /// `dynamodb.SequenceNumber`: what a partial batch response names.
    pub sequence_number: String,
    /// The grade to post, or `None` for a record the filter would have
    /// dropped (a REMOVE, an activity or lock item, the sync's own writes).
    pub grade: Option<GradeKey>,
}

/// The standard partial batch response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    /// The records to deliver again (empty: the whole batch is done).
    pub batch_item_failures: Vec<ItemFailure>,
}

/// One record to deliver again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemFailure {
    /// The record's sequence number.
    pub item_identifier: String,
}

/// The records of a DynamoDB stream batch, or `None` when `event` is not one.
pub fn read_batch(event: &Value) -> Option<Vec<StreamRecord>> {
    let records = event.get("Records")?.as_array()?;
    let from_dynamodb = records
        .iter()
        .all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:dynamodb"));
    if records.is_empty() || !from_dynamodb {
        return None;
    }
    Some(records.iter().filter_map(read_record).collect())
}

/// A record without a sequence number cannot be named in a response; it is
/// skipped (and, having no grade we could read, loses nothing).
fn read_record(record: &Value) -> Option<StreamRecord> {
    let data = record.get("dynamodb")?;
    let sequence_number = data.get("SequenceNumber")?.as_str()?.to_owned();
    Some(StreamRecord {
        sequence_number,
        grade: wanted_grade(record, data),
    })
}

/// The same rule as the mapping's filter (template.yaml): an INSERT or
/// MODIFY of a grade item whose new image is pending and carries no
/// `syncStatus` (a tool's PutItem, not one of the sync's own writes).
fn wanted_grade(record: &Value, data: &Value) -> Option<GradeKey> {
    let event = record.get("eventName").and_then(Value::as_str)?;
    if event != "INSERT" && event != "MODIFY" {
        return None;
    }
    let text = |v: &Value, name: &str| v.get(name)?.get("S")?.as_str().map(str::to_owned);
    let keys = data.get("Keys")?;
    let key = GradeKey {
        pk: text(keys, schema::PK)?,
        sk: text(keys, schema::SK)?,
    };
    let image = data.get("NewImage")?;
    let fresh = image.get(schema::PENDING).is_some() && image.get(schema::sync::STATUS).is_none();
    (key.is_grade() && fresh).then_some(key)
}

/// Which records to deliver again: those whose grade is still pending for
/// a reason that may pass (LTIaaS or DynamoDB failing, the deadline, another
/// holder of the activity). A grade that was posted, failed for good, waits
/// for a relaunch, or changed since (its newer write brings its own record)
/// is done as far as this record goes.
pub fn failures(records: &[StreamRecord], run: &BatchRun) -> BatchResponse {
    let batch_item_failures = records
        .iter()
        .filter(|record| {
            let outcome = record.grade.as_ref().and_then(|k| run.outcomes.get(k));
            matches!(outcome, Some(GradeOutcome::Pending(reason)) if reason.is_transient())
        })
        .map(|record| ItemFailure {
            item_identifier: record.sequence_number.clone(),
        })
        .collect();
    BatchResponse {
        batch_item_failures,
    }
}

/// Every wanted record, when the batch could not be worked at all.
pub fn all_wanted(records: &[StreamRecord]) -> BatchResponse {
    BatchResponse {
        batch_item_failures: records
            .iter()
            .filter(|r| r.grade.is_some())
            .map(|r| ItemFailure {
                item_identifier: r.sequence_number.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use ltisync::sync::PendingReason;
    use serde_json::json;

    use super::*;

    fn record(event: &str, sk: &str, image: Value, seq: &str) -> Value {
        json!({"eventName": event, "eventSource": "aws:dynamodb",
            "dynamodb": {"Keys": {"pk": {"S": "ACT#p#c#r"}, "sk": {"S": sk}},
                "NewImage": image, "SequenceNumber": seq}})
    }

    fn tool_write() -> Value {
        json!({"pk": {"S": "ACT#p#c#r"}, "pending": {"S": "ACT#p#c#r"}})
    }

    #[test]
    fn only_a_tools_grade_write_names_a_grade() {
        let synced =
            json!({"pk": {"S": "x"}, "syncStatus": {"S": "PENDING"}, "pending": {"S": "x"}});
        let event = json!({"Records": [
            record("INSERT", "GRADE#u1", tool_write(), "1"),
            record("MODIFY", "GRADE#u2", tool_write(), "2"),
            record("REMOVE", "GRADE#u3", tool_write(), "3"),
            record("MODIFY", "GRADE#u4", synced, "4"),
            record("MODIFY", "ACTIVITY", tool_write(), "5"),
            record("MODIFY", "GRADE#u6", json!({"pk": {"S": "x"}}), "6"),
        ]});
        let records = read_batch(&event).unwrap();
        let wanted: Vec<_> = records
            .iter()
            .filter_map(|r| r.grade.as_ref().map(|g| g.sk.as_str()))
            .collect();
        assert_eq!(wanted, ["GRADE#u1", "GRADE#u2"]);
        assert_eq!(records.len(), 6);
    }

    #[test]
    fn other_events_are_not_stream_batches() {
        assert!(read_batch(&json!({})).is_none());
        assert!(read_batch(&json!({"Records": []})).is_none());
        assert!(read_batch(&json!({"Records": [{"eventSource": "aws:sqs"}]})).is_none());
    }

    #[test]
    fn only_transient_outcomes_are_retried() {
        let records = read_batch(&json!({"Records": [
            record("INSERT", "GRADE#a", tool_write(), "1"),
            record("INSERT", "GRADE#b", tool_write(), "2"),
            record("INSERT", "GRADE#c", tool_write(), "3"),
            record("INSERT", "GRADE#d", tool_write(), "4"),
        ]}))
        .unwrap();
        let mut run = BatchRun::default();
        let key = |sk: &str| GradeKey {
            pk: "ACT#p#c#r".into(),
            sk: sk.into(),
        };
        run.outcomes.insert(key("GRADE#a"), GradeOutcome::Posted);
        run.outcomes.insert(
            key("GRADE#b"),
            GradeOutcome::Pending(PendingReason::RetriesExhausted),
        );
        run.outcomes.insert(
            key("GRADE#c"),
            GradeOutcome::Pending(PendingReason::ChangedDuringRun),
        );
        // d: no longer pending when read; nothing to do.
        let response = failures(&records, &run);
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "2"}]})
        );
    }
}

//! What the LMS last accepted for a grade, in its own item beside the
//! grade: `ACT#<activity key>` / `POSTED#<enc(user id)>`.
//!
//! Why its own item: the tool writes a grade with one whole-item PutItem,
//! which replaces every attribute the sync left on the grade item. This
//! item the tool never writes, so what was accepted survives every rewrite
//! and the next payload can be compared with it. It carries no `pending`,
//! so it is in neither the work index nor (by the template's filter, which
//! takes `GRADE#` keys only) the stream function's records.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use serde::{Deserialize, Serialize};

use super::{schema, CutOff, GradeKey, Store, StoreError, Why};

/// The item: keys, then what the LMS accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostedItem {
    /// The grade's `pk`.
    pub pk: String,
    /// `POSTED#<enc(user id)>`.
    pub sk: String,
    /// The stable hash of the score the LMS accepted last
    /// ([`crate::sync::Fingerprint`]); removed by `ltisync requeue --force`
    /// so the same value is sent again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// When the LMS accepted it (RFC 3339).
    pub posted_at: String,
    /// The submission it belonged to (`submittedAt` as posted; absent for
    /// a grade without one): a later post of the same submission updates
    /// Canvas's attempt instead of adding one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<String>,
}

/// The posted item's sort key for a grade's (`GRADE#x` → `POSTED#x`).
pub fn posted_sk(grade_sk: &str) -> String {
    let user = grade_sk
        .strip_prefix(schema::GRADE_PREFIX)
        .unwrap_or(grade_sk);
    format!("{}{user}", schema::POSTED_PREFIX)
}

impl Store {
    /// What the LMS last accepted for the grade at `key` (a consistent
    /// read: a post recorded a moment ago by another run counts).
    pub async fn read_posted(&self, key: &GradeKey) -> Result<Option<PostedItem>, StoreError> {
        let Some(item) = self.item_at(&key.pk, &posted_sk(&key.sk)).await? else {
            return Ok(None);
        };
        serde_dynamo::from_item(item)
            .map(Some)
            .map_err(|e| StoreError::Malformed(format!("{} {}: {e}", key.pk, posted_sk(&key.sk))))
    }

    /// Records what the LMS accepted (replacing what it accepted before).
    pub async fn record_posted(&self, posted: &PostedItem) -> Result<(), StoreError> {
        let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(posted)
            .map_err(|e| StoreError::Rejected(Why::new(e.to_string())))?;
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .cut_off_by(self)
            .await??;
        self.meter.write(&out.consumed_capacity);
        Ok(())
    }

    /// Forgets the fingerprint of what was accepted for the grade at `key`,
    /// keeping the submission it belonged to: its next post is sent even if
    /// the value is the same (`ltisync requeue --force`), and still updates
    /// Canvas's attempt rather than adding one.
    pub async fn forget_fingerprint(&self, key: &GradeKey) -> Result<(), StoreError> {
        let result = self
            .update_at(key.pk.clone(), posted_sk(&key.sk))
            .update_expression("REMOVE fingerprint")
            // Nothing was posted yet: nothing to forget, nothing to create.
            .condition_expression("attribute_exists(pk)")
            .send()
            .cut_off_by(self)
            .await?;
        self.applied(result).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_posted_item_sits_beside_the_grade_under_its_own_prefix() {
        assert_eq!(posted_sk("GRADE#ada%40x"), "POSTED#ada%40x");
        let item = PostedItem {
            pk: "ACT#p#c#r".into(),
            sk: posted_sk("GRADE#u1"),
            fingerprint: Some("ab12".into()),
            posted_at: "2026-12-04T10:00:00Z".into(),
            submitted_at: None,
        };
        let stored: HashMap<String, AttributeValue> = serde_dynamo::to_item(&item).unwrap();
        assert_eq!(stored["sk"], AttributeValue::S("POSTED#u1".into()));
        assert!(
            !stored.contains_key(schema::PENDING),
            "never in the work index"
        );
        assert_eq!(
            serde_dynamo::from_item::<_, PostedItem>(stored).unwrap(),
            item
        );
    }
}

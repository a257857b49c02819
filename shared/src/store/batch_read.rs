//! A stream batch's read: the grades its records name, what the LMS
//! accepted for each, and their activities, in one round of consistent
//! `BatchGetItem` requests.
//!
//! Why one round: a stream batch is small (`StreamBatchSize`, 100 records
//! by default), so its run is mostly round trips that no post overlaps. Reading the three kinds of
//! item together, after the claims and before the first post, costs one
//! round trip where reading them one after another (and what was accepted
//! once per grade) cost three (BENCHMARKS.md section 12). The claims keep
//! every other run from writing any of them meanwhile. A request that
//! still fails (its retries spent) fails the batch: every record is asked
//! for again, nothing is posted from a partial read.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use super::activities::{activity_item_key, parse_activity_item};
use super::grades::parse_pending;
use super::{posted_sk, schema, GradeKey, PendingGrade, PostedItem, Store, StoreError};
use crate::activity::{Activity, ActivityKey};

/// What the LMS accepted before for each grade of a batch, read with it.
#[derive(Debug, Default)]
pub struct AcceptedBefore(HashMap<GradeKey, Result<PostedItem, String>>);

impl AcceptedBefore {
    /// What was accepted for the grade at `key` (`None`: nothing yet), or
    /// why its item cannot be read.
    pub fn of(&self, key: &GradeKey) -> Result<Option<PostedItem>, StoreError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Ok(posted)) => Ok(Some(posted.clone())),
            Some(Err(why)) => Err(StoreError::Malformed(why.clone())),
        }
    }
}

/// What one read of a batch's keys found.
#[derive(Debug, Default)]
pub struct BatchRead {
    /// The grades still pending, as they are now (confirmed).
    pub grades: Vec<PendingGrade>,
    /// What the LMS accepted before for each of them.
    pub accepted_before: AcceptedBefore,
    /// The activities the keys name, parsed, or why not (absent: never
    /// launched).
    pub activities: HashMap<ActivityKey, Result<Activity, String>>,
    /// Items DynamoDB returned.
    pub items_read: u64,
}

impl Store {
    /// The grades behind `keys` as they are now, keeping only those still
    /// pending (a key whose grade was synced a moment ago is dropped, not
    /// posted again), with what the LMS accepted for each and the
    /// activities they belong to.
    pub async fn read_batch(&self, keys: &[GradeKey]) -> Result<BatchRead, StoreError> {
        let activities: BTreeSet<ActivityKey> =
            keys.iter().filter_map(GradeKey::activity).collect();
        let requested = keys
            .iter()
            .map(GradeKey::attributes)
            .chain(keys.iter().map(|key| posted_key(key).attributes()))
            .chain(activities.iter().map(activity_item_key))
            .collect();
        let items = self.batch_get(requested).await?;
        let mut read = BatchRead {
            items_read: items.len() as u64,
            ..BatchRead::default()
        };
        items.into_iter().for_each(|item| read.take(item));
        Ok(read)
    }
}

impl BatchRead {
    /// Files one item read by the kind its sort key names.
    fn take(&mut self, item: HashMap<String, AttributeValue>) {
        let sk = match item.get(schema::SK) {
            Some(AttributeValue::S(sk)) => sk.clone(),
            _ => return,
        };
        if sk.starts_with(schema::GRADE_PREFIX) {
            if item.contains_key(schema::PENDING) {
                self.grades.push(parse_pending(item).confirmed());
            }
        } else if let Some(user) = sk.strip_prefix(schema::POSTED_PREFIX) {
            let pk = match item.get(schema::PK) {
                Some(AttributeValue::S(pk)) => pk.clone(),
                _ => return,
            };
            let parsed = serde_dynamo::from_item(item).map_err(|e| format!("{pk} {sk}: {e}"));
            let grade = GradeKey {
                pk,
                sk: format!("{}{user}", schema::GRADE_PREFIX),
            };
            self.accepted_before.0.insert(grade, parsed);
        } else if sk == schema::ACTIVITY_SK {
            if let Some((key, activity)) = parse_activity_item(item) {
                self.activities.insert(key, activity);
            }
        }
    }
}

/// The key of the item recording what the LMS accepted for `grade`.
fn posted_key(grade: &GradeKey) -> GradeKey {
    GradeKey {
        pk: grade.pk.clone(),
        sk: posted_sk(&grade.sk),
    }
}

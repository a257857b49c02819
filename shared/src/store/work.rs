//! The work index: one eventually consistent read finds every pending
//! grade and the activity it belongs to, with what posting needs.
//!
//! Why copies and not keys: DynamoDB bills a `GetItem` or a `BatchGetItem`
//! item by 4 KB units, so reading a 400-byte grade (or a 1.5 KB activity)
//! on its own costs as much as reading ten of them together in one scan
//! page (see BENCHMARKS.md). A scan of the index pays only for the bytes
//! it returns, half price since index reads are eventually consistent. A
//! copy may lag the table, so the sync never posts one unconfirmed: see
//! [`Store::confirm_current`].

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};

use super::activities::parse_activity_item;
use super::grade_item::TOOL_ATTRIBUTES;
use super::{activity_item, activity_pk, schema, CutOff, PendingGrade, Store, StoreError};
use crate::activity::{Activity, ActivityKey};

/// The non-key attributes the work index projects: the grade's tool
/// attributes (what is posted and compared) and what an activity is built
/// from. `template.yaml` lists the same (a test compares them).
pub fn work_index_attributes() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = TOOL_ATTRIBUTES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| *name != schema::PENDING)
        .chain(activity_item::SYNC_READS)
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// Items the first page of the work index asks for: a few hundred KB of
/// copies, answered well inside a call's timeout even by a slow stand-in,
/// while DynamoDB's own 1 MB page limit stays the usual bound.
pub const FIRST_PAGE_LIMIT: i32 = 1000;

/// Segments the work index is scanned in, side by side (DynamoDB's
/// parallel scan): the first post waits for the slowest segment rather
/// than every page in turn (BENCHMARKS.md section 12). An activity and its
/// grades share the index's partition key, so in practice one segment; an
/// activity whose copy is not found with its grades is read from the
/// table all the same. Each request
/// is billed by the bytes it returns, rounded up to 4 KB, so an index of a
/// few entries costs a unit or two more a run.
pub const SCAN_SEGMENTS: i32 = 4;

/// The smallest page asked for after failures.
pub const SMALLEST_PAGE_LIMIT: i32 = 25;

/// What one read of the work index found.
#[derive(Debug, Default)]
pub struct WorkCopies {
    /// Copies of the pending grades (unconfirmed).
    pub grades: Vec<PendingGrade>,
    /// Copies of the activities found beside them, parsed, or why not.
    pub activities: HashMap<ActivityKey, Result<Activity, String>>,
    /// Index entries DynamoDB read (sum of `ScannedCount`).
    pub items_read: u64,
    /// Whether every page was read; `false` when a page failed after some
    /// work was found (that work is posted; the next run reads on).
    pub complete: bool,
}

impl Store {
    /// Every pending grade and every activity in the work index (a scan in
    /// [`SCAN_SEGMENTS`] segments side by side), or those of one activity
    /// (a query of its partition).
    ///
    /// A segment that fails after others found work costs only its own
    /// share: what was found is returned (`complete: false`) to be posted,
    /// and the next run reads on. Only a read that found nothing fails.
    pub async fn pending_work(
        &self,
        activity: Option<&ActivityKey>,
    ) -> Result<WorkCopies, StoreError> {
        let segments: Vec<Option<i32>> = match activity {
            Some(_) => vec![None],
            None => (0..SCAN_SEGMENTS).map(Some).collect(),
        };
        let reads = segments
            .into_iter()
            .map(|segment| self.pending_work_in(activity, segment));
        let mut found = WorkCopies {
            complete: true,
            ..WorkCopies::default()
        };
        let mut failed = None;
        for read in futures::future::join_all(reads).await {
            match read {
                Ok(part) => found.absorb(part),
                Err(e) => {
                    tracing::warn!(error = %e, "a segment of the work index could not be read");
                    failed = Some(e);
                }
            }
        }
        match failed {
            Some(e) if found.grades.is_empty() => Err(e),
            Some(_) => {
                found.complete = false;
                Ok(found)
            }
            None => Ok(found),
        }
    }

    /// One segment of the scan (or the activity's query), page by page.
    ///
    /// Pages are bounded ([`FIRST_PAGE_LIMIT`] items) so that one call stays
    /// well inside its timeout on a slow server or a throttled table; a page
    /// that fails is asked for again at a quarter of the size, down to
    /// [`SMALLEST_PAGE_LIMIT`]. When even that fails after some work was
    /// found, the work found is returned (`complete: false`).
    async fn pending_work_in(
        &self,
        activity: Option<&ActivityKey>,
        segment: Option<i32>,
    ) -> Result<WorkCopies, StoreError> {
        let mut found = WorkCopies {
            complete: true,
            ..WorkCopies::default()
        };
        let (mut start, mut limit) = (None, FIRST_PAGE_LIMIT);
        loop {
            let page = match self
                .work_page(activity, segment, start.clone(), limit)
                .await
            {
                Ok(page) => page,
                Err(StoreError::Unavailable(why)) if limit > SMALLEST_PAGE_LIMIT => {
                    limit = (limit / 4).max(SMALLEST_PAGE_LIMIT);
                    tracing::warn!(limit, error = %why, "a work index page failed; asking for smaller pages");
                    continue;
                }
                Err(e) if !found.grades.is_empty() => {
                    tracing::warn!(error = %e, found = found.grades.len(), "the work index could not be read to its end; posting what was found");
                    found.complete = false;
                    return Ok(found);
                }
                Err(e) => return Err(e),
            };
            found.items_read += page.scanned;
            page.items.into_iter().for_each(|item| found.take(item));
            match page.next {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(found),
            }
        }
    }

    async fn work_page(
        &self,
        activity: Option<&ActivityKey>,
        segment: Option<i32>,
        start: Option<HashMap<String, AttributeValue>>,
        limit: i32,
    ) -> Result<WorkPage, StoreError> {
        let (items, scanned, next) = match activity {
            None => {
                let out = self
                    .client
                    .scan()
                    .table_name(&self.table)
                    .index_name(schema::WORK_INDEX)
                    .set_segment(segment)
                    .set_total_segments(segment.map(|_| SCAN_SEGMENTS))
                    .limit(limit)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .set_exclusive_start_key(start)
                    .send()
                    .cut_off_by(self)
                    .await??;
                self.meter.read(&out.consumed_capacity);
                (out.items, out.scanned_count, out.last_evaluated_key)
            }
            Some(key) => {
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(schema::WORK_INDEX)
                    .key_condition_expression("#pending = :pk")
                    .expression_attribute_names("#pending", schema::PENDING)
                    .expression_attribute_values(":pk", AttributeValue::S(activity_pk(key)))
                    .limit(limit)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .set_exclusive_start_key(start)
                    .send()
                    .cut_off_by(self)
                    .await??;
                self.meter.read(&out.consumed_capacity);
                (out.items, out.scanned_count, out.last_evaluated_key)
            }
        };
        Ok(WorkPage {
            items: items.unwrap_or_default(),
            scanned: scanned.max(0) as u64,
            next,
        })
    }
}

struct WorkPage {
    items: Vec<HashMap<String, AttributeValue>>,
    scanned: u64,
    next: Option<HashMap<String, AttributeValue>>,
}

impl WorkCopies {
    /// Adds what another segment found.
    fn absorb(&mut self, part: WorkCopies) {
        self.grades.extend(part.grades);
        self.activities.extend(part.activities);
        self.items_read += part.items_read;
        self.complete &= part.complete;
    }

    /// Sorts one index entry: a grade's copy, an activity's, or neither
    /// (an item some other writer gave a `pending` attribute: ignored).
    fn take(&mut self, item: HashMap<String, AttributeValue>) {
        let text = |name: &str| match item.get(name) {
            Some(AttributeValue::S(s)) => Some(s.as_str()),
            _ => None,
        };
        match text(schema::SK) {
            Some(sk) if sk.starts_with(schema::GRADE_PREFIX) => {
                self.grades.push(PendingGrade::from_item(item));
            }
            Some(schema::ACTIVITY_SK) => {
                if let Some((key, activity)) = parse_activity_item(item) {
                    self.activities.insert(key, activity);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_projects_what_a_post_and_an_activity_need() {
        let names = work_index_attributes();
        for needed in [
            "scoreGiven",
            "gradedAt",
            "submittedAt",
            "serviceKey",
            "lineItemId",
        ] {
            assert!(names.contains(&needed), "{needed}");
        }
        for key in [schema::PK, schema::SK, schema::PENDING] {
            assert!(!names.contains(&key), "{key} is a key, projected anyway");
        }
        // DynamoDB allows 100 projected attributes over all of a table's indexes.
        assert!(names.len() <= 100);
    }

    #[test]
    fn entries_are_sorted_into_grades_and_activities() {
        let s = |v: &str| AttributeValue::S(v.into());
        let mut copies = WorkCopies::default();
        copies.take(HashMap::from([
            ("pk".into(), s("ACT#p#c#r")),
            ("sk".into(), s("GRADE#u")),
            ("pending".into(), s("ACT#p#c#r")),
        ]));
        copies.take(HashMap::from([
            ("pk".into(), s("ACT#p#c#r")),
            ("sk".into(), s("ACTIVITY")),
            ("platformId".into(), s("p")),
            ("contextId".into(), s("c")),
            ("resourceLinkId".into(), s("r")),
        ]));
        copies.take(HashMap::from([
            ("pk".into(), s("ACT#p#c#r")),
            ("sk".into(), s("CLAIM")),
        ]));
        assert_eq!(copies.grades.len(), 1);
        assert!(!copies.grades[0].is_confirmed());
        let key = ActivityKey::parse("p#c#r").unwrap();
        assert!(copies.activities[&key].is_ok());
    }
}

//! Reading the table a page at a time, for operators' reports: a scan of
//! the whole table, or a query of one activity's partition (its activity,
//! claim and grade items).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{activity_pk, schema, CutOff, Store, StoreError};
use crate::activity::ActivityKey;

/// A stored item as DynamoDB returns it.
pub type RawItem = HashMap<String, AttributeValue>;

/// One page of items, and where the next one starts.
#[derive(Debug, Default)]
pub struct ItemsPage {
    /// The items on this page.
    pub items: Vec<RawItem>,
    /// Pass back as `start` for the next page; `None` after the last.
    pub next: Option<RawItem>,
}

impl Store {
    /// One page of every item of `activity`, or of the whole table.
    pub async fn items_page(
        &self,
        activity: Option<&ActivityKey>,
        start: Option<RawItem>,
    ) -> Result<ItemsPage, StoreError> {
        let (items, next) = match activity {
            None => {
                let out = self
                    .client
                    .scan()
                    .table_name(&self.table)
                    .set_exclusive_start_key(start)
                    .send()
                    .cut_off_by(self)
                    .await??;
                (out.items, out.last_evaluated_key)
            }
            Some(key) => {
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("#pk = :pk")
                    .expression_attribute_names("#pk", schema::PK)
                    .expression_attribute_values(":pk", AttributeValue::S(activity_pk(key)))
                    .set_exclusive_start_key(start)
                    .send()
                    .cut_off_by(self)
                    .await??;
                (out.items, out.last_evaluated_key)
            }
        };
        Ok(ItemsPage {
            items: items.unwrap_or_default(),
            next: next.filter(|key| !key.is_empty()),
        })
    }
}

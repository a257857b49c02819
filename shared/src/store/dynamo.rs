//! DynamoDB request helpers every item module uses: an `UpdateItem`
//! expression builder, a batch get that honours unprocessed keys, and the
//! test for a failed condition (an expected race, not an error).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnConsumedCapacity};
use futures::{StreamExt, TryStreamExt};

use super::{schema, CutOff, Store, StoreError, Why};

/// The most keys DynamoDB takes in one `BatchGetItem` request.
const BATCH_GET_KEYS: usize = 100;

/// `BatchGetItem` requests of one read in flight at once: a stream batch
/// of the default 100 records reads in three; a larger read is held to a
/// few at a time so it does not crowd out the run's other calls.
const BATCH_GETS_IN_FLIGHT: usize = 4;

/// Builds an `UpdateItem` expression clause by clause.
#[derive(Default)]
pub(super) struct Update {
    set: Vec<String>,
    remove: Vec<String>,
    add: Vec<String>,
    pub(super) names: HashMap<String, String>,
    pub(super) values: HashMap<String, AttributeValue>,
}

impl Update {
    pub(super) fn name(&mut self, attribute: &str) -> String {
        let placeholder = format!("#{attribute}");
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    pub(super) fn set(&mut self, attribute: &str, value: AttributeValue) {
        let name = self.name(attribute);
        self.values.insert(format!(":{attribute}"), value);
        self.set.push(format!("{name} = :{attribute}"));
    }

    pub(super) fn set_if_absent(&mut self, attribute: &str, value: AttributeValue) {
        let name = self.name(attribute);
        self.values.insert(format!(":{attribute}"), value);
        self.set
            .push(format!("{name} = if_not_exists({name}, :{attribute})"));
    }

    pub(super) fn remove(&mut self, attribute: &str) {
        let name = self.name(attribute);
        self.remove.push(name);
    }

    pub(super) fn add(&mut self, attribute: &str, value: AttributeValue) {
        let name = self.name(attribute);
        self.values.insert(format!(":{attribute}"), value);
        self.add.push(format!("{name} :{attribute}"));
    }

    pub(super) fn expression(&self) -> String {
        let mut clauses = Vec::new();
        for (keyword, parts) in [
            ("SET", &self.set),
            ("REMOVE", &self.remove),
            ("ADD", &self.add),
        ] {
            if !parts.is_empty() {
                clauses.push(format!("{keyword} {}", parts.join(", ")));
            }
        }
        clauses.join(" ")
    }
}

impl Store {
    /// `BatchGetItem` with consistent reads over any number of keys
    /// (duplicates dropped: DynamoDB refuses them in one request), 100 keys
    /// a request, the requests side by side (see `batch_read`).
    pub(super) async fn batch_get(
        &self,
        mut keys: Vec<HashMap<String, AttributeValue>>,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut seen = std::collections::HashSet::new();
        keys.retain(|key| {
            seen.insert(format!(
                "{:?}|{:?}",
                key.get(schema::PK),
                key.get(schema::SK)
            ))
        });
        // Owned chunks: a stream of borrowed ones makes the future not Send.
        let requests: Vec<_> = keys.chunks(BATCH_GET_KEYS).map(<[_]>::to_vec).collect();
        let pages: Vec<_> = futures::stream::iter(requests)
            .map(|chunk| self.batch_get_request(chunk))
            .buffer_unordered(BATCH_GETS_IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(pages.into_iter().flatten().collect())
    }

    /// One `BatchGetItem` request, retrying its unprocessed keys with the
    /// back-off DynamoDB asks for.
    async fn batch_get_request(
        &self,
        mut request_keys: Vec<HashMap<String, AttributeValue>>,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut items = Vec::with_capacity(request_keys.len());
        let mut attempt = 0u32;
        while !request_keys.is_empty() {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut request_keys)))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Rejected(Why::new(e.to_string())))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .cut_off_by(self)
                .await??;
            self.meter.read(out.consumed_capacity.iter().flatten());
            items.extend(
                out.responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default(),
            );
            if let Some(left) = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                request_keys = left.keys;
                attempt += 1;
                if attempt > 8 {
                    return Err(StoreError::Unavailable(Why::new(
                        "BatchGetItem kept returning unprocessed keys (throughput exceeded); the call is tried again later",
                    )));
                }
                tokio::time::sleep(std::time::Duration::from_millis(25 << attempt.min(6))).await;
            }
        }
        Ok(items)
    }
}

/// A failed condition is an expected race, not an error.
impl Store {
    /// An `UpdateItem` of the item at `pk`/`sk` in this table, reporting
    /// the capacity it consumes: what every keyed update starts from.
    pub(super) fn update_at(
        &self,
        pk: String,
        sk: String,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(schema::PK, AttributeValue::S(pk))
            .key(schema::SK, AttributeValue::S(sk))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
    }

    /// A conditional update's answer: `true` when it applied (its capacity
    /// metered), `false` when its condition failed (an expected race).
    pub(super) fn applied(
        &self,
        result: Result<
            aws_sdk_dynamodb::operation::update_item::UpdateItemOutput,
            aws_sdk_dynamodb::error::SdkError<
                aws_sdk_dynamodb::operation::update_item::UpdateItemError,
                aws_sdk_dynamodb::config::http::HttpResponse,
            >,
        >,
    ) -> Result<bool, StoreError> {
        match result {
            Ok(out) => {
                self.meter.write(&out.consumed_capacity);
                Ok(true)
            }
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

pub(super) fn ignore_condition_failure<E>(
    err: aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> Result<(), StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    if is_condition_failure(&err) {
        Ok(())
    } else {
        Err(err.into())
    }
}

pub(super) fn is_condition_failure<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

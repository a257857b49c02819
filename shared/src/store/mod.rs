//! The DynamoDB store, all in one table: activities (with their service
//! keys), grades, what the LMS accepted for each grade, each activity's
//! claim, and the daily run's lease.
//!
//! # Table layout
//! | item     | `pk`                 | `sk`                    |
//! |----------|----------------------|-------------------------|
//! | activity | `ACT#<activity key>` | `ACTIVITY`              |
//! | grade    | `ACT#<activity key>` | `GRADE#<enc(user id)>`  |
//! | claim    | `ACT#<activity key>` | `CLAIM`                 |
//! | posted   | `ACT#<activity key>` | `POSTED#<enc(user id)>` |
//! | lease    | `LEASE#sync`         | `LEASE`                 |
//!
//! The global secondary index `work` (partition key `pending`, sort key
//! `sk`) holds the sync's work and nothing else: every grade waiting to be
//! posted, and every launched activity. A grade carries the `pending`
//! attribute (a copy of its `pk`) from the tool's write until the sync
//! posts it or gives up on it; an activity item carries it from its first
//! launch on. The index projects what posting needs (the grade's tool
//! attributes, the activity's ids, key and line item settings: see
//! [`work::WORK_INDEX_ATTRIBUTES`]), so one eventually consistent scan of
//! it finds the work and everything needed to do it, billed by the size of
//! those copies. A copy may lag the table by a moment: the sync confirms
//! each grade's copy with a conditional write before posting it (see
//! `sync`). The attribute `expiresAt` (epoch seconds) is the table's TTL
//! attribute; only the lease and claims have it.
//!
//! A claim is an activity's lock: whoever posts an activity's grades (the
//! daily run, a stream batch) holds it from before reading them until their
//! outcomes are written, so posts of one grade never overlap and an older
//! value is never posted after a newer one (see `sync`).

mod activities;
mod activity_item;
mod batch_read;
mod capacity;
mod dynamo;
pub mod grade_item;
mod grades;
mod layout;
mod lease;
mod posted;
pub mod report;
mod scan;
pub mod work;

use std::future::Future;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use thiserror::Error;

pub use activity_item::ActivityItem;
pub use batch_read::{AcceptedBefore, BatchRead};
pub use capacity::{CapacityMeter, ConsumedUnits};
pub use grade_item::GradeItem;
pub use grades::{Confirmation, GradeKey, PendingGrade, WriteOutcome};
pub use lease::{Lease, LeaseOutcome};
pub use posted::{posted_sk, PostedItem};
pub use scan::{ItemsPage, RawItem};
pub use work::WorkCopies;

use crate::activity::{encode_key_component, ActivityKey};

/// Names of the table's keys, index and attributes: the public contract.
pub mod schema {
    /// Partition key.
    pub const PK: &str = "pk";
    /// Sort key.
    pub const SK: &str = "sk";
    /// The sparse index of the sync's work: pending grades and activities.
    pub const WORK_INDEX: &str = "work";
    /// Its partition key attribute (a copy of the item's `pk`).
    pub const PENDING: &str = "pending";
    /// The TTL attribute (epoch seconds).
    pub const EXPIRES_AT: &str = "expiresAt";
    /// Sort key of activity items.
    pub const ACTIVITY_SK: &str = "ACTIVITY";
    /// Sort key of an activity's claim item.
    pub const CLAIM_SK: &str = "CLAIM";
    /// Prefix of activity partition keys.
    pub const ACTIVITY_PREFIX: &str = "ACT#";
    /// Prefix of grade sort keys.
    pub const GRADE_PREFIX: &str = "GRADE#";
    /// Prefix of the sort keys of what the LMS accepted for each grade.
    pub const POSTED_PREFIX: &str = "POSTED#";
    /// The grade's user (a tool attribute, see
    /// [`super::grade_item::TOOL_ATTRIBUTES`]), which reports show even when
    /// the rest of the grade is invalid.
    pub const USER_ID: &str = "userId";

    /// The sync's attributes on a grade item (the tool owns the others:
    /// [`super::grade_item::TOOL_ATTRIBUTES`]).
    pub mod sync {
        /// Where the grade stands: a [`super::super::SyncStatus`].
        pub const STATUS: &str = "syncStatus";
        /// Why it waits or failed, in words.
        pub const LAST_ERROR: &str = "lastError";
        /// Why it waits or failed, as a stable code
        /// ([`crate::outcome::PendingReason`] or [`crate::outcome::FailCode`]).
        pub const LAST_ERROR_CODE: &str = "lastErrorCode";
        /// The HTTP status of the LMS's refusal.
        pub const LAST_HTTP_STATUS: &str = "lastHttpStatus";
        /// When a run confirmed the grade and began posting it.
        pub const POSTING_AT: &str = "postingAt";
        /// When the LMS accepted it.
        pub const SYNCED_AT: &str = "syncedAt";
        /// When it failed for good.
        pub const FAILED_AT: &str = "failedAt";
        /// When a run last left it pending.
        pub const LAST_ATTEMPT_AT: &str = "lastAttemptAt";
    }
}

/// The values of `syncStatus` (absent: the tool wrote the grade and no run
/// has touched it since).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum SyncStatus {
    /// A run left it pending, with a reason.
    Pending,
    /// A run confirmed it and is posting it (or stopped before recording
    /// the outcome: the next run posts it again).
    Posting,
    /// The LMS accepted it.
    Synced,
    /// Not posted, for good, with a reason.
    Failed,
}

impl SyncStatus {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The status an item carries, if any (and one this version knows).
    pub fn of(
        item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    ) -> Option<Self> {
        match item.get(schema::sync::STATUS) {
            Some(aws_sdk_dynamodb::types::AttributeValue::S(s)) => s.parse().ok(),
            _ => None,
        }
    }
}

/// A failure of the store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// DynamoDB could not be reached, throttled us, or failed; try later.
    #[error("DynamoDB is unavailable: {0}")]
    Unavailable(Why),
    /// DynamoDB refused the request (missing table, bad request); a
    /// deployment or data problem that retrying will not fix.
    #[error("DynamoDB rejected the request: {0}")]
    Rejected(Why),
    /// An item that does not follow the schema.
    #[error("an item in the table is malformed: {0}")]
    Malformed(String),
}

/// What went wrong with a DynamoDB call: one sentence a person can act on
/// (stored on a grade as its reason, shown by the CLI), and the SDK's own
/// account of it, which only the logs carry (it can run to a page of
/// nested debug output).
#[derive(Debug, Clone)]
pub struct Why {
    summary: String,
    detail: Option<String>,
}

impl Why {
    /// A reason with nothing more to say.
    pub fn new(summary: impl Into<String>) -> Self {
        Self {
            summary: summary.into(),
            detail: None,
        }
    }

    fn with_detail(summary: impl Into<String>, detail: String) -> Self {
        Self {
            summary: summary.into(),
            detail: Some(detail),
        }
    }

    fn map(self, f: impl Fn(String) -> String) -> Self {
        Self {
            summary: f(self.summary),
            detail: self.detail.map(f),
        }
    }
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.detail {
            Some(detail) => write!(f, "{} [{detail}]", self.summary),
            None => f.write_str(&self.summary),
        }
    }
}

impl StoreError {
    /// The failure in one sentence, without the SDK's detail: what a grade
    /// stores as its reason.
    pub fn reason(&self) -> String {
        match self {
            StoreError::Unavailable(why) => format!("DynamoDB is unavailable: {}", why.summary),
            StoreError::Rejected(why) => format!("DynamoDB rejected the request: {}", why.summary),
            StoreError::Malformed(what) => format!("an item in the table is malformed: {what}"),
        }
    }

    /// The same failure, its text passed through `f` (to redact a secret).
    pub(crate) fn map_text(self, f: impl Fn(String) -> String) -> Self {
        match self {
            StoreError::Unavailable(why) => StoreError::Unavailable(why.map(f)),
            StoreError::Rejected(why) => StoreError::Rejected(why.map(f)),
            StoreError::Malformed(what) => StoreError::Malformed(f(what)),
        }
    }
}

impl<E> From<SdkError<E, HttpResponse>> for StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    fn from(err: SdkError<E, HttpResponse>) -> Self {
        let detail = DisplayErrorContext(&err).to_string();
        let why = |summary: String| Why::with_detail(summary, detail.clone());
        match &err {
            SdkError::ServiceError(service) => {
                let code = service.err().code().unwrap_or("an unnamed error");
                let transient = code.contains("Throttl")
                    || code == "ProvisionedThroughputExceededException"
                    || code == "RequestLimitExceeded"
                    || code == "InternalServerError"
                    || code == "ServiceUnavailable"
                    || service.raw().status().is_server_error();
                if transient {
                    StoreError::Unavailable(why(format!(
                        "it answered {code} (throttled or failing); the call is tried again later"
                    )))
                } else {
                    StoreError::Rejected(why(format!(
                        "it answered {code}; check the table name (TABLE_NAME) and the function's permissions"
                    )))
                }
            }
            SdkError::TimeoutError(_) => StoreError::Unavailable(why(
                "it did not answer within the time limit (DYNAMODB_TIMEOUT_MS); the call is tried again later".into(),
            )),
            SdkError::DispatchFailure(_) => StoreError::Unavailable(why(
                "it could not be reached (network or endpoint); the call is tried again later".into(),
            )),
            SdkError::ResponseError(_) => StoreError::Unavailable(why(
                "its answer could not be read; the call is tried again later".into(),
            )),
            _ => StoreError::Unavailable(why("the request could not be sent".into())),
        }
    }
}

/// The ltisync table.
#[derive(Clone, Debug)]
pub struct Store {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// Calls still running at this instant are cut (a sync run's stop).
    cut_at: Option<SystemTime>,
    /// What the calls consumed (one meter per run, see [`Store::metered`]).
    meter: std::sync::Arc<CapacityMeter>,
}

impl Store {
    /// A store on `table` through `client`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            cut_at: None,
            meter: Default::default(),
        }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// One item by its keys, read consistently (after a failed condition:
    /// what is there now).
    async fn item_at(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<
        Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>,
        StoreError,
    > {
        use aws_sdk_dynamodb::types::AttributeValue;
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(schema::PK, AttributeValue::S(pk.to_owned()))
            .key(schema::SK, AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .return_consumed_capacity(aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total)
            .send()
            .cut_off_by(self)
            .await??;
        self.meter.read(&out.consumed_capacity);
        Ok(out.item)
    }

    /// The same store, whose calls are cut at `cut_at`: a call that has not
    /// answered by then fails as [`StoreError::Unavailable`]. A write cut
    /// this way may or may not have taken effect; every write the sync makes
    /// is conditional, so either way the grade ends posted or still pending.
    pub fn cut_at(&self, cut_at: SystemTime) -> Self {
        Self {
            cut_at: Some(cut_at),
            ..self.clone()
        }
    }

    /// The same store with a meter of its own, starting at zero: what one
    /// run consumed is [`Store::consumed`] at its end.
    pub fn metered(&self) -> Self {
        Self {
            meter: Default::default(),
            ..self.clone()
        }
    }

    /// The capacity units this store's calls consumed so far.
    pub fn consumed(&self) -> ConsumedUnits {
        self.meter.reading()
    }
}

/// Every DynamoDB call goes through [`CutOff::cut_off_by`]: the store's cut-off
/// time, if it has one, bounds it. The SDK's future is boxed: it is large,
/// and kept inline it would grow every caller's future (and, in debug
/// builds, the stack a run's deepest call path needs) by its size.
trait CutOff: Future + Sized {
    async fn cut_off_by(self, store: &Store) -> Result<Self::Output, StoreError> {
        let call = Box::pin(self);
        let Some(cut_at) = store.cut_at else {
            return Ok(call.await);
        };
        let left = cut_at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        tokio::time::timeout(left, call).await.map_err(|_| {
            StoreError::Unavailable(Why::new(
                "it had not answered when the run's time ran out; the grade is tried again",
            ))
        })
    }
}

impl<F: Future> CutOff for F {}

/// ltisync's time limits for DynamoDB calls: each attempt and the whole
/// operation (retries included) are bounded, so a stalled table cannot hold a
/// function past its Lambda timeout. The one place they become SDK settings
/// (the functions' clients and the CLI's).
pub fn timeout_config(
    timeouts: &crate::config::DynamoDbTimeouts,
) -> aws_sdk_dynamodb::config::timeout::TimeoutConfig {
    aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .connect_timeout(timeouts.attempt)
        .operation_attempt_timeout(timeouts.attempt)
        .operation_timeout(timeouts.operation)
        .build()
}

/// The DynamoDB client with ltisync's timeouts ([`timeout_config`]).
pub fn with_timeouts(
    client: &aws_sdk_dynamodb::Client,
    timeouts: &crate::config::DynamoDbTimeouts,
) -> aws_sdk_dynamodb::Client {
    let config = client
        .config()
        .to_builder()
        .timeout_config(timeout_config(timeouts))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// The activity a partition key names (`ACT#<activity key>`), if any: the
/// one parser of `pk`.
pub fn activity_key_of(pk: &str) -> Option<ActivityKey> {
    pk.strip_prefix(schema::ACTIVITY_PREFIX)
        .and_then(|key| ActivityKey::parse(key).ok())
}

/// The partition key of an activity's items (`ACT#<activity key>`).
pub fn activity_pk(key: &ActivityKey) -> String {
    format!("{}{}", schema::ACTIVITY_PREFIX, key.as_str())
}

pub(crate) fn grade_sk(user_id: &str) -> String {
    format!("{}{}", schema::GRADE_PREFIX, encode_key_component(user_id))
}

pub(crate) fn now_rfc3339(now: time::OffsetDateTime) -> String {
    now.format(&time::format_description::well_known::Rfc3339)
        .expect("a UTC time always formats as RFC 3339")
}

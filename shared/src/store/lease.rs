//! Locks: the sync lease (at most one daily run at a time) and activity
//! claims (at most one poster per activity at a time, whichever path it
//! comes from).
//!
//! A lock is one item taken with a conditional put (free, or expired) and
//! given back with a conditional delete. It expires by itself at the end of
//! the holder's Lambda deadline plus a margin, so a crashed holder never
//! blocks the next one. DynamoDB's TTL deletes old lock items eventually;
//! the condition checks `expiresAt` itself, so correctness never waits for
//! TTL.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::dynamo::{ignore_condition_failure, is_condition_failure};
use super::{activity_pk, now_rfc3339, schema, CutOff, Store, StoreError, Why};
use crate::activity::ActivityKey;

const LEASE_PK: &str = "LEASE#sync";
const LEASE_SK: &str = "LEASE";

/// A lock: who holds it and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The holder (the run id).
    pub owner: String,
    /// When it lapses.
    pub expires_at: OffsetDateTime,
}

/// What asking for a lock found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// This run holds it.
    Acquired(Lease),
    /// Another run holds it; this one must wait or leave the work to it.
    HeldByAnother(Lease),
}

/// Where one lock's item lives.
#[derive(Debug, Clone, Copy)]
struct LockItem<'a> {
    pk: &'a str,
    sk: &'a str,
}

/// A lock item as stored: written and read through serde_dynamo.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LockRecord {
    pk: String,
    sk: String,
    /// The holder's run id.
    #[serde(default)]
    owner: Option<String>,
    /// When it was taken (RFC 3339).
    #[serde(default)]
    acquired_at: Option<String>,
    /// Epoch seconds; the table's TTL attribute.
    #[serde(default)]
    expires_at: Option<i64>,
}

impl LockRecord {
    fn to_item(&self) -> Result<HashMap<String, AttributeValue>, StoreError> {
        serde_dynamo::to_item(self).map_err(|e| StoreError::Rejected(Why::new(e.to_string())))
    }
}

impl Store {
    /// Takes the sync lease for `owner` until `expires_at`, or says who holds it.
    pub async fn acquire_lease(
        &self,
        owner: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<LeaseOutcome, StoreError> {
        let lock = LockItem {
            pk: LEASE_PK,
            sk: LEASE_SK,
        };
        self.acquire(lock, owner, now, expires_at).await
    }

    /// Gives the lease back, if this run still holds it.
    pub async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        let lock = LockItem {
            pk: LEASE_PK,
            sk: LEASE_SK,
        };
        self.release(lock, &lease.owner).await
    }

    /// Claims `activity` for `owner` until `expires_at`: nobody else posts
    /// its grades meanwhile.
    pub async fn claim_activity(
        &self,
        activity: &ActivityKey,
        owner: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<LeaseOutcome, StoreError> {
        let pk = activity_pk(activity);
        let lock = LockItem {
            pk: &pk,
            sk: schema::CLAIM_SK,
        };
        self.acquire(lock, owner, now, expires_at).await
    }

    /// Gives an activity's claim back, if `owner` still holds it.
    pub async fn release_activity(
        &self,
        activity: &ActivityKey,
        owner: &str,
    ) -> Result<(), StoreError> {
        let pk = activity_pk(activity);
        let lock = LockItem {
            pk: &pk,
            sk: schema::CLAIM_SK,
        };
        self.release(lock, owner).await
    }

    /// When the put took effect but its answer was lost, the SDK's retry
    /// fails the condition against this very holder's lock; reading the
    /// holder back recognises it, so a run never locks itself out.
    async fn acquire(
        &self,
        lock: LockItem<'_>,
        owner: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<LeaseOutcome, StoreError> {
        let record = LockRecord {
            pk: lock.pk.into(),
            sk: lock.sk.into(),
            owner: Some(owner.to_owned()),
            acquired_at: Some(now_rfc3339(now)),
            expires_at: Some(expires_at.unix_timestamp()),
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record.to_item()?))
            // A lock item without expiresAt is no lock (a foreign write, say a
            // grade-shaped PutItem over the claim's key): it is taken over.
            .condition_expression(
                "attribute_not_exists(pk) OR attribute_not_exists(#expires) OR #expires < :now",
            )
            .expression_attribute_names("#expires", schema::EXPIRES_AT)
            .expression_attribute_values(
                ":now",
                AttributeValue::N(now.unix_timestamp().to_string()),
            )
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .cut_off_by(self)
            .await?;
        let mine = Lease {
            owner: owner.to_owned(),
            expires_at,
        };
        match result {
            Ok(out) => {
                self.meter.write(&out.consumed_capacity);
                Ok(LeaseOutcome::Acquired(mine))
            }
            Err(e) if is_condition_failure(&e) => match self.holder(lock).await? {
                Some(held) if held.owner == owner => Ok(LeaseOutcome::Acquired(held)),
                Some(held) => Ok(LeaseOutcome::HeldByAnother(held)),
                None => Ok(LeaseOutcome::HeldByAnother(Lease {
                    owner: "unknown (released meanwhile)".into(),
                    expires_at,
                })),
            },
            Err(e) => Err(e.into()),
        }
    }

    async fn release(&self, lock: LockItem<'_>, owner: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(schema::PK, AttributeValue::S(lock.pk.into()))
            .key(schema::SK, AttributeValue::S(lock.sk.into()))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .cut_off_by(self)
            .await?
            .map(|out| self.meter.write(&out.consumed_capacity))
            .or_else(ignore_condition_failure)
    }

    async fn holder(&self, lock: LockItem<'_>) -> Result<Option<Lease>, StoreError> {
        let Some(item) = self.item_at(lock.pk, lock.sk).await? else {
            return Ok(None);
        };
        let record: LockRecord = serde_dynamo::from_item(item)
            .map_err(|e| StoreError::Malformed(format!("the lock {}: {e}", lock.pk)))?;
        let owner = record.owner.unwrap_or_else(|| "unknown".into());
        let expires_at = record
            .expires_at
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
            .ok_or_else(|| {
                StoreError::Malformed(format!("the lock {} has no valid expiresAt", lock.pk))
            })?;
        Ok(Some(Lease { owner, expires_at }))
    }
}

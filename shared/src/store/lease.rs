//! The sync lease: one item that at most one run holds at a time.
//!
//! A run takes it with a conditional put (free, or expired) and gives it
//! back when done. It expires by itself at the end of the holder's Lambda
//! deadline plus a margin, so a crashed run never blocks the next one.
//! DynamoDB's TTL deletes old lease items eventually; the condition checks
//! `expiresAt` itself, so correctness never waits for TTL.

use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use super::activities::is_condition_failure;
use super::{now_rfc3339, schema, Store, StoreError, Within};

const LEASE_PK: &str = "LEASE#sync";
const LEASE_SK: &str = "LEASE";

/// A lease: who holds it and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The holder (the run id).
    pub owner: String,
    /// When it lapses.
    pub expires_at: OffsetDateTime,
}

/// What asking for the lease found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// This run holds the lease.
    Acquired(Lease),
    /// Another run holds it; this one must not sync.
    HeldByAnother(Lease),
}

impl Store {
    /// Takes the lease for `owner` until `expires_at`, or says who holds it.
    ///
    /// When the put took effect but its answer was lost, the SDK's retry
    /// fails the condition against this very run's lease; reading the holder
    /// back recognises it, so a run never locks itself out.
    pub async fn acquire_lease(
        &self,
        owner: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<LeaseOutcome, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(schema::PK, AttributeValue::S(LEASE_PK.into()))
            .item(schema::SK, AttributeValue::S(LEASE_SK.into()))
            .item("owner", AttributeValue::S(owner.to_owned()))
            .item("acquiredAt", AttributeValue::S(now_rfc3339(now)))
            .item(
                schema::EXPIRES_AT,
                AttributeValue::N(expires_at.unix_timestamp().to_string()),
            )
            .condition_expression("attribute_not_exists(pk) OR #expires < :now")
            .expression_attribute_names("#expires", schema::EXPIRES_AT)
            .expression_attribute_values(
                ":now",
                AttributeValue::N(now.unix_timestamp().to_string()),
            )
            .send()
            .within(self)
            .await?;
        let mine = Lease {
            owner: owner.to_owned(),
            expires_at,
        };
        match result {
            Ok(_) => Ok(LeaseOutcome::Acquired(mine)),
            Err(e) if is_condition_failure(&e) => match self.current_lease().await? {
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

    /// Gives the lease back, if this run still holds it.
    pub async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(schema::PK, AttributeValue::S(LEASE_PK.into()))
            .key(schema::SK, AttributeValue::S(LEASE_SK.into()))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", AttributeValue::S(lease.owner.clone()))
            .send()
            .within(self)
            .await?
            .map(drop)
            .or_else(super::activities::ignore_condition_failure)
    }

    async fn current_lease(&self) -> Result<Option<Lease>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(schema::PK, AttributeValue::S(LEASE_PK.into()))
            .key(schema::SK, AttributeValue::S(LEASE_SK.into()))
            .consistent_read(true)
            .send()
            .within(self)
            .await??;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let owner = match item.get("owner") {
            Some(AttributeValue::S(o)) => o.clone(),
            _ => "unknown".into(),
        };
        let expires_at = match item.get(schema::EXPIRES_AT) {
            Some(AttributeValue::N(n)) => n
                .parse::<i64>()
                .ok()
                .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok()),
            _ => None,
        }
        .ok_or_else(|| StoreError::Malformed("the lease item has no valid expiresAt".into()))?;
        Ok(Some(Lease { owner, expires_at }))
    }
}

//! Activity items: written by every launch, read and annotated by the sync.

use std::collections::HashMap;

use super::activity_item::ActivityItem;
use super::dynamo::Update;
use super::{activity_pk, now_rfc3339, schema, CutOff, Store, StoreError};
use crate::activity::{Activity, ActivityIds, ActivityKey, LaunchCapture, LineItemPreferences};
use crate::secrets::{ExposeSecret, ServiceKey};
use aws_sdk_dynamodb::types::AttributeValue;

impl Store {
    /// Records a launch: one unconditional upsert of the activity.
    ///
    /// It sets the ids, titles, platform and last launch time, keeps the
    /// first launch time, counts launches, and replaces the service key when
    /// the launch carried one (clearing any "needs relaunch" mark, since a
    /// fresh key is what that mark waits for). A launch without a key leaves
    /// the stored key alone. Attributes the sync owns (line item cache) and
    /// the tool owns (line item preferences) are never touched.
    pub async fn record_launch(
        &self,
        launch: &LaunchCapture,
        now: time::OffsetDateTime,
    ) -> Result<(), StoreError> {
        let key = launch.ids.key();
        let written = ActivityItem::from_launch(launch, now).to_item()?;
        let mut update = Update::default();
        for (name, value) in written {
            match name.as_str() {
                "firstLaunchAt" => update.set_if_absent(&name, value),
                "launchCount" => update.add(&name, value),
                _ => update.set(&name, value),
            }
        }
        for name in ActivityItem::cleared_by(launch) {
            update.remove(name);
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .key(schema::PK, AttributeValue::S(activity_pk(&key)))
            .key(schema::SK, AttributeValue::S(schema::ACTIVITY_SK.into()))
            .update_expression(update.expression())
            .set_expression_attribute_names(Some(update.names))
            .set_expression_attribute_values(Some(update.values))
            .send()
            .cut_off_by(self)
            .await?
            .map_err(|e| scrub(StoreError::from(e), launch.service_key.as_ref()))?;
        Ok(())
    }

    /// Reads many activities (consistently, 100 per request). Each one that
    /// exists comes back parsed, or with the reason it cannot be read, so one
    /// malformed item blocks only its own grades.
    pub async fn activities(
        &self,
        keys: &[ActivityKey],
    ) -> Result<HashMap<ActivityKey, Result<Activity, String>>, StoreError> {
        Ok(self
            .batch_get(keys.iter().map(activity_item_key).collect())
            .await?
            .into_iter()
            .filter_map(parse_activity_item)
            .collect())
    }

    /// Caches the line item the sync resolved for `key`.
    pub async fn cache_line_item(
        &self,
        key: &ActivityKey,
        line_item_id: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .update_at(activity_pk(key), schema::ACTIVITY_SK.into())
            .update_expression("SET lineItemId = :id")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":id", AttributeValue::S(line_item_id.to_owned()))
            .send()
            .cut_off_by(self)
            .await?;
        self.applied(result).map(drop)
    }

    /// Drops a cached line item id the LMS no longer knows, unless another
    /// writer already changed it.
    pub async fn forget_line_item(
        &self,
        key: &ActivityKey,
        line_item_id: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .update_at(activity_pk(key), schema::ACTIVITY_SK.into())
            .update_expression("REMOVE lineItemId")
            .condition_expression("lineItemId = :id")
            .expression_attribute_values(":id", AttributeValue::S(line_item_id.to_owned()))
            .send()
            .cut_off_by(self)
            .await?;
        self.applied(result).map(drop)
    }

    /// Marks the activity as needing a relaunch because LTIaaS refused
    /// `service_key`. Only applies while that key is still the stored one:
    /// a launch that replaced it in the meantime wins. True when applied.
    pub async fn mark_needs_relaunch(
        &self,
        key: &ActivityKey,
        service_key: &ServiceKey,
        reason: &str,
        now: time::OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let result = self
            .update_at(activity_pk(key), schema::ACTIVITY_SK.into())
            .update_expression("SET needsRelaunch = :reason, needsRelaunchAt = :now")
            .condition_expression("serviceKey = :key")
            .expression_attribute_values(":reason", AttributeValue::S(reason.to_owned()))
            .expression_attribute_values(":now", AttributeValue::S(now_rfc3339(now)))
            .expression_attribute_values(
                ":key",
                AttributeValue::S(service_key.expose_secret().to_owned()),
            )
            .send()
            .cut_off_by(self)
            .await?;
        self.applied(result)
            .map_err(|e| scrub(e, Some(service_key)))
    }

    /// Sets how the sync picks or creates the activity's line item (the
    /// tool's choice; launches and the sync never change it).
    pub async fn set_line_item_preferences(
        &self,
        ids: &ActivityIds,
        preferences: &LineItemPreferences,
    ) -> Result<(), StoreError> {
        let mut update = Update::default();
        update.set("platformId", AttributeValue::S(ids.platform_id.clone()));
        update.set("contextId", AttributeValue::S(ids.context_id.clone()));
        update.set(
            "resourceLinkId",
            AttributeValue::S(ids.resource_link_id.clone()),
        );
        for (attribute, value) in [
            ("lineItemResourceId", preferences.resource_id.as_ref()),
            ("lineItemTag", preferences.tag.as_ref()),
            ("lineItemLabel", preferences.label.as_ref()),
        ] {
            match value {
                Some(v) => update.set(attribute, AttributeValue::S(v.clone())),
                None => update.remove(attribute),
            }
        }
        match preferences.score_maximum {
            Some(max) => update.set("lineItemScoreMaximum", AttributeValue::N(max.to_string())),
            None => update.remove("lineItemScoreMaximum"),
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .key(schema::PK, AttributeValue::S(activity_pk(&ids.key())))
            .key(schema::SK, AttributeValue::S(schema::ACTIVITY_SK.into()))
            .update_expression(update.expression())
            .set_expression_attribute_names(Some(update.names))
            .set_expression_attribute_values(Some(update.values))
            .send()
            .cut_off_by(self)
            .await??;
        Ok(())
    }
}

/// The key of an activity's item.
pub(super) fn activity_item_key(key: &ActivityKey) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (schema::PK.to_owned(), AttributeValue::S(activity_pk(key))),
        (
            schema::SK.to_owned(),
            AttributeValue::S(schema::ACTIVITY_SK.into()),
        ),
    ])
}

/// An activity item (or its copy in the work index) as the sync reads it:
/// its key, and the activity or why it cannot be read, so one malformed
/// item blocks only its own grades. `None`: the item names no activity.
pub(super) fn parse_activity_item(
    item: HashMap<String, AttributeValue>,
) -> Option<(ActivityKey, Result<Activity, String>)> {
    let key = match item.get(schema::PK) {
        Some(AttributeValue::S(pk)) => super::activity_key_of(pk),
        _ => None,
    }?;
    let parsed = parse_activity(item)
        .map_err(|e| e.to_string())
        .and_then(|activity| {
            if activity.key == key {
                Ok(activity)
            } else {
                Err("the platformId, contextId and resourceLinkId do not match the pk".into())
            }
        });
    Some((key, parsed))
}

fn parse_activity(item: HashMap<String, AttributeValue>) -> Result<Activity, StoreError> {
    // The item holds the service key: errors name attributes, never values.
    let parsed: ActivityItem = crate::parse::item(item).map_err(StoreError::Malformed)?;
    Activity::try_from(parsed)
}

/// Keeps a service key out of an error message, whatever DynamoDB echoed.
fn scrub(err: StoreError, key: Option<&ServiceKey>) -> StoreError {
    let Some(key) = key else { return err };
    let secret = key.expose_secret();
    err.map_text(|text| text.replace(secret, "[redacted]"))
}

//! Activity items: written by every launch, read and annotated by the sync.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Deserialize;

use super::dynamo::{ignore_condition_failure, is_condition_failure, Update};
use super::{activity_pk, now_rfc3339, schema, Store, StoreError, Within};
use crate::activity::{
    Activity, ActivityIds, ActivityKey, GrantedServices, LaunchCapture, LineItemPreferences,
};
use crate::secrets::{ExposeSecret, ServiceKey};

/// An activity item as stored (see the README for every attribute).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActivityItem {
    platform_id: String,
    context_id: String,
    resource_link_id: String,
    #[serde(default)]
    service_key: Option<String>,
    #[serde(default)]
    resource_link_title: Option<String>,
    #[serde(default)]
    line_item_id: Option<String>,
    #[serde(default)]
    launch_line_item_id: Option<String>,
    #[serde(default)]
    line_item_resource_id: Option<String>,
    #[serde(default)]
    line_item_tag: Option<String>,
    #[serde(default)]
    line_item_label: Option<String>,
    #[serde(default)]
    line_item_score_maximum: Option<f64>,
    #[serde(default)]
    needs_relaunch: Option<String>,
    #[serde(default)]
    product_family_code: Option<String>,
    #[serde(default)]
    names_and_roles_available: Option<bool>,
    #[serde(default)]
    ags_scopes: Option<Vec<String>>,
}

impl TryFrom<ActivityItem> for Activity {
    type Error = StoreError;

    fn try_from(item: ActivityItem) -> Result<Self, StoreError> {
        let ids = ActivityIds::new(item.platform_id, item.context_id, item.resource_link_id)
            .map_err(|e| StoreError::Malformed(e.to_string()))?;
        Ok(Activity {
            key: ids.key(),
            ids,
            service_key: item.service_key.map(ServiceKey::new),
            resource_link_title: item.resource_link_title,
            line_item_id: item.line_item_id,
            launch_line_item_id: item.launch_line_item_id,
            line_item_preferences: LineItemPreferences {
                resource_id: item.line_item_resource_id,
                tag: item.line_item_tag,
                label: item.line_item_label,
                score_maximum: item.line_item_score_maximum,
            },
            needs_relaunch: item.needs_relaunch,
            services: GrantedServices {
                product_family_code: item.product_family_code,
                names_and_roles: item.names_and_roles_available,
                ags_scopes: item.ags_scopes,
            },
        })
    }
}

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
        let now = AttributeValue::S(now_rfc3339(now));
        let mut update = Update::default();
        update.set("activityKey", AttributeValue::S(key.as_str().to_owned()));
        update.set(
            "platformId",
            AttributeValue::S(launch.ids.platform_id.clone()),
        );
        update.set(
            "contextId",
            AttributeValue::S(launch.ids.context_id.clone()),
        );
        update.set(
            "resourceLinkId",
            AttributeValue::S(launch.ids.resource_link_id.clone()),
        );
        update.set_optional("contextTitle", launch.context_title.as_ref());
        update.set_optional("resourceLinkTitle", launch.resource_link_title.as_ref());
        update.set_optional("platformName", launch.platform_name.as_ref());
        update.set_optional("platformUrl", launch.platform_url.as_ref());
        update.set("lastLaunchAt", now.clone());
        update.set_if_absent("firstLaunchAt", now.clone());
        update.add("launchCount", AttributeValue::N("1".into()));
        update.replace(
            "launchLineItemId",
            launch.line_item_hint.clone().map(AttributeValue::S),
        );
        if let Some(service_key) = &launch.service_key {
            update.set(
                "serviceKey",
                AttributeValue::S(service_key.expose_secret().to_owned()),
            );
            update.set("serviceKeyAt", now);
            update.remove("needsRelaunch");
            record_services(&mut update, &launch.services);
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
            .within(self)
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
        let keys: Vec<HashMap<String, AttributeValue>> = keys
            .iter()
            .map(|key| {
                HashMap::from([
                    (schema::PK.to_owned(), AttributeValue::S(activity_pk(key))),
                    (
                        schema::SK.to_owned(),
                        AttributeValue::S(schema::ACTIVITY_SK.into()),
                    ),
                ])
            })
            .collect();
        let mut found = HashMap::new();
        for item in self.batch_get(keys).await? {
            let key = match item.get(schema::PK) {
                Some(AttributeValue::S(pk)) => pk
                    .strip_prefix(schema::ACTIVITY_PREFIX)
                    .and_then(|k| ActivityKey::parse(k).ok()),
                _ => None,
            };
            if let Some(key) = key {
                let parsed = parse_activity(item)
                    .map_err(|e| e.to_string())
                    .and_then(|activity| {
                        if activity.key == key {
                            Ok(activity)
                        } else {
                            Err(
                                "the platformId, contextId and resourceLinkId do not match the pk"
                                    .into(),
                            )
                        }
                    });
                found.insert(key, parsed);
            }
        }
        Ok(found)
    }

    /// Caches the line item the sync resolved for `key`.
    pub async fn cache_line_item(
        &self,
        key: &ActivityKey,
        line_item_id: &str,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(schema::PK, AttributeValue::S(activity_pk(key)))
            .key(schema::SK, AttributeValue::S(schema::ACTIVITY_SK.into()))
            .update_expression("SET lineItemId = :id")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":id", AttributeValue::S(line_item_id.to_owned()))
            .send()
            .within(self)
            .await?
            .map(drop)
            .or_else(ignore_condition_failure)
    }

    /// Drops a cached line item id the LMS no longer knows, unless another
    /// writer already changed it.
    pub async fn forget_line_item(
        &self,
        key: &ActivityKey,
        line_item_id: &str,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(schema::PK, AttributeValue::S(activity_pk(key)))
            .key(schema::SK, AttributeValue::S(schema::ACTIVITY_SK.into()))
            .update_expression("REMOVE lineItemId")
            .condition_expression("lineItemId = :id")
            .expression_attribute_values(":id", AttributeValue::S(line_item_id.to_owned()))
            .send()
            .within(self)
            .await?
            .map(drop)
            .or_else(ignore_condition_failure)
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
            .client
            .update_item()
            .table_name(&self.table)
            .key(schema::PK, AttributeValue::S(activity_pk(key)))
            .key(schema::SK, AttributeValue::S(schema::ACTIVITY_SK.into()))
            .update_expression("SET needsRelaunch = :reason, needsRelaunchAt = :now")
            .condition_expression("serviceKey = :key")
            .expression_attribute_values(":reason", AttributeValue::S(reason.to_owned()))
            .expression_attribute_values(":now", AttributeValue::S(now_rfc3339(now)))
            .expression_attribute_values(
                ":key",
                AttributeValue::S(service_key.expose_secret().to_owned()),
            )
            .send()
            .within(self)
            .await?;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(scrub(e.into(), Some(service_key))),
        }
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
            .within(self)
            .await??;
        Ok(())
    }
}

fn parse_activity(item: HashMap<String, AttributeValue>) -> Result<Activity, StoreError> {
    let parsed: ActivityItem =
        serde_dynamo::from_item(item).map_err(|e| StoreError::Malformed(e.to_string()))?;
    Activity::try_from(parsed)
}

/// What the new service key may do: recorded with the key (and only with
/// one), since it describes that key. Anything the launch did not report is
/// removed, so a stale scope list never outlives its key.
fn record_services(update: &mut Update, services: &GrantedServices) {
    update.replace(
        "productFamilyCode",
        services.product_family_code.clone().map(AttributeValue::S),
    );
    update.replace(
        "namesAndRolesAvailable",
        services.names_and_roles.map(AttributeValue::Bool),
    );
    update.replace(
        "agsScopes",
        services.ags_scopes.as_ref().map(|scopes| {
            AttributeValue::L(scopes.iter().cloned().map(AttributeValue::S).collect())
        }),
    );
}

/// Keeps a service key out of an error message, whatever DynamoDB echoed.
fn scrub(err: StoreError, key: Option<&ServiceKey>) -> StoreError {
    let Some(key) = key else { return err };
    let secret = key.expose_secret();
    let clean = |text: String| text.replace(secret, "[redacted]");
    match err {
        StoreError::Unavailable(t) => StoreError::Unavailable(clean(t)),
        StoreError::Rejected(t) => StoreError::Rejected(clean(t)),
        StoreError::Malformed(t) => StoreError::Malformed(clean(t)),
    }
}

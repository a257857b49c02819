//! The activity item (`ACT#<key>` / `ACTIVITY`): the one struct that reads
//! it and that says what a launch writes. Each launch serialises the
//! attributes it owns through serde_dynamo and sets exactly those (an
//! upsert: the sync's line item cache and relaunch mark, and the tool's
//! line item preferences, are left alone); [`ActivityItem::cleared_by`]
//! names what it removes.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::{now_rfc3339, StoreError, Why};
use crate::activity::{Activity, ActivityIds, GrantedServices, LaunchCapture, LineItemPreferences};
use crate::secrets::{ExposeSecret, ServiceKey};

/// An activity item as stored (see docs/writing-grades.md, "Line items", for what the tool sets). No
/// `Debug`: it holds the service key in clear.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityItem {
    /// A copy of `pk`: puts the activity in the work index, beside its
    /// pending grades (set by every launch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
    /// `platform.id` of the launch.
    pub platform_id: String,
    /// `launch.context.id`.
    pub context_id: String,
    /// `launch.resourceLink.id`.
    pub resource_link_id: String,
    /// The activity key, for people reading the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_key: Option<String>,
    /// Course title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_title: Option<String>,
    /// Activity title (label of a created line item).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_link_title: Option<String>,
    /// LMS name in LTIaaS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_name: Option<String>,
    /// LMS URL in LTIaaS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_url: Option<String>,
    /// The last launch (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_launch_at: Option<String>,
    /// The first launch (set once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_launch_at: Option<String>,
    /// Launches counted (a launch adds 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_count: Option<u64>,
    /// The newest service key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_key: Option<String>,
    /// When it was captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_key_at: Option<String>,
    /// The line item the LMS named at the last launch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_line_item_id: Option<String>,
    /// The LMS product (`canvas`, ...), with the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_family_code: Option<String>,
    /// Whether names and roles is offered, with the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names_and_roles_available: Option<bool>,
    /// The AGS scopes granted, with the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ags_scopes: Option<Vec<String>>,
    /// The sync's line item cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_item_id: Option<String>,
    /// Set by the sync when LTIaaS refused the key: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs_relaunch: Option<String>,
    /// Tool preference: the line item's `resourceId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_item_resource_id: Option<String>,
    /// Tool preference: the line item's `tag`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_item_tag: Option<String>,
    /// Tool preference: a created line item's label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_item_label: Option<String>,
    /// Tool preference: a created line item's `scoreMaximum`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_item_score_maximum: Option<f64>,
}

impl ActivityItem {
    /// What one launch writes: ids, titles, platform, launch times and
    /// count, the line item it named, and with a service key the key, its
    /// time and what it may do.
    pub fn from_launch(launch: &LaunchCapture, now: time::OffsetDateTime) -> Self {
        let now = now_rfc3339(now);
        let with_key = |value| launch.service_key.as_ref().and(value);
        Self {
            pending: Some(super::activity_pk(&launch.ids.key())),
            platform_id: launch.ids.platform_id.clone(),
            context_id: launch.ids.context_id.clone(),
            resource_link_id: launch.ids.resource_link_id.clone(),
            activity_key: Some(launch.ids.key().to_string()),
            context_title: launch.context_title.clone(),
            resource_link_title: launch.resource_link_title.clone(),
            platform_name: launch.platform_name.clone(),
            platform_url: launch.platform_url.clone(),
            last_launch_at: Some(now.clone()),
            first_launch_at: Some(now.clone()),
            launch_count: Some(1),
            service_key: launch
                .service_key
                .as_ref()
                .map(|k| k.expose_secret().to_owned()),
            service_key_at: with_key(Some(now)),
            launch_line_item_id: launch.line_item_hint.clone(),
            product_family_code: with_key(launch.services.product_family_code.clone()),
            names_and_roles_available: launch
                .service_key
                .as_ref()
                .and(launch.services.names_and_roles),
            ags_scopes: launch
                .service_key
                .as_ref()
                .and(launch.services.ags_scopes.clone()),
            ..Self::default()
        }
    }

    /// What a launch removes: the line item it did not name, and with a
    /// fresh key the relaunch mark (the key is what it waits for) and
    /// whatever the key's launch did not report about it, so no stale scope
    /// outlives its key.
    pub fn cleared_by(launch: &LaunchCapture) -> Vec<&'static str> {
        let mut cleared = Vec::new();
        if launch.line_item_hint.is_none() {
            cleared.push("launchLineItemId");
        }
        if launch.service_key.is_some() {
            cleared.push("needsRelaunch");
            let services = &launch.services;
            for (name, absent) in [
                ("productFamilyCode", services.product_family_code.is_none()),
                ("namesAndRolesAvailable", services.names_and_roles.is_none()),
                ("agsScopes", services.ags_scopes.is_none()),
            ] {
                if absent {
                    cleared.push(name);
                }
            }
        }
        cleared
    }

    /// The attributes as DynamoDB stores them (absent fields left out).
    pub fn to_item(&self) -> Result<HashMap<String, AttributeValue>, StoreError> {
        serde_dynamo::to_item(self).map_err(|e| StoreError::Rejected(Why::new(e.to_string())))
    }
}

/// The attributes [`Activity`] is built from: what the work index must
/// project for its copy of an activity to serve a sync (a test ties the
/// list to the conversion below).
pub const SYNC_READS: [&str; 15] = [
    "platformId",
    "contextId",
    "resourceLinkId",
    "resourceLinkTitle",
    "serviceKey",
    "launchLineItemId",
    "productFamilyCode",
    "namesAndRolesAvailable",
    "agsScopes",
    "lineItemId",
    "needsRelaunch",
    "lineItemResourceId",
    "lineItemTag",
    "lineItemLabel",
    "lineItemScoreMaximum",
];

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

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(key: Option<&str>) -> LaunchCapture {
        LaunchCapture {
            ids: ActivityIds::new("p", "c", "r").unwrap(),
            service_key: key.map(ServiceKey::new),
            context_title: Some("Course".into()),
            resource_link_title: None,
            platform_name: None,
            platform_url: None,
            line_item_hint: None,
            services: GrantedServices {
                product_family_code: Some("canvas".into()),
                names_and_roles: Some(true),
                ags_scopes: None,
            },
        }
    }

    #[test]
    fn a_launch_writes_its_own_attributes_and_no_one_elses() {
        let now = time::macros::datetime!(2026-11-28 09:30 UTC);
        let item = ActivityItem::from_launch(&launch(Some("svc")), now)
            .to_item()
            .unwrap();
        let mut names: Vec<&str> = item.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "activityKey",
                "contextId",
                "contextTitle",
                "firstLaunchAt",
                "lastLaunchAt",
                "launchCount",
                "namesAndRolesAvailable",
                "pending",
                "platformId",
                "productFamilyCode",
                "resourceLinkId",
                "serviceKey",
                "serviceKeyAt"
            ]
        );
        assert_eq!(item["pending"], AttributeValue::S("ACT#p#c#r".into()));
        assert_eq!(item["namesAndRolesAvailable"], AttributeValue::Bool(true));
        assert_eq!(
            ActivityItem::cleared_by(&launch(Some("svc"))),
            ["launchLineItemId", "needsRelaunch", "agsScopes"]
        );
        let keyless = ActivityItem::from_launch(&launch(None), now)
            .to_item()
            .unwrap();
        assert!(!keyless.contains_key("serviceKey") && !keyless.contains_key("productFamilyCode"));
        assert_eq!(
            ActivityItem::cleared_by(&launch(None)),
            ["launchLineItemId"]
        );
    }

    /// Every field of the item, each with a value of its own.
    fn full_item() -> HashMap<String, AttributeValue> {
        let mut launch = launch(Some("svc"));
        launch.resource_link_title = Some("Quiz".into());
        launch.platform_name = Some("LMS".into());
        launch.platform_url = Some("https://lms.example".into());
        launch.line_item_hint = Some("https://lms.example/li/1".into());
        launch.services.ags_scopes = Some(vec!["scope/score".into()]);
        let mut item = ActivityItem::from_launch(&launch, time::OffsetDateTime::UNIX_EPOCH);
        item.line_item_id = Some("https://lms.example/li/2".into());
        item.needs_relaunch = Some("refused".into());
        item.line_item_resource_id = Some("res".into());
        item.line_item_tag = Some("tag".into());
        item.line_item_label = Some("label".into());
        item.line_item_score_maximum = Some(50.0);
        item.to_item().unwrap()
    }

    /// The activity read from `item`, key included (its `Debug` hides it).
    fn activity_of(item: HashMap<String, AttributeValue>) -> String {
        let parsed: ActivityItem = serde_dynamo::from_item(item).unwrap();
        let activity = Activity::try_from(parsed).unwrap();
        let key = activity
            .service_key
            .as_ref()
            .map(|k| k.expose_secret().to_owned());
        format!("{activity:?} {key:?}")
    }

    #[test]
    fn the_work_index_copy_holds_everything_a_sync_reads() {
        let full = full_item();
        let copy: HashMap<_, _> = full
            .iter()
            .filter(|(name, _)| SYNC_READS.contains(&name.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(
            activity_of(copy),
            activity_of(full.clone()),
            "an activity read from its index copy is the one read from the table"
        );
        // And each of them matters: dropping one changes the activity.
        for name in SYNC_READS {
            let mut less = full.clone();
            less.remove(name);
            let parsed = serde_dynamo::from_item::<_, ActivityItem>(less.clone())
                .ok()
                .and_then(|i| Activity::try_from(i).ok());
            if parsed.is_some() {
                assert_ne!(
                    activity_of(less),
                    activity_of(full.clone()),
                    "{name} is listed but not read"
                );
            }
        }
    }
}

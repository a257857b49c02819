//! Activities: one LMS resource link in one course on one platform, the
//! unit a service key is tied to.
//!
//! # The activity key
//! An activity is named by its three LTI ids. They come from the LMS and may
//! contain any character (`#`, `/`, `%`, spaces, non-ASCII), so the key is
//! built so that no two different triples can produce the same string:
//!
//! ```text
//! activity key = enc(platform id) "#" enc(context id) "#" enc(resource link id)
//! enc(s)       = percent-encoding of the UTF-8 bytes of s, every byte outside
//!                A-Z a-z 0-9 - _ . ~ written as %XX (upper-case hex)
//! ```
//!
//! `#` never survives encoding, so the two separators are unambiguous and
//! decoding gives back exactly the original ids. Python's
//! `urllib.parse.quote(s, safe="")` computes `enc` exactly; in JavaScript
//! it is `encodeURIComponent(s)` with `!'()*` also percent-encoded.

use std::fmt;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use thiserror::Error;

use crate::secrets::ServiceKey;

/// Everything but the RFC 3986 unreserved characters is encoded.
pub(crate) const KEY_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes one id for use inside a key (see the module docs).
pub fn encode_key_component(id: &str) -> String {
    utf8_percent_encode(id, KEY_COMPONENT).to_string()
}

/// The three LTI ids that name an activity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActivityIds {
    /// The LTIaaS registration id of the LMS (`platform.id` in the ID token).
    pub platform_id: String,
    /// The course (`launch.context.id`).
    pub context_id: String,
    /// The activity's link in the course (`launch.resourceLink.id`).
    pub resource_link_id: String,
}

/// Why a set of ids or a key cannot name an activity.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum InvalidActivity {
    /// One of the three ids is empty.
    #[error(
        "the {0} is empty; an activity needs a platform id, a context id and a resource link id"
    )]
    EmptyId(&'static str),
    /// A key that is not three encoded ids joined by `#`.
    #[error("'{0}' is not an activity key: expected three percent-encoded ids joined by '#'")]
    MalformedKey(String),
}

impl ActivityIds {
    /// Names an activity; every id must be non-empty.
    pub fn new(
        platform_id: impl Into<String>,
        context_id: impl Into<String>,
        resource_link_id: impl Into<String>,
    ) -> Result<Self, InvalidActivity> {
        let ids = Self {
            platform_id: platform_id.into(),
            context_id: context_id.into(),
            resource_link_id: resource_link_id.into(),
        };
        for (name, value) in [
            ("platform id", &ids.platform_id),
            ("context id", &ids.context_id),
            ("resource link id", &ids.resource_link_id),
        ] {
            if value.is_empty() {
                return Err(InvalidActivity::EmptyId(name));
            }
        }
        Ok(ids)
    }

    /// The collision-free key of this activity.
    pub fn key(&self) -> ActivityKey {
        ActivityKey(format!(
            "{}#{}#{}",
            encode_key_component(&self.platform_id),
            encode_key_component(&self.context_id),
            encode_key_component(&self.resource_link_id)
        ))
    }
}

/// The encoded form of [`ActivityIds`], as stored in DynamoDB keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActivityKey(String);

impl ActivityKey {
    /// Parses a key written by [`ActivityIds::key`] (or by a tool following
    /// the documented encoding) and checks it decodes to three ids.
    pub fn parse(key: &str) -> Result<Self, InvalidActivity> {
        Self::decode(key).map(|_| Self(key.to_owned()))
    }

    /// The three ids this key names.
    pub fn ids(&self) -> ActivityIds {
        Self::decode(&self.0).expect("an ActivityKey is valid by construction")
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The canonical key of what `raw` was meant to say, when `raw` has
    /// three parts that decode but is not itself canonical (a raw `/`,
    /// lower-case hex, `+` for a space): what a tool's wrong escaping should
    /// have written. A `+` is read as a space, as form encoding writes one.
    /// `None` when `raw` is canonical or not three parts.
    pub fn canonical_of(raw: &str) -> Option<ActivityKey> {
        let parts: Vec<String> = raw
            .split('#')
            .map(|part| {
                let spaced = part.replace('+', " ");
                percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
            })
            .collect();
        let [platform, context, link] = parts.as_slice() else {
            return None;
        };
        let key = ActivityIds::new(platform, context, link).ok()?.key();
        (key.as_str() != raw).then_some(key)
    }

    fn decode(key: &str) -> Result<ActivityIds, InvalidActivity> {
        let malformed = || InvalidActivity::MalformedKey(crate::excerpt::excerpt(key));
        let parts: Vec<&str> = key.split('#').collect();
        let [platform, context, link] = parts.as_slice() else {
            return Err(malformed());
        };
        let decode = |part: &str| -> Result<String, InvalidActivity> {
            // Only the canonical encoding is a key: anything else would let
            // two spellings name the same activity.
            let decoded = percent_decode_str(part)
                .decode_utf8()
                .map_err(|_| malformed())?
                .into_owned();
            if encode_key_component(&decoded) != part {
                return Err(malformed());
            }
            Ok(decoded)
        };
        ActivityIds::new(decode(platform)?, decode(context)?, decode(link)?)
            .map_err(|_| malformed())
    }
}

impl fmt::Display for ActivityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What one launch tells us about its activity; written on every launch.
#[derive(Debug, Clone)]
pub struct LaunchCapture {
    /// The activity launched.
    pub ids: ActivityIds,
    /// The context's service key; absent when the LMS offers neither grades
    /// nor roster services there.
    pub service_key: Option<ServiceKey>,
    /// Course title, for people reading the table.
    pub context_title: Option<String>,
    /// Activity title; also the label of a line item the sync creates.
    pub resource_link_title: Option<String>,
    /// LMS name as registered in LTIaaS.
    pub platform_name: Option<String>,
    /// LMS URL as registered in LTIaaS.
    pub platform_url: Option<String>,
    /// The line item the LMS tied to this link, when it told us
    /// (`services.assignmentAndGrades.lineItemId`).
    pub line_item_hint: Option<String>,
    /// What the service key may do, as the launch that carried it said.
    pub services: GrantedServices,
}

/// What an activity's service key may do, as its launch reported it
/// (`platform.productFamilyCode`, `services.namesAndRoles.available`,
/// `services.assignmentAndGrades.scopes`). `None` everywhere means
/// "not reported" (an older launch, a sparse ID token): the sync then
/// behaves as if everything were granted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GrantedServices {
    /// The LMS product (`canvas`, `moodle`, ...).
    pub product_family_code: Option<String>,
    /// Whether the names and roles service (the course roster) is offered.
    pub names_and_roles: Option<bool>,
    /// The AGS scopes granted.
    pub ags_scopes: Option<Vec<String>>,
}

/// AGS scope: read and write line items.
pub const LINE_ITEM_SCOPE: &str = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem";
/// AGS scope: read line items only.
pub const LINE_ITEM_READONLY_SCOPE: &str =
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly";
/// AGS scope: post scores.
pub const SCORE_SCOPE: &str = "https://purl.imsglobal.org/spec/lti-ags/scope/score";
/// AGS scope: read the gradebook's results.
pub const RESULT_SCOPE: &str = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly";

impl GrantedServices {
    fn grants(&self, scope: &str) -> bool {
        self.ags_scopes
            .as_ref()
            .is_none_or(|granted| granted.iter().any(|s| s == scope))
    }

    /// Whether scores may be posted.
    pub fn may_post_scores(&self) -> bool {
        self.grants(SCORE_SCOPE)
    }

    /// Whether the gradebook's results may be read (`ltisync reconcile`).
    pub fn may_read_results(&self) -> bool {
        self.grants(RESULT_SCOPE)
    }

    /// Whether line items may be listed.
    pub fn may_list_line_items(&self) -> bool {
        self.grants(LINE_ITEM_SCOPE) || self.grants(LINE_ITEM_READONLY_SCOPE)
    }

    /// Whether line items may be created.
    pub fn may_create_line_items(&self) -> bool {
        self.grants(LINE_ITEM_SCOPE)
    }

    /// How scores for this LMS are written.
    pub fn score_dialect(&self) -> crate::grade::ScoreDialect {
        crate::grade::ScoreDialect::of_product_family(self.product_family_code.as_deref())
    }
}

/// An activity as the sync reads it.
#[derive(Debug, Clone)]
pub struct Activity {
    /// The activity's ids.
    pub ids: ActivityIds,
    /// Its collision-free key (`platform#context#link`, each part encoded),
    /// as it appears in `pk`.
    pub key: ActivityKey,
    /// The newest service key captured at launch.
    pub service_key: Option<ServiceKey>,
    /// Activity title (label for a created line item).
    pub resource_link_title: Option<String>,
    /// The line item the sync resolved earlier (cache).
    pub line_item_id: Option<String>,
    /// The line item the LMS named at the last launch.
    pub launch_line_item_id: Option<String>,
    /// Preferences for the line item, set by the tool (see docs/writing-grades.md, "Line items").
    pub line_item_preferences: LineItemPreferences,
    /// Set when LTIaaS rejected the service key; cleared by the next launch.
    pub needs_relaunch: Option<String>,
    /// What the service key may do.
    pub services: GrantedServices,
}

#[cfg(test)]
impl Activity {
    /// An activity with its ids and nothing else: no service key, no line
    /// item, no preferences (the unit tests' one fixture; each sets what it
    /// needs with struct update syntax).
    pub(crate) fn bare(ids: ActivityIds) -> Self {
        Activity {
            key: ids.key(),
            ids,
            service_key: None,
            resource_link_title: None,
            line_item_id: None,
            launch_line_item_id: None,
            line_item_preferences: LineItemPreferences::default(),
            needs_relaunch: None,
            services: Default::default(),
        }
    }
}

/// How the sync picks or creates the activity's line item.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineItemPreferences {
    /// Pick only a line item with this `resourceId`; set it on a created one.
    pub resource_id: Option<String>,
    /// Pick only a line item with this `tag`; set it on a created one.
    pub tag: Option<String>,
    /// Label of a created line item (default: the activity title).
    pub label: Option<String>,
    /// `scoreMaximum` of a created line item (default: the largest
    /// `scoreMaximum` among the grades being posted, else 100).
    pub score_maximum: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn awkward_ids_round_trip_through_the_key() {
        let ids = ActivityIds::new("plat#1/é", "ctx 100%", "link#/%20 ü").unwrap();
        let key = ids.key();
        assert_eq!(
            key.as_str(),
            "plat%231%2F%C3%A9#ctx%20100%25#link%23%2F%2520%20%C3%BC"
        );
        assert_eq!(ActivityKey::parse(key.as_str()).unwrap().ids(), ids);
    }

    #[test]
    fn separators_inside_ids_do_not_collide() {
        let a = ActivityIds::new("a#b", "c", "d").unwrap().key();
        let b = ActivityIds::new("a", "b#c", "d").unwrap().key();
        let c = ActivityIds::new("a", "b", "c#d").unwrap().key();
        assert_ne!(a, b);
        assert_ne!(b, c);
        assert_ne!(a, c);
    }

    #[test]
    fn non_canonical_keys_are_rejected() {
        for bad in ["a#b", "a#b#c#d", "a%2f#b#c", "a b#c#d", "#b#c", "a#%FF#c"] {
            assert!(ActivityKey::parse(bad).is_err(), "{bad} accepted");
        }
        assert!(ActivityKey::parse("a%2Fx#b#c").is_ok());
    }

    #[test]
    fn unreported_scopes_grant_everything_and_reported_ones_only_themselves() {
        let unknown = GrantedServices::default();
        assert!(unknown.may_post_scores() && unknown.may_create_line_items());
        let score_only = GrantedServices {
            ags_scopes: Some(vec![SCORE_SCOPE.into()]),
            ..Default::default()
        };
        assert!(score_only.may_post_scores());
        assert!(!score_only.may_list_line_items() && !score_only.may_create_line_items());
        let read_only = GrantedServices {
            ags_scopes: Some(vec![LINE_ITEM_READONLY_SCOPE.into()]),
            ..Default::default()
        };
        assert!(read_only.may_list_line_items() && !read_only.may_create_line_items());
        assert!(!read_only.may_post_scores());
    }

    #[test]
    fn empty_ids_are_refused() {
        assert_eq!(
            ActivityIds::new("p", "", "r").unwrap_err(),
            InvalidActivity::EmptyId("context id")
        );
    }

    #[test]
    fn a_wrongly_encoded_key_has_one_canonical_form() {
        let canonical = |raw: &str| ActivityKey::canonical_of(raw).map(|k| k.to_string());
        assert_eq!(canonical("plat/1#c#r").as_deref(), Some("plat%2F1#c#r"));
        assert_eq!(canonical("plat%2f1#c#r").as_deref(), Some("plat%2F1#c#r"));
        assert_eq!(
            canonical("p#course+101#r").as_deref(),
            Some("p#course%20101#r")
        );
        assert_eq!(canonical("plat%2F1#c#r"), None, "already canonical");
        assert_eq!(canonical("only#two"), None);
    }
}

//! The LTIaaS request and response bodies, parsed leniently: unknown fields
//! are ignored, optional sections may be absent, and ids may arrive as
//! strings or numbers.

use serde::{Deserialize, Deserializer, Serialize};

use crate::secrets::ServiceKey;

/// `GET /api/idtoken`: the launch as LTIaaS formats it.
///
/// Only what ltisync uses is kept; personal data (name, email) is never
/// read, so it cannot end up in a log or in the table.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdToken {
    /// `1.3.0`, or `1.2.0` for LTI 1.x launches.
    #[serde(default)]
    pub lti_version: Option<String>,
    /// Who launched: the status page shows an activity to its instructors,
    /// and a learner their own grade.
    #[serde(default)]
    pub user: Option<LaunchUser>,
    /// The LMS registration.
    pub platform: Platform,
    /// What was launched.
    #[serde(default)]
    pub launch: Option<LaunchClaims>,
    /// The services available in this context.
    #[serde(default)]
    pub services: Option<Services>,
}

/// `user` of the ID token: the id and roles only (always present, the
/// LTIaaS guide says); the optional name and email are not read.
#[derive(Debug, Clone, Deserialize)]
pub struct LaunchUser {
    /// The LMS user id (unique within the platform): a grade's `userId`.
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    /// LIS role URIs (or LTI 1.1 short names) in the course.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// `platform` of the ID token.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Platform {
    /// The LTIaaS registration id: globally unique.
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    /// LMS URL.
    #[serde(default)]
    pub url: Option<String>,
    /// LMS name.
    #[serde(default)]
    pub name: Option<String>,
    /// e.g. `canvas`, `moodle`.
    #[serde(default)]
    pub product_family_code: Option<String>,
}

/// `launch` of the ID token.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaunchClaims {
    /// `LtiResourceLinkRequest`, `LtiDeepLinkingRequest` or `basic-lti-launch-request`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The course; absent in some launches.
    #[serde(default)]
    pub context: Option<Context>,
    /// The link; absent in deep-linking launches.
    #[serde(default)]
    pub resource_link: Option<ResourceLink>,
}

/// `launch.context`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Context {
    /// Course id, unique within the platform.
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    /// Short label.
    #[serde(default)]
    pub label: Option<String>,
    /// Course title.
    #[serde(default)]
    pub title: Option<String>,
}

/// `launch.resourceLink`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceLink {
    /// Link id, unique within the platform.
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    /// Activity title.
    #[serde(default)]
    pub title: Option<String>,
}

/// `services`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Services {
    /// Assignment and Grade Services.
    #[serde(default)]
    pub assignment_and_grades: Option<AssignmentAndGrades>,
    /// Names and Roles Provisioning (the course roster).
    #[serde(default)]
    pub names_and_roles: Option<Availability>,
    /// The context's service key: present only when AGS or NRPS is available.
    #[serde(default, deserialize_with = "optional_service_key")]
    pub service_key: Option<ServiceKey>,
}

/// A service that is offered or not (`{"available": bool}`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Availability {
    /// Whether the LMS offers it here.
    #[serde(default)]
    pub available: bool,
}

/// `services.assignmentAndGrades`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentAndGrades {
    /// Whether the LMS offers grade passback here.
    #[serde(default)]
    pub available: bool,
    /// The line item tied to this link, when exactly one is.
    #[serde(default)]
    pub line_item_id: Option<String>,
    /// The AGS scopes the LMS granted (absent: not reported).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
}

/// `GET /api/memberships`: one page of the course roster.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MembershipPage {
    /// Members on this page.
    #[serde(default)]
    pub members: Vec<Member>,
    /// The next page, to pass back verbatim as `?url=`.
    #[serde(default)]
    pub next: Option<String>,
}

/// One member of the roster. Of the personal data only the name is read,
/// for the instructors' status page; it is never stored and its `Debug`
/// hides it ([`PersonName`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// The LMS user id (the `userId` a score names).
    #[serde(deserialize_with = "string_or_number")]
    pub user_id: String,
    /// The full name, where the LMS shares it.
    #[serde(default)]
    pub name: Option<PersonName>,
    /// Given name, where the LMS shares it without a full name.
    #[serde(default)]
    pub given_name: Option<PersonName>,
    /// Family name, likewise.
    #[serde(default)]
    pub family_name: Option<PersonName>,
    /// LIS role URIs (or short names) in the course.
    #[serde(default)]
    pub roles: Vec<String>,
    /// `Active` (also when absent), `Inactive` or `Deleted`.
    #[serde(default)]
    pub status: Option<String>,
}

impl Member {
    /// The name to show for the member: the full name, else given and
    /// family names joined; `None` when the LMS shares none.
    pub fn display_name(&self) -> Option<String> {
        let text = |n: &Option<PersonName>| {
            n.as_ref()
                .map(|n| n.0.trim().to_owned())
                .filter(|t| !t.is_empty())
        };
        text(&self.name).or_else(|| {
            let parts: Vec<String> = [text(&self.given_name), text(&self.family_name)]
                .into_iter()
                .flatten()
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        })
    }
}

/// A person's name from the LMS: shown to instructors, never logged (its
/// `Debug` prints no letter of it) and never stored.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct PersonName(pub String);

impl std::fmt::Debug for PersonName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PersonName(<redacted>)")
    }
}

/// One AGS line item (a gradebook column).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineItem {
    /// The line item URL at the LMS.
    pub id: String,
    /// Column title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Maximum score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_maximum: Option<f64>,
    /// The link it belongs to.
    #[serde(
        default,
        deserialize_with = "optional_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub resource_link_id: Option<String>,
    /// Tool-defined resource id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Tool-defined tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// `GET /api/lineitems`: one page.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineItemPage {
    /// Items on this page (empty when none match).
    #[serde(default)]
    pub line_items: Vec<LineItem>,
    /// The next page, to pass back verbatim as `?url=`.
    #[serde(default)]
    pub next: Option<String>,
}

/// `GET /api/lineitems/:id/scores`: one page of the line item's results
/// (LTIaaS relays the LMS's `{line item}/results`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultPage {
    /// Results on this page (users without a score may be left out).
    #[serde(default)]
    pub scores: Vec<LmsResult>,
    /// The next page, to pass back verbatim as `?url=`.
    #[serde(default)]
    pub next: Option<String>,
}

/// What the gradebook shows for one user on one line item.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LmsResult {
    /// The LMS user id.
    #[serde(deserialize_with = "string_or_number")]
    pub user_id: String,
    /// The score as the gradebook holds it (scaled to `resultMaximum`).
    #[serde(default)]
    pub result_score: Option<f64>,
    /// The scale of `resultScore` (1 when absent, as the AGS says).
    #[serde(default = "one")]
    pub result_maximum: f64,
    /// The comment shown with it.
    #[serde(default)]
    pub comment: Option<String>,
}

fn one() -> f64 {
    1.0
}

impl LmsResult {
    /// Whether the gradebook shows `score_given` out of `score_maximum`
    /// (compared as fractions, to 1e-6) with `comment`.
    pub fn shows(&self, score_given: f64, score_maximum: f64, comment: Option<&str>) -> bool {
        let Some(result) = self.result_score else {
            return false;
        };
        let (shown, sent) = (result / self.result_maximum, score_given / score_maximum);
        let same_comment = self.comment.as_deref().unwrap_or("") == comment.unwrap_or("");
        (shown - sent).abs() <= 1e-6 && same_comment
    }
}

/// `POST /api/lineitems` body.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewLineItem {
    /// Column title (non-blank).
    pub label: String,
    /// Maximum score (> 0).
    pub score_maximum: f64,
    /// The activity's link.
    pub resource_link_id: String,
    /// Tool-defined resource id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Tool-defined tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrNumber {
    String(String),
    Int(i64),
    Float(f64),
}

impl From<StringOrNumber> for String {
    fn from(v: StringOrNumber) -> Self {
        match v {
            StringOrNumber::String(s) => s,
            StringOrNumber::Int(n) => n.to_string(),
            StringOrNumber::Float(f) => f.to_string(),
        }
    }
}

pub(crate) fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    StringOrNumber::deserialize(d).map(String::from)
}

fn optional_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<StringOrNumber>::deserialize(d)?.map(String::from))
}

fn optional_service_key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ServiceKey>, D::Error> {
    Ok(Option::<String>::deserialize(d)?
        .filter(|k| !k.trim().is_empty())
        .map(ServiceKey::new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::ExposeSecret;

    #[test]
    fn a_full_id_token_parses_and_extra_fields_are_ignored() {
        let token: IdToken = serde_json::from_value(serde_json::json!({
            "ltiVersion": "1.3.0",
            "user": {"id": "2", "roles": [], "email": "j@x", "name": "J D"},
            "platform": {"id": "0c41", "url": "https://lms.example.com", "name": "LMS",
                         "clientId": "c", "deploymentId": "1", "productFamilyCode": "canvas", "new": 1},
            "launch": {"type": "LtiResourceLinkRequest",
                       "context": {"id": 2, "label": "c", "title": "Course", "type": ["CourseSection"]},
                       "resourceLink": {"id": "1", "title": "Activity"},
                       "presentation": {"document_target": "iframe", "width": "100"}, "custom": {}},
            "services": {"deepLinking": {"available": false},
                         "assignmentAndGrades": {"available": true, "scopes": [], "lineItemId": "https://l/1"},
                         "serviceKey": "eyJ.svc"}
        }))
        .unwrap();
        let launch = token.launch.unwrap();
        assert_eq!(launch.context.unwrap().id, "2");
        assert_eq!(
            launch.resource_link.unwrap().title.as_deref(),
            Some("Activity")
        );
        let services = token.services.unwrap();
        assert_eq!(services.service_key.unwrap().expose_secret(), "eyJ.svc");
        assert_eq!(
            services
                .assignment_and_grades
                .unwrap()
                .line_item_id
                .as_deref(),
            Some("https://l/1")
        );
    }

    #[test]
    fn a_minimal_id_token_parses() {
        let token: IdToken =
            serde_json::from_value(serde_json::json!({"platform": {"id": 7}})).unwrap();
        assert_eq!(token.platform.id, "7");
        assert!(token.launch.is_none() && token.services.is_none());
    }

    #[test]
    fn line_item_pages_tolerate_missing_parts() {
        let page: LineItemPage =
            serde_json::from_str(r#"{"lineItems":[{"id":"u","resourceLinkId":5}]}"#).unwrap();
        assert_eq!(page.line_items[0].resource_link_id.as_deref(), Some("5"));
        assert!(page.next.is_none());
        let empty: LineItemPage = serde_json::from_str("{}").unwrap();
        assert!(empty.line_items.is_empty());
    }
}

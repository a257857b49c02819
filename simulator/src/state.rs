//! What the simulated LTIaaS knows (launches, service keys, line items), what
//! it received, and the faults it has been told to inject.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::profile::{LastScore, LmsProfile};

/// The state behind its lock. A poisoned lock is taken as it is: one
/// request that panicked must not turn every later one into a panic too.
pub(crate) fn lock(state: &Mutex<SimState>) -> MutexGuard<'_, SimState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// The routes the simulator serves, for fault matching and records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Route {
    /// `GET /api/idtoken`
    IdToken,
    /// `GET /api/lineitems`
    ListLineItems,
    /// `POST /api/lineitems`
    CreateLineItem,
    /// `GET /api/lineitems/:id`
    GetLineItem,
    /// `POST /api/lineitems/:id/scores`
    PostScore,
    /// `GET /api/lineitems/:id/scores` (the LMS's results)
    ListResults,
    /// `GET /api/memberships`
    Memberships,
    /// `GET /api/platforms` (Bearer: the API key alone)
    Platforms,
    /// Anything else.
    Other,
}

/// What a fault does to a matching request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum FaultAction {
    /// Answer with this status (and LTIaaS error envelope unless `body` is given).
    Status {
        /// The HTTP status.
        status: u16,
        /// A raw body instead of the envelope.
        #[serde(default)]
        body: Option<String>,
        /// A `Retry-After` header value.
        #[serde(default)]
        retry_after: Option<String>,
    },
    /// Wait this long, then handle the request normally (a timeout when
    /// longer than the client's limit).
    Delay {
        /// Milliseconds.
        millis: u64,
    },
    /// Close the connection without answering.
    Drop,
    /// Handle the request (a score is applied at the LMS), then close the
    /// connection without answering: the sender cannot tell it arrived.
    ApplyThenDrop,
    /// Handle the request, then answer `status` (a relay's 502 or 504
    /// after the LMS applied the score).
    ApplyThenStatus {
        /// The HTTP status.
        status: u16,
    },
    /// Answer 200 with a body that is not the expected JSON.
    Malformed,
    /// Answer `status` (a 3xx) with a `Location` header, as a moved
    /// endpoint or a captive portal does.
    Redirect {
        /// The HTTP status.
        status: u16,
        /// The `Location` header.
        location: String,
    },
    /// Answer a line item listing with no items and a `next` link that
    /// points back at the same page, forever.
    LoopingPages,
    /// Answer `status` with a long body that repeats the request's
    /// `Authorization` header, as a misbehaving proxy might.
    EchoAuthorization {
        /// The HTTP status.
        status: u16,
        /// Filler characters before the echoed header.
        padding: usize,
    },
}

/// A fault to inject into matching requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// Which route (None: every route).
    #[serde(default)]
    pub route: Option<Route>,
    /// Only score posts for this user.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Only requests made with this service key.
    #[serde(default)]
    pub service_key: Option<String>,
    /// How many requests it applies to (None: all of them).
    #[serde(default)]
    pub times: Option<usize>,
    /// What it does.
    pub action: FaultAction,
}

impl Fault {
    /// A fault on `route` that applies `times` times (None: always).
    pub fn on(route: Route, action: FaultAction, times: Option<usize>) -> Self {
        Self {
            route: Some(route),
            user_id: None,
            service_key: None,
            times,
            action,
        }
    }

    /// Narrows the fault to one user's score posts.
    pub fn for_user(mut self, user_id: &str) -> Self {
        self.user_id = Some(user_id.to_owned());
        self
    }

    /// Narrows the fault to one service key.
    pub fn for_service_key(mut self, key: &str) -> Self {
        self.service_key = Some(key.to_owned());
        self
    }

    /// An answer with `status` and the LTIaaS envelope.
    pub fn status(route: Route, status: u16, times: Option<usize>) -> Self {
        Self::on(
            route,
            FaultAction::Status {
                status,
                body: None,
                retry_after: None,
            },
            times,
        )
    }
}

/// A launch the simulator will answer `GET /api/idtoken` for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaunchSpec {
    /// `platform.id`.
    pub platform_id: String,
    /// `launch.context.id`.
    pub context_id: String,
    /// `launch.resourceLink.id`.
    pub resource_link_id: String,
    /// Course title.
    #[serde(default)]
    pub context_title: Option<String>,
    /// Activity title.
    #[serde(default)]
    pub resource_link_title: Option<String>,
    /// The user launching.
    #[serde(default = "default_user")]
    pub user_id: String,
    /// The context's service key (None: no AGS or NRPS there).
    #[serde(default)]
    pub service_key: Option<String>,
    /// `services.assignmentAndGrades.lineItemId`.
    #[serde(default)]
    pub line_item_id: Option<String>,
    /// A whole ID token to return instead of the one built from the fields.
    #[serde(default)]
    pub id_token: Option<Value>,
    /// The ltik to answer for (None: the simulator makes one up).
    #[serde(default)]
    pub ltik: Option<String>,
    /// `platform.productFamilyCode`.
    #[serde(default = "default_product")]
    pub product_family_code: String,
    /// `services.namesAndRoles.available` (None: whenever a service key is).
    #[serde(default)]
    pub names_and_roles: Option<bool>,
    /// `services.assignmentAndGrades.scopes` (None: line item, result and score).
    #[serde(default)]
    pub ags_scopes: Option<Vec<String>>,
    /// `user.roles` (None: the context's Instructor).
    #[serde(default)]
    pub user_roles: Option<Vec<String>>,
}

fn default_product() -> String {
    "canvas".into()
}

/// AGS scopes as the LMS grants them.
pub const SCOPE_LINE_ITEM: &str = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem";
/// The score scope.
pub const SCOPE_SCORE: &str = "https://purl.imsglobal.org/spec/lti-ags/scope/score";
/// The result scope (reading the gradebook).
pub const SCOPE_RESULT: &str = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly";

/// The LIS context role URI of `role` (`Learner`, `Instructor`, ...).
pub fn lis_role(role: &str) -> String {
    format!("http://purl.imsglobal.org/vocab/lis/v2/membership#{role}")
}

/// A member of a simulated course roster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimMember {
    /// The LMS user id.
    pub user_id: String,
    /// LIS role URIs.
    pub roles: Vec<String>,
    /// `Active`, `Inactive`, `Deleted` (None: not sent, which means Active).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The full name, where the LMS shares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl SimMember {
    /// An active member with one context role (`Learner`, `Instructor`, ...).
    pub fn new(user_id: &str, role: &str) -> Self {
        Self {
            user_id: user_id.into(),
            roles: vec![lis_role(role)],
            status: Some("Active".into()),
            name: None,
        }
    }

    /// The same member, with a name.
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The same member with another status.
    pub fn with_status(mut self, status: &str) -> Self {
        self.status = Some(status.into());
        self
    }

    /// Whether the LMS would take a score for this member.
    pub fn is_active_learner(&self) -> bool {
        self.status.as_deref().unwrap_or("Active") == "Active"
            && self.roles.iter().any(|r| r.ends_with("#Learner"))
    }
}

fn default_user() -> String {
    "instructor-1".into()
}

impl LaunchSpec {
    /// A resource-link launch of `(platform, context, link)` with a service key.
    pub fn new(platform: &str, context: &str, link: &str, service_key: Option<&str>) -> Self {
        Self {
            platform_id: platform.into(),
            context_id: context.into(),
            resource_link_id: link.into(),
            context_title: Some(format!("Course {context}")),
            resource_link_title: Some(format!("Quiz {link}")),
            user_id: default_user(),
            service_key: service_key.map(str::to_owned),
            line_item_id: None,
            id_token: None,
            ltik: None,
            product_family_code: default_product(),
            names_and_roles: None,
            ags_scopes: None,
            user_roles: None,
        }
    }

    /// The same launch by `user_id` with LIS `roles` (full URIs or any
    /// form an LMS sends).
    pub fn by(mut self, user_id: &str, roles: &[&str]) -> Self {
        self.user_id = user_id.into();
        self.user_roles = Some(roles.iter().map(|r| r.to_string()).collect());
        self
    }

    /// The ID token LTIaaS would return for this launch.
    pub fn id_token(&self) -> Value {
        if let Some(token) = &self.id_token {
            return token.clone();
        }
        let available = self.service_key.is_some();
        let scopes = match (&self.ags_scopes, available) {
            (Some(scopes), _) => json!(scopes),
            (None, true) => json!([SCOPE_LINE_ITEM, SCOPE_RESULT, SCOPE_SCORE]),
            (None, false) => json!([]),
        };
        let mut services = json!({
            "deepLinking": {"available": false},
            "namesAndRoles": {"available": self.names_and_roles.unwrap_or(available)},
            "assignmentAndGrades": {"available": available, "scopes": scopes},
            "outcomes": {"available": false}
        });
        if let Some(key) = &self.service_key {
            services["serviceKey"] = json!(key);
        }
        if let Some(id) = &self.line_item_id {
            services["assignmentAndGrades"]["lineItemId"] = json!(id);
        }
        json!({
            "ltiVersion": "1.3.0",
            "user": {"id": self.user_id,
                     "roles": self.user_roles.clone().unwrap_or_else(|| vec![lis_role("Instructor")]),
                     "email": "person@example.edu", "name": "A Person"},
            "platform": {"id": self.platform_id, "url": "https://lms.example.test", "clientId": "client-1",
                         "deploymentId": "1", "name": "Simulated LMS", "productFamilyCode": self.product_family_code,
                         "version": "cloud"},
            "launch": {"type": "LtiResourceLinkRequest", "target": "https://tool.example.test/launch",
                       "context": {"id": self.context_id, "label": "SIM", "title": self.context_title,
                                   "type": ["CourseSection"]},
                       "resourceLink": {"id": self.resource_link_id, "title": self.resource_link_title},
                       "presentation": {"documentTarget": "iframe", "locale": "en"},
                       "custom": {}},
            "services": services
        })
    }
}

/// Where a service key (or ltik) is valid: one launch context.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Binding {
    /// Platform.
    pub platform_id: String,
    /// Course.
    pub context_id: String,
    /// Link.
    pub resource_link_id: String,
}

/// A line item in the simulated LMS gradebook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimLineItem {
    /// Its URL at the LMS.
    pub id: String,
    /// Title.
    pub label: String,
    /// Maximum score.
    pub score_maximum: f64,
    /// Its link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_link_id: Option<String>,
    /// Tool resource id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Tool tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// A score the simulator accepted (204).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedScore {
    /// The line item, decoded.
    pub line_item_id: String,
    /// The platform of the key used.
    pub platform_id: String,
    /// The service key used.
    pub service_key: String,
    /// The body as received.
    pub body: Value,
}

/// One request as received.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Raw path (percent-encoding kept).
    pub path: String,
    /// Raw query.
    pub query: Option<String>,
    /// The route it matched.
    pub route: Route,
    /// The `Authorization` header, whole.
    pub authorization: Option<String>,
    /// The body, if JSON.
    pub body: Option<Value>,
    /// The status answered (None: the connection was dropped).
    pub status: Option<u16>,
}

/// All the simulator's data.
#[derive(Debug)]
pub struct SimState {
    /// The API key it accepts.
    pub api_key: String,
    /// ltik → launch.
    pub launches: HashMap<String, LaunchSpec>,
    /// Service key → context.
    pub service_keys: HashMap<String, Binding>,
    /// Service keys that now get 401.
    pub stale_keys: Vec<String>,
    /// (platform, context) → line items.
    pub line_items: HashMap<(String, String), Vec<SimLineItem>>,
    /// Line items created through the API.
    pub created: usize,
    /// (platform, context) → course roster. A context without one answers
    /// memberships as an LMS that does not offer names and roles there.
    pub rosters: HashMap<(String, String), Vec<SimMember>>,
    /// Scores received.
    pub scores: Vec<ReceivedScore>,
    /// Requests received.
    pub requests: Vec<RecordedRequest>,
    /// Faults to inject.
    pub faults: Vec<Fault>,
    /// Latency added to every request.
    pub latency: Duration,
    /// Line items per page.
    pub page_size: usize,
    /// Behave like an LMS that ignores the `resourceId` and `tag` filters.
    pub ignore_filters: bool,
    /// Counter for ltiks and line item numbers.
    pub serial: u64,
    /// Every request as it arrived (before latency and faults).
    pub arrivals: Vec<Arrival>,
    /// Requests being handled now, per platform.
    pub in_flight: HashMap<String, usize>,
    /// The most requests ever handled at once, per platform.
    pub max_in_flight: HashMap<String, usize>,
    /// The most requests ever handled at once, in all.
    pub max_in_flight_total: usize,
    /// Platform → its LMS's quirks (absent: generic).
    pub profiles: HashMap<String, LmsProfile>,
    /// (line item, user) → the last score accepted, for the profiles.
    pub last_scores: HashMap<(String, String), LastScore>,
    /// (line item, user) → submission attempts (the `canvas` profile).
    pub attempts: HashMap<(String, String), u32>,
    /// Attempts a `canvas` line item allows (None: unlimited).
    pub allowed_attempts: Option<u32>,
    /// (platform, context, user) → what the gradebook shows instead of
    /// the last accepted score, on every line item of the context.
    pub result_overrides: HashMap<(String, String, String), ResultOverride>,
}

/// A result changed behind the tool's back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum ResultOverride {
    /// An instructor set this score (on the line item's maximum) and comment.
    Score {
        /// The score, on the line item's scale.
        score: f64,
        /// The comment shown with it.
        #[serde(default)]
        comment: Option<String>,
    },
    /// The result is gone (a deleted column, a course copy, an outage).
    Dropped,
}

/// A request at the moment it arrived.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Arrival {
    /// The route.
    pub route: Route,
    /// The score's user, for score posts.
    pub user_id: Option<String>,
    /// The platform of the credential, when known.
    pub platform_id: Option<String>,
    /// Milliseconds since the simulator started.
    pub at_ms: u64,
}

impl SimState {
    /// An empty LMS accepting `api_key`.
    pub fn new(api_key: String) -> Self {
        Self {
            api_key,
            launches: HashMap::new(),
            service_keys: HashMap::new(),
            stale_keys: Vec::new(),
            line_items: HashMap::new(),
            created: 0,
            rosters: HashMap::new(),
            scores: Vec::new(),
            requests: Vec::new(),
            faults: Vec::new(),
            latency: Duration::ZERO,
            page_size: 10,
            ignore_filters: false,
            serial: 0,
            arrivals: Vec::new(),
            in_flight: HashMap::new(),
            max_in_flight: HashMap::new(),
            max_in_flight_total: 0,
            profiles: HashMap::new(),
            last_scores: HashMap::new(),
            attempts: HashMap::new(),
            allowed_attempts: None,
            result_overrides: HashMap::new(),
        }
    }

    /// The quirks of `platform`'s LMS.
    pub fn profile_of(&self, platform: &str) -> LmsProfile {
        self.profiles.get(platform).copied().unwrap_or_default()
    }

    /// The first fault matching the request, used up by one.
    pub fn take_fault(
        &mut self,
        route: Route,
        service_key: Option<&str>,
        user_id: Option<&str>,
    ) -> Option<FaultAction> {
        let index = self.faults.iter().position(|f| {
            f.route.is_none_or(|r| r == route)
                && f.user_id.as_deref().is_none_or(|u| Some(u) == user_id)
                && f.service_key
                    .as_deref()
                    .is_none_or(|k| Some(k) == service_key)
                && f.times != Some(0)
        })?;
        let fault = &mut self.faults[index];
        if let Some(times) = &mut fault.times {
            *times -= 1;
        }
        Some(fault.action.clone())
    }

    /// The platform a credential (ltik or service key) belongs to.
    pub fn platform_of(&self, credential: &str) -> Option<String> {
        self.service_keys
            .get(credential)
            .map(|b| b.platform_id.clone())
            .or_else(|| self.launches.get(credential).map(|l| l.platform_id.clone()))
    }

    /// Counts a request in flight for `platform`.
    pub fn enter(&mut self, platform: &str) {
        let now = self.in_flight.entry(platform.to_owned()).or_default();
        *now += 1;
        let now = *now;
        let max = self.max_in_flight.entry(platform.to_owned()).or_default();
        *max = (*max).max(now);
        let total: usize = self.in_flight.values().sum();
        self.max_in_flight_total = self.max_in_flight_total.max(total);
    }

    /// Counts a request of `platform` as finished.
    pub fn leave(&mut self, platform: &str) {
        if let Some(now) = self.in_flight.get_mut(platform) {
            *now = now.saturating_sub(1);
        }
    }

    /// Registers a launch: returns its new ltik and binds its service key.
    pub fn add_launch(&mut self, spec: LaunchSpec) -> String {
        self.serial += 1;
        let ltik = spec.ltik.clone().unwrap_or_else(|| {
            format!(
                "eyJsdGlrIjoi{}.c2ltdWxhdGVk.{:08x}",
                self.serial,
                self.serial * 7919
            )
        });
        if let Some(key) = &spec.service_key {
            self.service_keys.insert(
                key.clone(),
                Binding {
                    platform_id: spec.platform_id.clone(),
                    context_id: spec.context_id.clone(),
                    resource_link_id: spec.resource_link_id.clone(),
                },
            );
            self.stale_keys.retain(|k| k != key);
        }
        // The platform's LMS, as its launches name it, unless an admin call
        // chose its quirks already.
        self.profiles
            .entry(spec.platform_id.clone())
            .or_insert_with(|| LmsProfile::of_product_family(&spec.product_family_code));
        self.launches.insert(ltik.clone(), spec);
        ltik
    }

    /// Adds a line item to a context; returns its id.
    pub fn add_line_item(
        &mut self,
        platform_id: &str,
        context_id: &str,
        mut item: SimLineItem,
    ) -> String {
        self.serial += 1;
        if item.id.is_empty() {
            item.id = format!(
                "https://lms.example.test/p/{}/courses/{}/lineitems/{}",
                percent_encoding::utf8_percent_encode(
                    platform_id,
                    percent_encoding::NON_ALPHANUMERIC
                ),
                percent_encoding::utf8_percent_encode(
                    context_id,
                    percent_encoding::NON_ALPHANUMERIC
                ),
                self.serial
            );
        }
        let id = item.id.clone();
        self.line_items
            .entry((platform_id.to_owned(), context_id.to_owned()))
            .or_default()
            .push(item);
        id
    }
}

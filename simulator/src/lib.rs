//! A simulated LTIaaS, served over real HTTP on 127.0.0.1.
//!
//! It enforces the contract in `docs/ltiaas-api.md`: the exact `Authorization`
//! schemes (`LTIK-AUTH-V2` only for the ID token; `LTIK-AUTH-V2` or
//! `SERVICE-AUTH-V1` for line items and scores), the 401 envelope, line item
//! ids as one percent-encoded path segment, paging through `next`/`?url=`,
//! line item and score validation, course rosters (`GET /api/memberships`,
//! with Canvas's 422 for scores of non-learners), and `204` for accepted
//! scores. Faults
//! (latency, delays past the client's timeout, dropped connections, any
//! status with `Retry-After`, throttling 403, stale service keys, malformed
//! bodies) are injected on demand, and everything received is recorded so
//! tests can assert on it.
//!
//! Tests drive it in-process through [`Simulator`]; the `ltiaas-sim`
//! binary serves the same thing with a small `/_sim/*` admin API.

#![warn(missing_docs)]

mod faults;
mod paging;
mod profile;
mod quirks;
mod respond;
mod results;
mod roster;
mod state;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use paging::{bad_page_url, page_params};
use respond::{envelope, json_response, no_content};

pub use profile::LmsProfile;
pub use quirks::{NOT_NEWER, NO_ATTEMPTS_LEFT, SCORE_EXISTS, SUBMITTED_IN_FUTURE};
pub use roster::NOT_A_STUDENT;
pub use state::{
    lis_role, Arrival, Binding, Fault, FaultAction, LaunchSpec, ReceivedScore, RecordedRequest,
    ResultOverride, Route, SimLineItem, SimMember, SimState, SCOPE_LINE_ITEM, SCOPE_RESULT,
    SCOPE_SCORE,
};

/// The API key the simulator accepts unless told otherwise.
pub const DEFAULT_API_KEY: &str = "5f0e1c2a-0b7d-4c1e-9a51-3f6f2d8c9e10";

const ACTIVITY_PROGRESS: &[&str] = &[
    "Initialized",
    "Started",
    "InProgress",
    "Submitted",
    "Completed",
];
const GRADING_PROGRESS: &[&str] = &[
    "FullyGraded",
    "Pending",
    "PendingManual",
    "Failed",
    "NotReady",
];

/// A running simulator; stops when dropped.
pub struct Simulator {
    addr: SocketAddr,
    state: Arc<Mutex<SimState>>,
    task: JoinHandle<()>,
}

/// Leaves the in-flight count when a request ends, however it ends.
struct InFlight {
    state: Arc<Mutex<SimState>>,
    platform: Option<String>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(platform) = &self.platform {
            lock(&self.state).leave(platform);
        }
    }
}

/// The connection is closed without an answer.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for DropConnection {}

type Reply = Result<Response<Full<Bytes>>, DropConnection>;

impl Simulator {
    /// Starts on a free port of 127.0.0.1 with [`DEFAULT_API_KEY`].
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on(
            "127.0.0.1:0".parse().expect("valid address"),
            DEFAULT_API_KEY,
        )
        .await
    }

    /// Starts on `addr`, accepting `api_key`.
    pub async fn start_on(addr: SocketAddr, api_key: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(SimState::new(api_key.to_owned())));
        let shared = state.clone();
        let started = std::time::Instant::now();
        let task = tokio::spawn(async move {
            // Dropping the set (when this task is aborted) ends every connection.
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = shared.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), started, req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(Self { addr, state, task })
    }

    /// The base URL to configure as `LTIAAS_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API key it accepts.
    pub fn api_key(&self) -> String {
        self.lock().api_key.clone()
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a launch and returns its ltik.
    pub fn add_launch(&self, spec: LaunchSpec) -> String {
        self.lock().add_launch(spec)
    }

    /// Makes an ltik invalid (as after 24 hours).
    pub fn expire_ltik(&self, ltik: &str) {
        self.lock().launches.remove(ltik);
    }

    /// Makes a service key get 401 from now on, until a launch hands it out again.
    pub fn make_service_key_stale(&self, key: &str) {
        self.lock().stale_keys.push(key.to_owned());
    }

    /// Adds a line item to a context; returns its id.
    pub fn add_line_item(&self, platform_id: &str, context_id: &str, item: SimLineItem) -> String {
        self.lock().add_line_item(platform_id, context_id, item)
    }

    /// Removes a line item everywhere (as a teacher deleting the column).
    pub fn delete_line_item(&self, id: &str) {
        for items in self.lock().line_items.values_mut() {
            items.retain(|i| i.id != id);
        }
    }

    /// The line items of a context.
    pub fn line_items(&self, platform_id: &str, context_id: &str) -> Vec<SimLineItem> {
        self.lock()
            .line_items
            .get(&(platform_id.to_owned(), context_id.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    /// How many line items were created through the API.
    pub fn created_line_items(&self) -> usize {
        self.lock().created
    }

    /// Scores accepted so far.
    pub fn scores(&self) -> Vec<ReceivedScore> {
        self.lock().scores.clone()
    }

    /// Requests received so far (recorded once answered).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Requests as they arrived, with their time.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.lock().arrivals.clone()
    }

    /// Waits until a request for `route` (and `user`, if given) has arrived.
    pub async fn wait_for_arrival(&self, route: Route, user: Option<&str>, limit: Duration) {
        let started = std::time::Instant::now();
        loop {
            let arrived = self
                .lock()
                .arrivals
                .iter()
                .any(|a| a.route == route && (user.is_none() || a.user_id.as_deref() == user));
            if arrived {
                return;
            }
            assert!(
                started.elapsed() < limit,
                "no {route:?} request for {user:?} within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The most requests handled at once for `platform`, and in all.
    pub fn max_in_flight(&self, platform: &str) -> (usize, usize) {
        let s = self.lock();
        (
            s.max_in_flight.get(platform).copied().unwrap_or(0),
            s.max_in_flight_total,
        )
    }

    /// Adds a fault.
    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Adds `latency` to every request.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Gives a course a roster (without one, memberships answers 403
    /// `SERVICE_NOT_AVAILABLE_FOR_CONTEXT`, and any user's score is taken).
    /// With one, scores for anyone not an active learner get Canvas's 422.
    pub fn set_roster(&self, platform_id: &str, context_id: &str, members: Vec<SimMember>) {
        self.lock()
            .rosters
            .insert((platform_id.to_owned(), context_id.to_owned()), members);
    }

    /// Behave like an LMS that ignores the `resourceId`, `tag` and `role` filters.
    pub fn ignore_filters(&self, ignore: bool) {
        self.lock().ignore_filters = ignore;
    }

    /// Changes what the gradebook shows for `user` in (platform, context),
    /// behind the tool's back: an instructor's score, or the result gone.
    pub fn set_result(
        &self,
        platform_id: &str,
        context_id: &str,
        user: &str,
        change: ResultOverride,
    ) {
        let key = (
            platform_id.to_owned(),
            context_id.to_owned(),
            user.to_owned(),
        );
        self.lock().result_overrides.insert(key, change);
    }

    /// Allows this many attempts per user and line item (`canvas` profile).
    pub fn set_allowed_attempts(&self, allowed: Option<u32>) {
        self.lock().allowed_attempts = allowed;
    }

    /// The submission attempts `user` has, over all line items (`canvas`).
    pub fn attempts_of(&self, user: &str) -> u32 {
        let state = self.lock();
        state
            .attempts
            .iter()
            .filter(|((_, u), _)| u == user)
            .map(|(_, n)| n)
            .sum()
    }

    /// Gives `platform_id`'s LMS the quirks of `profile`.
    pub fn set_profile(&self, platform_id: &str, profile: LmsProfile) {
        self.lock().profiles.insert(platform_id.to_owned(), profile);
    }

    /// Sets how many line items a page holds.
    pub fn set_page_size(&self, size: usize) {
        self.lock().page_size = size.max(1);
    }

    /// Stops serving (also done on drop).
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(state: &Mutex<SimState>) -> MutexGuard<'_, SimState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

async fn handle(
    state: Arc<Mutex<SimState>>,
    started: std::time::Instant,
    req: Request<Incoming>,
) -> Reply {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let authorization = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match req.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Err(DropConnection),
    };
    if let Some(admin) = path.strip_prefix("/_sim/") {
        return Ok(admin_route(&state, &method, admin, &body));
    }
    let route = route_of(&method, &path);
    let json_body: Option<Value> = serde_json::from_slice(&body).ok();
    let credential = parse_authorization(authorization.as_deref());
    let service_key = match &credential {
        Some((_, Scheme::Service, key)) => Some(key.clone()),
        _ => None,
    };
    let user_id = json_body.as_ref().and_then(|b| b.get("userId")).map(|u| {
        u.as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| u.to_string())
    });
    let (latency, _in_flight) = {
        let mut s = lock(&state);
        let platform = credential.as_ref().and_then(|(_, _, c)| s.platform_of(c));
        if let Some(p) = &platform {
            s.enter(p);
        }
        s.arrivals.push(Arrival {
            route,
            user_id: user_id.clone(),
            platform_id: platform.clone(),
            at_ms: started.elapsed().as_millis() as u64,
        });
        let guard = InFlight {
            state: state.clone(),
            platform,
        };
        (s.latency, guard)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut record = RecordedRequest {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        route,
        authorization: authorization.clone(),
        body: json_body.clone(),
        status: None,
    };
    let fault = lock(&state).take_fault(route, service_key.as_deref(), user_id.as_deref());
    // The request handled as the LMS would, when the fault lets it through.
    let answer = || {
        serve(
            &state,
            route,
            &method,
            &path,
            query.as_deref(),
            credential,
            json_body.as_ref(),
        )
    };
    let reply = match faults::apply(fault, answer, authorization.as_deref()).await {
        faults::Outcome::Answer(reply) => reply,
        faults::Outcome::Dropped { applied_status } => {
            record.status = applied_status;
            lock(&state).requests.push(record);
            return Err(DropConnection);
        }
    };
    record.status = Some(reply.status().as_u16());
    lock(&state).requests.push(record);
    Ok(reply)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Ltik,
    Service,
    Bearer,
}

/// (api key, scheme, credential) from an `Authorization` header.
/// `GET /api/platforms`: only with `Bearer` (the account's endpoints take
/// the API key alone); the platforms launches named, as the account's.
fn platforms(state: &SimState, scheme: Scheme) -> Response<Full<Bytes>> {
    if scheme != Scheme::Bearer {
        return envelope(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTHORIZATION_SCHEME",
            "Account endpoints accept Bearer only.",
        );
    }
    let mut ids: Vec<&str> = state
        .launches
        .values()
        .map(|l| l.platform_id.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let platforms: Vec<Value> = ids
        .into_iter()
        .map(|id| serde_json::json!({"id": id}))
        .collect();
    json_response(
        StatusCode::OK,
        &serde_json::json!({ "platforms": platforms }),
    )
}

fn parse_authorization(header: Option<&str>) -> Option<(String, Scheme, String)> {
    let (scheme, rest) = header?.split_once(' ')?;
    let scheme = match scheme {
        "LTIK-AUTH-V2" => Scheme::Ltik,
        "SERVICE-AUTH-V1" => Scheme::Service,
        "Bearer" => return Some((rest.to_owned(), Scheme::Bearer, String::new())),
        _ => return None,
    };
    let (key, credential) = rest.split_once(':')?;
    Some((key.to_owned(), scheme, credential.to_owned()))
}

fn route_of(method: &Method, path: &str) -> Route {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (&Method::GET, ["api", "idtoken"]) => Route::IdToken,
        (&Method::GET, ["api", "lineitems"]) => Route::ListLineItems,
        (&Method::POST, ["api", "lineitems"]) => Route::CreateLineItem,
        (&Method::GET, ["api", "lineitems", _]) => Route::GetLineItem,
        (&Method::POST, ["api", "lineitems", _, "scores"]) => Route::PostScore,
        (&Method::GET, ["api", "lineitems", _, "scores"]) => Route::ListResults,
        (&Method::GET, ["api", "memberships"]) => Route::Memberships,
        (&Method::GET, ["api", "platforms"]) => Route::Platforms,
        _ => Route::Other,
    }
}

fn serve(
    state: &Mutex<SimState>,
    route: Route,
    method: &Method,
    path: &str,
    query: Option<&str>,
    credential: Option<(String, Scheme, String)>,
    body: Option<&Value>,
) -> Response<Full<Bytes>> {
    let mut state = lock(state);
    if route == Route::Other {
        return envelope(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("No route for {method} {path}"),
        );
    }
    let Some((api_key, scheme, secret)) = credential else {
        return envelope(
            StatusCode::UNAUTHORIZED,
            "MISSING_AUTHORIZATION_HEADER",
            "Missing or unsupported Authorization header.",
        );
    };
    if api_key != state.api_key {
        return envelope(
            StatusCode::UNAUTHORIZED,
            "INVALID_API_KEY",
            "Invalid API key",
        );
    }
    if route == Route::Platforms {
        return platforms(&state, scheme);
    }
    if route == Route::IdToken {
        return match (scheme, state.launches.get(&secret)) {
            (Scheme::Ltik, Some(launch)) => json_response(StatusCode::OK, &launch.id_token()),
            (Scheme::Ltik, None) => invalid_ltik(),
            _ => envelope(
                StatusCode::UNAUTHORIZED,
                "INVALID_LTIK_AUTH_AUTHORIZATION_HEADER",
                "The ID token endpoint accepts only LTIK-AUTH-V2.",
            ),
        };
    }
    let binding = match scheme {
        Scheme::Ltik => match state.launches.get(&secret) {
            Some(launch) => Binding {
                platform_id: launch.platform_id.clone(),
                context_id: launch.context_id.clone(),
                resource_link_id: launch.resource_link_id.clone(),
            },
            None => return invalid_ltik(),
        },
        Scheme::Service => match state.service_keys.get(&secret) {
            Some(binding) if !state.stale_keys.contains(&secret) => binding.clone(),
            _ => {
                return envelope(
                    StatusCode::UNAUTHORIZED,
                    "INVALID_SERVICE_KEY_AUTH_AUTHORIZATION_HEADER",
                    "Invalid or expired service key.",
                )
            }
        },
        Scheme::Bearer => {
            return envelope(
                StatusCode::UNAUTHORIZED,
                "INVALID_AUTHORIZATION_SCHEME",
                "Service endpoints accept LTIK-AUTH-V2 or SERVICE-AUTH-V1, not Bearer.",
            )
        }
    };
    let context = (binding.platform_id.clone(), binding.context_id.clone());
    match route {
        Route::ListLineItems => list_line_items(&state, &binding, query),
        Route::Memberships => roster::list_memberships(&state, &binding, query),
        Route::CreateLineItem => create_line_item(&mut state, &binding, body),
        Route::GetLineItem | Route::PostScore | Route::ListResults => {
            let segment = path
                .trim_start_matches('/')
                .split('/')
                .nth(2)
                .unwrap_or_default();
            let Ok(id) = percent_decode_str(segment).decode_utf8() else {
                return envelope(
                    StatusCode::BAD_REQUEST,
                    "INVALID_LINEITEM_ID",
                    "The line item id is not UTF-8.",
                );
            };
            let item = state
                .line_items
                .get(&context)
                .and_then(|items| items.iter().find(|i| i.id == id))
                .cloned();
            let Some(item) = item else {
                return envelope(
                    StatusCode::NOT_FOUND,
                    "LINEITEM_NOT_FOUND",
                    "Line item not found.",
                );
            };
            if route == Route::GetLineItem {
                return json_response(StatusCode::OK, &json!(item));
            }
            if route == Route::ListResults {
                return results::list_results(&state, &binding, &item, query);
            }
            post_score(&mut state, &binding, &item, &secret, scheme, body)
        }
        Route::IdToken | Route::Platforms | Route::Other => unreachable!("handled above"),
    }
}

fn invalid_ltik() -> Response<Full<Bytes>> {
    envelope(
        StatusCode::UNAUTHORIZED,
        "INVALID_LTIK_AUTH_AUTHORIZATION_HEADER",
        "Invalid or expired ltik.",
    )
}

fn list_line_items(
    state: &SimState,
    binding: &Binding,
    query: Option<&str>,
) -> Response<Full<Bytes>> {
    let Some(params) = page_params(query) else {
        return bad_page_url();
    };
    let get = |name: &str| params.get(name);
    let link_filter = get("resourceLinkId").map(|v| {
        if v == "true" {
            binding.resource_link_id.clone()
        } else {
            v
        }
    });
    let page: usize = get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let limit: usize = get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l >= 1)
        .unwrap_or(state.page_size);
    let items: Vec<&SimLineItem> = state
        .line_items
        .get(&(binding.platform_id.clone(), binding.context_id.clone()))
        .map(|items| {
            items
                .iter()
                .filter(|i| {
                    link_filter
                        .as_ref()
                        .is_none_or(|l| i.resource_link_id.as_ref() == Some(l))
                })
                .filter(|i| {
                    state.ignore_filters
                        || get("resourceId").is_none_or(|r| i.resource_id.as_ref() == Some(&r))
                })
                .filter(|i| {
                    state.ignore_filters || get("tag").is_none_or(|t| i.tag.as_ref() == Some(&t))
                })
                .collect()
        })
        .unwrap_or_default();
    let start = (page - 1) * limit;
    let on_page: Vec<&SimLineItem> = items.iter().skip(start).take(limit).copied().collect();
    let mut response = json!({ "lineItems": on_page });
    if start + limit < items.len() {
        let mut next =
            url::Url::parse("https://lms.example.test/api/lineitems").expect("static URL");
        {
            let mut pairs = next.query_pairs_mut();
            pairs.append_pair("page", &(page + 1).to_string());
            pairs.append_pair("limit", &limit.to_string());
            for name in ["resourceLinkId", "resourceId", "tag"] {
                if let Some(v) = get(name) {
                    pairs.append_pair(name, &v);
                }
            }
        }
        response["next"] = json!(next.to_string());
    }
    json_response(StatusCode::OK, &response)
}

fn create_line_item(
    state: &mut SimState,
    binding: &Binding,
    body: Option<&Value>,
) -> Response<Full<Bytes>> {
    let Some(body) = body.and_then(Value::as_object) else {
        return envelope(
            StatusCode::BAD_REQUEST,
            "INVALID_BODY",
            "The body must be a JSON object.",
        );
    };
    let label = body
        .get("label")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if label.trim().is_empty() {
        return envelope(
            StatusCode::BAD_REQUEST,
            "INVALID_BODY",
            "label is required and must not be blank.",
        );
    }
    let Some(score_maximum) = body
        .get("scoreMaximum")
        .and_then(Value::as_f64)
        .filter(|m| *m > 0.0)
    else {
        return envelope(
            StatusCode::BAD_REQUEST,
            "INVALID_BODY",
            "scoreMaximum must be a number above 0.",
        );
    };
    let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
    let resource_link_id = text("resourceLinkId");
    if resource_link_id
        .as_ref()
        .is_some_and(|l| *l != binding.resource_link_id)
    {
        return envelope(
            StatusCode::NOT_FOUND,
            "RESOURCE_LINK_NOT_FOUND",
            "No such resource link in this context.",
        );
    }
    let item = SimLineItem {
        id: String::new(),
        label: label.to_owned(),
        score_maximum,
        resource_link_id,
        resource_id: text("resourceId"),
        tag: text("tag"),
    };
    let id = state.add_line_item(&binding.platform_id, &binding.context_id, item.clone());
    state.created += 1;
    json_response(StatusCode::CREATED, &json!(SimLineItem { id, ..item }))
}

fn post_score(
    state: &mut SimState,
    binding: &Binding,
    item: &SimLineItem,
    secret: &str,
    scheme: Scheme,
    body: Option<&Value>,
) -> Response<Full<Bytes>> {
    if let Err(problem) = validate_score(body) {
        return envelope(StatusCode::BAD_REQUEST, "INVALID_SCORE", &problem);
    }
    if let Some(refusal) = roster::refuse_non_learner(state, binding, body) {
        return refusal;
    }
    if let Some(refusal) = quirks::refuse(state, binding, item, body) {
        return refusal;
    }
    // A score the LMS takes replaces whatever was set behind the tool's back.
    if let Some(user) = body.and_then(|b| b.get("userId")).and_then(Value::as_str) {
        let key = (
            binding.platform_id.clone(),
            binding.context_id.clone(),
            user.to_owned(),
        );
        state.result_overrides.remove(&key);
    }
    state.scores.push(ReceivedScore {
        line_item_id: item.id.clone(),
        platform_id: binding.platform_id.clone(),
        service_key: if scheme == Scheme::Service {
            secret.to_owned()
        } else {
            String::new()
        },
        body: body.cloned().unwrap_or_default(),
    });
    no_content()
}

/// The score rules of the LTIaaS reference (see docs/ltiaas-api.md §6).
fn validate_score(body: Option<&Value>) -> Result<(), String> {
    let body = body
        .and_then(Value::as_object)
        .ok_or("The body must be a JSON object.")?;
    match body.get("userId") {
        Some(Value::String(u)) if !u.is_empty() => {}
        _ => return Err("userId is required.".into()),
    }
    let progress = |name: &str, allowed: &[&str]| -> Result<(), String> {
        match body.get(name).and_then(Value::as_str) {
            Some(v) if allowed.contains(&v) => Ok(()),
            Some(v) => Err(format!("{name} '{v}' is not one of {allowed:?}.")),
            None => Err(format!("{name} is required.")),
        }
    };
    progress("activityProgress", ACTIVITY_PROGRESS)?;
    progress("gradingProgress", GRADING_PROGRESS)?;
    if let Some(given) = body.get("scoreGiven") {
        let given = given.as_f64().ok_or("scoreGiven must be a number.")?;
        if given < 0.0 {
            return Err("scoreGiven must be at least 0.".into());
        }
        let max = body
            .get("scoreMaximum")
            .and_then(Value::as_f64)
            .ok_or("scoreMaximum is required when scoreGiven is present.")?;
        if max <= 0.0 {
            return Err("scoreMaximum must be above 0.".into());
        }
    }
    if body.get("comment").is_some_and(|c| !c.is_string()) {
        return Err("comment must be a string.".into());
    }
    if body.contains_key("timestamp") {
        return Err("timestamp is set by LTIaaS and must not be sent.".into());
    }
    let times = [
        (
            "submission.startedAt",
            body.get("submission").and_then(|s| s.get("startedAt")),
        ),
        (
            "submission.submittedAt",
            body.get("submission").and_then(|s| s.get("submittedAt")),
        ),
        (
            "submitted_at (Canvas)",
            body.get("https://canvas.instructure.com/lti/submission")
                .and_then(|s| s.get("submitted_at")),
        ),
    ];
    for (name, value) in times {
        let valid = value.is_none_or(|v| {
            v.as_str().is_some_and(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                    .is_ok()
            })
        });
        if !valid {
            return Err(format!("{name} must be an RFC 3339 time."));
        }
    }
    Ok(())
}

fn admin_route(
    state: &Mutex<SimState>,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let parsed: Result<Value, _> = serde_json::from_slice(body);
    let bad = |e: String| envelope(StatusCode::BAD_REQUEST, "INVALID_ADMIN_REQUEST", &e);
    let mut state = lock(state);
    match (method, path) {
        (&Method::POST, "launches") => match serde_json::from_slice::<LaunchSpec>(body) {
            Ok(spec) => json_response(
                StatusCode::CREATED,
                &json!({"ltik": state.add_launch(spec)}),
            ),
            Err(e) => bad(e.to_string()),
        },
        (&Method::POST, "faults") => match serde_json::from_slice::<Fault>(body) {
            Ok(fault) => {
                state.faults.push(fault);
                json_response(StatusCode::CREATED, &json!({"faults": state.faults.len()}))
            }
            Err(e) => bad(e.to_string()),
        },
        (&Method::POST, "settings") => {
            let Ok(settings) = parsed else {
                return bad("expected JSON".into());
            };
            if let Some(ms) = settings.get("latencyMs").and_then(Value::as_u64) {
                state.latency = Duration::from_millis(ms);
            }
            if let Some(size) = settings.get("pageSize").and_then(Value::as_u64) {
                state.page_size = (size as usize).max(1);
            }
            if let Some(allowed) = settings.get("allowedAttempts").and_then(Value::as_u64) {
                state.allowed_attempts = Some(allowed as u32);
            }
            json_response(
                StatusCode::OK,
                &json!({"latencyMs": state.latency.as_millis() as u64, "pageSize": state.page_size}),
            )
        }
        (&Method::POST, "rosters") => match serde_json::from_slice::<RosterSpec>(body) {
            Ok(spec) => {
                let members = spec.members.len();
                state
                    .rosters
                    .insert((spec.platform_id, spec.context_id), spec.members);
                json_response(StatusCode::CREATED, &json!({"members": members}))
            }
            Err(e) => bad(e.to_string()),
        },
        (&Method::POST, "results") => match serde_json::from_slice::<ResultSpec>(body) {
            Ok(spec) => {
                let key = (spec.platform_id, spec.context_id, spec.user_id);
                state.result_overrides.insert(key, spec.change);
                json_response(
                    StatusCode::CREATED,
                    &json!({"overrides": state.result_overrides.len()}),
                )
            }
            Err(e) => bad(e.to_string()),
        },
        (&Method::POST, "profiles") => match serde_json::from_slice::<ProfileSpec>(body) {
            Ok(spec) => {
                state.profiles.insert(spec.platform_id, spec.profile);
                json_response(StatusCode::CREATED, &json!({"profile": spec.profile}))
            }
            Err(e) => bad(e.to_string()),
        },
        (&Method::GET, "scores") => json_response(StatusCode::OK, &json!(state.scores)),
        (&Method::GET, "requests") => json_response(StatusCode::OK, &json!(state.requests)),
        (&Method::GET, "line-items") => {
            let all: Vec<Value> = state
                .line_items
                .iter()
                .map(|((p, c), items)| json!({"platformId": p, "contextId": c, "lineItems": items}))
                .collect();
            json_response(StatusCode::OK, &json!(all))
        }
        _ => envelope(StatusCode::NOT_FOUND, "NOT_FOUND", "Unknown admin route."),
    }
}

/// `POST /_sim/results`: what the gradebook shows for one user instead.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResultSpec {
    platform_id: String,
    context_id: String,
    user_id: String,
    change: ResultOverride,
}

/// `POST /_sim/profiles`: the quirks of one platform's LMS.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileSpec {
    platform_id: String,
    profile: LmsProfile,
}

/// `POST /_sim/rosters`: a course roster.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RosterSpec {
    platform_id: String,
    context_id: String,
    members: Vec<SimMember>,
}

/// Serves until the process is stopped (used by the `ltiaas-sim` binary).
pub async fn serve_forever(sim: Simulator) -> Result<(), Infallible> {
    tokio::signal::ctrl_c().await.ok();
    sim.stop();
    Ok(())
}

//! The `/_sim/*` admin API the `ltiaas-sim` binary offers in place of
//! `Simulator`'s methods: launches, faults, settings,
//! rosters, results and profiles in; scores, requests and line items out.
//! No authentication, so the binary serves loopback or a host-only bridge.

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::profile::LmsProfile;
use crate::respond::{envelope, json_response};
use crate::state::{lock, Fault, LaunchSpec, ResultOverride, SimMember, SimState};

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

/// The answer to `method` on `/_sim/{path}`.
pub(crate) fn route(
    state: &Mutex<SimState>,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let mut guard = lock(state);
    let state = &mut *guard;
    match (method, path) {
        (&Method::POST, "launches") => with_json(body, |spec: LaunchSpec| {
            json_response(
                StatusCode::CREATED,
                &json!({"ltik": state.add_launch(spec)}),
            )
        }),
        (&Method::POST, "faults") => with_json(body, |fault: Fault| {
            state.faults.push(fault);
            json_response(StatusCode::CREATED, &json!({"faults": state.faults.len()}))
        }),
        (&Method::POST, "settings") => settings(state, body),
        (&Method::POST, "rosters") => with_json(body, |spec| set_roster(state, spec)),
        (&Method::POST, "results") => with_json(body, |spec| set_result(state, spec)),
        (&Method::POST, "profiles") => with_json(body, |spec: ProfileSpec| {
            state.profiles.insert(spec.platform_id, spec.profile);
            json_response(StatusCode::CREATED, &json!({"profile": spec.profile}))
        }),
        (&Method::GET, "scores") => json_response(StatusCode::OK, &json!(state.scores)),
        (&Method::GET, "requests") => json_response(StatusCode::OK, &json!(state.requests)),
        (&Method::GET, "line-items") => line_items(state),
        _ => envelope(StatusCode::NOT_FOUND, "NOT_FOUND", "Unknown admin route."),
    }
}

/// `apply`'s answer to `body` read as a `T`, or a 400 saying why it is not one.
fn with_json<T: DeserializeOwned>(
    body: &[u8],
    apply: impl FnOnce(T) -> Response<Full<Bytes>>,
) -> Response<Full<Bytes>> {
    match serde_json::from_slice::<T>(body) {
        Ok(spec) => apply(spec),
        Err(e) => bad(e.to_string()),
    }
}

fn bad(problem: String) -> Response<Full<Bytes>> {
    envelope(StatusCode::BAD_REQUEST, "INVALID_ADMIN_REQUEST", &problem)
}

/// `POST /_sim/settings`: `latencyMs`, `pageSize`, `allowedAttempts`, each
/// changed only when given.
fn settings(state: &mut SimState, body: &[u8]) -> Response<Full<Bytes>> {
    let Ok(settings) = serde_json::from_slice::<Value>(body) else {
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

fn set_roster(state: &mut SimState, spec: RosterSpec) -> Response<Full<Bytes>> {
    let members = spec.members.len();
    state
        .rosters
        .insert((spec.platform_id, spec.context_id), spec.members);
    json_response(StatusCode::CREATED, &json!({"members": members}))
}

fn set_result(state: &mut SimState, spec: ResultSpec) -> Response<Full<Bytes>> {
    let key = (spec.platform_id, spec.context_id, spec.user_id);
    state.result_overrides.insert(key, spec.change);
    json_response(
        StatusCode::CREATED,
        &json!({"overrides": state.result_overrides.len()}),
    )
}

/// `GET /_sim/line-items`: every context's line items.
fn line_items(state: &SimState) -> Response<Full<Bytes>> {
    let all: Vec<Value> = state
        .line_items
        .iter()
        .map(|((p, c), items)| json!({"platformId": p, "contextId": c, "lineItems": items}))
        .collect();
    json_response(StatusCode::OK, &json!(all))
}

//! How particular LMSs treat a valid score beyond the LTI rules, by the
//! platform's `LmsProfile` (`profile.rs`); the refusal
//! reaches the tool as LTIaaS relays an LMS error (its status, the LMS's
//! body inside LTIaaS's envelope).
//!
//! - `moodle`: refuses a score stamped no later, in whole seconds, than the
//!   last one it accepted for the user and line item (409). The stamp is
//!   the time the score arrives, as LTIaaS stamps scores when it relays them.
//! - `openedx`: refuses a score equal to the one it holds (400, "Score
//!   already exists").
//! - `canvas`: counts submission attempts per user and line item: a score
//!   adds one unless Canvas's extension says `new_submission: false`, and is
//!   refused past the allowed attempts (422) once a limit is set; a
//!   `submitted_at` more than a minute ahead is refused (400).
//! - `generic` (any other product): accepts every valid score.

use std::time::SystemTime;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use crate::profile::{LastScore, LmsProfile};
use crate::respond::json_response;
use crate::state::{Binding, SimLineItem, SimState};

/// What Moodle says when a score is not newer than the one it holds.
pub const NOT_NEWER: &str = "Refusing a score whose timestamp is not later than the one held";
/// What Open edX says when a score equals the one it holds.
pub const SCORE_EXISTS: &str = "Score already exists";
/// What Canvas says past the allowed attempts.
pub const NO_ATTEMPTS_LEFT: &str =
    "The maximum number of allowed attempts has been reached for this submission";
/// What Canvas says of a submission time ahead of its clock.
pub const SUBMITTED_IN_FUTURE: &str = "submitted_at cannot be more than a minute in the future";

/// Where Canvas's extension sits in a score body.
const CANVAS_EXTENSION: &str = "https://canvas.instructure.com/lti/submission";

/// The refusal the platform's profile gives `body`, if any; an accepted
/// score is remembered for the next one.
pub(crate) fn refuse(
    state: &mut SimState,
    binding: &Binding,
    item: &SimLineItem,
    body: Option<&Value>,
) -> Option<Response<Full<Bytes>>> {
    let body = body?;
    let user = match body.get("userId")? {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let profile = state.profile_of(&binding.platform_id);
    let key = (item.id.clone(), user);
    let now = LastScore::of(body, SystemTime::now());
    let refusal = match (profile, state.last_scores.get(&key)) {
        (LmsProfile::Moodle, Some(last)) if last.not_before(&now) => {
            Some(lms_error(StatusCode::CONFLICT, NOT_NEWER))
        }
        (LmsProfile::OpenEdx, Some(last)) if last.same_score(&now) => {
            Some(lms_error(StatusCode::BAD_REQUEST, SCORE_EXISTS))
        }
        (LmsProfile::Canvas, _) => canvas_attempt(state, &key, body),
        _ => None,
    };
    if refusal.is_none() {
        state.last_scores.insert(key, now);
    }
    refusal
}

/// Canvas: the score's attempt, counted, or why it is refused.
fn canvas_attempt(
    state: &mut SimState,
    key: &(String, String),
    body: &Value,
) -> Option<Response<Full<Bytes>>> {
    let extension = body.get(CANVAS_EXTENSION);
    if let Some(at) = extension
        .and_then(|e| e.get("submitted_at"))
        .and_then(Value::as_str)
    {
        let ahead = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
            .is_ok_and(|at| at > time::OffsetDateTime::now_utc() + time::Duration::minutes(1));
        if ahead {
            return Some(lms_error(StatusCode::BAD_REQUEST, SUBMITTED_IN_FUTURE));
        }
    }
    let new_attempt = extension
        .and_then(|e| e.get("new_submission"))
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let attempts = state.attempts.get(key).copied().unwrap_or(0);
    if !new_attempt && attempts > 0 {
        return None;
    }
    if state
        .allowed_attempts
        .is_some_and(|allowed| attempts >= allowed)
    {
        return Some(lms_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            NO_ATTEMPTS_LEFT,
        ));
    }
    state.attempts.insert(key.clone(), attempts + 1);
    None
}

/// An LMS's refusal as LTIaaS relays it.
fn lms_error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json_response(
        status,
        &json!({
            "status": status.as_u16(),
            "error": status.canonical_reason().unwrap_or("Error"),
            "details": {
                "externalError": true,
                "externalUrl": "https://lms.example.test/api/lti/scores",
                "bodyReceived": {"errors": {"type": "score_refused", "message": message}}
            }
        }),
    )
}

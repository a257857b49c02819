//! Score posting (`POST /api/lineitems/:id/scores`): the LTI rules a score
//! must keep, then the LMS's own refusals (the roster's, in `roster.rs`;
//! the profile's, in `quirks.rs`), then the score recorded and `204`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{Map, Value};

use crate::respond::{envelope, no_content};
use crate::state::{Binding, ReceivedScore, SimLineItem, SimState};
use crate::{quirks, roster};

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

/// Posts `body` to `item` as the LMS would take it; `service_key` is the
/// key it came with (empty for an ltik), recorded with the score.
pub(crate) fn post_score(
    state: &mut SimState,
    binding: &Binding,
    item: &SimLineItem,
    service_key: &str,
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
        service_key: service_key.to_owned(),
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
    check_progress(body, "activityProgress", ACTIVITY_PROGRESS)?;
    check_progress(body, "gradingProgress", GRADING_PROGRESS)?;
    check_score_given(body)?;
    if body.get("comment").is_some_and(|c| !c.is_string()) {
        return Err("comment must be a string.".into());
    }
    if body.contains_key("timestamp") {
        return Err("timestamp is set by LTIaaS and must not be sent.".into());
    }
    check_times(body)
}

/// `name` is present and one of `allowed`.
fn check_progress(body: &Map<String, Value>, name: &str, allowed: &[&str]) -> Result<(), String> {
    match body.get(name).and_then(Value::as_str) {
        Some(v) if allowed.contains(&v) => Ok(()),
        Some(v) => Err(format!("{name} '{v}' is not one of {allowed:?}.")),
        None => Err(format!("{name} is required.")),
    }
}

/// A `scoreGiven` is a number from 0, on a `scoreMaximum` above 0.
fn check_score_given(body: &Map<String, Value>) -> Result<(), String> {
    let Some(given) = body.get("scoreGiven") else {
        return Ok(());
    };
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
    Ok(())
}

/// The submission times, where given, are RFC 3339.
fn check_times(body: &Map<String, Value>) -> Result<(), String> {
    let submission = |name: &str| body.get("submission").and_then(|s| s.get(name));
    let times = [
        ("submission.startedAt", submission("startedAt")),
        ("submission.submittedAt", submission("submittedAt")),
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

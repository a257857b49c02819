//! The human message in an error answer.
//!
//! LTIaaS wraps errors in one of two envelopes (docs/ltiaas-api.md §2), and
//! relays what the LMS said inside them in whatever shape the LMS chose. The
//! grade's `lastError` should read "Course has concluded", not a status
//! code, so the text is dug out here. What this returns may still hold a
//! secret the server echoed: `classify` redacts it, then shortens it.

use reqwest::StatusCode;
use serde_json::{Map, Value};

/// Longest error message kept (after redaction); keeps grade items small.
pub const MAX_MESSAGE_CHARS: usize = 500;

/// `text` cut to [`MAX_MESSAGE_CHARS`] characters, with `…` when cut.
pub(super) fn shorten(text: &str) -> String {
    let mut chars = text.chars();
    let short: String = chars.by_ref().take(MAX_MESSAGE_CHARS).collect();
    if chars.next().is_some() {
        format!("{short}…")
    } else {
        short
    }
}

/// The most useful text of an error answer: the envelope's code and
/// description, the messages of `details.errors[]`, and what the LMS itself
/// said (`details.bodyReceived`), so "course concluded" reaches `lastError`
/// as such; else the raw body; else the status reason. Both envelope
/// shapes are in docs/ltiaas-api.md §2.
pub(super) fn error_message(status: StatusCode, body: &[u8]) -> String {
    if let Ok(Value::Object(envelope)) = serde_json::from_slice(body) {
        let parts = envelope_messages(&envelope);
        if !parts.is_empty() {
            return parts.join(": ");
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        status.canonical_reason().unwrap_or("no details").to_owned()
    } else {
        text.to_owned()
    }
}

/// The envelope's messages in the order a reader wants them, most specific
/// first and each once (the two shapes often repeat one another).
fn envelope_messages(envelope: &Map<String, Value>) -> Vec<String> {
    let details = envelope.get("details");
    let field = |name: &str| details.and_then(|d| d.get(name));
    let mut parts: Vec<String> = Vec::new();
    let mut add = |part: String| {
        if !part.is_empty() && !parts.contains(&part) {
            parts.push(part);
        }
    };
    for name in ["message", "description"] {
        if let Some(Value::String(text)) = field(name) {
            add(text.trim().to_owned());
        }
    }
    if let Some(errors) = field("errors") {
        messages_in(errors, 0).into_iter().for_each(&mut add);
    }
    if let Some(said) = field("bodyReceived").and_then(lms_message) {
        add(format!("the LMS said: {said}"));
    }
    if let Some(Value::String(error)) = envelope.get("error") {
        add(error.trim().to_owned());
    }
    parts
}

/// The LMS's own answer, relayed by LTIaaS as JSON or as text.
fn lms_message(received: &Value) -> Option<String> {
    let parsed;
    let value = match received {
        Value::String(text) => match serde_json::from_str(text) {
            Ok(json) => {
                parsed = json;
                &parsed
            }
            Err(_) => return Some(text.trim().to_owned()).filter(|t| !t.is_empty()),
        },
        other => other,
    };
    let messages = messages_in(value, 0);
    if messages.is_empty() {
        Some(value.to_string()).filter(|t| t != "null" && t != "{}")
    } else {
        Some(messages.join("; "))
    }
}

/// The human-readable messages in an error body, however the LMS nests
/// them (`message`, `error`, `error_description`, `detail`, `errors`).
/// The depth is capped: the body is the LMS's, not ltisync's.
fn messages_in(value: &Value, depth: usize) -> Vec<String> {
    const FIELDS: [&str; 6] = [
        "message",
        "error_description",
        "detail",
        "description",
        "errors",
        "error",
    ];
    match value {
        _ if depth > 4 => Vec::new(),
        Value::String(text) if !text.trim().is_empty() => vec![text.trim().to_owned()],
        Value::Array(items) => items
            .iter()
            .flat_map(|item| messages_in(item, depth + 1))
            .collect(),
        Value::Object(object) => FIELDS
            .iter()
            .filter_map(|name| object.get(*name))
            .map(|inner| messages_in(inner, depth + 1))
            .find(|found| !found.is_empty())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_shortened() {
        assert_eq!(shorten("abc"), "abc");
        let long = "x".repeat(MAX_MESSAGE_CHARS + 10);
        assert_eq!(shorten(&long).chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn error_messages_come_from_the_envelope() {
        let body = br#"{"status":401,"error":"Unauthorized","details":{"message":"INVALID_LTIK_AUTH_AUTHORIZATION_HEADER","description":"Invalid or expired ltik."}}"#;
        assert_eq!(
            error_message(StatusCode::UNAUTHORIZED, body),
            "INVALID_LTIK_AUTH_AUTHORIZATION_HEADER: Invalid or expired ltik.: Unauthorized"
        );
        assert_eq!(error_message(StatusCode::BAD_GATEWAY, b""), "Bad Gateway");
    }

    #[test]
    fn the_lms_message_is_found_in_both_envelope_shapes() {
        let relayed = br#"{"status":422,"error":"Unprocessable Entity","details":{"message":"LMS_ERROR","externalError":true,"bodyReceived":{"errors":{"type":"unprocessable_entity","message":"Course has concluded"}}}}"#;
        assert_eq!(
            error_message(StatusCode::UNPROCESSABLE_ENTITY, relayed),
            "LMS_ERROR: the LMS said: Course has concluded: Unprocessable Entity"
        );
        let as_text = br#"{"status":400,"details":{"bodyReceived":"{\"error\":\"Incorrect score received\"}"}}"#;
        assert_eq!(
            error_message(StatusCode::BAD_REQUEST, as_text),
            "the LMS said: Incorrect score received"
        );
        let listed = br#"{"status":403,"error":"Forbidden","details":{"errors":["SERVICE_NOT_AVAILABLE_FOR_CONTEXT",{"message":"Maximum attempts reached"}]}}"#;
        assert_eq!(
            error_message(StatusCode::FORBIDDEN, listed),
            "SERVICE_NOT_AVAILABLE_FOR_CONTEXT: Maximum attempts reached: Forbidden"
        );
        let opaque = br#"{"details":{"bodyReceived":{"code":7}}}"#;
        assert_eq!(
            error_message(StatusCode::BAD_REQUEST, opaque),
            r#"the LMS said: {"code":7}"#
        );
    }

    #[test]
    fn repeats_and_deep_nesting_are_left_out_and_other_bodies_kept_whole() {
        let repeated =
            br#"{"error":"Forbidden","details":{"message":"Forbidden","errors":["Forbidden"]}}"#;
        assert_eq!(error_message(StatusCode::FORBIDDEN, repeated), "Forbidden");
        let deep = br#"{"details":{"bodyReceived":{"errors":[[[[[["too deep"]]]]]]}}}"#;
        assert_eq!(
            error_message(StatusCode::BAD_REQUEST, deep),
            r#"the LMS said: {"errors":[[[[[["too deep"]]]]]]}"#
        );
        let plain_text = br#"{"details":{"bodyReceived":"  Gateway says no  "}}"#;
        assert_eq!(
            error_message(StatusCode::BAD_GATEWAY, plain_text),
            "the LMS said: Gateway says no"
        );
        assert_eq!(
            error_message(StatusCode::BAD_GATEWAY, b" <html>oops</html>\n"),
            "<html>oops</html>"
        );
    }
}

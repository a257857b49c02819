//! What an injected fault makes of a request: an answer of its own, the
//! request handled late or handled and its answer lost, or the connection
//! dropped.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::json;

use crate::respond::{envelope, json_response, text};
use crate::state::FaultAction;

/// What the client gets.
pub(crate) enum Outcome {
    /// This answer.
    Answer(Response<Full<Bytes>>),
    /// No answer: the connection is closed (after the request was handled,
    /// with this status, when the fault lets it through first).
    Dropped {
        /// The status of the answer that was lost, if the request was handled.
        applied_status: Option<u16>,
    },
}

/// The outcome of a request under `fault`; `answer` handles it as the LMS
/// would, and runs at most once.
pub(crate) async fn apply(
    fault: Option<FaultAction>,
    answer: impl FnOnce() -> Response<Full<Bytes>>,
    authorization: Option<&str>,
) -> Outcome {
    let reply = match fault {
        Some(FaultAction::Drop) => {
            return Outcome::Dropped {
                applied_status: None,
            }
        }
        Some(FaultAction::Delay { millis }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            answer()
        }
        Some(FaultAction::ApplyThenDrop) => {
            let applied = answer();
            return Outcome::Dropped {
                applied_status: Some(applied.status().as_u16()),
            };
        }
        Some(FaultAction::ApplyThenStatus { status }) => {
            answer();
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            envelope(
                status,
                "INJECTED_FAULT",
                "Applied at the LMS, then failed on the way back",
            )
        }
        Some(FaultAction::Malformed) => text(StatusCode::OK, "<html>upstream proxy error</html>"),
        Some(FaultAction::Redirect { status, location }) => redirect(status, &location),
        Some(FaultAction::LoopingPages) => json_response(
            StatusCode::OK,
            &json!({"lineItems": [], "next": "https://lms.example.com/api/lti/courses/1/line_items?page=2"}),
        ),
        Some(FaultAction::EchoAuthorization { status, padding }) => {
            echo_authorization(status, padding, authorization)
        }
        Some(FaultAction::Status {
            status,
            body,
            retry_after,
        }) => injected_status(status, body, retry_after),
        None => answer(),
    };
    Outcome::Answer(reply)
}

/// A redirect to `location` (left out when it is no header value).
fn redirect(status: u16, location: &str) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FOUND);
    let mut response = text(status, "<html>moved</html>");
    if let Ok(location) = location.parse() {
        response
            .headers_mut()
            .insert(hyper::header::LOCATION, location);
    }
    response
}

/// A proxy's error page that repeats the request's `Authorization` header.
fn echo_authorization(
    status: u16,
    padding: usize,
    authorization: Option<&str>,
) -> Response<Full<Bytes>> {
    text(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
        &format!(
            "{}Authorization: {} (echoed by a proxy)",
            "x".repeat(padding),
            authorization.unwrap_or_default()
        ),
    )
}

/// `status` with `body` (or the LTIaaS envelope) and `Retry-After`.
fn injected_status(
    status: u16,
    body: Option<String>,
    retry_after: Option<String>,
) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match body {
        Some(body) => text(status, &body),
        None => envelope(status, "INJECTED_FAULT", "Injected by the simulator"),
    };
    if let Some(after) = retry_after.and_then(|a| a.parse().ok()) {
        response
            .headers_mut()
            .insert(hyper::header::RETRY_AFTER, after);
    }
    response
}

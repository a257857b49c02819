//! The answers every route builds: JSON, LTIaaS's error envelope, plain
//! text (what a proxy in the way sends), and the empty 204. Kept apart so
//! every route, fault and refusal answers in the same shapes.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

/// The answer to a request refused before its handler ran (its 401, 400
/// or 404), boxed as it is large and the rare way out.
pub(crate) type Refusal = Box<Response<Full<Bytes>>>;

/// LTIaaS's error envelope: `{status, error, details: {message, description}}`.
pub(crate) fn envelope(
    status: StatusCode,
    message: &str,
    description: &str,
) -> Response<Full<Bytes>> {
    json_response(
        status,
        &json!({
            "status": status.as_u16(),
            "error": status.canonical_reason().unwrap_or("Error"),
            "details": {"message": message, "description": description}
        }),
    )
}

/// `body` as JSON with `status`.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("static response")
}

/// `body` as plain text with `status`.
pub(crate) fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "text/plain")
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("static response")
}

/// `204 No Content`, as LTIaaS answers an accepted score.
pub(crate) fn no_content() -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Full::new(Bytes::new()))
        .expect("static response")
}

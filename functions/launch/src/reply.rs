//! The launch route's answer: a [`Reply`] the handler chose, what each
//! [`LaunchError`] becomes (shared with the status page), and how a reply
//! is rendered (a redirect, an HTML page or JSON) and logged.

use std::time::Instant;

use http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use ltisync::launch::{Captured, LaunchError, LaunchTimings};
use ltisync::ltiaas::LtiaasError;
use serde_json::json;

use crate::html::escape;

/// A response the function chose to send (success or failure).
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    /// Short machine-readable code for the JSON body and the log.
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// What went wrong, for the log only (never sent to the client).
    pub(crate) detail: Option<String>,
    pub(crate) location: Option<String>,
    pub(crate) captured: Option<Captured>,
}

impl Reply {
    /// 302 to the tool when there is somewhere to go, else 200 with a page.
    pub(crate) fn success(
        code: &'static str,
        message: String,
        location: Option<String>,
        captured: Option<Captured>,
    ) -> Self {
        Self {
            status: if location.is_some() {
                StatusCode::FOUND
            } else {
                StatusCode::OK
            },
            code,
            message,
            detail: None,
            location,
            captured,
        }
    }

    pub(crate) fn error(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            detail: None,
            location: None,
            captured: None,
        }
    }
}

/// The client sees a fixed sentence; the log gets the details.
pub(crate) fn error_reply(error: LaunchError) -> Reply {
    let detail = error.to_string();
    let reply = match error {
        LaunchError::BadLtik(message) => {
            return Reply::error(StatusCode::BAD_REQUEST, "bad_ltik", message)
        }
        LaunchError::Ltiaas(LtiaasError::Unauthorized { .. }) => {
            return Reply::error(
                StatusCode::UNAUTHORIZED,
                "ltik_refused",
                "LTIaaS says this launch's ltik is invalid or expired; relaunch the activity from your LMS",
            )
        }
        LaunchError::Ltiaas(LtiaasError::ApiKeyRefused(_)) => Reply::error(
            StatusCode::BAD_GATEWAY,
            "api_key_refused",
            "LTIaaS refused this tool's API key; the tool's administrator must fix its configuration",
        ),
        LaunchError::Ltiaas(LtiaasError::Timeout(_)) => Reply::error(
            StatusCode::GATEWAY_TIMEOUT,
            "ltiaas_timeout",
            "LTIaaS did not answer in time; please relaunch in a moment",
        ),
        LaunchError::Ltiaas(_) => Reply::error(
            StatusCode::BAD_GATEWAY,
            "ltiaas_failed",
            "LTIaaS could not be reached or failed; please relaunch in a moment",
        ),
        LaunchError::IdsTooLong(message) => {
            return Reply::error(StatusCode::UNPROCESSABLE_ENTITY, "ids_too_long", message)
        }
        LaunchError::Store(_) => Reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the launch could not be saved; please relaunch in a moment",
        ),
    };
    Reply {
        detail: Some(detail),
        ..reply
    }
}

/// The HTTP response for a reply; lambda_http (or `LaunchFunction::refuse`)
/// encodes it for API Gateway.
pub(crate) fn render(reply: Reply, json: bool) -> Response<Body> {
    let mut response = Response::builder().status(reply.status);
    let mut set = |name: header::HeaderName, value: &str| {
        // Every value here is ASCII (a redirect URL is serialised encoded).
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().map(|h| h.insert(name, value));
        }
    };
    set(header::CACHE_CONTROL, "no-store");
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    let body = if let Some(location) = &reply.location {
        set(header::LOCATION, location);
        Body::Empty
    } else {
        if reply.status == StatusCode::METHOD_NOT_ALLOWED {
            set(header::ALLOW, "GET, POST");
        }
        if reply.status == StatusCode::UNAUTHORIZED {
            set(header::WWW_AUTHENTICATE, "LTIK-AUTH-V2 realm=\"ltisync\"");
        }
        if json {
            set(header::CONTENT_TYPE, "application/json");
            Body::Text(json_body(&reply).to_string())
        } else {
            set(header::CONTENT_TYPE, "text/html; charset=utf-8");
            set(
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            );
            Body::Text(html_body(&reply))
        }
    };
    response
        .body(body)
        .expect("a status and valid headers always build a response")
}

/// One record per launch; ids and timings only, never a secret.
pub(crate) fn log(reply: &Reply, timings: &LaunchTimings, started: Instant) {
    let overhead = started
        .elapsed()
        .saturating_sub(timings.ltiaas)
        .saturating_sub(timings.store);
    let ids = reply.captured.as_ref().map(|c| &c.ids);
    let (status, outcome) = (reply.status.as_u16(), reply.code);
    let ltiaas_us = timings.ltiaas.as_micros() as u64;
    let dynamodb_us = timings.store.as_micros() as u64;
    let overhead_us = overhead.as_micros() as u64;
    if reply.status.is_server_error() {
        tracing::error!(
            status, outcome, ltiaas_us, dynamodb_us, overhead_us,
            error = %reply.detail.as_deref().unwrap_or(&reply.message),
            "launch failed"
        );
    } else {
        tracing::info!(
            status, outcome, ltiaas_us, dynamodb_us, overhead_us,
            platform_id = ids.map(|i| i.platform_id.as_str()),
            context_id = ids.map(|i| i.context_id.as_str()),
            resource_link_id = ids.map(|i| i.resource_link_id.as_str()),
            detail = %reply.message,
            "launch"
        );
    }
}

fn json_body(reply: &Reply) -> serde_json::Value {
    if !reply.status.is_success() {
        return json!({"error": {"status": reply.status.as_u16(), "code": reply.code, "message": reply.message}});
    }
    let activity = reply.captured.as_ref().map(|c| {
        json!({
            "key": c.key.as_str(),
            "platformId": c.ids.platform_id,
            "contextId": c.ids.context_id,
            "resourceLinkId": c.ids.resource_link_id,
            "contextTitle": c.context_title,
            "resourceLinkTitle": c.resource_link_title,
            "serviceKeyCaptured": c.service_key_captured,
        })
    });
    json!({"status": reply.code, "message": reply.message, "activity": activity})
}

fn html_body(reply: &Reply) -> String {
    let (title, details) = match &reply.captured {
        Some(c) => (
            "Activity connected",
            format!(
                "<p>Course: <b>{}</b><br>Activity: <b>{}</b></p><p>Activity key: <code>{}</code></p>",
                escape(c.context_title.as_deref().unwrap_or(&c.ids.context_id)),
                escape(c.resource_link_title.as_deref().unwrap_or(&c.ids.resource_link_id)),
                escape(c.key.as_str()),
            ),
        ),
        None if reply.status.is_success() => ("Nothing to connect", String::new()),
        None => ("Launch failed", format!("<p>HTTP {}</p>", reply.status.as_u16())),
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>ltisync: {title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:40em;margin:2em auto;padding:0 1em}}</style></head>\
         <body><h1>{title}</h1><p>{}</p>{details}</body></html>",
        escape(&reply.message)
    )
}

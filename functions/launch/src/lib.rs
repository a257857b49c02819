//! The `launch` function: API Gateway (HTTP API payload 2.0 or REST API
//! 1.0) in front, [`ltisync::launch::LaunchService`] behind.
//!
//! `GET /launch?ltik=...` (or `POST` with a form-encoded `ltik`) captures
//! the activity and its service key, then redirects the browser to
//! `TOOL_URL` with the original query, or shows a small confirmation page
//! (JSON when the client asks for JSON). Each failure maps to one status:
//! 400 bad ltik, 401 ltik refused by LTIaaS, 502/504 LTIaaS failing or
//! slow, 503 DynamoDB failing, 404 other paths, 405 other methods.

#![warn(missing_docs)]

pub mod event;

use std::time::Instant;

use event::{EventError, HttpRequest};
use http::{header, StatusCode};
use ltisync::excerpt::excerpt;
use ltisync::launch::{
    check_ltik, Captured, LaunchError, LaunchOutcome, LaunchService, LaunchTimings,
};
use ltisync::ltiaas::LtiaasError;
use serde_json::json;
use url::Url;

/// The function's state, built once per cold start.
#[derive(Debug, Clone)]
pub struct LaunchFunction {
    service: LaunchService,
    tool_url: Option<Url>,
}

/// A response the function chose to send (success or failure).
struct Reply {
    status: StatusCode,
    /// Short machine-readable code for the JSON body and the log.
    code: &'static str,
    message: String,
    /// What went wrong, for the log only (never sent to the client).
    detail: Option<String>,
    location: Option<String>,
    captured: Option<Captured>,
}

impl Reply {
    /// 302 to the tool when there is somewhere to go, else 200 with a page.
    fn success(
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

    fn error(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
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

impl LaunchFunction {
    /// The function over a launch service; `tool_url` is where browsers go
    /// after a capture.
    pub fn new(service: LaunchService, tool_url: Option<Url>) -> Self {
        Self { service, tool_url }
    }

    /// Handles one invocation: an API Gateway event in, an API Gateway
    /// response out. Never fails: every event, however malformed, gets a
    /// response that says what happened.
    pub async fn handle(&self, event: &serde_json::Value) -> serde_json::Value {
        let started = Instant::now();
        let mut timings = LaunchTimings::default();
        let (reply, wants_json) = match event::read_event(event) {
            Ok(request) => (
                self.reply(&request, &mut timings).await,
                wants_json(&request),
            ),
            Err(EventError::BadRequest(message)) => (
                Reply::error(StatusCode::BAD_REQUEST, "bad_request", message),
                false,
            ),
            Err(EventError::NotHttp(message)) => (
                Reply::error(StatusCode::BAD_REQUEST, "not_an_http_event", message),
                true,
            ),
        };
        let total = started.elapsed();
        let overhead = total
            .saturating_sub(timings.ltiaas)
            .saturating_sub(timings.store);
        let ids = reply.captured.as_ref().map(|c| &c.ids);
        let fields = (
            reply.status.as_u16(),
            reply.code,
            timings.ltiaas.as_micros() as u64,
            timings.store.as_micros() as u64,
            overhead.as_micros() as u64,
        );
        // One record per launch; ids and timings only, never a secret.
        if reply.status.is_server_error() {
            tracing::error!(
                status = fields.0, outcome = fields.1, ltiaas_us = fields.2,
                dynamodb_us = fields.3, overhead_us = fields.4,
                error = %reply.detail.as_deref().unwrap_or(&reply.message),
                "launch failed"
            );
        } else {
            tracing::info!(
                status = fields.0, outcome = fields.1, ltiaas_us = fields.2,
                dynamodb_us = fields.3, overhead_us = fields.4,
                platform_id = ids.map(|i| i.platform_id.as_str()),
                context_id = ids.map(|i| i.context_id.as_str()),
                resource_link_id = ids.map(|i| i.resource_link_id.as_str()),
                detail = %reply.message,
                "launch"
            );
        }
        render(reply, wants_json)
    }

    async fn reply(&self, request: &HttpRequest, timings: &mut LaunchTimings) -> Reply {
        let path = request.path.as_str();
        let last_segment = path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default();
        if last_segment != "launch" {
            return Reply::error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("nothing at {}: ltisync serves /launch", excerpt(path)),
            );
        }
        let method = request.method.as_str();
        if method != "GET" && method != "POST" {
            return Reply::error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{method} is not supported: use GET or POST /launch"),
            );
        }
        let (raw_ltik, forward_query) = match launch_parameters(request) {
            Ok(found) => found,
            Err(message) => return Reply::error(StatusCode::BAD_REQUEST, "bad_request", message),
        };
        let ltik = match check_ltik(raw_ltik.as_deref()) {
            Ok(ltik) => ltik,
            Err(e) => return Reply::error(StatusCode::BAD_REQUEST, "bad_ltik", e.to_string()),
        };
        match self.service.capture(&ltik, timings).await {
            Ok(LaunchOutcome::Captured(captured)) => {
                let message = if captured.service_key_captured {
                    "activity captured; its grades will sync".to_owned()
                } else {
                    "activity recorded, but this LMS offers no grade service here yet (no service key)".to_owned()
                };
                Reply::success(
                    "captured",
                    message,
                    self.redirect(&forward_query),
                    Some(captured),
                )
            }
            Ok(LaunchOutcome::NotAnActivity { reason }) => Reply::success(
                "not_an_activity",
                format!("nothing to capture: {reason}"),
                self.redirect(&forward_query),
                None,
            ),
            Err(e) => error_reply(e),
        }
    }

    /// `TOOL_URL` with the launch's query (ltik included) appended.
    fn redirect(&self, forward_query: &str) -> Option<String> {
        let mut url = self.tool_url.clone()?;
        let query = match url.query() {
            Some(own) if !own.is_empty() && !forward_query.is_empty() => {
                format!("{own}&{forward_query}")
            }
            Some(own) if !own.is_empty() => own.to_owned(),
            _ => forward_query.to_owned(),
        };
        url.set_query((!query.is_empty()).then_some(query.as_str()));
        Some(url.into())
    }
}

/// The client sees a fixed sentence; the log gets the details.
fn error_reply(error: LaunchError) -> Reply {
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

/// The ltik and the query to forward: from the query string, or for a
/// form POST from the body (then forwarded as `ltik=...`).
fn launch_parameters(request: &HttpRequest) -> Result<(Option<String>, String), String> {
    let query = request.query.clone();
    let from_query = first_value(query.as_bytes(), "ltik");
    if from_query.is_some() || request.method != "POST" {
        return Ok((from_query, query));
    }
    let content_type = request.header("content-type").unwrap_or_default();
    if !is_form(content_type) {
        return Err(format!(
            "a POST launch must send the ltik in the query or as application/x-www-form-urlencoded, not '{}'",
            excerpt(content_type)
        ));
    }
    let body: &[u8] = &request.body;
    let ltik = first_value(body, "ltik");
    let forward = ltik
        .as_ref()
        .map(|l| {
            url::form_urlencoded::Serializer::new(query.clone())
                .append_pair("ltik", l)
                .finish()
        })
        .unwrap_or(query);
    Ok((ltik, forward))
}

fn first_value(encoded: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(encoded)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Media types compare without case, parameters (`; charset=...`) aside.
fn is_form(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

fn wants_json(request: &HttpRequest) -> bool {
    let accept = request
        .header("accept")
        .unwrap_or_default()
        .to_ascii_lowercase();
    accept.contains("application/json") && !accept.contains("text/html")
}

/// The API Gateway proxy response (the same shape serves payload 2.0 and 1.0).
fn render(reply: Reply, json: bool) -> serde_json::Value {
    let mut headers = serde_json::Map::new();
    let mut set = |name: header::HeaderName, value: &str| {
        headers.insert(name.as_str().to_owned(), value.into());
    };
    set(header::CACHE_CONTROL, "no-store");
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    let body = if let Some(location) = &reply.location {
        set(header::LOCATION, location);
        String::new()
    } else {
        if reply.status == StatusCode::METHOD_NOT_ALLOWED {
            set(header::ALLOW, "GET, POST");
        }
        if reply.status == StatusCode::UNAUTHORIZED {
            set(header::WWW_AUTHENTICATE, "LTIK-AUTH-V2 realm=\"ltisync\"");
        }
        if json {
            set(header::CONTENT_TYPE, "application/json");
            json_body(&reply).to_string()
        } else {
            set(header::CONTENT_TYPE, "text/html; charset=utf-8");
            set(
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            );
            html_body(&reply)
        }
    };
    json!({
        "statusCode": reply.status.as_u16(),
        "headers": headers,
        "body": body,
        "isBase64Encoded": false,
    })
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

/// HTML-escapes text that comes from the LMS.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lms_text_is_escaped() {
        assert_eq!(
            escape("<b>\"A&B\"</b>"),
            "&lt;b&gt;&quot;A&amp;B&quot;&lt;/b&gt;"
        );
    }

    #[test]
    fn form_media_types_match_without_case_or_parameters() {
        assert!(is_form("application/x-www-form-urlencoded"));
        assert!(is_form("Application/X-WWW-Form-Urlencoded; charset=UTF-8"));
        assert!(!is_form("application/x-www-form-urlencodedx"));
        assert!(!is_form("text/plain"));
    }

    #[test]
    fn json_is_chosen_only_when_asked_for_without_html() {
        let req = |accept: &str| HttpRequest {
            method: "GET".into(),
            path: "/launch".into(),
            query: String::new(),
            headers: vec![("accept".into(), accept.into())],
            body: Vec::new(),
        };
        assert!(wants_json(&req("application/json")));
        assert!(!wants_json(&req(
            "text/html,application/xhtml+xml,application/json;q=0.9"
        )));
        assert!(!wants_json(&req("*/*")));
    }
}

//! The `launch` function: API Gateway (HTTP API payload 2.0 or REST API
//! 1.0) in front, [`ltisync::launch::LaunchService`] behind.
//!
//! A lambda_http function behind a guard: each raw event is checked by
//! [`guard`] before lambda_http reads it (its request conversion panics on
//! some inputs), then handled as a `lambda_http::Request` and answered with
//! an `http::Response` that lambda_http encodes for the payload version the
//! event came in.
//!
//! `GET /launch?ltik=...` (or `POST` with a form-encoded `ltik`) captures
//! the activity and its service key, then redirects the browser to
//! `TOOL_URL` with the original query, or shows a small confirmation page
//! (JSON when the client asks for JSON). Each failure maps to one status:
//! 400 bad ltik, 401 ltik refused by LTIaaS, 502/504 LTIaaS failing or
//! slow, 503 DynamoDB failing, 404 other paths, 405 other methods.

#![warn(missing_docs)]

pub mod guard;
mod html;
mod status_html;
pub mod status_page;

use std::convert::Infallible;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use guard::Refusal;
use http::{header, HeaderValue, StatusCode};
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use lambda_http::{Adapter, Body, Context, LambdaEvent, Request, RequestExt, Response, Service};
use ltisync::excerpt::excerpt;
use ltisync::launch::{
    check_ltik, Captured, LaunchError, LaunchOutcome, LaunchService, LaunchTimings,
};
use ltisync::ltiaas::{LtiaasClient, LtiaasError};
use ltisync::status::StatusService;
use ltisync::Store;
use serde_json::json;
use status_page::{StatusPage, StatusRoute};
use url::Url;

use crate::html::escape;

/// The function's state, built once per cold start.
#[derive(Debug, Clone)]
pub struct LaunchFunction {
    service: LaunchService,
    tool_url: Option<Url>,
    status: StatusPage,
}

/// A response the function chose to send (success or failure).
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    /// Short machine-readable code for the JSON body and the log.
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// What went wrong, for the log only (never sent to the client).
    pub(crate) detail: Option<String>,
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
    /// The function over LTIaaS and the table; `tool_url` is where
    /// browsers go after a capture. The status page may be framed by any
    /// site until [`framed_by`](Self::framed_by) says otherwise.
    pub fn new(ltiaas: LtiaasClient, store: Store, tool_url: Option<Url>) -> Self {
        let status = StatusService::new(ltiaas.clone(), store.clone());
        Self {
            service: LaunchService::new(ltiaas, store),
            tool_url,
            status: StatusPage::new(status, "*".into()),
        }
    }

    /// The same function, its status page framed only by `frame_ancestors`
    /// (CSP sources, as `STATUS_FRAME_ANCESTORS` gives them).
    pub fn framed_by(mut self, frame_ancestors: String) -> Self {
        let service =
            StatusService::new(self.service.ltiaas().clone(), self.service.store().clone());
        self.status = StatusPage::new(service, frame_ancestors);
        self
    }

    /// Handles one invocation without a Lambda context (tests, tools).
    pub async fn handle(&self, event: &serde_json::Value) -> serde_json::Value {
        self.respond(event.clone(), Context::default()).await
    }

    /// Handles one invocation: an API Gateway event in, an API Gateway
    /// response out. Never fails: every event, however malformed, gets a
    /// response that says what happened. An event the guard admits goes
    /// through lambda_http (its conversion under `catch_unwind`, the last
    /// line of defence) and lambda_http encodes the answer.
    pub async fn respond(&self, event: serde_json::Value, context: Context) -> serde_json::Value {
        let started = Instant::now();
        let request = match guard::admit(event) {
            Ok(request) => request,
            Err(refusal) => return self.refuse(refusal, started),
        };
        let shape = guard::shape(&request);
        let handler = lambda_http::service_fn(move |request: Request| async move {
            Ok::<_, Infallible>(self.answer(&request, started).await)
        });
        let mut adapter = Adapter::from(handler);
        let converted = catch_unwind(AssertUnwindSafe(|| {
            adapter.call(LambdaEvent::new(request, context))
        }));
        let Ok(answer) = converted else {
            tracing::error!(
                event = shape,
                "lambda_http could not convert an event the guard admitted"
            );
            let refusal = Refusal::BadRequest("the request could not be read as HTTP".into());
            return self.refuse(refusal, started);
        };
        match answer.await {
            Ok(response) => serde_json::to_value(response).expect("a response is plain data"),
            Err(never) => match never {},
        }
    }

    /// The 400 for an event the guard refused, in the shape both payload
    /// versions accept (there is no request to tell which it was).
    fn refuse(&self, refusal: Refusal, started: Instant) -> serde_json::Value {
        let (reply, json) = match refusal {
            Refusal::BadRequest(message) => (
                Reply::error(StatusCode::BAD_REQUEST, "bad_request", message),
                false,
            ),
            Refusal::NotHttp(message) => (
                Reply::error(StatusCode::BAD_REQUEST, "not_an_http_event", message),
                true,
            ),
        };
        log(&reply, &LaunchTimings::default(), started);
        let (parts, body) = render(reply, json).into_parts();
        let mut response = ApiGatewayV2httpResponse::default();
        response.status_code = i64::from(parts.status.as_u16());
        response.headers = parts.headers;
        response.body = Some(body);
        serde_json::to_value(response).expect("a response is plain data")
    }

    /// Answers a request lambda_http read, and logs it.
    async fn answer(&self, request: &Request, started: Instant) -> Response<Body> {
        if let Some(route) = StatusRoute::of(request.raw_http_path()) {
            return self.status.answer(request, route).await;
        }
        let mut timings = LaunchTimings::default();
        let reply = self.reply(request, &mut timings).await;
        log(&reply, &timings, started);
        render(reply, wants_json(request))
    }

    async fn reply(&self, request: &Request, timings: &mut LaunchTimings) -> Reply {
        let path = request.raw_http_path();
        let last_segment = path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default();
        if last_segment != "launch" {
            return Reply::error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!(
                    "nothing at {}: ltisync serves /launch and /status",
                    excerpt(path)
                ),
            );
        }
        let method = request.method().as_str();
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

/// The ltik and the query to forward: from the query string, or for a
/// form POST from the body (then forwarded as `ltik=...`).
fn launch_parameters(request: &Request) -> Result<(Option<String>, String), String> {
    // The query as sent (forwarded whole); the ltik as lambda_http parsed it.
    let query = request.uri().query().unwrap_or_default().to_owned();
    let from_query = request
        .query_string_parameters_ref()
        .and_then(|params| params.first("ltik"))
        .map(str::to_owned);
    if from_query.is_some() || request.method() != http::Method::POST {
        return Ok((from_query, query));
    }
    let content_type = header_text(request, header::CONTENT_TYPE);
    if !is_form(content_type) {
        return Err(format!(
            "a POST launch must send the ltik in the query or as application/x-www-form-urlencoded, not '{}'",
            excerpt(content_type)
        ));
    }
    let ltik = first_value(request.body(), "ltik");
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

/// A header's first value as text ("" when absent or not text).
pub(crate) fn header_text(request: &Request, name: header::HeaderName) -> &str {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

pub(crate) fn first_value(encoded: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(encoded)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Media types compare without case, parameters (`; charset=...`) aside.
pub(crate) fn is_form(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

pub(crate) fn wants_json(request: &Request) -> bool {
    let accept = header_text(request, header::ACCEPT).to_ascii_lowercase();
    accept.contains("application/json") && !accept.contains("text/html")
}

/// The HTTP response for a reply; lambda_http (or [`LaunchFunction::refuse`])
/// encodes it for API Gateway.
fn render(reply: Reply, json: bool) -> Response<Body> {
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
fn log(reply: &Reply, timings: &LaunchTimings, started: Instant) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_media_types_match_without_case_or_parameters() {
        assert!(is_form("application/x-www-form-urlencoded"));
        assert!(is_form("Application/X-WWW-Form-Urlencoded; charset=UTF-8"));
        assert!(!is_form("application/x-www-form-urlencodedx"));
        assert!(!is_form("text/plain"));
    }

    #[test]
    fn json_is_chosen_only_when_asked_for_without_html() {
        let req = |accept: &str| {
            let mut request = Request::new(Body::Empty);
            let value = HeaderValue::from_str(accept).unwrap();
            request.headers_mut().insert(header::ACCEPT, value);
            request
        };
        assert!(wants_json(&req("application/json")));
        assert!(!wants_json(&req(
            "text/html,application/xhtml+xml,application/json;q=0.9"
        )));
        assert!(!wants_json(&req("*/*")));
    }
}

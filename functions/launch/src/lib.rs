//! The `launch` function: API Gateway (HTTP API payload 2.0 or REST API
//! 1.0) in front, [`ltisync::launch::LaunchService`] and
//! [`ltisync::status::StatusService`] behind.
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
//! 400 bad request or ltik, 401 ltik refused by LTIaaS, 422 ids too long to
//! store, 502/504 LTIaaS failing or slow, 503 DynamoDB failing, 404 other
//! paths, 405 other methods. `GET /status` and `POST /status/resend` are
//! the instructors' status page ([`status_page`]).
//!
//! # Layout
//! - this file: the function's state, the guard and lambda_http around
//!   each event, and the routing;
//! - [`guard`]: which raw events lambda_http may read;
//! - `request`: reading a request (the ltik, form bodies, headers);
//! - `reply`: the launch route's answer, what each error becomes, its
//!   rendering and its log record;
//! - [`status_page`] and `status_html`: the status page's route and HTML;
//!   `html`: escaping, shared by every page.

#![warn(missing_docs)]

pub mod guard;
mod html;
mod reply;
mod request;
mod status_html;
pub mod status_page;

use std::convert::Infallible;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use guard::Refusal;
use http::StatusCode;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use lambda_http::{Adapter, Body, Context, LambdaEvent, Request, RequestExt, Response, Service};
use ltisync::excerpt::excerpt;
use ltisync::launch::{check_ltik, LaunchOutcome, LaunchService, LaunchTimings};
use ltisync::ltiaas::LtiaasClient;
use ltisync::status::StatusService;
use ltisync::Store;
use status_page::{StatusPage, StatusRoute};
use url::Url;

use crate::reply::{error_reply, log, render, Reply};
use crate::request::{launch_parameters, wants_json};

/// The function's state, built once per cold start.
#[derive(Debug, Clone)]
pub struct LaunchFunction {
    service: LaunchService,
    tool_url: Option<Url>,
    status: StatusPage,
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

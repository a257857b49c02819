//! `GET /status?ltik=…` and `POST /status/resend`: where instructors see,
//! inside the LMS, whether their grades reached the gradebook
//! ([`ltisync::status`] decides; this file reads the request and writes
//! the answer).
//!
//! The page is built to live in the LMS's iframe: no `X-Frame-Options`,
//! a CSP whose `frame-ancestors` is the `STATUS_FRAME_ANCESTORS` setting,
//! no script, no cookie. The resend is a form POST carrying the ltik in its
//! body, so another site cannot forge it (it would need the ltik), and the
//! ltik is in no link, no redirect and no log: only in the form's field.

use std::time::Instant;

use http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use ltisync::launch::{check_ltik, LaunchError};
use ltisync::status::{ActivityReport, ResendRequest, StatusOutcome, StatusService};
use serde_json::json;

use crate::reply::error_reply;
use crate::request::{first_value, header_text, is_form, wants_json};
use crate::status_html::{refusal_page, report_page, resend_action, STYLE_SOURCE};

/// The two routes of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusRoute {
    /// `GET /status?ltik=…`.
    Page,
    /// `POST /status/resend` (form: `ltik`, and `user` or `scope=all`).
    Resend,
}

impl StatusRoute {
    /// The route a path ends in, if any.
    pub fn of(path: &str) -> Option<Self> {
        let path = path.trim_end_matches('/');
        if path.ends_with("/status/resend") {
            Some(Self::Resend)
        } else if path.ends_with("/status") {
            Some(Self::Page)
        } else {
            None
        }
    }

    fn method(self) -> &'static str {
        match self {
            Self::Page => "GET",
            Self::Resend => "POST",
        }
    }
}

/// The status page's state, built once per cold start.
#[derive(Debug, Clone)]
pub struct StatusPage {
    service: StatusService,
    /// The CSP's `frame-ancestors` sources.
    frame_ancestors: String,
}

/// What a status request comes to.
enum Answer {
    Report(Box<ActivityReport>),
    Refused {
        status: StatusCode,
        code: &'static str,
        message: String,
        /// For the log only.
        detail: Option<String>,
    },
}

impl Answer {
    fn refused(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::Refused {
            status,
            code,
            message: message.into(),
            detail: None,
        }
    }
}

impl StatusPage {
    /// The page over a status service, framed by `frame_ancestors`.
    pub fn new(service: StatusService, frame_ancestors: String) -> Self {
        Self {
            service,
            frame_ancestors,
        }
    }

    /// Answers one request to `route`, and logs it.
    pub async fn answer(&self, request: &Request, route: StatusRoute) -> Response<Body> {
        let started = Instant::now();
        let (answer, ltik) = self.reply(request, route).await;
        log(route, &answer, started);
        let action = resend_action(request.raw_http_path());
        let mut response = self.render(answer, ltik.as_deref(), action, wants_json(request));
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            let allow = HeaderValue::from_static(route.method());
            response.headers_mut().insert(header::ALLOW, allow);
        }
        response
    }

    /// The answer, and the ltik it was given (for the form's field).
    async fn reply(&self, request: &Request, route: StatusRoute) -> (Answer, Option<String>) {
        if request.method().as_str() != route.method() {
            let message = format!(
                "{} is not supported here: use {}",
                request.method(),
                route.method()
            );
            return (
                Answer::refused(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    message,
                ),
                None,
            );
        }
        let (raw_ltik, resend) = match parameters(request, route) {
            Ok(found) => found,
            Err(message) => {
                let answer = Answer::refused(StatusCode::BAD_REQUEST, "bad_request", message);
                return (answer, None);
            }
        };
        let ltik = match check_ltik(raw_ltik.as_deref()) {
            Ok(ltik) => ltik,
            Err(e) => {
                let answer = Answer::refused(StatusCode::BAD_REQUEST, "bad_ltik", e.to_string());
                return (answer, None);
            }
        };
        let outcome = match &resend {
            None => self.service.report(&ltik).await,
            Some(request) => self.service.resend(&ltik, request).await,
        };
        (answer_of(outcome), raw_ltik)
    }

    fn render(
        &self,
        answer: Answer,
        ltik: Option<&str>,
        action: &str,
        json: bool,
    ) -> Response<Body> {
        let (status, body) = match (&answer, json) {
            (Answer::Report(report), true) => (StatusCode::OK, json!(report).to_string()),
            (Answer::Report(report), false) => (
                StatusCode::OK,
                report_page(report, ltik.unwrap_or_default(), action),
            ),
            (
                Answer::Refused {
                    status,
                    code,
                    message,
                    ..
                },
                true,
            ) => (
                *status,
                json!({"error": {"status": status.as_u16(), "code": code, "message": message}})
                    .to_string(),
            ),
            (
                Answer::Refused {
                    status, message, ..
                },
                false,
            ) => (*status, refusal_page(heading(*status), message)),
        };
        let mut response = Response::new(Body::Text(body));
        *response.status_mut() = status;
        let content_type = if json {
            "application/json"
        } else {
            "text/html; charset=utf-8"
        };
        let csp = format!(
            "default-src 'none'; style-src {}; form-action 'self'; base-uri 'none'; frame-ancestors {}",
            *STYLE_SOURCE, self.frame_ancestors
        );
        let headers = response.headers_mut();
        let mut set = |name: header::HeaderName, value: &str| {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        };
        set(header::CONTENT_TYPE, content_type);
        set(header::CONTENT_SECURITY_POLICY, &csp);
        set(header::CACHE_CONTROL, "no-store");
        set(header::REFERRER_POLICY, "no-referrer");
        set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
        response
    }
}

/// The ltik, and for a resend which grades: from the query for the page,
/// from the form body for the resend (never its query: the ltik stays out
/// of URLs a resend could leave in a log).
fn parameters(
    request: &Request,
    route: StatusRoute,
) -> Result<(Option<String>, Option<ResendRequest>), String> {
    if route == StatusRoute::Page {
        let ltik = request
            .query_string_parameters_ref()
            .and_then(|params| params.first("ltik"))
            .map(str::to_owned);
        return Ok((ltik, None));
    }
    let content_type = header_text(request, header::CONTENT_TYPE);
    if !is_form(content_type) {
        return Err(format!(
            "send the form as application/x-www-form-urlencoded, not '{}'",
            ltisync::excerpt::excerpt(content_type)
        ));
    }
    let body = request.body().as_ref();
    let user = first_value(body, "user").filter(|u| !u.trim().is_empty());
    let which = match (user, first_value(body, "scope").as_deref()) {
        (Some(user), _) => ResendRequest::User(user),
        (None, Some("all")) => ResendRequest::All,
        (None, _) => return Err("say whose grade to send again (user) or scope=all".into()),
    };
    Ok((first_value(body, "ltik"), Some(which)))
}

fn answer_of(outcome: Result<StatusOutcome, LaunchError>) -> Answer {
    match outcome {
        Ok(StatusOutcome::Report(report)) => Answer::Report(report),
        Ok(StatusOutcome::Forbidden(why)) => {
            Answer::refused(StatusCode::FORBIDDEN, "forbidden", why)
        }
        Ok(StatusOutcome::NotAnActivity(why)) => Answer::refused(
            StatusCode::NOT_FOUND,
            "not_an_activity",
            format!("this launch names no activity to show: {why}"),
        ),
        Err(e) => {
            let reply = error_reply(e);
            Answer::Refused {
                status: reply.status,
                code: reply.code,
                message: reply.message,
                detail: reply.detail,
            }
        }
    }
}

fn heading(status: StatusCode) -> &'static str {
    match status {
        StatusCode::FORBIDDEN => "Not available to you",
        StatusCode::UNAUTHORIZED => "This launch has expired",
        StatusCode::NOT_FOUND => "Nothing to show",
        s if s.is_server_error() => "Grade status unavailable right now",
        _ => "Grade status request not understood",
    }
}

/// One record per request: ids and counts, never the ltik or a name.
fn log(route: StatusRoute, answer: &Answer, started: Instant) {
    let elapsed_us = started.elapsed().as_micros() as u64;
    let route = route.method();
    match answer {
        Answer::Report(report) => tracing::info!(
            route,
            status = 200,
            elapsed_us,
            platform_id = report.activity.platform_id.as_str(),
            context_id = report.activity.context_id.as_str(),
            resource_link_id = report.activity.resource_link_id.as_str(),
            audience = ?report.viewer.audience,
            grades = report.counts.total,
            resent = report.resent.as_ref().map(Vec::len),
            "status page"
        ),
        Answer::Refused {
            status,
            code,
            message,
            detail,
        } if status.is_server_error() => tracing::error!(
            route,
            status = status.as_u16(),
            outcome = code,
            elapsed_us,
            error = %detail.as_deref().unwrap_or(message),
            "status page failed"
        ),
        Answer::Refused {
            status,
            code,
            message,
            ..
        } => tracing::info!(
            route,
            status = status.as_u16(),
            outcome = code,
            elapsed_us,
            detail = %message,
            "status page refused"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_read_from_the_end_of_the_path() {
        assert_eq!(StatusRoute::of("/status"), Some(StatusRoute::Page));
        assert_eq!(StatusRoute::of("/Prod/status/"), Some(StatusRoute::Page));
        assert_eq!(
            StatusRoute::of("/Prod/status/resend"),
            Some(StatusRoute::Resend)
        );
        assert_eq!(StatusRoute::of("/launch"), None);
        assert_eq!(StatusRoute::of("/statuses"), None);
        assert_eq!(StatusRoute::of("/resend"), None);
    }
}

//! The LTIaaS API client (see `docs/ltiaas-api.md` for the contract it speaks).
//!
//! One [`LtiaasClient`] is built per cold start and shared: it keeps a pool
//! of connections, applies connect and request timeouts, caps the size of a
//! response, and turns every failure into an [`LtiaasError`] that says
//! whether trying again later can help.

mod types;

use std::time::{Duration, SystemTime};

use percent_encoding::utf8_percent_encode;
use reqwest::{header, Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use thiserror::Error;

pub use types::{
    AssignmentAndGrades, Availability, Context, IdToken, LaunchClaims, LineItem, LineItemPage,
    Member, MembershipPage, NewLineItem, Platform, ResourceLink, Services,
};

use crate::activity::KEY_COMPONENT;
use crate::config::LtiaasSettings;
use crate::grade::ScorePost;
use crate::secrets::{ApiKey, ExposeSecret, Ltik, ServiceKey};

/// Largest response body read; anything bigger is refused, not buffered.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// How a request authenticated; names the credential at fault in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// `LTIK-AUTH-V2`: a launch's ltik.
    Ltik,
    /// `SERVICE-AUTH-V1`: an activity's service key.
    ServiceKey,
}

/// What went wrong talking to LTIaaS.
#[derive(Debug, Error)]
pub enum LtiaasError {
    /// 401: the ltik is invalid or expired (relaunch from the LMS), or the
    /// service key is stale (the next launch replaces it), or the API key is wrong.
    #[error("LTIaaS refused the {credential:?} credentials (HTTP 401): {message}")]
    Unauthorized {
        /// The credential sent besides the API key.
        credential: Credential,
        /// LTIaaS's explanation.
        message: String,
    },
    /// 401 naming the API key: ltisync's own credential is wrong (rotated or
    /// mistyped secret). Nothing about the ltik or service key is known.
    #[error("LTIaaS refused ltisync's API key (HTTP 401): {0}; check LTIAAS_API_KEY / LTIAAS_API_KEY_SECRET")]
    ApiKeyRefused(String),
    /// 429, or the LMS's throttling 403: try again after `retry_after`.
    #[error("LTIaaS or the LMS is throttling requests (HTTP {status}): {message}")]
    Throttled {
        /// 429 or 403.
        status: u16,
        /// What the server said.
        message: String,
        /// The server's `Retry-After`, when given.
        retry_after: Option<Duration>,
    },
    /// 5xx: LTIaaS or the LMS failed; may succeed later.
    #[error("LTIaaS failed (HTTP {status}): {message}")]
    ServerError {
        /// The 5xx status.
        status: u16,
        /// What the server said.
        message: String,
        /// The server's `Retry-After`, when given.
        retry_after: Option<Duration>,
    },
    /// Any other 4xx: the request itself is wrong; repeating it will not help.
    #[error("LTIaaS rejected the request (HTTP {status}): {message}")]
    Rejected {
        /// The 4xx status.
        status: u16,
        /// What the server said.
        message: String,
    },
    /// No connection, or the connection dropped before an answer.
    #[error("LTIaaS could not be reached: {0}")]
    Unreachable(String),
    /// No answer within the configured time.
    #[error("LTIaaS did not answer within {0:?}")]
    Timeout(Duration),
    /// An answer ltisync cannot use (bad JSON, missing fields, too large, a
    /// success status with a body the contract does not allow). Retried: a
    /// proxy or captive portal in the way may be gone next time.
    #[error("LTIaaS sent a response ltisync cannot understand: {0}")]
    BadResponse(String),
    /// A 3xx: LTIaaS (or something in front of it) sent ltisync elsewhere.
    /// The configuration moved, not the grade: nothing is retried, nothing
    /// is marked failed, and the run stops calling LTIaaS.
    #[error("LTIaaS answered HTTP {status} redirecting to {location}; check LTIAAS_URL (ltisync never follows redirects)")]
    Redirected {
        /// The 3xx status.
        status: u16,
        /// The `Location` header (shortened), or "no Location".
        location: String,
    },
    /// The LMS's pages of line items do not end (a `next` link repeats, or
    /// too many pages); listing again will not help.
    #[error("the LMS's line item pages cannot be followed: {0}")]
    Paging(String),
    /// The request was not sent: the run is about to hit its deadline.
    #[error("not sent: the run's deadline is near")]
    NotSent,
    /// The HTTP client itself could not be built (TLS set-up); nothing was
    /// sent, and nothing about LTIaaS is known.
    #[error("the HTTP client for LTIaaS could not be built: {0}")]
    ClientSetup(String),
}

impl LtiaasError {
    /// Whether the same request may succeed later: network errors,
    /// timeouts, 429, 5xx and throttling 403.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Throttled { .. }
                | Self::ServerError { .. }
                | Self::Unreachable(_)
                | Self::Timeout(_)
                | Self::BadResponse(_)
        )
    }

    /// The delay the server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled { retry_after, .. } | Self::ServerError { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// The HTTP status LTIaaS answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Unauthorized { .. } | Self::ApiKeyRefused(_) => Some(401),
            Self::Throttled { status, .. }
            | Self::ServerError { status, .. }
            | Self::Rejected { status, .. }
            | Self::Redirected { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The LTIaaS API, as one tool (API key) sees it.
#[derive(Clone)]
pub struct LtiaasClient {
    http: reqwest::Client,
    /// Base URL without a trailing slash.
    base: String,
    api_key: ApiKey,
    request_timeout: Duration,
}

impl std::fmt::Debug for LtiaasClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LtiaasClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl LtiaasClient {
    /// Builds the client (connection pool, timeouts) for `settings` with the
    /// resolved API key.
    pub fn new(settings: &LtiaasSettings, api_key: ApiKey) -> Result<Self, LtiaasError> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .pool_idle_timeout(Duration::from_secs(50))
            .user_agent(concat!("ltisync/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| LtiaasError::ClientSetup(error_chain(&e)))?;
        Ok(Self {
            http,
            base: settings.base_url.as_str().trim_end_matches('/').to_owned(),
            api_key,
            request_timeout: settings.request_timeout,
        })
    }

    /// `GET /api/idtoken`: the launch behind `ltik`.
    pub async fn id_token(&self, ltik: &Ltik) -> Result<IdToken, LtiaasError> {
        let request = self.request(Method::GET, "/api/idtoken");
        let body = self
            .send(request, Credential::Ltik, ltik.expose_secret())
            .await?;
        parse(&body)
    }

    /// `GET /api/lineitems`: the first page of line items of the service
    /// key's context, filtered by link (and resource id and tag when given).
    pub async fn list_line_items(
        &self,
        key: &ServiceKey,
        resource_link_id: &str,
        resource_id: Option<&str>,
        tag: Option<&str>,
    ) -> Result<LineItemPage, LtiaasError> {
        let mut query = vec![("resourceLinkId", resource_link_id)];
        query.extend(resource_id.map(|r| ("resourceId", r)));
        query.extend(tag.map(|t| ("tag", t)));
        let request = self.request(Method::GET, "/api/lineitems").query(&query);
        let body = self
            .send(request, Credential::ServiceKey, key.expose_secret())
            .await?;
        parse(&body)
    }

    /// `GET /api/lineitems?url=...`: a further page, from a page's `next`.
    pub async fn line_items_page(
        &self,
        key: &ServiceKey,
        next: &str,
    ) -> Result<LineItemPage, LtiaasError> {
        let request = self
            .request(Method::GET, "/api/lineitems")
            .query(&[("url", next)]);
        let body = self
            .send(request, Credential::ServiceKey, key.expose_secret())
            .await?;
        parse(&body)
    }

    /// `POST /api/lineitems`: creates a line item (not idempotent).
    pub async fn create_line_item(
        &self,
        key: &ServiceKey,
        item: &NewLineItem,
    ) -> Result<LineItem, LtiaasError> {
        let request = self.request(Method::POST, "/api/lineitems").json(item);
        let body = self
            .send(request, Credential::ServiceKey, key.expose_secret())
            .await?;
        parse(&body)
    }

    /// `GET /api/lineitems/:id`.
    pub async fn get_line_item(
        &self,
        key: &ServiceKey,
        line_item_id: &str,
    ) -> Result<LineItem, LtiaasError> {
        let path = format!("/api/lineitems/{}", encode_line_item_id(line_item_id));
        let body = self
            .send(
                self.request(Method::GET, &path),
                Credential::ServiceKey,
                key.expose_secret(),
            )
            .await?;
        parse(&body)
    }

    /// `POST /api/lineitems/:id/scores`: one score (204 on success).
    pub async fn post_score(
        &self,
        key: &ServiceKey,
        line_item_id: &str,
        score: &ScorePost,
    ) -> Result<(), LtiaasError> {
        let path = format!(
            "/api/lineitems/{}/scores",
            encode_line_item_id(line_item_id)
        );
        let request = self.request(Method::POST, &path).json(score);
        let body = self
            .send(request, Credential::ServiceKey, key.expose_secret())
            .await?;
        check_score_accepted(&body)
    }

    /// `GET /api/memberships?role=Learner`: the first page of the service
    /// key's course roster, learners only where the LMS filters by role.
    pub async fn learners(&self, key: &ServiceKey) -> Result<MembershipPage, LtiaasError> {
        let request = self
            .request(Method::GET, "/api/memberships")
            .query(&[("role", "Learner")]);
        let body = self
            .send(request, Credential::ServiceKey, key.expose_secret())
            .await?;
        parse(&body)
    }

    /// `GET /api/memberships?url=...`: a further page, from a page's `next`.
    pub async fn memberships_page(
        &self,
        key: &ServiceKey,
        next: &str,
    ) -> Result<MembershipPage, LtiaasError> {
        let request = self
            .request(Method::GET, "/api/memberships")
            .query(&[("url", next)]);
        let body = self
            .send(request, Credential::ServiceKey, key.expose_secret())
            .await?;
        parse(&body)
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header(header::ACCEPT, "application/json")
    }

    /// Sends with the right `Authorization` scheme and returns the body of
    /// a 2xx answer; every other outcome becomes an [`LtiaasError`].
    async fn send(
        &self,
        request: RequestBuilder,
        credential: Credential,
        secret: &str,
    ) -> Result<Vec<u8>, LtiaasError> {
        let auth = self.authorization(credential, secret)?;
        let response = request
            .header(header::AUTHORIZATION, auth)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let throttling = ThrottleSignals::of(response.headers());
        if status.is_redirection() {
            return Err(self.redirected(status, response.headers(), secret));
        }
        let body = read_capped(response).await.map_err(|e| match e {
            ReadError::Transport(e) => self.transport_error(e),
            ReadError::TooLarge => {
                LtiaasError::BadResponse(format!("the body exceeds {MAX_RESPONSE_BYTES} bytes"))
            }
        })?;
        if status.is_success() {
            return Ok(body);
        }
        Err(self.refusal(status, &body, throttling, credential, secret))
    }

    /// `<scheme> <API key>:<credential>`, marked sensitive so no HTTP
    /// library logs it. A credential that cannot travel in a header is as
    /// good as refused.
    fn authorization(
        &self,
        credential: Credential,
        secret: &str,
    ) -> Result<header::HeaderValue, LtiaasError> {
        let scheme = match credential {
            Credential::Ltik => "LTIK-AUTH-V2",
            Credential::ServiceKey => "SERVICE-AUTH-V1",
        };
        if header::HeaderValue::try_from(self.api_key.expose_secret()).is_err() {
            return Err(LtiaasError::ApiKeyRefused(
                "the API key contains characters not allowed in an HTTP header".into(),
            ));
        }
        let mut auth = header::HeaderValue::try_from(format!(
            "{scheme} {}:{secret}",
            self.api_key.expose_secret()
        ))
        .map_err(|_| LtiaasError::Unauthorized {
            credential,
            message: format!(
                "the {credential:?} contains characters not allowed in an HTTP header"
            ),
        })?;
        auth.set_sensitive(true);
        Ok(auth)
    }

    /// `text` with every copy of the secrets replaced. Applied to a whole
    /// body before anything is cut from it, so no part of a secret echoed
    /// back by a server (or a proxy) survives.
    fn redacted(&self, text: &str, secret: &str) -> String {
        text.replace(secret, "[redacted]")
            .replace(self.api_key.expose_secret(), "[redacted]")
    }

    fn redirected(
        &self,
        status: StatusCode,
        headers: &header::HeaderMap,
        secret: &str,
    ) -> LtiaasError {
        let location = headers
            .get(header::LOCATION)
            .map(|v| {
                let raw = String::from_utf8_lossy(v.as_bytes());
                crate::excerpt::excerpt(&self.redacted(&raw, secret))
            })
            .unwrap_or_else(|| "no Location".into());
        LtiaasError::Redirected {
            status: status.as_u16(),
            location,
        }
    }

    /// The error a non-2xx answer stands for.
    fn refusal(
        &self,
        status: StatusCode,
        body: &[u8],
        throttling: ThrottleSignals,
        credential: Credential,
        secret: &str,
    ) -> LtiaasError {
        let raw = self.redacted(&String::from_utf8_lossy(body), secret);
        let throttled = status == StatusCode::FORBIDDEN
            && (throttling.budget_exhausted
                || raw.to_ascii_lowercase().contains("rate limit exceeded"));
        let message = shorten(&self.redacted(&error_message(status, body), secret));
        classify(
            status,
            message,
            throttling.retry_after,
            credential,
            throttled,
        )
    }

    fn transport_error(&self, e: reqwest::Error) -> LtiaasError {
        if e.is_timeout() {
            LtiaasError::Timeout(self.request_timeout)
        } else {
            LtiaasError::Unreachable(error_chain(&e))
        }
    }
}

/// What an answer's headers say about throttling.
#[derive(Debug, Clone, Copy)]
struct ThrottleSignals {
    /// The server's `Retry-After`.
    retry_after: Option<Duration>,
    /// Canvas reports its throttle budget; an exhausted one means a 403 is
    /// throttling, not a refusal.
    budget_exhausted: bool,
}

impl ThrottleSignals {
    fn of(headers: &header::HeaderMap) -> Self {
        let text = |name| {
            headers
                .get(name)
                .and_then(|v: &header::HeaderValue| v.to_str().ok())
        };
        Self {
            retry_after: text(header::RETRY_AFTER.as_str()).and_then(parse_retry_after),
            budget_exhausted: text("x-rate-limit-remaining")
                .and_then(|v| v.trim().parse::<f64>().ok())
                .is_some_and(|remaining| remaining <= 0.0),
        }
    }
}

/// Longest error message kept (after redaction); keeps grade items small.
pub const MAX_MESSAGE_CHARS: usize = 500;

fn shorten(text: &str) -> String {
    let mut chars = text.chars();
    let short: String = chars.by_ref().take(MAX_MESSAGE_CHARS).collect();
    if chars.next().is_some() {
        format!("{short}…")
    } else {
        short
    }
}

fn classify(
    status: StatusCode,
    message: String,
    retry_after: Option<Duration>,
    credential: Credential,
    throttled: bool,
) -> LtiaasError {
    let code = status.as_u16();
    match code {
        // Only the documented API-key refusal (code or description), not any
        // text that happens to mention a key.
        401 if message.contains("INVALID_API_KEY") || message.contains("Invalid API key") => {
            LtiaasError::ApiKeyRefused(message)
        }
        401 => LtiaasError::Unauthorized {
            credential,
            message,
        },
        429 => LtiaasError::Throttled {
            status: code,
            message,
            retry_after,
        },
        // Canvas throttles with 403 "Rate Limit Exceeded" (LTIaaS may relay it
        // inside its envelope); other 403s are final.
        403 if throttled => LtiaasError::Throttled {
            status: code,
            message,
            retry_after,
        },
        500..=599 => LtiaasError::ServerError {
            status: code,
            message,
            retry_after,
        },
        _ => LtiaasError::Rejected {
            status: code,
            message,
        },
    }
}

/// The most useful text of an error answer: the envelope's code and
/// description, the messages of `details.errors[]`, and what the LMS itself
/// said (`details.bodyReceived`), so "course concluded" reaches `lastError`
/// as such; else the raw body; else the status reason. Both envelope
/// shapes are in docs/ltiaas-api.md §2.
fn error_message(status: StatusCode, body: &[u8]) -> String {
    if let Ok(serde_json::Value::Object(envelope)) = serde_json::from_slice(body) {
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

fn envelope_messages(envelope: &serde_json::Map<String, serde_json::Value>) -> Vec<String> {
    let details = envelope.get("details");
    let field = |name: &str| details.and_then(|d| d.get(name));
    let mut parts: Vec<String> = Vec::new();
    let mut add = |part: String| {
        if !part.is_empty() && !parts.contains(&part) {
            parts.push(part);
        }
    };
    for name in ["message", "description"] {
        if let Some(serde_json::Value::String(text)) = field(name) {
            add(text.trim().to_owned());
        }
    }
    if let Some(errors) = field("errors") {
        messages_in(errors, 0).into_iter().for_each(&mut add);
    }
    if let Some(said) = field("bodyReceived").and_then(lms_message) {
        add(format!("the LMS said: {said}"));
    }
    if let Some(serde_json::Value::String(error)) = envelope.get("error") {
        add(error.trim().to_owned());
    }
    parts
}

/// The LMS's own answer, relayed by LTIaaS as JSON or as text.
fn lms_message(received: &serde_json::Value) -> Option<String> {
    let parsed;
    let value = match received {
        serde_json::Value::String(text) => match serde_json::from_str(text) {
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
fn messages_in(value: &serde_json::Value, depth: usize) -> Vec<String> {
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
        serde_json::Value::String(text) if !text.trim().is_empty() => vec![text.trim().to_owned()],
        serde_json::Value::Array(items) => items
            .iter()
            .flat_map(|item| messages_in(item, depth + 1))
            .collect(),
        serde_json::Value::Object(object) => FIELDS
            .iter()
            .filter_map(|name| object.get(*name))
            .map(|inner| messages_in(inner, depth + 1))
            .find(|found| !found.is_empty())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

enum ReadError {
    Transport(reqwest::Error),
    TooLarge,
}

async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, ReadError> {
    if response
        .content_length()
        .is_some_and(|len| len > MAX_RESPONSE_BYTES as u64)
    {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Transport)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A score is accepted with 204, or a 2xx whose body is empty or JSON.
/// Anything else in a 2xx (an HTML page from a captive portal, a WAF or a
/// wrong `LTIAAS_URL`) is not LTIaaS accepting the score.
fn check_score_accepted(body: &[u8]) -> Result<(), LtiaasError> {
    if body.iter().all(u8::is_ascii_whitespace)
        || serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
    {
        return Ok(());
    }
    Err(LtiaasError::BadResponse(format!(
        "a success status with a body that is neither empty nor JSON: '{}'",
        crate::excerpt::excerpt(&String::from_utf8_lossy(body))
    )))
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, LtiaasError> {
    serde_json::from_slice(body).map_err(|e| LtiaasError::BadResponse(e.to_string()))
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

/// A line item id (a URL) as one path segment: everything outside
/// `A-Za-z0-9-_.~` percent-encoded.
pub fn encode_line_item_id(id: &str) -> String {
    utf8_percent_encode(id, KEY_COMPONENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_item_ids_are_one_encoded_segment() {
        assert_eq!(
            encode_line_item_id("https://lms.example.com/course/1/lineitems/1?x=a b"),
            "https%3A%2F%2Flms.example.com%2Fcourse%2F1%2Flineitems%2F1%3Fx%3Da%20b"
        );
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn statuses_are_classified_by_what_retrying_can_do() {
        let c = |code: u16, msg: &str| {
            let throttled = msg.contains("Rate Limit Exceeded");
            classify(
                StatusCode::from_u16(code).unwrap(),
                msg.into(),
                None,
                Credential::ServiceKey,
                throttled,
            )
        };
        assert!(matches!(c(401, "x"), LtiaasError::Unauthorized { .. }));
        assert!(matches!(
            c(401, "INVALID_API_KEY: Invalid API key"),
            LtiaasError::ApiKeyRefused(_)
        ));
        assert!(c(429, "x").is_retryable());
        assert!(c(503, "x").is_retryable());
        assert!(c(403, "403 Forbidden (Rate Limit Exceeded)").is_retryable());
        for code in [400, 403, 404, 409, 412, 422] {
            assert!(!c(code, "x").is_retryable(), "{code}");
        }
    }

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
}

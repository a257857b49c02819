//! From an HTTP answer (or the lack of one) to an [`LtiaasError`] that says
//! whether trying again can help (the table in docs/ltiaas-api.md §9).
//!
//! Everything quoted from an answer is scrubbed of the request's secrets
//! first: servers and proxies echo headers and URLs back in error pages.

use std::time::{Duration, SystemTime};

use reqwest::{header, StatusCode};

use super::envelope::{error_message, shorten};
use super::error::error_chain;
use super::{Credential, LtiaasError};

/// The secrets one request carried. Deliberately without `Debug`.
pub(super) struct Secrets<'a> {
    /// The ltik or service key.
    credential: &'a str,
    api_key: &'a str,
}

impl<'a> Secrets<'a> {
    pub(super) fn new(credential: &'a str, api_key: &'a str) -> Self {
        Self {
            credential,
            api_key,
        }
    }

    /// `text` with every copy of the secrets replaced. Applied to a whole
    /// body before anything is cut from it, so no part of a secret echoed
    /// back by a server (or a proxy) survives.
    fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        // An empty secret (Bearer has no credential besides the key) would
        // match between every character.
        for secret in [self.credential, self.api_key] {
            if !secret.is_empty() {
                text = text.replace(secret, "[redacted]");
            }
        }
        text
    }
}

/// What an answer's headers say about throttling. Taken before the body is
/// read, since reading consumes the response.
#[derive(Debug, Clone, Copy)]
pub(super) struct ThrottleSignals {
    retry_after: Option<Duration>,
    /// Canvas reports its throttle budget; an exhausted one means a 403 is
    /// throttling, not a refusal.
    budget_exhausted: bool,
}

impl ThrottleSignals {
    pub(super) fn of(headers: &header::HeaderMap) -> Self {
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

/// A 3xx, which ltisync never follows: where it pointed, for the operator.
pub(super) fn redirected(
    status: StatusCode,
    headers: &header::HeaderMap,
    secrets: &Secrets<'_>,
) -> LtiaasError {
    let location = headers
        .get(header::LOCATION)
        .map(|v| {
            let raw = String::from_utf8_lossy(v.as_bytes());
            crate::excerpt::excerpt(&secrets.redact(&raw))
        })
        .unwrap_or_else(|| "no Location".into());
    LtiaasError::Redirected {
        status: status.as_u16(),
        location,
    }
}

/// The error a non-2xx, non-3xx answer stands for.
pub(super) fn refusal(
    status: StatusCode,
    body: &[u8],
    throttling: ThrottleSignals,
    credential: Credential,
    secrets: &Secrets<'_>,
) -> LtiaasError {
    let raw = secrets.redact(&String::from_utf8_lossy(body));
    let throttled = status == StatusCode::FORBIDDEN
        && (throttling.budget_exhausted
            || raw.to_ascii_lowercase().contains("rate limit exceeded"));
    let message = shorten(&secrets.redact(&error_message(status, body)));
    classify(
        status,
        message,
        throttling.retry_after,
        credential,
        throttled,
    )
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

/// A score post's refusal, read for what only a score post can mean. The
/// LMS already holds exactly this score (Open edX's 400 "Score already
/// exists"): the gradebook shows the value, so the post succeeded. The LMS
/// holds a score stamped in the same second or later (Moodle's 409;
/// Canvas's 400 naming the timestamps): [`LtiaasError::NotNewer`]. Other
/// refusals are left as they are.
pub(super) fn score_refusal(error: LtiaasError) -> Result<(), LtiaasError> {
    match error {
        LtiaasError::Rejected {
            status: 400,
            message,
        } if says_score_exists(&message) => Ok(()),
        LtiaasError::Rejected { status, message }
            if status == 409 || (status == 400 && says_timestamp_not_newer(&message)) =>
        {
            Err(LtiaasError::NotNewer { status, message })
        }
        other => Err(other),
    }
}

/// Open edX: "Score already exists".
fn says_score_exists(message: &str) -> bool {
    message
        .to_ascii_lowercase()
        .contains("score already exists")
}

/// Canvas: "Provided timestamp of X before last updated timestamp of Y".
fn says_timestamp_not_newer(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("timestamp") && message.contains("before last updated")
}

/// No answer: out of time (reported as the configured `timeout`, which the
/// operator can change), no connection (nothing sent), or a connection
/// that ended after the request went out.
pub(super) fn transport_error(e: reqwest::Error, timeout: Duration) -> LtiaasError {
    if e.is_timeout() {
        LtiaasError::Timeout(timeout)
    } else if e.is_connect() {
        LtiaasError::Unreachable(error_chain(&e))
    } else {
        LtiaasError::NoAnswer(error_chain(&e))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_score_refused_as_not_newer_is_retried_after_a_second() {
        let rejected = |status: u16, message: &str| LtiaasError::Rejected {
            status,
            message: message.into(),
        };
        let moodle = score_refusal(rejected(409, "Conflict")).unwrap_err();
        assert!(matches!(moodle, LtiaasError::NotNewer { status: 409, .. }));
        assert!(moodle.is_retryable());
        assert_eq!(moodle.retry_after(), Some(Duration::from_secs(1)));
        let canvas = "Provided timestamp of 2026-12-04T10:00:00.1Z before last updated timestamp of 2026-12-04T10:00:00.2Z";
        assert!(matches!(
            score_refusal(rejected(400, canvas)),
            Err(LtiaasError::NotNewer { status: 400, .. })
        ));
        assert!(
            score_refusal(rejected(400, "Score already exists")).is_ok(),
            "the gradebook holds this very score"
        );
        let other = score_refusal(rejected(400, "Incorrect score received")).unwrap_err();
        assert!(matches!(other, LtiaasError::Rejected { status: 400, .. }));
        assert!(!other.is_retryable());
    }

    #[test]
    fn a_403_is_throttling_by_its_body_or_an_exhausted_budget() {
        let secrets = Secrets::new("service-key", "api-key");
        let mut headers = header::HeaderMap::new();
        let refuse = |headers: &header::HeaderMap, body: &[u8]| {
            let signals = ThrottleSignals::of(headers);
            refusal(
                StatusCode::FORBIDDEN,
                body,
                signals,
                Credential::ServiceKey,
                &secrets,
            )
        };
        assert!(!refuse(&headers, b"Forbidden").is_retryable());
        assert!(refuse(&headers, b"403 Forbidden (rate limit exceeded)").is_retryable());
        headers.insert("x-rate-limit-remaining", "0.0".parse().unwrap());
        headers.insert(header::RETRY_AFTER, "3".parse().unwrap());
        let err = refuse(&headers, b"Forbidden");
        assert!(err.is_retryable(), "{err}");
        assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn secrets_are_redacted_from_refusals_and_redirects() {
        let secrets = Secrets::new("service-key", "api-key");
        let body = br#"{"error":"bad header 'SERVICE-AUTH-V1 api-key:service-key'"}"#;
        let no_signals = ThrottleSignals::of(&header::HeaderMap::new());
        let err = refusal(
            StatusCode::BAD_REQUEST,
            body,
            no_signals,
            Credential::ServiceKey,
            &secrets,
        );
        assert_eq!(
            err.to_string(),
            "LTIaaS rejected the request (HTTP 400): bad header 'SERVICE-AUTH-V1 [redacted]:[redacted]'"
        );
        let mut headers = header::HeaderMap::new();
        let location = "https://elsewhere/?key=service-key".parse().unwrap();
        headers.insert(header::LOCATION, location);
        let err = redirected(StatusCode::FOUND, &headers, &secrets);
        assert!(
            err.to_string()
                .contains("https://elsewhere/?key=[redacted];"),
            "{err}"
        );
    }
}

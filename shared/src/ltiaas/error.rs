//! What can go wrong talking to LTIaaS, sorted by what retrying can do.

use std::time::Duration;

use thiserror::Error;

/// How a request authenticated; names the credential at fault in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// `LTIK-AUTH-V2`: a launch's ltik.
    Ltik,
    /// `SERVICE-AUTH-V1`: an activity's service key.
    ServiceKey,
    /// `Bearer`: the API key alone (account endpoints such as `/api/platforms`).
    ApiKey,
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
    /// The LMS refused a score as no newer than the one it holds for the
    /// user: Moodle's 409 when the time LTIaaS stamped on the score falls in
    /// the same second as the last one's, Canvas's 400 "Provided timestamp
    /// of X before last updated timestamp of Y". The same post succeeds once
    /// a whole second has passed: retried after one, never final.
    #[error("the LMS holds a score for this user stamped no earlier (HTTP {status}): {message}")]
    NotNewer {
        /// 409, or the 400 that says so.
        status: u16,
        /// What the LMS said.
        message: String,
    },
    /// No connection: nothing was sent.
    #[error("LTIaaS could not be reached: {0}")]
    Unreachable(String),
    /// The request went out, and the connection ended before an answer:
    /// whether LTIaaS (and the LMS) acted on it is unknown.
    #[error("LTIaaS did not answer: {0}")]
    NoAnswer(String),
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
    /// The LMS's pages of something (line items, a roster) do not end: a
    /// `next` link repeats, or there are too many pages. Listing again will
    /// not help. Raised by [`PageGuard`](super::PageGuard).
    #[error("the LMS's pages of {listing} cannot be followed: {reason}")]
    Paging {
        /// What was being listed, e.g. "the course roster".
        listing: String,
        /// Why following stopped.
        reason: String,
    },
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
    /// timeouts, 429, 5xx, throttling 403 and a same-second refusal.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Throttled { .. }
                | Self::NotNewer { .. }
                | Self::ServerError { .. }
                | Self::Unreachable(_)
                | Self::NoAnswer(_)
                | Self::Timeout(_)
                | Self::BadResponse(_)
        )
    }

    /// The delay the server asked for, if any. A same-second refusal asks
    /// for a whole second: the LMS compares whole seconds of LTIaaS's clock,
    /// so after one the next post is stamped in a later second whatever the
    /// two clocks read.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled { retry_after, .. } | Self::ServerError { retry_after, .. } => {
                *retry_after
            }
            Self::NotNewer { .. } => Some(Duration::from_secs(1)),
            _ => None,
        }
    }

    /// Whether the request may have been carried out although no success
    /// came back: a timeout or a connection that ended after sending, or a
    /// relay's 502/504 (LTIaaS answering for an LMS that did not answer in
    /// time). A score post failing so may already be in the gradebook.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            Self::Timeout(_)
                | Self::NoAnswer(_)
                | Self::ServerError {
                    status: 502 | 504,
                    ..
                }
        )
    }

    /// The HTTP status LTIaaS answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Unauthorized { .. } | Self::ApiKeyRefused(_) => Some(401),
            Self::Throttled { status, .. }
            | Self::ServerError { status, .. }
            | Self::Rejected { status, .. }
            | Self::NotNewer { status, .. }
            | Self::Redirected { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// `e` and every error beneath it, joined: reqwest's own text ("error
/// sending request") hides the cause (refused, DNS, TLS) in its sources.
pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

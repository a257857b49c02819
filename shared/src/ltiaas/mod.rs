//! The LTIaaS API client (see `docs/ltiaas-api.md` for the contract it speaks).
//!
//! One [`LtiaasClient`] is built per cold start and shared: it keeps a pool
//! of connections, applies connect and request timeouts, caps the size of a
//! response, and turns every failure into an [`LtiaasError`] that says
//! whether trying again later can help.
//!
//! # Layout
//! - `client`: [`LtiaasClient`], one method per endpoint over a single
//!   request path (authenticate, send, read capped, classify, parse), and
//!   the capped read itself.
//! - `classify`: an answer's status, headers and body to an
//!   [`LtiaasError`], with the request's secrets redacted first.
//! - `envelope`: the human message inside LTIaaS's two error envelopes and
//!   the LMS answer they relay.
//! - `error`: [`LtiaasError`] and [`Credential`].
//! - `gate`: [`RequestGate`], the pacing of requests to LTIaaS (concurrency
//!   overall and per platform, rate, retries with backoff), shared by a
//!   sync run's posts and `ltisync reconcile`'s reads.
//! - `paging`: [`PageGuard`], which stops a listing whose `next` links
//!   repeat or do not end.
//! - `types`: the JSON bodies LTIaaS sends and receives.
//!
//! Everything public is re-exported here; callers name `crate::ltiaas::*`.

mod classify;
mod client;
mod envelope;
mod error;
mod gate;
mod paging;
mod types;

pub use classify::parse_retry_after;
pub use client::{encode_line_item_id, KeyRefresh, LtiaasClient, RosterCaller, MAX_RESPONSE_BYTES};
pub use envelope::MAX_MESSAGE_CHARS;
pub use error::{Credential, LtiaasError};
pub use gate::RequestGate;
pub use paging::PageGuard;
pub use types::{
    AssignmentAndGrades, Availability, Context, IdToken, LaunchClaims, LaunchUser, LineItem,
    LineItemPage, LmsResult, Member, MembershipPage, NewLineItem, PersonName, Platform,
    ResourceLink, ResultPage, Services,
};

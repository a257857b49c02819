//! A simulated LTIaaS, served over real HTTP on 127.0.0.1.
//!
//! It enforces the contract in `docs/ltiaas-api.md`: the exact `Authorization`
//! schemes (`LTIK-AUTH-V2` only for the ID token; `LTIK-AUTH-V2` or
//! `SERVICE-AUTH-V1` for line items and scores), the 401 envelope, line item
//! ids as one percent-encoded path segment, paging through `next`/`?url=`,
//! line item and score validation, course rosters (`GET /api/memberships`,
//! with Canvas's 422 for scores of non-learners), and `204` for accepted
//! scores. Faults
//! (latency, delays past the client's timeout, dropped connections, any
//! status with `Retry-After`, throttling 403, stale service keys, malformed
//! bodies) are injected on demand, and everything received is recorded so
//! tests can assert on it.
//!
//! Tests drive it in-process through [`Simulator`]; the `ltiaas-sim`
//! binary serves the same thing with a small `/_sim/*` admin API.
//!
//! # Layout
//!
//! One concept per file; a file uses only the ones listed below it, so a
//! change to one route does not reach the server or the others.
//!
//! - `simulator.rs`: [`Simulator`], the in-process handle tests start,
//!   configure and inspect; [`serve_forever`] for the binary.
//! - `server.rs`: the accept loop and each request's way through: counted
//!   in flight, recorded, delayed, faulted, answered.
//! - `admin.rs`: the `/_sim/*` admin API (the binary's stand-in for
//!   [`Simulator`]'s methods).
//! - `dispatch.rs`: the route of a request, its authentication, its handler.
//! - `faults.rs`: what an injected fault makes of a request.
//! - `auth.rs`: the `Authorization` schemes, the API key check, and the
//!   launch or context a credential opens.
//! - `launches.rs`: `GET /api/idtoken` and `GET /api/platforms`.
//! - `line_items.rs`: listing, creating and finding line items.
//! - `scores.rs`: posting a score: the LTI rules, then the LMS's refusals.
//! - `quirks.rs`: what each [`LmsProfile`] refuses beyond the LTI rules.
//! - `roster.rs`: `GET /api/memberships`, and the refusal of scores for
//!   anyone not an active learner.
//! - `results.rs`: `GET /api/lineitems/:id/scores`, what the gradebook shows.
//! - `paging.rs`: a listing's query parameters and `?url=` page links.
//! - `state.rs`: everything the simulated LTIaaS knows and received
//!   ([`SimState`]), and the types tests configure it with.
//! - `profile.rs`: [`LmsProfile`], and the last score an LMS holds.
//! - `respond.rs`: JSON, the LTIaaS error envelope, plain text, 204.

#![warn(missing_docs)]

mod admin;
mod auth;
mod dispatch;
mod faults;
mod launches;
mod line_items;
mod paging;
mod profile;
mod quirks;
mod respond;
mod results;
mod roster;
mod scores;
mod server;
mod simulator;
mod state;

pub use profile::LmsProfile;
pub use quirks::{NOT_NEWER, NO_ATTEMPTS_LEFT, SCORE_EXISTS, SUBMITTED_IN_FUTURE};
pub use roster::NOT_A_STUDENT;
pub use simulator::{serve_forever, Simulator, DEFAULT_API_KEY};
pub use state::{
    lis_role, Arrival, Binding, Fault, FaultAction, LaunchSpec, ReceivedScore, RecordedRequest,
    ResultOverride, Route, SimLineItem, SimMember, SimState, SCOPE_LINE_ITEM, SCOPE_RESULT,
    SCOPE_SCORE,
};

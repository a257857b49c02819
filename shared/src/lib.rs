//! # ltisync
//!
//! Asynchronous LTI grade passback through LTIaaS, on AWS Lambda.
//!
//! - [`launch`] captures the never-expiring service key of an activity at
//!   every LMS launch and stores it with the activity in DynamoDB.
//! - [`sync`] posts every pending grade with that key, on a schedule.
//!
//! Both functions, and the operator's `ltisync` command, are thin shells
//! around this crate.
//!
//! # Layout
//! - [`activity`]: an activity's three LTI ids and its collision-free key;
//!   what a launch captures, and what its service key may do.
//! - [`grade`]: a grade, the schema's rules, and the score body LTIaaS
//!   receives (with Canvas's submission extension where the LMS is Canvas).
//! - [`ltiaas`]: the LTIaaS client: authentication schemes, timeouts,
//!   capped bodies, and errors that say whether retrying can help.
//! - [`store`]: the one DynamoDB table: activity items, grade items (one
//!   struct, `store::grade_item`), the work index that holds copies of both
//!   (`store::work`), what the LMS accepted for each grade, locks, and
//!   page-by-page reads for reports.
//! - [`sync`]: the engine: claim, read, plan (pure), confirm, what the LMS
//!   accepted before, post (roster check, line item, request gate,
//!   read-back), record, release.
//! - [`reconcile`]: the gradebook's results against the grades marked
//!   SYNCED (pure; `ltisync reconcile` reads both).
//! - [`launch`]: from an ltik to a stored activity.
//! - [`status`]: from an ltik to what its viewer may see of the activity's
//!   grades (the status page), and its "Send again".
//! - [`config`] and [`bootstrap`]: settings from the environment, and the
//!   clients built from them at a cold start; [`telemetry`]: JSON logs that
//!   never carry a secret ([`secrets`]); [`excerpt`]: how input is quoted;
//!   [`parse`]: reading documents that carry secrets, whose errors never
//!   quote a value.

#![warn(missing_docs)]

pub mod activity;
pub mod bootstrap;
pub mod config;
pub mod excerpt;
pub mod grade;
pub mod launch;
pub mod ltiaas;
pub mod outcome;
pub mod parse;
pub mod reconcile;
pub mod secrets;
pub mod status;
pub mod store;
pub mod sync;
pub mod telemetry;

pub use activity::{Activity, ActivityIds, ActivityKey};
pub use grade::{ActivityProgress, Grade, GradingProgress, InvalidGrade};
pub use secrets::{ApiKey, ExposeSecret, Ltik, ServiceKey};
pub use store::{Store, StoreError};

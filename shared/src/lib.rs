//! # ltisync
//!
//! Asynchronous LTI grade passback through LTIaaS, on AWS Lambda.
//!
//! - [`launch`] captures the never-expiring service key of an activity at
//!   every LMS launch and stores it with the activity in DynamoDB.
//! - [`sync`] posts every pending grade with that key: seconds after the
//!   tool writes it (the table's stream), and daily as the backstop.
//! - [`status`] shows an activity's grades to its instructors inside the
//!   LMS.
//!
//! The functions (`functions/launch`, `functions/sync`) and the operator's
//! `ltisync` command (`cli/`) stay thin: they read the event or the
//! arguments, call this crate, and map each outcome to one answer.
//!
//! # Layout
//!
//! The crate is built in floors. A module uses only modules on its own
//! floor or below, never one above, and no two files import each other,
//! directly or through others (`tests/tests/api/layout.rs` checks both, and
//! that no function outside tests is longer than 60 lines).
//!
//! | floor | modules | what they hold |
//! |---|---|---|
//! | 5 | [`status`] | from an ltik to what its viewer may see of an activity's grades, and "Send again" |
//! | 4 | [`launch`], [`reconcile`], [`bootstrap`] | from an ltik to a stored activity; the gradebook against what was posted (pure); the clients a cold start builds |
//! | 3 | [`sync`] | the engine: claim, read, plan (pure), confirm, post, record, release |
//! | 2 | [`ltiaas`], [`store`] | the LTIaaS client and the request gate that paces it; the one DynamoDB table (activity, grade, posted, claim and lease items, the work index) |
//! | 1 | [`activity`] | an activity's three LTI ids, its collision-free key, what its service key may do |
//! | 0 | [`outcome`], [`grade`], [`config`], [`secrets`], [`parse`], [`excerpt`], [`telemetry`] | the vocabulary every layer speaks (what a grade came to, and why; a grade and its score body), settings, secret types, and how input is read and quoted |
//!
//! Each folder's `mod.rs` maps its own files the same way. The two
//! vocabularies sit on the ground floor on purpose: the store records
//! outcomes and `ltisync reconcile` paces its reads with the request gate,
//! so neither may live inside the engine that uses them most.

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
pub use outcome::{FailCode, FailReason, GradeOutcome, PendingReason, StoredReason};
pub use secrets::{ApiKey, ExposeSecret, Ltik, ServiceKey};
pub use store::{Store, StoreError};

//! # ltisync
//!
//! Asynchronous LTI grade passback through LTIaaS, on AWS Lambda.
//!
//! - [`launch`] captures the never-expiring service key of an activity at
//!   every LMS launch and stores it with the activity in DynamoDB.
//! - [`sync`] posts every pending grade with that key, on a schedule.
//!
//! Both functions are thin shells around this crate: the LTIaaS client
//! ([`ltiaas`]), the DynamoDB store ([`store`]), configuration
//! ([`config`]) and logging ([`telemetry`]).

pub mod activity;
pub mod bootstrap;
pub mod config;
pub mod excerpt;
pub mod grade;
pub mod launch;
pub mod ltiaas;
pub mod secrets;
pub mod store;
pub mod sync;
pub mod telemetry;

pub use activity::{Activity, ActivityIds, ActivityKey};
pub use grade::{ActivityProgress, Grade, GradingProgress, InvalidGrade};
pub use secrets::{ApiKey, ExposeSecret, Ltik, ServiceKey};
pub use store::{Store, StoreError};

//! Every integration test, in one binary (one link of the AWS SDK instead
//! of one per file). Each module is a theme; shared set-up lives in the
//! `ltisync_tests` library (simulator, DynamoDB, Lambda Runtime API).
//!
//! Run one theme with `scripts/with-moto.sh cargo test -p ltisync-tests --test api sync::`.

mod bench;
mod browser;
mod cli;
mod contract;
mod docs;
mod explain;
mod gradebook;
mod helpers;
mod launch;
mod layout;
mod ltiaas_client;
mod readme;
mod reconcile;
mod rotation;
mod status_page;
mod stream;
mod sync;
mod template;

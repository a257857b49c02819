//! Test support for ltisync: a local DynamoDB-API server (moto, or Dynoxide
//! where `LTISYNC_TEST_DYNAMODB` points at one) with the table from
//! `template.yaml`, a fault proxy in front of it, the LTIaaS simulator and
//! clients of it, a local event source mapping for the table's stream, a
//! Lambda Runtime API that runs the real function binaries, and a browser
//! driver for the status page.

#![warn(missing_docs)]

pub mod aws_proxy;
pub mod billing;
pub mod browser;
pub mod dynamo;
pub mod grades;
pub mod http_front;
pub mod ltiaas;
pub mod rigs;
pub mod runtime_api;
pub mod stream;

/// The LTIaaS simulator (its own crate, `ltiaas-sim`), under its old path.
pub use ltiaas_sim as simulator;

use std::path::PathBuf;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

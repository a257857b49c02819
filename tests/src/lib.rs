//! Test support for ltisync: the LTIaaS simulator, a local DynamoDB (moto)
//! with the table from `template.yaml`, and a Lambda Runtime API that runs
//! the real function binaries.

pub mod aws_proxy;
pub mod dynamo;
pub mod rigs;
pub mod runtime_api;
pub mod simulator;
pub mod stream;

use std::path::PathBuf;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

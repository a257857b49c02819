//! The DynamoDB-API servers the bench measures against, and what they are.

use ltisync_tests::dynamo::{TableDefinition, TestTable};

/// One DynamoDB-API server on loopback.
#[derive(Debug, Clone)]
pub(super) struct Server {
    pub(super) url: String,
    /// What it is, with its version (`Dynoxide 1.5.0`, `moto 5.2.5`).
    pub(super) label: String,
}

impl Server {
    /// A fresh table of the template's shape on this server, with or
    /// without its stream.
    pub(super) async fn table(&self, with_stream: bool) -> TestTable {
        let mut definition = TableDefinition::from_repo();
        if !with_stream {
            definition.stream_view_type = None;
        }
        TestTable::create_at(&self.url, definition).await
    }

    /// The short name: the label's first word.
    pub(super) fn name(&self) -> &str {
        self.label.split(' ').next().unwrap_or("DynamoDB")
    }
}

/// The server the sync is measured on, and moto beside it.
pub(super) struct Servers {
    /// Dynoxide under `make bench` (moto when only moto runs).
    pub(super) fast: Server,
    pub(super) moto: Server,
}

impl Servers {
    /// `LTISYNC_TEST_DYNAMODB` measures, `LTISYNC_TEST_AWS` (moto) compares.
    pub(super) async fn from_environment() -> Self {
        let fast = ltisync_tests::dynamo::endpoint();
        let moto = ltisync_tests::dynamo::services_endpoint();
        Self {
            fast: identify(&fast).await,
            moto: identify(&moto).await,
        }
    }

    /// Whether both roles are played by one server (a tiny run on moto).
    pub(super) fn one_server(&self) -> bool {
        self.fast.url == self.moto.url
    }
}

/// Asks the server who it is: Dynoxide names itself in its `server`
/// header; anything else is taken for moto, whose version the project's
/// virtualenv tells.
async fn identify(url: &str) -> Server {
    let reply = reqwest::Client::new()
        .post(format!("{url}/"))
        .header("X-Amz-Target", "DynamoDB_20120810.ListTables")
        .header("Content-Type", "application/x-amz-json-1.0")
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=0",
        )
        .header("X-Amz-Date", "20260101T000000Z")
        .body("{}")
        .send()
        .await
        .expect("the DynamoDB server answers");
    let server = reply
        .headers()
        .get("server")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let label = match server.strip_prefix("Dynoxide/") {
        Some(version) => {
            format!("Dynoxide {version} (crate dynoxide-rs {DYNOXIDE_CRATE}, in memory)")
        }
        None => format!("moto {} (server mode, one process)", moto_version()),
    };
    Server {
        url: url.to_owned(),
        label,
    }
}

/// The crate version the Makefile installs.
const DYNOXIDE_CRATE: &str = "3.2.0";

fn moto_version() -> String {
    let python = ltisync_tests::repo_root().join(".venv/bin/python");
    std::process::Command::new(python)
        .args(["-c", "import moto; print(moto.__version__)"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

//! The `ltiaas-sim` binary as LTIaaS, on loopback.

use std::process::Stdio;

use ltisync_tests::runtime_api::binary;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// A running `ltiaas-sim`, killed on drop.
pub struct LtiaasSim {
    child: Child,
    /// Its standard output, held open for as long as it runs.
    _stdout: Lines<BufReader<ChildStdout>>,
    /// Where it listens, as it printed it.
    pub url: String,
}

impl LtiaasSim {
    /// Starts `ltiaas-sim` on a free port with `api_key`, and waits for the
    /// URL it prints.
    pub async fn start(api_key: &str) -> Result<Self, String> {
        let mut child = Command::new(binary("ltiaas-sim"))
            .args(["--port", "0", "--api-key", api_key])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("ltiaas-sim did not start: {e}"))?;
        let mut stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
        while let Ok(Some(line)) = stdout.next_line().await {
            if let Some(url) = line.strip_prefix("LTIAAS_URL=") {
                return Ok(Self {
                    child,
                    _stdout: stdout,
                    url: url.to_owned(),
                });
            }
        }
        Err("ltiaas-sim ended without printing its URL".into())
    }

    /// Stops it.
    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}

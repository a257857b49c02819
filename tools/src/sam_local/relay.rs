//! The one way a function container reaches the local stack.
//!
//! SAM CLI runs each function in a container on Docker's default bridge
//! and publishes the emulator's port on 127.0.0.1. It does not honour
//! `--docker-network host` (aws/aws-sam-cli#4236; the fix, #7278, was
//! closed unmerged), so a container cannot reach the loopback servers of
//! the run. A relay listens on the bridge's host address (an interface of
//! this machine only) and forwards to exactly one loopback server; the
//! containers are given the relays' addresses and reach nothing else that
//! the run started. The daemon `scripts/with-docker.sh` starts has no NAT
//! (`--iptables=false`), so they reach nothing outside the machine either.

use std::net::{IpAddr, SocketAddr};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running relay, stopped when dropped.
pub struct Relay {
    task: JoinHandle<()>,
    /// Where the containers connect.
    pub address: SocketAddr,
}

impl Relay {
    /// Listens on a free port of `host` and forwards every connection to
    /// `target` on loopback.
    pub async fn start(host: IpAddr, target: SocketAddr) -> std::io::Result<Self> {
        assert!(target.ip().is_loopback(), "relays forward to loopback only");
        let listener = TcpListener::bind((host, 0)).await?;
        let address = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                tokio::spawn(forward(inbound, target));
            }
        });
        Ok(Relay { task, address })
    }

    /// The address as an http:// base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(mut inbound: TcpStream, target: SocketAddr) {
    if let Ok(mut outbound) = TcpStream::connect(target).await {
        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
    }
}

//! `ltiaas-sim`: the LTIaaS simulator as a standalone server, for the demo
//! and for trying ltisync by hand. It prints `LTIAAS_URL=http://127.0.0.1:N`
//! once listening and serves until interrupted. `--host` serves another
//! address of this machine, such as Docker's bridge for `sam local`.
//!
//! Admin API (no auth, so loopback or a host-only bridge only): `POST /_sim/launches` (a launch;
//! answers its ltik), `POST /_sim/faults`, `POST /_sim/settings`
//! (`latencyMs`, `pageSize`), `POST /_sim/rosters` (a course roster),
//! `POST /_sim/profiles` (`{"platformId", "profile"}`: `generic`, `moodle`, `openedx`, `canvas`),
//! `POST /_sim/results` (what the gradebook shows instead, for one user),
//! `GET /_sim/scores`, `GET /_sim/line-items`, `GET /_sim/requests`.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use clap::Parser;
use ltiaas_sim::{serve_forever, Simulator, DEFAULT_API_KEY};

/// A simulated LTIaaS on 127.0.0.1 (or `--host`).
#[derive(Debug, Parser)]
#[command(name = "ltiaas-sim", version)]
struct Args {
    /// The address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// The port to listen on (0: a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The API key it accepts.
    #[arg(long, default_value = DEFAULT_API_KEY)]
    api_key: String,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let addr = SocketAddr::from((args.host, args.port));
    let sim = match Simulator::start_on(addr, &args.api_key).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("ltiaas-sim: cannot listen on {addr}: {e}");
            std::process::exit(2);
        }
    };
    println!("LTIAAS_URL={}", sim.url());
    std::io::stdout().flush().ok();
    serve_forever(sim).await.ok();
}

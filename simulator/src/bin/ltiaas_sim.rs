//! `ltiaas-sim`: the LTIaaS simulator as a standalone server, for the demo
//! and for trying ltisync by hand.
//!
//! Usage: `ltiaas-sim [--port N] [--api-key KEY]` (port 0, the default,
//! picks a free one). It prints `LTIAAS_URL=http://127.0.0.1:N` once
//! listening and serves until interrupted. Admin API (no auth, loopback):
//! `POST /_sim/launches` (a launch; answers its ltik), `POST /_sim/faults`,
//! `POST /_sim/settings` (`latencyMs`, `pageSize`), `GET /_sim/scores`,
//! `GET /_sim/line-items`, `GET /_sim/requests`.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};

use ltisync_tests::simulator::{serve_forever, Simulator, DEFAULT_API_KEY};

#[tokio::main]
async fn main() {
    let mut port = 0u16;
    let mut api_key = DEFAULT_API_KEY.to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--port", Some(p)) => port = p.parse().expect("--port takes a number"),
            ("--api-key", Some(k)) => api_key = k,
            _ => {
                eprintln!("usage: ltiaas-sim [--port N] [--api-key KEY]");
                std::process::exit(2);
            }
        }
    }
    let sim = Simulator::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), &api_key)
        .await
        .expect("the simulator binds its port");
    println!("LTIAAS_URL={}", sim.url());
    std::io::stdout().flush().ok();
    serve_forever(sim).await.ok();
}

//! LTIaaS clients of the simulator, built the one way the tests and tools
//! need them: the simulator's URL, an API key, and time limits.

use std::time::Duration;

use ltiaas_sim::Simulator;
use ltisync::config::{ApiKeySource, LtiaasSettings};
use ltisync::ltiaas::LtiaasClient;
use ltisync::ApiKey;

/// Time limits for a client: connecting, and a whole request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time allowed to open a connection.
    pub connect: Duration,
    /// Time allowed for a whole request.
    pub request: Duration,
}

impl Limits {
    /// What the launch service and most tests use: 2 s and 5 s.
    pub const TESTS: Limits = Limits {
        connect: Duration::from_secs(2),
        request: Duration::from_secs(5),
    };
}

/// The settings of a client of `sim` with `api_key`.
pub fn settings(sim: &Simulator, api_key: &str, limits: Limits) -> LtiaasSettings {
    LtiaasSettings {
        base_url: sim.url().parse().expect("the simulator's URL"),
        api_key: ApiKeySource::Plain(ApiKey::new(api_key)),
        connect_timeout: limits.connect,
        request_timeout: limits.request,
    }
}

/// A client of `sim` with `api_key`.
pub fn client(sim: &Simulator, api_key: &str, limits: Limits) -> LtiaasClient {
    LtiaasClient::new(&settings(sim, api_key, limits), ApiKey::new(api_key))
        .expect("a client of the simulator")
}

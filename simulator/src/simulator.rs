//! [`Simulator`]: the simulator running in-process, as tests drive it:
//! start it, give it launches, line items, rosters and faults, and read
//! back what it received.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::profile::LmsProfile;
use crate::server;
use crate::state::{
    lock, Arrival, Fault, LaunchSpec, ReceivedScore, RecordedRequest, ResultOverride, Route,
    SimLineItem, SimMember, SimState,
};

/// The API key the simulator accepts unless told otherwise.
pub const DEFAULT_API_KEY: &str = "5f0e1c2a-0b7d-4c1e-9a51-3f6f2d8c9e10";

/// A running simulator; stops when dropped.
pub struct Simulator {
    addr: SocketAddr,
    state: Arc<Mutex<SimState>>,
    task: JoinHandle<()>,
}

impl Simulator {
    /// Starts on a free port of 127.0.0.1 with [`DEFAULT_API_KEY`].
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on(
            "127.0.0.1:0".parse().expect("valid address"),
            DEFAULT_API_KEY,
        )
        .await
    }

    /// Starts on `addr`, accepting `api_key`.
    pub async fn start_on(addr: SocketAddr, api_key: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(SimState::new(api_key.to_owned())));
        let task = server::spawn(listener, state.clone());
        Ok(Self { addr, state, task })
    }

    /// The base URL to configure as `LTIAAS_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API key it accepts.
    pub fn api_key(&self) -> String {
        self.lock().api_key.clone()
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        lock(&self.state)
    }

    /// Registers a launch and returns its ltik.
    pub fn add_launch(&self, spec: LaunchSpec) -> String {
        self.lock().add_launch(spec)
    }

    /// Makes an ltik invalid (as after 24 hours).
    pub fn expire_ltik(&self, ltik: &str) {
        self.lock().launches.remove(ltik);
    }

    /// Makes a service key get 401 from now on, until a launch hands it out again.
    pub fn make_service_key_stale(&self, key: &str) {
        self.lock().stale_keys.push(key.to_owned());
    }

    /// Adds a line item to a context; returns its id.
    pub fn add_line_item(&self, platform_id: &str, context_id: &str, item: SimLineItem) -> String {
        self.lock().add_line_item(platform_id, context_id, item)
    }

    /// Removes a line item everywhere (as a teacher deleting the column).
    pub fn delete_line_item(&self, id: &str) {
        for items in self.lock().line_items.values_mut() {
            items.retain(|i| i.id != id);
        }
    }

    /// The line items of a context.
    pub fn line_items(&self, platform_id: &str, context_id: &str) -> Vec<SimLineItem> {
        self.lock()
            .line_items
            .get(&(platform_id.to_owned(), context_id.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    /// How many line items were created through the API.
    pub fn created_line_items(&self) -> usize {
        self.lock().created
    }

    /// Scores accepted so far.
    pub fn scores(&self) -> Vec<ReceivedScore> {
        self.lock().scores.clone()
    }

    /// Requests received so far (recorded once answered).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Requests as they arrived, with their time.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.lock().arrivals.clone()
    }

    /// Waits until a request for `route` (and `user`, if given) has arrived.
    pub async fn wait_for_arrival(&self, route: Route, user: Option<&str>, limit: Duration) {
        let started = std::time::Instant::now();
        loop {
            let arrived = self
                .lock()
                .arrivals
                .iter()
                .any(|a| a.route == route && (user.is_none() || a.user_id.as_deref() == user));
            if arrived {
                return;
            }
            assert!(
                started.elapsed() < limit,
                "no {route:?} request for {user:?} within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The most requests handled at once for `platform`, and in all.
    pub fn max_in_flight(&self, platform: &str) -> (usize, usize) {
        let s = self.lock();
        (
            s.max_in_flight.get(platform).copied().unwrap_or(0),
            s.max_in_flight_total,
        )
    }

    /// Adds a fault.
    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Adds `latency` to every request.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Gives a course a roster (without one, memberships answers 403
    /// `SERVICE_NOT_AVAILABLE_FOR_CONTEXT`, and any user's score is taken).
    /// With one, scores for anyone not an active learner get Canvas's 422.
    pub fn set_roster(&self, platform_id: &str, context_id: &str, members: Vec<SimMember>) {
        self.lock()
            .rosters
            .insert((platform_id.to_owned(), context_id.to_owned()), members);
    }

    /// Behave like an LMS that ignores the `resourceId`, `tag` and `role` filters.
    pub fn ignore_filters(&self, ignore: bool) {
        self.lock().ignore_filters = ignore;
    }

    /// Changes what the gradebook shows for `user` in (platform, context),
    /// behind the tool's back: an instructor's score, or the result gone.
    pub fn set_result(
        &self,
        platform_id: &str,
        context_id: &str,
        user: &str,
        change: ResultOverride,
    ) {
        let key = (
            platform_id.to_owned(),
            context_id.to_owned(),
            user.to_owned(),
        );
        self.lock().result_overrides.insert(key, change);
    }

    /// Allows this many attempts per user and line item (`canvas` profile).
    pub fn set_allowed_attempts(&self, allowed: Option<u32>) {
        self.lock().allowed_attempts = allowed;
    }

    /// The submission attempts `user` has, over all line items (`canvas`).
    pub fn attempts_of(&self, user: &str) -> u32 {
        let state = self.lock();
        state
            .attempts
            .iter()
            .filter(|((_, u), _)| u == user)
            .map(|(_, n)| n)
            .sum()
    }

    /// Gives `platform_id`'s LMS the quirks of `profile`.
    pub fn set_profile(&self, platform_id: &str, profile: LmsProfile) {
        self.lock().profiles.insert(platform_id.to_owned(), profile);
    }

    /// Sets how many line items a page holds.
    pub fn set_page_size(&self, size: usize) {
        self.lock().page_size = size.max(1);
    }

    /// Stops serving (also done on drop).
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves until the process is stopped (used by the `ltiaas-sim` binary).
pub async fn serve_forever(sim: Simulator) -> Result<(), Infallible> {
    tokio::signal::ctrl_c().await.ok();
    sim.stop();
    Ok(())
}

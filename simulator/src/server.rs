//! The HTTP side: the accept loop, and each request's way through the
//! simulator. A request is counted in flight and recorded as it arrives,
//! waits the set latency, meets the first matching fault, and is answered
//! by `admin.rs` (`/_sim/*`) or `dispatch.rs` (the LTIaaS API); what it was
//! answered is recorded too.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::admin;
use crate::auth::Credential;
use crate::dispatch::{self, ApiRequest};
use crate::faults::{self, Outcome};
use crate::state::{lock, Arrival, RecordedRequest, Route, SimState};

/// Serves `listener` until the returned task is aborted.
pub(crate) fn spawn(listener: TcpListener, state: Arc<Mutex<SimState>>) -> JoinHandle<()> {
    let started = Instant::now();
    tokio::spawn(async move {
        // Dropping the set (when this task is aborted) ends every connection.
        let mut connections = JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let state = state.clone();
            connections.spawn(async move {
                let service = service_fn(move |req| handle(state.clone(), started, req));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
            while connections.try_join_next().is_some() {}
        }
    })
}

/// Leaves the in-flight count when a request ends, however it ends.
struct InFlight {
    state: Arc<Mutex<SimState>>,
    platform: Option<String>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(platform) = &self.platform {
            lock(&self.state).leave(platform);
        }
    }
}

/// The connection is closed without an answer.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for DropConnection {}

type Reply = Result<Response<Full<Bytes>>, DropConnection>;

/// A request, read whole.
struct Received {
    method: Method,
    path: String,
    query: Option<String>,
    authorization: Option<String>,
    body: Bytes,
}

impl Received {
    /// Reads `req` and its body (a body that fails to arrive drops the
    /// connection).
    async fn read(req: Request<Incoming>) -> Result<Self, DropConnection> {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let query = req.uri().query().map(str::to_owned);
        let authorization = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match req.into_body().collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return Err(DropConnection),
        };
        Ok(Self {
            method,
            path,
            query,
            authorization,
            body,
        })
    }
}

/// One request: to the admin API, or to the LTIaaS API.
async fn handle(state: Arc<Mutex<SimState>>, started: Instant, req: Request<Incoming>) -> Reply {
    let received = Received::read(req).await?;
    if let Some(admin) = received.path.strip_prefix("/_sim/") {
        return Ok(admin::route(
            &state,
            &received.method,
            admin,
            &received.body,
        ));
    }
    serve_api(state, started, received).await
}

/// A request to the LTIaaS API, through latency and faults, recorded.
async fn serve_api(state: Arc<Mutex<SimState>>, started: Instant, received: Received) -> Reply {
    let route = dispatch::route_of(&received.method, &received.path);
    let body: Option<Value> = serde_json::from_slice(&received.body).ok();
    let credential = Credential::parse(received.authorization.as_deref());
    let user_id = user_of(body.as_ref());
    let (latency, _in_flight) =
        arrive(&state, started, route, credential.as_ref(), user_id.clone());
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut record = RecordedRequest {
        method: received.method.to_string(),
        path: received.path.clone(),
        query: received.query.clone(),
        route,
        authorization: received.authorization.clone(),
        body: body.clone(),
        status: None,
    };
    let service_key = credential.as_ref().and_then(Credential::service_key);
    let fault = lock(&state).take_fault(route, service_key, user_id.as_deref());
    let request = ApiRequest {
        route,
        method: &received.method,
        path: &received.path,
        query: received.query.as_deref(),
        body: body.as_ref(),
    };
    // The request handled as the LMS would, when the fault lets it through.
    let answer = || dispatch::serve(&state, &request, credential);
    let reply = match faults::apply(fault, answer, received.authorization.as_deref()).await {
        Outcome::Answer(reply) => {
            record.status = Some(reply.status().as_u16());
            Ok(reply)
        }
        Outcome::Dropped { applied_status } => {
            record.status = applied_status;
            Err(DropConnection)
        }
    };
    lock(&state).requests.push(record);
    reply
}

/// The score's user, for matching faults and recording arrivals.
fn user_of(body: Option<&Value>) -> Option<String> {
    body.and_then(|b| b.get("userId")).map(|u| {
        u.as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| u.to_string())
    })
}

/// Records the request's arrival and counts it in flight for its platform
/// (until the guard drops); the latency it is to wait.
fn arrive(
    state: &Arc<Mutex<SimState>>,
    started: Instant,
    route: Route,
    credential: Option<&Credential>,
    user_id: Option<String>,
) -> (Duration, InFlight) {
    let mut s = lock(state);
    let platform = credential.and_then(|c| s.platform_of(&c.secret));
    if let Some(p) = &platform {
        s.enter(p);
    }
    s.arrivals.push(Arrival {
        route,
        user_id,
        platform_id: platform.clone(),
        at_ms: started.elapsed().as_millis() as u64,
    });
    let guard = InFlight {
        state: state.clone(),
        platform,
    };
    (s.latency, guard)
}

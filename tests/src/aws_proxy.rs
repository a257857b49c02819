//! A recording, fault-injecting proxy in front of the local AWS endpoint
//! (moto). It forwards every request and notes which API action each one
//! called, so tests can compare what the functions really call with what
//! `template.yaml` grants; and on request it breaks chosen operations the
//! ways DynamoDB does in production: throttling, 500s, stalls, answers
//! lost after the write took effect, and reads served by an index replica
//! that lags (an answer remembered earlier, given again). It also adds up
//! what each read would be billed on AWS ([`crate::billing`]). Calls to other services (Secrets
//! Manager, Lambda) go to [`crate::dynamo::services_endpoint`] when that is
//! not the DynamoDB server itself.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// One call: the IAM action (`dynamodb:UpdateItem`) and what it touched
/// (`table`, `index/<name>`, or `secret`).
pub type Call = (String, String);

/// What a fault does to a matching call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DynamoFault {
    /// Forward the call (it takes effect), then answer 500 as if the answer
    /// was lost on the way back; the SDK retries it.
    LoseAnswer,
    /// Answer `ThrottlingException` without forwarding.
    Throttle,
    /// Answer 500 `InternalServerError` without forwarding.
    ServerError,
    /// Wait this long, then forward.
    Stall(Duration),
    /// Like `Stall`, for a read asking for more than `limit` items (or no
    /// `Limit`): a slow server that answers small pages in time.
    StallPagesAbove {
        /// The largest `Limit` answered at once.
        limit: i64,
        /// How long a larger page stalls.
        wait: Duration,
    },
    /// Answer 500 `InternalServerError`, without forwarding, to a scan of
    /// this segment of a parallel scan: one segment's pages unreadable.
    ServerErrorInSegment(i64),
    /// Answer with what the call remembered by
    /// [`RecordingProxy::remember_from_now`] was answered, without forwarding:
    /// an eventually consistent read from a replica that lags.
    Replay,
}

impl DynamoFault {
    /// Whether the fault applies to a call with this body.
    fn applies_to(self, body: &serde_json::Value) -> bool {
        let number = |name: &str| body.get(name).and_then(serde_json::Value::as_i64);
        match self {
            Self::StallPagesAbove { limit, .. } => {
                number("Limit").is_none_or(|asked| asked > limit)
            }
            Self::ServerErrorInSegment(segment) => segment_of(body) == Some(segment),
            _ => true,
        }
    }
}

struct FaultRule {
    operation: String,
    fault: DynamoFault,
    remaining: usize,
}

/// Where calls go: DynamoDB (and its streams) to one server, the rest to
/// the other services' (the same server under moto).
#[derive(Clone)]
struct Upstreams {
    dynamodb: String,
    services: String,
}

impl Upstreams {
    fn for_target(&self, target: Option<&str>) -> &str {
        match target {
            Some(t) if t.starts_with("DynamoDB") => &self.dynamodb,
            Some(_) => &self.services,
            None => &self.dynamodb,
        }
    }
}

#[derive(Default)]
struct Shared {
    calls: Mutex<Vec<Call>>,
    faults: Mutex<Vec<FaultRule>>,
    /// Operations whose answers are to be remembered, and the answers: the
    /// first to each call of an operation and scan segment.
    to_remember: Mutex<BTreeSet<String>>,
    remembered: Mutex<BTreeMap<(String, Option<i64>), Bytes>>,
    /// Read units billed by the sizing rules, by operation.
    read_units: Mutex<BTreeMap<String, f64>>,
    /// What the server's answers said they consumed: (read, write) units.
    reported: Mutex<(f64, f64)>,
    /// Time added to every DynamoDB call: (reads, writes), the order
    /// DynamoDB takes inside a Region (loopback servers answer in microseconds).
    latency: Mutex<Option<(Duration, Duration)>>,
}

/// The proxy; stops when dropped.
pub struct RecordingProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl RecordingProxy {
    /// Adds `read` to every DynamoDB read and `write` to every write from
    /// now on (DynamoDB Streams calls are not delayed).
    pub fn set_latency(&self, read: Duration, write: Duration) {
        *self.shared.latency.lock().expect("lock") = Some((read, write));
    }

    /// Starts a proxy to `upstream` on a free loopback port.
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared::default());
        let upstream = Upstreams {
            dynamodb: upstream.trim_end_matches('/').to_owned(),
            services: crate::dynamo::services_endpoint()
                .trim_end_matches('/')
                .to_owned(),
        };
        let recorded = shared.clone();
        let client = reqwest::Client::new();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (recorded, upstream, client) =
                    (recorded.clone(), upstream.clone(), client.clone());
                connections.spawn(async move {
                    let service = service_fn(move |req| {
                        forward(req, recorded.clone(), upstream.clone(), client.clone())
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Self { addr, shared, task }
    }

    /// Breaks the next `times` calls of `operation` (`UpdateItem`, `PutItem`, ...).
    pub fn inject(&self, operation: &str, fault: DynamoFault, times: usize) {
        self.shared.faults.lock().expect("lock").push(FaultRule {
            operation: operation.to_owned(),
            fault,
            remaining: times,
        });
    }

    /// Remembers the answers to the calls of `operation` from now on, for
    /// [`DynamoFault::Replay`]: the first to each call (to each segment, for
    /// a parallel scan); later answers do not replace it.
    pub fn remember_from_now(&self, operation: &str) {
        self.shared
            .to_remember
            .lock()
            .expect("lock")
            .insert(operation.to_owned());
    }

    /// The read units the reads so far would be billed on AWS, by operation
    /// (see [`crate::billing`]), and forget them.
    pub fn take_read_units(&self) -> BTreeMap<String, f64> {
        std::mem::take(&mut *self.shared.read_units.lock().expect("lock"))
    }

    /// The capacity the server's answers reported consumed so far
    /// (`ConsumedCapacity`), as (read units, write units), and forget it.
    pub fn take_reported_units(&self) -> (f64, f64) {
        std::mem::take(&mut *self.shared.reported.lock().expect("lock"))
    }

    /// Removes every fault not yet used up.
    pub fn clear_faults(&self) {
        self.shared.faults.lock().expect("lock").clear();
    }

    /// The URL to give the SDK as its endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The calls recorded so far, and forget them.
    pub fn take_calls(&self) -> BTreeSet<Call> {
        self.shared.calls.lock().expect("lock").drain(..).collect()
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Shared {
    /// Records the call and takes the fault that applies to it, if any.
    fn arrive(&self, target: Option<&str>, path: &str, body: &[u8]) -> Option<DynamoFault> {
        let call = match target {
            Some(target) => call_of(target, body),
            // Lambda's REST API names the operation in the path.
            None if path.starts_with("/2015-03-31/functions/") => {
                ("lambda:InvokeFunction".to_owned(), "function".to_owned())
            }
            None => return None,
        };
        let operation = call.0.trim_start_matches("dynamodb:").to_owned();
        self.calls.lock().expect("lock").push(call);
        let body = serde_json::from_slice::<serde_json::Value>(body).unwrap_or_default();
        let mut faults = self.faults.lock().expect("lock");
        let rule = faults
            .iter_mut()
            .find(|r| r.operation == operation && r.remaining > 0 && r.fault.applies_to(&body))?;
        rule.remaining -= 1;
        Some(rule.fault)
    }
}

impl Shared {
    /// Notes a successful answer: its billed read units, and the answer
    /// itself when asked to remember it.
    fn answered(&self, target: Option<&str>, request: &[u8], answer: &Bytes) {
        let Some(operation) = target.and_then(dynamodb_operation) else {
            return;
        };
        let parse = |bytes: &[u8]| serde_json::from_slice(bytes).unwrap_or_default();
        if self.to_remember.lock().expect("lock").contains(operation) {
            let key = (operation.to_owned(), segment_of(&parse(request)));
            let mut remembered = self.remembered.lock().expect("lock");
            remembered.entry(key).or_insert_with(|| answer.clone());
        }
        let answer: serde_json::Value = parse(answer);
        self.note_reported(operation, &answer);
        let units = crate::billing::read_units(operation, &parse(request), &answer);
        if units > 0.0 {
            *self
                .read_units
                .lock()
                .expect("lock")
                .entry(operation.to_owned())
                .or_default() += units;
        }
    }

    fn note_reported(&self, operation: &str, answer: &serde_json::Value) {
        let consumed = &answer["ConsumedCapacity"];
        let entries = consumed
            .as_array()
            .cloned()
            .unwrap_or_else(|| vec![consumed.clone()]);
        let units: f64 = entries
            .iter()
            .filter_map(|c| c["CapacityUnits"].as_f64())
            .sum();
        let mut reported = self.reported.lock().expect("lock");
        match is_read(operation) {
            true => reported.0 += units,
            false => reported.1 += units,
        }
    }

    /// The latency set for the call, if it is a DynamoDB call.
    fn latency_of(&self, target: Option<&str>) -> Option<Duration> {
        let operation = target.and_then(dynamodb_operation)?;
        let (read, write) = (*self.latency.lock().expect("lock"))?;
        Some(if is_read(operation) { read } else { write })
    }

    /// The remembered answer to the call's operation (and scan segment).
    fn replay(&self, target: Option<&str>, body: &[u8]) -> Response<Full<Bytes>> {
        let operation = target.and_then(dynamodb_operation).unwrap_or_default();
        let request = serde_json::from_slice(body).unwrap_or_default();
        let key = (operation.to_owned(), segment_of(&request));
        let remembered = self.remembered.lock().expect("lock").get(&key).cloned();
        match remembered {
            Some(body) => Response::builder()
                .status(200)
                .header("content-type", "application/x-amz-json-1.0")
                .body(Full::new(body))
                .expect("valid response"),
            None => dynamodb_error(500, "InternalServerError", "nothing remembered to replay"),
        }
    }
}

/// The segment a parallel scan's request reads, if it is one.
fn segment_of(request: &serde_json::Value) -> Option<i64> {
    request.get("Segment").and_then(serde_json::Value::as_i64)
}

/// Whether a DynamoDB operation reads (else it writes).
fn is_read(operation: &str) -> bool {
    matches!(operation, "GetItem" | "BatchGetItem" | "Query" | "Scan")
}

/// `DynamoDB_20120810.Scan` → `Scan`.
fn dynamodb_operation(target: &str) -> Option<&str> {
    target.strip_prefix("DynamoDB_20120810.")
}

fn dynamodb_error(status: u16, kind: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
        "message": message,
    });
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-errortype", kind)
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("valid response")
}

async fn forward(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    upstreams: Upstreams,
    client: reqwest::Client,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|t| t.to_str().ok());
    let fault = shared.arrive(target, parts.uri.path(), &body);
    match fault {
        Some(DynamoFault::Throttle) => {
            return Ok(dynamodb_error(
                400,
                "ThrottlingException",
                "Rate of requests exceeds the allowed throughput.",
            ))
        }
        Some(DynamoFault::ServerError | DynamoFault::ServerErrorInSegment(_)) => {
            return Ok(dynamodb_error(
                500,
                "InternalServerError",
                "Internal server error",
            ))
        }
        Some(DynamoFault::Stall(wait) | DynamoFault::StallPagesAbove { wait, .. }) => {
            tokio::time::sleep(wait).await
        }
        Some(DynamoFault::Replay) => return Ok(shared.replay(target, &body)),
        Some(DynamoFault::LoseAnswer) | None => {}
    }
    if let Some(wait) = shared.latency_of(target) {
        tokio::time::sleep(wait).await;
    }
    let upstream = upstreams.for_target(target);
    let reply = match send_upstream(&client, upstream, &parts, body.clone()).await {
        Ok(upstream_reply) if fault == Some(DynamoFault::LoseAnswer) => {
            // The call took effect upstream; its answer never arrives.
            let _ = upstream_reply.bytes().await;
            dynamodb_error(500, "InternalServerError", "the answer was lost")
        }
        Ok(upstream_reply) => {
            relay(upstream_reply, |answer| {
                shared.answered(target, &body, answer)
            })
            .await
        }
        Err(e) => Response::builder()
            .status(502)
            .body(Full::new(Bytes::from(e.to_string())))
            .expect("valid response"),
    };
    Ok(reply)
}

/// The client's request, as it came, to `upstream` (less the hop-by-hop
/// headers the HTTP client sets itself).
async fn send_upstream(
    client: &reqwest::Client,
    upstream: &str,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> reqwest::Result<reqwest::Response> {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = client
        .request(parts.method.clone(), format!("{upstream}{path}"))
        .body(body);
    let hop = [
        hyper::header::HOST,
        hyper::header::CONTENT_LENGTH,
        hyper::header::TRANSFER_ENCODING,
        hyper::header::CONNECTION,
    ];
    for (name, value) in &parts.headers {
        if !hop.contains(name) {
            request = request.header(name, value);
        }
    }
    request.send().await
}

/// The upstream's answer, passed back as it came; a successful one is
/// shown to `on_success` first (what the proxy remembers and prices).
async fn relay(
    upstream_reply: reqwest::Response,
    on_success: impl FnOnce(&Bytes),
) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(upstream_reply.status());
    for (name, value) in upstream_reply.headers() {
        if name != hyper::header::CONTENT_LENGTH && name != hyper::header::TRANSFER_ENCODING {
            builder = builder.header(name, value);
        }
    }
    let ok = upstream_reply.status().is_success();
    let bytes = upstream_reply.bytes().await.unwrap_or_default();
    if ok {
        on_success(&bytes);
    }
    builder.body(Full::new(bytes)).expect("valid response")
}

/// `DynamoDB_20120810.Query` with an `IndexName` → (`dynamodb:Query`, `index/<name>`).
fn call_of(target: &str, body: &[u8]) -> Call {
    let (service, operation) = target.split_once('.').unwrap_or(("unknown", target));
    if service.starts_with("DynamoDB") {
        let index = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|b| b["IndexName"].as_str().map(str::to_owned));
        let resource = index.map_or_else(|| "table".to_owned(), |i| format!("index/{i}"));
        (format!("dynamodb:{operation}"), resource)
    } else {
        (
            format!("{}:{operation}", service.to_ascii_lowercase()),
            "secret".to_owned(),
        )
    }
}

//! A local Lambda Runtime API (the HTTP interface a function's runtime polls
//! for events), so the real `launch` and `sync` binaries run exactly as in
//! Lambda: `GET /2018-06-01/runtime/invocation/next`, then
//! `POST .../invocation/{id}/response` or `.../error`.
//!
//! See <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Notify};
use tokio::task::{JoinHandle, JoinSet};

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The function's response payload.
    Response(Value),
    /// The function reported an error.
    Error(Value),
}

impl Outcome {
    /// The response, or a panic naming the error.
    pub fn response(self) -> Value {
        match self {
            Outcome::Response(v) => v,
            Outcome::Error(e) => panic!("the invocation failed: {e}"),
        }
    }
}

struct Pending {
    id: String,
    event: Value,
    deadline_ms: u64,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Pending>,
    waiting: HashMap<String, oneshot::Sender<Outcome>>,
    first_poll: Option<Instant>,
    init_error: Option<Value>,
    serial: u64,
    /// Asynchronous invocations asked for through the Invoke API: (function, payload).
    async_invocations: Vec<(String, Value)>,
    /// Outcomes nobody waited for (those of asynchronous invocations).
    async_outcomes: Vec<Outcome>,
    /// The time an asynchronous invocation gets before its deadline.
    async_budget: Option<Duration>,
}

/// A Runtime API endpoint on 127.0.0.1.
pub struct RuntimeApi {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

impl RuntimeApi {
    /// Starts on a free port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(State::default()));
        let wake = Arc::new(Notify::new());
        let (s, w) = (state.clone(), wake.clone());
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (state, wake) = (s.clone(), w.clone());
                connections.spawn(async move {
                    let service = service_fn(move |req| route(state.clone(), wake.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Self {
            addr,
            state,
            wake,
            task,
        }
    }

    /// `host:port`, for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// When the function first asked for an event (its init is over).
    pub fn first_poll(&self) -> Option<Instant> {
        self.state.lock().expect("lock").first_poll
    }

    /// What the function reported through `/init/error`, if anything.
    pub fn init_error(&self) -> Option<Value> {
        self.state.lock().expect("lock").init_error.clone()
    }

    /// The same server also answers Lambda's Invoke API: asynchronous
    /// invocations (`X-Amz-Invocation-Type: Event`) are queued as the
    /// function's next invocation, synchronous ones answered with what it
    /// returns, as Lambda does: point `AWS_ENDPOINT_URL_LAMBDA` here.
    pub fn invoke_endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The time each asynchronous invocation gets before its deadline (30 s).
    pub fn set_async_budget(&self, budget: Duration) {
        self.state.lock().expect("lock").async_budget = Some(budget);
    }

    /// The asynchronous invocations asked for so far: (function, payload).
    pub fn async_invocations(&self) -> Vec<(String, Value)> {
        self.state.lock().expect("lock").async_invocations.clone()
    }

    /// The outcomes of asynchronous invocations so far.
    pub fn async_outcomes(&self) -> Vec<Outcome> {
        self.state.lock().expect("lock").async_outcomes.clone()
    }

    /// Invokes the function with `event`, giving it `budget` before its
    /// deadline, and waits (at most `budget` plus a grace period) for the outcome.
    pub async fn invoke(&self, event: Value, budget: Duration) -> Outcome {
        let rx = enqueue_awaited(&self.state, &self.wake, event, budget);
        tokio::time::timeout(budget + Duration::from_secs(10), rx)
            .await
            .expect("the function answered before its deadline")
            .expect("the runtime API stayed up")
    }
}

/// Queues `event` as the function's next invocation, `budget` before its
/// deadline; the receiver gets the function's outcome.
fn enqueue_awaited(
    state: &Mutex<State>,
    wake: &Notify,
    event: Value,
    budget: Duration,
) -> oneshot::Receiver<Outcome> {
    let (tx, rx) = oneshot::channel();
    {
        let mut s = state.lock().expect("lock");
        s.serial += 1;
        let id = format!("req-{:04}-{}", s.serial, uuid::Uuid::new_v4().simple());
        let deadline_ms = (SystemTime::now() + budget)
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis() as u64;
        s.waiting.insert(id.clone(), tx);
        s.queue.push_back(Pending {
            id,
            event,
            deadline_ms,
        });
    }
    wake.notify_waiters();
    wake.notify_one();
    rx
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn route(
    state: Arc<Mutex<State>>,
    wake: Arc<Notify>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let invocation_type = req
        .headers()
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("RequestResponse")
        .to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let empty = |status: StatusCode| {
        Response::builder()
            .status(status)
            .body(Full::new(Bytes::new()))
            .expect("static")
    };
    let parsed = || serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    let reply = match (&method, parts.as_slice()) {
        (&Method::GET, ["2018-06-01", "runtime", "invocation", "next"]) => loop {
            let notified = wake.notified();
            {
                let mut s = state.lock().expect("lock");
                s.first_poll.get_or_insert_with(Instant::now);
                if let Some(next) = s.queue.pop_front() {
                    break Response::builder()
                        .status(StatusCode::OK)
                        .header("Lambda-Runtime-Aws-Request-Id", &next.id)
                        .header("Lambda-Runtime-Deadline-Ms", next.deadline_ms.to_string())
                        .header(
                            "Lambda-Runtime-Invoked-Function-Arn",
                            "arn:aws:lambda:us-east-1:123456789012:function:ltisync-local",
                        )
                        .header(
                            "Lambda-Runtime-Trace-Id",
                            "Root=1-00000000-000000000000000000000000",
                        )
                        .body(Full::new(Bytes::from(next.event.to_string())))
                        .expect("valid headers");
                }
            }
            notified.await;
        },
        (&Method::POST, ["2018-06-01", "runtime", "invocation", id, kind]) => {
            let outcome = if *kind == "response" {
                Outcome::Response(parsed())
            } else {
                Outcome::Error(parsed())
            };
            let mut s = state.lock().expect("lock");
            match s.waiting.remove(*id) {
                Some(tx) => {
                    let _ = tx.send(outcome);
                }
                None => s.async_outcomes.push(outcome),
            }
            empty(StatusCode::ACCEPTED)
        }
        (&Method::POST, ["2015-03-31", "functions", name, "invocations"])
            if invocation_type == "Event" =>
        {
            let mut s = state.lock().expect("lock");
            s.serial += 1;
            let id = format!("async-{:04}-{}", s.serial, uuid::Uuid::new_v4().simple());
            let budget = s.async_budget.unwrap_or(Duration::from_secs(30));
            let deadline_ms = (SystemTime::now() + budget)
                .duration_since(UNIX_EPOCH)
                .expect("after 1970")
                .as_millis() as u64;
            s.async_invocations.push(((*name).to_owned(), parsed()));
            s.queue.push_back(Pending {
                id,
                event: parsed(),
                deadline_ms,
            });
            drop(s);
            wake.notify_waiters();
            wake.notify_one();
            empty(StatusCode::ACCEPTED)
        }
        (&Method::POST, ["2015-03-31", "functions", _, "invocations"]) => {
            invoke_and_wait(&state, &wake, parsed()).await
        }
        (&Method::POST, ["2018-06-01", "runtime", "init", "error"]) => {
            state.lock().expect("lock").init_error = Some(parsed());
            empty(StatusCode::ACCEPTED)
        }
        _ => empty(StatusCode::NOT_FOUND),
    };
    Ok(reply)
}

/// A synchronous Invoke API call (`RequestResponse`): queues the event for
/// the function (30 s before its deadline) and answers with what it
/// returned, or with its error and `X-Amz-Function-Error`, as Lambda does.
async fn invoke_and_wait(
    state: &Arc<Mutex<State>>,
    wake: &Arc<Notify>,
    event: Value,
) -> Response<Full<Bytes>> {
    let rx = enqueue_awaited(state, wake, event, Duration::from_secs(30));
    let response = Response::builder().status(StatusCode::OK);
    match rx.await {
        Ok(Outcome::Response(body)) => response.body(Full::new(Bytes::from(body.to_string()))),
        Ok(Outcome::Error(body)) => response
            .header("X-Amz-Function-Error", "Unhandled")
            .body(Full::new(Bytes::from(body.to_string()))),
        Err(_) => Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .body(Full::new(Bytes::new())),
    }
    .expect("static")
}

/// Where cargo put this workspace's binaries: beside this executable, or one
/// level up when this is a test in `target/<profile>/deps`.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("an executable lives in a directory");
    if dir.ends_with("deps") {
        dir = dir.parent().expect("deps has a parent");
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the functions first (`cargo build --bins`; `make test` does)",
        path.display()
    );
    path
}

/// A function binary running against a [`RuntimeApi`], killed on drop.
pub struct FunctionProcess {
    child: tokio::process::Child,
    output: Arc<Mutex<Vec<u8>>>,
    /// When the process was spawned.
    pub started: Instant,
    readers: Vec<JoinHandle<()>>,
}

impl FunctionProcess {
    /// Starts `binary` with the Lambda environment plus `env`.
    pub fn spawn(binary: &std::path::Path, api: &RuntimeApi, env: &[(String, String)]) -> Self {
        let mut command = tokio::process::Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", "ltisync-local")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/ltisync-local")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = command.spawn().expect("the function binary starts");
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        for mut stream in [
            Box::new(stdout) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(stderr),
        ] {
            let sink = output.clone();
            readers.push(tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    sink.lock().expect("lock").extend_from_slice(&buf[..n]);
                }
            }));
        }
        Self {
            child,
            output,
            started,
            readers,
        }
    }

    /// Invokes through `api`, failing at once (with the output) if the
    /// process exits instead of answering.
    pub async fn invoke(&mut self, api: &RuntimeApi, event: Value, budget: Duration) -> Outcome {
        tokio::select! {
            outcome = api.invoke(event, budget) => outcome,
            status = self.child.wait() => {
                for reader in self.readers.drain(..) {
                    let _ = reader.await;
                }
                panic!("the function exited ({status:?}) instead of answering:\n{}", self.output())
            }
        }
    }

    /// The process id (None once it has exited).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Everything the process printed so far (stdout and stderr).
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().expect("lock")).into_owned()
    }

    /// Waits for the process to exit on its own; returns its exit code.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let status = tokio::time::timeout(limit, self.child.wait())
            .await
            .expect("the process exited in time")
            .expect("wait");
        for reader in self.readers.drain(..) {
            let _ = reader.await;
        }
        status.code()
    }

    /// Stops the process and waits for its output to drain.
    pub async fn stop(mut self) -> String {
        let _ = self.child.kill().await;
        for reader in self.readers.drain(..) {
            let _ = reader.await;
        }
        self.output()
    }
}

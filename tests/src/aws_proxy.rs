//! A recording proxy in front of the local AWS endpoint (moto): it forwards
//! every request and notes which API action each one called, so tests can
//! compare what the functions really call with what `template.yaml` grants.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

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

/// The proxy; stops when dropped.
pub struct RecordingProxy {
    addr: SocketAddr,
    calls: Arc<Mutex<Vec<Call>>>,
    task: JoinHandle<()>,
}

impl RecordingProxy {
    /// Starts a proxy to `upstream` on a free loopback port.
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let calls = Arc::new(Mutex::new(Vec::new()));
        let (recorded, upstream) = (calls.clone(), upstream.trim_end_matches('/').to_owned());
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
        Self { addr, calls, task }
    }

    /// The URL to give the SDK as its endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The calls recorded so far, and forget them.
    pub fn take_calls(&self) -> BTreeSet<Call> {
        self.calls.lock().expect("lock").drain(..).collect()
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(
    req: Request<Incoming>,
    calls: Arc<Mutex<Vec<Call>>>,
    upstream: String,
    client: reqwest::Client,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if let Some(target) = parts
        .headers
        .get("x-amz-target")
        .and_then(|t| t.to_str().ok())
    {
        calls.lock().expect("lock").push(call_of(target, &body));
    }
    let url = format!(
        "{upstream}{}",
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let mut request = client.request(parts.method.clone(), url).body(body);
    for (name, value) in &parts.headers {
        let hop = [
            hyper::header::HOST,
            hyper::header::CONTENT_LENGTH,
            hyper::header::TRANSFER_ENCODING,
            hyper::header::CONNECTION,
        ];
        if !hop.contains(name) {
            request = request.header(name, value);
        }
    }
    let reply = match request.send().await {
        Ok(upstream_reply) => {
            let mut builder = Response::builder().status(upstream_reply.status());
            for (name, value) in upstream_reply.headers() {
                if name != hyper::header::CONTENT_LENGTH && name != hyper::header::TRANSFER_ENCODING
                {
                    builder = builder.header(name, value);
                }
            }
            let bytes = upstream_reply.bytes().await.unwrap_or_default();
            builder.body(Full::new(bytes)).expect("valid response")
        }
        Err(e) => Response::builder()
            .status(502)
            .body(Full::new(Bytes::from(e.to_string())))
            .expect("valid response"),
    };
    Ok(reply)
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

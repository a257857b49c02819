//! A local stand-in for API Gateway's HTTP API in front of a launch rig,
//! so a real browser can open the launch function's pages: each request
//! becomes a payload 2.0 event (as API Gateway builds it), the function
//! answers through the rig (the real binary behind the local Runtime API),
//! and its proxy response becomes the HTTP response.
//!
//! Also serves, on a second port (so a second origin), a page that frames
//! another URL: what an LMS does with a tool's page.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::rigs::LaunchRig;

/// A running front; stops when dropped.
pub struct HttpFront {
    address: SocketAddr,
    server: JoinHandle<()>,
}

impl HttpFront {
    /// Serves `rig` on a free loopback port.
    pub async fn start(rig: Arc<LaunchRig>) -> Self {
        Self::serve(move |request| {
            let rig = rig.clone();
            async move { forward(&rig, request).await }
        })
        .await
    }

    /// Serves a page that frames `url` in an `<iframe>` titled `title`.
    pub async fn framing(url: String) -> Self {
        let page = format!(
            "<!doctype html><html lang=\"en\"><head><title>LMS</title></head><body>\
             <h1>Course page</h1><iframe id=\"tool\" title=\"Grades\" src=\"{url}\" \
             width=\"900\" height=\"700\"></iframe></body></html>"
        );
        Self::serve(move |_request| {
            let page = page.clone();
            async move {
                Response::builder()
                    .header("content-type", "text/html; charset=utf-8")
                    .body(Full::new(Bytes::from(page)))
                    .expect("a static response")
            }
        })
        .await
    }

    async fn serve<F, Fut>(answer: F) -> Self
    where
        F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
        Fut: std::future::Future<Output = Response<Full<Bytes>>> + Send,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let answer = answer.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let answer = answer.clone();
                        async move { Ok::<_, Infallible>(answer(request).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { address, server }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.address.port()
    }
}

impl Drop for HttpFront {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn forward(rig: &LaunchRig, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let event = payload_v2(&parts, &body);
    let reply = rig.send(&event).await;
    let mut response = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    response
        .body(Full::new(Bytes::from(reply.body)))
        .expect("the function's headers are valid")
}

/// The event API Gateway's HTTP API sends for a request (payload 2.0).
fn payload_v2(parts: &http::request::Parts, body: &[u8]) -> Value {
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or_default();
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            Some(Value::String(joined)) => *joined = format!("{joined},{value}"),
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    let mut parameters = Map::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match parameters.get_mut(name.as_ref()) {
            Some(Value::String(joined)) => *joined = format!("{joined},{value}"),
            _ => {
                parameters.insert(name.into_owned(), Value::String(value.into_owned()));
            }
        }
    }
    let (body, encoded) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => {
            use base64::Engine;
            (base64::engine::general_purpose::STANDARD.encode(body), true)
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers_host(&parts.headers),
            "domainPrefix": "local",
            "http": {"method": parts.method.as_str(), "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "browser"},
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": "04/Dec/2026:00:00:00 +0000",
            "timeEpoch": now.as_millis() as u64
        },
        "isBase64Encoded": encoded
    });
    if !parameters.is_empty() {
        event["queryStringParameters"] = Value::Object(parameters);
    }
    if !body.is_empty() {
        event["body"] = Value::String(body);
    }
    event
}

fn headers_host(headers: &http::HeaderMap) -> String {
    headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned()
}

//! Runs the functions two ways with the same configuration: in-process
//! (the handler, the engine), or the real binary through the Lambda Runtime
//! API. Launch tests send API Gateway events and read back the HTTP reply;
//! sync tests send scheduled or manual events and read back the summary.

use std::collections::HashMap;
use std::time::Duration;

use launch_function::LaunchFunction;
use ltisync::config::{
    ApiKeySource, DynamoDbTimeouts, LaunchSettings, LtiaasSettings, SyncSettings,
};
use ltisync::ltiaas::LtiaasClient;
use ltisync::store::with_timeouts;
use ltisync::sync::SyncEngine;
use ltisync::Store;
use serde_json::Value;

use crate::dynamo::{aws_env, client_for};
use crate::runtime_api::{binary, FunctionProcess, Outcome, RuntimeApi};

/// The ltik in the files of `events/`.
pub const SAMPLE_LTIK: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJwbGF0Zm9ybUlkIjoiZGVtby1wbGF0Zm9ybSJ9.ZGVtby1sdGlrLXNpZ25hdHVyZQ";

/// How the function is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `LaunchFunction::handle` in this process.
    Handler,
    /// `target/<profile>/launch` through the Runtime API.
    Binary,
}

/// The function's environment, as a map of variables.
pub type Env = HashMap<String, String>;

/// The client and store a function would build from `env`.
fn clients(
    ltiaas: &LtiaasSettings,
    table: &str,
    timeouts: &DynamoDbTimeouts,
    env: &Env,
) -> (LtiaasClient, Store) {
    let ApiKeySource::Plain(key) = ltiaas.api_key.clone() else {
        panic!("in-process tests use LTIAAS_API_KEY")
    };
    let client = LtiaasClient::new(ltiaas, key).expect("client");
    let dynamodb = with_timeouts(&client_for(&env["AWS_ENDPOINT_URL_DYNAMODB"]), timeouts);
    (client, Store::new(dynamodb, table))
}

fn lookup(env: &Env) -> impl Fn(&str) -> Option<String> + '_ {
    |name: &str| env.get(name).cloned()
}

/// The environment for a launch against `ltiaas_url` and `table` on the DynamoDB at `dynamodb`.
pub fn launch_env(ltiaas_url: &str, api_key: &str, table: &str, dynamodb: &str) -> Env {
    let mut env: Env = aws_env(dynamodb).into_iter().collect();
    env.insert("LTIAAS_URL".into(), ltiaas_url.into());
    env.insert("LTIAAS_API_KEY".into(), api_key.into());
    env.insert("TABLE_NAME".into(), table.into());
    env.insert("LTIAAS_TIMEOUT_MS".into(), "2000".into());
    env
}

/// An HTTP reply, whichever way it was produced.
#[derive(Debug, Clone)]
pub struct HttpReply {
    /// Status code.
    pub status: u16,
    /// Headers, names in lower case.
    pub headers: HashMap<String, String>,
    /// Body text.
    pub body: String,
}

impl HttpReply {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// A running launch function.
pub enum LaunchRig {
    /// In-process.
    Handler(LaunchFunction),
    /// Real binary.
    Binary(RuntimeApi, tokio::sync::Mutex<FunctionProcess>),
}

impl LaunchRig {
    /// Starts the function with `env`.
    pub async fn start(via: Via, env: &Env) -> Self {
        match via {
            Via::Handler => {
                let settings = LaunchSettings::from_env(&lookup(env)).expect("valid test settings");
                let (client, store) = clients(
                    &settings.ltiaas,
                    &settings.table_name,
                    &settings.dynamodb,
                    env,
                );
                LaunchRig::Handler(
                    LaunchFunction::new(client, store, settings.tool_url)
                        .framed_by(settings.frame_ancestors),
                )
            }
            Via::Binary => {
                let api = RuntimeApi::start().await;
                let vars: Vec<(String, String)> = env.clone().into_iter().collect();
                let process = FunctionProcess::spawn(&binary("launch"), &api, &vars);
                LaunchRig::Binary(api, tokio::sync::Mutex::new(process))
            }
        }
    }

    /// Sends one API Gateway event.
    pub async fn send(&self, event: &Value) -> HttpReply {
        match self {
            LaunchRig::Handler(function) => api_gateway_reply(&function.handle(event).await),
            LaunchRig::Binary(api, process) => {
                let answer = process
                    .lock()
                    .await
                    .invoke(api, event.clone(), Duration::from_secs(15))
                    .await
                    .response();
                api_gateway_reply(&answer)
            }
        }
    }

    /// Stops the function; returns what the binary printed (empty in-process).
    pub async fn finish(self) -> String {
        match self {
            LaunchRig::Handler(_) => String::new(),
            LaunchRig::Binary(_, process) => process.into_inner().stop().await,
        }
    }
}

/// Reads a Lambda proxy response (either payload version).
pub fn api_gateway_reply(answer: &Value) -> HttpReply {
    let mut headers = HashMap::new();
    if let Some(map) = answer["headers"].as_object() {
        for (k, v) in map {
            headers.insert(
                k.to_ascii_lowercase(),
                v.as_str().unwrap_or_default().to_owned(),
            );
        }
    }
    if let Some(map) = answer["multiValueHeaders"].as_object() {
        for (k, v) in map {
            if let Some(first) = v.as_array().and_then(|a| a.first()).and_then(Value::as_str) {
                headers
                    .entry(k.to_ascii_lowercase())
                    .or_insert_with(|| first.to_owned());
            }
        }
    }
    HttpReply {
        status: answer["statusCode"].as_u64().expect("statusCode") as u16,
        headers,
        body: answer["body"].as_str().unwrap_or_default().to_owned(),
    }
}

/// An event from `events/` with its ltik replaced by `ltik`.
pub fn event(file: &str, ltik: &str) -> Value {
    let path = crate::repo_root().join("events").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text.replace(SAMPLE_LTIK, ltik)).expect("events are JSON")
}

/// A running sync function.
pub enum SyncRig {
    /// The function (and its engine) in this process.
    Engine(sync_function::SyncFunction),
    /// The real binary.
    Binary(RuntimeApi, tokio::sync::Mutex<FunctionProcess>),
}

impl SyncRig {
    /// Starts the function with `env`.
    pub async fn start(via: Via, env: &Env) -> Self {
        match via {
            Via::Handler => {
                let settings = SyncSettings::from_env(&lookup(env)).expect("valid test settings");
                let (client, store) = clients(
                    &settings.ltiaas,
                    &settings.table_name,
                    &settings.dynamodb,
                    env,
                );
                let engine = SyncEngine::new(client, store, settings.tuning);
                SyncRig::Engine(sync_function::SyncFunction::new(
                    engine,
                    "ltisync-sync-test",
                ))
            }
            Via::Binary => {
                let api = RuntimeApi::start().await;
                let vars: Vec<(String, String)> = env.clone().into_iter().collect();
                let process = FunctionProcess::spawn(&binary("sync"), &api, &vars);
                SyncRig::Binary(api, tokio::sync::Mutex::new(process))
            }
        }
    }

    /// Runs one invocation with `event`, `budget` before its deadline,
    /// through the function's handler (or the binary); the summary as JSON.
    pub async fn run(&self, event: &Value, budget: Duration) -> Value {
        self.invoke(event, budget).await.response()
    }

    /// The engine's summary of a run with `event`, even when the handler
    /// would fail the invocation (a refused API key, a redirect), for tests
    /// that check what such a run wrote. The in-process rig only.
    pub async fn engine_summary(&self, event: &Value, budget: Duration) -> Value {
        let SyncRig::Engine(function) = self else {
            panic!("engine_summary needs the in-process rig")
        };
        let deadline = std::time::SystemTime::now() + budget;
        let request = sync_function::parse_event(event, deadline)
            .expect("a valid event")
            .request;
        let summary = Box::pin(function.engine().run(request))
            .await
            .expect("the run completes");
        serde_json::to_value(summary).expect("serialisable")
    }

    /// One invocation with any event, through the function's handler (or
    /// the binary): its answer, or the error it reported.
    pub async fn invoke(&self, event: &Value, budget: Duration) -> Outcome {
        match self {
            SyncRig::Engine(function) => {
                let deadline = std::time::SystemTime::now() + budget;
                // Boxed: a debug build's handler future is large, and a test
                // thread's stack is 2 MiB.
                match Box::pin(function.handle(event, deadline)).await {
                    Ok(answer) => Outcome::Response(answer),
                    Err(failure) => Outcome::Error(serde_json::json!({
                        "errorType": failure.kind(),
                        "errorMessage": failure.to_string(),
                    })),
                }
            }
            SyncRig::Binary(api, process) => {
                process
                    .lock()
                    .await
                    .invoke(api, event.clone(), budget)
                    .await
            }
        }
    }

    /// Stops the function; returns what the binary printed (empty in-process).
    pub async fn finish(self) -> String {
        match self {
            SyncRig::Engine(_) => String::new(),
            SyncRig::Binary(_, process) => process.into_inner().stop().await,
        }
    }
}

/// The environment of a sync against `ltiaas_url` and `table`.
pub fn sync_env(ltiaas_url: &str, api_key: &str, table: &str, dynamodb: &str) -> Env {
    let mut env = launch_env(ltiaas_url, api_key, table, dynamodb);
    for (k, v) in [
        ("SYNC_RETRY_BASE_MS", "20"),
        ("SYNC_RETRY_MAX_MS", "2000"),
        ("SYNC_DEADLINE_MARGIN_MS", "0"),
    ] {
        env.insert(k.into(), v.into());
    }
    env
}

/// An event file from `events/`.
pub fn event_file(file: &str) -> Value {
    let path = crate::repo_root().join("events").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("events are JSON")
}

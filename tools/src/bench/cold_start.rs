//! Section 5: each function's cold start through the Lambda Runtime API:
//! init (process start to its first poll for an event) and its first
//! invocation (the event handed over to the answer received), for the
//! launch function, the daily sync and the grade stream consumer (the sync
//! binary given a stream batch).

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use ltisync::ActivityIds;
use ltisync_tests::dynamo::TestTable;
use ltisync_tests::rigs::{event, event_file, launch_env, sync_env, SAMPLE_LTIK};
use ltisync_tests::runtime_api::binary;
use ltisync_tests::simulator::{LaunchSpec, Simulator};
use serde_json::{json, Value};

use crate::plan::Plan;
use crate::servers::Server;
use crate::setup::{grade_item, set_up_activities, start_function, user_id, write_grades};
use crate::stats::{milliseconds, percentile};

/// One function's starts.
pub(super) struct ColdStarts {
    pub(super) function: &'static str,
    pub(super) event: &'static str,
    pub(super) init_ms: Vec<f64>,
    pub(super) first_invocation_ms: Vec<f64>,
}

pub(super) async fn measure_cold_starts(
    plan: &Plan,
    sim: &Simulator,
    server: &Server,
) -> Vec<ColdStarts> {
    sim.set_latency(Duration::ZERO);
    let table = server.table(false).await;
    let store = table.store();
    let ids = set_up_activities(sim, &store, 1, 1).await.remove(0);
    let mut spec = LaunchSpec::new(
        &ids.platform_id,
        &ids.context_id,
        &ids.resource_link_id,
        None,
    );
    spec.ltik = Some(SAMPLE_LTIK.into());
    sim.add_launch(spec);
    let launch = launch_env(&sim.url(), &sim.api_key(), &table.name, &table.endpoint);
    let sync = sync_env(&sim.url(), &sim.api_key(), &table.name, &table.endpoint);
    let user = user_id(0);
    let mut all = Vec::new();
    for (function, env) in [
        (
            (
                "LaunchFunction",
                "a launch (`events/launch.json`)",
                "launch",
            ),
            &launch,
        ),
        (
            ("SyncFunction", "the schedule, one grade to post", "sync"),
            &sync,
        ),
        (
            ("GradeStreamFunction", "a stream batch of one grade", "sync"),
            &sync,
        ),
    ] {
        let env: Vec<(String, String)> = env.clone().into_iter().collect();
        all.push(measure_function(plan, &table, &ids, &user, function, &env).await);
    }
    all
}

/// `plan.launch_starts` cold starts of one function (its name, the first
/// event it is given, its binary), a pending grade of `user` written
/// before each.
async fn measure_function(
    plan: &Plan,
    table: &TestTable,
    ids: &ActivityIds,
    user: &str,
    (function, event_name, binary_name): (&'static str, &'static str, &str),
    env: &[(String, String)],
) -> ColdStarts {
    let mut starts = ColdStarts {
        function,
        event: event_name,
        init_ms: Vec::new(),
        first_invocation_ms: Vec::new(),
    };
    for _ in 0..plan.launch_starts {
        write_grades(table, &[(ids.clone(), user.to_owned())], true).await;
        let event = first_event(function, ids, user);
        let (init, first) = cold_start(&binary(binary_name), env, event).await;
        starts.init_ms.push(init);
        starts.first_invocation_ms.push(first);
    }
    starts
}

/// The event `function` is first given: a launch, the schedule, or a
/// stream batch with the grade of `user` just written.
fn first_event(function: &str, ids: &ActivityIds, user: &str) -> Value {
    match function {
        "LaunchFunction" => event("launch.json", SAMPLE_LTIK),
        "SyncFunction" => event_file("schedule.json"),
        _ => stream_batch(&grade_item(ids, user, true)),
    }
}

/// Starts the binary, waits for its first poll, invokes it once: the init
/// and the first invocation, in milliseconds.
async fn cold_start(binary: &Path, env: &[(String, String)], event: Value) -> (f64, f64) {
    let (api, mut process, init) = start_function(binary, env).await;
    let invoked = Instant::now();
    let outcome = process.invoke(&api, event, Duration::from_secs(30)).await;
    let first = invoked.elapsed().as_secs_f64() * 1000.0;
    let answer = outcome.response();
    assert!(answer.get("errorType").is_none(), "{answer}");
    process.stop().await;
    (init, first)
}

/// A DynamoDB stream batch with one INSERT of `item`, as Lambda delivers it.
fn stream_batch(item: &ltisync_tests::grades::Item) -> Value {
    let image: serde_json::Map<String, Value> = item
        .iter()
        .map(|(k, v)| {
            let value = match v {
                AttributeValue::S(s) => json!({"S": s}),
                AttributeValue::N(n) => json!({"N": n}),
                other => json!({"S": format!("{other:?}")}),
            };
            (k.clone(), value)
        })
        .collect();
    json!({"Records": [{
        "eventID": "1",
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "Keys": {"pk": image["pk"], "sk": image["sk"]},
            "NewImage": image,
            "SequenceNumber": "100000000000000000001",
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        }
    }]})
}

pub(super) fn write_cold_starts(md: &mut String, all: &[ColdStarts]) {
    let _ = writeln!(md, "## 5. Cold starts\n");
    let starts = all.first().map_or(0, |s| s.init_ms.len());
    let _ = writeln!(
        md,
        "Each function's release binary started {starts} times through the local Lambda Runtime \
         API (`tests/src/runtime_api.rs`). Init: process start to its first poll for an event \
         (reading settings, building the LTIaaS and DynamoDB clients). First invocation: the \
         first event handed over to the answer received, with the round trips to the simulator \
         (zero latency) and the local DynamoDB: the first requests open their connections. \
         Lambda adds its own sandbox start (outside the binary) on top of init.\n"
    );
    let _ = writeln!(
        md,
        "| function | first event | init p50 | init p90 | first invocation p50 | first invocation p90 |\n|---|---|---:|---:|---:|---:|"
    );
    let ms = |values: &[f64], q: f64| milliseconds(percentile(values, q));
    for s in all {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            s.function,
            s.event,
            ms(&s.init_ms, 0.5),
            ms(&s.init_ms, 0.9),
            ms(&s.first_invocation_ms, 0.5),
            ms(&s.first_invocation_ms, 0.9)
        );
    }
    let _ = writeln!(md);
}

//! `make demo`: the whole ltisync flow on this machine, with real parts.
//!
//! moto (DynamoDB, started by `scripts/with-moto.sh`), the `ltiaas-sim`
//! binary as LTIaaS, a table created from `template.yaml`, and the release
//! `launch` and `sync` binaries run through a local Lambda Runtime API with
//! the events in `events/`. Grades are written with the documented schema;
//! the table's stream delivers them to the `sync` binary within seconds (the
//! local event source mapping of `tests/src/stream.rs`), and the daily run
//! afterwards finds nothing left. Everything started here stops when the
//! demo ends, also on failure.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use ltisync_tests::dynamo::{aws_env, get_item};
use ltisync_tests::grades::documented_grade;
use ltisync_tests::http_front::HttpFront;
use ltisync_tests::rigs::{api_gateway_reply, event_file, Env, LaunchRig, SyncRig, Via};
use ltisync_tests::runtime_api::{binary, FunctionProcess, RuntimeApi};
use ltisync_tests::stream::{EventSourceMapping, MappingSettings};
use ltisync_tools::console::{say, step};
use ltisync_tools::ltiaas_sim::LtiaasSim;
use ltisync_tools::sample::{self, member, PK, TOOL_URL};
use ltisync_tools::table::{fresh_table, text};
use serde_json::{json, Value};

const API_KEY: &str = "demo-api-key-0000";

/// The grades the tool records: user, score out of 100, comment. The
/// roster has no test-student, so that one is refused.
const GRADES: [(&str, f64, &str); 4] = [
    ("learner-ada", 92.0, "Great work"),
    ("learner-grace", 78.5, "Check question 4"),
    ("learner-alan", 0.0, "No answers submitted"),
    ("test-student", 50.0, "LMS test account"),
];

/// The grade stream function as template.yaml deploys it: 60 s per
/// invocation, posts stopping 15 s before the deadline; batching window 0.
const STREAM_MAPPING: MappingSettings = MappingSettings {
    batch_size: 100,
    window: Duration::ZERO,
    max_retries: 3,
    budget: Duration::from_secs(60),
};

/// What the steps share: the simulator's admin API, the table, and the
/// functions' environment.
struct Demo {
    http: reqwest::Client,
    ltiaas_url: String,
    /// The DynamoDB endpoint (moto).
    dynamodb: String,
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    env: Vec<(String, String)>,
}

impl Demo {
    /// The simulator's admin API at `path`.
    fn admin(&self, path: &str) -> String {
        format!("{}/_sim/{path}", self.ltiaas_url)
    }
}

#[tokio::main]
async fn main() {
    let started = Instant::now();
    let dynamodb = std::env::var("LTISYNC_TEST_DYNAMODB")
        .expect("run the demo with `make demo` (it starts moto and sets LTISYNC_TEST_DYNAMODB)");
    let mut sim = start_simulator().await;
    let demo = create_table(dynamodb, &sim.url).await;
    let api = launch(&demo).await;
    show_stored_activity(&demo).await;
    let (sync, mut mapping) = start_stream_function(&demo).await;
    let written = write_grades(&demo).await;
    let delivered = deliver(&demo, &mut mapping, &sync, written).await;
    show_what_the_lms_received(&demo).await;
    let summary = daily_run(sync).await;
    show_grade_items(&demo).await;
    assert_eq!(
        delivered, 3,
        "the demo expected three scores accepted (test-student refused)"
    );
    assert_eq!(
        summary["gradesFound"], 0,
        "the daily run found nothing: {summary}"
    );
    match std::env::var("DEMO_KEEP").is_ok_and(|v| v == "1") {
        true => keep_running(&demo).await,
        false => {
            say("To keep everything running and try the CLI and the status page: make demo KEEP=1")
        }
    }
    drop(api);
    sim.stop().await;
    step(&format!(
        "Done in {:.1} s. Everything the demo started has stopped.",
        started.elapsed().as_secs_f64()
    ));
}

async fn start_simulator() -> LtiaasSim {
    step("Starting the LTIaaS simulator (ltiaas-sim) on loopback");
    let sim = LtiaasSim::start(API_KEY)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    say(&format!("LTIaaS simulator at {}", sim.url));
    sim
}

/// Creates the table on `dynamodb`, and the environment the functions run
/// with against it and the simulator at `ltiaas_url`.
async fn create_table(dynamodb: String, ltiaas_url: &str) -> Demo {
    step("Creating the DynamoDB table from template.yaml (moto)");
    let (dynamo, table) = fresh_table(&dynamodb, "ltisync-demo").await;
    say(&format!("table {table} on {dynamodb}"));
    let mut env: Vec<(String, String)> = aws_env(&dynamodb);
    env.extend(
        [
            ("LTIAAS_URL", ltiaas_url),
            ("LTIAAS_API_KEY", API_KEY),
            ("TABLE_NAME", table.as_str()),
            ("TOOL_URL", TOOL_URL),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    Demo {
        http: reqwest::Client::new(),
        ltiaas_url: ltiaas_url.to_owned(),
        dynamodb,
        dynamo,
        table,
        env,
    }
}

/// The LMS registers the launch; the `launch` binary answers it. The
/// Runtime API is returned to be kept until the demo ends.
async fn launch(demo: &Demo) -> RuntimeApi {
    step("An instructor launches 'Quiz 1' from the LMS (events/launch.json)");
    demo.http
        .post(demo.admin("launches"))
        .json(&sample::launch("demo-service-key-quiz-1"))
        .send()
        .await
        .expect("simulator admin API")
        .error_for_status()
        .expect("launch registered");
    let api = RuntimeApi::start().await;
    let launch = FunctionProcess::spawn(&binary("launch"), &api, &demo.env);
    let reply = api_gateway_reply(
        &api.invoke(event_file("launch.json"), Duration::from_secs(15))
            .await
            .response(),
    );
    say(&format!(
        "launch answered {} -> {}",
        reply.status,
        reply.header("location").unwrap_or("(no redirect)")
    ));
    let launch_logs = launch.stop().await;
    assert_eq!(
        reply.status, 302,
        "launch failed: {}\n{launch_logs}",
        reply.body
    );
    print_log_line(&launch_logs, "launch");
    api
}

/// The activity item the launch stored.
async fn show_stored_activity(demo: &Demo) {
    let activity = get_item(&demo.dynamo, &demo.table, PK, "ACTIVITY")
        .await
        .unwrap_or_default();
    say(&format!(
        "stored activity: platform={} course={} link={} serviceKey=(stored, {} chars)",
        text(&activity, "platformId"),
        text(&activity, "contextId"),
        text(&activity, "resourceLinkId"),
        text(&activity, "serviceKey").len()
    ));
}

/// The `sync` binary as the grade stream function, the event source
/// mapping over the table's stream, and the LMS's latency and roster.
async fn start_stream_function(demo: &Demo) -> (SyncRig, EventSourceMapping) {
    step("The grade stream function starts; the table's stream is watched (batching window 0)");
    let mut stream_env: Env = demo.env.iter().cloned().collect();
    stream_env.insert("SYNC_DEADLINE_MARGIN_MS".into(), "15000".into());
    let sync = SyncRig::start(Via::Binary, &stream_env).await;
    let mapping = EventSourceMapping::attach(&demo.dynamodb, &demo.table, STREAM_MAPPING).await;
    demo.http
        .post(demo.admin("settings"))
        .json(&json!({"latencyMs": 20}))
        .send()
        .await
        .expect("settings");
    say("(the simulated LMS answers in 20 ms; its course roster has three learners and an instructor, \
         and no test-student, so the sync fails that grade as NOT_A_LEARNER without asking the LMS)");
    let members = [
        member("learner-ada", "Learner"),
        member("learner-grace", "Learner"),
        member("learner-alan", "Learner"),
        member("prof-hopper", "Instructor"),
    ];
    demo.http
        .post(demo.admin("rosters"))
        .json(&sample::roster(&members))
        .send()
        .await
        .expect("roster registered");
    (sync, mapping)
}

/// The tool records `GRADES`, one PutItem each; returns when it started.
async fn write_grades(demo: &Demo) -> Instant {
    step("The tool records grades: one PutItem each, as docs/writing-grades.md documents");
    let written = Instant::now();
    let quiz = sample::activity();
    for (user, score, comment) in GRADES {
        let text = |v: &str| AttributeValue::S(v.into());
        let item = documented_grade(
            &quiz,
            user,
            &[
                ("scoreGiven", AttributeValue::N(score.to_string())),
                ("scoreMaximum", AttributeValue::N("100".into())),
                ("comment", text(comment)),
                ("submittedAt", text("2026-11-27T22:05:00Z")),
            ],
        );
        demo.dynamo
            .put_item()
            .table_name(&demo.table)
            .set_item(Some(item))
            .send()
            .await
            .expect("PutItem");
        say(&format!("{user}: {score}/100"));
    }
    written
}

/// The stream's records handed to the sync binary; how many scores reached
/// the LMS, counted from `written`.
async fn deliver(
    demo: &Demo,
    mapping: &mut EventSourceMapping,
    sync: &SyncRig,
    written: Instant,
) -> usize {
    step("The stream delivers the writes to the sync binary; it posts them at once");
    mapping.drain(sync, Duration::from_millis(500)).await;
    for delivery in &mapping.deliveries {
        say(&format!(
            "batch of {} records -> batchItemFailures {:?}",
            delivery.records.len(),
            delivery.failures
        ));
    }
    let delivered = demo
        .http
        .get(demo.admin("scores"))
        .send()
        .await
        .expect("scores")
        .json::<Value>()
        .await
        .expect("JSON")
        .as_array()
        .map_or(0, Vec::len);
    say(&format!(
        "{delivered} scores reached the LMS {:.2} s after the first write; no schedule fired",
        written.elapsed().as_secs_f64()
    ));
    delivered
}

async fn show_what_the_lms_received(demo: &Demo) {
    step("What the simulated LMS received");
    let scores: Value = demo
        .http
        .get(demo.admin("scores"))
        .send()
        .await
        .expect("scores")
        .json()
        .await
        .expect("JSON");
    for score in scores.as_array().expect("a list") {
        say(&format!(
            "POST {}/scores  {}",
            score["lineItemId"].as_str().unwrap_or_default(),
            score["body"]
        ));
    }
    let items: Value = demo
        .http
        .get(demo.admin("line-items"))
        .send()
        .await
        .expect("line items")
        .json()
        .await
        .expect("JSON");
    say(&format!(
        "line items now in the gradebook: {}",
        items[0]["lineItems"]
    ));
}

/// The schedule's run after the stream did the work, and the sync
/// binary's log records; the run's summary.
async fn daily_run(sync: SyncRig) -> Value {
    step("The daily schedule fires later (events/schedule.json): nothing is left to do");
    let summary = sync
        .run(&event_file("schedule.json"), Duration::from_secs(60))
        .await;
    let sync_logs = sync.finish().await;
    print_log_line(&sync_logs, "grade stream batch");
    print_log_line(&sync_logs, "sync run");
    println!("{}", serde_json::to_string_pretty(&summary).expect("JSON"));
    summary
}

async fn show_grade_items(demo: &Demo) {
    step("Grade items afterwards");
    for (user, _, _) in GRADES {
        let item = get_item(&demo.dynamo, &demo.table, PK, &format!("GRADE#{user}"))
            .await
            .unwrap_or_default();
        let error = text(&item, "lastError");
        say(&format!(
            "{user:14} syncStatus={:7} pending={}{}",
            text(&item, "syncStatus"),
            item.contains_key("pending"),
            if error.is_empty() {
                String::new()
            } else {
                format!("  lastError=\"{error}\"")
            }
        ));
    }
}

/// Keeps moto, the simulator and the table, with the status page served
/// by the real launch binary behind a local HTTP front, until Ctrl-C; says
/// how to reach them.
async fn keep_running(demo: &Demo) {
    const LTIK: &str = "demo-instructor-ltik";
    demo.http
        .post(demo.admin("launches"))
        .json(&sample::instructor_launch(LTIK, "demo-service-key-quiz-1"))
        .send()
        .await
        .expect("simulator admin API")
        .error_for_status()
        .expect("instructor launch registered");
    let env: Env = demo.env.iter().cloned().collect();
    let rig = std::sync::Arc::new(LaunchRig::start(Via::Binary, &env).await);
    let front = HttpFront::start(rig.clone()).await;
    step("Still running (Ctrl-C stops everything)");
    say(&format!(
        "the status page, as the course's instructor: {}/status?ltik={LTIK}",
        front.url()
    ));
    say("the operator's CLI, in another terminal:");
    let exports: Vec<String> = [
        "TABLE_NAME",
        "LTIAAS_URL",
        "LTIAAS_API_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
    ]
    .iter()
    .filter_map(|name| env.get(*name).map(|value| format!("{name}={value}")))
    .collect();
    say(&format!(
        "  export {} AWS_ENDPOINT_URL={}",
        exports.join(" "),
        demo.dynamodb
    ));
    say("  target/debug/ltisync status");
    say(&format!(
        "  target/debug/ltisync explain --activity '{}' --user test-student",
        sample::activity().key()
    ));
    tokio::signal::ctrl_c()
        .await
        .expect("Ctrl-C can be awaited");
    drop(front);
}

/// Shows the function's own log record (JSON) for one message.
fn print_log_line(logs: &str, message: &str) {
    if let Some(line) = logs
        .lines()
        .find(|l| l.contains(&format!("\"message\":\"{message}\"")))
    {
        let mut record: Value = serde_json::from_str(line).unwrap_or(Value::Null);
        if let Some(obj) = record.as_object_mut() {
            obj.remove("summary");
        }
        say(&format!("log: {record}"));
    }
}

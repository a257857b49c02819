//! The sync end to end: grades recorded with the documented schema, the
//! engine (in-process) and the real `sync` binary (through the Lambda
//! Runtime API with `events/schedule.json`) posting them to the LTIaaS
//! simulator, and every outcome checked in DynamoDB.

use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use ltisync::ActivityIds;
use ltisync_tests::rigs::{event_file, sync_env, Env, SyncRig, Via};
use ltisync_tests::simulator::{Fault, FaultAction, LmsProfile, Route, SimLineItem, Simulator};
use serde_json::{json, Value};

use crate::helpers::{documented_grade, is_synced, s, Item, Stack, LONG};
use ltisync_tests::aws_proxy::{DynamoFault, RecordingProxy};
use ltisync_tests::grades::without;
use ltisync_tests::runtime_api::Outcome;
use ltisync_tests::runtime_api::{binary, FunctionProcess, RuntimeApi};

mod concurrency;
mod crash;
mod line_items;
mod retries;

#[tokio::test]
async fn every_pending_grade_is_posted_once_and_a_second_run_posts_nothing() {
    for via in [Via::Handler, Via::Binary] {
        let stack = Stack::start().await;
        let mut expected = Vec::new();
        for a in 0..3 {
            let ids = stack
                .launch(
                    &format!("plat-{}", a % 2),
                    "course",
                    &format!("link-{a}"),
                    Some(&format!("key-{a}")),
                )
                .await;
            for u in 0..5 {
                let user = format!("user-{a}-{u}");
                stack.grade(&ids, &user, (a * 10 + u) as f64).await;
                expected.push((ids.clone(), user, (a * 10 + u) as f64));
            }
        }
        let summary = stack.run(via, &stack.env()).await;
        assert_eq!(summary["gradesPosted"], 15, "{via:?}: {summary}");
        assert_eq!(summary["gradesPending"], 0);
        assert_eq!(summary["lineItemsCreated"], 3);
        assert_eq!(summary["activitiesSeen"], 3);
        let scores = stack.sim.scores();
        assert_eq!(scores.len(), 15);
        for (ids, user, score) in &expected {
            let received = stack.received_for(user);
            assert_eq!(received.len(), 1, "{user} posted once");
            assert_eq!(
                received[0].body,
                json!({"userId": user, "activityProgress": "Completed", "gradingProgress": "FullyGraded",
                       "scoreGiven": score, "scoreMaximum": 100.0, "comment": format!("score {score}"),
                       "https://canvas.instructure.com/lti/submission": {"new_submission": true}})
            );
            let key_number = &ids.resource_link_id["link-".len()..];
            assert_eq!(received[0].service_key, format!("key-{key_number}"));
            assert!(
                is_synced(&stack.item(ids, user).await),
                "{user} marked synced"
            );
        }
        let again = stack.run(via, &stack.env()).await;
        assert_eq!(again["gradesFound"], 0, "{again}");
        assert_eq!(stack.sim.scores().len(), 15, "nothing posted twice");
    }
}

fn line_item(label: &str, resource_id: Option<&str>, tag: Option<&str>) -> SimLineItem {
    SimLineItem {
        id: String::new(),
        label: label.into(),
        score_maximum: 10.0,
        resource_link_id: Some("link".into()),
        resource_id: resource_id.map(Into::into),
        tag: tag.map(Into::into),
    }
}

impl Stack {
    async fn prefer(&self, ids: &ActivityIds, resource_id: Option<&str>, tag: Option<&str>) {
        let preferences = ltisync::activity::LineItemPreferences {
            resource_id: resource_id.map(Into::into),
            tag: tag.map(Into::into),
            ..Default::default()
        };
        self.store
            .set_line_item_preferences(ids, &preferences)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_permanent_rejection_is_recorded_while_the_others_are_posted() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    for u in ["a", "b", "test-student", "c"] {
        stack.grade(&ids, u, 10.0).await;
    }
    stack.sim.inject(
        Fault::on(
            Route::PostScore,
            FaultAction::Status {
                status: 422,
                body: Some(r#"{"status":422,"error":"Unprocessable Entity","details":{"message":"USER_NOT_STUDENT","description":"User is not a student in this course"}}"#.into()),
                retry_after: None,
            },
            None,
        )
        .for_user("test-student"),
    );
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 3, "{summary}");
    assert_eq!(summary["gradesFailed"], 1);
    assert_eq!(summary["failures"][0]["userId"], "test-student");
    assert_eq!(summary["failures"][0]["status"], 422);
    let failed = stack.item(&ids, "test-student").await;
    assert_eq!(s(&failed, "syncStatus"), Some("FAILED"));
    assert!(
        !failed.contains_key("pending"),
        "not retried until it changes"
    );
    assert!(s(&failed, "lastError").unwrap().contains("not a student"));
    assert_eq!(
        failed.get("lastHttpStatus"),
        Some(&AttributeValue::N("422".into()))
    );
    assert_eq!(stack.received_for("test-student").len(), 0);
    // Not retried by the next run; retried once the tool changes the grade.
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesFound"], 0);
    stack.sim.clear_faults();
    stack.grade(&ids, "test-student", 11.0).await;
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 1);
}

#[tokio::test]
async fn a_grade_changed_in_flight_is_posted_again_and_never_overwritten() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    stack.grade(&ids, "u1", 40.0).await;
    stack.sim.inject(
        Fault::on(
            Route::PostScore,
            FaultAction::Delay { millis: 700 },
            Some(1),
        )
        .for_user("u1"),
    );
    let rig = SyncRig::start(Via::Handler, &stack.env()).await;
    let event = event_file("schedule.json");
    let run = rig.run(&event, LONG);
    let change = async {
        stack
            .sim
            .wait_for_arrival(Route::PostScore, Some("u1"), Duration::from_secs(10))
            .await;
        stack.grade(&ids, "u1", 90.0).await;
    };
    let (summary, ()) = tokio::join!(run, change);
    assert_eq!(summary["gradesPosted"], 0, "{summary}");
    assert_eq!(summary["pendingReasons"]["changedDuringRun"], 1);
    let item = stack.item(&ids, "u1").await;
    assert_eq!(
        item.get("scoreGiven"),
        Some(&AttributeValue::N("90".into())),
        "the new value survives"
    );
    assert!(item.contains_key("pending"));
    let summary = rig.run(&event, LONG).await;
    assert_eq!(summary["gradesPosted"], 1);
    let received: Vec<f64> = stack
        .received_for("u1")
        .iter()
        .map(|s| s.body["scoreGiven"].as_f64().unwrap())
        .collect();
    assert_eq!(
        received,
        vec![40.0, 90.0],
        "old then new, never the reverse"
    );
    assert!(is_synced(&stack.item(&ids, "u1").await));
}

#[tokio::test]
async fn invalid_grades_written_directly_fail_with_a_reason() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    let put = |user: &str, extra: &[(&str, AttributeValue)]| {
        let item = without(
            documented_grade(&ids, user, &[]),
            &["scoreGiven", "scoreMaximum"],
        );
        let mut item: Item = item;
        for (k, v) in extra {
            item.insert((*k).into(), v.clone());
        }
        stack
            .table
            .client
            .put_item()
            .table_name(&stack.table.name)
            .set_item(Some(item))
            .send()
    };
    let n = |v: &str| AttributeValue::N(v.into());
    put(
        "negative",
        &[("scoreGiven", n("-5")), ("scoreMaximum", n("10"))],
    )
    .await
    .unwrap();
    put(
        "zero-max",
        &[("scoreGiven", n("5")), ("scoreMaximum", n("0"))],
    )
    .await
    .unwrap();
    put(
        "progress",
        &[("activityProgress", AttributeValue::S("Done".into()))],
    )
    .await
    .unwrap();
    put(
        "text-score",
        &[
            ("scoreGiven", AttributeValue::S("95".into())),
            ("scoreMaximum", n("100")),
        ],
    )
    .await
    .unwrap();
    // The schema says to omit scoreGiven to clear a score; NULL is not that.
    put(
        "null-score",
        &[
            ("scoreGiven", AttributeValue::Null(true)),
            ("scoreMaximum", n("100")),
        ],
    )
    .await
    .unwrap();
    put("ok", &[("scoreGiven", n("5")), ("scoreMaximum", n("10"))])
        .await
        .unwrap();
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 1, "{summary}");
    assert_eq!(summary["gradesFailed"], 5);
    for (user, words) in [
        ("negative", "scoreGiven must be a number of at least 0"),
        ("zero-max", "scoreMaximum must be a number above 0"),
        ("progress", "activityProgress 'Done'"),
        (
            "text-score",
            "scoreGiven: expected a number (N), found a string (S)",
        ),
        (
            "null-score",
            "scoreGiven: expected a number (N), found null (NULL)",
        ),
    ] {
        let item = stack.item(&ids, user).await;
        assert_eq!(s(&item, "syncStatus"), Some("FAILED"), "{user}");
        assert!(
            s(&item, "lastError").unwrap().contains(words),
            "{user}: {item:?}"
        );
        assert!(!item.contains_key("pending"));
    }
    assert_eq!(stack.sim.scores().len(), 1);
}

#[tokio::test]
async fn grades_of_unlaunched_or_keyless_activities_wait() {
    let stack = Stack::start().await;
    let keyless = stack.launch("p", "c", "no-ags", None).await;
    let never = ActivityIds::new("p", "c", "never-launched").unwrap();
    stack.grade(&keyless, "u1", 1.0).await;
    stack.grade(&never, "u1", 1.0).await;
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["pendingReasons"]["noServiceKey"], 1, "{summary}");
    assert_eq!(summary["pendingReasons"]["activityNotLaunched"], 1);
    assert!(s(&stack.item(&never, "u1").await, "lastError")
        .unwrap()
        .contains("launch it once"));
    stack.launch("p", "c", "never-launched", Some("k")).await;
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 1, "{summary}");
}

#[tokio::test]
async fn a_dry_run_reports_without_posting_or_writing() {
    let stack = Stack::start().await;
    let ids = stack
        .launch("demo-platform", "course-101", "quiz-1", Some("k"))
        .await;
    let other = stack
        .launch("demo-platform", "course-101", "quiz-2", Some("k2"))
        .await;
    stack.grade(&ids, "u1", 7.0).await;
    stack.grade(&other, "u2", 8.0).await;
    let before = stack.table.items().await;
    let rig = SyncRig::start(Via::Binary, &stack.env()).await;
    let summary = rig
        .run(&event_file("sync-one-activity-dry-run.json"), LONG)
        .await;
    rig.finish().await;
    assert_eq!(summary["dryRun"], true, "{summary}");
    assert_eq!(summary["wouldPost"].as_array().unwrap().len(), 1);
    assert_eq!(summary["wouldPost"][0]["score"]["userId"], "u1");
    assert_eq!(summary["wouldPost"][0]["activityKey"], ids.key().as_str());
    assert!(stack
        .sim
        .requests()
        .iter()
        .all(|r| r.route == Route::IdToken));
    let after = stack.table.items().await;
    assert_eq!(before.len(), after.len());
    assert!(after.iter().all(|i| before.contains(i)), "nothing written");
}

/// What a run reads is billed by the bytes of the work (one eventually
/// consistent scan of the work index), not per item and not for the table:
/// with 1% of the grades pending it costs a few percent of a full scan,
/// by DynamoDB's sizing rules applied to what crossed the wire.
#[tokio::test]
async fn with_one_percent_pending_a_run_costs_a_few_percent_of_a_scan() {
    let stack = Stack::start().await;
    let (activities, per_activity) = (20, 80);
    let mut all_ids = Vec::new();
    for a in 0..activities {
        let link = format!("{a:02}-6f1c2a9e-3b7d-4e58-9a0c-1d2e3f4a5b6c");
        all_ids.push(stack.launch("p", "c", &link, Some(&format!("k{a}"))).await);
    }
    // Grades synced long ago: no `pending` attribute, so not in the index.
    let mut writes = Vec::new();
    for ids in &all_ids {
        for u in 0..per_activity {
            let item = without(
                documented_grade(
                    ids,
                    &format!("user-{u:02}-8b0e6a52-4c1d-4f3a-b7e9-2a6c0d1e5f47"),
                    &[
                        ("scoreGiven", AttributeValue::N("1".into())),
                        ("syncStatus", AttributeValue::S("SYNCED".into())),
                    ],
                ),
                &["pending"],
            );
            writes.push(
                WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                    .build(),
            );
        }
    }
    for chunk in writes.chunks(25) {
        stack
            .table
            .client
            .batch_write_item()
            .request_items(&stack.table.name, chunk.to_vec())
            .send()
            .await
            .unwrap();
    }
    // 1% of them change.
    let changed = activities * per_activity / 100;
    for i in 0..changed {
        let user = format!("user-{i:02}-8b0e6a52-4c1d-4f3a-b7e9-2a6c0d1e5f47");
        stack.grade(&all_ids[i % activities], &user, 9.0).await;
    }
    let proxy = RecordingProxy::start(&stack.table.endpoint).await;
    let summary = stack.run(Via::Handler, &stack.env_through(&proxy)).await;
    assert_eq!(summary["gradesPosted"], changed, "{summary}");
    let run = proxy.take_read_units();
    full_scan(&stack, &proxy).await;
    let scan: f64 = proxy.take_read_units().values().sum();
    // Discovery reads only the index; no grade is read on its own. Each
    // grade about to be posted adds one consistent read of what the LMS
    // accepted for it before (its posted item: "each value once").
    assert_eq!(
        run.keys().collect::<Vec<_>>(),
        ["GetItem", "Scan"],
        "{run:?}"
    );
    assert_eq!(
        run["GetItem"], changed as f64,
        "one read unit per grade posted: {run:?}"
    );
    // The scan's segments each round their bytes up to a whole 4 KB (half
    // a unit, eventually consistent): at most half a unit each beyond the
    // bytes of the work.
    let rounding = 0.5 * f64::from(ltisync::store::work::SCAN_SEGMENTS);
    assert!(
        (run["Scan"] - rounding) * 20.0 <= scan,
        "finding the work cost {run:?} read units, more than 5% of a full scan's {scan}"
    );
}

/// A full eventually consistent scan of the table through `proxy`.
async fn full_scan(stack: &Stack, proxy: &RecordingProxy) {
    let client = ltisync_tests::dynamo::client_for(&proxy.url());
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(&stack.table.name)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return,
        }
    }
}

/// The work index is eventually consistent: a scan may be served by a
/// replica that has not seen the latest writes. Replayed here: the run is
/// given the index as it was before another run posted a newer value.
/// It must not post the copy's older value: the one grade already posted
/// is left alone, the other is posted at the value the table holds now.
#[tokio::test]
async fn a_lagging_index_never_gets_an_older_value_posted() {
    let (stack, ids) = Stack::with_grades(0).await;
    let users = ["u1", "u2"];
    for u in users {
        stack.grade(&ids, u, 1.0).await;
    }
    let proxy = RecordingProxy::start(&stack.table.endpoint).await;
    let env = stack.env_through(&proxy);
    // The index as it is now: both grades pending at 1.
    proxy.remember_from_now("Scan");
    let dry = SyncRig::start(Via::Handler, &env).await;
    dry.run(&json!({"dryRun": true}), LONG).await;
    dry.finish().await;
    // u1 is changed and posted at 2; u2 posted at 1, then changed to 3.
    stack.grade(&ids, "u1", 2.0).await;
    let first = stack.run(Via::Handler, &env).await;
    assert_eq!(first["gradesPosted"], 2, "{first}");
    stack.grade(&ids, "u2", 3.0).await;

    // Every segment of the scan answers as it did then.
    let segments = ltisync::store::work::SCAN_SEGMENTS as usize;
    proxy.inject("Scan", DynamoFault::Replay, segments);
    let lagging = stack.run(Via::Handler, &env).await;
    assert_eq!(lagging["gradesFound"], 2, "both stale copies: {lagging}");
    assert_eq!(lagging["gradesAlreadySettled"], 1, "{lagging}");
    assert_eq!(lagging["gradesPosted"], 1, "{lagging}");
    let received = |u: &str| -> Vec<f64> {
        stack
            .received_for(u)
            .iter()
            .map(|s| s.body["scoreGiven"].as_f64().unwrap())
            .collect()
    };
    assert_eq!(received("u1"), [2.0], "the stale 1 never reached the LMS");
    assert_eq!(
        received("u2"),
        [1.0, 3.0],
        "the table's value, not the copy's"
    );
    for (u, latest) in [("u1", "2"), ("u2", "3")] {
        let item = stack.item(&ids, u).await;
        assert!(is_synced(&item), "{u}: {item:?}");
        assert_eq!(item["scoreGiven"], AttributeValue::N(latest.into()));
    }
}

#[tokio::test]
async fn a_malformed_activity_blocks_only_its_own_grades() {
    let stack = Stack::start().await;
    let healthy = stack.launch("p", "c", "healthy", Some("k")).await;
    let broken = ActivityIds::new("p", "c", "never-launched-but-configured").unwrap();
    // A tool configured an activity by hand, before any launch, without the ids.
    stack
        .table
        .client
        .update_item()
        .table_name(&stack.table.name)
        .key("pk", AttributeValue::S(format!("ACT#{}", broken.key())))
        .key("sk", AttributeValue::S("ACTIVITY".into()))
        .update_expression("SET lineItemTag = :t")
        .expression_attribute_values(":t", AttributeValue::S("final".into()))
        .send()
        .await
        .unwrap();
    stack.grade(&healthy, "u1", 1.0).await;
    stack.grade(&broken, "u1", 1.0).await;
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 1, "{summary}");
    assert_eq!(summary["pendingReasons"]["activityMalformed"], 1);
    assert!(s(&stack.item(&broken, "u1").await, "lastError")
        .unwrap()
        .contains("does not follow the schema"));
}

impl Stack {
    /// The environment with DynamoDB reached through `proxy`.
    fn env_through(&self, proxy: &RecordingProxy) -> Env {
        sync_env(
            &self.sim.url(),
            &self.sim.api_key(),
            &self.table.name,
            &proxy.url(),
        )
    }

    /// Rewrites every user's grade with a new score.
    async fn regrade(&self, ids: &ActivityIds, users: &[String], score: f64) {
        for u in users {
            self.grade(ids, u, score).await;
        }
    }

    /// Each grade ends posted at its latest value, still pending, or failed
    /// with a reason; returns how many of each, to compare with a summary.
    async fn settled(&self, ids: &ActivityIds, users: &[String], latest: f64) -> (u64, u64, u64) {
        let (mut posted, mut pending, mut failed) = (0, 0, 0);
        for u in users {
            let item = self.item(ids, u).await;
            match s(&item, "syncStatus") {
                Some("SYNCED") => {
                    assert!(is_synced(&item), "{u}: {item:?}");
                    let last = self.received_for(u).last().cloned().expect("posted");
                    assert_eq!(last.body["scoreGiven"], latest, "{u}: the LMS's last value");
                    posted += 1;
                }
                Some("FAILED") => {
                    assert!(s(&item, "lastError").is_some_and(|e| !e.is_empty()), "{u}");
                    failed += 1;
                }
                _ => {
                    assert!(item.contains_key("pending"), "{u} is lost: {item:?}");
                    pending += 1;
                }
            }
        }
        (posted, pending, failed)
    }
}

fn users(count: usize) -> Vec<String> {
    (0..count).map(|u| format!("u{u:02}")).collect()
}

/// A manual invoke with a huge activity key is answered, not failed, and
/// neither the answer nor the log echoes it whole.
#[tokio::test]
async fn a_huge_manual_event_is_answered_and_not_echoed() {
    let stack = Stack::start().await;
    let mut env = stack.env();
    env.insert("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into());
    let rig = SyncRig::start(Via::Binary, &env).await;
    let key = "k".repeat(200_000);
    let answer = rig.run(&json!({"activityKey": key}), LONG).await;
    assert_eq!(answer["error"]["kind"], "BadEvent", "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("not an activity key") && message.len() < 1024,
        "{message}"
    );
    let logs = rig.finish().await;
    assert!(logs.contains("not a sync request"), "{logs}");
    assert!(
        logs.lines().all(|l| l.len() < 4096),
        "a log record echoes the key whole"
    );
}

// ---- Follow-up runs: no backlog waits a day

/// The real binary against a Runtime API that also answers Lambda's Invoke
/// API, so a follow-up invoke queues the function's next invocation.
async fn self_invoking_sync(env: &Env, async_budget: Duration) -> (RuntimeApi, FunctionProcess) {
    let api = RuntimeApi::start().await;
    api.set_async_budget(async_budget);
    let mut env = env.clone();
    env.insert("AWS_ENDPOINT_URL_LAMBDA".into(), api.invoke_endpoint());
    env.insert("AWS_LAMBDA_FUNCTION_NAME".into(), "ltisync-sync".into());
    let vars: Vec<(String, String)> = env.into_iter().collect();
    let process = FunctionProcess::spawn(&binary("sync"), &api, &vars);
    (api, process)
}

/// One post at a time at 100 ms, 1 s of margin: a 2.5 s run posts about a
/// dozen grades and stops with the rest pending, with time left to ask for
/// its follow-up.
fn slow_env(stack: &Stack, max_follow_ups: &str) -> Env {
    stack.sim.set_latency(Duration::from_millis(100));
    let mut env = stack.env();
    env.insert("SYNC_CONCURRENCY".into(), "1".into());
    env.insert("SYNC_DEADLINE_MARGIN_MS".into(), "1000".into());
    env.insert("DYNAMODB_TIMEOUT_MS".into(), "1000".into());
    env.insert("SYNC_MAX_FOLLOW_UPS".into(), max_follow_ups.into());
    env
}

async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "not done within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The summary's capacity is exactly what DynamoDB's answers reported,
/// summed (moto reports stand-in figures; what matters here is that every
/// call's report is counted once and nothing else is).
#[tokio::test]
async fn a_run_reports_the_capacity_it_consumed() {
    let (stack, _) = Stack::with_grades(10).await;
    let proxy = RecordingProxy::start(&stack.table.endpoint).await;
    let summary = stack.run(Via::Handler, &stack.env_through(&proxy)).await;
    assert_eq!(summary["gradesPosted"], 10, "{summary}");
    let (read, write) = proxy.take_reported_units();
    let units = |name: &str| summary[name].as_f64().unwrap();
    assert!(read > 0.0 && write > 0.0, "{read} {write}");
    assert!(
        (units("consumedReadUnits") - read).abs() < 1e-9,
        "{summary} vs {read}"
    );
    assert!(
        (units("consumedWriteUnits") - write).abs() < 1e-9,
        "{summary} vs {write}"
    );
}

/// The summary says where the time went: with LTIaaS answering in 100 ms
/// and one post at a time, the posts take at least 4 × 100 ms and the line
/// item (a listing and a create) and roster reads at least 3 × 100 ms.
#[tokio::test]
async fn a_run_says_where_its_time_went() {
    let (stack, _) = Stack::with_grades(4).await;
    stack.sim.set_latency(Duration::from_millis(100));
    let mut env = stack.env();
    env.insert("SYNC_CONCURRENCY".into(), "1".into());
    let summary = stack.run(Via::Handler, &env).await;
    assert_eq!(summary["gradesPosted"], 4, "{summary}");
    let phase = |name: &str| summary["phaseMs"][name].as_u64().unwrap();
    assert!(phase("posts") >= 400, "{summary}");
    assert!(phase("lineItems") >= 300, "{summary}");
    for name in ["discovery", "claim", "read", "outcomeWrites"] {
        assert!(summary["phaseMs"][name].is_u64(), "{name}: {summary}");
    }
    // The first score goes after the roster and the line item (3 round
    // trips); the last outcome after the fourth post, within the run.
    let (first, last) = (phase("firstPost"), phase("lastOutcome"));
    assert!(first >= 300 && first + 300 <= last, "{summary}");
    assert!(last <= summary["durationMs"].as_u64().unwrap(), "{summary}");
    // A run with nothing to post has neither moment.
    let idle = stack.run(Via::Handler, &env).await;
    assert!(idle["phaseMs"]["firstPost"].is_null(), "{idle}");
    assert!(idle["phaseMs"]["lastOutcome"].is_null(), "{idle}");
}

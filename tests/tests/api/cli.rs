//! The operator's command line (`ltisync`), run as a process against moto
//! and the table a real sync left: its JSON parsed, its human output
//! compared whole, its exit codes, and the table's state afterwards.

use std::process::Command;

use aws_sdk_dynamodb::types::AttributeValue;
use ltisync::store::{PendingGrade, WriteOutcome};
use ltisync_tests::dynamo::{aws_env, create_secret, TableDefinition, TestTable};
use ltisync_tests::rigs::{SyncRig, Via};
use ltisync_tests::runtime_api::binary;
use ltisync_tests::simulator::{Fault, FaultAction, Route};
use serde_json::Value;

use crate::helpers::{is_synced, s, Stack};

/// What one `ltisync` run did.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", self.stdout, self.stderr))
    }
}

/// Runs `ltisync args…` with only the AWS settings of the local stack
/// (and the table, unless `table` is None).
pub(crate) async fn ltisync(stack: &Stack, table: Option<&str>, args: &[&str]) -> Run {
    ltisync_with(stack, table, args, &[]).await
}

/// As [`ltisync`], with more environment variables. The process runs on
/// the blocking pool: servers it talks to live on this test's runtime.
pub(crate) async fn ltisync_with(
    stack: &Stack,
    table: Option<&str>,
    args: &[&str],
    env: &[(&str, &str)],
) -> Run {
    let mut command = Command::new(binary("ltisync"));
    command
        .args(args)
        .env_clear()
        .envs(aws_env(&stack.table.endpoint))
        .envs(env.iter().copied());
    if let Some(table) = table {
        command.env("TABLE_NAME", table);
    }
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("the ltisync binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Two activities after a daily run: quiz with ada posted and bob refused
/// (422), essay with carl still pending (the LMS kept failing).
async fn after_a_run() -> Stack {
    let stack = Stack::start().await;
    let quiz = stack.launch("p", "c", "quiz", Some("k1")).await;
    let essay = stack.launch("p", "c", "essay", Some("k2")).await;
    stack.grade(&quiz, "ada", 9.0).await;
    stack.grade(&quiz, "bob", 4.0).await;
    stack.grade(&essay, "carl", 7.0).await;
    let refusal = r#"{"status":422,"details":{"bodyReceived":{"errors":[{"message":"Course has concluded"}]}}}"#;
    stack.sim.inject(
        Fault::on(
            Route::PostScore,
            FaultAction::Status {
                status: 422,
                body: Some(refusal.into()),
                retry_after: None,
            },
            Some(1),
        )
        .for_user("bob"),
    );
    stack
        .sim
        .inject(Fault::status(Route::PostScore, 503, Some(1)).for_user("carl"));
    let mut env = stack.env();
    env.insert("SYNC_MAX_ATTEMPTS".into(), "1".into());
    let summary = stack.run(Via::Handler, &env).await;
    assert_eq!(summary["gradesPosted"], 1, "{summary}");
    stack
}

#[tokio::test]
async fn status_shows_each_activity_and_the_totals() {
    let stack = after_a_run().await;
    let table = Some(stack.table.name.as_str());
    let json = ltisync(&stack, table, &["status", "--json"]).await;
    assert_eq!(json.code, 0, "{}", json.stderr);
    assert!(
        json.stderr.is_empty(),
        "no progress when stderr is not a terminal"
    );
    let report = json.json();
    let activities = report["activities"].as_array().unwrap();
    assert_eq!(activities.len(), 2);
    assert_eq!(activities[0]["activityKey"], "p#c#essay");
    assert_eq!(activities[0]["grades"]["pending"], 1);
    assert_eq!(
        activities[0]["grades"]["pendingReasons"]["retriesExhausted"],
        1
    );
    assert_eq!(activities[1]["title"], "Quiz quiz");
    assert_eq!(activities[1]["grades"]["synced"], 1);
    assert_eq!(activities[1]["grades"]["failed"], 1);
    assert!(activities[1]["lineItemId"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
    assert_eq!(report["totals"]["synced"], 1);
    assert_eq!(report["totals"]["failed"], 1);
    assert_eq!(report["totals"]["pending"], 1);

    let human = ltisync(&stack, table, &["status"]).await;
    assert_eq!(human.code, 0);
    assert_eq!(
        human.stdout,
        "\
ACTIVITY                       PLATFORM       SYNCED FAILED PENDING  NOTE
Quiz essay (Course c)          p                   0      0       1
  pending: retriesExhausted 1
Quiz quiz (Course c)           p                   1      1       0
TOTAL (2 activities)                               1      1       1
  pending: retriesExhausted 1
"
    );
    assert!(human.stdout.lines().all(|l| l.chars().count() <= 80));
    let one = ltisync(
        &stack,
        table,
        &["status", "--activity", "p#c#quiz", "--json"],
    )
    .await
    .json();
    assert_eq!(one["activities"].as_array().unwrap().len(), 1);
    assert_eq!(one["totals"]["pending"], 0);
}

/// Reports read why a grade waits or failed from its code, never from its
/// words; a grade written before codes were stored reads as it did.
#[tokio::test]
async fn reasons_are_read_by_their_code_and_old_items_by_their_text() {
    let stack = after_a_run().await;
    let table = Some(stack.table.name.as_str());
    let quiz = ltisync::ActivityIds::new("p", "c", "quiz").unwrap();
    let essay = ltisync::ActivityIds::new("p", "c", "essay").unwrap();
    let carl = stack.item(&essay, "carl").await;
    assert_eq!(s(&carl, "lastErrorCode"), Some("retriesExhausted"));
    let bob = stack.item(&quiz, "bob").await;
    assert_eq!(s(&bob, "lastErrorCode"), Some("lmsRejected"));
    let reasons = |report: &Value| report["totals"]["pendingReasons"].clone();
    let retrying = serde_json::json!({"retriesExhausted": 1});

    let mut reworded = carl.clone();
    reworded.insert("lastError".into(), s_value("the LMS had a bad day"));
    stack.put(reworded).await;
    let report = ltisync(&stack, table, &["status", "--json"]).await.json();
    assert_eq!(
        reasons(&report),
        retrying,
        "the code decides, not the words"
    );

    let mut old_carl = carl.clone();
    old_carl.remove("lastErrorCode");
    stack.put(old_carl).await;
    let mut old_bob = bob.clone();
    old_bob.remove("lastErrorCode");
    stack.put(old_bob).await;
    let report = ltisync(&stack, table, &["status", "--json"]).await.json();
    assert_eq!(reasons(&report), retrying, "an old item's note still reads");
    let failed = ltisync(&stack, table, &["failed", "--json"]).await.json();
    assert_eq!(failed["grades"][0]["code"], "lmsRejected");
}

fn s_value(text: &str) -> AttributeValue {
    AttributeValue::S(text.into())
}

#[tokio::test]
async fn failed_grades_are_explained_and_requeued_without_changing_a_value() {
    let stack = after_a_run().await;
    let table = Some(stack.table.name.as_str());
    let failed = ltisync(&stack, table, &["failed", "--json"]).await;
    assert_eq!(failed.code, 1, "findings exit 1: {}", failed.stderr);
    let grades = failed.json()["grades"].as_array().unwrap().clone();
    assert_eq!(grades.len(), 1);
    assert_eq!(grades[0]["userId"], "bob");
    assert_eq!(grades[0]["httpStatus"], 422);
    assert_eq!(grades[0]["code"], "lmsRejected");
    assert!(grades[0]["reason"]
        .as_str()
        .unwrap()
        .contains("the LMS said: Course has concluded"));
    let human = ltisync(&stack, table, &["failed", "--platform", "p"]).await;
    let lines: Vec<&str> = human.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", human.stdout);
    assert!(
        lines[0].starts_with("p#c#quiz                       bob                 422  20"),
        "{}",
        lines[0]
    );
    assert!(lines[0].chars().count() <= 80);
    assert!(lines[1].starts_with("  ") && lines[1].contains("Course has concluded"));
    assert_eq!(lines[2], "1 failed grade(s)");
    let none = ltisync(&stack, table, &["failed", "--status", "500"]).await;
    assert_eq!((none.code, none.stdout.as_str()), (0, "no failed grades\n"));
    // --code selects by the stored reason; an unknown code says which exist.
    let by_code = ltisync(
        &stack,
        table,
        &["failed", "--code", "lmsRejected", "--json"],
    )
    .await;
    assert_eq!(by_code.json()["grades"].as_array().map(Vec::len), Some(1));
    let other = ltisync(&stack, table, &["failed", "--code", "notALearner"]).await;
    assert_eq!(
        (other.code, other.stdout.as_str()),
        (0, "no failed grades\n")
    );
    let unknown = ltisync(&stack, table, &["failed", "--code", "nope"]).await;
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("one of lmsRejected, notALearner"),
        "{}",
        unknown.stderr
    );

    let ada = ltisync(
        &stack,
        table,
        &["requeue", "--user", "ada", "--all", "--dry-run", "--json"],
    )
    .await
    .json();
    assert_eq!(ada["grades"].as_array().unwrap().len(), 1, "{ada}");
    assert_eq!(ada["grades"][0]["userId"], "ada");
    let refused = ltisync(&stack, table, &["requeue", "--failed"]).await;
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("--all"), "{}", refused.stderr);
    let rehearsal = ltisync(
        &stack,
        table,
        &["requeue", "--failed", "--all", "--dry-run", "--json"],
    )
    .await;
    assert_eq!(rehearsal.json()["grades"][0]["result"], "wouldRequeue");
    let told = ltisync(
        &stack,
        table,
        &["requeue", "--failed", "--all", "--dry-run"],
    )
    .await;
    assert_eq!(
        told.stdout,
        "wouldRequeue  p#c#quiz bob\n1 grade(s) selected\n"
    );
    let quiz = ltisync::ActivityIds::new("p", "c", "quiz").unwrap();
    let bob = stack.item(&quiz, "bob").await;
    assert_eq!(
        s(&bob, "syncStatus"),
        Some("FAILED"),
        "a dry run writes nothing"
    );

    let requeued = ltisync(
        &stack,
        table,
        &["requeue", "--failed", "--activity", "p#c#quiz", "--json"],
    )
    .await;
    assert_eq!(requeued.code, 0, "{}", requeued.stderr);
    assert_eq!(requeued.json()["grades"][0]["userId"], "bob");
    assert_eq!(requeued.json()["grades"][0]["result"], "requeued");
    let after = stack.item(&quiz, "bob").await;
    assert_eq!(s(&after, "pending"), Some("ACT#p#c#quiz"));
    assert!(!after.contains_key("syncStatus") && !after.contains_key("lastError"));
    for name in ["scoreGiven", "comment", "gradedAt", "userId"] {
        assert_eq!(after.get(name), bob.get(name), "{name} unchanged");
    }
    assert_eq!(
        after.get("scoreGiven"),
        Some(&AttributeValue::N("4".into()))
    );
    assert_eq!(ltisync(&stack, table, &["failed"]).await.code, 0);

    // The next run posts it: the LMS takes it this time.
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert!(summary["gradesPosted"].as_u64().unwrap() >= 1, "{summary}");
    assert!(is_synced(&stack.item(&quiz, "bob").await));
    assert_eq!(
        stack.received_for("bob").last().unwrap().body["scoreGiven"],
        4.0
    );
}

/// A plain requeue of a grade whose value the LMS already holds sends
/// nothing (the run settles it against what the LMS accepted); `--force`
/// sends it again.
#[tokio::test]
async fn a_requeued_unchanged_grade_is_sent_again_only_when_forced() {
    let stack = Stack::start().await;
    let quiz = stack.launch("p", "c", "quiz", Some("k")).await;
    stack.grade(&quiz, "ada", 9.0).await;
    let first = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(first["gradesPosted"], 1, "{first}");
    let table = Some(stack.table.name.as_str());
    let requeue = ["requeue", "--user", "ada", "--activity", "p#c#quiz"];
    assert_eq!(ltisync(&stack, table, &requeue).await.code, 0);
    let plain = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(plain["gradesUnchanged"], 1, "{plain}");
    assert_eq!(plain["gradesPosted"], 0, "{plain}");
    assert_eq!(stack.received_for("ada").len(), 1, "nothing sent");
    assert!(is_synced(&stack.item(&quiz, "ada").await));

    let forced = ltisync(&stack, table, &[&requeue[..], &["--force"]].concat()).await;
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    let sent = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(sent["gradesPosted"], 1, "{sent}");
    assert_eq!(stack.received_for("ada").len(), 2, "sent again on purpose");
}

#[tokio::test]
async fn usage_and_access_problems_exit_2_with_one_line() {
    let stack = Stack::start().await;
    for (table, args, words) in [
        (
            None,
            &["status"][..],
            "no table: pass --table NAME or set TABLE_NAME",
        ),
        (
            Some("no-such-table"),
            &["status"][..],
            "could not read or write table 'no-such-table'",
        ),
        (
            Some("t"),
            &["failed", "--activity", "a#b"][..],
            "is not an activity key",
        ),
    ] {
        let run = ltisync(&stack, table, args).await;
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(run.stderr.contains(words), "{}", run.stderr);
        assert!(run.stdout.is_empty());
    }
    let usage = ltisync(&stack, Some("t"), &["requeue", "--no-such-flag"]).await;
    assert_eq!(usage.code, 2);
}

#[tokio::test]
async fn sync_runs_the_deployed_function_or_the_engine_here() {
    let stack = Stack::start().await;
    let quiz = stack.launch("p", "c", "quiz", Some("k")).await;
    stack.grade(&quiz, "ada", 9.0).await;
    let table = Some(stack.table.name.as_str());
    let (url, key) = (stack.sim.url(), stack.sim.api_key());
    let ltiaas = [
        ("LTIAAS_URL", url.as_str()),
        ("LTIAAS_API_KEY", key.as_str()),
    ];

    let rehearsal = ltisync_with(&stack, table, &["sync", "--local", "--dry-run"], &ltiaas).await;
    assert_eq!(rehearsal.code, 0, "{}", rehearsal.stderr);
    let summary = rehearsal.json();
    assert_eq!(summary["dryRun"], true);
    assert_eq!(summary["wouldPost"][0]["score"]["userId"], "ada");
    assert!(stack.item(&quiz, "ada").await.contains_key("pending"));

    // The real sync binary behind a local Lambda Invoke API.
    let rig = SyncRig::start(Via::Binary, &stack.env()).await;
    let SyncRig::Binary(api, _) = &rig else {
        unreachable!("a binary rig")
    };
    let endpoint = api.invoke_endpoint();
    let invoked = ltisync_with(
        &stack,
        None,
        &[
            "sync",
            "--function",
            "ltisync-sync",
            "--activity",
            "p#c#quiz",
        ],
        &[("AWS_ENDPOINT_URL_LAMBDA", endpoint.as_str())],
    )
    .await;
    rig.finish().await;
    assert_eq!(invoked.code, 0, "{}", invoked.stderr);
    assert_eq!(invoked.json()["gradesPosted"], 1, "{}", invoked.stdout);
    assert!(is_synced(&stack.item(&quiz, "ada").await));
    assert_eq!(stack.received_for("ada").len(), 1);
}

/// `check` asks a question whose answer depends on the API key alone: an
/// LTIaaS that says "invalid ltik" whatever the key cannot make a wrong key
/// look accepted, and an LTIaaS without the account endpoint gets "could
/// not tell", never "ok".
#[tokio::test]
async fn check_tells_a_wrong_api_key_and_says_when_it_cannot_tell() {
    let stack = Stack::start().await;
    let table = Some(stack.table.name.as_str());
    let url = stack.sim.url();
    // The ID token endpoint answers "invalid ltik" to every key.
    let invalid_ltik = r#"{"status":401,"error":"Unauthorized","details":{"message":"INVALID_LTIK_AUTH_AUTHORIZATION_HEADER","description":"Invalid or expired ltik."}}"#;
    let blind = FaultAction::Status {
        status: 401,
        body: Some(invalid_ltik.into()),
        retry_after: None,
    };
    stack.sim.inject(Fault::on(Route::IdToken, blind, None));
    let wrong = [
        ("LTIAAS_URL", url.as_str()),
        ("LTIAAS_API_KEY", "not-the-key"),
    ];
    let run = ltisync_with(&stack, table, &["check"], &wrong).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("ltiaas         !!  LTIaaS refused the API key"),
        "{}",
        run.stdout
    );
    let probes: Vec<_> = stack.sim.requests().into_iter().map(|r| r.path).collect();
    assert!(probes.iter().all(|p| p == "/api/platforms"), "{probes:?}");

    stack.sim.inject(Fault::status(Route::Platforms, 404, None));
    let key = stack.sim.api_key();
    let right = [
        ("LTIAAS_URL", url.as_str()),
        ("LTIAAS_API_KEY", key.as_str()),
    ];
    let run = ltisync_with(&stack, table, &["check"], &right).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("could not tell whether the API key is accepted"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn check_gives_one_line_per_part_and_exits_1_on_a_problem() {
    let stack = Stack::start().await;
    let table = Some(stack.table.name.as_str());
    let url = stack.sim.url();
    let key = stack.sim.api_key();
    let good = ltisync_with(
        &stack,
        table,
        &["check"],
        &[("LTIAAS_URL", &url), ("LTIAAS_API_KEY", &key)],
    )
    .await;
    assert_eq!(good.code, 0, "{}{}", good.stdout, good.stderr);
    let lines: Vec<&str> = good.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", good.stdout);
    for (line, name) in lines.iter().zip(["table", "configuration", "ltiaas"]) {
        assert!(line.starts_with(&format!("{name:<14} ok  ")), "{line}");
    }

    let secret = create_secret(&key).await;
    let through_secret = ltisync_with(
        &stack,
        table,
        &["check"],
        &[("LTIAAS_URL", &url), ("LTIAAS_API_KEY_SECRET", &secret)],
    )
    .await;
    assert_eq!(through_secret.code, 0, "{}", through_secret.stdout);
    assert!(
        through_secret
            .stdout
            .contains(&format!("secret         ok  '{secret}' read")),
        "{}",
        through_secret.stdout
    );
    let missing = ltisync_with(
        &stack,
        table,
        &["check"],
        &[
            ("LTIAAS_URL", &url),
            ("LTIAAS_API_KEY_SECRET", "ltisync/none"),
        ],
    )
    .await;
    assert_eq!(missing.code, 1);
    assert!(
        missing.stdout.contains("secret         !!  ") && missing.stdout.contains("ltisync/none"),
        "{}",
        missing.stdout
    );
    let wrong_key = ltisync_with(
        &stack,
        table,
        &["check"],
        &[("LTIAAS_URL", &url), ("LTIAAS_API_KEY", "not-the-key")],
    )
    .await;
    assert_eq!(wrong_key.code, 1);
    assert!(
        wrong_key
            .stdout
            .contains("ltiaas         !!  LTIaaS refused the API key"),
        "{}",
        wrong_key.stdout
    );
    let bare = TestTable::create_without_stream().await;
    let unconfigured = ltisync(&stack, Some(bare.name.as_str()), &["check"]).await;
    assert_eq!(unconfigured.code, 1);
    assert!(
        unconfigured.stdout.contains("no NEW_AND_OLD_IMAGES stream"),
        "{}",
        unconfigured.stdout
    );
    assert!(
        unconfigured
            .stdout
            .contains("configuration  !!  LTIAAS_URL"),
        "{}",
        unconfigured.stdout
    );
    // A stack whose index projects keys only (an older template).
    let mut definition = TableDefinition::from_repo();
    definition.indexes[0].projection = "KEYS_ONLY".into();
    definition.indexes[0].non_key_attributes.clear();
    let keys_only = TestTable::create_as(definition).await;
    let old = ltisync(&stack, Some(keys_only.name.as_str()), &["check"]).await;
    assert_eq!(old.code, 1);
    assert!(
        old.stdout
            .contains("the index 'work' does not project activityProgress, agsScopes"),
        "{}",
        old.stdout
    );
}

#[tokio::test]
async fn a_requeue_never_overwrites_a_grade_the_tool_changed_meanwhile() {
    let stack = after_a_run().await;
    let quiz = ltisync::ActivityIds::new("p", "c", "quiz").unwrap();
    let as_read = PendingGrade::from_item(stack.item(&quiz, "bob").await);
    stack.grade(&quiz, "bob", 5.0).await;
    let outcome = stack.store.requeue(&as_read).await.unwrap();
    assert_eq!(outcome, WriteOutcome::Changed);
    let now = stack.item(&quiz, "bob").await;
    assert_eq!(now.get("scoreGiven"), Some(&AttributeValue::N("5".into())));
    let fresh = PendingGrade::from_item(now);
    stack
        .store
        .mark_failed(
            &fresh,
            &ltisync::sync::FailReason::LmsRejected {
                status: 422,
                message: "refused".into(),
            },
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    let failed = PendingGrade::from_item(stack.item(&quiz, "bob").await);
    assert_eq!(
        stack.store.requeue(&failed).await.unwrap(),
        WriteOutcome::Applied
    );
    let requeued = stack.item(&quiz, "bob").await;
    assert!(requeued.contains_key("pending") && !requeued.contains_key("failedAt"));
}

/// A DynamoDB endpoint that accepts connections and never answers: every
/// command ends in bounded time (the call's timeout), with one line that
/// names the service.
#[tokio::test]
async fn an_endpoint_that_never_answers_ends_each_command_with_one_line() {
    let stack = Stack::start().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    // Accept and hold every connection; never write a byte.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.as_str()),
    ];
    for (args, code) in [
        (&["status", "--timeout-ms", "1000"][..], 2),
        (&["failed", "--timeout-ms", "1000"][..], 2),
        (
            &["requeue", "--all", "--failed", "--timeout-ms", "1000"][..],
            2,
        ),
        (&["check", "--timeout-ms", "1000"][..], 1),
    ] {
        let started = std::time::Instant::now();
        let run = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            ltisync_with(&stack, Some("t"), args, &env),
        )
        .await
        .unwrap_or_else(|_| panic!("{args:?} was still running after 30 s"));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{args:?}"
        );
        assert_eq!(run.code, code, "{args:?}: {}{}", run.stdout, run.stderr);
        let said = if code == 2 { &run.stderr } else { &run.stdout };
        assert!(
            said.contains("DynamoDB") || said.contains("could not be described"),
            "{args:?}: {said}"
        );
        if code == 2 {
            assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        }
    }
}

/// Titles come from the LMS: an escape sequence or a carriage return in one
/// must not reach the operator's terminal, and wide characters count as the
/// two columns they take.
#[tokio::test]
async fn lms_titles_reach_the_terminal_escaped_and_within_80_columns() {
    let stack = Stack::start().await;
    let mut spec = ltisync_tests::simulator::LaunchSpec::new("p", "c", "quiz", Some("k"));
    spec.resource_link_title = Some("\u{1b}[2J\u{1b}[31mRed\rForged".into());
    spec.context_title = Some("数学の期末試験と追試験のための長い課題名".into());
    let quiz = stack.launch_as(spec).await;
    stack.grade(&quiz, "ada", 9.0).await;
    let run = ltisync(&stack, Some(stack.table.name.as_str()), &["status"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        !run.stdout.contains('\u{1b}') && !run.stdout.contains('\r'),
        "{:?}",
        run.stdout
    );
    assert!(
        run.stdout.contains("\\u{1b}[31mRed"),
        "shown escaped: {}",
        run.stdout
    );
    for line in run.stdout.lines() {
        let columns: usize = line
            .chars()
            .map(|c| {
                if ('\u{3000}'..='\u{9fff}').contains(&c) {
                    2
                } else {
                    1
                }
            })
            .sum();
        assert!(columns <= 80, "{columns} columns: {line}");
    }
    // Long titles hide the key; --wide shows it whole, to pass to --activity.
    let table = Some(stack.table.name.as_str());
    let wide = ltisync(&stack, table, &["status", "--wide"]).await;
    assert!(
        wide.stdout.contains("\n  key: p#c#quiz\n"),
        "{}",
        wide.stdout
    );
    let json = ltisync(
        &stack,
        Some(stack.table.name.as_str()),
        &["status", "--json"],
    )
    .await;
    assert_eq!(
        json.json()["activities"][0]["title"],
        "\u{1b}[2J\u{1b}[31mRed\rForged",
        "JSON stays exact"
    );
}

/// Error lines stay one line a person can read, whatever the input.
#[tokio::test]
async fn error_lines_are_one_capped_line() {
    let stack = Stack::start().await;
    let long = "t".repeat(100_000);
    for table in ["two\nlines", long.as_str()] {
        let run = ltisync(&stack, Some(table), &["status"]).await;
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(run.stderr.len() < 1024, "{} bytes", run.stderr.len());
    }
    let usage = ltisync(&stack, Some("t"), &["requeue", "--no-such-flag"]).await;
    assert_eq!(usage.code, 2);
    assert_eq!(usage.stderr.lines().count(), 1, "{}", usage.stderr);
    // A missing argument is named on the one line, not left to a list below.
    let missing = ltisync(&stack, Some("t"), &["requeue", "--activity", "p#c#r"]).await;
    assert_eq!((missing.code, missing.stderr.lines().count()), (2, 1));
    assert!(
        missing.stderr.contains("not provided: --failed"),
        "{}",
        missing.stderr
    );
    let verbose = ltisync(&stack, Some("no-such-table"), &["status", "-v"]).await;
    assert!(
        verbose.stderr.lines().count() > 1,
        "-v shows the detail: {}",
        verbose.stderr
    );
}

//! `ltisync reconcile` through the real binary, against moto and the
//! simulator, whose gradebook is changed behind the tool's back (an
//! instructor's override, a lost result, a stranger's result) and where
//! one activity was not granted the result scope.

use ltisync::ActivityIds;
use ltisync_tests::rigs::{SyncRig, Via};
use ltisync_tests::simulator::{LaunchSpec, ResultOverride, SCOPE_LINE_ITEM, SCOPE_SCORE};
use ltisync_tests::stream::{EventSourceMapping, MappingSettings};
use serde_json::{json, Value};

use crate::cli::{ltisync_with, Run};
use crate::helpers::{is_synced, s, Stack};

/// `ltisync reconcile ARGS` with the stack's table and LTIaaS.
async fn reconcile(stack: &Stack, args: &[&str]) -> Run {
    let (url, key) = (stack.sim.url(), stack.sim.api_key());
    let env = [
        ("LTIAAS_URL", url.as_str()),
        ("LTIAAS_API_KEY", key.as_str()),
    ];
    let args = [&["reconcile"][..], args].concat();
    ltisync_with(stack, Some(&stack.table.name), &args, &env).await
}

/// A quiz whose gradebook shows ada's score, another value for bob (set by
/// hand), nothing for cy (lost), and a result for zed (no grade here); dan
/// is still pending. An essay whose launch granted no result scope.
async fn a_course_with_every_class() -> (Stack, ActivityIds) {
    let stack = Stack::start().await;
    let quiz = stack.launch("p", "c", "quiz", Some("k1")).await;
    let mut spec = LaunchSpec::new("p", "c2", "essay", Some("k2"));
    spec.ags_scopes = Some(vec![SCOPE_LINE_ITEM.into(), SCOPE_SCORE.into()]);
    let essay = stack.launch_as(spec).await;
    for (user, score) in [("ada", 90.0), ("bob", 50.0), ("cy", 70.0)] {
        stack.grade(&quiz, user, score).await;
    }
    stack.grade(&essay, "eve", 60.0).await;
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 4, "{summary}");
    stack.grade(&quiz, "dan", 40.0).await;
    let by_hand = ResultOverride::Score {
        score: 65.0,
        comment: Some("regraded by hand".into()),
    };
    stack.sim.set_result("p", "c", "bob", by_hand);
    stack
        .sim
        .set_result("p", "c", "cy", ResultOverride::Dropped);
    let stranger = ResultOverride::Score {
        score: 30.0,
        comment: None,
    };
    stack.sim.set_result("p", "c", "zed", stranger);
    (stack, quiz)
}

fn grade<'a>(report: &'a Value, user: &str) -> &'a Value {
    report["grades"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["userId"] == user)
        .unwrap_or_else(|| panic!("no line for {user}: {report}"))
}

#[tokio::test]
async fn every_class_is_told_apart_and_the_exit_code_says_so() {
    let (stack, _) = a_course_with_every_class().await;
    let run = reconcile(&stack, &["--json"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    assert_eq!(
        report["totals"],
        json!({"activities": 2, "matches": 1, "differs": 1, "missing": 1, "unknown": 1,
               "unreadable": 1, "nothingSent": 0, "requeued": 0}),
        "{report}"
    );
    let bob = grade(&report, "bob");
    assert_eq!(bob["class"], "differs");
    assert_eq!(bob["direction"], "higher");
    assert_eq!(bob["posted"], json!({"score": 50.0, "maximum": 100.0}));
    assert_eq!(bob["lms"], json!({"score": 65.0, "maximum": 100.0}));
    assert_eq!(bob["lmsComment"], "regraded by hand");
    assert_eq!(grade(&report, "cy")["class"], "missing");
    assert_eq!(grade(&report, "zed")["class"], "unknown");
    assert!(report["grades"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["userId"] != "ada" && g["userId"] != "dan"));
    let essay = report["activities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["activityKey"] == "p#c2#essay")
        .unwrap();
    assert!(
        essay["unreadable"]
            .as_str()
            .unwrap()
            .contains("result scope"),
        "{essay}"
    );

    let human = reconcile(&stack, &[]).await;
    assert_eq!(human.code, 1);
    for words in [
        "differs  p#c#quiz",
        "posted 50/100, the LMS shows 65/100 (higher), comment \"regraded by hand\"",
        "missing  p#c#quiz",
        "unknown  p#c#quiz",
        "unreadable: the LMS did not grant the result scope",
        "2 activities: 1 match, 1 differ, 1 missing, 1 unknown, 1 unreadable",
    ] {
        assert!(human.stdout.contains(words), "{words}:\n{}", human.stdout);
    }
    // One results listing per readable activity, and nothing written.
    let listings = stack
        .sim
        .requests()
        .iter()
        .filter(|r| r.route == ltisync_tests::simulator::Route::ListResults)
        .count();
    assert_eq!(listings, 2, "one per run of the quiz");
    let quiz = ActivityIds::new("p", "c", "quiz").unwrap();
    assert!(is_synced(&stack.item(&quiz, "cy").await), "nothing written");
    // A bound on the activities read, in key order.
    let bounded = reconcile(&stack, &["--max-activities", "1", "--json"])
        .await
        .json();
    assert_eq!(bounded["totals"]["activities"], 1, "{bounded}");
    assert_eq!(bounded["activities"][0]["activityKey"], "p#c#quiz");
    // Overwriting an instructor's change only when asked, and not in a rehearsal.
    let rehearsal = reconcile(
        &stack,
        &[
            "--activity",
            "p#c#quiz",
            "--requeue-differs",
            "--dry-run",
            "--json",
        ],
    )
    .await;
    assert_eq!(
        rehearsal.json()["activities"][0]["requeued"],
        json!([{"userId": "bob", "result": "wouldRequeue"}])
    );
    assert!(
        is_synced(&stack.item(&quiz, "bob").await),
        "a dry run writes nothing"
    );
}

/// A lost grade comes back: `--requeue-missing` (after a `--dry-run` that
/// writes nothing) queues it, the stream path posts it, and a second
/// reconcile exits 0.
#[tokio::test]
async fn a_lost_grade_is_requeued_and_put_back_by_the_stream() {
    let stack = Stack::start().await;
    let quiz = stack.launch("p", "c", "quiz", Some("k1")).await;
    let mut mapping = EventSourceMapping::attach(
        &stack.table.endpoint,
        &stack.table.name,
        MappingSettings::default(),
    )
    .await;
    let rig = SyncRig::start(Via::Binary, &stack.env()).await;
    for (user, score) in [("ada", 90.0), ("cy", 70.0)] {
        stack.grade(&quiz, user, score).await;
    }
    mapping
        .drain(&rig, std::time::Duration::from_millis(600))
        .await;
    assert_eq!(stack.sim.scores().len(), 2);
    stack
        .sim
        .set_result("p", "c", "cy", ResultOverride::Dropped);

    let rehearsal = reconcile(&stack, &["--requeue-missing", "--dry-run", "--json"]).await;
    assert_eq!(rehearsal.code, 1, "{}", rehearsal.stderr);
    let activity = &rehearsal.json()["activities"][0];
    assert_eq!(
        activity["requeued"],
        json!([{"userId": "cy", "result": "wouldRequeue"}])
    );
    assert!(
        is_synced(&stack.item(&quiz, "cy").await),
        "a dry run writes nothing"
    );

    let requeued = reconcile(&stack, &["--requeue-missing"]).await;
    assert_eq!(requeued.code, 1, "{}", requeued.stderr);
    assert!(
        requeued.stdout.contains("requeued      p#c#quiz cy"),
        "{}",
        requeued.stdout
    );
    assert_eq!(
        s(&stack.item(&quiz, "cy").await, "pending"),
        Some("ACT#p#c#quiz")
    );
    mapping
        .drain(&rig, std::time::Duration::from_millis(600))
        .await;
    assert_eq!(
        stack.received_for("cy").len(),
        2,
        "sent again, the value unchanged"
    );
    assert!(is_synced(&stack.item(&quiz, "cy").await));

    let again = reconcile(&stack, &[]).await;
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert!(
        again
            .stdout
            .contains("1 activities: 2 match, 0 differ, 0 missing"),
        "{}",
        again.stdout
    );
    rig.finish().await;
}

#[tokio::test]
async fn without_ltiaas_settings_it_exits_2_with_one_line() {
    let stack = Stack::start().await;
    let run = ltisync_with(&stack, Some(&stack.table.name), &["reconcile"], &[]).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("LTIAAS_URL"), "{}", run.stderr);
}

/// An activity launched but with no grade posted yet has nothing to
/// compare: it says so, and it is no reason for exit code 1.
#[tokio::test]
async fn an_activity_with_nothing_sent_is_not_an_alarm() {
    let stack = Stack::start().await;
    let quiz = stack.launch("p", "c", "quiz", Some("k1")).await;
    stack.grade(&quiz, "ada", 90.0).await;
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 1, "{summary}");
    stack.launch("p", "c", "not-yet", Some("k2")).await;
    let run = reconcile(&stack, &["--json"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(report["totals"]["nothingSent"], 1, "{report}");
    assert_eq!(report["totals"]["unreadable"], 0, "{report}");
    let text = reconcile(&stack, &[]).await;
    assert!(
        text.stdout
            .contains("nothing sent yet: no grade posted, nothing to compare"),
        "{}",
        text.stdout
    );
}

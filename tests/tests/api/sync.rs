//! The sync end to end: grades recorded with the documented schema, the
//! engine (in-process) and the real `sync` binary (through the Lambda
//! Runtime API with `events/schedule.json`) posting them to the LTIaaS
//! simulator, and every outcome checked in DynamoDB.

use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use ltisync::ActivityIds;
use ltisync_tests::rigs::{event_file, sync_env, Env, SyncRig, Via};
use ltisync_tests::simulator::{Fault, FaultAction, Route, SimLineItem, Simulator};
use serde_json::{json, Value};

use crate::helpers::{documented_grade, is_synced, s, Item, Stack, LONG};
use ltisync_tests::grades::without;

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
                       "scoreGiven": score, "scoreMaximum": 100.0, "comment": format!("score {score}")})
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

#[tokio::test]
async fn a_missing_line_item_is_created_and_cached() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    stack.grade(&ids, "u1", 50.0).await;
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["lineItemsCreated"], 1, "{summary}");
    let items = stack.sim.line_items("p", "c");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].label, "Quiz link", "the activity title");
    assert_eq!(items[0].score_maximum, 100.0);
    assert_eq!(items[0].resource_link_id.as_deref(), Some("link"));
    assert_eq!(
        s(&stack.activity_item(&ids).await, "lineItemId"),
        Some(items[0].id.as_str())
    );
    // The next run uses the cache: no listing, no creation.
    stack.grade(&ids, "u2", 60.0).await;
    let before = stack.sim.requests().len();
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 1);
    let routes: Vec<Route> = stack.sim.requests()[before..]
        .iter()
        .map(|r| r.route)
        .collect();
    // The roster read (once per activity per run), then the post.
    assert_eq!(routes, vec![Route::Memberships, Route::PostScore]);
    assert_eq!(stack.sim.created_line_items(), 1);
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
async fn line_items_are_matched_by_resource_id_and_tag() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    stack.prefer(&ids, Some("quiz-7"), Some("final")).await;
    for n in 0..5 {
        let draft = format!("draft-{n}");
        stack.sim.add_line_item(
            "p",
            "c",
            line_item(&format!("Other {n}"), Some("quiz-7"), Some(&draft)),
        );
    }
    stack.sim.add_line_item(
        "p",
        "c",
        line_item("Other quiz", Some("quiz-8"), Some("final")),
    );
    let wanted = stack.sim.add_line_item(
        "p",
        "c",
        line_item("The one", Some("quiz-7"), Some("final")),
    );
    stack.grade(&ids, "u1", 5.0).await;
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 1, "{summary}");
    assert_eq!(summary["lineItemsCreated"], 0);
    assert_eq!(stack.sim.scores()[0].line_item_id, wanted);
    assert_eq!(
        s(&stack.activity_item(&ids).await, "lineItemId"),
        Some(wanted.as_str())
    );
}

#[tokio::test]
async fn listing_follows_next_pages_until_a_match() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    stack.prefer(&ids, None, Some("final")).await;
    stack.sim.set_page_size(2);
    // An LMS that ignores the tag filter: items of other tags come back too.
    stack.sim.ignore_filters(true);
    for n in 0..4 {
        stack
            .sim
            .add_line_item("p", "c", line_item(&format!("Draft {n}"), None, None));
    }
    let wanted = stack
        .sim
        .add_line_item("p", "c", line_item("Final", None, Some("final")));
    stack.grade(&ids, "u1", 5.0).await;
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 1, "{summary}");
    assert_eq!(summary["lineItemsCreated"], 0);
    let lists = stack
        .sim
        .requests()
        .iter()
        .filter(|r| r.route == Route::ListLineItems)
        .count();
    assert_eq!(lists, 3, "pages 1, 2 and 3 were read");
    assert_eq!(stack.sim.scores()[0].line_item_id, wanted);
}

#[tokio::test]
async fn a_cached_line_item_that_404s_is_resolved_again() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    stack.grade(&ids, "u1", 1.0).await;
    stack.run(Via::Handler, &stack.env()).await;
    let old = stack.sim.scores()[0].line_item_id.clone();
    stack.sim.delete_line_item(&old);
    stack.grade(&ids, "u1", 2.0).await;
    stack.grade(&ids, "u2", 3.0).await;
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 2, "{summary}");
    assert_eq!(summary["lineItemsCreated"], 1);
    let fresh = s(&stack.activity_item(&ids).await, "lineItemId")
        .unwrap()
        .to_owned();
    assert_ne!(fresh, old);
    assert!(stack.sim.scores()[1..]
        .iter()
        .all(|s| s.line_item_id == fresh));
}

#[tokio::test]
async fn transient_failures_are_retried_within_the_budget() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    let users = ["u-429", "u-5xx", "u-timeout", "u-drop", "u-throttle"];
    for (i, u) in users.iter().enumerate() {
        stack.grade(&ids, u, i as f64).await;
    }
    let status = |status: u16, body: Option<&str>, retry_after: Option<&str>| FaultAction::Status {
        status,
        body: body.map(Into::into),
        retry_after: retry_after.map(Into::into),
    };
    stack.sim.inject(
        Fault::on(Route::PostScore, status(429, None, Some("1")), Some(1)).for_user("u-429"),
    );
    stack
        .sim
        .inject(Fault::on(Route::PostScore, status(503, None, None), Some(2)).for_user("u-5xx"));
    stack.sim.inject(
        Fault::on(
            Route::PostScore,
            FaultAction::Delay { millis: 1500 },
            Some(1),
        )
        .for_user("u-timeout"),
    );
    stack
        .sim
        .inject(Fault::on(Route::PostScore, FaultAction::Drop, Some(2)).for_user("u-drop"));
    stack.sim.inject(
        Fault::on(
            Route::PostScore,
            status(403, Some("403 Forbidden (Rate Limit Exceeded)"), None),
            Some(1),
        )
        .for_user("u-throttle"),
    );
    stack.sim.inject(Fault::on(
        Route::ListLineItems,
        status(502, None, None),
        Some(1),
    ));
    let mut env = stack.env();
    env.insert("LTIAAS_TIMEOUT_MS".into(), "500".into());
    let summary = stack.run(Via::Handler, &env).await;
    assert_eq!(summary["gradesPosted"], 5, "{summary}");
    assert!(summary["retries"].as_u64().unwrap() >= 8, "{summary}");
    for u in users {
        assert!(is_synced(&stack.item(&ids, u).await), "{u}");
        assert!(!stack.received_for(u).is_empty(), "{u} arrived");
    }
    // Retry-After was honoured: the retry came at least a second later.
    let arrivals: Vec<u64> = stack
        .sim
        .arrivals()
        .iter()
        .filter(|a| a.user_id.as_deref() == Some("u-429"))
        .map(|a| a.at_ms)
        .collect();
    assert_eq!(arrivals.len(), 2);
    assert!(arrivals[1] - arrivals[0] >= 1000, "{arrivals:?}");
}

#[tokio::test]
async fn an_exhausted_retry_budget_leaves_the_grade_pending_not_lost() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    stack.grade(&ids, "down", 1.0).await;
    stack.grade(&ids, "fine", 2.0).await;
    stack
        .sim
        .inject(Fault::status(Route::PostScore, 500, None).for_user("down"));
    let mut env = stack.env();
    env.insert("SYNC_MAX_ATTEMPTS".into(), "3".into());
    let summary = stack.run(Via::Handler, &env).await;
    assert_eq!(summary["gradesPosted"], 1, "{summary}");
    assert_eq!(summary["pendingReasons"]["retriesExhausted"], 1);
    let down = stack.item(&ids, "down").await;
    assert_eq!(
        s(&down, "pending"),
        Some(format!("ACT#{}", ids.key()).as_str())
    );
    assert!(
        s(&down, "lastError").unwrap().contains("HTTP 500"),
        "{down:?}"
    );
    let attempts = stack
        .sim
        .arrivals()
        .iter()
        .filter(|a| a.user_id.as_deref() == Some("down"))
        .count();
    assert_eq!(attempts, 3);
    stack.sim.clear_faults();
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 1);
    assert!(is_synced(&stack.item(&ids, "down").await));
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
async fn a_stale_key_needs_a_relaunch_while_other_activities_sync() {
    for via in [Via::Handler, Via::Binary] {
        let stack = Stack::start().await;
        let stale = stack.launch("p", "c", "stale", Some("old-key")).await;
        let healthy = stack.launch("p", "c", "healthy", Some("good-key")).await;
        for u in ["u1", "u2", "u3"] {
            stack.grade(&stale, u, 1.0).await;
            stack.grade(&healthy, u, 2.0).await;
        }
        stack.sim.make_service_key_stale("old-key");
        let summary = stack.run(via, &stack.env()).await;
        assert_eq!(summary["gradesPosted"], 3, "{via:?}: {summary}");
        assert_eq!(summary["pendingReasons"]["needsRelaunch"], 3);
        assert_eq!(summary["activitiesNeedingRelaunch"], 1);
        let activity = stack.activity_item(&stale).await;
        assert!(s(&activity, "needsRelaunch").is_some(), "{activity:?}");
        let requests_with_old_key = stack
            .sim
            .requests()
            .iter()
            .filter(|r| {
                r.route != Route::Memberships
                    && r.authorization
                        .as_deref()
                        .is_some_and(|a| a.ends_with(":old-key"))
            })
            .count();
        // The roster read comes first; its 401 only means "no roster
        // check"; the first post's 401 then marks the key.
        assert_eq!(
            requests_with_old_key, 1,
            "no further calls once the key was refused"
        );
        // A later run does not even try.
        let summary = stack.run(via, &stack.env()).await;
        assert_eq!(summary["pendingReasons"]["needsRelaunch"], 3, "{summary}");
        assert_eq!(summary["activitiesNeedingRelaunch"], 1);
        // A relaunch brings a fresh key and clears the mark; the next run posts.
        stack.launch("p", "c", "stale", Some("fresh-key")).await;
        assert!(s(&stack.activity_item(&stale).await, "needsRelaunch").is_none());
        let summary = stack.run(via, &stack.env()).await;
        assert_eq!(summary["gradesPosted"], 3, "{summary}");
        for u in ["u1", "u2", "u3"] {
            assert!(is_synced(&stack.item(&stale, u).await));
        }
        assert!(
            stack
                .sim
                .scores()
                .iter()
                .filter(|s| s.service_key == "fresh-key")
                .count()
                == 3
        );
    }
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
async fn two_runs_started_together_post_each_grade_once() {
    for via in [Via::Handler, Via::Binary] {
        let (stack, _) = Stack::with_grades(20).await;
        stack.sim.set_latency(Duration::from_millis(20));
        let (a, b) = (
            SyncRig::start(via, &stack.env()).await,
            SyncRig::start(via, &stack.env()).await,
        );
        let event = event_file("schedule.json");
        let (first, second) = tokio::join!(a.run(&event, LONG), b.run(&event, LONG));
        let skipped = [&first, &second]
            .iter()
            .filter(|s| s["skipped"].is_string())
            .count();
        assert_eq!(skipped, 1, "{via:?}: {first} {second}");
        assert!(first["skipped"]
            .as_str()
            .or(second["skipped"].as_str())
            .unwrap()
            .contains("holds the lease"));
        assert_eq!(stack.sim.scores().len(), 20);
        let users: std::collections::HashSet<String> = stack
            .sim
            .scores()
            .iter()
            .map(|s| s.body["userId"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(users.len(), 20);
        a.finish().await;
        b.finish().await;
    }
}

#[tokio::test]
async fn a_run_cut_by_the_deadline_leaves_the_rest_pending_for_the_next() {
    for via in [Via::Handler, Via::Binary] {
        let (stack, _) = Stack::with_grades(40).await;
        stack.sim.set_latency(Duration::from_millis(100));
        let mut env = stack.env();
        env.insert("SYNC_CONCURRENCY".into(), "1".into());
        // Posts stop 500 ms before the deadline; the post in flight then
        // still has time to record its outcome.
        env.insert("SYNC_DEADLINE_MARGIN_MS".into(), "500".into());
        let rig = SyncRig::start(via, &env).await;
        let event = event_file("schedule.json");
        let first = rig.run(&event, Duration::from_millis(2000)).await;
        assert_eq!(first["stoppedByDeadline"], true, "{via:?}: {first}");
        let cut = first["pendingReasons"]["deadline"].as_u64().unwrap();
        assert!(cut > 0);
        assert_eq!(first["gradesPosted"].as_u64().unwrap() + cut, 40, "{first}");
        stack.sim.set_latency(Duration::ZERO);
        let second = rig.run(&event, LONG).await;
        assert_eq!(second["gradesPosted"].as_u64().unwrap(), cut, "{second}");
        assert_eq!(stack.sim.scores().len(), 40, "every grade exactly once");
        rig.finish().await;
    }
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

#[tokio::test]
async fn concurrency_is_bounded_per_platform_and_overall() {
    let stack = Stack::start().await;
    for p in ["p1", "p2", "p3"] {
        let ids = stack
            .launch(p, "c", "link", Some(&format!("key-{p}")))
            .await;
        for u in 0..12 {
            stack.grade(&ids, &format!("u{u}"), 1.0).await;
        }
    }
    stack.sim.set_latency(Duration::from_millis(30));
    let mut env = stack.env();
    env.insert("SYNC_CONCURRENCY".into(), "5".into());
    env.insert("SYNC_PLATFORM_CONCURRENCY".into(), "2".into());
    let summary = stack.run(Via::Handler, &env).await;
    assert_eq!(summary["gradesPosted"], 36, "{summary}");
    for p in ["p1", "p2", "p3"] {
        let (per_platform, total) = stack.sim.max_in_flight(p);
        assert!(per_platform <= 2, "{p}: {per_platform} at once");
        assert!(total <= 5, "{total} at once overall");
    }
}

#[tokio::test]
async fn the_request_rate_never_exceeds_the_limit() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    for u in 0..30 {
        stack.grade(&ids, &format!("u{u}"), 1.0).await;
    }
    let mut env = stack.env();
    env.insert("SYNC_RATE_LIMIT".into(), "20".into());
    let summary = stack.run(Via::Handler, &env).await;
    assert_eq!(summary["gradesPosted"], 30, "{summary}");
    let times: Vec<u64> = stack
        .sim
        .arrivals()
        .iter()
        .filter(|a| a.route != Route::IdToken)
        .map(|a| a.at_ms)
        .collect();
    // Requests are spaced 1/20 s apart: no second holds more than 20 (+1 at its edge).
    for (i, start) in times.iter().enumerate() {
        let in_window = times[i..].iter().take_while(|t| **t < start + 1000).count();
        assert!(
            in_window <= 21,
            "{in_window} requests within a second from {start} ms"
        );
    }
}

#[tokio::test]
async fn with_one_percent_pending_a_run_reads_a_few_percent_of_the_table() {
    let stack = Stack::start().await;
    let (activities, per_activity) = (20, 50);
    let mut all_ids = Vec::new();
    for a in 0..activities {
        all_ids.push(
            stack
                .launch("p", "c", &format!("link-{a}"), Some(&format!("k{a}")))
                .await,
        );
    }
    // Grades synced long ago: no `pending` attribute, so not in the index.
    let mut writes = Vec::new();
    for ids in &all_ids {
        for u in 0..per_activity {
            let item = without(
                documented_grade(
                    ids,
                    &format!("u{u}"),
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
    for (i, ids) in all_ids.iter().enumerate().take(10) {
        stack.grade(ids, &format!("u{i}"), 9.0).await;
    }
    let total_items = stack.table.items().await.len() as u64;
    assert_eq!(total_items, (activities * per_activity + activities) as u64);
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 10, "{summary}");
    let read = summary["itemsRead"].as_u64().unwrap();
    assert!(read > 0);
    // Exactly: 10 index entries, 10 consistent grade reads, 10 activities.
    assert_eq!(read, 30, "{summary}");
    assert!(
        read * 100 <= total_items * 3,
        "read {read} items of {total_items}: more than 3%"
    );
}

#[tokio::test]
async fn a_crash_mid_run_leaves_every_grade_posted_or_pending() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    let users: Vec<String> = (0..30).map(|u| format!("u{u:02}")).collect();
    for u in &users {
        stack.grade(&ids, u, 5.0).await;
    }
    stack.sim.set_latency(Duration::from_millis(100));
    let mut env = stack.env();
    env.insert("SYNC_CONCURRENCY".into(), "2".into());
    let rig = SyncRig::start(Via::Binary, &env).await;
    let event = event_file("schedule.json");
    let enough_posted = async {
        while stack.sim.scores().len() < 4 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::select! {
        summary = rig.run(&event, Duration::from_secs(2)) => panic!("the run finished before the crash: {summary}"),
        () = enough_posted => {}
    }
    rig.finish().await; // SIGKILL, mid-run
    let received: std::collections::HashSet<String> = stack
        .sim
        .scores()
        .iter()
        .map(|s| s.body["userId"].as_str().unwrap().to_owned())
        .collect();
    let mut synced = 0;
    for u in &users {
        let item = stack.item(&ids, u).await;
        if is_synced(&item) {
            synced += 1;
            assert!(received.contains(u), "{u} marked synced but never received");
        } else {
            assert!(
                item.contains_key("pending"),
                "{u} is neither synced nor pending"
            );
        }
    }
    assert!(synced < users.len(), "the crash came mid-run");
    // The crashed run's lease holds until its deadline (plus a grace), then lapses.
    stack.sim.set_latency(Duration::ZERO);
    let rig = SyncRig::start(Via::Handler, &stack.env()).await;
    let blocked = rig.run(&event, LONG).await;
    assert!(blocked["skipped"].is_string(), "{blocked}");
    let started = std::time::Instant::now();
    let finished = loop {
        let summary = rig.run(&event, LONG).await;
        if summary["skipped"].is_null() {
            break summary;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the lease never lapsed"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(
        finished["gradesPosted"].as_u64().unwrap() as usize,
        users.len() - synced,
        "{finished}"
    );
    for u in &users {
        assert!(is_synced(&stack.item(&ids, u).await), "{u}");
    }
}

#[tokio::test]
async fn a_refused_api_key_stops_the_run_and_marks_nothing() {
    for via in [Via::Handler, Via::Binary] {
        let stack = Stack::start().await;
        let a = stack.launch("p", "c", "a", Some("key-a")).await;
        let b = stack.launch("p2", "c", "b", Some("key-b")).await;
        let c = stack.launch("p3", "c", "c", Some("key-c")).await;
        // Line items already known (the usual case after a first run): the
        // refusal comes on a score post, not while listing line items.
        for ids in [&a, &b, &c] {
            stack.grade(ids, "u0", 1.0).await;
        }
        stack.run(Via::Handler, &stack.env()).await;
        for u in ["u1", "u2"] {
            for ids in [&a, &b, &c] {
                stack.grade(ids, u, 1.0).await;
            }
        }
        let before = stack.sim.requests().len();
        let mut env = stack.env();
        env.insert("LTIAAS_API_KEY".into(), "a-rotated-api-key".into());
        env.insert("SYNC_CONCURRENCY".into(), "1".into());
        let rig = SyncRig::start(via, &env).await;
        match &rig {
            SyncRig::Engine(_) => {
                let summary = rig.engine_summary(&event_file("schedule.json"), LONG).await;
                assert_eq!(summary["pendingReasons"]["apiKeyRefused"], 6, "{summary}");
                assert_eq!(summary["activitiesNeedingRelaunch"], 0);
                assert_eq!(
                    summary["requests"], 1,
                    "no call after the refusal: {summary}"
                );
            }
            SyncRig::Binary(api, process) => {
                let outcome = process
                    .lock()
                    .await
                    .invoke(api, event_file("schedule.json"), LONG)
                    .await;
                let ltisync_tests::runtime_api::Outcome::Error(error) = outcome else {
                    panic!("the invocation should fail so the alarm fires: {outcome:?}")
                };
                assert!(error.to_string().contains("API key"), "{error}");
                assert_eq!(error["errorType"], "ApiKeyRefused", "{error}");
            }
        }
        rig.finish().await;
        assert_eq!(
            stack.sim.requests().len() - before,
            1,
            "{via:?}: one refused call"
        );
        for ids in [&a, &b, &c] {
            assert!(
                s(&stack.activity_item(ids).await, "needsRelaunch").is_none(),
                "keys are fine"
            );
            let item = stack.item(ids, "u1").await;
            assert!(item.contains_key("pending"));
            assert!(
                !item.contains_key("lastError"),
                "nothing written on the grades"
            );
        }
        assert!(stack.received_for("u1").is_empty() && stack.received_for("u2").is_empty());
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

#[tokio::test]
async fn the_run_retry_budget_caps_retries_over_all_grades() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    for u in 0..5 {
        stack.grade(&ids, &format!("u{u}"), 1.0).await;
    }
    stack.run(Via::Handler, &stack.env()).await; // line item created and cached
    for u in 0..5 {
        stack.grade(&ids, &format!("u{u}"), 2.0).await;
    }
    stack.sim.inject(Fault::status(Route::PostScore, 503, None));
    let mut env = stack.env();
    env.insert("SYNC_RETRY_BUDGET".into(), "2".into());
    env.insert("SYNC_CONCURRENCY".into(), "1".into());
    let summary = stack.run(Via::Handler, &env).await;
    assert_eq!(summary["retries"], 2, "{summary}");
    assert_eq!(summary["pendingReasons"]["retriesExhausted"], 5);
    let posts = stack
        .sim
        .requests()
        .iter()
        .filter(|r| r.route == Route::PostScore && r.status == Some(503))
        .count();
    assert_eq!(
        posts,
        5 + 2,
        "one attempt each, plus the two retries the budget allowed"
    );
}

#[tokio::test]
async fn a_manual_column_without_a_link_is_never_adopted() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    stack.sim.ignore_filters(true);
    let manual = stack.sim.add_line_item(
        "p",
        "c",
        SimLineItem {
            id: String::new(),
            label: "Attendance".into(),
            score_maximum: 5.0,
            resource_link_id: None,
            resource_id: None,
            tag: None,
        },
    );
    stack.grade(&ids, "u1", 50.0).await;
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 1, "{summary}");
    assert_eq!(summary["lineItemsCreated"], 1);
    assert_ne!(stack.sim.scores()[0].line_item_id, manual);
}

// ---- Faulty dependencies (DynamoDB through a fault proxy, LTIaaS misbehaving)

use ltisync_tests::aws_proxy::{DynamoFault, RecordingProxy};
use ltisync_tests::runtime_api::Outcome;

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

/// The lease put and the outcome writes take effect but their answers are
/// lost; the SDK retries them against items they already changed. The run
/// must recognise its own lease and its own writes: no lock-out, and a
/// summary that matches the table.
#[tokio::test]
async fn answers_lost_after_the_write_neither_lock_out_nor_miscount() {
    let (stack, ids) = Stack::with_grades(10).await;
    stack.regrade(&ids, &users(10), 9.0).await;
    let proxy = RecordingProxy::start(&stack.table.endpoint).await;
    proxy.inject("PutItem", DynamoFault::LoseAnswer, 1);
    proxy.inject("UpdateItem", DynamoFault::LoseAnswer, 6);
    let rig = SyncRig::start(Via::Binary, &stack.env_through(&proxy)).await;
    let summary = rig.run(&event_file("schedule.json"), LONG).await;
    assert!(
        summary["skipped"].is_null(),
        "locked out by its own lease: {summary}"
    );
    assert_eq!(stack.settled(&ids, &users(10), 9.0).await, (10, 0, 0));
    assert_eq!(summary["gradesPosted"], 10, "{summary}");
    assert_eq!(
        summary["gradesPending"], 0,
        "the table has none pending: {summary}"
    );
    assert_eq!(stack.sim.scores().len(), 10, "each grade posted once");
    // The lease was released: the next run is not skipped either.
    let again = rig.run(&event_file("schedule.json"), LONG).await;
    assert!(again["skipped"].is_null(), "{again}");
    rig.finish().await;
}

/// Throttling and 500s on every operation the sync uses: nothing is lost,
/// nothing is marked SYNCED with a value the LMS did not get last, and the
/// summary tells the truth.
#[tokio::test]
async fn throttling_and_server_errors_leave_every_grade_posted_or_pending() {
    let (stack, ids) = Stack::with_grades(12).await;
    stack.regrade(&ids, &users(12), 11.0).await;
    let proxy = RecordingProxy::start(&stack.table.endpoint).await;
    for (operation, fault, times) in [
        ("Scan", DynamoFault::Throttle, 1),
        ("BatchGetItem", DynamoFault::Throttle, 1),
        ("BatchGetItem", DynamoFault::ServerError, 1),
        ("UpdateItem", DynamoFault::ServerError, 4),
        ("UpdateItem", DynamoFault::Throttle, 4),
    ] {
        proxy.inject(operation, fault, times);
    }
    let rig = SyncRig::start(Via::Binary, &stack.env_through(&proxy)).await;
    let summary = rig.run(&event_file("schedule.json"), LONG).await;
    let (posted, pending, failed) = stack.settled(&ids, &users(12), 11.0).await;
    assert_eq!(summary["gradesPosted"], posted, "{summary}");
    assert_eq!(summary["gradesPending"], pending, "{summary}");
    assert_eq!((failed, posted + pending), (0, 12), "{summary}");
    // Whatever a fault left pending, the next run finishes.
    proxy.clear_faults();
    rig.run(&event_file("schedule.json"), LONG).await;
    assert_eq!(stack.settled(&ids, &users(12), 11.0).await, (12, 0, 0));
    rig.finish().await;
}

/// A stalled table cannot hold the run past its deadline: it answers in
/// time, the grades whose writes stalled stay pending, and the next run
/// finishes them at their latest values.
#[tokio::test]
async fn a_stalled_table_cannot_hold_the_run_past_its_deadline() {
    let (stack, ids) = Stack::with_grades(6).await;
    stack.regrade(&ids, &users(6), 5.0).await;
    let proxy = RecordingProxy::start(&stack.table.endpoint).await;
    let mut env = stack.env_through(&proxy);
    env.insert("SYNC_DEADLINE_MARGIN_MS".into(), "2000".into());
    let rig = SyncRig::start(Via::Binary, &env).await;
    proxy.inject(
        "UpdateItem",
        DynamoFault::Stall(Duration::from_secs(60)),
        1000,
    );
    let started = std::time::Instant::now();
    let budget = Duration::from_secs(6);
    let summary = rig.run(&event_file("schedule.json"), budget).await;
    assert!(
        started.elapsed() < budget,
        "the run answered after {:?}, past its {budget:?} deadline: {summary}",
        started.elapsed()
    );
    let (posted, pending, _) = stack.settled(&ids, &users(6), 5.0).await;
    assert_eq!((posted, pending), (0, 6), "{summary}");
    assert_eq!(summary["gradesPosted"], 0, "{summary}");
    proxy.clear_faults();
    stack.regrade(&ids, &users(6), 42.0).await;
    let summary = rig.run(&event_file("schedule.json"), LONG).await;
    assert_eq!(summary["gradesPosted"], 6, "{summary}");
    assert_eq!(stack.settled(&ids, &users(6), 42.0).await, (6, 0, 0));
    rig.finish().await;
}

/// A 200 with an HTML page is not LTIaaS accepting a score: retried, then
/// pending with the reason, never SYNCED.
#[tokio::test]
async fn an_html_page_with_200_is_not_an_accepted_score() {
    let (stack, ids) = Stack::with_grades(3).await;
    stack.sim.inject(Fault::on(
        Route::PostScore,
        FaultAction::Status {
            status: 200,
            body: Some("<html><title>Sign in to Wi-Fi</title></html>".into()),
            retry_after: None,
        },
        None,
    ));
    let mut env = stack.env();
    env.insert("SYNC_MAX_ATTEMPTS".into(), "2".into());
    let summary = stack.run(Via::Binary, &env).await;
    assert_eq!(summary["gradesPosted"], 0, "{summary}");
    assert_eq!(
        summary["pendingReasons"]["retriesExhausted"], 3,
        "{summary}"
    );
    assert_eq!(summary["retries"], 3, "each post tried twice: {summary}");
    for u in users(3) {
        let item = stack.item(&ids, &u).await;
        assert!(item.contains_key("pending"), "{u}");
        let reason = s(&item, "lastError").unwrap();
        assert!(
            reason.contains("neither empty nor JSON") && reason.contains("Sign in"),
            "{reason}"
        );
    }
}

/// A redirect means LTIaaS or the configuration moved: the grades stay
/// pending with the Location, the run stops calling LTIaaS, the summary
/// counts it, and the invocation fails so the errors alarm fires.
#[tokio::test]
async fn a_redirect_leaves_grades_pending_and_fails_the_invocation() {
    let (stack, ids) = Stack::with_grades(4).await;
    stack.sim.inject(Fault::on(
        Route::PostScore,
        FaultAction::Redirect {
            status: 301,
            location: "https://new-home.example/api".into(),
        },
        None,
    ));
    let mut env = stack.env();
    env.insert("SYNC_CONCURRENCY".into(), "1".into());
    let engine = SyncRig::start(Via::Handler, &env).await;
    let summary = engine
        .engine_summary(&event_file("schedule.json"), LONG)
        .await;
    assert_eq!(
        summary["pendingReasons"]["ltiaasRedirected"], 4,
        "{summary}"
    );
    assert_eq!(summary["gradesFailed"], 0, "{summary}");
    let posts = |sim: &Simulator| {
        sim.requests()
            .iter()
            .filter(|r| r.route == Route::PostScore)
            .count()
    };
    assert_eq!(posts(&stack.sim), 1, "no call after the redirect");
    for u in users(4) {
        let item = stack.item(&ids, &u).await;
        assert!(item.contains_key("pending"), "{u}");
        assert!(
            s(&item, "lastError")
                .unwrap()
                .contains("https://new-home.example/api"),
            "{item:?}"
        );
    }
    let SyncRig::Binary(api, process) = SyncRig::start(Via::Binary, &env).await else {
        unreachable!()
    };
    let outcome = process
        .lock()
        .await
        .invoke(&api, event_file("schedule.json"), LONG)
        .await;
    let Outcome::Error(error) = outcome else {
        panic!("the invocation should fail so the errors alarm fires: {outcome:?}")
    };
    assert_eq!(
        error["errorType"], "LtiaasRedirected",
        "the kind CloudWatch shows"
    );
    assert!(error.to_string().contains("redirect"), "{error}");
    assert_eq!(posts(&stack.sim), 2);
    process.into_inner().stop().await;
}

/// An LMS whose line item pages link back to themselves costs two listing
/// requests, not a hundred, and the reason is on the grade.
#[tokio::test]
async fn line_item_pages_that_loop_stop_at_the_first_repeat() {
    let (stack, ids) = Stack::with_grades(2).await;
    stack.sim.inject(Fault::on(
        Route::ListLineItems,
        FaultAction::LoopingPages,
        None,
    ));
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(
        summary["pendingReasons"]["lineItemUnavailable"], 2,
        "{summary}"
    );
    let listings = stack
        .sim
        .requests()
        .iter()
        .filter(|r| r.route == Route::ListLineItems)
        .count();
    assert_eq!(listings, 2, "first page, then the page that repeats");
    assert_eq!(stack.sim.created_line_items(), 0, "no column created blind");
    let reason = s(&stack.item(&ids, "u00").await, "lastError")
        .unwrap()
        .to_owned();
    assert!(reason.contains("repeats a page already read"), "{reason}");
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

use ltisync_tests::runtime_api::{binary, FunctionProcess, RuntimeApi};

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

#[tokio::test]
async fn a_run_cut_by_its_deadline_starts_follow_ups_until_the_backlog_is_done() {
    let (stack, ids) = Stack::with_grades(45).await;
    let budget = Duration::from_millis(2500);
    let (api, mut process) = self_invoking_sync(&slow_env(&stack, "10"), budget).await;
    let first = process
        .invoke(&api, event_file("schedule.json"), budget)
        .await
        .response();
    assert_eq!(first["stoppedByDeadline"], true, "{first}");
    assert_eq!(
        first["followUp"],
        json!({"number": 1, "maxInARow": 10, "started": true}),
        "{first}"
    );
    wait_until(Duration::from_secs(30), || stack.sim.scores().len() >= 45).await;
    wait_until(Duration::from_secs(10), || {
        api.async_outcomes().len() == api.async_invocations().len()
    })
    .await;
    let invoked: Vec<Value> = api
        .async_invocations()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    assert!(
        invoked.len() >= 2,
        "the backlog needed more than one follow-up: {invoked:?}"
    );
    for (n, payload) in invoked.iter().enumerate() {
        assert_eq!(
            payload,
            &json!({"followUp": n + 1}),
            "each follow-up counts the row"
        );
    }
    let last = match api.async_outcomes().pop() {
        Some(Outcome::Response(summary)) => summary,
        other => panic!("{other:?}"),
    };
    assert_eq!(last["stoppedByDeadline"], false, "{last}");
    assert!(
        last["followUp"].is_null(),
        "nothing left, no follow-up: {last}"
    );
    assert_eq!(stack.sim.scores().len(), 45, "every grade exactly once");
    for u in 0..45 {
        assert!(is_synced(&stack.item(&ids, &format!("u{u:02}")).await));
    }
    process.stop().await;
}

#[tokio::test]
async fn follow_ups_stop_at_the_configured_number_in_a_row() {
    let (stack, _) = Stack::with_grades(40).await;
    let budget = Duration::from_millis(2500);
    let (api, mut process) = self_invoking_sync(&slow_env(&stack, "1"), budget).await;
    let first = process
        .invoke(&api, event_file("schedule.json"), budget)
        .await
        .response();
    assert_eq!(first["followUp"]["started"], true, "{first}");
    wait_until(Duration::from_secs(15), || !api.async_outcomes().is_empty()).await;
    let Outcome::Response(second) = api.async_outcomes().remove(0) else {
        panic!("the follow-up failed")
    };
    assert_eq!(second["stoppedByDeadline"], true, "{second}");
    assert_eq!(second["followUp"]["number"], 2, "{second}");
    assert_eq!(second["followUp"]["started"], false, "{second}");
    assert!(
        second["followUp"]["notStarted"]
            .as_str()
            .unwrap()
            .contains("in a row"),
        "{second}"
    );
    assert_eq!(api.async_invocations().len(), 1);
    process.stop().await;
}

/// The summary sums what DynamoDB says each call consumed (moto reports
/// stand-in figures, so only their growth with the work is checked here).
#[tokio::test]
async fn a_run_reports_the_capacity_it_consumed() {
    let mut consumed = Vec::new();
    for grades in [2, 10] {
        let (stack, _) = Stack::with_grades(grades).await;
        let summary = stack.run(Via::Handler, &stack.env()).await;
        assert_eq!(summary["gradesPosted"], grades, "{summary}");
        let units = |name: &str| summary[name].as_f64().unwrap();
        consumed.push((units("consumedReadUnits"), units("consumedWriteUnits")));
    }
    let ((read_2, write_2), (read_10, write_10)) = (consumed[0], consumed[1]);
    assert!(read_2 > 0.0 && write_2 > 0.0, "{consumed:?}");
    assert!(read_10 > read_2 && write_10 > write_2, "{consumed:?}");
}

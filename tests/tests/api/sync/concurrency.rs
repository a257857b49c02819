//! Runs side by side, bounded concurrency and rate, deadlines and follow-up runs.

use super::*;

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
        // Posts stop 1 s before the deadline; the post in flight then still
        // has time to record its outcome, even with moto answering slowly
        // to the grades in progress beside it.
        env.insert("SYNC_DEADLINE_MARGIN_MS".into(), "1000".into());
        // A DynamoDB call must fit in the margin (the configuration rule).
        env.insert("DYNAMODB_TIMEOUT_MS".into(), "1000".into());
        let rig = SyncRig::start(via, &env).await;
        let event = event_file("schedule.json");
        let first = rig.run(&event, Duration::from_millis(3000)).await;
        assert_eq!(first["stoppedByDeadline"], true, "{via:?}: {first}");
        assert!(first["pendingReasons"]["deadline"].as_u64().unwrap() > 0);
        // The rest wait: not started (deadline), or cut in a DynamoDB call
        // at half the margin (storeError) while in progress beside the post.
        let left = first["gradesPending"].as_u64().unwrap();
        assert_eq!(
            first["gradesPosted"].as_u64().unwrap() + left,
            40,
            "{first}"
        );
        stack.sim.set_latency(Duration::ZERO);
        let second = rig.run(&event, LONG).await;
        assert_eq!(second["gradesPosted"].as_u64().unwrap(), left, "{second}");
        assert_eq!(stack.sim.scores().len(), 40, "every grade exactly once");
        rig.finish().await;
    }
}

/// Posts still in flight when the grades' writes are cut (half the margin
/// before the deadline) leave their grades pending; the run still gives
/// its claims back, so the next run (a follow-up) posts them at once
/// instead of finding the activity claimed until the claim expires.
#[tokio::test]
async fn a_run_cut_mid_post_gives_its_claims_back() {
    let (stack, ids) = Stack::with_grades(6).await;
    let mut env = stack.env();
    env.insert("SYNC_CONCURRENCY".into(), "2".into());
    env.insert("SYNC_ROSTER_CHECK".into(), "false".into());
    let rig = SyncRig::start(Via::Handler, &env).await;
    let event = event_file("schedule.json");
    // The line item exists and is cached: the next run only posts.
    rig.run(&event, LONG).await;
    stack.regrade(&ids, &users(6), 50.0).await;
    let rig = SyncRig::start(Via::Handler, &{
        env.insert("SYNC_DEADLINE_MARGIN_MS".into(), "2000".into());
        env.insert("DYNAMODB_TIMEOUT_MS".into(), "2000".into());
        env
    })
    .await;
    // Posts stop at 1 s and writes are cut at 2 s of the 3 s budget; the
    // first two posts take 2.5 s, so they are in flight at the cut.
    stack.sim.set_latency(Duration::from_millis(2500));
    let first = rig.run(&event, Duration::from_millis(3000)).await;
    assert_eq!(
        first["pendingReasons"]["storeError"], 2,
        "cut mid-post: {first}"
    );
    stack.sim.set_latency(Duration::ZERO);
    let second = rig.run(&event, LONG).await;
    assert_eq!(
        second["pendingReasons"].get("claimedElsewhere"),
        None,
        "{second}"
    );
    assert_eq!(second["gradesPosted"], 6, "{second}");
    rig.finish().await;
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

/// A run that finds the lease held answers at once: the read of the work
/// index it began beside the lease is dropped, not awaited (here every
/// scan stalls for longer than a DynamoDB call may take).
#[tokio::test]
async fn a_run_finding_the_lease_held_does_not_wait_for_its_read() {
    let (stack, _) = Stack::with_grades(3).await;
    let now = time::OffsetDateTime::now_utc();
    let until = now + time::Duration::hours(1);
    stack
        .store
        .acquire_lease("another-run", now, until)
        .await
        .unwrap();
    let proxy = RecordingProxy::start(&stack.table.endpoint).await;
    proxy.inject("Scan", DynamoFault::Stall(Duration::from_secs(30)), 100);
    let mut env = stack.env_through(&proxy);
    env.insert("DYNAMODB_TIMEOUT_MS".into(), "20000".into());
    env.insert("DYNAMODB_ATTEMPT_TIMEOUT_MS".into(), "20000".into());
    let rig = SyncRig::start(Via::Handler, &env).await;
    let summary = rig.run(&event_file("schedule.json"), LONG).await;
    let held = summary["skipped"].as_str().unwrap_or_default();
    assert!(held.contains("another-run"), "{summary}");
    assert!(
        summary["durationMs"].as_u64().unwrap() < 10_000,
        "it waited for the stalled scan: {summary}"
    );
    assert_eq!(stack.sim.scores().len(), 0);
    rig.finish().await;
}

//! A crash or a misbehaving table mid-run: every grade ends posted or still pending.

use super::*;

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
    // A grade the LMS accepted just before the crash, whose SYNCED mark the
    // crash cut off, is settled without a second post when what the LMS
    // accepted was recorded before the crash (gradesUnchanged).
    let settled =
        finished["gradesPosted"].as_u64().unwrap() + finished["gradesUnchanged"].as_u64().unwrap();
    assert_eq!(settled as usize, users.len() - synced, "{finished}");
    for u in &users {
        assert!(is_synced(&stack.item(&ids, u).await), "{u}");
    }
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
    env.insert("DYNAMODB_TIMEOUT_MS".into(), "2000".into());
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

/// A run whose claim releases stall past the cut of its writes still
/// answers inside its deadline, with a margin of its own, whatever the
/// DynamoDB timeouts allow (here as long as the margin itself); the claims
/// it could not give back expire by themselves.
#[tokio::test]
async fn a_stalled_release_still_answers_inside_the_deadline() {
    let (stack, ids) = Stack::with_grades(3).await;
    stack.regrade(&ids, &users(3), 5.0).await;
    let proxy = RecordingProxy::start(&stack.table.endpoint).await;
    let mut env = stack.env_through(&proxy);
    env.insert("SYNC_DEADLINE_MARGIN_MS".into(), "3000".into());
    env.insert("DYNAMODB_TIMEOUT_MS".into(), "3000".into());
    env.insert("DYNAMODB_ATTEMPT_TIMEOUT_MS".into(), "3000".into());
    let rig = SyncRig::start(Via::Binary, &env).await;
    // Outcome writes stall until their cut (4.5 s of 6), then the releases
    // stall too: the SDK alone would let them run to 7.5 s.
    let stall = DynamoFault::Stall(Duration::from_secs(60));
    proxy.inject("UpdateItem", stall, 1000);
    proxy.inject("DeleteItem", stall, 1000);
    let started = std::time::Instant::now();
    let budget = Duration::from_secs(6);
    let summary = rig.run(&event_file("schedule.json"), budget).await;
    let took = started.elapsed();
    assert!(
        took < budget - Duration::from_millis(500),
        "answered after {took:?} of a {budget:?} deadline: {summary}"
    );
    assert_eq!(summary["gradesPosted"], 0, "{summary}");
    rig.finish().await;
}

/// A daily run invoked with less time than its margin takes nothing (no
/// lease, no claim, no grade), says why, and leaves the next run free.
#[tokio::test]
async fn a_run_with_less_time_than_its_margin_takes_nothing_and_says_why() {
    let (stack, ids) = Stack::with_grades(3).await;
    stack.regrade(&ids, &users(3), 7.0).await;
    let mut env = stack.env();
    env.insert("SYNC_DEADLINE_MARGIN_MS".into(), "30000".into());
    let rig = SyncRig::start(Via::Binary, &env).await;
    let short = rig
        .run(&event_file("schedule.json"), Duration::from_secs(3))
        .await;
    assert_eq!(short["stoppedByDeadline"], true, "{short}");
    let why = short["skipped"].as_str().unwrap_or_default();
    assert!(
        why.contains("30000 ms deadline margin") && why.contains("took no lease"),
        "{short}"
    );
    assert_eq!(short["gradesPosted"], 0, "{short}");
    assert!(stack.sim.scores().is_empty());
    let next = rig
        .run(&event_file("schedule.json"), Duration::from_secs(60))
        .await;
    assert!(
        next["skipped"].is_null(),
        "the next run was locked out: {next}"
    );
    assert_eq!(stack.settled(&ids, &users(3), 7.0).await, (3, 0, 0));
    rig.finish().await;
}

/// What the GradeWriterPolicy cannot prevent (IAM sees no sort key): a
/// grade-shaped PutItem over an activity's claim or the activity itself.
/// The claim is no lock and is taken over; the activity's grades wait
/// (activityMalformed) until the next launch writes the activity again.
#[tokio::test]
async fn grade_shaped_writes_over_a_claim_or_activity_heal() {
    let (stack, ids) = Stack::with_grades(2).await;
    stack.regrade(&ids, &users(2), 3.0).await;
    let pk = format!("ACT#{}", ids.key());
    let grade_shaped = |sk: &str| -> Item {
        [
            ("pk", pk.as_str()),
            ("sk", sk),
            ("userId", "intruder"),
            ("activityProgress", "Completed"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), AttributeValue::S(v.to_owned())))
        .collect()
    };
    stack.put(grade_shaped("CLAIM")).await;
    let rig = SyncRig::start(Via::Handler, &stack.env()).await;
    let event = event_file("schedule.json");
    let summary = rig.run(&event, LONG).await;
    assert_eq!(
        summary["gradesPosted"], 2,
        "the claim was taken over: {summary}"
    );

    stack.regrade(&ids, &users(2), 4.0).await;
    stack.put(grade_shaped("ACTIVITY")).await;
    let summary = rig.run(&event, LONG).await;
    assert_eq!(
        summary["pendingReasons"]["activityMalformed"], 2,
        "{summary}"
    );
    stack.launch("p", "c", "link", Some("k")).await;
    let summary = rig.run(&event, LONG).await;
    assert_eq!(
        summary["gradesPosted"], 2,
        "the launch repaired it: {summary}"
    );
    assert_eq!(stack.settled(&ids, &users(2), 4.0).await, (2, 0, 0));
    rig.finish().await;
}

/// A server too slow to answer a large page of the work index in time (a
/// stand-in, a throttled table): discovery asks for smaller pages instead
/// of failing every run, and the grades are posted.
#[tokio::test]
async fn a_slow_work_index_is_read_in_smaller_pages() {
    let (stack, ids) = Stack::with_grades(60).await;
    stack.regrade(&ids, &users(60), 6.0).await;
    let proxy = RecordingProxy::start(&stack.table.endpoint).await;
    let mut env = stack.env_through(&proxy);
    // Long enough for moto's writes, short enough to give up on a stalled page.
    env.insert("DYNAMODB_TIMEOUT_MS".into(), "2500".into());
    env.insert("SYNC_CONCURRENCY".into(), "4".into());
    let stall = DynamoFault::StallPagesAbove {
        limit: 62,
        wait: Duration::from_secs(60),
    };
    proxy.inject("Scan", stall, 1000);
    let rig = SyncRig::start(Via::Binary, &env).await;
    let summary = rig.run(&event_file("schedule.json"), LONG).await;
    assert_eq!(summary["gradesPosted"], 60, "{summary}");
    assert!(summary["discoveryIncomplete"].is_null(), "{summary}");
    assert_eq!(stack.settled(&ids, &users(60), 6.0).await, (60, 0, 0));
    rig.finish().await;
}

/// The work index is scanned in segments side by side; one segment that
/// cannot be read costs only its own activities: the others' grades are
/// posted, the summary says discovery was incomplete, and the next run
/// posts the rest.
#[tokio::test]
async fn an_unreadable_scan_segment_holds_back_only_its_own_grades() {
    let stack = Stack::start().await;
    let mut activities = Vec::new();
    for link in 0..20 {
        let (link, key) = (format!("link-{link}"), format!("k{link}"));
        let ids = stack.launch("p", "c", &link, Some(&key)).await;
        stack.grade(&ids, "ada", 5.0).await;
        activities.push(ids);
    }
    let proxy = RecordingProxy::start(&stack.table.endpoint).await;
    proxy.inject("Scan", DynamoFault::ServerErrorInSegment(0), 1000);
    let rig = SyncRig::start(Via::Binary, &stack.env_through(&proxy)).await;
    let event = event_file("schedule.json");
    let summary = rig.run(&event, LONG).await;
    assert_eq!(summary["discoveryIncomplete"], true, "{summary}");
    let posted = summary["gradesPosted"].as_u64().unwrap();
    assert!((1..20).contains(&posted), "{summary}");
    let mut synced = 0;
    for ids in &activities {
        synced += u64::from(is_synced(&stack.item(ids, "ada").await));
    }
    assert_eq!(synced, posted, "the rest still pending");

    proxy.clear_faults();
    let next = rig.run(&event, LONG).await;
    assert_eq!(
        next["gradesPosted"].as_u64().unwrap(),
        20 - posted,
        "{next}"
    );
    assert!(next["discoveryIncomplete"].is_null(), "{next}");
    rig.finish().await;
}

/// A DynamoDB call that times out leaves the grade pending with a reason an
/// operator can act on: one sentence naming the time limit, not the SDK's
/// nested debug output (that goes to the log).
#[tokio::test]
async fn a_dynamodb_timeout_is_stored_as_one_sentence() {
    let (stack, ids) = Stack::with_grades(1).await;
    let proxy = RecordingProxy::start(&stack.table.endpoint).await;
    // The read of what the LMS accepted before (GetItem) stalls past the limit.
    proxy.inject("GetItem", DynamoFault::Stall(Duration::from_secs(3)), 10);
    let mut env = stack.env_through(&proxy);
    env.insert("DYNAMODB_TIMEOUT_MS".into(), "500".into());
    env.insert("DYNAMODB_ATTEMPT_TIMEOUT_MS".into(), "500".into());
    let rig = SyncRig::start(Via::Binary, &env).await;
    let summary = rig.run(&event_file("schedule.json"), LONG).await;
    assert_eq!(summary["pendingReasons"]["storeError"], 1, "{summary}");
    let item = stack.item(&ids, "u00").await;
    assert_eq!(s(&item, "lastErrorCode"), Some("storeError"));
    let reason = s(&item, "lastError").expect("a reason");
    assert!(
        reason.contains("did not answer within the time limit (DYNAMODB_TIMEOUT_MS)"),
        "{reason}"
    );
    assert!(
        !reason.contains("TimeoutError") && !reason.contains('{') && reason.len() < 200,
        "not one sentence: {reason}"
    );
    rig.finish().await;
}

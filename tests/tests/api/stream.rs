//! The stream path end to end: grades written with the documented schema,
//! the table's real stream records (moto), delivered by the local event
//! source mapping (the template's filter, batches, partial batch retries)
//! to the real `sync` binary, posted to the LTIaaS simulator; and the
//! ordering guarantee between the stream path and the daily run.

use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use ltisync::store::GradeKey;
use ltisync::sync::{GradeOutcome, PendingReason, SyncEngine, SyncRequest};
use ltisync::{ActivityIds, Grade};
use ltisync_tests::rigs::{event_file, Env, SyncRig, Via};
use ltisync_tests::runtime_api::Outcome;
use ltisync_tests::simulator::{Fault, FaultAction, LmsProfile, Route};
use ltisync_tests::stream::{EventSourceMapping, MappingSettings};
use serde_json::json;

use crate::helpers::{documented_grade, s, Item, Stack};

const IDLE: Duration = Duration::from_millis(600);

/// The shared [`Stack`] with one launched activity (p, c, link; service
/// key `k`), whose grades these tests write.
struct OneActivity {
    app: Stack,
    ids: ActivityIds,
}

impl std::ops::Deref for OneActivity {
    type Target = Stack;

    fn deref(&self) -> &Self::Target {
        &self.app
    }
}

impl OneActivity {
    async fn start() -> Self {
        let app = Stack::start().await;
        let ids = app.launch("p", "c", "link", Some("k")).await;
        Self { app, ids }
    }

    async fn mapping(&self, settings: MappingSettings) -> EventSourceMapping {
        EventSourceMapping::attach(&self.table.endpoint, &self.table.name, settings).await
    }

    async fn grade(&self, user: &str, score: f64) {
        let grade = Grade::new(user, score, 100.0).unwrap();
        self.store.record_grade(&self.ids, &grade).await.unwrap();
    }

    async fn item(&self, user: &str) -> Item {
        self.app.item(&self.ids, user).await
    }

    fn received(&self, user: &str) -> Vec<f64> {
        self.sim
            .scores()
            .into_iter()
            .filter(|s| s.body["userId"] == user)
            .map(|s| s.body["scoreGiven"].as_f64().unwrap())
            .collect()
    }

    async fn engine(&self, env: &Env) -> SyncEngine {
        let SyncRig::Engine(function) = SyncRig::start(Via::Handler, env).await else {
            unreachable!("the handler rig runs in process")
        };
        function.engine().clone()
    }

    /// Waits until more score posts than `than` have reached the LMS.
    async fn wait_for_posts_beyond(&self, than: usize) {
        let started = std::time::Instant::now();
        while self.posts_arrived() <= than {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no post arrived"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn posts_arrived(&self) -> usize {
        self.sim
            .arrivals()
            .iter()
            .filter(|a| a.route == Route::PostScore)
            .count()
    }
}

fn score(item: &Item) -> f64 {
    match item.get("scoreGiven") {
        Some(AttributeValue::N(n)) => n.parse().unwrap(),
        other => panic!("no score: {other:?}"),
    }
}

#[tokio::test]
async fn a_written_grade_is_posted_from_the_stream_and_the_daily_run_finds_nothing() {
    let stack = OneActivity::start().await;
    let mut mapping = stack.mapping(MappingSettings::default()).await;
    let rig = SyncRig::start(Via::Binary, &stack.env()).await;
    for (u, points) in [("u1", 70.0), ("u2", 80.0), ("u3", 90.0)] {
        stack.grade(u, points).await;
    }
    mapping.drain(&rig, IDLE).await;
    for (u, points) in [("u1", 70.0), ("u2", 80.0), ("u3", 90.0)] {
        assert_eq!(stack.received(u), [points], "{u}");
        let item = stack.item(u).await;
        assert_eq!(s(&item, "syncStatus"), Some("SYNCED"), "{u}: {item:?}");
        assert!(!item.contains_key("pending"));
    }
    // Only the three tool writes reached the function: the launch's activity
    // item, the claims and the sync's own outcome writes were filtered out.
    let delivered: usize = mapping.deliveries.iter().map(|d| d.records.len()).sum();
    assert_eq!(delivered, 3, "{:?}", mapping.deliveries);
    assert!(mapping.deliveries.iter().all(|d| d.failures.is_empty()));
    let daily = rig
        .run(&event_file("schedule.json"), Duration::from_secs(30))
        .await;
    assert_eq!(daily["gradesFound"], 0, "{daily}");
    rig.finish().await;
}

#[tokio::test]
async fn a_transient_failure_is_named_and_retried_from_that_record() {
    let stack = OneActivity::start().await;
    let mut mapping = stack.mapping(MappingSettings::default()).await;
    let mut env = stack.env();
    env.insert("SYNC_MAX_ATTEMPTS".into(), "1".into());
    let rig = SyncRig::start(Via::Binary, &env).await;
    stack
        .sim
        .inject(Fault::status(Route::PostScore, 503, Some(1)).for_user("u2"));
    for u in ["u1", "u2", "u3"] {
        stack.grade(u, 50.0).await;
    }
    mapping.drain(&rig, IDLE).await;
    let first = &mapping.deliveries[0];
    assert_eq!(first.records.len(), 3);
    assert_eq!(
        first.failures,
        [first.records[1].clone()],
        "exactly u2's record"
    );
    let second = &mapping.deliveries[1];
    assert_eq!(
        second.records,
        first.records[1..],
        "from the failed record on"
    );
    assert!(second.failures.is_empty());
    for u in ["u1", "u2", "u3"] {
        assert_eq!(stack.received(u).len(), 1, "{u} posted once");
        assert_eq!(s(&stack.item(u).await, "syncStatus"), Some("SYNCED"));
    }
    rig.finish().await;
}

#[tokio::test]
async fn retries_run_out_and_the_daily_run_posts_what_is_left() {
    let stack = OneActivity::start().await;
    let settings = MappingSettings {
        max_retries: 1,
        ..MappingSettings::default()
    };
    let mut mapping = stack.mapping(settings).await;
    let mut env = stack.env();
    env.insert("SYNC_MAX_ATTEMPTS".into(), "1".into());
    let rig = SyncRig::start(Via::Binary, &env).await;
    stack.sim.inject(Fault::status(Route::PostScore, 503, None));
    stack.grade("u1", 10.0).await;
    mapping.drain(&rig, IDLE).await;
    assert_eq!(mapping.deliveries.len(), 2, "{:?}", mapping.deliveries);
    assert_eq!(mapping.discarded.len(), 1);
    let item = stack.item("u1").await;
    assert!(item.contains_key("pending"), "nothing lost: {item:?}");
    stack.sim.clear_faults();
    let daily = rig
        .run(&event_file("schedule.json"), Duration::from_secs(30))
        .await;
    assert_eq!(daily["gradesPosted"], 1, "{daily}");
    rig.finish().await;
}

#[tokio::test]
async fn a_malformed_grade_fails_and_never_blocks_the_shard() {
    let stack = OneActivity::start().await;
    let mut mapping = stack.mapping(MappingSettings::default()).await;
    let rig = SyncRig::start(Via::Binary, &stack.env()).await;
    stack
        .put(documented_grade(
            &stack.ids,
            "bad",
            &[("scoreGiven", AttributeValue::S("ninety".into()))],
        ))
        .await;
    stack.grade("good", 90.0).await;
    mapping.drain(&rig, IDLE).await;
    assert!(mapping.deliveries.iter().all(|d| d.failures.is_empty()));
    let bad = stack.item("bad").await;
    assert_eq!(s(&bad, "syncStatus"), Some("FAILED"));
    assert!(s(&bad, "lastError")
        .unwrap()
        .contains("scoreGiven: expected a number (N)"));
    assert_eq!(stack.received("good"), [90.0]);
    rig.finish().await;
}

/// Records the filter would have dropped are ignored even if delivered, and
/// a record whose grade changed since posts the newest value.
#[tokio::test]
async fn records_are_read_through_the_current_item() {
    let stack = OneActivity::start().await;
    let rig = SyncRig::start(Via::Binary, &stack.env()).await;
    stack.grade("u1", 10.0).await;
    stack.grade("u1", 20.0).await;
    let mut event = event_file("grade-stream.json");
    let pk = format!("ACT#{}", stack.ids.key());
    for record in event["Records"].as_array_mut().unwrap() {
        record["dynamodb"]["Keys"]["pk"]["S"] = json!(pk);
        if let Some(image) = record["dynamodb"]["NewImage"].as_object_mut() {
            image.insert("pk".into(), json!({"S": pk}));
            if image.contains_key("pending") {
                image.insert("pending".into(), json!({"S": pk}));
            }
        }
    }
    let Outcome::Response(answer) = rig.invoke(&event, Duration::from_secs(30)).await else {
        panic!("a stream batch never fails the invocation")
    };
    assert_eq!(answer, json!({"batchItemFailures": []}));
    assert_eq!(stack.received("u1"), [20.0], "the current value, once");
    assert_eq!(score(&stack.item("u1").await), 20.0);
    assert_eq!(s(&stack.item("u1").await, "syncStatus"), Some("SYNCED"));
    rig.finish().await;
}

/// The daily run and stream batches over the same grades while the tool
/// rewrites them, with posts slow enough that they overlap. Checkpoints
/// make each interleaving happen for certain. Whatever the order: the
/// values the LMS receives for a user only ever grow (every rewrite raises
/// the score), and a SYNCED grade holds the value the LMS received last.
#[tokio::test]
async fn no_older_value_ever_wins_between_the_daily_run_and_the_stream() {
    let stack = OneActivity::start().await;
    let users: Vec<String> = (0..6).map(|u| format!("u{u}")).collect();
    let keys: Vec<GradeKey> = users
        .iter()
        .map(|u| GradeKey {
            pk: format!("ACT#{}", stack.ids.key()),
            sk: format!("GRADE#{u}"),
        })
        .collect();
    // The daily run posts one grade at a time, so it holds values it read
    // long before it sends them: the hazard the claims exist for.
    let mut one_at_a_time = stack.env();
    one_at_a_time.insert("SYNC_CONCURRENCY".into(), "1".into());
    let daily_engine = stack.engine(&one_at_a_time).await;
    let engine = stack.engine(&stack.env()).await;
    let deadline = || SystemTime::now() + Duration::from_secs(60);
    let daily = || SyncRequest {
        activity: None,
        dry_run: false,
        deadline: deadline(),
    };
    for u in &users {
        stack.grade(u, 1.0).await;
    }
    stack.sim.set_latency(Duration::from_millis(150));
    // The first post is held 2 s: version 2 is written while it is in
    // flight however slow the machine is (the writes must land before
    // the run records its first outcome).
    stack.sim.inject(Fault::on(
        Route::PostScore,
        FaultAction::Delay { millis: 2000 },
        Some(1),
    ));

    // 1. The daily run is posting version 1 when the tool writes version 2
    //    and a stream batch for it arrives: the batch finds the activity
    //    claimed and asks to be retried.
    let run = tokio::spawn({
        let engine = daily_engine.clone();
        let request = daily();
        async move { engine.run(request).await.unwrap() }
    });
    stack.wait_for_posts_beyond(0).await;
    for u in &users {
        stack.grade(u, 2.0).await;
    }
    let batch = engine.post_now(keys.clone(), deadline()).await.unwrap();
    assert!(
        batch
            .outcomes
            .values()
            .all(|o| *o == GradeOutcome::Pending(PendingReason::ClaimedElsewhere)),
        "{:?}",
        batch.outcomes
    );
    // The run sent version 1 of its first grade before version 2 existed
    // (and may have confirmed the others in progress beside it, up to four
    // grades at concurrency 1, at version 1 too, while the first was in
    // flight): those stay pending, changed. Every later copy
    // it read (version 1) was confirmed against the table before its post,
    // found changed, and posted at version 2.
    let first = run.await.unwrap();
    let changed = first
        .pending_reasons
        .get(&PendingReason::ChangedDuringRun)
        .copied();
    assert!(matches!(changed, Some(1..=4)), "{first:?}");
    assert_eq!(first.grades_posted + changed.unwrap_or(0), 6, "{first:?}");

    // 2. The retried batch posts version 2 of the first grade while the
    //    tool writes version 3 and a daily run starts: the run waits for
    //    the claim.
    let before = stack.posts_arrived();
    // Held again, so the batch still holds the claim when the run starts.
    stack.sim.inject(Fault::on(
        Route::PostScore,
        FaultAction::Delay { millis: 2000 },
        Some(1),
    ));
    let retried = tokio::spawn({
        let (engine, keys, deadline) = (engine.clone(), keys.clone(), deadline());
        async move { engine.post_now(keys, deadline).await.unwrap() }
    });
    stack.wait_for_posts_beyond(before).await;
    for u in &users {
        stack.grade(u, 3.0).await;
    }
    let second = daily_engine.run(daily()).await.unwrap();
    retried.await.unwrap();
    assert_eq!(second.grades_posted, 0, "{second:?}");

    // 3. Both paths at once, then whatever is left.
    stack.sim.set_latency(Duration::from_millis(20));
    let (a, b) = tokio::join!(
        daily_engine.run(daily()),
        engine.post_now(keys.clone(), deadline())
    );
    a.unwrap();
    b.unwrap();
    daily_engine.run(daily()).await.unwrap();

    for u in &users {
        let values = stack.received(u);
        assert!(
            values.windows(2).all(|w| w[0] <= w[1]),
            "{u}: an older value reached the LMS after a newer one: {values:?}"
        );
        let item = stack.item(u).await;
        assert_eq!(s(&item, "syncStatus"), Some("SYNCED"), "{u}: {item:?}");
        assert_eq!(
            Some(&score(&item)),
            values.last(),
            "{u}: SYNCED with the LMS's last value"
        );
        assert_eq!(score(&item), 3.0);
    }
}

/// A grade corrected five times within one second, each write delivered
/// from the stream at once, ends with its last value in the gradebook and
/// SYNCED on every LMS profile, and the values the LMS receives only ever
/// grow. Moodle refuses a score stamped in the same second as the last one
/// it accepted (409), and LTIaaS stamps each score as it relays it: there no
/// correction is lost to a same-second refusal and none ends FAILED (a
/// burst is repeated, at most twice, until Moodle has refused a post, so a
/// slow machine cannot pass without meeting the rule). Canvas keeps one
/// attempt: the corrections update it.
#[tokio::test]
async fn quick_corrections_end_with_the_last_value_on_every_lms() {
    for profile in [
        LmsProfile::Moodle,
        LmsProfile::Canvas,
        LmsProfile::OpenEdx,
        LmsProfile::Generic,
    ] {
        corrections_end_with_the_last_value(profile).await;
    }
}

async fn corrections_end_with_the_last_value(profile: LmsProfile) {
    let stack = OneActivity::start().await;
    stack.sim.set_profile("p", profile);
    let mut mapping = stack.mapping(MappingSettings::default()).await;
    let rig = SyncRig::start(Via::Binary, &stack.env()).await;
    stack.grade("warm-up", 1.0).await;
    mapping.drain(&rig, IDLE).await;
    let refused = || stack.posts_arrived() > stack.sim.scores().len();
    let mut last = 0.0;
    for round in 0..3 {
        last = correct_five_times_within_a_second(&stack, &mut mapping, &rig, round).await;
        if profile != LmsProfile::Moodle || refused() {
            break;
        }
    }
    let received = stack.received("u1");
    if profile == LmsProfile::Moodle {
        assert!(
            refused(),
            "Moodle refused a post as same-second: {received:?} accepted"
        );
    }
    assert_eq!(received.last(), Some(&last), "{profile:?}: {received:?}");
    assert!(
        received.windows(2).all(|w| w[0] < w[1]),
        "{profile:?}: {received:?}"
    );
    let item = stack.item("u1").await;
    assert_eq!(
        s(&item, "syncStatus"),
        Some("SYNCED"),
        "{profile:?}: {item:?}"
    );
    assert_eq!(score(&item), last);
    if profile == LmsProfile::Canvas {
        assert_eq!(
            stack.sim.attempts_of("u1"),
            1,
            "corrections update the attempt"
        );
    }
    rig.finish().await;
}

/// Writes five rising values of u1 from just after a second begins, 100 ms
/// apart, while the stream delivers them; the last value.
async fn correct_five_times_within_a_second(
    stack: &OneActivity,
    mapping: &mut EventSourceMapping,
    rig: &SyncRig,
    round: u32,
) -> f64 {
    let values: Vec<f64> = (1..=5).map(|i| f64::from(round * 10 + i)).collect();
    let corrections = async {
        let into_second = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .subsec_millis();
        tokio::time::sleep(Duration::from_millis(u64::from(1000 - into_second))).await;
        for value in &values {
            stack.grade("u1", *value).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::join!(corrections, mapping.drain(rig, Duration::from_millis(2500)));
    values[4]
}

/// A stream batch reads what the LMS accepted for each grade together with
/// the grades: an unchanged rewrite costs no post, a correction of the
/// same submission updates Canvas's attempt, a grade whose record of what
/// was accepted cannot be read waits (never risking a second attempt),
/// and the rest of the batch goes on.
#[tokio::test]
async fn a_batch_reads_what_the_lms_accepted_with_its_grades() {
    let stack = OneActivity::start().await;
    stack.sim.set_profile("p", LmsProfile::Canvas);
    let mut mapping = stack.mapping(MappingSettings::default()).await;
    let rig = SyncRig::start(Via::Binary, &stack.env()).await;
    let submitted = |user: &str, score: f64| {
        let when = time::OffsetDateTime::from_unix_timestamp(1_796_115_600).unwrap();
        let grade = Grade::new(user, score, 100.0)
            .unwrap()
            .with_submission(None, Some(when));
        let (store, ids) = (&stack.store, &stack.ids);
        async move { store.record_grade(ids, &grade).await.unwrap() }
    };
    for user in ["same", "corrected", "unreadable"] {
        submitted(user, 70.0).await;
    }
    mapping.drain(&rig, IDLE).await;
    // What was accepted for one of them, as an item that breaks its schema.
    let pk = format!("ACT#{}", stack.ids.key());
    stack
        .put(Item::from([
            ("pk".into(), AttributeValue::S(pk)),
            ("sk".into(), AttributeValue::S("POSTED#unreadable".into())),
            ("postedAt".into(), AttributeValue::N("1".into())),
        ]))
        .await;

    submitted("same", 70.0).await;
    submitted("corrected", 75.0).await;
    submitted("unreadable", 80.0).await;
    mapping.drain(&rig, IDLE).await;
    assert_eq!(stack.received("same"), [70.0], "unchanged: no second post");
    assert_eq!(stack.received("corrected"), [70.0, 75.0]);
    let attempts: Vec<bool> = stack
        .received_for("corrected")
        .iter()
        .map(|r| r.body["https://canvas.instructure.com/lti/submission"]["new_submission"] == true)
        .collect();
    assert_eq!(attempts, [true, false], "the correction updates attempt 1");
    assert_eq!(stack.received("unreadable"), [70.0], "waits, not posted");
    let waiting = stack.item("unreadable").await;
    assert!(waiting.contains_key("pending"), "{waiting:?}");
    assert_eq!(s(&waiting, "lastErrorCode"), Some("storeError"));
    for user in ["same", "corrected"] {
        assert_eq!(s(&stack.item(user).await, "syncStatus"), Some("SYNCED"));
    }
    rig.finish().await;
}

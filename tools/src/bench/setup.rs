//! Setting up a measurement: activities launched with ids shaped like real
//! ones, grades written in the documented schema, an engine over the
//! simulator, a function binary started, and the capacities of the
//! stand-ins themselves.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use futures::StreamExt;
use ltisync::activity::{GrantedServices, LaunchCapture};
use ltisync::config::SyncTuning;
use ltisync::ltiaas::LtiaasClient;
use ltisync::sync::{RunSummary, SyncEngine, SyncRequest};
use ltisync::{ActivityIds, ServiceKey, Store};
use ltisync_tests::dynamo::TestTable;
use ltisync_tests::grades::{documented_grade, without};
use ltisync_tests::ltiaas::{self, Limits};
use ltisync_tests::runtime_api::{FunctionProcess, RuntimeApi};
use ltisync_tests::simulator::{LaunchSpec, SimLineItem, Simulator};

/// A 64-bit mix of `n` (splitmix64): ids that look random but repeat.
fn mix(mut n: u64) -> u64 {
    n = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    n = (n ^ (n >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    n = (n ^ (n >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    n ^ (n >> 31)
}

/// `len` hex digits derived from `seed`.
fn hex(seed: u64, len: usize) -> String {
    (0..len.div_ceil(16))
        .map(|i| format!("{:016x}", mix(seed.wrapping_mul(31).wrapping_add(i as u64))))
        .collect::<String>()[..len]
        .to_owned()
}

/// A UUID-shaped id from `seed` (Canvas's user and resource link ids).
pub(super) fn uuid_like(seed: u64) -> String {
    let h = hex(seed, 32);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// An LTIaaS platform id (32 hex digits).
fn platform_id(p: usize) -> String {
    hex(1_000_000 + p as u64, 32)
}

/// A Canvas course context id (40 hex digits).
fn context_id(a: usize) -> String {
    hex(2_000_000 + a as u64 / 5, 40)
}

/// A service key of a JWT's length (header, a payload naming the platform,
/// course and link, a signature): about 530 characters.
pub(super) fn service_key(a: usize) -> String {
    format!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{}.{}",
        hex(3_000_000 + a as u64, 448),
        hex(4_000_000 + a as u64, 43)
    )
}

/// The user id of the `u`-th learner of a course.
pub(super) fn user_id(u: usize) -> String {
    uuid_like(5_000_000 + u as u64)
}

/// The grant scopes Canvas gives a tool with AGS.
fn canvas_scopes() -> Vec<String> {
    [
        "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
        "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
        "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Conditional "mark synced" writes per second at concurrency 32: what
/// the server sustains for the sync's commonest write.
pub(super) async fn store_capacity(
    table: &TestTable,
    store: &Store,
    grades: &[(ActivityIds, String)],
) -> f64 {
    write_grades(table, grades, true).await;
    let pending = store.pending_work(None).await.expect("pending work").grades;
    let started = Instant::now();
    let now = time::OffsetDateTime::now_utc();
    futures::stream::iter(&pending)
        .map(|g| store.mark_synced(g, now))
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    pending.len() as f64 / started.elapsed().as_secs_f64()
}

/// Score posts per second the simulator answers at `latency` with
/// `concurrency` requests in flight, from ltisync's own client and nothing
/// else (no DynamoDB): the most the sync could get from it here.
pub(super) async fn simulator_capacity(
    sim: &Simulator,
    latency: Duration,
    concurrency: usize,
    window: Duration,
) -> f64 {
    let (platform, context) = (platform_id(999), context_id(999));
    let key = service_key(999);
    sim.add_launch(LaunchSpec::new(&platform, &context, "capacity", Some(&key)));
    let line_item = sim.add_line_item(
        &platform,
        &context,
        SimLineItem {
            id: String::new(),
            label: "capacity".into(),
            score_maximum: 100.0,
            resource_link_id: Some("capacity".into()),
            resource_id: None,
            tag: None,
        },
    );
    sim.set_latency(latency);
    let client = engine_client(sim);
    let key = ServiceKey::new(key);
    let grade = ltisync::Grade::new(user_id(0), 7.0, 100.0).expect("grade");
    let score = grade.to_score(ltisync::grade::ScoreDialect::Standard);
    let until = Instant::now() + window;
    let started = Instant::now();
    let posted: usize = futures::stream::iter(0..concurrency)
        .map(|_| async {
            let mut n = 0;
            while Instant::now() < until {
                client
                    .post_score(&key, &line_item, &score)
                    .await
                    .expect("the simulator takes the score");
                n += 1;
            }
            n
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<usize>>()
        .await
        .iter()
        .sum();
    posted as f64 / started.elapsed().as_secs_f64()
}

/// The deadline margin of the bench's runs: posts stop this long before
/// the deadline, their writes are cut at half of it.
pub(super) const MARGIN: Duration = Duration::from_secs(2);

pub(super) fn tuning(concurrency: usize, per_platform: usize, rate: Option<u32>) -> SyncTuning {
    SyncTuning {
        concurrency,
        platform_concurrency: per_platform,
        rate_limit: rate,
        deadline_margin: MARGIN,
        ..SyncTuning::default()
    }
}

/// Activities spread over `platforms` LMSs (Canvas, five links a course),
/// launched with service keys the simulator knows.
pub(super) async fn set_up_activities(
    sim: &Simulator,
    store: &Store,
    count: usize,
    platforms: usize,
) -> Vec<ActivityIds> {
    let mut all = Vec::new();
    for a in 0..count {
        let ids = ActivityIds::new(
            platform_id(a % platforms),
            context_id(a),
            uuid_like(6_000_000 + a as u64),
        )
        .expect("ids");
        let key = service_key(a);
        sim.add_launch(LaunchSpec::new(
            &ids.platform_id,
            &ids.context_id,
            &ids.resource_link_id,
            Some(&key),
        ));
        store
            .record_launch(&launch_of(&ids, key, a), time::OffsetDateTime::now_utc())
            .await
            .expect("launch recorded");
        all.push(ids);
    }
    all
}

fn launch_of(ids: &ActivityIds, key: String, a: usize) -> LaunchCapture {
    LaunchCapture {
        ids: ids.clone(),
        service_key: Some(ServiceKey::new(key)),
        context_title: Some(format!(
            "BIO 101: Introduction to Biology, section {}",
            a / 5
        )),
        resource_link_title: Some(format!("Week {} quiz: cells and membranes", a % 5 + 1)),
        platform_name: Some("Canvas".into()),
        platform_url: Some("https://canvas.university.example.edu".into()),
        line_item_hint: None,
        // Throughput of posts alone: no roster read (one more request,
        // plus a page per 100 members or so, per activity per run).
        services: GrantedServices {
            product_family_code: Some("canvas".into()),
            names_and_roles: Some(false),
            ags_scopes: Some(canvas_scopes()),
        },
    }
}

/// `per_activity` learners of each activity.
pub(super) fn grades_of(ids: &[ActivityIds], per_activity: usize) -> Vec<(ActivityIds, String)> {
    ids.iter()
        .flat_map(|a| (0..per_activity).map(move |u| (a.clone(), user_id(u))))
        .collect()
}

/// The score `write_grades` writes now: a new one (50-99, always two
/// digits, so items keep their size) at every call. The sync settles a
/// value the LMS already holds without a call ("each value once"), so a
/// measurement that writes the same grades again must change them to
/// measure posts.
static SCORE_ROUND: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The score of the current round of writes.
pub(super) fn current_score() -> u64 {
    50 + SCORE_ROUND.load(std::sync::atomic::Ordering::Relaxed) % 50
}

/// Starts a new round of writes: every grade written from now on holds a
/// value different from the round before.
pub(super) fn next_score_round() {
    SCORE_ROUND.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// A grade item as a tool writes it (the schema of docs/writing-grades.md, with a comment and a
/// submission time), pending or as the sync leaves it once posted.
pub(super) fn grade_item(
    ids: &ActivityIds,
    user: &str,
    pending: bool,
) -> ltisync_tests::grades::Item {
    let text = |v: &str| AttributeValue::S(v.to_owned());
    let item = documented_grade(
        ids,
        user,
        &[
            ("scoreGiven", AttributeValue::N(current_score().to_string())),
            ("scoreMaximum", AttributeValue::N("100".into())),
            ("comment", text("Good work on part 2")),
            ("activityProgress", text("Completed")),
            ("gradingProgress", text("FullyGraded")),
            ("submittedAt", text("2026-11-27T22:05:00Z")),
        ],
    );
    if pending {
        return item;
    }
    let mut item = without(item, &["pending"]);
    item.insert("syncStatus".into(), text("SYNCED"));
    item.insert("syncedAt".into(), text("2026-11-28T09:30:02.123456789Z"));
    item
}

/// Writes grade items (BatchWriteItem, 25 at a time), pending or not, each
/// with a value new to the LMS (a new round of scores).
pub(super) async fn write_grades(
    table: &TestTable,
    grades: &[(ActivityIds, String)],
    pending: bool,
) {
    next_score_round();
    write_this_round(table, grades, pending).await;
}

/// Writes grade items with the current round's score (the same values as
/// the last `write_grades`).
pub(super) async fn write_this_round(
    table: &TestTable,
    grades: &[(ActivityIds, String)],
    pending: bool,
) {
    let requests: Vec<WriteRequest> = grades
        .iter()
        .map(|(ids, user)| {
            let put = PutRequest::builder()
                .set_item(Some(grade_item(ids, user, pending)))
                .build()
                .expect("put");
            WriteRequest::builder().put_request(put).build()
        })
        .collect();
    futures::stream::iter(requests.chunks(25))
        .map(|chunk| async move {
            let mut left = chunk.to_vec();
            while !left.is_empty() {
                let out = table
                    .client
                    .batch_write_item()
                    .request_items(&table.name, left)
                    .send()
                    .await
                    .expect("BatchWriteItem");
                left = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&table.name))
                    .unwrap_or_default();
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
}

fn engine_client(sim: &Simulator) -> LtiaasClient {
    let limits = Limits {
        connect: Duration::from_secs(5),
        request: Duration::from_secs(30),
    };
    ltiaas::client(sim, &sim.api_key(), limits)
}

pub(super) fn engine(sim: &Simulator, store: &Store, tuning: SyncTuning) -> SyncEngine {
    SyncEngine::new(engine_client(sim), store.clone(), tuning)
}

pub(super) async fn run_sync(
    sim: &Simulator,
    store: &Store,
    tuning: SyncTuning,
    budget: Duration,
) -> RunSummary {
    engine(sim, store, tuning)
        .run(SyncRequest {
            activity: None,
            dry_run: false,
            deadline: SystemTime::now() + budget,
        })
        .await
        .expect("sync run")
}

/// Writes the first grade of each activity (`grades` holds `per_activity`
/// of each) and syncs them, so that each activity's line item is created
/// once, outside the measurements.
pub(super) async fn resolve_line_items(
    sim: &Simulator,
    table: &TestTable,
    store: &Store,
    grades: &[(ActivityIds, String)],
    per_activity: usize,
    tuning: SyncTuning,
    budget: Duration,
) {
    let firsts: Vec<_> = grades.iter().step_by(per_activity).cloned().collect();
    write_grades(table, &firsts, true).await;
    run_sync(sim, store, tuning, budget).await;
}

/// Starts a function binary through a fresh Runtime API and waits for its
/// first poll for an event: the API, the process, and its init (process
/// start to that poll) in milliseconds.
pub(super) async fn start_function(
    binary: &Path,
    env: &[(String, String)],
) -> (RuntimeApi, FunctionProcess, f64) {
    let api = RuntimeApi::start().await;
    let process = FunctionProcess::spawn(binary, &api, env);
    while api.first_poll().is_none() {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let first_poll = api.first_poll().expect("polled");
    let init_ms = first_poll.duration_since(process.started).as_secs_f64() * 1000.0;
    (api, process, init_ms)
}

/// A function's environment against `sim` and `table`, logging JSON.
pub(super) fn function_env(sim: &Simulator, table: &TestTable) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = ltisync_tests::dynamo::aws_env(&table.endpoint);
    env.extend(
        [
            ("LTIAAS_URL", sim.url()),
            ("LTIAAS_API_KEY", sim.api_key()),
            ("TABLE_NAME", table.name.clone()),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON".into()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    env
}

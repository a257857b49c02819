//! Setting up a measurement: activities launched, grades written in the
//! documented schema, an engine over the simulator, one timed run.

use super::*;
use ltisync_tests::grades::{documented_grade, without};

/// Conditional "mark synced" writes per second at concurrency 32.
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

pub(super) fn tuning(concurrency: usize, per_platform: usize, rate: Option<u32>) -> SyncTuning {
    SyncTuning {
        concurrency,
        platform_concurrency: per_platform,
        rate_limit: rate,
        deadline_margin: Duration::ZERO,
        ..SyncTuning::default()
    }
}

/// Activities spread over `platforms` LMSs, launched with service keys the
/// simulator knows.
pub(super) async fn set_up_activities(
    sim: &Simulator,
    store: &Store,
    count: usize,
    platforms: usize,
) -> Vec<ActivityIds> {
    let mut all = Vec::new();
    for a in 0..count {
        let platform = format!("platform-{}", a % platforms);
        let ids = ActivityIds::new(&platform, "course-1", format!("activity-{a:04}")).expect("ids");
        let key = format!("service-key-{}-{a}", uuid::Uuid::new_v4().simple());
        sim.add_launch(LaunchSpec::new(
            &ids.platform_id,
            &ids.context_id,
            &ids.resource_link_id,
            Some(&key),
        ));
        let capture = LaunchCapture {
            ids: ids.clone(),
            service_key: Some(ServiceKey::new(key)),
            context_title: Some("Course".into()),
            resource_link_title: Some(format!("Activity {a}")),
            platform_name: None,
            platform_url: None,
            line_item_hint: None,
            // Throughput of posts alone: no roster read (one more request,
            // plus a page per 100 members or so, per activity per run).
            services: GrantedServices {
                names_and_roles: Some(false),
                ..GrantedServices::default()
            },
        };
        store
            .record_launch(&capture, time::OffsetDateTime::now_utc())
            .await
            .expect("launch recorded");
        all.push(ids);
    }
    all
}

/// Writes grade items in the documented schema, pending or not.
pub(super) async fn write_grades(
    table: &TestTable,
    grades: &[(ActivityIds, String)],
    pending: bool,
) {
    let requests: Vec<WriteRequest> = grades
        .iter()
        .map(|(ids, user)| {
            let item =
                documented_grade(ids, user, &[("scoreGiven", AttributeValue::N("7".into()))]);
            let item = if pending {
                item
            } else {
                without(item, &["pending"])
            };
            let put = PutRequest::builder()
                .set_item(Some(item))
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

pub(super) fn engine(sim: &Simulator, store: &Store, tuning: SyncTuning) -> SyncEngine {
    let settings = LtiaasSettings {
        base_url: sim.url().parse().expect("url"),
        api_key: ApiKeySource::Plain(ApiKey::new(sim.api_key())),
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(30),
    };
    let client = LtiaasClient::new(&settings, ApiKey::new(sim.api_key())).expect("client");
    SyncEngine::new(client, store.clone(), tuning)
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

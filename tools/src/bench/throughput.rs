//! Sections 1 and 2: sync throughput against concurrency and latency, and
//! what a run reads to find its work.

use super::*;

/// Score posts seen by the simulator during one run.
pub(super) struct Posts {
    pub(super) times_ms: Vec<u64>,
}

impl Posts {
    /// Posts per second between the first and the last.
    pub(super) fn rate(&self) -> f64 {
        match (self.times_ms.first(), self.times_ms.last()) {
            (Some(first), Some(last)) if last > first => {
                (self.times_ms.len() - 1) as f64 * 1000.0 / (last - first) as f64
            }
            _ => 0.0,
        }
    }

    /// The most posts that arrived within any one second.
    pub(super) fn max_per_second(&self) -> usize {
        let t = &self.times_ms;
        (0..t.len())
            .map(|i| t[i..].iter().take_while(|x| **x < t[i] + 1000).count())
            .max()
            .unwrap_or(0)
    }
}

/// One run cut after about `window` of posting; the posting rate the
/// simulator saw. Discovery (reading the pending index) is not posting
/// time: a dry run of the same work first tells how long it takes, and the
/// deadline leaves `window` after it.
pub(super) async fn measure(
    sim: &Simulator,
    store: &Store,
    tuning: SyncTuning,
    window: Duration,
) -> (RunSummary, Posts) {
    let engine = engine(sim, store, tuning);
    let dry = Instant::now();
    engine
        .run(SyncRequest {
            activity: None,
            dry_run: true,
            deadline: SystemTime::now() + Duration::from_secs(600),
        })
        .await
        .expect("dry run");
    let discovery = dry.elapsed();
    let before = sim.arrivals().len();
    let summary = engine
        .run(SyncRequest {
            activity: None,
            dry_run: false,
            deadline: SystemTime::now() + discovery + window,
        })
        .await
        .expect("sync run");
    let times_ms = sim.arrivals()[before..]
        .iter()
        .filter(|a| a.route == Route::PostScore)
        .map(|a| a.at_ms)
        .collect();
    (summary, Posts { times_ms })
}

pub(super) async fn read_efficiency_on(
    table: &TestTable,
    store: &Store,
    grades: &[(ActivityIds, String)],
    percents: &[usize],
) -> Vec<(usize, u64, u64)> {
    let total_items = table.full_scan_count().await;
    let mut rows = Vec::new();
    let mut pending_so_far = 0;
    // Spread the pending grades evenly over activities (every n-th grade).
    for &percent in percents {
        let wanted = grades.len() * percent / 100;
        let step = (100 / percent).max(1);
        let chosen: Vec<(ActivityIds, String)> = grades
            .iter()
            .enumerate()
            .filter(|(i, _)| i % step == 0)
            .map(|(_, g)| g.clone())
            .take(wanted)
            .collect();
        if chosen.len() > pending_so_far {
            write_grades(table, &chosen, true).await;
            pending_so_far = chosen.len();
        }
        let summary = SyncEngine::new(
            LtiaasClient::new(
                &LtiaasSettings {
                    base_url: "http://127.0.0.1:9".parse().expect("url"),
                    api_key: ApiKeySource::Plain(ApiKey::new("unused")),
                    connect_timeout: Duration::from_secs(1),
                    request_timeout: Duration::from_secs(1),
                },
                ApiKey::new("unused"),
            )
            .expect("client"),
            store.clone(),
            SyncTuning::default(),
        )
        .run(SyncRequest {
            activity: None,
            dry_run: true,
            deadline: SystemTime::now() + Duration::from_secs(900),
        })
        .await
        .expect("dry run");
        assert_eq!(
            summary.grades_found as usize, pending_so_far,
            "the index holds the pending grades"
        );
        rows.push((percent, summary.items_read, total_items));
    }
    rows
}

pub(super) fn write_throughput(
    md: &mut String,
    plan: &Plan,
    points: &[ThroughputPoint],
    defaults: &[(u64, &str, f64)],
    capacity: f64,
    limited_latency: u64,
    limited: &Posts,
) {
    let _ = writeln!(md, "## 1. Sync throughput\n");
    let _ = writeln!(
        md,
        "{} activities × {} pending grades over {} platforms. Each point posts for {:.1} s of its own \
         run (the run is cut by its deadline, as a Lambda run would be); the rate is score posts per \
         second as the simulator received them, and the ceiling is concurrency ÷ latency. For the \
         concurrency sweep the per-platform limit is lifted to the overall one.\n",
        plan.activities,
        plan.grades_per_activity,
        plan.platforms,
        plan.window.as_secs_f64()
    );
    let _ = writeln!(
        md,
        "Every posted grade also costs one conditional `UpdateItem` (marking it synced unless the tool \
         changed it). Measured alone at concurrency 32, the DynamoDB stand-in sustains **{capacity:.0} \
         such writes/s** on this machine: moto is one Python process. Where concurrency ÷ latency is \
         above that, moto is the limit, not LTIaaS and not ltisync; the last column compares the rate \
         with the lower of the two limits. The tables of sections 1 and 2 have no stream: moto \
         appends a stream record to every write, which lowers its write rate noticeably, while \
         DynamoDB's writes do not slow down with a stream (section 6 runs with one). Each run also \
         claims and releases each activity (2 writes per activity).\n"
    );
    let _ = writeln!(
        md,
        "![grades per second against concurrency](bench/throughput.svg)\n"
    );
    let _ = writeln!(
        md,
        "| latency | concurrency | grades/s | ceiling | % of ceiling | posted | % of min(ceiling, moto) |\n|---:|---:|---:|---:|---:|---:|---:|"
    );
    for p in points {
        let _ = writeln!(
            md,
            "| {} ms | {} | {:.1} | {:.0} | {:.0}% | {} | {:.0}% |",
            p.latency_ms,
            p.concurrency,
            p.rate,
            p.ceiling,
            100.0 * p.rate / p.ceiling,
            p.posted,
            100.0 * p.rate / p.ceiling.min(capacity)
        );
    }
    let _ = writeln!(
        md,
        "\n| latency | settings | grades/s | × one at a time |\n|---:|---|---:|---:|"
    );
    for (latency, label, rate) in defaults {
        let single = defaults
            .iter()
            .find(|(l, lab, _)| l == latency && lab.starts_with("concurrency 1"))
            .map(|(_, _, r)| *r)
            .unwrap_or(0.0);
        let times = if single > 0.0 { rate / single } else { 0.0 };
        let _ = writeln!(md, "| {latency} ms | {label} | {rate:.1} | {times:.1}× |");
    }
    let _ = writeln!(
        md,
        "\nWith `SYNC_RATE_LIMIT={}` at {limited_latency} ms and concurrency 32: {:.1} posts/s on \
         average, at most {} in any one second (the limit is never exceeded: requests are spaced \
         evenly, a burst of one).\n",
        plan.rate_limit,
        limited.rate(),
        limited.max_per_second()
    );
}

pub(super) fn write_reads(
    md: &mut String,
    plan: &Plan,
    small: &[(usize, u64, u64)],
    big: &[(usize, u64, u64)],
) {
    let _ = writeln!(md, "## 2. Read efficiency\n");
    let _ = writeln!(
        md,
        "Items DynamoDB reads to find the work, next to a full table scan: the `ScannedCount` of the \
         sparse `pending` index (keys only, about 100 bytes an entry), one consistent read of each \
         pending grade from the table, and one read per activity with pending grades. Pending grades \
         are spread evenly over the activities, the worst case for activity reads; at 1% pending that \
         is 3 × 1% of the grades, so always just under 3% of the table. Above about a third of the \
         table pending, a run reads more items than a full scan would, but most of them are small index \
         entries, and a run that syncs that much also writes every grade.\n"
    );
    let _ = writeln!(
        md,
        "| table | pending | items read per run | full scan | share |\n|---|---:|---:|---:|---:|"
    );
    for (label, rows) in [
        (
            format!("{} × {} grades", plan.activities, plan.grades_per_activity),
            small,
        ),
        (
            format!(
                "{} × {} grades",
                plan.read_activities, plan.read_grades_per_activity
            ),
            big,
        ),
    ] {
        for (percent, read, total) in rows {
            let _ = writeln!(
                md,
                "| {label} | {percent}% | {read} | {total} | {:.2}% |",
                100.0 * *read as f64 / (*total).max(1) as f64
            );
        }
    }
    let _ = writeln!(md);
}

//! `make bench`: how fast, how cheap and how far ltisync's sync scales, and
//! what the launch function costs, measured against moto and the LTIaaS
//! simulator on loopback. Writes `BENCHMARKS.md` and `bench/throughput.svg`.
//!
//! Usage: `bench [--tiny] [--out DIR]` (`--tiny` runs every section at a
//! toy size, which `make test` does so the harness cannot rot).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use futures::StreamExt;
use ltisync::activity::{GrantedServices, LaunchCapture};
use ltisync::config::{ApiKeySource, LtiaasSettings, SyncTuning};
use ltisync::ltiaas::LtiaasClient;
use ltisync::sync::{RunSummary, SyncEngine, SyncRequest};
use ltisync::{ActivityIds, ApiKey, ServiceKey, Store};
use ltisync_tests::dynamo::TestTable;
use ltisync_tests::rigs::{event, SyncRig, SAMPLE_LTIK};
use ltisync_tests::runtime_api::{binary, FunctionProcess, RuntimeApi};
use ltisync_tests::simulator::{LaunchSpec, Route, Simulator};
use ltisync_tests::stream::{EventSourceMapping, MappingSettings};

mod launch;
mod report;
mod setup;
mod stream;
mod throughput;

use launch::*;
use report::*;
use setup::*;
use stream::*;
use throughput::*;

/// How big each section is.
struct Plan {
    activities: usize,
    grades_per_activity: usize,
    platforms: usize,
    latencies_ms: Vec<u64>,
    concurrencies: Vec<usize>,
    /// Posting time per throughput point (the run is cut by its deadline).
    window: Duration,
    rate_limit: u32,
    read_activities: usize,
    read_grades_per_activity: usize,
    launch_starts: usize,
    launch_invocations: usize,
    /// Grades written one at a time to time the stream path.
    stream_latency_grades: usize,
    /// Grades written at once (over `platforms`) for the stream burst.
    stream_burst_grades: usize,
}

impl Plan {
    fn full() -> Self {
        Self {
            activities: 100,
            grades_per_activity: 100,
            platforms: 10,
            latencies_ms: vec![20, 100],
            concurrencies: vec![1, 4, 16, 32, 64],
            window: Duration::from_secs(8),
            rate_limit: 100,
            read_activities: 1000,
            read_grades_per_activity: 100,
            launch_starts: 20,
            launch_invocations: 300,
            stream_latency_grades: 200,
            stream_burst_grades: 10_000,
        }
    }

    fn tiny() -> Self {
        Self {
            activities: 4,
            grades_per_activity: 5,
            platforms: 2,
            latencies_ms: vec![5],
            concurrencies: vec![1, 4],
            window: Duration::from_millis(500),
            rate_limit: 20,
            read_activities: 10,
            read_grades_per_activity: 20,
            launch_starts: 2,
            launch_invocations: 5,
            stream_latency_grades: 5,
            stream_burst_grades: 40,
        }
    }
}

#[derive(Debug, Clone)]
struct ThroughputPoint {
    latency_ms: u64,
    concurrency: usize,
    posted: usize,
    rate: f64,
    ceiling: f64,
}

fn main() {
    let mut tiny = false;
    let mut out = ltisync_tests::repo_root();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tiny" => tiny = true,
            "--out" => out = PathBuf::from(args.next().expect("--out takes a directory")),
            _ => {
                eprintln!("usage: bench [--tiny] [--out DIR]");
                std::process::exit(2);
            }
        }
    }
    let plan = if tiny { Plan::tiny() } else { Plan::full() };
    // The simulator gets a runtime of its own, as a remote LTIaaS would.
    let sim_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("simulator runtime");
    let sim = Arc::new(sim_runtime.block_on(Simulator::start()).expect("simulator"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let report = runtime.block_on(run_all(&plan, sim.clone(), tiny));
    std::fs::create_dir_all(out.join("bench")).expect("output directory");
    std::fs::write(out.join("bench/throughput.svg"), report.svg).expect("chart written");
    std::fs::write(out.join("BENCHMARKS.md"), report.markdown).expect("report written");
    println!("wrote {}", out.join("BENCHMARKS.md").display());
    drop(sim);
    drop(sim_runtime);
}

struct Report {
    markdown: String,
    svg: String,
}

async fn run_all(plan: &Plan, sim: Arc<Simulator>, tiny: bool) -> Report {
    let started = Instant::now();
    let mut md = String::new();
    header(&mut md, tiny).await;

    eprintln!("[1/6] sync throughput");
    let table = TestTable::create_without_stream().await;
    let store = table.store();
    let ids = set_up_activities(&sim, &store, plan.activities, plan.platforms).await;
    let grades: Vec<(ActivityIds, String)> = ids
        .iter()
        .flat_map(|a| {
            (0..plan.grades_per_activity).map(move |u| (a.clone(), format!("user-{u:03}")))
        })
        .collect();
    // Line items are resolved (created) once, outside the measurements.
    write_grades(
        &table,
        &grades
            .iter()
            .step_by(plan.grades_per_activity)
            .cloned()
            .collect::<Vec<_>>(),
        true,
    )
    .await;
    run_sync(&sim, &store, tuning(64, 64, None), Duration::from_secs(120)).await;

    // What the DynamoDB stand-in itself sustains: the sync's one
    // conditional write per grade, with no LTIaaS call in between.
    let capacity = store_capacity(&table, &store, &grades[..grades.len().min(3000)]).await;
    eprintln!("  DynamoDB stand-in: {capacity:.0} conditional writes/s");

    let mut points = Vec::new();
    for &latency in &plan.latencies_ms {
        sim.set_latency(Duration::from_millis(latency));
        for &concurrency in &plan.concurrencies {
            write_grades(&table, &grades, true).await;
            let tuning = tuning(concurrency, concurrency, None);
            let (summary, posts) = measure(&sim, &store, tuning, plan.window).await;
            let point = ThroughputPoint {
                latency_ms: latency,
                concurrency,
                posted: summary.grades_posted as usize,
                rate: posts.rate(),
                ceiling: concurrency as f64 * 1000.0 / latency as f64,
            };
            eprintln!(
                "  latency {latency} ms, concurrency {concurrency}: {:.1} grades/s",
                point.rate
            );
            points.push(point);
        }
    }
    // Default settings (32 overall, 8 per platform) and one at a time.
    let mut defaults = Vec::new();
    for &latency in &plan.latencies_ms {
        sim.set_latency(Duration::from_millis(latency));
        for (label, tuning) in [
            (
                "default (32 overall, 8 per platform)",
                SyncTuning {
                    deadline_margin: Duration::ZERO,
                    ..SyncTuning::default()
                },
            ),
            ("concurrency 1", tuning(1, 1, None)),
        ] {
            write_grades(&table, &grades, true).await;
            let (_, posts) = measure(&sim, &store, tuning.clone(), plan.window).await;
            defaults.push((latency, label, posts.rate()));
        }
    }
    // A request-rate limit, at the lowest latency.
    let latency = plan.latencies_ms[0];
    sim.set_latency(Duration::from_millis(latency));
    write_grades(&table, &grades, true).await;
    let limited = tuning(32, 32, Some(plan.rate_limit));
    let (_, limited_posts) = measure(&sim, &store, limited, plan.window).await;

    write_throughput(
        &mut md,
        plan,
        &points,
        &defaults,
        capacity,
        latency,
        &limited_posts,
    );

    eprintln!("[2/6] read efficiency");
    sim.set_latency(Duration::ZERO);
    // Runs cut by their deadline left grades pending: start from none.
    write_grades(&table, &grades, false).await;
    let small = read_efficiency_on(&table, &store, &grades, &[1]).await;
    let big_table = TestTable::create_without_stream().await;
    let big_store = big_table.store();
    let big_ids = set_up_activities(&sim, &big_store, plan.read_activities, plan.platforms).await;
    let big_grades: Vec<(ActivityIds, String)> = big_ids
        .iter()
        .flat_map(|a| {
            (0..plan.read_grades_per_activity).map(move |u| (a.clone(), format!("user-{u:03}")))
        })
        .collect();
    write_grades(&big_table, &big_grades, false).await;
    let big = read_efficiency_on(&big_table, &big_store, &big_grades, &[1, 10, 100]).await;
    write_reads(&mut md, plan, &small, &big);

    eprintln!("[3/6] launch");
    let launch = measure_launch(&sim, &table, plan).await;
    write_launch(&mut md, &launch);

    eprintln!("[4/6] sizes");
    write_sizes(&mut md);

    eprintln!("[5/6] scale");
    write_scale(&mut md, &defaults);

    eprintln!("[6/6] stream path");
    let stream = measure_stream(plan).await;
    write_stream(&mut md, plan, &stream);

    let _ = writeln!(
        md,
        "\n_Generated by `make bench` in {:.0} s._",
        started.elapsed().as_secs_f64()
    );
    Report {
        svg: chart(&points, capacity),
        markdown: md,
    }
}

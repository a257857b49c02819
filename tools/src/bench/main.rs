//! `make bench`: how fast, how cheap and how far ltisync's sync scales, and
//! what the functions cost to start, measured on loopback against two
//! DynamoDB-API servers (Dynoxide, fast enough not to be the limit, and
//! moto, for comparison) and the LTIaaS simulator. Writes `BENCHMARKS.md`
//! and the charts in `bench/`.
//!
//! Usage: `bench [--tiny] [--out DIR]`, or `bench --compare-launch OLD NEW`
//! (section 6 for two launch binaries, printed), `bench --reconcile-only`
//! (section 10 alone, printed), `bench --status-only` (section 11 alone,
//! printed) or `bench --e2e-only` (section 12 alone, printed). The DynamoDB servers come from the
//! environment `make bench` sets up: `LTISYNC_TEST_DYNAMODB` (Dynoxide)
//! and `LTISYNC_TEST_AWS` (moto); with only the first set, both roles fall
//! to one server. `--tiny` runs every section at a toy size, which
//! `make test` does (on moto alone) so the harness cannot rot.

mod charts;
mod cold_start;
mod cost;
mod end_to_end;
mod launch;
mod once;
mod plan;
mod reconcile;
mod report;
mod servers;
mod setup;
mod stats;
mod status;
mod stream;
mod throughput;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use ltisync_tests::simulator::Simulator;

use charts::{latency_histogram, throughput_chart};
use cold_start::{measure_cold_starts, write_cold_starts};
use cost::{measure_cost, write_cost};
use end_to_end::{measure_end_to_end, write_end_to_end};
use launch::{compare_launch, measure_launch, write_launch};
use once::{measure_once, write_once};
use plan::Plan;
use reconcile::{measure_reconcile, write_reconcile};
use report::{header, write_scale, write_sizes};
use servers::Servers;
use status::{measure_status, write_status};
use stream::{measure_stream, write_stream};
use throughput::{measure_capacities, measure_throughput, write_capacities, write_throughput};

fn main() {
    let mut tiny = false;
    let mut compare = None;
    let mut reconcile_only = false;
    let mut status_only = false;
    let mut e2e_only = false;
    let mut out = ltisync_tests::repo_root();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tiny" => tiny = true,
            "--out" => out = PathBuf::from(args.next().expect("--out takes a directory")),
            "--compare-launch" => {
                let mut path = || PathBuf::from(args.next().expect("--compare-launch OLD NEW"));
                compare = Some([path(), path()]);
            }
            "--reconcile-only" => reconcile_only = true,
            "--status-only" => status_only = true,
            "--e2e-only" => e2e_only = true,
            _ => {
                eprintln!("usage: bench [--tiny] [--out DIR] | bench --compare-launch OLD NEW | bench --reconcile-only | bench --status-only | bench --e2e-only");
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
    if let Some(binaries) = compare {
        print!(
            "{}",
            runtime.block_on(compare_launch(&sim, &plan, binaries))
        );
        return;
    }
    if reconcile_only {
        print!("{}", runtime.block_on(reconcile_section(&plan, &sim)));
        return;
    }
    if status_only {
        print!("{}", runtime.block_on(status_section(&plan, &sim)));
        return;
    }
    if e2e_only {
        print!("{}", runtime.block_on(end_to_end_section(&plan, &sim)));
        return;
    }
    let report = runtime.block_on(run_all(&plan, sim.clone(), tiny));
    std::fs::create_dir_all(out.join("bench")).expect("output directory");
    for (name, svg) in &report.charts {
        std::fs::write(out.join("bench").join(name), svg).expect("chart written");
    }
    std::fs::write(out.join("BENCHMARKS.md"), &report.markdown).expect("report written");
    println!("wrote {}", out.join("BENCHMARKS.md").display());
    drop(sim);
    drop(sim_runtime);
}

/// Section 10 alone, as markdown (`--reconcile-only`).
async fn reconcile_section(plan: &Plan, sim: &Simulator) -> String {
    let servers = Servers::from_environment().await;
    let figures = measure_reconcile(plan, sim, &servers.fast).await;
    let mut md = String::new();
    write_reconcile(&mut md, &servers.fast, &figures);
    md
}

/// Section 11 alone, as markdown (`--status-only`).
async fn status_section(plan: &Plan, sim: &Simulator) -> String {
    let servers = Servers::from_environment().await;
    let figures = measure_status(plan, sim, &servers.fast).await;
    let mut md = String::new();
    write_status(&mut md, &servers.fast, &figures);
    md
}

/// Section 12 alone, as markdown (`--e2e-only`).
async fn end_to_end_section(plan: &Plan, sim: &Simulator) -> String {
    let servers = Servers::from_environment().await;
    let rows = measure_end_to_end(plan, sim, &servers.fast).await;
    let mut md = String::new();
    write_end_to_end(&mut md, plan, &servers.fast, &rows);
    md
}

struct Report {
    markdown: String,
    /// File name in `bench/`, and the SVG.
    charts: Vec<(&'static str, String)>,
}

async fn run_all(plan: &Plan, sim: Arc<Simulator>, tiny: bool) -> Report {
    let started = Instant::now();
    let servers = Servers::from_environment().await;
    let mut md = String::new();
    header(&mut md, tiny, &servers).await;

    eprintln!("[1/12] capacities of the stand-ins");
    let capacities = measure_capacities(plan, &sim, &servers).await;
    write_capacities(&mut md, plan, &servers, &capacities);

    eprintln!("[2/12] sync throughput");
    let throughput = measure_throughput(plan, &sim, &servers).await;
    write_throughput(&mut md, plan, &servers, &capacities, &throughput);

    eprintln!("[3/12] read cost in billed units");
    let cost = measure_cost(plan, &sim, &servers.fast).await;
    write_cost(&mut md, plan, &cost);

    eprintln!("[4/12] stream path");
    let stream = measure_stream(plan, &servers.fast).await;
    write_stream(&mut md, plan, &servers.fast, &stream);

    eprintln!("[5/12] cold starts");
    let cold = measure_cold_starts(plan, &sim, &servers.fast).await;
    write_cold_starts(&mut md, &cold);

    eprintln!("[6/12] launch function");
    let launch = measure_launch(&sim, &servers.fast, plan).await;
    write_launch(&mut md, &launch);

    eprintln!("[7/12] sizes");
    write_sizes(&mut md);

    eprintln!("[8/12] scale");
    write_scale(&mut md, &throughput);

    eprintln!("[9/12] each value once");
    let once = measure_once(plan, &sim, &servers.fast).await;
    write_once(&mut md, &servers.fast, &once);

    eprintln!("[10/12] reconciling the gradebook");
    let reconciled = measure_reconcile(plan, &sim, &servers.fast).await;
    write_reconcile(&mut md, &servers.fast, &reconciled);

    eprintln!("[11/12] the status page");
    let status = measure_status(plan, &sim, &servers.fast).await;
    write_status(&mut md, &servers.fast, &status);

    eprintln!("[12/12] from invocation to last outcome");
    let end_to_end = measure_end_to_end(plan, &sim, &servers.fast).await;
    write_end_to_end(&mut md, plan, &servers.fast, &end_to_end);

    let _ = writeln!(
        md,
        "\n_Generated by `make bench` in {:.0} s._",
        started.elapsed().as_secs_f64()
    );
    Report {
        charts: vec![
            (
                "throughput.svg",
                throughput_chart(&servers, &capacities, &throughput),
            ),
            (
                "stream-latency.svg",
                latency_histogram(&stream.latencies_ms),
            ),
        ],
        markdown: md,
    }
}

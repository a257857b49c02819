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
use std::path::{Path, PathBuf};
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
use servers::{Server, Servers};
use status::{measure_status, write_status};
use stream::{measure_stream, write_stream, StreamFigures};
use throughput::{
    measure_capacities, measure_throughput, write_capacities, write_throughput, Capacities,
    ThroughputFigures,
};

/// What the command line asks for.
struct Options {
    tiny: bool,
    out: PathBuf,
    compare: Option<[PathBuf; 2]>,
    reconcile_only: bool,
    status_only: bool,
    e2e_only: bool,
}

impl Options {
    /// Reads the arguments; exits with the usage on one it does not know.
    fn from_args() -> Self {
        let mut options = Self {
            tiny: false,
            out: ltisync_tests::repo_root(),
            compare: None,
            reconcile_only: false,
            status_only: false,
            e2e_only: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--tiny" => options.tiny = true,
                "--out" => {
                    options.out = PathBuf::from(args.next().expect("--out takes a directory"))
                }
                "--compare-launch" => {
                    let mut path = || PathBuf::from(args.next().expect("--compare-launch OLD NEW"));
                    options.compare = Some([path(), path()]);
                }
                "--reconcile-only" => options.reconcile_only = true,
                "--status-only" => options.status_only = true,
                "--e2e-only" => options.e2e_only = true,
                _ => {
                    eprintln!("usage: bench [--tiny] [--out DIR] | bench --compare-launch OLD NEW | bench --reconcile-only | bench --status-only | bench --e2e-only");
                    std::process::exit(2);
                }
            }
        }
        options
    }
}

fn main() {
    let options = Options::from_args();
    let plan = if options.tiny {
        Plan::tiny()
    } else {
        Plan::full()
    };
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
    if let Some(section) = runtime.block_on(one_section(&options, &plan, &sim)) {
        print!("{section}");
        return;
    }
    let report = runtime.block_on(run_all(&plan, sim.clone(), options.tiny));
    report.write_to(&options.out);
    drop(sim);
    drop(sim_runtime);
}

/// The section the options ask for alone, as markdown: `--compare-launch`,
/// else `--reconcile-only`, else `--status-only`, else `--e2e-only`;
/// `None` for the whole report.
async fn one_section(options: &Options, plan: &Plan, sim: &Simulator) -> Option<String> {
    if let Some(binaries) = &options.compare {
        return Some(compare_launch(sim, plan, binaries.clone()).await);
    }
    if options.reconcile_only {
        return Some(reconcile_section(plan, sim).await);
    }
    if options.status_only {
        return Some(status_section(plan, sim).await);
    }
    if options.e2e_only {
        return Some(end_to_end_section(plan, sim).await);
    }
    None
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

impl Report {
    /// Writes `BENCHMARKS.md` in `out`, and the charts in its `bench/`.
    fn write_to(&self, out: &Path) {
        std::fs::create_dir_all(out.join("bench")).expect("output directory");
        for (name, svg) in &self.charts {
            std::fs::write(out.join("bench").join(name), svg).expect("chart written");
        }
        std::fs::write(out.join("BENCHMARKS.md"), &self.markdown).expect("report written");
        println!("wrote {}", out.join("BENCHMARKS.md").display());
    }
}

async fn run_all(plan: &Plan, sim: Arc<Simulator>, tiny: bool) -> Report {
    let started = Instant::now();
    let servers = Servers::from_environment().await;
    let mut md = String::new();
    header(&mut md, tiny, &servers).await;
    let (capacities, throughput, stream) = sync_sections(&mut md, plan, &sim, &servers).await;
    function_sections(&mut md, plan, &sim, &servers.fast, &throughput).await;
    feature_sections(&mut md, plan, &sim, &servers.fast).await;
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

/// Sections 1 to 4: what the stand-ins sustain, the sync's throughput, its
/// read cost, and the stream path. Their figures, for the charts and the
/// scale.
async fn sync_sections(
    md: &mut String,
    plan: &Plan,
    sim: &Simulator,
    servers: &Servers,
) -> (Capacities, ThroughputFigures, StreamFigures) {
    eprintln!("[1/12] capacities of the stand-ins");
    let capacities = measure_capacities(plan, sim, servers).await;
    write_capacities(md, plan, servers, &capacities);

    eprintln!("[2/12] sync throughput");
    let throughput = measure_throughput(plan, sim, servers).await;
    write_throughput(md, plan, servers, &capacities, &throughput);

    eprintln!("[3/12] read cost in billed units");
    let cost = measure_cost(plan, sim, &servers.fast).await;
    write_cost(md, plan, &cost);

    eprintln!("[4/12] stream path");
    let stream = measure_stream(plan, &servers.fast).await;
    write_stream(md, plan, &servers.fast, &stream);
    (capacities, throughput, stream)
}

/// Sections 5 to 8: the functions' cold starts, the launch function, their
/// sizes, and the scale `throughput`'s rates reach.
async fn function_sections(
    md: &mut String,
    plan: &Plan,
    sim: &Simulator,
    server: &Server,
    throughput: &ThroughputFigures,
) {
    eprintln!("[5/12] cold starts");
    let cold = measure_cold_starts(plan, sim, server).await;
    write_cold_starts(md, &cold);

    eprintln!("[6/12] launch function");
    let launch = measure_launch(sim, server, plan).await;
    write_launch(md, &launch);

    eprintln!("[7/12] sizes");
    write_sizes(md);

    eprintln!("[8/12] scale");
    write_scale(md, throughput);
}

/// Sections 9 to 12: each value once, reconciling the gradebook, the
/// status page, and from invocation to last outcome.
async fn feature_sections(md: &mut String, plan: &Plan, sim: &Simulator, server: &Server) {
    eprintln!("[9/12] each value once");
    let once = measure_once(plan, sim, server).await;
    write_once(md, server, &once);

    eprintln!("[10/12] reconciling the gradebook");
    let reconciled = measure_reconcile(plan, sim, server).await;
    write_reconcile(md, server, &reconciled);

    eprintln!("[11/12] the status page");
    let status = measure_status(plan, sim, server).await;
    write_status(md, server, &status);

    eprintln!("[12/12] from invocation to last outcome");
    let end_to_end = measure_end_to_end(plan, sim, server).await;
    write_end_to_end(md, plan, server, &end_to_end);
}

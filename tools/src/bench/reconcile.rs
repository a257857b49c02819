//! Section 10: `ltisync reconcile` over a table where every grade was
//! posted: the real binary, its LTIaaS requests and DynamoDB read units
//! (priced by the proxy), and its run time with LTIaaS answering in 100 ms.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use ltisync_tests::aws_proxy::RecordingProxy;
use ltisync_tests::dynamo::aws_env;
use ltisync_tests::runtime_api::binary;
use ltisync_tests::simulator::Simulator;

use crate::plan::Plan;
use crate::servers::Server;
use crate::setup::{grades_of, run_sync, set_up_activities, tuning, write_grades};
use crate::stats::requests_by_route;

/// Results per page, as the LMS lists them (the simulator's default).
const PAGE_SIZE: usize = 10;

pub(super) struct ReconcileFigures {
    pub(super) activities: usize,
    pub(super) grades: usize,
    pub(super) latency_ms: u64,
    pub(super) seconds: f64,
    pub(super) exit_code: Option<i32>,
    pub(super) requests: BTreeMap<String, usize>,
    pub(super) read_units: BTreeMap<String, f64>,
    pub(super) matches: u64,
}

/// Posts every grade, then times one `ltisync reconcile --json`.
pub(super) async fn measure_reconcile(
    plan: &Plan,
    sim: &Simulator,
    server: &Server,
) -> ReconcileFigures {
    let (a, g) = (
        plan.reconcile_activities,
        plan.reconcile_grades_per_activity,
    );
    sim.set_latency(Duration::ZERO);
    sim.set_page_size(PAGE_SIZE);
    let table = server.table(false).await;
    let store = table.store();
    let ids = set_up_activities(sim, &store, a, plan.platforms).await;
    write_grades(&table, &grades_of(&ids, g), true).await;
    run_sync(sim, &store, tuning(64, 16, None), Duration::from_secs(1800)).await;
    let latency_ms = 100;
    sim.set_latency(Duration::from_millis(latency_ms));
    let proxy = RecordingProxy::start(&table.endpoint).await;
    let before = sim.requests().len();
    let mut command = std::process::Command::new(binary("ltisync"));
    command
        .args(["reconcile", "--json"])
        .env_clear()
        .envs(aws_env(&proxy.url()))
        .env("TABLE_NAME", &table.name)
        .env("LTIAAS_URL", sim.url())
        .env("LTIAAS_API_KEY", sim.api_key());
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("joined")
        .expect("ltisync runs");
    let seconds = started.elapsed().as_secs_f64();
    sim.set_latency(Duration::ZERO);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let requests = requests_by_route(sim, before);
    eprintln!("  {a} activities x {g} grades reconciled in {seconds:.1} s");
    ReconcileFigures {
        activities: a,
        grades: a * g,
        latency_ms,
        seconds,
        exit_code: out.status.code(),
        requests,
        read_units: proxy.take_read_units(),
        matches: report["totals"]["matches"].as_u64().unwrap_or(0),
    }
}

pub(super) fn write_reconcile(md: &mut String, server: &Server, f: &ReconcileFigures) {
    let _ = writeln!(md, "## 10. Reconciling the gradebook\n");
    let requests: usize = f.requests.values().sum();
    let units: f64 = f.read_units.values().sum();
    let by = |map: String| {
        if map.is_empty() {
            "none".to_owned()
        } else {
            map
        }
    };
    let _ = writeln!(
        md,
        "`ltisync reconcile --json` (the release binary) over {} activities x {} grades = {} \
         grades, every one posted before, on {} through the pricing proxy, with LTIaaS answering \
         in {} ms: **{:.1} s**, exit code {}, {} grades matching. LTIaaS requests: {} ({}): one \
         results listing per activity, {PAGE_SIZE} results a page. DynamoDB read units by the \
         sizing rules: {:.1} ({}).\n",
        f.activities,
        f.grades / f.activities.max(1),
        f.grades,
        server.name(),
        f.latency_ms,
        f.seconds,
        f.exit_code
            .map_or("none (killed)".into(), |c| c.to_string()),
        f.matches,
        requests,
        by(f.requests
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect::<Vec<_>>()
            .join(", ")),
        units,
        by(f.read_units
            .iter()
            .map(|(op, u)| format!("{op} {u:.1}"))
            .collect::<Vec<_>>()
            .join(", ")),
    );
}

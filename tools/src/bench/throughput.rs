//! Sections 1 and 2: what the stand-ins themselves sustain, and sync
//! throughput against concurrency and latency on each DynamoDB server.

use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime};

use ltisync::config::SyncTuning;
use ltisync::sync::summary::PhaseTimings;
use ltisync::sync::{RunSummary, SyncRequest};
use ltisync::{ActivityIds, Store};
use ltisync_tests::dynamo::TestTable;
use ltisync_tests::simulator::{Route, Simulator};

use crate::plan::Plan;
use crate::servers::{Server, Servers};
use crate::setup::{
    engine, grades_of, resolve_line_items, set_up_activities, simulator_capacity, store_capacity,
    tuning, write_grades, MARGIN,
};

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

/// What the stand-ins sustain on their own.
pub(super) struct Capacities {
    /// Conditional `UpdateItem`s per second at concurrency 32: (server, rate).
    pub(super) writes: Vec<(String, f64)>,
    /// Score posts per second from ltisync's client alone: (latency ms, rate)
    /// at concurrency 32.
    pub(super) simulator: Vec<(u64, f64)>,
}

impl Capacities {
    pub(super) fn simulator_at(&self, latency_ms: u64) -> Option<f64> {
        self.simulator
            .iter()
            .find(|(l, _)| *l == latency_ms)
            .map(|(_, r)| *r)
    }
}

/// Where the machine's CPU went during a run, in cores (CPU seconds per
/// second of the run), read from `/proc`.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct CpuShare {
    /// The whole machine, all processes.
    pub(super) busy: f64,
    /// The DynamoDB server (when `make bench` says which process it is).
    pub(super) server: Option<f64>,
    /// This process: the engine, the simulator and the load around them.
    pub(super) bench: f64,
}

/// CPU ticks so far: (machine busy, machine total, this process, the server).
fn cpu_ticks() -> (u64, u64, u64, Option<u64>) {
    let process = |pid: &str| -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name in parentheses: utime is 14th, stime 15th.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
    };
    let machine = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().next().map(str::to_owned))
        .map(|line| {
            let t: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|v| v.parse().ok())
                .collect();
            let total: u64 = t.iter().take(8).sum();
            let idle = t.get(3).copied().unwrap_or(0) + t.get(4).copied().unwrap_or(0);
            (total - idle, total)
        })
        .unwrap_or((0, 0));
    let server = std::env::var("LTISYNC_TEST_DYNAMODB_PID")
        .ok()
        .and_then(|pid| process(&pid));
    (machine.0, machine.1, process("self").unwrap_or(0), server)
}

impl CpuShare {
    fn between(
        before: (u64, u64, u64, Option<u64>),
        after: (u64, u64, u64, Option<u64>),
        seconds: f64,
    ) -> Self {
        // /proc counts in USER_HZ, 100 a second on Linux.
        let cores = |ticks: u64| ticks as f64 / 100.0 / seconds.max(1e-9);
        let total = after.1.saturating_sub(before.1).max(1) as f64;
        let online = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        Self {
            busy: after.0.saturating_sub(before.0) as f64 / total * online,
            server: before
                .3
                .zip(after.3)
                .map(|(b, a)| cores(a.saturating_sub(b))),
            bench: cores(after.2.saturating_sub(before.2)),
        }
    }
}

/// One measured point of the sweep.
#[derive(Debug, Clone)]
pub(super) struct ThroughputPoint {
    pub(super) server: String,
    pub(super) latency_ms: u64,
    pub(super) concurrency: usize,
    pub(super) posted: usize,
    pub(super) rate: f64,
    pub(super) ceiling: f64,
    pub(super) phases: PhaseTimings,
    pub(super) duration_ms: u64,
    pub(super) cpu: CpuShare,
}

impl ThroughputPoint {
    /// A phase's summed milliseconds as one posted grade's share.
    fn per_grade(&self, ms: u64) -> f64 {
        ms as f64 / self.posted.max(1) as f64
    }
}

pub(super) struct ThroughputFigures {
    pub(super) points: Vec<ThroughputPoint>,
    /// (latency, settings, grades/s) on the fast server.
    pub(super) defaults: Vec<(u64, &'static str, f64)>,
    pub(super) limited_latency: u64,
    pub(super) limited: Posts,
}

/// The concurrency the targets are set at.
pub(super) const TARGET_CONCURRENCY: usize = 32;

pub(super) async fn measure_capacities(
    plan: &Plan,
    sim: &Simulator,
    servers: &Servers,
) -> Capacities {
    let mut writes = Vec::new();
    for server in distinct(servers) {
        let table = server.table(false).await;
        let ids: Vec<ActivityIds> = (0..10)
            .map(|a| ActivityIds::new("capacity", "c", format!("link-{a}")).expect("ids"))
            .collect();
        let grades = grades_of(
            &ids,
            (plan.activities * plan.grades_per_activity / 10).min(300),
        );
        let rate = store_capacity(&table, &table.store(), &grades).await;
        eprintln!("  {}: {rate:.0} conditional writes/s", server.name());
        writes.push((server.name().to_owned(), rate));
    }
    let mut simulator = Vec::new();
    let window = plan.window.min(Duration::from_secs(3));
    for &latency in &plan.latencies_ms {
        let rate = simulator_capacity(
            sim,
            Duration::from_millis(latency),
            TARGET_CONCURRENCY,
            window,
        )
        .await;
        eprintln!("  simulator at {latency} ms: {rate:.0} posts/s");
        simulator.push((latency, rate));
    }
    sim.set_latency(Duration::ZERO);
    Capacities { writes, simulator }
}

/// Each server once (a tiny run plays both roles with one).
fn distinct(servers: &Servers) -> Vec<&Server> {
    if servers.one_server() {
        vec![&servers.fast]
    } else {
        vec![&servers.fast, &servers.moto]
    }
}

pub(super) async fn measure_throughput(
    plan: &Plan,
    sim: &Simulator,
    servers: &Servers,
) -> ThroughputFigures {
    let mut points = Vec::new();
    let mut defaults = Vec::new();
    let mut limited = None;
    for server in distinct(servers) {
        let prepared = prepare(plan, sim, server).await;
        let fast = server.url == servers.fast.url;
        for &latency in &plan.latencies_ms {
            sim.set_latency(Duration::from_millis(latency));
            for &concurrency in &plan.concurrencies {
                // The points the targets are read at: the median of three
                // runs, so one disturbed run on a shared machine does not
                // decide them.
                let target = fast && concurrency == TARGET_CONCURRENCY;
                let runs = if target { 3 } else { 1 };
                let at = (latency, concurrency);
                points.push(measure_point(plan, sim, server, &prepared, at, runs).await);
            }
        }
        if fast {
            defaults = measure_defaults(plan, sim, &prepared).await;
            limited = Some(measure_limited(plan, sim, &prepared).await);
        }
    }
    sim.set_latency(Duration::ZERO);
    let (limited_latency, limited) = limited.expect("the fast server was measured");
    ThroughputFigures {
        points,
        defaults,
        limited_latency,
        limited,
    }
}

/// A server's table with the sweep's activities and pending grades.
struct Prepared {
    table: TestTable,
    store: Store,
    grades: Vec<(ActivityIds, String)>,
}

/// A fresh table on `server` with the sweep's activities and grades, each
/// activity's line item already created.
async fn prepare(plan: &Plan, sim: &Simulator, server: &Server) -> Prepared {
    let table = server.table(false).await;
    let store = table.store();
    let ids = set_up_activities(sim, &store, plan.activities, plan.platforms).await;
    let grades = grades_of(&ids, plan.grades_per_activity);
    resolve_line_items(
        sim,
        &table,
        &store,
        &grades,
        plan.grades_per_activity,
        tuning(64, 64, None),
        Duration::from_secs(120),
    )
    .await;
    Prepared {
        table,
        store,
        grades,
    }
}

/// One point of the sweep at (latency, concurrency), with the per-platform
/// limit lifted to the overall one: the median by rate of `runs` runs.
async fn measure_point(
    plan: &Plan,
    sim: &Simulator,
    server: &Server,
    prepared: &Prepared,
    (latency, concurrency): (u64, usize),
    runs: usize,
) -> ThroughputPoint {
    let mut measured = Vec::new();
    for _ in 0..runs {
        write_grades(&prepared.table, &prepared.grades, true).await;
        let tuning = tuning(concurrency, concurrency, None);
        measured.push(measure(sim, &prepared.store, tuning, plan.window).await);
    }
    measured.sort_by(|a, b| a.1.rate().total_cmp(&b.1.rate()));
    let (summary, posts, cpu) = measured.swap_remove(measured.len() / 2);
    let point = ThroughputPoint {
        server: server.name().to_owned(),
        latency_ms: latency,
        concurrency,
        posted: summary.grades_posted as usize,
        rate: posts.rate(),
        ceiling: concurrency as f64 * 1000.0 / latency as f64,
        phases: summary.phase_ms,
        duration_ms: summary.duration_ms,
        cpu,
    };
    eprintln!(
        "  {}: latency {latency} ms, concurrency {concurrency}: {:.1} grades/s",
        server.name(),
        point.rate
    );
    point
}

/// Default settings (32 overall, 8 per platform) and one at a time.
async fn measure_defaults(
    plan: &Plan,
    sim: &Simulator,
    prepared: &Prepared,
) -> Vec<(u64, &'static str, f64)> {
    let mut rows = Vec::new();
    for &latency in &plan.latencies_ms {
        sim.set_latency(Duration::from_millis(latency));
        for (label, tuning) in [
            (
                "default (32 overall, 8 per platform)",
                SyncTuning {
                    deadline_margin: MARGIN,
                    ..SyncTuning::default()
                },
            ),
            ("concurrency 1", tuning(1, 1, None)),
        ] {
            write_grades(&prepared.table, &prepared.grades, true).await;
            let (_, posts, _) = measure(sim, &prepared.store, tuning, plan.window).await;
            rows.push((latency, label, posts.rate()));
        }
    }
    rows
}

/// Posts with `SYNC_RATE_LIMIT` set, at the first latency and concurrency
/// 32: the latency and the posts.
async fn measure_limited(plan: &Plan, sim: &Simulator, prepared: &Prepared) -> (u64, Posts) {
    let latency = plan.latencies_ms[0];
    sim.set_latency(Duration::from_millis(latency));
    write_grades(&prepared.table, &prepared.grades, true).await;
    let capped = tuning(32, 32, Some(plan.rate_limit));
    (
        latency,
        measure(sim, &prepared.store, capped, plan.window).await.1,
    )
}

/// One run cut after about `window` of posting; the posting rate the
/// simulator saw, and where the CPU went meanwhile. Discovery (reading the work index) is not posting
/// time: a dry run of the same work first tells how long it takes, and the
/// deadline leaves `window` after twice that.
pub(super) async fn measure(
    sim: &Simulator,
    store: &Store,
    tuning: SyncTuning,
    window: Duration,
) -> (RunSummary, Posts, CpuShare) {
    let margin = tuning.deadline_margin;
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
    let (ticks, started) = (cpu_ticks(), Instant::now());
    let summary = engine
        .run(SyncRequest {
            activity: None,
            dry_run: false,
            // Discovery again (twice the dry run's: a slow server varies), then
            // the window of posting.
            deadline: SystemTime::now() + discovery * 2 + window + margin,
        })
        .await
        .expect("sync run");
    let cpu = CpuShare::between(ticks, cpu_ticks(), started.elapsed().as_secs_f64());
    let times_ms = sim.arrivals()[before..]
        .iter()
        .filter(|a| a.route == Route::PostScore)
        .map(|a| a.at_ms)
        .collect();
    (summary, Posts { times_ms }, cpu)
}

pub(super) fn write_capacities(md: &mut String, plan: &Plan, servers: &Servers, c: &Capacities) {
    let _ = writeln!(md, "## 1. What the stand-ins sustain\n");
    let _ = writeln!(
        md,
        "Every posted grade costs two conditional `UpdateItem`s (the confirmation before the post, \
         the outcome after it). Measured alone at concurrency 32, each DynamoDB server sustains \
         this many such writes per second on this machine (Dynoxide is one SQLite database behind \
         one lock; moto one Python process):\n"
    );
    let _ = writeln!(md, "| server | conditional writes/s |\n|---|---:|");
    for (name, rate) in &c.writes {
        let label = [&servers.fast, &servers.moto]
            .into_iter()
            .find(|s| s.name() == name)
            .map_or(name.as_str(), |s| s.label.as_str());
        let _ = writeln!(md, "| {label} | {rate:.0} |");
    }
    let _ = writeln!(
        md,
        "\nThe simulator, driven by ltisync's own LTIaaS client with {TARGET_CONCURRENCY} score \
         posts in flight and nothing else running, answers (it runs on its own runtime thread of \
         the bench process; {:.1} s each):\n",
        plan.window.min(Duration::from_secs(3)).as_secs_f64()
    );
    let _ = writeln!(
        md,
        "| latency | posts/s | concurrency ÷ latency |\n|---:|---:|---:|"
    );
    for (latency, rate) in &c.simulator {
        let _ = writeln!(
            md,
            "| {latency} ms | {rate:.0} | {:.0} |",
            TARGET_CONCURRENCY as f64 * 1000.0 / *latency as f64
        );
    }
    let _ = writeln!(md);
}

pub(super) fn write_throughput(
    md: &mut String,
    plan: &Plan,
    servers: &Servers,
    capacities: &Capacities,
    f: &ThroughputFigures,
) {
    let _ = writeln!(md, "## 2. Sync throughput\n");
    let _ = writeln!(
        md,
        "{} activities × {} pending grades over {} platforms, ids and items shaped like Canvas's \
         (section 3). Each point posts for {:.1} s of its own run (the run is cut by its deadline, \
         as a Lambda run would be); the rate is score posts per second as the simulator received \
         them, and the ceiling is concurrency ÷ latency. For the sweep the per-platform limit is \
         lifted to the overall one. Tables without a stream (moto slows down with one; DynamoDB \
         does not; section 4 runs with one).\n",
        plan.activities,
        plan.grades_per_activity,
        plan.platforms,
        plan.window.as_secs_f64()
    );
    let _ = writeln!(
        md,
        "![grades per second against concurrency](bench/throughput.svg)\n"
    );
    let _ = writeln!(
        md,
        "| server | latency | concurrency | grades/s | ceiling | % of ceiling | posted |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    for p in &f.points {
        let _ = writeln!(
            md,
            "| {} | {} ms | {} | {:.1} | {:.0} | {:.0}% | {} |",
            p.server,
            p.latency_ms,
            p.concurrency,
            p.rate,
            p.ceiling,
            100.0 * p.rate / p.ceiling,
            p.posted
        );
    }
    write_targets(md, plan, servers, capacities, f);
    write_phases(md, servers, f);
    write_defaults(md, plan, f);
}

/// The targets, on the fast server at concurrency 32.
fn write_targets(
    md: &mut String,
    plan: &Plan,
    servers: &Servers,
    capacities: &Capacities,
    f: &ThroughputFigures,
) {
    let _ = writeln!(
        md,
        "\nTargets (on {}, concurrency {TARGET_CONCURRENCY}, {} platforms; each point the \
         median of three runs):\n",
        servers.fast.name(),
        plan.platforms
    );
    let _ = writeln!(
        md,
        "| latency | target | limit | grades/s | share | met |\n|---:|---|---:|---:|---:|---|"
    );
    for (latency, share, against_simulator) in [(100, 0.9, false), (20, 0.8, true)] {
        let point = f.points.iter().find(|p| {
            p.server == servers.fast.name()
                && p.latency_ms == latency
                && p.concurrency == TARGET_CONCURRENCY
        });
        let Some(p) = point else {
            let _ = writeln!(
                md,
                "| {latency} ms | not measured at this size | | | | n/a |"
            );
            continue;
        };
        let simulator = capacities.simulator_at(latency).unwrap_or(f64::INFINITY);
        let (limit, what) = if against_simulator && simulator < p.ceiling {
            (simulator, "the simulator's capacity")
        } else {
            (p.ceiling, "the ceiling")
        };
        let got = p.rate / limit;
        let _ = writeln!(
            md,
            "| {latency} ms | ≥ {:.0}% of {what} | {limit:.0} | {:.1} | {:.0}% | {} |",
            share * 100.0,
            p.rate,
            got * 100.0,
            if got >= share { "yes" } else { "**no**" }
        );
    }
}

/// Where the time went in the target points (the run summary's `phaseMs`).
fn write_phases(md: &mut String, servers: &Servers, f: &ThroughputFigures) {
    let rows: Vec<&ThroughputPoint> = f
        .points
        .iter()
        .filter(|p| p.concurrency == TARGET_CONCURRENCY)
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "\nWhere the time went at concurrency {TARGET_CONCURRENCY} (the run summary's `phaseMs`): \
         discovery, claim and read are wall time; line items, confirmations, posts and outcome \
         writes are summed over the concurrent tasks, so per posted grade they are that task's \
         share. The measured server is {}:\n",
        servers.fast.name()
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let _ = writeln!(
        md,
        "| server | latency | discovery | claim | read | per grade: confirm | post | outcome write | run | CPU busy (of {cores}) | the server | engine + simulator |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for p in rows {
        let server = p.cpu.server.filter(|_| p.server == servers.fast.name());
        let _ = writeln!(
            md,
            "| {} | {} ms | {} ms | {} ms | {} ms | {:.2} ms | {:.2} ms | {:.2} ms | {} ms | {:.2} | {} | {:.2} |",
            p.server,
            p.latency_ms,
            p.phases.discovery,
            p.phases.claim,
            p.phases.read,
            p.per_grade(p.phases.confirm),
            p.per_grade(p.phases.posts),
            p.per_grade(p.phases.outcome_writes),
            p.duration_ms,
            p.cpu.busy,
            server.map_or("n/a".to_owned(), |c| format!("{c:.2}")),
            p.cpu.bench
        );
    }
    let _ = writeln!(
        md,
        "\nCPU is in cores (CPU seconds per second of the run, from `/proc`): the machine as a \
         whole, the DynamoDB server's process, and this process, which holds the engine, the \
         simulator and the HTTP on both sides of them. When the machine is busy near all its \
         cores, the runs measure how the stand-ins and the sync share it: Dynoxide executes one \
         request at a time behind one lock, so it gives at most about one core to the two \
         writes of every posted grade (its confirmation and its outcome)."
    );
    for p in f
        .points
        .iter()
        .filter(|p| p.server == servers.fast.name() && p.concurrency == TARGET_CONCURRENCY)
    {
        write_where_it_went(md, p, cores);
    }
}

/// One sentence per measured target point: how a posted grade's time split
/// between its writes and its post, and whether the machine had CPU left.
fn write_where_it_went(md: &mut String, p: &ThroughputPoint, cores: usize) {
    let writes = p.per_grade(p.phases.confirm) + p.per_grade(p.phases.outcome_writes);
    let busy = p.cpu.busy / cores as f64;
    let verdict = if busy >= 0.8 {
        "the machine was near full, so the writes waited for CPU the DynamoDB server shares \
         with the sync and the simulator"
    } else {
        "the machine had CPU to spare"
    };
    let _ = writeln!(
        md,
        "\nAt {} ms a posted grade spent {writes:.1} ms in its two writes beside {:.1} ms in its \
         post, with {:.0}% of the machine's CPU busy: {verdict}.",
        p.latency_ms,
        p.per_grade(p.phases.posts),
        busy * 100.0
    );
}

fn write_defaults(md: &mut String, plan: &Plan, f: &ThroughputFigures) {
    let _ = writeln!(
        md,
        "\n| latency | settings | grades/s | × one at a time |\n|---:|---|---:|---:|"
    );
    for (latency, label, rate) in &f.defaults {
        let single = f
            .defaults
            .iter()
            .find(|(l, lab, _)| l == latency && lab.starts_with("concurrency 1"))
            .map(|(_, _, r)| *r)
            .unwrap_or(0.0);
        let times = if single > 0.0 { rate / single } else { 0.0 };
        let _ = writeln!(md, "| {latency} ms | {label} | {rate:.1} | {times:.1}× |");
    }
    let _ = writeln!(
        md,
        "\nWith `SYNC_RATE_LIMIT={}` at {} ms and concurrency 32: {:.1} posts/s on average, at \
         most {} in any one second (the limit is never exceeded: requests are spaced evenly, a \
         burst of one).\n",
        plan.rate_limit,
        f.limited_latency,
        f.limited.rate(),
        f.limited.max_per_second()
    );
}

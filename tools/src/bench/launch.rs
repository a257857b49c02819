//! Section 6: the launch function's init, handler overhead and memory.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ltisync_tests::rigs::{event, SAMPLE_LTIK};
use ltisync_tests::runtime_api::{binary, FunctionProcess, RuntimeApi};
use ltisync_tests::simulator::{LaunchSpec, Simulator};

use crate::plan::Plan;
use crate::report::file_size;
use crate::servers::{Server, Servers};
use crate::setup::{function_env, start_function};
use crate::stats::{milliseconds, percentile};

pub(super) struct LaunchFigures {
    pub(super) init_ms: Vec<f64>,
    pub(super) overhead_us: Vec<u64>,
    pub(super) handler_total_us: Vec<u64>,
    pub(super) peak_rss_kb: u64,
}

pub(super) async fn measure_launch(sim: &Simulator, server: &Server, plan: &Plan) -> LaunchFigures {
    measure_launch_binary(sim, server, plan, &binary("launch")).await
}

/// Section 6's figures for the launch binary at `launch`.
pub(super) async fn measure_launch_binary(
    sim: &Simulator,
    server: &Server,
    plan: &Plan,
    launch: &Path,
) -> LaunchFigures {
    sim.set_latency(Duration::ZERO);
    let table = &server.table(false).await;
    let mut spec = LaunchSpec::new(
        "platform-launch",
        "course-1",
        "activity-launch",
        Some("launch-key"),
    );
    spec.ltik = Some(SAMPLE_LTIK.into());
    sim.add_launch(spec);
    let env = function_env(sim, table);
    let mut init_ms = Vec::new();
    for _ in 0..plan.launch_starts {
        let (_api, process, init) = start_function(launch, &env).await;
        init_ms.push(init);
        process.stop().await;
    }
    let (peak_rss_kb, logs) = warm_invocations(launch, &env, plan.launch_invocations).await;
    let (overhead_us, handler_total_us) = handler_times(&logs);
    LaunchFigures {
        init_ms,
        overhead_us,
        handler_total_us,
        peak_rss_kb,
    }
}

/// `invocations` launches through one process: its peak RSS after them
/// (kB), and everything it logged.
async fn warm_invocations(
    launch: &Path,
    env: &[(String, String)],
    invocations: usize,
) -> (u64, String) {
    let api = RuntimeApi::start().await;
    let mut process = FunctionProcess::spawn(launch, &api, env);
    let event = event("launch.json", SAMPLE_LTIK);
    for _ in 0..invocations {
        let reply = process
            .invoke(&api, event.clone(), Duration::from_secs(10))
            .await
            .response();
        assert_eq!(reply["statusCode"], 200, "{reply}");
    }
    let peak_rss_kb = process
        .pid()
        .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0);
    let logs = process.stop().await;
    (peak_rss_kb, logs)
}

/// From the function's log records of its launches: the handler's own
/// overhead, and the whole handler with its round trips, in microseconds.
fn handler_times(logs: &str) -> (Vec<u64>, Vec<u64>) {
    let mut overhead_us = Vec::new();
    let mut handler_total_us = Vec::new();
    for line in logs
        .lines()
        .filter(|l| l.contains("\"message\":\"launch\""))
    {
        let record: serde_json::Value = serde_json::from_str(line).expect("JSON log line");
        let overhead = record["overhead_us"].as_u64().unwrap_or(0);
        overhead_us.push(overhead);
        handler_total_us.push(
            overhead
                + record["ltiaas_us"].as_u64().unwrap_or(0)
                + record["dynamodb_us"].as_u64().unwrap_or(0),
        );
    }
    (overhead_us, handler_total_us)
}

pub(super) fn write_launch(md: &mut String, f: &LaunchFigures) {
    let _ = writeln!(md, "## 6. Launch function\n");
    let _ = writeln!(
        md,
        "The release `launch` binary through the local Lambda Runtime API. Init: process start to its \
         first poll for an event ({} starts). Handler overhead: time in the handler minus the LTIaaS and \
         DynamoDB round trips, from the function's own log record ({} invocations, simulator at zero \
         latency). Peak RSS: the process's high-water mark after those invocations.\n",
        f.init_ms.len(),
        f.overhead_us.len()
    );
    let fmt_us =
        |v: Option<u64>| v.map_or("n/a".into(), |x| format!("{:.3} ms", x as f64 / 1000.0));
    let _ = writeln!(
        md,
        "| figure | median | p90 / p99 | target |\n|---|---:|---:|---:|"
    );
    let _ = writeln!(
        md,
        "| init (start → first poll) | {} | {} (p90) | < 30 ms |",
        milliseconds(percentile(&f.init_ms, 0.5)),
        milliseconds(percentile(&f.init_ms, 0.9))
    );
    let _ = writeln!(
        md,
        "| handler overhead | {} | {} (p99) | < 1 ms |",
        fmt_us(percentile(&f.overhead_us, 0.5)),
        fmt_us(percentile(&f.overhead_us, 0.99))
    );
    let _ = writeln!(
        md,
        "| whole handler (with round trips) | {} | {} (p99) | |",
        fmt_us(percentile(&f.handler_total_us, 0.5)),
        fmt_us(percentile(&f.handler_total_us, 0.99))
    );
    let _ = writeln!(
        md,
        "| peak RSS | {:.1} MB | | < 30 MB |\n",
        f.peak_rss_kb as f64 / 1024.0
    );
}

/// `bench --compare-launch OLD NEW`: section 6 for two launch binaries in
/// one run, one after the other, as a Markdown table (with each binary's
/// size and, beside it, its `bootstrap.zip` when one lies next to it as
/// `<binary>.zip`).
pub(super) async fn compare_launch(sim: &Simulator, plan: &Plan, binaries: [PathBuf; 2]) -> String {
    let servers = Servers::from_environment().await;
    let mut md = String::from(
        "| launch binary | init p50 | init p90 | overhead p50 | overhead p99 | peak RSS | binary | zip |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for path in binaries {
        let f = measure_launch_binary(sim, &servers.fast, plan, &path).await;
        let _ = writeln!(
            md,
            "| `{}` | {:.1} ms | {:.1} ms | {:.3} ms | {:.3} ms | {:.1} MB | {} | {} |",
            path.display(),
            percentile(&f.init_ms, 0.5).unwrap_or_default(),
            percentile(&f.init_ms, 0.9).unwrap_or_default(),
            percentile(&f.overhead_us, 0.5).unwrap_or_default() as f64 / 1000.0,
            percentile(&f.overhead_us, 0.99).unwrap_or_default() as f64 / 1000.0,
            f.peak_rss_kb as f64 / 1024.0,
            file_size(&path),
            file_size(&path.with_extension("zip")),
        );
    }
    md
}

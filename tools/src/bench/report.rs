//! The report's frame: the machine it ran on, sizes and scale.

use std::fmt::Write as _;
use std::path::Path;

use ltisync::config::SyncTuning;
use ltisync_tests::runtime_api::binary;

use crate::servers::Servers;
use crate::throughput::ThroughputFigures;

pub(super) async fn header(md: &mut String, tiny: bool, servers: &Servers) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
            })
        })
        .unwrap_or(0);
    let command_output = |cmd: &str, args: &[&str]| {
        std::process::Command::new(cmd)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|| "unknown".into())
    };
    let rustc = command_output("rustc", &["--version"]);
    let _ = writeln!(md, "# ltisync benchmarks\n");
    if tiny {
        let _ = writeln!(md, "> Tiny run (`bench --tiny`): toy sizes that only check the harness works. Not figures to quote.\n");
    }
    let _ = writeln!(
        md,
        "Reproduce with `make bench` (release build; Dynoxide, moto and the LTIaaS simulator on \
         loopback, the simulator on its own runtime thread, everything on this one machine). \
         Benchmarks are measurements, not tests: nothing in `make test` depends on these \
         timings.\n"
    );
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(
        md,
        "| machine | {cpu}, {cores} cores, {:.1} GiB |",
        memory as f64 / 1024.0 / 1024.0
    );
    let _ = writeln!(md, "| toolchain | {rustc} |");
    let _ = writeln!(md, "| DynamoDB server measured | {} |", servers.fast.label);
    let _ = writeln!(md, "| DynamoDB server compared | {} |", servers.moto.label);
    let _ = writeln!(
        md,
        "| date | {} |\n",
        time::OffsetDateTime::now_utc().date()
    );
}

pub(super) fn write_sizes(md: &mut String) {
    let _ = writeln!(md, "## 7. Sizes\n");
    let root = ltisync_tests::repo_root().join("target/lambda");
    let mut rows = Vec::new();
    for arch in ["x86_64", "arm64"] {
        for function in ["launch", "sync"] {
            let dir = root.join(arch).join(function);
            let zip = std::fs::metadata(dir.join("bootstrap.zip"))
                .map(|m| m.len())
                .ok();
            if let Some(zip) = zip {
                rows.push(format!(
                    "| {function} | {arch} | {:.2} MB |",
                    zip as f64 / 1e6
                ));
            }
        }
    }
    let release = |name: &str| file_size(&binary(name));
    let _ = writeln!(
        md,
        "Release binaries on this machine: `launch` {}, `sync` {} (stripped, fat LTO).\n",
        release("launch"),
        release("sync")
    );
    if rows.is_empty() {
        let _ = writeln!(
            md,
            "No Lambda packages found: run `make package` (as `make bench` does) for zip sizes.\n"
        );
    } else {
        let _ = writeln!(md, "Lambda packages from `make package` (`cargo lambda build --release --output-format zip`):\n");
        let _ = writeln!(
            md,
            "| function | architecture | bootstrap.zip |\n|---|---|---:|"
        );
        for row in rows {
            let _ = writeln!(md, "{row}");
        }
        let _ = writeln!(md);
    }
}

/// A file's size in MB, as the report shows it; `n/a` when it is missing.
pub(super) fn file_size(path: &Path) -> String {
    std::fs::metadata(path).map_or("n/a".into(), |m| format!("{:.2} MB", m.len() as f64 / 1e6))
}

pub(super) fn write_scale(md: &mut String, f: &ThroughputFigures) {
    let _ = writeln!(md, "## 8. Scale (extrapolated)\n");
    let margin = SyncTuning::default().deadline_margin.as_secs_f64();
    let Some((latency, _, rate)) = f
        .defaults
        .iter()
        .filter(|(_, label, _)| label.starts_with("default"))
        .max_by_key(|(latency, _, _)| *latency)
    else {
        return;
    };
    let seconds = 900.0 - margin;
    let _ = writeln!(
        md,
        "At {latency} ms LTIaaS latency and the default settings (32 posts in flight, 8 per \
         platform), the measured {rate:.0} grades/s over the {seconds:.0} s a 15-minute invocation \
         may post (the 30 s deadline margin kept) is about **{:.0} grades per invocation**. This \
         is an extrapolation from the measured rate, not a 15-minute run; discovery (one scan of \
         the work index) comes on top, and a real LMS may throttle sooner. Grades left over stay \
         pending, and the run's follow-up invocation (up to `SYNC_MAX_FOLLOW_UPS` in a row) takes \
         them at once.\n",
        rate * seconds
    );
}

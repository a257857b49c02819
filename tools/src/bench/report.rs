//! The report's frame: the machine it ran on, sizes, scale, and the SVG chart.

use super::*;

pub(super) async fn header(md: &mut String, tiny: bool) {
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
    let moto = command_output(
        ltisync_tests::repo_root()
            .join(".venv/bin/python")
            .to_str()
            .unwrap_or("python3"),
        &["-c", "import moto; print(moto.__version__)"],
    );
    let _ = writeln!(md, "# ltisync benchmarks\n");
    if tiny {
        let _ = writeln!(md, "> Tiny run (`bench --tiny`): toy sizes that only check the harness works. Not figures to quote.\n");
    }
    let _ = writeln!(
        md,
        "Reproduce with `make bench` (release build; moto and the LTIaaS simulator on loopback, \
         the simulator on its own runtime thread). Benchmarks are measurements, not tests: \
         nothing in `make test` depends on these timings.\n"
    );
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(
        md,
        "| machine | {cpu}, {cores} cores, {:.1} GiB |",
        memory as f64 / 1024.0 / 1024.0
    );
    let _ = writeln!(md, "| toolchain | {rustc} |");
    let _ = writeln!(
        md,
        "| DynamoDB stand-in | moto {moto} (server mode, single process) |"
    );
    let _ = writeln!(
        md,
        "| date | {} |\n",
        time::OffsetDateTime::now_utc().date()
    );
}

pub(super) fn write_sizes(md: &mut String) {
    let _ = writeln!(md, "## 4. Sizes\n");
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
    let release = |name: &str| {
        std::fs::metadata(binary(name))
            .map(|m| format!("{:.2} MB", m.len() as f64 / 1e6))
            .unwrap_or_else(|_| "n/a".into())
    };
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

pub(super) fn write_scale(md: &mut String, defaults: &[(u64, &str, f64)]) {
    let _ = writeln!(md, "## 5. Scale (extrapolated)\n");
    let margin = SyncTuning::default().deadline_margin.as_secs_f64();
    if let Some((latency, _, rate)) = defaults
        .iter()
        .filter(|(_, label, _)| label.starts_with("default"))
        .max_by_key(|(latency, _, _)| *latency)
    {
        let seconds = 900.0 - margin;
        let _ = writeln!(
            md,
            "At {latency} ms LTIaaS latency and the default settings, the measured {rate:.0} grades/s \
             over the {seconds:.0} s a 15-minute invocation may post (the 30 s deadline margin kept) is \
             about **{:.0} grades per invocation**. This is an extrapolation from the measured rate, not a \
             15-minute run; discovery time (reading the pending index) comes on top, and a real LMS may \
             throttle sooner. Grades left over stay pending and the next run takes them.\n",
            rate * seconds
        );
        let ceiling = SyncTuning::default().concurrency as f64 * 1000.0 / *latency as f64;
        let _ = writeln!(
            md,
            "That rate is bound by moto's write capacity (section 1). Against DynamoDB, whose writes \
             scale out, the bound is the concurrency ÷ latency ceiling, {ceiling:.0} grades/s, or about \
             {:.0} grades per invocation: a ceiling, not a measurement.\n",
            ceiling * seconds
        );
    }
}

/// Grades per second against concurrency, one line per latency, ceilings dashed.
pub(super) fn chart(points: &[ThroughputPoint], capacity: f64) -> String {
    let (width, height, left, bottom, top, right) = (640.0, 400.0, 70.0, 50.0, 30.0, 160.0);
    let concurrencies: Vec<usize> = {
        let mut c: Vec<usize> = points.iter().map(|p| p.concurrency).collect();
        c.sort_unstable();
        c.dedup();
        c
    };
    let max_rate = points
        .iter()
        .map(|p| p.rate.max(p.ceiling.min(p.rate * 4.0)))
        .fold(1.0_f64, f64::max);
    let x = |c: usize| {
        let i = concurrencies.iter().position(|v| *v == c).unwrap_or(0) as f64;
        left + i * (width - left - right) / (concurrencies.len().max(2) - 1) as f64
    };
    let y = |r: f64| height - bottom - (r.min(max_rate) / max_rate) * (height - bottom - top);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
         <text x=\"{left}\" y=\"18\" font-size=\"14\">Sync throughput (grades/s) against concurrency</text>"
    );
    let _ = write!(
        svg,
        "<line x1=\"{left}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"black\"/><line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{0}\" stroke=\"black\"/>",
        height - bottom,
        width - right
    );
    for c in &concurrencies {
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{c}</text>",
            x(*c),
            height - bottom + 18.0
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">concurrency</text>",
        (left + width - right) / 2.0,
        height - 10.0
    );
    for i in 0..=4 {
        let r = max_rate * i as f64 / 4.0;
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{r:.0}</text>",
            left - 6.0,
            y(r) + 4.0
        );
    }
    let colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
    let mut latencies: Vec<u64> = points.iter().map(|p| p.latency_ms).collect();
    latencies.dedup();
    for (i, latency) in latencies.iter().enumerate() {
        let colour = colours[i % colours.len()];
        let series: Vec<&ThroughputPoint> =
            points.iter().filter(|p| p.latency_ms == *latency).collect();
        let line = |value: &dyn Fn(&ThroughputPoint) -> f64| {
            series
                .iter()
                .map(|p| format!("{:.1},{:.1}", x(p.concurrency), y(value(p))))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            line(&|p| p.rate)
        );
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-dasharray=\"5,4\" points=\"{}\"/>",
            line(&|p| p.ceiling)
        );
        for p in &series {
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"/>",
                x(p.concurrency),
                y(p.rate)
            );
        }
        let ly = top + 20.0 + 36.0 * i as f64;
        let lx = width - right + 15.0;
        let _ = write!(
            svg,
            "<line x1=\"{lx}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{colour}\" stroke-width=\"2\"/><text x=\"{}\" y=\"{}\">{latency} ms measured</text>\
             <line x1=\"{lx}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{colour}\" stroke-dasharray=\"5,4\"/><text x=\"{}\" y=\"{}\">{latency} ms ceiling</text>",
            lx + 20.0, lx + 25.0, ly + 4.0, ly + 16.0, lx + 20.0, ly + 16.0, lx + 25.0, ly + 20.0
        );
    }
    if capacity < max_rate {
        let _ = write!(
            svg,
            "<line x1=\"{left}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"gray\" stroke-dasharray=\"2,3\"/>\
             <text x=\"{2}\" y=\"{3:.1}\" fill=\"gray\">moto: {capacity:.0} writes/s</text>",
            y(capacity),
            width - right,
            left + 6.0,
            y(capacity) - 5.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

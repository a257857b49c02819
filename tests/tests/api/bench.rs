//! The benchmark harness still works: `bench --tiny` runs every section at a
//! toy size and writes a complete report. (No timing is asserted: speed is
//! measured by `make bench`, never tested.)

use ltisync_tests::dynamo::endpoint;
use ltisync_tests::runtime_api::binary;

#[test]
fn the_bench_harness_runs_every_section_at_a_tiny_size() {
    let out = std::env::temp_dir().join(format!("ltisync-bench-{}", uuid::Uuid::new_v4().simple()));
    let status = std::process::Command::new(binary("bench"))
        .args(["--tiny", "--out"])
        .arg(&out)
        .env("LTISYNC_TEST_DYNAMODB", endpoint())
        .status()
        .expect("the bench binary runs");
    assert!(status.success());
    let report = std::fs::read_to_string(out.join("BENCHMARKS.md")).expect("a report");
    for section in [
        "## 1. What the stand-ins sustain",
        "## 2. Sync throughput",
        "## 3. Read cost in billed units",
        "## 4. Stream path",
        "## 5. Cold starts",
        "## 6. Launch function",
        "## 7. Sizes",
        "## 8. Scale",
        "## 9. Each value once",
        "## 10. Reconciling the gradebook",
        "## 11. The status page",
        "## 12. From invocation to last outcome",
        "Tiny run",
    ] {
        assert!(report.contains(section), "{section} missing:\n{report}");
    }
    let sweep_rows = report
        .lines()
        .filter(|l| l.starts_with("| moto | 5 ms | "))
        .count();
    assert_eq!(sweep_rows, 2, "two sweep points:\n{report}");
    for settings in ["| 5 ms | default (", "| 5 ms | concurrency 1 |"] {
        assert!(report.contains(settings), "{settings} missing:\n{report}");
    }
    assert!(report.contains("| 100% | 200 | 10 | "), "{report}");
    // The day after: 30% of 20 writes repeat the value held, 14 are new.
    assert!(
        report.contains("makes **14 score posts for 14 distinct new values**"),
        "{report}"
    );
    // Every grade reconciled matches (the simulator, shared by the sections,
    // lists more results than these, so the number of pages varies).
    assert!(
        report.contains("exit code 0, 12 grades matching"),
        "{report}"
    );
    assert!(report.contains("(ListResults "), "{report}");
    for function in ["LaunchFunction", "SyncFunction", "GradeStreamFunction"] {
        let row = report
            .lines()
            .find(|l| l.starts_with(&format!("| {function} |")))
            .unwrap_or_else(|| panic!("no cold start row for {function}:\n{report}"));
        assert!(!row.contains("n/a"), "{row}");
    }
    assert!(
        !report.contains("| init (start → first poll) | n/a"),
        "{report}"
    );
    let svg = std::fs::read_to_string(out.join("bench/throughput.svg")).expect("a chart");
    assert!(svg.starts_with("<svg") && svg.contains("polyline"));
    let histogram = std::fs::read_to_string(out.join("bench/stream-latency.svg")).expect("a chart");
    assert!(histogram.starts_with("<svg") && histogram.contains("<rect x="));
    std::fs::remove_dir_all(&out).ok();
}

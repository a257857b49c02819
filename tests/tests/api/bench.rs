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
        "## 1. Sync throughput",
        "## 2. Read efficiency",
        "## 3. Launch function",
        "## 4. Sizes",
        "## 5. Scale",
        "## 6. Stream path",
        "Tiny run",
    ] {
        assert!(report.contains(section), "{section} missing:\n{report}");
    }
    let throughput_rows = report
        .lines()
        .filter(|l| l.starts_with("| 5 ms | "))
        .count();
    assert_eq!(
        throughput_rows,
        2 + 2,
        "two sweep points and two settings rows:\n{report}"
    );
    assert!(report.contains("| 10 × 20 grades | 100% | "), "{report}");
    assert!(
        !report.contains("| init (start → first poll) | n/a"),
        "{report}"
    );
    let svg = std::fs::read_to_string(out.join("bench/throughput.svg")).expect("a chart");
    assert!(svg.starts_with("<svg") && svg.contains("polyline"));
    std::fs::remove_dir_all(&out).ok();
}

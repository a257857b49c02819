//! Section 11: the status page of a course of 2,000 learners, as an
//! instructor opens it: the release `launch` binary through the local
//! Runtime API, every grade posted (so the partition holds 2,000 grades and
//! 2,000 records of what the LMS accepted), the roster named, LTIaaS at 0,
//! 20 and 100 ms.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use ltisync::{ActivityIds, Store};
use ltisync_tests::rigs::event;
use ltisync_tests::runtime_api::{binary, FunctionProcess, RuntimeApi};
use ltisync_tests::simulator::{lis_role, LaunchSpec, SimMember, Simulator};

use crate::plan::Plan;
use crate::servers::Server;
use crate::setup::{
    function_env, grades_of, run_sync, service_key, set_up_activities, tuning, user_id,
    write_grades,
};
use crate::stats::percentile;

/// The most members a page of the simulated LMS holds, whatever `limit`
/// asks for (an LMS may serve fewer than asked).
const ROSTER_PAGE: usize = 100;

pub(super) struct StatusPoint {
    pub(super) latency_ms: u64,
    pub(super) median_ms: f64,
    pub(super) p95_ms: f64,
    pub(super) names: String,
    pub(super) named_rows: usize,
}

pub(super) struct StatusFigures {
    pub(super) learners: usize,
    pub(super) query_pages: usize,
    pub(super) html_bytes: usize,
    pub(super) views: usize,
    pub(super) points: Vec<StatusPoint>,
}

pub(super) async fn measure_status(plan: &Plan, sim: &Simulator, server: &Server) -> StatusFigures {
    let learners = plan.status_learners;
    sim.set_latency(Duration::ZERO);
    sim.set_page_size(ROSTER_PAGE);
    let table = server.table(false).await;
    let store = table.store();
    let ids = set_up_activities(sim, &store, 1, 1).await;
    let roster = (0..learners)
        .map(|u| SimMember::new(&user_id(u), "Learner").with_name(&format!("Learner {u}")))
        .collect();
    sim.set_roster(&ids[0].platform_id, &ids[0].context_id, roster);
    write_grades(&table, &grades_of(&ids, learners), true).await;
    run_sync(sim, &store, tuning(64, 16, None), Duration::from_secs(600)).await;
    let spec = LaunchSpec::new(
        &ids[0].platform_id,
        &ids[0].context_id,
        &ids[0].resource_link_id,
        Some(&service_key(0)),
    )
    .by("teacher", &[&lis_role("Instructor")]);
    let ltik = sim.add_launch(spec);
    let env = function_env(sim, &table);
    let api = RuntimeApi::start().await;
    let mut process = FunctionProcess::spawn(&binary("launch"), &api, &env);
    let mut figures = StatusFigures {
        learners,
        query_pages: query_pages(&store, &ids[0]).await,
        html_bytes: 0,
        views: plan.status_views,
        points: Vec::new(),
    };
    for latency_ms in [0, 20, 100] {
        sim.set_latency(Duration::from_millis(latency_ms));
        let (point, html_bytes) = time_views(&api, &mut process, &ltik, latency_ms, plan).await;
        figures.html_bytes = html_bytes;
        figures.points.push(point);
    }
    process.stop().await;
    sim.set_latency(Duration::ZERO);
    figures
}

/// `plan.status_views` HTML views timed from the invocation to the answer,
/// then one JSON view for where the names came from.
async fn time_views(
    api: &RuntimeApi,
    process: &mut FunctionProcess,
    ltik: &str,
    latency_ms: u64,
    plan: &Plan,
) -> (StatusPoint, usize) {
    let html = event("status.json", ltik);
    let mut json = html.clone();
    json["headers"]["accept"] = serde_json::json!("application/json");
    let mut took = Vec::new();
    let mut bytes = 0;
    for _ in 0..plan.status_views {
        let started = Instant::now();
        let reply = process
            .invoke(api, html.clone(), Duration::from_secs(30))
            .await
            .response();
        took.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(reply["statusCode"], 200, "{}", reply["body"]);
        bytes = reply["body"].as_str().map_or(0, str::len);
    }
    let reply = process
        .invoke(api, json, Duration::from_secs(30))
        .await
        .response();
    let report: serde_json::Value =
        serde_json::from_str(reply["body"].as_str().unwrap_or("{}")).expect("the JSON view");
    let named_rows = report["grades"].as_array().map_or(0, |rows| {
        rows.iter().filter(|r| r["name"].is_string()).count()
    });
    let point = StatusPoint {
        latency_ms,
        median_ms: percentile(&took, 0.5).unwrap_or(0.0),
        p95_ms: percentile(&took, 0.95).unwrap_or(0.0),
        names: report["names"].as_str().unwrap_or("?").to_owned(),
        named_rows,
    };
    (point, bytes)
}

/// Pages one Query of the partition takes (DynamoDB's 1 MB per page).
async fn query_pages(store: &Store, ids: &ActivityIds) -> usize {
    let (key, mut start, mut pages) = (ids.key(), None, 0);
    loop {
        let page = store
            .items_page(Some(&key), start.take())
            .await
            .expect("query");
        pages += 1;
        match page.next {
            Some(next) => start = Some(next),
            None => return pages,
        }
    }
}

pub(super) fn write_status(md: &mut String, server: &Server, f: &StatusFigures) {
    let _ = writeln!(
        md,
        "## 11. The status page of a course of {} learners\n",
        f.learners
    );
    let _ = writeln!(
        md,
        "An instructor opens `GET /status` on the release `launch` binary through the local Runtime \
         API ({} views per row, timed from the invocation to the answer). The activity's {} grades \
         were all posted, so its partition holds {} grades and as many records of what the LMS \
         accepted: one eventually consistent Query of {} page(s) on {}. The roster ({} learners, \
         named) is read beside it with the viewer's ltik, {} members a page, for at most 700 ms. \
         The HTML answer is {} KB. DynamoDB answers on loopback (no network latency).\n",
        f.views,
        f.learners,
        f.learners,
        f.query_pages,
        server.name(),
        f.learners,
        ROSTER_PAGE,
        f.html_bytes / 1024
    );
    let _ = writeln!(
        md,
        "| LTIaaS latency | median | p95 | target | names | rows named |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|");
    for p in &f.points {
        let met = if p.p95_ms < 1000.0 {
            "< 1 s: met"
        } else {
            "< 1 s: missed"
        };
        let _ = writeln!(
            md,
            "| {} ms | {:.0} ms | {:.0} ms | {met} | {} | {} of {} |",
            p.latency_ms, p.median_ms, p.p95_ms, p.names, p.named_rows, f.learners
        );
    }
    let _ = writeln!(
        md,
        "\nWhere the time goes: the ID token (one LTIaaS round trip) comes first; then the Query and \
         the roster run side by side. At 100 ms a page, the roster's {} pages do not all fit in the \
         700 ms the page gives them, so learners on the pages not read are shown by user id \
         (`partOfRoster`) and the page still answers within the second.\n",
        f.learners.div_ceil(ROSTER_PAGE)
    );
}

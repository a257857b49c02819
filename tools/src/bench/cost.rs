//! Section 3: what a run costs in the units AWS bills. The runs go through
//! a proxy that works out each read's units by DynamoDB's documented
//! sizing rules from what crossed the wire (`ltisync_tests::billing`), next
//! to what the server itself reported (Dynoxide applies the same rules).

use std::fmt::Write as _;
use std::time::Duration;

use ltisync::{ActivityIds, Store};
use ltisync_tests::aws_proxy::RecordingProxy;
use ltisync_tests::billing::attribute_item_size;
use ltisync_tests::dynamo::{client_for, get_item, TestTable};
use ltisync_tests::simulator::Simulator;

use crate::plan::Plan;
use crate::servers::Server;
use crate::setup::{
    grade_item, grades_of, resolve_line_items, run_sync, set_up_activities, tuning, user_id,
    write_grades,
};

/// On-demand prices in us-east-1, US$ per million request units (AWS
/// DynamoDB pricing, on-demand, since the cut of 1 November 2024).
const READ_PRICE: f64 = 0.125;
const WRITE_PRICE: f64 = 0.625;

/// One distribution of pending grades and what a run over it cost.
pub(super) struct CostScenario {
    pub(super) label: &'static str,
    pub(super) pending: usize,
    pub(super) activities_with_work: usize,
    pub(super) posted: u64,
    /// Read units of finding the work, by the sizing rules (the proxy).
    pub(super) read_units: f64,
    /// Read units of what the LMS accepted before (one consistent read of
    /// each posted grade's posted item: "each value once").
    pub(super) accepted_units: f64,
    /// What the server reported for the run (`consumedReadUnits`/`Write`).
    pub(super) reported_read: f64,
    pub(super) reported_write: f64,
    pub(super) items_read: u64,
    /// The same work read the way runs did before the work index: a
    /// keys-only index, then each grade and activity consistently.
    pub(super) before_read_units: f64,
    /// At most this share of a full scan (the targets).
    pub(super) target: Option<f64>,
    /// A full eventually consistent scan of the same table, just before.
    pub(super) full_scan_units: f64,
}

pub(super) struct CostFigures {
    pub(super) activities: usize,
    pub(super) grades: usize,
    pub(super) grade_bytes: u64,
    pub(super) synced_grade_bytes: u64,
    pub(super) activity_bytes: u64,
    /// A full scan with no grade pending.
    pub(super) idle_scan_units: f64,
    pub(super) scenarios: Vec<CostScenario>,
}

/// Which grades are pending, as (activity, user) indexes.
type Selection = Vec<(usize, usize)>;

/// The distributions measured: 1% concentrated in a tenth of the
/// activities, 1% spread one per activity, the same at 10%, and all.
fn selections(n: usize, g: usize) -> Vec<(&'static str, Selection, Option<f64>)> {
    let tenth = (n / 10).max(1);
    let grid = |activities: usize, users: usize| -> Selection {
        (0..activities)
            .flat_map(|a| (0..users).map(move |u| (a, u)))
            .collect()
    };
    vec![
        ("1%, concentrated", grid(tenth, (g / 10).max(1)), Some(0.05)),
        ("1%, spread", grid(n, 1), Some(0.10)),
        ("10%, concentrated", grid(tenth, g), None),
        ("10%, spread", grid(n, (g / 10).max(1)), None),
        ("100%", grid(n, g), Some(1.2)),
    ]
}

pub(super) async fn measure_cost(plan: &Plan, sim: &Simulator, server: &Server) -> CostFigures {
    let (n, g) = (plan.cost_activities, plan.cost_grades_per_activity);
    sim.set_latency(Duration::ZERO);
    let table = server.table(false).await;
    let ids = set_up_activities(sim, &table.store(), n, plan.platforms).await;
    let all = grades_of(&ids, g);
    write_grades(&table, &all, false).await;
    let proxy = RecordingProxy::start(&table.endpoint).await;
    let store = Store::new(client_for(&proxy.url()), &table.name);
    resolve_line_items(
        sim,
        &table,
        &store,
        &all,
        g,
        tuning(32, 32, None),
        Duration::from_secs(900),
    )
    .await;
    let idle_scan_units = full_scan(&proxy, &table).await;
    let sizes = Sizes::of(&table, &ids[0], &all[0].1).await;
    let priced = Priced {
        ids,
        store,
        proxy,
        table,
    };
    let mut scenarios = Vec::new();
    for selection in selections(n, g) {
        scenarios.push(measure_scenario(sim, &priced, &sizes, selection).await);
    }
    CostFigures {
        activities: n,
        grades: all.len(),
        grade_bytes: sizes.grade,
        synced_grade_bytes: sizes.synced_grade,
        activity_bytes: sizes.activity,
        idle_scan_units,
        scenarios,
    }
}

/// The measured table, its activities, and the store that reads it through
/// the pricing proxy.
struct Priced {
    ids: Vec<ActivityIds>,
    store: Store,
    proxy: RecordingProxy,
    table: TestTable,
}

/// One distribution: its grades written pending, a full scan of the table
/// as it then is, and a run that posts them.
async fn measure_scenario(
    sim: &Simulator,
    priced: &Priced,
    sizes: &Sizes,
    (label, selection, target): (&'static str, Selection, Option<f64>),
) -> CostScenario {
    let Priced {
        ids,
        store,
        proxy,
        table,
    } = priced;
    let pending: Vec<_> = selection
        .iter()
        .map(|(a, u)| (ids[*a].clone(), user_id(*u)))
        .collect();
    write_grades(table, &pending, true).await;
    let full_scan_units = full_scan(proxy, table).await;
    let summary = run_sync(sim, store, tuning(32, 32, None), Duration::from_secs(900)).await;
    let reads = proxy.take_read_units();
    let accepted_units = reads.get("GetItem").copied().unwrap_or(0.0);
    let read_units: f64 = reads.values().sum::<f64>() - accepted_units;
    let activities_with_work = selection
        .iter()
        .map(|(a, _)| a)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    eprintln!("  {label}: {read_units:.1} read units (full scan {full_scan_units:.1})");
    CostScenario {
        label,
        pending: pending.len(),
        activities_with_work,
        posted: summary.grades_posted,
        read_units,
        accepted_units,
        reported_read: summary.consumed_read_units,
        reported_write: summary.consumed_write_units,
        items_read: summary.items_read,
        before_read_units: sizes.before(pending.len(), activities_with_work),
        target,
        full_scan_units,
    }
}

/// One eventually consistent scan of the whole table, through `proxy`:
/// its read units.
async fn full_scan(proxy: &RecordingProxy, table: &TestTable) -> f64 {
    proxy.take_read_units();
    let client = client_for(&proxy.url());
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(&table.name)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return proxy.take_read_units().values().sum(),
        }
    }
}

/// Item sizes by the billing rules.
struct Sizes {
    grade: u64,
    synced_grade: u64,
    activity: u64,
    /// A keys-only index entry of a grade (pk, sk, pending).
    key_entry: u64,
}

impl Sizes {
    async fn of(table: &TestTable, ids: &ActivityIds, user: &str) -> Self {
        let pending = grade_item(ids, user, true);
        let keys = ["pk", "sk", "pending"];
        let key_entry = attribute_item_size(
            &pending
                .iter()
                .filter(|(k, _)| keys.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        let activity = get_item(
            &table.client,
            &table.name,
            &format!("ACT#{}", ids.key()),
            "ACTIVITY",
        )
        .await
        .expect("the activity item");
        Self {
            grade: attribute_item_size(&pending),
            synced_grade: attribute_item_size(&grade_item(ids, user, false)),
            activity: attribute_item_size(&activity),
            key_entry,
        }
    }

    /// The read units of the same work before the work index: a scan of
    /// keys-only entries, then a consistent read of every pending grade and
    /// of every activity with work, each rounded up to 4 KB.
    fn before(&self, pending: usize, activities: usize) -> f64 {
        let entries = (pending as u64 * self.key_entry).div_ceil(4096).max(1) as f64 * 0.5;
        let per_item = |bytes: u64| bytes.div_ceil(4096) as f64;
        entries
            + pending as f64 * per_item(self.grade)
            + activities as f64 * per_item(self.activity)
    }
}

pub(super) fn write_cost(md: &mut String, plan: &Plan, f: &CostFigures) {
    let _ = writeln!(md, "## 3. Read cost in billed units\n");
    write_cost_setting(md, plan, f);
    write_cost_table(md, f);
    write_what_a_run_reads(md);
    write_write_cost(md, f);
}

/// The table measured, its item sizes, and how the reads are priced.
fn write_cost_setting(md: &mut String, plan: &Plan, f: &CostFigures) {
    let _ = writeln!(
        md,
        "{} grades in {} activities ({} per activity, {} platforms), ids shaped like Canvas's \
         (32-hex-digit platform ids, 40-hex-digit course ids, UUIDs for links and users, service \
         keys of about 530 characters). By DynamoDB's sizing rules a pending grade item is {} \
         bytes, a posted one {} bytes, an activity item {} bytes. Each run goes through a proxy \
         that prices every read by those rules from what crossed the wire (`tests/src/billing.rs`: \
         4 KB units, half for eventually consistent reads, index entries by their projected \
         attributes; `GetItem`/`BatchGetItem` per item, `Query`/`Scan` per request). Each run is \
         set beside a full eventually consistent scan of the same table just before it (pending \
         items are larger than posted ones); with no grade pending a full scan costs {:.1} read \
         units. The runs post every pending grade (the simulator at zero latency).\n",
        f.grades,
        f.activities,
        plan.cost_grades_per_activity,
        plan.platforms,
        f.grade_bytes,
        f.synced_grade_bytes,
        f.activity_bytes,
        f.idle_scan_units
    );
}

/// A row per distribution: finding the work against a full scan, and
/// against the reads before the work index.
fn write_cost_table(md: &mut String, f: &CostFigures) {
    let _ = writeln!(
        md,
        "| pending | grades | activities with work | items read | read units: finding the work | full scan | share | target | met | + what the LMS accepted | reported by the server (read / write) | before the work index (read) |\n|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"
    );
    for s in &f.scenarios {
        let share = s.read_units / s.full_scan_units;
        let (target, met) = match s.target {
            Some(t) => (
                format!("≤ {:.0}%", t * 100.0),
                if share <= t { "yes" } else { "**no**" },
            ),
            None => (String::new(), ""),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.1} | {:.1} | {:.2}% | {target} | {met} | {:.1} | {:.1} / {:.1} | {:.1} ({:.0}%) |",
            s.label,
            s.pending,
            s.activities_with_work,
            s.items_read,
            s.read_units,
            s.full_scan_units,
            100.0 * share,
            s.accepted_units,
            s.reported_read,
            s.reported_write,
            s.before_read_units,
            100.0 * s.before_read_units / s.full_scan_units
        );
    }
}

/// What a run reads, and what the reads before the work index were.
fn write_what_a_run_reads(md: &mut String) {
    let _ = writeln!(
        md,
        "\nA run reads one thing: the sparse `work` index, which holds the pending grades and \
         every activity (with what posting needs projected), eventually consistently, so it pays \
         by the bytes it returns. Every activity's index copy is read by every run (the floor of \
         the concentrated case); each pending grade adds its copy. Before this index, a run read \
         keys, then each grade and activity on its own with a consistent read, each billed as a \
         whole 4 KB unit: the last column, worked out by the same rules for the same work. \
         The targets are for finding the work. Since each value reaches the gradebook once, each \
         grade about to be posted also costs one consistent read of what the LMS accepted for it \
         before (its own small item beside the grade, one unit): the column before the server's \
         figures. It is what lets a run skip a value the LMS already holds (section 9).\n"
    );
}

/// The writes each posted grade costs, and the 1% concentrated run in
/// dollars, now and before the work index.
fn write_write_cost(md: &mut String, f: &CostFigures) {
    let (posted, writes): (u64, f64) = f
        .scenarios
        .iter()
        .fold((0, 0.0), |(p, w), s| (p + s.posted, w + s.reported_write));
    let per_grade = writes / posted.max(1) as f64;
    let _ = writeln!(
        md,
        "What the reads save is partly spent on writes: each posted grade is confirmed with a \
         conditional write before its post (so an index copy that lags can never send an older \
         value), and what the LMS accepted is recorded beside the grade, beside the outcome \
         write and the index entry's removal: {per_grade:.2} write units per posted grade as the \
         server reported them over these runs (the lease, claims and line item cache included), \
         two more than runs needed before the work index (section 9 itemises them). In on-demand prices \
         (us-east-1, US$ {READ_PRICE} per million read and {WRITE_PRICE} per million write \
         units) the 1% concentrated run costs:\n"
    );
    if let Some(s) = f.scenarios.first() {
        let dollars = |reads: f64, writes: f64| (reads * READ_PRICE + writes * WRITE_PRICE) / 1e6;
        // The same writes less the confirmations and the records of what
        // the LMS accepted (one unit each: both items are under 1 KB).
        let before_writes = s.reported_write - 2.0 * s.posted as f64;
        let _ = writeln!(
            md,
            "| | read units | write units | US$ |\n|---|---:|---:|---:|\n| now | {:.1} | {:.1} | {:.7} |\n| before the work index | {:.1} | {:.1} (the same less the confirmations and the records of what was accepted) | {:.7} |\n",
            s.read_units + s.accepted_units,
            s.reported_write,
            dollars(s.read_units + s.accepted_units, s.reported_write),
            s.before_read_units,
            before_writes,
            dollars(s.before_read_units, before_writes)
        );
    }
}

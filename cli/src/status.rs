//! `ltisync status`: where each activity's grades stand.

use std::collections::BTreeMap;
use std::process::ExitCode;

use ltisync::store::report::{GradeStage, GradeState, ItemKind};
use ltisync::store::ActivityItem;
use ltisync::sync::StoredReason;
use ltisync::{ActivityKey, Store};
use serde::Serialize;

use crate::inventory::{self, fit, pad, Item};
use crate::Trouble;

/// Grades by where they stand.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    synced: u64,
    failed: u64,
    pending: u64,
    /// Pending grades by why (`queued`: not tried yet).
    pending_reasons: BTreeMap<String, u64>,
    /// Grades written without `pending`: never posted until written again.
    never_queued: u64,
}

/// One activity's line of the report.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct ActivityStatus {
    activity_key: String,
    platform_id: String,
    context_id: String,
    context_title: Option<String>,
    resource_link_id: String,
    title: Option<String>,
    launched: bool,
    last_launch_at: Option<String>,
    has_service_key: bool,
    needs_relaunch: Option<String>,
    line_item_id: Option<String>,
    grades: Counts,
}

#[derive(Serialize)]
struct Report<'a> {
    activities: Vec<&'a ActivityStatus>,
    totals: Counts,
}

/// How the report is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// 80 columns.
    Table,
    /// The table, with each activity's key on a line of its own.
    Wide,
    /// JSON.
    Json,
}

impl View {
    /// The view the flags ask for (`--json` wins over `--wide`).
    pub fn chosen(json: bool, wide: bool) -> Self {
        match (json, wide) {
            (true, _) => View::Json,
            (false, true) => View::Wide,
            (false, false) => View::Table,
        }
    }
}

pub async fn run(
    store: &Store,
    activity: Option<&ActivityKey>,
    view: View,
) -> Result<ExitCode, Trouble> {
    let mut by_key: BTreeMap<ActivityKey, ActivityStatus> = BTreeMap::new();
    inventory::for_each_item(store, activity, |item| match ItemKind::of(&item) {
        ItemKind::Activity(key) => describe(entry(&mut by_key, key), &item),
        ItemKind::Grade(key) => count(&mut entry(&mut by_key, key).grades, &item),
        ItemKind::Other => {}
    })
    .await?;
    let mut totals = Counts::default();
    for status in by_key.values() {
        add(&mut totals, &status.grades);
    }
    let report = Report {
        activities: by_key.values().collect(),
        totals,
    };
    match view {
        View::Json => println!("{}", serde_json::to_string_pretty(&report).expect("JSON")),
        View::Table | View::Wide => print!("{}", table(&report, view == View::Wide)),
    }
    Ok(ExitCode::SUCCESS)
}

fn entry(
    by_key: &mut BTreeMap<ActivityKey, ActivityStatus>,
    key: ActivityKey,
) -> &mut ActivityStatus {
    by_key.entry(key.clone()).or_insert_with(|| {
        let ids = key.ids();
        ActivityStatus {
            activity_key: key.to_string(),
            platform_id: ids.platform_id,
            context_id: ids.context_id,
            resource_link_id: ids.resource_link_id,
            ..ActivityStatus::default()
        }
    })
}

fn describe(status: &mut ActivityStatus, item: &Item) {
    status.launched = true;
    let Some(activity) = ActivityItem::read(item) else {
        return;
    };
    status.context_title = activity.context_title;
    status.title = activity.resource_link_title;
    status.last_launch_at = activity.last_launch_at;
    status.has_service_key = activity.service_key.is_some();
    status.needs_relaunch = activity.needs_relaunch;
    status.line_item_id = activity.line_item_id.or(activity.launch_line_item_id);
}

fn count(counts: &mut Counts, grade: &Item) {
    let pending_reason = match GradeState::read(grade).stage {
        GradeStage::Synced => return counts.synced += 1,
        GradeStage::Failed(_) => return counts.failed += 1,
        GradeStage::NeverQueued => return counts.never_queued += 1,
        GradeStage::Unknown => return,
        GradeStage::Queued => "queued",
        // Confirmed by a run that is posting it now, or that stopped before
        // recording the outcome: the next run posts it again.
        GradeStage::Posting => "posting",
        GradeStage::Waiting(StoredReason::Pending(reason)) => reason.code(),
        GradeStage::Waiting(_) => "other",
    };
    counts.pending += 1;
    *counts
        .pending_reasons
        .entry(pending_reason.to_owned())
        .or_default() += 1;
}

fn add(totals: &mut Counts, counts: &Counts) {
    totals.synced += counts.synced;
    totals.failed += counts.failed;
    totals.pending += counts.pending;
    totals.never_queued += counts.never_queued;
    for (reason, n) in &counts.pending_reasons {
        *totals.pending_reasons.entry(reason.clone()).or_default() += n;
    }
}

/// The human report: 80 columns at most.
fn table(report: &Report, wide: bool) -> String {
    let mut out = format!(
        "{:<30} {:<14} {:>6} {:>6} {:>7}  {}\n",
        "ACTIVITY", "PLATFORM", "SYNCED", "FAILED", "PENDING", "NOTE"
    );
    if report.activities.is_empty() {
        out.push_str("(no activities)\n");
    }
    for a in &report.activities {
        let name = a.title.as_deref().unwrap_or(&a.resource_link_id);
        let course = a.context_title.as_deref().unwrap_or(&a.context_id);
        let line = format!(
            "{} {} {:>6} {:>6} {:>7}  {}",
            pad(&format!("{name} ({course})"), 30),
            pad(&a.platform_id, 14),
            a.grades.synced,
            a.grades.failed,
            a.grades.pending,
            fit(&note(a), 12)
        );
        out.push_str(line.trim_end());
        out.push('\n');
        if wide {
            // Whole (escaped), so it can be passed to --activity.
            let key = fit(&a.activity_key, usize::MAX);
            out.push_str(&format!("  key: {key}\n"));
        }
        if !a.grades.pending_reasons.is_empty() {
            out.push_str(&fit(&format!("  pending: {}", reasons(&a.grades)), 80));
            out.push('\n');
        }
        out.push_str(&never_queued(&a.grades));
    }
    let t = &report.totals;
    out.push_str(&format!(
        "{:<30} {:<14} {:>6} {:>6} {:>7}\n",
        format!("TOTAL ({} activities)", report.activities.len()),
        "",
        t.synced,
        t.failed,
        t.pending
    ));
    if !t.pending_reasons.is_empty() {
        out.push_str(&fit(&format!("  pending: {}", reasons(t)), 80));
        out.push('\n');
    }
    out
}

fn note(a: &ActivityStatus) -> String {
    if !a.launched {
        "not launched".into()
    } else if a.needs_relaunch.is_some() {
        "relaunch".into()
    } else if !a.has_service_key {
        "no key".into()
    } else {
        String::new()
    }
}

/// A line for grades written without `pending`, which nothing will post.
fn never_queued(counts: &Counts) -> String {
    match counts.never_queued {
        0 => String::new(),
        n => format!("  never queued: {n} (written without pending; ltisync explain says more)\n"),
    }
}

fn reasons(counts: &Counts) -> String {
    counts
        .pending_reasons
        .iter()
        .map(|(r, n)| format!("{r} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;

    fn grade(pairs: &[(&str, &str)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), AttributeValue::S(v.to_string())))
            .collect()
    }

    #[test]
    fn grades_are_counted_by_stage_and_pending_reason() {
        let pending = ("pending", "ACT#p#c#r");
        let mut counts = Counts::default();
        for item in [
            grade(&[pending]),
            grade(&[pending, ("syncStatus", "POSTING")]),
            grade(&[
                pending,
                ("syncStatus", "PENDING"),
                ("lastErrorCode", "deadline"),
            ]),
            grade(&[
                pending,
                ("syncStatus", "PENDING"),
                ("lastError", "the run ran out of time"),
            ]),
            grade(&[pending, ("syncStatus", "PENDING"), ("lastError", "?")]),
            grade(&[("syncStatus", "SYNCED")]),
            grade(&[("syncStatus", "FAILED"), ("lastErrorCode", "notALearner")]),
            grade(&[("syncStatus", "SOMETHING")]),
        ] {
            count(&mut counts, &item);
        }
        assert_eq!((counts.synced, counts.failed, counts.pending), (1, 1, 5));
        let reasons: Vec<(&str, u64)> = counts
            .pending_reasons
            .iter()
            .map(|(r, n)| (r.as_str(), *n))
            .collect();
        assert_eq!(
            reasons,
            [("deadline", 2), ("other", 1), ("posting", 1), ("queued", 1)]
        );
    }
}

//! `ltisync reconcile`: what the gradebook shows, compared with the table.
//!
//! For each activity in scope: its grades (one query of its partition) and
//! its line item's results (one paged listing, with the service key, under
//! the sync's request gate and retry rules), sorted by `ltisync::reconcile`
//! into matches, differs, missing and unknown; an activity whose results
//! cannot be read is `unreadable`, with the reason. Memory holds at most
//! eight activities' grades and results at a time (and the lines to print). It writes only when asked to
//! requeue (`--requeue-missing`, `--requeue-differs`), and then as
//! `ltisync requeue --force` does.

mod activity;
mod output;

use std::process::ExitCode;

use futures::StreamExt;
use std::time::{Duration, SystemTime};

use ltisync::ltiaas::RequestGate;
use ltisync::store::report::ItemKind;
use ltisync::{ActivityKey, Store};

use crate::inventory;
use crate::Trouble;

use output::{ActivityReport, Report};

/// What to reconcile and what to do about it (the command's arguments).
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Only this activity.
    #[arg(long)]
    pub activity: Option<String>,
    /// Only activities of this platform (its LTIaaS registration id).
    #[arg(long)]
    pub platform: Option<String>,
    /// Reconcile at most this many activities (in key order).
    #[arg(long, value_name = "N")]
    pub max_activities: Option<usize>,
    /// Queue the missing grades to be sent again (as requeue --force).
    #[arg(long)]
    pub requeue_missing: bool,
    /// Queue the grades the gradebook shows otherwise to be sent again,
    /// overwriting what an instructor may have set there.
    #[arg(long)]
    pub requeue_differs: bool,
    /// With a requeue option: say what would be queued; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// How long the whole command may take talking to LTIaaS.
const BUDGET: Duration = Duration::from_secs(3600);

/// Activities read at once (each one's grades and results in memory until
/// its report is folded; the gate still holds LTIaaS requests to the
/// sync's concurrency per platform).
const CONCURRENT_ACTIVITIES: usize = 8;

pub async fn run(options: &Options, table: Option<&str>) -> Result<ExitCode, Trouble> {
    let (client, store, settings) = crate::sync::connect(table).await?;
    let keys = activities_in_scope(&store, options).await?;
    let platforms: Vec<String> = keys.iter().map(|k| k.ids().platform_id).collect();
    let gate = RequestGate::new(
        &settings.tuning,
        platforms.iter().map(String::as_str),
        SystemTime::now() + BUDGET,
    );
    let reader = activity::Reader {
        store: &store,
        client: &client,
        gate: &gate,
        options,
    };
    let progress = inventory::activity_progress(keys.len());
    let reports: Vec<Result<ActivityReport, Trouble>> = futures::stream::iter(&keys)
        .map(|key| {
            let (reader, progress) = (&reader, &progress);
            async move {
                let report = reader.reconcile(key).await;
                progress.inc(1);
                report
            }
        })
        .buffered(CONCURRENT_ACTIVITIES)
        .collect()
        .await;
    progress.finish_and_clear();
    let mut report = Report::default();
    for activity in reports {
        report.add(activity?);
    }
    report.print(options.json);
    Ok(report.exit_code())
}

/// The activities to reconcile: the one named, or every activity of the
/// table (of `--platform`), at most `--max-activities`, in key order.
async fn activities_in_scope(
    store: &Store,
    options: &Options,
) -> Result<Vec<ActivityKey>, Trouble> {
    if let Some(key) = crate::parse_key(options.activity.clone())? {
        return Ok(vec![key]);
    }
    let mut keys = Vec::new();
    inventory::for_each_item(store, None, |item| {
        if let ItemKind::Activity(key) = ItemKind::of(&item) {
            let platform = key.ids().platform_id;
            if options.platform.as_ref().is_none_or(|p| *p == platform) {
                keys.push(key);
            }
        }
    })
    .await?;
    keys.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    keys.truncate(options.max_activities.unwrap_or(usize::MAX));
    Ok(keys)
}

//! `ltisync requeue`: makes grades pending again with the `PutItem` a tool
//! would make (the same values, `pending` set, the sync's attributes gone),
//! conditional on the grade being unchanged since it was read. The sync
//! then settles a grade whose value the LMS already holds without a call;
//! `--force` first forgets what the LMS accepted, so the value is sent.

use std::process::ExitCode;

use ltisync::store::{PendingGrade, WriteOutcome};
use ltisync::{ActivityKey, Store};
use serde::Serialize;

use ltisync::store::report::{GradeStage, GradeState, ItemKind};

use crate::inventory::{self, fit, Item};
use crate::Trouble;

/// Which grades to requeue.
pub struct Selection {
    pub failed: bool,
    pub user: Option<String>,
    pub activity: Option<ActivityKey>,
    pub dry_run: bool,
    pub force: bool,
}

/// Why `requeue` without `--activity` refuses to act.
const WHOLE_TABLE_NEEDS_ALL: &str =
    "requeue acts on the whole table only with --all; name one activity with --activity KEY";

impl Selection {
    /// The selection, if it may act: the whole table only with `--all`.
    pub fn checked(self, all: bool) -> Result<Self, Trouble> {
        if self.activity.is_none() && !all {
            return Err(Trouble::new(WHOLE_TABLE_NEEDS_ALL));
        }
        Ok(self)
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Requeued {
    activity_key: String,
    user_id: String,
    /// `requeued`, `wouldRequeue` (dry run), or `changed` (the tool wrote
    /// the grade meanwhile; nothing was written).
    result: &'static str,
}

pub async fn run(store: &Store, selection: &Selection, json: bool) -> Result<ExitCode, Trouble> {
    let mut chosen: Vec<(ActivityKey, String, Item)> = Vec::new();
    inventory::for_each_item(store, selection.activity.as_ref(), |item| {
        if let ItemKind::Grade(key) = ItemKind::of(&item) {
            let state = GradeState::read(&item);
            if selected(selection, &state) {
                chosen.push((key, state.user_id.unwrap_or_default(), item));
            }
        }
    })
    .await?;
    let mut done = Vec::new();
    for (key, user_id, item) in chosen {
        let result = if selection.dry_run {
            "wouldRequeue"
        } else {
            requeue(store, PendingGrade::from_item(item), selection.force).await?
        };
        done.push(Requeued {
            activity_key: key.to_string(),
            user_id,
            result,
        });
    }
    if json {
        let body = serde_json::json!({"dryRun": selection.dry_run, "grades": done});
        println!("{}", serde_json::to_string_pretty(&body).expect("JSON"));
    } else {
        for g in &done {
            let (key, user) = (fit(&g.activity_key, 120), fit(&g.user_id, 120));
            println!("{:<13} {key} {user}", g.result);
        }
        println!("{} grade(s) selected", done.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// Requeues one grade, first forgetting what the LMS accepted (`force`).
pub(crate) async fn requeue(
    store: &Store,
    grade: PendingGrade,
    force: bool,
) -> Result<&'static str, Trouble> {
    if force {
        let forgotten = store.forget_fingerprint(&grade.key()).await;
        forgotten.map_err(|e| Trouble::store(store.table(), e))?;
    }
    match store.requeue(&grade).await {
        Ok(WriteOutcome::Applied) => Ok("requeued"),
        Ok(WriteOutcome::Changed) => Ok("changed"),
        Err(e) => Err(Trouble::store(store.table(), e)),
    }
}

/// Not already pending, and failed (`--failed`) or the user's (`--user`).
fn selected(selection: &Selection, grade: &GradeState) -> bool {
    if grade.is_pending() {
        return false;
    }
    match &selection.user {
        Some(user) => grade.user_id.as_deref() == Some(user.as_str()),
        None => selection.failed && matches!(grade.stage, GradeStage::Failed(_)),
    }
}

//! One activity reconciled: its grades from the table, its results from
//! the LMS, sorted, and (when asked) the missing or differing ones queued
//! to be sent again.

use std::collections::{HashMap, HashSet};

use ltisync::activity::Activity;
use ltisync::ltiaas::RequestGate;
use ltisync::ltiaas::{LmsResult, LtiaasClient, LtiaasError, PageGuard};
use ltisync::reconcile::{reconcile, Finding, Posted, Reconciled};
use ltisync::store::report::{GradeStage, GradeState, ItemKind};
use ltisync::store::{GradeItem, PendingGrade};
use ltisync::{ActivityKey, Store};

use super::output::{ActivityReport, Requeued};
use super::Options;
use crate::inventory::{self, Item};
use crate::Trouble;

/// Most pages of one line item's results read.
const MAX_RESULT_PAGES: usize = 10_000;

/// What reconciling needs, shared by every activity.
pub struct Reader<'a> {
    pub store: &'a Store,
    pub client: &'a LtiaasClient,
    pub gate: &'a RequestGate,
    pub options: &'a Options,
}

/// One activity's grades as the table holds them.
#[derive(Default)]
struct TableGrades {
    /// SYNCED grades with a score, as posted.
    posted: Vec<Posted>,
    /// Every user with a grade.
    graded: HashSet<String>,
    /// The items of the posted grades, for a requeue.
    items: HashMap<String, Item>,
}

/// Why one activity was not reconciled: a reason its report shows while
/// the command goes on, or trouble that stops the command.
enum NotRead {
    Unreadable(String),
    /// No grade of the activity was ever posted: nothing to compare yet.
    NothingSent,
    Trouble(Trouble),
}

impl From<Trouble> for NotRead {
    fn from(trouble: Trouble) -> Self {
        NotRead::Trouble(trouble)
    }
}

impl Reader<'_> {
    /// Reconciles the activity at `key`.
    pub async fn reconcile(&self, key: &ActivityKey) -> Result<ActivityReport, Trouble> {
        match self.read(key).await {
            Ok(report) => Ok(report),
            Err(NotRead::Unreadable(reason)) => Ok(ActivityReport::unreadable(key, reason)),
            Err(NotRead::NothingSent) => Ok(ActivityReport::nothing_sent(key)),
            Err(NotRead::Trouble(trouble)) => Err(trouble),
        }
    }

    async fn read(&self, key: &ActivityKey) -> Result<ActivityReport, NotRead> {
        let activity = self.activity(key).await?;
        let grades = self.table_grades(key).await?;
        let (line_item, service_key) = readable(&activity, &grades)?;
        let platform = key.ids().platform_id;
        let results = self
            .results(&platform, service_key, &line_item)
            .await
            .map_err(|e| NotRead::Unreadable(format!("its results could not be read: {e}")))?;
        let sorted = reconcile(&grades.posted, &results, &grades.graded);
        let requeued = self.requeue(&sorted, &grades).await?;
        Ok(ActivityReport::read(key, &grades.posted, sorted, requeued))
    }

    /// The activity, or why it cannot be read.
    async fn activity(&self, key: &ActivityKey) -> Result<Activity, NotRead> {
        let mut found = self
            .store
            .activities(std::slice::from_ref(key))
            .await
            .map_err(|e| Trouble::store(self.store.table(), e))?;
        match found.remove(key) {
            None => Err(NotRead::Unreadable("no such activity in the table".into())),
            Some(Err(reason)) => Err(NotRead::Unreadable(format!(
                "its item is malformed: {reason}"
            ))),
            Some(Ok(activity)) => Ok(activity),
        }
    }

    /// The activity's grades: one query of its partition.
    async fn table_grades(&self, key: &ActivityKey) -> Result<TableGrades, Trouble> {
        let mut grades = TableGrades::default();
        inventory::for_each_item(self.store, Some(key), |item| {
            if !matches!(ItemKind::of(&item), ItemKind::Grade(_)) {
                return;
            }
            let state = GradeState::read(&item);
            let Some(user) = state.user_id.clone() else {
                return;
            };
            grades.graded.insert(user.clone());
            if let (GradeStage::Synced, Some(posted)) = (state.stage, posted(&user, &item)) {
                grades.posted.push(posted);
                grades.items.insert(user, item);
            }
        })
        .await?;
        Ok(grades)
    }

    /// Every page of the line item's results, under the request gate and
    /// its retry rules.
    async fn results(
        &self,
        platform: &str,
        key: &ltisync::ServiceKey,
        line_item: &str,
    ) -> Result<Vec<LmsResult>, LtiaasError> {
        let (gate, client) = (self.gate, self.client);
        let first = || gate.send(platform, || client.results(key, line_item, None));
        let mut page = gate.with_retries(first).await?;
        let mut results = std::mem::take(&mut page.scores);
        let mut guard = PageGuard::new(MAX_RESULT_PAGES, "the line item's results");
        while let Some(next) = page.next.take() {
            guard.check(&next)?;
            let further = || gate.send(platform, || client.results_page(key, line_item, &next));
            page = gate.with_retries(further).await?;
            results.append(&mut page.scores);
        }
        Ok(results)
    }

    /// Queues the grades asked for (`--requeue-missing`, `--requeue-differs`)
    /// to be sent again, as `ltisync requeue --force` does.
    async fn requeue(
        &self,
        sorted: &Reconciled,
        grades: &TableGrades,
    ) -> Result<Vec<Requeued>, Trouble> {
        let mut done = Vec::new();
        for (user, finding) in &sorted.findings {
            let wanted = match finding {
                Finding::Missing => self.options.requeue_missing,
                Finding::Differs { .. } => self.options.requeue_differs,
                Finding::Matches => false,
            };
            let Some(item) = grades.items.get(user).filter(|_| wanted) else {
                continue;
            };
            let result = if self.options.dry_run {
                "wouldRequeue"
            } else {
                crate::requeue::requeue(self.store, PendingGrade::from_item(item.clone()), true)
                    .await?
            };
            done.push(Requeued {
                user_id: user.clone(),
                result,
            });
        }
        Ok(done)
    }
}

/// The activity's line item and service key, when its results can be read
/// at all; else why not.
/// The line item and service key to read the results with, or why there
/// is nothing to read.
fn readable<'a>(
    activity: &'a Activity,
    grades: &TableGrades,
) -> Result<(String, &'a ltisync::ServiceKey), NotRead> {
    // With nothing posted there is nothing to compare, whatever else holds.
    if grades.posted.is_empty() {
        return Err(NotRead::NothingSent);
    }
    readable_with_a_post(activity).map_err(NotRead::Unreadable)
}

fn readable_with_a_post(activity: &Activity) -> Result<(String, &ltisync::ServiceKey), String> {
    let Some(service_key) = &activity.service_key else {
        return Err("its launches carried no service key".into());
    };
    if let Some(why) = &activity.needs_relaunch {
        return Err(format!(
            "LTIaaS refused its service key ({why}); launch it once from the LMS"
        ));
    }
    if !activity.services.may_read_results() {
        return Err(
            "the LMS did not grant the result scope (lti-ags/scope/result.readonly)".into(),
        );
    }
    // The line item the sync posts to: the one it resolved, or the one the
    // launch named (the sync posts there without caching it).
    match ltisync::sync::line_item::known(activity) {
        Some(line_item) => Ok((line_item.id, service_key)),
        None => Err("no line item is recorded although grades were posted; run a sync".into()),
    }
}

/// What the table says was posted for `user`: a SYNCED grade's score.
fn posted(user: &str, item: &Item) -> Option<Posted> {
    let text = |name: &str| match item.get(name) {
        Some(aws_sdk_dynamodb::types::AttributeValue::S(s)) => Some(s.as_str()),
        _ => None,
    };
    let grade = GradeItem::read(text("pk")?, text("sk")?, item).ok()?;
    Some(Posted {
        user_id: user.to_owned(),
        score_given: grade.score_given?,
        score_maximum: grade.score_maximum.filter(|m| *m > 0.0)?,
    })
}

//! What the status page shows of one activity: a row per grade, counts per
//! state, the time of the last post. Built from the items of one Query of
//! the activity's partition (the activity, its grades, and what the LMS
//! accepted for each); the JSON view serialises it as it is, so its shape
//! is the documented one (docs/status-page.md).

use std::cmp::Ordering;
use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use crate::activity::ActivityIds;
use crate::outcome::{FailCode, PendingReason, StoredReason};
use crate::store::report::{text, GradeStage, GradeState, ItemKind};
use crate::store::{schema, ActivityItem, RawItem};

use super::Audience;

/// The JSON view's version: raised only when a field changes meaning or
/// goes away (new fields may appear without it).
pub const REPORT_VERSION: u32 = 1;

/// One activity as its viewer may see it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityReport {
    /// [`REPORT_VERSION`].
    pub version: u32,
    /// Which activity (the one the viewer's launch names).
    pub activity: ActivitySummary,
    /// Who is looking, and so what is shown.
    pub viewer: Viewer,
    /// Grades per state, over the rows shown.
    pub counts: Counts,
    /// When the LMS last accepted one of the grades shown (RFC 3339).
    pub last_post_at: Option<String>,
    /// Where the learners' names came from.
    pub names: NamesSource,
    /// The grades shown: problems first, then by name.
    pub grades: Vec<GradeRow>,
    /// What a "Send again" just requeued (present only in its answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resent: Option<Vec<Resent>>,
}

/// The activity's ids and titles.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivitySummary {
    /// The activity key (what the tool writes grades under).
    pub key: String,
    /// LTIaaS platform id.
    pub platform_id: String,
    /// Course id.
    pub context_id: String,
    /// Resource link id.
    pub resource_link_id: String,
    /// Course title.
    pub context_title: Option<String>,
    /// Activity title.
    pub title: Option<String>,
    /// The gradebook column grades go to, once resolved.
    pub line_item_id: Option<String>,
}

/// The viewer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Viewer {
    /// Their LMS user id.
    pub user_id: String,
    /// `instructor` or `learner`.
    pub audience: ViewerAudience,
}

/// The audiences that get a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ViewerAudience {
    /// Every grade.
    Instructor,
    /// Their own.
    Learner,
}

/// Where names come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NamesSource {
    /// The whole course roster, read through LTIaaS for this page.
    Roster,
    /// The pages of the roster read in the time the page gives it: others
    /// are shown by user id.
    PartOfRoster,
    /// The roster could not be read (or is not offered): user ids.
    Unavailable,
    /// Not read (a learner's view).
    NotRead,
}

/// The names a roster read found, by user id.
#[derive(Debug, Clone, Default)]
pub struct RosterNames {
    /// Name by LMS user id (members the LMS names).
    pub by_user: HashMap<String, String>,
    /// Whether every page was read.
    pub complete: bool,
    /// Whether any page was read.
    pub read: bool,
}

impl RosterNames {
    /// Adds one page's members.
    pub fn add(&mut self, members: &[crate::ltiaas::Member]) {
        self.read = true;
        for member in members {
            if let Some(name) = member.display_name() {
                self.by_user.insert(member.user_id.clone(), name);
            }
        }
    }

    fn source(&self) -> NamesSource {
        match (self.read, self.complete) {
            (_, true) => NamesSource::Roster,
            (true, false) => NamesSource::PartOfRoster,
            (false, false) => NamesSource::Unavailable,
        }
    }
}

/// Grades per state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Every grade shown.
    pub total: u64,
    /// Accepted by the LMS.
    pub in_gradebook: u64,
    /// Pending: will be tried again.
    pub waiting: u64,
    /// Not sent, for a reason the LMS gave or the grade's own.
    pub not_sent: u64,
    /// Not sent because the roster does not list the user as a learner.
    pub not_a_learner: u64,
}

/// Where a grade stands, in the page's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RowState {
    /// Not sent, for good until someone acts.
    NotSent,
    /// Pending.
    Waiting,
    /// Not sent: not a learner in the course.
    NotALearner,
    /// In the gradebook.
    InGradebook,
}

/// When a waiting grade is tried next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NextTry {
    /// Within minutes: the stream retries it (or is posting it now).
    Soon,
    /// At the next daily sync.
    NextDailyRun,
    /// After someone launches the activity from the LMS (which renews its
    /// service key), then at the next daily sync.
    AfterLaunch,
}

/// One grade.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GradeRow {
    /// The LMS user id.
    pub user_id: String,
    /// The learner's name, where the roster gives it.
    pub name: Option<String>,
    /// Points given, as the tool wrote them.
    pub score_given: Option<f64>,
    /// Points possible.
    pub score_maximum: Option<f64>,
    /// Where it stands.
    pub state: RowState,
    /// Since when (RFC 3339): accepted, failed or last tried.
    pub since: Option<String>,
    /// The stored reason code (`lastErrorCode`), for waiting and not sent.
    pub reason_code: Option<String>,
    /// Why, in words: the LMS's own for a refusal.
    pub reason: Option<String>,
    /// The HTTP status of the LMS's refusal.
    pub http_status: Option<u16>,
    /// When a waiting grade is tried next.
    pub next_try: Option<NextTry>,
    /// Whether "Send again" may cure it (instructors only).
    pub can_resend: bool,
}

/// What a "Send again" did to one grade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resent {
    /// Whose grade.
    pub user_id: String,
    /// `requeued`, or `changed` (the tool wrote it meanwhile: nothing
    /// was written, its new value goes out on its own).
    pub result: ResendResult,
}

/// The outcome of requeueing one grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ResendResult {
    /// Pending again: the stream posts it within seconds.
    Requeued,
    /// Changed since the page read it: left as the tool wrote it.
    Changed,
}

/// The activity item's titles and line item.
#[derive(Debug, Clone, Default)]
pub struct StoredActivity {
    /// Course title.
    pub context_title: Option<String>,
    /// Activity title.
    pub title: Option<String>,
    /// The gradebook column, once resolved.
    pub line_item_id: Option<String>,
}

/// The items of one activity's partition, sorted into what the report needs.
#[derive(Debug, Default)]
pub struct PartitionItems {
    /// What the page shows of the activity item, when a launch stored one
    /// (its service key is not kept).
    pub activity: Option<StoredActivity>,
    /// Grade items, as stored.
    pub grades: Vec<RawItem>,
    /// `postedAt` of what the LMS accepted, by grade sort key.
    pub posted_at: HashMap<String, String>,
}

impl PartitionItems {
    /// Sorts one page's items in.
    pub fn add(&mut self, items: Vec<RawItem>) {
        for item in items {
            match ItemKind::of(&item) {
                ItemKind::Activity(_) => {
                    self.activity = ActivityItem::read(&item).map(|a| StoredActivity {
                        context_title: a.context_title,
                        title: a.resource_link_title,
                        line_item_id: a.line_item_id,
                    })
                }
                ItemKind::Grade(_) => self.grades.push(item),
                ItemKind::Other => self.add_posted(&item),
            }
        }
    }

    fn add_posted(&mut self, item: &RawItem) {
        let sk = text(item, schema::SK).unwrap_or_default();
        let Some(user) = sk.strip_prefix(schema::POSTED_PREFIX) else {
            return;
        };
        if let Some(at) = text(item, "postedAt") {
            let grade_sk = format!("{}{user}", schema::GRADE_PREFIX);
            self.posted_at.insert(grade_sk, at.to_owned());
        }
    }
}

impl ActivityReport {
    /// The report of `items` for a viewer: an instructor sees every grade,
    /// a learner only the grade whose user id is theirs.
    pub fn build(
        ids: &ActivityIds,
        titles: (Option<String>, Option<String>),
        items: PartitionItems,
        viewer: Viewer,
        names: Option<&RosterNames>,
    ) -> Self {
        let instructor = viewer.audience == ViewerAudience::Instructor;
        let mut grades: Vec<GradeRow> = items
            .grades
            .iter()
            .map(|item| row(item, &items.posted_at, instructor))
            .filter(|row| instructor || row.user_id == viewer.user_id)
            .collect();
        if let Some(names) = names {
            for row in &mut grades {
                row.name = names.by_user.get(&row.user_id).cloned();
            }
        }
        grades.sort_by(problems_first);
        let last_post_at = grades
            .iter()
            .filter(|r| r.state == RowState::InGradebook)
            .filter_map(|r| r.since.clone())
            .max();
        let activity = items.activity.as_ref();
        let (context_title, title) = titles;
        Self {
            version: REPORT_VERSION,
            activity: ActivitySummary {
                key: ids.key().to_string(),
                platform_id: ids.platform_id.clone(),
                context_id: ids.context_id.clone(),
                resource_link_id: ids.resource_link_id.clone(),
                context_title: context_title.or_else(|| activity?.context_title.clone()),
                title: title.or_else(|| activity?.title.clone()),
                line_item_id: activity.and_then(|a| a.line_item_id.clone()),
            },
            counts: Counts::of(&grades),
            viewer,
            last_post_at,
            names: match (instructor, names) {
                (false, _) => NamesSource::NotRead,
                (true, Some(names)) => names.source(),
                (true, None) => NamesSource::Unavailable,
            },
            grades,
            resent: None,
        }
    }

    /// Shows what a resend did: each requeued row waits again, to be sent
    /// within seconds (the Query that built the report may predate it).
    pub fn with_resent(mut self, resent: Vec<Resent>) -> Self {
        for done in resent.iter().filter(|r| r.result == ResendResult::Requeued) {
            if let Some(row) = self.grades.iter_mut().find(|r| r.user_id == done.user_id) {
                *row = GradeRow {
                    state: RowState::Waiting,
                    reason_code: None,
                    reason: Some("sent again on request; not tried yet".into()),
                    http_status: None,
                    next_try: Some(NextTry::Soon),
                    can_resend: false,
                    since: None,
                    ..row.clone()
                };
            }
        }
        self.grades.sort_by(problems_first);
        self.counts = Counts::of(&self.grades);
        self.resent = Some(resent);
        self
    }
}

impl Counts {
    fn of(rows: &[GradeRow]) -> Self {
        let mut counts = Counts::default();
        for row in rows {
            counts.total += 1;
            *match row.state {
                RowState::InGradebook => &mut counts.in_gradebook,
                RowState::Waiting => &mut counts.waiting,
                RowState::NotSent => &mut counts.not_sent,
                RowState::NotALearner => &mut counts.not_a_learner,
            } += 1;
        }
        counts
    }
}

fn problems_first(a: &GradeRow, b: &GradeRow) -> Ordering {
    let name = |r: &GradeRow| r.name.clone().unwrap_or_else(|| r.user_id.clone());
    a.state
        .cmp(&b.state)
        .then_with(|| name(a).to_lowercase().cmp(&name(b).to_lowercase()))
        .then_with(|| a.user_id.cmp(&b.user_id))
}

/// One grade item's row.
fn row(item: &RawItem, posted_at: &HashMap<String, String>, instructor: bool) -> GradeRow {
    let state = GradeState::read(item);
    let sk = text(item, schema::SK).unwrap_or_default();
    let mut row = GradeRow {
        user_id: user_id_of(item),
        name: None,
        score_given: number(item, "scoreGiven"),
        score_maximum: number(item, "scoreMaximum"),
        state: RowState::Waiting,
        since: None,
        reason_code: None,
        reason: None,
        http_status: None,
        next_try: None,
        can_resend: false,
    };
    match state.stage {
        GradeStage::Synced => {
            row.state = RowState::InGradebook;
            row.since = posted_at
                .get(sk)
                .cloned()
                .or_else(|| text(item, schema::sync::SYNCED_AT).map(str::to_owned));
        }
        GradeStage::Queued => waiting(&mut row, None, "not tried yet", NextTry::Soon),
        GradeStage::Posting => waiting(&mut row, None, "being posted now", NextTry::Soon),
        GradeStage::Waiting(reason) => {
            let (code, words, next) = waiting_reason(reason);
            waiting(&mut row, code, words, next);
            row.since = text(item, schema::sync::LAST_ATTEMPT_AT).map(str::to_owned);
        }
        GradeStage::Failed(reason) => not_sent(&mut row, reason, &state, instructor),
        GradeStage::NeverQueued => {
            row.state = RowState::NotSent;
            row.reason =
                Some("the tool wrote it without queueing it (no pending attribute)".into());
            row.can_resend = instructor;
        }
        GradeStage::Unknown => {
            row.state = RowState::NotSent;
            row.reason = Some("ltisync cannot tell where this grade stands".into());
            row.can_resend = instructor;
        }
    }
    row
}

fn waiting(row: &mut GradeRow, code: Option<&str>, words: &str, next: NextTry) {
    row.state = RowState::Waiting;
    row.reason_code = code.map(str::to_owned);
    row.reason = Some(words.to_owned());
    row.next_try = Some(next);
}

/// A pending reason's code, words and next try.
fn waiting_reason(reason: StoredReason) -> (Option<&'static str>, &'static str, NextTry) {
    let StoredReason::Pending(reason) = reason else {
        return (None, "waiting to be tried again", NextTry::NextDailyRun);
    };
    let next = match reason {
        PendingReason::NeedsRelaunch
        | PendingReason::ActivityNotLaunched
        | PendingReason::NoServiceKey
        | PendingReason::ActivityMalformed => NextTry::AfterLaunch,
        r if r.is_transient() || r == PendingReason::ChangedDuringRun => NextTry::Soon,
        _ => NextTry::NextDailyRun,
    };
    (Some(reason.code()), reason.note(), next)
}

/// A failed grade: the LMS's words (or the grade's problem), and whether a
/// retry may cure it.
fn not_sent(row: &mut GradeRow, reason: StoredReason, state: &GradeState, instructor: bool) {
    let code = match reason {
        StoredReason::Failed(code) => Some(code),
        _ => None,
    };
    let text = state.last_error.clone().unwrap_or_default();
    row.since = state.failed_at.clone();
    row.http_status = state.http_status;
    row.reason_code = code.map(|c| c.as_str().to_owned());
    if code == Some(FailCode::NotALearner) {
        row.state = RowState::NotALearner;
        let words = text.strip_prefix("NOT_A_LEARNER: ").unwrap_or(&text);
        row.reason = Some(words.to_owned());
        return;
    }
    row.state = RowState::NotSent;
    row.reason = Some(text);
    row.can_resend = instructor && may_cure(code);
}

/// Whether posting again may succeed: not for a grade that is not a
/// learner's or breaks the schema (both fail the same way every time).
pub fn may_cure(code: Option<FailCode>) -> bool {
    !matches!(
        code,
        Some(
            FailCode::NotALearner
                | FailCode::InvalidGrade
                | FailCode::UnknownAttribute
                | FailCode::NonCanonicalKey
        )
    )
}

/// A grade item's user: `userId`, or for an item without one the id its
/// sort key encodes.
pub(crate) fn user_id_of(item: &RawItem) -> String {
    if let Some(user) = text(item, crate::store::schema::USER_ID) {
        return user.to_owned();
    }
    let sk = text(item, schema::SK).unwrap_or_default();
    let encoded = sk.strip_prefix(schema::GRADE_PREFIX).unwrap_or(sk);
    percent_encoding::percent_decode_str(encoded)
        .decode_utf8_lossy()
        .into_owned()
}

fn number(item: &RawItem, name: &str) -> Option<f64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

impl From<Audience> for Option<ViewerAudience> {
    fn from(audience: Audience) -> Self {
        match audience {
            Audience::Instructor => Some(ViewerAudience::Instructor),
            Audience::Learner => Some(ViewerAudience::Learner),
            Audience::Neither => None,
        }
    }
}

//! `ltisync explain --activity KEY --user USER`: one grade's story, for
//! whoever was asked "why is Ada's grade not in Canvas?". The item as the
//! tool wrote it and whether it is queued at all, what the LMS last
//! accepted, what the gradebook holds now (the results service, read with
//! the activity's service key as `reconcile` reads it), the outcome in
//! words, and the next step.
//!
//! Exit codes as the other commands: 0 when the grade is on its way or in
//! the gradebook as posted; 1 when something needs a person (no item, never
//! queued, failed, or the gradebook shows otherwise); 2 when the table
//! cannot be read.

use std::process::ExitCode;

use ltisync::ltiaas::{LmsResult, LtiaasClient};
use ltisync::reconcile::{compare, Finding, Posted};
use ltisync::store::grade_item::TOOL_ATTRIBUTES;
use ltisync::store::report::{GradeStage, GradeState};
use ltisync::store::{GradeKey, PostedItem, RawItem};
use ltisync::{ActivityKey, Store, StoredReason};
use serde::Serialize;

use crate::inventory::fit;
use crate::Trouble;

/// The command's arguments.
#[derive(Debug, clap::Args)]
pub struct Arguments {
    /// The activity's key (as `ltisync status` shows it).
    #[arg(long)]
    pub activity: String,
    /// The LMS user id.
    #[arg(long)]
    pub user: String,
    /// JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What the command was asked about.
pub struct Question {
    pub activity: ActivityKey,
    pub user: String,
}

/// Reads the table (and LTIaaS, where its settings are given) and tells.
pub async fn command(
    arguments: &Arguments,
    table: Option<&str>,
    timeout_ms: Option<u64>,
) -> Result<ExitCode, Trouble> {
    let activity =
        ActivityKey::parse(&arguments.activity).map_err(|e| Trouble::new(e.to_string()))?;
    let question = Question {
        activity,
        user: arguments.user.clone(),
    };
    let store = crate::open_store(table, timeout_ms).await?;
    // The gradebook is read only with LTIaaS's settings; without them the
    // story is told from the table alone, and says why.
    let client = crate::sync::connect(table)
        .await
        .map(|(client, _, _)| client)
        .map_err(|trouble| format!("no LTIaaS settings to read it with ({})", trouble.0));
    run(&store, client, &question, arguments.json).await
}

/// The grade's story, as printed (`--json` prints this shape).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Story {
    activity_key: String,
    user_id: String,
    /// The tool's attributes as stored (absent: no item).
    written: Option<Vec<(String, String)>>,
    /// `queued`, `posting`, `waiting`, `synced`, `failed`, `neverQueued`,
    /// `noItem` or `unknown`.
    state: &'static str,
    /// The stored reason's code, for a grade that waits or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    /// What the LMS last accepted for it.
    lms_accepted: Option<PostedItem>,
    /// What the gradebook holds now, or why it was not read.
    gradebook: Gradebook,
    /// The outcome, in words.
    outcome: String,
    /// What to do next.
    next_step: String,
    /// Whether a person needs to act (exit code 1).
    needs_attention: bool,
}

/// The gradebook's result for the user.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase", tag = "read")]
enum Gradebook {
    /// Read: the score and its scale (absent: no score shown), the comment.
    Shown {
        score: Option<f64>,
        maximum: f64,
        comment: Option<String>,
    },
    /// Read: the gradebook shows nothing for the user.
    Nothing,
    /// Not read, and why.
    NotRead { why: String },
}

pub async fn run(
    store: &Store,
    client: Result<LtiaasClient, String>,
    question: &Question,
    json: bool,
) -> Result<ExitCode, Trouble> {
    let key = GradeKey::of(&question.activity, &question.user);
    let table_error = |e| Trouble::store(store.table(), e);
    let item = store.grade_item(&key).await.map_err(table_error)?;
    let accepted = store.read_posted(&key).await.ok().flatten();
    let gradebook = gradebook(store, client, question).await;
    let story = Story::told(question, item.as_ref(), accepted, gradebook);
    story.print(json);
    Ok(match story.needs_attention {
        true => ExitCode::from(1),
        false => ExitCode::SUCCESS,
    })
}

/// The user's result in the activity's line item, read with its service key.
async fn gradebook(
    store: &Store,
    client: Result<LtiaasClient, String>,
    question: &Question,
) -> Gradebook {
    let not_read = |why: String| Gradebook::NotRead { why };
    let client = match client {
        Ok(client) => client,
        Err(why) => return not_read(why),
    };
    let activities = store
        .activities(std::slice::from_ref(&question.activity))
        .await;
    let activity = match activities.map(|mut found| found.remove(&question.activity)) {
        Ok(Some(Ok(activity))) => activity,
        Ok(Some(Err(malformed))) => return not_read(format!("the activity item: {malformed}")),
        Ok(None) => return not_read("no launch has recorded this activity".into()),
        Err(e) => return not_read(e.reason()),
    };
    let line_item = ltisync::sync::line_item::known(&activity).map(|known| known.id);
    let (Some(line_item), Some(key)) = (&line_item, &activity.service_key) else {
        return not_read("no line item or service key is recorded yet (nothing posted)".into());
    };
    match client.results(key, line_item, Some(&question.user)).await {
        Ok(page) => shown(page.scores.iter().find(|r| r.user_id == question.user)),
        Err(e) => not_read(format!("the results service answered: {e}")),
    }
}

fn shown(result: Option<&LmsResult>) -> Gradebook {
    match result {
        Some(r) => Gradebook::Shown {
            score: r.result_score,
            maximum: r.result_maximum,
            comment: r.comment.clone(),
        },
        None => Gradebook::Nothing,
    }
}

impl Story {
    fn told(
        question: &Question,
        item: Option<&RawItem>,
        lms_accepted: Option<PostedItem>,
        gradebook: Gradebook,
    ) -> Self {
        let mut story = Story {
            activity_key: question.activity.to_string(),
            user_id: question.user.clone(),
            written: item.map(written),
            state: "noItem",
            code: None,
            lms_accepted,
            gradebook,
            outcome: String::new(),
            next_step: String::new(),
            needs_attention: true,
        };
        match item {
            None => story.no_item(question),
            Some(item) => story.tell(question, item),
        }
        story
    }

    fn no_item(&mut self, question: &Question) {
        let key = GradeKey::of(&question.activity, &question.user);
        self.outcome = format!(
            "the table holds no grade item for this user in this activity (pk {}, sk {})",
            key.pk, key.sk
        );
        self.next_step =
            "the tool has not written it, or wrote another key: compare its pk and sk \
                          with these (docs/writing-grades.md#keys)"
                .into();
    }

    fn tell(&mut self, question: &Question, item: &RawItem) {
        let state = GradeState::read(item);
        let requeue = format!(
            "ltisync requeue --activity '{}' --user '{}'",
            question.activity, question.user
        );
        let reason = state.last_error.clone().unwrap_or_default();
        let (state_name, outcome, next, attention) = match state.stage {
            GradeStage::NeverQueued => (
                "neverQueued",
                "never queued: the item has no `pending` attribute, so neither the stream nor the daily run will post it".to_owned(),
                "write the whole item again with `pending` set to its pk (docs/writing-grades.md#attributes)".to_owned(),
                true,
            ),
            GradeStage::Queued => (
                "queued",
                "queued: the stream posts it within seconds, the daily run at the latest".to_owned(),
                format!("nothing; to post it now: ltisync sync --activity '{}'", question.activity),
                false,
            ),
            GradeStage::Posting => (
                "posting",
                "being posted by a run now (or a run stopped mid-way: the next run posts it)".to_owned(),
                "nothing".to_owned(),
                false,
            ),
            GradeStage::Waiting(why) => self.waiting(why, &reason),
            GradeStage::Failed(why) => self.failed(why, &reason, state.http_status, &requeue),
            GradeStage::Synced => self.synced(item, &requeue),
            GradeStage::Unknown => (
                "unknown",
                "not pending, and in a state this version does not know".to_owned(),
                format!("to send it again: {requeue}"),
                true,
            ),
        };
        self.state = state_name;
        (self.outcome, self.next_step, self.needs_attention) = (outcome, next, attention);
    }

    /// A grade that waits: tried again by itself.
    fn waiting(&mut self, why: StoredReason, reason: &str) -> (&'static str, String, String, bool) {
        self.code = code_of(why);
        (
            "waiting",
            format!("waiting, and tried again by itself: {}", fit(reason, 300)),
            format!(
                "see docs/troubleshooting.md for `{}`",
                self.code.unwrap_or("unknown")
            ),
            false,
        )
    }

    /// A grade that failed for good: fixed, then requeued.
    fn failed(
        &mut self,
        why: StoredReason,
        reason: &str,
        http_status: Option<u16>,
        requeue: &str,
    ) -> (&'static str, String, String, bool) {
        self.code = code_of(why);
        let status = http_status
            .map(|s| format!(" (HTTP {s})"))
            .unwrap_or_default();
        let code = self.code.unwrap_or("unknown");
        // The tool's own write is wrong: a requeue would only repeat it.
        let next = match code {
            "invalidGrade" | "unknownAttribute" | "nonCanonicalKey" => format!(
                "fix the tool's write (docs/troubleshooting.md, `{code}`) and write the grade again"
            ),
            _ => format!("fix the cause (docs/troubleshooting.md, `{code}`), then: {requeue}"),
        };
        let outcome = format!("failed for good{status}: {}", fit(reason, 300));
        ("failed", outcome, next, true)
    }

    /// A synced grade: in the gradebook as posted, or shown otherwise.
    fn synced(&self, item: &RawItem, requeue: &str) -> (&'static str, String, String, bool) {
        let posted = number(item, "scoreGiven")
            .zip(number(item, "scoreMaximum"))
            .map(|(score_given, score_maximum)| Posted {
                user_id: self.user_id.clone(),
                score_given,
                score_maximum,
            });
        let result = match &self.gradebook {
            Gradebook::Shown {
                score,
                maximum,
                comment,
            } => Some(LmsResult {
                user_id: self.user_id.clone(),
                result_score: *score,
                result_maximum: *maximum,
                comment: comment.clone(),
            }),
            Gradebook::Nothing => None,
            Gradebook::NotRead { why } => {
                let outcome =
                    format!("synced: the LMS accepted it (the gradebook was not read: {why})");
                return ("synced", outcome, "nothing".into(), false);
            }
        };
        let Some(posted) = posted else {
            let outcome = "synced without a score (the tool cleared it)".to_owned();
            return ("synced", outcome, "nothing".into(), false);
        };
        match compare(&posted, result.as_ref()) {
            Finding::Matches => ("synced", "synced: the gradebook shows the value posted".into(), "nothing".into(), false),
            Finding::Differs { result_score, result_maximum, .. } => (
                "synced",
                format!(
                    "synced, but the gradebook now shows {result_score}/{result_maximum} where {}/{} was posted (an instructor may have changed it)",
                    posted.score_given, posted.score_maximum
                ),
                format!("leave it, or send the tool's value again (overwrites the gradebook): {requeue} --force"),
                true,
            ),
            Finding::Missing => (
                "synced",
                "synced, but the gradebook shows no score for this user now (removed, or the column was reset)".into(),
                format!("send it again: {requeue} --force"),
                true,
            ),
        }
    }

    fn print(&self, json: bool) {
        if json {
            println!("{}", serde_json::to_string_pretty(self).expect("JSON"));
            return;
        }
        println!(
            "grade of {} in {}",
            fit(&self.user_id, 80),
            fit(&self.activity_key, 120)
        );
        match &self.written {
            Some(attributes) => {
                let shown: Vec<String> = attributes
                    .iter()
                    .map(|(k, v)| format!("{k}={}", fit(v, 80)))
                    .collect();
                println!("  written:      {}", shown.join("  "));
            }
            None => println!("  written:      no item"),
        }
        let accepted = self
            .lms_accepted
            .as_ref()
            .map_or("nothing yet".to_owned(), |p| format!("at {}", p.posted_at));
        println!("  LMS accepted: {accepted}");
        println!("  gradebook:    {}", self.gradebook.human());
        println!("  outcome:      {}", self.outcome);
        println!("  next step:    {}", self.next_step);
    }
}

impl Gradebook {
    fn human(&self) -> String {
        match self {
            Gradebook::Shown {
                score: Some(s),
                maximum,
                comment,
            } => {
                let comment = comment.as_deref().map(|c| format!(" \"{}\"", fit(c, 80)));
                format!("{s}/{maximum}{}", comment.unwrap_or_default())
            }
            Gradebook::Shown { score: None, .. } | Gradebook::Nothing => "no score shown".into(),
            Gradebook::NotRead { why } => format!("not read: {}", fit(why, 200)),
        }
    }
}

/// The tool's attributes, in the schema's order, as text.
fn written(item: &RawItem) -> Vec<(String, String)> {
    TOOL_ATTRIBUTES
        .iter()
        .filter_map(|(name, _)| {
            let value = match item.get(*name)? {
                aws_sdk_dynamodb::types::AttributeValue::S(s) => s.clone(),
                aws_sdk_dynamodb::types::AttributeValue::N(n) => n.clone(),
                other => format!("{other:?}"),
            };
            Some(((*name).to_owned(), value))
        })
        .collect()
}

fn number(item: &RawItem, name: &str) -> Option<f64> {
    match item.get(name)? {
        aws_sdk_dynamodb::types::AttributeValue::N(n) => n.parse().ok(),
        _ => None,
    }
}

fn code_of(reason: StoredReason) -> Option<&'static str> {
    match reason {
        StoredReason::Pending(why) => Some(why.code()),
        StoredReason::Failed(code) => Some(code.into()),
        StoredReason::Unknown => None,
    }
}

//! The run summary: returned by the sync function, logged as one record,
//! and emitted as CloudWatch metrics in Embedded Metric Format.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};
use strum::IntoEnumIterator;

use crate::grade::ScorePost;
use crate::outcome::{FailCode, FailReason, GradeOutcome, PendingReason};
use crate::store::{ConsumedUnits, GradeKey, PendingGrade};

/// A permanent failure, as listed in the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedGrade {
    /// The grade's activity (its key as in `pk`, or the raw `pk` when it
    /// names no activity).
    pub activity_key: String,
    /// The LMS user id (the sort key when the item has none).
    pub user_id: String,
    /// The HTTP status LTIaaS relayed, when the LMS refused the score.
    pub status: Option<u16>,
    /// Why, in words (`lastError`).
    pub reason: String,
    /// Why, as a stable code (`lastErrorCode`).
    pub code: FailCode,
}

/// A score a dry run would post.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedScore {
    /// The activity's key: whose line item the score would go to.
    pub activity_key: String,
    /// The body that would be sent.
    pub score: ScorePost,
}

/// Failures listed by name in a summary; the counts stay complete.
pub const MAX_LISTED_FAILURES: usize = 50;

/// The outcome of one sync run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// Unique id of the run (also the lease owner).
    pub run_id: String,
    /// Nothing was posted or written.
    pub dry_run: bool,
    /// Set when the run did nothing because another run holds the lease.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Activities with pending grades.
    pub activities_seen: u64,
    /// Pending grades found.
    pub grades_found: u64,
    /// Grades posted and marked synced.
    pub grades_posted: u64,
    /// Grades marked synced without a post: the LMS already held the very
    /// score (the tool wrote the same value again, or a plain requeue).
    pub grades_unchanged: u64,
    /// Grades rejected for good.
    pub grades_failed: u64,
    /// Grades left pending.
    pub grades_pending: u64,
    /// Grades whose index copy lagged: already posted or rejected when
    /// confirmed, so nothing was done.
    pub grades_already_settled: u64,
    /// Pending grades by reason.
    pub pending_reasons: BTreeMap<PendingReason, u64>,
    /// Activities whose service key LTIaaS refused.
    pub activities_needing_relaunch: u64,
    /// Line items created at the LMS.
    pub line_items_created: u64,
    /// Grades failed without a post because their user is not an active
    /// learner in the course roster (also counted in `grades_failed`).
    pub grades_not_learners: u64,
    /// Course rosters read (one per activity with grades to post).
    pub rosters_read: u64,
    /// Activities whose roster could not be read, so their grades were
    /// posted without the check.
    pub rosters_unavailable: u64,
    /// Requests to LTIaaS, retries included.
    pub requests: u64,
    /// Retries made.
    pub retries: u64,
    /// DynamoDB items read to find the work.
    pub items_read: u64,
    /// DynamoDB read capacity units the run consumed (as DynamoDB reported
    /// them; exact on AWS).
    pub consumed_read_units: f64,
    /// DynamoDB write capacity units the run consumed (writes whose
    /// condition failed are charged too, but not reported, so not counted).
    pub consumed_write_units: f64,
    /// Where the time went.
    pub phase_ms: PhaseTimings,
    /// The run stopped starting posts because of the deadline.
    pub stopped_by_deadline: bool,
    /// A page of the work index kept failing after some work was found:
    /// that work was posted, and the next run reads on.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub discovery_incomplete: bool,
    /// Wall time.
    pub duration_ms: u64,
    /// The first [`MAX_LISTED_FAILURES`] permanent failures.
    pub failures: Vec<FailedGrade>,
    /// Dry runs: what would be posted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_post: Vec<PlannedScore>,
    /// A run stopped by its deadline with work left: the follow-up run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<FollowUp>,
}

/// Where a run's time went, in milliseconds. The first three are wall time
/// (they happen one after the other); the next four are summed over the
/// tasks that ran them concurrently, so they may exceed the run's duration
/// and say which dependency the posting spent its time waiting for; the
/// last two are moments, counted from the run's start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseTimings {
    /// Finding the work (the work index).
    pub discovery: u64,
    /// Claiming the activities.
    pub claim: u64,
    /// Reading the grades and their activities.
    pub read: u64,
    /// Resolving line items and reading rosters at LTIaaS.
    pub line_items: u64,
    /// Score posts at LTIaaS, retries included.
    pub posts: u64,
    /// Confirming the index copies before their posts (DynamoDB).
    pub confirm: u64,
    /// Writing the outcomes to DynamoDB.
    pub outcome_writes: u64,
    /// When the first score was sent, counted from the run's start (wall
    /// time; `null` when none was).
    pub first_post: Option<u64>,
    /// When the last outcome was written, counted from the run's start
    /// (wall time; `null` when none was): the end of the run as its grades
    /// see it, before the claims and the lease are given back.
    pub last_outcome: Option<u64>,
}

/// The follow-up of a daily run that stopped at its deadline with work left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FollowUp {
    /// Which follow-up in a row it is (1: the first after a scheduled run).
    pub number: u32,
    /// The most allowed in a row (`SYNC_MAX_FOLLOW_UPS`).
    pub max_in_a_row: u32,
    /// Whether it was started.
    pub started: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_started: Option<String>,
}

/// One grade's outcome, with what the summary lists it by.
#[derive(Debug, Clone)]
pub struct FinishedGrade {
    /// The item's key.
    pub key: GradeKey,
    /// Its activity's key (the raw `pk` when it names none).
    pub activity: String,
    /// Its user id (the sort key when the item has none).
    pub user: String,
    /// What the run came to for it.
    pub outcome: GradeOutcome,
}

impl FinishedGrade {
    /// `grade`'s outcome.
    pub fn new(grade: &PendingGrade, outcome: GradeOutcome) -> Self {
        Self {
            key: grade.key(),
            activity: grade
                .activity
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_else(|| grade.pk.clone()),
            user: grade.user_label(),
            outcome,
        }
    }
}

/// What a run's steps counted and measured besides the grades' outcomes.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    /// DynamoDB items read to find the work.
    pub items_read: u64,
    /// Pending grades found.
    pub grades_found: u64,
    /// Activities with pending grades.
    pub activities_seen: u64,
    /// Activities found waiting for a relaunch, or marked so by this run.
    pub activities_needing_relaunch: u64,
    /// Line items created at the LMS.
    pub line_items_created: u64,
    /// Course rosters read.
    pub rosters_read: u64,
    /// Activities whose roster could not be read.
    pub rosters_unavailable: u64,
    /// Requests to LTIaaS, retries included.
    pub requests: u64,
    /// Retries made.
    pub retries: u64,
    /// Where the time went.
    pub phase_ms: PhaseTimings,
    /// Dry runs: what would be posted.
    pub would_post: Vec<PlannedScore>,
    /// The work index could not be read to its end (see `RunSummary`).
    pub discovery_incomplete: bool,
}

impl RunSummary {
    /// The summary of a run: its facts, and its grades' outcomes counted
    /// by kind and reason.
    pub fn fold(run_id: &str, dry_run: bool, facts: RunFacts, finished: &[FinishedGrade]) -> Self {
        let mut summary = Self {
            run_id: run_id.to_owned(),
            dry_run,
            activities_seen: facts.activities_seen,
            grades_found: facts.grades_found,
            activities_needing_relaunch: facts.activities_needing_relaunch,
            line_items_created: facts.line_items_created,
            rosters_read: facts.rosters_read,
            rosters_unavailable: facts.rosters_unavailable,
            requests: facts.requests,
            retries: facts.retries,
            items_read: facts.items_read,
            phase_ms: facts.phase_ms,
            would_post: facts.would_post,
            discovery_incomplete: facts.discovery_incomplete,
            ..Self::default()
        };
        for grade in finished {
            summary.count(grade);
        }
        summary.stopped_by_deadline = summary
            .pending_reasons
            .contains_key(&PendingReason::Deadline);
        summary
    }

    /// Records what the run's DynamoDB calls consumed.
    pub fn record_consumed(&mut self, units: ConsumedUnits) {
        self.consumed_read_units = units.read;
        self.consumed_write_units = units.write;
    }

    /// The reasons among the pending grades that the deployment must fix.
    pub fn deployment_faults(&self) -> impl Iterator<Item = (PendingReason, u64)> + '_ {
        self.pending_reasons
            .iter()
            .filter(|(reason, _)| reason.is_deployment_fault())
            .map(|(reason, n)| (*reason, *n))
    }

    fn count(&mut self, grade: &FinishedGrade) {
        match &grade.outcome {
            GradeOutcome::Posted => self.grades_posted += 1,
            GradeOutcome::Unchanged => self.grades_unchanged += 1,
            GradeOutcome::Failed(reason) => self.count_failure(grade, reason),
            GradeOutcome::Pending(reason) => {
                self.grades_pending += 1;
                *self.pending_reasons.entry(*reason).or_default() += 1;
            }
            GradeOutcome::AlreadySettled => self.grades_already_settled += 1,
        }
    }

    fn count_failure(&mut self, grade: &FinishedGrade, reason: &FailReason) {
        self.grades_failed += 1;
        if reason.code() == FailCode::NotALearner {
            self.grades_not_learners += 1;
        }
        if self.failures.len() < MAX_LISTED_FAILURES {
            self.failures.push(FailedGrade {
                activity_key: grade.activity.clone(),
                user_id: grade.user.clone(),
                status: reason.http_status(),
                reason: reason.text(),
                code: reason.code(),
            });
        }
    }

    /// The CloudWatch Embedded Metric Format record of this summary
    /// (namespace `ltisync`, dimension `FunctionName`).
    pub fn emf(&self, function_name: &str, timestamp_ms: u128) -> Value {
        let mut metrics = vec![
            ("ActivitiesSeen", self.activities_seen),
            ("GradesPosted", self.grades_posted),
            ("GradesUnchanged", self.grades_unchanged),
            ("GradesFailed", self.grades_failed),
            ("GradesPending", self.grades_pending),
            (
                "ActivitiesNeedingRelaunch",
                self.activities_needing_relaunch,
            ),
            ("LineItemsCreated", self.line_items_created),
            ("GradesNotLearners", self.grades_not_learners),
            ("RostersUnavailable", self.rosters_unavailable),
            ("GradesAlreadySettled", self.grades_already_settled),
            ("Retries", self.retries),
            ("ItemsRead", self.items_read),
        ];
        let reason_metrics: Vec<(String, u64)> = PendingReason::iter()
            .map(|r| {
                let code = r.code();
                let metric = format!("Pending{}{}", code[..1].to_ascii_uppercase(), &code[1..]);
                (metric, self.pending_reasons.get(&r).copied().unwrap_or(0))
            })
            .collect();
        metrics.extend(reason_metrics.iter().map(|(n, v)| (n.as_str(), *v)));
        let mut definitions = vec![json!({"Name": "DurationMs", "Unit": "Milliseconds"})];
        let mut record = json!({
            "FunctionName": function_name,
            "runId": self.run_id,
            "DurationMs": self.duration_ms,
        });
        for (name, value) in metrics {
            definitions.push(json!({"Name": name, "Unit": "Count"}));
            record[name] = json!(value);
        }
        for (name, value) in [
            ("ConsumedReadUnits", self.consumed_read_units),
            ("ConsumedWriteUnits", self.consumed_write_units),
        ] {
            definitions.push(json!({"Name": name, "Unit": "Count"}));
            record[name] = json!(value);
        }
        record["_aws"] = json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": "ltisync",
                "Dimensions": [["FunctionName"]],
                "Metrics": definitions,
            }],
        });
        record
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(user: &str, outcome: GradeOutcome) -> FinishedGrade {
        FinishedGrade {
            key: GradeKey {
                pk: "ACT#p#c#r".into(),
                sk: format!("GRADE#{user}"),
            },
            activity: "p#c#r".into(),
            user: user.into(),
            outcome,
        }
    }

    #[test]
    fn a_run_folds_into_counts_by_kind_and_reason() {
        let finished = [
            finished("u1", GradeOutcome::Posted),
            finished("u2", GradeOutcome::Pending(PendingReason::Deadline)),
            finished("u3", GradeOutcome::Pending(PendingReason::Deadline)),
            finished(
                "u4",
                GradeOutcome::Failed(FailReason::LmsRejected {
                    status: 422,
                    message: "not a student".into(),
                }),
            ),
            finished(
                "u5",
                GradeOutcome::Failed(FailReason::NotALearner("x".into())),
            ),
            finished("u6", GradeOutcome::AlreadySettled),
        ];
        let facts = RunFacts {
            grades_found: 6,
            requests: 2,
            ..RunFacts::default()
        };
        let s = RunSummary::fold("run", false, facts, &finished);
        assert_eq!(
            (s.grades_posted, s.grades_pending, s.grades_failed),
            (1, 2, 2)
        );
        assert_eq!(
            (s.grades_found, s.requests, s.run_id.as_str()),
            (6, 2, "run")
        );
        assert_eq!(s.grades_not_learners, 1);
        assert_eq!(s.grades_already_settled, 1);
        assert_eq!(s.pending_reasons[&PendingReason::Deadline], 2);
        assert!(s.stopped_by_deadline);
        assert_eq!(s.failures[0].user_id, "u4");
        assert_eq!(s.failures[0].status, Some(422));
        assert_eq!(s.failures[1].code, FailCode::NotALearner);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["pendingReasons"]["deadline"], 2);
        assert_eq!(json["failures"][1]["code"], "notALearner");
    }

    #[test]
    fn only_the_deployments_faults_fail_an_invocation() {
        let finished = [
            finished("u1", GradeOutcome::Pending(PendingReason::RetriesExhausted)),
            finished("u2", GradeOutcome::Pending(PendingReason::LtiaasRedirected)),
        ];
        let s = RunSummary::fold("run", false, RunFacts::default(), &finished);
        let faults: Vec<_> = s.deployment_faults().collect();
        assert_eq!(faults, [(PendingReason::LtiaasRedirected, 1)]);
        assert!(!s.stopped_by_deadline);
    }

    #[test]
    fn the_emf_record_declares_every_metric_it_carries() {
        let s = RunSummary {
            grades_posted: 5,
            ..Default::default()
        };
        let emf = s.emf("ltisync-sync", 1);
        let defs = emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap();
        for def in defs {
            let name = def["Name"].as_str().unwrap();
            assert!(emf[name].is_number(), "{name} has no value");
        }
        assert_eq!(emf["GradesPosted"], 5);
        assert_eq!(emf["PendingDeadline"], 0);
        assert_eq!(emf["FunctionName"], "ltisync-sync");
    }
}

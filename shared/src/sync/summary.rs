//! The run summary: returned by the sync function, logged as one record,
//! and emitted as CloudWatch metrics in Embedded Metric Format.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use crate::grade::ScorePost;

/// Why a grade is still pending after a run; it will be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PendingReason {
    /// The run stopped starting posts before the Lambda deadline.
    Deadline,
    /// LTIaaS refused the activity's service key; a launch must replace it.
    NeedsRelaunch,
    /// Network errors, timeouts, 429 or 5xx outlasted the retry budget.
    RetriesExhausted,
    /// The tool changed the grade while it was being posted; the new value
    /// goes next run.
    ChangedDuringRun,
    /// No launch has recorded this activity yet.
    ActivityNotLaunched,
    /// The activity was launched, but without a service key.
    NoServiceKey,
    /// The activity's line item could not be found or created.
    LineItemUnavailable,
    /// The outcome could not be written to DynamoDB.
    StoreError,
    /// The activity item does not follow the schema.
    ActivityMalformed,
    /// LTIaaS refused ltisync's own API key; the run stopped calling it.
    ApiKeyRefused,
    /// LTIaaS answered with a redirect (a moved URL, a captive portal); the
    /// run stopped calling it.
    LtiaasRedirected,
    /// Another run or stream batch holds the activity's claim and is
    /// posting its grades now; they are left to it.
    ClaimedElsewhere,
}

impl PendingReason {
    /// Every reason, for complete metrics.
    pub const ALL: [PendingReason; 12] = [
        Self::Deadline,
        Self::NeedsRelaunch,
        Self::RetriesExhausted,
        Self::ChangedDuringRun,
        Self::ActivityNotLaunched,
        Self::NoServiceKey,
        Self::LineItemUnavailable,
        Self::StoreError,
        Self::ActivityMalformed,
        Self::ApiKeyRefused,
        Self::LtiaasRedirected,
        Self::ClaimedElsewhere,
    ];

    /// The camelCase name used in the summary.
    pub fn name(self) -> &'static str {
        match self {
            Self::Deadline => "deadline",
            Self::NeedsRelaunch => "needsRelaunch",
            Self::RetriesExhausted => "retriesExhausted",
            Self::ChangedDuringRun => "changedDuringRun",
            Self::ActivityNotLaunched => "activityNotLaunched",
            Self::NoServiceKey => "noServiceKey",
            Self::LineItemUnavailable => "lineItemUnavailable",
            Self::StoreError => "storeError",
            Self::ActivityMalformed => "activityMalformed",
            Self::ApiKeyRefused => "apiKeyRefused",
            Self::LtiaasRedirected => "ltiaasRedirected",
            Self::ClaimedElsewhere => "claimedElsewhere",
        }
    }

    /// Whether a later attempt at the same grade may succeed without anyone
    /// changing anything (the stream path asks for such records again).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Self::Deadline
                | Self::RetriesExhausted
                | Self::LineItemUnavailable
                | Self::StoreError
                | Self::ApiKeyRefused
                | Self::LtiaasRedirected
                | Self::ClaimedElsewhere
        )
    }

    /// What the reason means, for `lastError`.
    pub fn note(self) -> &'static str {
        match self {
            Self::Deadline => "the run ran out of time",
            Self::NeedsRelaunch => {
                "the service key was refused; launch the activity from the LMS once to renew it"
            }
            Self::RetriesExhausted => "LTIaaS kept failing; will retry next run",
            Self::ChangedDuringRun => "changed during the run",
            Self::ActivityNotLaunched => {
                "no launch has recorded this activity yet; launch it once from the LMS"
            }
            Self::NoServiceKey => {
                "the activity's launches carried no service key (no grade service in that LMS context)"
            }
            Self::LineItemUnavailable => {
                "the activity's line item could not be found or created"
            }
            Self::StoreError => "DynamoDB failed",
            Self::ActivityMalformed => {
                "the activity item does not follow the schema; relaunch the activity or fix the item"
            }
            Self::ApiKeyRefused => "LTIaaS refused ltisync's API key; fix the API key secret",
            Self::LtiaasRedirected => {
                "LTIaaS redirects ltisync elsewhere; check LTIAAS_URL and what stands in front of LTIaaS"
            }
            Self::ClaimedElsewhere => "another sync is posting this activity's grades",
        }
    }
}

/// What happened to one grade in a run.
#[derive(Debug, Clone, PartialEq)]
pub enum GradeOutcome {
    /// Posted and marked synced.
    Posted,
    /// Rejected for good (recorded on the grade).
    Failed {
        /// The HTTP status, when the LMS answered.
        status: Option<u16>,
        /// Why.
        reason: String,
    },
    /// Still pending.
    Pending(PendingReason),
    /// Found in the work index, but already posted or rejected when its
    /// copy was confirmed (the index lagged the table): nothing to do.
    AlreadySettled,
}

/// A permanent failure, as listed in the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedGrade {
    /// The activity.
    pub activity_key: String,
    /// The user.
    pub user_id: String,
    /// HTTP status, if any.
    pub status: Option<u16>,
    /// Why.
    pub reason: String,
}

/// A score a dry run would post.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedScore {
    /// The activity.
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
    /// Grades rejected for good.
    pub grades_failed: u64,
    /// Grades left pending.
    pub grades_pending: u64,
    /// Grades whose index copy lagged: already posted or rejected when
    /// confirmed, so nothing was done.
    pub grades_already_settled: u64,
    /// Pending grades by reason.
    pub pending_reasons: BTreeMap<&'static str, u64>,
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
/// (they happen one after the other); the last four are summed over the
/// tasks that ran them concurrently, so they may exceed the run's duration
/// and say which dependency the posting spent its time waiting for.
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

impl RunSummary {
    /// Records what the run's DynamoDB calls consumed.
    pub fn record_consumed(&mut self, units: crate::store::ConsumedUnits) {
        self.consumed_read_units = units.read;
        self.consumed_write_units = units.write;
    }

    /// Counts one grade's outcome.
    pub fn record(&mut self, activity_key: &str, user_id: &str, outcome: &GradeOutcome) {
        match outcome {
            GradeOutcome::Posted => self.grades_posted += 1,
            GradeOutcome::Failed { status, reason } => {
                self.grades_failed += 1;
                if reason.starts_with(super::roster::NOT_A_LEARNER) {
                    self.grades_not_learners += 1;
                }
                if self.failures.len() < MAX_LISTED_FAILURES {
                    self.failures.push(FailedGrade {
                        activity_key: activity_key.to_owned(),
                        user_id: user_id.to_owned(),
                        status: *status,
                        reason: reason.clone(),
                    });
                }
            }
            GradeOutcome::Pending(reason) => {
                self.grades_pending += 1;
                *self.pending_reasons.entry(reason.name()).or_default() += 1;
            }
            GradeOutcome::AlreadySettled => self.grades_already_settled += 1,
        }
    }

    /// The CloudWatch Embedded Metric Format record of this summary
    /// (namespace `ltisync`, dimension `FunctionName`).
    pub fn emf(&self, function_name: &str, timestamp_ms: u128) -> Value {
        let mut metrics = vec![
            ("ActivitiesSeen", self.activities_seen),
            ("GradesPosted", self.grades_posted),
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
        let reason_metrics: Vec<(String, u64)> = PendingReason::ALL
            .iter()
            .map(|r| {
                let name = r.name();
                let metric = format!("Pending{}{}", name[..1].to_ascii_uppercase(), &name[1..]);
                (metric, self.pending_reasons.get(name).copied().unwrap_or(0))
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

    #[test]
    fn outcomes_are_counted_by_kind_and_reason() {
        let mut s = RunSummary::default();
        s.record("a", "u1", &GradeOutcome::Posted);
        s.record("a", "u2", &GradeOutcome::Pending(PendingReason::Deadline));
        s.record("a", "u3", &GradeOutcome::Pending(PendingReason::Deadline));
        s.record(
            "a",
            "u4",
            &GradeOutcome::Failed {
                status: Some(422),
                reason: "not a student".into(),
            },
        );
        assert_eq!(
            (s.grades_posted, s.grades_pending, s.grades_failed),
            (1, 2, 1)
        );
        assert_eq!(s.pending_reasons["deadline"], 2);
        assert_eq!(s.failures[0].user_id, "u4");
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

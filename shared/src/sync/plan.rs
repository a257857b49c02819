//! The plan of a sync: which grades can be posted now, which wait and why,
//! and in which order. Pure (no I/O), so every rule is unit-tested without
//! DynamoDB or LTIaaS, and any source of grades (the work index, a batch
//! of stream records, an operator's requeue) is planned the same way.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::activity::{Activity, ActivityKey};
use crate::grade::Grade;
use crate::secrets::ServiceKey;
use crate::store::PendingGrade;

use crate::outcome::{FailReason, GradeOutcome, PendingReason};

/// A valid grade, ready to post.
#[derive(Debug, Clone)]
pub struct ReadyGrade {
    /// The item as read (for the conditional outcome write).
    pub stored: PendingGrade,
    /// The grade it holds.
    pub grade: Grade,
}

/// An activity whose grades can be posted: launched, with a service key,
/// not waiting for a relaunch.
#[derive(Debug, Clone)]
pub struct ActivityWork {
    /// The activity, as its item (or the work index's copy) reads.
    pub activity: Activity,
    /// The key every call for its grades authenticates with (the newest
    /// launch's).
    pub service_key: ServiceKey,
    /// Its valid pending grades.
    pub grades: Vec<ReadyGrade>,
}

/// A grade whose outcome is known without calling LTIaaS.
#[derive(Debug, Clone)]
pub struct KnownOutcome {
    /// The item as read.
    pub stored: PendingGrade,
    /// `Failed` (invalid grade) or `Pending` (its activity is blocked).
    pub outcome: GradeOutcome,
}

/// What a sync will do.
#[derive(Debug, Default)]
pub struct Plan {
    /// Grades whose outcome is known without calling LTIaaS.
    pub known: Vec<KnownOutcome>,
    /// Activities with grades to post, in key order.
    pub ready: Vec<ActivityWork>,
    /// Activities with grades (ready or not).
    pub activities_seen: u64,
    /// Activities whose grades wait for a relaunch.
    pub activities_needing_relaunch: u64,
}

/// Plans `grades` given their activities as read (`activities` maps each
/// key to the activity, or why its item cannot be read; absent: never
/// launched).
pub fn plan(
    grades: Vec<PendingGrade>,
    mut activities: HashMap<ActivityKey, Result<Activity, String>>,
) -> Plan {
    let mut plan = Plan::default();
    let mut by_activity: BTreeMap<ActivityKey, Vec<ReadyGrade>> = BTreeMap::new();
    for stored in grades {
        match (stored.activity.clone(), stored.grade.clone()) {
            (Some(key), Ok(grade)) => by_activity
                .entry(key)
                .or_default()
                .push(ReadyGrade { stored, grade }),
            (_, grade) => {
                // A grade whose key names no activity is malformed too.
                let reason = match grade {
                    Err(invalid) => FailReason::from(invalid),
                    Ok(_) => FailReason::InvalidGrade("its key names no activity".into()),
                };
                let outcome = GradeOutcome::Failed(reason);
                plan.known.push(KnownOutcome { stored, outcome });
            }
        }
    }
    plan.activities_seen = by_activity.len() as u64;
    for (key, grades) in by_activity {
        match readiness(activities.remove(&key)) {
            Readiness::Ready(activity, service_key) => plan.ready.push(ActivityWork {
                activity: *activity,
                service_key,
                grades,
            }),
            Readiness::Waits(reason) => {
                if reason == PendingReason::NeedsRelaunch {
                    plan.activities_needing_relaunch += 1;
                }
                if reason == PendingReason::ActivityMalformed {
                    tracing::warn!(activity = %key, "the activity item is malformed; its grades wait");
                }
                plan.known.extend(grades.into_iter().map(|g| KnownOutcome {
                    stored: g.stored,
                    outcome: GradeOutcome::Pending(reason),
                }));
            }
            Readiness::Fails(reason) => {
                tracing::warn!(activity = %key, reason = %reason.text(), "the activity's grades cannot be posted");
                plan.known.extend(grades.into_iter().map(|g| KnownOutcome {
                    stored: g.stored,
                    outcome: GradeOutcome::Failed(reason.clone()),
                }));
            }
        }
    }
    plan
}

/// Whether an activity's grades can be posted now, wait, or never can
/// with what the LMS granted.
enum Readiness {
    Ready(Box<Activity>, ServiceKey),
    Waits(PendingReason),
    Fails(FailReason),
}

fn readiness(activity: Option<Result<Activity, String>>) -> Readiness {
    let activity = match activity {
        None => return Readiness::Waits(PendingReason::ActivityNotLaunched),
        Some(Err(_)) => return Readiness::Waits(PendingReason::ActivityMalformed),
        Some(Ok(activity)) => activity,
    };
    if activity.needs_relaunch.is_some() {
        return Readiness::Waits(PendingReason::NeedsRelaunch);
    }
    let Some(key) = activity.service_key.clone() else {
        return Readiness::Waits(PendingReason::NoServiceKey);
    };
    let services = &activity.services;
    if !services.may_post_scores() {
        return Readiness::Fails(FailReason::NoScoreScope);
    }
    let known_line_item = activity.launch_line_item_id.is_some() || activity.line_item_id.is_some();
    if !services.may_list_line_items() && !known_line_item {
        return Readiness::Fails(FailReason::NoLineItemScope);
    }
    Readiness::Ready(Box::new(activity), key)
}

/// The order to post in, as (activity, grade) indexes into `ready`:
/// consecutive posts go to different platforms, so one busy LMS never holds
/// every global slot while waiting for its own.
pub fn interleave_by_platform(ready: &[ActivityWork]) -> Vec<(usize, usize)> {
    let mut queues: HashMap<&str, VecDeque<(usize, usize)>> = HashMap::new();
    let mut platforms: Vec<&str> = Vec::new();
    for (a, work) in ready.iter().enumerate() {
        let platform = work.activity.ids.platform_id.as_str();
        let queue = queues.entry(platform).or_insert_with(|| {
            platforms.push(platform);
            VecDeque::new()
        });
        queue.extend((0..work.grades.len()).map(|g| (a, g)));
    }
    let mut order = Vec::new();
    while !queues.is_empty() {
        for platform in &platforms {
            if let Some(queue) = queues.get_mut(platform) {
                match queue.pop_front() {
                    Some(task) => order.push(task),
                    None => {
                        queues.remove(platform);
                    }
                }
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;
    use crate::activity::ActivityIds;
    use crate::store::PendingGrade;

    fn activity(platform: &str, link: &str, key: Option<&str>) -> Activity {
        Activity {
            service_key: key.map(ServiceKey::new),
            ..Activity::bare(ActivityIds::new(platform, "c", link).unwrap())
        }
    }

    fn grade(a: &Activity, user: &str, score: &str) -> PendingGrade {
        let pk = format!("ACT#{}", a.key);
        let item: HashMap<String, AttributeValue> = [
            ("pk", AttributeValue::S(pk.clone())),
            ("sk", AttributeValue::S(format!("GRADE#{user}"))),
            ("pending", AttributeValue::S(pk)),
            ("schemaVersion", AttributeValue::N("1".into())),
            ("userId", AttributeValue::S(user.into())),
            ("scoreGiven", AttributeValue::N(score.into())),
            ("scoreMaximum", AttributeValue::N("10".into())),
            ("gradedAt", AttributeValue::S("2026-11-28T10:00:00Z".into())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        PendingGrade::from_item(item)
    }

    fn known(list: &[&Activity]) -> HashMap<ActivityKey, Result<Activity, String>> {
        list.iter()
            .map(|a| (a.key.clone(), Ok((*a).clone())))
            .collect()
    }

    fn pending_reasons(plan: &Plan) -> Vec<(String, PendingReason)> {
        plan.known
            .iter()
            .filter_map(|d| match d.outcome {
                GradeOutcome::Pending(r) => Some((d.stored.user_label(), r)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn valid_grades_of_a_ready_activity_are_posted_and_invalid_ones_fail() {
        let a = activity("p", "r", Some("k"));
        let plan = plan(
            vec![grade(&a, "u1", "5"), grade(&a, "u2", "-1")],
            known(&[&a]),
        );
        assert_eq!(plan.ready.len(), 1);
        assert_eq!(plan.ready[0].grades.len(), 1);
        assert_eq!(plan.ready[0].grades[0].grade.user_id, "u1");
        let GradeOutcome::Failed(reason) = &plan.known[0].outcome else {
            panic!("{:?}", plan.known)
        };
        let reason = reason.text();
        assert!(
            reason.contains("scoreGiven must be a number of at least 0"),
            "{reason}"
        );
        assert_eq!(plan.activities_seen, 1);
    }

    #[test]
    fn blocked_activities_leave_their_grades_pending_with_the_reason() {
        let keyless = activity("p", "keyless", None);
        let mut refused = activity("p", "refused", Some("k"));
        refused.needs_relaunch = Some("401".into());
        let never = activity("p", "never", Some("k"));
        let broken = activity("p", "broken", Some("k"));
        let mut read = known(&[&keyless, &refused]);
        read.insert(broken.key.clone(), Err("bad item".into()));
        let plan = plan(
            vec![
                grade(&keyless, "a", "1"),
                grade(&refused, "b", "1"),
                grade(&never, "c", "1"),
                grade(&broken, "d", "1"),
            ],
            read,
        );
        assert!(plan.ready.is_empty());
        let mut reasons = pending_reasons(&plan);
        reasons.sort();
        assert_eq!(
            reasons,
            vec![
                ("a".into(), PendingReason::NoServiceKey),
                ("b".into(), PendingReason::NeedsRelaunch),
                ("c".into(), PendingReason::ActivityNotLaunched),
                ("d".into(), PendingReason::ActivityMalformed),
            ]
        );
        assert_eq!(plan.activities_needing_relaunch, 1);
    }

    #[test]
    fn missing_scopes_fail_the_grades_once_with_the_reason() {
        use crate::activity::{LINE_ITEM_SCOPE, SCORE_SCOPE};
        let scopes = |list: &[&str]| Some(list.iter().map(|s| s.to_string()).collect());
        let mut no_score = activity("p", "no-score", Some("k"));
        no_score.services.ags_scopes = scopes(&[LINE_ITEM_SCOPE]);
        let mut no_column = activity("p", "no-column", Some("k"));
        no_column.services.ags_scopes = scopes(&[SCORE_SCOPE]);
        let mut named = activity("p", "named", Some("k"));
        named.services.ags_scopes = scopes(&[SCORE_SCOPE]);
        named.launch_line_item_id = Some("https://lms/li/1".into());
        let plan = plan(
            vec![
                grade(&no_score, "a", "1"),
                grade(&no_column, "b", "1"),
                grade(&named, "c", "1"),
            ],
            known(&[&no_score, &no_column, &named]),
        );
        assert_eq!(plan.ready.len(), 1);
        assert_eq!(plan.ready[0].activity.ids.resource_link_id, "named");
        let mut failed: Vec<(String, String)> = plan
            .known
            .iter()
            .map(|d| match &d.outcome {
                GradeOutcome::Failed(reason) => (d.stored.user_label(), reason.text()),
                other => panic!("{other:?}"),
            })
            .collect();
        failed.sort();
        assert!(failed[0].1.starts_with("NO_SCORE_SCOPE:"), "{failed:?}");
        assert!(failed[1].1.starts_with("NO_LINE_ITEM_SCOPE:"), "{failed:?}");
    }

    #[test]
    fn posts_alternate_between_platforms() {
        let a = activity("p1", "a", Some("k"));
        let b = activity("p2", "b", Some("k"));
        let grades = vec![
            grade(&a, "1", "1"),
            grade(&a, "2", "1"),
            grade(&a, "3", "1"),
            grade(&b, "1", "1"),
        ];
        let plan = plan(grades, known(&[&a, &b]));
        let platforms: Vec<&str> = interleave_by_platform(&plan.ready)
            .into_iter()
            .map(|(a, _)| plan.ready[a].activity.ids.platform_id.as_str())
            .collect();
        assert_eq!(platforms, ["p1", "p2", "p1", "p1"]);
    }
}

//! What `ltisync reconcile` prints: a row per activity, the first lines of
//! each class, totals; or the same as JSON in a stable shape
//! (`{"activities": [...], "totals": {...}, "grades": [...]}`, where
//! `grades` lists every grade that does not match and every unknown user).

use std::collections::BTreeMap;
use std::process::ExitCode;

use ltisync::reconcile::{Finding, Posted, Reconciled};
use ltisync::ActivityKey;
use serde::Serialize;

use crate::inventory::{fit, pad};

/// Lines printed per class in the human view (all of them in JSON).
const SHOWN_PER_CLASS: usize = 20;

/// A grade queued to be sent again.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Requeued {
    pub user_id: String,
    /// `requeued`, `wouldRequeue` (dry run) or `changed` (the tool wrote it
    /// meanwhile; left alone).
    pub result: &'static str,
}

/// One activity's counts, or why it could not be read.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityReport {
    activity_key: String,
    /// `null` when readable; else why not.
    unreadable: Option<String>,
    /// No grade was ever posted for it: nothing to compare yet (not a fault).
    nothing_sent: bool,
    matches: usize,
    differs: usize,
    missing: usize,
    unknown: usize,
    requeued: Vec<Requeued>,
    #[serde(skip)]
    lines: Vec<GradeLine>,
}

/// A grade that does not match, or a result for a user with no grade.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct GradeLine {
    activity_key: String,
    user_id: String,
    /// `differs`, `missing` or `unknown`.
    class: &'static str,
    /// What the table says the LMS accepted (absent for `unknown`).
    #[serde(skip_serializing_if = "Option::is_none")]
    posted: Option<Score>,
    /// What the gradebook shows (absent for `missing`).
    #[serde(skip_serializing_if = "Option::is_none")]
    lms: Option<Score>,
    /// `higher` or `lower` than posted, for `differs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    direction: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lms_comment: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
struct Score {
    score: f64,
    maximum: f64,
}

impl ActivityReport {
    /// An activity whose results cannot be read, and why.
    pub fn unreadable(key: &ActivityKey, reason: String) -> Self {
        Self {
            activity_key: key.to_string(),
            unreadable: Some(reason),
            ..Self::default()
        }
    }

    /// An activity with no grade posted yet: nothing to compare.
    pub fn nothing_sent(key: &ActivityKey) -> Self {
        Self {
            activity_key: key.to_string(),
            nothing_sent: true,
            ..Self::default()
        }
    }

    /// An activity read and sorted.
    pub fn read(
        key: &ActivityKey,
        posted: &[Posted],
        sorted: Reconciled,
        requeued: Vec<Requeued>,
    ) -> Self {
        let activity_key = key.to_string();
        let mut report = Self {
            activity_key: activity_key.clone(),
            unknown: sorted.unknown.len(),
            requeued,
            ..Self::default()
        };
        for (user, finding) in sorted.findings {
            let sent = posted.iter().find(|p| p.user_id == user).map(|p| Score {
                score: p.score_given,
                maximum: p.score_maximum,
            });
            match &finding {
                Finding::Matches => report.matches += 1,
                Finding::Differs { .. } => report.differs += 1,
                Finding::Missing => report.missing += 1,
            }
            if finding != Finding::Matches {
                report
                    .lines
                    .push(GradeLine::of(&activity_key, user, sent, &finding));
            }
        }
        for result in sorted.unknown {
            report.lines.push(GradeLine {
                activity_key: activity_key.clone(),
                user_id: result.user_id,
                class: "unknown",
                posted: None,
                lms: result.result_score.map(|score| Score {
                    score,
                    maximum: result.result_maximum,
                }),
                direction: None,
                lms_comment: result.comment,
            });
        }
        report
    }
}

impl GradeLine {
    fn of(activity_key: &str, user_id: String, posted: Option<Score>, finding: &Finding) -> Self {
        let (lms, direction, lms_comment) = match finding {
            Finding::Differs {
                result_score,
                result_maximum,
                higher,
                comment,
            } => (
                Some(Score {
                    score: *result_score,
                    maximum: *result_maximum,
                }),
                Some(if *higher { "higher" } else { "lower" }),
                comment.clone(),
            ),
            _ => (None, None, None),
        };
        Self {
            activity_key: activity_key.to_owned(),
            user_id,
            class: finding.class(),
            posted,
            lms,
            direction,
            lms_comment,
        }
    }

    /// One line for a terminal.
    fn human(&self) -> String {
        let shown = |s: &Option<Score>| match s {
            Some(s) => format!("{}/{}", s.score, s.maximum),
            None => "none".into(),
        };
        let what = match self.class {
            "unknown" => format!("the LMS shows {}; the table has no grade", shown(&self.lms)),
            _ => format!(
                "posted {}, the LMS shows {}{}{}",
                shown(&self.posted),
                shown(&self.lms),
                self.direction
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default(),
                self.lms_comment
                    .as_ref()
                    .map(|c| format!(", comment \"{}\"", fit(c, 40)))
                    .unwrap_or_default()
            ),
        };
        format!(
            "{:<8} {} {} {what}",
            self.class,
            fit(&self.activity_key, 40),
            fit(&self.user_id, 24)
        )
    }
}

/// Every activity's report, folded.
#[derive(Debug, Default)]
pub struct Report {
    activities: Vec<ActivityReport>,
}

impl Report {
    pub fn add(&mut self, activity: ActivityReport) {
        self.activities.push(activity);
    }

    fn totals(&self) -> BTreeMap<&'static str, usize> {
        let sum = |f: fn(&ActivityReport) -> usize| self.activities.iter().map(f).sum::<usize>();
        BTreeMap::from([
            ("activities", self.activities.len()),
            ("matches", sum(|a| a.matches)),
            ("differs", sum(|a| a.differs)),
            ("missing", sum(|a| a.missing)),
            ("unknown", sum(|a| a.unknown)),
            ("unreadable", sum(|a| usize::from(a.unreadable.is_some()))),
            ("nothingSent", sum(|a| usize::from(a.nothing_sent))),
            ("requeued", sum(|a| a.requeued.len())),
        ])
    }

    /// 0 when every grade read matches; 1 when any differs or is missing,
    /// or an activity could not be read.
    pub fn exit_code(&self) -> ExitCode {
        let totals = self.totals();
        let troubled = totals["differs"] + totals["missing"] + totals["unreadable"];
        if troubled == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    }

    pub fn print(&self, json: bool) {
        if json {
            let grades: Vec<&GradeLine> = self.activities.iter().flat_map(|a| &a.lines).collect();
            let body = serde_json::json!({
                "activities": self.activities,
                "totals": self.totals(),
                "grades": grades,
            });
            println!("{}", serde_json::to_string_pretty(&body).expect("JSON"));
        } else {
            print!("{}", self.human());
        }
    }

    fn human(&self) -> String {
        let mut out = format!("{} matches differs missing unknown\n", pad("activity", 40));
        for a in &self.activities {
            let counts = match &a.unreadable {
                Some(why) => format!("unreadable: {}", fit(why, 100)),
                None if a.nothing_sent => {
                    "nothing sent yet: no grade posted, nothing to compare".into()
                }
                None => format!(
                    "{:>7} {:>7} {:>7} {:>7}",
                    a.matches, a.differs, a.missing, a.unknown
                ),
            };
            out.push_str(&format!("{} {counts}\n", pad(&a.activity_key, 40)));
        }
        for class in ["differs", "missing", "unknown"] {
            let lines: Vec<&GradeLine> = self
                .activities
                .iter()
                .flat_map(|a| &a.lines)
                .filter(|l| l.class == class)
                .collect();
            for line in lines.iter().take(SHOWN_PER_CLASS) {
                out.push_str(&line.human());
                out.push('\n');
            }
            if lines.len() > SHOWN_PER_CLASS {
                out.push_str(&format!(
                    "… and {} more {class} (--json lists all)\n",
                    lines.len() - SHOWN_PER_CLASS
                ));
            }
        }
        for a in &self.activities {
            for r in &a.requeued {
                out.push_str(&format!(
                    "{:<13} {} {}\n",
                    r.result,
                    fit(&a.activity_key, 40),
                    fit(&r.user_id, 40)
                ));
            }
        }
        out.push_str(&self.totals_line());
        out
    }

    /// The last line(s): the totals in words.
    fn totals_line(&self) -> String {
        let t = self.totals();
        let mut line = format!(
            "{} activities: {} match, {} differ, {} missing, {} unknown, {} unreadable\n",
            t["activities"],
            t["matches"],
            t["differs"],
            t["missing"],
            t["unknown"],
            t["unreadable"]
        );
        if t["nothingSent"] > 0 {
            line.push_str(&format!(
                "{} with nothing sent yet (not counted as a problem)\n",
                t["nothingSent"]
            ));
        }
        line
    }
}

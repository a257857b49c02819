//! `ltisync failed`: every grade the LMS (or ltisync) refused for good, and why.

use std::process::ExitCode;

use ltisync::{ActivityKey, Store};
use serde::Serialize;

use ltisync::outcome::{FailCode, StoredReason};
use ltisync::store::report::{GradeStage, GradeState, ItemKind};
use strum::IntoEnumIterator;

use crate::inventory::{self, fit, pad};
use crate::Trouble;

/// The command's arguments.
#[derive(Debug, clap::Args)]
pub struct Arguments {
    /// Only this activity.
    #[arg(long)]
    activity: Option<String>,
    /// Only activities of this platform (its LTIaaS registration id).
    #[arg(long)]
    platform: Option<String>,
    /// Only grades the LMS refused with this HTTP status.
    #[arg(long = "status", value_name = "HTTP_STATUS")]
    http_status: Option<u16>,
    /// Only grades failed for this reason: the stored code (`lastErrorCode`,
    /// e.g. notALearner, lmsRejected; docs/troubleshooting.md lists them).
    #[arg(long)]
    code: Option<String>,
    /// JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

impl Arguments {
    /// The filter the arguments ask for; an unknown code is a usage error.
    pub fn filter(&self) -> Result<Filter, Trouble> {
        let code = match &self.code {
            None => None,
            Some(code) => Some(code.parse::<FailCode>().map_err(|_| {
                let known: Vec<&str> = FailCode::iter().map(Into::into).collect();
                Trouble::new(format!(
                    "--code {}: not a failure code; one of {}",
                    fit(code, 40),
                    known.join(", ")
                ))
            })?),
        };
        Ok(Filter {
            activity: crate::parse_key(self.activity.clone())?,
            platform: self.platform.clone(),
            http_status: self.http_status,
            code,
        })
    }
}

/// Which failed grades to show.
pub struct Filter {
    pub activity: Option<ActivityKey>,
    pub platform: Option<String>,
    pub http_status: Option<u16>,
    pub code: Option<FailCode>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct FailedGrade {
    activity_key: String,
    platform_id: String,
    user_id: String,
    http_status: Option<u16>,
    reason: String,
    /// The reason's code (`lastErrorCode`, or recognised in the text of a
    /// grade that failed before codes were stored).
    code: Option<&'static str>,
    failed_at: Option<String>,
}

pub async fn run(store: &Store, filter: &Filter, json: bool) -> Result<ExitCode, Trouble> {
    let mut found = Vec::new();
    inventory::for_each_item(store, filter.activity.as_ref(), |item| {
        let ItemKind::Grade(key) = ItemKind::of(&item) else {
            return;
        };
        let state = GradeState::read(&item);
        let GradeStage::Failed(why) = state.stage else {
            return;
        };
        let grade = FailedGrade {
            platform_id: key.ids().platform_id,
            activity_key: key.to_string(),
            user_id: state.user_id.unwrap_or_default(),
            http_status: state.http_status,
            reason: state.last_error.unwrap_or_default(),
            code: match why {
                StoredReason::Failed(code) => Some(code.as_str()),
                _ => None,
            },
            failed_at: state.failed_at,
        };
        let wanted = filter
            .platform
            .as_ref()
            .is_none_or(|p| *p == grade.platform_id)
            && filter
                .http_status
                .is_none_or(|s| grade.http_status == Some(s))
            && filter.code.is_none_or(|c| grade.code == Some(c.as_str()));
        if wanted {
            found.push(grade);
        }
    })
    .await?;
    if json {
        let body = serde_json::json!({ "grades": found });
        println!("{}", serde_json::to_string_pretty(&body).expect("JSON"));
    } else {
        print!("{}", listing(&found));
    }
    Ok(if found.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn listing(found: &[FailedGrade]) -> String {
    if found.is_empty() {
        return "no failed grades\n".into();
    }
    let mut out = String::new();
    for g in found {
        let status = g.http_status.map_or("-".into(), |s| s.to_string());
        // To the minute, so a line fits 80 columns.
        let when: String = g
            .failed_at
            .as_deref()
            .unwrap_or("")
            .chars()
            .take(16)
            .collect();
        out.push_str(&format!(
            "{} {} {:>4}  {}\n",
            pad(&g.activity_key, 30),
            pad(&g.user_id, 18),
            status,
            when
        ));
        out.push_str(&format!("  {}\n", fit(&g.reason, 200)));
    }
    out.push_str(&format!("{} failed grade(s)\n", found.len()));
    out
}

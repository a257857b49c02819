//! `ltisync sync`: a sync now, by the deployed function (Lambda Invoke,
//! synchronous) or in this process against the configured table and LTIaaS.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use aws_sdk_lambda::primitives::Blob;
use ltisync::config::SyncSettings;
use ltisync::ltiaas::LtiaasClient;
use ltisync::sync::{SyncEngine, SyncRequest};
use ltisync::ActivityKey;
use ltisync::Store;
use serde_json::{json, Value};

use crate::Trouble;

/// How long an in-process run may take: as long as the deployed function.
const LOCAL_BUDGET: Duration = Duration::from_secs(15 * 60);

/// What to sync, and where.
pub struct SyncCommand {
    pub activity: Option<ActivityKey>,
    pub dry_run: bool,
    /// The deployed function's name (`None`: run in this process).
    pub function: Option<String>,
}

pub async fn run(command: &SyncCommand, table: Option<&str>) -> Result<ExitCode, Trouble> {
    let summary = match &command.function {
        Some(function) => invoke(function, command).await?,
        None => run_locally(command, table).await?,
    };
    println!("{}", serde_json::to_string_pretty(&summary).expect("JSON"));
    Ok(ExitCode::SUCCESS)
}

/// The event a manual invoke sends (see docs/operating.md, "Running a sync by hand").
fn event(command: &SyncCommand) -> Value {
    let mut event = json!({"dryRun": command.dry_run});
    if let Some(key) = &command.activity {
        event["activityKey"] = json!(key.as_str());
    }
    event
}

async fn invoke(function: &str, command: &SyncCommand) -> Result<Value, Trouble> {
    let config = ltisync::bootstrap::aws_config().await;
    let out = aws_sdk_lambda::Client::new(&config)
        .invoke()
        .function_name(function)
        .payload(Blob::new(event(command).to_string()))
        .send()
        .await
        .map_err(|e| {
            Trouble::new(format!(
                "could not invoke '{function}': {}. Check the function name (the stack's \
                 SyncFunctionName output), the AWS credentials and region",
                aws_sdk_lambda::error::DisplayErrorContext(&e)
            ))
        })?;
    let payload: Value = out
        .payload
        .map(|p| serde_json::from_slice(p.as_ref()).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    match out.function_error {
        Some(kind) => Err(Trouble::new(format!(
            "the sync function failed ({kind}): {}: {}",
            payload["errorType"].as_str().unwrap_or("unknown"),
            payload["errorMessage"].as_str().unwrap_or("no message")
        ))),
        None => Ok(payload),
    }
}

/// The LTIaaS client, the store and the sync function's settings, read as
/// the function reads them (the command's `--table` or `TABLE_NAME`).
pub(crate) async fn connect(
    table: Option<&str>,
) -> Result<(LtiaasClient, Store, SyncSettings), Trouble> {
    let table =
        table.ok_or_else(|| Trouble::new("no table: pass --table NAME or set TABLE_NAME"))?;
    let lookup = |name: &str| match name {
        "TABLE_NAME" => Some(table.to_owned()),
        other => std::env::var(other).ok(),
    };
    let settings = SyncSettings::from_env(&lookup).map_err(|e| Trouble::new(e.to_string()))?;
    let aws = ltisync::bootstrap::aws_config().await;
    let (client, store) = ltisync::bootstrap::clients(
        &aws,
        &settings.ltiaas,
        &settings.table_name,
        &settings.dynamodb,
    )
    .await
    .map_err(|e| Trouble::new(e.to_string()))?;
    Ok((client, store, settings))
}

async fn run_locally(command: &SyncCommand, table: Option<&str>) -> Result<Value, Trouble> {
    let (client, store, settings) = connect(table).await?;
    let engine = SyncEngine::new(client, store, settings.tuning);
    let summary = engine
        .run(SyncRequest {
            activity: command.activity.clone(),
            dry_run: command.dry_run,
            deadline: SystemTime::now() + LOCAL_BUDGET,
        })
        .await
        .map_err(|e| Trouble::new(e.to_string()))?;
    Ok(serde_json::to_value(summary).expect("JSON"))
}

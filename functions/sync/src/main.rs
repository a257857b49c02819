//! Entry point of the `sync` Lambda function: build everything once, then
//! run one sync per invocation.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use ltisync::config::{ProcessEnv, SyncSettings};
use ltisync::sync::SyncEngine;
use serde_json::Value;
use sync_function::follow_up::FollowUps;
use sync_function::SyncFunction;

#[tokio::main]
async fn main() -> Result<(), Error> {
    ltisync::telemetry::init();
    let function = start()
        .await
        .unwrap_or_else(|e| ltisync::bootstrap::exit_on_init_error(e));
    let function = &function;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = event.context.deadline();
        // A SyncFailure becomes a Lambda diagnostic: its kind is the error type.
        function.handle(&event.payload, deadline).await
    }))
    .await
}

/// The Lambda client for follow-up runs, an empty endpoint variable counted
/// as unset (`ltisync::bootstrap::endpoint_override`).
fn lambda_client(mut config: aws_sdk_lambda::config::Builder) -> aws_sdk_lambda::Client {
    let variable = "AWS_ENDPOINT_URL_LAMBDA";
    if let Some(endpoint) =
        ltisync::bootstrap::endpoint_override(ltisync::bootstrap::raw_process_env, variable)
    {
        config.set_endpoint_url(endpoint);
    }
    aws_sdk_lambda::Client::from_conf(config.build())
}

async fn start() -> Result<SyncFunction, ltisync::bootstrap::BootstrapError> {
    let settings = SyncSettings::from_env(&ProcessEnv)?;
    // Loaded once: the table's, the secret's and the Lambda client share it.
    let aws = ltisync::bootstrap::aws_config().await;
    let (client, store) = ltisync::bootstrap::clients(
        &aws,
        &settings.ltiaas,
        &settings.table_name,
        &settings.dynamodb,
    )
    .await?;
    let name = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "ltisync-sync".into());
    let lambda = lambda_client(aws_sdk_lambda::config::Builder::from(&aws));
    let follow_ups = FollowUps::new(lambda, &name, settings.max_follow_ups);
    Ok(
        SyncFunction::new(SyncEngine::new(client, store, settings.tuning), name)
            .with_follow_ups(follow_ups),
    )
}

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

async fn start() -> Result<SyncFunction, ltisync::bootstrap::BootstrapError> {
    let settings = SyncSettings::from_env(&ProcessEnv)?;
    let (client, store) =
        ltisync::bootstrap::clients(&settings.ltiaas, &settings.table_name, &settings.dynamodb)
            .await?;
    let name = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "ltisync-sync".into());
    let lambda = aws_sdk_lambda::Client::new(&ltisync::bootstrap::aws_config().await);
    let follow_ups = FollowUps::new(lambda, &name, settings.max_follow_ups);
    Ok(
        SyncFunction::new(SyncEngine::new(client, store, settings.tuning), name)
            .with_follow_ups(follow_ups),
    )
}

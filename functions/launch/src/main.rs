//! Entry point of the `launch` Lambda function: build everything once, then
//! serve API Gateway events.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use launch_function::LaunchFunction;
use ltisync::config::{LaunchSettings, ProcessEnv};

#[tokio::main]
async fn main() -> Result<(), Error> {
    ltisync::telemetry::init();
    let function = start()
        .await
        .unwrap_or_else(|e| ltisync::bootstrap::exit_on_init_error(e));
    let function = &function;
    // The raw event first: the guard checks it before lambda_http reads it
    // (see `launch_function::guard`).
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            Ok::<_, Error>(function.respond(event.payload, event.context).await)
        },
    ))
    .await
}

async fn start() -> Result<LaunchFunction, ltisync::bootstrap::BootstrapError> {
    let settings = LaunchSettings::from_env(&ProcessEnv)?;
    let aws = ltisync::bootstrap::aws_config().await;
    let (client, store) = ltisync::bootstrap::clients(
        &aws,
        &settings.ltiaas,
        &settings.table_name,
        &settings.dynamodb,
    )
    .await?;
    Ok(LaunchFunction::new(client, store, settings.tool_url).framed_by(settings.frame_ancestors))
}

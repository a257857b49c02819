//! Entry point of the `launch` Lambda function: build everything once, then
//! serve API Gateway events.

use lambda_http::{service_fn, Error, Request};
use launch::LaunchFunction;
use ltisync::config::{LaunchSettings, ProcessEnv};
use ltisync::launch::LaunchService;

#[tokio::main]
async fn main() -> Result<(), Error> {
    ltisync::telemetry::init();
    let function = start()
        .await
        .unwrap_or_else(|e| ltisync::bootstrap::exit_on_init_error(e));
    let function = &function;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(function.handle(request).await)
    }))
    .await
}

async fn start() -> Result<LaunchFunction, ltisync::bootstrap::BootstrapError> {
    let settings = LaunchSettings::from_env(&ProcessEnv)?;
    let (client, store) =
        ltisync::bootstrap::clients(&settings.ltiaas, &settings.table_name).await?;
    Ok(LaunchFunction::new(
        LaunchService::new(client, store),
        settings.tool_url,
    ))
}

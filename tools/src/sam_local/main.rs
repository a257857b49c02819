//! `make sam-local`: every file in events/ through SAM CLI and Docker, and
//! the launch API through `sam local start-api`, against real local parts.
//!
//! Run by `scripts/with-docker.sh scripts/with-moto.sh`: a Docker daemon
//! and the locally built Lambda base image (`LTISYNC_LAMBDA_IMAGE`, the
//! bridge's host address in `LTISYNC_DOCKER_BRIDGE_ADDRESS`), moto
//! (`LTISYNC_TEST_DYNAMODB`). Here: the LTIaaS simulator on loopback, a
//! table from template.yaml, the API key as a Secrets Manager secret, the
//! relays the containers reach them through (relay.rs says why), then
//! `sam build` and SAM CLI itself. Each answer is checked against the
//! table and the simulator; every mismatch is listed and the exit code is 1.

mod checks;
mod relay;
mod sam;
mod stack;

use std::process::ExitCode;

use ltisync_tools::console::{say, step};

use checks::Checks;
use sam::SamOptions;
use stack::Stack;

#[tokio::main]
async fn main() -> ExitCode {
    let started = std::time::Instant::now();
    let result = run().await;
    let took = started.elapsed().as_secs_f64();
    match result {
        Ok(checks) if checks.all_passed() => {
            println!(
                "\nsam-local: all {} checks passed in {took:.1} s",
                checks.count()
            );
            ExitCode::SUCCESS
        }
        Ok(checks) => {
            println!(
                "\nsam-local: {} of {} checks failed:",
                checks.failures().len(),
                checks.count()
            );
            for failure in checks.failures() {
                println!("  - {failure}");
            }
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("sam-local: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<Checks, String> {
    let image = std::env::var("LTISYNC_LAMBDA_IMAGE")
        .map_err(|_| "run it with `make sam-local` (LTISYNC_LAMBDA_IMAGE is not set)".to_owned())?;
    let stack = Stack::start().await?;
    let env_vars = stack.env_file.to_string_lossy().into_owned();
    let sam = SamOptions {
        env_vars: &env_vars,
        image: Some(&image),
    };
    step("sam build (cargo-lambda, reusing `make package`'s build)");
    let build = sam::run(&stack.repo, &sam.build()).await?;
    say(&format!("built in {:.1} s", build.took.as_secs_f64()));
    let mut checks = Checks::default();
    checks::launch_events(&stack, &sam, &mut checks).await?;
    checks::sync_events(&stack, &sam, &mut checks).await?;
    checks::start_api(&stack, &sam, &mut checks).await?;
    stack.stop().await;
    Ok(checks)
}

//! A rotated LTIaaS API key reaches a warm function without a redeploy: the
//! function read the old key from its secret at start; when LTIaaS refuses
//! it, the function reads the secret once more and goes on with the new key.
//! Through the real sync binary, moto's Secrets Manager and the simulator.

use ltisync_tests::dynamo::{create_secret, services_endpoint};
use ltisync_tests::rigs::{event_file, SyncRig, Via};

use crate::helpers::{Stack, LONG};

/// Secrets Manager on moto, as the tests reach it.
async fn secrets() -> aws_sdk_secretsmanager::Client {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
        .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .endpoint_url(services_endpoint())
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

#[tokio::test]
async fn a_warm_function_reads_a_rotated_key_once_and_goes_on() {
    let (stack, _ids) = Stack::with_grades(2).await;
    let secret = create_secret("the-key-before-rotation").await;
    let mut env = stack.env();
    env.remove("LTIAAS_API_KEY");
    env.insert("LTIAAS_API_KEY_SECRET".into(), secret.clone());
    // The function starts, and reads the old key, before the rotation: it
    // is waiting for its first invocation, warm, with a key LTIaaS refuses.
    let rig = SyncRig::start(Via::Binary, &env).await;
    let SyncRig::Binary(api, _) = &rig else {
        unreachable!("the binary rig")
    };
    let started = std::time::Instant::now();
    while api.first_poll().is_none() {
        assert!(
            started.elapsed() < LONG,
            "the function never asked for work"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // LTIaaS's key is the simulator's; the operator puts it in the secret.
    secrets()
        .await
        .put_secret_value()
        .secret_id(&secret)
        .secret_string(stack.sim.api_key())
        .send()
        .await
        .expect("PutSecretValue on moto");
    let summary = rig.run(&event_file("schedule.json"), LONG).await;
    assert_eq!(
        summary["gradesPosted"], 2,
        "the same process, the new key: {summary}"
    );
    assert_eq!(stack.sim.scores().len(), 2);
    rig.finish().await;
}

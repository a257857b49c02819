//! Cold-start wiring shared by both functions: the AWS configuration, the
//! API key, and the clients built from them.

use aws_config::{BehaviorVersion, SdkConfig};
use thiserror::Error;

use crate::config::{ApiKeySource, DynamoDbTimeouts, LtiaasSettings};
use crate::ltiaas::{LtiaasClient, LtiaasError};
use crate::secrets::ApiKey;
use crate::store::Store;

/// A failure while starting a function.
#[derive(Debug, Error)]
pub enum BootstrapError {
    /// A setting is missing or invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The API key secret could not be read.
    #[error("configuration error: LTIAAS_API_KEY_SECRET '{secret}' could not be read from Secrets Manager: {reason}")]
    Secret {
        /// The secret id.
        secret: String,
        /// What Secrets Manager answered (never the secret's value).
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] LtiaasError),
}

/// Ends a cold start that cannot succeed: one line naming the problem (in
/// the log and on stderr, which Lambda shows as the init error), then a
/// non-zero exit.
pub fn exit_on_init_error(error: BootstrapError) -> ! {
    tracing::error!("{error}");
    eprintln!("{error}");
    std::process::exit(2);
}

/// The AWS SDK configuration from the standard sources (region,
/// credentials, `AWS_ENDPOINT_URL*`).
pub async fn aws_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// The API key: given directly, or read once from Secrets Manager.
pub async fn api_key(source: &ApiKeySource, aws: &SdkConfig) -> Result<ApiKey, BootstrapError> {
    match source {
        ApiKeySource::Plain(key) => Ok(key.clone()),
        ApiKeySource::SecretsManager(secret) => {
            let client = aws_sdk_secretsmanager::Client::new(aws);
            let out = client
                .get_secret_value()
                .secret_id(secret)
                .send()
                .await
                .map_err(|e| BootstrapError::Secret {
                    secret: secret.clone(),
                    reason: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
                })?;
            let value = out
                .secret_string
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| BootstrapError::Secret {
                    secret: secret.clone(),
                    reason: "the secret has no text value; store the API key as the secret string"
                        .into(),
                })?;
            Ok(ApiKey::new(value))
        }
    }
}

/// The LTIaaS client and the store, ready to use.
pub async fn clients(
    ltiaas: &LtiaasSettings,
    table_name: &str,
    timeouts: &DynamoDbTimeouts,
) -> Result<(LtiaasClient, Store), BootstrapError> {
    let aws = aws_config().await;
    let key = api_key(&ltiaas.api_key, &aws).await?;
    let client = LtiaasClient::new(ltiaas, key)?;
    let dynamodb = crate::store::with_timeouts(&aws_sdk_dynamodb::Client::new(&aws), timeouts);
    let store = Store::new(dynamodb, table_name);
    Ok((client, store))
}

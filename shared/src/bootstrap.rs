//! Cold-start wiring shared by both functions: the AWS configuration, the
//! API key, and the clients built from them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};
use thiserror::Error;

use crate::config::{ApiKeySource, DynamoDbTimeouts, LtiaasSettings};
use crate::ltiaas::{KeyRefresh, LtiaasClient, LtiaasError};
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

/// The endpoint a client must be given explicitly, when one of its
/// variables (`AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`) is set
/// but empty: the first non-empty one, or none (AWS's own endpoint).
/// `None` when neither is empty, and the SDK reads them as usual.
///
/// Why: SAM CLI gives every variable the template declares but cannot
/// resolve the value '' (template.yaml declares `AWS_ENDPOINT_URL` for
/// local runs), and the AWS SDK takes an empty endpoint as given, then
/// panics building the first request (aws-smithy-types: "URL was unset").
/// Here an empty endpoint variable counts as unset, as all of ltisync's
/// own variables do.
pub fn endpoint_override(
    raw_env: impl Fn(&str) -> Option<String>,
    service_variable: &str,
) -> Option<Option<String>> {
    let values = [raw_env(service_variable), raw_env("AWS_ENDPOINT_URL")];
    let blank = |v: &Option<String>| v.as_deref().is_some_and(|v| v.trim().is_empty());
    if !values.iter().any(blank) {
        return None;
    }
    Some(values.into_iter().flatten().find(|v| !v.trim().is_empty()))
}

/// The process's variables as set, empty ones included.
pub fn raw_process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A DynamoDB client from the AWS configuration, an empty endpoint
/// variable counted as unset (see [`endpoint_override`]).
pub fn dynamodb_client(aws: &SdkConfig) -> aws_sdk_dynamodb::Client {
    let mut config = aws_sdk_dynamodb::config::Builder::from(aws);
    if let Some(endpoint) = endpoint_override(raw_process_env, "AWS_ENDPOINT_URL_DYNAMODB") {
        config.set_endpoint_url(endpoint);
    }
    aws_sdk_dynamodb::Client::from_conf(config.build())
}

/// A Secrets Manager client, as [`dynamodb_client`].
fn secrets_client(aws: &SdkConfig) -> aws_sdk_secretsmanager::Client {
    let mut config = aws_sdk_secretsmanager::config::Builder::from(aws);
    if let Some(endpoint) = endpoint_override(raw_process_env, "AWS_ENDPOINT_URL_SECRETS_MANAGER") {
        config.set_endpoint_url(endpoint);
    }
    aws_sdk_secretsmanager::Client::from_conf(config.build())
}

/// The API key: given directly, or read once from Secrets Manager.
pub async fn api_key(source: &ApiKeySource, aws: &SdkConfig) -> Result<ApiKey, BootstrapError> {
    match source {
        ApiKeySource::Plain(key) => Ok(key.clone()),
        ApiKeySource::SecretsManager(secret) => read_secret(&secrets_client(aws), secret).await,
    }
}

async fn read_secret(
    client: &aws_sdk_secretsmanager::Client,
    secret: &str,
) -> Result<ApiKey, BootstrapError> {
    let out = client
        .get_secret_value()
        .secret_id(secret)
        .send()
        .await
        .map_err(|e| BootstrapError::Secret {
            secret: secret.to_owned(),
            reason: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
        })?;
    let value = out
        .secret_string
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| BootstrapError::Secret {
            secret: secret.to_owned(),
            reason: "the secret has no text value; store the API key as the secret string".into(),
        })?;
    Ok(ApiKey::new(value))
}

/// The API key's secret, read again when LTIaaS refuses the key in use: a
/// rotation reaches warm functions without a redeploy.
struct SecretKeyRefresh {
    client: aws_sdk_secretsmanager::Client,
    secret: String,
}

impl KeyRefresh for SecretKeyRefresh {
    fn read(&self) -> Pin<Box<dyn Future<Output = Option<ApiKey>> + Send + '_>> {
        Box::pin(async move {
            match read_secret(&self.client, &self.secret).await {
                Ok(key) => Some(key),
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the API key's secret again");
                    None
                }
            }
        })
    }
}

/// The LTIaaS client and the store, ready to use, from the AWS settings the
/// caller loaded once ([`aws_config`]) and may use for its other clients.
pub async fn clients(
    aws: &SdkConfig,
    ltiaas: &LtiaasSettings,
    table_name: &str,
    timeouts: &DynamoDbTimeouts,
) -> Result<(LtiaasClient, Store), BootstrapError> {
    let key = api_key(&ltiaas.api_key, aws).await?;
    let mut client = LtiaasClient::new(ltiaas, key)?;
    if let ApiKeySource::SecretsManager(secret) = &ltiaas.api_key {
        let refresh = SecretKeyRefresh {
            client: secrets_client(aws),
            secret: secret.clone(),
        };
        client = client.with_key_refresh(Arc::new(refresh));
    }
    let dynamodb = crate::store::with_timeouts(&dynamodb_client(aws), timeouts);
    let store = Store::new(dynamodb, table_name);
    Ok((client, store))
}

#[cfg(test)]
mod tests {
    use super::endpoint_override;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    const DYNAMODB: &str = "AWS_ENDPOINT_URL_DYNAMODB";

    #[test]
    fn set_endpoints_are_left_to_the_sdk() {
        assert_eq!(endpoint_override(env(&[]), DYNAMODB), None);
        let both = [(DYNAMODB, "http://a:1"), ("AWS_ENDPOINT_URL", "http://b:2")];
        assert_eq!(endpoint_override(env(&both), DYNAMODB), None);
    }

    #[test]
    fn an_empty_endpoint_counts_as_unset() {
        let global_blank = [("AWS_ENDPOINT_URL", "")];
        assert_eq!(endpoint_override(env(&global_blank), DYNAMODB), Some(None));
        let service_blank = [(DYNAMODB, " "), ("AWS_ENDPOINT_URL", "http://b:2")];
        assert_eq!(
            endpoint_override(env(&service_blank), DYNAMODB),
            Some(Some("http://b:2".into()))
        );
        let global_blank_service_set = [(DYNAMODB, "http://a:1"), ("AWS_ENDPOINT_URL", "")];
        assert_eq!(
            endpoint_override(env(&global_blank_service_set), DYNAMODB),
            Some(Some("http://a:1".into()))
        );
    }
}

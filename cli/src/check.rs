//! `ltisync check`: the configuration, the table, the API key secret and
//! LTIaaS, one line each: `ok`, or what is wrong and what to do.

use std::process::ExitCode;

use ltisync::config::{ApiKeySource, SyncSettings};
use ltisync::ltiaas::{LtiaasClient, LtiaasError};
use ltisync::Store;

use crate::inventory::fit;

/// One check's finding.
struct Finding {
    name: &'static str,
    /// `Ok(detail)` or `Err(what is wrong and what to do)`.
    result: Result<String, String>,
}

pub async fn run(store: &Store, aws: &aws_config::SdkConfig) -> ExitCode {
    let mut findings = vec![table(store).await];
    let lookup = |name: &str| match name {
        "TABLE_NAME" => Some(store.table().to_owned()),
        other => std::env::var(other).ok(),
    };
    match SyncSettings::from_env(&lookup) {
        Err(e) => findings.push(Finding {
            name: "configuration",
            result: Err(format!("{} {}", e.variable, e.problem)),
        }),
        Ok(settings) => {
            findings.push(Finding {
                name: "configuration",
                result: Ok(format!("LTIAAS_URL {}", settings.ltiaas.base_url)),
            });
            findings.extend(ltiaas(&settings, aws).await);
        }
    }
    // Details quote LTIaaS, the LMS and the table name: shown escaped.
    for f in &findings {
        match &f.result {
            Ok(detail) => println!("{:<14} ok  {}", f.name, fit(detail, 400)),
            Err(problem) => println!("{:<14} !!  {}", f.name, fit(problem, 400)),
        }
    }
    if findings.iter().all(|f| f.result.is_ok()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

async fn table(store: &Store) -> Finding {
    let result = match store.layout_problems().await {
        Ok(problems) if problems.is_empty() => Ok(format!(
            "'{}': keys, index and stream as the code uses them",
            store.table()
        )),
        Ok(problems) => Err(format!(
            "'{}': {}; deploy the table from template.yaml",
            store.table(),
            problems.join("; ")
        )),
        Err(e) => Err(format!(
            "'{}' could not be described: {}; check the name, credentials and region",
            ltisync::excerpt::excerpt_to(store.table(), 64),
            ltisync::excerpt::excerpt_to(&e.to_string(), 160)
        )),
    };
    Finding {
        name: "table",
        result,
    }
}

/// The secret (when one is configured), then LTIaaS with the API key.
async fn ltiaas(settings: &SyncSettings, aws: &aws_config::SdkConfig) -> Vec<Finding> {
    let key = ltisync::bootstrap::api_key(&settings.ltiaas.api_key, aws).await;
    let mut findings = Vec::new();
    if let ApiKeySource::SecretsManager(secret) = &settings.ltiaas.api_key {
        findings.push(Finding {
            name: "secret",
            result: key
                .as_ref()
                .map(|_| format!("'{secret}' read"))
                .map_err(|e| e.to_string()),
        });
    }
    let Ok(key) = key else {
        return findings;
    };
    let result = match LtiaasClient::new(&settings.ltiaas, key) {
        Err(e) => Err(e.to_string()),
        Ok(client) => reach(&client).await,
    };
    findings.push(Finding {
        name: "ltiaas",
        result,
    });
    findings
}

/// Asks for the account's platforms (`GET /api/platforms`, `Bearer`): an
/// answer that depends on the API key alone. An answer that does not tell
/// (the endpoint missing or refusing the scheme) is said to be that, never
/// taken for "ok".
async fn reach(client: &LtiaasClient) -> Result<String, String> {
    match client.platforms().await {
        Ok(()) => Ok("reached; the API key is accepted (GET /api/platforms)".into()),
        Err(LtiaasError::ApiKeyRefused(message)) => Err(format!(
            "LTIaaS refused the API key ({message}); put the key from the LTIaaS portal in the secret or LTIAAS_API_KEY"
        )),
        Err(
            e @ (LtiaasError::Rejected { .. } | LtiaasError::Unauthorized { .. }),
        ) => Err(format!(
            "reached, but could not tell whether the API key is accepted: GET /api/platforms answered {e}"
        )),
        Err(other) => Err(format!("{other}; check LTIAAS_URL and the network path to it")),
    }
}

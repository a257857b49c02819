//! Configuration from the environment (the contract in docs/configuration.md).
//!
//! Every setting is read and checked once, at cold start. A missing or
//! invalid one is a [`ConfigError`] whose `Display` is a single line naming
//! the variable, so the Lambda init failure says exactly what to fix.

use std::time::Duration;

use thiserror::Error;
use url::Url;

use crate::secrets::ApiKey;

/// A setting that is missing or invalid.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("configuration error: {variable} {problem}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong with it, and what is expected.
    pub problem: String,
}

impl ConfigError {
    fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        Self {
            variable,
            problem: problem.into(),
        }
    }
}

/// Reads variables; `std::env` in production, a map in unit tests.
pub trait Lookup {
    /// The variable's value, `None` when unset. Empty counts as unset.
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Lookup for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

impl<F: Fn(&str) -> Option<String>> Lookup for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name).filter(|v| !v.trim().is_empty())
    }
}

/// Where the LTIaaS API key comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiKeySource {
    /// `LTIAAS_API_KEY`: the key itself (local development).
    Plain(ApiKey),
    /// `LTIAAS_API_KEY_SECRET`: a Secrets Manager secret id (deployed stacks).
    SecretsManager(String),
}

/// How to reach LTIaaS.
#[derive(Debug, Clone, PartialEq)]
pub struct LtiaasSettings {
    /// Base URL, e.g. `https://your.ltiaas.com`.
    pub base_url: Url,
    /// The API key, or where to read it.
    pub api_key: ApiKeySource,
    /// Time allowed to open a connection (`LTIAAS_CONNECT_TIMEOUT_MS`, default 3000).
    pub connect_timeout: Duration,
    /// Time allowed for a whole request (`LTIAAS_TIMEOUT_MS`, default 10000).
    pub request_timeout: Duration,
}

/// Time limits on every DynamoDB call, so a stalled table fails a call
/// instead of holding the function past its Lambda timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DynamoDbTimeouts {
    /// One call, the SDK's retries included (`DYNAMODB_TIMEOUT_MS`, 4000).
    /// With LTIaaS's 10 s this keeps a launch inside its 15 s timeout.
    pub operation: Duration,
    /// One attempt of a call, and connecting (`DYNAMODB_ATTEMPT_TIMEOUT_MS`, 2000).
    pub attempt: Duration,
}

impl Default for DynamoDbTimeouts {
    fn default() -> Self {
        Self {
            operation: Duration::from_millis(4000),
            attempt: Duration::from_millis(2000),
        }
    }
}

impl DynamoDbTimeouts {
    /// Reads `DYNAMODB_TIMEOUT_MS` and `DYNAMODB_ATTEMPT_TIMEOUT_MS`.
    pub fn from_env(env: &impl Lookup) -> Result<Self, ConfigError> {
        let d = Self::default();
        let operation = millis(env, "DYNAMODB_TIMEOUT_MS", d.operation, 100..=600_000)?;
        let attempt = millis(
            env,
            "DYNAMODB_ATTEMPT_TIMEOUT_MS",
            d.attempt.min(operation),
            100..=600_000,
        )?;
        if attempt > operation {
            return Err(ConfigError::new(
                "DYNAMODB_ATTEMPT_TIMEOUT_MS",
                format!(
                    "({} ms) must not exceed DYNAMODB_TIMEOUT_MS ({} ms)",
                    attempt.as_millis(),
                    operation.as_millis()
                ),
            ));
        }
        Ok(Self { operation, attempt })
    }
}

/// Settings of the launch function.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchSettings {
    /// Where LTIaaS is and how long a call to it may take.
    pub ltiaas: LtiaasSettings,
    /// The DynamoDB table (`TABLE_NAME`).
    pub table_name: String,
    /// DynamoDB time limits.
    pub dynamodb: DynamoDbTimeouts,
    /// Where to send the browser after capture (`TOOL_URL`, optional).
    pub tool_url: Option<Url>,
    /// Who may show the status page in a frame: the CSP `frame-ancestors`
    /// sources (`STATUS_FRAME_ANCESTORS`, default `*`; the LMS's origin,
    /// e.g. `https://school.instructure.com`, to allow that LMS alone).
    pub frame_ancestors: String,
}

/// Tuning of the sync run; every field has a documented default.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncTuning {
    /// Requests to LTIaaS in flight at once, over all platforms
    /// (`SYNC_CONCURRENCY`, 32).
    pub concurrency: usize,
    /// Requests in flight at once to one platform (`SYNC_PLATFORM_CONCURRENCY`, 8).
    pub platform_concurrency: usize,
    /// Requests per second to LTIaaS over the whole run (`SYNC_RATE_LIMIT`;
    /// unset or 0: no limit).
    pub rate_limit: Option<u32>,
    /// Attempts per request, the first included (`SYNC_MAX_ATTEMPTS`, 4).
    pub max_attempts: usize,
    /// First retry delay (`SYNC_RETRY_BASE_MS`, 200); doubles each attempt, with jitter.
    pub retry_base: Duration,
    /// Longest single wait, `Retry-After` included (`SYNC_RETRY_MAX_MS`, 20000);
    /// a server asking for longer leaves the grade pending for the next run.
    pub retry_max_delay: Duration,
    /// Retries allowed in one run, over all requests (`SYNC_RETRY_BUDGET`, 1000).
    pub retry_budget: u32,
    /// Stop starting posts when less than this is left before the Lambda
    /// deadline (`SYNC_DEADLINE_MARGIN_MS`, 30000).
    pub deadline_margin: Duration,
    /// Read each activity's course roster once per run and post only to
    /// active learners (`SYNC_ROSTER_CHECK`, true).
    pub roster_check: bool,
}

impl Default for SyncTuning {
    fn default() -> Self {
        Self {
            concurrency: 32,
            platform_concurrency: 8,
            rate_limit: None,
            max_attempts: 4,
            retry_base: Duration::from_millis(200),
            retry_max_delay: Duration::from_secs(20),
            retry_budget: 1000,
            deadline_margin: Duration::from_secs(30),
            roster_check: true,
        }
    }
}

/// Settings of the sync function.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncSettings {
    /// Where LTIaaS is and how long a call to it may take.
    pub ltiaas: LtiaasSettings,
    /// The DynamoDB table (`TABLE_NAME`).
    pub table_name: String,
    /// DynamoDB time limits (a run also cuts every call at its own stop).
    pub dynamodb: DynamoDbTimeouts,
    /// Follow-up runs started in a row when runs stop at their deadline
    /// with work left (`SYNC_MAX_FOLLOW_UPS`, 3; 0: none).
    pub max_follow_ups: u32,
    /// Tuning knobs.
    pub tuning: SyncTuning,
}

impl LaunchSettings {
    /// Reads the launch function's settings.
    pub fn from_env(env: &impl Lookup) -> Result<Self, ConfigError> {
        Ok(Self {
            ltiaas: LtiaasSettings::from_env(env)?,
            table_name: table_name(env)?,
            dynamodb: DynamoDbTimeouts::from_env(env)?,
            tool_url: env
                .get("TOOL_URL")
                .map(|raw| parse_url("TOOL_URL", &raw, false))
                .transpose()?,
            frame_ancestors: frame_ancestors(env)?,
        })
    }
}

impl SyncSettings {
    /// Reads the sync function's settings.
    pub fn from_env(env: &impl Lookup) -> Result<Self, ConfigError> {
        let settings = Self {
            ltiaas: LtiaasSettings::from_env(env)?,
            table_name: table_name(env)?,
            dynamodb: DynamoDbTimeouts::from_env(env)?,
            max_follow_ups: number(env, "SYNC_MAX_FOLLOW_UPS", 3, 0..=100)? as u32,
            tuning: SyncTuning::from_env(env)?,
        };
        settings.check_timeouts_fit()?;
        Ok(settings)
    }

    /// A DynamoDB call may take up to its operation timeout; a run keeps the
    /// deadline margin for its last calls (outcome writes, then giving its
    /// lease and claims back), so a timeout longer than the margin could
    /// never fit. A margin of 0 (tests and benchmarks only) keeps nothing.
    fn check_timeouts_fit(&self) -> Result<(), ConfigError> {
        let (timeout, margin) = (self.dynamodb.operation, self.tuning.deadline_margin);
        if timeout > margin && !margin.is_zero() {
            return Err(ConfigError::new(
                "DYNAMODB_TIMEOUT_MS",
                format!(
                    "{} ms is longer than SYNC_DEADLINE_MARGIN_MS ({} ms), the time a run keeps \
                     for its last DynamoDB calls; lower DYNAMODB_TIMEOUT_MS or raise the margin",
                    timeout.as_millis(),
                    margin.as_millis()
                ),
            ));
        }
        Ok(())
    }
}

impl SyncTuning {
    /// Reads the `SYNC_*` knobs, falling back to the defaults.
    pub fn from_env(env: &impl Lookup) -> Result<Self, ConfigError> {
        let d = Self::default();
        let rate = number(env, "SYNC_RATE_LIMIT", 0, 0..=100_000)?;
        Ok(Self {
            concurrency: number(env, "SYNC_CONCURRENCY", d.concurrency as u64, 1..=1024)? as usize,
            platform_concurrency: number(
                env,
                "SYNC_PLATFORM_CONCURRENCY",
                d.platform_concurrency as u64,
                1..=1024,
            )? as usize,
            rate_limit: (rate > 0).then_some(rate as u32),
            max_attempts: number(env, "SYNC_MAX_ATTEMPTS", d.max_attempts as u64, 1..=20)? as usize,
            retry_base: millis(env, "SYNC_RETRY_BASE_MS", d.retry_base, 1..=60_000)?,
            retry_max_delay: millis(env, "SYNC_RETRY_MAX_MS", d.retry_max_delay, 1..=900_000)?,
            retry_budget: number(
                env,
                "SYNC_RETRY_BUDGET",
                d.retry_budget as u64,
                0..=1_000_000,
            )? as u32,
            deadline_margin: millis(
                env,
                "SYNC_DEADLINE_MARGIN_MS",
                d.deadline_margin,
                0..=900_000,
            )?,
            roster_check: flag(env, "SYNC_ROSTER_CHECK", d.roster_check)?,
        })
    }
}

impl LtiaasSettings {
    /// Reads `LTIAAS_URL`, the API key and the timeouts.
    pub fn from_env(env: &impl Lookup) -> Result<Self, ConfigError> {
        let raw_url = env.get("LTIAAS_URL").ok_or_else(|| {
            ConfigError::new(
                "LTIAAS_URL",
                "is not set; give the LTIaaS base URL, e.g. https://your.ltiaas.com",
            )
        })?;
        let api_key = match (env.get("LTIAAS_API_KEY"), env.get("LTIAAS_API_KEY_SECRET")) {
            (Some(key), None) => ApiKeySource::Plain(ApiKey::new(key.trim())),
            (None, Some(secret)) => ApiKeySource::SecretsManager(secret.trim().to_owned()),
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "LTIAAS_API_KEY",
                    "and LTIAAS_API_KEY_SECRET are both set; set only one",
                ))
            }
            (None, None) => {
                return Err(ConfigError::new(
                    "LTIAAS_API_KEY_SECRET",
                    "is not set (nor LTIAAS_API_KEY); give the Secrets Manager secret holding the LTIaaS API key",
                ))
            }
        };
        Ok(Self {
            base_url: parse_url("LTIAAS_URL", &raw_url, !under_sam_local(env))?,
            api_key,
            connect_timeout: millis(
                env,
                "LTIAAS_CONNECT_TIMEOUT_MS",
                Duration::from_millis(3000),
                1..=60_000,
            )?,
            request_timeout: millis(
                env,
                "LTIAAS_TIMEOUT_MS",
                Duration::from_millis(10_000),
                1..=300_000,
            )?,
        })
    }
}

fn table_name(env: &impl Lookup) -> Result<String, ConfigError> {
    let name = env.get("TABLE_NAME").ok_or_else(|| {
        ConfigError::new("TABLE_NAME", "is not set; give the DynamoDB table name")
    })?;
    let valid = (3..=255).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(name)
    } else {
        Err(ConfigError::new(
            "TABLE_NAME",
            format!("'{name}' is not a DynamoDB table name (3-255 of A-Z a-z 0-9 _ - .)"),
        ))
    }
}

/// True inside SAM CLI's local emulation (`sam local invoke`,
/// `start-api`), which sets `AWS_SAM_LOCAL=true`; Lambda never does. There
/// the functions run in a container on Docker's bridge, so the loopback
/// servers of a local stack are reached through the bridge's host address,
/// and `LTIAAS_URL` may be plain http to any host.
fn under_sam_local(env: &impl Lookup) -> bool {
    env.get("AWS_SAM_LOCAL").as_deref() == Some("true")
}

/// True for hosts that never leave the machine.
pub fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `STATUS_FRAME_ANCESTORS`: space-separated CSP sources. Each may hold
/// only what a source expression holds, so the value cannot end the
/// directive or add another to the header (`;`, `,`, quotes, controls).
fn frame_ancestors(env: &impl Lookup) -> Result<String, ConfigError> {
    const VARIABLE: &str = "STATUS_FRAME_ANCESTORS";
    let raw = env.get(VARIABLE).unwrap_or_default();
    let sources: Vec<&str> = raw.split_ascii_whitespace().collect();
    if sources.is_empty() {
        return Ok("*".to_owned());
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "*.:/-_[]%".contains(c);
    if let Some(bad) = sources.iter().find(|s| !s.chars().all(allowed)) {
        return Err(ConfigError::new(
            VARIABLE,
            format!(
                "'{}' is not a frame-ancestors source: give origins such as \
                 https://lms.example.edu or *.example.edu, separated by spaces \
                 ('none' is written without quotes as none)",
                crate::excerpt::excerpt(bad)
            ),
        ));
    }
    let quoted = |s: &&str| match *s {
        "none" | "self" => format!("'{s}'"),
        other => other.to_owned(),
    };
    Ok(sources.iter().map(quoted).collect::<Vec<_>>().join(" "))
}

fn parse_url(variable: &'static str, raw: &str, https_only: bool) -> Result<Url, ConfigError> {
    let url = Url::parse(raw.trim())
        .map_err(|e| ConfigError::new(variable, format!("'{raw}' is not a URL ({e})")))?;
    let scheme_ok = match url.scheme() {
        "https" => true,
        "http" => !https_only || is_loopback_host(&url),
        _ => false,
    };
    if !scheme_ok || url.host().is_none() {
        let expected = if https_only {
            "an https:// URL (http:// only for 127.0.0.1, localhost or [::1], or under sam local)"
        } else {
            "an http:// or https:// URL"
        };
        return Err(ConfigError::new(
            variable,
            format!("must be {expected}, got '{raw}'"),
        ));
    }
    Ok(url)
}

fn number(
    env: &impl Lookup,
    variable: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(raw) = env.get(variable) else {
        return Ok(default);
    };
    match raw.trim().parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(ConfigError::new(
            variable,
            format!(
                "must be a whole number from {} to {}, got '{raw}'",
                range.start(),
                range.end()
            ),
        )),
    }
}

fn flag(env: &impl Lookup, variable: &'static str, default: bool) -> Result<bool, ConfigError> {
    let Some(raw) = env.get(variable) else {
        return Ok(default);
    };
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError::new(
            variable,
            format!("must be true or false, got '{raw}'"),
        )),
    }
}

fn millis(
    env: &impl Lookup,
    variable: &'static str,
    default: Duration,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Duration, ConfigError> {
    number(env, variable, default.as_millis() as u64, range).map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    const BASE: &[(&str, &str)] = &[
        ("LTIAAS_URL", "https://tool.ltiaas.com"),
        ("LTIAAS_API_KEY", "key"),
        ("TABLE_NAME", "ltisync"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut all: Vec<_> = BASE.to_vec();
        for (k, v) in extra {
            all.retain(|(key, _)| key != k);
            all.push((k, v));
        }
        all
    }

    #[test]
    fn a_complete_environment_parses_with_defaults() {
        let s = LaunchSettings::from_env(&env(BASE)).unwrap();
        assert_eq!(s.ltiaas.base_url.as_str(), "https://tool.ltiaas.com/");
        assert_eq!(s.ltiaas.api_key, ApiKeySource::Plain(ApiKey::new("key")));
        assert_eq!(s.ltiaas.request_timeout, Duration::from_secs(10));
        assert_eq!(s.tool_url, None);
        let sync = SyncSettings::from_env(&env(BASE)).unwrap();
        assert_eq!(sync.tuning, SyncTuning::default());
    }

    #[test]
    fn a_dynamodb_timeout_longer_than_the_margin_is_refused_naming_both() {
        let too_long = env(&with(&[
            ("DYNAMODB_TIMEOUT_MS", "30000"),
            ("SYNC_DEADLINE_MARGIN_MS", "20000"),
        ]));
        let err = SyncSettings::from_env(&too_long).unwrap_err();
        assert_eq!(err.variable, "DYNAMODB_TIMEOUT_MS");
        assert!(
            err.problem.contains("SYNC_DEADLINE_MARGIN_MS"),
            "{}",
            err.problem
        );
        let fits = env(&with(&[
            ("DYNAMODB_TIMEOUT_MS", "20000"),
            ("SYNC_DEADLINE_MARGIN_MS", "20000"),
        ]));
        assert!(SyncSettings::from_env(&fits).is_ok());
        // No margin at all (tests, benchmarks): nothing to fit into.
        let none = env(&with(&[("SYNC_DEADLINE_MARGIN_MS", "0")]));
        assert!(SyncSettings::from_env(&none).is_ok());
    }

    #[test]
    fn frame_ancestors_default_to_any_and_keep_the_sources_given() {
        let ancestors = |value: Option<&'static str>| {
            let vars: Vec<(&str, &str)> = value
                .map(|v| ("STATUS_FRAME_ANCESTORS", v))
                .into_iter()
                .collect();
            LaunchSettings::from_env(&env(&with(&vars)))
                .unwrap()
                .frame_ancestors
        };
        assert_eq!(ancestors(None), "*");
        assert_eq!(ancestors(Some("  ")), "*");
        assert_eq!(
            ancestors(Some(
                "https://school.instructure.com  *.moodle.example.edu self"
            )),
            "https://school.instructure.com *.moodle.example.edu 'self'"
        );
        assert_eq!(ancestors(Some("none")), "'none'");
    }

    #[test]
    fn each_problem_names_its_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("LTIAAS_URL", "")], "LTIAAS_URL"),
            (&[("LTIAAS_URL", "http://tool.ltiaas.com")], "LTIAAS_URL"),
            (&[("LTIAAS_URL", "not a url")], "LTIAAS_URL"),
            (&[("TABLE_NAME", "")], "TABLE_NAME"),
            (&[("TABLE_NAME", "a b")], "TABLE_NAME"),
            (&[("TOOL_URL", "ftp://x")], "TOOL_URL"),
            (
                &[("STATUS_FRAME_ANCESTORS", "https://a; script-src *")],
                "STATUS_FRAME_ANCESTORS",
            ),
            (
                &[("STATUS_FRAME_ANCESTORS", "'unsafe-inline'")],
                "STATUS_FRAME_ANCESTORS",
            ),
            (&[("LTIAAS_API_KEY", "")], "LTIAAS_API_KEY_SECRET"),
            (&[("LTIAAS_API_KEY_SECRET", "s")], "LTIAAS_API_KEY"),
            (&[("LTIAAS_TIMEOUT_MS", "soon")], "LTIAAS_TIMEOUT_MS"),
            (&[("DYNAMODB_TIMEOUT_MS", "0")], "DYNAMODB_TIMEOUT_MS"),
            (
                &[
                    ("DYNAMODB_TIMEOUT_MS", "1000"),
                    ("DYNAMODB_ATTEMPT_TIMEOUT_MS", "3000"),
                ],
                "DYNAMODB_ATTEMPT_TIMEOUT_MS",
            ),
        ];
        for (vars, variable) in cases {
            let err = LaunchSettings::from_env(&env(&with(vars))).unwrap_err();
            assert_eq!(err.variable, *variable, "{vars:?}");
            let line = err.to_string();
            assert!(line.contains(variable) && !line.contains('\n'), "{line}");
        }
        let err = SyncSettings::from_env(&env(&with(&[("SYNC_CONCURRENCY", "0")]))).unwrap_err();
        assert_eq!(err.variable, "SYNC_CONCURRENCY");
        let err = SyncSettings::from_env(&env(&with(&[("SYNC_ROSTER_CHECK", "no")]))).unwrap_err();
        assert_eq!(err.variable, "SYNC_ROSTER_CHECK");
        let off = SyncSettings::from_env(&env(&with(&[("SYNC_ROSTER_CHECK", "False")]))).unwrap();
        assert!(!off.tuning.roster_check);
    }

    #[test]
    fn loopback_may_use_http() {
        for url in [
            "http://127.0.0.1:9000",
            "http://localhost:1",
            "http://[::1]:2",
        ] {
            let s = LaunchSettings::from_env(&env(&with(&[("LTIAAS_URL", url)]))).unwrap();
            assert!(is_loopback_host(&s.ltiaas.base_url));
        }
    }

    #[test]
    fn plain_http_elsewhere_only_under_sam_local() {
        let bridge = [("LTIAAS_URL", "http://172.17.0.1:9001")];
        let err = LaunchSettings::from_env(&env(&with(&bridge))).unwrap_err();
        assert_eq!(err.variable, "LTIAAS_URL");
        let sam = [bridge[0], ("AWS_SAM_LOCAL", "true")];
        let s = LaunchSettings::from_env(&env(&with(&sam))).unwrap();
        assert_eq!(s.ltiaas.base_url.as_str(), "http://172.17.0.1:9001/");
    }

    #[test]
    fn the_api_key_never_appears_in_a_debug_print() {
        let s = LaunchSettings::from_env(&env(&with(&[("LTIAAS_API_KEY", "sekrit-42")]))).unwrap();
        assert!(!format!("{s:?}").contains("sekrit-42"));
    }

    #[test]
    fn rate_limit_zero_means_unlimited() {
        let t = SyncTuning::from_env(&env(&[("SYNC_RATE_LIMIT", "0")])).unwrap();
        assert_eq!(t.rate_limit, None);
        let t = SyncTuning::from_env(&env(&[("SYNC_RATE_LIMIT", "50")])).unwrap();
        assert_eq!(t.rate_limit, Some(50));
    }
}

//! Logging set-up shared by both functions.
//!
//! Honours Lambda's advanced logging controls: `AWS_LAMBDA_LOG_FORMAT`
//! (`JSON` gives one JSON object per line, anything else plain text) and
//! `AWS_LAMBDA_LOG_LEVEL` (else `RUST_LOG`, else `INFO`). Whatever the
//! level, the runtime, HTTP and AWS SDK crates are held at `INFO` or
//! quieter: at `TRACE` they would print raw events and request bodies, which
//! carry the ltik and the service key.

use std::str::FromStr;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Crates that log payloads at debug/trace level.
const QUIET_CRATES: &[&str] = &[
    "lambda_runtime",
    "lambda_runtime_api_client",
    "aws_config",
    "aws_runtime",
    "aws_sdk_dynamodb",
    "aws_sdk_secretsmanager",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_smithy_types",
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
    "rustls",
];

/// The level asked for by the environment.
pub fn level_from_env() -> LevelFilter {
    let raw = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_default();
    parse_level(&raw)
}

fn parse_level(raw: &str) -> LevelFilter {
    match raw.trim().to_ascii_uppercase().as_str() {
        "" => LevelFilter::INFO,
        "FATAL" => LevelFilter::ERROR,
        other => LevelFilter::from_str(other).unwrap_or(LevelFilter::INFO),
    }
}

/// The filter: `level` for ltisync, at most `INFO` for the crates that would print raw events (`QUIET_CRATES`).
pub fn filter(level: LevelFilter) -> EnvFilter {
    let quiet = level.min(LevelFilter::INFO);
    let mut directives = level.to_string().to_ascii_lowercase();
    for krate in QUIET_CRATES {
        directives.push_str(&format!(
            ",{krate}={}",
            quiet.to_string().to_ascii_lowercase()
        ));
    }
    EnvFilter::new(directives)
}

/// Installs the global subscriber writing to stdout.
pub fn init() {
    init_with_writer(std::io::stdout);
}

/// Installs the global subscriber writing to `writer`.
pub fn init_with_writer<W>(writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(level_from_env()))
        .with_writer(writer);
    // A second init (tests) keeps the first subscriber.
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .try_init()
    } else {
        builder.with_ansi(false).try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_levels_map_to_tracing_levels() {
        assert_eq!(parse_level("DEBUG"), LevelFilter::DEBUG);
        assert_eq!(parse_level("fatal"), LevelFilter::ERROR);
        assert_eq!(parse_level("nonsense"), LevelFilter::INFO);
        assert_eq!(parse_level(""), LevelFilter::INFO);
    }

    #[test]
    fn payload_logging_crates_stay_at_info_even_at_trace() {
        let f = filter(LevelFilter::TRACE).to_string();
        assert!(f.contains("lambda_runtime=info"), "{f}");
        assert!(f.ends_with(",trace"), "{f}");
        let f = filter(LevelFilter::WARN).to_string();
        assert!(f.contains("lambda_runtime=warn"), "{f}");
    }
}

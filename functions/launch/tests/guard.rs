//! The guard, shown by a property test: whatever event arrives, either the
//! guard refuses it with a 400, or lambda_http converts it without a panic
//! and the function answers below 500 (a failure of the rig's LTIaaS or
//! DynamoDB, both closed ports here, aside).
//!
//! 10,000 generated events with a fixed seed in `make test`; more with
//! `LAUNCH_GUARD_CASES` (`make fuzz-launch` runs 200,000), another seed
//! with `LAUNCH_GUARD_SEED`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use base64::Engine;
use lambda_http::Body;
use launch_function::{guard, LaunchFunction};
use ltisync::config::{ApiKeySource, LaunchSettings};
use ltisync::ltiaas::LtiaasClient;
use ltisync::store::with_timeouts;
use ltisync::Store;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};

/// A string of URL-ish letters, the characters that break URIs and
/// headers, and any character at all.
fn text() -> impl Strategy<Value = String> {
    let breaking = prop::sample::select(vec![
        '<',
        '>',
        '"',
        ' ',
        '\t',
        '\r',
        '\n',
        '\0',
        '#',
        '?',
        '%',
        '{',
        '}',
        '|',
        '\\',
        '^',
        '`',
        '@',
        ':',
        '/',
        '[',
        ']',
        '=',
        '&',
        '\u{7f}',
        '\u{85}',
        'é',
        '\u{1F600}',
    ]);
    let letter = prop::char::range('a', 'z');
    let any_char = any::<char>();
    prop::collection::vec(
        prop_oneof![6 => letter, 3 => breaking, 1 => any_char],
        0..20,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// Mostly what API Gateway sends, sometimes anything.
fn usual_or(usual: &'static [&'static str]) -> impl Strategy<Value = String> {
    let usual = prop::sample::select(usual).prop_map(str::to_owned);
    prop_oneof![10 => usual, 1 => text()]
}

/// A path: usual, or anything after a `/`, or anything.
fn path(usual: &'static [&'static str]) -> impl Strategy<Value = String> {
    let usual = prop::sample::select(usual).prop_map(str::to_owned);
    let slashed = text().prop_map(|t| format!("/{t}"));
    prop_oneof![8 => usual, 2 => slashed, 1 => text()]
}

fn query() -> impl Strategy<Value = String> {
    let usual = usual_or(&[
        "ltik=eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl",
        "",
        "ltik=a.b.c&x=%3C",
    ]);
    let with_ltik = text().prop_map(|ltik| format!("ltik={ltik}"));
    prop_oneof![8 => usual, 1 => with_ltik, 1 => text()]
}

fn headers() -> impl Strategy<Value = Map<String, Value>> {
    let host = usual_or(&["x.execute-api.us-east-1.amazonaws.com", "localhost:3000"]);
    let proto = usual_or(&["https", "http"]);
    let content_type = usual_or(&["application/x-www-form-urlencoded", "text/plain"]);
    let name = prop_oneof![3 => text().prop_map(|t| format!("x-{t}")), 1 => text()];
    let others = prop::collection::vec((name, text()), 0..2);
    (
        prop::option::of(host),
        prop::option::of(proto),
        prop::option::of(content_type),
        others,
    )
        .prop_map(|(host, proto, content_type, others)| {
            let mut headers = Map::new();
            let mut put = |name: &str, value: Option<String>| {
                if let Some(value) = value {
                    headers.insert(name.to_owned(), value.into());
                }
            };
            put("host", host);
            put("x-forwarded-proto", proto);
            put("content-type", content_type);
            for (name, value) in others {
                headers.insert(name, value.into());
            }
            headers
        })
}

/// A body, its base64 flag, and whether the body really is base64.
fn body() -> impl Strategy<Value = (Option<String>, bool)> {
    let plain = text().prop_map(|t| (Some(t), false));
    let encoded = text().prop_map(|t| {
        let encoded = base64::engine::general_purpose::STANDARD.encode(t);
        (Some(encoded), true)
    });
    let lying = text().prop_map(|t| (Some(t), true));
    prop_oneof![2 => Just((None, false)), 2 => plain, 2 => encoded, 1 => lying]
}

fn context() -> impl Strategy<Value = (String, Option<String>, Option<String>)> {
    (
        usual_or(&["GET", "POST", "PUT"]),
        prop::option::of(usual_or(&["$default", "prod"])),
        prop::option::of(usual_or(&["x.execute-api.us-east-1.amazonaws.com"])),
    )
}

fn payload_v2() -> impl Strategy<Value = Value> {
    let path = path(&["/launch", "/prod/launch", "/", "/status", "/status/resend"]);
    let cookies = prop::collection::vec(text(), 0..2);
    (path, query(), headers(), cookies, body(), context()).prop_map(
        |(path, query, headers, cookies, (body, base64), (method, stage, domain))| {
            json!({
                "version": "2.0", "routeKey": "$default", "rawPath": path,
                "rawQueryString": query, "headers": headers, "cookies": cookies,
                "body": body, "isBase64Encoded": base64,
                "requestContext": {"http": {"method": method, "path": "/launch"},
                    "stage": stage, "domainName": domain},
            })
        },
    )
}

fn payload_v1() -> impl Strategy<Value = Value> {
    let path = path(&[
        "/launch",
        "/prod/launch",
        "/prod/status",
        "/prod/status/resend",
    ]);
    let params = prop::collection::btree_map(text(), prop::collection::vec(text(), 1..3), 0..3);
    let multi_headers =
        prop::collection::btree_map(text(), prop::collection::vec(text(), 1..2), 0..2);
    (path, params, headers(), multi_headers, body(), context()).prop_map(
        |(path, params, headers, multi, (body, base64), (method, stage, domain))| {
            json!({
                "httpMethod": method, "path": path,
                "multiValueQueryStringParameters": params,
                "headers": headers, "multiValueHeaders": multi,
                "body": body, "isBase64Encoded": base64,
                "requestContext": {"stage": stage, "domainName": domain, "httpMethod": method},
            })
        },
    )
}

/// Random JSON that is not an API Gateway event (or only almost one).
fn other_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn event() -> impl Strategy<Value = Value> {
    prop_oneof![4 => payload_v2(), 4 => payload_v1(), 1 => other_json()]
}

/// A launch function whose LTIaaS and DynamoDB are closed loopback ports:
/// anything that gets as far as calling them fails at once, as a 5xx the
/// rig explains.
fn function() -> LaunchFunction {
    let env = |name: &str| {
        let value = match name {
            "LTIAAS_URL" => "http://127.0.0.1:9",
            "LTIAAS_API_KEY" => "guard-test-key",
            "TABLE_NAME" => "guard-test",
            _ => return None,
        };
        Some(value.to_owned())
    };
    let settings = LaunchSettings::from_env(&env).expect("valid settings");
    let ApiKeySource::Plain(key) = settings.ltiaas.api_key.clone() else {
        unreachable!("LTIAAS_API_KEY is set")
    };
    let client = LtiaasClient::new(&settings.ltiaas, key).expect("a client");
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "a", "b", None, None, "guard",
        ))
        .build();
    let dynamodb = with_timeouts(
        &aws_sdk_dynamodb::Client::from_conf(config),
        &settings.dynamodb,
    );
    let store = Store::new(dynamodb, settings.table_name);
    LaunchFunction::new(client, store, None)
}

/// The statuses of the rig's own failures (LTIaaS or DynamoDB unreachable:
/// 502, 504, 503); never 500, which is what a panic or an invocation error
/// shows as.
const RIG_FAILURES: [u64; 3] = [502, 503, 504];

fn cases() -> u32 {
    std::env::var("LAUNCH_GUARD_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000)
}

fn seed() -> u64 {
    std::env::var("LAUNCH_GUARD_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_261_204)
}

/// One event: refused with a 400, or converted without a panic and
/// answered below 500.
fn holds(
    function: &LaunchFunction,
    rt: &tokio::runtime::Runtime,
    event: Value,
    tally: &Tally,
) -> Result<(), TestCaseError> {
    let admitted = guard::admit(event.clone());
    tally.count(admitted.is_ok());

    let reply = rt.block_on(function.handle(&event));
    let status = reply["statusCode"].as_u64().unwrap_or_default();
    let Ok(request) = admitted else {
        prop_assert_eq!(status, 400, "a refused event: {}", reply);
        return Ok(());
    };
    let converted = catch_unwind(AssertUnwindSafe(|| http::Request::<Body>::from(request)));
    prop_assert!(
        converted.is_ok(),
        "lambda_http panicked on an event the guard admitted"
    );
    prop_assert!(
        status < 500 || RIG_FAILURES.contains(&status),
        "an admitted event got {}: {}",
        status,
        reply
    );
    Ok(())
}

#[test]
fn no_event_reaches_a_panic_or_a_server_error() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let function = rt.block_on(async { function() });
    let config = Config {
        cases: cases(),
        rng_seed: RngSeed::Fixed(seed()),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let tally = Tally::default();
    let result = runner.run(&event(), |event| holds(&function, &rt, event, &tally));
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let (admitted, refused) = (tally.admitted.get(), tally.refused.get());
    println!("{admitted} events admitted and converted, {refused} refused");
    // A generator that the guard always refuses would show nothing.
    assert!(
        admitted * 10 > admitted + refused,
        "too few admitted: {admitted}"
    );
}

/// How many events the guard admitted and refused.
#[derive(Default)]
struct Tally {
    admitted: std::cell::Cell<u64>,
    refused: std::cell::Cell<u64>,
}

impl Tally {
    fn count(&self, admitted: bool) {
        let cell = if admitted {
            &self.admitted
        } else {
            &self.refused
        };
        cell.set(cell.get() + 1);
    }
}

/// Each of these events makes lambda_http 1.3 panic when it is converted
/// unguarded: why the guard's rules exist. The guard refuses each.
#[test]
fn the_guard_refuses_what_makes_lambda_http_panic() {
    let v2 = |change: &dyn Fn(&mut Value)| {
        let mut event = json!({"version": "2.0", "rawPath": "/launch", "rawQueryString": "ltik=a",
            "headers": {"host": "x.example.com"}, "isBase64Encoded": false,
            "requestContext": {"http": {"method": "GET", "path": "/launch"}}});
        change(&mut event);
        event
    };
    let events = [
        v2(&|e| e["rawQueryString"] = "ltik=<a>".into()),
        v2(&|e| e["rawQueryString"] = "ltik=a b".into()),
        v2(&|e| e["headers"]["host"] = "a b".into()),
        v2(&|e| e["headers"]["x-forwarded-proto"] = "ht tp".into()),
        v2(&|e| e["rawPath"] = ":99999".into()),
        v2(&|e| {
            e["body"] = "%%%".into();
            e["isBase64Encoded"] = true.into();
        }),
    ];
    for event in events {
        let read: lambda_http::request::LambdaRequest = serde_json::from_value::<
            lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest,
        >(event.clone())
        .map(lambda_http::request::LambdaRequest::ApiGatewayV2)
        .expect("lambda_http reads it");
        let unguarded = catch_unwind(AssertUnwindSafe(|| http::Request::<Body>::from(read)));
        assert!(
            unguarded.is_err(),
            "lambda_http converts it after all: {event}"
        );
        assert!(
            matches!(
                guard::admit(event.clone()),
                Err(guard::Refusal::BadRequest(_))
            ),
            "the guard admits {event}"
        );
    }
}

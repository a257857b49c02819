//! The guard in front of lambda_http: every raw event is checked here
//! before lambda_http reads it, so no input reaches a panic in its request
//! conversion or an invocation error in its runtime adapter.
//!
//! # What is refused, and why
//! lambda_http 1.3 turns an API Gateway event into an `http::Request` with
//! `.expect()` and `.unwrap()` (`request.rs`, `build_request_uri` and
//! `into_*_request`; aws_lambda_events' `Body::from_maybe_encoded`), and its
//! runtime adapter refuses any event that is not an HTTP event before a
//! handler sees it. Both would end as an invocation error, which API
//! Gateway shows as a bare 500. Each rule below names the input that gets
//! there; a refused event gets a 400 that says what is wrong.
//!
//! | input | lambda_http would | rule (decided by) |
//! |---|---|---|
//! | not a payload 2.0 or 1.0 proxy event | fail the invocation | the shape the two payloads share |
//! | a method `http` cannot parse | fail to deserialise | `Method::from_bytes` |
//! | a path not starting with `/` | panic (`Url::parse` reads it as host or port) | `/` first |
//! | a character a URI path or query cannot carry raw (`<`, `"`, space, controls, …) | panic (`failed to build request`) | `PathAndQuery::try_from` on that character |
//! | `#` in the path, stage or query, `?` in the path or stage | panic or a request other than the one sent (the fragment cuts the URI; a `?` starts the query early) | refused outright |
//! | a `Host` (or `requestContext.domainName`) that is not a host | panic (`Url::parse(...).unwrap()`) | `Authority` and `url`, which both read it |
//! | an `X-Forwarded-Proto` other than http or https | panic (it becomes the URL's scheme) | a fixed list: API Gateway sends only these |
//! | a header name or value `http` cannot hold | fail to deserialise | `HeaderName::from_bytes`, `HeaderValue::from_bytes` |
//! | a body marked base64 that is not | panic (`failed to decode aws base64 encoded body`) | the same base64 engine |
//! | oversized path, query, header or body | nothing, but a launch never needs them | the `MAX_*` limits |
//! | a forwarded port or address that is not one | nothing (API Gateway never sends it) | `u16`, `IpAddr` |
//!
//! What `http` or `url` accept decides each character rule, so a later
//! version of either cannot disagree with the guard silently; the property
//! test in `tests/guard.rs` checks that nothing the guard admits makes the
//! conversion panic. The conversion still runs under `catch_unwind` (see
//! [`crate::LaunchFunction::respond`]), as the last line of defence.

use base64::Engine;
use http::uri::{Authority, PathAndQuery};
use http::{HeaderName, HeaderValue, Method, Uri};
use lambda_http::request::LambdaRequest;
use ltisync::excerpt::excerpt;
use serde_json::{Map, Value};

/// Longest query string read; a launch carries one ltik (at most 4 KB).
pub const MAX_QUERY_BYTES: usize = 16 * 1024;
/// Longest body read; a form POST carries one ltik.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest path (or stage) read.
pub const MAX_PATH_BYTES: usize = 2048;
/// Longest single header value read.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
/// Longest header name quoted whole in a message.
const MAX_HEADER_NAME_BYTES: usize = 128;

/// Why an event is not handed to lambda_http.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not an API Gateway proxy event at all (a test invoke, a schedule, SQS).
    NotHttp(String),
    /// An API Gateway event whose request no browser or LMS would send.
    BadRequest(String),
}

/// The two payloads the function serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payload {
    /// HTTP API, payload 2.0.
    V2,
    /// REST API, payload 1.0.
    V1,
}

/// Checks `event` and reads it with lambda_http's own types, or says why not.
pub fn admit(event: Value) -> Result<LambdaRequest, Refusal> {
    let (payload, fields) = payload_of(&event)?;
    check(payload, fields).map_err(Refusal::BadRequest)?;
    read(payload, event).map_err(Refusal::BadRequest)
}

/// A few words on what an event is, for logs: never a value from it.
pub fn shape(request: &LambdaRequest) -> &'static str {
    match request {
        LambdaRequest::ApiGatewayV2(_) => "an HTTP API (payload 2.0) event",
        LambdaRequest::ApiGatewayV1(_) => "a REST API (payload 1.0) event",
        _ => "an event of another kind",
    }
}

/// Which payload `event` is, and its fields.
fn payload_of(event: &Value) -> Result<(Payload, &Map<String, Value>), Refusal> {
    let Some(fields) = event.as_object() else {
        return Err(not_http(event));
    };
    let v2_method = fields
        .get("requestContext")
        .and_then(|c| c.get("http"))
        .and_then(|h| h.get("method"))
        .is_some_and(Value::is_string);
    if fields.get("version").and_then(Value::as_str) == Some("2.0") && v2_method {
        return Ok((Payload::V2, fields));
    }
    let v1 = fields.get("httpMethod").is_some_and(Value::is_string)
        && fields.get("requestContext").is_some_and(Value::is_object);
    if v1 {
        return Ok((Payload::V1, fields));
    }
    Err(not_http(event))
}

/// Reads the event with lambda_http's types. A field of the wrong type is
/// named by its path, never by its value (the query holds the ltik); the
/// path is looked for only when reading failed.
fn read(payload: Payload, event: Value) -> Result<LambdaRequest, String> {
    match payload {
        Payload::V2 => read_as(&event).map(LambdaRequest::ApiGatewayV2),
        Payload::V1 => read_as(&event).map(LambdaRequest::ApiGatewayV1),
    }
}

fn read_as<T: serde::de::DeserializeOwned>(event: &Value) -> Result<T, String> {
    T::deserialize(event).map_err(|_| {
        let path = match serde_path_to_error::deserialize::<_, T>(event) {
            Err(e) => e.path().to_string(),
            Ok(_) => ".".to_owned(),
        };
        format!(
            "the event's field '{}' is not what API Gateway sends",
            excerpt(&path)
        )
    })
}

/// Every rule of the table above, on the raw event.
fn check(payload: Payload, fields: &Map<String, Value>) -> Result<(), String> {
    let context = fields.get("requestContext");
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let (method, path, query) = match payload {
        Payload::V2 => (
            text(
                context
                    .and_then(|c| c.get("http"))
                    .and_then(|h| h.get("method")),
            ),
            text(fields.get("rawPath")),
            text(fields.get("rawQueryString")),
        ),
        // REST API events carry the query decoded; lambda_http encodes it.
        Payload::V1 => (
            text(fields.get("httpMethod")),
            text(fields.get("path")),
            None,
        ),
    };
    check_method(method.as_deref().unwrap_or_default())?;
    let stage = text(context.and_then(|c| c.get("stage")));
    check_path("stage", &stage.map(|s| format!("/{s}")).unwrap_or_default())?;
    let path = path.unwrap_or_default();
    check_path("path", &path)?;
    check_query(query.as_deref().unwrap_or_default())?;
    let headers = headers(payload, fields)?;
    headers.iter().try_for_each(|(n, v)| check_header(n, v))?;
    check_host(&headers, context)?;
    check_body(fields)
}

fn check_method(method: &str) -> Result<(), String> {
    if method.len() > 16 || Method::from_bytes(method.as_bytes()).is_err() {
        return Err(format!("'{}' is not an HTTP method", excerpt(method)));
    }
    Ok(())
}

/// `part` as it goes into the URI lambda_http builds (`/stage` + path).
fn check_path(part: &str, path: &str) -> Result<(), String> {
    if path.len() > MAX_PATH_BYTES {
        return Err(too_long(&format!("the {part}"), path.len(), MAX_PATH_BYTES));
    }
    if !path.is_empty() && !path.starts_with('/') {
        return Err(format!("the {part} does not begin with '/'"));
    }
    check_uri_characters(part, path, "/")
}

fn check_query(query: &str) -> Result<(), String> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(too_long("the query string", query.len(), MAX_QUERY_BYTES));
    }
    check_uri_characters("query string", query, "/?")
}

/// Each character must be one `http`'s URI parser takes raw in this part
/// (after `prefix`); `#`, which would cut the URI, is refused too, and in a
/// path or stage `?`, which would start the query early. `http` scans byte
/// by byte, so the whole text parsing means each character does; only a
/// refusal looks for the character to name.
fn check_uri_characters(part: &str, text: &str, prefix: &str) -> Result<(), String> {
    let in_query = prefix.contains('?');
    let cuts = |c: char| c == '#' || (c == '?' && !in_query);
    if !text.contains(cuts) && PathAndQuery::try_from(format!("{prefix}{text}")).is_ok() {
        return Ok(());
    }
    let taken = |c: char| !cuts(c) && PathAndQuery::try_from(format!("{prefix}{c}")).is_ok();
    let bad = text.chars().find(|c| !taken(*c)).unwrap_or('?');
    Err(format!(
        "the {part} contains {} unencoded; a URL carries it only percent-encoded",
        describe_char(bad)
    ))
}

/// The headers as lambda_http reads them: names in lower case, each value.
fn headers(payload: Payload, fields: &Map<String, Value>) -> Result<Vec<(String, String)>, String> {
    let mut headers = Vec::new();
    for (name, value) in object(fields.get("headers")) {
        let value = value
            .as_str()
            .ok_or_else(|| format!("the header '{}' is not text", excerpt(name)))?;
        headers.push((name.to_ascii_lowercase(), value.to_owned()));
    }
    if payload == Payload::V1 {
        for (name, values) in object(fields.get("multiValueHeaders")) {
            let not_list = || format!("the header '{}' is not a list of text", excerpt(name));
            for value in values.as_array().ok_or_else(not_list)? {
                let value = value.as_str().ok_or_else(not_list)?;
                headers.push((name.to_ascii_lowercase(), value.to_owned()));
            }
        }
    }
    Ok(headers)
}

fn object(value: Option<&Value>) -> impl Iterator<Item = (&String, &Value)> {
    value.and_then(Value::as_object).into_iter().flatten()
}

fn check_header(name: &str, value: &str) -> Result<(), String> {
    if name.len() > MAX_HEADER_NAME_BYTES || HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(format!("'{}' is not a header name", excerpt(name)));
    }
    if value.len() > MAX_HEADER_BYTES {
        let what = format!("the header '{name}'");
        return Err(too_long(&what, value.len(), MAX_HEADER_BYTES));
    }
    if HeaderValue::from_bytes(value.as_bytes()).is_err() {
        let bad = value.chars().find(|c| c.is_control() && *c != '\t');
        let what = bad.map_or_else(|| "a byte".to_owned(), describe_char);
        return Err(format!(
            "the header '{name}' contains {what}, which no header value may hold"
        ));
    }
    let valid = match name {
        // lambda_http makes it the URL's scheme.
        "x-forwarded-proto" => ["http", "https"].contains(&value.to_ascii_lowercase().as_str()),
        "x-forwarded-port" => value.trim().parse::<u16>().is_ok(),
        "x-forwarded-for" => value
            .split(',')
            .all(|ip| ip.trim().parse::<std::net::IpAddr>().is_ok()),
        _ => true,
    };
    if valid {
        Ok(())
    } else {
        Err(format!(
            "the header '{name}' holds '{}', which is not a valid {name} value",
            excerpt(value)
        ))
    }
}

/// lambda_http builds its URL from a `Host` header, or without one from
/// `requestContext.domainName`; every one given must be a host both
/// parsers read.
fn check_host(headers: &[(String, String)], context: Option<&Value>) -> Result<(), String> {
    let given = headers
        .iter()
        .filter(|(n, _)| n == "host")
        .map(|(_, v)| ("the header 'host'", v.as_str()));
    let domain = context
        .and_then(|c| c.get("domainName"))
        .and_then(Value::as_str)
        .map(|d| ("requestContext.domainName", d));
    match given.chain(domain).find(|(_, host)| !is_host(host)) {
        Some((what, host)) => Err(format!(
            "{what} holds '{}', which is not a valid host value",
            excerpt(host)
        )),
        None => Ok(()),
    }
}

/// `host` or `host:port` (no user info, no path), as `http` and `url` read it.
fn is_host(value: &str) -> bool {
    let authority = value.parse::<Authority>();
    let plain = authority.is_ok_and(|a| a.as_str() == value && !value.contains('@'));
    plain
        && !value.is_empty()
        && url::Url::parse(&format!("https://{value}/")).is_ok_and(|u| u.has_host())
        && Uri::try_from(format!("https://{value}/")).is_ok()
}

fn check_body(fields: &Map<String, Value>) -> Result<(), String> {
    let text = match fields.get("body") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::String(text)) => text,
        Some(_) => return Err("the body is not text".into()),
    };
    let base64 = fields.get("isBase64Encoded").and_then(Value::as_bool) == Some(true);
    let limit = if base64 {
        MAX_BODY_BYTES * 4 / 3 + 4
    } else {
        MAX_BODY_BYTES
    };
    if text.len() > limit {
        return Err(too_long("the body", text.len(), MAX_BODY_BYTES));
    }
    if base64 {
        // The engine aws_lambda_events decodes with.
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| format!("the body is marked isBase64Encoded but is not base64 ({e})"))?;
    }
    Ok(())
}

fn describe_char(c: char) -> String {
    if c.is_control() || c.is_whitespace() || !c.is_ascii() {
        format!("the character U+{:04X}", c as u32)
    } else {
        format!("the character '{c}'")
    }
}

fn too_long(what: &str, len: usize, max: usize) -> String {
    format!("{what} is {len} bytes long; a launch needs at most {max}")
}

/// Says what an event that is not an API Gateway event looks like.
fn not_http(event: &Value) -> Refusal {
    let kind = match event {
        Value::Null => "null".to_owned(),
        Value::Bool(_) | Value::Number(_) => {
            format!("the JSON value {}", excerpt(&event.to_string()))
        }
        Value::String(_) => "a JSON string".to_owned(),
        Value::Array(_) => "a JSON array".to_owned(),
        Value::Object(fields) => describe_object(fields),
    };
    Refusal::NotHttp(format!(
        "the launch function serves API Gateway events (HTTP API payload 2.0 or REST API 1.0); \
         it was invoked with {kind}"
    ))
}

fn describe_object(fields: &Map<String, Value>) -> String {
    if fields.is_empty() {
        return "an empty object".to_owned();
    }
    if let Some(source) = fields
        .get("Records")
        .and_then(|r| r.get(0))
        .and_then(|r| r.get("eventSource").or_else(|| r.get("EventSource")))
        .and_then(Value::as_str)
    {
        return format!("a batch of {} records", excerpt(source));
    }
    if let Some(kind) = fields.get("detail-type").and_then(Value::as_str) {
        return format!("an EventBridge event ('{}')", excerpt(kind));
    }
    if fields.get("version").and_then(Value::as_str) == Some("2.0") {
        return "a payload 2.0 event without requestContext.http.method".to_owned();
    }
    if fields.contains_key("httpMethod") {
        return "a payload 1.0 event without requestContext".to_owned();
    }
    let names: Vec<&str> = fields.keys().take(5).map(String::as_str).collect();
    format!("an object with the fields {}", excerpt(&names.join(", ")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn v2(query: &str) -> Value {
        json!({"version": "2.0", "rawPath": "/launch", "rawQueryString": query,
            "headers": {"Host": "x.execute-api.us-east-1.amazonaws.com"},
            "requestContext": {"http": {"method": "GET", "path": "/launch"}},
            "isBase64Encoded": false})
    }

    #[test]
    fn raw_characters_are_bad_requests_that_say_which() {
        for (query, words) in [
            ("ltik=<script>", "the character '<'"),
            ("ltik=a b", "U+0020"),
            ("ltik=a\r\nSet-Cookie:x", "U+000D"),
            ("ltik=\0", "U+0000"),
        ] {
            match admit(v2(query)) {
                Err(Refusal::BadRequest(message)) => {
                    assert!(message.contains(words), "{query:?}: {message}")
                }
                other => panic!("{query:?}: {other:?}"),
            }
        }
        let long = format!("ltik={}", "a".repeat(MAX_QUERY_BYTES));
        assert!(
            matches!(admit(v2(&long)), Err(Refusal::BadRequest(m)) if m.contains("bytes long"))
        );
    }

    #[test]
    fn odd_forwarding_headers_are_bad_requests() {
        for (name, value) in [
            ("Host", "evil.example/path"),
            ("Host", "user@host"),
            ("X-Forwarded-Proto", "gopher"),
            ("X-Forwarded-Port", "99999"),
            ("X-Forwarded-For", "not-an-ip"),
            ("X-Custom", "a\nb"),
        ] {
            let mut event = v2("ltik=a");
            event["headers"][name] = json!(value);
            assert!(
                matches!(admit(event.clone()), Err(Refusal::BadRequest(_))),
                "{name}: {value}"
            );
        }
    }

    #[test]
    fn an_ordinary_launch_is_admitted_as_lambda_http_reads_it() {
        let request = admit(v2("ltik=a.b.c&x=%3C")).unwrap();
        assert_eq!(shape(&request), "an HTTP API (payload 2.0) event");
        let rest = json!({"httpMethod": "POST", "path": "/prod/launch", "requestContext": {"stage": "prod", "httpMethod": "POST"},
            "multiValueQueryStringParameters": {"a": ["x y", "<"]}, "body": "bHRpaz1r", "isBase64Encoded": true});
        assert_eq!(
            shape(&admit(rest).unwrap()),
            "a REST API (payload 1.0) event"
        );
    }

    #[test]
    fn a_field_of_the_wrong_type_is_named_not_quoted() {
        let mut event = v2("ltik=secret-ltik");
        event["cookies"] = json!("secret-ltik");
        match admit(event) {
            Err(Refusal::BadRequest(message)) => {
                assert!(message.contains("'cookies'"), "{message}");
                assert!(!message.contains("secret-ltik"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn events_from_elsewhere_are_named() {
        for (event, words) in [
            (json!(null), "null"),
            (json!([]), "a JSON array"),
            (json!("launch"), "a JSON string"),
            (json!({}), "an empty object"),
            (json!({"Records": [{"eventSource": "aws:sqs"}]}), "records"),
            (json!({"detail-type": "Scheduled Event"}), "EventBridge"),
            (
                json!({"version": "2.0", "rawPath": "/launch"}),
                "without requestContext",
            ),
        ] {
            match admit(event.clone()) {
                Err(Refusal::NotHttp(message)) => {
                    assert!(message.contains(words), "{event}: {message}")
                }
                other => panic!("{event}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_huge_header_name_is_refused_without_being_quoted_whole() {
        let mut event = v2("ltik=a");
        event["headers"]["x".repeat(10_000)] = json!("v");
        match admit(event.clone()) {
            Err(Refusal::BadRequest(message)) => assert!(message.len() < 300, "{message}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_body_that_is_not_base64_is_a_bad_request() {
        let mut event = v2("");
        event["body"] = json!("not base64!");
        event["isBase64Encoded"] = json!(true);
        assert!(
            matches!(admit(event.clone()), Err(Refusal::BadRequest(m)) if m.contains("base64"))
        );
    }
}

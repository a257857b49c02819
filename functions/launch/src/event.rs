//! API Gateway events, read by hand from the raw JSON.
//!
//! lambda_http turns an event into an `http::Request` and panics when the
//! event holds what a URI or header cannot (a raw `<` or CR/LF in
//! `rawQueryString`, an odd `Host`), and the runtime refuses any event that
//! is not an API Gateway event before a handler sees it. Both end as an
//! invocation error, which API Gateway shows as a bare 500. Reading the
//! event here instead means every input reaches [`crate::LaunchFunction`]
//! and gets an answer that says what is wrong.
//!
//! Two shapes are read: HTTP API payload 2.0 (`version: "2.0"`,
//! `rawPath`, `rawQueryString`) and REST API payload 1.0 (`httpMethod`,
//! `path`, `multiValueQueryStringParameters`).

use base64::Engine;
use ltisync::excerpt::excerpt;
use serde_json::{Map, Value};

/// Longest query string read; a launch carries one ltik (at most 4 KB).
pub const MAX_QUERY_BYTES: usize = 16 * 1024;
/// Longest body read; a form POST carries one ltik.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest path read.
pub const MAX_PATH_BYTES: usize = 2048;
/// Longest single header value read.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;

/// The parts of an HTTP request the launch reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Upper-case method.
    pub method: String,
    /// The path as sent (a stage prefix included).
    pub path: String,
    /// The query string without `?`, still encoded.
    pub query: String,
    /// Headers, names in lower case, in the order given.
    pub headers: Vec<(String, String)>,
    /// The decoded body.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why an event cannot be read as a launch request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventError {
    /// Not an API Gateway proxy event at all (a test invoke, a schedule, SQS).
    NotHttp(String),
    /// An API Gateway event whose request no browser or LMS would send.
    BadRequest(String),
}

/// Reads an HTTP API 2.0 or REST API 1.0 event.
pub fn read_event(event: &Value) -> Result<HttpRequest, EventError> {
    let Some(fields) = event.as_object() else {
        return Err(not_http(event));
    };
    let request = if fields.get("version").and_then(Value::as_str) == Some("2.0") {
        read_v2(fields).ok_or_else(|| not_http(event))?
    } else if fields.get("httpMethod").is_some_and(Value::is_string) {
        read_v1(fields).ok_or_else(|| not_http(event))?
    } else {
        return Err(not_http(event));
    };
    let request = request.map_err(EventError::BadRequest)?;
    check(&request).map_err(EventError::BadRequest)?;
    Ok(request)
}

/// Payload 2.0; `None` when a field every such event has is missing.
fn read_v2(fields: &Map<String, Value>) -> Option<Result<HttpRequest, String>> {
    let http = fields.get("requestContext")?.get("http")?;
    let method = http.get("method")?.as_str()?;
    let path = fields
        .get("rawPath")
        .or_else(|| http.get("path"))
        .and_then(Value::as_str)
        .unwrap_or("/");
    let query = fields
        .get("rawQueryString")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Some(build(
        method,
        path,
        query.to_owned(),
        fields,
        headers_v2(fields),
    ))
}

/// Payload 1.0; `None` when a field every such event has is missing.
fn read_v1(fields: &Map<String, Value>) -> Option<Result<HttpRequest, String>> {
    let method = fields.get("httpMethod")?.as_str()?;
    let path = fields.get("path").and_then(Value::as_str).unwrap_or("/");
    fields.get("requestContext")?.as_object()?;
    let query = query_v1(fields);
    Some(build(method, path, query, fields, headers_v1(fields)))
}

fn build(
    method: &str,
    path: &str,
    query: String,
    fields: &Map<String, Value>,
    headers: Result<Vec<(String, String)>, String>,
) -> Result<HttpRequest, String> {
    Ok(HttpRequest {
        method: method.to_ascii_uppercase(),
        path: path.to_owned(),
        query,
        headers: headers?,
        body: body(fields)?,
    })
}

/// REST API events carry the query decoded; it is encoded again here so
/// both shapes are read the same way.
fn query_v1(fields: &Map<String, Value>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    let multi = fields
        .get("multiValueQueryStringParameters")
        .and_then(Value::as_object);
    let single = fields
        .get("queryStringParameters")
        .and_then(Value::as_object);
    for (name, values) in multi.or(single).into_iter().flatten() {
        match values {
            Value::Array(all) => all.iter().filter_map(Value::as_str).for_each(|v| {
                query.append_pair(name, v);
            }),
            Value::String(v) => {
                query.append_pair(name, v);
            }
            _ => {}
        }
    }
    query.finish()
}

fn headers_v2(fields: &Map<String, Value>) -> Result<Vec<(String, String)>, String> {
    let mut headers = Vec::new();
    for (name, value) in fields
        .get("headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let value = value
            .as_str()
            .ok_or_else(|| format!("the header '{}' is not text", excerpt(name)))?;
        headers.push((name.to_ascii_lowercase(), value.to_owned()));
    }
    Ok(headers)
}

fn headers_v1(fields: &Map<String, Value>) -> Result<Vec<(String, String)>, String> {
    let multi = fields.get("multiValueHeaders").and_then(Value::as_object);
    let Some(multi) = multi else {
        return headers_v2(fields);
    };
    let mut headers = Vec::new();
    for (name, values) in multi {
        let values = values
            .as_array()
            .ok_or_else(|| format!("the header '{}' is not a list of text", excerpt(name)))?;
        for value in values {
            let value = value
                .as_str()
                .ok_or_else(|| format!("the header '{}' is not text", excerpt(name)))?;
            headers.push((name.to_ascii_lowercase(), value.to_owned()));
        }
    }
    Ok(headers)
}

fn body(fields: &Map<String, Value>) -> Result<Vec<u8>, String> {
    let text = match fields.get("body") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(text)) => text,
        Some(_) => return Err("the body is not text".into()),
    };
    if text.len() > MAX_BODY_BYTES * 2 {
        return Err(too_long("the body", text.len(), MAX_BODY_BYTES));
    }
    let base64 = fields.get("isBase64Encoded").and_then(Value::as_bool) == Some(true);
    let body = if base64 {
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| format!("the body is marked isBase64Encoded but is not base64 ({e})"))?
    } else {
        text.as_bytes().to_vec()
    };
    if body.len() > MAX_BODY_BYTES {
        return Err(too_long("the body", body.len(), MAX_BODY_BYTES));
    }
    Ok(body)
}

/// What no browser, LMS or API Gateway would send.
fn check(request: &HttpRequest) -> Result<(), String> {
    if request.method.is_empty()
        || request.method.len() > 16
        || !request.method.bytes().all(|b| b.is_ascii_alphabetic())
    {
        return Err(format!(
            "'{}' is not an HTTP method",
            excerpt(&request.method)
        ));
    }
    if request.path.len() > MAX_PATH_BYTES {
        return Err(too_long("the path", request.path.len(), MAX_PATH_BYTES));
    }
    check_uri_part("path", &request.path)?;
    if request.query.len() > MAX_QUERY_BYTES {
        return Err(too_long(
            "the query string",
            request.query.len(),
            MAX_QUERY_BYTES,
        ));
    }
    check_uri_part("query string", &request.query)?;
    request
        .headers
        .iter()
        .try_for_each(|(name, value)| check_header(name, value))
}

/// A URI carries these only percent-encoded (RFC 3986); a raw one means a
/// hand-made request, and the launch cannot know what was meant.
fn check_uri_part(part: &str, text: &str) -> Result<(), String> {
    match text
        .chars()
        .find(|c| c.is_control() || " \"<>\\^`{|}".contains(*c))
    {
        Some(bad) => Err(format!(
            "the {part} contains {} unencoded; a URL carries it only percent-encoded",
            describe_char(bad)
        )),
        None => Ok(()),
    }
}

fn check_header(name: &str, value: &str) -> Result<(), String> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    // A bounded name: the messages below quote it whole.
    if name.is_empty() || name.len() > 128 || !name.bytes().all(token) {
        return Err(format!("'{}' is not a header name", excerpt(name)));
    }
    if value.len() > MAX_HEADER_BYTES {
        return Err(too_long(
            &format!("the header '{name}'"),
            value.len(),
            MAX_HEADER_BYTES,
        ));
    }
    if let Some(bad) = value.chars().find(|c| c.is_control() && *c != '\t') {
        return Err(format!(
            "the header '{name}' contains {}, which no header value may hold",
            describe_char(bad)
        ));
    }
    let valid = match name {
        "host" => is_host(value),
        "x-forwarded-proto" => {
            ["http", "https"].contains(&value.trim().to_ascii_lowercase().as_str())
        }
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

/// `host` or `host:port`, as `Host` must be (no user info, no path).
fn is_host(value: &str) -> bool {
    !value.is_empty()
        && !value.contains(['@', '/', '?', '#'])
        && value.parse::<http::uri::Authority>().is_ok()
}

fn describe_char(c: char) -> String {
    if c.is_control() || c == ' ' {
        format!("the character U+{:04X}", c as u32)
    } else {
        format!("the character '{c}'")
    }
}

fn too_long(what: &str, len: usize, max: usize) -> String {
    format!("{what} is {len} bytes long; a launch needs at most {max}")
}

/// Says what an event that is not an API Gateway event looks like.
fn not_http(event: &Value) -> EventError {
    let kind = match event {
        Value::Null => "null".to_owned(),
        Value::Bool(_) | Value::Number(_) => {
            format!("the JSON value {}", excerpt(&event.to_string()))
        }
        Value::String(_) => "a JSON string".to_owned(),
        Value::Array(_) => "a JSON array".to_owned(),
        Value::Object(fields) => describe_object(fields),
    };
    EventError::NotHttp(format!(
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
    fn a_v2_event_is_read_with_its_raw_query() {
        let request = read_event(&v2("ltik=a.b.c&x=%3C")).unwrap();
        assert_eq!(request.method, "GET");
        assert_eq!(request.query, "ltik=a.b.c&x=%3C");
        assert_eq!(
            request.header("host"),
            Some("x.execute-api.us-east-1.amazonaws.com")
        );
    }

    #[test]
    fn a_v1_event_has_its_query_encoded_again() {
        let event = json!({"httpMethod": "post", "path": "/prod/launch", "requestContext": {},
            "multiValueQueryStringParameters": {"a": ["x y", "<"]},
            "multiValueHeaders": {"Content-Type": ["Application/X-Www-Form-Urlencoded"]},
            "body": "bHRpaz1r", "isBase64Encoded": true});
        let request = read_event(&event).unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(request.query, "a=x+y&a=%3C");
        assert_eq!(request.body, b"ltik=k");
        assert_eq!(
            request.header("content-type"),
            Some("Application/X-Www-Form-Urlencoded")
        );
    }

    #[test]
    fn raw_characters_are_bad_requests_that_say_which() {
        for (query, words) in [
            ("ltik=<script>", "the character '<'"),
            ("ltik=a b", "U+0020"),
            ("ltik=a\r\nSet-Cookie:x", "U+000D"),
            ("ltik=\0", "U+0000"),
        ] {
            match read_event(&v2(query)) {
                Err(EventError::BadRequest(message)) => {
                    assert!(message.contains(words), "{query:?}: {message}")
                }
                other => panic!("{query:?}: {other:?}"),
            }
        }
        let long = format!("ltik={}", "a".repeat(MAX_QUERY_BYTES));
        assert!(
            matches!(read_event(&v2(&long)), Err(EventError::BadRequest(m)) if m.contains("bytes long"))
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
                matches!(read_event(&event), Err(EventError::BadRequest(_))),
                "{name}: {value}"
            );
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
            match read_event(&event) {
                Err(EventError::NotHttp(message)) => {
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
        match read_event(&event) {
            Err(EventError::BadRequest(message)) => assert!(message.len() < 300, "{message}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_body_that_is_not_base64_is_a_bad_request() {
        let mut event = v2("");
        event["body"] = json!("not base64!");
        event["isBase64Encoded"] = json!(true);
        assert!(
            matches!(read_event(&event), Err(EventError::BadRequest(m)) if m.contains("base64"))
        );
    }
}

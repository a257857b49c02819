//! Reading a request: the launch's ltik and the query it forwards, form
//! bodies, headers, and whether the client asked for JSON.

use http::header;
use lambda_http::{Request, RequestExt};
use ltisync::excerpt::excerpt;

/// The ltik and the query to forward: from the query string, or for a
/// form POST from the body (then forwarded as `ltik=...`).
pub(crate) fn launch_parameters(request: &Request) -> Result<(Option<String>, String), String> {
    // The query as sent (forwarded whole); the ltik as lambda_http parsed it.
    let query = request.uri().query().unwrap_or_default().to_owned();
    let from_query = request
        .query_string_parameters_ref()
        .and_then(|params| params.first("ltik"))
        .map(str::to_owned);
    if from_query.is_some() || request.method() != http::Method::POST {
        return Ok((from_query, query));
    }
    let content_type = header_text(request, header::CONTENT_TYPE);
    if !is_form(content_type) {
        return Err(format!(
            "a POST launch must send the ltik in the query or as application/x-www-form-urlencoded, not '{}'",
            excerpt(content_type)
        ));
    }
    let ltik = first_value(request.body(), "ltik");
    let forward = ltik
        .as_ref()
        .map(|l| {
            url::form_urlencoded::Serializer::new(query.clone())
                .append_pair("ltik", l)
                .finish()
        })
        .unwrap_or(query);
    Ok((ltik, forward))
}

/// A header's first value as text ("" when absent or not text).
pub(crate) fn header_text(request: &Request, name: header::HeaderName) -> &str {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

pub(crate) fn first_value(encoded: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(encoded)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Media types compare without case, parameters (`; charset=...`) aside.
pub(crate) fn is_form(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

pub(crate) fn wants_json(request: &Request) -> bool {
    let accept = header_text(request, header::ACCEPT).to_ascii_lowercase();
    accept.contains("application/json") && !accept.contains("text/html")
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use lambda_http::Body;

    use super::*;

    #[test]
    fn form_media_types_match_without_case_or_parameters() {
        assert!(is_form("application/x-www-form-urlencoded"));
        assert!(is_form("Application/X-WWW-Form-Urlencoded; charset=UTF-8"));
        assert!(!is_form("application/x-www-form-urlencodedx"));
        assert!(!is_form("text/plain"));
    }

    #[test]
    fn json_is_chosen_only_when_asked_for_without_html() {
        let req = |accept: &str| {
            let mut request = Request::new(Body::Empty);
            let value = HeaderValue::from_str(accept).unwrap();
            request.headers_mut().insert(header::ACCEPT, value);
            request
        };
        assert!(wants_json(&req("application/json")));
        assert!(!wants_json(&req(
            "text/html,application/xhtml+xml,application/json;q=0.9"
        )));
        assert!(!wants_json(&req("*/*")));
    }
}

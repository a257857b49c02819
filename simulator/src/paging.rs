//! Listing query parameters, as every paged route reads them: a `url`
//! parameter (a page link the simulator handed out) stands for all the
//! others, as LTIaaS's `?url=` does.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use crate::respond::envelope;

/// A listing's query parameters; `url` (a page link the simulator handed
/// out) replaces every other one. `None`: `url` is not a URL.
pub(crate) fn page_params(query: Option<&str>) -> Option<QueryParams> {
    let params = QueryParams(
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect(),
    );
    match params.get("url") {
        None => Some(params),
        Some(page_url) => url::Url::parse(&page_url)
            .ok()
            .map(|parsed| QueryParams(parsed.query_pairs().into_owned().collect())),
    }
}

/// Decoded query parameters, in order.
pub(crate) struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    /// The first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// The answer to a `url` parameter that is not a URL.
pub(crate) fn bad_page_url() -> Response<Full<Bytes>> {
    envelope(
        StatusCode::BAD_REQUEST,
        "INVALID_URL",
        "The url parameter is not a URL.",
    )
}

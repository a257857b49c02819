//! The simulated line item service: listing a context's line items
//! (filtered, in pages), creating one, and finding the one a path names
//! (for `GET /api/lineitems/:id` and the score and result routes below it).

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};

use crate::paging::{bad_page_url, page_params, QueryParams};
use crate::respond::{envelope, json_response, Refusal};
use crate::state::{Binding, SimLineItem, SimState};

/// The filters a listing passes on to its next page.
const FILTERS: [&str; 3] = ["resourceLinkId", "resourceId", "tag"];

/// `GET /api/lineitems`: the context's line items, filtered by link
/// (`resourceLinkId=true`: the launch's), `resourceId` and `tag` (unless
/// the simulator ignores filters, as some LMSs do), in pages of `limit`.
pub(crate) fn list(
    state: &SimState,
    binding: &Binding,
    query: Option<&str>,
) -> Response<Full<Bytes>> {
    let Some(params) = page_params(query) else {
        return bad_page_url();
    };
    let page: usize = params
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let limit: usize = params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l >= 1)
        .unwrap_or(state.page_size);
    let items = matching(state, binding, &params);
    let start = (page - 1) * limit;
    let on_page: Vec<&SimLineItem> = items.iter().skip(start).take(limit).copied().collect();
    let mut response = json!({ "lineItems": on_page });
    if start + limit < items.len() {
        response["next"] = json!(next_page(&params, page + 1, limit));
    }
    json_response(StatusCode::OK, &response)
}

/// The context's line items that pass the listing's filters.
fn matching<'a>(
    state: &'a SimState,
    binding: &Binding,
    params: &QueryParams,
) -> Vec<&'a SimLineItem> {
    let link = params.get("resourceLinkId").map(|v| {
        if v == "true" {
            binding.resource_link_id.clone()
        } else {
            v
        }
    });
    let resource_id = params.get("resourceId");
    let tag = params.get("tag");
    let Some(items) = state
        .line_items
        .get(&(binding.platform_id.clone(), binding.context_id.clone()))
    else {
        return Vec::new();
    };
    // `ignore_filters` stands for the LMSs that ignore `resourceId` and
    // `tag`; the link filter always holds.
    let ignored = state.ignore_filters;
    items
        .iter()
        .filter(|i| {
            link.as_ref()
                .is_none_or(|l| i.resource_link_id.as_ref() == Some(l))
        })
        .filter(|i| {
            ignored
                || resource_id
                    .as_ref()
                    .is_none_or(|r| i.resource_id.as_ref() == Some(r))
        })
        .filter(|i| ignored || tag.as_ref().is_none_or(|t| i.tag.as_ref() == Some(t)))
        .collect()
}

/// The link to `page`, with the listing's limit and filters as given.
fn next_page(params: &QueryParams, page: usize, limit: usize) -> String {
    let mut next = url::Url::parse("https://lms.example.test/api/lineitems").expect("static URL");
    {
        let mut pairs = next.query_pairs_mut();
        pairs.append_pair("page", &page.to_string());
        pairs.append_pair("limit", &limit.to_string());
        for name in FILTERS {
            if let Some(v) = params.get(name) {
                pairs.append_pair(name, &v);
            }
        }
    }
    next.to_string()
}

/// `POST /api/lineitems`: a new line item in the context, as created.
pub(crate) fn create(
    state: &mut SimState,
    binding: &Binding,
    body: Option<&Value>,
) -> Response<Full<Bytes>> {
    let item = match line_item_of(binding, body) {
        Ok(item) => item,
        Err(refusal) => return *refusal,
    };
    let id = state.add_line_item(&binding.platform_id, &binding.context_id, item.clone());
    state.created += 1;
    json_response(StatusCode::CREATED, &json!(SimLineItem { id, ..item }))
}

/// The line item a creation body describes (without its id yet), or why
/// it is refused.
fn line_item_of(binding: &Binding, body: Option<&Value>) -> Result<SimLineItem, Refusal> {
    let invalid = |description| {
        Box::new(envelope(
            StatusCode::BAD_REQUEST,
            "INVALID_BODY",
            description,
        ))
    };
    let body = body
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("The body must be a JSON object."))?;
    let label = body
        .get("label")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if label.trim().is_empty() {
        return Err(invalid("label is required and must not be blank."));
    }
    let score_maximum = body
        .get("scoreMaximum")
        .and_then(Value::as_f64)
        .filter(|m| *m > 0.0)
        .ok_or_else(|| invalid("scoreMaximum must be a number above 0."))?;
    let resource_link_id = text(body, "resourceLinkId");
    if resource_link_id
        .as_ref()
        .is_some_and(|l| *l != binding.resource_link_id)
    {
        return Err(Box::new(envelope(
            StatusCode::NOT_FOUND,
            "RESOURCE_LINK_NOT_FOUND",
            "No such resource link in this context.",
        )));
    }
    Ok(SimLineItem {
        id: String::new(),
        label: label.to_owned(),
        score_maximum,
        resource_link_id,
        resource_id: text(body, "resourceId"),
        tag: text(body, "tag"),
    })
}

/// The string field `name` of `body`.
fn text(body: &Map<String, Value>, name: &str) -> Option<String> {
    body.get(name).and_then(Value::as_str).map(str::to_owned)
}

/// The line item of the context whose id is the path's third segment
/// (`/api/lineitems/:id/...`, the id percent-encoded), or the 400 or 404.
pub(crate) fn find(
    state: &SimState,
    binding: &Binding,
    path: &str,
) -> Result<SimLineItem, Refusal> {
    let segment = path
        .trim_start_matches('/')
        .split('/')
        .nth(2)
        .unwrap_or_default();
    let Ok(id) = percent_decode_str(segment).decode_utf8() else {
        return Err(Box::new(envelope(
            StatusCode::BAD_REQUEST,
            "INVALID_LINEITEM_ID",
            "The line item id is not UTF-8.",
        )));
    };
    state
        .line_items
        .get(&(binding.platform_id.clone(), binding.context_id.clone()))
        .and_then(|items| items.iter().find(|i| i.id == id))
        .cloned()
        .ok_or_else(|| {
            Box::new(envelope(
                StatusCode::NOT_FOUND,
                "LINEITEM_NOT_FOUND",
                "Line item not found.",
            ))
        })
}

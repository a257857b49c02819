//! The simulated result service (`GET /api/lineitems/:id/scores`, which
//! LTIaaS relays to the LMS's `{line item}/results`): what the gradebook
//! shows, the last accepted score per user scaled to the line item's
//! maximum, filtered by `userId`, in pages. What the gradebook shows can be
//! changed behind the tool's back (`POST /_sim/results`,
//! `Simulator::set_result`): an instructor's override, or a result lost.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use crate::paging::{bad_page_url, page_params};
use crate::respond::json_response;
use crate::state::{Binding, ResultOverride, SimLineItem, SimState};

/// The results of `item`, as the gradebook shows them.
pub fn list_results(
    state: &SimState,
    binding: &Binding,
    item: &SimLineItem,
    query: Option<&str>,
) -> Response<Full<Bytes>> {
    let Some(params) = page_params(query) else {
        return bad_page_url();
    };
    let user_filter = params.get("userId");
    let shown: Vec<(String, Value)> = shown(state, binding, item)
        .into_iter()
        .filter(|(user, _)| user_filter.as_ref().is_none_or(|u| u == user))
        .collect();
    let page: usize = params
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let start = (page - 1) * state.page_size;
    let on_page: Vec<&Value> = shown
        .iter()
        .skip(start)
        .take(state.page_size)
        .map(|(_, r)| r)
        .collect();
    let mut answer = json!({ "scores": on_page });
    if start + state.page_size < shown.len() {
        let mut next = url::Url::parse(&format!("{}/results", item.id)).unwrap_or_else(|_| {
            url::Url::parse("https://lms.example.test/results").expect("static")
        });
        next.query_pairs_mut()
            .append_pair("page", &(page + 1).to_string());
        answer["next"] = json!(next.to_string());
    }
    json_response(StatusCode::OK, &answer)
}

/// Every user's result on `item`: the last score accepted, then what was
/// changed behind the tool's back.
fn shown(state: &SimState, binding: &Binding, item: &SimLineItem) -> Vec<(String, Value)> {
    let mut shown: Vec<(String, Value)> = Vec::new();
    for score in state
        .scores
        .iter()
        .filter(|s| s.line_item_id == item.id && s.platform_id == binding.platform_id)
    {
        let user = user_text(&score.body["userId"]);
        shown.retain(|(u, _)| *u != user);
        shown.push((user.clone(), result(&user, &score.body, item)));
    }
    let context = (binding.platform_id.clone(), binding.context_id.clone());
    for ((platform, context_id, user), change) in &state.result_overrides {
        if (platform, context_id) != (&context.0, &context.1) {
            continue;
        }
        shown.retain(|(u, _)| u != user);
        if let ResultOverride::Score { score, comment } = change {
            let body = json!({"scoreGiven": score, "scoreMaximum": item.score_maximum, "comment": comment});
            shown.push((user.clone(), result(user, &body, item)));
        }
    }
    shown
}

/// One user's result: the score scaled to the line item's maximum.
fn result(user: &str, body: &Value, item: &SimLineItem) -> Value {
    let scaled = match (body["scoreGiven"].as_f64(), body["scoreMaximum"].as_f64()) {
        (Some(given), Some(maximum)) if maximum > 0.0 => Some(given / maximum * item.score_maximum),
        _ => None,
    };
    let mut result = json!({"id": format!("{}/results/{user}", item.id), "userId": user,
                            "scoreOf": item.id, "resultMaximum": item.score_maximum});
    if let Some(score) = scaled {
        result["resultScore"] = json!(score);
    }
    if let Some(comment) = body["comment"].as_str() {
        result["comment"] = json!(comment);
    }
    result
}

fn user_text(id: &Value) -> String {
    id.as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| id.to_string())
}

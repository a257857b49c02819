//! The simulated names and roles service (`GET /api/memberships`), and the
//! rule the simulated LMS applies to scores for people who are not active
//! learners (as Canvas does: 422, relayed by LTIaaS with the LMS's body).

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use crate::paging::{bad_page_url, page_params};
use crate::respond::json_response;
use crate::state::{Binding, SimMember, SimState};

/// What the LMS says when a score names someone it cannot grade.
pub const NOT_A_STUDENT: &str = "User not found in course or is not a student";

/// `GET /api/memberships`: the context's roster, filtered by `role`
/// (unless the simulator ignores filters, as some LMSs do), in pages.
pub fn list_memberships(
    state: &SimState,
    binding: &Binding,
    query: Option<&str>,
) -> Response<Full<Bytes>> {
    let context = (binding.platform_id.clone(), binding.context_id.clone());
    let Some(roster) = state.rosters.get(&context) else {
        return json_response(
            StatusCode::FORBIDDEN,
            &json!({"status": 403, "error": "Forbidden",
                    "details": {"errors": ["SERVICE_NOT_AVAILABLE_FOR_CONTEXT"]}}),
        );
    };
    let Some(params) = page_params(query) else {
        return bad_page_url();
    };
    let get = |name: &str| params.get(name);
    let role = get("role");
    let members: Vec<&SimMember> = roster
        .iter()
        .filter(|m| {
            state.ignore_filters
                || role.as_deref().is_none_or(|r| {
                    m.roles
                        .iter()
                        .any(|have| have == r || have.ends_with(&format!("#{r}")))
                })
        })
        .collect();
    let page: usize = get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let limit = get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l >= 1);
    let per_page = members_per_page(state.page_size, limit);
    let start = (page - 1) * per_page;
    let on_page: Vec<&SimMember> = members.iter().skip(start).take(per_page).copied().collect();
    let mut body = json!({
        "id": "https://lms.example.test/api/memberships",
        "context": {"id": binding.context_id, "label": "SIM", "title": "Course"},
        "members": on_page,
    });
    if start + per_page < members.len() {
        let mut next =
            url::Url::parse("https://lms.example.test/api/memberships").expect("static URL");
        next.query_pairs_mut()
            .append_pair("page", &(page + 1).to_string())
            .extend_pairs(role.iter().map(|r| ("role", r)))
            .extend_pairs(limit.map(|l| ("limit", l.to_string())));
        body["next"] = json!(next.to_string());
    }
    json_response(StatusCode::OK, &body)
}

/// Members on a page. The simulated LMS pages at its own default (10)
/// unless `limit` asks for another size, and never beyond its cap (the
/// page size set on the simulator, 10 unless a test sets another).
fn members_per_page(cap: usize, limit: Option<usize>) -> usize {
    const DEFAULT_PAGE: usize = 10;
    limit.unwrap_or(DEFAULT_PAGE).min(cap).max(1)
}

/// `Some(422 answer)` when the context has a roster and the score's user
/// is not an active learner on it.
pub fn refuse_non_learner(
    state: &SimState,
    binding: &Binding,
    body: Option<&Value>,
) -> Option<Response<Full<Bytes>>> {
    let roster = state
        .rosters
        .get(&(binding.platform_id.clone(), binding.context_id.clone()))?;
    let user = body?.get("userId")?.as_str()?;
    if roster
        .iter()
        .any(|m| m.user_id == user && m.is_active_learner())
    {
        return None;
    }
    Some(json_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        &json!({
            "status": 422,
            "error": "Unprocessable Entity",
            "details": {
                "externalError": true,
                "externalUrl": "https://lms.example.test/api/lti/scores",
                "bodyReceived": {"errors": {"type": "unprocessable_entity", "message": NOT_A_STUDENT}}
            }
        }),
    ))
}

//! Routing: which route a request is for, then who may use it (`auth.rs`),
//! then the route's handler. Runs under the state's lock, once the server
//! has logged the request's arrival and any fault has let it through.

use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::auth::{self, Credential};
use crate::respond::{envelope, json_response};
use crate::state::{lock, Binding, Route, SimState};
use crate::{launches, line_items, results, roster, scores};

/// The route of `method` on `path` (`Other` for anything unknown).
pub(crate) fn route_of(method: &Method, path: &str) -> Route {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (&Method::GET, ["api", "idtoken"]) => Route::IdToken,
        (&Method::GET, ["api", "lineitems"]) => Route::ListLineItems,
        (&Method::POST, ["api", "lineitems"]) => Route::CreateLineItem,
        (&Method::GET, ["api", "lineitems", _]) => Route::GetLineItem,
        (&Method::POST, ["api", "lineitems", _, "scores"]) => Route::PostScore,
        (&Method::GET, ["api", "lineitems", _, "scores"]) => Route::ListResults,
        (&Method::GET, ["api", "memberships"]) => Route::Memberships,
        (&Method::GET, ["api", "platforms"]) => Route::Platforms,
        _ => Route::Other,
    }
}

/// A request to the LTIaaS API, as routing reads it.
pub(crate) struct ApiRequest<'a> {
    /// Its route.
    pub(crate) route: Route,
    /// Its method.
    pub(crate) method: &'a Method,
    /// Its raw path (percent-encoding kept).
    pub(crate) path: &'a str,
    /// Its raw query.
    pub(crate) query: Option<&'a str>,
    /// Its body, when JSON.
    pub(crate) body: Option<&'a Value>,
}

/// The LMS's answer to `request`, made with `credential`.
pub(crate) fn serve(
    state: &Mutex<SimState>,
    request: &ApiRequest<'_>,
    credential: Option<Credential>,
) -> Response<Full<Bytes>> {
    let mut state = lock(state);
    if request.route == Route::Other {
        return envelope(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("No route for {} {}", request.method, request.path),
        );
    }
    let credential = match auth::authenticate(&state, credential) {
        Ok(credential) => credential,
        Err(refusal) => return *refusal,
    };
    let answer = match request.route {
        Route::Platforms => auth::require_bearer(&credential).map(|()| launches::platforms(&state)),
        Route::IdToken => auth::launch(&state, &credential).map(launches::id_token),
        _ => auth::binding(&state, &credential)
            .map(|binding| serve_in_context(&mut state, request, &credential, &binding)),
    };
    answer.unwrap_or_else(|refusal| *refusal)
}

/// The answer to a route of one launch context, `binding`.
fn serve_in_context(
    state: &mut SimState,
    request: &ApiRequest<'_>,
    credential: &Credential,
    binding: &Binding,
) -> Response<Full<Bytes>> {
    match request.route {
        Route::ListLineItems => line_items::list(state, binding, request.query),
        Route::Memberships => roster::list_memberships(state, binding, request.query),
        Route::CreateLineItem => line_items::create(state, binding, request.body),
        Route::GetLineItem | Route::PostScore | Route::ListResults => {
            serve_line_item(state, request, credential, binding)
        }
        Route::IdToken | Route::Platforms | Route::Other => unreachable!("routed in serve"),
    }
}

/// The answer to a route below one line item: `/api/lineitems/:id`, and
/// its `/scores` (results to read, or a score to post).
fn serve_line_item(
    state: &mut SimState,
    request: &ApiRequest<'_>,
    credential: &Credential,
    binding: &Binding,
) -> Response<Full<Bytes>> {
    let item = match line_items::find(state, binding, request.path) {
        Ok(item) => item,
        Err(refusal) => return *refusal,
    };
    match request.route {
        Route::GetLineItem => json_response(StatusCode::OK, &json!(item)),
        Route::ListResults => results::list_results(state, binding, &item, request.query),
        _ => {
            // The key is recorded with the score; an ltik leaves it empty.
            let service_key = credential.service_key().unwrap_or_default();
            scores::post_score(state, binding, &item, service_key, request.body)
        }
    }
}

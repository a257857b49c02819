//! What LTIaaS tells about launches: one launch's ID token
//! (`GET /api/idtoken`) and the platforms launches named, as the account's
//! (`GET /api/platforms`). Who may ask is settled in `auth.rs`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use crate::respond::json_response;
use crate::state::{LaunchSpec, SimState};

/// `GET /api/idtoken`: the launch's ID token.
pub(crate) fn id_token(launch: &LaunchSpec) -> Response<Full<Bytes>> {
    json_response(StatusCode::OK, &launch.id_token())
}

/// `GET /api/platforms`: every platform a launch named, once, in order.
pub(crate) fn platforms(state: &SimState) -> Response<Full<Bytes>> {
    let mut ids: Vec<&str> = state
        .launches
        .values()
        .map(|l| l.platform_id.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let platforms: Vec<Value> = ids.into_iter().map(|id| json!({"id": id})).collect();
    json_response(StatusCode::OK, &json!({ "platforms": platforms }))
}

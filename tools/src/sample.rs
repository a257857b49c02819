//! The activity the sample events in `events/` name, as the demo and
//! `make sam-local` register it with the simulator: 'Quiz 1' of Biology
//! 101 on `demo-platform`, launched with the sample ltik.

use ltisync::ActivityIds;
use ltisync_tests::rigs::SAMPLE_LTIK;
use serde_json::{json, Value};

/// The activity item's partition key.
pub const PK: &str = "ACT#demo-platform#course-101#quiz-1";

/// Where a launch sends the browser (the launch function's `TOOL_URL`).
pub const TOOL_URL: &str = "https://tool.example.test/app";

/// The activity's ids.
pub fn activity() -> ActivityIds {
    ActivityIds::new("demo-platform", "course-101", "quiz-1").expect("ids")
}

/// The launch the simulator answers the sample ltik with, handing out
/// `service_key` (the body of its admin API's `launches`).
pub fn launch(service_key: &str) -> Value {
    json!({
        "ltik": SAMPLE_LTIK,
        "platformId": "demo-platform",
        "contextId": "course-101",
        "resourceLinkId": "quiz-1",
        "contextTitle": "Biology 101",
        "resourceLinkTitle": "Quiz 1",
        "serviceKey": service_key
    })
}

/// The course's roster, of [`member`]s (the body of the simulator's admin
/// API's `rosters`).
pub fn roster(members: &[Value]) -> Value {
    json!({"platformId": "demo-platform", "contextId": "course-101", "members": members})
}

/// An active member of the course in one LIS role (`Learner`,
/// `Instructor`).
pub fn member(user: &str, role: &str) -> Value {
    json!({
        "userId": user,
        "roles": [format!("http://purl.imsglobal.org/vocab/lis/v2/membership#{role}")],
        "status": "Active"
    })
}

/// The course's instructor, launching 'Quiz 1' with `ltik` (the body of the
/// simulator's admin API's `launches`): whom the status page shows every
/// grade.
pub fn instructor_launch(ltik: &str, service_key: &str) -> Value {
    let mut launch = launch(service_key);
    launch["ltik"] = json!(ltik);
    launch["userId"] = json!("demo-teacher");
    launch["userRoles"] = json!(["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]);
    launch
}

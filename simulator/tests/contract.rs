//! The simulator keeps the contract it stands in for: checked over HTTP,
//! as ltisync's client meets it.

use ltiaas_sim::{LaunchSpec, LmsProfile, SimMember, Simulator, NOT_A_STUDENT};
use serde_json::{json, Value};

const KEY: &str = "svc-key";

async fn started() -> Simulator {
    let sim = Simulator::start().await.unwrap();
    sim.add_launch(LaunchSpec::new("p", "c", "quiz", Some(KEY)));
    sim
}

async fn get(sim: &Simulator, path_and_query: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path_and_query}", sim.url()))
        .header(
            "Authorization",
            format!("SERVICE-AUTH-V1 {}:{KEY}", sim.api_key()),
        )
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_roster_comes_in_pages_filtered_by_role() {
    let sim = started().await;
    sim.set_page_size(1);
    sim.set_roster(
        "p",
        "c",
        vec![
            SimMember::new("ada", "Learner"),
            SimMember::new("tim", "Instructor"),
            SimMember::new("bob", "Learner").with_status("Inactive"),
        ],
    );
    let (status, first) = get(&sim, "/api/memberships?role=Learner").await;
    assert_eq!(status, 200);
    assert_eq!(first["members"][0]["userId"], "ada");
    let next = first["next"].as_str().unwrap();
    let (_, second) = get(&sim, &format!("/api/memberships?url={}", urlencode(next))).await;
    assert_eq!(second["members"][0]["userId"], "bob");
    assert!(second.get("next").is_none(), "two learners, two pages");
}

#[tokio::test]
async fn a_course_without_a_roster_answers_in_the_errors_list_shape() {
    let sim = started().await;
    let (status, body) = get(&sim, "/api/memberships").await;
    assert_eq!(status, 403);
    assert_eq!(
        body["details"]["errors"],
        json!(["SERVICE_NOT_AVAILABLE_FOR_CONTEXT"])
    );
}

#[tokio::test]
async fn scores_for_non_learners_get_the_lms_refusal_relayed() {
    let sim = started().await;
    sim.set_roster("p", "c", vec![SimMember::new("ada", "Learner")]);
    let item = line_item(&sim);
    let post = |user: &str, extra: Value| {
        let mut body = json!({"userId": user, "activityProgress": "Completed",
                              "gradingProgress": "FullyGraded", "scoreGiven": 1, "scoreMaximum": 2});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        reqwest::Client::new()
            .post(format!(
                "{}/api/lineitems/{}/scores",
                sim.url(),
                urlencode(&item)
            ))
            .header(
                "Authorization",
                format!("SERVICE-AUTH-V1 {}:{KEY}", sim.api_key()),
            )
            .json(&body)
            .send()
    };
    let refused = post("tim", json!({})).await.unwrap();
    assert_eq!(refused.status().as_u16(), 422);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body["details"]["bodyReceived"]["errors"]["message"],
        NOT_A_STUDENT
    );
    let bad_time = post("ada", json!({"submission": {"submittedAt": "yesterday"}}))
        .await
        .unwrap();
    assert_eq!(bad_time.status().as_u16(), 400);
    let taken = post(
        "ada",
        json!({"submission": {"submittedAt": "2026-11-28T09:00:00Z"}}),
    )
    .await
    .unwrap();
    assert_eq!(taken.status().as_u16(), 204);
    assert_eq!(sim.scores().len(), 1);
}

/// A new line item of (p, c).
fn line_item(sim: &Simulator) -> String {
    sim.add_line_item(
        "p",
        "c",
        ltiaas_sim::SimLineItem {
            id: String::new(),
            label: "Quiz".into(),
            score_maximum: 10.0,
            resource_link_id: Some("quiz".into()),
            resource_id: None,
            tag: None,
        },
    )
}

/// Posts each score for `user` to `item`; the statuses, one per score.
async fn post_scores(sim: &Simulator, item: &str, user: &str, scores: &[f64]) -> Vec<u16> {
    let mut statuses = Vec::new();
    for score in scores {
        let body = json!({"userId": user, "activityProgress": "Completed",
                          "gradingProgress": "FullyGraded", "scoreGiven": score, "scoreMaximum": 10});
        let answer = reqwest::Client::new()
            .post(format!(
                "{}/api/lineitems/{}/scores",
                sim.url(),
                urlencode(item)
            ))
            .header(
                "Authorization",
                format!("SERVICE-AUTH-V1 {}:{KEY}", sim.api_key()),
            )
            .json(&body)
            .send()
            .await
            .unwrap();
        statuses.push(answer.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn moodle_refuses_a_second_score_within_the_same_second() {
    let sim = started().await;
    sim.set_profile("p", LmsProfile::Moodle);
    // Start just after a second begins, so both posts fall within it.
    let into = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_millis();
    tokio::time::sleep(std::time::Duration::from_millis(u64::from(1000 - into))).await;
    let item = line_item(&sim);
    assert_eq!(
        post_scores(&sim, &item, "ada", &[1.0, 2.0]).await,
        [204, 409]
    );
    assert_eq!(
        post_scores(&sim, &item, "bob", &[1.0]).await,
        [204],
        "per user"
    );
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(
        post_scores(&sim, &item, "ada", &[2.0]).await,
        [204],
        "a second later"
    );
    let generic = started().await;
    let item = line_item(&generic);
    assert_eq!(
        post_scores(&generic, &item, "ada", &[1.0, 2.0]).await,
        [204, 204]
    );
}

#[tokio::test]
async fn open_edx_refuses_a_score_equal_to_the_stored_one() {
    let sim = started().await;
    sim.set_profile("p", LmsProfile::OpenEdx);
    let item = line_item(&sim);
    assert_eq!(
        post_scores(&sim, &item, "ada", &[4.0, 4.0, 5.0]).await,
        [204, 400, 204]
    );
    assert_eq!(sim.scores().len(), 2);
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

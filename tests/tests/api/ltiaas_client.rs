//! The LTIaaS client against the simulator: the contract of docs/ltiaas-api.md as
//! spoken (headers, encodings, paging, bodies) and every failure classified.

use std::time::Duration;

use ltisync::grade::{ScoreDialect, ScorePost};
use ltisync::ltiaas::{
    Credential, LtiaasClient, LtiaasError, NewLineItem, MAX_MESSAGE_CHARS, MAX_RESPONSE_BYTES,
};
use ltisync::{Grade, Ltik, ServiceKey};
use ltisync_tests::ltiaas::{self, Limits};
use ltisync_tests::simulator::{Fault, FaultAction, LaunchSpec, Route, SimLineItem, Simulator};

fn client(sim: &Simulator, api_key: &str) -> LtiaasClient {
    let limits = Limits {
        connect: Duration::from_millis(500),
        request: Duration::from_millis(500),
    };
    ltiaas::client(sim, api_key, limits)
}

async fn setup() -> (Simulator, LtiaasClient, ServiceKey) {
    let sim = Simulator::start().await.unwrap();
    sim.add_launch(LaunchSpec::new("p", "c", "link-1", Some("svc-1")));
    let client = client(&sim, &sim.api_key());
    (sim, client, ServiceKey::new("svc-1"))
}

fn item(link: &str, n: usize) -> SimLineItem {
    SimLineItem {
        id: String::new(),
        label: format!("Item {n}"),
        score_maximum: 10.0,
        resource_link_id: Some(link.into()),
        resource_id: None,
        tag: None,
    }
}

#[tokio::test]
async fn the_id_token_is_fetched_with_ltik_auth_v2() {
    let sim = Simulator::start().await.unwrap();
    let ltik = sim.add_launch(LaunchSpec::new("plat", "ctx", "link", Some("svc")));
    let token = client(&sim, &sim.api_key())
        .id_token(&Ltik::new(&ltik))
        .await
        .unwrap();
    assert_eq!(token.platform.id, "plat");
    let request = &sim.requests()[0];
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("LTIK-AUTH-V2 {}:{ltik}", sim.api_key()).as_str())
    );
    let err = client(&sim, "wrong-key")
        .id_token(&Ltik::new(&ltik))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LtiaasError::ApiKeyRefused(message) if message.contains("Invalid API key")),
        "{err}"
    );
    sim.expire_ltik(&ltik);
    let err = client(&sim, &sim.api_key())
        .id_token(&Ltik::new(&ltik))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            LtiaasError::Unauthorized {
                credential: Credential::Ltik,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn line_items_are_listed_across_pages_by_passing_next_back_verbatim() {
    let (sim, client, key) = setup().await;
    for n in 0..25 {
        sim.add_line_item("p", "c", item("link-1", n));
    }
    sim.add_line_item("p", "c", item("other-link", 99));
    let first = client
        .list_line_items(&key, "link-1", None, None)
        .await
        .unwrap();
    assert_eq!(first.line_items.len(), 10);
    let next = first.next.clone().expect("a second page");
    let second = client.line_items_page(&key, &next).await.unwrap();
    let third = client
        .line_items_page(&key, second.next.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(third.line_items.len(), 5);
    assert!(third.next.is_none());
    let labels: Vec<String> = [first, second, third]
        .iter()
        .flat_map(|p| p.line_items.iter().map(|i| i.label.clone().unwrap()))
        .collect();
    assert_eq!(labels.len(), 25);
    assert!(!labels.contains(&"Item 99".to_owned()), "filtered by link");
    let requests = sim.requests();
    assert_eq!(requests[0].query.as_deref(), Some("resourceLinkId=link-1"));
    let sent: Vec<(String, String)> =
        url::form_urlencoded::parse(requests[1].query.as_deref().unwrap().as_bytes())
            .into_owned()
            .collect();
    assert_eq!(sent, vec![("url".to_owned(), next)]);
    assert!(requests[0]
        .authorization
        .as_deref()
        .unwrap()
        .starts_with("SERVICE-AUTH-V1 "));
}

#[tokio::test]
async fn line_item_ids_travel_as_one_encoded_segment() {
    let (sim, client, key) = setup().await;
    let id = "https://lms.example.test/courses/1/line items/7?x=%41&y=ü";
    sim.add_line_item(
        "p",
        "c",
        SimLineItem {
            id: id.into(),
            ..item("link-1", 1)
        },
    );
    let fetched = client.get_line_item(&key, id).await.unwrap();
    assert_eq!(fetched.id, id);
    let path = &sim.requests()[0].path;
    assert_eq!(
        path,
        "/api/lineitems/https%3A%2F%2Flms.example.test%2Fcourses%2F1%2Fline%20items%2F7%3Fx%3D%2541%26y%3D%C3%BC"
    );
    client
        .post_score(
            &key,
            id,
            &Grade::new("u1", 7.0, 10.0)
                .unwrap()
                .to_score(ScoreDialect::Standard),
        )
        .await
        .unwrap();
    assert_eq!(sim.scores()[0].line_item_id, id);
}

#[tokio::test]
async fn line_items_are_created_and_validated() {
    let (sim, client, key) = setup().await;
    let new = NewLineItem {
        label: "Quiz 1".into(),
        score_maximum: 20.0,
        resource_link_id: "link-1".into(),
        resource_id: Some("quiz-1".into()),
        tag: Some("grade".into()),
    };
    let created = client.create_line_item(&key, &new).await.unwrap();
    assert!(created.id.starts_with("https://lms.example.test/"));
    assert_eq!(created.resource_id.as_deref(), Some("quiz-1"));
    assert_eq!(sim.line_items("p", "c").len(), 1);
    let blank = NewLineItem {
        label: " ".into(),
        ..new.clone()
    };
    let err = client.create_line_item(&key, &blank).await.unwrap_err();
    assert!(
        matches!(err, LtiaasError::Rejected { status: 400, .. }),
        "{err}"
    );
    let foreign = NewLineItem {
        resource_link_id: "not-mine".into(),
        ..new
    };
    let err = client.create_line_item(&key, &foreign).await.unwrap_err();
    assert!(
        matches!(err, LtiaasError::Rejected { status: 404, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn scores_are_posted_without_a_timestamp_and_validated() {
    let (sim, client, key) = setup().await;
    let id = sim.add_line_item("p", "c", item("link-1", 1));
    let grade = Grade::new("u1", 0.0, 10.0)
        .unwrap()
        .with_comment("Well done");
    client
        .post_score(&key, &id, &grade.to_score(ScoreDialect::Standard))
        .await
        .unwrap();
    let body = &sim.scores()[0].body;
    assert_eq!(
        body,
        &serde_json::json!({"userId": "u1", "activityProgress": "Completed",
            "gradingProgress": "FullyGraded", "scoreGiven": 0.0, "scoreMaximum": 10.0,
            "comment": "Well done"})
    );
    let bad = ScorePost {
        score_given: Some(-1.0),
        ..grade.to_score(ScoreDialect::Standard)
    };
    let err = client.post_score(&key, &id, &bad).await.unwrap_err();
    assert!(
        matches!(&err, LtiaasError::Rejected { status: 400, message } if message.contains("scoreGiven must be at least 0")),
        "{err}"
    );
    let err = client
        .post_score(
            &key,
            "https://lms.example.test/gone",
            &grade.to_score(ScoreDialect::Standard),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, LtiaasError::Rejected { status: 404, .. }),
        "{err}"
    );
    assert_eq!(sim.scores().len(), 1);
}

#[tokio::test]
async fn a_stale_service_key_is_unauthorized() {
    let (sim, client, key) = setup().await;
    sim.make_service_key_stale("svc-1");
    let err = client
        .list_line_items(&key, "link-1", None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LtiaasError::Unauthorized {
                credential: Credential::ServiceKey,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert!(!err.to_string().contains("svc-1"));
}

#[tokio::test]
async fn every_fault_is_classified_by_whether_retrying_can_help() {
    let (sim, client, key) = setup().await;
    let status = |status: u16, body: Option<&str>, retry_after: Option<&str>| FaultAction::Status {
        status,
        body: body.map(str::to_owned),
        retry_after: retry_after.map(str::to_owned),
    };
    type Check = fn(&LtiaasError) -> bool;
    let cases: Vec<(FaultAction, Check, bool)> = vec![
        (
            status(429, None, Some("3")),
            |e| e.retry_after() == Some(Duration::from_secs(3)),
            true,
        ),
        (
            status(403, Some("403 Forbidden (Rate Limit Exceeded)"), None),
            |e| matches!(e, LtiaasError::Throttled { status: 403, .. }),
            true,
        ),
        (
            status(403, None, None),
            |e| matches!(e, LtiaasError::Rejected { status: 403, .. }),
            false,
        ),
        (
            status(500, None, None),
            |e| matches!(e, LtiaasError::ServerError { status: 500, .. }),
            true,
        ),
        (
            status(502, None, None),
            |e| matches!(e, LtiaasError::ServerError { status: 502, .. }),
            true,
        ),
        (
            status(422, None, None),
            |e| matches!(e, LtiaasError::Rejected { status: 422, .. }),
            false,
        ),
        (
            // Sent, then the connection ended: whether it was acted on is unknown.
            FaultAction::Drop,
            |e| matches!(e, LtiaasError::NoAnswer(_)) && e.outcome_unknown(),
            true,
        ),
        (
            FaultAction::Delay { millis: 2000 },
            |e| matches!(e, LtiaasError::Timeout(_)),
            true,
        ),
        // A page LTIaaS would never send (a proxy or portal in the way) may
        // be gone on the next try.
        (
            FaultAction::Malformed,
            |e| matches!(e, LtiaasError::BadResponse(_)),
            true,
        ),
        (
            status(200, Some(&"x".repeat(MAX_RESPONSE_BYTES + 1)), None),
            |e| e.to_string().contains("exceeds"),
            true,
        ),
        // The configuration moved, not the request: not retried.
        (
            FaultAction::Redirect {
                status: 301,
                location: "https://elsewhere.example/api/lineitems".into(),
            },
            |e| {
                matches!(e, LtiaasError::Redirected { status: 301, location }
                    if location == "https://elsewhere.example/api/lineitems")
            },
            false,
        ),
    ];
    for (action, check, retryable) in cases {
        sim.inject(Fault::on(Route::ListLineItems, action.clone(), Some(1)));
        let err = client
            .list_line_items(&key, "link-1", None, None)
            .await
            .unwrap_err();
        assert!(check(&err), "{action:?} gave {err:?}");
        assert_eq!(err.is_retryable(), retryable, "{action:?}");
    }
}

#[tokio::test]
async fn the_simulator_refuses_bearer_and_missing_auth_on_service_endpoints() {
    let (sim, _, _) = setup().await;
    let http = reqwest::Client::new();
    for auth in [Some(format!("Bearer {}", sim.api_key())), None] {
        let mut request = http.get(format!("{}/api/lineitems", sim.url()));
        if let Some(a) = &auth {
            request = request.header("Authorization", a);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["status"], 401);
        assert!(body["details"]["message"].is_string());
    }
}

#[tokio::test]
async fn secrets_echoed_back_never_reach_an_error_message() {
    let sim = Simulator::start().await.unwrap();
    let secret_key = "svc-SECRET-0123456789abcdef0123456789";
    sim.add_launch(LaunchSpec::new("p", "c", "link-1", Some(secret_key)));
    let client = client(&sim, &sim.api_key());
    let api_key = sim.api_key();
    // Place the cut at MAX_MESSAGE_CHARS inside the echoed service key, so
    // shortening before redacting would leak its first characters.
    let before_key = "Authorization: SERVICE-AUTH-V1 ".len() + api_key.len() + 1;
    let padding = MAX_MESSAGE_CHARS - before_key - 14;
    for status in [400, 401, 403, 500] {
        let echo = FaultAction::EchoAuthorization { status, padding };
        sim.inject(Fault::on(Route::ListLineItems, echo, Some(1)));
        let err = client
            .list_line_items(&ServiceKey::new(secret_key), "link-1", None, None)
            .await
            .unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(
            text.contains("[redacted]"),
            "{status}: the echo was there: {text}"
        );
        for secret in [secret_key, api_key.as_str()] {
            assert!(
                !text.contains(&secret[..12]),
                "{status}: part of a secret leaked: {text}"
            );
        }
    }
}

#[tokio::test]
async fn a_refused_api_key_is_told_apart_from_a_refused_service_key() {
    let (sim, _, key) = setup().await;
    let err = client(&sim, "rotated-key")
        .list_line_items(&key, "link-1", None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, LtiaasError::ApiKeyRefused(_)), "{err}");
}

/// Success is what the contract says: 204, or a 2xx with an empty or JSON
/// body. A 200 carrying an HTML page (a captive portal, a WAF, a wrong
/// LTIAAS_URL) did not record the score.
#[tokio::test]
async fn a_score_is_accepted_only_with_an_empty_or_json_success_body() {
    let (sim, client, key) = setup().await;
    let line_item = sim.add_line_item("p", "c", item("link-1", 1));
    let score = Grade::new("u", 5.0, 10.0)
        .unwrap()
        .to_score(ScoreDialect::Standard);
    let reply = |status: u16, body: &str| FaultAction::Status {
        status,
        body: Some(body.to_owned()),
        retry_after: None,
    };
    for (action, accepted) in [
        (
            reply(200, "<html><body>Sign in to the Wi-Fi</body></html>"),
            false,
        ),
        (reply(200, "OK"), false),
        (reply(200, ""), true),
        (reply(200, "{\"ok\":true}"), true),
        (reply(201, "  "), true),
    ] {
        sim.inject(Fault::on(Route::PostScore, action.clone(), Some(1)));
        let result = client.post_score(&key, &line_item, &score).await;
        match result {
            Ok(()) => assert!(accepted, "{action:?} was taken as accepted"),
            Err(e) => {
                assert!(!accepted, "{action:?}: {e}");
                assert!(matches!(e, LtiaasError::BadResponse(_)), "{e}");
                assert!(e.is_retryable());
            }
        }
    }
    // Without a fault the simulator answers 204.
    client.post_score(&key, &line_item, &score).await.unwrap();
}

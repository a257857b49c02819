//! What the sync retries, for how long, and what stops it: budgets, stale
//! keys, a refused API key, answers that break the contract.

use super::*;

#[tokio::test]
async fn transient_failures_are_retried_within_the_budget() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    let users = ["u-429", "u-5xx", "u-timeout", "u-drop", "u-throttle"];
    for (i, u) in users.iter().enumerate() {
        stack.grade(&ids, u, i as f64).await;
    }
    let status = |status: u16, body: Option<&str>, retry_after: Option<&str>| FaultAction::Status {
        status,
        body: body.map(Into::into),
        retry_after: retry_after.map(Into::into),
    };
    stack.sim.inject(
        Fault::on(Route::PostScore, status(429, None, Some("1")), Some(1)).for_user("u-429"),
    );
    stack
        .sim
        .inject(Fault::on(Route::PostScore, status(503, None, None), Some(2)).for_user("u-5xx"));
    stack.sim.inject(
        Fault::on(
            Route::PostScore,
            FaultAction::Delay { millis: 1500 },
            Some(1),
        )
        .for_user("u-timeout"),
    );
    stack
        .sim
        .inject(Fault::on(Route::PostScore, FaultAction::Drop, Some(2)).for_user("u-drop"));
    stack.sim.inject(
        Fault::on(
            Route::PostScore,
            status(403, Some("403 Forbidden (Rate Limit Exceeded)"), None),
            Some(1),
        )
        .for_user("u-throttle"),
    );
    stack.sim.inject(Fault::on(
        Route::ListLineItems,
        status(502, None, None),
        Some(1),
    ));
    let mut env = stack.env();
    env.insert("LTIAAS_TIMEOUT_MS".into(), "500".into());
    let summary = stack.run(Via::Handler, &env).await;
    assert_eq!(summary["gradesPosted"], 5, "{summary}");
    assert!(summary["retries"].as_u64().unwrap() >= 8, "{summary}");
    for u in users {
        assert!(is_synced(&stack.item(&ids, u).await), "{u}");
        assert!(!stack.received_for(u).is_empty(), "{u} arrived");
    }
    // Retry-After was honoured: the retry came at least a second later.
    let arrivals: Vec<u64> = stack
        .sim
        .arrivals()
        .iter()
        .filter(|a| a.user_id.as_deref() == Some("u-429"))
        .map(|a| a.at_ms)
        .collect();
    assert_eq!(arrivals.len(), 2);
    assert!(arrivals[1] - arrivals[0] >= 1000, "{arrivals:?}");
}

#[tokio::test]
async fn an_exhausted_retry_budget_leaves_the_grade_pending_not_lost() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    stack.grade(&ids, "down", 1.0).await;
    stack.grade(&ids, "fine", 2.0).await;
    stack
        .sim
        .inject(Fault::status(Route::PostScore, 500, None).for_user("down"));
    let mut env = stack.env();
    env.insert("SYNC_MAX_ATTEMPTS".into(), "3".into());
    let summary = stack.run(Via::Handler, &env).await;
    assert_eq!(summary["gradesPosted"], 1, "{summary}");
    assert_eq!(summary["pendingReasons"]["retriesExhausted"], 1);
    let down = stack.item(&ids, "down").await;
    assert_eq!(
        s(&down, "pending"),
        Some(format!("ACT#{}", ids.key()).as_str())
    );
    assert!(
        s(&down, "lastError").unwrap().contains("HTTP 500"),
        "{down:?}"
    );
    let attempts = stack
        .sim
        .arrivals()
        .iter()
        .filter(|a| a.user_id.as_deref() == Some("down"))
        .count();
    assert_eq!(attempts, 3);
    stack.sim.clear_faults();
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 1);
    assert!(is_synced(&stack.item(&ids, "down").await));
}

#[tokio::test]
async fn a_stale_key_needs_a_relaunch_while_other_activities_sync() {
    for via in [Via::Handler, Via::Binary] {
        let stack = Stack::start().await;
        let stale = stack.launch("p", "c", "stale", Some("old-key")).await;
        let healthy = stack.launch("p", "c", "healthy", Some("good-key")).await;
        for u in ["u1", "u2", "u3"] {
            stack.grade(&stale, u, 1.0).await;
            stack.grade(&healthy, u, 2.0).await;
        }
        stack.sim.make_service_key_stale("old-key");
        let summary = stack.run(via, &stack.env()).await;
        assert_eq!(summary["gradesPosted"], 3, "{via:?}: {summary}");
        assert_eq!(summary["pendingReasons"]["needsRelaunch"], 3);
        assert_eq!(summary["activitiesNeedingRelaunch"], 1);
        let activity = stack.activity_item(&stale).await;
        assert!(s(&activity, "needsRelaunch").is_some(), "{activity:?}");
        let requests_with_old_key = stack
            .sim
            .requests()
            .iter()
            .filter(|r| {
                r.route != Route::Memberships
                    && r.authorization
                        .as_deref()
                        .is_some_and(|a| a.ends_with(":old-key"))
            })
            .count();
        // The roster read comes first; its 401 only means "no roster
        // check"; the first post's 401 then marks the key.
        assert_eq!(
            requests_with_old_key, 1,
            "no further calls once the key was refused"
        );
        // A later run does not even try.
        let summary = stack.run(via, &stack.env()).await;
        assert_eq!(summary["pendingReasons"]["needsRelaunch"], 3, "{summary}");
        assert_eq!(summary["activitiesNeedingRelaunch"], 1);
        // A relaunch brings a fresh key and clears the mark; the next run posts.
        stack.launch("p", "c", "stale", Some("fresh-key")).await;
        assert!(s(&stack.activity_item(&stale).await, "needsRelaunch").is_none());
        let summary = stack.run(via, &stack.env()).await;
        assert_eq!(summary["gradesPosted"], 3, "{summary}");
        for u in ["u1", "u2", "u3"] {
            assert!(is_synced(&stack.item(&stale, u).await));
        }
        assert!(
            stack
                .sim
                .scores()
                .iter()
                .filter(|s| s.service_key == "fresh-key")
                .count()
                == 3
        );
    }
}

#[tokio::test]
async fn a_refused_api_key_stops_the_run_and_marks_nothing() {
    for via in [Via::Handler, Via::Binary] {
        let stack = Stack::start().await;
        let a = stack.launch("p", "c", "a", Some("key-a")).await;
        let b = stack.launch("p2", "c", "b", Some("key-b")).await;
        let c = stack.launch("p3", "c", "c", Some("key-c")).await;
        // Line items already known (the usual case after a first run): the
        // refusal comes on a score post, not while listing line items.
        for ids in [&a, &b, &c] {
            stack.grade(ids, "u0", 1.0).await;
        }
        stack.run(Via::Handler, &stack.env()).await;
        for u in ["u1", "u2"] {
            for ids in [&a, &b, &c] {
                stack.grade(ids, u, 1.0).await;
            }
        }
        let before = stack.sim.requests().len();
        let mut env = stack.env();
        env.insert("LTIAAS_API_KEY".into(), "a-rotated-api-key".into());
        env.insert("SYNC_CONCURRENCY".into(), "1".into());
        let rig = SyncRig::start(via, &env).await;
        match &rig {
            SyncRig::Engine(_) => {
                let summary = rig.engine_summary(&event_file("schedule.json"), LONG).await;
                assert_eq!(summary["pendingReasons"]["apiKeyRefused"], 6, "{summary}");
                assert_eq!(summary["activitiesNeedingRelaunch"], 0);
                assert_eq!(
                    summary["requests"], 1,
                    "no call after the refusal: {summary}"
                );
            }
            SyncRig::Binary(api, process) => {
                let outcome = process
                    .lock()
                    .await
                    .invoke(api, event_file("schedule.json"), LONG)
                    .await;
                let ltisync_tests::runtime_api::Outcome::Error(error) = outcome else {
                    panic!("the invocation should fail so the alarm fires: {outcome:?}")
                };
                assert!(error.to_string().contains("API key"), "{error}");
                assert_eq!(error["errorType"], "ApiKeyRefused", "{error}");
            }
        }
        rig.finish().await;
        assert_eq!(
            stack.sim.requests().len() - before,
            1,
            "{via:?}: one refused call"
        );
        for ids in [&a, &b, &c] {
            assert!(
                s(&stack.activity_item(ids).await, "needsRelaunch").is_none(),
                "keys are fine"
            );
            let item = stack.item(ids, "u1").await;
            assert!(item.contains_key("pending"));
            assert!(
                !item.contains_key("lastError"),
                "nothing written on the grades"
            );
        }
        assert!(stack.received_for("u1").is_empty() && stack.received_for("u2").is_empty());
    }
}

#[tokio::test]
async fn the_run_retry_budget_caps_retries_over_all_grades() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    for u in 0..5 {
        stack.grade(&ids, &format!("u{u}"), 1.0).await;
    }
    stack.run(Via::Handler, &stack.env()).await; // line item created and cached
    for u in 0..5 {
        stack.grade(&ids, &format!("u{u}"), 2.0).await;
    }
    stack.sim.inject(Fault::status(Route::PostScore, 503, None));
    let mut env = stack.env();
    env.insert("SYNC_RETRY_BUDGET".into(), "2".into());
    env.insert("SYNC_CONCURRENCY".into(), "1".into());
    let summary = stack.run(Via::Handler, &env).await;
    assert_eq!(summary["retries"], 2, "{summary}");
    assert_eq!(summary["pendingReasons"]["retriesExhausted"], 5);
    let posts = stack
        .sim
        .requests()
        .iter()
        .filter(|r| r.route == Route::PostScore && r.status == Some(503))
        .count();
    assert_eq!(
        posts,
        5 + 2,
        "one attempt each, plus the two retries the budget allowed"
    );
}

/// A 200 with an HTML page is not LTIaaS accepting a score: retried, then
/// pending with the reason, never SYNCED.
#[tokio::test]
async fn an_html_page_with_200_is_not_an_accepted_score() {
    let (stack, ids) = Stack::with_grades(3).await;
    stack.sim.inject(Fault::on(
        Route::PostScore,
        FaultAction::Status {
            status: 200,
            body: Some("<html><title>Sign in to Wi-Fi</title></html>".into()),
            retry_after: None,
        },
        None,
    ));
    let mut env = stack.env();
    env.insert("SYNC_MAX_ATTEMPTS".into(), "2".into());
    let summary = stack.run(Via::Binary, &env).await;
    assert_eq!(summary["gradesPosted"], 0, "{summary}");
    assert_eq!(
        summary["pendingReasons"]["retriesExhausted"], 3,
        "{summary}"
    );
    assert_eq!(summary["retries"], 3, "each post tried twice: {summary}");
    for u in users(3) {
        let item = stack.item(&ids, &u).await;
        assert!(item.contains_key("pending"), "{u}");
        let reason = s(&item, "lastError").unwrap();
        assert!(
            reason.contains("neither empty nor JSON") && reason.contains("Sign in"),
            "{reason}"
        );
    }
}

/// A redirect means LTIaaS or the configuration moved: the grades stay
/// pending with the Location, the run stops calling LTIaaS, the summary
/// counts it, and the invocation fails so the errors alarm fires.
#[tokio::test]
async fn a_redirect_leaves_grades_pending_and_fails_the_invocation() {
    let (stack, ids) = Stack::with_grades(4).await;
    stack.sim.inject(Fault::on(
        Route::PostScore,
        FaultAction::Redirect {
            status: 301,
            location: "https://new-home.example/api".into(),
        },
        None,
    ));
    let mut env = stack.env();
    env.insert("SYNC_CONCURRENCY".into(), "1".into());
    let engine = SyncRig::start(Via::Handler, &env).await;
    let summary = engine
        .engine_summary(&event_file("schedule.json"), LONG)
        .await;
    assert_eq!(
        summary["pendingReasons"]["ltiaasRedirected"], 4,
        "{summary}"
    );
    assert_eq!(summary["gradesFailed"], 0, "{summary}");
    let posts = |sim: &Simulator| {
        sim.requests()
            .iter()
            .filter(|r| r.route == Route::PostScore)
            .count()
    };
    assert_eq!(posts(&stack.sim), 1, "no call after the redirect");
    for u in users(4) {
        let item = stack.item(&ids, &u).await;
        assert!(item.contains_key("pending"), "{u}");
        assert!(
            s(&item, "lastError")
                .unwrap()
                .contains("https://new-home.example/api"),
            "{item:?}"
        );
    }
    let SyncRig::Binary(api, process) = SyncRig::start(Via::Binary, &env).await else {
        unreachable!()
    };
    let outcome = process
        .lock()
        .await
        .invoke(&api, event_file("schedule.json"), LONG)
        .await;
    let Outcome::Error(error) = outcome else {
        panic!("the invocation should fail so the errors alarm fires: {outcome:?}")
    };
    assert_eq!(
        error["errorType"], "LtiaasRedirected",
        "the kind CloudWatch shows"
    );
    assert!(error.to_string().contains("redirect"), "{error}");
    assert_eq!(posts(&stack.sim), 2);
    process.into_inner().stop().await;
}

/// A score the LMS refuses as no newer than the one it holds (409 from
/// Moodle for the same second, and Canvas's stale-timestamp 400) is retried
/// after a whole second and, still refused, left pending: never FAILED.
#[tokio::test]
async fn a_score_refused_as_not_newer_is_retried_and_never_fails() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    for u in ["u-once", "u-canvas", "u-always"] {
        stack.grade(&ids, u, 70.0).await;
    }
    let refused = |status: u16, body: &str| FaultAction::Status {
        status,
        body: Some(body.into()),
        retry_after: None,
    };
    let canvas = r#"{"errors":{"message":"Provided timestamp of 2026-12-04T10:00:00.2Z before last updated timestamp of 2026-12-04T10:00:00.5Z"}}"#;
    let inject = |action, times, user| {
        stack
            .sim
            .inject(Fault::on(Route::PostScore, action, times).for_user(user))
    };
    inject(refused(409, "Conflict"), Some(1), "u-once");
    inject(refused(400, canvas), Some(1), "u-canvas");
    inject(refused(409, "Conflict"), None, "u-always");
    let mut env = stack.env();
    env.insert("SYNC_MAX_ATTEMPTS".into(), "2".into());
    let summary = stack.run(Via::Handler, &env).await;
    assert_eq!(summary["gradesPosted"], 2, "{summary}");
    assert_eq!(summary["gradesFailed"], 0, "{summary}");
    assert_eq!(summary["pendingReasons"]["lmsHoldsNewer"], 1, "{summary}");
    for u in ["u-once", "u-canvas"] {
        assert!(is_synced(&stack.item(&ids, u).await), "{u}");
        assert_eq!(
            stack.received_for(u).len(),
            1,
            "{u}: posted once more, accepted"
        );
    }
    let waiting = stack.item(&ids, "u-always").await;
    assert_eq!(s(&waiting, "syncStatus"), Some("PENDING"), "{waiting:?}");
    assert_eq!(s(&waiting, "lastErrorCode"), Some("lmsHoldsNewer"));
    // The retry came a whole second after the refusal.
    let arrivals: Vec<u64> = stack
        .sim
        .arrivals()
        .iter()
        .filter(|a| a.user_id.as_deref() == Some("u-once"))
        .map(|a| a.at_ms)
        .collect();
    assert_eq!(arrivals.len(), 2, "{arrivals:?}");
    assert!(arrivals[1] - arrivals[0] >= 1000, "{arrivals:?}");
}

/// Open edX refuses a score equal to the one it holds (400 "Score already
/// exists"): the gradebook shows that very value, so the grade is SYNCED,
/// not FAILED, when the tool writes the same value again.
#[tokio::test]
async fn a_score_the_lms_already_holds_is_synced_not_failed() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    stack.sim.set_profile("p", LmsProfile::OpenEdx);
    stack.grade(&ids, "u1", 70.0).await;
    let first = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(first["gradesPosted"], 1, "{first}");
    stack.grade(&ids, "u1", 70.0).await;
    let again = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(again["gradesFailed"], 0, "{again}");
    assert!(is_synced(&stack.item(&ids, "u1").await));
    assert_eq!(stack.received_for("u1").len(), 1, "the LMS keeps one score");
}

/// A post applied at the LMS whose answer was lost (the connection ended,
/// or the relay answered 504) is not sent again blindly: the retry reads
/// the user's result first and, seeing the value there, settles the grade
/// with the one post the LMS applied.
#[tokio::test]
async fn a_post_applied_but_unanswered_is_read_back_not_repeated() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    for (u, action) in [
        ("u-dropped", FaultAction::ApplyThenDrop),
        ("u-504", FaultAction::ApplyThenStatus { status: 504 }),
    ] {
        stack.grade(&ids, u, 80.0).await;
        stack
            .sim
            .inject(Fault::on(Route::PostScore, action, Some(1)).for_user(u));
    }
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 2, "{summary}");
    for u in ["u-dropped", "u-504"] {
        assert_eq!(stack.received_for(u).len(), 1, "{u}: applied once");
        assert!(is_synced(&stack.item(&ids, u).await), "{u}");
    }
    let read_back = stack
        .sim
        .arrivals()
        .iter()
        .filter(|a| a.route == Route::ListResults)
        .count();
    assert_eq!(read_back, 2, "one read back per lost answer");
}

/// Where the result cannot be read back (here the LMS refuses the results
/// service), the retry posts as it always did.
#[tokio::test]
async fn without_a_readable_result_the_retry_posts_again() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    stack.grade(&ids, "ada", 80.0).await;
    stack
        .sim
        .inject(Fault::on(Route::PostScore, FaultAction::ApplyThenDrop, Some(1)).for_user("ada"));
    let refused = FaultAction::Status {
        status: 403,
        body: None,
        retry_after: None,
    };
    stack
        .sim
        .inject(Fault::on(Route::ListResults, refused, None));
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 1, "{summary}");
    assert_eq!(stack.received_for("ada").len(), 2, "posted again");
    assert!(is_synced(&stack.item(&ids, "ada").await));
}

//! Finding, creating, caching and re-resolving each activity's line item.

use super::*;

#[tokio::test]
async fn a_missing_line_item_is_created_and_cached() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    stack.grade(&ids, "u1", 50.0).await;
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["lineItemsCreated"], 1, "{summary}");
    let items = stack.sim.line_items("p", "c");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].label, "Quiz link", "the activity title");
    assert_eq!(items[0].score_maximum, 100.0);
    assert_eq!(items[0].resource_link_id.as_deref(), Some("link"));
    assert_eq!(
        s(&stack.activity_item(&ids).await, "lineItemId"),
        Some(items[0].id.as_str())
    );
    // The next run uses the cache: no listing, no creation.
    stack.grade(&ids, "u2", 60.0).await;
    let before = stack.sim.requests().len();
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 1);
    let routes: Vec<Route> = stack.sim.requests()[before..]
        .iter()
        .map(|r| r.route)
        .collect();
    // The roster read (once per activity per run), then the post.
    assert_eq!(routes, vec![Route::Memberships, Route::PostScore]);
    assert_eq!(stack.sim.created_line_items(), 1);
}

#[tokio::test]
async fn line_items_are_matched_by_resource_id_and_tag() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    stack.prefer(&ids, Some("quiz-7"), Some("final")).await;
    for n in 0..5 {
        let draft = format!("draft-{n}");
        stack.sim.add_line_item(
            "p",
            "c",
            line_item(&format!("Other {n}"), Some("quiz-7"), Some(&draft)),
        );
    }
    stack.sim.add_line_item(
        "p",
        "c",
        line_item("Other quiz", Some("quiz-8"), Some("final")),
    );
    let wanted = stack.sim.add_line_item(
        "p",
        "c",
        line_item("The one", Some("quiz-7"), Some("final")),
    );
    stack.grade(&ids, "u1", 5.0).await;
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 1, "{summary}");
    assert_eq!(summary["lineItemsCreated"], 0);
    assert_eq!(stack.sim.scores()[0].line_item_id, wanted);
    assert_eq!(
        s(&stack.activity_item(&ids).await, "lineItemId"),
        Some(wanted.as_str())
    );
}

#[tokio::test]
async fn listing_follows_next_pages_until_a_match() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    stack.prefer(&ids, None, Some("final")).await;
    stack.sim.set_page_size(2);
    // An LMS that ignores the tag filter: items of other tags come back too.
    stack.sim.ignore_filters(true);
    for n in 0..4 {
        stack
            .sim
            .add_line_item("p", "c", line_item(&format!("Draft {n}"), None, None));
    }
    let wanted = stack
        .sim
        .add_line_item("p", "c", line_item("Final", None, Some("final")));
    stack.grade(&ids, "u1", 5.0).await;
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 1, "{summary}");
    assert_eq!(summary["lineItemsCreated"], 0);
    let lists = stack
        .sim
        .requests()
        .iter()
        .filter(|r| r.route == Route::ListLineItems)
        .count();
    assert_eq!(lists, 3, "pages 1, 2 and 3 were read");
    assert_eq!(stack.sim.scores()[0].line_item_id, wanted);
}

#[tokio::test]
async fn a_cached_line_item_that_404s_is_resolved_again() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    stack.grade(&ids, "u1", 1.0).await;
    stack.run(Via::Handler, &stack.env()).await;
    let old = stack.sim.scores()[0].line_item_id.clone();
    stack.sim.delete_line_item(&old);
    stack.grade(&ids, "u1", 2.0).await;
    stack.grade(&ids, "u2", 3.0).await;
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 2, "{summary}");
    assert_eq!(summary["lineItemsCreated"], 1);
    let fresh = s(&stack.activity_item(&ids).await, "lineItemId")
        .unwrap()
        .to_owned();
    assert_ne!(fresh, old);
    assert!(stack.sim.scores()[1..]
        .iter()
        .all(|s| s.line_item_id == fresh));
}

#[tokio::test]
async fn a_manual_column_without_a_link_is_never_adopted() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "link", Some("k")).await;
    stack.sim.ignore_filters(true);
    let manual = stack.sim.add_line_item(
        "p",
        "c",
        SimLineItem {
            id: String::new(),
            label: "Attendance".into(),
            score_maximum: 5.0,
            resource_link_id: None,
            resource_id: None,
            tag: None,
        },
    );
    stack.grade(&ids, "u1", 50.0).await;
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 1, "{summary}");
    assert_eq!(summary["lineItemsCreated"], 1);
    assert_ne!(stack.sim.scores()[0].line_item_id, manual);
}

// ---- Faulty dependencies (DynamoDB through a fault proxy, LTIaaS misbehaving)

/// An LMS whose line item pages link back to themselves costs two listing
/// requests, not a hundred, and the reason is on the grade.
#[tokio::test]
async fn line_item_pages_that_loop_stop_at_the_first_repeat() {
    let (stack, ids) = Stack::with_grades(2).await;
    stack.sim.inject(Fault::on(
        Route::ListLineItems,
        FaultAction::LoopingPages,
        None,
    ));
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(
        summary["pendingReasons"]["lineItemUnavailable"], 2,
        "{summary}"
    );
    let listings = stack
        .sim
        .requests()
        .iter()
        .filter(|r| r.route == Route::ListLineItems)
        .count();
    assert_eq!(listings, 2, "first page, then the page that repeats");
    assert_eq!(stack.sim.created_line_items(), 0, "no column created blind");
    let reason = s(&stack.item(&ids, "u00").await, "lastError")
        .unwrap()
        .to_owned();
    assert!(reason.contains("repeats a page already read"), "{reason}");
}

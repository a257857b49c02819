//! Scores the gradebook records as the instructor expects: on time
//! (submission times, Canvas's extension), only for active learners (the
//! course roster), with the LMS's own words when it refuses, and within the
//! scopes the platform granted. Every scenario runs against the simulator
//! and checks the bodies it received and the items left in DynamoDB.

use aws_sdk_dynamodb::types::AttributeValue;
use ltisync::Grade;
use ltisync_tests::rigs::{event_file, SyncRig, Via};
use std::time::Duration;

use ltisync_tests::simulator::{
    Arrival, Fault, FaultAction, LaunchSpec, LmsProfile, Route, SimLineItem, SimMember,
    NOT_A_STUDENT, SCOPE_LINE_ITEM, SCOPE_SCORE,
};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::helpers::{documented_grade, is_synced, s, Item, Stack, LONG};

fn at(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap()
}

fn text(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn requests_with_key(stack: &Stack, key: &str) -> Vec<Route> {
    stack
        .sim
        .requests()
        .iter()
        .filter(|r| {
            r.authorization
                .as_deref()
                .is_some_and(|a| a.ends_with(&format!(":{key}")))
        })
        .map(|r| r.route)
        .collect()
}

#[tokio::test]
async fn submission_times_reach_canvas_and_other_lmss_in_their_own_form() {
    let stack = Stack::start().await;
    let canvas = stack.launch("canvas", "c", "quiz", Some("k-canvas")).await;
    let mut moodle_spec = LaunchSpec::new("moodle", "c", "quiz", Some("k-moodle"));
    moodle_spec.product_family_code = "moodle".into();
    let moodle = stack.launch_as(moodle_spec).await;
    let late = Grade::new("ada", 9.0, 10.0).unwrap().with_submission(
        Some(at("2026-11-20T09:00:00+01:00")),
        Some(at("2026-11-20T09:45:12.25Z")),
    );
    stack.store.record_grade(&canvas, &late).await.unwrap();
    stack.store.record_grade(&moodle, &late).await.unwrap();
    stack.grade(&canvas, "bob", 5.0).await;
    stack
        .put(documented_grade(
            &canvas,
            "cy",
            &[("submittedAt", text("last Tuesday"))],
        ))
        .await;

    let summary = stack.run(Via::Binary, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 3, "{summary}");
    assert_eq!(summary["gradesFailed"], 1, "{summary}");

    let body = |platform: &str, user: &str| {
        let scores: Vec<_> = stack
            .received_for(user)
            .into_iter()
            .filter(|r| r.platform_id == platform)
            .collect();
        assert_eq!(scores.len(), 1, "{platform} {user}");
        scores[0].body.clone()
    };
    let submission = json!({"startedAt": "2026-11-20T08:00:00Z",
                            "submittedAt": "2026-11-20T09:45:12.25Z"});
    assert_eq!(
        body("canvas", "ada"),
        json!({"userId": "ada", "activityProgress": "Completed", "gradingProgress": "FullyGraded",
               "scoreGiven": 9.0, "scoreMaximum": 10.0, "submission": submission,
               "https://canvas.instructure.com/lti/submission":
                   {"submitted_at": "2026-11-20T09:45:12.25Z", "new_submission": true}})
    );
    assert_eq!(
        body("moodle", "ada"),
        json!({"userId": "ada", "activityProgress": "Completed", "gradingProgress": "FullyGraded",
               "scoreGiven": 9.0, "scoreMaximum": 10.0, "submission": submission})
    );
    let bob = body("canvas", "bob");
    assert!(
        bob.get("submission").is_none() && bob.as_object().unwrap().len() == 7,
        "{bob}"
    );
    assert_eq!(
        bob["https://canvas.instructure.com/lti/submission"],
        json!({"new_submission": true}),
        "Canvas is told the first post of a grade starts an attempt"
    );

    let ada = stack.item(&canvas, "ada").await;
    assert!(is_synced(&ada), "{ada:?}");
    assert_eq!(s(&ada, "submittedAt"), Some("2026-11-20T09:45:12.25Z"));
    let cy = stack.item(&canvas, "cy").await;
    assert_eq!(s(&cy, "syncStatus"), Some("FAILED"));
    let reason = s(&cy, "lastError").unwrap();
    assert!(
        reason.contains("submittedAt 'last Tuesday' is not an RFC 3339 time"),
        "{reason}"
    );
    assert!(stack.received_for("cy").is_empty());
    let activity = stack.activity_item(&canvas).await;
    assert_eq!(s(&activity, "productFamilyCode"), Some("canvas"));
}

/// A course of six on an LMS that ignores the role filter (so ltisync
/// itself must tell learners apart), two pages at a time.
fn course() -> Vec<SimMember> {
    vec![
        SimMember::new("ada", "Learner"),
        SimMember::new("tim", "Instructor"),
        SimMember::new("bob", "Learner"),
        SimMember::new("ina", "Learner").with_status("Inactive"),
        SimMember::new("del", "Learner").with_status("Deleted"),
        SimMember::new("carl", "Learner"),
    ]
}

#[tokio::test]
async fn only_active_learners_get_scores_and_each_roster_is_read_once() {
    for via in [Via::Handler, Via::Binary] {
        let stack = Stack::start().await;
        stack.sim.set_page_size(2);
        stack.sim.ignore_filters(true);
        stack.sim.set_roster("p", "c", course());
        stack.sim.set_roster("p", "c2", course());
        let quiz = stack.launch("p", "c", "quiz", Some("k1")).await;
        // Another course: a course's roster read may serve its other
        // activities (see the next test), which would make counts racy here.
        let essay = stack.launch("p", "c2", "essay", Some("k2")).await;
        for user in ["ada", "bob", "tim", "ina", "del", "test-student"] {
            stack.grade(&quiz, user, 7.0).await;
        }
        stack.grade(&essay, "carl", 3.0).await;

        let summary = stack.run(via, &stack.env()).await;
        assert_eq!(summary["gradesPosted"], 3, "{via:?}: {summary}");
        assert_eq!(summary["gradesFailed"], 4, "{summary}");
        assert_eq!(summary["gradesNotLearners"], 4, "{summary}");
        assert_eq!(summary["rostersRead"], 2, "{summary}");
        assert_eq!(summary["rostersUnavailable"], 0, "{summary}");

        let mut posted: Vec<String> = stack
            .sim
            .scores()
            .iter()
            .map(|r| r.body["userId"].as_str().unwrap().to_owned())
            .collect();
        posted.sort();
        assert_eq!(posted, ["ada", "bob", "carl"]);
        let score_posts = stack
            .sim
            .requests()
            .iter()
            .filter(|r| r.route == Route::PostScore)
            .count();
        assert_eq!(score_posts, 3, "no call to the LMS for anyone else");
        for (user, words) in [
            ("tim", "without the Learner role (Instructor)"),
            ("ina", "inactive in the course"),
            ("del", "deleted in the course"),
            ("test-student", "not on the course's learner roster"),
        ] {
            let item = stack.item(&quiz, user).await;
            assert_eq!(s(&item, "syncStatus"), Some("FAILED"), "{user}");
            assert_eq!(s(&item, "lastErrorCode"), Some("notALearner"), "{user}");
            assert!(!item.contains_key("pending") && !item.contains_key("lastHttpStatus"));
            let reason = s(&item, "lastError").unwrap();
            assert!(
                reason.starts_with(&format!("NOT_A_LEARNER: user '{user}' is"))
                    && reason.contains(words),
                "{user}: {reason}"
            );
        }
        // Each activity reads the whole roster (three pages) once.
        for key in ["k1", "k2"] {
            let memberships = stack
                .sim
                .requests()
                .into_iter()
                .filter(|r| r.route == Route::Memberships)
                .filter(|r| {
                    r.authorization
                        .as_deref()
                        .unwrap()
                        .ends_with(&format!(":{key}"))
                })
                .collect::<Vec<_>>();
            assert_eq!(memberships.len(), 3, "{key}");
            assert_eq!(
                memberships[0].query.as_deref(),
                Some("role=Learner&limit=1000")
            );
            assert!(memberships[1..].iter().all(|r| r
                .query
                .as_deref()
                .unwrap()
                .starts_with("url=")));
        }
    }
}

#[tokio::test]
async fn an_unreadable_roster_leaves_posting_as_it_was_and_is_counted() {
    let stack = Stack::start().await;
    let mut no_nrps = LaunchSpec::new("p", "c1", "quiz", Some("k1"));
    no_nrps.names_and_roles = Some(false);
    let offline = stack.launch_as(no_nrps).await;
    // No roster in the simulator: 403 SERVICE_NOT_AVAILABLE_FOR_CONTEXT.
    let refused = stack.launch("p", "c2", "quiz", Some("k2")).await;
    let missing = stack.launch("p", "c3", "quiz", Some("k3")).await;
    stack.sim.set_roster("p", "c3", course());
    stack
        .sim
        .inject(Fault::status(Route::Memberships, 404, None).for_service_key("k3"));
    for ids in [&offline, &refused, &missing] {
        stack.grade(ids, "ada", 4.0).await;
    }

    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 3, "{summary}");
    assert_eq!(summary["rostersUnavailable"], 3, "{summary}");
    assert_eq!(summary["rostersRead"], 0, "{summary}");
    assert_eq!(
        requests_with_key(&stack, "k1"),
        [
            Route::ListLineItems,
            Route::CreateLineItem,
            Route::PostScore
        ],
        "no memberships call where the LMS offers no names and roles"
    );
    let refused_calls = requests_with_key(&stack, "k2");
    assert_eq!(
        refused_calls
            .iter()
            .filter(|r| **r == Route::Memberships)
            .count(),
        1
    );
    let activity = stack.activity_item(&offline).await;
    assert_eq!(
        activity.get("namesAndRolesAvailable"),
        Some(&AttributeValue::Bool(false))
    );
    for ids in [&offline, &refused, &missing] {
        assert!(is_synced(&stack.item(ids, "ada").await));
    }
}

#[tokio::test]
async fn the_lms_refusal_reaches_last_error_in_its_own_words() {
    let stack = Stack::start().await;
    stack.sim.set_roster("p", "c", course());
    let quiz = stack.launch("p", "c", "quiz", Some("k")).await;
    stack.grade(&quiz, "tim", 2.0).await;
    stack.grade(&quiz, "ada", 9.0).await;
    let concluded = r#"{"status":400,"error":"Bad Request","details":{"errors":[{"message":"Course has concluded"}]}}"#;
    stack.sim.inject(
        Fault::on(
            Route::PostScore,
            FaultAction::Status {
                status: 400,
                body: Some(concluded.into()),
                retry_after: None,
            },
            None,
        )
        .for_user("ada"),
    );
    let mut env = stack.env();
    env.insert("SYNC_ROSTER_CHECK".into(), "false".into());

    let summary = stack.run(Via::Binary, &env).await;
    assert_eq!(summary["gradesFailed"], 2, "{summary}");
    assert_eq!(summary["gradesNotLearners"], 0, "{summary}");
    assert!(stack
        .sim
        .requests()
        .iter()
        .all(|r| r.route != Route::Memberships));
    let tim = stack.item(&quiz, "tim").await;
    let tim_reason = s(&tim, "lastError").unwrap();
    assert!(
        tim_reason.contains(&format!("the LMS said: {NOT_A_STUDENT}")),
        "{tim_reason}"
    );
    assert_eq!(
        tim.get("lastHttpStatus"),
        Some(&AttributeValue::N("422".into()))
    );
    let ada = stack.item(&quiz, "ada").await;
    assert!(
        s(&ada, "lastError")
            .unwrap()
            .contains("Course has concluded"),
        "{ada:?}"
    );
}

/// A gradebook column of the course, for `link`.
fn column_of(link: &str, label: &str, score_maximum: f64) -> SimLineItem {
    SimLineItem {
        id: String::new(),
        label: label.into(),
        score_maximum,
        resource_link_id: Some(link.into()),
        resource_id: None,
        tag: None,
    }
}

/// The roster is read page by page, and a page lets the grades of the
/// learners it lists go: a grade whose user the first page lists is posted
/// before the last page is read, and one on the last page after it.
#[tokio::test]
async fn a_roster_page_lets_its_learners_go_before_the_rest_is_read() {
    let stack = Stack::start().await;
    let column = stack
        .sim
        .add_line_item("p", "c", column_of("link", "Quiz", 100.0));
    let mut spec = LaunchSpec::new("p", "c", "link", Some("k"));
    spec.line_item_id = Some(column);
    let ids = stack.launch_as(spec).await;
    let learners = (1..=6).map(|u| SimMember::new(&format!("u{u}"), "Learner"));
    stack.sim.set_roster("p", "c", learners.collect());
    stack.sim.set_page_size(2); // three pages
                                // A first run resolves the line item (cached on the activity).
    stack.grade(&ids, "u2", 20.0).await;
    stack.run(Via::Handler, &stack.env()).await;
    let since = stack.sim.arrivals().last().map_or(0, |a| a.at_ms);
    stack.grade(&ids, "u1", 10.0).await;
    stack.grade(&ids, "u6", 60.0).await;
    // Each roster page takes 300 ms: u1's own round trips (the table's,
    // then its post) fit well inside one page even when every test of the
    // suite runs at once on two cores.
    stack.sim.set_latency(Duration::from_millis(300));
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 2, "{summary}");
    let arrivals = stack.sim.arrivals();
    let at = |route: Route, user: Option<&str>| -> Vec<u64> {
        let of = |a: &&Arrival| {
            a.at_ms > since && a.route == route && (user.is_none() || a.user_id.as_deref() == user)
        };
        arrivals.iter().filter(of).map(|a| a.at_ms).collect()
    };
    let pages = at(Route::Memberships, None);
    assert_eq!(pages.len(), 3, "one read, three pages");
    let (first_post, last_page) = (at(Route::PostScore, Some("u1"))[0], pages[2]);
    assert!(
        first_post < last_page,
        "u1 at {first_post} ms, last page at {last_page} ms"
    );
    assert!(at(Route::PostScore, Some("u6"))[0] > last_page);
}

#[tokio::test]
async fn granted_scopes_decide_which_calls_are_made() {
    let stack = Stack::start().await;
    let column = stack
        .sim
        .add_line_item("p", "c", column_of("named", "Named by the LMS", 10.0));
    let spec = |link: &str, key: &str, scopes: &[&str]| {
        let mut spec = LaunchSpec::new("p", "c", link, Some(key));
        spec.ags_scopes = Some(scopes.iter().map(|s| s.to_string()).collect());
        spec.names_and_roles = Some(false);
        spec
    };
    let mut named_spec = spec("named", "k-named", &[SCOPE_SCORE]);
    named_spec.line_item_id = Some(column.clone());
    let named = stack.launch_as(named_spec).await;
    let no_column = stack
        .launch_as(spec("no-column", "k-no-column", &[SCOPE_SCORE]))
        .await;
    let no_score = stack
        .launch_as(spec("no-score", "k-no-score", &[SCOPE_LINE_ITEM]))
        .await;
    for ids in [&named, &no_column, &no_score] {
        stack.grade(ids, "ada", 6.0).await;
    }

    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 1, "{summary}");
    assert_eq!(summary["gradesFailed"], 2, "{summary}");
    assert_eq!(requests_with_key(&stack, "k-named"), [Route::PostScore]);
    assert_eq!(stack.sim.scores()[0].line_item_id, column);
    assert!(requests_with_key(&stack, "k-no-column").is_empty());
    assert!(requests_with_key(&stack, "k-no-score").is_empty());
    let reason = |item: Item| s(&item, "lastError").unwrap().to_owned();
    assert!(reason(stack.item(&no_column, "ada").await).starts_with("NO_LINE_ITEM_SCOPE:"));
    assert!(reason(stack.item(&no_score, "ada").await).starts_with("NO_SCORE_SCOPE:"));
    assert_eq!(
        stack.activity_item(&named).await.get("agsScopes"),
        Some(&AttributeValue::L(vec![text(SCOPE_SCORE)]))
    );
    // Failed once: the next run finds nothing to do.
    let again = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(again["gradesFound"], 0, "{again}");
    let calls = stack.sim.requests();
    assert_eq!(
        calls.iter().filter(|r| r.route != Route::IdToken).count(),
        1
    );
}

#[tokio::test]
async fn a_warm_function_reads_a_roster_again_only_to_refuse_someone() {
    let stack = Stack::start().await;
    stack.sim.set_roster("p", "c", course());
    let quiz = stack.launch("p", "c", "quiz", Some("k")).await;
    let rig = SyncRig::start(Via::Binary, &stack.env()).await;
    let memberships = || {
        stack
            .sim
            .requests()
            .iter()
            .filter(|r| r.route == Route::Memberships)
            .count()
    };
    let run = |user: &'static str| {
        let (stack, rig, quiz) = (&stack, &rig, &quiz);
        async move {
            stack.grade(quiz, user, 5.0).await;
            rig.run(&event_file("schedule.json"), LONG).await
        }
    };
    let first = run("ada").await;
    assert_eq!(first["rostersRead"], 1, "{first}");
    let read_once = memberships();
    // Same process, minutes later: ada and bob are on the roster just read.
    let second = run("bob").await;
    assert_eq!(second["gradesPosted"], 1, "{second}");
    assert_eq!(second["rostersRead"], 0, "{second}");
    assert_eq!(memberships(), read_once);
    // Someone the cached copy does not list: read afresh before refusing.
    let third = run("newcomer").await;
    assert_eq!(third["rostersRead"], 1, "{third}");
    assert_eq!(third["gradesNotLearners"], 1, "{third}");
    assert_eq!(memberships(), 2 * read_once);
    rig.finish().await;
}

/// Canvas adds a submission attempt for every score unless told the score
/// updates one, and refuses past the allowed attempts. A grade whose post is
/// retried, which is requeued (forced, so it is sent again) and corrected,
/// keeps one attempt per `submittedAt`; a new `submittedAt` adds one.
#[tokio::test]
async fn canvas_counts_one_attempt_per_submission() {
    let stack = Stack::start().await;
    let ids = stack.launch("p", "c", "quiz", Some("k")).await;
    stack.sim.set_profile("p", LmsProfile::Canvas);
    stack.sim.set_allowed_attempts(Some(2));
    let first = "2026-12-01T09:00:00Z";
    let write = |score: f64, submitted: &str| {
        let grade = Grade::new("ada", score, 10.0)
            .unwrap()
            .with_submission(None, Some(at(submitted)));
        let (store, ids) = (&stack.store, &ids);
        async move { store.record_grade(ids, &grade).await.unwrap() }
    };
    write(7.0, first).await;
    stack
        .sim
        .inject(Fault::status(Route::PostScore, 503, Some(1)).for_user("ada"));
    let retried = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(retried["gradesPosted"], 1, "{retried}");
    assert_eq!(
        stack.sim.attempts_of("ada"),
        1,
        "the retry is the same attempt"
    );

    let key = ltisync::store::GradeKey {
        pk: format!("ACT#{}", ids.key()),
        sk: "GRADE#ada".into(),
    };
    stack.store.forget_fingerprint(&key).await.unwrap();
    let as_read = ltisync::store::PendingGrade::from_item(stack.item(&ids, "ada").await);
    let requeued = stack.store.requeue(&as_read).await.unwrap();
    assert_eq!(requeued, ltisync::store::WriteOutcome::Applied);
    let again = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(again["gradesPosted"], 1, "forced: sent again {again}");
    write(8.0, first).await;
    let corrected = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(corrected["gradesPosted"], 1, "{corrected}");
    assert_eq!(
        stack.sim.attempts_of("ada"),
        1,
        "requeue and correction update attempt 1"
    );

    write(9.0, "2026-12-02T09:00:00Z").await;
    let resubmitted = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(resubmitted["gradesPosted"], 1, "{resubmitted}");
    assert_eq!(
        stack.sim.attempts_of("ada"),
        2,
        "a new submittedAt is a new attempt"
    );
    assert!(is_synced(&stack.item(&ids, "ada").await));
    let sent: Vec<bool> = stack
        .received_for("ada")
        .iter()
        .map(|r| r.body["https://canvas.instructure.com/lti/submission"]["new_submission"] == true)
        .collect();
    assert_eq!(sent, [true, false, false, true]);
}

/// A tool that writes every grade again with the same values (a nightly
/// re-export) costs no call: each is settled SYNCED against the fingerprint
/// of what the LMS accepted, through the real binary.
#[tokio::test]
async fn rewriting_a_thousand_unchanged_grades_makes_no_post() {
    let (stack, ids) = Stack::with_grades(1000).await;
    // Unchanged grades make no LTIaaS call to pace their DynamoDB calls,
    // and moto answers a few hundred a second: at the default concurrency
    // (128 grades in progress, two calls each at once) they would queue
    // past the SDK's attempt timeout there. DynamoDB takes that in stride.
    let mut env = stack.env();
    env.insert("SYNC_CONCURRENCY".into(), "8".into());
    let first = stack.run(Via::Binary, &env).await;
    assert_eq!(first["gradesPosted"], 1000, "{first}");
    let posts = stack.sim.scores().len();
    for u in 0..1000 {
        stack.grade(&ids, &format!("u{u:02}"), u as f64).await;
    }
    stack.grade(&ids, "u07", 70.5).await;
    let again = stack.run(Via::Binary, &env).await;
    assert_eq!(again["gradesUnchanged"], 999, "{again}");
    assert_eq!(again["gradesPosted"], 1, "only the changed one {again}");
    assert_eq!(stack.sim.scores().len(), posts + 1);
    assert!(is_synced(&stack.item(&ids, "u42").await));
}

//! The instructors' status page (`GET /status`, `POST /status/resend`)
//! through the launch function, in process and as the real binary: a
//! course whose grades were brought to every state by a real sync run
//! against the simulator, then read back by instructors, a learner and
//! strangers.

use ltisync::ActivityIds;
use ltisync_tests::rigs::{event, launch_env, Env, HttpReply, LaunchRig, Via};
use ltisync_tests::simulator::{lis_role, Fault, FaultAction, LaunchSpec, Route, SimMember};
use serde_json::{json, Value};

use crate::helpers::{s, Stack};

const BOTH: [Via; 2] = [Via::Handler, Via::Binary];

/// What the LMS answers for u3's score: Canvas's words for a closed course.
pub const LMS_WORDS: &str = "Course is concluded; grades can no longer be changed";

/// A course brought to every state a grade can be in.
pub struct Course {
    pub app: Stack,
    pub ids: ActivityIds,
}

impl Course {
    /// Instructor `teacher`, learners u1..u5 (named on the roster), and a
    /// sync run in which u1 and u2 reach the gradebook, the LMS refuses u3
    /// in its own words, u4 waits (LTIaaS failing), t1 is not a learner
    /// and u5's item breaks the schema.
    pub async fn seeded() -> Self {
        let app = Stack::start().await;
        let ids = app
            .launch_as(launch_of("teacher", &[&lis_role("Instructor")]))
            .await;
        let named = |id: &str, name: &str| SimMember::new(id, "Learner").with_name(name);
        app.sim.set_roster(
            "p",
            "c",
            vec![
                named("u1", "Ada Lovelace"),
                named("u2", "Grace Hopper"),
                named("u3", "Alan Turing"),
                named("u4", "Katherine Johnson"),
                named("u5", "Edsger Dijkstra"),
                SimMember::new("t1", "Instructor").with_name("Tess Teacher"),
                SimMember::new("teacher", "Instructor"),
            ],
        );
        for (user, score) in [
            ("u1", 81.0),
            ("u2", 92.0),
            ("u3", 73.0),
            ("u4", 64.0),
            ("t1", 50.0),
        ] {
            app.grade(&ids, user, score).await;
        }
        app.put(invalid_grade(&ids, "u5")).await;
        app.sim.inject(lms_refusal("u3"));
        app.sim
            .inject(Fault::status(Route::PostScore, 503, None).for_user("u4"));
        let mut env = app.env();
        env.insert("SYNC_MAX_ATTEMPTS".into(), "1".into());
        let summary = app.run(Via::Handler, &env).await;
        assert_eq!(summary["gradesPosted"], 2, "{summary}");
        Self { app, ids }
    }

    /// The launch function's settings.
    pub fn env(&self) -> Env {
        launch_env(
            &self.app.sim.url(),
            &self.app.sim.api_key(),
            &self.app.table.name,
            &self.app.table.endpoint,
        )
    }

    /// An ltik of this activity for `user` with `roles`.
    pub fn ltik(&self, user: &str, roles: &[&str]) -> String {
        self.app.sim.add_launch(launch_of(user, roles))
    }

    /// The instructor's ltik.
    pub fn instructor(&self) -> String {
        self.ltik("teacher", &[&lis_role("Instructor")])
    }
}

/// A launch of the course's quiz by `user` with `roles`.
fn launch_of(user: &str, roles: &[&str]) -> LaunchSpec {
    let mut spec = LaunchSpec::new("p", "c", "quiz", Some("k")).by(user, roles);
    spec.context_title = Some("Biology 101".into());
    spec.resource_link_title = Some("Lab report 3".into());
    spec
}

/// The LMS's refusal of `user`'s score, as LTIaaS relays it.
fn lms_refusal(user: &str) -> Fault {
    let body = json!({"status": 422, "error": "Unprocessable Entity",
        "details": {"externalError": true, "bodyReceived": {"errors": [{"message": LMS_WORDS}]}}});
    let action = FaultAction::Status {
        status: 422,
        body: Some(body.to_string()),
        retry_after: None,
    };
    Fault::on(Route::PostScore, action, None).for_user(user)
}

/// A grade item of a schema version this ltisync does not read.
fn invalid_grade(ids: &ActivityIds, user: &str) -> crate::helpers::Item {
    let version = aws_sdk_dynamodb::types::AttributeValue::N("2".into());
    crate::helpers::documented_grade(ids, user, &[("schemaVersion", version)])
}

/// `GET /status?ltik=…` (JSON when `json`).
pub fn page_event(ltik: &str, json: bool) -> Value {
    let mut e = event("status.json", ltik);
    if json {
        e["headers"]["accept"] = json!("application/json");
    }
    e
}

/// `POST /status/resend` with a form body.
pub fn resend_event(form: &str, json: bool) -> Value {
    let mut e = page_event("unused", json);
    e["rawPath"] = json!("/status/resend");
    e["requestContext"]["http"]["path"] = json!("/status/resend");
    e["requestContext"]["http"]["method"] = json!("POST");
    e["routeKey"] = json!("POST /status/resend");
    e["rawQueryString"] = json!("");
    e.as_object_mut().unwrap().remove("queryStringParameters");
    e["headers"]["content-type"] = json!("application/x-www-form-urlencoded");
    e["body"] = json!(form);
    e
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

async fn ask(via: Via, env: &Env, events: &[Value]) -> Vec<HttpReply> {
    let rig = LaunchRig::start(via, env).await;
    let mut replies = Vec::new();
    for e in events {
        replies.push(rig.send(e).await);
    }
    let output = rig.finish().await;
    for e in events {
        let ltik = e["queryStringParameters"]["ltik"]
            .as_str()
            .unwrap_or("none-given");
        assert!(!output.contains(ltik), "the ltik reached the log: {output}");
    }
    replies
}

/// The JSON view, then the HTML view, of `ltik`'s page.
async fn both_views(via: Via, course: &Course, ltik: &str) -> Vec<HttpReply> {
    let views = [page_event(ltik, true), page_event(ltik, false)];
    ask(via, &course.env(), &views).await
}

fn row<'a>(report: &'a Value, user: &str) -> &'a Value {
    report["grades"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["userId"] == user)
        .unwrap_or_else(|| panic!("no row for {user}: {report}"))
}

#[tokio::test]
async fn instructors_see_every_grade_in_words_with_counts() {
    let course = Course::seeded().await;
    for via in BOTH {
        let ltik = course.instructor();
        let replies = both_views(via, &course, &ltik).await;
        let report = replies[0].json();
        assert_eq!(replies[0].status, 200, "{via:?}: {report}");
        assert_eq!(
            report["counts"],
            json!({"total": 6, "inGradebook": 2, "waiting": 1, "notSent": 2, "notALearner": 1}),
            "{via:?}"
        );
        assert_eq!(
            report["viewer"],
            json!({"userId": "teacher", "audience": "instructor"})
        );
        assert_eq!(report["names"], "roster");
        assert_eq!(report["activity"]["title"], "Lab report 3");
        let u1 = row(&report, "u1");
        assert_eq!(
            (u1["state"].as_str(), u1["name"].as_str()),
            (Some("inGradebook"), Some("Ada Lovelace"))
        );
        assert_eq!(u1["scoreGiven"], 81.0);
        assert!(
            u1["since"].as_str().is_some_and(|t| t.starts_with("20")),
            "{u1}"
        );
        assert_eq!(
            report["lastPostAt"].as_str().map(|t| &t[..4]),
            Some(&u1["since"].as_str().unwrap()[..4])
        );
        let u3 = row(&report, "u3");
        assert_eq!(u3["state"], "notSent");
        assert!(u3["reason"].as_str().unwrap().contains(LMS_WORDS), "{u3}");
        assert_eq!(
            (u3["httpStatus"].as_u64(), u3["canResend"].as_bool()),
            (Some(422), Some(true))
        );
        let u4 = row(&report, "u4");
        assert_eq!(
            (u4["state"].as_str(), u4["reasonCode"].as_str()),
            (Some("waiting"), Some("retriesExhausted"))
        );
        assert_eq!(u4["nextTry"], "soon");
        let t1 = row(&report, "t1");
        assert_eq!(
            (t1["state"].as_str(), t1["canResend"].as_bool()),
            (Some("notALearner"), Some(false))
        );
        let u5 = row(&report, "u5");
        assert_eq!(
            (u5["reasonCode"].as_str(), u5["canResend"].as_bool()),
            (Some("invalidGrade"), Some(false))
        );
        // Problems first: the refused and the invalid grade head the table.
        assert_eq!(report["grades"][0]["state"], "notSent");

        assert_instructor_page(&replies[1], &ltik);
    }
}

/// The HTML view an instructor gets: every state in words, one button for
/// the grade a retry may cure, the ltik only in the form's field, and a
/// policy that lets the LMS frame the page and runs no script.
fn assert_instructor_page(page: &HttpReply, ltik: &str) {
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    for words in [
        "Ada Lovelace",
        LMS_WORDS,
        "HTTP 422",
        "Waiting",
        "Not a learner",
        "<th scope=\"col\">Learner</th>",
        "lang=\"en\"",
    ] {
        assert!(page.body.contains(words), "{words} missing");
    }
    assert_eq!(
        page.body.matches("name=\"user\"").count(),
        1,
        "one Send again: u3's"
    );
    assert_eq!(
        page.body.matches(&ltik).count(),
        1,
        "the ltik only in the form's field"
    );
    assert!(page
        .body
        .contains(&format!("name=\"ltik\" value=\"{ltik}\"")));
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("frame-ancestors *") && csp.contains("form-action 'self'"),
        "{csp}"
    );
    assert!(
        !csp.contains("script-src") && !page.body.contains("<script"),
        "no script"
    );
    assert!(page.header("x-frame-options").is_none());
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
}

#[tokio::test]
async fn a_learner_sees_only_their_own_grade() {
    let course = Course::seeded().await;
    for via in BOTH {
        let ltik = course.ltik("u3", &[&lis_role("Learner")]);
        let replies = both_views(via, &course, &ltik).await;
        let report = replies[0].json();
        assert_eq!(report["viewer"]["audience"], "learner");
        assert_eq!(report["grades"].as_array().unwrap().len(), 1, "{report}");
        assert_eq!(row(&report, "u3")["canResend"], false);
        assert_eq!(report["counts"]["total"], 1);
        assert_eq!(report["names"], "notRead");
        let page = &replies[1].body;
        assert!(page.contains("Your grade") && page.contains(LMS_WORDS));
        for other in [
            "u1",
            "Ada Lovelace",
            "u4",
            "t1",
            "Send again",
            "name=\"ltik\"",
        ] {
            assert!(
                !page.contains(other),
                "{via:?}: the learner's page shows {other}"
            );
        }
    }
}

#[tokio::test]
async fn strangers_forged_and_other_course_ltiks_see_nothing_of_the_activity() {
    let course = Course::seeded().await;
    let mentor = course.ltik(
        "m1",
        &["http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor"],
    );
    let other_course = course.app.sim.add_launch(
        LaunchSpec::new("p", "c2", "quiz", Some("k2")).by("teacher", &[&lis_role("Instructor")]),
    );
    let expired = course.instructor();
    course.app.sim.expire_ltik(&expired);
    let forged = "eyJmb3JnZWQiOnRydWV9.Zm9yZ2Vk.c2ln";
    let events = [
        page_event(&mentor, false),
        page_event(&other_course, true),
        page_event(&expired, false),
        page_event(forged, true),
    ];
    for via in BOTH {
        let replies = ask(via, &course.env(), &events).await;
        assert_eq!(replies[0].status, 403, "{via:?}");
        assert!(
            replies[0].body.contains("Not available to you") && replies[0].body.contains("neither")
        );
        let other = replies[1].json();
        assert_eq!(
            (replies[1].status, other["counts"]["total"].as_u64()),
            (200, Some(0)),
            "{other}"
        );
        assert_eq!(other["activity"]["contextId"], "c2");
        assert_eq!(
            (replies[2].status, replies[3].status),
            (401, 401),
            "{via:?}"
        );
        for reply in &replies {
            for seen in ["u1", "Ada", LMS_WORDS] {
                assert!(
                    !reply.body.contains(seen),
                    "{via:?}: {seen} shown: {}",
                    reply.body
                );
            }
        }
    }
}

#[tokio::test]
async fn send_again_requeues_only_what_a_retry_may_cure_and_the_sync_posts_it() {
    let course = Course::seeded().await;
    let app = &course.app;
    let teacher = course.instructor();
    let learner = course.ltik("u3", &[&lis_role("Learner")]);
    let replies = ask(
        Via::Binary,
        &course.env(),
        &[
            resend_event(&form(&[("ltik", &learner), ("scope", "all")]), true),
            resend_event(&form(&[("ltik", &teacher), ("scope", "all")]), true),
            resend_event(&form(&[("ltik", &teacher), ("user", "t1")]), false),
        ],
    )
    .await;
    assert_eq!(replies[0].status, 403, "a learner may not resend");
    let done = replies[1].json();
    assert_eq!(
        done["resent"],
        json!([{"userId": "u3", "result": "requeued"}]),
        "{done}"
    );
    assert_eq!(row(&done, "u3")["state"], "waiting");
    assert!(
        replies[2].body.contains("Nothing needed sending again"),
        "not a learner: never resent"
    );
    let u3 = app.item(&course.ids, "u3").await;
    assert!(
        u3.contains_key("pending") && s(&u3, "syncStatus").is_none(),
        "{u3:?}"
    );
    for user in ["t1", "u5"] {
        let item = app.item(&course.ids, user).await;
        assert_eq!(s(&item, "syncStatus"), Some("FAILED"), "{user} untouched");
    }
    // The course reopens: the sync posts the grade sent again.
    app.sim.clear_faults();
    let summary = app.run(Via::Handler, &app.env()).await;
    assert_eq!(summary["gradesPosted"], 2, "u3 and u4: {summary}");
    assert_eq!(
        app.received_for("u3").last().unwrap().body["scoreGiven"],
        73.0
    );
}

#[tokio::test]
async fn hostile_requests_get_clear_4xx_and_write_nothing() {
    let course = Course::seeded().await;
    let before = course.app.table.items().await;
    let teacher = course.instructor();
    let mut put = page_event(&teacher, false);
    put["requestContext"]["http"]["method"] = json!("PUT");
    let mut no_ltik = page_event("x", true);
    no_ltik["rawQueryString"] = json!("");
    no_ltik
        .as_object_mut()
        .unwrap()
        .remove("queryStringParameters");
    let mut as_json = resend_event(&form(&[("ltik", &teacher), ("scope", "all")]), true);
    as_json["headers"]["content-type"] = json!("application/json");
    let mut bad_ltik = page_event("x", true);
    bad_ltik["rawQueryString"] = json!("ltik=a%3Cb");
    bad_ltik["queryStringParameters"] = json!({"ltik": "a<b"});
    let in_query = {
        let mut e = resend_event("scope=all", true);
        e["rawQueryString"] = json!(format!("ltik={teacher}"));
        e["queryStringParameters"] = json!({"ltik": teacher});
        e
    };
    let cases: [(Value, u16, &str); 6] = [
        (put, 405, "use GET"),
        (no_ltik, 400, "no ltik"),
        (bad_ltik, 400, "character '<'"),
        (as_json, 400, "application/x-www-form-urlencoded"),
        (in_query, 400, "no ltik"),
        (
            resend_event(&form(&[("ltik", &teacher)]), true),
            400,
            "scope=all",
        ),
    ];
    let events: Vec<Value> = cases.iter().map(|(e, _, _)| e.clone()).collect();
    for via in BOTH {
        let replies = ask(via, &course.env(), &events).await;
        for ((_, status, words), reply) in cases.iter().zip(&replies) {
            assert_eq!(reply.status, *status, "{via:?} {words}: {}", reply.body);
            assert!(
                reply.body.contains(words),
                "{via:?}: {words} not in {}",
                reply.body
            );
        }
        assert_eq!(replies[0].header("allow"), Some("GET"));
    }
    assert_eq!(course.app.table.items().await, before, "nothing written");
}

#[tokio::test]
async fn the_frame_ancestors_setting_reaches_the_policy() {
    let course = Course::seeded().await;
    let mut env = course.env();
    env.insert(
        "STATUS_FRAME_ANCESTORS".into(),
        "https://lms.example.edu".into(),
    );
    let replies = ask(
        Via::Binary,
        &env,
        &[page_event(&course.instructor(), false)],
    )
    .await;
    let csp = replies[0].header("content-security-policy").unwrap();
    assert!(
        csp.ends_with("frame-ancestors https://lms.example.edu"),
        "{csp}"
    );
}

/// A slow roster: the names of the pages read within the page's budget,
/// user ids for the rest.
#[tokio::test]
async fn a_slow_roster_names_whom_it_could_in_time() {
    let course = Course::seeded().await;
    course.app.sim.set_page_size(1);
    course
        .app
        .sim
        .set_latency(std::time::Duration::from_millis(250));
    let replies = ask(
        Via::Handler,
        &course.env(),
        &[page_event(&course.instructor(), true)],
    )
    .await;
    let report = replies[0].json();
    assert_eq!(report["names"], "partOfRoster", "{report}");
    assert_eq!(row(&report, "u1")["name"], "Ada Lovelace");
    assert!(row(&report, "u5")["name"].is_null());
    assert_eq!(report["counts"]["total"], 6);
}

/// The tool's roster can be slow or refused: the page shows user ids then.
#[tokio::test]
async fn without_the_roster_the_page_shows_user_ids() {
    let course = Course::seeded().await;
    course
        .app
        .sim
        .inject(Fault::status(Route::Memberships, 403, None));
    let replies = ask(
        Via::Handler,
        &course.env(),
        &[page_event(&course.instructor(), true)],
    )
    .await;
    let report = replies[0].json();
    assert_eq!(report["names"], "unavailable");
    assert!(row(&report, "u1")["name"].is_null());
    assert_eq!(report["counts"]["total"], 6);
}

/// The status page guide's JSON example has exactly the fields the page sends, at
/// every level: the documented shape is the real one.
#[tokio::test]
async fn the_readme_documents_the_json_view_as_sent() {
    let course = Course::seeded().await;
    let teacher = course.instructor();
    let form = form(&[("ltik", &teacher), ("user", "u3")]);
    let replies = ask(Via::Handler, &course.env(), &[resend_event(&form, true)]).await;
    let sent = replies[0].json();
    let guide = ltisync_tests::repo_root().join("docs/status-page.md");
    let readme = std::fs::read_to_string(guide).unwrap();
    let section = &readme[readme
        .find("**The same data as JSON**")
        .expect("the JSON section")..];
    let start = section.find("```json\n").unwrap() + 8;
    let documented: Value =
        serde_json::from_str(&section[start..][..section[start..].find("```").unwrap()])
            .expect("the guide's example is JSON");
    assert_same_fields(&documented, &sent, "");
}

fn assert_same_fields(documented: &Value, sent: &Value, at: &str) {
    match (documented, sent) {
        (Value::Object(d), Value::Object(s)) => {
            let (dk, sk): (Vec<_>, Vec<_>) = (d.keys().collect(), s.keys().collect());
            assert_eq!(dk, sk, "fields at {at:?}");
            for (key, value) in d {
                assert_same_fields(value, &s[key], &format!("{at}.{key}"));
            }
        }
        (Value::Array(d), Value::Array(s)) if !d.is_empty() && !s.is_empty() => {
            assert_same_fields(&d[0], &s[0], &format!("{at}[0]"));
        }
        _ => {}
    }
}

//! The launch function end to end: moto for DynamoDB, the LTIaaS simulator
//! over HTTP, and both the in-process handler and the real binary driven
//! through the Lambda Runtime API with the files in `events/`.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use ltisync_tests::dynamo::free_port;
use ltisync_tests::rigs::{
    event, event_file, launch_env, Env, HttpReply, LaunchRig, Via, SAMPLE_LTIK,
};
use ltisync_tests::simulator::{Fault, FaultAction, LaunchSpec, Route, Simulator};

use crate::helpers::{Item, Stack};

const BOTH: [Via; 2] = [Via::Handler, Via::Binary];

fn s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

fn n(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

async fn send(via: Via, env: &Env, events: &[serde_json::Value]) -> (Vec<HttpReply>, String) {
    let rig = LaunchRig::start(via, env).await;
    let mut replies = Vec::new();
    for e in events {
        replies.push(rig.send(e).await);
    }
    (replies, rig.finish().await)
}

#[tokio::test]
async fn a_launch_stores_the_service_key_with_its_three_ids() {
    for via in BOTH {
        let stack = Stack::start().await;
        let ltik = stack.ltik_for("platform-1", "course-1", "link-1", Some("svc-key-1"));
        let (replies, _) = send(via, &stack.launch_env(), &[event("launch.json", &ltik)]).await;
        let reply = &replies[0];
        assert_eq!(reply.status, 200, "{via:?}: {}", reply.body);
        assert!(reply.body.contains("Course course-1"), "{}", reply.body);
        assert!(!reply.body.contains("svc-key-1"));
        let activities = stack.activities().await;
        assert_eq!(activities.len(), 1, "{via:?}");
        let a = &activities[0];
        assert_eq!(s(a, "serviceKey"), Some("svc-key-1"));
        assert_eq!(s(a, "platformId"), Some("platform-1"));
        assert_eq!(s(a, "contextId"), Some("course-1"));
        assert_eq!(s(a, "resourceLinkId"), Some("link-1"));
        assert_eq!(s(a, "pk"), Some("ACT#platform-1#course-1#link-1"));
        assert_eq!(s(a, "resourceLinkTitle"), Some("Quiz link-1"));
        assert_eq!(n(a, "launchCount"), Some(1));
    }
}

/// SAM CLI gives a variable the template declares but it cannot resolve
/// the value '' (template.yaml declares `AWS_ENDPOINT_URL` for local runs),
/// and the AWS SDK panics building a request for an empty endpoint: the
/// functions count an empty endpoint variable as unset.
#[tokio::test]
async fn an_empty_endpoint_variable_counts_as_unset() {
    let stack = Stack::start().await;
    let ltik = stack.ltik_for("platform-1", "course-1", "link-1", Some("svc-key-1"));
    let mut env = stack.launch_env();
    env.insert("AWS_ENDPOINT_URL".into(), stack.table.endpoint.clone());
    env.insert("AWS_ENDPOINT_URL_DYNAMODB".into(), String::new());
    let (replies, logs) = send(Via::Binary, &env, &[event("launch.json", &ltik)]).await;
    assert_eq!(replies[0].status, 200, "{}\n{logs}", replies[0].body);
    assert_eq!(stack.activities().await.len(), 1);
}

#[tokio::test]
async fn a_relaunch_replaces_the_key_and_keeps_one_activity() {
    let time = |item: &Item, name: &str| {
        time::OffsetDateTime::parse(
            s(item, name).expect("a time"),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("RFC 3339")
    };
    for via in BOTH {
        let stack = Stack::start().await;
        let first = stack.ltik_for("p", "c", "r", Some("old-key"));
        let second = stack.ltik_for("p", "c", "r", Some("new-key"));
        let rig = LaunchRig::start(via, &stack.launch_env()).await;
        assert_eq!(rig.send(&event("launch.json", &first)).await.status, 200);
        let after_first = stack.activities().await.remove(0);
        assert_eq!(
            time(&after_first, "firstLaunchAt"),
            time(&after_first, "lastLaunchAt")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(rig.send(&event("launch.json", &second)).await.status, 200);
        rig.finish().await;
        let activities = stack.activities().await;
        assert_eq!(activities.len(), 1, "{via:?}");
        let a = &activities[0];
        assert_eq!(s(a, "serviceKey"), Some("new-key"));
        assert_eq!(n(a, "launchCount"), Some(2));
        assert_eq!(
            time(a, "firstLaunchAt"),
            time(&after_first, "firstLaunchAt"),
            "kept"
        );
        assert!(
            time(a, "lastLaunchAt") > time(&after_first, "lastLaunchAt"),
            "moved on"
        );
    }
}

#[tokio::test]
async fn a_launch_without_a_service_key_stores_none_and_keeps_an_earlier_one() {
    for via in BOTH {
        let stack = Stack::start().await;
        let with_key = stack.ltik_for("p", "c", "kept", Some("earlier-key"));
        let without = stack.ltik_for("p", "c", "kept", None);
        let never = stack.ltik_for("p", "c", "never", None);
        let (replies, _) = send(
            via,
            &stack.launch_env(),
            &[
                event("launch.json", &with_key),
                event("launch.json", &without),
                event("launch.json", &never),
            ],
        )
        .await;
        assert!(replies.iter().all(|r| r.status == 200), "{via:?}");
        assert!(
            replies[2].body.contains("no service key"),
            "{}",
            replies[2].body
        );
        let activities = stack.activities().await;
        let by_link = |link: &str| {
            activities
                .iter()
                .find(|a| s(a, "resourceLinkId") == Some(link))
                .expect("activity stored")
        };
        assert_eq!(s(by_link("kept"), "serviceKey"), Some("earlier-key"));
        assert_eq!(n(by_link("kept"), "launchCount"), Some(2));
        assert_eq!(s(by_link("never"), "serviceKey"), None);
    }
}

#[tokio::test]
async fn an_invalid_ltik_gives_401_and_writes_nothing() {
    for via in BOTH {
        let stack = Stack::start().await;
        let ltik = stack.ltik_for("p", "c", "r", Some("k"));
        stack.sim.expire_ltik(&ltik);
        let mut json_event = event("launch.json", &ltik);
        json_event["headers"]["accept"] = "application/json".into();
        let (replies, _) = send(
            via,
            &stack.launch_env(),
            &[event("launch.json", &ltik), json_event],
        )
        .await;
        assert_eq!(replies[0].status, 401, "{via:?}");
        assert!(replies[0]
            .body
            .contains("relaunch the activity from your LMS"));
        assert_eq!(replies[1].status, 401);
        assert_eq!(replies[1].json()["error"]["code"], "ltik_refused");
        assert!(stack.table.items().await.is_empty(), "{via:?}");
    }
}

#[tokio::test]
async fn ltiaas_failures_give_502_or_504_and_write_nothing() {
    let cases = [
        (
            FaultAction::Status {
                status: 500,
                body: None,
                retry_after: None,
            },
            502,
        ),
        (
            FaultAction::Status {
                status: 503,
                body: None,
                retry_after: Some("5".into()),
            },
            502,
        ),
        (FaultAction::Drop, 502),
        (FaultAction::Malformed, 502),
        (FaultAction::Delay { millis: 3000 }, 504),
    ];
    for via in BOTH {
        let stack = Stack::start().await;
        let mut env = stack.launch_env();
        env.insert("LTIAAS_TIMEOUT_MS".into(), "400".into());
        let mut events = Vec::new();
        for (action, _) in &cases {
            let ltik = stack.ltik_for("p", "c", "r", Some("k"));
            stack
                .sim
                .inject(Fault::on(Route::IdToken, action.clone(), Some(1)));
            let mut e = event("launch.json", &ltik);
            e["headers"]["accept"] = "application/json".into();
            events.push(e);
        }
        env.insert("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into());
        let (replies, logs) = send(via, &env, &events).await;
        if via == Via::Binary {
            // The details stay in the log, for the operator.
            for detail in ["HTTP 500", "HTTP 503", "did not answer within"] {
                assert!(
                    logs.contains(detail),
                    "{detail} missing from the log:\n{logs}"
                );
            }
        }
        for ((action, expected), reply) in cases.iter().zip(&replies) {
            assert_eq!(
                reply.status, *expected,
                "{via:?} {action:?}: {}",
                reply.body
            );
            let message = reply.json()["error"]["message"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(message.contains("LTIaaS"), "{message}");
            // The browser gets a fixed sentence, never the upstream details.
            assert!(
                message.ends_with("please relaunch in a moment"),
                "{message}"
            );
            assert!(
                !reply.body.contains("HTTP 5") && !reply.body.contains("127.0.0.1"),
                "{}",
                reply.body
            );
        }
        assert!(stack.table.items().await.is_empty(), "{via:?}");
    }
}

#[tokio::test]
async fn dynamodb_unreachable_gives_503() {
    for via in BOTH {
        let sim = Simulator::start().await.unwrap();
        let ltik = sim.add_launch(LaunchSpec::new("p", "c", "r", Some("k")));
        let dead = format!("http://127.0.0.1:{}", free_port());
        let env = launch_env(&sim.url(), &sim.api_key(), "ltisync-nowhere", &dead);
        let (replies, _) = send(via, &env, &[event("launch.json", &ltik)]).await;
        assert_eq!(replies[0].status, 503, "{via:?}: {}", replies[0].body);
        assert!(
            replies[0].body.contains("could not be saved"),
            "{}",
            replies[0].body
        );
    }
}

#[tokio::test]
async fn every_event_format_and_a_stage_prefix_are_captured() {
    for via in BOTH {
        let stack = Stack::start().await;
        let files = [
            "launch.json",
            "launch-rest-api.json",
            "launch-stage-prefix.json",
            "launch-post-form.json",
        ];
        let mut events = Vec::new();
        for (i, file) in files.iter().enumerate() {
            let ltik = stack.ltik_for("p", "c", &format!("link-{i}"), Some(&format!("key-{i}")));
            events.push(event(file, &ltik));
        }
        let (replies, _) = send(via, &stack.launch_env(), &events).await;
        for (file, reply) in files.iter().zip(&replies) {
            assert_eq!(reply.status, 200, "{via:?} {file}: {}", reply.body);
        }
        let activities = stack.activities().await;
        assert_eq!(activities.len(), files.len(), "{via:?}");
        for i in 0..files.len() {
            assert!(activities
                .iter()
                .any(|a| s(a, "serviceKey") == Some(format!("key-{i}").as_str())));
        }
    }
}

#[tokio::test]
async fn malformed_requests_get_a_4xx_that_says_what_is_wrong() {
    for via in BOTH {
        let stack = Stack::start().await;
        // Browsers percent-encode; the decoded ltik is what is checked.
        let mut bad_chars = event("launch.json", "abc%3Cdef");
        bad_chars["queryStringParameters"]["ltik"] = "abc<def".into();
        let mut put = event("launch.json", SAMPLE_LTIK);
        put["requestContext"]["http"]["method"] = "PUT".into();
        let mut elsewhere = event("launch.json", SAMPLE_LTIK);
        elsewhere["rawPath"] = "/admin".into();
        elsewhere["requestContext"]["http"]["path"] = "/admin".into();
        let mut too_long = event("launch.json", &"a".repeat(5000));
        too_long["headers"]["accept"] = "application/json".into();
        let (replies, _) = send(
            via,
            &stack.launch_env(),
            &[
                event("launch-missing-ltik.json", ""),
                bad_chars,
                put,
                elsewhere,
                too_long,
            ],
        )
        .await;
        let expected = [
            (400, "has no ltik"),
            (400, "the ltik contains the character"),
            (405, "PUT is not supported"),
            (404, "ltisync serves /launch"),
            (400, "5000 bytes"),
        ];
        for ((status, words), reply) in expected.iter().zip(&replies) {
            assert_eq!(reply.status, *status, "{via:?}: {}", reply.body);
            assert!(reply.body.contains(words), "{via:?}: {}", reply.body);
        }
        assert_eq!(replies[2].header("allow"), Some("GET, POST"));
        assert_eq!(replies[4].json()["error"]["status"], 400);
        assert!(stack.table.items().await.is_empty());
        assert!(
            stack.sim.requests().is_empty(),
            "nothing was asked of LTIaaS"
        );
    }
}

#[tokio::test]
async fn with_a_tool_url_the_browser_is_sent_on_with_the_query() {
    for via in BOTH {
        let stack = Stack::start().await;
        let mut env = stack.launch_env();
        env.insert(
            "TOOL_URL".into(),
            "https://tool.example.test/app?from=ltisync".into(),
        );
        let get = stack.ltik_for("p", "c", "get", Some("k1"));
        let post = stack.ltik_for("p", "c", "post", Some("k2"));
        let (replies, _) = send(
            via,
            &env,
            &[
                event("launch.json", &get),
                event("launch-post-form.json", &post),
            ],
        )
        .await;
        for (reply, ltik) in replies.iter().zip([&get, &post]) {
            assert_eq!(reply.status, 302, "{via:?}: {}", reply.body);
            assert_eq!(
                reply.header("location"),
                Some(format!("https://tool.example.test/app?from=ltisync&ltik={ltik}").as_str())
            );
            assert_eq!(reply.header("cache-control"), Some("no-store"));
        }
        assert_eq!(stack.activities().await.len(), 2);
    }
}

#[tokio::test]
async fn json_clients_get_the_activity_but_never_a_key() {
    let stack = Stack::start().await;
    let ltik = stack.ltik_for("p", "c", "r", Some("svc-never-shown"));
    let mut e = event("launch.json", &ltik);
    e["headers"]["accept"] = "application/json".into();
    let (replies, _) = send(Via::Handler, &stack.launch_env(), &[e]).await;
    let body = replies[0].json();
    assert_eq!(body["status"], "captured");
    assert_eq!(body["activity"]["key"], "p#c#r");
    assert_eq!(body["activity"]["serviceKeyCaptured"], true);
    assert!(!replies[0].body.contains("svc-never-shown"));
}

#[tokio::test]
async fn awkward_ids_round_trip_and_do_not_collide() {
    let stack = Stack::start().await;
    let triples = [
        ("plat#1", "c", "r"),
        ("plat", "1#c", "r"),
        ("p/é", "course 100%", "link #3/ü"),
        ("p/%C3%A9", "course%20100%25", "link"),
        ("日本", "コース", "課題"),
    ];
    let mut events = Vec::new();
    for (i, (p, c, r)) in triples.iter().enumerate() {
        let ltik = stack.ltik_for(p, c, r, Some(&format!("key-{i}")));
        events.push(event("launch.json", &ltik));
    }
    let (replies, _) = send(Via::Handler, &stack.launch_env(), &events).await;
    assert!(replies.iter().all(|r| r.status == 200));
    let activities = stack.activities().await;
    assert_eq!(
        activities.len(),
        triples.len(),
        "no two triples share an item"
    );
    for (i, (p, c, r)) in triples.iter().enumerate() {
        let a = activities
            .iter()
            .find(|a| s(a, "serviceKey") == Some(format!("key-{i}").as_str()))
            .expect("stored");
        assert_eq!(
            (
                s(a, "platformId"),
                s(a, "contextId"),
                s(a, "resourceLinkId")
            ),
            (Some(*p), Some(*c), Some(*r))
        );
        let ids = ltisync::ActivityIds::new(*p, *c, *r).unwrap();
        assert_eq!(s(a, "pk"), Some(format!("ACT#{}", ids.key()).as_str()));
    }
}

#[tokio::test]
async fn a_deep_linking_launch_is_let_through_without_writing() {
    let stack = Stack::start().await;
    let mut spec = LaunchSpec::new("p", "c", "r", Some("k"));
    let mut token = spec.id_token();
    token["launch"]["type"] = "LtiDeepLinkingRequest".into();
    token["launch"]
        .as_object_mut()
        .unwrap()
        .remove("resourceLink");
    spec.id_token = Some(token);
    let ltik = stack.sim.add_launch(spec);
    let (replies, _) = send(
        Via::Handler,
        &stack.launch_env(),
        &[event("launch.json", &ltik)],
    )
    .await;
    assert_eq!(replies[0].status, 200);
    assert!(
        replies[0].body.contains("no resource link"),
        "{}",
        replies[0].body
    );
    assert!(stack.table.items().await.is_empty());
}

#[tokio::test]
async fn no_secret_reaches_the_logs_even_at_trace_level() {
    let stack = Stack::start().await;
    let api_key = "apikey-SECRET-7f3a9c";
    let sim = Simulator::start_on("127.0.0.1:0".parse().unwrap(), api_key)
        .await
        .unwrap();
    let good = sim.add_launch(LaunchSpec::new("p", "c", "r", Some("svckey-SECRET-55e1b2")));
    let expired = sim.add_launch(LaunchSpec::new(
        "p",
        "c",
        "r2",
        Some("svckey-SECRET-99d0aa"),
    ));
    sim.expire_ltik(&expired);
    let mut env = launch_env(
        &sim.url(),
        api_key,
        &stack.table.name,
        &stack.table.endpoint,
    );
    env.insert("AWS_LAMBDA_LOG_LEVEL".into(), "TRACE".into());
    env.insert("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into());
    let (replies, logs) = send(
        Via::Binary,
        &env,
        &[
            event("launch.json", &good),
            event("launch.json", &expired),
            event("launch-post-form.json", &good),
        ],
    )
    .await;
    assert_eq!(
        replies.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 401, 200]
    );
    assert!(
        logs.contains("\"outcome\":\"captured\""),
        "the launch record is there: {logs}"
    );
    for secret in [
        api_key,
        good.as_str(),
        expired.as_str(),
        "svckey-SECRET-55e1b2",
        "svckey-SECRET-99d0aa",
        "SECRET",
    ] {
        assert!(
            !logs.contains(secret),
            "{secret} leaked into the logs:\n{logs}"
        );
    }
    // The secret was really used: the activity holds it.
    assert_eq!(
        s(&stack.activities().await[0], "serviceKey"),
        Some("svckey-SECRET-55e1b2")
    );
}

#[tokio::test]
async fn a_missing_setting_fails_the_start_with_one_line_naming_it() {
    use ltisync_tests::runtime_api::{binary, FunctionProcess, RuntimeApi};
    let api = RuntimeApi::start().await;
    let env = vec![
        ("LTIAAS_URL".to_owned(), "http://example.com".to_owned()),
        ("LTIAAS_API_KEY".to_owned(), "k".to_owned()),
        ("TABLE_NAME".to_owned(), "ltisync".to_owned()),
    ];
    let mut process = FunctionProcess::spawn(&binary("launch"), &api, &env);
    let code = process.wait_exit(Duration::from_secs(10)).await;
    assert_ne!(code, Some(0));
    let output = process.output();
    assert!(
        output.contains("LTIAAS_URL must be an https:// URL"),
        "{output}"
    );
    assert!(api.first_poll().is_none(), "it never asked for an event");
}

#[tokio::test]
async fn a_refused_api_key_is_the_tools_problem_not_the_learners() {
    for via in BOTH {
        let stack = Stack::start().await;
        let ltik = stack.ltik_for("p", "c", "r", Some("k"));
        let mut env = stack.launch_env();
        env.insert("LTIAAS_API_KEY".into(), "a-rotated-api-key".into());
        let mut e = event("launch.json", &ltik);
        e["headers"]["accept"] = "application/json".into();
        let (replies, _) = send(via, &env, &[e]).await;
        assert_eq!(replies[0].status, 502, "{via:?}: {}", replies[0].body);
        assert_eq!(replies[0].json()["error"]["code"], "api_key_refused");
        assert!(stack.table.items().await.is_empty());
    }
}

/// The message a 4xx carries, whichever format it came in.
fn error_message(reply: &HttpReply) -> String {
    match reply.header("content-type") {
        Some("application/json") => {
            let body = reply.json();
            assert_eq!(body["error"]["status"], reply.status, "{body}");
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
        Some(html) if html.starts_with("text/html") => {
            assert!(
                reply.body.contains("<h1>Launch failed</h1>"),
                "{}",
                reply.body
            );
            reply
                .body
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&amp;", "&")
        }
        other => panic!("a 4xx in no known format ({other:?}): {}", reply.body),
    }
}

/// What curl, scanners and hand-made test invokes send. Each must get a 400
/// in the usual format saying what is wrong, from the real binary, with no
/// invocation error (the rig panics on one), one log record, no call to
/// LTIaaS and nothing written.
#[tokio::test]
async fn hostile_events_get_a_400_that_says_what_is_wrong() {
    let stack = Stack::start().await;
    let ltik = stack.ltik_for("p", "c", "r", Some("k"));
    let base = event("launch.json", &ltik);
    let edit = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut e = base.clone();
        change(&mut e);
        e
    };
    let raw_query = |query: String| edit(&move |e| e["rawQueryString"] = query.clone().into());
    let header =
        |name: &'static str, value: &'static str| edit(&move |e| e["headers"][name] = value.into());
    let mut rest = event("launch-rest-api.json", &ltik);
    rest["multiValueHeaders"]["Host"] = serde_json::json!(["a b"]);
    let mut not_base64 = event("launch-post-form.json", &ltik);
    not_base64["isBase64Encoded"] = true.into();
    not_base64["body"] = "ltik=%%% not base64".into();
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (
            raw_query(format!("ltik={ltik}&x=<script>")),
            "the character '<'",
        ),
        (raw_query(format!("ltik={ltik}&x=>")), "the character '>'"),
        (raw_query(format!("ltik={ltik}&x=\"")), "the character '\"'"),
        (raw_query(format!("ltik={ltik} x")), "U+0020"),
        (raw_query(format!("ltik={ltik}\tx")), "U+0009"),
        (raw_query(format!("ltik={ltik}\0")), "U+0000"),
        (
            raw_query(format!("ltik={ltik}\r\nSet-Cookie: a=b")),
            "U+000D",
        ),
        (
            raw_query(format!("ltik={ltik}&pad={}", "a".repeat(70_000))),
            "bytes long",
        ),
        (not_base64, "not base64"),
        (header("host", "evil.example/steal"), "host"),
        (header("host", ""), "host"),
        (header("x-forwarded-proto", "gopher"), "x-forwarded-proto"),
        (header("x-forwarded-port", "99999"), "x-forwarded-port"),
        (header("x-forwarded-for", "<script>"), "x-forwarded-for"),
        (header("x-test", "a\r\nInjected: yes"), "U+000D"),
        (rest, "host"),
        (serde_json::json!({}), "an empty object"),
        (serde_json::json!([]), "a JSON array"),
        (serde_json::json!(null), "invoked with null"),
        (serde_json::json!("launch"), "a JSON string"),
        (
            event_file("schedule.json"),
            "EventBridge event ('Scheduled Event')",
        ),
        (
            serde_json::json!({"Records": [{"eventSource": "aws:sqs", "body": "x"}]}),
            "records",
        ),
        (
            edit(&|e| {
                e.as_object_mut().unwrap().remove("requestContext");
            }),
            "without requestContext",
        ),
    ];
    let mut env = stack.launch_env();
    env.insert("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into());
    let events: Vec<_> = cases.iter().map(|(e, _)| e.clone()).collect();
    let (replies, logs) = send(Via::Binary, &env, &events).await;
    for ((_, words), reply) in cases.iter().zip(&replies) {
        assert_eq!(reply.status, 400, "{words}: {}", reply.body);
        let message = error_message(reply);
        assert!(message.contains(words), "expected '{words}' in: {message}");
        assert!(reply.body.len() < 4096, "the answer echoes the input whole");
    }
    let records = logs.lines().filter(|l| l.contains("\"outcome\":")).count();
    assert_eq!(records, cases.len(), "one log record per event:\n{logs}");
    assert!(
        logs.lines().all(|l| l.len() < 4096),
        "a log record echoes the input whole"
    );
    assert!(stack.table.items().await.is_empty());
    assert!(stack.sim.requests().is_empty(), "no LTIaaS call was spent");
}

#[tokio::test]
async fn form_media_types_match_as_http_does() {
    for via in BOTH {
        let stack = Stack::start().await;
        let ltik = stack.ltik_for("p", "c", "r", Some("k"));
        let mut form = event("launch-post-form.json", &ltik);
        form["headers"]
            .as_object_mut()
            .unwrap()
            .retain(|name, _| !name.eq_ignore_ascii_case("content-type"));
        form["headers"]["Content-Type"] = "Application/X-WWW-Form-Urlencoded; charset=UTF-8".into();
        let (replies, _) = send(via, &stack.launch_env(), &[form]).await;
        assert_eq!(replies[0].status, 200, "{via:?}: {}", replies[0].body);
        assert_eq!(s(&stack.activities().await[0], "serviceKey"), Some("k"));
    }
}

/// A stalled table fails the launch with a 503 inside its own time limit,
/// instead of holding it past the Lambda timeout.
#[tokio::test]
async fn a_stalled_table_gives_503_in_time() {
    use ltisync_tests::aws_proxy::{DynamoFault, RecordingProxy};
    for via in BOTH {
        let stack = Stack::start().await;
        let proxy = RecordingProxy::start(&stack.table.endpoint).await;
        proxy.inject(
            "UpdateItem",
            DynamoFault::Stall(Duration::from_secs(30)),
            100,
        );
        let ltik = stack.ltik_for("p", "c", "r", Some("k"));
        let mut env = launch_env(
            &stack.sim.url(),
            &stack.sim.api_key(),
            &stack.table.name,
            &proxy.url(),
        );
        env.insert("DYNAMODB_TIMEOUT_MS".into(), "1500".into());
        env.insert("DYNAMODB_ATTEMPT_TIMEOUT_MS".into(), "500".into());
        let rig = LaunchRig::start(via, &env).await;
        let started = std::time::Instant::now();
        let reply = rig.send(&event("launch.json", &ltik)).await;
        let took = started.elapsed();
        rig.finish().await;
        assert_eq!(reply.status, 503, "{via:?}: {}", reply.body);
        assert!(
            took < Duration::from_secs(10),
            "{via:?}: the launch waited {took:?} for a stalled table"
        );
    }
}

/// LTIaaS answers with a service key of the wrong type: the launch fails as
/// LTIaaS's fault (502), and neither the answer nor the log quotes the value.
#[tokio::test]
async fn a_service_key_of_the_wrong_type_is_never_quoted() {
    let stack = Stack::start().await;
    let ltik = stack.ltik_for("p", "c", "r", Some("k"));
    let token = r#"{"ltiVersion":"1.3.0","user":{"id":"u","roles":[]},"platform":{"id":"p"},
        "launch":{"type":"LtiResourceLinkRequest","context":{"id":"c"},"resourceLink":{"id":"r"}},
        "services":{"serviceKey":987654321012345678}}"#;
    let answer = FaultAction::Status {
        status: 200,
        body: Some(token.into()),
        retry_after: None,
    };
    stack.sim.inject(Fault::on(Route::IdToken, answer, Some(1)));
    let mut env = stack.launch_env();
    env.insert("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into());
    let (replies, logs) = send(Via::Binary, &env, &[event("launch.json", &ltik)]).await;
    assert_eq!(replies[0].status, 502, "{}", replies[0].body);
    assert!(
        logs.contains("services.serviceKey"),
        "the field is named: {logs}"
    );
    for leaked in [&logs, &replies[0].body] {
        assert!(!leaked.contains("987654321012345678"), "quoted: {leaked}");
    }
    assert!(stack.table.items().await.is_empty());
}

/// Ids that make the activity's key longer than DynamoDB allows get a
/// permanent 4xx that names the id and the limit, not a 503 inviting
/// retries that can never succeed.
#[tokio::test]
async fn ids_too_long_for_a_key_get_a_4xx_naming_the_id_and_the_limit() {
    for via in BOTH {
        let stack = Stack::start().await;
        let link = "l".repeat(3000);
        let ltik = stack.ltik_for("p", "c", &link, Some("k"));
        let mut json_event = event("launch.json", &ltik);
        json_event["headers"]["accept"] = "application/json".into();
        let (replies, _) = send(via, &stack.launch_env(), &[json_event]).await;
        let reply = &replies[0];
        assert_eq!(reply.status, 422, "{via:?}: {}", reply.body);
        assert_eq!(reply.json()["error"]["code"], "ids_too_long");
        let message = error_message(reply);
        assert!(
            message.contains("resource link id is 3000 bytes") && message.contains("2048"),
            "{message}"
        );
        assert!(stack.table.items().await.is_empty());
    }
}

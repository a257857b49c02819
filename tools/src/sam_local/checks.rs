//! What each event must do when SAM CLI runs it, checked against the table
//! and the simulator: launches answer as docs/how-it-works.md says and store the
//! activity, the schedule posts the grades, the dry run writes nothing, the
//! stream batch posts the newest value, and the API answers real HTTP.

use std::time::Duration;

use ltisync_tests::rigs::{api_gateway_reply, HttpReply, SAMPLE_LTIK};
use ltisync_tools::console::{say, step};
use ltisync_tools::sample::TOOL_URL;
use ltisync_tools::table::text;
use serde_json::{json, Value};

use crate::sam::{self, Invocation, SamOptions};
use crate::stack::Stack;

/// The checks made so far and the ones that failed.
#[derive(Default)]
pub struct Checks {
    count: usize,
    failures: Vec<String>,
}

impl Checks {
    /// Records one check and prints its result.
    pub fn check(&mut self, what: &str, passed: bool, detail: impl std::fmt::Display) {
        self.count += 1;
        if passed {
            say(&format!("ok   {what}"));
        } else {
            say(&format!("FAIL {what}: {detail}"));
            self.failures.push(format!("{what}: {detail}"));
        }
    }

    /// How many checks ran.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The failed ones.
    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    /// True when none failed.
    pub fn all_passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs one event through `sam local invoke` and prints what it answered
/// and the emulator's REPORT line.
async fn invoke(
    stack: &Stack,
    sam: &SamOptions<'_>,
    function: &str,
    event: &str,
) -> Result<Invocation, String> {
    step(&format!(
        "sam local invoke {function} --event events/{event}"
    ));
    let invocation = sam::run(&stack.repo, &sam.invoke(function, event)).await?;
    say(&format!(
        "answered in {:.1} s: {}",
        invocation.took.as_secs_f64(),
        excerpt(&invocation.answer)
    ));
    say(invocation.report().unwrap_or("(no REPORT line)"));
    Ok(invocation)
}

/// The answer as printed: the body cut short and the sample ltik (passed
/// on to the tool in the redirect) never shown.
fn excerpt(answer: &Value) -> String {
    let mut shown: Value = serde_json::from_str(&answer.to_string().replace(SAMPLE_LTIK, "<ltik>"))
        .expect("JSON stays JSON");
    if let Some(body) = shown.get_mut("body") {
        *body = json!(ltisync::excerpt::excerpt_to(
            body.as_str().unwrap_or_default(),
            80
        ));
    }
    ltisync::excerpt::excerpt_to(&shown.to_string(), 400)
}

/// The launch function's events: four launches capture the activity and
/// redirect, the one without an ltik gets a 400 that names it, and the
/// status page shows the instructor the activity.
pub async fn launch_events(
    stack: &Stack,
    sam: &SamOptions<'_>,
    checks: &mut Checks,
) -> Result<(), String> {
    for (function, event) in sam::EVENTS.iter().filter(|(f, _)| *f == "LaunchFunction") {
        let refused = *event == "launch-missing-ltik.json";
        let status = *event == "status.json";
        if !(refused || status) {
            stack.forget_activity().await;
        }
        let invocation = invoke(stack, sam, function, event).await?;
        let reply = match invocation.answered() {
            Ok(answer) => api_gateway_reply(answer),
            Err(why) => {
                checks.check(&format!("{event} answers"), false, why);
                continue;
            }
        };
        if refused {
            refused_for_missing_ltik(event, &reply, checks);
        } else if status {
            status_page_shown(event, &reply, &[], checks);
        } else {
            redirected_and_stored(stack, event, &reply, checks).await;
        }
    }
    Ok(())
}

fn refused_for_missing_ltik(what: &str, reply: &HttpReply, checks: &mut Checks) {
    checks.check(&format!("{what}: 400"), reply.status == 400, reply.status);
    checks.check(
        &format!("{what}: the page names the ltik"),
        reply.body.contains("ltik"),
        &reply.body,
    );
}

async fn redirected_and_stored(stack: &Stack, what: &str, reply: &HttpReply, checks: &mut Checks) {
    let location = reply.header("location").unwrap_or_default();
    checks.check(
        &format!("{what}: 302 to the tool"),
        reply.status == 302 && location.starts_with(TOOL_URL),
        format!("{} {location}", reply.status),
    );
    let activity = stack.item("ACTIVITY").await.unwrap_or_default();
    checks.check(
        &format!("{what}: the activity and its service key are in the table"),
        text(&activity, "contextId") == "course-101" && !text(&activity, "serviceKey").is_empty(),
        "no activity item with a service key",
    );
}

/// The status page: 200, HTML framed by any site, the activity's title,
/// and each of `rows` (text the grades' rows must hold).
fn status_page_shown(what: &str, reply: &HttpReply, rows: &[&str], checks: &mut Checks) {
    let csp = reply.header("content-security-policy").unwrap_or_default();
    checks.check(
        &format!("{what}: 200, a page the LMS may frame"),
        reply.status == 200 && csp.contains("frame-ancestors *"),
        format!("{} {csp}", reply.status),
    );
    let shown =
        reply.body.contains("<h1>Grades for ") && rows.iter().all(|r| reply.body.contains(r));
    checks.check(
        &format!("{what}: the activity's grades"),
        shown,
        excerpt(&serde_json::Value::String(reply.body.clone())),
    );
}

/// The schedule posts two grades, the dry run writes nothing, the stream
/// batch posts a grade's newest value.
pub async fn sync_events(
    stack: &Stack,
    sam: &SamOptions<'_>,
    checks: &mut Checks,
) -> Result<(), String> {
    stack.write_grade("u1", 80.0).await;
    stack.write_grade("u2", 65.0).await;
    let daily = invoke(stack, sam, "SyncFunction", "schedule.json").await?;
    let posted = daily
        .answered()
        .map(|a| a["gradesPosted"].clone())
        .unwrap_or_default();
    checks.check(
        "schedule.json: the summary counts 2 grades posted",
        posted == 2,
        &posted,
    );
    for (user, score) in [("u1", 80.0), ("u2", 65.0)] {
        let received = stack.scores_of(user).await;
        checks.check(
            &format!("schedule.json: {user}'s {score} is at the LMS"),
            received == [score],
            format!("{received:?}"),
        );
        let status = text(
            &stack
                .item(&format!("GRADE#{user}"))
                .await
                .unwrap_or_default(),
            "syncStatus",
        );
        checks.check(
            &format!("schedule.json: {user} is SYNCED"),
            status == "SYNCED",
            status,
        );
    }
    dry_run(stack, sam, checks).await?;
    stream_batch(stack, sam, checks).await
}

async fn dry_run(stack: &Stack, sam: &SamOptions<'_>, checks: &mut Checks) -> Result<(), String> {
    stack.write_grade("u3", 55.0).await;
    let before = stack.all_items().await;
    let run = invoke(stack, sam, "SyncFunction", "sync-one-activity-dry-run.json").await?;
    let dry = run
        .answered()
        .map(|a| a["dryRun"].clone())
        .unwrap_or_default();
    checks.check(
        "sync-one-activity-dry-run.json: the summary says dryRun",
        dry == true,
        &dry,
    );
    let unchanged = stack.all_items().await == before;
    checks.check(
        "sync-one-activity-dry-run.json: the table is unchanged",
        unchanged,
        "items changed",
    );
    let received = stack.scores_of("u3").await;
    checks.check(
        "sync-one-activity-dry-run.json: nothing posted",
        received.is_empty(),
        format!("{received:?}"),
    );
    Ok(())
}

async fn stream_batch(
    stack: &Stack,
    sam: &SamOptions<'_>,
    checks: &mut Checks,
) -> Result<(), String> {
    stack.write_grade("u1", 90.0).await;
    let batch = invoke(stack, sam, "GradeStreamFunction", "grade-stream.json").await?;
    let answer = batch.answered().cloned().unwrap_or_default();
    checks.check(
        "grade-stream.json: a partial batch response with no failures",
        answer == json!({"batchItemFailures": []}),
        &answer,
    );
    let received = stack.scores_of("u1").await;
    checks.check(
        "grade-stream.json: u1's newest 90 is at the LMS",
        received == [80.0, 90.0],
        format!("{received:?}"),
    );
    Ok(())
}

/// `sam local start-api` and real HTTP: GET and form POST launches, a
/// launch without an ltik, and the status page with the grades the sync
/// events posted.
pub async fn start_api(
    stack: &Stack,
    sam: &SamOptions<'_>,
    checks: &mut Checks,
) -> Result<(), String> {
    let port = ltisync_tests::dynamo::free_port();
    step(&format!("sam local start-api on 127.0.0.1:{port}"));
    let log = stack.repo.join("target/sam-local/start-api.log");
    let api = sam::Api::start(&stack.repo, &sam.start_api(port), port, &log).await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("HTTP client");
    stack.forget_activity().await;
    let get = http
        .get(format!("{}/launch?ltik={SAMPLE_LTIK}", api.url))
        .send()
        .await;
    let reply = http_reply(get).await;
    redirected_and_stored(stack, "GET /launch?ltik=", &reply, checks).await;
    stack.forget_activity().await;
    let post = http
        .post(format!("{}/launch", api.url))
        .form(&[("ltik", SAMPLE_LTIK)])
        .send()
        .await;
    let reply = http_reply(post).await;
    redirected_and_stored(stack, "POST /launch (form)", &reply, checks).await;
    let reply = http_reply(http.get(format!("{}/launch", api.url)).send().await).await;
    refused_for_missing_ltik("GET /launch without an ltik", &reply, checks);
    let status = http
        .get(format!("{}/status?ltik={SAMPLE_LTIK}", api.url))
        .send()
        .await;
    let reply = http_reply(status).await;
    let rows = ["In the gradebook", "u1"];
    status_page_shown("GET /status?ltik=", &reply, &rows, checks);
    let log = api.stop().await;
    for line in sam::report_lines(&log) {
        say(line);
    }
    Ok(())
}

async fn http_reply(sent: reqwest::Result<reqwest::Response>) -> HttpReply {
    let Ok(answer) = sent else {
        return HttpReply {
            status: 0,
            headers: Default::default(),
            body: format!("{sent:?}"),
        };
    };
    let status = answer.status().as_u16();
    let headers = answer
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let body = answer.text().await.unwrap_or_default();
    HttpReply {
        status,
        headers,
        body,
    }
}

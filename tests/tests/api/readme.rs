//! The docs tell the truth: the grade-writing examples of docs/writing-grades.md (the AWS CLI item
//! and the Python function) produce grades the sync posts.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use ltisync::launch::{LaunchService, LaunchTimings};
use ltisync::Ltik;
use ltisync_tests::dynamo::TestTable;
use ltisync_tests::ltiaas::{self, Limits};
use ltisync_tests::repo_root;
use ltisync_tests::rigs::{event_file, sync_env, SyncRig, Via};
use ltisync_tests::simulator::{LaunchSpec, Simulator};
use serde_json::Value;

/// The guide that documents the grade schema and its writers.
fn readme() -> String {
    std::fs::read_to_string(repo_root().join("docs/writing-grades.md"))
        .expect("docs/writing-grades.md")
}

/// The first fenced block of `language` after `heading`.
fn block_after(text: &str, heading: &str, language: &str) -> String {
    let from = text
        .find(heading)
        .unwrap_or_else(|| panic!("docs/writing-grades.md has '{heading}'"));
    let fence = format!("```{language}\n");
    let start = from + text[from..].find(&fence).expect("a code block") + fence.len();
    let end = start + text[start..].find("```").expect("a closed block");
    text[start..end].to_owned()
}

fn attribute(value: &Value) -> AttributeValue {
    let (kind, inner) = value.as_object().unwrap().iter().next().unwrap();
    let inner = inner.as_str().unwrap().to_owned();
    match kind.as_str() {
        "S" => AttributeValue::S(inner),
        "N" => AttributeValue::N(inner),
        other => panic!("unexpected type {other}"),
    }
}

#[tokio::test]
async fn the_documented_grade_writes_are_posted_by_the_sync() {
    let sim = Simulator::start().await.unwrap();
    let table = TestTable::create().await;
    let client = ltiaas::client(&sim, &sim.api_key(), Limits::TESTS);
    let launcher = LaunchService::new(client, table.store());
    for (i, (p, c, r)) in [("demo-platform", "course-101", "quiz-1")]
        .into_iter()
        .enumerate()
    {
        let ltik = sim.add_launch(LaunchSpec::new(p, c, r, Some(&format!("key-{i}"))));
        launcher
            .capture(&Ltik::new(ltik), &mut LaunchTimings::default())
            .await
            .unwrap();
    }

    // The AWS CLI example, item as written.
    let cli = block_after(&readme(), "### By hand, with the AWS CLI", "sh");
    let json = &cli[cli.find("--item '").unwrap() + "--item '".len()..cli.rfind('\'').unwrap()];
    let item: HashMap<String, AttributeValue> =
        serde_json::from_str::<serde_json::Map<String, Value>>(json)
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), attribute(v)))
            .collect();
    table
        .client
        .put_item()
        .table_name(&table.name)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();

    // The Python and Node examples, run with the writers in clients/.
    let python = block_after(&readme(), "### With Python (`ltisync_writer`)", "python");
    let python = python.replace("\"my-ltisync-table\"", &format!("\"{}\"", table.name));
    let python_bin = repo_root().join(".venv/bin/python");
    run_writer(
        &table,
        python_bin.to_str().unwrap(),
        &["-c", &python],
        "clients/python",
    );
    let node = block_after(&readme(), "### With Node (`ltisync-writer`)", "js")
        .replace("from \"ltisync-writer\"", "from \"./dist/index.js\"")
        .replace("\"my-ltisync-table\"", &format!("\"{}\"", table.name));
    run_writer(
        &table,
        "node",
        &["--input-type=module", "-e", &node],
        "clients/node",
    );

    // Every example writes only what the stack's GradeWriterPolicy allows.
    let allowed = crate::template::grade_writer_attributes();
    let grades: Vec<_> = table
        .items()
        .await
        .into_iter()
        .filter(|item| matches!(item.get("sk"), Some(AttributeValue::S(sk)) if sk.starts_with("GRADE#")))
        .collect();
    assert_eq!(grades.len(), 3);
    for grade in &grades {
        for name in grade.keys() {
            assert!(
                allowed.contains(name),
                "{name} is outside GradeWriterPolicy"
            );
        }
    }

    let rig = SyncRig::start(
        Via::Handler,
        &sync_env(&sim.url(), &sim.api_key(), &table.name, &table.endpoint),
    )
    .await;
    let summary = rig
        .run(&event_file("schedule.json"), Duration::from_secs(60))
        .await;
    assert_eq!(summary["gradesPosted"], 3, "{summary}");
    assert_eq!(summary["gradesFailed"], 0, "{summary}");
    let mut bodies: Vec<Value> = sim.scores().into_iter().map(|s| s.body).collect();
    bodies.sort_by_key(|b| b["userId"].as_str().unwrap().to_owned());
    let users: Vec<&str> = bodies
        .iter()
        .map(|b| b["userId"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["learner-ada", "learner-alan", "learner-grace"]);
    assert_eq!(bodies[0]["comment"], "Great work");
    assert_eq!(bodies[1]["scoreGiven"], 0.0);
    assert_eq!(bodies[2]["scoreGiven"], 78.5);
    // Every example sends the submission time; the simulated LMS is Canvas.
    for body in &bodies {
        assert_eq!(
            body["submission"]["submittedAt"], "2026-11-27T22:05:00Z",
            "{body}"
        );
        assert_eq!(
            body["https://canvas.instructure.com/lti/submission"]["submitted_at"],
            "2026-11-27T22:05:00Z"
        );
    }
}

/// Runs a documented writer example against the test table; it must succeed.
fn run_writer(table: &TestTable, program: &str, args: &[&str], dir: &str) {
    let dir = repo_root().join(dir);
    let output = std::process::Command::new(program)
        .args(args)
        .current_dir(&dir)
        .env("PYTHONPATH", &dir)
        .env("AWS_ENDPOINT_URL", &table.endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .unwrap_or_else(|e| panic!("{program} runs (make test-clients, make venv): {e}"));
    assert!(
        output.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

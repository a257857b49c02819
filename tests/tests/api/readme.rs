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
    for (i, (p, c, r)) in [
        ("demo-platform", "course-101", "quiz-1"),
        ("plat/1", "course #2", "quiz é"),
    ]
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
    let cli = block_after(&readme(), "### With the AWS CLI", "sh");
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

    // The Python example, run by the project's Python with boto3.
    let mut python = block_after(&readme(), "### With Python (boto3)", "python");
    python.push_str(&format!(
        "\nimport os\ntable = boto3.resource('dynamodb', endpoint_url=os.environ['ENDPOINT']).Table('{}')\n\
         import datetime\n\
         submitted = datetime.datetime(2026, 11, 27, 23, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))\n\
         record_grade(table, 'plat/1', 'course #2', 'quiz é', 'learner #2/ü', 7.5, 10, 'From Python', submitted_at=submitted)\n",
        table.name
    ));
    let script = std::env::temp_dir().join(format!(
        "ltisync-readme-{}.py",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&script, python).unwrap();
    let output = std::process::Command::new(repo_root().join(".venv/bin/python"))
        .arg(&script)
        .env("ENDPOINT", &table.endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect("the project's Python runs (make venv)");
    std::fs::remove_file(&script).ok();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Both examples write only what the stack's GradeWriterPolicy allows.
    let allowed = crate::template::grade_writer_attributes();
    let grades: Vec<_> = table
        .items()
        .await
        .into_iter()
        .filter(|item| matches!(item.get("sk"), Some(AttributeValue::S(sk)) if sk.starts_with("GRADE#")))
        .collect();
    assert_eq!(grades.len(), 2);
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
    assert_eq!(summary["gradesPosted"], 2, "{summary}");
    assert_eq!(summary["gradesFailed"], 0, "{summary}");
    let mut bodies: Vec<Value> = sim.scores().into_iter().map(|s| s.body).collect();
    bodies.sort_by_key(|b| b["userId"].as_str().unwrap().to_owned());
    assert_eq!(bodies[0]["userId"], "learner #2/ü");
    assert_eq!(bodies[0]["scoreGiven"], 7.5);
    assert_eq!(bodies[1]["userId"], "learner-ada");
    assert_eq!(bodies[1]["comment"], "Great work");
    // Both examples send the submission time; the simulated LMS is Canvas.
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

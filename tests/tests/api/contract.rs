//! A grade write cannot go wrong silently: the three mistakes a tool makes
//! each end in a stored, documented reason, on the stream path and the
//! daily run alike, through the real sync binary. A misspelled attribute
//! fails with `unknownAttribute` (naming the closest known name) and posts
//! nothing, where it used to post a cleared score; a `pk` in the wrong
//! encoding fails with `nonCanonicalKey` and the canonical form; a grade
//! written without `pending` is counted by `ltisync status`.

use aws_sdk_dynamodb::types::AttributeValue;
use ltisync::ActivityIds;
use ltisync_tests::grades::without;
use ltisync_tests::rigs::{event_file, SyncRig, Via};
use ltisync_tests::stream::{EventSourceMapping, MappingSettings};

use crate::cli::ltisync;
use crate::helpers::{documented_grade, s, Item, Stack, LONG};

/// A grade of `user` that says `score_given` where it means `scoreGiven`.
fn misspelled(ids: &ActivityIds, user: &str) -> Item {
    let item = documented_grade(
        ids,
        user,
        &[("score_given", AttributeValue::N("90".into()))],
    );
    without(item, &["scoreGiven"])
}

/// A grade whose `pk` spells the platform's `/` as `%2f` (lower-case hex).
fn lower_case_hex(ids: &ActivityIds, user: &str) -> Item {
    let mut item = documented_grade(ids, user, &[]);
    let pk = match &item["pk"] {
        AttributeValue::S(pk) => pk.replace("%2F", "%2f"),
        other => panic!("pk {other:?}"),
    };
    item.insert("pk".into(), AttributeValue::S(pk.clone()));
    item.insert("pending".into(), AttributeValue::S(pk));
    item
}

/// The item at `pk`/`sk` as stored.
async fn stored(stack: &Stack, item: &Item) -> Item {
    let text = |name: &str| match &item[name] {
        AttributeValue::S(v) => v.clone(),
        other => panic!("{name} {other:?}"),
    };
    ltisync_tests::dynamo::get_item(
        &stack.table.client,
        &stack.table.name,
        &text("pk"),
        &text("sk"),
    )
    .await
    .expect("the item")
}

fn assert_refused(item: &Item, code: &str, says: &str) {
    assert_eq!(s(item, "syncStatus"), Some("FAILED"), "{item:?}");
    assert_eq!(s(item, "lastErrorCode"), Some(code), "{item:?}");
    let reason = s(item, "lastError").unwrap_or_default();
    assert!(reason.contains(says), "{reason}");
}

/// The platform id has a `/`, so its canonical encoding has `%2F`.
async fn launched() -> (Stack, ActivityIds) {
    let stack = Stack::start().await;
    let ids = stack.launch("plat/1", "c", "quiz", Some("k")).await;
    (stack, ids)
}

#[tokio::test]
async fn the_stream_refuses_a_misspelled_attribute_and_a_wrongly_encoded_key() {
    let (stack, ids) = launched().await;
    let settings = MappingSettings::default();
    let mut mapping =
        EventSourceMapping::attach(&stack.table.endpoint, &stack.table.name, settings).await;
    let rig = SyncRig::start(Via::Binary, &stack.env()).await;
    let (typo, key) = (misspelled(&ids, "ada"), lower_case_hex(&ids, "bob"));
    stack.put(typo.clone()).await;
    stack.put(key.clone()).await;
    stack.grade(&ids, "cy", 70.0).await;
    mapping
        .drain(&rig, std::time::Duration::from_millis(600))
        .await;
    assert!(mapping.deliveries.iter().all(|d| d.failures.is_empty()));
    assert_refused(
        &stored(&stack, &typo).await,
        "unknownAttribute",
        "did you mean 'scoreGiven'?",
    );
    let canonical = "ACT#plat%2F1#c#quiz";
    assert_refused(&stored(&stack, &key).await, "nonCanonicalKey", canonical);
    let users: Vec<String> = stack
        .sim
        .scores()
        .iter()
        .map(|p| p.body["userId"].to_string())
        .collect();
    assert_eq!(users, ["\"cy\""], "only the valid grade reaches the LMS");
    rig.finish().await;
}

#[tokio::test]
async fn the_daily_run_refuses_them_too_and_status_counts_a_grade_never_queued() {
    let (stack, ids) = launched().await;
    let (typo, key) = (misspelled(&ids, "ada"), lower_case_hex(&ids, "bob"));
    stack.put(typo.clone()).await;
    stack.put(key.clone()).await;
    stack
        .put(without(documented_grade(&ids, "dan", &[]), &["pending"]))
        .await;
    stack.grade(&ids, "cy", 70.0).await;
    let rig = SyncRig::start(Via::Binary, &stack.env()).await;
    let summary = rig.run(&event_file("schedule.json"), LONG).await;
    assert_eq!(
        (
            summary["gradesPosted"].as_u64(),
            summary["gradesFailed"].as_u64()
        ),
        (Some(1), Some(2)),
        "{summary}"
    );
    // The index's copy lacks the misspelled attribute: the confirmation
    // reads the whole item and refuses it before anything is posted.
    assert_refused(
        &stored(&stack, &typo).await,
        "unknownAttribute",
        "'score_given'",
    );
    assert_refused(
        &stored(&stack, &key).await,
        "nonCanonicalKey",
        "ACT#plat%2F1#c#quiz",
    );
    assert_eq!(stack.sim.scores().len(), 1, "only cy's grade was posted");
    let status = ltisync(&stack, Some(&stack.table.name), &["status"]).await;
    assert!(
        status.stdout.contains("never queued: 1"),
        "{}",
        status.stdout
    );
    let json = ltisync(&stack, Some(&stack.table.name), &["status", "--json"]).await;
    assert_eq!(json.json()["totals"]["neverQueued"], 1, "{}", json.stdout);
    // A requeue writes the misspelled attribute back: the grade fails again
    // instead of posting a cleared score.
    let key = ids.key().to_string();
    let requeue = ["requeue", "--activity", key.as_str(), "--user", "ada"];
    assert_eq!(
        ltisync(&stack, Some(&stack.table.name), &requeue)
            .await
            .code,
        0
    );
    rig.run(&event_file("schedule.json"), LONG).await;
    assert_refused(
        &stored(&stack, &typo).await,
        "unknownAttribute",
        "'score_given'",
    );
    assert_eq!(stack.sim.scores().len(), 1, "still only cy's grade");
    rig.finish().await;
}

/// The daily run works from the index's copies, which carry only the
/// schema's attributes (where the server honours the projection, as
/// DynamoDB does): the confirmation's write returns the whole item, and a
/// misspelled attribute there refuses the grade.
#[tokio::test]
async fn confirming_a_copy_reads_what_the_index_does_not_carry() {
    let (stack, ids) = launched().await;
    let typo = misspelled(&ids, "ada");
    stack.put(typo.clone()).await;
    let copy = ltisync::store::PendingGrade::from_item(without(typo, &["score_given"]));
    assert!(
        copy.grade.is_ok(),
        "the copy alone looks valid: {:?}",
        copy.grade
    );
    let now = time::OffsetDateTime::now_utc();
    let confirmed = stack.store.confirm_current(&copy, now).await.unwrap();
    let ltisync::store::Confirmation::Refused(refused) = confirmed else {
        panic!("confirmed as {confirmed:?}");
    };
    assert!(
        refused.to_string().contains("did you mean 'scoreGiven'?"),
        "{refused}"
    );
}

/// clients/vectors.json, the contract the Node and Python writers test
/// against too: the Rust writer (`GradeItem::pending`) writes each valid
/// grade's item exactly, and the parser reads it back as the same grade;
/// each invalid grade, written by hand as a tool would, is refused by the
/// parser with the vector's code, the one the sync stores.
#[test]
fn the_writers_contract_holds_for_the_rust_writer_and_the_parser() {
    let path = ltisync_tests::repo_root().join("clients/vectors.json");
    let vectors: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("vectors")).expect("JSON");
    let valid = vectors["valid"].as_array().expect("valid vectors");
    let invalid = vectors["invalid"].as_array().expect("invalid vectors");
    assert!(valid.len() >= 5 && invalid.len() >= 10);
    for vector in valid {
        let (ids, grade) = rust_grade(&vector["grade"]);
        let written = ltisync::store::GradeItem::pending(&ids, &grade)
            .to_item()
            .unwrap();
        assert_eq!(
            written,
            attribute_values(&vector["item"]),
            "{}",
            vector["name"]
        );
        let read = ltisync::store::PendingGrade::from_item(written);
        assert_eq!(read.grade.as_ref().ok(), Some(&grade), "{}", vector["name"]);
    }
    for vector in invalid {
        let read = ltisync::store::PendingGrade::from_item(hand_written(&vector["grade"]));
        let refused = read.grade.expect_err(vector["name"].as_str().unwrap());
        let code = ltisync::outcome::FailReason::from(refused).code();
        assert_eq!(code.as_str(), vector["code"], "{}", vector["name"]);
    }
}

/// A vector's grade as the Rust writer takes it.
fn rust_grade(grade: &serde_json::Value) -> (ActivityIds, ltisync::Grade) {
    let text = |name: &str| grade[name].as_str().map(str::to_owned);
    let at = |name: &str| {
        text(name).map(|t| {
            time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339)
                .expect("an RFC 3339 time")
        })
    };
    let ids = ActivityIds::new(
        text("platformId").unwrap(),
        text("contextId").unwrap(),
        text("resourceLinkId").unwrap(),
    )
    .unwrap();
    let grade = ltisync::Grade {
        user_id: text("userId").unwrap(),
        score_given: grade["scoreGiven"].as_f64(),
        score_maximum: grade["scoreMaximum"].as_f64(),
        comment: text("comment"),
        activity_progress: text("activityProgress")
            .map_or(Default::default(), |p| p.parse().unwrap()),
        grading_progress: text("gradingProgress")
            .map_or(Default::default(), |p| p.parse().unwrap()),
        graded_at: at("gradedAt").unwrap(),
        started_at: at("startedAt"),
        submitted_at: at("submittedAt"),
    };
    (ids, grade)
}

/// A vector's grade written by hand, attribute for attribute.
fn hand_written(grade: &serde_json::Value) -> Item {
    let text = |name: &str| grade[name].as_str().unwrap_or_default().to_owned();
    let ids = ActivityIds::new(
        text("platformId"),
        text("contextId"),
        text("resourceLinkId"),
    )
    .unwrap();
    let pk = format!("ACT#{}", ids.key());
    let sk = format!(
        "GRADE#{}",
        ltisync::activity::encode_key_component(&text("userId"))
    );
    let mut item = Item::from([
        ("pk".into(), AttributeValue::S(pk.clone())),
        ("sk".into(), AttributeValue::S(sk)),
        ("pending".into(), AttributeValue::S(pk)),
        ("schemaVersion".into(), AttributeValue::N("1".into())),
    ]);
    for (name, value) in grade.as_object().unwrap() {
        if matches!(name.as_str(), "platformId" | "contextId" | "resourceLinkId") {
            continue;
        }
        let value = match value {
            serde_json::Value::Number(n) => AttributeValue::N(n.to_string()),
            other => AttributeValue::S(other.as_str().unwrap_or_default().to_owned()),
        };
        item.insert(name.clone(), value);
    }
    item
}

/// A vector's item (`{"name": {"S": "…"}}`) as the SDK's attribute values.
fn attribute_values(item: &serde_json::Value) -> Item {
    let of = |value: &serde_json::Value| match value.as_object().and_then(|o| o.iter().next()) {
        Some((kind, v)) if kind == "S" => AttributeValue::S(v.as_str().unwrap().to_owned()),
        Some((kind, v)) if kind == "N" => AttributeValue::N(v.as_str().unwrap().to_owned()),
        other => panic!("{other:?}"),
    };
    item.as_object()
        .unwrap()
        .iter()
        .map(|(name, value)| (name.clone(), of(value)))
        .collect()
}

/// Each writer (Node, Python, Rust) records a grade into the real table;
/// the sync binary posts all three and the simulated LMS receives them.
/// `make test-clients` builds the Node writer first (`make test` does).
#[tokio::test]
async fn a_grade_from_each_writer_reaches_the_gradebook() {
    let stack = Stack::start().await;
    let ids = stack.launch("plat/1", "c", "quiz", Some("k")).await;
    let root = ltisync_tests::repo_root();
    let node_writer = root.join("clients/node/dist/index.js");
    assert!(
        node_writer.exists(),
        "build the Node writer first: make test-clients"
    );
    let grade = |user: &str, score: u32| {
        format!(
            r#"{{"platformId": "plat/1", "contextId": "c", "resourceLinkId": "quiz", "userId": "{user}", "scoreGiven": {score}, "scoreMaximum": 100}}"#
        )
    };
    let node = format!(
        "import {{ DynamoDBClient }} from '@aws-sdk/client-dynamodb';\n\
         import {{ recordGrade }} from './dist/index.js';\n\
         await recordGrade(new DynamoDBClient({{}}), process.env.TABLE, {});",
        grade("node-user", 81)
    );
    writer(
        &stack,
        "node",
        &["--input-type=module", "-e", &node],
        &root.join("clients/node"),
    )
    .await;
    let python = format!(
        "import boto3, json\nfrom ltisync_writer import record_grade\n\
         g = json.loads('{}')\n\
         record_grade(boto3.client('dynamodb'), __import__('os').environ['TABLE'],\n\
           platform_id=g['platformId'], context_id=g['contextId'], resource_link_id=g['resourceLinkId'],\n\
           user_id=g['userId'], score_given=g['scoreGiven'], score_maximum=g['scoreMaximum'])",
        grade("python-user", 82)
    );
    let python_bin = root.join(".venv/bin/python");
    writer(
        &stack,
        python_bin.to_str().unwrap(),
        &["-c", &python],
        &root.join("clients/python"),
    )
    .await;
    stack.grade(&ids, "rust-user", 83.0).await;
    let rig = SyncRig::start(Via::Binary, &stack.env()).await;
    let summary = rig.run(&event_file("schedule.json"), LONG).await;
    assert_eq!(summary["gradesPosted"], 3, "{summary}");
    let mut received: Vec<(String, f64)> = stack
        .sim
        .scores()
        .iter()
        .map(|p| {
            (
                p.body["userId"].as_str().unwrap().to_owned(),
                p.body["scoreGiven"].as_f64().unwrap(),
            )
        })
        .collect();
    received.sort_by(|a, b| a.0.cmp(&b.0));
    let expected = [
        ("node-user", 81.0),
        ("python-user", 82.0),
        ("rust-user", 83.0),
    ];
    let expected: Vec<(String, f64)> = expected.iter().map(|(u, s)| (u.to_string(), *s)).collect();
    assert_eq!(received, expected);
    rig.finish().await;
}

/// Runs one writer's program against the stack's table; it must succeed.
async fn writer(stack: &Stack, program: &str, args: &[&str], dir: &std::path::Path) {
    let output = tokio::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("TABLE", &stack.table.name)
        .env("AWS_ENDPOINT_URL_DYNAMODB", &stack.table.endpoint)
        .env("AWS_ENDPOINT_URL", &stack.table.endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("PYTHONPATH", dir)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(
        output.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

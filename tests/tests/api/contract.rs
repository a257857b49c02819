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

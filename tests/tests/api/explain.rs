//! `ltisync explain` through the real binary, against moto and the
//! simulator: a grade queued, one written without `pending` (never queued),
//! one failed, one synced and in the gradebook as posted, one synced whose
//! gradebook value an instructor changed, and a user with no grade at all.

use aws_sdk_dynamodb::types::AttributeValue;
use ltisync_tests::grades::without;
use ltisync_tests::rigs::Via;
use ltisync_tests::simulator::ResultOverride;
use serde_json::Value;

use crate::cli::{ltisync_with, Run};
use crate::helpers::{documented_grade, Stack};

async fn explain(stack: &Stack, activity: &str, user: &str, json: bool) -> Run {
    let (url, key) = (stack.sim.url(), stack.sim.api_key());
    let env = [
        ("LTIAAS_URL", url.as_str()),
        ("LTIAAS_API_KEY", key.as_str()),
    ];
    let mut args = vec!["explain", "--activity", activity, "--user", user];
    if json {
        args.push("--json");
    }
    ltisync_with(stack, Some(&stack.table.name), &args, &env).await
}

async fn story(stack: &Stack, activity: &str, user: &str) -> (i32, Value) {
    let run = explain(stack, activity, user, true).await;
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    (run.code, run.json())
}

#[tokio::test]
async fn each_grade_is_told_with_its_next_step() {
    let stack = Stack::start().await;
    let quiz = stack.launch("p", "c", "quiz", Some("k1")).await;
    let key = quiz.key().to_string();
    stack.grade(&quiz, "bob", 50.0).await;
    stack.grade(&quiz, "cy", 70.0).await;
    let negative = [("scoreGiven", AttributeValue::N("-5".into()))];
    stack.put(documented_grade(&quiz, "eve", &negative)).await;
    let summary = stack.run(Via::Handler, &stack.env()).await;
    assert_eq!(summary["gradesPosted"], 2, "{summary}");
    let by_hand = ResultOverride::Score {
        score: 65.0,
        comment: Some("regraded by hand".into()),
    };
    stack.sim.set_result("p", "c", "cy", by_hand);
    stack.grade(&quiz, "ada", 90.0).await;
    let never = without(documented_grade(&quiz, "dan", &[]), &["pending"]);
    stack.put(never).await;

    let (code, ada) = story(&stack, &key, "ada").await;
    assert_eq!((code, ada["state"].as_str()), (0, Some("queued")), "{ada}");
    assert_eq!(ada["lmsAccepted"], Value::Null, "{ada}");

    let (code, dan) = story(&stack, &key, "dan").await;
    assert_eq!(
        (code, dan["state"].as_str()),
        (1, Some("neverQueued")),
        "{dan}"
    );
    assert!(
        dan["nextStep"].as_str().unwrap().contains("`pending`"),
        "{dan}"
    );

    let (code, eve) = story(&stack, &key, "eve").await;
    assert_eq!((code, eve["state"].as_str()), (1, Some("failed")), "{eve}");
    assert_eq!(eve["code"], "invalidGrade", "{eve}");
    assert!(
        eve["outcome"].as_str().unwrap().contains("scoreGiven"),
        "{eve}"
    );
    assert!(
        eve["nextStep"]
            .as_str()
            .unwrap()
            .contains("fix the tool's write"),
        "a requeue would repeat the tool's mistake: {eve}"
    );

    let (code, bob) = story(&stack, &key, "bob").await;
    assert_eq!((code, bob["state"].as_str()), (0, Some("synced")), "{bob}");
    assert_eq!(bob["gradebook"]["score"], 50.0, "{bob}");
    assert!(bob["lmsAccepted"]["postedAt"].is_string(), "{bob}");

    let (code, cy) = story(&stack, &key, "cy").await;
    assert_eq!((code, cy["state"].as_str()), (1, Some("synced")), "{cy}");
    assert_eq!(cy["gradebook"]["score"], 65.0, "{cy}");
    assert!(
        cy["outcome"].as_str().unwrap().contains("now shows 65"),
        "{cy}"
    );
    assert!(
        cy["nextStep"].as_str().unwrap().ends_with("--force"),
        "{cy}"
    );

    let (code, nobody) = story(&stack, &key, "zed").await;
    assert_eq!(
        (code, nobody["state"].as_str()),
        (1, Some("noItem")),
        "{nobody}"
    );

    // The text view tells the same in lines a person reads.
    let text = explain(&stack, &key, "cy", false).await;
    assert_eq!(text.code, 1);
    for line in [
        "written:",
        "LMS accepted: at ",
        "gradebook:    65/",
        "next step:",
    ] {
        assert!(text.stdout.contains(line), "{line}:\n{}", text.stdout);
    }
}

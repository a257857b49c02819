//! template.yaml stays honest: the table has exactly the keys and index the
//! code uses, and each function is granted exactly the actions it calls
//! (observed through a recording proxy while the real binaries run), on the
//! resources it touches, with no wildcard anywhere.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use ltisync::store::schema;
use ltisync::store::work::work_index_attributes;
use ltisync_tests::aws_proxy::{Call, RecordingProxy};
use ltisync_tests::dynamo::{create_secret, endpoint, TableDefinition, TestTable};
use ltisync_tests::repo_root;
use ltisync_tests::rigs::{event, event_file, launch_env, sync_env, Env, LaunchRig, SyncRig, Via};
use ltisync_tests::runtime_api::{binary, FunctionProcess, RuntimeApi};
use ltisync_tests::simulator::{LaunchSpec, Simulator};
use ltisync_tests::stream::{EventSourceMapping, MappingSettings};
use serde_norway::Value;

fn template() -> Value {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    serde_norway::from_str(&text).unwrap()
}

#[test]
fn the_table_has_the_keys_index_and_ttl_the_code_uses() {
    let table = TableDefinition::from_repo();
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        table.key_schema,
        vec![pair(schema::PK, "HASH"), pair(schema::SK, "RANGE")]
    );
    assert_eq!(
        table.indexes.len(),
        1,
        "a new stack has the work index only"
    );
    let index = &table.indexes[0];
    assert_eq!(index.name, schema::WORK_INDEX);
    assert_eq!(
        index.key_schema,
        vec![pair(schema::PENDING, "HASH"), pair(schema::SK, "RANGE")]
    );
    assert_eq!(index.projection, "INCLUDE");
    let mut projected = index.non_key_attributes.clone();
    projected.sort();
    assert_eq!(
        projected,
        work_index_attributes(),
        "the index projects exactly what the sync reads from its copies"
    );
    for key in [schema::PK, schema::SK, schema::PENDING] {
        assert!(
            table.attributes.contains(&pair(key, "S")),
            "{key} is defined as a string"
        );
    }
    assert_eq!(table.ttl_attribute.as_deref(), Some(schema::EXPIRES_AT));
    let resource = &template()["Resources"]["Table"];
    assert_eq!(resource["DeletionPolicy"].as_str(), Some("Retain"));
    let props = &resource["Properties"];
    assert_eq!(props["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(
        props["SSESpecification"]["SSEEnabled"].as_bool(),
        Some(true)
    );
}

/// What a resource expression in a policy points at.
fn resource_kind(value: &Value) -> String {
    let text = format!("{value:?}");
    if text.contains("secretsmanager") || text.contains("LtiaasApiKeySecret") {
        "secret".into()
    } else if let Some(rest) = text.split("${Table.Arn}/index/").nth(1) {
        format!(
            "index/{}",
            rest.split(|c: char| !c.is_alphanumeric() && c != '-')
                .next()
                .unwrap()
        )
    } else if text.contains("Table.Arn") {
        "table".into()
    } else if text.contains(":function:") {
        "function".into()
    } else {
        panic!("unrecognised resource {text}")
    }
}

/// (action, resource) pairs a function's inline policies grant.
fn granted(function: &str) -> BTreeSet<Call> {
    granted_by(&template()["Resources"][function]["Properties"]["Policies"])
}

/// The grants of the stream function's role policy for the calls the
/// binary itself makes (the role's other policy is what Lambda does on the
/// function's behalf: logs, reading the stream, the failure queue).
fn stream_role_policies() -> Value {
    let policies = template()["Resources"]["GradeStreamRole"]["Properties"]["Policies"].clone();
    policies
        .as_sequence()
        .expect("role policies")
        .iter()
        .find(|p| p["PolicyName"].as_str() == Some("GradeStreamCalls"))
        .map(|p| Value::Sequence(vec![p["PolicyDocument"].clone()]))
        .expect("the GradeStreamCalls policy")
}

fn granted_by(policies: &Value) -> BTreeSet<Call> {
    let mut grants = BTreeSet::new();
    for policy in policies.as_sequence().expect("inline policies") {
        for statement in policy["Statement"].as_sequence().expect("statements") {
            assert_eq!(statement["Effect"].as_str(), Some("Allow"));
            let resources: Vec<Value> = match &statement["Resource"] {
                Value::Sequence(list) => list.clone(),
                one => vec![one.clone()],
            };
            for action in statement["Action"].as_sequence().expect("actions") {
                for resource in &resources {
                    grants.insert((action.as_str().unwrap().to_owned(), resource_kind(resource)));
                }
            }
        }
    }
    grants
}

/// The attributes the stack's `GradeWriterPolicy` lets a tool write.
pub fn grade_writer_attributes() -> BTreeSet<String> {
    let statement = &template()["Resources"]["GradeWriterPolicy"]["Properties"]["PolicyDocument"]
        ["Statement"][0];
    statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]
        .as_sequence()
        .expect("a list of attributes")
        .iter()
        .map(|a| a.as_str().expect("a name").to_owned())
        .collect()
}

#[test]
fn the_grade_writer_may_put_exactly_the_grade_schema() {
    let statement = &template()["Resources"]["GradeWriterPolicy"]["Properties"]["PolicyDocument"]
        ["Statement"][0];
    assert_eq!(statement["Action"].as_str(), Some("dynamodb:PutItem"));
    let resource = format!("{:?}", statement["Resource"]);
    assert!(
        resource.contains("Table") && !resource.contains('*'),
        "{resource}"
    );
    let mut schema: BTreeSet<String> = ltisync::store::grade_item::TOOL_ATTRIBUTES
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    schema.extend([schema::PK.to_owned(), schema::SK.to_owned()]);
    assert_eq!(
        grade_writer_attributes(),
        schema,
        "the policy lists the grade schema"
    );
    for forbidden in [
        "serviceKey",
        "syncStatus",
        "lastError",
        "lastErrorCode",
        "platformId",
    ] {
        assert!(
            !grade_writer_attributes().contains(forbidden),
            "{forbidden}"
        );
    }
    assert_eq!(
        statement["Condition"]["StringEqualsIfExists"]["dynamodb:ReturnValues"].as_str(),
        Some("NONE")
    );
    assert!(!template()["Outputs"]["GradeWriterPolicyArn"].is_null());
    // The status page's requeue (the launch function's one PutItem) is held
    // to the same condition.
    let statements =
        &template()["Resources"]["LaunchFunction"]["Properties"]["Policies"][0]["Statement"];
    let resend = statements
        .as_sequence()
        .expect("statements")
        .iter()
        .find(|s| s["Sid"].as_str() == Some("ResendGrades"))
        .expect("the resend's statement");
    assert_eq!(resend["Condition"], statement["Condition"]);
}

#[test]
fn no_policy_grants_a_wildcard() {
    for function in ["LaunchFunction", "SyncFunction"] {
        // Conditions may hold patterns (`ACT#*` keys): the grants may not.
        let mut policies = template()["Resources"][function]["Properties"]["Policies"].clone();
        for policy in policies.as_sequence_mut().into_iter().flatten() {
            let statements = policy["Statement"].as_sequence_mut();
            for statement in statements.into_iter().flatten() {
                statement.as_mapping_mut().map(|s| s.remove("Condition"));
            }
        }
        let policies = format!("{policies:?}");
        assert!(!policies.contains('*'), "{function}: {policies}");
        for (action, _) in granted(function) {
            assert!(!action.contains('*'), "{action}");
        }
    }
    let role = &template()["Resources"]["GradeStreamRole"]["Properties"];
    let text = format!("{:?}", role["Policies"]);
    assert!(!text.contains('*'), "GradeStreamRole: {text}");
    assert!(
        role["ManagedPolicyArns"].is_null(),
        "the stream role has inline grants only (no managed policy with '*')"
    );
    let function_role = format!(
        "{:?}",
        template()["Resources"]["GradeStreamFunction"]["Properties"]["Role"]
    );
    assert!(
        function_role.contains("GradeStreamRole"),
        "the stream function runs with its own role, not SAM's default: {function_role}"
    );
}

/// Routes a function's AWS calls through `proxy` and reads the key from `secret`.
fn through(mut env: Env, proxy: &RecordingProxy, secret: &str) -> Env {
    env.remove("LTIAAS_API_KEY");
    env.insert("LTIAAS_API_KEY_SECRET".into(), secret.into());
    env.insert("AWS_ENDPOINT_URL_DYNAMODB".into(), proxy.url());
    env.insert("AWS_ENDPOINT_URL_SECRETS_MANAGER".into(), proxy.url());
    env
}

#[tokio::test]
async fn each_function_is_granted_exactly_what_it_calls() {
    let sim = Simulator::start().await.unwrap();
    let table = TestTable::create().await;
    let proxy = RecordingProxy::start(&table.endpoint).await;
    let secret = create_secret(&sim.api_key()).await;

    // launch: the API key from Secrets Manager, one upsert per launch, and
    // the status page's Query and requeue.
    let env = through(
        launch_env(&sim.url(), "unused", &table.name, &table.endpoint),
        &proxy,
        &secret,
    );
    let rig = LaunchRig::start(Via::Binary, &env).await;
    for link in ["a", "b"] {
        let ltik = sim.add_launch(LaunchSpec::new(
            "p",
            "c",
            link,
            Some(&format!("key-{link}")),
        ));
        assert_eq!(rig.send(&event("launch.json", &ltik)).await.status, 200);
    }
    // The status page: one Query, and a "Send again" of a failed grade.
    let failed = [
        ("syncStatus", "FAILED"),
        ("lastErrorCode", "lmsRejected"),
        ("lastError", "the course is closed"),
    ];
    let ids = ltisync::ActivityIds::new("p", "c", "a").unwrap();
    let extra: Vec<(&str, AttributeValue)> = failed
        .iter()
        .map(|(k, v)| (*k, AttributeValue::S(v.to_string())))
        .collect();
    let mut item = ltisync_tests::grades::documented_grade(&ids, "u0", &extra);
    item.remove("pending");
    let put = table
        .client
        .put_item()
        .table_name(&table.name)
        .set_item(Some(item));
    put.send().await.unwrap();
    let ltik = sim.add_launch(LaunchSpec::new("p", "c", "a", Some("key-a")));
    let resend = crate::status_page::resend_event(&format!("ltik={ltik}&scope=all"), true);
    let answer = rig.send(&resend).await;
    assert_eq!(
        answer.json()["resent"][0]["result"],
        "requeued",
        "{}",
        answer.body
    );
    rig.finish().await;
    let launch_calls = proxy.take_calls();
    assert_eq!(
        launch_calls,
        granted("LaunchFunction"),
        "launch: observed vs granted"
    );

    // sync: a full run, a narrowed run, a run that finds the lease taken,
    // a stale key, and an activity launched before activities were in the
    // work index (read from the table).
    table
        .client
        .update_item()
        .table_name(&table.name)
        .key("pk", AttributeValue::S("ACT#p#c#b".into()))
        .key("sk", AttributeValue::S("ACTIVITY".into()))
        .update_expression("REMOVE pending")
        .send()
        .await
        .unwrap();
    let store = table.store();
    for link in ["a", "b"] {
        let ids = ltisync::ActivityIds::new("p", "c", link).unwrap();
        store
            .record_grade(&ids, &ltisync::Grade::new("u1", 1.0, 2.0).unwrap())
            .await
            .unwrap();
    }
    sim.make_service_key_stale("key-b");
    let mut env = through(
        sync_env(&sim.url(), "unused", &table.name, &table.endpoint),
        &proxy,
        &secret,
    );
    // One post at a time, so a short deadline cuts a run; its follow-up
    // invoke goes through the proxy too.
    env.insert("SYNC_CONCURRENCY".into(), "1".into());
    env.insert("SYNC_DEADLINE_MARGIN_MS".into(), "1000".into());
    env.insert("DYNAMODB_TIMEOUT_MS".into(), "1000".into());
    env.insert("AWS_ENDPOINT_URL_LAMBDA".into(), proxy.url());
    let rig = SyncRig::start(Via::Binary, &env).await;
    let long = Duration::from_secs(60);
    let full = rig.run(&event_file("schedule.json"), long).await;
    // u1 of link a, and u0 of link a, sent again from the status page.
    assert_eq!(full["gradesPosted"], 2, "{full}");
    let narrowed = rig
        .run(&serde_json::json!({"activityKey": "p#c#b"}), long)
        .await;
    assert_eq!(narrowed["pendingReasons"]["needsRelaunch"], 1, "{narrowed}");
    // A run cut by its deadline with grades left asks for a follow-up run.
    sim.set_latency(Duration::from_millis(300));
    let ids = ltisync::ActivityIds::new("p", "c", "a").unwrap();
    for u in 0..8 {
        let grade = ltisync::Grade::new(format!("v{u}"), 1.0, 2.0).unwrap();
        store.record_grade(&ids, &grade).await.unwrap();
    }
    let cut = rig
        .run(&event_file("schedule.json"), Duration::from_millis(2000))
        .await;
    assert_eq!(cut["followUp"]["number"], 1, "{cut}");
    sim.set_latency(Duration::ZERO);
    table
        .client
        .put_item()
        .table_name(&table.name)
        .item("pk", AttributeValue::S("LEASE#sync".into()))
        .item("sk", AttributeValue::S("LEASE".into()))
        .item("owner", AttributeValue::S("another-run".into()))
        .item("expiresAt", AttributeValue::N("4102444800".into()))
        .send()
        .await
        .unwrap();
    let skipped = rig.run(&event_file("schedule.json"), long).await;
    assert!(
        skipped["skipped"].as_str().unwrap().contains("another-run"),
        "{skipped}"
    );
    rig.finish().await;
    assert_eq!(
        proxy.take_calls(),
        granted("SyncFunction"),
        "sync: observed vs granted"
    );

    // the stream consumer (the same binary): a batch of real stream records.
    let stream = SyncRig::start(Via::Binary, &env).await;
    let mut mapping =
        EventSourceMapping::attach(&table.endpoint, &table.name, MappingSettings::default()).await;
    // Another holder claims activity c: the batch reads who holds it.
    table
        .client
        .put_item()
        .table_name(&table.name)
        .item("pk", AttributeValue::S("ACT#p#c#c".into()))
        .item("sk", AttributeValue::S("CLAIM".into()))
        .item("owner", AttributeValue::S("another-run".into()))
        .item("expiresAt", AttributeValue::N("4102444800".into()))
        .send()
        .await
        .unwrap();
    for link in ["a", "c"] {
        let ids = ltisync::ActivityIds::new("p", "c", link).unwrap();
        store
            .record_grade(&ids, &ltisync::Grade::new("u2", 1.0, 2.0).unwrap())
            .await
            .unwrap();
    }
    mapping.drain(&stream, Duration::from_millis(500)).await;
    assert!(
        !mapping.deliveries.is_empty(),
        "the stream delivered the writes"
    );
    stream.finish().await;
    assert_eq!(
        proxy.take_calls(),
        granted_by(&stream_role_policies()),
        "stream: observed vs granted"
    );
}

#[tokio::test]
async fn an_unreadable_api_key_secret_fails_the_start_naming_it() {
    let api = RuntimeApi::start().await;
    let mut env = launch_env("http://127.0.0.1:9", "unused", "ltisync-none", &endpoint());
    env.remove("LTIAAS_API_KEY");
    env.insert(
        "LTIAAS_API_KEY_SECRET".into(),
        "ltisync/does-not-exist".into(),
    );
    let vars: Vec<(String, String)> = env.into_iter().collect();
    let mut process = FunctionProcess::spawn(&binary("sync"), &api, &vars);
    assert_ne!(process.wait_exit(Duration::from_secs(20)).await, Some(0));
    let output = process.output();
    assert!(
        output.contains("LTIAAS_API_KEY_SECRET 'ltisync/does-not-exist' could not be read"),
        "{output}"
    );
    assert!(api.first_poll().is_none());
}

/// Each template parameter that sets a sync variable has the code's default
/// and exactly the range the code accepts.
#[test]
fn parameter_defaults_and_ranges_equal_the_codes() {
    use ltisync::config::SyncSettings;
    let params = &template()["Parameters"];
    let base = [
        ("LTIAAS_URL", "https://tool.ltiaas.com"),
        ("LTIAAS_API_KEY", "key"),
        ("TABLE_NAME", "ltisync"),
    ];
    let settings = |extra: Option<(&str, String)>| {
        let mut vars: std::collections::HashMap<String, String> = base
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if let Some((k, v)) = extra {
            vars.insert(k.to_owned(), v);
        }
        SyncSettings::from_env(&move |name: &str| vars.get(name).cloned())
    };
    let defaults = settings(None).expect("the defaults are valid");
    let code_default = |variable: &str| match variable {
        "SYNC_CONCURRENCY" => defaults.tuning.concurrency as u64,
        "SYNC_PLATFORM_CONCURRENCY" => defaults.tuning.platform_concurrency as u64,
        "SYNC_RATE_LIMIT" => u64::from(defaults.tuning.rate_limit.unwrap_or(0)),
        "SYNC_MAX_FOLLOW_UPS" => u64::from(defaults.max_follow_ups),
        other => panic!("{other}"),
    };
    for (parameter, variable) in [
        ("SyncConcurrency", "SYNC_CONCURRENCY"),
        ("SyncPlatformConcurrency", "SYNC_PLATFORM_CONCURRENCY"),
        ("SyncRateLimit", "SYNC_RATE_LIMIT"),
        ("SyncMaxFollowUps", "SYNC_MAX_FOLLOW_UPS"),
    ] {
        let p = &params[parameter];
        let number = |name: &str| {
            p[name]
                .as_u64()
                .unwrap_or_else(|| panic!("{parameter}.{name}"))
        };
        assert_eq!(
            number("Default"),
            code_default(variable),
            "{parameter} default"
        );
        let (min, max) = (number("MinValue"), number("MaxValue"));
        for inside in [min, max] {
            assert!(
                settings(Some((variable, inside.to_string()))).is_ok(),
                "{parameter} {inside}"
            );
        }
        for outside in [min.checked_sub(1), Some(max + 1)].into_iter().flatten() {
            let err = settings(Some((variable, outside.to_string()))).unwrap_err();
            assert_eq!(err.variable, variable, "{parameter} {outside}");
        }
    }
    let roster = &params["SyncRosterCheck"];
    assert_eq!(roster["Default"], defaults.tuning.roster_check.to_string());
    for allowed in roster["AllowedValues"].as_sequence().unwrap() {
        let value = allowed.as_str().unwrap().to_owned();
        let parsed = settings(Some(("SYNC_ROSTER_CHECK", value.clone()))).unwrap();
        assert_eq!(parsed.tuning.roster_check.to_string(), value);
    }
    for function in ["SyncFunction", "GradeStreamFunction"] {
        let variables =
            &template()["Resources"][function]["Properties"]["Environment"]["Variables"];
        let set_to = format!("{:?}", variables["SYNC_ROSTER_CHECK"]);
        assert!(set_to.contains("SyncRosterCheck"), "{function}: {set_to}");
    }
}

/// No function reserves concurrency unless the operator asks: Lambda
/// refuses any reservation that leaves an account fewer than 100
/// unreserved executions, and new accounts often have 10 in all, so a
/// reservation by default makes the first deploy roll back. Each function's
/// reservation is `!If [Condition, !Ref Parameter, !Ref AWS::NoValue]`
/// over a parameter whose default is 0, and the condition is "not 0".
#[test]
fn no_function_reserves_concurrency_unless_asked() {
    let template = template();
    let resources = template["Resources"].as_mapping().expect("resources");
    let mut functions = 0;
    for (name, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        functions += 1;
        let name = name.as_str().unwrap_or_default();
        let reserved = &resource["Properties"]["ReservedConcurrentExecutions"];
        if reserved.is_null() {
            continue;
        }
        let Value::Tagged(tagged) = reserved else {
            panic!("{name} reserves {reserved:?} unconditionally");
        };
        assert_eq!(tagged.tag, "If", "{name}: {reserved:?}");
        let parts = tagged
            .value
            .as_sequence()
            .expect("!If [condition, then, else]");
        let condition = parts[0].as_str().expect("a condition's name");
        let parameter = match &parts[1] {
            Value::Tagged(then) if then.tag == "Ref" => then.value.as_str().expect("a name"),
            other => panic!("{name}: reserves {other:?}"),
        };
        let otherwise = match &parts[2] {
            Value::Tagged(e) if e.tag == "Ref" => e.value.as_str(),
            _ => None,
        };
        assert_eq!(otherwise, Some("AWS::NoValue"), "{name}: {reserved:?}");
        let default = &template["Parameters"][parameter]["Default"];
        assert_eq!(
            default.as_u64(),
            Some(0),
            "{name}: {parameter} defaults to {default:?}"
        );
        let rule = format!("{:?}", template["Conditions"][condition]);
        assert!(
            rule.contains("Not") && rule.contains("Equals") && rule.contains(parameter),
            "{name}: {condition} is {rule}"
        );
    }
    assert_eq!(functions, 3, "the launch, sync and grade stream functions");
}

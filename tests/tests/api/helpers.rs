//! What the tests share: [`Stack`], a simulator and a fresh table with a
//! launch service in front of them (the `spawn_app` of these tests), and
//! small readers of stored items.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use ltisync::launch::{LaunchService, LaunchTimings};
use ltisync::{ActivityIds, Grade, Ltik, Store};
use ltisync_tests::dynamo::{get_item, TestTable};
use ltisync_tests::ltiaas::{self, Limits};
use ltisync_tests::rigs::{event_file, launch_env, sync_env, Env, SyncRig, Via};
use ltisync_tests::simulator::{LaunchSpec, ReceivedScore, Simulator};
use serde_json::Value;

pub use ltisync_tests::grades::documented_grade;

pub type Item = HashMap<String, AttributeValue>;

pub const LONG: Duration = Duration::from_secs(60);

pub struct Stack {
    pub sim: Simulator,
    pub table: TestTable,
    pub store: Store,
    pub launcher: LaunchService,
}

impl Stack {
    pub async fn start() -> Self {
        let sim = Simulator::start().await.expect("simulator");
        let table = TestTable::create().await;
        let store = table.store();
        let client = ltiaas::client(&sim, &sim.api_key(), Limits::TESTS);
        let launcher = LaunchService::new(client, store.clone());
        Self {
            sim,
            table,
            store,
            launcher,
        }
    }

    /// The sync function's environment over this stack.
    pub fn env(&self) -> Env {
        sync_env(
            &self.sim.url(),
            &self.sim.api_key(),
            &self.table.name,
            &self.table.endpoint,
        )
    }

    /// The launch function's environment over this stack.
    pub fn launch_env(&self) -> Env {
        launch_env(
            &self.sim.url(),
            &self.sim.api_key(),
            &self.table.name,
            &self.table.endpoint,
        )
    }

    /// Registers a launch of (p, c, r) at LTIaaS, not yet captured: its ltik.
    pub fn ltik_for(&self, p: &str, c: &str, r: &str, key: Option<&str>) -> String {
        self.sim.add_launch(LaunchSpec::new(p, c, r, key))
    }

    /// Every activity item in the table.
    pub async fn activities(&self) -> Vec<Item> {
        self.table
            .items()
            .await
            .into_iter()
            .filter(|i| i.get("sk") == Some(&AttributeValue::S("ACTIVITY".into())))
            .collect()
    }

    /// A real launch of (p, c, r) with `key`, through LTIaaS and the launch service.
    pub async fn launch(&self, p: &str, c: &str, r: &str, key: Option<&str>) -> ActivityIds {
        self.launch_as(LaunchSpec::new(p, c, r, key)).await
    }

    /// A real launch as `spec` describes it.
    pub async fn launch_as(&self, spec: LaunchSpec) -> ActivityIds {
        let ids =
            ActivityIds::new(&spec.platform_id, &spec.context_id, &spec.resource_link_id).unwrap();
        let ltik = self.sim.add_launch(spec);
        self.launcher
            .capture(&Ltik::new(ltik), &mut LaunchTimings::default())
            .await
            .expect("launch captured");
        ids
    }

    /// Writes `item` as a tool would: one `PutItem`.
    pub async fn put(&self, item: Item) {
        self.table
            .client
            .put_item()
            .table_name(&self.table.name)
            .set_item(Some(item))
            .send()
            .await
            .expect("PutItem");
    }

    /// A launched activity with `count` pending grades (users u00, u01, …).
    pub async fn with_grades(count: usize) -> (Self, ActivityIds) {
        let stack = Self::start().await;
        let ids = stack.launch("p", "c", "link", Some("k")).await;
        for u in 0..count {
            stack.grade(&ids, &format!("u{u:02}"), u as f64).await;
        }
        (stack, ids)
    }

    pub async fn grade(&self, ids: &ActivityIds, user: &str, score: f64) {
        let grade = Grade::new(user, score, 100.0)
            .unwrap()
            .with_comment(format!("score {score}"));
        self.store.record_grade(ids, &grade).await.unwrap();
    }

    pub async fn item(&self, ids: &ActivityIds, user: &str) -> Item {
        let sk = format!("GRADE#{}", ltisync::activity::encode_key_component(user));
        get_item(
            &self.table.client,
            &self.table.name,
            &format!("ACT#{}", ids.key()),
            &sk,
        )
        .await
        .expect("grade item exists")
    }

    pub async fn activity_item(&self, ids: &ActivityIds) -> Item {
        get_item(
            &self.table.client,
            &self.table.name,
            &format!("ACT#{}", ids.key()),
            "ACTIVITY",
        )
        .await
        .expect("activity item exists")
    }

    pub fn received_for(&self, user: &str) -> Vec<ReceivedScore> {
        self.sim
            .scores()
            .into_iter()
            .filter(|s| s.body["userId"] == user)
            .collect()
    }

    pub async fn run(&self, via: Via, env: &Env) -> Value {
        let rig = SyncRig::start(via, env).await;
        let summary = rig.run(&event_file("schedule.json"), LONG).await;
        rig.finish().await;
        summary
    }
}

pub fn s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

pub fn is_synced(item: &Item) -> bool {
    s(item, "syncStatus") == Some("SYNCED") && !item.contains_key("pending")
}

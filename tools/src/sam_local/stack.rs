//! The local stack the functions in their containers talk to: the LTIaaS
//! simulator, moto's DynamoDB table and Secrets Manager secret, the relays
//! to them, and the `--env-vars` file that names them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use aws_sdk_dynamodb::types::AttributeValue;
use ltisync_tests::dynamo::create_secret;
use ltisync_tests::grades::documented_grade;
use ltisync_tools::console::{say, step};
use ltisync_tools::ltiaas_sim::LtiaasSim;
use ltisync_tools::sample::{self, member, PK, TOOL_URL};
use ltisync_tools::table::fresh_table;
use serde_json::{json, Value};

use crate::relay::Relay;

/// The service key the simulator hands out for the sample ltik.
const SERVICE_KEY: &str = "sam-local-service-key";
const API_KEY: &str = "sam-local-api-key-0000";

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// The running stack; [`Stack::stop`] ends what it started.
pub struct Stack {
    sim: LtiaasSim,
    relays: Vec<Relay>,
    /// The repository (SAM CLI runs there).
    pub repo: PathBuf,
    /// The simulator's admin base URL on loopback.
    pub admin: String,
    /// moto's DynamoDB, as this process reaches it.
    pub dynamo: aws_sdk_dynamodb::Client,
    /// The table's name.
    pub table: String,
    /// The `--env-vars` file, relative to the repository.
    pub env_file: PathBuf,
    http: reqwest::Client,
}

impl Stack {
    /// Starts the simulator, creates the table and the secret, starts the
    /// relays and writes the `--env-vars` file.
    pub async fn start() -> Result<Self, String> {
        let moto = std::env::var("LTISYNC_TEST_DYNAMODB")
            .map_err(|_| "LTISYNC_TEST_DYNAMODB is not set: run it under scripts/with-moto.sh")?;
        let bridge: IpAddr = std::env::var("LTISYNC_DOCKER_BRIDGE_ADDRESS")
            .map_err(|_| {
                "LTISYNC_DOCKER_BRIDGE_ADDRESS is not set: run it under scripts/with-docker.sh"
            })?
            .parse()
            .map_err(|e| format!("LTISYNC_DOCKER_BRIDGE_ADDRESS: {e}"))?;
        step("Starting the LTIaaS simulator, a table and a secret on moto, and the relays");
        let sim = LtiaasSim::start(API_KEY).await?;
        let ltiaas = sim.url.clone();
        let (dynamo, table) = fresh_table(&moto, "ltisync-sam").await;
        let secret = create_secret(API_KEY).await;
        let relays = vec![
            Relay::start(bridge, loopback_address(&moto)?)
                .await
                .map_err(|e| e.to_string())?,
            Relay::start(bridge, loopback_address(&ltiaas)?)
                .await
                .map_err(|e| e.to_string())?,
        ];
        say(&format!("moto {moto} <- relay {}", relays[0].url()));
        say(&format!(
            "LTIaaS simulator {ltiaas} <- relay {}",
            relays[1].url()
        ));
        let repo = ltisync_tests::repo_root();
        let env_file = PathBuf::from("target/sam-local/env.json");
        let variables = json!({"Parameters": {
            "TABLE_NAME": table,
            "LTIAAS_URL": relays[1].url(),
            "LTIAAS_API_KEY_SECRET": secret,
            "AWS_ENDPOINT_URL": relays[0].url(),
            "TOOL_URL": TOOL_URL,
        }});
        write_json(&repo.join(&env_file), &variables)?;
        let stack = Stack {
            sim,
            relays,
            repo,
            admin: format!("{ltiaas}/_sim"),
            dynamo,
            table,
            env_file,
            http: reqwest::Client::new(),
        };
        stack.register_launch_and_roster().await?;
        Ok(stack)
    }

    async fn register_launch_and_roster(&self) -> Result<(), String> {
        self.admin_post("launches", sample::launch(SERVICE_KEY))
            .await?;
        let members = [
            member("u1", "Learner"),
            member("u2", "Learner"),
            member("u3", "Learner"),
        ];
        self.admin_post("rosters", sample::roster(&members)).await
    }

    async fn admin_post(&self, path: &str, body: Value) -> Result<(), String> {
        self.http
            .post(format!("{}/{path}", self.admin))
            .json(&body)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map(drop)
            .map_err(|e| format!("simulator admin API {path}: {e}"))
    }

    /// The scores the simulator received for `user`, oldest first.
    pub async fn scores_of(&self, user: &str) -> Vec<f64> {
        let all: Value = match self.http.get(format!("{}/scores", self.admin)).send().await {
            Ok(answer) => answer.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        all.as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["body"]["userId"] == user)
            .filter_map(|s| s["body"]["scoreGiven"].as_f64())
            .collect()
    }

    /// Writes a grade as the tool does: one whole-item PutItem.
    pub async fn write_grade(&self, user: &str, score: f64) {
        let item = documented_grade(
            &sample::activity(),
            user,
            &[
                ("scoreGiven", AttributeValue::N(score.to_string())),
                ("scoreMaximum", AttributeValue::N("100".into())),
            ],
        );
        self.dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .expect("PutItem");
    }

    /// One item, read consistently.
    pub async fn item(&self, sk: &str) -> Option<Item> {
        ltisync_tests::dynamo::get_item(&self.dynamo, &self.table, PK, sk).await
    }

    /// Removes the activity item, so a launch that stores it shows.
    pub async fn forget_activity(&self) {
        let key = |v: &str| AttributeValue::S(v.into());
        self.dynamo
            .delete_item()
            .table_name(&self.table)
            .key("pk", key(PK))
            .key("sk", key("ACTIVITY"))
            .send()
            .await
            .expect("DeleteItem");
    }

    /// Every item of the table, sorted by key.
    pub async fn all_items(&self) -> Vec<Item> {
        let out = self
            .dynamo
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .send()
            .await
            .expect("Scan");
        let mut items = out.items.unwrap_or_default();
        items.sort_by_key(|i| format!("{:?}{:?}", i.get("pk"), i.get("sk")));
        items
    }

    /// Stops the simulator and the relays.
    pub async fn stop(mut self) {
        self.relays.clear();
        self.sim.stop().await;
    }
}

fn loopback_address(url: &str) -> Result<SocketAddr, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    parsed
        .socket_addrs(|| None)
        .ok()
        .and_then(|a| a.into_iter().find(|a| a.ip().is_loopback()))
        .ok_or_else(|| format!("{url} is not a loopback address"))
}

fn write_json(path: &std::path::Path, value: &Value) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(value).expect("JSON");
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

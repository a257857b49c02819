//! A real DynamoDB API on loopback (moto in server mode) and throwaway tables
//! created from the table definition in `template.yaml`.
//!
//! `make test` starts one moto server and exports its URL as
//! `LTISYNC_TEST_DYNAMODB`. Without it (a plain `cargo test` after
//! `make venv`), the first test that needs DynamoDB starts moto from the
//! project's virtualenv; it dies with the test process.
//!
//! `LTISYNC_TEST_AWS`, when set, is where the other AWS services the tests
//! use (Secrets Manager) live; `make test-dynoxide` points
//! `LTISYNC_TEST_DYNAMODB` at Dynoxide, which serves DynamoDB only, and
//! this at moto.

use std::collections::HashMap;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use ltisync::Store;
use serde_norway::Value;

use crate::repo_root;

/// The URL of the DynamoDB server tests use.
pub fn endpoint() -> String {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT
        .get_or_init(|| match std::env::var("LTISYNC_TEST_DYNAMODB") {
            Ok(url) if !url.is_empty() => url,
            _ => start_moto(),
        })
        .clone()
}

/// The URL of the other AWS services tests use (Secrets Manager):
/// `LTISYNC_TEST_AWS`, else the DynamoDB server's (moto serves both).
pub fn services_endpoint() -> String {
    match std::env::var("LTISYNC_TEST_AWS") {
        Ok(url) if !url.is_empty() => url,
        _ => endpoint(),
    }
}

fn start_moto() -> String {
    let server = repo_root().join(".venv/bin/moto_server");
    assert!(
        server.exists(),
        "no DynamoDB server: run `make test` (it installs moto into .venv and starts it), \
         or `make venv` and then `cargo test`"
    );
    let port = free_port();
    let (tx, rx) = std::sync::mpsc::channel();
    // The child is tied to this thread (PR_SET_PDEATHSIG) and the thread
    // never ends, so moto lives exactly as long as the test process.
    std::thread::spawn(move || {
        let mut command = Command::new(server);
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        die_with_parent(&mut command);
        let child = command.spawn().expect("moto_server starts");
        tx.send(()).ok();
        let _keep = child;
        loop {
            std::thread::park();
        }
    });
    rx.recv().expect("moto thread started");
    wait_for_port(port, Duration::from_secs(30));
    format!("http://127.0.0.1:{port}")
}

/// Makes a child process receive SIGKILL when the thread that spawned it
/// ends (Linux's `PR_SET_PDEATHSIG`). Elsewhere (macOS) nothing is set: the
/// tests still stop what they start, only a crashed test run may leave a
/// moto server behind.
#[cfg(not(target_os = "linux"))]
pub fn die_with_parent(_command: &mut Command) {}

/// Makes a child process receive SIGKILL when the thread that spawned it ends.
#[cfg(target_os = "linux")]
pub fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of ours.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Waits until something accepts connections on `port`.
pub fn wait_for_port(port: u16, limit: Duration) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < limit,
            "nothing listens on port {port} after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A DynamoDB client for `endpoint` with dummy credentials.
pub fn client_for(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "ltisync-tests",
        ))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// One item by its keys (a consistent read), if it exists.
pub async fn get_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
    sk: &str,
) -> Option<HashMap<String, AttributeValue>> {
    client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
}

/// The environment a function process needs to reach the local DynamoDB.
pub fn aws_env(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", &services_endpoint()),
        // Follow-up invokes reach moto too (which knows no such function),
        // never a real AWS endpoint.
        ("AWS_ENDPOINT_URL_LAMBDA", endpoint),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// One global secondary index of the table definition.
#[derive(Debug, Clone)]
pub struct IndexDefinition {
    /// `IndexName`.
    pub name: String,
    /// `KeySchema`: (name, HASH|RANGE).
    pub key_schema: Vec<(String, String)>,
    /// `Projection.ProjectionType`.
    pub projection: String,
    /// `Projection.NonKeyAttributes` (with `INCLUDE`).
    pub non_key_attributes: Vec<String>,
}

/// The table definition of `template.yaml` (resource `Table`).
#[derive(Debug, Clone)]
pub struct TableDefinition {
    /// `AttributeDefinitions`: (name, type).
    pub attributes: Vec<(String, String)>,
    /// `KeySchema`: (name, HASH|RANGE).
    pub key_schema: Vec<(String, String)>,
    /// `GlobalSecondaryIndexes`.
    pub indexes: Vec<IndexDefinition>,
    /// `TimeToLiveSpecification.AttributeName`.
    pub ttl_attribute: Option<String>,
    /// `StreamSpecification.StreamViewType`.
    pub stream_view_type: Option<String>,
}

impl TableDefinition {
    /// Reads the definition from a SAM template.
    pub fn from_template(path: &Path) -> Self {
        let text = std::fs::read_to_string(path).expect("template.yaml is readable");
        let doc: Value = serde_norway::from_str(&text).expect("template.yaml is YAML");
        let props = &doc["Resources"]["Table"]["Properties"];
        assert!(
            !props.is_null(),
            "template.yaml has no Resources.Table.Properties"
        );
        let pairs = |list: &Value, a: &str, b: &str| -> Vec<(String, String)> {
            list.as_sequence()
                .map(|items| {
                    items
                        .iter()
                        .map(|i| {
                            (
                                i[a].as_str().expect("a string").to_owned(),
                                i[b].as_str().expect("a string").to_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        // An index under a condition (`!If`, the one kept for upgrades) is
        // not part of a new stack.
        let indexes = props["GlobalSecondaryIndexes"]
            .as_sequence()
            .map(|list| {
                list.iter()
                    .filter(|gsi| gsi.get("IndexName").is_some())
                    .map(|gsi| IndexDefinition {
                        name: gsi["IndexName"].as_str().expect("IndexName").to_owned(),
                        key_schema: pairs(&gsi["KeySchema"], "AttributeName", "KeyType"),
                        projection: gsi["Projection"]["ProjectionType"]
                            .as_str()
                            .unwrap_or("ALL")
                            .to_owned(),
                        non_key_attributes: gsi["Projection"]["NonKeyAttributes"]
                            .as_sequence()
                            .into_iter()
                            .flatten()
                            .filter_map(|a| a.as_str().map(str::to_owned))
                            .collect(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            attributes: pairs(
                &props["AttributeDefinitions"],
                "AttributeName",
                "AttributeType",
            ),
            key_schema: pairs(&props["KeySchema"], "AttributeName", "KeyType"),
            indexes,
            ttl_attribute: props["TimeToLiveSpecification"]["AttributeName"]
                .as_str()
                .map(str::to_owned),
            stream_view_type: props["StreamSpecification"]["StreamViewType"]
                .as_str()
                .map(str::to_owned),
        }
    }

    /// The definition in this repository's `template.yaml`.
    pub fn from_repo() -> Self {
        Self::from_template(&repo_root().join("template.yaml"))
    }

    /// Creates a table of this shape named `name`.
    pub async fn create(&self, client: &aws_sdk_dynamodb::Client, name: &str) {
        let key = |(n, t): &(String, String)| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(KeyType::from(t.as_str()))
                .build()
                .expect("key schema element")
        };
        let mut request = client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(self.key_schema.iter().map(key).collect()))
            .set_attribute_definitions(Some(
                self.attributes
                    .iter()
                    .map(|(n, t)| {
                        AttributeDefinition::builder()
                            .attribute_name(n)
                            .attribute_type(ScalarAttributeType::from(t.as_str()))
                            .build()
                            .expect("attribute definition")
                    })
                    .collect(),
            ));
        if let Some(view) = &self.stream_view_type {
            request = request.stream_specification(
                aws_sdk_dynamodb::types::StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::from(view.as_str()))
                    .build()
                    .expect("stream specification"),
            );
        }
        for index in &self.indexes {
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(&index.name)
                    .set_key_schema(Some(index.key_schema.iter().map(key).collect()))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::from(index.projection.as_str()))
                            .set_non_key_attributes(
                                Some(index.non_key_attributes.clone())
                                    .filter(|names| !names.is_empty()),
                            )
                            .build(),
                    )
                    .build()
                    .expect("index"),
            );
        }
        request
            .send()
            .await
            .expect("CreateTable on the local DynamoDB");
        if let Some(attribute) = &self.ttl_attribute {
            client
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .enabled(true)
                        .attribute_name(attribute)
                        .build()
                        .expect("ttl spec"),
                )
                .send()
                .await
                .expect("UpdateTimeToLive on the local DynamoDB");
        }
    }
}

/// A fresh table for one test, deleted on drop.
pub struct TestTable {
    /// Its name.
    pub name: String,
    /// A client for the local DynamoDB.
    pub client: aws_sdk_dynamodb::Client,
    /// The server URL.
    pub endpoint: String,
}

impl TestTable {
    /// Creates a uniquely named table from `template.yaml`.
    pub async fn create() -> Self {
        Self::create_as(TableDefinition::from_repo()).await
    }

    /// The same table without its stream. moto appends a stream record to
    /// every write, which cuts its write rate to about a third; DynamoDB's
    /// writes do not slow down with a stream, so measurements of the daily
    /// sync use this.
    pub async fn create_without_stream() -> Self {
        let mut definition = TableDefinition::from_repo();
        definition.stream_view_type = None;
        Self::create_as(definition).await
    }

    /// A uniquely named table of the shape `definition` gives.
    pub async fn create_as(definition: TableDefinition) -> Self {
        Self::create_at(&endpoint(), definition).await
    }

    /// A uniquely named table of the shape `definition` gives, on the
    /// DynamoDB server at `endpoint`.
    pub async fn create_at(endpoint: &str, definition: TableDefinition) -> Self {
        let endpoint = endpoint.to_owned();
        let client = client_for(&endpoint);
        let name = format!("ltisync-test-{}", uuid::Uuid::new_v4().simple());
        definition.create(&client, &name).await;
        Self {
            name,
            client,
            endpoint,
        }
    }

    /// A store on this table.
    pub fn store(&self) -> Store {
        Store::new(self.client.clone(), &self.name)
    }

    /// How many items a full scan reads.
    pub async fn full_scan_count(&self) -> u64 {
        self.scan_all(true).await.0
    }

    /// Every item in the table (a full scan), for assertions.
    pub async fn items(&self) -> Vec<HashMap<String, AttributeValue>> {
        self.scan_all(false).await.1
    }

    /// A full scan: the items read, and the items themselves unless counting.
    async fn scan_all(&self, count_only: bool) -> (u64, Vec<HashMap<String, AttributeValue>>) {
        let (mut count, mut all, mut start) = (0u64, Vec::new(), None);
        loop {
            let mut scan = self
                .client
                .scan()
                .table_name(&self.name)
                .set_exclusive_start_key(start);
            if count_only {
                scan = scan.select(aws_sdk_dynamodb::types::Select::Count);
            }
            let out = scan.send().await.expect("scan");
            count += out.scanned_count.max(0) as u64;
            all.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return (count, all),
            }
        }
    }
}

impl Drop for TestTable {
    fn drop(&mut self) {
        let client = self.client.clone();
        let name = self.name.clone();
        // Best effort: moto forgets everything when it stops anyway.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = client.delete_table().table_name(name).send().await;
            });
        }
    }
}

/// Stores `api_key` as a new secret in moto's Secrets Manager (beside its
/// DynamoDB) and returns the secret's name, for `LTIAAS_API_KEY_SECRET`.
pub async fn create_secret(api_key: &str) -> String {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
        .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .endpoint_url(services_endpoint())
        .build();
    let name = format!("ltisync/test-{}", uuid::Uuid::new_v4().simple());
    aws_sdk_secretsmanager::Client::from_conf(config)
        .create_secret()
        .name(&name)
        .secret_string(api_key)
        .send()
        .await
        .expect("CreateSecret on moto");
    name
}

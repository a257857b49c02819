//! A local DynamoDB stream event source mapping: reads the table's real
//! stream records from the local server (moto serves DynamoDB Streams:
//! DescribeStream, GetShardIterator, GetRecords) and delivers them to a
//! function the way Lambda's event source mapping does:
//!
//! - the filter is the one in `template.yaml` (records it drops never reach
//!   the function);
//! - records are batched: up to the batch size, waiting at most the
//!   batching window after the first record;
//! - the function's partial batch response is honoured: the batch is
//!   delivered again from the lowest failed sequence number on, up to the
//!   retry limit; an invocation error retries the whole batch; records out
//!   of retries are discarded (in AWS: sent to the on-failure destination).
//!
//! See <https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html>.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::rigs::SyncRig;
use crate::runtime_api::Outcome;

/// How the mapping batches and retries.
#[derive(Debug, Clone, Copy)]
pub struct MappingSettings {
    /// Records per invocation at most.
    pub batch_size: usize,
    /// How long to wait for a batch to fill after its first record.
    pub window: Duration,
    /// Deliveries of a failing batch after the first.
    pub max_retries: u32,
    /// Time each invocation gets before its deadline.
    pub budget: Duration,
}

impl Default for MappingSettings {
    fn default() -> Self {
        Self {
            batch_size: 100,
            window: Duration::ZERO,
            max_retries: 3,
            budget: Duration::from_secs(30),
        }
    }
}

/// One delivery to the function.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The sequence numbers delivered, in order.
    pub records: Vec<String>,
    /// The sequence numbers the function asked to have again.
    pub failures: Vec<String>,
    /// The function failed as a whole.
    pub error: Option<Value>,
}

struct Shard {
    iterator: Option<String>,
}

/// The mapping from one table's stream to one function.
pub struct EventSourceMapping {
    http: reqwest::Client,
    endpoint: String,
    stream_arn: String,
    shards: Vec<Shard>,
    filter: Value,
    settings: MappingSettings,
    backlog: VecDeque<Value>,
    /// Every delivery so far.
    pub deliveries: Vec<Delivery>,
    /// Records given up on after the retry limit.
    pub discarded: Vec<String>,
}

impl EventSourceMapping {
    /// Attaches to `table`'s stream at `endpoint`, from the latest record
    /// on (what is written afterwards is delivered), with the template's filter.
    pub async fn attach(endpoint: &str, table: &str, settings: MappingSettings) -> Self {
        let mut mapping = Self {
            http: reqwest::Client::new(),
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            stream_arn: String::new(),
            shards: Vec::new(),
            filter: template_filter(),
            settings,
            backlog: VecDeque::new(),
            deliveries: Vec::new(),
            discarded: Vec::new(),
        };
        let table = mapping
            .call(
                "DynamoDB_20120810.DescribeTable",
                json!({"TableName": table}),
            )
            .await;
        mapping.stream_arn = table["Table"]["LatestStreamArn"]
            .as_str()
            .expect("the table has a stream (StreamSpecification in template.yaml)")
            .to_owned();
        let stream = mapping
            .call(
                "DynamoDBStreams_20120810.DescribeStream",
                json!({"StreamArn": mapping.stream_arn}),
            )
            .await;
        for shard in stream["StreamDescription"]["Shards"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let request = json!({"StreamArn": mapping.stream_arn,
                "ShardId": shard["ShardId"], "ShardIteratorType": "LATEST"});
            let iterator = mapping
                .call("DynamoDBStreams_20120810.GetShardIterator", request)
                .await;
            mapping.shards.push(Shard {
                iterator: iterator["ShardIterator"].as_str().map(str::to_owned),
            });
        }
        mapping
    }

    /// Delivers batches to `rig` until no record has arrived for `idle`.
    pub async fn drain(&mut self, rig: &SyncRig, idle: Duration) {
        while let Some(batch) = self.next_batch(idle).await {
            self.deliver(rig, batch).await;
        }
    }

    /// The next batch: the filter applied, up to the batch size, waiting at
    /// most the window after its first record; `None` after `idle` with none.
    pub async fn next_batch(&mut self, idle: Duration) -> Option<Vec<Value>> {
        let started = Instant::now();
        let mut first: Option<Instant> = None;
        loop {
            self.fetch().await;
            if first.is_none() && !self.backlog.is_empty() {
                first = Some(Instant::now());
            }
            let full = self.backlog.len() >= self.settings.batch_size;
            let window_over = first.is_some_and(|t| t.elapsed() >= self.settings.window);
            if full || window_over {
                let take = self.backlog.len().min(self.settings.batch_size);
                return Some(self.backlog.drain(..take).collect());
            }
            if first.is_none() && started.elapsed() >= idle {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Delivers one batch, retrying as the mapping does.
    pub async fn deliver(&mut self, rig: &SyncRig, mut batch: Vec<Value>) {
        for attempt in 0..=self.settings.max_retries {
            let delivery = self.invoke(rig, &batch).await;
            let retry_from = match (&delivery.error, delivery.failures.iter().min_by(by_number)) {
                (Some(_), _) => Some(0),
                (None, Some(lowest)) => batch.iter().position(|r| sequence(r) == *lowest),
                (None, None) => None,
            };
            self.deliveries.push(delivery);
            let Some(from) = retry_from else { return };
            batch.drain(..from);
            if attempt == self.settings.max_retries {
                self.discarded.extend(batch.iter().map(sequence));
            }
        }
    }

    async fn invoke(&self, rig: &SyncRig, batch: &[Value]) -> Delivery {
        let records: Vec<Value> = batch
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r["eventSourceARN"] = json!(self.stream_arn);
                r
            })
            .collect();
        let outcome = rig
            .invoke(&json!({"Records": records}), self.settings.budget)
            .await;
        let (failures, error) = match outcome {
            Outcome::Response(answer) => {
                let failures = answer["batchItemFailures"]
                    .as_array()
                    .unwrap_or_else(|| panic!("not a partial batch response: {answer}"))
                    .iter()
                    .map(|f| {
                        f["itemIdentifier"]
                            .as_str()
                            .expect("itemIdentifier")
                            .to_owned()
                    })
                    .collect();
                (failures, None)
            }
            Outcome::Error(error) => (Vec::new(), Some(error)),
        };
        Delivery {
            records: batch.iter().map(sequence).collect(),
            failures,
            error,
        }
    }

    /// Reads what the shards have, keeping what the filter lets through.
    async fn fetch(&mut self) {
        for i in 0..self.shards.len() {
            let Some(iterator) = self.shards[i].iterator.clone() else {
                continue;
            };
            let page = self
                .call(
                    "DynamoDBStreams_20120810.GetRecords",
                    json!({"ShardIterator": iterator, "Limit": 1000}),
                )
                .await;
            self.shards[i].iterator = page["NextShardIterator"].as_str().map(str::to_owned);
            for record in page["Records"].as_array().into_iter().flatten() {
                if matches(&self.filter, Some(record)) {
                    self.backlog.push_back(record.clone());
                }
            }
        }
    }

    async fn call(&self, target: &str, body: Value) -> Value {
        // Local servers check that a SigV4 header is there, not what it
        // signs (Dynoxide also wants its date).
        let signing = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, \
                       SignedHeaders=host;x-amz-date, Signature=0";
        let reply = self
            .http
            .post(format!("{}/", self.endpoint))
            .header("X-Amz-Target", target)
            .header("Content-Type", "application/x-amz-json-1.0")
            .header("Authorization", signing)
            .header("X-Amz-Date", "20260101T000000Z")
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{target}: {e}"));
        let status = reply.status();
        let text = reply.text().await.unwrap_or_default();
        assert!(status.is_success(), "{target}: {status} {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{target}: {e}: {text}"))
    }
}

fn sequence(record: &Value) -> String {
    record["dynamodb"]["SequenceNumber"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Sequence numbers are decimal strings of any length.
fn by_number(a: &&String, b: &&String) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// The filter pattern of the stack's DynamoDB event source (template.yaml).
pub fn template_filter() -> Value {
    let text = std::fs::read_to_string(crate::repo_root().join("template.yaml")).expect("template");
    let template: serde_norway::Value = serde_norway::from_str(&text).expect("YAML");
    let resources = template["Resources"].as_mapping().expect("Resources");
    for resource in resources.values() {
        let events = resource["Properties"]["Events"].as_mapping();
        for event in events.into_iter().flat_map(|e| e.values()) {
            if event["Type"].as_str() == Some("DynamoDB") {
                let pattern = event["Properties"]["FilterCriteria"]["Filters"][0]["Pattern"]
                    .as_str()
                    .expect("the DynamoDB event has a filter pattern");
                return serde_json::from_str(pattern).expect("the pattern is JSON");
            }
        }
    }
    panic!("template.yaml has no DynamoDB event source")
}

/// Lambda's event filtering, for what the template's pattern uses: exact
/// values, `prefix`, and `exists`, nested in objects.
pub fn matches(pattern: &Value, value: Option<&Value>) -> bool {
    match pattern {
        Value::Object(fields) => fields
            .iter()
            .all(|(name, inner)| matches(inner, value.and_then(|v| v.get(name)))),
        Value::Array(options) => options.iter().any(|option| leaf_matches(option, value)),
        other => value == Some(other),
    }
}

fn leaf_matches(option: &Value, value: Option<&Value>) -> bool {
    if let Some(exists) = option.get("exists").and_then(Value::as_bool) {
        return value.is_some() == exists;
    }
    if let Some(prefix) = option.get("prefix").and_then(Value::as_str) {
        return value
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with(prefix));
    }
    value == Some(option)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_language_subset_behaves_as_lambdas() {
        let pattern = json!({"eventName": ["INSERT", "MODIFY"],
            "dynamodb": {"Keys": {"sk": {"S": [{"prefix": "GRADE#"}]}},
                "NewImage": {"pending": {"S": [{"exists": true}]}, "syncStatus": {"S": [{"exists": false}]}}}});
        let record = |event: &str, sk: &str, image: Value| json!({"eventName": event, "dynamodb": {"Keys": {"sk": {"S": sk}}, "NewImage": image}});
        let pending = json!({"pending": {"S": "x"}});
        assert!(matches(
            &pattern,
            Some(&record("INSERT", "GRADE#u", pending.clone()))
        ));
        assert!(!matches(
            &pattern,
            Some(&record("REMOVE", "GRADE#u", pending.clone()))
        ));
        assert!(!matches(
            &pattern,
            Some(&record("MODIFY", "ACTIVITY", pending))
        ));
        assert!(!matches(
            &pattern,
            Some(&record("MODIFY", "GRADE#u", json!({})))
        ));
        let ours = json!({"pending": {"S": "x"}, "syncStatus": {"S": "PENDING"}});
        assert!(!matches(&pattern, Some(&record("MODIFY", "GRADE#u", ours))));
    }
}

//! The table the demo and `make sam-local` run against, and reading its
//! items.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use ltisync_tests::dynamo::{client_for, TableDefinition};

/// Creates a table as `template.yaml` defines it on the DynamoDB at
/// `endpoint`, named `<prefix>-` and eight random hex digits so that runs
/// never share one; a client for that DynamoDB, and the table's name.
pub async fn fresh_table(endpoint: &str, prefix: &str) -> (Client, String) {
    let table = format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let dynamo = client_for(endpoint);
    TableDefinition::from_repo().create(&dynamo, &table).await;
    (dynamo, table)
}

/// The text of a string or number attribute, `""` when absent.
pub fn text(item: &HashMap<String, AttributeValue>, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::S(s)) | Some(AttributeValue::N(s)) => s.clone(),
        _ => String::new(),
    }
}

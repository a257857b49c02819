//! Whether a table has the keys, index and stream the code uses: what an
//! operator's `ltisync check` reports before anything else goes wrong.

use aws_sdk_dynamodb::types::{
    KeySchemaElement, KeyType, Projection, ProjectionType, StreamViewType,
};

use super::work::work_index_attributes;
use super::{schema, CutOff, Store, StoreError};

impl Store {
    /// What is wrong with the table's layout (empty: nothing), from one
    /// `DescribeTable`.
    pub async fn layout_problems(&self) -> Result<Vec<String>, StoreError> {
        let out = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .cut_off_by(self)
            .await??;
        let Some(table) = out.table else {
            return Ok(vec!["DynamoDB described no table".into()]);
        };
        let mut problems = Vec::new();
        if !keys_are(table.key_schema(), schema::PK, schema::SK) {
            problems.push(format!(
                "the table's keys are not {} (HASH) and {} (RANGE)",
                schema::PK,
                schema::SK
            ));
        }
        let index = table
            .global_secondary_indexes()
            .iter()
            .find(|i| i.index_name() == Some(schema::WORK_INDEX));
        match index {
            None => problems.push(format!(
                "the table has no global secondary index '{}'",
                schema::WORK_INDEX
            )),
            Some(i) => problems.extend(index_problems(i.key_schema(), i.projection())),
        }
        let stream = table.stream_specification();
        let new_and_old = stream.is_some_and(|s| {
            s.stream_enabled() && s.stream_view_type() == Some(&StreamViewType::NewAndOldImages)
        });
        if !new_and_old {
            problems.push(
                "the table has no NEW_AND_OLD_IMAGES stream: grades wait for the daily run".into(),
            );
        }
        Ok(problems)
    }
}

/// What keeps the work index from serving the sync: its keys, or an
/// attribute its projection leaves out.
fn index_problems(keys: &[KeySchemaElement], projection: Option<&Projection>) -> Vec<String> {
    let mut problems = Vec::new();
    if !keys_are(keys, schema::PENDING, schema::SK) {
        problems.push(format!(
            "the index '{}' is not keyed by {} (HASH) and {} (RANGE)",
            schema::WORK_INDEX,
            schema::PENDING,
            schema::SK
        ));
    }
    let projected = projection.map(|p| (p.projection_type(), p.non_key_attributes()));
    let missing: Vec<&str> = match projected {
        Some((Some(ProjectionType::All), _)) => Vec::new(),
        Some((_, included)) => work_index_attributes()
            .into_iter()
            .filter(|name| !included.iter().any(|i| i == name))
            .collect(),
        None => work_index_attributes(),
    };
    if !missing.is_empty() {
        problems.push(format!(
            "the index '{}' does not project {}: deploy the stack's template.yaml",
            schema::WORK_INDEX,
            missing.join(", ")
        ));
    }
    problems
}

fn keys_are(keys: &[KeySchemaElement], hash: &str, range: &str) -> bool {
    let key = |kind: KeyType| {
        keys.iter()
            .find(|k| k.key_type() == &kind)
            .map(|k| k.attribute_name())
    };
    keys.len() == 2 && key(KeyType::Hash) == Some(hash) && key(KeyType::Range) == Some(range)
}

//! Whether a table has the keys, index and stream the code uses: what an
//! operator's `ltisync check` reports before anything else goes wrong.

use aws_sdk_dynamodb::types::{KeySchemaElement, KeyType, StreamViewType};

use super::{schema, Store, StoreError, Within};

impl Store {
    /// What is wrong with the table's layout (empty: nothing), from one
    /// `DescribeTable`.
    pub async fn layout_problems(&self) -> Result<Vec<String>, StoreError> {
        let out = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .within(self)
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
            .find(|i| i.index_name() == Some(schema::PENDING_INDEX));
        match index {
            None => problems.push(format!(
                "the table has no global secondary index '{}'",
                schema::PENDING_INDEX
            )),
            Some(i) if !keys_are(i.key_schema(), schema::PENDING, schema::SK) => {
                problems.push(format!(
                    "the index '{}' is not keyed by {} (HASH) and {} (RANGE)",
                    schema::PENDING_INDEX,
                    schema::PENDING,
                    schema::SK
                ))
            }
            Some(_) => {}
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

fn keys_are(keys: &[KeySchemaElement], hash: &str, range: &str) -> bool {
    let key = |kind: KeyType| {
        keys.iter()
            .find(|k| k.key_type() == &kind)
            .map(|k| k.attribute_name())
    };
    keys.len() == 2 && key(KeyType::Hash) == Some(hash) && key(KeyType::Range) == Some(range)
}

//! What DynamoDB bills for a read, by its documented sizing rules, worked
//! out from the request and the answer as they cross the wire, so a
//! measurement does not depend on what a local server chooses to report.
//!
//! The rules (Amazon DynamoDB Developer Guide: "Item sizes and formats",
//! "Read and write operations", "Global secondary indexes: provisioned
//! throughput considerations"):
//! - an item's size is the UTF-8 length of its attribute names plus their
//!   values; a number takes 1 byte per two significant digits plus 1; a
//!   list or map 3 bytes plus its elements and 1 byte per element; a
//!   boolean or null 1 byte;
//! - `GetItem` rounds the item up to 4 KB; `BatchGetItem` rounds each item
//!   on its own; `Query` and `Scan` add up the items of one request and
//!   round once; a key that finds nothing still costs one unit;
//! - a strongly consistent read costs 1 unit per 4 KB, an eventually
//!   consistent one half; index reads are always eventually consistent,
//!   and their size is that of the projected attributes, keys included.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Value};

const READ_UNIT_BYTES: u64 = 4096;

/// The size DynamoDB bills for an item in its wire form (`{"name": {"S": ...}}`).
pub fn item_size(item: &Map<String, Value>) -> u64 {
    item.iter()
        .map(|(name, value)| name.len() as u64 + value_size(value))
        .sum()
}

/// The size DynamoDB bills for an item as the SDK holds it.
pub fn attribute_item_size(item: &HashMap<String, AttributeValue>) -> u64 {
    item.iter()
        .map(|(name, value)| name.len() as u64 + attribute_size(value))
        .sum()
}

fn attribute_size(value: &AttributeValue) -> u64 {
    match value {
        AttributeValue::S(s) => s.len() as u64,
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len() as u64,
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(set) => set.iter().map(|s| s.len() as u64).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len() as u64).sum(),
        AttributeValue::L(list) => 3 + list.iter().map(|v| attribute_size(v) + 1).sum::<u64>(),
        AttributeValue::M(map) => 3 + attribute_item_size(map) + map.len() as u64,
        _ => 0,
    }
}

fn value_size(value: &Value) -> u64 {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    let text = || inner.as_str().unwrap_or_default();
    match kind.as_str() {
        "S" => text().len() as u64,
        "N" => number_size(text()),
        "B" => base64_len(text()),
        "BOOL" | "NULL" => 1,
        "SS" => elements(inner)
            .map(|e| e.as_str().unwrap_or_default().len() as u64)
            .sum(),
        "NS" => elements(inner)
            .map(|e| number_size(e.as_str().unwrap_or_default()))
            .sum(),
        "BS" => elements(inner)
            .map(|e| base64_len(e.as_str().unwrap_or_default()))
            .sum(),
        "L" => 3 + elements(inner).map(|e| value_size(e) + 1).sum::<u64>(),
        "M" => {
            let fields = inner.as_object().into_iter().flatten();
            3 + fields
                .map(|(name, v)| name.len() as u64 + value_size(v) + 1)
                .sum::<u64>()
        }
        _ => 0,
    }
}

fn elements(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}

/// 1 byte per two significant digits, plus 1.
fn number_size(text: &str) -> u64 {
    let mantissa = text
        .trim_start_matches(['-', '+'])
        .split(['e', 'E'])
        .next()
        .unwrap_or_default();
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len() as u64;
    significant.max(1).div_ceil(2) + 1
}

fn base64_len(text: &str) -> u64 {
    let padding = text.bytes().rev().take_while(|b| *b == b'=').count() as u64;
    (text.len() as u64 / 4 * 3).saturating_sub(padding)
}

/// Read units in 4 KB blocks of `bytes` (at least one).
fn blocks(bytes: u64) -> u64 {
    bytes.div_ceil(READ_UNIT_BYTES).max(1)
}

fn consistency_factor(request: &Value) -> f64 {
    let on_index = request.get("IndexName").is_some();
    match request.get("ConsistentRead").and_then(Value::as_bool) {
        Some(true) if !on_index => 1.0,
        _ => 0.5,
    }
}

fn items<'a>(answer: &'a Value, field: &str) -> impl Iterator<Item = &'a Map<String, Value>> {
    answer[field]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
}

/// The read units one call costs, by the rules above; 0 for anything that
/// is not a read (or a read that failed, which is not billed).
pub fn read_units(operation: &str, request: &Value, answer: &Value) -> f64 {
    match operation {
        "GetItem" => {
            let size = answer["Item"].as_object().map(item_size).unwrap_or(0);
            blocks(size) as f64 * consistency_factor(request)
        }
        "Query" | "Scan" => {
            let size: u64 = items(answer, "Items").map(item_size).sum();
            blocks(size) as f64 * consistency_factor(request)
        }
        "BatchGetItem" => batch_get_units(request, answer),
        _ => 0.0,
    }
}

/// Each item rounded on its own; each requested key that found nothing
/// costs one block; keys handed back unprocessed cost nothing.
fn batch_get_units(request: &Value, answer: &Value) -> f64 {
    let Some(tables) = request["RequestItems"].as_object() else {
        return 0.0;
    };
    tables
        .iter()
        .map(|(table, asked)| {
            let factor = consistency_factor(asked);
            let found: Vec<u64> = items(&answer["Responses"], table).map(item_size).collect();
            let requested = asked["Keys"].as_array().map_or(0, Vec::len);
            let unprocessed = answer["UnprocessedKeys"][table]["Keys"]
                .as_array()
                .map_or(0, Vec::len);
            let missing = requested.saturating_sub(found.len() + unprocessed) as u64;
            let blocks: u64 = found.iter().map(|s| blocks(*s)).sum::<u64>() + missing;
            blocks as f64 * factor
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn sizes_follow_the_documented_rules() {
        // Names count; a string is its UTF-8 bytes.
        assert_eq!(item_size(&object(json!({"pk": {"S": "héllo"}}))), 2 + 6);
        // Numbers: "7" and "100" have one significant digit, 2 bytes;
        // "92.5" three, 3 bytes; "-0.000123" three, 3 bytes.
        for (n, size) in [
            ("7", 2),
            ("100", 2),
            ("92.5", 3),
            ("-0.000123", 3),
            ("12345678", 5),
        ] {
            assert_eq!(number_size(n), size, "{n}");
        }
        // A list of two strings: 3 + (1 + 1) + (2 + 1).
        assert_eq!(value_size(&json!({"L": [{"S": "a"}, {"S": "bc"}]})), 8);
        assert_eq!(
            value_size(&json!({"M": {"k": {"BOOL": true}}})),
            3 + 1 + 1 + 1
        );
        assert_eq!(value_size(&json!({"B": "AAEC"})), 3);
        // The SDK's form gives the same sizes.
        let item = HashMap::from([
            ("pk".to_owned(), AttributeValue::S("héllo".into())),
            ("n".to_owned(), AttributeValue::N("92.5".into())),
            (
                "l".to_owned(),
                AttributeValue::L(vec![
                    AttributeValue::S("a".into()),
                    AttributeValue::S("bc".into()),
                ]),
            ),
        ]);
        assert_eq!(attribute_item_size(&item), (2 + 6) + (1 + 3) + (1 + 8));
    }

    #[test]
    fn reads_are_billed_per_item_or_per_request() {
        let grade = |n: usize| json!({"pk": {"S": "x".repeat(n)}});
        // One 5 KB item: 2 blocks, halved when eventually consistent.
        let big = json!({"Item": grade(5000)});
        assert_eq!(
            read_units("GetItem", &json!({"ConsistentRead": true}), &big),
            2.0
        );
        assert_eq!(read_units("GetItem", &json!({}), &big), 1.0);
        // A missing item still costs a block.
        assert_eq!(
            read_units("GetItem", &json!({"ConsistentRead": true}), &json!({})),
            1.0
        );
        // Ten 400-byte items in one scan page: 4 KB, one block, half a unit.
        let page = json!({"Items": (0..10).map(|_| grade(398)).collect::<Vec<_>>()});
        assert_eq!(read_units("Scan", &json!({}), &page), 0.5);
        // The same ten through BatchGetItem, consistently: ten units.
        let request =
            json!({"RequestItems": {"t": {"ConsistentRead": true, "Keys": vec![json!({}); 10]}}});
        let answer = json!({"Responses": {"t": (0..10).map(|_| grade(398)).collect::<Vec<_>>()}});
        assert_eq!(read_units("BatchGetItem", &request, &answer), 10.0);
        // An index is read eventually consistently whatever is asked.
        let on_index = json!({"IndexName": "work", "ConsistentRead": true});
        assert_eq!(read_units("Query", &on_index, &page), 0.5);
        assert_eq!(read_units("PutItem", &json!({}), &json!({})), 0.0);
    }
}

//! The one test grade writer: a grade item built from the schema in docs/writing-grades.md
//! (keys, encoding, attributes), independent of the library, so every test,
//! the demo and the benchmarks check the documented contract rather than
//! ltisync's own idea of it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use ltisync::ActivityIds;

/// A stored item.
pub type Item = HashMap<String, AttributeValue>;

/// A pending grade item exactly as docs/writing-grades.md describes it,
/// written independently of the library so it checks the documented
/// contract: `extra` attributes are added or replace the defaults.
pub fn documented_grade(ids: &ActivityIds, user: &str, extra: &[(&str, AttributeValue)]) -> Item {
    // The schema's enc(): percent-encoding of everything outside A-Z a-z 0-9 - _ . ~
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                other => format!("%{other:02X}"),
            })
            .collect()
    };
    let pk = format!(
        "ACT#{}#{}#{}",
        enc(&ids.platform_id),
        enc(&ids.context_id),
        enc(&ids.resource_link_id)
    );
    let text = |v: &str| AttributeValue::S(v.to_owned());
    let mut item: Item = [
        ("pk", text(&pk)),
        ("sk", text(&format!("GRADE#{}", enc(user)))),
        ("pending", text(&pk)),
        ("schemaVersion", AttributeValue::N("1".into())),
        ("userId", text(user)),
        ("scoreGiven", AttributeValue::N("8".into())),
        ("scoreMaximum", AttributeValue::N("10".into())),
        ("gradedAt", text("2026-11-28T09:30:00Z")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (name, value) in extra {
        item.insert((*name).to_owned(), value.clone());
    }
    item
}

/// Removes `names` from `item` (a grade the sync already handled has no
/// `pending`, for instance).
pub fn without(mut item: Item, names: &[&str]) -> Item {
    for name in names {
        item.remove(*name);
    }
    item
}

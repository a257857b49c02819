//! The grade item as the tool writes it (schema version 1): the one place
//! the stored form of a grade lives. [`GradeItem`] writes it (through
//! serde_dynamo) and reads it; [`TOOL_ATTRIBUTES`] names each attribute the
//! tool owns with its DynamoDB type (a test ties the two together), so a
//! type error is reported by name before serde sees the item.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{activity_pk, grade_sk, now_rfc3339, schema, StoreError, Why};
use crate::activity::ActivityIds;
use crate::excerpt::excerpt;
use crate::grade::{Grade, InvalidGrade, GRADE_SCHEMA_VERSION};

/// The DynamoDB type of an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeType {
    /// `S`.
    String,
    /// `N`.
    Number,
}

/// Every attribute the tool writes, with its type. A grade counts as
/// unchanged while all of them hold the values the sync read.
pub const TOOL_ATTRIBUTES: [(&str, AttributeType); 11] = [
    ("pending", AttributeType::String),
    ("schemaVersion", AttributeType::Number),
    ("userId", AttributeType::String),
    ("scoreGiven", AttributeType::Number),
    ("scoreMaximum", AttributeType::Number),
    ("comment", AttributeType::String),
    ("activityProgress", AttributeType::String),
    ("gradingProgress", AttributeType::String),
    ("gradedAt", AttributeType::String),
    ("startedAt", AttributeType::String),
    ("submittedAt", AttributeType::String),
];

/// Whether the tool owns `name` (the sync owns every other attribute).
pub fn is_tool_attribute(name: &str) -> bool {
    TOOL_ATTRIBUTES.iter().any(|(a, _)| *a == name)
}

/// The attributes the sync writes on a grade item.
pub const SYNC_ATTRIBUTES: [&str; 8] = [
    schema::sync::STATUS,
    schema::sync::LAST_ERROR,
    schema::sync::LAST_ERROR_CODE,
    schema::sync::LAST_HTTP_STATUS,
    schema::sync::POSTING_AT,
    schema::sync::SYNCED_AT,
    schema::sync::FAILED_AT,
    schema::sync::LAST_ATTEMPT_AT,
];

/// Whether a grade item may hold `name`: a key, the tool's or the sync's.
pub fn is_known_attribute(name: &str) -> bool {
    name == schema::PK
        || name == schema::SK
        || is_tool_attribute(name)
        || SYNC_ATTRIBUTES.contains(&name)
}

/// The first attribute of a grade item that is neither a key, the tool's,
/// nor the sync's, with the closest tool attribute when one is near
/// (`score_given`, `ScoreGiven`, `scoregiven`, `scoreGven` → `scoreGiven`).
pub fn unknown_attribute(item: &HashMap<String, AttributeValue>) -> Option<InvalidGrade> {
    let mut unknown: Vec<&String> = item
        .keys()
        .filter(|name| !is_known_attribute(name))
        .collect();
    unknown.sort();
    let name = unknown.first()?;
    let hint = closest_tool_attribute(name)
        .map(|near| format!(" (did you mean '{near}'?)"))
        .unwrap_or_default();
    Some(InvalidGrade::UnknownAttribute {
        name: excerpt(name),
        hint,
    })
}

/// The tool attribute `name` was most likely meant to be: the same letters
/// ignoring case and `_`/`-`, else at most two edits away.
fn closest_tool_attribute(name: &str) -> Option<&'static str> {
    let fold = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let wanted = fold(name);
    let candidates = TOOL_ATTRIBUTES.iter().map(|(a, _)| *a);
    candidates
        .map(|a| (edit_distance(&fold(a), &wanted), a))
        .filter(|(distance, _)| *distance <= 2)
        .min()
        .map(|(_, a)| a)
}

/// Levenshtein distance (small strings: attribute names).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// A grade item: keys, then the tool's attributes (docs/writing-grades.md, "Attributes").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GradeItem {
    /// `ACT#<activity key>`.
    pub pk: String,
    /// `GRADE#<enc(user id)>`.
    pub sk: String,
    /// A copy of `pk` while the grade waits to be posted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
    /// `1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<f64>,
    /// The LMS user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Points given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_given: Option<f64>,
    /// Points possible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_maximum: Option<f64>,
    /// Comment for the learner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// AGS activity progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_progress: Option<String>,
    /// AGS grading progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grading_progress: Option<String>,
    /// When the tool graded it (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graded_at: Option<String>,
    /// When the learner started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When the learner submitted (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<String>,
}

impl GradeItem {
    /// The item that records `grade` for the activity `ids`, pending.
    pub fn pending(ids: &ActivityIds, grade: &Grade) -> Self {
        let pk = activity_pk(&ids.key());
        Self {
            sk: grade_sk(&grade.user_id),
            pending: Some(pk.clone()),
            pk,
            schema_version: Some(f64::from(GRADE_SCHEMA_VERSION)),
            user_id: Some(grade.user_id.clone()),
            score_given: grade.score_given,
            score_maximum: grade.score_maximum,
            comment: grade.comment.clone(),
            activity_progress: Some(grade.activity_progress.to_string()),
            grading_progress: Some(grade.grading_progress.to_string()),
            graded_at: Some(now_rfc3339(grade.graded_at)),
            started_at: grade.started_at.map(now_rfc3339),
            submitted_at: grade.submitted_at.map(now_rfc3339),
        }
    }

    /// The item as DynamoDB stores it.
    pub fn to_item(&self) -> Result<HashMap<String, AttributeValue>, StoreError> {
        serde_dynamo::to_item(self).map_err(|e| StoreError::Rejected(Why::new(e.to_string())))
    }

    /// Reads the tool's attributes of an item with keys `pk`/`sk`: a
    /// present attribute of the wrong type is named with both types.
    pub fn read(
        pk: &str,
        sk: &str,
        attributes: &HashMap<String, AttributeValue>,
    ) -> Result<Self, InvalidGrade> {
        for (name, expected) in TOOL_ATTRIBUTES {
            if let Some(value) = attributes.get(name) {
                check_type(name, expected, value)?;
            }
        }
        let mut item = attributes.clone();
        item.insert(schema::PK.into(), AttributeValue::S(pk.into()));
        item.insert(schema::SK.into(), AttributeValue::S(sk.into()));
        serde_dynamo::from_item(item).map_err(|e| InvalidGrade::Malformed(e.to_string()))
    }
}

impl TryFrom<GradeItem> for Grade {
    type Error = InvalidGrade;

    /// The schema's rules beyond types: version, user, keys, times, progress.
    fn try_from(item: GradeItem) -> Result<Self, InvalidGrade> {
        match item.schema_version {
            Some(v) if v == f64::from(GRADE_SCHEMA_VERSION) => {}
            Some(other) => {
                return Err(InvalidGrade::Malformed(format!(
                    "schemaVersion {other} is not supported (this ltisync reads version {GRADE_SCHEMA_VERSION})"
                )))
            }
            None => return Err(InvalidGrade::Malformed("schemaVersion is missing".into())),
        }
        let user_id = item.user_id.unwrap_or_default();
        if user_id.trim().is_empty() {
            return Err(InvalidGrade::MissingUser);
        }
        if item.sk != grade_sk(&user_id) {
            return Err(InvalidGrade::Malformed(format!(
                "sk must be '{}' for this userId",
                excerpt(&grade_sk(&user_id))
            )));
        }
        let Some(graded_at) = time_at("gradedAt", item.graded_at)? else {
            return Err(InvalidGrade::Malformed("gradedAt is missing".into()));
        };
        let grade = Grade {
            user_id,
            score_given: item.score_given,
            score_maximum: item.score_maximum,
            comment: item.comment,
            activity_progress: item
                .activity_progress
                .map(|p| p.parse())
                .transpose()?
                .unwrap_or_default(),
            grading_progress: item
                .grading_progress
                .map(|p| p.parse())
                .transpose()?
                .unwrap_or_default(),
            graded_at,
            started_at: time_at("startedAt", item.started_at)?,
            submitted_at: time_at("submittedAt", item.submitted_at)?,
        };
        grade.validate()?;
        Ok(grade)
    }
}

/// An RFC 3339 time, or why the attribute `name` is not one.
fn time_at(name: &str, raw: Option<String>) -> Result<Option<OffsetDateTime>, InvalidGrade> {
    let Some(raw) = raw else { return Ok(None) };
    OffsetDateTime::parse(&raw, &Rfc3339)
        .map(Some)
        .map_err(|e| {
            InvalidGrade::Malformed(format!(
                "{name} '{}' is not an RFC 3339 time such as 2026-11-28T09:30:00Z ({e})",
                excerpt(&raw)
            ))
        })
}

/// The schema's type for `name`, checked (NULL included: the schema says to
/// omit an attribute, not to null it); numbers must also be finite.
fn check_type(
    name: &'static str,
    expected: AttributeType,
    value: &AttributeValue,
) -> Result<(), InvalidGrade> {
    match (expected, value) {
        (AttributeType::String, AttributeValue::S(_)) => Ok(()),
        (AttributeType::Number, AttributeValue::N(n)) => match n.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(()),
            _ => Err(InvalidGrade::Malformed(format!(
                "{name}: '{}' is not a finite number",
                excerpt(n)
            ))),
        },
        (expected, found) => Err(InvalidGrade::WrongType {
            attribute: name,
            expected: match expected {
                AttributeType::String => "a string (S)",
                AttributeType::Number => "a number (N)",
            },
            found: type_name(found),
        }),
    }
}

/// How DynamoDB's type of `value` reads in an error message.
fn type_name(value: &AttributeValue) -> &'static str {
    match value {
        AttributeValue::S(_) => "a string (S)",
        AttributeValue::N(_) => "a number (N)",
        AttributeValue::B(_) => "binary data (B)",
        AttributeValue::Bool(_) => "a boolean (BOOL)",
        AttributeValue::Null(_) => "null (NULL)",
        AttributeValue::M(_) => "a map (M)",
        AttributeValue::L(_) => "a list (L)",
        AttributeValue::Ss(_) => "a string set (SS)",
        AttributeValue::Ns(_) => "a number set (NS)",
        AttributeValue::Bs(_) => "a binary set (BS)",
        _ => "an unknown type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field of the struct is a tool attribute of the listed type,
    /// and every listed attribute is a field: the schema lives in one place.
    #[test]
    fn the_tool_attributes_are_exactly_the_items_fields() {
        let full = GradeItem {
            pk: "ACT#p#c#r".into(),
            sk: "GRADE#u".into(),
            pending: Some("ACT#p#c#r".into()),
            schema_version: Some(1.0),
            user_id: Some("u".into()),
            score_given: Some(1.0),
            score_maximum: Some(2.0),
            comment: Some("c".into()),
            activity_progress: Some("Completed".into()),
            grading_progress: Some("FullyGraded".into()),
            graded_at: Some("2026-11-28T09:30:00Z".into()),
            started_at: Some("2026-11-28T09:00:00Z".into()),
            submitted_at: Some("2026-11-28T09:20:00Z".into()),
        };
        let mut item = full.to_item().unwrap();
        assert_eq!(item.remove("pk"), Some(AttributeValue::S(full.pk.clone())));
        assert!(item.remove("sk").is_some());
        let mut fields: Vec<&str> = item.keys().map(String::as_str).collect();
        fields.sort_unstable();
        let mut listed: Vec<&str> = TOOL_ATTRIBUTES.iter().map(|(a, _)| *a).collect();
        listed.sort_unstable();
        assert_eq!(fields, listed);
        for (name, kind) in TOOL_ATTRIBUTES {
            assert!(check_type(name, kind, &item[name]).is_ok(), "{name}");
        }
        let read = GradeItem::read(&full.pk, &full.sk, &item).unwrap();
        assert_eq!(read, full);
    }

    #[test]
    fn an_unknown_attribute_is_named_with_the_closest_known_one() {
        let item = |name: &str| HashMap::from([(name.to_owned(), AttributeValue::N("9".into()))]);
        for (written, meant) in [
            ("score_given", Some("scoreGiven")),
            ("ScoreGiven", Some("scoreGiven")),
            ("scoregiven", Some("scoreGiven")),
            ("scoreGven", Some("scoreGiven")),
            ("gradingprogress", Some("gradingProgress")),
            ("favouriteColour", None),
        ] {
            let Some(InvalidGrade::UnknownAttribute { name, hint }) =
                unknown_attribute(&item(written))
            else {
                panic!("{written} is unknown");
            };
            assert_eq!(name, written);
            match meant {
                Some(meant) => assert_eq!(hint, format!(" (did you mean '{meant}'?)")),
                None => assert_eq!(hint, ""),
            }
        }
        let known = [
            "pk",
            "sk",
            "scoreGiven",
            "pending",
            "syncStatus",
            "lastErrorCode",
        ];
        for name in known {
            assert!(unknown_attribute(&item(name)).is_none(), "{name} is known");
        }
    }
}

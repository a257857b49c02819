//! Reading documents that may carry a secret (an ID token with its service
//! key, an activity item with its stored key): a parse error names the
//! field and where it is, never the value. serde's own messages quote the
//! value they could not use (`invalid type: integer 9876…, expected a
//! string`), which would put a key in a log line.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;

/// `body` (JSON) as `T`, or what is wrong with it without quoting it.
pub fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let mut reader = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut reader).map_err(|e| {
        let inner = e.inner();
        let place = format!("line {} column {}", inner.line(), inner.column());
        match inner.classify() {
            serde_json::error::Category::Data => {
                format!(
                    "the field '{}' is not what was expected ({place})",
                    e.path()
                )
            }
            serde_json::error::Category::Eof => format!("the JSON ends early ({place})"),
            _ => format!("not JSON ({place})"),
        }
    })
}

/// A DynamoDB item as `T`, or which attribute is wrong without quoting it.
pub fn item<T: DeserializeOwned>(item: HashMap<String, AttributeValue>) -> Result<T, String> {
    let item: serde_dynamo::Item = item.into();
    let value = serde_dynamo::AttributeValue::M(item.into());
    let reader = serde_dynamo::Deserializer::from_attribute_value(value);
    serde_path_to_error::deserialize(reader)
        .map_err(|e| format!("the attribute '{}' is not what the schema says", e.path()))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Token {
        services: Services,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Services {
        service_key: String,
    }

    #[test]
    fn a_value_of_the_wrong_type_is_named_by_its_field_not_quoted() {
        let body = br#"{"services": {"serviceKey": 987654321012345678}}"#;
        let err = json::<Token>(body).unwrap_err();
        assert!(err.contains("'services.serviceKey'"), "{err}");
        assert!(!err.contains("987654321012345678"), "{err}");
        let err = json::<Token>(b"{\"services\": {\"serviceKey\": \"secret").unwrap_err();
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn an_attribute_of_the_wrong_type_is_named_not_quoted() {
        let item = HashMap::from([(
            "services".to_owned(),
            AttributeValue::M(HashMap::from([(
                "serviceKey".to_owned(),
                AttributeValue::N("987654321012345678".into()),
            )])),
        )]);
        let err = super::item::<Token>(item).unwrap_err();
        assert!(err.contains("services.serviceKey"), "{err}");
        assert!(!err.contains("987654321012345678"), "{err}");
    }
}

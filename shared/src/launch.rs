//! The launch capture: from an `ltik` to a stored activity and service key.
//!
//! The HTTP function around it only parses the request and maps the
//! outcome to a response; every decision lives here.

use std::time::{Duration, Instant};

use thiserror::Error;

use crate::activity::{ActivityIds, ActivityKey, GrantedServices, LaunchCapture};
use crate::ltiaas::{IdToken, LtiaasClient, LtiaasError};
use crate::secrets::Ltik;
use crate::store::{Store, StoreError};

/// Longest ltik accepted; real ones are JWTs of well under 2 KB.
pub const MAX_LTIK_LEN: usize = 4096;

/// Why a launch could not be captured.
#[derive(Debug, Error)]
pub enum LaunchError {
    /// The request carries no usable ltik.
    #[error("{0}")]
    BadLtik(String),
    /// LTIaaS refused or failed (see [`LtiaasError`]).
    #[error(transparent)]
    Ltiaas(#[from] LtiaasError),
    /// The table could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The LMS's ids make a key longer than DynamoDB allows: no retry can
    /// store this launch.
    #[error("{0}")]
    IdsTooLong(String),
}

/// The longest partition key DynamoDB stores (and the work index's key,
/// a copy of it), in bytes.
pub const MAX_PARTITION_KEY_BYTES: usize = 2048;

/// Refuses ids whose activity key (`ACT#` and the three ids, encoded)
/// would exceed [`MAX_PARTITION_KEY_BYTES`], naming the longest id.
pub fn check_key_fits(ids: &ActivityIds) -> Result<(), LaunchError> {
    let key_len = crate::store::activity_pk(&ids.key()).len();
    if key_len <= MAX_PARTITION_KEY_BYTES {
        return Ok(());
    }
    let encoded = |id: &str| crate::activity::encode_key_component(id).len();
    let parts = [
        ("platform id", encoded(&ids.platform_id)),
        ("course (context) id", encoded(&ids.context_id)),
        ("resource link id", encoded(&ids.resource_link_id)),
    ];
    let (longest, len) = parts
        .into_iter()
        .max_by_key(|(_, len)| *len)
        .unwrap_or_default();
    Err(LaunchError::IdsTooLong(format!(
        "the LMS's {longest} is {len} bytes once encoded, which makes the activity's key \
         {key_len} bytes; DynamoDB keys may be at most {MAX_PARTITION_KEY_BYTES} bytes, so \
         this launch cannot be stored (relaunching will not help)"
    )))
}

/// Checks that `raw` could be an ltik before spending a call on it:
/// non-empty, at most [`MAX_LTIK_LEN`] bytes, JWT characters only.
pub fn check_ltik(raw: Option<&str>) -> Result<Ltik, LaunchError> {
    let raw = raw.map(str::trim).unwrap_or_default();
    if raw.is_empty() {
        return Err(LaunchError::BadLtik(
            "the launch has no ltik: LTIaaS adds ?ltik=... to the launch URL; start the activity from your LMS".into(),
        ));
    }
    if raw.len() > MAX_LTIK_LEN {
        return Err(LaunchError::BadLtik(format!(
            "the ltik is {} bytes long, more than the {MAX_LTIK_LEN} an ltik can be",
            raw.len()
        )));
    }
    if let Some(bad) = raw.chars().find(|c| {
        !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '+' | '/' | '='))
    }) {
        return Err(LaunchError::BadLtik(format!(
            "the ltik contains the character {:?}, which no ltik contains",
            bad
        )));
    }
    Ok(Ltik::new(raw))
}

/// What the launch captured.
#[derive(Debug, Clone)]
pub struct Captured {
    /// The activity's ids.
    pub ids: ActivityIds,
    /// Its key (what the tool uses to write grades).
    pub key: ActivityKey,
    /// Course title.
    pub context_title: Option<String>,
    /// Activity title.
    pub resource_link_title: Option<String>,
    /// Whether the launch carried a service key (else grades cannot sync
    /// until a launch that has one).
    pub service_key_captured: bool,
}

/// The result of a launch that LTIaaS accepted.
#[derive(Debug, Clone)]
pub enum LaunchOutcome {
    /// The activity was stored.
    Captured(Captured),
    /// A valid launch that names no activity (deep linking, no course):
    /// nothing to store, but the tool should still open.
    NotAnActivity {
        /// Why nothing was stored.
        reason: String,
    },
}

/// Time spent in each dependency during one launch.
#[derive(Debug, Clone, Copy, Default)]
pub struct LaunchTimings {
    /// `GET /api/idtoken`.
    pub ltiaas: Duration,
    /// The DynamoDB upsert.
    pub store: Duration,
}

/// Captures launches: LTIaaS client plus store.
#[derive(Debug, Clone)]
pub struct LaunchService {
    ltiaas: LtiaasClient,
    store: Store,
}

impl LaunchService {
    /// A service over the given client and store.
    pub fn new(ltiaas: LtiaasClient, store: Store) -> Self {
        Self { ltiaas, store }
    }

    /// Its LTIaaS client.
    pub fn ltiaas(&self) -> &LtiaasClient {
        &self.ltiaas
    }

    /// Its store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Fetches the launch's ID token and stores its activity with the
    /// service key. Nothing is written unless every step before it worked.
    pub async fn capture(
        &self,
        ltik: &Ltik,
        timings: &mut LaunchTimings,
    ) -> Result<LaunchOutcome, LaunchError> {
        let started = Instant::now();
        let token = self.ltiaas.id_token(ltik).await;
        timings.ltiaas = started.elapsed();
        let capture = match capture_from_token(token?) {
            Ok(capture) => capture,
            Err(reason) => return Ok(LaunchOutcome::NotAnActivity { reason }),
        };
        check_key_fits(&capture.ids)?;
        let started = Instant::now();
        let stored = self
            .store
            .record_launch(&capture, time::OffsetDateTime::now_utc())
            .await;
        timings.store = started.elapsed();
        stored?;
        Ok(LaunchOutcome::Captured(Captured {
            key: capture.ids.key(),
            ids: capture.ids,
            context_title: capture.context_title,
            resource_link_title: capture.resource_link_title,
            service_key_captured: capture.service_key.is_some(),
        }))
    }
}

/// The activity an ID token names, or why it names none.
pub fn capture_from_token(token: IdToken) -> Result<LaunchCapture, String> {
    let launch = token.launch.ok_or("the launch has no launch section")?;
    let kind = launch.kind.unwrap_or_default();
    let context = launch
        .context
        .ok_or_else(|| format!("the {kind} launch has no course (context)"))?;
    let link = launch
        .resource_link
        .ok_or_else(|| format!("the {kind} launch has no resource link"))?;
    let ids =
        ActivityIds::new(token.platform.id, context.id, link.id).map_err(|e| e.to_string())?;
    let services = token.services.unwrap_or_default();
    let granted = GrantedServices {
        product_family_code: token.platform.product_family_code.clone(),
        names_and_roles: services.names_and_roles.as_ref().map(|n| n.available),
        ags_scopes: services
            .assignment_and_grades
            .as_ref()
            .and_then(|ags| ags.scopes.clone()),
    };
    Ok(LaunchCapture {
        ids,
        service_key: services.service_key,
        context_title: context.title,
        resource_link_title: link.title,
        platform_name: token.platform.name,
        platform_url: token.platform.url,
        line_item_hint: services
            .assignment_and_grades
            .filter(|ags| ags.available)
            .and_then(|ags| ags.line_item_id),
        services: granted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implausible_ltiks_are_refused_with_a_reason() {
        assert!(check_ltik(Some("eyJhbGciOi.eyJ.sig-_")).is_ok());
        for (raw, words) in [
            (None, "no ltik"),
            (Some("  "), "no ltik"),
            (Some("abc def"), "character ' '"),
            (Some("a<script>"), "character '<'"),
        ] {
            let err = check_ltik(raw).unwrap_err().to_string();
            assert!(err.contains(words), "{raw:?}: {err}");
        }
        let long = "a".repeat(MAX_LTIK_LEN + 1);
        assert!(check_ltik(Some(&long))
            .unwrap_err()
            .to_string()
            .contains("4097 bytes"));
    }

    #[test]
    fn a_deep_linking_launch_names_no_activity() {
        let token: IdToken = serde_json::from_value(serde_json::json!({
            "platform": {"id": "p"},
            "launch": {"type": "LtiDeepLinkingRequest", "context": {"id": "c"}}
        }))
        .unwrap();
        assert_eq!(
            capture_from_token(token).unwrap_err(),
            "the LtiDeepLinkingRequest launch has no resource link"
        );
    }
}

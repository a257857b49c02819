//! Who is asking: the `Authorization` schemes LTIaaS reads, the API key
//! check, and what a credential gives access to (one launch, or one launch
//! context). Dispatch decides which route needs which; the 401 answers
//! live here so every route refuses alike.

use hyper::StatusCode;

use crate::respond::{envelope, Refusal};
use crate::state::{Binding, LaunchSpec, SimState};

/// An `Authorization` scheme LTIaaS knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `LTIK-AUTH-V2 <api key>:<ltik>`: a launch's ltik.
    Ltik,
    /// `SERVICE-AUTH-V1 <api key>:<service key>`: a context's service key.
    Service,
    /// `Bearer <api key>`: the account, for its own endpoints.
    Bearer,
}

/// A parsed `Authorization` header.
#[derive(Debug, Clone)]
pub(crate) struct Credential {
    /// The API key it carries.
    pub(crate) api_key: String,
    /// Its scheme.
    pub(crate) scheme: Scheme,
    /// The ltik or service key (empty for `Bearer`).
    pub(crate) secret: String,
}

impl Credential {
    /// The credential in an `Authorization` header (None: absent, or a
    /// scheme LTIaaS does not take).
    pub(crate) fn parse(header: Option<&str>) -> Option<Self> {
        let (scheme, rest) = header?.split_once(' ')?;
        let scheme = match scheme {
            "LTIK-AUTH-V2" => Scheme::Ltik,
            "SERVICE-AUTH-V1" => Scheme::Service,
            "Bearer" => {
                return Some(Self {
                    api_key: rest.to_owned(),
                    scheme: Scheme::Bearer,
                    secret: String::new(),
                })
            }
            _ => return None,
        };
        let (api_key, secret) = rest.split_once(':')?;
        Some(Self {
            api_key: api_key.to_owned(),
            scheme,
            secret: secret.to_owned(),
        })
    }

    /// The service key, when the credential is one.
    pub(crate) fn service_key(&self) -> Option<&str> {
        (self.scheme == Scheme::Service).then_some(self.secret.as_str())
    }
}

/// The credential, if there is one and it carries the API key `state`
/// accepts; otherwise the 401.
pub(crate) fn authenticate(
    state: &SimState,
    credential: Option<Credential>,
) -> Result<Credential, Refusal> {
    let Some(credential) = credential else {
        return Err(unauthorized(
            "MISSING_AUTHORIZATION_HEADER",
            "Missing or unsupported Authorization header.",
        ));
    };
    if credential.api_key != state.api_key {
        return Err(unauthorized("INVALID_API_KEY", "Invalid API key"));
    }
    Ok(credential)
}

/// Account endpoints take the API key alone: `Bearer`, nothing else.
pub(crate) fn require_bearer(credential: &Credential) -> Result<(), Refusal> {
    if credential.scheme == Scheme::Bearer {
        return Ok(());
    }
    Err(unauthorized(
        "INVALID_AUTHORIZATION_SCHEME",
        "Account endpoints accept Bearer only.",
    ))
}

/// The launch an ltik names; the ID token endpoint takes nothing else.
pub(crate) fn launch<'a>(
    state: &'a SimState,
    credential: &Credential,
) -> Result<&'a LaunchSpec, Refusal> {
    match (credential.scheme, state.launches.get(&credential.secret)) {
        (Scheme::Ltik, Some(launch)) => Ok(launch),
        (Scheme::Ltik, None) => Err(invalid_ltik()),
        _ => Err(unauthorized(
            "INVALID_LTIK_AUTH_AUTHORIZATION_HEADER",
            "The ID token endpoint accepts only LTIK-AUTH-V2.",
        )),
    }
}

/// The launch context an ltik or a (fresh) service key is valid in.
pub(crate) fn binding(state: &SimState, credential: &Credential) -> Result<Binding, Refusal> {
    let secret = &credential.secret;
    match credential.scheme {
        Scheme::Ltik => match state.launches.get(secret) {
            Some(launch) => Ok(Binding {
                platform_id: launch.platform_id.clone(),
                context_id: launch.context_id.clone(),
                resource_link_id: launch.resource_link_id.clone(),
            }),
            None => Err(invalid_ltik()),
        },
        Scheme::Service => match state.service_keys.get(secret) {
            Some(binding) if !state.stale_keys.contains(secret) => Ok(binding.clone()),
            _ => Err(unauthorized(
                "INVALID_SERVICE_KEY_AUTH_AUTHORIZATION_HEADER",
                "Invalid or expired service key.",
            )),
        },
        Scheme::Bearer => Err(unauthorized(
            "INVALID_AUTHORIZATION_SCHEME",
            "Service endpoints accept LTIK-AUTH-V2 or SERVICE-AUTH-V1, not Bearer.",
        )),
    }
}

fn invalid_ltik() -> Refusal {
    unauthorized(
        "INVALID_LTIK_AUTH_AUTHORIZATION_HEADER",
        "Invalid or expired ltik.",
    )
}

/// A 401 in LTIaaS's envelope.
fn unauthorized(message: &str, description: &str) -> Refusal {
    Box::new(envelope(StatusCode::UNAUTHORIZED, message, description))
}

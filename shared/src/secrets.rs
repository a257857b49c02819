//! Secret values: the LTIaaS API key, a launch's `ltik` and an activity's
//! `serviceKey`.
//!
//! Each is its own type so one cannot be passed where another is expected,
//! and none of them can reach a log, an error message or a `Debug` print:
//! `Debug` prints a fixed placeholder and there is no `Display`. Reading the
//! value takes an explicit [`ExposeSecret::expose_secret`] call, which only the
//! LTIaaS client (to build the `Authorization` header) and the DynamoDB
//! adapter (to store the service key) make.

use std::fmt;

pub use secrecy::ExposeSecret;
use secrecy::SecretString;

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(SecretString);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(SecretString::from(value.into()))
            }
        }

        impl ExposeSecret<str> for $name {
            fn expose_secret(&self) -> &str {
                self.0.expose_secret()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!($label, "([redacted])"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.expose_secret() == other.expose_secret()
            }
        }
    };
}

secret_type!(
    /// The tool's LTIaaS API key (a UUID-like string).
    ApiKey,
    "ApiKey"
);
secret_type!(
    /// The launch token LTIaaS appends to the tool's launch URL; valid for 24 hours.
    Ltik,
    "Ltik"
);
secret_type!(
    /// The service key of one launch context; it never expires.
    ServiceKey,
    "ServiceKey"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let printed = format!(
            "{:?} {:?} {:?}",
            ApiKey::new("api-secret-1"),
            Ltik::new("ltik-secret-2"),
            ServiceKey::new("service-secret-3")
        );
        assert!(!printed.contains("secret"), "{printed}");
        assert_eq!(
            printed,
            "ApiKey([redacted]) Ltik([redacted]) ServiceKey([redacted])"
        );
    }

    #[test]
    fn expose_returns_the_value() {
        assert_eq!(ServiceKey::new("k").expose_secret(), "k");
    }
}

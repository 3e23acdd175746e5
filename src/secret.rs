//! Types for values that must never be printed: private keys, access tokens, assertions.
//!
//! [`Sensitive`] wraps a string so that `Debug` and `Display` print a placeholder. The inner value
//! is reachable only through [`Sensitive::expose`], which makes every place that handles the real
//! value easy to find. Serialising one (for the secret document sfglue writes to Secrets Manager)
//! is allowed on purpose; nothing that serialises to stdout holds one.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A secret string whose `Debug` and `Display` are redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive(String);

impl Sensitive {
    pub fn new(value: impl Into<String>) -> Self {
        Sensitive(value.into())
    }

    /// The real value. Use only to hand it to a signer, an HTTP header or Secrets Manager.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

const REDACTED: &str = "<redacted>";

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Sensitive {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Sensitive {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Sensitive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Sensitive::new(concat!("-----BEGIN ", "PRIVATE KEY-----abc"));
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(&s)), "Some(<redacted>)");
        assert_eq!(s.expose(), concat!("-----BEGIN ", "PRIVATE KEY-----abc"));
    }

    #[test]
    fn serialises_the_real_value_for_the_secret_document() {
        let s = Sensitive::new("k");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"k\"");
        let back: Sensitive = serde_json::from_str("\"k\"").unwrap();
        assert_eq!(back, s);
    }
}

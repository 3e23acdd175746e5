//! The JSON document sfglue keeps in the Secrets Manager secret: the contract with the Glue script.
//!
//! One document per secret version: the PKCS#8 private key, its certificate, the certificate's
//! fingerprint and expiry, and the Salesforce settings the job needs. The script
//! (`glue_scripts/sfglue_extract.py`) reads exactly these keys.

use crate::config::SalesforceSettings;
use crate::crypto::KeyMaterial;
use crate::error::{Failure, Result};
use crate::secret::Sensitive;
use serde::{Deserialize, Serialize};

/// The failure of a command that needs the secret before `apply` has made it.
pub fn secret_missing(name: &str) -> Failure {
    Failure::runtime(
        "secret.missing",
        format!("the secret {name} does not exist"),
    )
    .with_fix("run `sfglue apply` first: it creates the key, the certificate and the secret")
}

pub const SCHEMA: &str = "sfglue/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretDocument {
    pub schema: String,
    pub private_key_pem: Sensitive,
    pub certificate_pem: String,
    pub certificate_sha256: String,
    pub certificate_not_after: String,
    #[serde(flatten)]
    pub settings: JobSettings,
}

/// The Salesforce settings the job reads from the secret. A change here makes a new secret
/// version that keeps the same key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSettings {
    pub consumer_key: String,
    pub username: String,
    pub login_url: String,
    pub audience: String,
    pub api_version: String,
}

impl JobSettings {
    pub fn from_config(sf: &SalesforceSettings) -> Self {
        JobSettings {
            consumer_key: sf.consumer_key.clone().unwrap_or_default(),
            username: sf.username.clone(),
            login_url: sf.login_url.clone(),
            audience: sf.audience.clone(),
            api_version: sf.api_version.clone(),
        }
    }

    /// The settings the config asks for, given the version in use. With blue/green rotation the
    /// in-use version may sign in through either configured app: its consumer key is kept then,
    /// so `apply` does not undo a rotation.
    pub fn desired(sf: &SalesforceSettings, in_use: Option<&JobSettings>) -> Self {
        let mut s = JobSettings::from_config(sf);
        if let Some(current) = in_use
            && sf.blue_green().is_some()
            && sf.is_configured_app(&current.consumer_key)
        {
            s.consumer_key = current.consumer_key.clone();
        }
        s
    }

    /// Names of the settings that differ, for plans and reports.
    pub fn differing_fields(&self, other: &JobSettings) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.consumer_key != other.consumer_key {
            out.push("consumer_key");
        }
        if self.username != other.username {
            out.push("username");
        }
        if self.login_url != other.login_url {
            out.push("login_url");
        }
        if self.audience != other.audience {
            out.push("audience");
        }
        if self.api_version != other.api_version {
            out.push("api_version");
        }
        out
    }
}

impl SecretDocument {
    pub fn new(key: &KeyMaterial, settings: JobSettings) -> Self {
        SecretDocument {
            schema: SCHEMA.to_string(),
            private_key_pem: key.private_key_pem.clone(),
            certificate_pem: key.certificate_pem.clone(),
            certificate_sha256: key.info.sha256.clone(),
            certificate_not_after: key.info.not_after.clone(),
            settings,
        }
    }

    /// The same key and certificate with other settings.
    pub fn with_settings(&self, settings: JobSettings) -> Self {
        SecretDocument {
            settings,
            ..self.clone()
        }
    }

    /// Serialises for Secrets Manager. The result holds the private key: hand it only to the SDK.
    pub fn to_secret_string(&self) -> Sensitive {
        // Serialising plain strings into JSON cannot fail.
        Sensitive::new(serde_json::to_string(self).unwrap_or_default())
    }

    /// Parses a SecretString. Errors never quote the text (it may hold a key).
    pub fn parse(secret_name: &str, text: &Sensitive) -> Result<Self> {
        let doc: SecretDocument = serde_json::from_str(text.expose()).map_err(|e| {
            // serde_json's message names the field or position, never the value.
            let detail = e.to_string();
            let detail = detail.split(" at line ").next().unwrap_or("").to_string();
            Failure::runtime(
                "secret.not_sfglue",
                format!("the secret {secret_name} does not hold an sfglue document ({detail})"),
            )
            .with_fix(format!(
                "choose another `secret.name` in the config, or delete the secret {secret_name} if it is sfglue's and damaged"
            ))
        })?;
        if doc.schema != SCHEMA {
            return Err(Failure::runtime(
                "secret.schema",
                format!(
                    "the secret {secret_name} has schema {:?}; this sfglue reads {SCHEMA:?}",
                    doc.schema
                ),
            )
            .with_fix("use the sfglue version that wrote it, or choose another secret name"));
        }
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> JobSettings {
        JobSettings {
            consumer_key: "3MVGabc".into(),
            username: "u@example.com".into(),
            login_url: "https://login.salesforce.com".into(),
            audience: "https://login.salesforce.com".into(),
            api_version: "62.0".into(),
        }
    }

    #[test]
    fn round_trips_with_the_documented_keys() {
        let doc = SecretDocument {
            schema: SCHEMA.into(),
            private_key_pem: Sensitive::new(concat!(
                "-----BEGIN ",
                "PRIVATE KEY-----\nAAA\n-----END PRIVATE KEY-----\n"
            )),
            certificate_pem: "CERT".into(),
            certificate_sha256: "AB:CD".into(),
            certificate_not_after: "2027-01-01T00:00:00Z".into(),
            settings: settings(),
        };
        let text = doc.to_secret_string();
        let v: serde_json::Value = serde_json::from_str(text.expose()).unwrap();
        for key in [
            "schema",
            "private_key_pem",
            "certificate_pem",
            "certificate_sha256",
            "certificate_not_after",
            "consumer_key",
            "username",
            "login_url",
            "audience",
            "api_version",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert!(v["private_key_pem"].as_str().unwrap().contains("\n"));
        assert_eq!(SecretDocument::parse("s", &text).unwrap(), doc);
        assert!(!format!("{doc:?}").contains("AAA"));
    }

    #[test]
    fn a_foreign_secret_is_refused_without_quoting_it() {
        let e = SecretDocument::parse("other", &Sensitive::new("{\"password\":\"hunter2\"}"))
            .unwrap_err();
        assert_eq!(e.code, "secret.not_sfglue");
        assert!(!e.message.contains("hunter2"));
        let e = SecretDocument::parse("other", &Sensitive::new("hunter2")).unwrap_err();
        assert!(!e.message.contains("hunter2"));
    }

    #[test]
    fn differing_fields_are_named() {
        let a = settings();
        let mut b = settings();
        b.consumer_key = String::new();
        b.audience = "https://test.salesforce.com".into();
        assert_eq!(a.differing_fields(&b), vec!["consumer_key", "audience"]);
    }
}

//! Preflight: the checks made before any call to Salesforce (by `verify`, `rotate finish` and
//! `status`), so that a mistake in the key, the certificate or the settings is named precisely
//! instead of surfacing as Salesforce's terse `invalid_grant`.
//!
//! Pure. Errors stop the command; warnings are things that look wrong but may be right (a
//! consumer key that is not shaped like Salesforce's, for a test server).

use crate::crypto::{self, CertificateInfo};
use crate::error::{Failure, Result};
use crate::secret_doc::{JobSettings, SecretDocument};
use time::OffsetDateTime;

pub const PRODUCTION_AUDIENCE: &str = "https://login.salesforce.com";
pub const SANDBOX_AUDIENCE: &str = "https://test.salesforce.com";

/// What preflight found for one secret version.
#[derive(Debug)]
pub struct Checked {
    pub certificate: CertificateInfo,
    pub warnings: Vec<String>,
}

/// The kind of org a login host belongs to, when the host says it.
#[derive(Debug, PartialEq, Eq)]
enum HostKind {
    Production,
    Sandbox,
    Unknown,
}

fn host_kind(url: &str) -> HostKind {
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default();
    if host == "test.salesforce.com" || host.ends_with(".sandbox.my.salesforce.com") {
        HostKind::Sandbox
    } else if host == "login.salesforce.com" || host.ends_with(".my.salesforce.com") {
        HostKind::Production
    } else {
        HostKind::Unknown
    }
}

/// The settings a version signs in with: audience against login host (an error), consumer key
/// and username shape (warnings).
pub fn check_settings(s: &JobSettings) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    let aud = s.audience.trim_end_matches('/');
    match (host_kind(&s.login_url), aud) {
        (HostKind::Sandbox, PRODUCTION_AUDIENCE) => {
            return Err(Failure::runtime(
                "preflight.audience_mismatch",
                format!("the login host {} is a sandbox, but the audience is the production one ({aud})", s.login_url),
            )
            .with_fix(format!("set salesforce.audience to {SANDBOX_AUDIENCE} (or remove it: sfglue derives it from login_url), then run `sfglue apply`")));
        }
        (HostKind::Production, SANDBOX_AUDIENCE) => {
            return Err(Failure::runtime(
                "preflight.audience_mismatch",
                format!("the login host {} is a production org, but the audience is the sandbox one ({aud})", s.login_url),
            )
            .with_fix(format!("set salesforce.audience to {PRODUCTION_AUDIENCE} (or remove it: sfglue derives it from login_url), then run `sfglue apply`")));
        }
        _ => {}
    }
    let key = &s.consumer_key;
    let looks_issued = key.starts_with("3MVG")
        && (20..=256).contains(&key.len())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._".contains(c));
    if !key.is_empty() && !looks_issued {
        warnings.push(format!(
            "the consumer key {key} does not look like one Salesforce issues (they start with 3MVG and are about 85 letters, digits, '.' and '_'): check that you copied the Consumer Key, not the secret or the app's name"
        ));
    }
    let user = &s.username;
    let domain_ok = user.rsplit_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !domain.ends_with('.')
    });
    if !domain_ok {
        warnings.push(format!(
            "the username {user} does not look like a Salesforce username (name@domain.tld)"
        ));
    }
    Ok(warnings)
}

/// All preflight checks for one secret version: the document has every field the script needs,
/// the key belongs to the certificate, the certificate is valid now, and the settings fit.
pub fn check_version(doc: &SecretDocument, now: OffsetDateTime) -> Result<Checked> {
    let mut missing = Vec::new();
    for (name, value) in [
        ("private_key_pem", doc.private_key_pem.expose()),
        ("certificate_pem", doc.certificate_pem.as_str()),
        ("username", doc.settings.username.as_str()),
        ("login_url", doc.settings.login_url.as_str()),
        ("audience", doc.settings.audience.as_str()),
        ("api_version", doc.settings.api_version.as_str()),
    ] {
        if value.trim().is_empty() {
            missing.push(name);
        }
    }
    if !missing.is_empty() {
        return Err(Failure::runtime(
            "preflight.secret_incomplete",
            format!("the secret version lacks {}", missing.join(", ")),
        )
        .with_fix("run `sfglue apply` to store complete settings"));
    }
    let certificate = crypto::preflight(&doc.private_key_pem, &doc.certificate_pem, now)?;
    let warnings = check_settings(&doc.settings)?;
    Ok(Checked {
        certificate,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(login: &str, aud: &str, key: &str, user: &str) -> JobSettings {
        JobSettings {
            consumer_key: key.into(),
            username: user.into(),
            login_url: login.into(),
            audience: aud.into(),
            api_version: "62.0".into(),
        }
    }

    const KEY: &str =
        "3MVG9abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.abcdefghijklmno";

    #[test]
    fn audience_must_fit_the_login_host() {
        for (login, aud, ok) in [
            ("https://test.salesforce.com", PRODUCTION_AUDIENCE, false),
            (
                "https://acme--uat.sandbox.my.salesforce.com",
                PRODUCTION_AUDIENCE,
                false,
            ),
            ("https://login.salesforce.com", SANDBOX_AUDIENCE, false),
            ("https://acme.my.salesforce.com", SANDBOX_AUDIENCE, false),
            ("https://acme.my.salesforce.com", PRODUCTION_AUDIENCE, true),
            ("https://test.salesforce.com", SANDBOX_AUDIENCE, true),
            // A test server or an Experience Cloud site: the host says nothing.
            ("http://127.0.0.1:9", SANDBOX_AUDIENCE, true),
        ] {
            let r = check_settings(&settings(login, aud, KEY, "u@example.com"));
            assert_eq!(r.is_ok(), ok, "{login} {aud}");
            if let Err(f) = r {
                assert_eq!(f.code, "preflight.audience_mismatch");
                assert!(f.fix.unwrap().contains("salesforce.audience"));
            }
        }
    }

    #[test]
    fn odd_consumer_keys_and_usernames_are_flagged() {
        let login = "https://login.salesforce.com";
        assert!(
            check_settings(&settings(login, PRODUCTION_AUDIENCE, KEY, "u@example.com"))
                .unwrap()
                .is_empty()
        );
        let w = check_settings(&settings(
            login,
            PRODUCTION_AUDIENCE,
            "my app",
            "u@example.com",
        ))
        .unwrap();
        assert!(w[0].contains("consumer key"), "{w:?}");
        let w = check_settings(&settings(login, PRODUCTION_AUDIENCE, KEY, "u@localhost")).unwrap();
        assert!(w[0].contains("username"), "{w:?}");
    }
}

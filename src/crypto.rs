//! Keys, certificates and JWT assertions, all in memory.
//!
//! Pure apart from the random numbers of key generation: no network, no files. One crypto stack
//! (aws-lc-rs) serves rcgen, jsonwebtoken and rustls alike.

use crate::error::{Failure, Result};
use crate::secret::Sensitive;
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime, format_description::well_known::Rfc3339};

/// What to do about a key or certificate in the secret that cannot be used.
const DAMAGED_SECRET_FIX: &str = "the secret was edited by hand or damaged: restore an earlier version, or delete the secret and run `sfglue apply` to make a new key (then upload the new certificate)";

/// A freshly made (or loaded) key pair with its self-signed certificate.
pub struct KeyMaterial {
    /// PKCS#8 PEM (its header line names a `PRIVATE KEY`).
    pub private_key_pem: Sensitive,
    pub certificate_pem: String,
    pub info: CertificateInfo,
}

/// What sfglue shows and stores about a certificate. Public information only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateInfo {
    pub subject: String,
    /// SHA-256 of the certificate's DER, upper-case hex pairs joined by `:` (as Salesforce and
    /// `openssl x509 -fingerprint -sha256` show it).
    pub sha256: String,
    pub not_before: String,
    pub not_after: String,
    pub key_bits: u32,
}

impl CertificateInfo {
    /// Whole days from `now` until expiry (negative once expired).
    pub fn days_left(&self, now: OffsetDateTime) -> i64 {
        OffsetDateTime::parse(&self.not_after, &Rfc3339)
            .map(|t| (t - now).whole_days())
            .unwrap_or(0)
    }
}

/// Makes an RSA key of `bits` and a self-signed X.509 certificate (SHA-256 with RSA) for it,
/// valid from five minutes ago (clock skew) for `validity_days`.
pub fn generate(common_name: &str, bits: u32, validity_days: u32) -> Result<KeyMaterial> {
    let size = match bits {
        2048 => rcgen::RsaKeySize::_2048,
        3072 => rcgen::RsaKeySize::_3072,
        4096 => rcgen::RsaKeySize::_4096,
        other => {
            return Err(Failure::config(
                "certificate.key_size",
                format!("cannot generate an RSA key of {other} bits"),
            )
            .with_fix("use 2048, 3072 or 4096"));
        }
    };
    let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size).map_err(|e| {
        Failure::runtime("crypto.keygen", format!("RSA key generation failed: {e}"))
    })?;
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::minutes(5);
    params.not_after = now + Duration::days(i64::from(validity_days));
    let cert = params.self_signed(&key).map_err(|e| {
        Failure::runtime(
            "crypto.certificate",
            format!("signing the certificate failed: {e}"),
        )
    })?;
    let certificate_pem = cert.pem();
    let info = certificate_info(&certificate_pem)?;
    Ok(KeyMaterial {
        private_key_pem: Sensitive::new(key.serialize_pem()),
        certificate_pem,
        info,
    })
}

/// Reads the public facts of a PEM certificate.
pub fn certificate_info(certificate_pem: &str) -> Result<CertificateInfo> {
    let der = pem_certificate_der(certificate_pem)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| {
        Failure::runtime(
            "crypto.bad_certificate",
            format!("the certificate cannot be parsed: {e}"),
        )
        .with_fix(DAMAGED_SECRET_FIX)
    })?;
    let subject = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or("")
        .to_string();
    let key_bits = match cert.public_key().parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => rsa.key_size() as u32,
        _ => {
            return Err(Failure::runtime(
                "crypto.not_rsa",
                "the certificate's key is not an RSA key; Salesforce's JWT flow needs RSA",
            )
            .with_fix("use an RSA key of 2048 bits or more"));
        }
    };
    let fmt = |t: x509_parser::time::ASN1Time| {
        t.to_datetime()
            .format(&Rfc3339)
            .unwrap_or_else(|_| String::from("?"))
    };
    Ok(CertificateInfo {
        subject,
        sha256: fingerprint(&der),
        not_before: fmt(cert.validity().not_before),
        not_after: fmt(cert.validity().not_after),
        key_bits,
    })
}

/// Checks, before any network call, that the key parses, belongs to the certificate, and that
/// the certificate is valid now. Returns the certificate's facts.
pub fn preflight(
    private_key_pem: &Sensitive,
    certificate_pem: &str,
    now: OffsetDateTime,
) -> Result<CertificateInfo> {
    let info = certificate_info(certificate_pem)?;
    let key = rcgen::KeyPair::from_pem(private_key_pem.expose()).map_err(|_| {
        Failure::runtime(
            "secret.bad_private_key",
            "the private key in the secret cannot be read as a PEM RSA key",
        )
        .with_fix(DAMAGED_SECRET_FIX)
    })?;
    let der = pem_certificate_der(certificate_pem)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| {
        Failure::runtime(
            "crypto.bad_certificate",
            format!("the certificate cannot be parsed: {e}"),
        )
    })?;
    if key.public_key_raw() != cert.public_key().subject_public_key.data.as_ref() {
        return Err(Failure::runtime(
            "secret.key_certificate_mismatch",
            format!(
                "the private key does not belong to the certificate (certificate SHA-256 {}, the certificate's public key SHA-256 {}, the private key's public key SHA-256 {})",
                info.sha256,
                fingerprint(cert.public_key().subject_public_key.data.as_ref()),
                fingerprint(key.public_key_raw())
            ),
        )
        .with_fix("store a key and certificate that belong together; the secret must not be edited by hand"));
    }
    let not_after = OffsetDateTime::parse(&info.not_after, &Rfc3339).unwrap_or(now);
    let not_before = OffsetDateTime::parse(&info.not_before, &Rfc3339).unwrap_or(now);
    if not_after <= now {
        return Err(Failure::runtime(
            "certificate.expired",
            format!("the certificate {} expired on {}", info.sha256, info.not_after),
        )
        .with_fix("make a new key and certificate, upload the certificate to the Salesforce app, and store the new key"));
    }
    if not_before > now {
        return Err(Failure::runtime(
            "certificate.not_yet_valid",
            format!(
                "the certificate {} is valid only from {}; check this machine's clock",
                info.sha256, info.not_before
            ),
        ));
    }
    Ok(info)
}

/// The claims of a Salesforce JWT bearer assertion.
#[derive(Debug, Serialize)]
pub struct Claims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: &'a str,
    pub exp: i64,
}

/// Signs an RS256 assertion valid for `lifetime` from `now`.
pub fn sign_assertion(
    private_key_pem: &Sensitive,
    consumer_key: &str,
    username: &str,
    audience: &str,
    now: OffsetDateTime,
    lifetime: Duration,
) -> Result<Sensitive> {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem.expose().as_bytes())
        .map_err(|_| {
            Failure::runtime(
                "secret.bad_private_key",
                "the private key cannot be used to sign an RS256 assertion",
            )
        })?;
    let claims = Claims {
        iss: consumer_key,
        sub: username,
        aud: audience,
        exp: (now + lifetime).unix_timestamp(),
    };
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    jsonwebtoken::encode(&header, &claims, &key)
        .map(Sensitive::new)
        .map_err(|e| Failure::runtime("crypto.sign", format!("signing the assertion failed: {e}")))
}

/// Installs the process-wide crypto provider of jsonwebtoken (aws-lc-rs). Call once at start.
pub fn install_provider() {
    // An error only means a provider is already installed, which is what we want.
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
}

pub fn fingerprint(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn pem_certificate_der(pem: &str) -> Result<Vec<u8>> {
    let bad = || {
        Failure::runtime(
            "crypto.bad_certificate",
            "the text is not a PEM certificate (-----BEGIN CERTIFICATE-----)",
        )
        .with_fix(DAMAGED_SECRET_FIX)
    };
    let start = pem.find("-----BEGIN CERTIFICATE-----").ok_or_else(bad)?;
    let body_start = start + "-----BEGIN CERTIFICATE-----".len();
    let end = pem[body_start..]
        .find("-----END CERTIFICATE-----")
        .ok_or_else(bad)?;
    let b64: String = pem[body_start..body_start + end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificate_is_self_consistent() {
        install_provider();
        let m = generate("unit test", 2048, 30).unwrap();
        assert!(
            m.private_key_pem
                .expose()
                .starts_with(concat!("-----BEGIN ", "PRIVATE KEY-----"))
        );
        assert_eq!(m.info.subject, "unit test");
        assert_eq!(m.info.key_bits, 2048);
        assert_eq!(m.info.sha256.len(), 32 * 3 - 1);
        let now = OffsetDateTime::now_utc();
        let d = m.info.days_left(now);
        assert!((29..=30).contains(&d), "{d}");
        assert_eq!(
            preflight(&m.private_key_pem, &m.certificate_pem, now).unwrap(),
            m.info
        );
    }

    #[test]
    fn preflight_catches_a_key_of_another_certificate_and_expiry() {
        install_provider();
        let a = generate("a", 2048, 30).unwrap();
        let b = generate("b", 2048, 30).unwrap();
        let now = OffsetDateTime::now_utc();
        let e = preflight(&a.private_key_pem, &b.certificate_pem, now).unwrap_err();
        assert_eq!(e.code, "secret.key_certificate_mismatch");
        assert!(e.message.contains(&b.info.sha256));
        let later = now + Duration::days(31);
        let e = preflight(&a.private_key_pem, &a.certificate_pem, later).unwrap_err();
        assert_eq!(e.code, "certificate.expired");
        let e = preflight(&Sensitive::new("nope"), &a.certificate_pem, now).unwrap_err();
        assert_eq!(e.code, "secret.bad_private_key");
        assert!(!e.to_string().contains("nope"));
    }

    #[test]
    fn assertion_verifies_with_the_certificate_key() {
        install_provider();
        let m = generate("jwt", 2048, 30).unwrap();
        let now = OffsetDateTime::now_utc();
        let jwt = sign_assertion(
            &m.private_key_pem,
            "3MVGkey",
            "u@example.com",
            "https://login.salesforce.com",
            now,
            Duration::minutes(3),
        )
        .unwrap();
        let dk = jsonwebtoken::DecodingKey::from_rsa_pem(m.certificate_pem.as_bytes()).unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&["https://login.salesforce.com"]);
        v.set_issuer(&["3MVGkey"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(jwt.expose(), &dk, &v).unwrap();
        assert_eq!(data.claims["sub"], "u@example.com");
        let exp = data.claims["exp"].as_i64().unwrap();
        assert_eq!(exp, now.unix_timestamp() + 180);
    }
}

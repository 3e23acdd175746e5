//! The PEM and key reader: `crypto::certificate_info` (PEM certificate → DER → X.509 facts) and
//! `crypto::preflight` (PEM private key + certificate: parse, match, validity window) on any
//! text. The input is split at the first NUL byte: key before it, certificate after it.
//!
//! The `cert import` normaliser in front of these readers has its own target, `key_normalise`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sfglue::crypto;
use sfglue::secret::Sensitive;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (key, cert) = text.split_once('\0').unwrap_or(("", &text));
    let _ = crypto::certificate_info(cert);
    let _ = crypto::certificate_info(key);
    // A fixed "now" keeps runs reproducible: 2026-12-04T00:00:00Z.
    let now = time::OffsetDateTime::from_unix_timestamp(1_796_342_400).expect("valid timestamp");
    let _ = crypto::preflight(&Sensitive::new(key), cert, now);
});

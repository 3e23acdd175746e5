//! The PEM and key reader: `crypto::certificate_info` (PEM certificate → DER → X.509 facts) and
//! `crypto::preflight` (PEM private key + certificate: parse, match, validity window) on any
//! text. The input is split at the first NUL byte: key before it, certificate after it.
//!
//! TODO(keyfile-not-on-main): the `cert import` normaliser (PKCS#1/PKCS#8, CRLF, literal `\n`,
//! lost newlines; `keyfile::normalise_private_key` / `normalise_certificate` on the `lifecycle`
//! branch) was not on main when this target was written. When it lands, feed both halves through
//! it here as well.
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

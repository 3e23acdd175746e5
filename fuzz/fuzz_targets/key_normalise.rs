//! The `cert import` normaliser: `keyfile::normalise_private_key` (PKCS#1 or PKCS#8, CRLF,
//! literal `\n`, lost newlines → PKCS#8 PEM) and `keyfile::normalise_certificate` on any text.
//! The input is split at the first NUL byte: key before it, certificate after it. What the
//! normaliser returns must normalise again to itself, and must pass on to `crypto`'s readers
//! without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sfglue::{crypto, keyfile};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (key, cert) = text.split_once('\0').unwrap_or((&text, &text));
    let key = keyfile::normalise_private_key(key, "fuzz.key").ok();
    if let Some((pem, bits)) = &key {
        let (again, bits_again) = keyfile::normalise_private_key(pem.expose(), "fuzz.key")
            .expect("a normalised key must normalise again");
        assert_eq!(
            pem.expose(),
            again.expose(),
            "key normalisation is not idempotent"
        );
        assert_eq!(*bits, bits_again);
    }
    let cert = keyfile::normalise_certificate(cert, "fuzz.crt").ok();
    if let Some(pem) = &cert {
        let again = keyfile::normalise_certificate(pem, "fuzz.crt")
            .expect("a normalised certificate must normalise again");
        assert_eq!(pem, &again, "certificate normalisation is not idempotent");
        let _ = crypto::certificate_info(pem);
    }
    if let (Some((key_pem, _)), Some(cert_pem)) = (&key, &cert) {
        let now =
            time::OffsetDateTime::from_unix_timestamp(1_796_342_400).expect("valid timestamp");
        let _ = crypto::preflight(key_pem, cert_pem, now);
    }
});

//! Bring your own key: turn the key and certificate files people actually have into the one form
//! sfglue stores (unencrypted PKCS#8 PEM, 64-character lines), or refuse them with the reason.
//!
//! Pure: no network, no files. Accepted: PKCS#1 (`RSA PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`),
//! CRLF line ends, a PEM whose newlines became literal `\n` or spaces or were lost entirely,
//! indented lines and surrounding whitespace. Refused: encrypted or OpenSSH keys, non-RSA keys,
//! RSA under 2048 bits, a key that does not belong to the certificate, an expired certificate,
//! and text that is no key at all. Error messages never quote the key text.

use crate::crypto::{self, CertificateInfo, KeyMaterial};
use crate::error::{Failure, Result};
use crate::secret::Sensitive;
use base64::Engine;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The smallest RSA key Salesforce accepts for the JWT bearer flow.
pub const MIN_RSA_BITS: u32 = 2048;

/// DER of the rsaEncryption OID (1.2.840.113549.1.1.1), tag and length included.
const RSA_OID: &[u8] = &[
    0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01,
];
const EC_OID: &[u8] = &[0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
const ED25519_OID: &[u8] = &[0x06, 0x03, 0x2B, 0x65, 0x70];

/// A PEM block found in messy text: its label and the decoded DER.
struct PemBlock {
    label: String,
    der: Vec<u8>,
    /// Header lines such as `Proc-Type: 4,ENCRYPTED` (legacy encrypted PKCS#1).
    encrypted_header: bool,
}

/// Undoes the usual damage: literal `\n`/`\r\n` escapes, CRLF, a UTF-8 byte-order mark.
fn repair(text: &str) -> String {
    text.trim_start_matches('\u{feff}')
        .replace("\\r\\n", "\n")
        .replace("\\n", "\n")
        .replace("\r\n", "\n")
        .replace('\r', "\n")
}

/// Finds the first PEM block whose label satisfies `wanted`. The body may have lost its line
/// breaks (spaces or nothing between the base64 and the BEGIN/END lines).
fn find_block(
    text: &str,
    wanted: impl Fn(&str) -> bool,
) -> Option<std::result::Result<PemBlock, String>> {
    let text = repair(text);
    let mut rest = text.as_str();
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let label_end = after.find("-----")?;
        let label = after[..label_end].trim().to_string();
        let body_and_more = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = body_and_more.find(&end_marker) else {
            return Some(Err(format!("the {label} block has no END line")));
        };
        if wanted(&label) {
            let body = &body_and_more[..end];
            let encrypted_header = body.contains("Proc-Type:") && body.contains("ENCRYPTED");
            let b64: String = body
                .lines()
                .filter(|l| !l.contains(':'))
                .flat_map(|l| l.chars())
                .filter(|c| !c.is_whitespace())
                .collect();
            return Some(
                base64::engine::general_purpose::STANDARD
                    .decode(b64.as_bytes())
                    .map(|der| PemBlock {
                        label,
                        der,
                        encrypted_header,
                    })
                    .map_err(|_| "its body is not valid base64".to_string()),
            );
        }
        rest = &body_and_more[end + end_marker.len()..];
    }
    None
}

/// PEM text with 64-character lines.
pub fn to_pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

// --- A minimal DER reader: enough to tell key kinds apart and measure an RSA modulus. -------

/// Splits one TLV off `input`: (tag, content, rest).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, b| (a << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

fn der_len(len: usize) -> Vec<u8> {
    if len < 0x80 {
        vec![len as u8]
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        let mut out = vec![0x80 | bytes.len() as u8];
        out.extend(bytes);
        out
    }
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_len(content.len()));
    out.extend_from_slice(content);
    out
}

/// Bits of the modulus of a PKCS#1 RSAPrivateKey (SEQUENCE { version, modulus, ... }).
fn pkcs1_modulus_bits(pkcs1: &[u8]) -> Option<u32> {
    let (0x30, seq, _) = tlv(pkcs1)? else {
        return None;
    };
    let (0x02, _version, rest) = tlv(seq)? else {
        return None;
    };
    let (0x02, modulus, _) = tlv(rest)? else {
        return None;
    };
    let significant: Vec<u8> = modulus.iter().copied().skip_while(|b| *b == 0).collect();
    let first = *significant.first()?;
    Some((significant.len() as u32 - 1) * 8 + (8 - first.leading_zeros()))
}

/// Wraps PKCS#1 DER into a PKCS#8 PrivateKeyInfo: version 0, rsaEncryption with NULL
/// parameters, and the PKCS#1 key as an OCTET STRING.
pub fn pkcs1_to_pkcs8(pkcs1: &[u8]) -> Vec<u8> {
    let mut algorithm = RSA_OID.to_vec();
    algorithm.extend_from_slice(&[0x05, 0x00]);
    let mut body = vec![0x02, 0x01, 0x00];
    body.extend(der(0x30, &algorithm));
    body.extend(der(0x04, pkcs1));
    der(0x30, &body)
}

/// The inner PKCS#1 key of a PKCS#8 PrivateKeyInfo, or what kind of key it holds instead.
fn pkcs8_rsa_inner(pkcs8: &[u8]) -> std::result::Result<&[u8], &'static str> {
    let parse = || -> Option<(&[u8], &[u8])> {
        let (0x30, seq, _) = tlv(pkcs8)? else {
            return None;
        };
        let (0x02, _version, rest) = tlv(seq)? else {
            return None;
        };
        let (0x30, alg, rest) = tlv(rest)? else {
            return None;
        };
        let (0x04, inner, _) = tlv(rest)? else {
            return None;
        };
        Some((alg, inner))
    };
    let (alg, inner) = parse().ok_or("not a PKCS#8 structure")?;
    if alg.starts_with(RSA_OID) {
        Ok(inner)
    } else if alg.starts_with(EC_OID) {
        Err("an EC (ECDSA) key")
    } else if alg.starts_with(ED25519_OID) {
        Err("an Ed25519 key")
    } else {
        Err("a key of an algorithm other than RSA")
    }
}

fn refuse(code: &str, message: impl Into<String>, fix: &str) -> Failure {
    Failure::config(format!("import.{code}"), message).with_fix(fix)
}

/// Reads a private key in any accepted form; returns it as PKCS#8 PEM with its size in bits.
pub fn normalise_private_key(text: &str, shown: &str) -> Result<(Sensitive, u32)> {
    let block = match find_block(text, |l| l.contains("PRIVATE KEY")) {
        Some(Ok(b)) => b,
        Some(Err(why)) => {
            return Err(refuse(
                "not_a_key",
                format!("{shown}: the private key block cannot be read: {why}"),
                "give the key file as openssl writes it (PKCS#8 or PKCS#1 PEM)",
            ));
        }
        None => {
            let what = if find_block(text, |l| l.contains("CERTIFICATE")).is_some() {
                "holds a certificate, not a private key"
            } else if text.contains("ssh-rsa ") {
                "holds an SSH public key, not a private key"
            } else {
                "holds no PEM private key block"
            };
            return Err(refuse(
                "not_a_key",
                format!("{shown} {what}"),
                "pass the private key with --key and the certificate with --cert",
            ));
        }
    };
    let pkcs1: Vec<u8> = match block.label.as_str() {
        "RSA PRIVATE KEY" if block.encrypted_header => {
            return Err(refuse(
                "encrypted",
                format!("{shown}: the key is encrypted with a passphrase"),
                "decrypt it first: openssl pkey -in KEY -out plain.key (sfglue stores it unencrypted in Secrets Manager, which encrypts it with KMS)",
            ));
        }
        "RSA PRIVATE KEY" => block.der.clone(),
        "PRIVATE KEY" => match pkcs8_rsa_inner(&block.der) {
            Ok(inner) => inner.to_vec(),
            Err(kind) if kind.starts_with("not ") => {
                return Err(refuse(
                    "not_a_key",
                    format!("{shown}: the PKCS#8 block is {kind}"),
                    "give an RSA private key in PEM form",
                ));
            }
            Err(kind) => {
                return Err(refuse(
                    "not_rsa",
                    format!("{shown} holds {kind}; Salesforce's JWT bearer flow needs RSA"),
                    "make an RSA key: openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 (or run `sfglue cert generate`)",
                ));
            }
        },
        "ENCRYPTED PRIVATE KEY" => {
            return Err(refuse(
                "encrypted",
                format!("{shown}: the key is encrypted with a passphrase"),
                "decrypt it first: openssl pkey -in KEY -out plain.key (sfglue stores it unencrypted in Secrets Manager, which encrypts it with KMS)",
            ));
        }
        "EC PRIVATE KEY" => {
            return Err(refuse(
                "not_rsa",
                format!("{shown} holds an EC (ECDSA) key; Salesforce's JWT bearer flow needs RSA"),
                "make an RSA key: openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 (or run `sfglue cert generate`)",
            ));
        }
        "OPENSSH PRIVATE KEY" => {
            return Err(refuse(
                "openssh",
                format!("{shown} is an OpenSSH key, which JWT libraries cannot read"),
                "convert a copy: ssh-keygen -p -m PKCS8 -f COPY (or make a new key with `sfglue cert generate`)",
            ));
        }
        other => {
            return Err(refuse(
                "not_a_key",
                format!(
                    "{shown} holds a PEM block of another kind ({}), not an RSA private key",
                    other.to_lowercase()
                ),
                "give an RSA private key in PEM form",
            ));
        }
    };
    let bits = pkcs1_modulus_bits(&pkcs1).ok_or_else(|| {
        refuse(
            "not_a_key",
            format!("{shown}: the key's content is not an RSA private key"),
            "the file is damaged or not a key: export it again",
        )
    })?;
    if bits < MIN_RSA_BITS {
        return Err(refuse(
            "rsa_too_small",
            format!("{shown} is an RSA-{bits} key; Salesforce needs at least {MIN_RSA_BITS} bits"),
            "make a 2048-bit (or larger) key and a certificate for it (`sfglue cert generate`)",
        ));
    }
    let pem = Sensitive::new(to_pem("PRIVATE KEY", &pkcs1_to_pkcs8(&pkcs1)));
    // The signer must load what we store: check with the very parser that will sign.
    if jsonwebtoken::EncodingKey::from_rsa_pem(pem.expose().as_bytes()).is_err()
        || rcgen::KeyPair::from_pem(pem.expose()).is_err()
    {
        return Err(refuse(
            "not_a_key",
            format!("{shown}: the RSA key cannot be loaded (damaged or unusual encoding)"),
            "export it again with: openssl pkey -in KEY -out key.pem",
        ));
    }
    Ok((pem, bits))
}

/// Reads a certificate in any accepted form; returns it as PEM.
pub fn normalise_certificate(text: &str, shown: &str) -> Result<String> {
    match find_block(text, |l| l == "CERTIFICATE" || l == "X509 CERTIFICATE") {
        Some(Ok(b)) => Ok(to_pem("CERTIFICATE", &b.der)),
        Some(Err(why)) => Err(refuse(
            "not_a_certificate",
            format!("{shown}: the certificate block cannot be read: {why}"),
            "give the certificate as PEM (-----BEGIN CERTIFICATE-----)",
        )),
        None => {
            let what = if find_block(text, |l| l.contains("PRIVATE KEY")).is_some() {
                "holds a private key, not a certificate"
            } else {
                "holds no PEM certificate block"
            };
            Err(refuse(
                "not_a_certificate",
                format!("{shown} {what}"),
                "pass the private key with --key and the certificate with --cert",
            ))
        }
    }
}

/// Reads, checks and normalises a key and its certificate: the key must be RSA of at least
/// 2048 bits, belong to the certificate, and the certificate must be valid now.
pub fn import(
    key_text: &str,
    key_shown: &str,
    cert_text: &str,
    cert_shown: &str,
    now: OffsetDateTime,
) -> Result<KeyMaterial> {
    let (private_key_pem, _bits) = normalise_private_key(key_text, key_shown)?;
    let certificate_pem = normalise_certificate(cert_text, cert_shown)?;
    let info: CertificateInfo = crypto::certificate_info(&certificate_pem).map_err(|f| {
        refuse(
            if f.code == "crypto.not_rsa" {
                "not_rsa"
            } else {
                "not_a_certificate"
            },
            format!("{cert_shown}: {}", f.message),
            "give the X.509 certificate that was made for this RSA key",
        )
    })?;
    if let Err(f) = crypto::preflight(&private_key_pem, &certificate_pem, now) {
        let code = match f.code.as_str() {
            "secret.key_certificate_mismatch" => "key_certificate_mismatch",
            "certificate.expired" => "certificate_expired",
            "certificate.not_yet_valid" => "certificate_not_yet_valid",
            _ => "not_a_key",
        };
        let fix = match code {
            "key_certificate_mismatch" => {
                "pass the certificate that was made for this key (compare `openssl x509 -pubkey -noout -in CERT` with `openssl pkey -pubout -in KEY`)"
            }
            "certificate_expired" => {
                "make a new certificate for the key (or a new pair with `sfglue cert generate`)"
            }
            _ => "check the files and this machine's clock",
        };
        let message = if code == "certificate_expired" {
            format!("{cert_shown}: {}", f.message)
        } else {
            format!("{key_shown} and {cert_shown}: {}", f.message)
        };
        return Err(refuse(code, message, fix));
    }
    let not_after = OffsetDateTime::parse(&info.not_after, &Rfc3339).unwrap_or(now);
    debug_assert!(not_after > now);
    Ok(KeyMaterial {
        private_key_pem,
        certificate_pem,
        info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_round_trip() {
        for len in [0usize, 5, 127, 128, 255, 256, 1200, 70000] {
            let content = vec![7u8; len];
            let encoded = der(0x04, &content);
            let (tag, body, rest) = tlv(&encoded).unwrap();
            assert_eq!((tag, body.len(), rest.len()), (0x04, len, 0));
        }
    }
}

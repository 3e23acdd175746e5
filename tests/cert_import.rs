//! Bring your own key: every accepted form of a key and certificate, every refusal, and the
//! `cert import` / `cert generate` commands on the emulators.

mod common;
use common::{World, assert_no_secrets, repo_root};
use sfglue::keyfile;
use time::{Duration, OffsetDateTime};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/fixtures").join(name)).unwrap()
}

/// A certificate for the fixture key whose validity ended yesterday.
fn expired_certificate() -> String {
    let key = rcgen::KeyPair::from_pem(&fixture("rsa2048-pkcs8.key")).unwrap();
    let mut params = rcgen::CertificateParams::default();
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(10);
    params.not_after = now - Duration::days(1);
    params.self_signed(&key).unwrap().pem()
}

/// Loads a PEM key with Python `cryptography`, the Glue script's loader.
fn python_loads(pem: &str) -> bool {
    use std::io::Write;
    let mut child = std::process::Command::new(repo_root().join(".venv/bin/python"))
        .args(["-c", "import sys\nfrom cryptography.hazmat.primitives import serialization as s\ns.load_pem_private_key(sys.stdin.buffer.read(), None)"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(pem.as_bytes())
        .unwrap();
    child.wait().unwrap().success()
}

#[test]
fn every_import_form_and_every_refusal() {
    sfglue::crypto::install_provider();
    let now = OffsetDateTime::now_utc();
    let pkcs1 = fixture("rsa2048-pkcs1.key");
    let pkcs8 = fixture("rsa2048-pkcs8.key");
    let cert = fixture("rsa2048.crt");
    let one_line = |pem: &str, sep: &str| pem.trim_end().replace('\n', sep);

    let accepted: Vec<(&str, String, String)> = vec![
        ("PKCS#8", pkcs8.clone(), cert.clone()),
        ("PKCS#1", pkcs1.clone(), cert.clone()),
        (
            "CRLF line ends",
            pkcs1.replace('\n', "\r\n"),
            cert.replace('\n', "\r\n"),
        ),
        (
            "literal \\n",
            one_line(&pkcs8, "\\n"),
            one_line(&cert, "\\n"),
        ),
        ("literal \\r\\n", one_line(&pkcs1, "\\r\\n"), cert.clone()),
        (
            "newlines turned to spaces",
            one_line(&pkcs1, " "),
            one_line(&cert, " "),
        ),
        ("newlines lost", one_line(&pkcs8, ""), one_line(&cert, "")),
        (
            "surrounding whitespace",
            format!("\n\n   {pkcs1}  \n\t"),
            format!("  {cert}\n\n"),
        ),
        (
            "indented lines",
            pkcs8.replace('\n', "\n    "),
            cert.replace('\n', "\n  "),
        ),
    ];
    let mut stored = Vec::new();
    for (form, key, crt) in &accepted {
        let m = keyfile::import(key, "key", crt, "cert", now)
            .unwrap_or_else(|f| panic!("{form}: refused: {} ({:?})", f.message, f.fix));
        let pem = m.private_key_pem.expose().to_string();
        assert!(
            pem.starts_with(concat!("-----BEGIN ", "PRIVATE KEY-----\n")),
            "{form}"
        );
        assert!(pem.ends_with("-----END PRIVATE KEY-----\n"), "{form}");
        assert!(
            pem.lines().all(|l| l.len() <= 64),
            "{form}: lines wrap at 64"
        );
        assert!(
            m.certificate_pem
                .starts_with("-----BEGIN CERTIFICATE-----\n"),
            "{form}"
        );
        assert_eq!(m.info.key_bits, 2048);
        assert!(
            jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).is_ok(),
            "{form}: jsonwebtoken loads it"
        );
        stored.push((form, pem, m.certificate_pem.clone()));
    }
    // Every form is stored as the same normalised PKCS#8 (real PKCS#8: the same bytes as
    // openssl's own conversion) and the same certificate.
    for (form, pem, crt) in &stored {
        assert_eq!(pem, &pkcs8, "{form}");
        assert_eq!(crt, &cert, "{form}");
    }
    assert!(
        python_loads(&stored[1].1),
        "Python cryptography loads the stored key"
    );

    let other = sfglue::crypto::generate("someone else", 2048, 30).unwrap();
    let refused: Vec<(&str, String, String, &str, &str)> = vec![
        (
            "key of another certificate",
            pkcs1.clone(),
            other.certificate_pem.clone(),
            "import.key_certificate_mismatch",
            "public key SHA-256",
        ),
        (
            "EC key (SEC1)",
            fixture("ec-p256.key"),
            fixture("ec-p256.crt"),
            "import.not_rsa",
            "EC",
        ),
        (
            "EC key (PKCS#8)",
            fixture("ec-p256-pkcs8.key"),
            fixture("ec-p256.crt"),
            "import.not_rsa",
            "EC",
        ),
        (
            "RSA-1024",
            fixture("rsa1024.key"),
            fixture("rsa1024.crt"),
            "import.rsa_too_small",
            "RSA-1024",
        ),
        (
            "expired certificate",
            pkcs8.clone(),
            expired_certificate(),
            "import.certificate_expired",
            "expired",
        ),
        (
            "no key at all",
            "hello, I am a text file\n".into(),
            cert.clone(),
            "import.not_a_key",
            "no PEM private key",
        ),
        (
            "a certificate as the key",
            cert.clone(),
            cert.clone(),
            "import.not_a_key",
            "certificate",
        ),
        (
            "garbage in the PEM body",
            concat!(
                "-----BEGIN ",
                "PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n"
            )
            .into(),
            cert.clone(),
            "import.not_a_key",
            "base64",
        ),
        (
            "encrypted key",
            fixture("rsa2048-encrypted.key"),
            cert.clone(),
            "import.encrypted",
            "passphrase",
        ),
        (
            "a key as the certificate",
            pkcs1.clone(),
            pkcs8.clone(),
            "import.not_a_certificate",
            "private key",
        ),
    ];
    for (case, key, crt, code, says) in refused {
        let f = match keyfile::import(&key, "key.pem", &crt, "cert.pem", now) {
            Ok(_) => panic!("{case}: accepted"),
            Err(f) => f,
        };
        assert_eq!(f.code, code, "{case}: {}", f.message);
        assert_eq!(f.class, sfglue::error::ExitClass::Config, "{case}");
        assert!(f.message.contains(says), "{case}: {}", f.message);
        assert!(f.fix.is_some(), "{case}: has a fix");
        assert_no_secrets(&format!("{} {:?}", f.message, f.fix), Some(&pkcs8));
    }
    // A mismatch names both fingerprints.
    let f = keyfile::import(&pkcs1, "k", &other.certificate_pem, "c", now)
        .err()
        .unwrap();
    assert!(f.message.contains(&other.info.sha256), "{}", f.message);
    assert_eq!(f.message.matches("SHA-256").count(), 3, "{}", f.message);
}

const CONSUMER_KEY: &str =
    "3MVGsfglueDemoConsumerKey000000000000000000000000000000000000000000000000000000";

#[test]
fn import_then_apply_signs_in_and_runs_the_job() {
    let w = World::with_salesforce(&repo_root().join("emulators/salesforce/seeds/demo.yaml"));
    w.write_config(
        "sfglue.yaml",
        &format!(
            "version: 1
name: byok
salesforce:
  login_url: {}
  username: integration@sfglue-demo.example
  consumer_key: \"{CONSUMER_KEY}\"
glue:
  script_bucket: byok-scripts
  output: s3://byok-data/sf/
  timeout_minutes: 5
queries:
  - name: contacts
    soql: SELECT Id FROM Contact
",
            w.sf_url()
        ),
    );
    // A PKCS#1 key with Windows line ends, as people have them.
    std::fs::write(
        w.path("my.key"),
        fixture("rsa2048-pkcs1.key").replace('\n', "\r\n"),
    )
    .unwrap();
    std::fs::write(w.path("my.crt"), fixture("rsa2048.crt")).unwrap();
    std::fs::write(w.path("ec.key"), fixture("ec-p256.key")).unwrap();
    std::fs::write(w.path("ec.crt"), fixture("ec-p256.crt")).unwrap();

    let refused = w.sfglue(&["cert", "import", "--key", "ec.key", "--cert", "ec.crt"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("needs RSA"), "{}", refused.stderr);

    let import = w.sfglue(&["cert", "import", "--key", "my.key", "--cert", "my.crt"]);
    assert_eq!(import.code, 0, "{}\n{}", import.stdout, import.stderr);
    let secret: serde_json::Value =
        serde_json::from_str(&w.secret_string("byok/salesforce-jwt")).unwrap();
    assert_eq!(secret["private_key_pem"], fixture("rsa2048-pkcs8.key"));
    let (s, b) = w.sf_admin(
        "PUT",
        &format!("/apps/{CONSUMER_KEY}/certificate"),
        Some(fixture("rsa2048.crt")),
    );
    assert_eq!(s, 200, "{b}");
    let apply = w.sfglue(&["apply", "--yes"]);
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    assert!(
        apply.stdout.contains("token exchange ok"),
        "{}",
        apply.stdout
    );
    // The imported key keeps its own name and size: the config's defaults ask for nothing...
    assert!(
        !apply.stderr.contains("the config asks for certificate"),
        "{}",
        apply.stderr
    );
    // ...but a size the config writes out, and the key does not have, is pointed out.
    let config = std::fs::read_to_string(w.path("sfglue.yaml")).unwrap();
    w.write_config(
        "sfglue.yaml",
        &config.replace("glue:\n", "certificate:\n  key_size: 4096\nglue:\n"),
    );
    let asked = w.sfglue(&["apply", "--yes"]);
    assert_eq!(asked.code, 0, "{}\n{}", asked.stdout, asked.stderr);
    assert!(
        asked.stderr.contains(
            "the config asks for certificate key_size 4096 (the stored key is RSA-2048); sfglue never replaces"
        ),
        "{}",
        asked.stderr
    );
    w.write_config("sfglue.yaml", &config);
    // The job loads the stored key with Python cryptography and signs in.
    let run = w.sfglue(&["verify", "--run-job"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("SUCCEEDED"), "{}", run.stdout);

    // Importing into an existing secret starts a rotation.
    let out = w.path("keys");
    let generated_run = w.sfglue(&[
        "cert",
        "generate",
        "--out",
        out.to_str().unwrap(),
        "--days",
        "90",
    ]);
    assert_eq!(generated_run.code, 0, "{}", generated_run.stderr);
    let key_file = out.join("salesforce-jwt.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = w.sfglue(&["cert", "generate", "--out", out.to_str().unwrap()]);
    assert_eq!(again.code, 2, "refuses to overwrite a key file");
    let rot = w.sfglue(&[
        "cert",
        "import",
        "--key",
        key_file.to_str().unwrap(),
        "--cert",
        out.join("salesforce-jwt.crt").to_str().unwrap(),
    ]);
    assert_eq!(rot.code, 0, "{}", rot.stderr);
    assert!(rot.stdout.contains("AWSPENDING"), "{}", rot.stdout);
    let generated = std::fs::read_to_string(&key_file).unwrap();
    assert_no_secrets(&w.transcript.borrow(), Some(&generated));
    assert_no_secrets(&w.transcript.borrow(), Some(&fixture("rsa2048-pkcs8.key")));
}

//! Test harness: starts the real sf-emulator binary on 127.0.0.1:0 with a seed, makes RSA keys
//! and certificates with rcgen, and signs assertions with jsonwebtoken.
#![allow(dead_code)]

use base64::Engine as _;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const ECA: &str =
    "3MVGtestEcaConsumerKey00000000000000000000000000000000000000000000000000000000000";
pub const CA: &str =
    "3MVGtestConnectedAppKey0000000000000000000000000000000000000000000000000000000000";
pub const NOCERT: &str =
    "3MVGtestNoCertificate00000000000000000000000000000000000000000000000000000000000";
pub const NOTINST: &str =
    "3MVGtestNotInstalled000000000000000000000000000000000000000000000000000000000000";
pub const CA_NOTINST: &str =
    "3MVGtestCaNotInstalled0000000000000000000000000000000000000000000000000000000000";
pub const SELF: &str =
    "3MVGtestSelfAuthorized0000000000000000000000000000000000000000000000000000000000";
pub const USER: &str = "integration@test.example";
pub const MY_DOMAIN: &str = "https://acme.my.salesforce.com";

pub struct Keys {
    pub key_pem: String,
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
}

fn make_keys(days_valid: i64) -> Keys {
    let kp = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .expect("rsa key");
    let mut p = rcgen::CertificateParams::default();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "sf-emulator test");
    let now = time::OffsetDateTime::now_utc();
    if days_valid >= 0 {
        p.not_before = now - time::Duration::minutes(5);
        p.not_after = now + time::Duration::days(days_valid);
    } else {
        p.not_before = now - time::Duration::days(30);
        p.not_after = now - time::Duration::days(1);
    }
    let cert = p.self_signed(&kp).expect("cert");
    Keys {
        key_pem: kp.serialize_pem(),
        cert_pem: cert.pem(),
        cert_der: cert.der().to_vec(),
    }
}

pub fn keys_a() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| make_keys(365))
}
pub fn keys_b() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| make_keys(365))
}
pub fn keys_expired() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| make_keys(-1))
}

fn indent(pem: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    pem.lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The standard test org. `kind` is production or sandbox.
pub fn seed(kind: &str, extra_org: &str, settings: &str) -> String {
    let cert = indent(&keys_a().cert_pem, 6);
    format!(
        r#"
org:
  id: 00D000000000001EAA
  name: Test Org
  kind: {kind}
  my_domain_url: {MY_DOMAIN}
{extra_org}
settings:
  session_timeout_seconds: 3600
{settings}
users:
  - id: 005000000000001AAA
    username: {USER}
    profile: Integration Profile
    first_name: Integration
    last_name: User
  - username: inactive@test.example
    active: false
    profile: Integration Profile
  - username: unapproved@test.example
    profile: Standard User
  - username: permset@test.example
    profile: Standard User
    permission_sets: [Glue Access]
  - username: iprestricted@test.example
    profile: Integration Profile
    login_ip_ranges: ["10.0.0.1-10.0.0.255"]
  - username: selfapproved@test.example
    profile: Standard User
    approved_apps: [{SELF}]
apps:
  - consumer_key: {ECA}
    kind: external_client_app
    certificate: |
{cert}
    preauthorized_profiles: [Integration Profile]
    preauthorized_permission_sets: [Glue Access]
  - consumer_key: {CA}
    kind: connected_app
    certificate: |
{cert}
    preauthorized_profiles: [Integration Profile]
    scopes: [api, web]
  - consumer_key: {NOCERT}
    kind: external_client_app
    preauthorized_profiles: [Integration Profile]
  - consumer_key: {NOTINST}
    kind: external_client_app
    installed: false
    certificate: |
{cert}
    preauthorized_profiles: [Integration Profile]
  - consumer_key: {CA_NOTINST}
    kind: connected_app
    installed: false
    certificate: |
{cert}
    preauthorized_profiles: [Integration Profile]
  - consumer_key: {SELF}
    kind: external_client_app
    permitted_users: self_authorized
    certificate: |
{cert}
objects:
  Account:
    records:
      - {{Id: 001000000000001AAA, Name: Literal Account, SystemModstamp: "2024-01-01T00:00:00Z"}}
    generator:
      count: 4500
      deleted_every: 100
      fields:
        Name: {{kind: text, template: "Account {{n:05}}"}}
        Industry: {{kind: picklist, values: [Banking, Energy, Retail]}}
        AnnualRevenue: {{kind: number, min: 1000, max: 100000, decimals: 2}}
        NumberOfEmployees: {{kind: integer, min: 1, max: 500}}
        IsPartner: {{kind: boolean, every: 3}}
        CreatedDate: {{kind: datetime, start: "2025-01-01T00:00:00Z", step_seconds: 3600}}
        SystemModstamp: {{kind: datetime, start: "2025-12-31T00:00:00Z", step_seconds: 60}}
  Contact:
    generator:
      count: 2500
      fields:
        LastName: {{kind: text, template: "Contact{{n:05}}"}}
        AccountId: {{kind: reference, object: Account}}
        Birthdate: {{kind: date, start: "1980-01-01", step_days: 1}}
        SystemModstamp: {{kind: datetime, start: "2026-01-01T00:00:00Z", step_seconds: 60}}
"#
    )
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub struct Emu {
    pub base: String,
    pub http: reqwest::Client,
    child: Child,
}

impl Drop for Emu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn write_seed(text: &str) -> std::path::PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let p = std::env::temp_dir().join(format!("sf-emulator-test-{}-{n}.yaml", std::process::id()));
    std::fs::write(&p, text).expect("write seed");
    p
}

pub fn spawn(seed_text: &str) -> Emu {
    if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    }
    let path = write_seed(seed_text);
    let mut child = Command::new(env!("CARGO_BIN_EXE_sf-emulator"))
        .args(["--listen", "127.0.0.1:0", "--seed"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(if std::env::var_os("SFEMU_TEST_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .expect("start sf-emulator");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read base url");
    let _ = std::fs::remove_file(&path);
    let base = line.trim().to_string();
    assert!(
        base.starts_with("http://127.0.0.1:"),
        "first line was {line:?}"
    );
    Emu {
        base,
        http: reqwest::Client::new(),
        child,
    }
}

pub fn standard() -> Emu {
    spawn(&seed("production", "", ""))
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64_padded(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE.encode(bytes)
}

/// Signs `header.claims` with RS256 exactly as given (so tests control encoding and claim types).
pub fn sign_raw(header_seg: &str, claims_seg: &str, key_pem: &str) -> String {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.as_bytes()).expect("key");
    let msg = format!("{header_seg}.{claims_seg}");
    let sig = jsonwebtoken::crypto::sign(msg.as_bytes(), &key, jsonwebtoken::Algorithm::RS256)
        .expect("sign");
    format!("{msg}.{sig}")
}

pub fn assertion_with(header: &Value, claims: &Value, key_pem: &str) -> String {
    sign_raw(
        &b64(header.to_string().as_bytes()),
        &b64(claims.to_string().as_bytes()),
        key_pem,
    )
}

pub fn claims(iss: &str, sub: &str, aud: &str) -> Value {
    json!({"iss": iss, "sub": sub, "aud": aud, "exp": now() + 300})
}

pub fn assertion(iss: &str, sub: &str, aud: &str) -> String {
    assertion_with(
        &json!({"alg": "RS256"}),
        &claims(iss, sub, aud),
        &keys_a().key_pem,
    )
}

pub const GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

impl Emu {
    pub fn url(&self, p: &str) -> String {
        format!("{}{p}", self.base)
    }

    pub async fn token_form(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url("/services/oauth2/token"))
            .form(form)
            .send()
            .await
            .expect("token request")
    }

    /// (status, body JSON)
    pub async fn grant(&self, assertion: &str) -> (u16, Value) {
        let r = self
            .token_form(&[("grant_type", GRANT), ("assertion", assertion)])
            .await;
        let s = r.status().as_u16();
        let v = r.json::<Value>().await.expect("json body");
        (s, v)
    }

    pub async fn login(&self) -> String {
        let (s, v) = self
            .grant(&assertion(ECA, USER, "https://login.salesforce.com"))
            .await;
        assert_eq!(s, 200, "{v}");
        v["access_token"].as_str().expect("token").to_string()
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("get")
    }

    pub async fn get_json(&self, path: &str, token: &str) -> (u16, Value) {
        let r = self.get(path, token).await;
        let s = r.status().as_u16();
        (s, r.json::<Value>().await.unwrap_or(Value::Null))
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut rq = self.http.request(method, self.url(path));
        if let Some(b) = body {
            rq = rq.json(&b);
        }
        let r = rq.send().await.expect("admin");
        let s = r.status().as_u16();
        (s, r.json::<Value>().await.unwrap_or(Value::Null))
    }
}

pub fn q(soql: &str) -> String {
    let enc: String = form_urlencoded_byte_serialize(soql);
    format!("/services/data/v66.0/query?q={enc}")
}

pub fn form_urlencoded_byte_serialize(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

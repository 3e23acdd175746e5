//! Throughput benchmark: how many records per second sf-emulator serves through REST query
//! paging and through Bulk API 2.0 results on this machine. Run with `emulators/salesforce/bench.sh`
//! (builds release, then runs this). Arguments: `[RECORDS]` (default 1,000,000).
//! Environment: SF_EMULATOR_BIN (the binary; default: next to this example's directory).

use base64::Engine as _;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

const KEY: &str =
    "3MVGbenchConsumerKey0000000000000000000000000000000000000000000000000000000000000";

fn seed(n: u64, cert: &str) -> String {
    let cert: String = cert.lines().map(|l| format!("      {l}\n")).collect();
    format!(
        r#"org: {{id: 00D000000000009EAA, kind: production}}
settings: {{daily_api_request_limit: 100000000, bulk_job_delay_ms: 0}}
users: [{{username: bench@example.com, profile: Integration Profile}}]
apps:
  - consumer_key: {KEY}
    kind: external_client_app
    preauthorized_profiles: [Integration Profile]
    certificate: |
{cert}
objects:
  Account:
    generator:
      count: {n}
      fields:
        Name: {{kind: text, template: "Account {{n:07}}"}}
        Industry: {{kind: picklist, values: [Banking, Energy, Retail, Technology]}}
        AnnualRevenue: {{kind: number, min: 1000, max: 10000000, decimals: 2}}
        NumberOfEmployees: {{kind: integer, min: 1, max: 100000}}
        CreatedDate: {{kind: datetime, start: "2020-01-01T00:00:00Z", step_seconds: 30}}
        SystemModstamp: {{kind: datetime, start: "2025-01-01T00:00:00Z", step_seconds: 30}}
"#
    )
}

const SOQL: &str = "SELECT Id, Name, Industry, AnnualRevenue, NumberOfEmployees, CreatedDate, SystemModstamp FROM Account";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    }
    let n: u64 = std::env::args()
        .nth(1)
        .map(|a| a.replace('_', "").parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let bin = match std::env::var_os("SF_EMULATOR_BIN") {
        Some(b) => std::path::PathBuf::from(b),
        None => std::env::current_exe()?
            .parent()
            .and_then(|p| p.parent())
            .map(|p| p.join("sf-emulator"))
            .ok_or_else(|| anyhow::anyhow!("cannot locate sf-emulator; set SF_EMULATOR_BIN"))?,
    };
    let kp = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)?;
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "bench");
    let cert = params.self_signed(&kp)?;
    let seed_path =
        std::env::temp_dir().join(format!("sf-emulator-bench-{}.yaml", std::process::id()));
    std::fs::write(&seed_path, seed(n, &cert.pem()))?;
    let mut child = Command::new(&bin)
        .args(["--listen", "127.0.0.1:0", "--seed"])
        .arg(&seed_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", bin.display()))?;
    let mut line = String::new();
    BufReader::new(
        child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?,
    )
    .read_line(&mut line)?;
    let _ = std::fs::remove_file(&seed_path);
    let base = line.trim().to_string();
    let result = run(&base, n, &kp.serialize_pem()).await;
    let _ = child.kill();
    let _ = child.wait();
    result
}

async fn run(base: &str, n: u64, key_pem: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let msg = format!(
        "{}.{}",
        b64(&json!({"alg": "RS256"})),
        b64(&json!({"iss": KEY, "sub": "bench@example.com", "aud": base, "exp": exp}))
    );
    let sig = jsonwebtoken::crypto::sign(
        msg.as_bytes(),
        &jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.as_bytes())?,
        jsonwebtoken::Algorithm::RS256,
    )?;
    let tok: Value = http
        .post(format!("{base}/services/oauth2/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", &format!("{msg}.{sig}")),
        ])
        .send()
        .await?
        .json()
        .await?;
    let token = tok["access_token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("login failed: {tok}"))?
        .to_string();
    println!(
        "sf-emulator throughput, {n} generated Account records, 7 fields, one client, loopback"
    );

    // REST query paging.
    let t0 = Instant::now();
    let mut url = format!(
        "{base}/services/data/v66.0/query?q={}",
        SOQL.replace(' ', "+")
    );
    let (mut records, mut pages, mut bytes) = (0u64, 0u64, 0u64);
    loop {
        let body = http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await?
            .bytes()
            .await?;
        bytes += body.len() as u64;
        let v: Value = serde_json::from_slice(&body)?;
        records += v["records"].as_array().map(|a| a.len() as u64).unwrap_or(0);
        pages += 1;
        match v["nextRecordsUrl"].as_str() {
            Some(next) => url = format!("{base}{next}"),
            None => break,
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    anyhow::ensure!(records == n, "query returned {records} of {n} records");
    println!(
        "REST query paging : {records} records, {pages} pages of 2000, {:.1} MB JSON in {secs:.2} s = {:.0} records/s",
        bytes as f64 / 1e6,
        records as f64 / secs
    );

    // Bulk API 2.0 query job.
    let t0 = Instant::now();
    let job: Value = http
        .post(format!("{base}/services/data/v66.0/jobs/query"))
        .bearer_auth(&token)
        .json(&json!({"operation": "query", "query": SOQL}))
        .send()
        .await?
        .json()
        .await?;
    let id = job["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no job: {job}"))?
        .to_string();
    loop {
        let info: Value = http
            .get(format!("{base}/services/data/v66.0/jobs/query/{id}"))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        if info["state"] == "JobComplete" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (mut rows, mut pages, mut bytes) = (0u64, 0u64, 0u64);
    let mut locator = String::new();
    loop {
        let mut url =
            format!("{base}/services/data/v66.0/jobs/query/{id}/results?maxRecords=100000");
        if !locator.is_empty() {
            url.push_str(&format!("&locator={locator}"));
        }
        let r = http.get(url).bearer_auth(&token).send().await?;
        let next = r
            .headers()
            .get("sforce-locator")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("null")
            .to_string();
        let body = r.bytes().await?;
        bytes += body.len() as u64;
        rows += body
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            .saturating_sub(1) as u64;
        pages += 1;
        if next == "null" {
            break;
        }
        locator = next;
    }
    let secs = t0.elapsed().as_secs_f64();
    anyhow::ensure!(rows == n, "bulk returned {rows} of {n} rows");
    println!(
        "Bulk 2.0 results  : {rows} records, {pages} pages of 100000, {:.1} MB CSV in {secs:.2} s = {:.0} records/s",
        bytes as f64 / 1e6,
        rows as f64 / secs
    );
    Ok(())
}

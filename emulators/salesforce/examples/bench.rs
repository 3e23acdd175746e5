//! Throughput benchmark: how many records per second sf-emulator serves through REST query
//! paging and through Bulk API 2.0 results on this machine. Run with `emulators/salesforce/bench.sh`
//! (builds release, then runs this). Arguments: `[RECORDS]` (default 1,000,000), `--wide` (select
//! 20 fields of every generator kind instead of 7), `--bulk-only` (skip REST paging), `--page N`
//! (Bulk maxRecords, default 100000), `--digest` (print the SHA-256 of all Bulk CSV pages, to
//! compare builds; costs client time).
//! Environment: SF_EMULATOR_BIN (the binary; default: next to this example's directory).
//! On Linux it also prints the CPU time the emulator process spent on each phase (from
//! /proc/PID/stat), which is what a benchmark sharing the machine with it pays.

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest as _;
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
        AccountNumber: {{kind: text, template: "ACC-{{n:09}}"}}
        Type: {{kind: picklist, values: [Customer - Direct, Customer - Channel, Prospect, Partner]}}
        Rating: {{kind: picklist, values: [Hot, Warm, Cold]}}
        BillingCity: {{kind: picklist, values: [Berlin, "São Paulo", Tokyo, "New York"]}}
        Phone: {{kind: text, template: "+1 555 {{n:07}}"}}
        Website: {{kind: text, template: "https://example.com/accounts/{{n}}"}}
        Description: {{kind: text, template: "Generated account number {{n}} for the benchmark"}}
        IsPartner: {{kind: boolean, every: 7}}
        IsCustomerPortal: {{kind: boolean}}
        LastActivityDate: {{kind: date, start: "2021-01-01", step_days: 1}}
        ParentId: {{kind: reference, object: Account}}
        Sic: {{kind: constant, value: "7372"}}
        Discount: {{kind: number, min: -50, max: 50, decimals: 4}}
"#
    )
}

const SOQL: &str = "SELECT Id, Name, Industry, AnnualRevenue, NumberOfEmployees, CreatedDate, SystemModstamp FROM Account";
const SOQL_WIDE: &str = "SELECT Id, Name, AccountNumber, Industry, Type, Rating, BillingCity, Phone, \
    Website, Description, AnnualRevenue, NumberOfEmployees, Discount, IsPartner, IsCustomerPortal, \
    LastActivityDate, CreatedDate, SystemModstamp, ParentId, Sic FROM Account";

/// User and system CPU seconds of process `pid` so far (Linux; `None` elsewhere).
fn cpu_seconds(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // USER_HZ is 100 on every Linux this runs on.
    let secs = |i: usize| Some(f.get(i)?.parse::<f64>().ok()? / 100.0);
    Some((secs(11)?, secs(12)?))
}

struct Opts {
    n: u64,
    page: u64,
    digest: bool,
    wide: bool,
    bulk_only: bool,
    pid: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    }
    let (mut n, mut page, mut wide, mut bulk_only, mut digest) =
        (1_000_000u64, 100_000u64, false, false, false);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--wide" => wide = true,
            "--bulk-only" => bulk_only = true,
            "--digest" => digest = true,
            "--page" => page = args.next().unwrap_or_default().replace('_', "").parse()?,
            _ => n = a.replace('_', "").parse()?,
        }
    }
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
    let opts = Opts {
        n,
        page,
        digest,
        wide,
        bulk_only,
        pid: child.id(),
    };
    let result = run(&base, &opts, &kp.serialize_pem()).await;
    let _ = child.kill();
    let _ = child.wait();
    result
}

async fn run(base: &str, o: &Opts, key_pem: &str) -> anyhow::Result<()> {
    let n = o.n;
    let soql = if o.wide { SOQL_WIDE } else { SOQL };
    let cpu = || cpu_seconds(o.pid);
    let cpu_note = |before: Option<(f64, f64)>| match (before, cpu()) {
        (Some((u0, s0)), Some((u1, s1))) => format!(
            ", emulator CPU {:.2} s (user {:.2}, system {:.2})",
            u1 - u0 + s1 - s0,
            u1 - u0,
            s1 - s0
        ),
        _ => String::new(),
    };
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
        "sf-emulator throughput, {n} generated Account records, {} fields, one client, loopback",
        if o.wide { 20 } else { 7 }
    );
    if !o.bulk_only {
        rest_paging(base, &http, &token, soql, n, &cpu, &cpu_note).await?;
    }

    // Bulk API 2.0 query job.
    let cpu0 = cpu();
    let t0 = Instant::now();
    let job: Value = http
        .post(format!("{base}/services/data/v66.0/jobs/query"))
        .bearer_auth(&token)
        .json(&json!({"operation": "query", "query": soql}))
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
    let mut sha = sha2::Sha256::new();
    let mut locator = String::new();
    loop {
        let mut url = format!(
            "{base}/services/data/v66.0/jobs/query/{id}/results?maxRecords={}",
            o.page
        );
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
        if o.digest {
            sha.update(&body);
        }
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
        "Bulk 2.0 results  : {rows} records, {pages} pages of {}, {:.1} MB CSV in {secs:.2} s = {:.0} records/s{}",
        o.page,
        bytes as f64 / 1e6,
        rows as f64 / secs,
        cpu_note(cpu0)
    );
    if o.digest {
        println!("Bulk CSV SHA-256  : {}", hex::encode(sha.finalize()));
    }
    Ok(())
}

async fn rest_paging(
    base: &str,
    http: &reqwest::Client,
    token: &str,
    soql: &str,
    n: u64,
    cpu: &impl Fn() -> Option<(f64, f64)>,
    cpu_note: &impl Fn(Option<(f64, f64)>) -> String,
) -> anyhow::Result<()> {
    let cpu0 = cpu();
    let t0 = Instant::now();
    let mut url = format!(
        "{base}/services/data/v66.0/query?q={}",
        soql.replace(' ', "+")
    );
    let (mut records, mut pages, mut bytes) = (0u64, 0u64, 0u64);
    loop {
        let body = http
            .get(&url)
            .bearer_auth(token)
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
        "REST query paging : {records} records, {pages} pages of 2000, {:.1} MB JSON in {secs:.2} s = {:.0} records/s{}",
        bytes as f64 / 1e6,
        records as f64 / secs,
        cpu_note(cpu0)
    );

    Ok(())
}

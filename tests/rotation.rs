//! Certificate rotation on both emulators: the job keeps signing in through every step, every
//! step survives an interruption and a failed AWS write, rollback, and blue/green (two apps).

mod common;
use common::{World, assert_no_secrets, repo_root};
use serde_json::json;

const APP_A: &str =
    "3MVGsfglueDemoConsumerKey000000000000000000000000000000000000000000000000000000";
const APP_B: &str =
    "3MVGsfglueBlueGreenAppB00000000000000000000000000000000000000000000000000000000";
const SECRET: &str = "rot/salesforce-jwt";
const JOB: &str = "rot-extract";

fn config(w: &World, consumer_key: &str, extra_salesforce: &str) -> String {
    format!(
        "version: 1
name: rot
aws:
  region: us-east-1
salesforce:
  login_url: {url}
  username: integration@sfglue-demo.example
  consumer_key: \"{consumer_key}\"
{extra_salesforce}glue:
  script_bucket: rot-scripts
  output: s3://rot-data/salesforce/
  timeout_minutes: 5
queries:
  - name: contacts
    soql: SELECT Id, Email FROM Contact
",
        url = w.sf_url()
    )
}

fn upload(w: &World, app: &str, pem: &str) {
    let (status, body) = w.sf_admin(
        "PUT",
        &format!("/apps/{app}/certificate"),
        Some(pem.to_string()),
    );
    assert_eq!(status, 200, "certificate upload: {body}");
}

fn app_certificate(w: &World, app: &str) -> String {
    let (status, body) = w.sf_admin("GET", &format!("/apps/{app}"), None);
    assert_eq!(status, 200, "{body}");
    body["certificate_sha256"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn read(w: &World, file: &str) -> String {
    std::fs::read_to_string(w.path(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn ok(run: &common::Run) {
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
}

/// apply (no key yet), upload the certificate to app A, apply with the key.
fn bootstrap(w: &World, extra_salesforce: &str) {
    w.write_config("sfglue.yaml", &config(w, "", ""));
    assert_eq!(w.sfglue(&["apply", "--yes"]).code, 3);
    upload(w, APP_A, &read(w, "sfglue-out/salesforce-jwt.crt"));
    w.write_config("sfglue.yaml", &config(w, APP_A, extra_salesforce));
    ok(&w.sfglue(&["apply", "--yes"]));
}

/// A job run must succeed; returns the secret stage it signed in with.
fn job_succeeds(w: &World) -> String {
    let run = w.run_job(JOB);
    assert_eq!(run.state, "SUCCEEDED", "{:?}\n{:?}", run.error, run.output);
    let line = run
        .output
        .iter()
        .find(|l| l.starts_with("sfglue signed-in "))
        .unwrap_or_else(|| panic!("no signed-in line: {:?}", run.output));
    assert!(line.contains("certificate_sha256="), "{line}");
    line.split_whitespace()
        .find_map(|p| p.strip_prefix("stage="))
        .unwrap()
        .to_string()
}

fn labels(w: &World) -> Vec<Vec<String>> {
    let mut l: Vec<Vec<String>> = w
        .secret_labels(SECRET)
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    l.sort();
    l
}

fn strs(v: &[&[&str]]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = v
        .iter()
        .map(|x| x.iter().map(|s| s.to_string()).collect())
        .collect();
    out.sort();
    out
}

fn injected_error(operation: &str, skip: u32) -> serde_json::Value {
    json!({"operation": operation, "kind": "error", "status": 400,
           "code": "AccessDeniedException", "message": "injected by the test", "times": 1, "skip": skip})
}

#[test]
fn rotation_never_stops_the_job() {
    let w = World::with_salesforce(&repo_root().join("emulators/salesforce/seeds/demo.yaml"));
    bootstrap(&w, "");
    ok(&w.sfglue(&["verify"]));
    assert_eq!(job_succeeds(&w), "AWSCURRENT");
    let old_id = w.version_with(SECRET, "AWSCURRENT").unwrap();

    let start = w.sfglue(&["rotate", "start"]);
    ok(&start);
    assert!(start.stdout.contains("AWSPENDING"), "{}", start.stdout);
    let pending_crt = read(&w, "sfglue-out/salesforce-jwt-pending.crt");
    assert!(read(&w, "sfglue-out/ROTATION_STEPS.md").contains("rotate finish"));
    let new_id = w.version_with(SECRET, "AWSPENDING").unwrap();
    assert_ne!(new_id, old_id);
    assert_eq!(
        labels(&w),
        strs(&[&["AWSCURRENT"], &["AWSPENDING"], &["AWSPREVIOUS"]])
    );

    // finish before the upload: refused with the reason, nothing moves.
    let early = w.sfglue(&["rotate", "finish"]);
    assert_eq!(early.code, 1, "{}\n{}", early.stdout, early.stderr);
    assert!(early.stderr.contains("not on the app"), "{}", early.stderr);
    assert!(
        early.stderr.contains("salesforce-jwt-pending.crt"),
        "{}",
        early.stderr
    );
    assert_eq!(w.version_with(SECRET, "AWSCURRENT").unwrap(), old_id);
    assert_eq!(job_succeeds(&w), "AWSCURRENT");
    // verify still proves the current key before the upload.
    let (code, doc) = w.sfglue_json(&["verify"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["result"]["stage"], "AWSCURRENT");
    assert_eq!(doc["result"]["secret_version"], json!(old_id));

    // The window: the app holds only the new certificate; the job falls back to AWSPENDING,
    // and so does verify, which says the rotation waits to be finished (and never asks for the
    // old certificate back).
    upload(&w, APP_A, &pending_crt);
    assert_eq!(job_succeeds(&w), "AWSPENDING");
    let window = w.sfglue(&["verify"]);
    ok(&window);
    assert!(window.stdout.contains("pending key"), "{}", window.stdout);
    assert!(window.stderr.contains("rotate finish"), "{}", window.stderr);
    let (code, doc) = w.sfglue_json(&["verify"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["result"]["stage"], "AWSPENDING");
    assert_eq!(doc["result"]["secret_version"], json!(new_id));
    // Neither key's certificate on the app: the refusal stands, and the fix points ahead to
    // the pending certificate and `rotate finish`, not back to the old certificate.
    ok(&w.sfglue(&["cert", "generate", "--out", "other"]));
    upload(&w, APP_A, &read(&w, "other/salesforce-jwt.crt"));
    let (code, doc) = w.sfglue_json(&["verify"]);
    assert_eq!(code, 1, "{doc}");
    let fix = doc["error"]["fix"].as_str().unwrap();
    assert!(fix.contains("a rotation is in progress"), "{fix}");
    assert!(fix.contains("salesforce-jwt-pending.crt"), "{fix}");
    assert!(
        !fix.contains("upload the certificate sfglue wrote"),
        "{fix}"
    );
    upload(&w, APP_A, &pending_crt);

    ok(&w.sfglue(&["rotate", "finish"]));
    assert_eq!(w.version_with(SECRET, "AWSCURRENT").unwrap(), new_id);
    assert_eq!(w.version_with(SECRET, "AWSPREVIOUS").unwrap(), old_id);
    assert_eq!(labels(&w), strs(&[&["AWSCURRENT"], &["AWSPREVIOUS"]]));
    assert_eq!(read(&w, "sfglue-out/salesforce-jwt.crt"), pending_crt);
    assert_eq!(job_succeeds(&w), "AWSCURRENT");
    ok(&w.sfglue(&["verify"]));

    // Repeating finish is harmless; status names the version Salesforce accepts.
    let again = w.sfglue(&["rotate", "finish"]);
    ok(&again);
    assert!(
        again.stdout.contains("nothing to finish"),
        "{}",
        again.stdout
    );
    let status = w.sfglue(&["status", "--output", "json"]);
    ok(&status);
    let doc: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(doc["result"]["accepted_now"], json!([new_id]));
    assert_eq!(doc["result"]["versions"].as_array().unwrap().len(), 2);

    let secret: serde_json::Value = serde_json::from_str(&w.secret_string(SECRET)).unwrap();
    assert_no_secrets(&w.transcript.borrow(), secret["private_key_pem"].as_str());
}

#[test]
fn every_step_survives_interruption_and_failed_writes() {
    let w = World::with_salesforce(&repo_root().join("emulators/salesforce/seeds/demo.yaml"));
    bootstrap(&w, "");
    let old_id = w.version_with(SECRET, "AWSCURRENT").unwrap();

    // start: the write of the pending version fails; nothing is stored, the job runs.
    w.aws_fault(injected_error("PutSecretValue", 0));
    let failed = w.sfglue(&["rotate", "start"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        failed.stderr.contains("PutSecretValue"),
        "{}",
        failed.stderr
    );
    assert_eq!(labels(&w), strs(&[&["AWSCURRENT"], &["AWSPREVIOUS"]]));
    assert_eq!(job_succeeds(&w), "AWSCURRENT");
    ok(&w.sfglue(&["rotate", "start"]));
    let new_id = w.version_with(SECRET, "AWSPENDING").unwrap();
    // Re-running start resumes the same rotation (no second key).
    let resumed = w.sfglue(&["rotate", "start"]);
    ok(&resumed);
    assert!(resumed.stdout.contains("resumed"), "{}", resumed.stdout);
    assert_eq!(w.version_with(SECRET, "AWSPENDING").unwrap(), new_id);
    assert_eq!(job_succeeds(&w), "AWSCURRENT");

    upload(
        &w,
        APP_A,
        &read(&w, "sfglue-out/salesforce-jwt-pending.crt"),
    );
    assert_eq!(job_succeeds(&w), "AWSPENDING");

    // finish: the move of AWSCURRENT fails; nothing moved, the job runs.
    w.aws_fault(injected_error("UpdateSecretVersionStage", 0));
    assert_eq!(w.sfglue(&["rotate", "finish"]).code, 1);
    assert_eq!(w.version_with(SECRET, "AWSCURRENT").unwrap(), old_id);
    assert_eq!(w.version_with(SECRET, "AWSPENDING").unwrap(), new_id);
    assert_eq!(job_succeeds(&w), "AWSPENDING");

    // finish: AWSCURRENT moved, then dropping AWSPENDING fails (a crash between the two).
    w.aws_fault(injected_error("UpdateSecretVersionStage", 1));
    assert_eq!(w.sfglue(&["rotate", "finish"]).code, 1);
    assert_eq!(
        labels(&w),
        strs(&[&["AWSCURRENT", "AWSPENDING"], &["AWSPREVIOUS"]])
    );
    assert_eq!(job_succeeds(&w), "AWSCURRENT");
    let resumed = w.sfglue(&["rotate", "finish"]);
    ok(&resumed);
    assert!(resumed.stdout.contains("interrupted"), "{}", resumed.stdout);
    assert_eq!(labels(&w), strs(&[&["AWSCURRENT"], &["AWSPREVIOUS"]]));
    assert_eq!(w.version_with(SECRET, "AWSCURRENT").unwrap(), new_id);
    assert_eq!(job_succeeds(&w), "AWSCURRENT");

    // rollback: the first label write fails, then the move of AWSCURRENT; re-runs complete it.
    w.aws_fault(injected_error("UpdateSecretVersionStage", 0));
    assert_eq!(w.sfglue(&["rotate", "rollback"]).code, 1);
    assert_eq!(w.version_with(SECRET, "AWSCURRENT").unwrap(), new_id);
    w.aws_fault(injected_error("UpdateSecretVersionStage", 1));
    assert_eq!(w.sfglue(&["rotate", "rollback"]).code, 1);
    assert_eq!(w.version_with(SECRET, "AWSCURRENT").unwrap(), new_id);
    assert_eq!(job_succeeds(&w), "AWSCURRENT");
    ok(&w.sfglue(&["rotate", "rollback"]));
    assert_eq!(w.version_with(SECRET, "AWSCURRENT").unwrap(), old_id);
}

#[test]
fn rollback_restores_the_previous_key() {
    let w = World::with_salesforce(&repo_root().join("emulators/salesforce/seeds/demo.yaml"));
    bootstrap(&w, "");
    let old_crt = read(&w, "sfglue-out/salesforce-jwt.crt");
    let old_id = w.version_with(SECRET, "AWSCURRENT").unwrap();
    ok(&w.sfglue(&["rotate", "start"]));
    upload(
        &w,
        APP_A,
        &read(&w, "sfglue-out/salesforce-jwt-pending.crt"),
    );
    ok(&w.sfglue(&["rotate", "finish"]));
    let new_id = w.version_with(SECRET, "AWSCURRENT").unwrap();

    let rb = w.sfglue(&["rotate", "rollback"]);
    ok(&rb);
    assert_eq!(w.version_with(SECRET, "AWSCURRENT").unwrap(), old_id);
    assert_eq!(w.version_with(SECRET, "AWSPREVIOUS").unwrap(), new_id);
    assert_eq!(read(&w, "sfglue-out/salesforce-jwt.crt"), old_crt);
    // Repeating it does not swap back.
    let again = w.sfglue(&["rotate", "rollback"]);
    ok(&again);
    assert!(
        again.stdout.contains("already rolled back"),
        "{}",
        again.stdout
    );
    assert_eq!(w.version_with(SECRET, "AWSCURRENT").unwrap(), old_id);

    // The app still holds the new certificate: the job signs in with AWSPREVIOUS meanwhile.
    assert_eq!(job_succeeds(&w), "AWSPREVIOUS");
    // Once the old certificate is back on the app, the current key signs in.
    upload(&w, APP_A, &old_crt);
    assert_eq!(job_succeeds(&w), "AWSCURRENT");
    ok(&w.sfglue(&["verify"]));
}

#[test]
fn blue_green_rotates_twice_without_touching_the_app_in_use() {
    let w = World::with_salesforce(&repo_root().join("tests/fixtures/bluegreen.yaml"));
    let bg = format!("  consumer_key_b: \"{APP_B}\"\n");
    bootstrap(&w, &bg);
    for (in_use, idle) in [(APP_A, APP_B), (APP_B, APP_A)] {
        let in_use_cert = app_certificate(&w, in_use);
        assert!(!in_use_cert.is_empty());
        let start = w.sfglue(&["rotate", "start"]);
        ok(&start);
        assert!(start.stdout.contains(idle), "{}", start.stdout);
        let pending: serde_json::Value =
            serde_json::from_str(&secret_at(&w, "AWSPENDING")).unwrap();
        assert_eq!(pending["consumer_key"], idle);
        assert_eq!(job_succeeds(&w), "AWSCURRENT");
        upload(&w, idle, &read(&w, "sfglue-out/salesforce-jwt-pending.crt"));
        assert_eq!(job_succeeds(&w), "AWSCURRENT");
        ok(&w.sfglue(&["rotate", "finish"]));
        let current: serde_json::Value = serde_json::from_str(&w.secret_string(SECRET)).unwrap();
        assert_eq!(current["consumer_key"], idle);
        assert_eq!(
            app_certificate(&w, in_use),
            in_use_cert,
            "the app in use was touched"
        );
        assert_eq!(job_succeeds(&w), "AWSCURRENT");
        // apply keeps the app the rotation chose (no new version, no change).
        let apply = w.sfglue(&["apply", "--yes"]);
        ok(&apply);
        assert!(
            apply.stdout.contains("secret         unchanged"),
            "{}",
            apply.stdout
        );
    }
    assert_eq!(labels(&w), strs(&[&["AWSCURRENT"], &["AWSPREVIOUS"]]));
    ok(&w.sfglue(&["verify"]));
}

/// The SecretString of the version holding `stage` (the test's own client).
fn secret_at(w: &World, stage: &str) -> String {
    let id = w.version_with(SECRET, stage).unwrap();
    w.secret_version_string(SECRET, &id)
}

/// Two `rotate start` runs at once never leave two pending versions, and the certificate on
/// disk is the pending one's (so the person uploads the right one). `SFGLUE_CONCURRENCY_ROUNDS`
/// sets the number of rounds (default 3), as in `tests/concurrency.rs`.
#[test]
fn two_rotate_starts_at_once_leave_one_pending_version() {
    let rounds: usize = std::env::var("SFGLUE_CONCURRENCY_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .clamp(1, 50);
    let w = World::with_salesforce(&repo_root().join("emulators/salesforce/seeds/demo.yaml"));
    bootstrap(&w, "");
    for round in 0..rounds {
        let a = w.spawn_sfglue(&["rotate", "start"]);
        let b = w.spawn_sfglue(&["rotate", "start"]);
        let (ra, rb) = (w.wait(a), w.wait(b));
        ok(&ra);
        ok(&rb);
        let pending: Vec<Vec<String>> = labels(&w)
            .into_iter()
            .filter(|l| l.iter().any(|s| s == "AWSPENDING"))
            .collect();
        assert_eq!(pending.len(), 1, "round {round}: {:?}", labels(&w));
        let doc: serde_json::Value = serde_json::from_str(&secret_at(&w, "AWSPENDING")).unwrap();
        let on_disk =
            sfglue::crypto::certificate_info(&read(&w, "sfglue-out/salesforce-jwt-pending.crt"))
                .unwrap()
                .sha256;
        assert_eq!(doc["certificate_sha256"], on_disk, "round {round}");
        ok(&w.sfglue(&["rotate", "cancel"]));
    }
}

//! The whole bootstrap on both emulators, then what `verify` says for each Salesforce-side
//! mistake. The Salesforce emulator's admin API plays the person in Setup.

mod common;
use common::{World, assert_no_secrets, repo_root};

const CONSUMER_KEY: &str =
    "3MVGsfglueDemoConsumerKey000000000000000000000000000000000000000000000000000000";

fn demo_world() -> World {
    World::with_salesforce(&repo_root().join("emulators/salesforce/seeds/demo.yaml"))
}

fn config(w: &World, consumer_key: &str, extra_salesforce: &str) -> String {
    format!(
        "version: 1
name: flow
aws:
  region: us-east-1
salesforce:
  login_url: {url}
  username: integration@sfglue-demo.example
  consumer_key: \"{consumer_key}\"
{extra_salesforce}glue:
  script_bucket: flow-scripts
  output: s3://flow-data/salesforce/
  timeout_minutes: 5
queries:
  - name: accounts
    soql: SELECT Id, Name, SystemModstamp FROM Account
  - name: contacts
    soql: SELECT Id, Email FROM Contact
",
        url = w.sf_url()
    )
}

fn upload_certificate(w: &World, pem: &str) {
    let (status, body) = w.sf_admin(
        "PUT",
        &format!("/apps/{CONSUMER_KEY}/certificate"),
        Some(pem.to_string()),
    );
    assert_eq!(status, 200, "certificate upload: {body}");
}

/// apply without a key (exit 3), the person uploads the certificate, apply with the key (exit 0).
fn bootstrap(w: &World) {
    w.write_config("sfglue.yaml", &config(w, "", ""));
    let first = w.sfglue(&["apply", "--yes"]);
    assert_eq!(first.code, 3, "{}\n{}", first.stdout, first.stderr);
    let cert = std::fs::read_to_string(w.path("sfglue-out/salesforce-jwt.crt")).unwrap();
    upload_certificate(w, &cert);
    w.write_config("sfglue.yaml", &config(w, CONSUMER_KEY, ""));
    let second = w.sfglue(&["apply", "--yes"]);
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    assert!(
        second.stdout.contains("token exchange ok"),
        "{}",
        second.stdout
    );
}

#[test]
fn bootstrap_verify_and_run_the_job_without_leaking_secrets() {
    let w = demo_world();
    bootstrap(&w);
    let run = w.sfglue(&["verify", "--run-job"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("org 00D5g00000SfGluEAF"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("user 0055g00000IntgUAAR"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("SUCCEEDED"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("\nquery          accounts records=4500 pages=3"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("\nquery          contacts records=2500"),
        "{}",
        run.stdout
    );

    let json = w.sfglue(&["verify", "--output", "json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["result"]["sign_in"]["org_id"], "00D5g00000SfGluEAF");
    assert!(
        doc["result"]["sign_in"]["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "api")
    );

    // -v lists each call to AWS and Salesforce on stderr, with its status; stdout stays the
    // same, and without -v there is no such line.
    let verbose = w.sfglue(&["-v", "verify"]);
    assert_eq!(verbose.code, 0, "{}", verbose.stderr);
    let token_call = format!(
        "salesforce POST {}/services/oauth2/token  200  ",
        w.sf_url()
    );
    for call in [
        "aws        SecretsManager.GetSecretValue  200  ",
        token_call.as_str(),
        "salesforce GET ",
    ] {
        assert!(
            verbose.stderr.contains(call),
            "{call:?} in:\n{}",
            verbose.stderr
        );
    }
    let quiet = w.sfglue(&["verify"]);
    assert_eq!(quiet.code, 0, "{}", quiet.stderr);
    assert!(!quiet.stderr.contains(" ms\n"), "{}", quiet.stderr);
    // The results are the same lines (their timings aside).
    let labels = |out: &str| -> Vec<String> {
        out.lines()
            .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
            .collect()
    };
    assert_eq!(labels(&verbose.stdout), labels(&quiet.stdout));

    let secret: serde_json::Value =
        serde_json::from_str(&w.secret_string("flow/salesforce-jwt")).unwrap();
    assert_eq!(secret["consumer_key"], CONSUMER_KEY);
    let key = secret["private_key_pem"].as_str().unwrap();
    assert!(key.starts_with(concat!("-----BEGIN ", "PRIVATE KEY-----")));
    // Everything sfglue printed in this test, stdout and stderr of every run.
    assert_no_secrets(&w.transcript.borrow(), Some(key));
    // The guard itself catches a key, a re-wrapped key and a token (so the checks above can fail).
    let key_owned = key.to_string();
    for planted in [
        format!("log: {key_owned}"),
        key_owned.replace('\n', "\\n"),
        "Authorization: Bearer 00D5g00000SfGluEAF!AQ4AQHx.yz".to_string(),
    ] {
        let k = key_owned.clone();
        let caught = std::panic::catch_unwind(move || assert_no_secrets(&planted, Some(&k)));
        assert!(caught.is_err(), "the leak guard missed a plant");
    }
    // And the files it wrote hold only public material.
    for f in [
        "sfglue-out/salesforce-jwt.crt",
        "sfglue-out/SALESFORCE_SETUP.md",
    ] {
        assert_no_secrets(&std::fs::read_to_string(w.path(f)).unwrap(), Some(key));
    }
}

fn expect_refusal(run: &common::Run, salesforce_says: &str, fix_mentions: &str) {
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(salesforce_says),
        "expected {salesforce_says:?} in:\n{}",
        run.stderr
    );
    let fix = run
        .stderr
        .lines()
        .find(|l| l.trim_start().starts_with("fix:"))
        .unwrap_or_else(|| panic!("no fix line in:\n{}", run.stderr));
    assert!(
        fix.contains(fix_mentions),
        "expected {fix_mentions:?} in {fix}"
    );
}

#[test]
fn verify_turns_each_salesforce_error_into_its_fix() {
    let w = demo_world();
    bootstrap(&w);

    // The user is not pre-authorized for the app.
    let (s, b) = w.sf_admin(
        "PATCH",
        &format!("/apps/{CONSUMER_KEY}"),
        Some(r#"{"preauthorized_profiles": []}"#.into()),
    );
    assert_eq!(s, 200, "{b}");
    expect_refusal(
        &w.sfglue(&["verify"]),
        "invalid_grant: user hasn't approved this consumer",
        "profile or a permission set",
    );
    w.sf_admin(
        "PATCH",
        &format!("/apps/{CONSUMER_KEY}"),
        Some(r#"{"preauthorized_profiles": ["Integration Profile"]}"#.into()),
    );
    assert_eq!(w.sfglue(&["verify"]).code, 0);

    // The certificate on the app belongs to another key.
    let other = sfglue::crypto::generate("someone else", 2048, 30).unwrap();
    upload_certificate(&w, &other.certificate_pem);
    let run = w.sfglue(&["verify"]);
    expect_refusal(&run, "invalid_grant: invalid assertion", "fingerprint");
    let ours = std::fs::read_to_string(w.path("sfglue-out/salesforce-jwt.crt")).unwrap();
    let our_fp = sfglue::crypto::certificate_info(&ours).unwrap().sha256;
    assert!(
        run.stderr.contains(&our_fp),
        "prints this key's fingerprint:\n{}",
        run.stderr
    );
    upload_certificate(&w, &ours);

    // The assertion has expired by the time Salesforce reads it (clock skew).
    let (s, b) = w.sf_admin(
        "POST",
        "/clock/advance",
        Some(r#"{"seconds": 3600}"#.into()),
    );
    assert_eq!(s, 200, "{b}");
    expect_refusal(
        &w.sfglue(&["verify"]),
        "invalid_grant: expired authorization code",
        "clock",
    );
    w.sf_admin(
        "POST",
        "/clock/advance",
        Some(r#"{"seconds": -3600}"#.into()),
    );
    assert_eq!(w.sfglue(&["verify"]).code, 0);

    // The sandbox audience on a production org.
    w.write_config(
        "sfglue.yaml",
        &config(
            &w,
            CONSUMER_KEY,
            "  audience: https://test.salesforce.com\n",
        ),
    );
    expect_refusal(
        &w.sfglue(&["apply", "--yes"]),
        "invalid_grant: audience is invalid",
        "sandbox",
    );

    // A consumer key Salesforce does not know.
    w.write_config("sfglue.yaml", &config(&w, "3MVGnotARealKey", ""));
    expect_refusal(
        &w.sfglue(&["apply", "--yes"]),
        "invalid_client_id: client identifier invalid",
        "consumer key",
    );

    // Back to the right settings: signs in again, same key as at the start.
    w.write_config("sfglue.yaml", &config(&w, CONSUMER_KEY, ""));
    let run = w.sfglue(&["apply", "--yes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(&our_fp));
}

#[test]
fn a_failed_job_run_is_reported_with_its_run_and_summary() {
    let w = demo_world();
    bootstrap(&w);
    // One query of the job now names a field the org does not have: the run fails.
    w.write_config(
        "sfglue.yaml",
        &config(&w, CONSUMER_KEY, "").replace("SELECT Id, Email", "SELECT Id, NoSuchField"),
    );
    let applied = w.sfglue(&["apply", "--yes"]);
    assert_eq!(applied.code, 0, "{}\n{}", applied.stdout, applied.stderr);
    let (code, doc) = w.sfglue_json(&["verify", "--run-job"]);
    assert_eq!(code, 1, "{doc}");
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error"]["code"], "glue.run_failed");
    // The run is in the result all the same: its id, its state, and the good query's line.
    let run = &doc["result"]["job_run"];
    assert_eq!(run["state"], "FAILED", "{doc}");
    let run_id = run["run_id"].as_str().unwrap();
    assert!(
        doc["error"]["message"].as_str().unwrap().contains(run_id),
        "{doc}"
    );
    let summary: Vec<&str> = run["summary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        summary
            .iter()
            .any(|l| l.starts_with("sfglue query=accounts records=4500 ")),
        "{summary:?}"
    );
    // The failed query has its line too, with its status and Salesforce's words.
    assert!(
        summary
            .iter()
            .any(|l| l.starts_with("sfglue query=contacts ")
                && l.contains(" status=failed error=")
                && l.contains("NoSuchField")),
        "{summary:?}"
    );
    // In text mode the same run and lines are printed before the error.
    let text = w.sfglue(&["verify", "--run-job"]);
    assert_eq!(text.code, 1);
    assert!(text.stdout.contains("FAILED"), "{}", text.stdout);
    assert!(
        text.stdout
            .contains("\nquery          accounts records=4500"),
        "{}",
        text.stdout
    );
    assert!(text.stderr.contains("NoSuchField"), "{}", text.stderr);
}

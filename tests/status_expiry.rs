//! `sfglue status`: the certificate's facts, and `--fail-within DAYS` (exit 5) with certificates
//! near and far from expiry.

mod common;
use common::{World, repo_root};

const CONSUMER_KEY: &str =
    "3MVGsfglueDemoConsumerKey000000000000000000000000000000000000000000000000000000";

fn config(w: &World, validity_days: u32) -> String {
    format!(
        "version: 1
name: exp
salesforce:
  login_url: {}
  username: integration@sfglue-demo.example
  consumer_key: \"{CONSUMER_KEY}\"
certificate:
  common_name: expiry watch
  validity_days: {validity_days}
glue:
  script_bucket: exp-scripts
  output: s3://exp-data/sf/
  timeout_minutes: 5
queries:
  - name: contacts
    soql: SELECT Id FROM Contact
",
        w.sf_url()
    )
}

fn upload(w: &World, file: &str) {
    let pem = std::fs::read_to_string(w.path(file)).unwrap();
    let (s, b) = w.sf_admin(
        "PUT",
        &format!("/apps/{CONSUMER_KEY}/certificate"),
        Some(pem),
    );
    assert_eq!(s, 200, "{b}");
}

#[test]
fn fail_within_exits_as_documented() {
    let w = World::with_salesforce(&repo_root().join("emulators/salesforce/seeds/demo.yaml"));
    // Near expiry: a 10-day certificate.
    w.write_config("sfglue.yaml", &config(&w, 10));
    let apply = w.sfglue(&["apply", "--yes"]);
    assert_eq!(apply.code, 1, "verify fails: no certificate on the app yet");
    assert!(
        apply.stderr.contains("expires in"),
        "apply warns: {}",
        apply.stderr
    );
    upload(&w, "sfglue-out/salesforce-jwt.crt");
    let verify = w.sfglue(&["verify"]);
    assert_eq!(verify.code, 0, "{}", verify.stderr);
    assert!(
        verify.stderr.contains("plan a rotation"),
        "verify warns: {}",
        verify.stderr
    );

    let status = w.sfglue(&["status"]);
    assert_eq!(status.code, 0, "{}\n{}", status.stdout, status.stderr);
    for needle in [
        "expiry watch",
        "SHA-256 ",
        "days left)",
        "AWSCURRENT",
        "accepts this key now",
    ] {
        assert!(
            status.stdout.contains(needle),
            "{needle}: {}",
            status.stdout
        );
    }
    let near = w.sfglue(&["status", "--fail-within", "30", "--no-sign-in"]);
    assert_eq!(near.code, 5, "{}\n{}", near.stdout, near.stderr);
    assert!(
        near.stderr.contains("within the 30 days"),
        "{}",
        near.stderr
    );
    let json = w.sfglue(&["status", "--fail-within", "30", "--output", "json"]);
    assert_eq!(json.code, 5);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["error"]["class"], "expires_soon");
    let left = doc["result"]["current_days_left"].as_i64().unwrap();
    assert!((9..=10).contains(&left), "{left}");
    assert_eq!(
        w.sfglue(&["status", "--fail-within", "5", "--no-sign-in"])
            .code,
        0
    );
    assert_eq!(
        w.sfglue(&["rotate", "status", "--fail-within", "11"]).code,
        5
    );

    // Far from expiry: rotate to a 365-day certificate.
    w.write_config("sfglue.yaml", &config(&w, 365));
    assert_eq!(w.sfglue(&["rotate", "start"]).code, 0);
    upload(&w, "sfglue-out/salesforce-jwt-pending.crt");
    let finish = w.sfglue(&["rotate", "finish"]);
    assert_eq!(finish.code, 0, "{}", finish.stderr);
    let far = w.sfglue(&["status", "--fail-within", "30"]);
    assert_eq!(far.code, 0, "{}\n{}", far.stdout, far.stderr);
    assert!(far.stdout.contains("days left)"), "{}", far.stdout);
    assert_eq!(
        w.sfglue(&["status", "--fail-within", "400", "--no-sign-in"])
            .code,
        5
    );
    // status on a config whose secret does not exist is a runtime failure.
    w.write_config(
        "other.yaml",
        &config(&w, 365).replace("name: exp", "name: nosecret"),
    );
    let missing = w.sfglue(&["--config", "other.yaml", "status"]);
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("does not exist"),
        "{}",
        missing.stderr
    );
}

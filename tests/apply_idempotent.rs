//! A second `apply` with the same config changes nothing: same secret version, same key, no
//! AWS write call at all. Runs on the AWS emulator alone (no consumer key yet: exit code 3).

mod common;
use common::World;
use serde_json::Value;

const CONFIG: &str = "version: 1
name: idem
aws:
  region: us-east-1
salesforce:
  login_url: https://acme.my.salesforce.com
  username: integration@acme.example
glue:
  script_bucket: idem-scripts
  output: s3://idem-data/sf/
queries:
  - name: accounts
    soql: SELECT Id, Name FROM Account
";

fn apply_json(w: &World) -> (i32, Value) {
    let run = w.sfglue(&[
        "--config",
        "sfglue.yaml",
        "--output",
        "json",
        "apply",
        "--yes",
    ]);
    let doc: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", run.stdout, run.stderr));
    (run.code, doc)
}

#[test]
fn second_apply_is_a_no_op_with_reads_only() {
    let w = World::aws_only();
    w.write_config("sfglue.yaml", CONFIG);

    let (code, first) = apply_json(&w);
    assert_eq!(code, 3, "waiting for Salesforce: {first}");
    assert_eq!(first["error"]["class"], "waiting_for_salesforce");
    let result = &first["result"];
    assert_eq!(result["key_generated"], true);
    let actions: Vec<&str> = result["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert!(actions.iter().all(|a| *a == "create"), "{actions:?}");
    assert!(w.path("sfglue-out/SALESFORCE_SETUP.md").exists());
    let cert = std::fs::read_to_string(w.path("sfglue-out/salesforce-jwt.crt")).unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));

    w.reset_aws_requests();
    let (code, second) = apply_json(&w);
    assert_eq!(code, 3);
    let calls = w.aws_requests();
    assert_eq!(calls["writes"], 0, "a no-op apply wrote: {calls}");
    assert!(calls["reads"].as_u64().unwrap() > 0);
    // The reads are issued together, not one after another (the emulator counts requests
    // being handled at once; a round trip of 50 ms makes the overlap certain).
    w.set_aws_latency(50);
    w.reset_aws_requests();
    let plan = w.sfglue(&["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let overlap = w.aws_requests()["max_in_flight"].as_u64().unwrap();
    assert!(
        overlap >= 3,
        "at most {overlap} AWS reads in flight at once"
    );
    w.set_aws_latency(0);
    let r2 = &second["result"];
    assert_eq!(r2["changed"], false);
    assert_eq!(r2["key_generated"], false);
    assert_eq!(r2["secret_version"], result["secret_version"]);
    assert_eq!(r2["certificate"]["sha256"], result["certificate"]["sha256"]);
    for c in r2["changes"].as_array().unwrap() {
        assert_eq!(c["action"], "unchanged", "{c}");
    }

    // A settings change writes a new secret version with the same key, and nothing else.
    w.write_config(
        "sfglue.yaml",
        &CONFIG.replace(
            "  username: integration@acme.example",
            "  username: integration@acme.example\n  api_version: \"63.0\"",
        ),
    );
    w.reset_aws_requests();
    let (_, third) = apply_json(&w);
    let r3 = &third["result"];
    assert_eq!(r3["certificate"]["sha256"], result["certificate"]["sha256"]);
    assert_ne!(r3["secret_version"], result["secret_version"]);
    let changed: Vec<String> = r3["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "unchanged")
        .map(|c| format!("{}:{}", c["resource"].as_str().unwrap(), c["fields"]))
        .collect();
    assert_eq!(changed, vec!["secret:[\"api_version\"]".to_string()]);
    let calls = w.aws_requests();
    assert_eq!(calls["writes"], 1, "{calls}");
    assert_eq!(calls["operations"]["PutSecretValue"], 1, "{calls}");

    let secret = w.secret_string("idem/salesforce-jwt");
    let doc: Value = serde_json::from_str(&secret).unwrap();
    assert_eq!(doc["api_version"], "63.0");
    let key = doc["private_key_pem"].as_str().unwrap().to_string();
    common::assert_no_secrets(&w.transcript.borrow(), Some(&key));
}

#[test]
fn text_output_reports_every_resource_unchanged() {
    let w = World::aws_only();
    w.write_config("sfglue.yaml", CONFIG);
    let first = w.sfglue(&["--config", "sfglue.yaml", "apply", "--yes"]);
    assert_eq!(first.code, 3, "{}", first.stderr);
    for needle in [
        "certificate    generated",
        "secret         created",
        "role           created",
        "job            created",
    ] {
        assert!(
            first.stdout.contains(needle),
            "{needle} in\n{}",
            first.stdout
        );
    }
    assert!(first.stderr.contains("waiting:"), "{}", first.stderr);
    let second = w.sfglue(&["--config", "sfglue.yaml", "apply", "--yes"]);
    for label in ["secret", "bucket", "script", "role", "role policy", "job"] {
        let line = second
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{label:<14} ")))
            .unwrap_or_else(|| panic!("no {label} line in\n{}", second.stdout));
        assert!(line.contains("unchanged"), "{line}");
    }
    assert!(second.stdout.contains("no changes"), "{}", second.stdout);
    // Progress goes to stderr, results to stdout.
    assert!(!second.stdout.contains("what exists"));
    assert!(second.stderr.contains("what exists"));
}

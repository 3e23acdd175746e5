//! Every command's `--output json` document validates against the documented schema
//! (`docs/output-schema.json`), on success and on failure, in every exit-code class.

mod common;
use common::{World, repo_root};
use serde_json::Value;

const CONSUMER_KEY: &str =
    "3MVGsfglueDemoConsumerKey000000000000000000000000000000000000000000000000000000";

fn config(w: &World, consumer_key: &str) -> String {
    format!(
        "version: 1
name: js
salesforce:
  login_url: {}
  username: integration@sfglue-demo.example
  consumer_key: \"{consumer_key}\"
  app:
    contact_email: ops@sfglue-demo.example
glue:
  script_bucket: js-scripts
  output: s3://js-data/sf/
  schedule: cron(0 2 * * ? *)
  timeout_minutes: 5
queries:
  - name: accounts
    soql: SELECT Id, Name FROM Account
",
        w.sf_url()
    )
}

/// Validates each document with the venv's `jsonschema` (Draft 2020-12, formats checked).
fn validate_all(docs: &[(String, Value)]) {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, (label, doc)) in docs.iter().enumerate() {
        let p = dir.path().join(format!("{i:02}-{label}.json"));
        std::fs::write(&p, doc.to_string()).unwrap();
        files.push(p);
    }
    let script = r#"
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
v = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
bad = 0
for path in sys.argv[2:]:
    for err in v.iter_errors(json.load(open(path))):
        bad += 1
        print(f"{path}: {'/'.join(map(str, err.absolute_path))}: {err.message[:300]}")
sys.exit(1 if bad else 0)
"#;
    let out = std::process::Command::new(repo_root().join(".venv/bin/python"))
        .arg("-c")
        .arg(script)
        .arg(repo_root().join("docs/output-schema.json"))
        .args(&files)
        .output()
        .expect("run the schema validator");
    assert!(
        out.status.success(),
        "documents do not match docs/output-schema.json:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_command_json_matches_the_schema() {
    let w = World::with_salesforce(&repo_root().join("emulators/salesforce/seeds/demo.yaml"));
    let mut docs: Vec<(String, Value)> = Vec::new();
    let mut record = |label: &str, expect: i32, args: &[&str]| -> Value {
        let (code, doc) = w.sfglue_json(args);
        assert_eq!(code, expect, "{label}: {doc}");
        assert_eq!(doc["exit_code"], expect, "{label}");
        docs.push((label.to_string(), doc.clone()));
        doc
    };

    record("usage", 2, &["frobnicate"]);
    record("init", 0, &["init", "--path", "starter.yaml"]);
    record("init-exists", 2, &["init", "--path", "starter.yaml"]);
    w.write_config("bad.yaml", "version: 1\nnmae: x\n");
    record(
        "config-error",
        2,
        &["--config", "bad.yaml", "apply", "--yes"],
    );

    w.write_config("sfglue.yaml", &config(&w, ""));
    record("plan-pending", 4, &["plan", "--detailed-exitcode"]);
    record("apply-no-yes", 2, &["apply"]);
    record("apply-waiting", 3, &["apply", "--yes"]);
    record("policy", 0, &["policy"]);
    record("verify-waiting", 3, &["verify"]);
    record("instructions", 0, &["instructions"]);
    let meta = record(
        "instructions-metadata",
        0,
        &["instructions", "--metadata", "sf-app"],
    );
    assert_eq!(
        meta["result"]["metadata"]["files"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
    std::fs::write(w.path("sf-app/.sfglue-metadata.json"), "{}").unwrap();
    record(
        "instructions-dir-not-ours",
        2,
        &["instructions", "--metadata", "sf-app"],
    );

    let cert = std::fs::read_to_string(w.path("sfglue-out/salesforce-jwt.crt")).unwrap();
    let (status, _) = w.sf_admin(
        "PUT",
        &format!("/apps/{CONSUMER_KEY}/certificate"),
        Some(cert),
    );
    assert_eq!(status, 200);
    w.write_config("sfglue.yaml", &config(&w, CONSUMER_KEY));
    let applied = record("apply-verified", 0, &["apply", "--yes"]);
    assert_eq!(
        applied["result"]["verify"]["sign_in"]["org_id"],
        "00D5g00000SfGluEAF"
    );
    record("plan-clean", 0, &["plan", "--detailed-exitcode"]);
    let ran = record("verify-run-job", 0, &["verify", "--run-job"]);
    assert_eq!(ran["result"]["job_run"]["state"], "SUCCEEDED");

    // The certificate lifecycle commands.
    record("status", 0, &["status"]);
    record("status-fail-within", 5, &["status", "--fail-within", "400"]);
    record("rotate-start", 0, &["rotate", "start"]);
    record("rotate-finish-refused", 1, &["rotate", "finish"]);
    let pending = std::fs::read_to_string(w.path("sfglue-out/salesforce-jwt-pending.crt")).unwrap();
    let (status, _) = w.sf_admin(
        "PUT",
        &format!("/apps/{CONSUMER_KEY}/certificate"),
        Some(pending),
    );
    assert_eq!(status, 200);
    record("rotate-finish", 0, &["rotate", "finish"]);
    record("rotate-rollback", 0, &["rotate", "rollback"]);
    record("cert-generate", 0, &["cert", "generate", "--out", "keys"]);
    record(
        "cert-import-bad",
        2,
        &[
            "cert",
            "import",
            "--key",
            "keys/nope.key",
            "--cert",
            "keys/nope.crt",
        ],
    );

    w.write_config("sfglue.yaml", &config(&w, "3MVGunknown"));
    let refused = record("apply-refused", 1, &["apply", "--yes"]);
    assert_eq!(refused["error"]["code"], "salesforce.invalid_client_id");
    assert!(
        refused["result"]["changes"].is_array(),
        "apply reports what it did"
    );

    let envs = format!(
        "{}environments:\n  a:\n    name: js\n  b:\n    name: js-b\n    glue:\n      script_bucket: jsb-scripts\n      output: s3://jsb-data/sf/\n",
        config(&w, CONSUMER_KEY).replace("name: js\n", "")
    );
    w.write_config("envs.yaml", &envs);
    let all = record(
        "plan-all-envs",
        0,
        &["--config", "envs.yaml", "plan", "--all-envs"],
    );
    assert_eq!(all["result"]["environments"].as_array().unwrap().len(), 2);

    record(
        "destroy",
        0,
        &[
            "destroy",
            "--yes",
            "--force-delete-secret",
            "--purge-buckets",
        ],
    );
    record("destroy-nothing", 0, &["destroy", "--yes"]);

    validate_all(&docs);
    // The guard against secrets holds for JSON output too.
    common::assert_no_secrets(&w.transcript.borrow(), None);
}

#[test]
fn the_schema_rejects_what_it_should() {
    // A document with a secret-looking extra field or a wrong class must not validate: the
    // schema is strict (additionalProperties false), so drift in the output is caught.
    let good: Value = serde_json::json!({
        "schema": "sfglue.output/v1", "command": "init", "ok": true, "exit_code": 0,
        "result": {"config": "x.yaml"}, "error": null
    });
    validate_all(&[("good".into(), good.clone())]);
    for bad in [
        {
            let mut d = good.clone();
            d["result"]["access_token"] = "x".into();
            d
        },
        {
            let mut d = good.clone();
            d["exit_code"] = 9.into();
            d
        },
        {
            let mut d = good.clone();
            d["ok"] = false.into();
            d
        },
    ] {
        let caught = std::panic::catch_unwind(|| validate_all(&[("bad".into(), bad)]));
        assert!(caught.is_err(), "the schema accepted a bad document");
    }
}

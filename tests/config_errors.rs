//! Bad configs fail with file:line:column, the config-error exit code (2), and no AWS write.

mod common;
use common::World;

fn config(aws_url_free: &str) -> String {
    format!(
        "version: 1
name: cfgtest
salesforce:
  login_url: https://login.salesforce.com
  username: integration@example.com
glue:
  script_bucket: cfgtest-scripts
  output: s3://cfgtest-data/sf/
queries:
  - name: accounts
    soql: SELECT Id FROM Account
{aws_url_free}"
    )
}

#[test]
fn unknown_key_and_wrong_type_fail_before_any_aws_call() {
    let w = World::aws_only();
    let cases = [
        (
            config("").replace("  username:", "  user_name:"),
            "cfg.yaml:5:3: salesforce: unknown field `user_name`",
        ),
        (
            config("").replace("version: 1", "version: one"),
            "cfg.yaml:1:10: version: invalid type",
        ),
        (
            config("certificate:\n  key_size: big\n"),
            "cfg.yaml:13:13: certificate.key_size: invalid type",
        ),
        (
            config("").replace("https://login", "http://login"),
            "cfg.yaml:4:3: `salesforce.login_url`",
        ),
    ];
    for (text, expected) in cases {
        w.reset_aws_requests();
        w.write_config("cfg.yaml", &text);
        let run = w.sfglue(&["--config", "cfg.yaml", "apply"]);
        assert_eq!(run.code, 2, "{expected}: {}", run.stderr);
        assert!(
            run.stderr.contains(expected),
            "expected {expected:?} in:\n{}",
            run.stderr
        );
        assert!(run.stderr.contains("fix:"), "{}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        let calls = w.aws_requests();
        assert_eq!(calls["total"], 0, "a config error made AWS calls: {calls}");
    }
}

#[test]
fn json_errors_keep_the_exit_code_class() {
    let w = World::aws_only();
    w.write_config("cfg.yaml", &config("").replace("  username:", "  usernme:"));
    let run = w.sfglue(&["--config", "cfg.yaml", "--output", "json", "apply"]);
    assert_eq!(run.code, 2);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error"]["class"], "config");
    assert_eq!(doc["error"]["code"], "config.unknown_field");
    assert!(doc["error"]["fix"].is_string());
}

#[test]
fn missing_config_and_usage_errors_exit_2() {
    let w = World::aws_only();
    let run = w.sfglue(&["--config", "nope.yaml", "apply"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("nope.yaml"), "{}", run.stderr);
    assert!(run.stderr.contains("sfglue init"), "{}", run.stderr);
    let run = w.sfglue(&["frobnicate"]);
    assert_eq!(run.code, 2);
}

#[test]
fn init_writes_a_valid_config_and_refuses_to_overwrite() {
    let w = World::aws_only();
    let run = w.sfglue(&["init", "--path", "new.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(w.path("new.yaml")).unwrap();
    assert!(text.contains("version: 1"));
    assert!(text.contains('#'), "the starter is commented");
    let again = w.sfglue(&["init", "--path", "new.yaml"]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    assert_eq!(std::fs::read_to_string(w.path("new.yaml")).unwrap(), text);
}

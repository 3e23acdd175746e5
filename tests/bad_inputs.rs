//! Hostile and broken input: a corpus of bad configs, bad secret contents, bad Salesforce answers
//! and refusing AWS answers. Every case: the documented exit code, a message that names the
//! problem, a fix, no panic, no secret in the output, and no AWS write after a validation failure.

mod common;
use common::{World, block_on, repo_root};
use serde_json::Value;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

fn assert_clean(label: &str, run: &common::Run) {
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(!all.contains("panicked"), "{label}: panic:\n{all}");
    assert!(
        !all.contains("RUST_BACKTRACE"),
        "{label}: backtrace:\n{all}"
    );
    common::assert_no_secrets(&all, None);
}

#[test]
fn every_bad_config_in_the_corpus_fails_cleanly_before_any_aws_call() {
    let w = World::aws_only();
    let dir = repo_root().join("tests/corpus/configs");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let cases = expected.as_object().unwrap();
    assert!(cases.len() >= 60, "the corpus shrank: {}", cases.len());
    // A huge file is made here rather than committed.
    let huge = w.path("huge.yaml");
    std::fs::write(
        &huge,
        format!("version: 1\n# {}\n", "x".repeat(3 * 1024 * 1024)),
    )
    .unwrap();
    let mut all: Vec<(String, i64, String)> = cases
        .iter()
        .map(|(file, e)| {
            (
                dir.join(file).display().to_string(),
                e["exit_code"].as_i64().unwrap(),
                e["stderr_contains"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    all.push((huge.display().to_string(), 2, "a config is at most".into()));
    w.reset_aws_requests();
    for (path, code, text) in &all {
        for command in ["plan", "apply"] {
            let run = w.sfglue(&["--config", path, command]);
            assert_eq!(run.code as i64, *code, "{path} ({command}): {}", run.stderr);
            assert!(
                run.stderr.contains(text.as_str()),
                "{path}: expected {text:?} in:\n{}",
                run.stderr
            );
            assert!(
                run.stderr.contains("fix:"),
                "{path}: no fix:\n{}",
                run.stderr
            );
            assert!(
                !run.stderr.contains("s3cret"),
                "{path}: a password was echoed"
            );
            assert_clean(path, &run);
        }
    }
    let calls = w.aws_requests();
    assert_eq!(calls["total"], 0, "a bad config reached AWS: {calls}");
}

fn managed_secret(w: &World, name: &str, value: &str) {
    let c = w.clients();
    block_on(
        c.secrets
            .create_secret()
            .name(format!("{name}/salesforce-jwt"))
            .secret_string(value)
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key("managed-by")
                    .value("sfglue")
                    .build(),
            )
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key("sfglue:name")
                    .value(name)
                    .build(),
            )
            .send(),
    )
    .unwrap();
}

fn config(name: &str, login_url: &str, extra_sf: &str) -> String {
    format!(
        "version: 1
name: {name}
salesforce:
  login_url: {login_url}
  username: integration@acme.example
  consumer_key: 3MVGcorpus
{extra_sf}glue:
  script_bucket: {name}-scripts
  output: s3://{name}-data/sf/
queries:
  - name: accounts
    soql: SELECT Id FROM Account
"
    )
}

fn document(key_pem: &str, cert_pem: &str, consumer_key: &str) -> Value {
    serde_json::json!({
        "schema": "sfglue/v1", "private_key_pem": key_pem, "certificate_pem": cert_pem,
        "certificate_sha256": "AB", "certificate_not_after": "2030-01-01T00:00:00Z",
        "consumer_key": consumer_key, "username": "integration@acme.example",
        "login_url": "https://acme.my.salesforce.com", "audience": "https://login.salesforce.com",
        "api_version": "62.0"
    })
}

#[test]
fn broken_secret_contents_are_named_without_quoting_them() {
    sfglue::crypto::install_provider();
    let w = World::aws_only();
    let good = sfglue::crypto::generate("corpus", 2048, 30).unwrap();
    let other = sfglue::crypto::generate("other", 2048, 30).unwrap();
    let key = good.private_key_pem.expose().to_string();
    let truncated = key[..key.len() / 2].to_string() + "\n-----END PRIVATE KEY-----\n";
    let expired_cert = {
        let kp = rcgen::KeyPair::from_pem(&key).unwrap();
        let mut p = rcgen::CertificateParams::default();
        p.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(10);
        p.not_after = time::OffsetDateTime::now_utc() - time::Duration::days(1);
        p.self_signed(&kp).unwrap().pem()
    };
    let cases: Vec<(&str, String, i32, &str)> = vec![
        (
            "notjson",
            "hunter2 is not json".into(),
            1,
            "does not hold an sfglue document",
        ),
        (
            "emptyjson",
            "{}".into(),
            1,
            "does not hold an sfglue document",
        ),
        (
            "array",
            "[1,2]".into(),
            1,
            "does not hold an sfglue document",
        ),
        (
            "otherschema",
            document(&key, &good.certificate_pem, "k")
                .to_string()
                .replace("sfglue/v1", "sfglue/v9"),
            1,
            "has schema",
        ),
        (
            "nokey",
            document(
                concat!(
                    "-----BEGIN ",
                    "PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
                ),
                &good.certificate_pem,
                "k",
            )
            .to_string(),
            1,
            "cannot be read as a PEM RSA key",
        ),
        (
            "truncated",
            document(&truncated, &good.certificate_pem, "k").to_string(),
            1,
            "cannot be read as a PEM RSA key",
        ),
        (
            "otherkey",
            document(&key, &other.certificate_pem, "k").to_string(),
            1,
            "does not belong to the certificate",
        ),
        (
            "badcert",
            document(
                &key,
                "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
                "k",
            )
            .to_string(),
            1,
            "not a PEM certificate",
        ),
        (
            "expired",
            document(&key, &expired_cert, "k").to_string(),
            1,
            "expired on",
        ),
        (
            "nokeyyet",
            document(&key, &good.certificate_pem, "").to_string(),
            3,
            "no consumer key",
        ),
    ];
    for (name, value, code, text) in &cases {
        managed_secret(&w, name, value);
        w.write_config(
            "c.yaml",
            &config(name, "https://acme.my.salesforce.com", ""),
        );
        w.reset_aws_requests();
        let run = w.sfglue(&["--config", "c.yaml", "verify"]);
        assert_eq!(run.code, *code, "{name}: {}", run.stderr);
        assert!(
            run.stderr.contains(text),
            "{name}: expected {text:?} in:\n{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("fix:") || *code == 3,
            "{name}: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("hunter2"),
            "{name}: the secret was quoted"
        );
        assert_eq!(w.aws_requests()["writes"], 0, "{name}");
        assert_clean(name, &run);
        common::assert_no_secrets(&format!("{}{}", run.stdout, run.stderr), Some(&key));
    }
    // A secret scheduled for deletion: apply says how to restore it, and changes nothing.
    managed_secret(
        &w,
        "deleting",
        &document(&key, &good.certificate_pem, "k").to_string(),
    );
    block_on(
        w.clients()
            .secrets
            .delete_secret()
            .secret_id("deleting/salesforce-jwt")
            .recovery_window_in_days(7)
            .send(),
    )
    .unwrap();
    w.write_config(
        "c.yaml",
        &config("deleting", "https://acme.my.salesforce.com", ""),
    );
    w.reset_aws_requests();
    let run = w.sfglue(&["--config", "c.yaml", "apply", "--yes"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("scheduled for deletion"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("restore-secret"), "{}", run.stderr);
    assert_eq!(w.aws_requests()["writes"], 0);
}

/// A server on 127.0.0.1 that answers every request with the current canned response.
struct Canned {
    url: String,
    response: Arc<Mutex<Vec<u8>>>,
}

fn canned_server() -> Canned {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let response: Arc<Mutex<Vec<u8>>> = Arc::new(Mutex::new(Vec::new()));
    let shared = response.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let shared = shared.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                let mut buf = [0u8; 65536];
                let _ = stream.read(&mut buf);
                let body = shared.lock().unwrap().clone();
                if body.is_empty() {
                    // "never answers": hold the connection open, say nothing.
                    std::thread::sleep(std::time::Duration::from_secs(8));
                    return;
                }
                let _ = stream.write_all(&body);
            });
        }
    });
    Canned { url, response }
}

fn http_response(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

#[test]
fn odd_salesforce_answers_get_a_clear_message_and_a_bounded_wait() {
    sfglue::crypto::install_provider();
    let w = World::aws_only();
    let server = canned_server();
    let good = sfglue::crypto::generate("corpus", 2048, 30).unwrap();
    let mut doc = document(
        good.private_key_pem.expose(),
        &good.certificate_pem,
        "3MVGcorpus",
    );
    doc["login_url"] = server.url.clone().into();
    doc["audience"] = server.url.clone().into();
    managed_secret(&w, "answers", &doc.to_string());
    w.write_config(
        "c.yaml",
        &config("answers", &server.url, "  http_timeout_seconds: 2\n"),
    );

    let token_ok = format!(
        r#"{{"access_token":"00D5g00000SfGluEAF!AQ4AQFakeTokenForTests","instance_url":"{}","id":"{}/id/00D5g00000SfGluEAF/0055g00000IntgUAAR","token_type":"Bearer","scope":"api"}}"#,
        server.url, server.url
    );
    let big = vec![b'x'; 3 * 1024 * 1024];
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "html-200",
            http_response(
                "200 OK",
                "text/html",
                b"<html><body>Proxy login</body></html>",
            ),
            "without a usable access_token",
        ),
        (
            "empty-200",
            http_response("200 OK", "application/json", b""),
            "without a usable access_token",
        ),
        (
            "no-token-200",
            http_response("200 OK", "application/json", br#"{"instance_url":"x"}"#),
            "without a usable access_token",
        ),
        (
            "text-500",
            http_response(
                "500 Internal Server Error",
                "text/plain",
                b"upstream exploded",
            ),
            "not Salesforce's JSON",
        ),
        (
            "html-502",
            http_response("502 Bad Gateway", "text/html", b"<html>bad gateway</html>"),
            "an HTML or XML page",
        ),
        (
            "empty-400",
            http_response("400 Bad Request", "application/json", b""),
            "an empty body",
        ),
        (
            "huge-200",
            http_response("200 OK", "application/json", &big),
            "larger than",
        ),
        (
            "unknown-error",
            http_response(
                "400 Bad Request",
                "application/json",
                br#"{"error":"brand_new","error_description":"something new happened"}"#,
            ),
            "brand_new: something new happened",
        ),
        (
            "redirect",
            http_response("302 Found", "text/html", b"<a href=x>moved</a>"),
            "not Salesforce's JSON",
        ),
        ("never-answers", Vec::new(), "did not answer in time"),
        // The token is fine, but the REST call is refused: a 401 array for every request.
        (
            "rest-401",
            http_response(
                "401 Unauthorized",
                "application/json",
                br#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#,
            ),
            "error",
        ),
    ];
    for (name, response, text) in &cases {
        *server.response.lock().unwrap() = response.clone();
        let started = std::time::Instant::now();
        let run = w.sfglue(&["--config", "c.yaml", "verify"]);
        assert_eq!(run.code, 1, "{name}: {}", run.stderr);
        assert!(
            run.stderr.contains(text),
            "{name}: expected {text:?} in:\n{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("fix:") || *name == "unknown-error",
            "{name}: {}",
            run.stderr
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{name}: waited too long"
        );
        assert!(
            run.stderr.len() < 4000,
            "{name}: the body was dumped into the message"
        );
        assert_clean(name, &run);
    }
    // A token that works with a REST call that is refused.
    *server.response.lock().unwrap() =
        http_response("200 OK", "application/json", token_ok.as_bytes());
    let run = w.sfglue(&["--config", "c.yaml", "verify"]);
    assert_eq!(
        run.code, 0,
        "a plain 200 token and a 200 REST answer pass: {}",
        run.stderr
    );
    assert_clean("token-ok", &run);
    // Nobody listening at all.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut doc2 = doc.clone();
    doc2["login_url"] = format!("http://{closed}").into();
    managed_secret(&w, "refused", &doc2.to_string());
    w.write_config(
        "r.yaml",
        &config(
            "refused",
            &format!("http://{closed}"),
            "  http_timeout_seconds: 2\n",
        ),
    );
    let run = w.sfglue(&["--config", "r.yaml", "verify"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("cannot reach"), "{}", run.stderr);
}

#[test]
fn aws_refusals_name_the_call_and_the_permission() {
    let w = World::aws_only();
    let cases = [
        ("GetCallerIdentity", "AccessDenied", "sts:GetCallerIdentity"),
        (
            "DescribeSecret",
            "AccessDeniedException",
            "secretsmanager:DescribeSecret",
        ),
        ("GetRole", "AccessDenied", "iam:GetRole"),
        ("GetJob", "AccessDeniedException", "glue:GetJob"),
        (
            "CreateSecret",
            "AccessDeniedException",
            "secretsmanager:CreateSecret",
        ),
        ("CreateBucket", "AccessDenied", "s3:CreateBucket"),
        ("PutObject", "AccessDenied", "s3:PutObject"),
        ("CreateRole", "AccessDenied", "iam:CreateRole"),
        ("PutRolePolicy", "AccessDenied", "iam:PutRolePolicy"),
        ("CreateJob", "AccessDeniedException", "glue:CreateJob"),
    ];
    for (i, (op, code, action)) in cases.iter().enumerate() {
        let name = format!("deny{i}");
        w.write_config(
            "d.yaml",
            &config(&name, "https://acme.my.salesforce.com", "")
                .replace("  consumer_key: 3MVGcorpus\n", ""),
        );
        let body = serde_json::json!({"operation": op, "kind": "error", "status": 403, "code": code, "message": "not authorized", "times": 20});
        let (status, out) = common::http(
            "POST",
            &format!("{}/__launcher/faults", w.aws.url),
            Some(body.to_string()),
        );
        assert_eq!(status, 201, "{out}");
        let started = std::time::Instant::now();
        let run = w.sfglue(&["--config", "d.yaml", "apply", "--yes"]);
        w.clear_faults();
        assert_eq!(run.code, 1, "{op}: {}", run.stderr);
        assert!(run.stderr.contains(op), "{op}: {}", run.stderr);
        assert!(
            run.stderr.contains(action),
            "{op}: expected {action} in:\n{}",
            run.stderr
        );
        // Permission errors are not retried: they fail fast.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "{op}: retried a denial?"
        );
        assert_clean(op, &run);
    }
    w.write_config(
        "t.yaml",
        &config("throttled", "https://acme.my.salesforce.com", "")
            .replace("  consumer_key: 3MVGcorpus\n", ""),
    );
    w.inject_fault("CreateRole", "throttle", 20);
    let run = w.sfglue(&["--config", "t.yaml", "apply", "--yes"]);
    w.clear_faults();
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("wait a minute"), "{}", run.stderr);
}

#[test]
fn an_endpoint_url_with_a_password_is_refused_without_printing_it() {
    let w = World::aws_only();
    w.write_config(
        "sfglue.yaml",
        &config("cred", "https://acme.my.salesforce.com", ""),
    );
    let with_password = w.aws_url().replacen("http://", "http://ak:hunter3pw@", 1);
    w.reset_aws_requests();
    for (var, args) in [
        ("AWS_ENDPOINT_URL", vec!["plan"]),
        (
            "AWS_ENDPOINT_URL_S3",
            vec!["--output", "json", "apply", "--yes"],
        ),
    ] {
        let run = w.sfglue_with_env(&args, &[(var, with_password.as_str())]);
        assert_eq!(run.code, 2, "{var}: {}\n{}", run.stdout, run.stderr);
        let shown = format!("{}{}", run.stdout, run.stderr);
        assert!(
            shown.contains(&format!("{var} carries a user name or password")),
            "{shown}"
        );
        assert!(
            !shown.contains("hunter3pw"),
            "the password was printed: {shown}"
        );
    }
    assert_eq!(w.aws_requests()["writes"], 0);
}

//! Test harness: starts the project's emulators on 127.0.0.1 free ports, runs the real `sfglue`
//! binary against them with a clean environment, and stops what it started (by PID, on drop).
//!
//! Every run of sfglue gets dummy AWS credentials, empty profile files and
//! `AWS_EC2_METADATA_DISABLED=true`, so nothing can reach a real AWS or a metadata address.

#![allow(dead_code)] // Each test binary uses a different part of the harness.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/debug` (or wherever this test binary was built).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/debug/deps/<test> -> target/debug
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

pub fn sfglue_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sfglue"))
}

fn venv_python() -> PathBuf {
    let py = repo_root().join(".venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run `make venv` (make test does it)",
        py.display()
    );
    py
}

/// A server process that printed its base URL as its first stdout line.
pub struct Server {
    child: Child,
    pub url: String,
    pub log: PathBuf,
}

impl Server {
    fn start(mut cmd: Command, log: PathBuf) -> Server {
        let log_file = std::fs::File::create(&log).expect("log file");
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .stdin(Stdio::null());
        for (k, v) in test_env_pairs(log.parent().unwrap()) {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // Keep draining so the server never blocks on a full pipe.
            let mut sink = String::new();
            while reader.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.starts_with("http://") => line.trim().to_string(),
            other => {
                let _ = child.kill();
                let log_text = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("server did not print its URL ({other:?}); log:\n{log_text}");
            }
        };
        Server { child, url, log }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Stop exactly the process this harness started.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Environment for every process the tests start: dummy credentials, no profiles, no IMDS.
fn test_env_pairs(dir: &Path) -> Vec<(String, String)> {
    let empty = dir.join("empty-aws-config");
    if !empty.exists() {
        std::fs::write(&empty, "").expect("empty aws config");
    }
    let empty = empty.display().to_string();
    vec![
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ("AWS_CONFIG_FILE".into(), empty.clone()),
        ("AWS_SHARED_CREDENTIALS_FILE".into(), empty),
        ("HOME".into(), dir.display().to_string()),
        ("NO_COLOR".into(), "1".into()),
    ]
}

/// One test's world: a temp dir, the AWS emulator, and optionally the Salesforce emulator.
pub struct World {
    pub dir: tempfile::TempDir,
    pub aws: Server,
    pub sf: Option<Server>,
    /// Everything sfglue printed in this world, for leak checks.
    pub transcript: std::cell::RefCell<String>,
}

/// With `SFGLUE_LEAK_DIR` set (make test sets it), each world leaves behind, for the leak guard
/// that ends the test run (`scripts/leak_guard.py`): everything sfglue printed, the emulators'
/// logs, and, in a separate `known-secrets/` folder that is never scanned, the private keys the
/// run created, so the guard can look for them in every log.
impl Drop for World {
    fn drop(&mut self) {
        let Some(dir) = std::env::var_os("SFGLUE_LEAK_DIR").map(PathBuf::from) else {
            return;
        };
        let tag = format!(
            "{}-{}",
            std::process::id(),
            self.dir
                .path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let _ = std::fs::create_dir_all(dir.join("known-secrets"));
        let _ = std::fs::write(
            dir.join(format!("rust-{tag}.transcript")),
            &*self.transcript.borrow(),
        );
        for server in std::iter::once(&self.aws).chain(self.sf.iter()) {
            if let Some(name) = server.log.file_name() {
                let _ = std::fs::copy(
                    &server.log,
                    dir.join(format!("rust-{tag}-{}", name.to_string_lossy())),
                );
            }
        }
        let keys = self.all_private_keys();
        if !keys.is_empty() {
            let _ = std::fs::write(
                dir.join("known-secrets").join(format!("rust-{tag}.keys")),
                keys.join("\n"),
            );
        }
    }
}

impl World {
    /// Every private key held in any version of any secret in this world's AWS emulator.
    fn all_private_keys(&self) -> Vec<String> {
        let secrets = self.clients().secrets;
        block_on(async move {
            let mut keys = Vec::new();
            let Ok(list) = secrets.list_secrets().send().await else {
                return keys;
            };
            for s in list.secret_list() {
                let Some(arn) = s.arn() else { continue };
                let Ok(versions) = secrets
                    .list_secret_version_ids()
                    .secret_id(arn)
                    .send()
                    .await
                else {
                    continue;
                };
                for v in versions.versions() {
                    let Some(id) = v.version_id() else { continue };
                    if let Ok(value) = secrets
                        .get_secret_value()
                        .secret_id(arn)
                        .version_id(id)
                        .send()
                        .await
                        && let Some(text) = value.secret_string()
                        && let Ok(doc) = serde_json::from_str::<serde_json::Value>(text)
                        && let Some(pem) = doc["private_key_pem"].as_str()
                    {
                        keys.push(pem.to_string());
                    }
                }
            }
            keys
        })
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl World {
    pub fn aws_only() -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let aws = start_aws(dir.path());
        World {
            dir,
            aws,
            sf: None,
            transcript: Default::default(),
        }
    }

    /// With the Salesforce emulator on `seed` (a path under emulators/salesforce/seeds or any file).
    pub fn with_salesforce(seed: &Path) -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let aws = start_aws(dir.path());
        let bin = target_dir().join("sf-emulator");
        assert!(
            bin.exists(),
            "{} is missing: build the workspace first (`make build`)",
            bin.display()
        );
        let mut cmd = Command::new(bin);
        cmd.args(["--listen", "127.0.0.1:0", "--seed"]).arg(seed);
        let sf = Server::start(cmd, dir.path().join("salesforce.log"));
        World {
            dir,
            aws,
            sf: Some(sf),
            transcript: Default::default(),
        }
    }

    pub fn sf_url(&self) -> &str {
        &self.sf.as_ref().expect("salesforce emulator").url
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a config file named `name` into the world's dir and returns its path.
    pub fn write_config(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write config");
        p
    }

    /// Starts sfglue with `args` without waiting (for concurrency tests); see [`World::wait`].
    pub fn spawn_sfglue(&self, args: &[&str]) -> std::process::Child {
        let mut cmd = Command::new(sfglue_bin());
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_ENDPOINT_URL", &self.aws.url)
            .current_dir(self.dir.path())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in test_env_pairs(self.dir.path()) {
            cmd.env(k, v);
        }
        cmd.spawn().expect("start sfglue")
    }

    pub fn wait(&self, child: std::process::Child) -> Run {
        let out = child.wait_with_output().expect("wait for sfglue");
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        let mut t = self.transcript.borrow_mut();
        t.push_str(&run.stdout);
        t.push_str(&run.stderr);
        run
    }

    /// The AWS emulator's base URL.
    pub fn aws_url(&self) -> &str {
        &self.aws.url
    }

    /// Runs sfglue with `args` against this world's emulators.
    pub fn sfglue(&self, args: &[&str]) -> Run {
        self.sfglue_with_env(args, &[])
    }

    /// [`World::sfglue`] with more environment variables (or other values for the usual ones).
    pub fn sfglue_with_env(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(sfglue_bin());
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_ENDPOINT_URL", &self.aws.url)
            .current_dir(self.dir.path())
            .args(args)
            .stdin(Stdio::null());
        for (k, v) in test_env_pairs(self.dir.path()) {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out: Output = cmd.output().expect("run sfglue");
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        let mut t = self.transcript.borrow_mut();
        t.push_str(&run.stdout);
        t.push_str(&run.stderr);
        run
    }

    /// The AWS emulator's count of calls per operation since the last reset.
    pub fn aws_requests(&self) -> serde_json::Value {
        http(
            "GET",
            &format!("{}/__launcher/requests", self.aws.url),
            None,
        )
        .1
    }

    pub fn reset_aws_requests(&self) {
        http(
            "POST",
            &format!("{}/__launcher/requests/reset", self.aws.url),
            None,
        );
    }

    /// Every AWS call of the emulator sleeps `ms` before moto answers it (a network round trip).
    pub fn set_aws_latency(&self, ms: u32) {
        let (status, body) = http(
            "POST",
            &format!("{}/__launcher/latency", self.aws.url),
            Some(format!("{{\"ms\": {ms}}}")),
        );
        assert_eq!(status, 200, "{body}");
    }

    /// The Salesforce emulator's admin API (the stand-in for Salesforce Setup).
    pub fn sf_admin(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> (u16, serde_json::Value) {
        http(method, &format!("{}/__admin{path}", self.sf_url()), body)
    }

    /// Reads the AWSCURRENT secret value through the AWS SDK (the test's own client).
    pub fn secret_string(&self, name: &str) -> String {
        let url = self.aws.url.clone();
        let name = name.to_string();
        rt().block_on(async move {
            let conf = aws_sdk_secretsmanager::Config::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("us-east-1"))
                .endpoint_url(url)
                .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
                    "testing", "testing", None, None, "test",
                ))
                .build();
            let client = aws_sdk_secretsmanager::Client::from_conf(conf);
            client
                .get_secret_value()
                .secret_id(name)
                .version_stage("AWSCURRENT")
                .send()
                .await
                .expect("get secret")
                .secret_string()
                .unwrap_or_default()
                .to_string()
        })
    }
}

/// Clients of the test's own, straight at the AWS emulator (to set up foreign resources and to
/// check what sfglue left behind).
pub struct Clients {
    pub iam: aws_sdk_iam::Client,
    pub s3: aws_sdk_s3::Client,
    pub glue: aws_sdk_glue::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl World {
    pub fn clients(&self) -> Clients {
        let creds = aws_sdk_iam::config::Credentials::new("testing", "testing", None, None, "test");
        let region = aws_config::Region::new("us-east-1");
        let v = aws_config::BehaviorVersion::latest();
        let url = self.aws.url.clone();
        Clients {
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::Config::builder()
                    .behavior_version(v)
                    .region(region.clone())
                    .endpoint_url(&url)
                    .credentials_provider(creds.clone())
                    .build(),
            ),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::Config::builder()
                    .behavior_version(v)
                    .region(region.clone())
                    .endpoint_url(&url)
                    .force_path_style(true)
                    .credentials_provider(creds.clone())
                    .build(),
            ),
            glue: aws_sdk_glue::Client::from_conf(
                aws_sdk_glue::Config::builder()
                    .behavior_version(v)
                    .region(region.clone())
                    .endpoint_url(&url)
                    .credentials_provider(creds.clone())
                    .build(),
            ),
            secrets: aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::Config::builder()
                    .behavior_version(v)
                    .region(region)
                    .endpoint_url(&url)
                    .credentials_provider(creds)
                    .build(),
            ),
        }
    }

    /// Makes the AWS emulator fail the next `times` calls of `operation` with `kind`.
    pub fn inject_fault(&self, operation: &str, kind: &str, times: u32) {
        let body = serde_json::json!({"operation": operation, "kind": kind, "times": times});
        let (status, out) = http(
            "POST",
            &format!("{}/__launcher/faults", self.aws.url),
            Some(body.to_string()),
        );
        assert_eq!(status, 201, "fault rule refused: {out}");
    }

    pub fn clear_faults(&self) {
        http(
            "DELETE",
            &format!("{}/__launcher/faults", self.aws.url),
            None,
        );
    }

    /// Runs sfglue with `--output json` and parses the one document it prints.
    pub fn sfglue_json(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut all = vec!["--output", "json"];
        all.extend_from_slice(args);
        let run = self.sfglue(&all);
        let doc = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
            panic!(
                "sfglue {args:?} did not print one JSON document ({e}):\n{}\n{}",
                run.stdout, run.stderr
            )
        });
        (run.code, doc)
    }
}

/// Runs a future on a small runtime of the test's own.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    rt().block_on(f)
}

fn start_aws(dir: &Path) -> Server {
    let mut cmd = Command::new(venv_python());
    cmd.arg(repo_root().join("emulators/aws/launcher.py"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--seconds-per-timeout-minute",
            "1",
        ]);
    Server::start(cmd, dir.join("aws.log"))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A small HTTP call to an emulator on 127.0.0.1. Returns status and JSON body (Null if none).
pub fn http(method: &str, url: &str, body: Option<String>) -> (u16, serde_json::Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let url = url.to_string();
    rt().block_on(async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let mut req = client.request(method, &url);
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req.send().await.expect("emulator request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    })
}

/// Asserts that `text` holds neither a private key nor anything shaped like an access token.
pub fn assert_no_secrets(text: &str, private_key_pem: Option<&str>) {
    assert!(
        !text.contains("PRIVATE KEY"),
        "output contains a private key block"
    );
    if let Some(pem) = private_key_pem {
        // Any 40-character run of the key's private part would be a leak. The first ~400 base64
        // characters of a PKCS#8 RSA key are the public modulus, which the certificate shares,
        // so only the part after it (private exponent, primes) is searched for.
        let body: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .join("");
        let private_part = body.get(600..).unwrap_or("");
        assert!(private_part.len() > 400, "not an RSA private key PEM");
        // A PEM printed as is wraps at 64 characters (or as JSON with \n escapes): search a copy
        // without whitespace and escapes as well.
        let squeezed: String = text
            .replace("\\n", "")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        for chunk in private_part.as_bytes().chunks(40).filter(|c| c.len() == 40) {
            let needle = std::str::from_utf8(chunk).unwrap();
            // The message names no position or context: quoting the text would print the key.
            assert!(
                !squeezed.contains(needle),
                "output contains part of the private key"
            );
        }
    }
    // Salesforce access tokens look like <org id 00D...>!<rest>.
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices("00D") {
        let tail = &bytes[i..bytes.len().min(i + 20)];
        let id_len = tail
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        assert!(
            !(id_len >= 15 && tail.get(id_len) == Some(&b'!')),
            "output contains an access token at byte {i}"
        );
    }
}

fn sdk_conf(url: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(
            aws_sdk_secretsmanager::config::SharedCredentialsProvider::new(
                aws_sdk_secretsmanager::config::Credentials::new(
                    "testing", "testing", None, None, "test",
                ),
            ),
        )
        .build()
}

/// The outcome of a job run started by the test itself (not through sfglue).
pub struct JobRun {
    pub state: String,
    pub error: Option<String>,
    /// The run's stdout log (the script's result lines).
    pub output: Vec<String>,
}

impl World {
    /// Each labelled version of the secret: (version id, sorted labels), sorted by version id.
    pub fn secret_labels(&self, name: &str) -> Vec<(String, Vec<String>)> {
        let conf = sdk_conf(&self.aws.url);
        let name = name.to_string();
        rt().block_on(async move {
            let client = aws_sdk_secretsmanager::Client::new(&conf);
            let out = client
                .list_secret_version_ids()
                .secret_id(name)
                .send()
                .await
                .expect("list versions");
            let mut v: Vec<(String, Vec<String>)> = out
                .versions()
                .iter()
                .map(|v| {
                    let mut s = v.version_stages().to_vec();
                    s.sort();
                    s.dedup();
                    (v.version_id().unwrap_or_default().to_string(), s)
                })
                .filter(|(_, s)| !s.is_empty())
                .collect();
            v.sort();
            v
        })
    }

    /// One version's SecretString, by id.
    pub fn secret_version_string(&self, name: &str, version_id: &str) -> String {
        let conf = sdk_conf(&self.aws.url);
        let (name, id) = (name.to_string(), version_id.to_string());
        rt().block_on(async move {
            aws_sdk_secretsmanager::Client::new(&conf)
                .get_secret_value()
                .secret_id(name)
                .version_id(id)
                .send()
                .await
                .expect("get secret version")
                .secret_string()
                .unwrap_or_default()
                .to_string()
        })
    }

    /// The version id holding `stage`, if any.
    pub fn version_with(&self, name: &str, stage: &str) -> Option<String> {
        self.secret_labels(name)
            .into_iter()
            .find(|(_, s)| s.iter().any(|x| x == stage))
            .map(|(id, _)| id)
    }

    /// Adds a fault rule to the AWS emulator (see emulators/aws/README.md).
    pub fn aws_fault(&self, rule: serde_json::Value) {
        let (status, body) = http(
            "POST",
            &format!("{}/__launcher/faults", self.aws.url),
            Some(rule.to_string()),
        );
        assert_eq!(status, 201, "fault rule refused: {body}");
    }

    /// Starts a run of `job` directly (as Glue's scheduler would) and waits for its end.
    pub fn run_job(&self, job: &str) -> JobRun {
        let conf = sdk_conf(&self.aws.url);
        let job = job.to_string();
        rt().block_on(async move {
            let glue = aws_sdk_glue::Client::new(&conf);
            let logs = aws_sdk_cloudwatchlogs::Client::new(&conf);
            let run_id = glue
                .start_job_run()
                .job_name(&job)
                .send()
                .await
                .expect("start job run")
                .job_run_id()
                .unwrap_or_default()
                .to_string();
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            let (state, error) = loop {
                let out = glue
                    .get_job_run()
                    .job_name(&job)
                    .run_id(&run_id)
                    .send()
                    .await
                    .expect("get job run");
                let run = out.job_run().expect("job run");
                let state = run
                    .job_run_state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default();
                if matches!(
                    state.as_str(),
                    "SUCCEEDED" | "FAILED" | "STOPPED" | "TIMEOUT" | "ERROR"
                ) {
                    break (state, run.error_message().map(str::to_string));
                }
                assert!(std::time::Instant::now() < deadline, "job run did not end");
                tokio::time::sleep(Duration::from_millis(200)).await;
            };
            let output = match logs
                .get_log_events()
                .log_group_name("/aws-glue/python-jobs/output")
                .log_stream_name(&run_id)
                .start_from_head(true)
                .send()
                .await
            {
                Ok(out) => out
                    .events()
                    .iter()
                    .filter_map(|e| e.message().map(|m| m.trim_end().to_string()))
                    .collect(),
                Err(_) => Vec::new(),
            };
            JobRun {
                state,
                error,
                output,
            }
        })
    }
}

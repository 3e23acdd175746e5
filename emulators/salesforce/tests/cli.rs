//! The binary's command line: base URL on the first stdout line, clean exit on SIGTERM, seed
//! validation (unknown keys rejected), the shipped demo seed.

mod common;
use common::*;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sf-emulator");

fn demo_seed() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/demo.yaml")
}

#[test]
fn demo_seed_is_valid() {
    let out = Command::new(BIN)
        .arg("--seed")
        .arg(demo_seed())
        .arg("--check")
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("00D5g00000SfGluEAF") && s.contains("Account") && s.contains("Contact"),
        "{s}"
    );
}

#[test]
fn bad_arguments_and_seeds_fail_clearly() {
    let out = Command::new(BIN).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--seed FILE is required"));
    let cases = [
        (
            "org: {id: 00D000000000001EAA, kind: production, colour: blue}",
            "unknown field `colour`",
        ),
        (
            "org: {id: 00D000000000001EAA, kind: staging}",
            "unknown variant `staging`",
        ),
        (
            "org: {id: 001000000000001AAA, kind: production}",
            "org.id must be",
        ),
        (
            "org: {id: 00D000000000001EAA, kind: production}\nsettings: {max_exp: 3}",
            "unknown field `max_exp`",
        ),
        (
            "org: {id: 00D000000000001EAA, kind: production}\napps: [{consumer_key: k, kind: external_client_app, certificate: nope}]",
            "app k: not a",
        ),
        (
            "org: {id: 00D000000000001EAA, kind: production}\nobjects: {Account: {generator: {count: 1, fields: {Name: {kind: text, template: x, width: 3}}}}}",
            "unknown field `width`",
        ),
    ];
    for (seed, want) in cases {
        let p = write_seed(seed);
        let out = Command::new(BIN)
            .arg("--seed")
            .arg(&p)
            .arg("--check")
            .output()
            .expect("run");
        let _ = std::fs::remove_file(&p);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{seed}: {err}");
        assert!(err.contains(want), "{seed}: {err}");
    }
}

#[tokio::test]
async fn serves_then_exits_zero_on_sigterm() {
    let text = std::fs::read_to_string(demo_seed()).expect("demo seed");
    let p = write_seed(&text);
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--seed"])
        .arg(&p)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("line");
    let _ = std::fs::remove_file(&p);
    let base = line.trim();
    assert!(base.starts_with("http://127.0.0.1:"), "{line:?}");
    let r = reqwest::get(format!("{base}/services/data"))
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 200);
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
}

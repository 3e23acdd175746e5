//! Two `apply` runs of the same config started together converge: one secret with one key, one
//! role, one job, and nothing left for a third run to do.
//!
//! Each round uses a fresh config name. `SFGLUE_CONCURRENCY_ROUNDS` sets the number of rounds
//! (default 3; the release check runs 20).

mod common;
use common::{World, block_on};

fn config(name: &str) -> String {
    format!(
        "version: 1
name: {name}
salesforce:
  login_url: https://acme.my.salesforce.com
  username: integration@acme.example
glue:
  script_bucket: {name}-scripts
  output: s3://{name}-data/sf/
  schedule: cron(0 3 * * ? *)
queries:
  - name: accounts
    soql: SELECT Id FROM Account
"
    )
}

#[test]
fn two_applies_at_once_converge_on_one_key() {
    let rounds: usize = std::env::var("SFGLUE_CONCURRENCY_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .clamp(1, 50);
    let w = World::aws_only();
    let c = w.clients();
    for round in 0..rounds {
        let name = format!("race{round}");
        let file = format!("{name}.yaml");
        w.write_config(&file, &config(&name));
        let a = w.spawn_sfglue(&["--config", &file, "apply", "--yes"]);
        let b = w.spawn_sfglue(&["--config", &file, "apply", "--yes"]);
        let (ra, rb) = (w.wait(a), w.wait(b));
        for r in [&ra, &rb] {
            assert_eq!(
                r.code, 3,
                "round {round}: both runs end waiting for Salesforce:\n{}",
                r.stderr
            );
            assert!(!r.stderr.contains("panicked"));
        }
        // One key: both runs report the same certificate.
        let fp = |out: &str| {
            out.lines()
                .find(|l| l.starts_with("certificate "))
                .and_then(|l| l.split("SHA-256 ").nth(1))
                .map(|s| s.split_whitespace().next().unwrap_or("").to_string())
                .unwrap_or_default()
        };
        assert!(!fp(&ra.stdout).is_empty(), "{}", ra.stdout);
        assert_eq!(fp(&ra.stdout), fp(&rb.stdout), "round {round}: two keys");
        block_on(async {
            let versions = c
                .secrets
                .list_secret_version_ids()
                .secret_id(format!("{name}/salesforce-jwt"))
                .send()
                .await
                .unwrap();
            assert_eq!(
                versions.versions().len(),
                1,
                "round {round}: secret versions"
            );
            let jobs = c.glue.get_jobs().send().await.unwrap();
            let ours = jobs
                .jobs()
                .iter()
                .filter(|j| j.name() == Some(&format!("{name}-extract")))
                .count();
            assert_eq!(ours, 1);
        });
        let cert = std::fs::read_to_string(w.path("sfglue-out/salesforce-jwt.crt")).unwrap();
        let on_disk = sfglue::crypto::certificate_info(&cert).unwrap().sha256;
        assert_eq!(
            on_disk,
            fp(&ra.stdout),
            "round {round}: the certificate on disk is the kept key's"
        );
        w.reset_aws_requests();
        let third = w.sfglue(&["--config", &file, "apply", "--yes"]);
        assert_eq!(third.code, 3);
        assert_eq!(
            w.aws_requests()["writes"],
            0,
            "round {round}: not converged"
        );
    }
}

//! sfglue as an infrastructure tool: plan before apply, confirmation, converging after a failure
//! at any write, ownership (conflicts and --adopt), destroy, and several environments in one
//! config. Everything runs on the AWS emulator; no consumer key, so apply ends with exit code 3.

mod common;
use common::{World, block_on};
use serde_json::Value;

fn config(name: &str, extra_glue: &str) -> String {
    format!(
        "version: 1
name: {name}
aws:
  region: us-east-1
salesforce:
  login_url: https://acme.my.salesforce.com
  username: integration@acme.example
glue:
  script_bucket: {name}-scripts
  output: s3://{name}-data/sf/
{extra_glue}queries:
  - name: accounts
    soql: SELECT Id, Name FROM Account
"
    )
}

fn actions(doc: &Value) -> Vec<(String, String)> {
    doc["result"]["changes"]
        .as_array()
        .unwrap_or_else(|| panic!("no changes in {doc}"))
        .iter()
        .map(|c| {
            (
                c["resource"].as_str().unwrap().to_string(),
                c["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn writes(w: &World) -> Vec<String> {
    w.aws_requests()["write_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn plan_then_apply_then_plan_shows_nothing_and_a_change_shows_only_its_fields() {
    let w = World::aws_only();
    w.write_config("sfglue.yaml", &config("prov", ""));

    w.reset_aws_requests();
    let (code, plan) = w.sfglue_json(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 4, "changes pending: {plan}");
    let acts = actions(&plan);
    assert_eq!(acts.len(), 7, "{acts:?}");
    assert!(acts.iter().all(|(_, a)| a == "create"), "{acts:?}");
    assert!(writes(&w).is_empty(), "plan wrote: {:?}", writes(&w));

    // No terminal, no --yes: refused before any write.
    let run = w.sfglue(&["apply"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert!(writes(&w).is_empty());

    let (code, _) = w.sfglue_json(&["apply", "--yes"]);
    assert_eq!(code, 3);
    let (code, plan) = w.sfglue_json(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{plan}");
    assert!(actions(&plan).iter().all(|(_, a)| a == "unchanged"));
    assert_eq!(plan["result"]["has_changes"], false);

    // A config change: plan names exactly the changed fields, apply writes only those.
    w.write_config(
        "sfglue.yaml",
        &config(
            "prov",
            "  timeout_minutes: 45\n  schedule: cron(0 2 * * ? *)\n",
        ),
    );
    let (code, plan) = w.sfglue_json(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 4);
    let changed: Vec<&Value> = plan["result"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "unchanged")
        .collect();
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert_eq!(changed[0]["resource"], "job");
    assert_eq!(changed[0]["fields"], serde_json::json!(["timeout"]));
    assert_eq!(changed[1]["resource"], "trigger");
    assert_eq!(changed[1]["action"], "create");
    w.reset_aws_requests();
    let (code, _) = w.sfglue_json(&["apply", "--yes"]);
    assert_eq!(code, 3);
    assert_eq!(writes(&w), vec!["glue:UpdateJob", "glue:CreateTrigger"]);
    let job = block_on(w.clients().glue.get_job().job_name("prov-extract").send()).unwrap();
    assert_eq!(job.job().unwrap().timeout(), Some(45));
    let (code, _) = w.sfglue_json(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0);

    // Removing the schedule deletes sfglue's trigger.
    w.write_config("sfglue.yaml", &config("prov", "  timeout_minutes: 45\n"));
    w.reset_aws_requests();
    assert_eq!(w.sfglue(&["apply", "--yes"]).code, 3);
    assert_eq!(writes(&w), vec!["glue:DeleteTrigger"]);
}

#[test]
fn job_fields_sfglue_does_not_manage_survive_an_update() {
    let w = World::aws_only();
    w.write_config("sfglue.yaml", &config("keep", ""));
    assert_eq!(w.sfglue(&["apply", "--yes"]).code, 3);
    // Someone adds an argument and a notification setting by hand.
    let c = w.clients();
    block_on(async {
        let job = c
            .glue
            .get_job()
            .job_name("keep-extract")
            .send()
            .await
            .unwrap();
        let j = job.job().unwrap();
        let mut args = j.default_arguments().cloned().unwrap_or_default();
        args.insert("--enable-metrics".into(), "true".into());
        let update = aws_sdk_glue::types::JobUpdate::builder()
            .role(j.role().unwrap())
            .set_command(j.command().cloned())
            .set_default_arguments(Some(args))
            .set_max_capacity(j.max_capacity())
            .set_timeout(j.timeout())
            .set_description(j.description().map(str::to_string))
            .notification_property(
                aws_sdk_glue::types::NotificationProperty::builder()
                    .notify_delay_after(7)
                    .build(),
            )
            .build();
        c.glue
            .update_job()
            .job_name("keep-extract")
            .job_update(update)
            .send()
            .await
            .unwrap();
    });
    w.write_config("sfglue.yaml", &config("keep", "  max_retries: 2\n"));
    assert_eq!(w.sfglue(&["apply", "--yes"]).code, 3);
    let job = block_on(c.glue.get_job().job_name("keep-extract").send()).unwrap();
    let j = job.job().unwrap();
    assert_eq!(j.max_retries(), 2);
    assert_eq!(j.default_arguments().unwrap()["--enable-metrics"], "true");
    assert_eq!(
        j.notification_property()
            .and_then(|n| n.notify_delay_after()),
        Some(7)
    );
    assert!(j.default_arguments().unwrap().contains_key("--secret_id"));
}

#[test]
fn a_same_named_foreign_role_is_a_conflict_until_adopted() {
    let w = World::aws_only();
    let c = w.clients();
    let lambda_trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    block_on(
        c.iam
            .create_role()
            .role_name("own-glue")
            .assume_role_policy_document(lambda_trust)
            .send(),
    )
    .unwrap();
    w.write_config("sfglue.yaml", &config("own", ""));

    let (code, plan) = w.sfglue_json(&["plan"]);
    assert_eq!(code, 0);
    assert_eq!(
        plan["result"]["conflicts"], 2,
        "role and its policy: {plan}"
    );
    let role = plan["result"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["resource"] == "role")
        .unwrap()
        .clone();
    assert_eq!(role["action"], "conflict");
    assert!(role["reason"].as_str().unwrap().contains("--adopt"));

    w.reset_aws_requests();
    let run = w.sfglue(&["apply", "--yes"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("not manage"), "{}", run.stderr);
    assert!(run.stderr.contains("--adopt"), "{}", run.stderr);
    assert!(
        writes(&w).is_empty(),
        "a conflict must stop every write: {:?}",
        writes(&w)
    );
    let role = block_on(c.iam.get_role().role_name("own-glue").send()).unwrap();
    assert!(role.role().unwrap().tags().is_empty());

    let run = w.sfglue(&["apply", "--yes", "--adopt"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let role = block_on(c.iam.get_role().role_name("own-glue").send()).unwrap();
    let r = role.role().unwrap();
    assert!(
        r.tags()
            .iter()
            .any(|t| t.key() == "managed-by" && t.value() == "sfglue")
    );
    let trust = percent_encoding::percent_decode_str(r.assume_role_policy_document().unwrap())
        .decode_utf8_lossy()
        .to_string();
    assert!(trust.contains("glue.amazonaws.com"), "{trust}");
    let (_, plan) = w.sfglue_json(&["plan"]);
    assert_eq!(plan["result"]["conflicts"], 0);
    assert_eq!(plan["result"]["has_changes"], false);
}

#[test]
fn destroy_removes_what_sfglue_made_and_leaves_the_rest() {
    let w = World::aws_only();
    let c = w.clients();
    // The output bucket is someone else's, with data in it.
    block_on(async {
        c.s3.create_bucket()
            .bucket("gone-data")
            .send()
            .await
            .unwrap();
        c.s3.put_object()
            .bucket("gone-data")
            .key("theirs.txt")
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    });
    w.write_config("sfglue.yaml", &config("gone", ""));
    assert_eq!(w.sfglue(&["apply", "--yes"]).code, 3);

    let run = w.sfglue(&["destroy"]);
    assert_eq!(run.code, 2, "no terminal, no --yes: {}", run.stderr);

    let (code, doc) = w.sfglue_json(&["destroy", "--yes", "--force-delete-secret"]);
    assert_eq!(code, 0, "{doc}");
    let deleted: Vec<String> = doc["result"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "delete")
        .map(|c| c["resource"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        deleted,
        ["job", "role_policy", "role", "script", "secret", "bucket"]
    );

    block_on(async {
        assert!(
            c.iam
                .get_role()
                .role_name("gone-glue")
                .send()
                .await
                .is_err()
        );
        assert!(
            c.glue
                .get_job()
                .job_name("gone-extract")
                .send()
                .await
                .is_err()
        );
        assert!(
            c.s3.head_bucket()
                .bucket("gone-scripts")
                .send()
                .await
                .is_err()
        );
        let secrets = c.secrets.list_secrets().send().await.unwrap();
        assert!(secrets.secret_list().is_empty(), "{secrets:?}");
        // The foreign bucket and its data stay.
        c.s3.head_object()
            .bucket("gone-data")
            .key("theirs.txt")
            .send()
            .await
            .unwrap();
    });
    // As before the first apply: every sfglue resource would be created again.
    let (_, plan) = w.sfglue_json(&["plan"]);
    for (res, act) in actions(&plan) {
        let expected = if res == "bucket" && act == "unchanged" {
            "unchanged"
        } else {
            "create"
        };
        assert_eq!(act, expected, "{res}");
    }
    let (code, again) = w.sfglue_json(&["destroy", "--yes"]);
    assert_eq!(code, 0);
    assert_eq!(again["result"]["deleted"], 0);
}

#[test]
fn three_environments_plan_and_apply_independently() {
    let w = World::aws_only();
    let text = "version: 1
aws:
  region: us-east-1
salesforce:
  username: integration@acme.example
queries:
  - name: accounts
    soql: SELECT Id FROM Account
environments:
  dev:
    name: acme-dev
    salesforce:
      login_url: https://acme--dev.sandbox.my.salesforce.com
    glue:
      script_bucket: acme-dev-scripts
      output: s3://acme-dev-data/sf/
  uat:
    name: acme-uat
    salesforce:
      login_url: https://acme--uat.sandbox.my.salesforce.com
    glue:
      script_bucket: acme-uat-scripts
      output: s3://acme-uat-data/sf/
  prod:
    name: acme-prod
    aws:
      region: eu-west-1
    salesforce:
      login_url: https://acme.my.salesforce.com
    glue:
      script_bucket: acme-prod-scripts
      output: s3://acme-prod-data/sf/
";
    w.write_config("sfglue.yaml", text);
    let state = |w: &World| -> Vec<(String, bool)> {
        let (code, doc) = w.sfglue_json(&["plan", "--all-envs"]);
        assert_eq!(code, 0, "{doc}");
        doc["result"]["environments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["environment"].as_str().unwrap().to_string(),
                    e["has_changes"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    let pending = |v: Vec<(String, bool)>| -> Vec<String> {
        v.into_iter().filter(|(_, p)| *p).map(|(e, _)| e).collect()
    };
    assert_eq!(pending(state(&w)), ["dev", "prod", "uat"]);

    let run = w.sfglue(&["apply", "--yes"]);
    assert_eq!(run.code, 2, "an env must be chosen: {}", run.stderr);
    assert!(run.stderr.contains("--env"), "{}", run.stderr);

    assert_eq!(w.sfglue(&["--env", "dev", "apply", "--yes"]).code, 3);
    assert_eq!(pending(state(&w)), ["prod", "uat"]);
    let (code, doc) = w.sfglue_json(&["--env", "prod", "apply", "--yes"]);
    assert_eq!(code, 3);
    assert_eq!(doc["result"]["identity"]["region"], "eu-west-1");
    assert_eq!(doc["result"]["environment"], "prod");
    assert_eq!(pending(state(&w)), ["uat"]);
    // Each environment has its own secret, with its own audience.
    let dev: Value = serde_json::from_str(&w.secret_string("acme-dev/salesforce-jwt")).unwrap();
    assert_eq!(dev["audience"], "https://test.salesforce.com");
}

#[test]
fn a_failure_at_each_write_step_converges_on_the_next_run() {
    let w = World::aws_only();
    let steps = [
        "CreateSecret",
        "CreateBucket",
        "PutBucketTagging",
        "PutPublicAccessBlock",
        "PutBucketEncryption",
        "PutObject",
        "CreateRole",
        "PutRolePolicy",
        "CreateJob",
    ];
    let c = w.clients();
    for (i, op) in steps.iter().enumerate() {
        let name = format!("fault{i}");
        let file = format!("{name}.yaml");
        w.write_config(&file, &config(&name, ""));
        // More failures than the SDK's retries: the run fails at this step.
        w.inject_fault(op, "500", 10);
        let run = w.sfglue(&["--config", &file, "apply", "--yes"]);
        assert_eq!(run.code, 1, "{op}: {}", run.stderr);
        assert!(run.stderr.contains(op), "{op}: {}", run.stderr);
        w.clear_faults();

        let run = w.sfglue(&["--config", &file, "apply", "--yes"]);
        assert_eq!(run.code, 3, "{op}: re-run did not converge: {}", run.stderr);
        w.reset_aws_requests();
        let run = w.sfglue(&["--config", &file, "apply", "--yes"]);
        assert_eq!(run.code, 3);
        assert!(
            writes(&w).is_empty(),
            "{op}: not converged: {:?}",
            writes(&w)
        );

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
                "{op}: duplicate secret versions"
            );
            for bucket in [format!("{name}-scripts"), format!("{name}-data")] {
                let pab = c.s3.get_public_access_block().bucket(&bucket).send().await;
                assert!(
                    pab.is_ok(),
                    "{op}: {bucket} left without a public access block"
                );
                let enc = c.s3.get_bucket_encryption().bucket(&bucket).send().await;
                assert!(enc.is_ok(), "{op}: {bucket} left unencrypted");
            }
        });
    }
    // A transient error that clears within the SDK's retries costs nothing but time.
    w.write_config("t.yaml", &config("transient", ""));
    w.inject_fault("CreateRole", "throttle", 1);
    assert_eq!(w.sfglue(&["--config", "t.yaml", "apply", "--yes"]).code, 3);
}

#[test]
fn policy_names_only_this_configs_resources() {
    let w = World::aws_only();
    w.write_config("sfglue.yaml", &config("pol", ""));
    let (code, before) = w.sfglue_json(&["policy"]);
    assert_eq!(code, 0);
    let pattern = before["result"]["inline_policy"]["Statement"][0]["Resource"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        pattern.ends_with(":secret:pol/salesforce-jwt-??????"),
        "{pattern}"
    );
    assert_eq!(w.sfglue(&["apply", "--yes"]).code, 3);
    let (_, after) = w.sfglue_json(&["policy"]);
    let resources: Vec<String> = after["result"]["inline_policy"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Resource"].as_str().unwrap().to_string())
        .collect();
    let secret_arn = block_on(
        w.clients()
            .secrets
            .describe_secret()
            .secret_id("pol/salesforce-jwt")
            .send(),
    )
    .unwrap()
    .arn()
    .unwrap()
    .to_string();
    assert_eq!(
        resources,
        [
            secret_arn,
            "arn:aws:s3:::pol-scripts/sfglue/scripts/pol/sfglue_extract.py".to_string(),
            "arn:aws:s3:::pol-data/sf/*".to_string(),
            "arn:aws:s3:::pol-data".to_string(),
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws-glue/*".to_string(),
        ]
    );
    // And it is the document on the role.
    let on_role = block_on(
        w.clients()
            .iam
            .get_role_policy()
            .role_name("pol-glue")
            .policy_name("sfglue-least-privilege")
            .send(),
    )
    .unwrap();
    let doc: Value = serde_json::from_str(
        &percent_encoding::percent_decode_str(on_role.policy_document()).decode_utf8_lossy(),
    )
    .unwrap();
    assert_eq!(doc, after["result"]["inline_policy"]);
}

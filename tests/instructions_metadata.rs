//! `sfglue instructions [--metadata DIR]` after an `apply` on the AWS emulator (no consumer key
//! yet: exit code 3): the setup steps and the certificate of the stored key, and the External
//! Client App as a Salesforce source-format project.

mod common;
use common::World;
use serde_json::Value;

const CONFIG: &str = "version: 1
name: meta-dev
aws:
  region: us-east-1
salesforce:
  login_url: https://acme.my.salesforce.com
  username: integration@acme.example
  app:
    label: Meta & Co
    contact_email: ops@acme.example
    preauthorized_profiles: [Integration Profile]
glue:
  script_bucket: meta-scripts
  output: s3://meta-data/sf/
queries:
  - name: accounts
    soql: SELECT Id, Name FROM Account
";

const APP: &str = "Meta_Dev_Glue_Job";

fn json(w: &World, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--config", "sfglue.yaml", "--output", "json"];
    all.extend_from_slice(args);
    let run = w.sfglue(&all);
    let doc: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", run.stdout, run.stderr));
    (run.code, doc)
}

#[test]
fn instructions_write_the_steps_and_a_deployable_app_for_the_stored_certificate() {
    let w = World::aws_only();
    w.write_config("sfglue.yaml", CONFIG);

    // Before apply there is no secret, hence no certificate.
    let (code, doc) = json(&w, &["instructions"]);
    assert_eq!(code, 1, "{doc}");
    assert_eq!(doc["error"]["code"], "secret.missing");
    assert!(
        doc["error"]["fix"]
            .as_str()
            .unwrap()
            .contains("sfglue apply")
    );

    let (code, applied) = json(&w, &["apply", "--yes"]);
    assert_eq!(code, 3, "{applied}");
    let sha = applied["result"]["certificate"]["sha256"].clone();

    // The steps are rewritten from the secret, identical to apply's.
    std::fs::remove_file(w.path("sfglue-out/SALESFORCE_SETUP.md")).unwrap();
    let (code, doc) = json(&w, &["instructions", "--metadata", "sf-app"]);
    assert_eq!(code, 0, "{doc}");
    let r = &doc["result"];
    assert_eq!(doc["command"], "instructions");
    assert_eq!(r["certificate"]["sha256"], sha);
    assert_eq!(r["secret_version"], applied["result"]["secret_version"]);
    assert_eq!(r["setup_steps"]["changed"], true);
    let steps = std::fs::read_to_string(w.path("sfglue-out/SALESFORCE_SETUP.md")).unwrap();
    assert!(steps.contains("**Integration Profile**"), "{steps}");
    let cert = std::fs::read_to_string(w.path("sfglue-out/salesforce-jwt.crt")).unwrap();

    let m = &r["metadata"];
    assert_eq!(m["app"], APP);
    assert_eq!(m["changed"], true);
    let files = m["files"].as_array().unwrap();
    assert_eq!(files.len(), 6, "{m}");
    assert!(files.iter().all(|f| f["action"] == "created"), "{m}");

    let dir = w.path("sf-app");
    let read =
        |rel: &str| std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let root = "force-app/main/default";
    let eca = read(&format!("{root}/externalClientApps/{APP}.eca-meta.xml"));
    assert!(eca.contains("<label>Meta &amp; Co</label>"), "{eca}");
    assert!(eca.contains("<contactEmail>ops@acme.example</contactEmail>"));
    let oauth = read(&format!(
        "{root}/extlClntAppOauthSettings/{APP}.ecaOauth-meta.xml"
    ));
    assert!(
        oauth.contains("<commaSeparatedOauthScopes>Api,RefreshToken</commaSeparatedOauthScopes>")
    );
    let global = read(&format!(
        "{root}/extlClntAppGlobalOauthSets/{APP}.ecaGlblOauth-meta.xml"
    ));
    assert!(
        global.contains(&format!("<certificate>{}</certificate>", cert.trim())),
        "{global}"
    );
    assert!(global.contains(
        "<callbackUrl>https://acme.my.salesforce.com/services/oauth2/callback</callbackUrl>"
    ));
    assert!(!global.contains("consumerSecret") && !global.contains("consumerKey"));
    let policies = read(&format!(
        "{root}/extlClntAppOauthPolicies/{APP}.ecaOauthPlcy-meta.xml"
    ));
    assert!(
        policies.contains("<commaSeparatedProfile>Integration Profile</commaSeparatedProfile>")
    );
    assert!(policies.contains(
        "<permittedUsersPolicyType>AdminApprovedPreAuthorized</permittedUsersPolicyType>"
    ));
    let project: Value = serde_json::from_str(&read("sfdx-project.json")).unwrap();
    assert_eq!(project["packageDirectories"][0]["path"], "force-app");
    let readme = read("README.md");
    assert!(readme.contains("sf project deploy start --source-dir force-app --target-org <alias>"));
    assert!(readme.contains(sha.as_str().unwrap()));

    // Nothing sfglue wrote or printed holds the key.
    let secret: Value = serde_json::from_str(&w.secret_string("meta-dev/salesforce-jwt")).unwrap();
    let key = secret["private_key_pem"].as_str().unwrap().to_string();
    let mut written = String::new();
    for f in files {
        // Paths are as given on the command line: relative to sfglue's working directory.
        let path = w.dir.path().join(f["path"].as_str().unwrap());
        written.push_str(&std::fs::read_to_string(path).unwrap());
    }
    common::assert_no_secrets(&written, Some(&key));
    common::assert_no_secrets(&w.transcript.borrow(), Some(&key));

    // A second run rewrites nothing.
    let again = w.sfglue(&[
        "--config",
        "sfglue.yaml",
        "instructions",
        "--metadata",
        "sf-app",
    ]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let lines: Vec<&str> = again
        .stdout
        .lines()
        .filter(|l| l.starts_with("metadata "))
        .collect();
    assert_eq!(lines.len(), 6, "{}", again.stdout);
    assert!(
        lines.iter().all(|l| l.contains("unchanged")),
        "{}",
        again.stdout
    );
    assert!(
        again.stdout.contains("setup steps    unchanged"),
        "{}",
        again.stdout
    );
}

#[test]
fn instructions_refuse_what_they_cannot_write_safely() {
    let w = World::aws_only();
    // No contact email: a config error naming the key, before any AWS call.
    w.write_config(
        "sfglue.yaml",
        &CONFIG.replace("    contact_email: ops@acme.example\n", ""),
    );
    let run = w.sfglue(&[
        "--config",
        "sfglue.yaml",
        "instructions",
        "--metadata",
        "sf-app",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("`salesforce.app.contact_email`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("fix:"), "{}", run.stderr);
    assert!(!w.path("sf-app").exists());

    // A folder that is not sfglue's is not touched.
    w.write_config("sfglue.yaml", CONFIG);
    let (code, _) = json(&w, &["apply", "--yes"]);
    assert_eq!(code, 3);
    std::fs::create_dir(w.path("theirs")).unwrap();
    std::fs::write(w.path("theirs/sfdx-project.json"), "{}").unwrap();
    let (code, doc) = json(&w, &["instructions", "--metadata", "theirs"]);
    assert_eq!(code, 2, "{doc}");
    assert_eq!(doc["error"]["code"], "metadata.dir_not_ours");
    assert_eq!(
        std::fs::read_to_string(w.path("theirs/sfdx-project.json")).unwrap(),
        "{}"
    );
}

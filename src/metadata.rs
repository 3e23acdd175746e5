//! The Salesforce side as code: a source-format project with the External Client App the job
//! signs in with, deployable with `sf project deploy start`.
//!
//! [`build`] is pure: from the [`Config`] and the public certificate it makes the list of files
//! (path relative to the project folder → content): `sfdx-project.json`, a `README.md` saying how
//! to deploy, and under `force-app/main/default/` the four Metadata API types of a JWT app
//! (`ExternalClientApplication`, `ExtlClntAppOauthSettings`, `ExtlClntAppGlobalOauthSettings`,
//! `ExtlClntAppOauthConfigurablePolicies`). They carry only public data: the certificate, never
//! a private key, consumer key or consumer secret. [`write_dir`] puts them on disk without
//! clobbering a folder that is not an earlier sfglue metadata folder.

use crate::config::{Config, DEFAULT_API_VERSION};
use crate::crypto::CertificateInfo;
use crate::error::{Failure, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const README_TEMPLATE: &str = include_str!("../templates/metadata-readme.md.j2");

/// Records, in the project folder, which files sfglue wrote there.
pub const MARKER_FILE: &str = ".sfglue-metadata.json";
const MARKER_SCHEMA: &str = "sfglue.metadata/v1";
pub const PROJECT_FILE: &str = "sfdx-project.json";
pub const README_FILE: &str = "README.md";
/// The package directory of the project, as `sf project deploy start --source-dir` takes it.
pub const SOURCE_DIR: &str = "force-app";
const SOURCE_ROOT: &str = "force-app/main/default";

/// `api` (Manage user data via APIs) and `refresh_token, offline_access` (Perform requests at any
/// time): the JWT flow's approvals are tied to the refresh-token scope.
pub const OAUTH_SCOPES: &str = "Api,RefreshToken";

const XMLNS: &str = "http://soap.sforce.com/2006/04/metadata";

/// The folders and file suffixes of the four types (source-deploy-retrieve's registry).
const ECA: (&str, &str) = ("externalClientApps", "eca");
const OAUTH: (&str, &str) = ("extlClntAppOauthSettings", "ecaOauth");
const GLOBAL_OAUTH: (&str, &str) = ("extlClntAppGlobalOauthSets", "ecaGlblOauth");
const POLICIES: (&str, &str) = ("extlClntAppOauthPolicies", "ecaOauthPlcy");
const TYPE_FOLDERS: [(&str, &str); 4] = [ECA, OAUTH, GLOBAL_OAUTH, POLICIES];

/// One file of the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataFile {
    /// Relative to the project folder, `/`-separated.
    pub path: String,
    pub content: String,
}

/// The source-format path of the app's file of one type.
fn type_path((folder, suffix): (&str, &str), api_name: &str) -> String {
    format!("{SOURCE_ROOT}/{folder}/{api_name}.{suffix}-meta.xml")
}

/// Makes the project's files. Fails (config class) when the config lacks what Salesforce
/// requires of an app: a contact email.
pub fn build(
    config: &Config,
    certificate_pem: &str,
    info: &CertificateInfo,
) -> Result<Vec<MetadataFile>> {
    let app = &config.salesforce.app;
    let contact_email = require_contact_email(config)?;
    let certificate = certificate_pem.trim();
    // The secret document holds the key next to the certificate: make sure only the certificate
    // came here.
    if !certificate.starts_with("-----BEGIN CERTIFICATE-----") || certificate.contains("PRIVATE") {
        return Err(Failure::runtime(
            "metadata.not_a_certificate",
            "the stored certificate is not a single PEM certificate",
        )
        .with_fix("run `sfglue verify` to check the secret"));
    }
    let api = &app.api_name;
    let label = &app.label;
    let description = format!(
        "The AWS Glue job {} signs in with the OAuth 2.0 JWT bearer flow (set up by sfglue).",
        config.glue.job_name
    );

    let eca = element(
        "ExternalClientApplication",
        &[
            ("contactEmail", contact_email),
            ("description", &description),
            ("distributionState", "Local"),
            ("isProtected", "false"),
            ("label", label),
        ],
    );
    let oauth = element(
        "ExtlClntAppOauthSettings",
        &[
            ("commaSeparatedOauthScopes", OAUTH_SCOPES),
            ("externalClientApplication", api),
            ("label", &format!("{label} OAuth")),
        ],
    );
    // The certificate as PEM text, header lines included: Salesforce documents the field as
    // "the PEM-encoded certificate string" (API 60.0+). The accepted encodings are not documented
    // precisely (bare base64 DER is what connected apps return); the folder's README says what to
    // do if a deploy rejects it. No consumerKey or consumerSecret: Salesforce makes the key, and
    // the job never needs a secret.
    let global = element(
        "ExtlClntAppGlobalOauthSettings",
        &[
            ("callbackUrl", &app.callback_url),
            ("certificate", certificate),
            ("externalClientApplication", api),
            ("isConsumerSecretOptional", "true"),
            ("label", &format!("{label} Global OAuth")),
        ],
    );
    let permission_sets = app.preauthorized_permission_sets.join(",");
    let profiles = app.preauthorized_profiles.join(",");
    let mut policy_fields: Vec<(&str, &str)> = Vec::new();
    if !permission_sets.is_empty() {
        policy_fields.push(("commaSeparatedPermissionSet", &permission_sets));
    }
    if !profiles.is_empty() {
        policy_fields.push(("commaSeparatedProfile", &profiles));
    }
    let policies_label = format!("{label} Policies");
    policy_fields.extend([
        ("externalClientApplication", api.as_str()),
        ("ipRelaxationPolicyType", app.ip_relaxation.metadata_value()),
        ("label", &policies_label),
        ("permittedUsersPolicyType", "AdminApprovedPreAuthorized"),
    ]);
    let policies = element("ExtlClntAppOauthConfigurablePolicies", &policy_fields);

    Ok(vec![
        MetadataFile {
            path: PROJECT_FILE.to_string(),
            content: project_json(config),
        },
        MetadataFile {
            path: README_FILE.to_string(),
            content: readme(config, contact_email, info)?,
        },
        MetadataFile {
            path: type_path(ECA, api),
            content: eca,
        },
        MetadataFile {
            path: type_path(OAUTH, api),
            content: oauth,
        },
        MetadataFile {
            path: type_path(GLOBAL_OAUTH, api),
            content: global,
        },
        MetadataFile {
            path: type_path(POLICIES, api),
            content: policies,
        },
    ])
}

/// The app's contact email, or the config-class failure that names the key and the fix.
pub fn require_contact_email(config: &Config) -> Result<&str> {
    config.salesforce.app.contact_email.as_deref().ok_or_else(|| {
        let env = config
            .env
            .as_deref()
            .map(|e| format!(" (environment {e})"))
            .unwrap_or_default();
        Failure::config(
            "config.missing_field",
            format!(
                "{}: `salesforce.app.contact_email`{env} is required to write Salesforce metadata but not set",
                config.path.display()
            ),
        )
        .with_fix(
            "add `salesforce.app.contact_email: ops@example.com` (Salesforce requires a contact for every External Client App)",
        )
    })
}

/// One Metadata API document: the root element with one child per field, in the order given
/// (alphabetical, as Salesforce retrieves them). Every value is XML-escaped.
fn element(root: &str, fields: &[(&str, &str)]) -> String {
    let mut out =
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} xmlns=\"{XMLNS}\">\n");
    for (name, value) in fields {
        out.push_str(&format!("    <{name}>{}</{name}>\n", xml_escape(value)));
    }
    out.push_str(&format!("</{root}>\n"));
    out
}

/// Escapes text for an XML element or attribute.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `sourceApiVersion` is the config's API version, but at least 62.0 (the types need 60.0 or
/// later; 62.0 is the version they were checked against).
fn project_json(config: &Config) -> String {
    let version = |v: &str| {
        v.split_once('.')
            .and_then(|(major, _)| major.parse::<u32>().ok())
            .unwrap_or(0)
    };
    let api_version = if version(&config.salesforce.api_version) >= version(DEFAULT_API_VERSION) {
        config.salesforce.api_version.clone()
    } else {
        DEFAULT_API_VERSION.to_string()
    };
    let doc = serde_json::json!({
        "packageDirectories": [{ "path": SOURCE_DIR, "default": true }],
        "name": format!("{}-salesforce", config.name),
        "namespace": "",
        "sourceApiVersion": api_version,
    });
    // Serialising a JSON value cannot fail.
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

fn readme(config: &Config, contact_email: &str, info: &CertificateInfo) -> Result<String> {
    let app = &config.salesforce.app;
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    let fail = |e: minijinja::Error| Failure::runtime("template", format!("metadata README: {e}"));
    env.add_template("readme", README_TEMPLATE).map_err(fail)?;
    let tmpl = env.get_template("readme").map_err(fail)?;
    tmpl.render(minijinja::context! {
        name => &config.name,
        api_name => &app.api_name,
        label => &app.label,
        contact_email => contact_email,
        scopes => OAUTH_SCOPES,
        callback_url => &app.callback_url,
        ip_relaxation => app.ip_relaxation.metadata_value(),
        profiles => &app.preauthorized_profiles,
        permission_sets => &app.preauthorized_permission_sets,
        username => &config.salesforce.username,
        job_name => &config.glue.job_name,
        secret_name => &config.secret.name,
        subject => &info.subject,
        fingerprint => &info.sha256,
        not_after => &info.not_after,
        certificate_path => config
            .output_dir
            .join(crate::instructions::CERTIFICATE_FILE)
            .display()
            .to_string(),
        config_path => config.path.display().to_string(),
    })
    // The template engine drops the file's last newline.
    .map(|text| text + "\n")
    .map_err(fail)
}

// ---------------------------------------------------------------------------------------------
// Writing the folder.

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileAction {
    Created,
    Updated,
    Unchanged,
    /// An earlier run's file that this run does not write (the app's API name changed).
    Removed,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileOutcome {
    pub path: PathBuf,
    pub action: FileAction,
}

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    schema: String,
    files: Vec<String>,
}

/// Checks that `dir` may be written: missing, empty, or an earlier sfglue metadata folder.
/// Returns the files an earlier run recorded. Reads only.
pub fn check_dir(dir: &Path) -> Result<Vec<String>> {
    let shown = dir.display();
    let refuse = |problem: String| {
        Failure::config("metadata.dir_not_ours", problem).with_fix(
            "choose a new or empty folder for --metadata, or one an earlier `sfglue instructions --metadata` wrote",
        )
    };
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_failure(dir, &e)),
        Ok(m) if !m.is_dir() => return Err(refuse(format!("{shown} is not a folder"))),
        Ok(_) => {}
    }
    let marker = dir.join(MARKER_FILE);
    match std::fs::read_to_string(&marker) {
        Ok(text) => match serde_json::from_str::<Marker>(&text) {
            Ok(m) if m.schema == MARKER_SCHEMA => Ok(m.files),
            _ => Err(refuse(format!(
                "{} is not an sfglue metadata record",
                marker.display()
            ))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut entries = std::fs::read_dir(dir).map_err(|e| io_failure(dir, &e))?;
            if entries.next().is_some() {
                Err(refuse(format!(
                    "{shown} is not empty and is not an sfglue metadata folder (it has no {MARKER_FILE}); sfglue does not overwrite it"
                )))
            } else {
                Ok(Vec::new())
            }
        }
        Err(e) => Err(io_failure(&marker, &e)),
    }
}

/// Writes the files into `dir`, rewriting only those whose content changed, and removes the
/// files an earlier run wrote that this one does not (after [`check_dir`]'s checks).
pub fn write_dir(dir: &Path, files: &[MetadataFile]) -> Result<Vec<FileOutcome>> {
    let earlier = check_dir(dir)?;
    let current: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
    let stale: Vec<&String> = earlier
        .iter()
        .filter(|p| !current.contains(p) && is_removable(p))
        .collect();
    std::fs::create_dir_all(dir).map_err(|e| io_failure(dir, &e))?;
    // The record goes first and names every file this run may leave behind, so that a run that
    // fails half-way still leaves a folder the next run recognises.
    let mut recorded = current.clone();
    recorded.extend(stale.iter().map(|p| p.to_string()));
    write_marker(dir, &recorded)?;

    let mut out = Vec::new();
    for f in files {
        let path = dir.join(&f.path);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Failure::config(
                "metadata.symlink",
                format!(
                    "{} is a symbolic link; sfglue does not write through it",
                    path.display()
                ),
            )
            .with_fix("remove the link, or choose another folder for --metadata"));
        }
        let action = match std::fs::read_to_string(&path) {
            Ok(old) if old == f.content => FileAction::Unchanged,
            Ok(_) => FileAction::Updated,
            Err(_) => FileAction::Created,
        };
        if action != FileAction::Unchanged {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io_failure(parent, &e))?;
            }
            std::fs::write(&path, &f.content).map_err(|e| io_failure(&path, &e))?;
        }
        out.push(FileOutcome { path, action });
    }
    for p in stale {
        let path = dir.join(p);
        match std::fs::remove_file(&path) {
            Ok(()) => out.push(FileOutcome {
                path,
                action: FileAction::Removed,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_failure(&path, &e)),
        }
    }
    write_marker(dir, &current)?;
    Ok(out)
}

/// Only paths of the shape sfglue writes may be removed, whatever the record says.
fn is_removable(p: &str) -> bool {
    let Some(rest) = p
        .strip_prefix(SOURCE_ROOT)
        .and_then(|r| r.strip_prefix('/'))
    else {
        return false;
    };
    let Some((folder, file)) = rest.split_once('/') else {
        return false;
    };
    TYPE_FOLDERS.iter().any(|(f, suffix)| {
        *f == folder
            && file
                .strip_suffix(&format!(".{suffix}-meta.xml"))
                .is_some_and(crate::config::is_valid_api_name)
    })
}

fn write_marker(dir: &Path, files: &[String]) -> Result<()> {
    let marker = Marker {
        schema: MARKER_SCHEMA.to_string(),
        files: files.to_vec(),
    };
    let path = dir.join(MARKER_FILE);
    let text = serde_json::to_string_pretty(&marker).unwrap_or_default() + "\n";
    if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    std::fs::write(&path, text).map_err(|e| io_failure(&path, &e))
}

fn io_failure(path: &Path, e: &std::io::Error) -> Failure {
    Failure::runtime(
        "metadata.write",
        format!("cannot write {}: {e}", path.display()),
    )
    .with_fix("choose a folder you can write to for --metadata")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::IpRelaxation;

    const CERT: &str =
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAV2gAwIBAgIU\n-----END CERTIFICATE-----\n";

    fn info() -> CertificateInfo {
        CertificateInfo {
            subject: "acme-dev Salesforce JWT".into(),
            sha256: "AB:CD".into(),
            not_before: "2026-01-01T00:00:00Z".into(),
            not_after: "2027-01-01T00:00:00Z".into(),
            key_bits: 2048,
        }
    }

    fn config() -> Config {
        let mut c = crate::config::parse(crate::config::STARTER, Path::new("/x/sfglue.yaml"), None)
            .unwrap();
        c.salesforce.app.contact_email = Some("ops@acme.example".into());
        c
    }

    fn file<'a>(files: &'a [MetadataFile], suffix: &str) -> &'a str {
        &files
            .iter()
            .find(|f| f.path.ends_with(suffix))
            .unwrap_or_else(|| panic!("no file ending {suffix}"))
            .content
    }

    /// The text of `<tag>` in a document (one occurrence), unescaped only as far as the tests need.
    fn field(doc: &str, tag: &str) -> Option<String> {
        let open = format!("<{tag}>");
        let start = doc.find(&open)? + open.len();
        let end = doc[start..].find(&format!("</{tag}>"))? + start;
        Some(doc[start..end].to_string())
    }

    #[test]
    fn the_project_has_the_four_types_in_their_folders() {
        let files = build(&config(), CERT, &info()).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "sfdx-project.json",
                "README.md",
                "force-app/main/default/externalClientApps/Acme_Dev_Glue_Job.eca-meta.xml",
                "force-app/main/default/extlClntAppOauthSettings/Acme_Dev_Glue_Job.ecaOauth-meta.xml",
                "force-app/main/default/extlClntAppGlobalOauthSets/Acme_Dev_Glue_Job.ecaGlblOauth-meta.xml",
                "force-app/main/default/extlClntAppOauthPolicies/Acme_Dev_Glue_Job.ecaOauthPlcy-meta.xml",
            ]
        );
        let project: serde_json::Value =
            serde_json::from_str(file(&files, "sfdx-project.json")).unwrap();
        assert_eq!(project["packageDirectories"][0]["path"], "force-app");
        assert_eq!(project["packageDirectories"][0]["default"], true);
        assert_eq!(project["sourceApiVersion"], "62.0");
        for f in &files {
            if f.path.ends_with(".xml") {
                assert!(
                    f.content
                        .starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
                );
                assert!(f.content.contains(&format!("xmlns=\"{XMLNS}\"")));
            }
        }
    }

    #[test]
    fn each_type_has_the_fields_of_the_reference() {
        let files = build(&config(), CERT, &info()).unwrap();
        let eca = file(&files, ".eca-meta.xml");
        assert!(eca.contains("<ExternalClientApplication xmlns="));
        assert_eq!(field(eca, "contactEmail").unwrap(), "ops@acme.example");
        assert_eq!(field(eca, "distributionState").unwrap(), "Local");
        assert_eq!(field(eca, "isProtected").unwrap(), "false");
        assert_eq!(field(eca, "label").unwrap(), "acme-dev Glue job");

        let oauth = file(&files, ".ecaOauth-meta.xml");
        assert!(oauth.contains("<ExtlClntAppOauthSettings xmlns="));
        assert_eq!(
            field(oauth, "commaSeparatedOauthScopes").unwrap(),
            "Api,RefreshToken"
        );
        assert_eq!(
            field(oauth, "externalClientApplication").unwrap(),
            "Acme_Dev_Glue_Job"
        );

        let global = file(&files, ".ecaGlblOauth-meta.xml");
        assert!(global.contains("<ExtlClntAppGlobalOauthSettings xmlns="));
        assert_eq!(
            field(global, "callbackUrl").unwrap(),
            "https://login.salesforce.com/services/oauth2/callback"
        );
        assert_eq!(field(global, "certificate").unwrap(), CERT.trim());
        assert_eq!(field(global, "isConsumerSecretOptional").unwrap(), "true");
        assert_eq!(
            field(global, "externalClientApplication").unwrap(),
            "Acme_Dev_Glue_Job"
        );

        let policies = file(&files, ".ecaOauthPlcy-meta.xml");
        assert!(policies.contains("<ExtlClntAppOauthConfigurablePolicies xmlns="));
        assert_eq!(
            field(policies, "permittedUsersPolicyType").unwrap(),
            "AdminApprovedPreAuthorized"
        );
        assert_eq!(
            field(policies, "ipRelaxationPolicyType").unwrap(),
            "Enforce"
        );
        assert_eq!(
            field(policies, "externalClientApplication").unwrap(),
            "Acme_Dev_Glue_Job"
        );
        // Nothing configured, nothing pre-authorized (the README says what to do).
        assert_eq!(field(policies, "commaSeparatedProfile"), None);
        assert_eq!(field(policies, "commaSeparatedPermissionSet"), None);
        assert!(file(&files, "README.md").contains("none are configured"));
    }

    #[test]
    fn profiles_permission_sets_and_ip_relaxation_come_from_the_config() {
        let mut c = config();
        c.salesforce.app.preauthorized_profiles = vec!["Integration Profile".into(), "Ops".into()];
        c.salesforce.app.preauthorized_permission_sets = vec!["Glue_Job".into()];
        c.salesforce.app.ip_relaxation = IpRelaxation::Bypass;
        let files = build(&c, CERT, &info()).unwrap();
        let policies = file(&files, ".ecaOauthPlcy-meta.xml");
        assert_eq!(
            field(policies, "commaSeparatedProfile").unwrap(),
            "Integration Profile,Ops"
        );
        assert_eq!(
            field(policies, "commaSeparatedPermissionSet").unwrap(),
            "Glue_Job"
        );
        assert_eq!(field(policies, "ipRelaxationPolicyType").unwrap(), "Bypass");
        let readme = file(&files, "README.md");
        assert!(readme.contains("profile `Integration Profile`"), "{readme}");
        assert!(readme.contains("permission set `Glue_Job`"), "{readme}");
    }

    #[test]
    fn every_value_is_xml_escaped() {
        let mut c = config();
        c.salesforce.app.label = "R&D <Glue> \"job\" 'x'".into();
        c.salesforce.app.preauthorized_profiles = vec!["A&B <C>".into()];
        c.salesforce.app.callback_url = "https://x.example/cb?a=1&b=2".into();
        let files = build(&c, CERT, &info()).unwrap();
        let eca = file(&files, ".eca-meta.xml");
        assert_eq!(
            field(eca, "label").unwrap(),
            "R&amp;D &lt;Glue&gt; &quot;job&quot; &apos;x&apos;"
        );
        let policies = file(&files, ".ecaOauthPlcy-meta.xml");
        assert_eq!(
            field(policies, "commaSeparatedProfile").unwrap(),
            "A&amp;B &lt;C&gt;"
        );
        assert_eq!(
            field(policies, "label").unwrap(),
            "R&amp;D &lt;Glue&gt; &quot;job&quot; &apos;x&apos; Policies"
        );
        let global = file(&files, ".ecaGlblOauth-meta.xml");
        assert_eq!(
            field(global, "callbackUrl").unwrap(),
            "https://x.example/cb?a=1&amp;b=2"
        );
        for f in files.iter().filter(|f| f.path.ends_with(".xml")) {
            // No raw '&' that does not start an entity, no stray '<' inside text.
            for (i, _) in f.content.match_indices('&') {
                let rest = &f.content[i..];
                assert!(
                    ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                        .iter()
                        .any(|e| rest.starts_with(e)),
                    "{}",
                    f.content
                );
            }
        }
        assert_eq!(xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
    }

    #[test]
    fn no_private_key_and_no_consumer_secret_anywhere() {
        let files = build(&config(), CERT, &info()).unwrap();
        for f in &files {
            assert!(!f.content.contains("PRIVATE KEY"), "{}", f.path);
            assert!(!f.content.contains("<consumerSecret>"), "{}", f.path);
            assert!(!f.content.contains("<consumerKey>"), "{}", f.path);
        }
        // A secret document's key handed in by mistake is refused, not written.
        let with_key = format!(
            "{CERT}{}\nAAA\n-----END PRIVATE KEY-----\n",
            concat!("-----BEGIN ", "PRIVATE KEY-----")
        );
        let e = build(&config(), &with_key, &info()).unwrap_err();
        assert_eq!(e.code, "metadata.not_a_certificate");
        assert!(!e.message.contains("AAA"));
    }

    #[test]
    fn a_missing_contact_email_names_the_key_and_the_fix() {
        let mut c = config();
        c.salesforce.app.contact_email = None;
        let e = build(&c, CERT, &info()).unwrap_err();
        assert_eq!(e.class, crate::error::ExitClass::Config);
        assert!(
            e.message.contains("`salesforce.app.contact_email`"),
            "{}",
            e.message
        );
        assert!(e.message.starts_with("/x/sfglue.yaml: "), "{}", e.message);
        assert!(e.fix.unwrap().contains("contact_email:"));
    }

    #[test]
    fn the_readme_says_how_to_deploy_and_what_to_copy_back() {
        let files = build(&config(), CERT, &info()).unwrap();
        let readme = file(&files, "README.md");
        for needle in [
            "sf project deploy start --source-dir force-app --target-org <alias>",
            "Allow Access to OAuth Consumer Secrets via Metadata API",
            "Consumer Key",
            "consumer_key:",
            "/x/sfglue.yaml",
            "PEM",
            "AB:CD",
            "Acme_Dev_Glue_Job",
            "invalid_client_id",
            "/x/sfglue-out/salesforce-jwt.crt",
        ] {
            assert!(readme.contains(needle), "missing {needle}");
        }
        assert!(readme.ends_with("are sfglue's.\n"));
    }

    #[test]
    fn an_old_api_version_is_raised_to_one_with_the_types() {
        let mut c = config();
        c.salesforce.api_version = "58.0".into();
        let files = build(&c, CERT, &info()).unwrap();
        assert!(file(&files, "sfdx-project.json").contains("\"sourceApiVersion\": \"62.0\""));
        c.salesforce.api_version = "64.0".into();
        let files = build(&c, CERT, &info()).unwrap();
        assert!(file(&files, "sfdx-project.json").contains("\"sourceApiVersion\": \"64.0\""));
    }

    #[test]
    fn the_folder_is_written_once_and_rewritten_only_where_it_changed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sf");
        let files = build(&config(), CERT, &info()).unwrap();
        let first = write_dir(&dir, &files).unwrap();
        assert!(first.iter().all(|o| o.action == FileAction::Created));
        assert!(dir.join(MARKER_FILE).exists());
        let again = write_dir(&dir, &files).unwrap();
        assert!(again.iter().all(|o| o.action == FileAction::Unchanged));

        // A new API name: the new files are created, the old app's files removed, a file of the
        // user's stays.
        std::fs::write(dir.join("notes.txt"), "mine").unwrap();
        let mut c = config();
        c.salesforce.app.api_name = "Other_App".into();
        let renamed = write_dir(&dir, &build(&c, CERT, &info()).unwrap()).unwrap();
        let count = |a: FileAction| renamed.iter().filter(|o| o.action == a).count();
        assert_eq!(count(FileAction::Created), 4);
        assert_eq!(count(FileAction::Updated), 1, "the README names the app");
        assert_eq!(count(FileAction::Removed), 4);
        assert!(
            !dir.join("force-app/main/default/externalClientApps/Acme_Dev_Glue_Job.eca-meta.xml")
                .exists()
        );
        assert!(dir.join("notes.txt").exists());
    }

    #[test]
    fn a_foreign_folder_is_never_clobbered() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("sfdx-project.json"), "theirs").unwrap();
        let files = build(&config(), CERT, &info()).unwrap();
        let e = write_dir(tmp.path(), &files).unwrap_err();
        assert_eq!(e.code, "metadata.dir_not_ours");
        assert_eq!(e.class, crate::error::ExitClass::Config);
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("sfdx-project.json")).unwrap(),
            "theirs"
        );
        // A file in place of the folder is refused too; an empty folder is fine.
        let e = write_dir(&tmp.path().join("sfdx-project.json"), &files).unwrap_err();
        assert_eq!(e.code, "metadata.dir_not_ours");
        let empty = tmp.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(write_dir(&empty, &files).is_ok());
    }

    #[test]
    fn a_doctored_record_cannot_remove_other_files() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim.txt");
        std::fs::write(&victim, "keep").unwrap();
        let dir = tmp.path().join("sf");
        std::fs::create_dir(&dir).unwrap();
        let marker = serde_json::json!({
            "schema": MARKER_SCHEMA,
            "files": ["../victim.txt", "force-app/main/default/externalClientApps/../../../../victim.txt"],
        });
        std::fs::write(dir.join(MARKER_FILE), marker.to_string()).unwrap();
        write_dir(&dir, &build(&config(), CERT, &info()).unwrap()).unwrap();
        assert!(victim.exists());
        assert!(is_removable(
            "force-app/main/default/extlClntAppOauthPolicies/A_B.ecaOauthPlcy-meta.xml"
        ));
        assert!(!is_removable(
            "force-app/main/default/classes/A.cls-meta.xml"
        ));
    }
}

//! The Salesforce-side setup steps and the public certificate, written to the output folder.
//!
//! The steps come from `templates/setup.md.j2`, filled in for this config: External Client App
//! first, connected app for older orgs. Files are rewritten only when their content changes, so a
//! converged `apply` reports them unchanged.

use crate::config::Config;
use crate::crypto::CertificateInfo;
use crate::error::{Failure, Result};
use std::path::{Path, PathBuf};

const SETUP_TEMPLATE: &str = include_str!("../templates/setup.md.j2");

pub const CERTIFICATE_FILE: &str = "salesforce-jwt.crt";
pub const SETUP_FILE: &str = "SALESFORCE_SETUP.md";

#[derive(Debug, Clone, serde::Serialize)]
pub struct Written {
    pub certificate: PathBuf,
    pub setup_steps: PathBuf,
    /// False when both files already held exactly this content.
    pub changed: bool,
}

pub fn render(config: &Config, info: &CertificateInfo, certificate_path: &Path) -> Result<String> {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.add_template("setup", SETUP_TEMPLATE)
        .map_err(|e| Failure::runtime("template", format!("setup template: {e}")))?;
    let tmpl = env
        .get_template("setup")
        .map_err(|e| Failure::runtime("template", format!("setup template: {e}")))?;
    tmpl.render(minijinja::context! {
        name => &config.name,
        job_name => &config.glue.job_name,
        secret_name => &config.secret.name,
        certificate_path => certificate_path.display().to_string(),
        subject => &info.subject,
        fingerprint => &info.sha256,
        not_after => &info.not_after,
        login_url => &config.salesforce.login_url,
        audience => &config.salesforce.audience,
        username => &config.salesforce.username,
        config_path => config.path.display().to_string(),
        profiles => &config.salesforce.app.preauthorized_profiles,
        permission_sets => &config.salesforce.app.preauthorized_permission_sets,
    })
    .map_err(|e| Failure::runtime("template", format!("setup template: {e}")))
}

/// Writes the certificate and the steps into the config's output folder.
pub fn write(config: &Config, certificate_pem: &str, info: &CertificateInfo) -> Result<Written> {
    let dir = &config.output_dir;
    std::fs::create_dir_all(dir).map_err(|e| io_failure(dir, &e))?;
    let certificate = dir.join(CERTIFICATE_FILE);
    let setup_steps = dir.join(SETUP_FILE);
    let steps = render(config, info, &certificate)?;
    let a = write_if_changed(&certificate, certificate_pem)?;
    let b = write_if_changed(&setup_steps, &steps)?;
    Ok(Written {
        certificate,
        setup_steps,
        changed: a || b,
    })
}

fn write_if_changed(path: &Path, content: &str) -> Result<bool> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == content) {
        return Ok(false);
    }
    std::fs::write(path, content).map_err(|e| io_failure(path, &e))?;
    Ok(true)
}

fn io_failure(path: &Path, e: &std::io::Error) -> Failure {
    Failure::runtime(
        "output_dir.write",
        format!("cannot write {}: {e}", path.display()),
    )
    .with_fix("set `output_dir` in the config to a folder you can write to")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_name_the_certificate_user_and_both_app_kinds() {
        let config =
            crate::config::parse(crate::config::STARTER, Path::new("/x/sfglue.yaml"), None)
                .unwrap();
        let info = CertificateInfo {
            subject: "s".into(),
            sha256: "AB:CD".into(),
            not_before: "2026-01-01T00:00:00Z".into(),
            not_after: "2027-01-01T00:00:00Z".into(),
            key_bits: 2048,
        };
        let text = render(&config, &info, Path::new("/x/out/salesforce-jwt.crt")).unwrap();
        for needle in [
            "External Client App",
            "Connected app",
            "AB:CD",
            "/x/out/salesforce-jwt.crt",
            "integration@acme.example",
            "Admin approved users are pre-authorized",
            "refresh_token, offline_access",
            "/x/sfglue.yaml",
            "invalid_client_id",
        ] {
            assert!(text.contains(needle), "missing {needle}");
        }
        assert!(text.contains("the profile or a permission set of\n   the integration user"));
    }

    #[test]
    fn steps_name_the_configured_profiles_and_permission_sets() {
        let mut config =
            crate::config::parse(crate::config::STARTER, Path::new("/x/sfglue.yaml"), None)
                .unwrap();
        config.salesforce.app.preauthorized_profiles = vec!["Integration Profile".into()];
        config.salesforce.app.preauthorized_permission_sets =
            vec!["Glue_A".into(), "Glue_B".into()];
        let info = CertificateInfo {
            subject: "s".into(),
            sha256: "AB:CD".into(),
            not_before: "2026-01-01T00:00:00Z".into(),
            not_after: "2027-01-01T00:00:00Z".into(),
            key_bits: 2048,
        };
        let text = render(&config, &info, Path::new("/x/out/salesforce-jwt.crt")).unwrap();
        assert!(
            text.contains("select the profile **Integration Profile** and the permission sets **Glue_A**, **Glue_B**\n   (from the config"),
            "{text}"
        );
        assert!(
            text.contains("add the profile **Integration Profile**, the permission set **Glue_A**, the permission set **Glue_B**."),
            "{text}"
        );
        assert!(text.contains("sfglue instructions --metadata DIR"));
    }
}

//! `sfglue instructions [--metadata DIR]`: write the Salesforce setup steps and the public
//! certificate for the key stored in the secret, and optionally the External Client App as a
//! Salesforce source-format project ([`crate::metadata`]).
//!
//! Reads the secret (AWSCURRENT) and writes files; changes nothing in AWS or Salesforce.

use crate::aws::SecretStore;
use crate::config::Config;
use crate::crypto::{self, CertificateInfo};
use crate::error::Result;
use crate::instructions;
use crate::metadata::{self, FileAction, FileOutcome};
use crate::report::Reporter;
use crate::verify;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The `--output json` result of `sfglue instructions`.
#[derive(Debug, Serialize)]
pub struct InstructionsReport {
    /// The secret version whose certificate was written.
    pub secret_version: String,
    pub certificate: CertificateInfo,
    /// `{certificate, setup_steps, changed}`: the files in `output_dir`.
    pub setup_steps: instructions::Written,
    /// With `--metadata DIR` only.
    pub metadata: Option<MetadataReport>,
}

#[derive(Debug, Serialize)]
pub struct MetadataReport {
    pub dir: PathBuf,
    /// The External Client App's API name.
    pub app: String,
    /// Every file, with `created`, `updated`, `unchanged` or `removed`.
    pub files: Vec<FileOutcome>,
    /// False when every file already held exactly this content.
    pub changed: bool,
}

pub async fn run(
    config: &Config,
    aws: &impl SecretStore,
    rep: &Reporter,
    metadata_dir: Option<&Path>,
) -> Result<InstructionsReport> {
    // What can be refused without AWS is refused first: nothing is written then.
    if let Some(dir) = metadata_dir {
        metadata::require_contact_email(config)?;
        metadata::check_dir(dir)?;
    }
    rep.progress("Reading the certificate from Secrets Manager");
    let (version_id, doc) = verify::current_document(aws, &config.secret.name).await?;
    let certificate = crypto::certificate_info(&doc.certificate_pem)?;

    let written = instructions::write(config, &doc.certificate_pem, &certificate)?;
    let verb = if written.changed {
        "written"
    } else {
        "unchanged"
    };
    rep.result(
        "setup steps",
        format!("{verb:<10} {}", written.setup_steps.display()),
    );
    rep.result(
        "certificate",
        format!("{verb:<10} {}", written.certificate.display()),
    );

    let metadata = match metadata_dir {
        None => None,
        Some(dir) => {
            let app = &config.salesforce.app;
            if app.preauthorized_profiles.is_empty() && app.preauthorized_permission_sets.is_empty()
            {
                rep.warn(
                    "no pre-authorized profile or permission set is configured (salesforce.app.preauthorized_profiles / preauthorized_permission_sets): add the integration user's in Setup after deploying",
                );
            }
            let files = metadata::build(config, &doc.certificate_pem, &certificate)?;
            let outcomes = metadata::write_dir(dir, &files)?;
            for o in &outcomes {
                let action = match o.action {
                    FileAction::Created => "created",
                    FileAction::Updated => "updated",
                    FileAction::Unchanged => "unchanged",
                    FileAction::Removed => "removed",
                };
                rep.result("metadata", format!("{action:<10} {}", o.path.display()));
            }
            rep.progress(format!(
                "Deploy it with `sf project deploy start --source-dir {} --target-org <alias>` from {} (see its README.md).",
                metadata::SOURCE_DIR,
                dir.display()
            ));
            Some(MetadataReport {
                dir: dir.to_path_buf(),
                app: app.api_name.clone(),
                changed: outcomes.iter().any(|o| o.action != FileAction::Unchanged),
                files: outcomes,
            })
        }
    };
    Ok(InstructionsReport {
        secret_version: version_id,
        certificate,
        setup_steps: written,
        metadata,
    })
}

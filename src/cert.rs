//! `sfglue cert import` (store an existing key and certificate instead of generating them) and
//! `sfglue cert generate` (write a key and certificate to files for those who want them).
//!
//! Import goes through [`keyfile::import`], which normalises and checks both files. Into a new
//! secret it becomes the first version (AWSCURRENT); into an existing one it starts a rotation
//! (AWSPENDING), finished as usual with `sfglue rotate finish`.

use crate::aws::{SecretStore, managed_tags};
use crate::config::Config;
use crate::crypto::{self, CertificateInfo};
use crate::error::{Failure, Result};
use crate::instructions;
use crate::keyfile;
use crate::report::Reporter;
use crate::rotate::{self, RotateReport};
use crate::secret_doc::{JobSettings, SecretDocument};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Key and certificate files larger than this are refused unread (a 4096-bit PEM is ~3.3 KB).
const MAX_FILE_BYTES: u64 = 64 * 1024;

pub const KEY_FILE: &str = "salesforce-jwt.key";

#[derive(Debug, Serialize)]
pub struct ImportReport {
    pub certificate: CertificateInfo,
    /// `created` (a new secret, AWSCURRENT) or `pending` (a rotation was started).
    pub stored_as: String,
    pub rotation: Option<RotateReport>,
}

fn read_small(path: &Path, what: &str) -> Result<String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| {
        Failure::config(
            "import.unreadable",
            format!("cannot read the {what} {shown}: {e}"),
        )
    })?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(Failure::config(
            "import.too_large",
            format!("{shown} is {} bytes: not a {what}", meta.len()),
        )
        .with_fix("pass the PEM file itself"));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        Failure::config(
            "import.unreadable",
            format!("cannot read the {what} {shown}: {e}"),
        )
    })?;
    String::from_utf8(bytes).map_err(|_| {
        Failure::config(
            "import.not_pem",
            format!("{shown} is not text: a DER file, or not a {what}"),
        )
        .with_fix("convert it to PEM: openssl pkey -inform DER -in KEY -out key.pem (or openssl x509 -inform DER for a certificate)")
    })
}

pub async fn import(
    config: &Config,
    aws: &impl SecretStore,
    rep: &Reporter,
    key_path: &Path,
    cert_path: &Path,
) -> Result<ImportReport> {
    let key_text = read_small(key_path, "private key")?;
    let cert_text = read_small(cert_path, "certificate")?;
    let material = keyfile::import(
        &key_text,
        &key_path.display().to_string(),
        &cert_text,
        &cert_path.display().to_string(),
        time::OffsetDateTime::now_utc(),
    )?;
    let info = material.info.clone();
    rep.result(
        "key",
        format!(
            "ok         RSA-{} PKCS#8, matches certificate SHA-256 {}",
            info.key_bits, info.sha256
        ),
    );
    let name = &config.secret.name;
    match aws.describe_secret(name).await? {
        None => {
            let doc = SecretDocument::new(&material, JobSettings::from_config(&config.salesforce));
            let text = doc.to_secret_string();
            let token = crypto::sha256_hex(
                format!("sfglue-import\0{name}\0{}", text.expose()).as_bytes(),
            )[..64]
                .to_string();
            let (arn, _version) = aws
                .create_secret(
                    name,
                    &text,
                    config.secret.kms_key_id.as_deref(),
                    &token,
                    &managed_tags(&config.name),
                )
                .await?;
            let written = instructions::write(config, &doc.certificate_pem, &info)?;
            rep.result("secret", format!("created    {arn} (the imported key is AWSCURRENT)"));
            rep.result(
                "next",
                format!(
                    "run `sfglue apply` to set up the rest; the Salesforce steps are in {}",
                    written.setup_steps.display()
                ),
            );
            Ok(ImportReport {
                certificate: info,
                stored_as: "created".into(),
                rotation: None,
            })
        }
        Some(meta) if meta.deleted_date.is_some() => Err(Failure::runtime(
            "secret.scheduled_for_deletion",
            format!("the secret {name} is scheduled for deletion"),
        )
        .with_fix(format!(
            "restore it (aws secretsmanager restore-secret --secret-id {name}), or choose another secret.name"
        ))),
        Some(_) => {
            let report = rotate::start(config, aws, rep, Some(material)).await?;
            Ok(ImportReport {
                certificate: info,
                stored_as: "pending".into(),
                rotation: Some(report),
            })
        }
    }
}

#[derive(Debug, Serialize)]
pub struct GenerateReport {
    pub key_file: PathBuf,
    pub certificate_file: PathBuf,
    pub certificate: CertificateInfo,
}

/// Writes a new key (mode 0600, never over an existing file) and its certificate into `dir`.
pub fn generate(
    dir: &Path,
    common_name: &str,
    bits: u32,
    days: u32,
    rep: &Reporter,
) -> Result<GenerateReport> {
    if !(1..=3650).contains(&days) {
        return Err(
            Failure::config("cert.days", format!("{days} days is out of range"))
                .with_fix("use 1 to 3650 days"),
        );
    }
    let m = crypto::generate(common_name, bits, days)?;
    std::fs::create_dir_all(dir).map_err(|e| {
        Failure::runtime(
            "cert.write",
            format!("cannot create {}: {e}", dir.display()),
        )
    })?;
    let key_file = dir.join(KEY_FILE);
    let certificate_file = dir.join(instructions::CERTIFICATE_FILE);
    if key_file.exists() || certificate_file.exists() {
        return Err(Failure::config(
            "cert.exists",
            format!(
                "{} or {} already exists; sfglue does not overwrite key files",
                key_file.display(),
                certificate_file.display()
            ),
        )
        .with_fix("choose another --out folder, or move the old files away"));
    }
    write_private(&key_file, m.private_key_pem.expose())?;
    std::fs::write(&certificate_file, &m.certificate_pem).map_err(|e| {
        Failure::runtime(
            "cert.write",
            format!("cannot write {}: {e}", certificate_file.display()),
        )
    })?;
    rep.result(
        "key",
        format!("written    {} (mode 0600)", key_file.display()),
    );
    rep.result(
        "certificate",
        format!(
            "written    {}  SHA-256 {}  expires {}",
            certificate_file.display(),
            m.info.sha256,
            m.info.not_after
        ),
    );
    Ok(GenerateReport {
        key_file,
        certificate_file,
        certificate: m.info,
    })
}

/// Creates `path` readable by its owner only, before any byte of the key is written.
fn write_private(path: &Path, content: &str) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| {
        Failure::runtime(
            "cert.write",
            format!("cannot create {}: {e}", path.display()),
        )
    })?;
    f.write_all(content.as_bytes()).map_err(|e| {
        Failure::runtime(
            "cert.write",
            format!("cannot write {}: {e}", path.display()),
        )
    })
}

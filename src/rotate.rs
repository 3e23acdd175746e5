//! Certificate rotation without downtime, and `status`: the secret's versions and what
//! Salesforce accepts.
//!
//! Rotation follows Secrets Manager's own four steps and staging labels:
//! 1. `start` (createSecret): a new key and certificate become a version labelled AWSPENDING;
//!    AWSCURRENT keeps working. The new certificate and the steps are written to the output
//!    folder.
//! 2. the person uploads the certificate to the app (setSecret). Salesforce holds one
//!    certificate per app: from then on the app accepts only the pending key, and the Glue
//!    script falls back to AWSPENDING. With blue/green (`salesforce.consumer_key_b`) the upload
//!    goes to the app not in use, so there is no such window.
//! 3. `finish` (testSecret and finishSecret): a live token exchange with the pending key, and
//!    only then AWSCURRENT moves to it (the old version becomes AWSPREVIOUS).
//!
//! `rollback` puts AWSPREVIOUS back; `cancel` drops a pending version. Every step reads the
//! labels first and does only what is left, so each is safe to repeat and to resume after a
//! crash or a failed AWS call at any point. A rollback marks the version it left with the
//! custom label `SFGLUE_ROLLED_BACK`, so that a repeated rollback does not swap back again.

use crate::aws::{LabelledVersion, SecretStore, VersionLabels};
use crate::config::Config;
use crate::crypto::{self, CertificateInfo, KeyMaterial};
use crate::error::{ExitClass, Failure, Result};
use crate::instructions;
use crate::preflight;
use crate::report::Reporter;
use crate::salesforce::Salesforce;
use crate::secret_doc::{self, JobSettings, SecretDocument};
use crate::verify;
use serde::Serialize;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

pub const CURRENT: &str = "AWSCURRENT";
pub const PENDING: &str = "AWSPENDING";
pub const PREVIOUS: &str = "AWSPREVIOUS";
/// Marks the version a rollback moved away from (see the module doc).
pub const ROLLED_BACK: &str = "SFGLUE_ROLLED_BACK";

pub const PENDING_CERTIFICATE_FILE: &str = "salesforce-jwt-pending.crt";
pub const ROTATION_FILE: &str = "ROTATION_STEPS.md";

/// One labelled secret version, read and parsed.
pub struct Version {
    pub version_id: String,
    pub stages: Vec<String>,
    pub created: Option<String>,
    pub doc: Option<SecretDocument>,
    /// Why `doc` is missing (the text is not an sfglue document).
    pub problem: Option<String>,
}

impl Version {
    pub fn has(&self, stage: &str) -> bool {
        self.stages.iter().any(|s| s == stage)
    }

    fn doc(&self) -> Result<&SecretDocument> {
        self.doc.as_ref().ok_or_else(|| {
            Failure::runtime(
                "secret.not_sfglue",
                format!(
                    "the secret version {} ({}) cannot be read: {}",
                    self.version_id,
                    self.stages.join(", "),
                    self.problem.as_deref().unwrap_or("unknown problem")
                ),
            )
        })
    }

    fn brief(&self) -> VersionBrief {
        VersionBrief {
            version_id: self.version_id.clone(),
            labels: self.stages.clone(),
            consumer_key: self.doc.as_ref().map(|d| d.settings.consumer_key.clone()),
            certificate_sha256: self.doc.as_ref().map(|d| d.certificate_sha256.clone()),
            certificate_not_after: self.doc.as_ref().map(|d| d.certificate_not_after.clone()),
        }
    }
}

/// Public facts of a version, for reports.
#[derive(Debug, Clone, Serialize)]
pub struct VersionBrief {
    pub version_id: String,
    pub labels: Vec<String>,
    pub consumer_key: Option<String>,
    pub certificate_sha256: Option<String>,
    pub certificate_not_after: Option<String>,
}

/// Reads every labelled version of the secret (each by its id, so the labels and the value
/// come from the same answer).
pub async fn read_versions(config: &Config, aws: &impl SecretStore) -> Result<Vec<Version>> {
    let name = &config.secret.name;
    // Asked first: moto answers ListSecretVersionIds on a missing secret with a bare 500.
    if aws.describe_secret(name).await?.is_none() {
        return Err(secret_doc::secret_missing(name));
    }
    let listed: Vec<VersionLabels> = aws.list_versions(name).await?;
    let mut out = Vec::new();
    for v in listed {
        let got: LabelledVersion = aws.version_by_id(name, &v.version_id).await?;
        let (doc, problem) = match SecretDocument::parse(name, &got.text) {
            Ok(d) => (Some(d), None),
            Err(f) => (None, Some(f.message)),
        };
        out.push(Version {
            version_id: got.version_id,
            // The listing's labels: moto's GetSecretValue by id reports them too, but one source.
            stages: v.stages,
            created: got.created,
            doc,
            problem,
        });
    }
    let rank = |v: &Version| {
        [CURRENT, PENDING, PREVIOUS]
            .iter()
            .position(|s| v.has(s))
            .unwrap_or(3)
    };
    out.sort_by_key(rank);
    Ok(out)
}

fn find<'a>(versions: &'a [Version], stage: &str) -> Option<&'a Version> {
    versions.iter().find(|v| v.has(stage))
}

fn current<'a>(versions: &'a [Version], config: &Config) -> Result<&'a Version> {
    find(versions, CURRENT).ok_or_else(|| {
        Failure::runtime(
            "secret.no_current",
            format!(
                "the secret {} has no AWSCURRENT version",
                config.secret.name
            ),
        )
        .with_fix("run `sfglue apply` to store a key")
    })
}

/// The pending version of a rotation in progress: AWSPENDING on a version that is not current.
fn pending(versions: &[Version]) -> Option<&Version> {
    versions.iter().find(|v| v.has(PENDING) && !v.has(CURRENT))
}

/// The AWSPENDING version of a rotation in progress, when there is one and it parses: its id
/// and document. For `verify`, which tries it when Salesforce refuses the current key.
pub async fn pending_document(
    config: &Config,
    aws: &impl SecretStore,
) -> Result<Option<(String, SecretDocument)>> {
    let versions = read_versions(config, aws).await?;
    Ok(pending(&versions).and_then(|v| Some((v.version_id.clone(), v.doc.clone()?))))
}

#[derive(Debug, Serialize)]
pub struct RotateReport {
    pub step: &'static str,
    /// What this run did, e.g. `started`, `resumed`, `finished`, `nothing to finish`.
    pub outcome: String,
    pub current: Option<VersionBrief>,
    pub pending: Option<VersionBrief>,
    pub previous: Option<VersionBrief>,
    /// The files written for the person in Salesforce Setup.
    pub files: Vec<PathBuf>,
    pub next: Option<String>,
}

/// The consumer key a new version signs in with: the other app with blue/green, else the
/// configured one.
fn next_settings(config: &Config, in_use: &JobSettings) -> JobSettings {
    let mut s = JobSettings::desired(&config.salesforce, Some(in_use));
    if let Some((a, b)) = config.salesforce.blue_green() {
        s.consumer_key = if in_use.consumer_key == a { b } else { a }.to_string();
    }
    s
}

fn request_token(
    secret_name: &str,
    current_version: &str,
    text: &crate::secret::Sensitive,
) -> String {
    let mut material = format!("sfglue-rotate\0{secret_name}\0{current_version}\0").into_bytes();
    material.extend_from_slice(text.expose().as_bytes());
    crypto::sha256_hex(&material)[..64].to_string()
}

/// `rotate start`: a new key (or `material`, from `cert import`) as the AWSPENDING version.
pub async fn start(
    config: &Config,
    aws: &impl SecretStore,
    rep: &Reporter,
    material: Option<KeyMaterial>,
) -> Result<RotateReport> {
    let name = &config.secret.name;
    rep.progress(format!("Reading the versions of {name}"));
    let versions = read_versions(config, aws).await?;
    let cur = current(&versions, config)?;
    let cur_doc = cur.doc()?;
    if cur_doc.settings.consumer_key.is_empty() {
        return Err(Failure::new(
            ExitClass::WaitingForSalesforce,
            "salesforce.setup_pending",
            "the first setup is not finished (the secret has no consumer key): there is nothing to rotate yet",
        )
        .with_fix("finish the Salesforce setup and `sfglue apply` first"));
    }
    if cur.has(PENDING) {
        // An earlier finish stopped after moving AWSCURRENT: complete it.
        aws.move_stage(name, PENDING, None, Some(&cur.version_id))
            .await?;
        rep.detail("completed an earlier, interrupted `rotate finish`");
    }
    if let Some(p) = pending(&versions) {
        if material.is_some() {
            return Err(Failure::config(
                "rotate.in_progress",
                format!(
                    "a rotation is already in progress (pending version {}); the imported key was not stored",
                    p.version_id
                ),
            )
            .with_fix("finish it with `sfglue rotate finish`, or drop it with `sfglue rotate cancel`, then import again"));
        }
        return existing_pending(config, rep, cur, p, &versions, "resumed", "no new key made");
    }

    let imported = material.is_some();
    let key = match material {
        Some(m) => m,
        None => {
            rep.progress(format!(
                "Generating an RSA-{} key and a self-signed certificate",
                config.certificate.key_size
            ));
            crypto::generate(
                &config.certificate.common_name,
                config.certificate.key_size,
                config.certificate.validity_days,
            )?
        }
    };
    let doc = SecretDocument::new(&key, next_settings(config, &cur_doc.settings));
    let text = doc.to_secret_string();
    let version_id = aws
        .put_staged_version(
            name,
            &text,
            &request_token(name, &cur.version_id, &text),
            &[PENDING],
        )
        .await?;
    // Two runs started together both store a version; AWSPENDING ends on one of them. Read
    // back which, so that the certificate written to disk is the one that is pending.
    let after = read_versions(config, aws).await?;
    if let Some(p) = pending(&after)
        && p.version_id != version_id
    {
        return existing_pending(
            config,
            rep,
            cur,
            p,
            &after,
            "joined",
            "started by a concurrent run; this run's key was dropped",
        );
    }
    rep.result(
        "certificate",
        format!(
            "{}  SHA-256 {}  expires {}",
            if imported { "imported " } else { "generated" },
            key.info.sha256,
            key.info.not_after
        ),
    );
    rep.result(
        "secret",
        format!("pending    version {version_id} (AWSPENDING; AWSCURRENT unchanged)"),
    );
    let files = write_pending_files(config, cur_doc, &doc, &key.info)?;
    let next = next_after_start(config, cur_doc, &doc, &files);
    rep.result("next", &next);
    Ok(RotateReport {
        step: "start",
        outcome: "started".into(),
        current: Some(cur.brief()),
        pending: Some(VersionBrief {
            version_id,
            labels: vec![PENDING.into()],
            consumer_key: Some(doc.settings.consumer_key.clone()),
            certificate_sha256: Some(doc.certificate_sha256.clone()),
            certificate_not_after: Some(doc.certificate_not_after.clone()),
        }),
        previous: find(&versions, PREVIOUS).map(Version::brief),
        files,
        next: Some(next),
    })
}

/// `rotate start` found a pending version (an earlier or a concurrent start): write its
/// certificate and steps, and report it, instead of making a key.
fn existing_pending(
    config: &Config,
    rep: &Reporter,
    cur: &Version,
    p: &Version,
    versions: &[Version],
    word: &str,
    why: &str,
) -> Result<RotateReport> {
    let cur_doc = cur.doc()?;
    let doc = p.doc()?;
    let info = crypto::certificate_info(&doc.certificate_pem)?;
    rep.result(
        "rotation",
        format!("{word:<10} pending version {} ({why})", p.version_id),
    );
    let files = write_pending_files(config, cur_doc, doc, &info)?;
    Ok(RotateReport {
        step: "start",
        outcome: "resumed".into(),
        current: Some(cur.brief()),
        pending: Some(p.brief()),
        previous: find(versions, PREVIOUS).map(Version::brief),
        next: Some(next_after_start(config, cur_doc, doc, &files)),
        files,
    })
}

fn next_after_start(
    config: &Config,
    cur: &SecretDocument,
    pending: &SecretDocument,
    files: &[PathBuf],
) -> String {
    let crt = files
        .first()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let steps = files
        .get(1)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let app = &pending.settings.consumer_key;
    if app != &cur.settings.consumer_key {
        format!(
            "upload {crt} to the app {app} (not in use: the job signs in through {}), then run `sfglue rotate finish` (steps: {steps})",
            cur.settings.consumer_key
        )
    } else {
        let _ = config;
        format!(
            "replace the certificate of the app {app} with {crt}, then run `sfglue rotate finish` (steps: {steps})"
        )
    }
}

fn write_file(path: &Path, content: &str) -> Result<()> {
    std::fs::write(path, content).map_err(|e| {
        Failure::runtime(
            "output_dir.write",
            format!("cannot write {}: {e}", path.display()),
        )
        .with_fix("set `output_dir` in the config to a folder you can write to")
    })
}

fn write_pending_files(
    config: &Config,
    cur: &SecretDocument,
    pending: &SecretDocument,
    info: &CertificateInfo,
) -> Result<Vec<PathBuf>> {
    let dir = &config.output_dir;
    std::fs::create_dir_all(dir).map_err(|e| {
        Failure::runtime(
            "output_dir.write",
            format!("cannot create {}: {e}", dir.display()),
        )
    })?;
    let crt = dir.join(PENDING_CERTIFICATE_FILE);
    let steps = dir.join(ROTATION_FILE);
    write_file(&crt, &pending.certificate_pem)?;
    let app = &pending.settings.consumer_key;
    let blue_green = app != &cur.settings.consumer_key;
    let upload = if blue_green {
        format!(
            "1. In Salesforce Setup, open the app with Consumer Key `{app}`. This is the app the job\n   does **not** use now (it signs in through `{}`), so nothing stops while you change it.\n   Upload `{}` as its JWT bearer certificate (SHA-256 `{}`).\n",
            cur.settings.consumer_key,
            crt.display(),
            info.sha256
        )
    } else {
        format!(
            "1. In Salesforce Setup, open the app with Consumer Key `{app}` and replace its JWT bearer\n   certificate with `{}` (SHA-256 `{}`). Salesforce holds one certificate per app: from now\n   on it accepts only the new key. The Glue job keeps working: when the current key is refused\n   it signs in with the pending one.\n",
            crt.display(),
            info.sha256
        )
    };
    let text = format!(
        "# Certificate rotation for {name}\n\n\
         A new key is stored in the secret `{secret}` as the version labelled AWSPENDING. The job\n\
         still uses AWSCURRENT (certificate SHA-256 `{old}`).\n\n\
         New certificate: subject `{subject}`, valid {nb} to {na}.\n\n\
         {upload}\
         2. Run `sfglue rotate finish`. It signs in with the new key first; only when Salesforce\n   accepts it does AWSCURRENT move to the new version (the old one becomes AWSPREVIOUS).\n   If the certificate is not on the app yet (or not propagated: allow 2 to 10 minutes), it\n   says so and changes nothing: run it again later.\n\
         3. To go back afterwards: `sfglue rotate rollback`{rollback_note}.\n\
         To abandon this rotation before step 2: `sfglue rotate cancel`.\n",
        name = config.name,
        secret = config.secret.name,
        old = cur.certificate_sha256,
        subject = info.subject,
        nb = info.not_before,
        na = info.not_after,
        rollback_note = if blue_green {
            " (the old app keeps its certificate, so nothing is needed in Salesforce)"
        } else {
            ", then upload the old certificate to the app again"
        },
    );
    write_file(&steps, &text)?;
    Ok(vec![crt, steps])
}

/// Writes the certificate of the version now current (and its setup steps); drops the pending
/// certificate file when no rotation is left.
fn write_current_files(
    config: &Config,
    doc: &SecretDocument,
    rotation_left: bool,
) -> Result<Vec<PathBuf>> {
    let info = crypto::certificate_info(&doc.certificate_pem)?;
    let written = instructions::write(config, &doc.certificate_pem, &info)?;
    if !rotation_left {
        let _ = std::fs::remove_file(config.output_dir.join(PENDING_CERTIFICATE_FILE));
        let _ = std::fs::remove_file(config.output_dir.join(ROTATION_FILE));
    }
    Ok(vec![written.certificate, written.setup_steps])
}

/// `rotate finish`: proves the pending key with a live token exchange, then moves AWSCURRENT.
pub async fn finish(
    config: &Config,
    aws: &impl SecretStore,
    sf: &impl Salesforce,
    rep: &Reporter,
) -> Result<RotateReport> {
    let name = &config.secret.name;
    rep.progress(format!("Reading the versions of {name}"));
    let versions = read_versions(config, aws).await?;
    let cur = current(&versions, config)?;
    let Some(p) = pending(&versions) else {
        let outcome = if cur.has(PENDING) {
            // The earlier finish moved AWSCURRENT and stopped before dropping AWSPENDING.
            aws.move_stage(name, PENDING, None, Some(&cur.version_id))
                .await?;
            "finished (completed an interrupted finish)"
        } else {
            "nothing to finish: no rotation in progress"
        };
        let files = write_current_files(config, cur.doc()?, false)?;
        rep.result("rotation", outcome);
        return Ok(RotateReport {
            step: "finish",
            outcome: outcome.into(),
            current: Some(cur.brief()),
            pending: None,
            previous: find(&versions, PREVIOUS).map(Version::brief),
            files,
            next: None,
        });
    };
    let doc = p.doc()?;
    let now = OffsetDateTime::now_utc();
    let checked = preflight::check_version(doc, now).map_err(|f| Failure {
        message: format!(
            "the pending version {} fails the preflight check, nothing was changed: {}",
            p.version_id, f.message
        ),
        ..f
    })?;
    for w in &checked.warnings {
        rep.warn(w);
    }
    rep.progress(format!(
        "Signing in with the pending key (certificate SHA-256 {})",
        checked.certificate.sha256
    ));
    let crt = config.output_dir.join(PENDING_CERTIFICATE_FILE);
    let proof = verify::prove(doc, &checked.certificate, sf, now)
        .await
        .map_err(|f| {
            let app = &doc.settings.consumer_key;
            if f.code == "salesforce.invalid_grant" && f.message.contains("invalid assertion") {
                Failure::runtime(
                    "rotate.not_on_app",
                    format!(
                        "Salesforce refused the pending key: the new certificate (SHA-256 {}) is not on the app {app} yet; nothing was changed ({})",
                        checked.certificate.sha256, f.message
                    ),
                )
                .with_fix(format!(
                    "upload {} to the app {app} (see {}), wait a few minutes for it to propagate, and run `sfglue rotate finish` again",
                    crt.display(),
                    config.output_dir.join(ROTATION_FILE).display()
                ))
            } else {
                Failure {
                    message: format!(
                        "the pending key could not sign in, nothing was changed: {}",
                        f.message
                    ),
                    ..f
                }
            }
        })?;
    rep.result(
        "token exchange",
        format!(
            "ok         pending key accepted: org {}  user {}",
            proof.org_id, proof.user_id
        ),
    );
    aws.move_stage(name, CURRENT, Some(&p.version_id), Some(&cur.version_id))
        .await?;
    aws.move_stage(name, PENDING, None, Some(&p.version_id))
        .await?;
    rep.result(
        "secret",
        format!(
            "finished   AWSCURRENT is version {} (the old {} is AWSPREVIOUS)",
            p.version_id, cur.version_id
        ),
    );
    let files = write_current_files(config, doc, false)?;
    let next = if doc.settings.consumer_key != cur.doc()?.settings.consumer_key {
        format!(
            "the job now signs in through the app {}; the app {} keeps the old certificate for a rollback",
            doc.settings.consumer_key,
            cur.doc()?.settings.consumer_key
        )
    } else {
        "the rotation is done; `sfglue rotate rollback` goes back while the old certificate is at hand".to_string()
    };
    rep.result("next", &next);
    let mut new_current = p.brief();
    new_current.labels = vec![CURRENT.into()];
    let mut previous = cur.brief();
    previous.labels = vec![PREVIOUS.into()];
    Ok(RotateReport {
        step: "finish",
        outcome: "finished".into(),
        current: Some(new_current),
        pending: None,
        previous: Some(previous),
        files,
        next: Some(next),
    })
}

/// `rotate rollback`: AWSPREVIOUS becomes AWSCURRENT again.
pub async fn rollback(
    config: &Config,
    aws: &impl SecretStore,
    rep: &Reporter,
) -> Result<RotateReport> {
    let name = &config.secret.name;
    rep.progress(format!("Reading the versions of {name}"));
    let versions = read_versions(config, aws).await?;
    let cur = current(&versions, config)?;
    let prev = find(&versions, PREVIOUS).ok_or_else(|| {
        Failure::runtime(
            "rotate.no_previous",
            format!(
                "the secret {name} has no AWSPREVIOUS version: there is nothing to roll back to"
            ),
        )
    })?;
    if prev.has(ROLLED_BACK) {
        let files = write_current_files(config, cur.doc()?, pending(&versions).is_some())?;
        rep.result(
            "rotation",
            format!(
                "already rolled back: AWSCURRENT is version {}",
                cur.version_id
            ),
        );
        return Ok(RotateReport {
            step: "rollback",
            outcome: "already rolled back".into(),
            current: Some(cur.brief()),
            pending: pending(&versions).map(Version::brief),
            previous: Some(prev.brief()),
            files,
            next: None,
        });
    }
    let prev_doc = prev.doc()?;
    if !cur.has(ROLLED_BACK) {
        let holder = find(&versions, ROLLED_BACK).map(|v| v.version_id.as_str());
        aws.move_stage(name, ROLLED_BACK, Some(&cur.version_id), holder)
            .await?;
    }
    aws.move_stage(name, CURRENT, Some(&prev.version_id), Some(&cur.version_id))
        .await?;
    rep.result(
        "secret",
        format!(
            "rolled back AWSCURRENT is version {} again (certificate SHA-256 {}); {} is AWSPREVIOUS",
            prev.version_id, prev_doc.certificate_sha256, cur.version_id
        ),
    );
    let files = write_current_files(config, prev_doc, pending(&versions).is_some())?;
    let next = format!(
        "if the app {} holds another certificate now, upload {} (SHA-256 {}) to it again; until then the job signs in with AWSPREVIOUS",
        prev_doc.settings.consumer_key,
        files[0].display(),
        prev_doc.certificate_sha256
    );
    rep.result("next", &next);
    if let Some(p) = pending(&versions) {
        rep.warn(format!(
            "a rotation is still pending (version {}); `sfglue rotate cancel` drops it",
            p.version_id
        ));
    }
    Ok(RotateReport {
        step: "rollback",
        outcome: "rolled back".into(),
        current: Some(prev.brief()),
        pending: pending(&versions).map(Version::brief),
        previous: Some(cur.brief()),
        files,
        next: Some(next),
    })
}

/// `rotate cancel`: drops the AWSPENDING label of a rotation that was started, not finished.
pub async fn cancel(
    config: &Config,
    aws: &impl SecretStore,
    rep: &Reporter,
) -> Result<RotateReport> {
    let name = &config.secret.name;
    let versions = read_versions(config, aws).await?;
    let cur = current(&versions, config)?;
    let outcome = match pending(&versions) {
        Some(p) => {
            aws.move_stage(name, PENDING, None, Some(&p.version_id))
                .await?;
            format!("cancelled: version {} is no longer pending", p.version_id)
        }
        None => "nothing to cancel: no rotation in progress".to_string(),
    };
    let files = write_current_files(config, cur.doc()?, false)?;
    rep.result("rotation", &outcome);
    Ok(RotateReport {
        step: "cancel",
        outcome,
        current: Some(cur.brief()),
        pending: None,
        previous: find(&versions, PREVIOUS).map(Version::brief),
        files,
        next: Some(format!(
            "if you already uploaded the new certificate, upload {} to the app again",
            config
                .output_dir
                .join(instructions::CERTIFICATE_FILE)
                .display()
        )),
    })
}

// ---------------------------------------------------------------------------------------------
// status

#[derive(Debug, Serialize)]
pub struct VersionStatus {
    pub version_id: String,
    pub labels: Vec<String>,
    pub created: Option<String>,
    pub consumer_key: Option<String>,
    pub certificate: Option<CertificateInfo>,
    pub days_left: Option<i64>,
    /// True or false when a sign-in was tried, None when it was not.
    pub salesforce_accepts: Option<bool>,
    /// Why Salesforce refused it, or why it was not tried.
    pub salesforce_detail: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub secret: String,
    pub versions: Vec<VersionStatus>,
    pub rotation_in_progress: bool,
    pub current_days_left: Option<i64>,
    /// The versions Salesforce accepted in this run (by id).
    pub accepted_now: Vec<String>,
    pub fail_within_days: Option<u32>,
}

/// `status`: every labelled version with its certificate, and (unless `sign_in` is false) which
/// one Salesforce accepts right now. With `fail_within`, fails (exit 4) when the current
/// certificate expires within that many days.
pub async fn status(
    config: &Config,
    aws: &impl SecretStore,
    sf: &impl Salesforce,
    rep: &Reporter,
    sign_in: bool,
    fail_within: Option<u32>,
) -> std::result::Result<StatusReport, (Failure, Option<StatusReport>)> {
    let versions = read_versions(config, aws).await.map_err(|f| (f, None))?;
    let now = OffsetDateTime::now_utc();
    let mut out = Vec::new();
    for v in &versions {
        let certificate = v
            .doc
            .as_ref()
            .and_then(|d| crypto::certificate_info(&d.certificate_pem).ok());
        let days_left = certificate.as_ref().map(|c| c.days_left(now));
        let (accepts, detail) = match (&v.doc, sign_in) {
            (None, _) => (None, v.problem.clone()),
            (Some(_), false) => (None, Some("not checked (--no-sign-in)".to_string())),
            (Some(d), true) if d.settings.consumer_key.is_empty() => {
                (None, Some("not checked: no consumer key yet".to_string()))
            }
            (Some(d), true) => match preflight::check_version(d, now) {
                Err(f) => (None, Some(format!("not checked: {}", f.message))),
                Ok(c) => match verify::prove(d, &c.certificate, sf, now).await {
                    Ok(_) => (Some(true), None),
                    Err(f) => (Some(false), Some(f.message)),
                },
            },
        };
        rep.result(
            "version",
            format!(
                "{}  [{}]  created {}",
                v.version_id,
                v.stages.join(", "),
                v.created.as_deref().unwrap_or("?")
            ),
        );
        if let Some(c) = &certificate {
            rep.result(
                "  certificate",
                format!("{}  SHA-256 {}", c.subject, c.sha256),
            );
            rep.result(
                "  valid",
                format!(
                    "{} to {}  ({} days left)",
                    c.not_before,
                    c.not_after,
                    c.days_left(now)
                ),
            );
        }
        if let Some(d) = &v.doc {
            let key = &d.settings.consumer_key;
            rep.result(
                "  app",
                if key.is_empty() {
                    "no consumer key yet (the Salesforce setup is not finished)".to_string()
                } else {
                    format!("consumer key {key}")
                },
            );
        }
        rep.result(
            "  salesforce",
            match (accepts, &detail) {
                (Some(true), _) => "accepts this key now".to_string(),
                (Some(false), Some(d)) => format!("refuses this key: {d}"),
                (_, Some(d)) => d.clone(),
                _ => "not checked".to_string(),
            },
        );
        out.push(VersionStatus {
            version_id: v.version_id.clone(),
            labels: v.stages.clone(),
            created: v.created.clone(),
            consumer_key: v.doc.as_ref().map(|d| d.settings.consumer_key.clone()),
            certificate,
            days_left,
            salesforce_accepts: accepts,
            salesforce_detail: detail,
        });
    }
    let current = out.iter().find(|v| v.labels.iter().any(|l| l == CURRENT));
    let current_days_left = current.and_then(|v| v.days_left);
    if let Some(c) = current.and_then(|v| v.certificate.as_ref()) {
        verify::warn_if_expiring(rep, c, now);
    }
    let report = StatusReport {
        secret: config.secret.name.clone(),
        rotation_in_progress: pending(&versions).is_some(),
        accepted_now: out
            .iter()
            .filter(|v| v.salesforce_accepts == Some(true))
            .map(|v| v.version_id.clone())
            .collect(),
        current_days_left,
        fail_within_days: fail_within,
        versions: out,
    };
    if report.rotation_in_progress {
        rep.result(
            "rotation",
            "in progress: finish with `sfglue rotate finish`",
        );
    }
    if let Some(days) = fail_within {
        let left = report.current_days_left.unwrap_or(i64::MIN);
        if left < i64::from(days) {
            let f = Failure::new(
                ExitClass::ExpiresSoon,
                "certificate.expires_soon",
                match report.current_days_left {
                    Some(l) => format!(
                        "the current certificate expires in {l} days, within the {days} days of --fail-within"
                    ),
                    None => "the current version has no readable certificate".to_string(),
                },
            )
            .with_fix("rotate it: `sfglue rotate start`, upload the new certificate, `sfglue rotate finish`");
            return Err((f, Some(report)));
        }
    }
    Ok(report)
}

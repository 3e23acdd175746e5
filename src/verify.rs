//! `sfglue verify`: prove the sign-in with the key stored in Secrets Manager, and optionally run
//! the Glue job and wait for it.
//!
//! Before any network call to Salesforce it checks that the key parses, belongs to the
//! certificate, and that the certificate is valid. Then it signs an assertion, exchanges it, and
//! makes one authenticated REST call. The access token never leaves this module.

use crate::aws::{JobRunStatus, JobService, RunLogs, SecretStore};
use crate::config::Config;
use crate::crypto;
use crate::error::{ExitClass, Failure, Result};
use crate::preflight;
use crate::report::Reporter;
use crate::rotate;
use crate::salesforce::{Salesforce, SignInProof};
use crate::secret_doc::{self, JobSettings, SecretDocument};
use serde::Serialize;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// Lifetime of the assertion: Salesforce documents "within 3 minutes".
const ASSERTION_LIFETIME: time::Duration = time::Duration::minutes(3);

/// `apply`, `verify` and `status` warn when the certificate expires sooner than this.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// The log groups a job writes its output and errors to: Python shell jobs and Spark jobs
/// have their own.
fn log_groups(config: &Config) -> (&'static str, &'static str) {
    match config.glue.job_type {
        crate::config::JobType::PythonShell { .. } => (
            "/aws-glue/python-jobs/output",
            "/aws-glue/python-jobs/error",
        ),
        crate::config::JobType::Spark { .. } => ("/aws-glue/jobs/output", "/aws-glue/jobs/error"),
    }
}

#[derive(Debug, Serialize)]
pub struct VerifyReport {
    pub secret_version: String,
    /// The label of the version that signed in: `AWSCURRENT`, or `AWSPENDING` while a rotation
    /// is in progress and the app already holds the pending certificate.
    pub stage: &'static str,
    pub certificate: crypto::CertificateInfo,
    pub sign_in: SignInProof,
    pub job_run: Option<JobRunReport>,
}

#[derive(Debug, Serialize)]
pub struct JobRunReport {
    #[serde(flatten)]
    pub status: JobRunStatus,
    /// The script's per-query summary lines, from the run's output log.
    pub summary: Vec<String>,
}

pub trait VerifyAws: SecretStore + JobService + RunLogs {}
impl<T: SecretStore + JobService + RunLogs> VerifyAws for T {}

/// The secret's AWSCURRENT version: its id and its document. A secret that does not exist yet
/// is `secret.missing`, with the fix.
pub async fn current_document(
    aws: &impl SecretStore,
    name: &str,
) -> Result<(String, SecretDocument)> {
    let version = aws.current_version(name).await.map_err(|f| {
        if f.code == "aws.ResourceNotFoundException" {
            secret_doc::secret_missing(name)
        } else {
            f
        }
    })?;
    Ok((
        version.version_id,
        SecretDocument::parse(name, &version.text)?,
    ))
}

pub async fn run(
    config: &Config,
    aws: &impl VerifyAws,
    sf: &impl Salesforce,
    rep: &Reporter,
    run_job: bool,
) -> Result<VerifyReport> {
    rep.progress("Reading the key from Secrets Manager");
    let (version_id, doc) = current_document(aws, &config.secret.name).await?;
    let settings = &doc.settings;
    let from_config = JobSettings::desired(&config.salesforce, Some(settings));
    let differing = settings.differing_fields(&from_config);
    if !differing.is_empty() {
        rep.warn(format!(
            "the secret's settings differ from the config ({}); the job uses the secret's: run `sfglue apply` to store the config's",
            differing.join(", ")
        ));
    }
    if settings.consumer_key.is_empty() {
        return Err(Failure::new(
            ExitClass::WaitingForSalesforce,
            "salesforce.setup_pending",
            "the secret has no consumer key yet, so there is nothing to sign in with",
        )
        .with_fix("finish the Salesforce setup, put the app's Consumer Key in salesforce.consumer_key, and run `sfglue apply`"));
    }

    let now = OffsetDateTime::now_utc();
    let checked = preflight::check_version(&doc, now)?;
    for w in &checked.warnings {
        rep.warn(w);
    }
    let certificate = checked.certificate;
    let days = certificate.days_left(now);
    rep.result(
        "key",
        format!(
            "ok         matches certificate SHA-256 {} ({} days left)",
            certificate.sha256, days
        ),
    );
    warn_if_expiring(rep, &certificate, now);

    rep.progress(format!(
        "Exchanging a JWT assertion at {}/services/oauth2/token",
        settings.login_url
    ));
    let (stage, version_id, certificate, sign_in) = match prove(&doc, &certificate, sf, now).await {
        Ok(sign_in) => (rotate::CURRENT, version_id, certificate, sign_in),
        Err(refused) if refused_assertion(&refused) => {
            sign_in_mid_rotation(config, aws, sf, rep, now, refused).await?
        }
        Err(f) => return Err(f),
    };
    rep.result(
        "token exchange",
        format!(
            "ok         org {}  user {}  ({} ms)",
            sign_in.org_id, sign_in.user_id, sign_in.token_ms
        ),
    );
    rep.result(
        "api",
        format!(
            "ok         {}  scopes [{}]  ({} ms)",
            sign_in.instance_url,
            sign_in.scopes.join(" "),
            sign_in.api_ms
        ),
    );

    let job_run = if run_job {
        Some(run_and_wait(config, aws, rep).await?)
    } else {
        None
    };

    Ok(VerifyReport {
        secret_version: version_id,
        stage,
        certificate,
        sign_in,
        job_run,
    })
}

/// Salesforce refused the assertion as not matching the app's certificate.
fn refused_assertion(f: &Failure) -> bool {
    f.code == "salesforce.invalid_grant" && f.message.contains("invalid assertion")
}

/// The current key was refused. Between `rotate start` and `rotate finish` the app may already
/// hold the pending certificate: the job then signs in with the pending key (its fallback), so
/// verify tries it too and says the rotation waits to be finished. Without a pending version, or
/// when Salesforce refuses it as well, the current key's refusal stands, with a fix that never
/// asks to put the old certificate back in the middle of a rotation.
async fn sign_in_mid_rotation(
    config: &Config,
    aws: &impl VerifyAws,
    sf: &impl Salesforce,
    rep: &Reporter,
    now: OffsetDateTime,
    refused: Failure,
) -> Result<(&'static str, String, crypto::CertificateInfo, SignInProof)> {
    let Some((pending_id, pending)) = rotate::pending_document(config, aws).await? else {
        return Err(refused);
    };
    let mid_rotation_fix = |detail: &str| {
        format!(
            "a rotation is in progress (pending certificate SHA-256 {}){detail}: upload {} to the app with Consumer Key {} as {} says (`sfglue rotate start` writes both again if they are gone), allow a few minutes, then run `sfglue rotate finish`; or drop the rotation with `sfglue rotate cancel`",
            pending.certificate_sha256,
            config
                .output_dir
                .join(rotate::PENDING_CERTIFICATE_FILE)
                .display(),
            pending.settings.consumer_key,
            config.output_dir.join(rotate::ROTATION_FILE).display()
        )
    };
    let checked = match preflight::check_version(&pending, now) {
        Ok(c) => c,
        Err(f) => {
            let detail = format!(" but its key is unusable ({})", f.message);
            return Err(refused.with_fix(mid_rotation_fix(&detail)));
        }
    };
    match prove(&pending, &checked.certificate, sf, now).await {
        Ok(sign_in) => {
            rep.result(
                "pending key",
                format!(
                    "ok         certificate SHA-256 {} (AWSPENDING) is the one Salesforce accepts",
                    checked.certificate.sha256
                ),
            );
            rep.warn(
                "Salesforce refuses the current key and accepts the pending one: a rotation is in progress. \
                 The job signs in with the pending key until you run `sfglue rotate finish`.",
            );
            Ok((rotate::PENDING, pending_id, checked.certificate, sign_in))
        }
        Err(_) => Err(refused.with_fix(mid_rotation_fix(
            ", and Salesforce accepts neither the current nor the pending key",
        ))),
    }
}

/// Warns on stderr when the certificate expires within [`EXPIRY_WARNING_DAYS`].
pub fn warn_if_expiring(
    rep: &Reporter,
    certificate: &crypto::CertificateInfo,
    now: OffsetDateTime,
) {
    let days = certificate.days_left(now);
    if days < EXPIRY_WARNING_DAYS {
        rep.warn(format!(
            "the certificate {} expires in {days} days ({}): plan a rotation (`sfglue rotate start`)",
            certificate.sha256, certificate.not_after
        ));
    }
}

/// The live proof: signs an assertion with the version's key, exchanges it, and makes one
/// authenticated REST call. The token is dropped here.
pub async fn prove(
    doc: &SecretDocument,
    certificate: &crypto::CertificateInfo,
    sf: &impl Salesforce,
    now: OffsetDateTime,
) -> Result<SignInProof> {
    let settings = &doc.settings;
    let assertion = crypto::sign_assertion(
        &doc.private_key_pem,
        &settings.consumer_key,
        &settings.username,
        &settings.audience,
        now,
        ASSERTION_LIFETIME,
    )?;
    let token_url = format!("{}/services/oauth2/token", settings.login_url);
    let started = Instant::now();
    let token = sf.exchange(&token_url, &assertion).await.map_err(|f| {
        if refused_assertion(&f) {
            Failure {
                message: format!(
                    "{} [this key's certificate: SHA-256 {}]",
                    f.message, certificate.sha256
                ),
                ..f
            }
        } else {
            f
        }
    })?;
    let token_ms = started.elapsed().as_millis();
    let (org_id, user_id) = token.org_and_user();
    let api_url = format!(
        "{}/services/data/v{}/",
        token.instance_url.trim_end_matches('/'),
        settings.api_version
    );
    let started = Instant::now();
    sf.get_authenticated(&api_url, &token.access_token).await?;
    let api_ms = started.elapsed().as_millis();
    Ok(SignInProof {
        org_id,
        user_id,
        instance_url: token.instance_url.clone(),
        scopes: token.scope.split_whitespace().map(str::to_string).collect(),
        token_ms,
        api_ms,
    })
}

pub async fn run_and_wait(
    config: &Config,
    aws: &impl VerifyAws,
    rep: &Reporter,
) -> Result<JobRunReport> {
    let job = &config.glue.job_name;
    let run_id = aws.start_job_run(job).await?;
    rep.progress(format!(
        "Started job run {run_id} of {job}; waiting for it to finish"
    ));
    let deadline =
        Instant::now() + Duration::from_secs(u64::from(config.glue.timeout_minutes) * 60 + 300);
    let started = Instant::now();
    let mut delay = Duration::from_millis(500);
    let live = rep.stderr_is_terminal() && rep.verbosity >= 0;
    let mut last_state = String::new();
    let status = loop {
        let status = aws.get_job_run(job, &run_id).await?;
        if status.state != last_state {
            if live {
                eprint!("\r\x1b[2K");
            }
            rep.progress(format!(
                "  {} after {}s",
                status.state,
                started.elapsed().as_secs()
            ));
            last_state = status.state.clone();
        } else if live {
            eprint!("\r  {} for {}s", status.state, started.elapsed().as_secs());
        }
        if status.is_terminal() {
            break status;
        }
        if Instant::now() > deadline {
            return Err(Failure::runtime(
                "glue.wait_timeout",
                format!(
                    "job run {run_id} is still {} after the job's timeout; stopped waiting",
                    status.state
                ),
            )
            .with_fix("look at the run in the Glue console or with `aws glue get-job-run`"));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 3 / 2).min(Duration::from_secs(15));
    };
    if live {
        eprint!("\r\x1b[2K");
    }
    let log = aws
        .run_output(log_groups(config).0, &run_id)
        .await
        .unwrap_or_else(|f| {
            rep.warn(format!("cannot read the run's log: {}", f.message));
            Vec::new()
        });
    let summary: Vec<String> = log
        .into_iter()
        .filter(|l| l.starts_with("sfglue query="))
        .collect();
    rep.result(
        "job run",
        format!(
            "{:<10} {run_id} ({}s)",
            status.state, status.execution_seconds
        ),
    );
    for line in &summary {
        rep.result("query", line.trim_start_matches("sfglue query="));
    }
    Ok(JobRunReport { status, summary })
}

/// The failure to report when the job run that `verify --run-job` waited for did not succeed.
/// Kept apart from the report, so that the run (its id, state and summary lines) is printed
/// and in the JSON result either way.
pub fn job_run_failure(config: &Config, report: &VerifyReport) -> Option<Failure> {
    let status = &report.job_run.as_ref()?.status;
    if status.state == "SUCCEEDED" {
        return None;
    }
    let run_id = &status.run_id;
    let (output, errors) = log_groups(config);
    Some(
        Failure::runtime(
            "glue.run_failed",
            format!(
                "job run {run_id} ended {}: {}",
                status.state,
                status
                    .error_message
                    .as_deref()
                    .unwrap_or("(no error message)")
            ),
        )
        .with_fix(format!(
            "read the run's logs in CloudWatch ({output} and {errors}, stream {run_id})"
        )),
    )
}

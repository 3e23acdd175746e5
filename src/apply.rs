//! `sfglue apply`: observe what exists, compute the plan, execute exactly it, then verify.
//!
//! Order: secret (the key is generated only when the secret does not exist), setup steps and
//! certificate on disk, buckets, script object, role, role policy, job. Every write is safe to
//! repeat: a re-run after any failure converges, and a converged run makes read calls only.

use crate::aws::{
    CallerIdentity, Identity, JobService, ObjectState, ObjectStore, RoleStore, RunLogs,
    SecretStore, managed_tags,
};
use crate::config::Config;
use crate::crypto;
use crate::error::{ExitClass, Failure, Result};
use crate::glue_script;
use crate::instructions;
use crate::plan::{self, Action, Change, Observed, ObservedSecret, Plan, ResourceKind};
use crate::policy;
use crate::report::Reporter;
use crate::salesforce::Salesforce;
use crate::secret_doc::{JobSettings, SecretDocument};
use crate::verify::{self, VerifyReport};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct ApplyReport {
    pub identity: CallerIdentity,
    pub certificate: crypto::CertificateInfo,
    /// True when this run generated the key and certificate.
    pub key_generated: bool,
    pub secret_version: String,
    pub setup_steps: instructions::Written,
    pub changes: Vec<Change>,
    pub changed: bool,
    pub verify: Option<VerifyReport>,
}

/// Every AWS capability apply needs.
pub trait ApplyAws:
    Identity + SecretStore + ObjectStore + RoleStore + JobService + RunLogs
{
}
impl<T: Identity + SecretStore + ObjectStore + RoleStore + JobService + RunLogs> ApplyAws for T {}

pub async fn run(
    config: &Config,
    aws: &impl ApplyAws,
    sf: &impl Salesforce,
    rep: &Reporter,
) -> std::result::Result<ApplyReport, (Failure, Option<ApplyReport>)> {
    let no_report = |f: Failure| (f, None);

    rep.progress("Resolving the AWS identity");
    let id = aws.caller().await.map_err(no_report)?;
    rep.result(
        "aws",
        format!(
            "account {}  region {}  endpoint {}",
            id.account,
            id.region,
            id.endpoint.as_deref().unwrap_or("AWS default")
        ),
    );

    rep.progress("Reading what exists");
    let observed = observe(config, aws).await.map_err(no_report)?;
    let plan = plan::compute(config, &id, &observed);
    for c in &plan.changes {
        rep.detail(format!(
            "plan: {} {} {}",
            c.resource.label(),
            c.name,
            action_word(&c.action)
        ));
    }
    // Refuse before the first write, so a refusal leaves nothing half made.
    if !config.glue.create_buckets
        && let Some((bucket, _)) = observed.buckets.iter().find(|(_, exists)| !exists)
    {
        return Err(no_report(
            Failure::config(
                "glue.bucket_missing",
                format!("the S3 bucket {bucket} does not exist, and glue.create_buckets is false"),
            )
            .with_fix("create the bucket, or set glue.create_buckets: true to let sfglue create it (private, encrypted)"),
        ));
    }

    let executed = execute(config, aws, &id, &observed, &plan, rep)
        .await
        .map_err(no_report)?;

    let mut report = ApplyReport {
        identity: id,
        certificate: executed.certificate,
        key_generated: executed.key_generated,
        secret_version: executed.secret_version,
        setup_steps: executed.setup_steps,
        changed: plan.has_changes(),
        changes: plan.changes,
        verify: None,
    };
    if !report.changed {
        rep.result("summary", "no changes: every resource is up to date");
    }

    if config.salesforce.consumer_key.is_none() {
        rep.result(
            "next",
            format!(
                "do the Salesforce setup in {}, put the Consumer Key in {}, then run `sfglue apply` again",
                report.setup_steps.setup_steps.display(),
                config.path.display()
            ),
        );
        let f = Failure::new(
            ExitClass::WaitingForSalesforce,
            "salesforce.setup_pending",
            "AWS is set up; waiting for the Salesforce app (no consumer_key in the config yet)",
        )
        .with_fix(format!(
            "follow {} and copy the app's Consumer Key into salesforce.consumer_key",
            report.setup_steps.setup_steps.display()
        ));
        return Err((f, Some(report)));
    }

    match verify::run(config, aws, sf, rep, false).await {
        Ok(v) => {
            report.verify = Some(v);
            Ok(report)
        }
        Err(f) => Err((f, Some(report))),
    }
}

fn action_word(a: &Action) -> String {
    match a {
        Action::Create => "create".into(),
        Action::Update { fields } => format!("update ({})", fields.join(", ")),
        Action::Unchanged => "unchanged".into(),
    }
}

/// Reads the current state of every resource. Read calls only.
pub async fn observe(config: &Config, aws: &impl ApplyAws) -> Result<Observed> {
    let secret_name = &config.secret.name;
    let secret = match aws.describe_secret(secret_name).await? {
        None => None,
        Some(meta) if meta.deleted_date.is_some() => {
            return Err(Failure::runtime(
                "secret.scheduled_for_deletion",
                format!(
                    "the secret {secret_name} is scheduled for deletion (on {})",
                    meta.deleted_date.unwrap_or_default()
                ),
            )
            .with_fix(format!(
                "restore it (aws secretsmanager restore-secret --secret-id {secret_name}) to keep its key, or choose another secret.name"
            )));
        }
        Some(_) => {
            let version = aws.current_version(secret_name).await?;
            let document = SecretDocument::parse(secret_name, &version.text)?;
            Some(ObservedSecret {
                arn: version.arn,
                version_id: version.version_id,
                document,
            })
        }
    };

    let mut bucket_names = vec![config.glue.script.bucket.clone()];
    if config.glue.output.bucket != config.glue.script.bucket {
        bucket_names.push(config.glue.output.bucket.clone());
    }
    let mut buckets = Vec::new();
    for b in bucket_names {
        let exists = aws.bucket_exists(&b).await?;
        buckets.push((b, exists));
    }
    let script_bucket_exists = buckets.first().is_some_and(|(_, e)| *e);
    let script = if script_bucket_exists {
        aws.object_state(&config.glue.script).await?
    } else {
        ObjectState::Missing
    };
    let role = aws.get_role(&config.glue.role_name).await?;
    let role_policy = if role.is_some() {
        aws.get_inline_policy(&config.glue.role_name, policy::INLINE_POLICY_NAME)
            .await?
    } else {
        None
    };
    let job = aws.get_job(&config.glue.job_name).await?;
    Ok(Observed {
        secret,
        buckets,
        script,
        role,
        role_policy,
        job,
    })
}

struct Executed {
    certificate: crypto::CertificateInfo,
    key_generated: bool,
    secret_version: String,
    setup_steps: instructions::Written,
}

/// A request token that is the same for the same change (the same content replacing the same
/// version), so that a retried call does not create a second version: Secrets Manager treats a
/// repeated token as the same call. The replaced version is part of it, so going back to earlier
/// settings is a new change and makes a new version.
fn request_token(
    secret_name: &str,
    replaces: Option<&str>,
    text: &crate::secret::Sensitive,
) -> String {
    let mut material = secret_name.as_bytes().to_vec();
    material.push(0);
    material.extend_from_slice(replaces.unwrap_or("").as_bytes());
    material.push(0);
    material.extend_from_slice(text.expose().as_bytes());
    crypto::sha256_hex(&material)[..64].to_string()
}

async fn execute(
    config: &Config,
    aws: &impl ApplyAws,
    id: &CallerIdentity,
    observed: &Observed,
    plan: &Plan,
    rep: &Reporter,
) -> Result<Executed> {
    let settings = JobSettings::from_config(&config.salesforce);
    let tags = managed_tags(&config.name);
    let mut key_generated = false;

    // 1. Secret.
    let (secret_arn, secret_version, document) =
        match (plan.action_for(ResourceKind::Secret), &observed.secret) {
            (Some(Action::Create), _) => {
                rep.progress(format!(
                    "Generating an RSA-{} key and a self-signed certificate",
                    config.certificate.key_size
                ));
                let key = crypto::generate(
                    &config.certificate.common_name,
                    config.certificate.key_size,
                    config.certificate.validity_days,
                )?;
                key_generated = true;
                rep.result(
                    "certificate",
                    format!(
                        "generated  SHA-256 {}  expires {}",
                        key.info.sha256, key.info.not_after
                    ),
                );
                let doc = SecretDocument::new(&key, settings);
                let text = doc.to_secret_string();
                let (arn, version) = aws
                    .create_secret(
                        &config.secret.name,
                        &text,
                        config.secret.kms_key_id.as_deref(),
                        &request_token(&config.secret.name, None, &text),
                        &tags,
                    )
                    .await?;
                rep.result("secret", format!("created    {arn}"));
                (arn, version, doc)
            }
            (Some(Action::Update { fields }), Some(current)) => {
                let doc = current.document.with_settings(settings);
                let text = doc.to_secret_string();
                let version = aws
                    .put_secret_version(
                        &current.arn,
                        &text,
                        &request_token(&config.secret.name, Some(&current.version_id), &text),
                    )
                    .await?;
                rep.result(
                    "certificate",
                    format!("kept       SHA-256 {}", doc.certificate_sha256),
                );
                rep.result(
                    "secret",
                    format!(
                        "updated    {} (new version with the same key; changed: {})",
                        current.arn,
                        fields.join(", ")
                    ),
                );
                (current.arn.clone(), version, doc)
            }
            (_, Some(current)) => {
                rep.result(
                    "certificate",
                    format!("kept       SHA-256 {}", current.document.certificate_sha256),
                );
                rep.result("secret", format!("unchanged  {}", current.arn));
                (
                    current.arn.clone(),
                    current.version_id.clone(),
                    current.document.clone(),
                )
            }
            (_, None) => {
                return Err(Failure::runtime(
                    "plan.inconsistent",
                    "the plan has no secret step for a missing secret",
                ));
            }
        };
    let certificate = crypto::certificate_info(&document.certificate_pem)?;

    // 2. The Salesforce setup steps and the public certificate.
    let written = instructions::write(config, &document.certificate_pem, &certificate)?;
    rep.result(
        "setup steps",
        format!(
            "{:<10} {}",
            if written.changed {
                "written"
            } else {
                "unchanged"
            },
            written.setup_steps.display()
        ),
    );
    rep.detail(format!(
        "certificate file {}",
        written.certificate.display()
    ));

    // 3. Buckets and the script.
    for change in plan
        .changes
        .iter()
        .filter(|c| c.resource == ResourceKind::Bucket)
    {
        let bucket = change.name.trim_start_matches("s3://");
        if change.action == Action::Create {
            aws.create_private_bucket(bucket, &id.region, &tags).await?;
            rep.result("bucket", format!("created    {}", change.name));
        } else {
            rep.result("bucket", format!("unchanged  {}", change.name));
        }
    }
    let script_action = plan.action_for(ResourceKind::Script);
    if script_action != Some(&Action::Unchanged) {
        let body = glue_script::SOURCE.as_bytes();
        aws.put_object(&config.glue.script, body, &crypto::sha256_hex(body))
            .await?;
    }
    rep.result(
        "script",
        format!(
            "{}{}",
            verb(script_action, "uploaded"),
            config.glue.script.uri()
        ),
    );

    // 4. Role and inline policy.
    let role_action = plan.action_for(ResourceKind::Role);
    let trust = policy::trust_policy();
    match role_action {
        Some(Action::Create) => {
            aws.create_role(&config.glue.role_name, &trust, &tags)
                .await?;
        }
        Some(Action::Update { .. }) => {
            aws.update_trust_policy(&config.glue.role_name, &trust)
                .await?;
        }
        _ => {}
    }
    rep.result(
        "role",
        format!(
            "{}{}",
            verb(role_action, "created"),
            plan::role_arn(config, id)
        ),
    );
    let policy_action = plan.action_for(ResourceKind::RolePolicy);
    if policy_action != Some(&Action::Unchanged) {
        let doc = plan::desired_policy(config, id, &secret_arn);
        aws.put_inline_policy(&config.glue.role_name, policy::INLINE_POLICY_NAME, &doc)
            .await?;
    }
    rep.result(
        "role policy",
        format!(
            "{}{}",
            verb(policy_action, "created"),
            policy::INLINE_POLICY_NAME
        ),
    );

    // 5. The job (UpdateJob replaces the whole definition, so send all of it).
    let job_action = plan.action_for(ResourceKind::Job);
    let spec = plan::desired_job(config, id, &secret_arn);
    match job_action {
        Some(Action::Create) => aws.create_job(&spec, &tags).await?,
        Some(Action::Update { .. }) => aws.update_job(&spec).await?,
        _ => {}
    }
    rep.result(
        "job",
        format!("{}{}", verb(job_action, "created"), spec.name),
    );

    Ok(Executed {
        certificate,
        key_generated,
        secret_version,
        setup_steps: written,
    })
}

/// The word for an action in the result lines, padded to line up.
fn verb(action: Option<&Action>, created: &str) -> String {
    let w = match action {
        Some(Action::Create) => created.to_string(),
        Some(Action::Update { fields }) => format!("updated ({})", fields.join(", ")),
        _ => "unchanged".to_string(),
    };
    format!("{w:<10} ")
}

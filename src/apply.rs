//! `sfglue plan` and `sfglue apply`: observe what exists, compute the plan, execute exactly it.
//!
//! Order: secret (the key is generated only when the secret does not exist), setup steps and
//! certificate on disk, buckets, script object, role, role policy, job, schedule. Every write is
//! safe to repeat: a re-run after any failure converges, and a converged run makes read calls
//! only. Same-named resources without sfglue's tags are conflicts, left alone unless `--adopt`.

use crate::aws::{
    CallerIdentity, Identity, JobService, ObjectState, ObjectStore, RoleStore, RunLogs,
    SecretStore, is_managed, managed_tags,
};
use crate::config::Config;
use crate::crypto;
use crate::error::{ExitClass, Failure, Result};
use crate::glue_script;
use crate::instructions;
use crate::plan::{
    self, Action, Change, Observed, ObservedBucket, ObservedJob, ObservedSecret, Plan, ResourceKind,
};
use crate::policy;
use crate::report::Reporter;
use crate::salesforce::Salesforce;
use crate::secret_doc::SecretDocument;
use crate::verify::{self, VerifyReport};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct ApplyReport {
    pub environment: Option<String>,
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

#[derive(Debug, Serialize)]
pub struct PlanReport {
    pub environment: Option<String>,
    pub identity: CallerIdentity,
    pub changes: Vec<Change>,
    pub has_changes: bool,
    pub conflicts: usize,
}

/// Every AWS capability plan, apply and destroy need.
pub trait ApplyAws:
    Identity + SecretStore + ObjectStore + RoleStore + JobService + RunLogs
{
}
impl<T: Identity + SecretStore + ObjectStore + RoleStore + JobService + RunLogs> ApplyAws for T {}

#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Apply without asking.
    pub yes: bool,
    /// Take over same-named resources that sfglue does not manage.
    pub adopt: bool,
}

/// What `observe` reads beyond the apply basics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Apply { adopt: bool },
    Destroy,
}

/// Reads what exists and computes the plan. Read calls only.
pub async fn plan(
    config: &Config,
    aws: &impl ApplyAws,
    adopt: bool,
) -> Result<(CallerIdentity, Observed, Plan)> {
    // The identity and the reads do not depend on each other; the identity's error comes first.
    let (id, observed) = tokio::join!(aws.caller(), observe(config, aws, Purpose::Apply { adopt }));
    let (id, observed) = (id?, observed?);
    let plan = plan::compute(config, &id, &observed, adopt);
    Ok((id, observed, plan))
}

pub async fn run_plan(
    config: &Config,
    aws: &impl ApplyAws,
    rep: &Reporter,
    adopt: bool,
) -> Result<PlanReport> {
    rep.progress(format!("Planning{}", env_suffix(config)));
    let (id, _, plan) = plan(config, aws, adopt).await?;
    for line in rep.plan_lines(&plan) {
        rep.result_raw(&line);
    }
    let conflicts = plan.conflicts().len();
    rep.result_raw(&plan_summary(&plan));
    Ok(PlanReport {
        environment: config.env.clone(),
        identity: id,
        has_changes: plan.has_changes(),
        conflicts,
        changes: plan.changes,
    })
}

fn env_suffix(config: &Config) -> String {
    config
        .env
        .as_ref()
        .map(|e| format!(" (environment {e})"))
        .unwrap_or_default()
}

pub fn plan_summary(plan: &Plan) -> String {
    let count = |f: fn(&Action) -> bool| plan.changes.iter().filter(|c| f(&c.action)).count();
    format!(
        "plan: {} to create, {} to update, {} to delete, {} unchanged, {} conflicts",
        count(|a| matches!(a, Action::Create)),
        count(|a| matches!(a, Action::Update { .. })),
        count(|a| matches!(a, Action::Delete)),
        count(|a| matches!(a, Action::Unchanged)),
        count(|a| matches!(a, Action::Conflict { .. })),
    )
}

/// Refuses a plan with conflicts, before any write.
pub fn refuse_conflicts(plan: &Plan) -> Result<()> {
    let conflicts = plan.conflicts();
    if conflicts.is_empty() {
        return Ok(());
    }
    let list = conflicts
        .iter()
        .map(|c| format!("{} {}", c.resource.label(), c.name))
        .collect::<Vec<_>>()
        .join("; ");
    Err(Failure::runtime(
        "plan.conflict",
        format!("same-named resources exist that sfglue does not manage: {list}"),
    )
    .with_fix("choose another `name` (or resource names) in the config, or pass --adopt to take them over (they get sfglue's tags and its settings)"))
}

/// Asks on a terminal; without one, `--yes` is required.
pub fn confirm(rep: &Reporter, yes: bool, question: &str) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !rep.stdin_is_terminal() {
        return Err(Failure::config(
            "confirmation_required",
            "this would change AWS resources, and there is no terminal to confirm on",
        )
        .with_fix("review `sfglue plan`, then pass --yes (CI pipelines always pass --yes)"));
    }
    if rep.ask(question) {
        Ok(())
    } else {
        Err(Failure::config(
            "cancelled",
            "cancelled; nothing was changed",
        ))
    }
}

pub async fn run(
    config: &Config,
    aws: &impl ApplyAws,
    sf: &impl Salesforce,
    rep: &Reporter,
    opts: ApplyOptions,
) -> std::result::Result<ApplyReport, (Failure, Option<ApplyReport>)> {
    let no_report = |f: Failure| (f, None);

    rep.progress(format!(
        "Reading the AWS identity and what exists{}",
        env_suffix(config)
    ));
    // Independent reads, issued together; the identity's error comes first.
    let (id, observed) = tokio::join!(
        aws.caller(),
        observe(config, aws, Purpose::Apply { adopt: opts.adopt })
    );
    let id = id.map_err(no_report)?;
    rep.result(
        "aws",
        format!(
            "account {}  region {}  endpoint {}",
            id.account,
            id.region,
            id.endpoint.as_deref().unwrap_or("AWS default")
        ),
    );

    let observed = observed.map_err(no_report)?;
    let plan = plan::compute(config, &id, &observed, opts.adopt);
    // Refuse before the first write, so a refusal leaves nothing half made.
    refuse_conflicts(&plan).map_err(no_report)?;
    if !config.glue.create_buckets
        && let Some(b) = observed.buckets.iter().find(|b| !b.exists)
    {
        return Err(no_report(
            Failure::config(
                "glue.bucket_missing",
                format!("the S3 bucket {} does not exist, and glue.create_buckets is false", b.name),
            )
            .with_fix("create the bucket, or set glue.create_buckets: true to let sfglue create it (private, encrypted)"),
        ));
    }
    if plan.has_changes() {
        rep.progress("Plan:");
        for line in rep.plan_lines(&plan) {
            rep.progress(line);
        }
        confirm(rep, opts.yes, "Apply these changes?").map_err(no_report)?;
    }

    let executed = execute(config, aws, &id, &observed, &plan, rep)
        .await
        .map_err(no_report)?;

    let mut report = ApplyReport {
        environment: config.env.clone(),
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
    if !config.glue.connections.is_empty() {
        rep.warn("the job runs in a VPC (glue.connections): it needs a NAT gateway or VPC endpoints to reach Salesforce, Secrets Manager, S3 and PyPI");
    }

    if config.salesforce.consumer_key.is_none() {
        // verify (which warns too) does not run yet, so warn here.
        verify::warn_if_expiring(rep, &report.certificate, time::OffsetDateTime::now_utc());
        let key = match &config.env {
            Some(env) => format!("environments.{env}.salesforce.consumer_key"),
            None => "salesforce.consumer_key".to_string(),
        };
        rep.result(
            "next",
            format!(
                "do the Salesforce setup in {}, put the Consumer Key in {} as {key}, then run `sfglue apply` again",
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

/// Reads the current state of every resource. Read calls only.
pub async fn observe(config: &Config, aws: &impl ApplyAws, purpose: Purpose) -> Result<Observed> {
    let secret_name = &config.secret.name;
    let adopt = matches!(purpose, Purpose::Apply { adopt: true });
    // The five chains of reads below do not depend on one another, so they are issued together
    // (each chain stays in order: a bucket's tags only after it is found, and so on). Every chain
    // runs to its end; errors are then taken in the order a sequential read would meet them, so
    // the outcome is the same as reading one after another.
    let secret = async {
        Ok::<_, Failure>(match aws.describe_secret(secret_name).await? {
            None => None,
            Some(meta) if meta.deleted_date.is_some() => {
                if purpose == Purpose::Destroy {
                    None
                } else {
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
            }
            Some(meta) => {
                let ours = is_managed(&meta.tags, &config.name);
                let (version_id, document) = if purpose != Purpose::Destroy && (ours || adopt) {
                    let version = aws.current_version(secret_name).await?;
                    (
                        version.version_id,
                        Some(SecretDocument::parse(secret_name, &version.text)?),
                    )
                } else {
                    (String::new(), None)
                };
                Some(ObservedSecret {
                    arn: meta.arn,
                    version_id,
                    document,
                    tags: meta.tags,
                })
            }
        })
    };

    let buckets_and_script = async {
        let script_bucket = &config.glue.script.bucket;
        let output_bucket = &config.glue.output.bucket;
        let script_side = observe_bucket(config, aws, purpose, script_bucket, true);
        if output_bucket == script_bucket {
            let (bucket, script) = script_side.await?;
            return Ok::<_, Failure>((vec![bucket], script));
        }
        let output_side = observe_bucket(config, aws, purpose, output_bucket, false);
        let (script_side, output_side) = tokio::join!(script_side, output_side);
        let (script_bucket, script) = script_side?;
        let (output_bucket, _) = output_side?;
        Ok::<_, Failure>((vec![script_bucket, output_bucket], script))
    };
    let role_and_policy = async {
        let role = aws.get_role(&config.glue.role_name).await?;
        let role_policy = if role.is_some() {
            aws.get_inline_policy(&config.glue.role_name, policy::INLINE_POLICY_NAME)
                .await?
        } else {
            None
        };
        Ok::<_, Failure>((role, role_policy))
    };
    let job = async {
        Ok::<_, Failure>(match aws.get_job(&config.glue.job_name).await? {
            None => None,
            Some(spec) => Some(ObservedJob {
                tags: aws.job_tags(&spec.name).await?,
                spec,
            }),
        })
    };
    let trigger_name = config.glue.trigger_name();
    let trigger = aws.get_trigger(&trigger_name);
    let (secret, buckets_and_script, role_and_policy, job, trigger) =
        tokio::join!(secret, buckets_and_script, role_and_policy, job, trigger);
    let secret = secret?;
    let (buckets, script) = buckets_and_script?;
    let (role, role_policy) = role_and_policy?;
    let job = job?;
    let trigger = trigger?;
    Ok(Observed {
        secret,
        buckets,
        script,
        role,
        role_policy,
        job,
        trigger,
    })
}

/// One bucket's chain of reads: HeadBucket, then its tags, its security settings and (for the
/// script's bucket) the script object, all at once. The security settings only matter on a bucket
/// sfglue manages, which the tags tell; they are read alongside the tags anyway so the chain is two
/// reads deep, and on a bucket that turns out not to be ours the answer (or a refusal) is dropped,
/// so the outcome is that of reading one after another.
async fn observe_bucket(
    config: &Config,
    aws: &impl ApplyAws,
    purpose: Purpose,
    name: &str,
    holds_script: bool,
) -> Result<(ObservedBucket, ObjectState)> {
    let exists = aws.bucket_exists(name).await?;
    if !exists {
        let bucket = ObservedBucket {
            name: name.to_string(),
            exists,
            tags: Default::default(),
            empty: None,
            secured: None,
        };
        return Ok((bucket, ObjectState::Missing));
    }
    let wants_security = matches!(purpose, Purpose::Apply { .. });
    let security = async {
        if wants_security {
            Some(aws.bucket_secured(name).await)
        } else {
            None
        }
    };
    let script = async {
        if holds_script {
            aws.object_state(&config.glue.script).await
        } else {
            Ok(ObjectState::Missing)
        }
    };
    let (tags, security, script) = tokio::join!(aws.bucket_tags(name), security, script);
    let tags = tags?;
    let managed = is_managed(&tags, &config.name);
    let secured = match security {
        Some(answer) if managed => Some(answer?),
        _ => None,
    };
    let empty = if purpose == Purpose::Destroy && managed {
        let keys = aws.list_keys(name, "", 2).await?;
        Some(
            keys.iter()
                .all(|k| name == config.glue.script.bucket && *k == config.glue.script.key),
        )
    } else {
        None
    };
    let bucket = ObservedBucket {
        name: name.to_string(),
        exists,
        tags,
        empty,
        secured,
    };
    Ok((bucket, script?))
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

fn adopting(action: Option<&Action>) -> bool {
    matches!(action, Some(Action::Update { fields }) if fields.iter().any(|f| f == "tags"))
}

fn changes_besides_tags(action: Option<&Action>) -> bool {
    match action {
        Some(Action::Create) => true,
        Some(Action::Update { fields }) => fields.iter().any(|f| f != "tags"),
        _ => false,
    }
}

async fn execute(
    config: &Config,
    aws: &impl ApplyAws,
    id: &CallerIdentity,
    observed: &Observed,
    plan: &Plan,
    rep: &Reporter,
) -> Result<Executed> {
    let settings = observed.desired_settings(config);
    let tags = managed_tags(&config.name);
    let mut key_generated = false;

    // 1. Secret.
    let secret_action = plan.action_for(ResourceKind::Secret);
    let (secret_arn, secret_version, document) = match (secret_action, &observed.secret) {
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
            let doc = SecretDocument::new(&key, settings);
            let text = doc.to_secret_string();
            let created = aws
                .create_secret(
                    &config.secret.name,
                    &text,
                    config.secret.kms_key_id.as_deref(),
                    &request_token(&config.secret.name, None, &text),
                    &tags,
                )
                .await;
            match created {
                Ok((arn, version)) => {
                    key_generated = true;
                    rep.result(
                        "certificate",
                        format!(
                            "generated  SHA-256 {}  expires {}",
                            key.info.sha256, key.info.not_after
                        ),
                    );
                    rep.result("secret", format!("created    {arn}"));
                    (arn, version, doc)
                }
                // Another run created it a moment ago: its key wins and this one is dropped,
                // so there is still one key.
                Err(f) if f.code == "aws.ResourceExistsException" => {
                    let (arn, version, doc) = adopt_concurrent_secret(config, aws).await?;
                    rep.result(
                        "certificate",
                        format!("kept       SHA-256 {}", doc.certificate_sha256),
                    );
                    rep.result(
                        "secret",
                        format!("exists     {arn} (created by a concurrent run; its key is kept)"),
                    );
                    (arn, version, doc)
                }
                Err(f) => return Err(f),
            }
        }
        (action, Some(current)) => {
            let doc = current.document.clone().ok_or_else(|| {
                Failure::runtime(
                    "plan.inconsistent",
                    "the secret's document was not read; it is not sfglue's",
                )
            })?;
            if adopting(action) {
                aws.tag_secret(&current.arn, &tags).await?;
            }
            rep.result(
                "certificate",
                format!("kept       SHA-256 {}", doc.certificate_sha256),
            );
            if changes_besides_tags(action) {
                let fields = match action {
                    Some(Action::Update { fields }) => fields.join(", "),
                    _ => String::new(),
                };
                let doc = doc.with_settings(settings);
                let text = doc.to_secret_string();
                let version = aws
                    .put_secret_version(
                        &current.arn,
                        &text,
                        &request_token(&config.secret.name, Some(&current.version_id), &text),
                    )
                    .await?;
                rep.result(
                    "secret",
                    format!(
                        "updated    {} (new version with the same key; changed: {fields})",
                        current.arn
                    ),
                );
                (current.arn.clone(), version, doc)
            } else {
                rep.result("secret", outcome(action, "created", &current.arn));
                (current.arn.clone(), current.version_id.clone(), doc)
            }
        }
        (_, None) => {
            return Err(Failure::runtime(
                "plan.inconsistent",
                "the plan has no secret step for a missing secret",
            ));
        }
    };
    let certificate = crypto::certificate_info(&document.certificate_pem)?;
    // Only settings the config writes out are compared: a default is no request, and an
    // imported key (`cert import`) keeps its own size and name.
    let wanted = &config.certificate;
    let mut differing = Vec::new();
    if wanted.key_size_written && certificate.key_bits != wanted.key_size {
        differing.push(format!(
            "key_size {} (the stored key is RSA-{})",
            wanted.key_size, certificate.key_bits
        ));
    }
    if wanted.common_name_written && certificate.subject != wanted.common_name {
        differing.push(format!(
            "common_name {:?} (the stored certificate's is {:?})",
            wanted.common_name, certificate.subject
        ));
    }
    if !key_generated && !differing.is_empty() {
        rep.warn(format!(
            "the config asks for certificate {}; sfglue never replaces a key on its own: `sfglue rotate start` makes one with the config's settings",
            differing.join(" and ")
        ));
    }

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

    // 3. Buckets and the script. Tags go on first, so that a bucket is recognisably sfglue's
    //    even if a later step of its set-up fails.
    for change in plan
        .changes
        .iter()
        .filter(|c| c.resource == ResourceKind::Bucket)
    {
        let bucket = change.name.trim_start_matches("s3://");
        match &change.action {
            Action::Create => {
                aws.create_bucket(bucket, &id.region).await?;
                // Until it carries sfglue's tags, a new bucket is indistinguishable from a
                // foreign one, so a failure here removes it again rather than leave an orphan.
                if let Err(f) = aws.tag_bucket(bucket, &tags).await {
                    return Err(match aws.delete_bucket(bucket).await {
                        Ok(()) => f,
                        Err(_) => Failure {
                            message: format!(
                                "{} (and the new, untagged bucket {bucket} could not be removed: delete it by hand)",
                                f.message
                            ),
                            ..f
                        },
                    });
                }
                aws.secure_bucket(bucket).await?;
            }
            Action::Update { .. } => aws.secure_bucket(bucket).await?,
            _ => {}
        }
        rep.result(
            "bucket",
            outcome(Some(&change.action), "created", &change.name),
        );
    }
    let script_action = plan.action_for(ResourceKind::Script);
    if changes_besides_tags(script_action) {
        let body = glue_script::SOURCE.as_bytes();
        aws.put_object(&config.glue.script, body, &crypto::sha256_hex(body))
            .await?;
    }
    rep.result(
        "script",
        outcome(script_action, "uploaded", &config.glue.script.uri()),
    );

    // 4. Role and inline policy.
    let role_action = plan.action_for(ResourceKind::Role);
    let trust = policy::trust_policy();
    match role_action {
        Some(Action::Create) => {
            if let Err(f) = aws.create_role(&config.glue.role_name, &trust, &tags).await {
                // A concurrent run created it: fine if it is sfglue's for this config.
                let theirs = f.code == "aws.EntityAlreadyExists"
                    && aws
                        .get_role(&config.glue.role_name)
                        .await?
                        .is_some_and(|r| is_managed(&r.tags, &config.name));
                if !theirs {
                    return Err(f);
                }
            }
        }
        Some(Action::Update { fields }) => {
            if fields.iter().any(|f| f == "tags") {
                aws.tag_role(&config.glue.role_name, &tags).await?;
            }
            if fields.iter().any(|f| f == "trust_policy") {
                aws.update_trust_policy(&config.glue.role_name, &trust)
                    .await?;
            }
        }
        _ => {}
    }
    rep.result(
        "role",
        outcome(role_action, "created", &plan::role_arn(config, id)),
    );
    let policy_action = plan.action_for(ResourceKind::RolePolicy);
    if changes_besides_tags(policy_action) {
        let doc = plan::desired_policy(config, id, &secret_arn);
        aws.put_inline_policy(&config.glue.role_name, policy::INLINE_POLICY_NAME, &doc)
            .await?;
    }
    rep.result(
        "role policy",
        outcome(policy_action, "created", policy::INLINE_POLICY_NAME),
    );

    // 5. The job (its fields that sfglue does not manage stay as they are).
    let job_action = plan.action_for(ResourceKind::Job);
    let spec = plan::desired_job(config, id, &secret_arn);
    let mut job_tags = tags.clone();
    job_tags.extend(config.glue.tags.clone());
    match job_action {
        Some(Action::Create) => {
            if let Err(f) = aws.create_job(&spec, &job_tags).await {
                // Created meanwhile by a concurrent run: make it match this config.
                if f.code != "aws.AlreadyExistsException" || !created_by_sfglue(aws, config).await?
                {
                    return Err(f);
                }
                aws.update_job(&spec).await?;
            }
        }
        Some(Action::Update { fields }) => {
            if fields.iter().any(|f| f == "tags") {
                aws.tag_job(&spec.name, &job_tags).await?;
            }
            if changes_besides_tags(job_action) {
                aws.update_job(&spec).await?;
            }
        }
        _ => {}
    }
    rep.result("job", outcome(job_action, "created", &spec.name));

    // 6. The schedule.
    let trigger_action = plan.action_for(ResourceKind::Trigger);
    if let Some(action) = trigger_action {
        let name = config.glue.trigger_name();
        match (action, plan::desired_trigger(config)) {
            (Action::Create, Some(t)) => {
                if let Err(f) = aws.create_trigger(&t, &tags).await {
                    if f.code != "aws.AlreadyExistsException" {
                        return Err(f);
                    }
                    aws.update_trigger(&t).await?;
                }
            }
            (Action::Update { fields }, Some(t)) => {
                if fields.iter().any(|f| f == "tags") {
                    aws.tag_trigger(&name, &tags).await?;
                }
                if changes_besides_tags(Some(action)) {
                    aws.update_trigger(&t).await?;
                }
            }
            (Action::Delete, _) => aws.delete_trigger(&name).await?,
            _ => {}
        }
        let line = if *action == Action::Delete {
            format!("{:<10} {name}", "deleted")
        } else {
            outcome(Some(action), "created", &name)
        };
        rep.result("schedule", line);
    }

    Ok(Executed {
        certificate,
        key_generated,
        secret_version,
        setup_steps: written,
    })
}

/// Reads back the secret a concurrent run created, if it is sfglue's for this config.
async fn adopt_concurrent_secret(
    config: &Config,
    aws: &impl ApplyAws,
) -> Result<(String, String, SecretDocument)> {
    let meta = aws.describe_secret(&config.secret.name).await?;
    match meta {
        Some(m) if is_managed(&m.tags, &config.name) => {
            let version = aws.current_version(&config.secret.name).await?;
            let doc = SecretDocument::parse(&config.secret.name, &version.text)?;
            Ok((version.arn, version.version_id, doc))
        }
        _ => Err(Failure::runtime(
            "plan.conflict",
            format!(
                "the secret {} appeared during this run and is not sfglue's",
                config.secret.name
            ),
        )
        .with_fix("choose another secret.name, or run `sfglue apply --adopt` to take it over")),
    }
}

async fn created_by_sfglue(aws: &impl ApplyAws, config: &Config) -> Result<bool> {
    Ok(is_managed(
        &aws.job_tags(&config.glue.job_name).await?,
        &config.name,
    ))
}

/// The word for an action in the result lines, padded to line up.
/// A result line's detail: what happened to `name` (`created`, `updated`, `unchanged`), then,
/// for an update, the fields that changed.
fn outcome(action: Option<&Action>, created: &str, name: &str) -> String {
    match action {
        Some(Action::Create) => format!("{created:<10} {name}"),
        Some(Action::Update { fields }) => {
            format!("{:<10} {name}  ({})", "updated", fields.join(", "))
        }
        _ => format!("{:<10} {name}", "unchanged"),
    }
}

//! `sfglue destroy`: removes what sfglue created for this config, in dependency order.
//!
//! Only resources tagged as sfglue's for this config's `name` go; everything else stays and is
//! listed as kept. The secret goes with Secrets Manager's 30-day recovery window unless
//! `--force-delete-secret`. Buckets go only when they hold nothing but the script, unless
//! `--purge-buckets`, which deletes their objects first: the job's output is data.

use crate::apply::{ApplyAws, Purpose, confirm, observe};
use crate::aws::CallerIdentity;
use crate::config::{Config, S3Location};
use crate::error::Result;
use crate::plan::{self, Action, Change, ResourceKind};
use crate::policy;
use crate::report::Reporter;
use serde::Serialize;

#[derive(Debug, Clone, Copy, Default)]
pub struct DestroyOptions {
    pub yes: bool,
    pub force_delete_secret: bool,
    pub purge_buckets: bool,
}

#[derive(Debug, Serialize)]
pub struct DestroyReport {
    pub environment: Option<String>,
    pub identity: CallerIdentity,
    pub changes: Vec<Change>,
    pub deleted: usize,
}

/// Objects deleted per listing while purging a bucket; the loop is bounded by this times 10,000.
const PURGE_BATCH: usize = 1000;

pub async fn run(
    config: &Config,
    aws: &impl ApplyAws,
    rep: &Reporter,
    opts: DestroyOptions,
) -> Result<DestroyReport> {
    rep.progress("Reading what exists");
    let id = aws.caller().await?;
    let observed = observe(config, aws, Purpose::Destroy).await?;
    let plan = plan::compute_destroy(config, &id, &observed, opts.purge_buckets);
    let deleting = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .count();
    if deleting == 0 {
        for line in rep.plan_lines(&plan) {
            rep.result_raw(&line);
        }
        rep.result(
            "summary",
            "nothing to destroy: no resource of this config is managed by sfglue",
        );
        return Ok(DestroyReport {
            environment: config.env.clone(),
            identity: id,
            changes: plan.changes,
            deleted: 0,
        });
    }
    rep.progress("Destroy plan:");
    for line in rep.plan_lines(&plan) {
        rep.progress(line);
    }
    if !opts.force_delete_secret && plan.action_for(ResourceKind::Secret) == Some(&Action::Delete) {
        rep.progress("  (the secret is kept for a 30-day recovery window; --force-delete-secret deletes it at once)");
    }
    confirm(rep, opts.yes, "Destroy these resources?")?;

    for change in plan.changes.iter().filter(|c| c.action == Action::Delete) {
        match change.resource {
            ResourceKind::Trigger => aws.delete_trigger(&change.name).await?,
            ResourceKind::Job => aws.delete_job(&change.name).await?,
            ResourceKind::RolePolicy => {
                aws.delete_inline_policy(&config.glue.role_name, policy::INLINE_POLICY_NAME)
                    .await?
            }
            ResourceKind::Role => aws.delete_role(&config.glue.role_name).await?,
            ResourceKind::Script => aws.delete_object(&config.glue.script).await?,
            ResourceKind::Secret => {
                aws.delete_secret(&change.name, opts.force_delete_secret)
                    .await?
            }
            ResourceKind::Bucket => {
                let bucket = change.name.trim_start_matches("s3://");
                if opts.purge_buckets {
                    purge(aws, bucket).await?;
                }
                aws.delete_bucket(bucket).await?;
            }
        }
        let word = if change.resource == ResourceKind::Secret && !opts.force_delete_secret {
            "scheduled for deletion (30-day recovery window)"
        } else {
            "deleted"
        };
        rep.result(
            change.resource.label(),
            format!("{word:<10} {}", change.name),
        );
    }
    for change in plan.changes.iter() {
        if let Action::Keep { reason } = &change.action {
            rep.result(
                change.resource.label(),
                format!("kept       {} ({reason})", change.name),
            );
        }
    }
    Ok(DestroyReport {
        environment: config.env.clone(),
        identity: id,
        changes: plan.changes,
        deleted: deleting,
    })
}

async fn purge(aws: &impl ApplyAws, bucket: &str) -> Result<()> {
    for _ in 0..10_000 {
        let keys = aws.list_keys(bucket, "", PURGE_BATCH).await?;
        if keys.is_empty() {
            return Ok(());
        }
        for key in keys {
            aws.delete_object(&S3Location {
                bucket: bucket.to_string(),
                key,
            })
            .await?;
        }
    }
    Ok(())
}

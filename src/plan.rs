//! The plan: what `apply` will change, computed as a value from the config and what exists.
//!
//! Pure: no network. [`compute`] compares the desired state (derived from the [`Config`] and the
//! AWS identity) with an [`Observed`] snapshot and returns the ordered list of changes. `apply`
//! executes exactly this list, in this order; a converged account gives a plan of `Unchanged`
//! entries only, and `apply` then makes no write call.

use crate::aws::{
    CallerIdentity, JobSpec, ObjectState, ObservedTrigger, RoleInfo, Tags, TriggerSpec, is_managed,
};
use crate::config::{Config, JobType};
use crate::glue_script;
use crate::policy;
use crate::secret_doc::{JobSettings, SecretDocument};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// What exists in the account, as read before planning. Read calls only.
#[derive(Debug, Clone)]
pub struct Observed {
    pub secret: Option<ObservedSecret>,
    /// Each bucket sfglue needs.
    pub buckets: Vec<ObservedBucket>,
    pub script: ObjectState,
    pub role: Option<RoleInfo>,
    pub role_policy: Option<Value>,
    pub job: Option<ObservedJob>,
    pub trigger: Option<ObservedTrigger>,
}

impl Observed {
    /// The settings the secret should hold: the config's, given the settings of the version in
    /// use (read when the secret is sfglue's), so a blue/green rotation is not undone.
    pub fn desired_settings(&self, config: &Config) -> JobSettings {
        let in_use = self
            .secret
            .as_ref()
            .and_then(|s| s.document.as_ref())
            .map(|d| &d.settings);
        JobSettings::desired(&config.salesforce, in_use)
    }
}

#[derive(Debug, Clone)]
pub struct ObservedSecret {
    pub arn: String,
    pub version_id: String,
    /// Read only when the secret is sfglue's (or is being adopted); a foreign secret's value is
    /// none of sfglue's business.
    pub document: Option<SecretDocument>,
    pub tags: Tags,
}

#[derive(Debug, Clone)]
pub struct ObservedBucket {
    pub name: String,
    pub exists: bool,
    pub tags: Tags,
    /// For destroy: whether it holds no object.
    pub empty: Option<bool>,
    /// For apply, on a bucket sfglue manages: public access blocked and encryption on.
    pub secured: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct ObservedJob {
    pub spec: JobSpec,
    pub tags: Tags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    Secret,
    Bucket,
    Script,
    Role,
    RolePolicy,
    Job,
    Trigger,
}

impl ResourceKind {
    pub fn label(self) -> &'static str {
        match self {
            ResourceKind::Secret => "secret",
            ResourceKind::Bucket => "bucket",
            ResourceKind::Script => "script",
            ResourceKind::Role => "role",
            ResourceKind::RolePolicy => "role policy",
            ResourceKind::Job => "job",
            ResourceKind::Trigger => "trigger",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Create,
    /// `fields` names what changes; `tags` among them means sfglue adopts the resource.
    Update {
        fields: Vec<String>,
    },
    Unchanged,
    /// A same-named resource sfglue does not manage: left alone unless `--adopt`.
    Conflict {
        reason: String,
    },
    Delete,
    /// Destroy leaves it in place.
    Keep {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub resource: ResourceKind,
    /// The resource's name, ARN or URI.
    pub name: String,
    #[serde(flatten)]
    pub action: Action,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub changes: Vec<Change>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| {
            matches!(
                c.action,
                Action::Create | Action::Update { .. } | Action::Delete
            )
        })
    }

    pub fn conflicts(&self) -> Vec<&Change> {
        self.changes
            .iter()
            .filter(|c| matches!(c.action, Action::Conflict { .. }))
            .collect()
    }

    pub fn action_for(&self, kind: ResourceKind) -> Option<&Action> {
        self.changes
            .iter()
            .find(|c| c.resource == kind)
            .map(|c| &c.action)
    }
}

/// The reason shown for a same-named resource without sfglue's tags.
pub fn foreign_reason(name: &str) -> String {
    format!(
        "exists but is not managed by sfglue for {name:?} (no tags managed-by=sfglue, sfglue:name={name}); --adopt takes it over"
    )
}

/// Create, Update or Unchanged for a managed resource, Conflict or adoption for a foreign one.
fn owned_action(config_name: &str, tags: &Tags, adopt: bool, mut differing: Vec<String>) -> Action {
    if !is_managed(tags, config_name) {
        if !adopt {
            return Action::Conflict {
                reason: foreign_reason(config_name),
            };
        }
        differing.push("tags".into());
    }
    if differing.is_empty() {
        Action::Unchanged
    } else {
        Action::Update { fields: differing }
    }
}

/// The role's ARN (IAM ARNs have no region).
pub fn role_arn(config: &Config, id: &CallerIdentity) -> String {
    format!(
        "arn:{}:iam::{}:role/{}",
        policy::partition_of(&id.arn),
        id.account,
        config.glue.role_name
    )
}

pub fn desired_policy(config: &Config, id: &CallerIdentity, secret_arn: &str) -> Value {
    policy::role_policy(&policy::RolePolicyInputs {
        partition: policy::partition_of(&id.arn),
        region: &id.region,
        account: &id.account,
        secret_arn,
        kms_key_id: config.secret.kms_key_id.as_deref(),
        script: &config.glue.script,
        output: &config.glue.output,
    })
}

/// The job definition for this config. Its arguments carry the secret's ARN, never the key.
pub fn desired_job(config: &Config, id: &CallerIdentity, secret_arn: &str) -> JobSpec {
    let queries = serde_json::to_string(&config.queries).unwrap_or_else(|_| "[]".into());
    let default_arguments = BTreeMap::from([
        ("--secret_id".to_string(), secret_arn.to_string()),
        ("--output_uri".to_string(), config.glue.output.uri()),
        ("--queries".to_string(), queries),
        (
            "--additional-python-modules".to_string(),
            glue_script::additional_python_modules(
                config
                    .queries
                    .iter()
                    .any(|q| q.format.as_deref() == Some("parquet")),
            ),
        ),
        ("--job-language".to_string(), "python".to_string()),
    ]);
    let mut default_arguments = default_arguments;
    if let Some(n) = config.glue.max_concurrency {
        default_arguments.insert("--max_concurrency".to_string(), n.to_string());
    }
    if let Some(n) = config.glue.bulk_threshold {
        default_arguments.insert("--bulk_threshold".to_string(), n.to_string());
    }
    if matches!(config.glue.job_type, JobType::PythonShell { .. }) {
        // Python shell's library set with boto3 and requests preinstalled (no `--` prefix:
        // Glue's own spelling).
        default_arguments.insert("library-set".to_string(), "analytics".to_string());
    }
    let glue = &config.glue;
    let (command_name, python_version, max_capacity, glue_version, worker_type, workers, class) =
        match &glue.job_type {
            JobType::PythonShell { max_capacity } => (
                "pythonshell",
                "3.9",
                Some(*max_capacity),
                None,
                None,
                None,
                None,
            ),
            JobType::Spark {
                glue_version,
                worker_type,
                number_of_workers,
                flex,
            } => (
                "glueetl",
                "3",
                None,
                Some(glue_version.clone()),
                Some(worker_type.clone()),
                Some(*number_of_workers as i32),
                Some(if *flex { "FLEX" } else { "STANDARD" }.to_string()),
            ),
        };
    JobSpec {
        name: glue.job_name.clone(),
        role_arn: role_arn(config, id),
        command_name: command_name.to_string(),
        script_location: glue.script.uri(),
        python_version: python_version.to_string(),
        max_capacity,
        glue_version,
        worker_type,
        number_of_workers: workers,
        execution_class: class,
        timeout_minutes: glue.timeout_minutes as i32,
        max_retries: glue.max_retries as i32,
        max_concurrent_runs: glue.max_concurrent_runs as i32,
        connections: glue.connections.clone(),
        description: format!("Salesforce extract for {} (managed by sfglue)", config.name),
        default_arguments,
    }
}

pub fn desired_trigger(config: &Config) -> Option<TriggerSpec> {
    config.glue.schedule.as_ref().map(|schedule| TriggerSpec {
        name: config.glue.trigger_name(),
        job_name: config.glue.job_name.clone(),
        schedule: schedule.clone(),
    })
}

fn strings(v: Vec<&'static str>) -> Vec<String> {
    v.into_iter().map(String::from).collect()
}

/// Compares desired with observed and lists the changes in execution order. With `adopt`,
/// same-named resources without sfglue's tags are taken over instead of reported as conflicts.
pub fn compute(config: &Config, id: &CallerIdentity, observed: &Observed, adopt: bool) -> Plan {
    let name = &config.name;
    let mut changes = Vec::new();
    let settings = observed.desired_settings(config);

    // 1. The secret (with the key inside). An existing key is kept; only settings change.
    let secret_arn = observed.secret.as_ref().map(|s| s.arn.clone());
    changes.push(Change {
        resource: ResourceKind::Secret,
        name: secret_arn
            .clone()
            .unwrap_or_else(|| config.secret.name.clone()),
        action: match &observed.secret {
            None => Action::Create,
            Some(s) => {
                let fields = s
                    .document
                    .as_ref()
                    .map(|d| strings(d.settings.differing_fields(&settings)))
                    .unwrap_or_default();
                owned_action(name, &s.tags, adopt, fields)
            }
        },
    });

    // 2. Buckets (a bucket sfglue did not create is used as it is, never changed), the script.
    for b in &observed.buckets {
        changes.push(Change {
            resource: ResourceKind::Bucket,
            name: format!("s3://{}", b.name),
            action: if !b.exists {
                Action::Create
            } else if b.secured == Some(false) {
                // sfglue's own bucket whose set-up was interrupted: finish it.
                Action::Update {
                    fields: vec!["public_access_block".into(), "encryption".into()],
                }
            } else {
                Action::Unchanged
            },
        });
    }
    let script_sha = crate::crypto::sha256_hex(glue_script::SOURCE.as_bytes());
    changes.push(Change {
        resource: ResourceKind::Script,
        name: config.glue.script.uri(),
        action: match &observed.script {
            ObjectState::Missing => Action::Create,
            ObjectState::Present { sha256: None } if !adopt => Action::Conflict {
                reason: "an object sfglue did not upload is at this key; --adopt overwrites it"
                    .into(),
            },
            ObjectState::Present { sha256 } if sha256.as_deref() == Some(&script_sha) => {
                Action::Unchanged
            }
            ObjectState::Present { .. } => Action::Update {
                fields: vec!["content".into()],
            },
        },
    });

    // 3. The role and its inline policy.
    let trust = policy::trust_policy();
    let role_action = match &observed.role {
        None => Action::Create,
        Some(r) => {
            let fields = if r.trust_policy == trust {
                vec![]
            } else {
                vec!["trust_policy".to_string()]
            };
            owned_action(name, &r.tags, adopt, fields)
        }
    };
    let role_conflict = matches!(role_action, Action::Conflict { .. });
    changes.push(Change {
        resource: ResourceKind::Role,
        name: role_arn(config, id),
        action: role_action,
    });
    changes.push(Change {
        resource: ResourceKind::RolePolicy,
        name: format!("{}/{}", config.glue.role_name, policy::INLINE_POLICY_NAME),
        action: match (&observed.role_policy, &secret_arn) {
            _ if role_conflict => Action::Conflict {
                reason: "belongs to a role sfglue does not manage".into(),
            },
            (None, _) => Action::Create,
            // The secret is new, so its ARN (in the policy) is known only after apply.
            (Some(_), None) => Action::Update {
                fields: vec!["document".into()],
            },
            (Some(doc), Some(arn)) if *doc == desired_policy(config, id, arn) => Action::Unchanged,
            (Some(_), Some(_)) => Action::Update {
                fields: vec!["document".into()],
            },
        },
    });

    // 4. The job, and its schedule.
    changes.push(Change {
        resource: ResourceKind::Job,
        name: config.glue.job_name.clone(),
        action: match (&observed.job, &secret_arn) {
            (None, _) => Action::Create,
            (Some(job), arn) => {
                let mut fields = match arn {
                    None => vec!["default_arguments".to_string()],
                    Some(arn) => job.spec.differing_fields(&desired_job(config, id, arn)),
                };
                // The config's own job tags (sfglue's are checked by owned_action).
                let tags_differ = config
                    .glue
                    .tags
                    .iter()
                    .any(|(k, v)| job.tags.get(k) != Some(v));
                if tags_differ && is_managed(&job.tags, name) {
                    fields.push("tags".to_string());
                }
                owned_action(name, &job.tags, adopt, fields)
            }
        },
    });
    let wanted = desired_trigger(config);
    let trigger_action = match (&observed.trigger, &wanted) {
        (None, None) => None,
        (None, Some(_)) => Some(Action::Create),
        (Some(t), None) if is_managed(&t.tags, name) => Some(Action::Delete),
        // Someone else's trigger of the same name, and none is wanted: not ours to touch.
        (Some(_), None) => None,
        (Some(t), Some(w)) => {
            let mut fields = Vec::new();
            if t.spec.schedule != w.schedule {
                fields.push("schedule".to_string());
            }
            if t.spec.job_name != w.job_name {
                fields.push("job".to_string());
            }
            Some(owned_action(name, &t.tags, adopt, fields))
        }
    };
    if let Some(action) = trigger_action {
        changes.push(Change {
            resource: ResourceKind::Trigger,
            name: config.glue.trigger_name(),
            action,
        });
    }

    Plan { changes }
}

/// What `destroy` removes: every resource sfglue manages for this config, in dependency order.
/// Resources without sfglue's tags stay. Buckets go only when empty, or with `purge_buckets`.
pub fn compute_destroy(
    config: &Config,
    id: &CallerIdentity,
    observed: &Observed,
    purge_buckets: bool,
) -> Plan {
    let name = &config.name;
    let mut changes = Vec::new();
    let keep = |reason: &str| Action::Keep {
        reason: reason.to_string(),
    };
    let owned = |tags: &Tags| {
        if is_managed(tags, name) {
            Action::Delete
        } else {
            keep("not managed by sfglue")
        }
    };
    if let Some(t) = &observed.trigger {
        changes.push(Change {
            resource: ResourceKind::Trigger,
            name: t.spec.name.clone(),
            action: owned(&t.tags),
        });
    }
    if let Some(j) = &observed.job {
        changes.push(Change {
            resource: ResourceKind::Job,
            name: j.spec.name.clone(),
            action: owned(&j.tags),
        });
    }
    if let Some(r) = &observed.role {
        let action = owned(&r.tags);
        if observed.role_policy.is_some() {
            changes.push(Change {
                resource: ResourceKind::RolePolicy,
                name: format!("{}/{}", config.glue.role_name, policy::INLINE_POLICY_NAME),
                action: action.clone(),
            });
        }
        changes.push(Change {
            resource: ResourceKind::Role,
            name: role_arn(config, id),
            action,
        });
    }
    match &observed.script {
        ObjectState::Present { sha256: Some(_) } => changes.push(Change {
            resource: ResourceKind::Script,
            name: config.glue.script.uri(),
            action: Action::Delete,
        }),
        ObjectState::Present { sha256: None } => changes.push(Change {
            resource: ResourceKind::Script,
            name: config.glue.script.uri(),
            action: keep("not uploaded by sfglue"),
        }),
        ObjectState::Missing => {}
    }
    if let Some(s) = &observed.secret {
        changes.push(Change {
            resource: ResourceKind::Secret,
            name: s.arn.clone(),
            action: owned(&s.tags),
        });
    }
    for b in observed.buckets.iter().filter(|b| b.exists) {
        let action = if !is_managed(&b.tags, name) {
            keep("not created by sfglue")
        } else if config.buckets_of_other_environments.contains(&b.name) {
            keep("another environment of this config uses it too")
        } else if purge_buckets {
            Action::Delete
        } else if b.empty == Some(true) {
            // `empty` counts every object but the script, which destroy deletes first.
            Action::Delete
        } else {
            keep("holds objects (data); --purge-buckets deletes them")
        };
        changes.push(Change {
            resource: ResourceKind::Bucket,
            name: format!("s3://{}", b.name),
            action,
        });
    }
    Plan { changes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Sensitive;
    use std::path::Path;

    fn config() -> Config {
        crate::config::parse(crate::config::STARTER, Path::new("sfglue.yaml"), None).unwrap()
    }

    fn identity() -> CallerIdentity {
        CallerIdentity {
            account: "111122223333".into(),
            arn: "arn:aws:iam::111122223333:user/ci".into(),
            region: "us-east-1".into(),
            endpoint: None,
        }
    }

    fn empty() -> Observed {
        Observed {
            secret: None,
            buckets: vec![ObservedBucket {
                name: "b".into(),
                exists: false,
                tags: Tags::new(),
                empty: None,
                secured: None,
            }],
            script: ObjectState::Missing,
            role: None,
            role_policy: None,
            job: None,
            trigger: None,
        }
    }

    fn converged(c: &Config) -> Observed {
        let arn =
            "arn:aws:secretsmanager:us-east-1:111122223333:secret:acme-dev/salesforce-jwt-AbCdEf";
        Observed {
            secret: Some(ObservedSecret {
                arn: arn.into(),
                version_id: "v1".into(),
                tags: crate::aws::managed_tags(&c.name),
                document: Some(SecretDocument {
                    schema: crate::secret_doc::SCHEMA.into(),
                    private_key_pem: Sensitive::new("k"),
                    certificate_pem: "c".into(),
                    certificate_sha256: "AB".into(),
                    certificate_not_after: "2030-01-01T00:00:00Z".into(),
                    settings: JobSettings::from_config(&c.salesforce),
                }),
            }),
            buckets: vec![ObservedBucket {
                name: "b".into(),
                exists: true,
                tags: Tags::new(),
                empty: Some(false),
                secured: None,
            }],
            script: ObjectState::Present {
                sha256: Some(crate::crypto::sha256_hex(glue_script::SOURCE.as_bytes())),
            },
            role: Some(RoleInfo {
                arn: role_arn(c, &identity()),
                trust_policy: policy::trust_policy(),
                tags: crate::aws::managed_tags(&c.name),
            }),
            role_policy: Some(desired_policy(c, &identity(), arn)),
            job: Some(ObservedJob {
                spec: desired_job(c, &identity(), arn),
                tags: crate::aws::managed_tags(&c.name),
            }),
            trigger: None,
        }
    }

    #[test]
    fn empty_account_plans_every_create() {
        let p = compute(&config(), &identity(), &empty(), false);
        assert!(
            p.changes.iter().all(|c| c.action == Action::Create),
            "{p:?}"
        );
        assert_eq!(p.changes.len(), 6);
    }

    #[test]
    fn converged_account_plans_nothing() {
        let c = config();
        let p = compute(&c, &identity(), &converged(&c), false);
        assert!(!p.has_changes(), "{p:?}");
    }

    #[test]
    fn a_config_change_shows_exactly_the_changed_fields() {
        let c = config();
        let observed = converged(&c);
        let mut changed = c.clone();
        changed.salesforce.consumer_key = Some("3MVGnew".into());
        changed.glue.timeout_minutes = 45;
        let p = compute(&changed, &identity(), &observed, false);
        assert_eq!(
            p.action_for(ResourceKind::Secret),
            Some(&Action::Update {
                fields: vec!["consumer_key".into()]
            })
        );
        assert_eq!(
            p.action_for(ResourceKind::Job),
            Some(&Action::Update {
                fields: vec!["timeout".into()]
            })
        );
        assert_eq!(p.action_for(ResourceKind::Role), Some(&Action::Unchanged));
        assert_eq!(
            p.action_for(ResourceKind::RolePolicy),
            Some(&Action::Unchanged)
        );
    }

    #[test]
    fn a_job_argument_change_names_the_argument_and_the_queries() {
        let c = config();
        let observed = converged(&c);
        let mut changed = c.clone();
        changed.glue.max_concurrency = Some(7);
        changed.queries[0].soql.push_str(" WHERE Name != null");
        let extra = crate::config::Query {
            name: "leads".into(),
            ..changed.queries[0].clone()
        };
        changed.queries.push(extra);
        let p = compute(&changed, &identity(), &observed, false);
        let first = &c.queries[0].name;
        assert_eq!(
            p.action_for(ResourceKind::Job),
            Some(&Action::Update {
                fields: vec![
                    "default_arguments.--max_concurrency".into(),
                    format!("default_arguments.--queries (changed: {first}; added: leads)"),
                ]
            })
        );
        // Removing a query says so too.
        let mut fewer = c.clone();
        let mut observed_more = observed.clone();
        let job = observed_more.job.as_mut().unwrap();
        let mut listed: Vec<serde_json::Value> =
            serde_json::from_str(&job.spec.default_arguments["--queries"]).unwrap();
        listed.push(serde_json::json!({"name": "old", "soql": "SELECT Id FROM Lead"}));
        job.spec
            .default_arguments
            .insert("--queries".into(), serde_json::to_string(&listed).unwrap());
        fewer.glue.max_concurrency = None;
        let p = compute(&fewer, &identity(), &observed_more, false);
        assert_eq!(
            p.action_for(ResourceKind::Job),
            Some(&Action::Update {
                fields: vec!["default_arguments.--queries (removed: old)".into()]
            })
        );
    }

    #[test]
    fn foreign_resources_are_conflicts_unless_adopted() {
        let c = config();
        let mut observed = converged(&c);
        observed.role.as_mut().unwrap().tags = Tags::new();
        observed.job.as_mut().unwrap().tags = Tags::from([("team".into(), "x".into())]);
        let p = compute(&c, &identity(), &observed, false);
        assert!(matches!(
            p.action_for(ResourceKind::Role),
            Some(Action::Conflict { .. })
        ));
        assert!(matches!(
            p.action_for(ResourceKind::RolePolicy),
            Some(Action::Conflict { .. })
        ));
        assert!(matches!(
            p.action_for(ResourceKind::Job),
            Some(Action::Conflict { .. })
        ));
        assert_eq!(p.conflicts().len(), 3);
        let adopted = compute(&c, &identity(), &observed, true);
        assert!(adopted.conflicts().is_empty());
        assert_eq!(
            adopted.action_for(ResourceKind::Role),
            Some(&Action::Update {
                fields: vec!["tags".into()]
            })
        );
    }

    #[test]
    fn a_schedule_plans_a_trigger_and_destroy_keeps_what_is_not_ours() {
        let mut c = config();
        c.glue.schedule = Some("cron(0 2 * * ? *)".into());
        let p = compute(&c, &identity(), &converged(&c), false);
        assert_eq!(p.action_for(ResourceKind::Trigger), Some(&Action::Create));

        let observed = converged(&c);
        let d = compute_destroy(&c, &identity(), &observed, false);
        assert_eq!(d.action_for(ResourceKind::Job), Some(&Action::Delete));
        assert_eq!(d.action_for(ResourceKind::Secret), Some(&Action::Delete));
        // The bucket has no sfglue tags: it stays.
        assert!(matches!(
            d.action_for(ResourceKind::Bucket),
            Some(Action::Keep { .. })
        ));
        let order: Vec<ResourceKind> = d.changes.iter().map(|c| c.resource).collect();
        let pos = |k| order.iter().position(|x| *x == k).unwrap();
        assert!(pos(ResourceKind::Job) < pos(ResourceKind::Role));
        assert!(pos(ResourceKind::RolePolicy) < pos(ResourceKind::Role));
    }

    #[test]
    fn destroy_keeps_a_bucket_another_environment_uses_and_config_tags_are_planned() {
        let mut c = config();
        let mut observed = converged(&c);
        observed.buckets[0].tags = crate::aws::managed_tags(&c.name);
        observed.buckets[0].empty = Some(true);
        c.buckets_of_other_environments = vec!["b".into()];
        let d = compute_destroy(&c, &identity(), &observed, true);
        assert!(
            matches!(
                d.action_for(ResourceKind::Bucket),
                Some(Action::Keep { .. })
            ),
            "{d:?}"
        );

        let mut tagged = config();
        tagged.glue.tags.insert("team".into(), "data".into());
        let p = compute(&tagged, &identity(), &converged(&tagged), false);
        assert_eq!(
            p.action_for(ResourceKind::Job),
            Some(&Action::Update {
                fields: vec!["tags".into()]
            })
        );
    }

    #[test]
    fn job_arguments_carry_the_secret_arn_not_the_key() {
        let c = config();
        let job = desired_job(&c, &identity(), "arn:x");
        assert_eq!(job.default_arguments["--secret_id"], "arn:x");
        assert_eq!(job.python_version, "3.9");
        // Exactly today's pins without Parquet (an existing job sees no change), pyarrow too
        // as soon as one query writes Parquet.
        assert_eq!(
            job.default_arguments["--additional-python-modules"],
            "PyJWT==2.15.1,cryptography==50.0.2"
        );
        let queries: Vec<serde_json::Value> =
            serde_json::from_str(&job.default_arguments["--queries"]).unwrap();
        assert_eq!(queries.len(), c.queries.len());

        let mut parquet = config();
        parquet.queries[1].format = Some("parquet".into());
        let job = desired_job(&parquet, &identity(), "arn:x");
        assert_eq!(
            job.default_arguments["--additional-python-modules"],
            "PyJWT==2.15.1,cryptography==50.0.2,pyarrow==21.0.0"
        );
        let queries: Vec<serde_json::Value> =
            serde_json::from_str(&job.default_arguments["--queries"]).unwrap();
        assert_eq!(queries[1]["format"], "parquet");
        let observed = converged(&c);
        let p = compute(&parquet, &identity(), &observed, false);
        assert!(
            matches!(p.action_for(ResourceKind::Job), Some(Action::Update { .. })),
            "{p:?}"
        );
        assert_eq!(
            compute(&c, &identity(), &observed, false).action_for(ResourceKind::Job),
            Some(&Action::Unchanged)
        );
    }
}

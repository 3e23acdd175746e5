//! The plan: what `apply` will change, computed as a value from the config and what exists.
//!
//! Pure: no network. [`compute`] compares the desired state (derived from the [`Config`] and the
//! AWS identity) with an [`Observed`] snapshot and returns the ordered list of changes. `apply`
//! executes exactly this list, in this order; a converged account gives a plan of `Unchanged`
//! entries only, and `apply` then makes no write call.

use crate::aws::{CallerIdentity, JobSpec, ObjectState, RoleInfo};
use crate::config::Config;
use crate::glue_script;
use crate::policy;
use crate::secret_doc::{JobSettings, SecretDocument};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// What exists in the account, as read by `apply` before it plans.
#[derive(Debug, Clone)]
pub struct Observed {
    pub secret: Option<ObservedSecret>,
    /// Each bucket sfglue needs, and whether it exists.
    pub buckets: Vec<(String, bool)>,
    pub script: ObjectState,
    pub role: Option<RoleInfo>,
    pub role_policy: Option<Value>,
    pub job: Option<JobSpec>,
}

#[derive(Debug, Clone)]
pub struct ObservedSecret {
    pub arn: String,
    pub version_id: String,
    pub document: SecretDocument,
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
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Create,
    Update { fields: Vec<String> },
    Unchanged,
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
        self.changes.iter().any(|c| c.action != Action::Unchanged)
    }

    pub fn action_for(&self, kind: ResourceKind) -> Option<&Action> {
        self.changes
            .iter()
            .find(|c| c.resource == kind)
            .map(|c| &c.action)
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
            glue_script::additional_python_modules(),
        ),
        // Python shell's library set with boto3 and requests preinstalled (no `--` prefix: Glue's own spelling).
        ("library-set".to_string(), "analytics".to_string()),
        ("--job-language".to_string(), "python".to_string()),
    ]);
    JobSpec {
        name: config.glue.job_name.clone(),
        role_arn: role_arn(config, id),
        command_name: "pythonshell".to_string(),
        script_location: config.glue.script.uri(),
        python_version: "3.9".to_string(),
        max_capacity: 0.0625,
        timeout_minutes: config.glue.timeout_minutes as i32,
        max_retries: 0,
        max_concurrent_runs: 1,
        description: format!("Salesforce extract for {} (managed by sfglue)", config.name),
        default_arguments,
    }
}

/// Compares desired with observed and lists the changes in execution order.
pub fn compute(config: &Config, id: &CallerIdentity, observed: &Observed) -> Plan {
    let mut changes = Vec::new();
    let settings = JobSettings::from_config(&config.salesforce);

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
                let fields = s.document.settings.differing_fields(&settings);
                if fields.is_empty() {
                    Action::Unchanged
                } else {
                    Action::Update {
                        fields: fields.into_iter().map(String::from).collect(),
                    }
                }
            }
        },
    });

    // 2. Buckets, then the script object.
    for (bucket, exists) in &observed.buckets {
        changes.push(Change {
            resource: ResourceKind::Bucket,
            name: format!("s3://{bucket}"),
            action: if *exists {
                Action::Unchanged
            } else {
                Action::Create
            },
        });
    }
    let script_sha = crate::crypto::sha256_hex(glue_script::SOURCE.as_bytes());
    changes.push(Change {
        resource: ResourceKind::Script,
        name: config.glue.script.uri(),
        action: match &observed.script {
            ObjectState::Missing => Action::Create,
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
    changes.push(Change {
        resource: ResourceKind::Role,
        name: role_arn(config, id),
        action: match &observed.role {
            None => Action::Create,
            Some(r) if r.trust_policy == trust => Action::Unchanged,
            Some(_) => Action::Update {
                fields: vec!["trust_policy".into()],
            },
        },
    });
    changes.push(Change {
        resource: ResourceKind::RolePolicy,
        name: format!("{}/{}", config.glue.role_name, policy::INLINE_POLICY_NAME),
        action: match (&observed.role_policy, &secret_arn) {
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

    // 4. The job.
    changes.push(Change {
        resource: ResourceKind::Job,
        name: config.glue.job_name.clone(),
        action: match (&observed.job, &secret_arn) {
            (None, _) => Action::Create,
            (Some(_), None) => Action::Update {
                fields: vec!["default_arguments".into()],
            },
            (Some(job), Some(arn)) => {
                let fields = job.differing_fields(&desired_job(config, id, arn));
                if fields.is_empty() {
                    Action::Unchanged
                } else {
                    Action::Update {
                        fields: fields.into_iter().map(String::from).collect(),
                    }
                }
            }
        },
    });

    Plan { changes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Sensitive;
    use std::path::Path;

    fn config() -> Config {
        crate::config::parse(crate::config::STARTER, Path::new("sfglue.yaml")).unwrap()
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
            buckets: vec![("b".into(), false)],
            script: ObjectState::Missing,
            role: None,
            role_policy: None,
            job: None,
        }
    }

    fn converged(c: &Config) -> Observed {
        let arn =
            "arn:aws:secretsmanager:us-east-1:111122223333:secret:acme-dev/salesforce-jwt-AbCdEf";
        Observed {
            secret: Some(ObservedSecret {
                arn: arn.into(),
                version_id: "v1".into(),
                document: SecretDocument {
                    schema: crate::secret_doc::SCHEMA.into(),
                    private_key_pem: Sensitive::new("k"),
                    certificate_pem: "c".into(),
                    certificate_sha256: "AB".into(),
                    certificate_not_after: "2030-01-01T00:00:00Z".into(),
                    settings: JobSettings::from_config(&c.salesforce),
                },
            }),
            buckets: vec![("b".into(), true)],
            script: ObjectState::Present {
                sha256: Some(crate::crypto::sha256_hex(glue_script::SOURCE.as_bytes())),
            },
            role: Some(RoleInfo {
                arn: role_arn(c, &identity()),
                trust_policy: policy::trust_policy(),
            }),
            role_policy: Some(desired_policy(c, &identity(), arn)),
            job: Some(desired_job(c, &identity(), arn)),
        }
    }

    #[test]
    fn empty_account_plans_every_create() {
        let p = compute(&config(), &identity(), &empty());
        assert!(
            p.changes.iter().all(|c| c.action == Action::Create),
            "{p:?}"
        );
        assert_eq!(p.changes.len(), 6);
    }

    #[test]
    fn converged_account_plans_nothing() {
        let c = config();
        let p = compute(&c, &identity(), &converged(&c));
        assert!(!p.has_changes(), "{p:?}");
    }

    #[test]
    fn a_config_change_shows_exactly_the_changed_fields() {
        let c = config();
        let observed = converged(&c);
        let mut changed = c.clone();
        changed.salesforce.consumer_key = Some("3MVGnew".into());
        changed.glue.timeout_minutes = 45;
        let p = compute(&changed, &identity(), &observed);
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
    fn job_arguments_carry_the_secret_arn_not_the_key() {
        let c = config();
        let job = desired_job(&c, &identity(), "arn:x");
        assert_eq!(job.default_arguments["--secret_id"], "arn:x");
        assert_eq!(job.python_version, "3.9");
        assert!(job.default_arguments["--additional-python-modules"].contains("=="));
        let queries: Vec<serde_json::Value> =
            serde_json::from_str(&job.default_arguments["--queries"]).unwrap();
        assert_eq!(queries.len(), c.queries.len());
    }
}

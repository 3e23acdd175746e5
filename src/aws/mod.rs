//! The AWS side, seen by the rest of sfglue only through these narrow traits.
//!
//! Each trait covers one service and only the calls sfglue makes. [`sdk::Aws`] implements them
//! with the AWS SDK for Rust; the core (`plan`, `apply`) depends on the traits alone. Values that
//! cross this boundary are plain data, secret values wrapped in [`Sensitive`].

// The traits are used only inside this crate, with concrete types, so the futures' auto traits
// (Send) need no bound: the runtime drives one command on one task.
#![allow(async_fn_in_trait)]

pub mod sdk;

use crate::config::S3Location;
use crate::error::Result;
use crate::secret::Sensitive;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

pub type Tags = BTreeMap<String, String>;

pub const MANAGED_BY_TAG: &str = "managed-by";
pub const NAME_TAG: &str = "sfglue:name";

/// Tags every resource sfglue creates carries.
pub fn managed_tags(name: &str) -> Tags {
    BTreeMap::from([
        (MANAGED_BY_TAG.to_string(), "sfglue".to_string()),
        (NAME_TAG.to_string(), name.to_string()),
    ])
}

/// Whether a resource's tags say sfglue manages it for the config called `name`.
pub fn is_managed(tags: &Tags, name: &str) -> bool {
    tags.get(MANAGED_BY_TAG).map(String::as_str) == Some("sfglue")
        && tags.get(NAME_TAG).map(String::as_str) == Some(name)
}

#[derive(Debug, Clone, Serialize)]
pub struct CallerIdentity {
    pub account: String,
    pub arn: String,
    pub region: String,
    /// The endpoint override in use, if any (None: AWS's own endpoints).
    pub endpoint: Option<String>,
}

pub trait Identity {
    async fn caller(&self) -> Result<CallerIdentity>;
}

#[derive(Debug, Clone)]
pub struct SecretMeta {
    pub arn: String,
    /// Set when the secret is scheduled for deletion.
    pub deleted_date: Option<String>,
    pub tags: Tags,
}

#[derive(Debug, Clone)]
pub struct SecretVersion {
    pub arn: String,
    pub version_id: String,
    pub text: Sensitive,
}

/// A secret version's id, staging labels and creation time (from the version itself: moto's
/// `ListSecretVersionIds` reports the time of the call as every version's `CreatedDate`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionLabels {
    pub version_id: String,
    pub stages: Vec<String>,
}

impl VersionLabels {
    pub fn has(&self, stage: &str) -> bool {
        self.stages.iter().any(|s| s == stage)
    }
}

/// One version's value with its labels and creation time (RFC 3339).
#[derive(Debug, Clone)]
pub struct LabelledVersion {
    pub version_id: String,
    pub stages: Vec<String>,
    pub created: Option<String>,
    pub text: Sensitive,
}

pub trait SecretStore {
    async fn describe_secret(&self, name: &str) -> Result<Option<SecretMeta>>;
    /// The version labelled AWSCURRENT (asked for explicitly).
    async fn current_version(&self, name: &str) -> Result<SecretVersion>;
    /// Creates the secret; returns its ARN and first version id.
    async fn create_secret(
        &self,
        name: &str,
        text: &Sensitive,
        kms_key_id: Option<&str>,
        request_token: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(String, String)>;
    /// Writes a new AWSCURRENT version; returns its id.
    async fn put_secret_version(
        &self,
        arn: &str,
        text: &Sensitive,
        request_token: &str,
    ) -> Result<String>;
    async fn tag_secret(&self, arn: &str, tags: &Tags) -> Result<()>;
    /// Deletes with Secrets Manager's recovery window (`force`: at once, without recovery).
    async fn delete_secret(&self, arn: &str, force: bool) -> Result<()>;
    /// Every version that carries a staging label, with its labels.
    async fn list_versions(&self, name: &str) -> Result<Vec<VersionLabels>>;
    /// One version by id (with its labels and creation time).
    async fn version_by_id(&self, name: &str, version_id: &str) -> Result<LabelledVersion>;
    /// Writes a new version that carries only `stages` (AWSCURRENT does not move); returns its
    /// id. The request token becomes the version id, so a retried call makes no second version.
    async fn put_staged_version(
        &self,
        name: &str,
        text: &Sensitive,
        request_token: &str,
        stages: &[&str],
    ) -> Result<String>;
    /// Moves (or removes, with `to: None`) a staging label. `from` must name its holder.
    async fn move_stage(
        &self,
        name: &str,
        stage: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> Result<()>;
}

/// What is known of an S3 object sfglue manages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectState {
    Missing,
    /// Present; the SHA-256 sfglue recorded in its metadata, if any.
    Present {
        sha256: Option<String>,
    },
}

pub trait ObjectStore {
    async fn bucket_exists(&self, bucket: &str) -> Result<bool>;
    /// Creates an empty bucket (succeeds when this account already owns it).
    async fn create_bucket(&self, bucket: &str, region: &str) -> Result<()>;
    async fn tag_bucket(&self, bucket: &str, tags: &Tags) -> Result<()>;
    /// Whether public access is fully blocked and default encryption is on.
    async fn bucket_secured(&self, bucket: &str) -> Result<bool>;
    /// Blocks all public access and turns on default encryption (SSE-S3).
    async fn secure_bucket(&self, bucket: &str) -> Result<()>;
    async fn object_state(&self, at: &S3Location) -> Result<ObjectState>;
    async fn put_object(&self, at: &S3Location, body: &[u8], sha256: &str) -> Result<()>;
    /// The bucket's tags (empty when it has none).
    async fn bucket_tags(&self, bucket: &str) -> Result<Tags>;
    async fn delete_object(&self, at: &S3Location) -> Result<()>;
    /// Up to `limit` keys under `prefix`, to tell whether a bucket is empty or to purge it.
    async fn list_keys(&self, bucket: &str, prefix: &str, limit: usize) -> Result<Vec<String>>;
    async fn delete_bucket(&self, bucket: &str) -> Result<()>;
}

#[derive(Debug, Clone)]
pub struct RoleInfo {
    pub arn: String,
    pub trust_policy: Value,
    pub tags: Tags,
}

pub trait RoleStore {
    async fn get_role(&self, name: &str) -> Result<Option<RoleInfo>>;
    async fn create_role(
        &self,
        name: &str,
        trust_policy: &Value,
        tags: &BTreeMap<String, String>,
    ) -> Result<String>;
    async fn update_trust_policy(&self, name: &str, trust_policy: &Value) -> Result<()>;
    async fn get_inline_policy(&self, role: &str, policy: &str) -> Result<Option<Value>>;
    async fn put_inline_policy(&self, role: &str, policy: &str, document: &Value) -> Result<()>;
    async fn tag_role(&self, name: &str, tags: &Tags) -> Result<()>;
    async fn delete_inline_policy(&self, role: &str, policy: &str) -> Result<()>;
    async fn delete_role(&self, name: &str) -> Result<()>;
}

/// The fields of a Glue job that sfglue sets. Compared field by field to decide an update; the
/// job's other fields are not sfglue's and survive an update.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobSpec {
    pub name: String,
    pub role_arn: String,
    /// `pythonshell` or `glueetl`.
    pub command_name: String,
    pub script_location: String,
    pub python_version: String,
    /// Python shell capacity in DPU (None for Spark).
    pub max_capacity: Option<f64>,
    /// Spark only.
    pub glue_version: Option<String>,
    pub worker_type: Option<String>,
    pub number_of_workers: Option<i32>,
    /// `STANDARD` or `FLEX` (Spark only; None for Python shell).
    pub execution_class: Option<String>,
    pub timeout_minutes: i32,
    pub max_retries: i32,
    pub max_concurrent_runs: i32,
    pub connections: Vec<String>,
    pub description: String,
    /// sfglue's arguments. On a job read back from Glue: every argument the job has.
    pub default_arguments: BTreeMap<String, String>,
}

impl JobSpec {
    /// Names of the fields of `desired` (sfglue's) that this job does not match. Arguments that
    /// sfglue does not set are ignored: they belong to someone else and stay.
    /// The fields of the job that differ from `desired`; a default argument is named with its
    /// key (`default_arguments.--max_concurrency`), and `--queries` with the queries that changed.
    pub fn differing_fields(&self, desired: &JobSpec) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |differs: bool, name: &'static str| {
            if differs {
                out.push(name.to_string());
            }
        };
        check(self.role_arn != desired.role_arn, "role");
        check(self.command_name != desired.command_name, "command.name");
        check(
            self.script_location != desired.script_location,
            "command.script_location",
        );
        check(
            self.python_version != desired.python_version,
            "command.python_version",
        );
        check(
            match (self.max_capacity, desired.max_capacity) {
                (_, None) => false,
                (Some(a), Some(b)) => (a - b).abs() > 1e-9,
                (None, Some(_)) => true,
            },
            "max_capacity",
        );
        check(
            desired.glue_version.is_some() && self.glue_version != desired.glue_version,
            "glue_version",
        );
        check(
            self.worker_type != desired.worker_type && desired.worker_type.is_some(),
            "worker_type",
        );
        check(
            self.number_of_workers != desired.number_of_workers
                && desired.number_of_workers.is_some(),
            "number_of_workers",
        );
        check(
            desired.execution_class.is_some()
                && self.execution_class.as_deref().unwrap_or("STANDARD")
                    != desired.execution_class.as_deref().unwrap_or("STANDARD"),
            "execution_class",
        );
        check(self.timeout_minutes != desired.timeout_minutes, "timeout");
        check(self.max_retries != desired.max_retries, "max_retries");
        check(
            self.max_concurrent_runs != desired.max_concurrent_runs,
            "max_concurrent_runs",
        );
        check(self.connections != desired.connections, "connections");
        check(self.description != desired.description, "description");
        // Arguments sfglue does not set (added by hand or by Glue) are kept, so only the
        // desired ones are compared.
        for (key, value) in &desired.default_arguments {
            let current = self.default_arguments.get(key);
            if current == Some(value) {
                continue;
            }
            out.push(match (key.as_str(), current) {
                ("--queries", Some(current)) => {
                    format!(
                        "default_arguments.--queries ({})",
                        queries_diff(current, value)
                    )
                }
                _ => format!("default_arguments.{key}"),
            });
        }
        out
    }
}

/// Which queries of the job's `--queries` argument change, by name: `changed: accounts; added:
/// contacts`. Falls back to a plain word when either side is not the JSON sfglue writes.
fn queries_diff(current: &str, desired: &str) -> String {
    fn by_name(text: &str) -> Option<Vec<(String, Value)>> {
        let list: Vec<Value> = serde_json::from_str(text).ok()?;
        list.into_iter()
            .map(|q| Some((q.get("name")?.as_str()?.to_string(), q)))
            .collect()
    }
    let (Some(now), Some(wanted)) = (by_name(current), by_name(desired)) else {
        return "rewritten".to_string();
    };
    let old_of = |name: &str| now.iter().find(|(n, _)| n == name).map(|(_, q)| q);
    let join = |names: Vec<&str>| names.join(", ");
    let parts = [
        (
            "changed",
            join(
                wanted
                    .iter()
                    .filter(|(n, q)| old_of(n).is_some_and(|old| old != q))
                    .map(|(n, _)| n.as_str())
                    .collect(),
            ),
        ),
        (
            "added",
            join(
                wanted
                    .iter()
                    .filter(|(n, _)| old_of(n).is_none())
                    .map(|(n, _)| n.as_str())
                    .collect(),
            ),
        ),
        (
            "removed",
            join(
                now.iter()
                    .filter(|(n, _)| !wanted.iter().any(|(w, _)| w == n))
                    .map(|(n, _)| n.as_str())
                    .collect(),
            ),
        ),
    ];
    let said: Vec<String> = parts
        .iter()
        .filter(|(_, names)| !names.is_empty())
        .map(|(what, names)| format!("{what}: {names}"))
        .collect();
    if said.is_empty() {
        "reordered".to_string()
    } else {
        said.join("; ")
    }
}

/// A scheduled trigger that starts the job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TriggerSpec {
    pub name: String,
    pub job_name: String,
    pub schedule: String,
}

#[derive(Debug, Clone)]
pub struct ObservedTrigger {
    pub spec: TriggerSpec,
    pub tags: Tags,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobRunStatus {
    pub run_id: String,
    pub state: String,
    pub error_message: Option<String>,
    pub execution_seconds: i32,
}

impl JobRunStatus {
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.state.as_str(),
            "STOPPED" | "SUCCEEDED" | "FAILED" | "TIMEOUT" | "ERROR" | "EXPIRED"
        )
    }
}

pub trait JobService {
    async fn get_job(&self, name: &str) -> Result<Option<JobSpec>>;
    async fn create_job(&self, spec: &JobSpec, tags: &Tags) -> Result<()>;
    /// Sets sfglue's fields and keeps every other field of the job as it is. (Glue's UpdateJob
    /// replaces the whole definition, so this reads the job and sends all of it back.)
    async fn update_job(&self, spec: &JobSpec) -> Result<()>;
    async fn delete_job(&self, name: &str) -> Result<()>;
    async fn job_tags(&self, name: &str) -> Result<Tags>;
    async fn tag_job(&self, name: &str, tags: &Tags) -> Result<()>;
    async fn tag_trigger(&self, name: &str, tags: &Tags) -> Result<()>;
    async fn get_trigger(&self, name: &str) -> Result<Option<ObservedTrigger>>;
    async fn create_trigger(&self, spec: &TriggerSpec, tags: &Tags) -> Result<()>;
    async fn update_trigger(&self, spec: &TriggerSpec) -> Result<()>;
    async fn delete_trigger(&self, name: &str) -> Result<()>;
    async fn start_job_run(&self, name: &str) -> Result<String>;
    async fn get_job_run(&self, name: &str, run_id: &str) -> Result<JobRunStatus>;
}

pub trait RunLogs {
    /// The lines the run wrote to its output log; empty when there are none (yet).
    async fn run_output(&self, log_group: &str, run_id: &str) -> Result<Vec<String>>;
}

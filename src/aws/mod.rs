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

/// Tags every resource sfglue creates carries.
pub fn managed_tags(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("managed-by".to_string(), "sfglue".to_string()),
        ("sfglue:name".to_string(), name.to_string()),
    ])
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
}

#[derive(Debug, Clone)]
pub struct SecretVersion {
    pub arn: String,
    pub version_id: String,
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
    /// Creates a private bucket: public access blocked, default encryption, tagged.
    async fn create_private_bucket(
        &self,
        bucket: &str,
        region: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<()>;
    async fn object_state(&self, at: &S3Location) -> Result<ObjectState>;
    async fn put_object(&self, at: &S3Location, body: &[u8], sha256: &str) -> Result<()>;
}

#[derive(Debug, Clone)]
pub struct RoleInfo {
    pub arn: String,
    pub trust_policy: Value,
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
}

/// The fields of a Glue job that sfglue sets. Compared field by field to decide an update.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobSpec {
    pub name: String,
    pub role_arn: String,
    pub command_name: String,
    pub script_location: String,
    pub python_version: String,
    pub max_capacity: f64,
    pub timeout_minutes: i32,
    pub max_retries: i32,
    pub max_concurrent_runs: i32,
    pub description: String,
    pub default_arguments: BTreeMap<String, String>,
}

impl JobSpec {
    /// Names of the fields that differ from `other`.
    pub fn differing_fields(&self, other: &JobSpec) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.role_arn != other.role_arn {
            out.push("role");
        }
        if self.command_name != other.command_name {
            out.push("command.name");
        }
        if self.script_location != other.script_location {
            out.push("command.script_location");
        }
        if self.python_version != other.python_version {
            out.push("command.python_version");
        }
        if (self.max_capacity - other.max_capacity).abs() > 1e-9 {
            out.push("max_capacity");
        }
        if self.timeout_minutes != other.timeout_minutes {
            out.push("timeout");
        }
        if self.max_retries != other.max_retries {
            out.push("max_retries");
        }
        if self.max_concurrent_runs != other.max_concurrent_runs {
            out.push("max_concurrent_runs");
        }
        if self.description != other.description {
            out.push("description");
        }
        if self.default_arguments != other.default_arguments {
            out.push("default_arguments");
        }
        out
    }
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
    async fn create_job(&self, spec: &JobSpec, tags: &BTreeMap<String, String>) -> Result<()>;
    /// Replaces the whole definition (Glue's UpdateJob semantics).
    async fn update_job(&self, spec: &JobSpec) -> Result<()>;
    async fn start_job_run(&self, name: &str) -> Result<String>;
    async fn get_job_run(&self, name: &str, run_id: &str) -> Result<JobRunStatus>;
}

pub trait RunLogs {
    /// The lines the run wrote to its output log; empty when there are none (yet).
    async fn run_output(&self, log_group: &str, run_id: &str) -> Result<Vec<String>>;
}

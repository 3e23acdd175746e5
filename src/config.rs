//! The config file (`sfglue.yaml`, `version: 1`): its model, loading and validation.
//!
//! Pure: no network, no AWS. [`load`] turns a file into a [`Config`] whose every field is checked
//! and whose defaults are filled in, or into a config-class [`Failure`] that names the file, line
//! and column and says how to fix it. Everything downstream can trust a `Config`.

use crate::error::{Failure, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Config files larger than this are refused before parsing (a config is a few hundred bytes).
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// The file as written. Field names here are the documented config keys: keep them stable.
//
// Every field is optional at this level so that one type serves a whole file, the shared
// defaults of a multi-environment file, and each environment's overrides; required keys are
// checked after merging, with the key's position in the message.

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    version: Option<u32>,
    name: Option<String>,
    aws: Option<RawAws>,
    salesforce: Option<RawSalesforce>,
    certificate: Option<RawCertificate>,
    secret: Option<RawSecret>,
    glue: Option<RawGlue>,
    queries: Option<Vec<RawQuery>>,
    output_dir: Option<String>,
    /// Named environments; the other top-level keys are their shared defaults.
    environments: Option<BTreeMap<String, RawConfig>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAws {
    region: Option<String>,
    endpoint_url: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSalesforce {
    login_url: Option<String>,
    audience: Option<String>,
    username: Option<String>,
    consumer_key: Option<String>,
    /// Blue/green rotation: a second app's consumer key (see `rotate`).
    consumer_key_b: Option<String>,
    api_version: Option<String>,
    http_timeout_seconds: Option<u32>,
    app: Option<RawSalesforceApp>,
}

/// The External Client App that `sfglue instructions --metadata` describes.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSalesforceApp {
    api_name: Option<String>,
    label: Option<String>,
    contact_email: Option<String>,
    callback_url: Option<String>,
    preauthorized_profiles: Option<Vec<String>>,
    preauthorized_permission_sets: Option<Vec<String>>,
    ip_relaxation: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCertificate {
    common_name: Option<String>,
    key_size: Option<u32>,
    validity_days: Option<u32>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    name: Option<String>,
    kms_key_id: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGlue {
    job_name: Option<String>,
    script_bucket: Option<String>,
    script_prefix: Option<String>,
    output: Option<String>,
    create_buckets: Option<bool>,
    timeout_minutes: Option<u32>,
    job_type: Option<String>,
    glue_version: Option<String>,
    max_capacity: Option<f64>,
    worker_type: Option<String>,
    number_of_workers: Option<u32>,
    max_retries: Option<u32>,
    max_concurrent_runs: Option<u32>,
    execution_class: Option<String>,
    connections: Option<Vec<String>>,
    schedule: Option<String>,
    tags: Option<BTreeMap<String, String>>,
    max_concurrency: Option<u32>,
    bulk_threshold: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuery {
    name: String,
    soql: String,
    api: Option<String>,
    format: Option<String>,
    watermark: Option<String>,
}

/// Field-wise "override wins" merge of two layers of the same section.
trait Merge: Sized {
    fn merge(self, over: Self) -> Self;
}

fn merge_opt<T: Merge>(base: Option<T>, over: Option<T>) -> Option<T> {
    match (base, over) {
        (Some(b), Some(o)) => Some(b.merge(o)),
        (b, o) => o.or(b),
    }
}

macro_rules! merge_fields {
    ($ty:ident { $($field:ident),* } nested { $($nested:ident),* }) => {
        impl Merge for $ty {
            fn merge(self, over: Self) -> Self {
                $ty {
                    $($field: over.$field.or(self.$field),)*
                    $($nested: merge_opt(self.$nested, over.$nested),)*
                }
            }
        }
    };
}

merge_fields!(RawConfig { version, name, queries, output_dir, environments } nested { aws, salesforce, certificate, secret, glue });
merge_fields!(RawAws { region, endpoint_url } nested {});
merge_fields!(RawSalesforce { login_url, audience, username, consumer_key, consumer_key_b, api_version, http_timeout_seconds } nested { app });
merge_fields!(RawSalesforceApp {
    api_name, label, contact_email, callback_url, preauthorized_profiles,
    preauthorized_permission_sets, ip_relaxation
} nested {});
merge_fields!(RawCertificate { common_name, key_size, validity_days } nested {});
merge_fields!(RawSecret { name, kms_key_id } nested {});
merge_fields!(RawGlue {
    job_name, script_bucket, script_prefix, output, create_buckets, timeout_minutes, job_type,
    glue_version, max_capacity, worker_type, number_of_workers, max_retries, max_concurrent_runs,
    execution_class, connections, schedule, tags, max_concurrency, bulk_threshold
} nested {});

// ---------------------------------------------------------------------------------------------
// The validated config.

pub const DEFAULT_API_VERSION: &str = "62.0";
pub const DEFAULT_KEY_SIZE: u32 = 2048;
pub const DEFAULT_VALIDITY_DAYS: u32 = 365;
pub const DEFAULT_TIMEOUT_MINUTES: u32 = 30;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where the config was read from (for messages).
    pub path: PathBuf,
    /// The environment this config was resolved for, in a multi-environment file.
    pub env: Option<String>,
    pub name: String,
    pub aws: AwsSettings,
    pub salesforce: SalesforceSettings,
    pub certificate: CertificateSettings,
    pub secret: SecretSettings,
    pub glue: GlueSettings,
    pub queries: Vec<Query>,
    /// Where the public certificate and the setup steps are written.
    pub output_dir: PathBuf,
    /// Buckets that other environments of the same file also use (destroy keeps them).
    pub buckets_of_other_environments: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SalesforceSettings {
    /// Without a trailing slash, e.g. `https://login.salesforce.com`.
    pub login_url: String,
    /// The JWT `aud`: given, or derived from the login URL (see [`derive_audience`]).
    pub audience: String,
    pub username: String,
    /// `None` until the app exists in Salesforce and its key is copied into the config.
    pub consumer_key: Option<String>,
    /// The second app of blue/green rotation: each rotation moves to the app not in use.
    pub consumer_key_b: Option<String>,
    pub api_version: String,
    /// Limit for each HTTP request to Salesforce, connect to last byte.
    pub http_timeout_seconds: u32,
    /// The External Client App, as `sfglue instructions --metadata` writes it.
    pub app: AppSettings,
}

/// The External Client App of `salesforce.app`. Every field has a default except the contact
/// email, which only the metadata needs (Salesforce requires one).
#[derive(Debug, Clone, PartialEq)]
pub struct AppSettings {
    /// The app's API name (see [`derive_app_api_name`]).
    pub api_name: String,
    pub label: String,
    pub contact_email: Option<String>,
    pub callback_url: String,
    /// Profile names pre-authorized on the app (admin-approved users).
    pub preauthorized_profiles: Vec<String>,
    /// Permission set names pre-authorized on the app.
    pub preauthorized_permission_sets: Vec<String>,
    pub ip_relaxation: IpRelaxation,
}

/// The app's IP relaxation policy (`ipRelaxationPolicyType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpRelaxation {
    /// Enforce the org's and the user's IP restrictions (Salesforce's default).
    Enforce,
    /// Relax IP restrictions (a Glue job without fixed egress IPs).
    Bypass,
    /// Relax IP restrictions with second factor.
    Bypass2Factor,
    /// Enforce IP restrictions, but relax them for refresh tokens.
    EnforceRelaxRefresh,
}

impl IpRelaxation {
    /// The value of `ipRelaxationPolicyType` in the Metadata API.
    pub fn metadata_value(self) -> &'static str {
        match self {
            IpRelaxation::Enforce => "Enforce",
            IpRelaxation::Bypass => "Bypass",
            IpRelaxation::Bypass2Factor => "Bypass_2factor",
            IpRelaxation::EnforceRelaxRefresh => "Enforce_RelaxRefresh",
        }
    }

    /// The config spelling.
    pub fn config_value(self) -> &'static str {
        match self {
            IpRelaxation::Enforce => "enforce",
            IpRelaxation::Bypass => "bypass",
            IpRelaxation::Bypass2Factor => "bypass_2factor",
            IpRelaxation::EnforceRelaxRefresh => "enforce_relax_refresh",
        }
    }
}

impl SalesforceSettings {
    /// Both apps' consumer keys when blue/green rotation is configured.
    pub fn blue_green(&self) -> Option<(&str, &str)> {
        match (&self.consumer_key, &self.consumer_key_b) {
            (Some(a), Some(b)) => Some((a.as_str(), b.as_str())),
            _ => None,
        }
    }

    /// True when `key` is one of the configured apps' consumer keys.
    pub fn is_configured_app(&self, key: &str) -> bool {
        self.consumer_key.as_deref() == Some(key) || self.consumer_key_b.as_deref() == Some(key)
    }

    pub fn token_url(&self) -> String {
        format!("{}/services/oauth2/token", self.login_url)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CertificateSettings {
    pub common_name: String,
    pub key_size: u32,
    pub validity_days: u32,
    /// Whether `key_size` and `common_name` are written in the config rather than defaults:
    /// only a written one is compared with a key already stored (an imported key keeps its own).
    pub key_size_written: bool,
    pub common_name_written: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SecretSettings {
    pub name: String,
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GlueSettings {
    pub job_name: String,
    pub role_name: String,
    pub script: S3Location,
    pub output: S3Location,
    pub create_buckets: bool,
    pub timeout_minutes: u32,
    pub job_type: JobType,
    pub max_retries: u32,
    pub max_concurrent_runs: u32,
    pub connections: Vec<String>,
    /// A Glue schedule expression, `cron(...)`; makes a scheduled trigger `<job>-schedule`.
    pub schedule: Option<String>,
    /// Extra tags on the job (next to sfglue's own).
    pub tags: BTreeMap<String, String>,
    /// Queries the job runs at the same time (`--max_concurrency`); the script's default if unset.
    pub max_concurrency: Option<u32>,
    /// Record count from which `api: auto` uses Bulk API 2.0 (`--bulk_threshold`).
    pub bulk_threshold: Option<u64>,
}

/// How the job runs: a Python shell job (the default) or a Glue Spark job.
#[derive(Debug, Clone, PartialEq)]
pub enum JobType {
    /// `pythonshell`, Python 3.9; `max_capacity` is 0.0625 or 1 DPU.
    PythonShell { max_capacity: f64 },
    /// `glueetl` (Spark), Glue 5.0 by default.
    Spark {
        glue_version: String,
        worker_type: String,
        number_of_workers: u32,
        flex: bool,
    },
}

impl GlueSettings {
    pub fn trigger_name(&self) -> String {
        format!("{}-schedule", self.job_name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// The key (for an object) or the prefix ending in `/` (for a folder); may be empty.
    pub key: String,
}

impl S3Location {
    pub fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// One extraction, as the Glue script reads it from `--queries` (see glue_scripts/README.md).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Query {
    pub name: String,
    pub soql: String,
    /// `rest`, `bulk` (Bulk API 2.0) or `auto`; the script's default is `rest`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// `jsonl.gz`, `jsonl`, `csv.gz`, `csv` (Bulk API 2.0's CSV as it arrives: `api: bulk` only)
    /// or `parquet` (the job then installs pyarrow); the script's default is `jsonl.gz`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// A field of the SELECT list for incremental runs (e.g. `SystemModstamp`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watermark: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Loading.

fn read_text(path: &Path) -> Result<String> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| {
        Failure::config(
            "config.unreadable",
            format!("cannot read config file {shown}: {e}"),
        )
        .with_fix("pass the right file with --config FILE, or create one with `sfglue init`")
    })?;
    if meta.is_dir() {
        return Err(Failure::config(
            "config.unreadable",
            format!("{shown} is a folder, not a config file"),
        )
        .with_fix(if path.join("sfglue.yaml").is_file() {
            format!(
                "pass the file itself: --config {}",
                path.join("sfglue.yaml").display()
            )
        } else {
            "pass the config file itself with --config FILE (or rename the folder)".to_string()
        }));
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(Failure::config(
            "config.too_large",
            format!(
                "{shown}: the file is {} bytes; a config is at most {MAX_CONFIG_BYTES} bytes",
                meta.len()
            ),
        )
        .with_fix("point --config at the sfglue config, not at another file"));
    }
    std::fs::read_to_string(path).map_err(|e| {
        Failure::config(
            "config.unreadable",
            format!("cannot read config file {shown}: {e}"),
        )
        .with_fix("check the file's permissions, and that it is UTF-8 text")
    })
}

/// Reads, parses and validates a config file, for environment `env` when the file has several.
pub fn load(path: &Path, env: Option<&str>) -> Result<Config> {
    parse(&read_text(path)?, path, env)
}

/// Every environment of a file (or its one config), each validated.
pub fn load_all(path: &Path) -> Result<Vec<Config>> {
    let text = read_text(path)?;
    let raw = parse_raw(&text, path)?;
    match &raw.environments {
        None => Ok(vec![parse(&text, path, None)?]),
        Some(envs) => envs
            .keys()
            .map(|name| parse(&text, path, Some(name)))
            .collect(),
    }
}

fn parse_raw(text: &str, path: &Path) -> Result<RawConfig> {
    let shown = path.display().to_string();
    if text.trim().is_empty() {
        return Err(
            Failure::config("config.empty", format!("{shown}: the config file is empty"))
                .with_fix("write a starting config with `sfglue init`"),
        );
    }
    if let Some(line) = too_deep(text, MAX_FLOW_DEPTH) {
        return Err(Failure::config(
            "config.too_deep",
            format!("{shown}:{line}: `[`/`{{` nesting deeper than {MAX_FLOW_DEPTH} levels"),
        )
        .with_fix("a config nests a few levels at most: check for unclosed or repeated brackets"));
    }
    // Read as plain YAML first: a key written twice in a map section (`environments`, `tags`)
    // is an error there, where the typed reading would keep the last copy without a word.
    serde_yaml::from_str::<serde_yaml::Value>(text).map_err(|e| yaml_failure(&shown, text, &e))?;
    serde_yaml::from_str(text).map_err(|e| yaml_failure(&shown, text, &e))
}

/// Flow collections (`[`, `{`) nested deeper than this are refused before parsing: the YAML
/// scanner's time grows with the square of the depth (found by fuzzing), and a real config
/// nests two or three levels.
const MAX_FLOW_DEPTH: usize = 64;

/// The line where flow nesting first exceeds `max`, ignoring quoted text and comments.
fn too_deep(text: &str, max: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (n, line) in text.lines().enumerate() {
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '#') if prev.is_whitespace() => break,
                (None, '"' | '\'') => quote = Some(c),
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > max {
                        return Some(n + 1);
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
            prev = c;
        }
    }
    None
}

/// Parses and validates config text; `path` is used for messages and relative paths.
pub fn parse(text: &str, path: &Path, env: Option<&str>) -> Result<Config> {
    let shown = path.display().to_string();
    let mut raw = parse_raw(text, path)?;
    let environments = raw.environments.take();
    let (raw, others) = match (environments, env) {
        (None, None) => (raw, OtherEnvironments::default()),
        (None, Some(e)) => {
            return Err(Failure::config(
                "config.no_environments",
                format!("{shown} has no `environments`, so --env {e} cannot be used"),
            )
            .with_fix("drop --env, or add an `environments:` section to the config"));
        }
        (Some(envs), None) => {
            let names: Vec<&str> = envs.keys().map(String::as_str).collect();
            return Err(Failure::config(
                "config.env_required",
                format!(
                    "{shown} defines environments ({}); choose one",
                    names.join(", ")
                ),
            )
            .with_fix("pass --env NAME (or --all-envs where the command has it)"));
        }
        (Some(mut envs), Some(e)) => {
            let others = shared_with_others(&raw, &envs, e, &shown)?;
            match envs.remove(e) {
                None => {
                    let names: Vec<&str> = envs.keys().map(String::as_str).collect();
                    return Err(Failure::config(
                        "config.unknown_env",
                        format!(
                            "{shown} has no environment {e:?} (it has: {})",
                            names.join(", ")
                        ),
                    )
                    .with_fix("pass one of the names under `environments:`"));
                }
                Some(over) => {
                    if over.environments.is_some() {
                        return Err(Failure::config(
                            "config.nested_environments",
                            format!("{shown}: environment {e:?} has its own `environments`"),
                        )
                        .with_fix("environments cannot be nested: move them to the top level"));
                    }
                    if over.version.is_some() {
                        return Err(Failure::config(
                            "config.env_version",
                            format!("{shown}: environment {e:?} sets `version`"),
                        )
                        .with_fix("set `version: 1` once, at the top of the file"));
                    }
                    (raw.merge(over), others)
                }
            }
        }
    };
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut config = Validator {
        text,
        file: &shown,
        env,
    }
    .validate(raw, path, &base_dir)?;
    config.buckets_of_other_environments = others.buckets;
    Ok(config)
}

/// What the other environments of a file use, so that one environment never destroys what
/// another one needs.
#[derive(Default)]
struct OtherEnvironments {
    buckets: Vec<String>,
}

/// Checks that every environment has a name of its own (the names prefix IAM roles, which are
/// global to the account, and secrets), and lists the buckets the other environments use.
fn shared_with_others(
    defaults: &RawConfig,
    envs: &BTreeMap<String, RawConfig>,
    this: &str,
    shown: &str,
) -> Result<OtherEnvironments> {
    let resolved = |over: &RawConfig| defaults.clone().merge(over.clone());
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for (env, over) in envs {
        let name = resolved(over).name.unwrap_or_default();
        if let Some(first) = seen.insert(name.trim().to_string(), env) {
            return Err(Failure::config(
                "config.env_name_shared",
                format!("{shown}: environments {first:?} and {env:?} have the same name {name:?}"),
            )
            .with_fix("give each environment its own `name`: it prefixes the role, secret and job, and IAM roles are shared by the whole account"));
        }
    }
    let mut buckets = Vec::new();
    for (env, over) in envs.iter().filter(|(env, _)| env.as_str() != this) {
        let _ = env;
        let glue = resolved(over).glue.unwrap_or_default();
        if let Some(b) = glue.script_bucket {
            buckets.push(b.trim().to_string());
        }
        if let Some(o) = glue.output
            && let Some(rest) = o.trim().strip_prefix("s3://")
        {
            buckets.push(rest.split('/').next().unwrap_or("").to_string());
        }
    }
    buckets.sort();
    buckets.dedup();
    Ok(OtherEnvironments { buckets })
}

fn yaml_failure(file: &str, text: &str, e: &serde_yaml::Error) -> Failure {
    let msg = e.to_string();
    // serde_yaml appends " at line L column C" to its message; we put the location first instead.
    let core = plain_type_names(match msg.find(" at line ") {
        Some(i) => &msg[..i],
        None => &msg,
    });
    let mut location = e.location().map(|loc| (loc.line(), loc.column()));
    // serde names a struct's duplicate `duplicate field `k``, a map's `duplicate entry with key "k"`.
    let duplicate = core
        .split_once("duplicate field `")
        .and_then(|(_, rest)| rest.strip_suffix('`'))
        .or_else(|| {
            core.split_once("duplicate entry with key \"")
                .and_then(|(_, rest)| rest.strip_suffix('"'))
        });
    let (code, fix) = if let Some(key) = duplicate {
        // The parser points at the start of the mapping; the second copy of the key is the
        // place to look.
        if let Some(at) = location.and_then(|(line, col)| second_key(text, line, col, key)) {
            location = Some(at);
        }
        (
            "config.duplicate_key",
            "a key appears once in its section: delete this copy, or merge it into the first",
        )
    } else if core.contains("unknown field") {
        (
            "config.unknown_field",
            "remove or rename the key; the README lists every config key",
        )
    } else if core.contains("missing field") {
        (
            "config.missing_field",
            "add the key; `sfglue init` writes a complete example",
        )
    } else if core.contains("invalid type") || core.contains("invalid value") {
        (
            "config.wrong_type",
            "give the key a value of the type shown; the README lists each key's type",
        )
    } else {
        ("config.syntax", "fix the YAML at that position")
    };
    let location = match location {
        Some((line, col)) => format!("{file}:{line}:{col}"),
        None => file.to_string(),
    };
    Failure::config(code, format!("{location}: {core}")).with_fix(fix)
}

/// serde's words for the Rust types behind the config (`u32`, `struct RawGlue`) in the words
/// of the README.
fn plain_type_names(message: &str) -> String {
    let mut out = message.to_string();
    for (rust, plain) in [
        ("u8", "a whole number, 0 or more"),
        ("u16", "a whole number, 0 or more"),
        ("u32", "a whole number, 0 or more"),
        ("u64", "a whole number, 0 or more"),
        ("usize", "a whole number, 0 or more"),
        ("i32", "a whole number"),
        ("i64", "a whole number"),
        ("f32", "a number"),
        ("f64", "a number"),
        ("a sequence", "a list (`- ` items)"),
    ] {
        let word = format!("expected {rust}");
        if out.ends_with(&word) || out.contains(&format!("{word} ")) {
            out = out.replace(&word, &format!("expected {plain}"));
        }
    }
    for (yaml, plain) in [
        ("invalid type: sequence,", "invalid type: a list,"),
        ("invalid type: map,", "invalid type: a mapping,"),
    ] {
        out = out.replace(yaml, plain);
    }
    if let Some(i) = out.find("expected struct ") {
        let rest = &out[i + "expected struct ".len()..];
        let name_len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        out = format!(
            "{}expected a mapping of `key: value` lines{}",
            &out[..i],
            &rest[name_len..]
        );
    }
    out
}

/// Where `key` appears for the second time in the block mapping that starts at `line`:`col`
/// (1-based), by indentation.
fn second_key(text: &str, line: usize, col: usize, key: &str) -> Option<(usize, usize)> {
    let indent = col.checked_sub(1)?;
    // The key as written: bare, or in double or single quotes.
    let is_key = |rest: &str| {
        [key.to_string(), format!("\"{key}\""), format!("'{key}'")]
            .iter()
            .any(|written| {
                rest.strip_prefix(written.as_str())
                    .is_some_and(|after| after.trim_start().starts_with(':'))
            })
    };
    let mut seen = 0;
    for (i, l) in text.lines().enumerate().skip(line.checked_sub(1)?) {
        let trimmed = l.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let at = l.len() - trimmed.len();
        // The mapping's first line may hold its first key after a `- ` marker.
        let first = i + 1 == line;
        if at < indent && !first {
            return None;
        }
        if (at == indent || first) && l.get(indent..).is_some_and(is_key) {
            seen += 1;
            if seen == 2 {
                return Some((i + 1, col));
            }
        }
    }
    None
}

struct Validator<'a> {
    text: &'a str,
    file: &'a str,
    env: Option<&'a str>,
}

impl Validator<'_> {
    /// A config-class failure located at the key `path` (dotted, e.g. `salesforce.login_url`).
    fn fail(&self, key: &str, problem: impl Into<String>, fix: impl Into<String>) -> Failure {
        // In a multi-environment file the key is in the environment's section or in the
        // shared defaults. When the key itself is not written out (a default, or a list in flow
        // style), point at the nearest enclosing key that is: `queries[1]`, then `queries`.
        let in_env = |path: &str| {
            self.env
                .and_then(|e| locate_key(self.text, &format!("environments.{e}.{path}")))
        };
        let mut prefixes = vec![key];
        prefixes.extend(key.rmatch_indices(['.', '[']).map(|(at, _)| &key[..at]));
        let found = prefixes
            .iter()
            .find_map(|p| in_env(p).or_else(|| locate_key(self.text, p)))
            .or_else(|| {
                self.env
                    .and_then(|e| locate_key(self.text, &format!("environments.{e}")))
            });
        let location = match found {
            Some((line, col)) => format!("{}:{line}:{col}", self.file),
            None => self.file.to_string(),
        };
        let env = self
            .env
            .map(|e| format!(" (environment {e})"))
            .unwrap_or_default();
        Failure::config(
            "config.invalid_value",
            format!("{location}: `{key}`{env}: {}", problem.into()),
        )
        .with_fix(fix)
    }

    /// `value`, or `default` when unset, checked to lie in `lo..=hi`.
    fn in_range<T>(
        &self,
        key: &str,
        value: Option<T>,
        default: T,
        lo: T,
        hi: T,
        unit: &str,
    ) -> Result<T>
    where
        T: PartialOrd + Copy + std::fmt::Display,
    {
        let v = value.unwrap_or(default);
        if v < lo || v > hi {
            return Err(self.fail(
                key,
                format!("{v}{unit} is out of range"),
                format!("use {lo} to {hi}{unit} (the default is {default})"),
            ));
        }
        Ok(v)
    }

    fn required<T>(&self, value: Option<T>, key: &str) -> Result<T> {
        value.ok_or_else(|| {
            Failure {
                code: "config.missing_field".into(),
                ..self.fail(
                    key,
                    "is required but not set",
                    "add the key; `sfglue init` writes a complete example and the README lists every key",
                )
            }
        })
    }

    fn validate(&self, raw: RawConfig, path: &Path, base_dir: &Path) -> Result<Config> {
        let version = self.required(raw.version, "version")?;
        if version != 1 {
            return Err(self.fail(
                "version",
                format!("version {version} is not supported"),
                "set `version: 1`",
            ));
        }
        let name = self.required(raw.name, "name")?.trim().to_string();
        let raw_aws = raw.aws.unwrap_or_default();
        let raw_certificate = raw.certificate.unwrap_or_default();
        let raw_secret = raw.secret.unwrap_or_default();
        if !is_valid_name(&name) {
            return Err(self.fail(
                "name",
                format!("{name:?} is not a valid name"),
                "use 1 to 40 characters: letters, digits and '-', starting with a letter (it prefixes every AWS resource)",
            ));
        }

        let aws = AwsSettings {
            region: match raw_aws.region {
                Some(r) => Some(self.region(&r)?),
                None => None,
            },
            endpoint_url: match raw_aws.endpoint_url {
                Some(u) => Some(self.endpoint_url(&u)?),
                None => None,
            },
        };

        let salesforce = self.salesforce(self.required(raw.salesforce, "salesforce")?, &name)?;

        let certificate = {
            let key_size = raw_certificate.key_size.unwrap_or(DEFAULT_KEY_SIZE);
            if ![2048, 3072, 4096].contains(&key_size) {
                return Err(self.fail(
                    "certificate.key_size",
                    format!("{key_size} bits is not allowed"),
                    "use 2048 (the default), 3072 or 4096",
                ));
            }
            let validity_days = self.in_range(
                "certificate.validity_days",
                raw_certificate.validity_days,
                DEFAULT_VALIDITY_DAYS,
                1,
                3650,
                " days",
            )?;
            let key_size_written = raw_certificate.key_size.is_some();
            let common_name_written = raw_certificate.common_name.is_some();
            let common_name = raw_certificate
                .common_name
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|| format!("{name} Salesforce JWT"));
            if common_name.is_empty() || common_name.len() > 64 {
                return Err(self.fail(
                    "certificate.common_name",
                    "must be 1 to 64 characters",
                    "shorten the common name",
                ));
            }
            CertificateSettings {
                common_name,
                key_size,
                validity_days,
                key_size_written,
                common_name_written,
            }
        };

        let secret = {
            let secret_name = raw_secret
                .name
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|| format!("{name}/salesforce-jwt"));
            if !is_valid_secret_name(&secret_name) {
                return Err(self.fail(
                    "secret.name",
                    format!("{secret_name:?} is not a valid Secrets Manager name"),
                    "use 1 to 512 of A-Z a-z 0-9 / _ + = . @ -, and do not end with '-' and six characters",
                ));
            }
            let kms_key_id = match raw_secret.kms_key_id.map(|s| s.trim().to_string()) {
                None => None,
                Some(k) if k.is_empty() => None,
                Some(k) => {
                    if !is_valid_kms_key(&k) {
                        return Err(self.fail(
                            "secret.kms_key_id",
                            format!("{k:?} is not a KMS key ARN or key id"),
                            "give the key's ARN (arn:aws:kms:REGION:ACCOUNT:key/ID) or its id; an alias cannot be scoped in the role's policy",
                        ));
                    }
                    Some(k)
                }
            };
            SecretSettings {
                name: secret_name,
                kms_key_id,
            }
        };

        let glue = self.glue(self.required(raw.glue, "glue")?, &name)?;

        let raw_queries = self.required(raw.queries, "queries")?;
        if raw_queries.is_empty() {
            return Err(self.fail(
                "queries",
                "no query is configured",
                "add at least one entry with `name` and `soql`",
            ));
        }
        let mut queries = Vec::new();
        for (i, q) in raw_queries.into_iter().enumerate() {
            let at = |key: &str| format!("queries[{i}].{key}");
            let qname = q.name.trim().to_string();
            if !is_valid_query_name(&qname) {
                return Err(self.fail(
                    &at("name"),
                    format!("query name {qname:?} is not valid"),
                    "use up to 64 lower-case letters, digits and '_', starting with a letter (it names an S3 folder)",
                ));
            }
            if queries.iter().any(|x: &Query| x.name == qname) {
                return Err(self.fail(
                    &at("name"),
                    format!("query name {qname:?} is used twice"),
                    "give each query its own name",
                ));
            }
            // White space is folded outside string literals only: a literal is data.
            let soql = crate::soql::fold_whitespace(&q.soql);
            let shape = soql
                .to_ascii_uppercase()
                .starts_with("SELECT ")
                .then(|| crate::soql::shape(&soql))
                .flatten();
            let Some(shape) = shape else {
                return Err(self.fail(
                    &at("soql"),
                    format!("query {qname:?} is not a SELECT … FROM … query"),
                    "write a SOQL query such as `SELECT Id, Name FROM Account`",
                ));
            };
            let squeezed: String = shape.select.concat().split_whitespace().collect();
            if shape.select.len() == 1 && squeezed.eq_ignore_ascii_case("COUNT()") {
                return Err(self.fail(
                    &at("soql"),
                    format!("query {qname:?} selects COUNT(), which answers a number, not records"),
                    "select the fields to extract, e.g. `SELECT Id, Name FROM Account` (`api: auto` counts by itself)",
                ));
            }
            let pick =
                |key: &str, value: Option<String>, allowed: &[&str]| -> Result<Option<String>> {
                    match value.map(|v| v.trim().to_string()) {
                        None => Ok(None),
                        Some(v) if allowed.contains(&v.as_str()) => Ok(Some(v)),
                        Some(v) => Err(self.fail(
                            &at(key),
                            format!(
                                "query {qname:?}: {key} {v:?} is not one of {}",
                                allowed.join(", ")
                            ),
                            format!("set {key} to one of {}", allowed.join(", ")),
                        )),
                    }
                };
            // The script's defaults are left out of the job's arguments, so that writing one
            // out in the config is no change to the job.
            let api = pick("api", q.api, &["rest", "bulk", "auto"])?.filter(|a| a != "rest");
            let format = pick(
                "format",
                q.format,
                &["jsonl.gz", "jsonl", "csv.gz", "csv", "parquet"],
            )?
            .filter(|f| f != "jsonl.gz");
            if let Some(f) = format.as_deref().filter(|f| f.starts_with("csv")) {
                // The csv formats write Bulk API 2.0's CSV through; a REST query answers JSON
                // (and `auto` may pick REST), so the script refuses them there too.
                let api_shown = api.as_deref().unwrap_or("rest (the default)");
                if api.as_deref() != Some("bulk") {
                    return Err(self.fail(
                        &at("format"),
                        format!(
                            "query {qname:?}: format {f} writes Bulk API 2.0's CSV as it arrives, \
                             so it needs api bulk, not {api_shown}"
                        ),
                        format!("set `api: bulk` on query {qname:?}, or use format jsonl.gz"),
                    ));
                }
            }
            let watermark = match q.watermark.map(|w| w.trim().to_string()) {
                None => None,
                Some(w) => {
                    // The same rule as the job script's (FIELD_NAME in sfglue_extract.py).
                    let field_name = w.len() <= 80
                        && w.starts_with(|c: char| c.is_ascii_alphabetic())
                        && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    if !field_name {
                        return Err(self.fail(
                            &at("watermark"),
                            format!("query {qname:?}: the watermark {w:?} is not a field name of the queried object"),
                            "use a date, datetime or number field of the object itself, such as SystemModstamp (a relationship path like Owner.LastModifiedDate cannot be a watermark)",
                        ));
                    }
                    if !shape.select.iter().any(|f| f.eq_ignore_ascii_case(&w)) {
                        return Err(self.fail(
                            &at("watermark"),
                            format!("query {qname:?}: the watermark {w:?} is not in its SELECT list"),
                            "add the field to the SELECT list (the script reads the high-water mark from the records)",
                        ));
                    }
                    // The mark moves to the largest value written. With LIMIT or OFFSET, only
                    // an ascending order on the mark's own field reads the oldest changes
                    // first; otherwise records below the new mark are skipped for good.
                    let ascending_on_mark = shape.order_by.first().is_some_and(|item| {
                        let mut words = item.split_whitespace();
                        words.next().is_some_and(|f| f.eq_ignore_ascii_case(&w))
                            && !words.next().is_some_and(|d| d.eq_ignore_ascii_case("DESC"))
                    });
                    if shape.has_offset || (shape.has_limit && !ascending_on_mark) {
                        let clause = if shape.has_offset { "OFFSET" } else { "LIMIT" };
                        return Err(self.fail(
                            &at("soql"),
                            format!(
                                "query {qname:?}: {clause} with the watermark {w:?} would skip records for good \
                                 (the mark moves past records a run did not read)"
                            ),
                            if shape.has_offset {
                                "drop OFFSET from an incremental query".to_string()
                            } else {
                                format!("order by the watermark first (`ORDER BY {w} ASC LIMIT …`), or drop LIMIT")
                            },
                        ));
                    }
                    Some(w)
                }
            };
            queries.push(Query {
                name: qname,
                soql,
                api,
                format,
                watermark,
            });
        }

        // Each environment gets its own folder, so one's certificate never replaces another's.
        let output_dir = match (raw.output_dir, self.env) {
            (Some(d), _) if !d.trim().is_empty() => base_dir.join(d.trim()),
            (_, Some(env)) => base_dir.join("sfglue-out").join(env),
            _ => base_dir.join("sfglue-out"),
        };

        Ok(Config {
            path: path.to_path_buf(),
            env: self.env.map(str::to_string),
            name,
            aws,
            salesforce,
            certificate,
            secret,
            glue,
            queries,
            output_dir,
            buckets_of_other_environments: Vec::new(),
        })
    }

    fn region(&self, r: &str) -> Result<String> {
        let r = r.trim();
        let ok = !r.is_empty()
            && r.len() <= 32
            && r.split('-').count() >= 3
            && r.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(r.to_string())
        } else {
            Err(self.fail(
                "aws.region",
                format!("{r:?} is not an AWS region"),
                "use a region code such as us-east-1 or eu-west-1",
            ))
        }
    }

    fn endpoint_url(&self, u: &str) -> Result<String> {
        let parsed = url::Url::parse(u.trim()).map_err(|e| {
            self.fail(
                "aws.endpoint_url",
                format!("{u:?} is not a URL: {e}"),
                "give a full URL such as http://127.0.0.1:5000, or remove the key to use AWS",
            )
        })?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(self.fail(
                "aws.endpoint_url",
                "the URL carries a user name or password",
                "remove the `user:password@` part; AWS credentials come from the AWS chain",
            ));
        }
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(self.fail(
                "aws.endpoint_url",
                "only http and https endpoints are supported",
                "give a URL starting with https:// (or http:// for a local endpoint)",
            ));
        }
        if parsed.scheme() == "http" && !is_loopback(&parsed) {
            return Err(self.fail(
                "aws.endpoint_url",
                "plain http is only allowed for a loopback endpoint",
                "use https://, or a 127.0.0.1 / localhost endpoint",
            ));
        }
        Ok(u.trim().trim_end_matches('/').to_string())
    }

    fn salesforce(&self, raw: RawSalesforce, name: &str) -> Result<SalesforceSettings> {
        let login_url = self.https_url(
            "salesforce.login_url",
            &self.required(raw.login_url, "salesforce.login_url")?,
        )?;
        let audience = match raw.audience {
            Some(a) if !a.trim().is_empty() => self.https_url("salesforce.audience", &a)?,
            _ => derive_audience(&login_url),
        };
        let username = self
            .required(raw.username, "salesforce.username")?
            .trim()
            .to_string();
        if username.is_empty()
            || !username.contains('@')
            || username.chars().any(char::is_whitespace)
            || username.len() > 80
        {
            return Err(self.fail(
                "salesforce.username",
                format!("{username:?} is not a Salesforce username"),
                "give the integration user's username, which looks like an email address (user@example.com)",
            ));
        }
        let consumer_key = self.consumer_key("salesforce.consumer_key", raw.consumer_key)?;
        let consumer_key_b = self.consumer_key("salesforce.consumer_key_b", raw.consumer_key_b)?;
        if consumer_key_b.is_some() && consumer_key.is_none() {
            return Err(self.fail(
                "salesforce.consumer_key_b",
                "the second app's key is set, but the first app's (consumer_key) is not",
                "set salesforce.consumer_key to the app the job uses now; consumer_key_b is the second app for blue/green rotation",
            ));
        }
        if consumer_key_b.is_some() && consumer_key_b == consumer_key {
            return Err(self.fail(
                "salesforce.consumer_key_b",
                "is the same as salesforce.consumer_key",
                "blue/green rotation needs two different apps: give the second app's Consumer Key, or remove consumer_key_b",
            ));
        }
        let api_version = raw
            .api_version
            .map(|v| v.trim().trim_start_matches('v').to_string())
            .unwrap_or_else(|| DEFAULT_API_VERSION.to_string());
        let ok_version = api_version.split_once('.').is_some_and(|(major, minor)| {
            (2..=3).contains(&major.len())
                && major.chars().all(|c| c.is_ascii_digit())
                && minor == "0"
        });
        if !ok_version {
            return Err(self.fail(
                "salesforce.api_version",
                format!("{api_version:?} is not an API version"),
                format!("write it as a quoted string such as \"{DEFAULT_API_VERSION}\""),
            ));
        }
        let http_timeout_seconds = self.in_range(
            "salesforce.http_timeout_seconds",
            raw.http_timeout_seconds,
            30,
            1,
            300,
            " seconds",
        )?;
        let app = self.app(raw.app.unwrap_or_default(), name, &login_url)?;
        Ok(SalesforceSettings {
            login_url,
            audience,
            username,
            consumer_key,
            consumer_key_b,
            api_version,
            http_timeout_seconds,
            app,
        })
    }

    fn consumer_key(&self, key: &str, raw: Option<String>) -> Result<Option<String>> {
        match raw.map(|k| k.trim().to_string()) {
            None => Ok(None),
            Some(k) if k.is_empty() => Ok(None),
            Some(k) => {
                if k.len() > 256 || !k.chars().all(|c| c.is_ascii_graphic()) {
                    return Err(self.fail(
                        key,
                        "the consumer key contains spaces or non-ASCII characters",
                        "copy the Consumer Key again from the app's OAuth settings",
                    ));
                }
                Ok(Some(k))
            }
        }
    }

    fn app(&self, raw: RawSalesforceApp, name: &str, login_url: &str) -> Result<AppSettings> {
        let api_name = match raw.api_name.map(|s| s.trim().to_string()) {
            Some(n) if !n.is_empty() => {
                if !is_valid_api_name(&n) {
                    return Err(self.fail(
                        "salesforce.app.api_name",
                        format!("{n:?} is not a Salesforce API name"),
                        "use up to 40 letters, digits and single '_', starting with a letter and not ending with '_' (e.g. Acme_Dev_Glue_Job)",
                    ));
                }
                n
            }
            _ => derive_app_api_name(name),
        };
        let label = raw
            .label
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| format!("{name} Glue job"));
        if label.is_empty() || label.chars().count() > 64 || label.chars().any(char::is_control) {
            return Err(self.fail(
                "salesforce.app.label",
                "must be 1 to 64 characters on one line",
                "shorten the label (sfglue appends \" OAuth\", \" Policies\" ... for the app's parts)",
            ));
        }
        let contact_email = match raw.contact_email.map(|s| s.trim().to_string()) {
            Some(e) if !e.is_empty() => {
                let ok = e.len() <= 254
                    && !e.chars().any(|c| c.is_whitespace() || c.is_control())
                    && e.split_once('@').is_some_and(|(local, domain)| {
                        !local.is_empty() && domain.contains('.') && !domain.contains('@')
                    });
                if !ok {
                    return Err(self.fail(
                        "salesforce.app.contact_email",
                        format!("{e:?} is not an email address"),
                        "give the address Salesforce shows as the app's contact, e.g. ops@example.com",
                    ));
                }
                Some(e)
            }
            _ => None,
        };
        let callback_url = match raw.callback_url.map(|s| s.trim().to_string()) {
            Some(u) if !u.is_empty() => self.callback_url(&u)?,
            _ => format!("{login_url}/services/oauth2/callback"),
        };
        let preauthorized_profiles = self.names(
            "salesforce.app.preauthorized_profiles",
            raw.preauthorized_profiles.unwrap_or_default(),
            "profile",
        )?;
        let preauthorized_permission_sets = self.names(
            "salesforce.app.preauthorized_permission_sets",
            raw.preauthorized_permission_sets.unwrap_or_default(),
            "permission set",
        )?;
        let ip_relaxation = match raw
            .ip_relaxation
            .map(|s| s.trim().to_ascii_lowercase().replace('-', "_"))
            .as_deref()
        {
            None | Some("") | Some("enforce") => IpRelaxation::Enforce,
            Some("bypass") => IpRelaxation::Bypass,
            Some("bypass_2factor") => IpRelaxation::Bypass2Factor,
            Some("enforce_relax_refresh") => IpRelaxation::EnforceRelaxRefresh,
            Some(other) => {
                return Err(self.fail(
                    "salesforce.app.ip_relaxation",
                    format!("{other:?} is not an IP relaxation policy"),
                    "use enforce (the default), bypass, bypass_2factor or enforce_relax_refresh",
                ));
            }
        };
        Ok(AppSettings {
            api_name,
            label,
            contact_email,
            callback_url,
            preauthorized_profiles,
            preauthorized_permission_sets,
            ip_relaxation,
        })
    }

    /// The app's callback URL: https, or http on loopback. The JWT flow never calls it.
    fn callback_url(&self, raw: &str) -> Result<String> {
        let key = "salesforce.app.callback_url";
        let parsed = url::Url::parse(raw).map_err(|e| {
            self.fail(
                key,
                format!("{raw:?} is not a URL: {e}"),
                "give an https:// URL, e.g. https://login.salesforce.com/services/oauth2/callback (the JWT flow does not use it)",
            )
        })?;
        match parsed.scheme() {
            "https" => Ok(raw.to_string()),
            "http" if is_loopback(&parsed) => Ok(raw.to_string()),
            _ => Err(self.fail(
                key,
                format!("{raw:?} is neither https nor a loopback http URL"),
                "give an https:// URL (the JWT flow does not use it), or leave the key out",
            )),
        }
    }

    /// A list of Salesforce profile or permission set names: each on one line, without commas
    /// (the metadata joins them with commas), each once.
    fn names(&self, key: &str, raw: Vec<String>, what: &str) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for n in raw {
            let n = n.trim().to_string();
            if n.is_empty() || n.len() > 255 || n.contains(',') || n.chars().any(char::is_control) {
                return Err(self.fail(
                    key,
                    format!("{n:?} is not a {what} name"),
                    format!("list each {what} name as Salesforce shows it, without commas"),
                ));
            }
            if out.contains(&n) {
                return Err(self.fail(
                    key,
                    format!("{n:?} is listed twice"),
                    format!("list each {what} once"),
                ));
            }
            out.push(n);
        }
        Ok(out)
    }

    /// A Salesforce URL: https, or http on loopback only (a local test server); no path.
    fn https_url(&self, key: &str, raw: &str) -> Result<String> {
        let raw = raw.trim();
        let parsed = url::Url::parse(raw).map_err(|e| {
            self.fail(
                key,
                format!("{raw:?} is not a URL: {e}"),
                "give a URL such as https://login.salesforce.com, https://test.salesforce.com or your My Domain URL",
            )
        })?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            // Not quoted: the value holds a password.
            return Err(self.fail(
                key,
                "the URL carries a user name or password",
                "remove the `user:password@` part: sfglue signs in with the JWT bearer flow, and credentials in a URL would be printed and stored",
            ));
        }
        match parsed.scheme() {
            "https" => {}
            "http" if is_loopback(&parsed) => {}
            "http" => {
                return Err(self.fail(
                    key,
                    format!("{raw:?} uses plain http"),
                    "Salesforce requires https: write https:// (plain http is accepted only for 127.0.0.1 or localhost)",
                ));
            }
            other => {
                return Err(self.fail(
                    key,
                    format!("the scheme {other:?} is not supported"),
                    "give an https:// URL",
                ));
            }
        }
        if !parsed.path().trim_end_matches('/').is_empty() || parsed.query().is_some() {
            return Err(self.fail(
                key,
                format!("{raw:?} has a path or query"),
                "give only the scheme and host, e.g. https://login.salesforce.com",
            ));
        }
        if parsed
            .host_str()
            .is_some_and(|h| h.ends_with(".lightning.force.com"))
        {
            return Err(self.fail(
                key,
                "a Lightning domain (*.lightning.force.com) cannot sign in",
                "use the My Domain URL (*.my.salesforce.com) or login/test.salesforce.com",
            ));
        }
        Ok(raw.trim_end_matches('/').to_string())
    }

    fn glue(&self, raw: RawGlue, name: &str) -> Result<GlueSettings> {
        let job_type = self.job_type(&raw)?;
        let job_name = raw
            .job_name
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| format!("{name}-extract"));
        if job_name.is_empty()
            || job_name.len() > 255
            || !job_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(self.fail(
                "glue.job_name",
                format!("{job_name:?} is not a valid Glue job name"),
                "use letters, digits, '-', '_' and '.'",
            ));
        }
        let bucket = self
            .required(raw.script_bucket, "glue.script_bucket")?
            .trim()
            .to_string();
        if !is_valid_bucket(&bucket) {
            return Err(self.fail(
                "glue.script_bucket",
                format!("{bucket:?} is not a valid S3 bucket name"),
                "use 3 to 63 lower-case letters, digits, '.' and '-', starting and ending with a letter or digit",
            ));
        }
        let prefix = normalise_prefix(raw.script_prefix.as_deref().unwrap_or("sfglue/scripts/"));
        let script = S3Location {
            bucket,
            key: format!("{prefix}{name}/{}", crate::glue_script::FILE_NAME),
        };
        let output = self.s3_uri("glue.output", &self.required(raw.output, "glue.output")?)?;
        let timeout_minutes = self.in_range(
            "glue.timeout_minutes",
            raw.timeout_minutes,
            DEFAULT_TIMEOUT_MINUTES,
            1,
            2880,
            " minutes",
        )?;
        let max_retries = self.in_range("glue.max_retries", raw.max_retries, 0, 0, 10, "")?;
        let max_concurrent_runs = self.in_range(
            "glue.max_concurrent_runs",
            raw.max_concurrent_runs,
            1,
            1,
            1000,
            "",
        )?;
        let connections = raw.connections.unwrap_or_default();
        if let Some(bad) = connections
            .iter()
            .find(|c| c.trim().is_empty() || c.len() > 255)
        {
            return Err(self.fail(
                "glue.connections",
                format!("{bad:?} is not a Glue connection name"),
                "list the names of existing Glue connections",
            ));
        }
        let schedule = match raw.schedule.map(|s| s.trim().to_string()) {
            Some(s) if !s.is_empty() => {
                if !(s.starts_with("cron(")
                    && s.ends_with(')')
                    && s[5..s.len() - 1].split_whitespace().count() == 6)
                {
                    return Err(self.fail(
                        "glue.schedule",
                        format!("{s:?} is not a Glue schedule"),
                        "write a six-field cron expression such as \"cron(0 2 * * ? *)\" (02:00 UTC daily)",
                    ));
                }
                Some(s)
            }
            _ => None,
        };
        let tags = raw.tags.unwrap_or_default();
        if let Some(k) = tags
            .keys()
            .find(|k| k.starts_with("aws:") || *k == "managed-by" || k.starts_with("sfglue:"))
        {
            return Err(self.fail(
                "glue.tags",
                format!("the tag key {k:?} is reserved"),
                "choose another key: aws:*, managed-by and sfglue:* belong to AWS and sfglue",
            ));
        }
        Ok(GlueSettings {
            job_name,
            role_name: format!("{name}-glue"),
            script,
            output,
            create_buckets: raw.create_buckets.unwrap_or(true),
            timeout_minutes,
            job_type,
            max_retries,
            max_concurrent_runs,
            connections,
            schedule,
            tags,
            max_concurrency: match raw.max_concurrency {
                None => None,
                n => Some(self.in_range("glue.max_concurrency", n, 4, 1, 32, " queries")?),
            },
            bulk_threshold: raw.bulk_threshold,
        })
    }

    fn job_type(&self, raw: &RawGlue) -> Result<JobType> {
        let spark_only = |key: &str, set: bool| -> Result<()> {
            if set {
                Err(self.fail(
                    key,
                    "applies to Spark jobs only",
                    "remove it, or set glue.job_type: spark",
                ))
            } else {
                Ok(())
            }
        };
        match raw
            .job_type
            .as_deref()
            .map(str::trim)
            .unwrap_or("pythonshell")
        {
            "pythonshell" => {
                spark_only("glue.glue_version", raw.glue_version.is_some())?;
                spark_only("glue.worker_type", raw.worker_type.is_some())?;
                spark_only("glue.number_of_workers", raw.number_of_workers.is_some())?;
                let flex = raw
                    .execution_class
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case("flex"));
                spark_only("glue.execution_class", flex)?;
                let max_capacity = raw.max_capacity.unwrap_or(0.0625);
                if max_capacity != 0.0625 && max_capacity != 1.0 {
                    return Err(self.fail(
                        "glue.max_capacity",
                        format!("{max_capacity} DPU is not allowed for a Python shell job"),
                        "use 0.0625 (the default) or 1",
                    ));
                }
                Ok(JobType::PythonShell { max_capacity })
            }
            "spark" => {
                if raw.max_capacity.is_some() {
                    return Err(self.fail(
                        "glue.max_capacity",
                        "applies to Python shell jobs only",
                        "size a Spark job with glue.worker_type and glue.number_of_workers",
                    ));
                }
                let glue_version = raw.glue_version.clone().unwrap_or_else(|| "5.0".into());
                if !["4.0", "5.0", "5.1"].contains(&glue_version.as_str()) {
                    return Err(self.fail(
                        "glue.glue_version",
                        format!("{glue_version:?} is not supported"),
                        "use \"5.0\" (the default), \"5.1\" or \"4.0\"",
                    ));
                }
                let worker_type = raw.worker_type.clone().unwrap_or_else(|| "G.1X".into());
                let known = [
                    "G.1X", "G.2X", "G.4X", "G.8X", "G.12X", "G.16X", "R.1X", "R.2X", "R.4X",
                    "R.8X",
                ];
                if !known.contains(&worker_type.as_str()) {
                    return Err(self.fail(
                        "glue.worker_type",
                        format!("{worker_type:?} is not a Glue Spark worker type"),
                        "use G.1X (the default), G.2X, G.4X, G.8X, G.12X, G.16X or R.1X to R.8X",
                    ));
                }
                let number_of_workers = self.in_range(
                    "glue.number_of_workers",
                    raw.number_of_workers,
                    2,
                    2,
                    299,
                    " workers",
                )?;
                let flex = match raw.execution_class.as_deref().map(str::trim) {
                    None => false,
                    Some(c) if c.eq_ignore_ascii_case("standard") => false,
                    Some(c) if c.eq_ignore_ascii_case("flex") => true,
                    Some(c) => {
                        return Err(self.fail(
                            "glue.execution_class",
                            format!("{c:?} is not an execution class"),
                            "use STANDARD or FLEX",
                        ));
                    }
                };
                Ok(JobType::Spark {
                    glue_version,
                    worker_type,
                    number_of_workers,
                    flex,
                })
            }
            other => Err(self.fail(
                "glue.job_type",
                format!("{other:?} is not a job type"),
                "use pythonshell (the default) or spark",
            )),
        }
    }

    fn s3_uri(&self, key: &str, raw: &str) -> Result<S3Location> {
        let raw = raw.trim();
        let fail = |problem: String| {
            self.fail(
                key,
                problem,
                "write an S3 folder URI such as s3://my-bucket/salesforce/",
            )
        };
        let rest = raw
            .strip_prefix("s3://")
            .ok_or_else(|| fail(format!("{raw:?} is not an s3:// URI")))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if !is_valid_bucket(bucket) {
            return Err(fail(format!("{bucket:?} is not a valid S3 bucket name")));
        }
        Ok(S3Location {
            bucket: bucket.to_string(),
            key: normalise_prefix(prefix),
        })
    }
}

/// The JWT audience Salesforce expects for a login host: the generic login host of the org's kind
/// for Salesforce's own hosts, otherwise the login URL itself (an Experience Cloud site, or a
/// server that stands in for the org's My Domain).
pub fn derive_audience(login_url: &str) -> String {
    let host = url::Url::parse(login_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default();
    if host == "test.salesforce.com" || host.ends_with(".sandbox.my.salesforce.com") {
        "https://test.salesforce.com".to_string()
    } else if host == "login.salesforce.com" || host.ends_with(".my.salesforce.com") {
        "https://login.salesforce.com".to_string()
    } else {
        login_url.trim_end_matches('/').to_string()
    }
}

/// The default API name of the External Client App for the config called `name`: each
/// '-'-separated part with its first letter in upper case, joined with '_', then `_Glue_Job`, cut
/// to 40 characters (`acme-dev` → `Acme_Dev_Glue_Job`). A config name starts with a letter and
/// has only letters, digits and '-', so this is always a valid API name.
pub fn derive_app_api_name(name: &str) -> String {
    let mut parts: Vec<String> = name
        .split('-')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut chars = p.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect();
    parts.push("Glue_Job".to_string());
    let api: String = parts.join("_").chars().take(40).collect();
    api.trim_end_matches('_').to_string()
}

/// A Salesforce API (developer) name: up to 40 ASCII letters, digits and single underscores,
/// starting with a letter, not ending with an underscore.
pub fn is_valid_api_name(n: &str) -> bool {
    (1..=40).contains(&n.len())
        && n.starts_with(|c: char| c.is_ascii_alphabetic())
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !n.contains("__")
        && !n.ends_with('_')
}

fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn normalise_prefix(p: &str) -> String {
    let p = p.trim().trim_matches('/');
    if p.is_empty() {
        String::new()
    } else {
        format!("{p}/")
    }
}

fn is_valid_name(n: &str) -> bool {
    (1..=40).contains(&n.len())
        && n.starts_with(|c: char| c.is_ascii_alphabetic())
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !n.ends_with('-')
}

fn is_valid_query_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.starts_with(|c: char| c.is_ascii_lowercase())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_valid_secret_name(n: &str) -> bool {
    if !(1..=512).contains(&n.len())
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
    {
        return false;
    }
    // AWS appends "-" and six characters to form the ARN; a name that already ends like that
    // makes ARN lookups ambiguous, and AWS advises against it.
    let b = n.as_bytes();
    !(b.len() > 7 && b[b.len() - 7] == b'-')
}

fn is_valid_kms_key(k: &str) -> bool {
    if k.starts_with("alias/") || k.contains(":alias/") {
        return false;
    }
    let id = k.rsplit_once(":key/").map(|(_, id)| id).unwrap_or(k);
    !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && (k == id || k.starts_with("arn:"))
}

fn is_valid_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !b.contains("..")
        && b.parse::<std::net::Ipv4Addr>().is_err()
}

/// Finds the line and column (1-based) of a dotted key in YAML text, by indentation. A segment
/// may name a block-sequence item by index (`queries[1].format`). Good enough to point at a key
/// in a config file; returns `None` when the key is not written out (or sits in flow style).
fn locate_key(text: &str, dotted: &str) -> Option<(usize, usize)> {
    let lines = yaml_lines(text);
    let mut from = 0;
    let mut min_indent = 0;
    let mut found = None;
    for segment in dotted.split('.') {
        let (name, index) = match segment.split_once('[') {
            Some((name, rest)) => (name, Some(rest.strip_suffix(']')?.parse::<usize>().ok()?)),
            None => (segment, None),
        };
        let mut at = None;
        for (j, l) in lines.iter().enumerate().skip(from) {
            if l.indent < min_indent {
                return None;
            }
            if !l.item
                && l.text
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.trim_start().starts_with(':'))
            {
                at = Some(j);
                break;
            }
        }
        let key = &lines[at?];
        found = Some((key.line, key.indent + 1));
        from = at? + 1;
        min_indent = key.indent + 1;
        if let Some(n) = index {
            // A block sequence may sit at its key's own indentation (`queries:\n- name: …`).
            let mut item_indent = None;
            let mut seen = 0;
            let mut at = None;
            for (j, l) in lines.iter().enumerate().skip(from) {
                if l.indent < key.indent || (l.indent == key.indent && !l.item) {
                    return None;
                }
                if l.item && *item_indent.get_or_insert(l.indent) == l.indent {
                    if seen == n {
                        at = Some(j);
                        break;
                    }
                    seen += 1;
                }
            }
            let item = &lines[at?];
            found = Some((item.line, item.indent + 1));
            from = at? + 1;
            min_indent = item.indent + 1;
        }
    }
    found
}

/// One piece of a YAML line for [`locate_key`]: a `- ` sequence marker, or the text after it (or
/// after the indentation), with its 0-based column and 1-based line.
struct YamlLine<'a> {
    line: usize,
    indent: usize,
    item: bool,
    text: &'a str,
}

/// The config's lines without comments and blank lines, each `- ` marker split off as a line of
/// its own so that `- name: x` reads as an item holding `name` one column further in.
fn yaml_lines(text: &str) -> Vec<YamlLine<'_>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut rest = line.trim_start();
        let mut indent = line.len() - rest.len();
        if rest.is_empty() || rest.starts_with('#') {
            continue;
        }
        while rest == "-" || rest.starts_with("- ") {
            out.push(YamlLine {
                line: i + 1,
                indent,
                item: true,
                text: "-",
            });
            let after = rest[1..].trim_start();
            indent += rest.len() - after.len();
            rest = after;
        }
        if !rest.is_empty() {
            out.push(YamlLine {
                line: i + 1,
                indent,
                item: false,
                text: rest,
            });
        }
    }
    out
}

/// The commented starting config that `sfglue init` writes.
pub const STARTER: &str = include_str!("../templates/sfglue.yaml");

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Config {
        parse(text, Path::new("/cfg/sfglue.yaml"), None).unwrap()
    }
    fn err(text: &str) -> Failure {
        parse(text, Path::new("sfglue.yaml"), None).unwrap_err()
    }

    const MINIMAL: &str = "version: 1
name: acme-dev
salesforce:
  login_url: https://login.salesforce.com
  username: integration@acme.example
glue:
  script_bucket: acme-glue-scripts
  output: s3://acme-data/salesforce
queries:
  - name: accounts
    soql: SELECT Id, Name FROM Account
";

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let c = ok(MINIMAL);
        assert_eq!(c.salesforce.audience, "https://login.salesforce.com");
        assert_eq!(c.salesforce.api_version, DEFAULT_API_VERSION);
        assert_eq!(c.salesforce.consumer_key, None);
        assert_eq!(c.certificate.key_size, 2048);
        assert_eq!(c.secret.name, "acme-dev/salesforce-jwt");
        assert_eq!(c.glue.job_name, "acme-dev-extract");
        assert_eq!(c.glue.role_name, "acme-dev-glue");
        assert_eq!(
            c.glue.script.key,
            "sfglue/scripts/acme-dev/sfglue_extract.py"
        );
        assert_eq!(c.glue.output.uri(), "s3://acme-data/salesforce/");
        assert_eq!(c.output_dir, PathBuf::from("/cfg/sfglue-out"));
    }

    #[test]
    fn the_starter_config_is_valid() {
        let c = ok(STARTER);
        assert_eq!(
            c.salesforce.consumer_key, None,
            "the starter waits for the app's key"
        );
        assert!(!c.queries.is_empty());
    }

    #[test]
    fn audience_follows_the_login_host() {
        for (login, aud) in [
            ("https://test.salesforce.com", "https://test.salesforce.com"),
            (
                "https://acme--uat.sandbox.my.salesforce.com",
                "https://test.salesforce.com",
            ),
            (
                "https://acme.my.salesforce.com",
                "https://login.salesforce.com",
            ),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https://acme.my.site.com", "https://acme.my.site.com"),
        ] {
            assert_eq!(derive_audience(login), aud, "{login}");
        }
    }

    #[test]
    fn unknown_key_names_file_line_and_column() {
        let text = MINIMAL.replace("  username:", "  usernme:");
        let e = err(&text);
        assert_eq!(e.code, "config.unknown_field");
        assert!(e.message.starts_with("sfglue.yaml:5:3: "), "{}", e.message);
        assert!(e.message.contains("usernme"), "{}", e.message);
    }

    #[test]
    fn wrong_type_names_file_line_and_column() {
        let text = MINIMAL.replace("version: 1", "version: [1]");
        let e = err(&text);
        assert_eq!(e.code, "config.wrong_type");
        assert!(e.message.starts_with("sfglue.yaml:1:10: "), "{}", e.message);
    }

    #[test]
    fn semantic_errors_point_at_the_key() {
        let text = MINIMAL.replace(
            "https://login.salesforce.com",
            "http://login.salesforce.com",
        );
        let e = err(&text);
        assert!(
            e.message
                .starts_with("sfglue.yaml:4:3: `salesforce.login_url`"),
            "{}",
            e.message
        );
        assert!(e.fix.unwrap().contains("https"));
    }

    #[test]
    fn rejects_bad_values_with_a_fix() {
        for (from, to, key) in [
            ("acme-glue-scripts", "Acme_Bucket", "glue.script_bucket"),
            (
                "s3://acme-data/salesforce",
                "acme-data/salesforce",
                "glue.output",
            ),
            ("name: acme-dev", "name: 9lives", "name"),
            (
                "integration@acme.example",
                "integration",
                "salesforce.username",
            ),
            ("SELECT Id, Name FROM Account", "DELETE Account", "queries"),
        ] {
            let e = err(&MINIMAL.replace(from, to));
            assert_eq!(e.class, crate::error::ExitClass::Config);
            assert!(e.message.contains(key), "{key}: {}", e.message);
            assert!(e.fix.is_some());
        }
    }

    #[test]
    fn key_size_and_secret_name_rules() {
        let e = err(&format!("{MINIMAL}certificate:\n  key_size: 1024\n"));
        assert!(e.message.contains("certificate.key_size"));
        let e = err(&format!("{MINIMAL}secret:\n  name: my/secret-abcdef\n"));
        assert!(e.message.contains("secret.name"));
        let e = err(&format!("{MINIMAL}secret:\n  kms_key_id: alias/foo\n"));
        assert!(e.message.contains("secret.kms_key_id"));
        let c = ok(&format!("{MINIMAL}certificate:\n  key_size: 4096\n"));
        assert_eq!(c.certificate.key_size, 4096);
    }

    const ENVS: &str = "version: 1
salesforce:
  username: integration@acme.example
glue:
  script_bucket: acme-glue-scripts
  output: s3://acme-data/salesforce
queries:
  - name: accounts
    soql: SELECT Id FROM Account
environments:
  dev:
    name: acme-dev
    salesforce:
      login_url: https://acme--dev.sandbox.my.salesforce.com
  prod:
    name: acme-prod
    aws:
      region: eu-west-1
    salesforce:
      login_url: https://acme.my.salesforce.com
      consumer_key: 3MVGprod
";

    #[test]
    fn environments_share_defaults_and_override_them() {
        let dev = parse(ENVS, Path::new("e.yaml"), Some("dev")).unwrap();
        assert_eq!(dev.env.as_deref(), Some("dev"));
        assert_eq!(dev.name, "acme-dev");
        assert_eq!(dev.salesforce.audience, "https://test.salesforce.com");
        assert_eq!(dev.salesforce.username, "integration@acme.example");
        assert_eq!(dev.aws.region, None);
        let prod = parse(ENVS, Path::new("e.yaml"), Some("prod")).unwrap();
        assert_eq!(prod.aws.region.as_deref(), Some("eu-west-1"));
        assert_eq!(prod.salesforce.consumer_key.as_deref(), Some("3MVGprod"));
        assert_eq!(prod.secret.name, "acme-prod/salesforce-jwt");
        assert_eq!(prod.queries, dev.queries);
    }

    #[test]
    fn a_bad_query_is_located_at_its_own_key() {
        // In the shared list...
        let bad = ENVS.replace("SELECT Id FROM Account", "DELETE Account");
        let e = parse(&bad, Path::new("e.yaml"), Some("dev")).unwrap_err();
        assert!(
            e.message
                .starts_with("e.yaml:9:5: `queries[0].soql` (environment dev): query \"accounts\""),
            "{}",
            e.message
        );
        // ...and in an environment's own list, which replaces the shared one.
        let own = ENVS.replace(
            "    name: acme-prod\n",
            "    name: acme-prod\n    queries:\n      - name: a\n        soql: SELECT Id FROM A\n      - name: b\n        soql: SELECT Id FROM B\n        format: parquet.gz\n",
        );
        let e = parse(&own, Path::new("e.yaml"), Some("prod")).unwrap_err();
        assert!(
            e.message
                .starts_with("e.yaml:22:9: `queries[1].format` (environment prod)"),
            "{}",
            e.message
        );
        // A list written in flow style is pointed at as a whole.
        let flow = MINIMAL.replace(
            "queries:\n  - name: accounts\n    soql: SELECT Id, Name FROM Account\n",
            "queries: [{name: accounts, soql: SELECT Id FROM Account, api: soap}]\n",
        );
        let e = err(&flow);
        assert!(
            e.message.starts_with("sfglue.yaml:9:1: `queries[0].api`: "),
            "{}",
            e.message
        );
    }

    #[test]
    fn environment_choice_errors() {
        let e = parse(ENVS, Path::new("e.yaml"), None).unwrap_err();
        assert_eq!(e.code, "config.env_required");
        assert!(e.message.contains("dev, prod"), "{}", e.message);
        let e = parse(ENVS, Path::new("e.yaml"), Some("uat")).unwrap_err();
        assert_eq!(e.code, "config.unknown_env");
        let e = parse(MINIMAL, Path::new("m.yaml"), Some("dev")).unwrap_err();
        assert_eq!(e.code, "config.no_environments");
        // A bad value inside an environment points into that environment's section.
        let bad = ENVS.replace(
            "https://acme.my.salesforce.com",
            "http://acme.my.salesforce.com",
        );
        let e = parse(&bad, Path::new("e.yaml"), Some("prod")).unwrap_err();
        assert!(
            e.message
                .starts_with("e.yaml:20:7: `salesforce.login_url` (environment prod)"),
            "{}",
            e.message
        );
        // A missing required key is named.
        let e = parse(
            &ENVS.replace("    name: acme-dev\n", ""),
            Path::new("e.yaml"),
            Some("dev"),
        )
        .unwrap_err();
        assert_eq!(e.code, "config.missing_field");
        assert!(e.message.contains("`name`"), "{}", e.message);
    }

    #[test]
    fn environments_need_their_own_names_and_know_each_others_buckets() {
        let shared = ENVS.replace("    name: acme-prod\n", "    name: acme-dev\n");
        let e = parse(&shared, Path::new("e.yaml"), Some("dev")).unwrap_err();
        assert_eq!(e.code, "config.env_name_shared");
        let dev = parse(ENVS, Path::new("/x/e.yaml"), Some("dev")).unwrap();
        // Both use the default buckets: each knows the other needs them.
        assert_eq!(
            dev.buckets_of_other_environments,
            vec!["acme-data", "acme-glue-scripts"]
        );
        assert_eq!(dev.output_dir, PathBuf::from("/x/sfglue-out/dev"));
    }

    #[test]
    fn credentials_in_urls_are_refused_without_echoing_them() {
        let e = err(&MINIMAL.replace(
            "https://login.salesforce.com",
            "https://u:hunter2@login.salesforce.com",
        ));
        assert!(e.message.contains("user name or password"), "{}", e.message);
        assert!(!e.message.contains("hunter2"));
    }

    #[test]
    fn glue_options_are_checked() {
        let spark = MINIMAL.replace(
            "  output: s3://acme-data/salesforce\n",
            "  output: s3://acme-data/salesforce\n  job_type: spark\n  worker_type: G.2X\n  number_of_workers: 4\n  execution_class: FLEX\n  schedule: cron(0 2 * * ? *)\n",
        );
        let c = ok(&spark);
        assert_eq!(
            c.glue.job_type,
            JobType::Spark {
                glue_version: "5.0".into(),
                worker_type: "G.2X".into(),
                number_of_workers: 4,
                flex: true
            }
        );
        assert_eq!(c.glue.schedule.as_deref(), Some("cron(0 2 * * ? *)"));
        for (extra, key) in [
            ("  execution_class: FLEX\n", "glue.execution_class"),
            ("  worker_type: G.1X\n", "glue.worker_type"),
            ("  max_capacity: 2\n", "glue.max_capacity"),
            ("  schedule: every day\n", "glue.schedule"),
            ("  tags:\n    managed-by: me\n", "glue.tags"),
            ("  job_type: lambda\n", "glue.job_type"),
        ] {
            let text = MINIMAL.replace(
                "  output: s3://acme-data/salesforce\n",
                &format!("  output: s3://acme-data/salesforce\n{extra}"),
            );
            let e = err(&text);
            assert!(e.message.contains(key), "{key}: {}", e.message);
        }
    }

    #[test]
    fn query_options_pass_through_to_the_job() {
        let text = MINIMAL.replace(
            "    soql: SELECT Id, Name FROM Account\n",
            "    soql: SELECT Id, Name, SystemModstamp FROM Account\n    api: auto\n    watermark: SystemModstamp\n",
        );
        let c = ok(&text);
        assert_eq!(c.queries[0].api.as_deref(), Some("auto"));
        let json = serde_json::to_value(&c.queries).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{"name": "accounts", "soql": "SELECT Id, Name, SystemModstamp FROM Account", "api": "auto", "watermark": "SystemModstamp"}])
        );
        let e = err(&text.replace("watermark: SystemModstamp", "watermark: LastModifiedDate"));
        assert!(
            e.message.contains("not in its SELECT list"),
            "{}",
            e.message
        );
        let e = err(&text.replace("api: auto", "api: soap"));
        assert!(e.message.contains("api \"soap\""), "{}", e.message);
        // The script's defaults written out are the same query as left out.
        let written = ok(&text.replace("api: auto", "api: rest\n    format: jsonl.gz"));
        let left_out = ok(&text.replace("    api: auto\n", ""));
        assert_eq!(written.queries, left_out.queries);
        assert_eq!(written.queries[0].api, None);
    }

    #[test]
    fn query_text_is_kept_and_read_at_the_top_level() {
        let with = |soql: &str, watermark: &str| {
            MINIMAL.replace(
                "    soql: SELECT Id, Name FROM Account\n",
                &format!("    soql: \"{soql}\"\n{watermark}"),
            )
        };
        let wm = "    watermark: SystemModstamp\n";
        // White space inside a literal is data; outside it is folded.
        let c = ok(&with(
            "SELECT  Id\\n FROM Account WHERE Name = 'A  B\\tC'",
            "",
        ));
        assert_eq!(
            c.queries[0].soql,
            "SELECT Id FROM Account WHERE Name = 'A  B\tC'"
        );
        // A sub-query's FROM is not the query's: the watermark is found in the outer list.
        let c = ok(&with(
            "SELECT Id, (SELECT Id FROM Contacts), SystemModstamp FROM Account",
            wm,
        ));
        assert_eq!(c.queries[0].watermark.as_deref(), Some("SystemModstamp"));
        // LIMIT is safe only in ascending order of the mark; OFFSET never.
        ok(&with(
            "SELECT Id, SystemModstamp FROM Account ORDER BY SystemModstamp ASC LIMIT 10",
            wm,
        ));
        ok(&with(
            "SELECT Id, SystemModstamp FROM Account ORDER BY systemmodstamp LIMIT 10",
            wm,
        ));
        ok(&with("SELECT Id FROM Account ORDER BY Name LIMIT 10", ""));
        for (soql, expected) in [
            (
                "SELECT Id, SystemModstamp FROM Account ORDER BY SystemModstamp DESC LIMIT 10",
                "LIMIT with the watermark \"SystemModstamp\" would skip records",
            ),
            (
                "SELECT Id, SystemModstamp FROM Account LIMIT 10",
                "LIMIT with the watermark",
            ),
            (
                "SELECT Id, SystemModstamp FROM Account ORDER BY Name, SystemModstamp LIMIT 10",
                "LIMIT with the watermark",
            ),
            (
                "SELECT Id, SystemModstamp FROM Account ORDER BY SystemModstamp OFFSET 5",
                "OFFSET with the watermark",
            ),
        ] {
            let e = err(&with(soql, wm));
            assert!(
                e.message.starts_with("sfglue.yaml:11:5: `queries[0].soql`"),
                "{soql}: {}",
                e.message
            );
            assert!(e.message.contains(expected), "{soql}: {}", e.message);
            assert!(e.fix.is_some());
        }
        // A LIMIT inside a literal or a sub-query is not the query's.
        ok(&with(
            "SELECT Id, SystemModstamp FROM Account WHERE Name != 'LIMIT 5' AND Id IN (SELECT AccountId FROM Contact LIMIT 5)",
            wm,
        ));
        for count in [
            "SELECT COUNT() FROM Account",
            "select count ( ) from Account",
        ] {
            let e = err(&with(count, ""));
            assert!(e.message.contains("COUNT()"), "{count}: {}", e.message);
        }
        let e = err(&with(
            "SELECT Id, Owner.LastModifiedDate FROM Account",
            "    watermark: Owner.LastModifiedDate\n",
        ));
        assert!(
            e.message
                .starts_with("sfglue.yaml:12:5: `queries[0].watermark`")
                && e.message.contains("not a field name"),
            "{}",
            e.message
        );
        ok(&with("SELECT COUNT(Id) FROM Account", ""));
        let e = err(&with("SELECT Id", ""));
        assert!(
            e.message.contains("not a SELECT … FROM … query"),
            "{}",
            e.message
        );
    }

    #[test]
    fn output_formats_parquet_and_csv_for_bulk_queries() {
        let with = |options: &str| {
            MINIMAL.replace(
                "    soql: SELECT Id, Name FROM Account\n",
                &format!("    soql: SELECT Id, Name FROM Account\n{options}"),
            )
        };
        for format in ["jsonl", "parquet"] {
            let c = ok(&with(&format!("    format: {format}\n")));
            assert_eq!(c.queries[0].format.as_deref(), Some(format));
        }
        // The script's default is left to the script.
        let c = ok(&with("    format: jsonl.gz\n"));
        assert_eq!(c.queries[0].format, None);
        for format in ["csv.gz", "csv"] {
            let c = ok(&with(&format!("    api: bulk\n    format: {format}\n")));
            assert_eq!(c.queries[0].format.as_deref(), Some(format));
            for api in ["", "    api: rest\n", "    api: auto\n"] {
                let e = err(&with(&format!("{api}    format: {format}\n")));
                assert!(
                    e.message
                        .contains(&format!("format {format} writes Bulk API 2.0's CSV"))
                        && e.message.contains("needs api bulk"),
                    "{api}: {}",
                    e.message
                );
                assert_eq!(
                    e.fix.as_deref(),
                    Some("set `api: bulk` on query \"accounts\", or use format jsonl.gz")
                );
            }
        }
        let e = err(&with("    format: tsv\n"));
        assert!(
            e.message.contains("jsonl.gz, jsonl, csv.gz, csv, parquet"),
            "{}",
            e.message
        );
    }

    #[test]
    fn blue_green_needs_two_different_apps() {
        let with = |extra: &str| {
            MINIMAL.replace(
                "  username: integration@acme.example\n",
                &format!("  username: integration@acme.example\n{extra}"),
            )
        };
        let c = ok(&with("  consumer_key: 3MVGa\n  consumer_key_b: 3MVGb\n"));
        assert_eq!(c.salesforce.blue_green(), Some(("3MVGa", "3MVGb")));
        assert!(c.salesforce.is_configured_app("3MVGb"));
        let e = err(&with("  consumer_key_b: 3MVGb\n"));
        assert!(
            e.message.contains("salesforce.consumer_key_b"),
            "{}",
            e.message
        );
        let e = err(&with("  consumer_key: 3MVGa\n  consumer_key_b: 3MVGa\n"));
        assert!(e.message.contains("same"), "{}", e.message);
        assert_eq!(ok(MINIMAL).salesforce.blue_green(), None);
        let e = err(&with("  consumer_key_c: 3MVGc\n"));
        assert_eq!(e.code, "config.unknown_field");
    }

    #[test]
    fn deep_flow_nesting_is_refused_quickly() {
        let deep = format!("version: 1\nname: {}\n", "[".repeat(60_000));
        let started = std::time::Instant::now();
        let e = err(&deep);
        assert_eq!(e.code, "config.too_deep");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        // Brackets inside quotes and comments do not count; ordinary nesting passes.
        assert_eq!(
            too_deep("a: \"[[[[\" # {{{{\nb: [[1], {c: [2]}]\n", 3),
            None
        );
        assert_eq!(too_deep("a: [[[[1]]]]\n", 3), Some(1));
    }

    #[test]
    fn empty_file_is_a_config_error() {
        assert_eq!(err("   \n").code, "config.empty");
    }

    #[test]
    fn the_app_has_defaults_from_the_name() {
        let c = ok(MINIMAL);
        let app = &c.salesforce.app;
        assert_eq!(app.api_name, "Acme_Dev_Glue_Job");
        assert_eq!(app.label, "acme-dev Glue job");
        assert_eq!(app.contact_email, None);
        assert_eq!(
            app.callback_url,
            "https://login.salesforce.com/services/oauth2/callback"
        );
        assert!(app.preauthorized_profiles.is_empty());
        assert_eq!(app.ip_relaxation, IpRelaxation::Enforce);
    }

    #[test]
    fn app_api_names_are_valid_salesforce_names() {
        for (name, api) in [
            ("acme-dev", "Acme_Dev_Glue_Job"),
            ("a", "A_Glue_Job"),
            ("x--y9", "X_Y9_Glue_Job"),
            ("ACME", "ACME_Glue_Job"),
            (
                "a-very-long-config-name-of-forty-chars-x",
                "A_Very_Long_Config_Name_Of_Forty_Chars_X",
            ),
            (
                "abcdefghijabcdefghijabcdefghijabcde-x",
                "Abcdefghijabcdefghijabcdefghijabcde_X_Gl",
            ),
            (
                "abcdefghijabcdefghijabcdefghijabcdefghi",
                "Abcdefghijabcdefghijabcdefghijabcdefghi",
            ),
        ] {
            let got = derive_app_api_name(name);
            assert_eq!(got, api, "{name}");
            assert!(is_valid_api_name(&got), "{got}");
        }
        for bad in ["9a", "a__b", "a_", "a-b", "", "é"] {
            assert!(!is_valid_api_name(bad), "{bad}");
        }
    }

    #[test]
    fn the_app_section_is_read_and_checked() {
        let app = "  app:\n    api_name: Acme_ECA\n    label: Acme & Co\n    contact_email: ops@acme.example\n    preauthorized_profiles: [Integration Profile]\n    preauthorized_permission_sets: [Glue_Job_Access, API_Only]\n    ip_relaxation: bypass\n    callback_url: https://acme.example/cb\n";
        let text = MINIMAL.replace(
            "  username: integration@acme.example\n",
            &format!("  username: integration@acme.example\n{app}"),
        );
        let c = ok(&text);
        let a = &c.salesforce.app;
        assert_eq!(a.api_name, "Acme_ECA");
        assert_eq!(a.label, "Acme & Co");
        assert_eq!(a.contact_email.as_deref(), Some("ops@acme.example"));
        assert_eq!(a.preauthorized_profiles, vec!["Integration Profile"]);
        assert_eq!(
            a.preauthorized_permission_sets,
            vec!["Glue_Job_Access", "API_Only"]
        );
        assert_eq!(a.ip_relaxation, IpRelaxation::Bypass);
        assert_eq!(a.callback_url, "https://acme.example/cb");
        for (from, to, key) in [
            (
                "api_name: Acme_ECA",
                "api_name: Acme-ECA",
                "salesforce.app.api_name",
            ),
            (
                "contact_email: ops@acme.example",
                "contact_email: ops",
                "salesforce.app.contact_email",
            ),
            (
                "[Integration Profile]",
                "[\"A, B\"]",
                "salesforce.app.preauthorized_profiles",
            ),
            (
                "[Glue_Job_Access, API_Only]",
                "[X, X]",
                "salesforce.app.preauthorized_permission_sets",
            ),
            (
                "ip_relaxation: bypass",
                "ip_relaxation: open",
                "salesforce.app.ip_relaxation",
            ),
            (
                "https://acme.example/cb",
                "http://acme.example/cb",
                "salesforce.app.callback_url",
            ),
        ] {
            let e = err(&text.replace(from, to));
            assert!(e.message.contains(key), "{key}: {}", e.message);
            assert!(e.message.starts_with("sfglue.yaml:"), "{}", e.message);
            assert!(e.fix.is_some());
        }
        let e = err(&text.replace("    label: Acme & Co\n", "    labl: x\n"));
        assert_eq!(e.code, "config.unknown_field");
    }

    #[test]
    fn environments_merge_the_app_section_field_by_field() {
        let text = ENVS
            .replace(
                "  username: integration@acme.example\n",
                "  username: integration@acme.example\n  app:\n    contact_email: ops@acme.example\n    preauthorized_profiles: [Integration Profile]\n",
            )
            .replace(
                "      consumer_key: 3MVGprod\n",
                "      consumer_key: 3MVGprod\n      app:\n        ip_relaxation: bypass\n",
            );
        let prod = parse(&text, Path::new("e.yaml"), Some("prod")).unwrap();
        let a = &prod.salesforce.app;
        assert_eq!(a.contact_email.as_deref(), Some("ops@acme.example"));
        assert_eq!(a.preauthorized_profiles, vec!["Integration Profile"]);
        assert_eq!(a.ip_relaxation, IpRelaxation::Bypass);
        assert_eq!(a.api_name, "Acme_Prod_Glue_Job");
        let dev = parse(&text, Path::new("e.yaml"), Some("dev")).unwrap();
        assert_eq!(dev.salesforce.app.ip_relaxation, IpRelaxation::Enforce);
    }

    #[test]
    fn yaml_errors_speak_of_the_config_not_of_rust_types() {
        let e = err("version: 1\nglue:\n  timeout_minutes: abc\n");
        assert!(
            e.message
                .ends_with("invalid type: string \"abc\", expected a whole number, 0 or more"),
            "{}",
            e.message
        );
        let e = err("version: 1\nglue:\n  max_capacity: lots\n");
        assert!(e.message.ends_with("expected a number"), "{}", e.message);
        let e = err("version: 1\nglue:\n  timeout_minutes: -5\n");
        assert!(
            e.message.ends_with("expected a whole number, 0 or more"),
            "{}",
            e.message
        );
        let e = err("version: 1\nqueries:\n  a: 1\n");
        assert!(
            e.message
                .ends_with("invalid type: a mapping, expected a list (`- ` items)"),
            "{}",
            e.message
        );
        let e = err("- a\n- b\n");
        assert!(
            e.message
                .ends_with("expected a mapping of `key: value` lines"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("Raw"), "{}", e.message);
    }

    #[test]
    fn a_duplicate_key_is_located_at_its_second_copy() {
        for (text, at) in [
            (
                "version: 1\nenvironments:\n  dev:\n    name: a\n  prod:\n    name: b\n  \"dev\":\n    name: c\n",
                "sfglue.yaml:7:3: environments: ",
            ),
            (
                "version: 1\nglue:\n  tags:\n    team: a\n    'team': b\n",
                "sfglue.yaml:5:5: glue.tags: ",
            ),
            ("version: 1\nname: a\n# c\nname: b\n", "sfglue.yaml:4:1: "),
            (
                "version: 1\nglue:\n  script_bucket: a\n  tags:\n    script_bucket: c\n  script_bucket: b\n",
                "sfglue.yaml:6:3: glue: ",
            ),
            (
                "version: 1\nqueries:\n  - name: a\n    soql: x\n    name: b\n",
                "sfglue.yaml:5:5: queries[0]: ",
            ),
        ] {
            let e = err(text);
            assert_eq!(e.code, "config.duplicate_key", "{}", e.message);
            assert!(e.message.starts_with(at), "{at} in {}", e.message);
        }
    }

    #[test]
    fn a_folder_given_as_the_config_says_so() {
        let dir = std::env::temp_dir().join(format!("sfglue-folder-{}", std::process::id()));
        // A folder named like a config: the fix does not say `sfglue.yaml/sfglue.yaml`.
        std::fs::create_dir_all(dir.join("sfglue.yaml")).unwrap();
        let e = load(&dir.join("sfglue.yaml"), None).unwrap_err();
        assert!(
            e.message.ends_with("is a folder, not a config file"),
            "{}",
            e.message
        );
        assert!(e.fix.unwrap().contains("--config FILE"));
        // A folder that holds a config: that file is named.
        std::fs::remove_dir(dir.join("sfglue.yaml")).unwrap();
        std::fs::write(dir.join("sfglue.yaml"), "version: 1\n").unwrap();
        let e = load(&dir, None).unwrap_err();
        let fix = e.fix.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(fix.ends_with("sfglue.yaml"), "{fix}");
    }

    #[test]
    fn locate_key_walks_indentation() {
        let t = "a:\n  b: 1\nc:\n  b: 2\n  d:\n    e: 3\n";
        assert_eq!(locate_key(t, "c.b"), Some((4, 3)));
        assert_eq!(locate_key(t, "c.d.e"), Some((6, 5)));
        assert_eq!(locate_key(t, "a.x"), None);
    }

    #[test]
    fn locate_key_finds_sequence_items_and_their_keys() {
        let t = "queries:\n  # the first\n  - name: a\n    soql: S\n  -\n    name: b\n    format: csv\n\
                 other:\n- name: c\n- - x: 1\nlast: 1\n";
        assert_eq!(locate_key(t, "queries[0]"), Some((3, 3)));
        assert_eq!(locate_key(t, "queries[0].name"), Some((3, 5)));
        assert_eq!(locate_key(t, "queries[0].soql"), Some((4, 5)));
        assert_eq!(locate_key(t, "queries[1].format"), Some((7, 5)));
        // A key of another item is not taken for this one's.
        assert_eq!(locate_key(t, "queries[0].format"), None);
        assert_eq!(locate_key(t, "queries[2]"), None);
        // A sequence at its key's indentation, and a sequence of sequences.
        assert_eq!(locate_key(t, "other[0].name"), Some((9, 3)));
        assert_eq!(locate_key(t, "other[1]"), Some((10, 1)));
        assert_eq!(locate_key(t, "last"), Some((11, 1)));
        // Flow style is not followed: the caller falls back to the list's own key.
        assert_eq!(locate_key("q: [{name: a}]\n", "q[0].name"), None);
        assert_eq!(locate_key(t, "queries[x]"), None);
    }
}

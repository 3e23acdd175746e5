//! The seed file: one org, its users, apps, settings (knobs) and records. YAML, unknown keys rejected.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    pub org: OrgSeed,
    #[serde(default)]
    pub settings: Settings,
    #[serde(default)]
    pub users: Vec<UserSeed>,
    #[serde(default)]
    pub apps: Vec<AppSeed>,
    #[serde(default)]
    pub objects: BTreeMap<String, ObjectSeed>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    Production,
    Sandbox,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OrgSeed {
    /// 18-character org id starting with `00D` (a 15-character one is extended).
    pub id: String,
    #[serde(default = "default_org_name")]
    pub name: String,
    pub kind: OrgKind,
    /// e.g. `https://acme.my.salesforce.com`; accepted as `aud` when set.
    #[serde(default)]
    pub my_domain_url: Option<String>,
    /// More accepted audiences (e.g. an Experience Cloud site URL).
    #[serde(default)]
    pub extra_audiences: Vec<String>,
    /// "API Access Control": users must be pre-authorized for the app (else `invalid_app_access`).
    #[serde(default)]
    pub api_access_control: bool,
    #[serde(default = "default_instance_name")]
    pub instance_name: String,
}

fn default_org_name() -> String {
    "Emulated Org".into()
}
fn default_instance_name() -> String {
    "EMU1".into()
}

/// The knobs. Every one is off (or Salesforce-like) by default; all can be changed at run time
/// through `PATCH /__admin/settings`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Session (access token) inactivity timeout. Apps may override it.
    pub session_timeout_seconds: u64,
    /// Refuse an assertion whose `exp` is more than this many seconds ahead (`null` = no maximum).
    pub max_exp_lifetime_seconds: Option<u64>,
    /// Accept an `exp` up to this many seconds in the past.
    pub clock_skew_seconds: u64,
    /// Refuse an assertion when the app's certificate has expired (`invalid assertion`).
    pub reject_expired_certificates: bool,
    /// A created or changed app answers `invalid_client_id` for this many seconds.
    pub propagation_delay_seconds: u64,
    /// Refuse a `jti` seen before (`invalid assertion`).
    pub reject_reused_jti: bool,
    /// Daily API request limit (the M of `Sforce-Limit-Info: api-usage=N/M`); REST calls past it get 403.
    pub daily_api_request_limit: u64,
    /// API requests already used at start.
    pub api_requests_used: u64,
    /// Shift of the emulator's clock against the machine's, in seconds.
    pub clock_offset_seconds: i64,
    /// Bulk 2.0 query jobs: UploadComplete for the first half of this, InProgress for the second, then JobComplete.
    pub bulk_job_delay_ms: u64,
    /// Bulk 2.0 query jobs end in `Failed` instead of `JobComplete`.
    pub bulk_jobs_fail: bool,
    /// Records per Bulk 2.0 results page when the client sends no `maxRecords`.
    pub bulk_default_max_records: u64,
    /// Default REST query batch size (Salesforce: 2000).
    pub query_batch_size: u64,
    /// Highest API version offered (versions 31.0 up to this one are served).
    pub max_api_version: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            session_timeout_seconds: 7200,
            max_exp_lifetime_seconds: None,
            clock_skew_seconds: 0,
            reject_expired_certificates: false,
            propagation_delay_seconds: 0,
            reject_reused_jti: false,
            daily_api_request_limit: 100_000,
            api_requests_used: 0,
            clock_offset_seconds: 0,
            bulk_job_delay_ms: 500,
            bulk_jobs_fail: false,
            bulk_default_max_records: 50_000,
            query_batch_size: 2000,
            max_api_version: 66,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserSeed {
    /// `005…`; generated when absent.
    #[serde(default)]
    pub id: Option<String>,
    pub username: String,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default = "default_profile")]
    pub profile: String,
    #[serde(default)]
    pub permission_sets: Vec<String>,
    /// Consumer keys this user approved interactively (for `self_authorized` apps).
    #[serde(default)]
    pub approved_apps: Vec<String>,
    /// Login IP ranges (`a.b.c.d-e.f.g.h` or a single address); empty = any address.
    #[serde(default)]
    pub login_ip_ranges: Vec<String>,
    /// The "Use Any API Client" permission (passes API Access Control).
    #[serde(default)]
    pub use_any_api_client: bool,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

fn yes() -> bool {
    true
}
fn default_profile() -> String {
    "Standard User".into()
}

/// An External Client App unless said otherwise, in a seed and in `POST /__admin/apps` alike.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AppKind {
    #[default]
    ExternalClientApp,
    ConnectedApp,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PermittedUsers {
    AdminApproved,
    SelfAuthorized,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IpRelaxation {
    Enforce,
    Bypass,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AppSeed {
    pub consumer_key: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub kind: AppKind,
    #[serde(default = "yes")]
    pub installed: bool,
    /// PEM X.509 certificate (one per app).
    #[serde(default)]
    pub certificate: Option<String>,
    #[serde(default = "default_permitted")]
    pub permitted_users: PermittedUsers,
    #[serde(default)]
    pub preauthorized_profiles: Vec<String>,
    #[serde(default)]
    pub preauthorized_permission_sets: Vec<String>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    #[serde(default = "default_ip_relaxation")]
    pub ip_relaxation: IpRelaxation,
    #[serde(default)]
    pub session_timeout_seconds: Option<u64>,
}

fn default_permitted() -> PermittedUsers {
    PermittedUsers::AdminApproved
}
pub fn default_scopes() -> Vec<String> {
    vec![
        "api".into(),
        "refresh_token".into(),
        "offline_access".into(),
    ]
}
fn default_ip_relaxation() -> IpRelaxation {
    IpRelaxation::Enforce
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FieldTypeSeed {
    Id,
    Reference,
    String,
    Int,
    Double,
    Boolean,
    Date,
    Datetime,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectSeed {
    /// 3-character id prefix; known for standard objects (Account 001, Contact 003, …).
    #[serde(default)]
    pub key_prefix: Option<String>,
    /// Types of fields of literal records not described by the generator (otherwise inferred).
    #[serde(default)]
    pub fields: BTreeMap<String, FieldTypeSeed>,
    /// Literal records (each gets an `Id` if it has none).
    #[serde(default)]
    pub records: Vec<BTreeMap<String, serde_yaml::Value>>,
    #[serde(default)]
    pub generator: Option<GeneratorSeed>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorSeed {
    pub count: u64,
    /// Every n-th generated record is deleted (`IsDeleted = true`): seen by queryAll only.
    #[serde(default)]
    pub deleted_every: Option<u64>,
    #[serde(default)]
    pub fields: BTreeMap<String, FieldGen>,
}

/// How a generated field's value is made from the record number `n` (1-based).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FieldGen {
    /// `template` with `{n}` or zero-padded `{n:06}` replaced.
    Text { template: String },
    /// Cycles through `values`.
    Picklist { values: Vec<String> },
    /// Pseudo-random integer in `[min, max]`.
    Integer { min: i64, max: i64 },
    /// Pseudo-random number in `[min, max]` with `decimals` digits.
    Number {
        min: f64,
        max: f64,
        #[serde(default = "two")]
        decimals: u32,
    },
    /// True for every `every`-th record, or pseudo-random when `every` is absent.
    Boolean {
        #[serde(default)]
        every: Option<u64>,
    },
    /// `start + (n-1) * step_days`.
    Date {
        start: String,
        #[serde(default = "one")]
        step_days: i64,
    },
    /// `start + (n-1) * step_seconds` (monotonic: ORDER BY on it needs no sort).
    Datetime {
        start: String,
        #[serde(default = "sixty")]
        step_seconds: i64,
    },
    /// The id of generated record `((n-1) mod count) + 1` of `object`.
    Reference { object: String },
    /// The same value on every record.
    Constant {
        value: serde_yaml::Value,
        #[serde(default, rename = "type")]
        field_type: Option<FieldTypeSeed>,
    },
}

fn two() -> u32 {
    2
}
fn one() -> i64 {
    1
}
fn sixty() -> i64 {
    60
}

pub fn load(path: &std::path::Path) -> anyhow::Result<Seed> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read seed file {}: {e}", path.display()))?;
    parse(&text).map_err(|e| anyhow::anyhow!("seed file {}: {e}", path.display()))
}

pub fn parse(text: &str) -> anyhow::Result<Seed> {
    let seed: Seed = serde_yaml::from_str(text)?;
    Ok(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_without_a_kind_is_an_external_client_app() {
        let seed = parse(
            "org: {id: 00D000000000001EAA, kind: production}\n\
             apps: [{consumer_key: k1}, {consumer_key: k2, kind: connected_app}]",
        )
        .unwrap();
        let kinds: Vec<AppKind> = seed.apps.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, [AppKind::ExternalClientApp, AppKind::ConnectedApp]);
    }
}

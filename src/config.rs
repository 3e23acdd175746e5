//! The config file (`sfglue.yaml`, `version: 1`): its model, loading and validation.
//!
//! Pure: no network, no AWS. [`load`] turns a file into a [`Config`] whose every field is checked
//! and whose defaults are filled in, or into a config-class [`Failure`] that names the file, line
//! and column and says how to fix it. Everything downstream can trust a `Config`.

use crate::error::{Failure, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Config files larger than this are refused before parsing (a config is a few hundred bytes).
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// The file as written. Field names here are the documented config keys: keep them stable.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    version: u32,
    name: String,
    #[serde(default)]
    aws: RawAws,
    salesforce: RawSalesforce,
    #[serde(default)]
    certificate: RawCertificate,
    #[serde(default)]
    secret: RawSecret,
    glue: RawGlue,
    queries: Vec<RawQuery>,
    #[serde(default)]
    output_dir: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAws {
    region: Option<String>,
    endpoint_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSalesforce {
    login_url: String,
    audience: Option<String>,
    username: String,
    #[serde(default)]
    consumer_key: Option<String>,
    #[serde(default)]
    api_version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCertificate {
    common_name: Option<String>,
    key_size: Option<u32>,
    validity_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    name: Option<String>,
    kms_key_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGlue {
    job_name: Option<String>,
    script_bucket: String,
    script_prefix: Option<String>,
    output: String,
    #[serde(default)]
    create_buckets: Option<bool>,
    timeout_minutes: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuery {
    name: String,
    soql: String,
}

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
    pub name: String,
    pub aws: AwsSettings,
    pub salesforce: SalesforceSettings,
    pub certificate: CertificateSettings,
    pub secret: SecretSettings,
    pub glue: GlueSettings,
    pub queries: Vec<Query>,
    /// Where the public certificate and the setup steps are written.
    pub output_dir: PathBuf,
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
    pub api_version: String,
}

impl SalesforceSettings {
    pub fn token_url(&self) -> String {
        format!("{}/services/oauth2/token", self.login_url)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CertificateSettings {
    pub common_name: String,
    pub key_size: u32,
    pub validity_days: u32,
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

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Query {
    pub name: String,
    pub soql: String,
}

// ---------------------------------------------------------------------------------------------
// Loading.

/// Reads, parses and validates a config file.
pub fn load(path: &Path) -> Result<Config> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| {
        Failure::config(
            "config.unreadable",
            format!("cannot read config file {shown}: {e}"),
        )
        .with_fix("pass the right file with --config FILE, or create one with `sfglue init`")
    })?;
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
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::config(
            "config.unreadable",
            format!("cannot read config file {shown}: {e}"),
        )
    })?;
    parse(&text, path)
}

/// Parses and validates config text; `path` is used for messages and relative paths.
pub fn parse(text: &str, path: &Path) -> Result<Config> {
    let shown = path.display().to_string();
    if text.trim().is_empty() {
        return Err(
            Failure::config("config.empty", format!("{shown}: the config file is empty"))
                .with_fix("write a starting config with `sfglue init`"),
        );
    }
    let raw: RawConfig = serde_yaml::from_str(text).map_err(|e| yaml_failure(&shown, &e))?;
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    Validator { text, file: &shown }.validate(raw, path, &base_dir)
}

fn yaml_failure(file: &str, e: &serde_yaml::Error) -> Failure {
    let msg = e.to_string();
    // serde_yaml appends " at line L column C" to its message; we put the location first instead.
    let core = match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.clone(),
    };
    let (code, fix) = if core.contains("unknown field") {
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
    let location = match e.location() {
        Some(loc) => format!("{file}:{}:{}", loc.line(), loc.column()),
        None => file.to_string(),
    };
    Failure::config(code, format!("{location}: {core}")).with_fix(fix)
}

struct Validator<'a> {
    text: &'a str,
    file: &'a str,
}

impl Validator<'_> {
    /// A config-class failure located at the key `path` (dotted, e.g. `salesforce.login_url`).
    fn fail(&self, key: &str, problem: impl Into<String>, fix: impl Into<String>) -> Failure {
        let location = match locate_key(self.text, key) {
            Some((line, col)) => format!("{}:{line}:{col}", self.file),
            None => self.file.to_string(),
        };
        Failure::config(
            "config.invalid_value",
            format!("{location}: `{key}`: {}", problem.into()),
        )
        .with_fix(fix)
    }

    fn validate(&self, raw: RawConfig, path: &Path, base_dir: &Path) -> Result<Config> {
        if raw.version != 1 {
            return Err(self.fail(
                "version",
                format!("version {} is not supported", raw.version),
                "set `version: 1`",
            ));
        }
        let name = raw.name.trim().to_string();
        if !is_valid_name(&name) {
            return Err(self.fail(
                "name",
                format!("{name:?} is not a valid name"),
                "use 1 to 40 characters: letters, digits and '-', starting with a letter (it prefixes every AWS resource)",
            ));
        }

        let aws = AwsSettings {
            region: match raw.aws.region {
                Some(r) => Some(self.region(&r)?),
                None => None,
            },
            endpoint_url: match raw.aws.endpoint_url {
                Some(u) => Some(self.endpoint_url(&u)?),
                None => None,
            },
        };

        let salesforce = self.salesforce(raw.salesforce)?;

        let certificate = {
            let key_size = raw.certificate.key_size.unwrap_or(DEFAULT_KEY_SIZE);
            if ![2048, 3072, 4096].contains(&key_size) {
                return Err(self.fail(
                    "certificate.key_size",
                    format!("{key_size} bits is not allowed"),
                    "use 2048 (the default), 3072 or 4096",
                ));
            }
            let validity_days = raw
                .certificate
                .validity_days
                .unwrap_or(DEFAULT_VALIDITY_DAYS);
            if !(1..=3650).contains(&validity_days) {
                return Err(self.fail(
                    "certificate.validity_days",
                    format!("{validity_days} days is out of range"),
                    "use 1 to 3650 days (365 is the default)",
                ));
            }
            let common_name = raw
                .certificate
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
            }
        };

        let secret = {
            let secret_name = raw
                .secret
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
            let kms_key_id = match raw.secret.kms_key_id.map(|s| s.trim().to_string()) {
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

        let glue = self.glue(raw.glue, &name)?;

        if raw.queries.is_empty() {
            return Err(self.fail(
                "queries",
                "no query is configured",
                "add at least one entry with `name` and `soql`",
            ));
        }
        let mut queries = Vec::new();
        for q in raw.queries {
            let qname = q.name.trim().to_string();
            if !is_valid_query_name(&qname) {
                return Err(self.fail(
                    "queries",
                    format!("query name {qname:?} is not valid"),
                    "use lower-case letters, digits and '_', starting with a letter (it names an S3 folder)",
                ));
            }
            if queries.iter().any(|x: &Query| x.name == qname) {
                return Err(self.fail(
                    "queries",
                    format!("query name {qname:?} is used twice"),
                    "give each query its own name",
                ));
            }
            let soql = q.soql.split_whitespace().collect::<Vec<_>>().join(" ");
            if !soql.to_ascii_uppercase().starts_with("SELECT ") {
                return Err(self.fail(
                    "queries",
                    format!("query {qname:?} does not start with SELECT"),
                    "write a SOQL query such as `SELECT Id, Name FROM Account`",
                ));
            }
            queries.push(Query { name: qname, soql });
        }

        let output_dir = match raw.output_dir {
            Some(d) if !d.trim().is_empty() => base_dir.join(d.trim()),
            _ => base_dir.join("sfglue-out"),
        };

        Ok(Config {
            path: path.to_path_buf(),
            name,
            aws,
            salesforce,
            certificate,
            secret,
            glue,
            queries,
            output_dir,
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

    fn salesforce(&self, raw: RawSalesforce) -> Result<SalesforceSettings> {
        let login_url = self.https_url("salesforce.login_url", &raw.login_url)?;
        let audience = match raw.audience {
            Some(a) if !a.trim().is_empty() => self.https_url("salesforce.audience", &a)?,
            _ => derive_audience(&login_url),
        };
        let username = raw.username.trim().to_string();
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
        let consumer_key = match raw.consumer_key.map(|k| k.trim().to_string()) {
            None => None,
            Some(k) if k.is_empty() => None,
            Some(k) => {
                if k.len() > 256 || !k.chars().all(|c| c.is_ascii_graphic()) {
                    return Err(self.fail(
                        "salesforce.consumer_key",
                        "the consumer key contains spaces or non-ASCII characters",
                        "copy the Consumer Key again from the app's OAuth settings",
                    ));
                }
                Some(k)
            }
        };
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
        Ok(SalesforceSettings {
            login_url,
            audience,
            username,
            consumer_key,
            api_version,
        })
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
        let bucket = raw.script_bucket.trim().to_string();
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
        let output = self.s3_uri("glue.output", &raw.output)?;
        let timeout_minutes = raw.timeout_minutes.unwrap_or(DEFAULT_TIMEOUT_MINUTES);
        if !(1..=2880).contains(&timeout_minutes) {
            return Err(self.fail(
                "glue.timeout_minutes",
                format!("{timeout_minutes} minutes is out of range"),
                "use 1 to 2880 minutes",
            ));
        }
        Ok(GlueSettings {
            job_name,
            role_name: format!("{name}-glue"),
            script,
            output,
            create_buckets: raw.create_buckets.unwrap_or(true),
            timeout_minutes,
        })
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

/// Finds the line and column (1-based) of a dotted key in YAML text, by indentation. Good enough
/// to point at a key in a config file; returns `None` when the key is not written out.
fn locate_key(text: &str, dotted: &str) -> Option<(usize, usize)> {
    let mut wanted = dotted.split('.').peekable();
    let mut min_indent = 0usize;
    let mut current = wanted.next()?;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if indent < min_indent {
            return None;
        }
        let key_part = trimmed.trim_start_matches("- ");
        if key_part
            .strip_prefix(current)
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
        {
            match wanted.next() {
                None => return Some((i + 1, indent + 1 + (trimmed.len() - key_part.len()))),
                Some(next) => {
                    current = next;
                    min_indent = indent + 1;
                }
            }
        }
    }
    None
}

/// The commented starting config that `sfglue init` writes.
pub const STARTER: &str = include_str!("../templates/sfglue.yaml");

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Config {
        parse(text, Path::new("/cfg/sfglue.yaml")).unwrap()
    }
    fn err(text: &str) -> Failure {
        parse(text, Path::new("sfglue.yaml")).unwrap_err()
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

    #[test]
    fn empty_file_is_a_config_error() {
        assert_eq!(err("   \n").code, "config.empty");
    }

    #[test]
    fn locate_key_walks_indentation() {
        let t = "a:\n  b: 1\nc:\n  b: 2\n  d:\n    e: 3\n";
        assert_eq!(locate_key(t, "c.b"), Some((4, 3)));
        assert_eq!(locate_key(t, "c.d.e"), Some((6, 5)));
        assert_eq!(locate_key(t, "a.x"), None);
    }
}

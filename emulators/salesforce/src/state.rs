//! The org's mutable state: apps, users, sessions, knobs, request log, query cursors, Bulk jobs.

use crate::data::{Dataset, SObject};
use crate::model::{normalize_id, random_alnum, random_id};
use crate::seed::{
    AppKind, AppSeed, IpRelaxation, OrgSeed, PermittedUsers, Seed, Settings, UserSeed,
};
use crate::soql::Selection;
use anyhow::{anyhow, bail};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

#[derive(Debug, Clone, Serialize)]
pub struct CertInfo {
    #[serde(skip)]
    pub public_key_der: Vec<u8>,
    pub is_rsa: bool,
    pub sha256: String,
    pub subject: String,
    pub not_before: i64,
    pub not_after: i64,
}

impl CertInfo {
    /// Parses a PEM certificate (or bare base64 DER, as the Metadata API stores it).
    pub fn parse(text: &str) -> anyhow::Result<CertInfo> {
        use base64::Engine as _;
        let trimmed = text.trim();
        let der = if trimmed.starts_with("-----BEGIN") {
            let (_, pem) = x509_parser::pem::parse_x509_pem(trimmed.as_bytes())
                .map_err(|e| anyhow!("not a PEM certificate: {e}"))?;
            if pem.label != "CERTIFICATE" {
                bail!("expected a CERTIFICATE PEM block, got {:?}", pem.label);
            }
            pem.contents
        } else {
            let compact: String = trimmed.split_whitespace().collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact.as_bytes())
                .map_err(|_| anyhow!("not a PEM certificate (no -----BEGIN CERTIFICATE----- line) and not base64 DER"))?
        };
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| anyhow!("not an X.509 certificate: {e}"))?;
        let spki = cert.public_key();
        let is_rsa = spki.algorithm.algorithm.to_id_string() == "1.2.840.113549.1.1.1";
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(&der);
        let sha256 = digest
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":");
        Ok(CertInfo {
            public_key_der: spki.subject_public_key.data.to_vec(),
            is_rsa,
            sha256,
            subject: cert.subject().to_string(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct App {
    pub consumer_key: String,
    pub name: String,
    pub kind: AppKind,
    pub installed: bool,
    pub certificate: Option<CertInfo>,
    pub permitted_users: PermittedUsers,
    pub preauthorized_profiles: Vec<String>,
    pub preauthorized_permission_sets: Vec<String>,
    pub scopes: Vec<String>,
    pub ip_relaxation: IpRelaxation,
    pub session_timeout_seconds: Option<u64>,
    /// Emulator-clock time (ms) of the last create/change; drives the propagation delay.
    pub changed_at_ms: i64,
}

impl App {
    pub fn from_seed(s: &AppSeed, changed_at_ms: i64) -> anyhow::Result<App> {
        if s.consumer_key.trim().is_empty() || s.consumer_key.len() > 256 {
            bail!("app consumer_key must be 1-256 characters");
        }
        let certificate = match &s.certificate {
            Some(pem) => {
                Some(CertInfo::parse(pem).map_err(|e| anyhow!("app {}: {e}", s.consumer_key))?)
            }
            None => None,
        };
        Ok(App {
            consumer_key: s.consumer_key.clone(),
            name: s.name.clone().unwrap_or_else(|| "sfglue".into()),
            kind: s.kind,
            installed: s.installed,
            certificate,
            permitted_users: s.permitted_users,
            preauthorized_profiles: s.preauthorized_profiles.clone(),
            preauthorized_permission_sets: s.preauthorized_permission_sets.clone(),
            scopes: s.scopes.clone(),
            ip_relaxation: s.ip_relaxation,
            session_timeout_seconds: s.session_timeout_seconds,
            changed_at_ms,
        })
    }

    /// The user's profile or one of their permission sets is assigned to the app.
    pub fn preauthorizes(&self, u: &User) -> bool {
        self.preauthorized_profiles
            .iter()
            .any(|p| p.eq_ignore_ascii_case(&u.profile))
            || self
                .preauthorized_permission_sets
                .iter()
                .any(|p| u.permission_sets.iter().any(|q| q.eq_ignore_ascii_case(p)))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub active: bool,
    pub profile: String,
    pub permission_sets: Vec<String>,
    pub approved_apps: Vec<String>,
    pub login_ip_ranges: Vec<String>,
    pub use_any_api_client: bool,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
}

impl User {
    pub fn from_seed(id: String, s: &UserSeed) -> anyhow::Result<User> {
        for r in &s.login_ip_ranges {
            parse_ip_range(r)
                .ok_or_else(|| anyhow!("user {}: bad login IP range {r:?}", s.username))?;
        }
        Ok(User {
            id,
            username: s.username.clone(),
            active: s.active,
            profile: s.profile.clone(),
            permission_sets: s.permission_sets.clone(),
            approved_apps: s.approved_apps.clone(),
            login_ip_ranges: s.login_ip_ranges.clone(),
            use_any_api_client: s.use_any_api_client,
            first_name: s.first_name.clone().unwrap_or_default(),
            last_name: s.last_name.clone().unwrap_or_else(|| "User".into()),
            email: s.email.clone().unwrap_or_else(|| s.username.clone()),
        })
    }

    pub fn ip_allowed(&self, ip: Option<Ipv4Addr>) -> bool {
        if self.login_ip_ranges.is_empty() {
            return true;
        }
        let Some(ip) = ip else { return false };
        self.login_ip_ranges.iter().any(|r| {
            parse_ip_range(r).is_some_and(|(a, b)| {
                u32::from(ip) >= u32::from(a) && u32::from(ip) <= u32::from(b)
            })
        })
    }
}

pub fn parse_ip_range(r: &str) -> Option<(Ipv4Addr, Ipv4Addr)> {
    match r.split_once('-') {
        Some((a, b)) => Some((a.trim().parse().ok()?, b.trim().parse().ok()?)),
        None => {
            let a: Ipv4Addr = r.trim().parse().ok()?;
            Some((a, a))
        }
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: String,
    pub username: String,
    pub consumer_key: String,
    pub issued_ms: i64,
    pub last_used_ms: i64,
    pub timeout_s: u64,
    pub ended: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub seq: u64,
    pub time: String,
    pub method: String,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    pub endpoint: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_addr: Option<String>,
    #[serde(flatten)]
    pub extra: LogExtra,
}

/// What a handler adds to its request's log entry (never a token or a whole assertion).
#[derive(Debug, Clone, Default, Serialize)]
pub struct LogExtra {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_header: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claims: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soql: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Cursor {
    pub obj: Arc<SObject>,
    pub fields: Vec<usize>,
    pub selection: Selection,
    pub batch: usize,
    pub last_used: Instant,
}

#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub operation: String,
    pub object: String,
    pub created_by: String,
    pub created_ms: i64,
    pub created: Instant,
    pub delay_ms: u64,
    pub fail: bool,
    pub aborted_ms: Option<i64>,
    pub api_version: String,
    pub column_delimiter: String,
    pub line_ending: String,
    pub obj: Arc<SObject>,
    pub fields: Vec<usize>,
    pub selection: Selection,
}

impl Job {
    pub fn state(&self) -> &'static str {
        if self.aborted_ms.is_some() {
            return "Aborted";
        }
        let elapsed = self.created.elapsed().as_millis() as u64;
        if elapsed < self.delay_ms / 2 {
            "UploadComplete"
        } else if elapsed < self.delay_ms {
            "InProgress"
        } else if self.fail {
            "Failed"
        } else {
            "JobComplete"
        }
    }
}

pub struct Inner {
    pub org: OrgSeed,
    pub org_id: String,
    pub settings: Settings,
    pub apps: BTreeMap<String, App>,
    pub users: Vec<User>,
    pub sessions: HashMap<String, Session>,
    pub seen_jti: HashSet<String>,
    pub log: VecDeque<LogEntry>,
    pub log_seq: u64,
    pub api_used: u64,
    pub cursors: HashMap<String, Cursor>,
    pub jobs: BTreeMap<String, Job>,
}

pub const MAX_LOG: usize = 10_000;
pub const MAX_CURSORS: usize = 500;

pub struct AppState {
    inner: Mutex<Inner>,
    pub data: Arc<Dataset>,
    pub base_url: String,
}

pub fn system_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Inner {
    pub fn now_ms(&self) -> i64 {
        system_ms().saturating_add(self.settings.clock_offset_seconds.saturating_mul(1000))
    }

    pub fn user_by_name(&self, username: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.username.eq_ignore_ascii_case(username))
    }

    pub fn new_token(&self) -> String {
        // `00D` + 15-character org id, `!`, then [.\w]* — the shape sfdx-core recognises.
        let org15 = self.org_id.get(..15).unwrap_or(&self.org_id);
        format!("{org15}!AQ{}.{}", random_alnum(40), random_alnum(54))
    }

    /// Looks a token up; ends it if its timeout has passed. Refreshes its activity time.
    pub fn session(&mut self, token: &str) -> Option<Session> {
        let now = self.now_ms();
        let active_user = {
            let s = self.sessions.get(token)?;
            self.users.iter().any(|u| u.id == s.user_id && u.active)
        };
        let s = self.sessions.get_mut(token)?;
        if s.ended.is_some() {
            return None;
        }
        if now.saturating_sub(s.last_used_ms)
            > i64::try_from(s.timeout_s)
                .unwrap_or(i64::MAX)
                .saturating_mul(1000)
        {
            s.ended = Some("expired");
            return None;
        }
        if !active_user {
            s.ended = Some("user deactivated");
            return None;
        }
        s.last_used_ms = now;
        Some(s.clone())
    }

    pub fn push_log(&mut self, mut e: LogEntry) {
        self.log_seq += 1;
        e.seq = self.log_seq;
        self.log.push_back(e);
        while self.log.len() > MAX_LOG {
            self.log.pop_front();
        }
    }

    pub fn add_cursor(&mut self, c: Cursor) -> String {
        if self.cursors.len() >= MAX_CURSORS {
            // Drop the least recently used cursor.
            if let Some(k) = self
                .cursors
                .iter()
                .min_by_key(|(_, c)| c.last_used)
                .map(|(k, _)| k.clone())
            {
                self.cursors.remove(&k);
            }
        }
        let id = random_id("01g");
        self.cursors.insert(id.clone(), c);
        id
    }
}

impl AppState {
    pub fn new(seed: Seed, base_url: String) -> anyhow::Result<AppState> {
        let org_id = normalize_id(&seed.org.id)
            .filter(|id| id.starts_with("00D"))
            .ok_or_else(|| {
                anyhow!(
                    "org.id must be a 15- or 18-character id starting with 00D, got {:?}",
                    seed.org.id
                )
            })?;
        for url in seed
            .org
            .my_domain_url
            .iter()
            .chain(seed.org.extra_audiences.iter())
        {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                bail!("org audience {url:?} must be an http(s) URL");
            }
        }
        let mut users = Vec::new();
        let mut ids = Vec::new();
        for u in &seed.users {
            let id = match &u.id {
                Some(id) => normalize_id(id)
                    .filter(|i| i.starts_with("005"))
                    .ok_or_else(|| {
                        anyhow!(
                            "user {}: id must be a 15/18-character id starting with 005",
                            u.username
                        )
                    })?,
                None => random_id("005"),
            };
            if users
                .iter()
                .any(|x: &User| x.username.eq_ignore_ascii_case(&u.username))
            {
                bail!("duplicate username {}", u.username);
            }
            ids.push((id.clone(), u));
            users.push(User::from_seed(id, u)?);
        }
        let mut apps = BTreeMap::new();
        for a in &seed.apps {
            let app = App::from_seed(a, i64::MIN / 4)?;
            if apps.insert(a.consumer_key.clone(), app).is_some() {
                bail!("duplicate consumer_key {}", a.consumer_key);
            }
        }
        let data = Dataset::build(&seed, &org_id, &ids)?;
        let api_used = seed.settings.api_requests_used;
        Ok(AppState {
            inner: Mutex::new(Inner {
                org: seed.org.clone(),
                org_id,
                settings: seed.settings.clone(),
                apps,
                users,
                sessions: HashMap::new(),
                seen_jti: HashSet::new(),
                log: VecDeque::new(),
                log_seq: 0,
                api_used,
                cursors: HashMap::new(),
                jobs: BTreeMap::new(),
            }),
            data: Arc::new(data),
            base_url,
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock must not take the whole emulator down.
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

//! The admin API under `/__admin`: the stand-in for a person in Salesforce Setup, plus test hooks.

use crate::model::{random_alnum, random_id};
use crate::seed::{
    AppKind, AppSeed, IpRelaxation, PermittedUsers, Settings, UserSeed, default_scopes,
};
use crate::state::{App, AppState, CertInfo, User};
use crate::web::{St, param, query_params};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::json as j;
use std::sync::Arc;

fn ok(status: StatusCode, v: serde_json::Value) -> Response {
    (status, axum::Json(v)).into_response()
}

fn fail(status: StatusCode, error: &str, message: &str) -> Response {
    ok(status, j!({"error": error, "message": message}))
}

fn parse_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Response> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}" as &[u8]
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| fail(StatusCode::BAD_REQUEST, "bad_request", &e.to_string()))
}

fn app_view(a: &App, now_ms: i64, delay_s: u64) -> serde_json::Value {
    let c = a.certificate.as_ref();
    j!({
        "consumer_key": a.consumer_key,
        "name": a.name,
        "kind": a.kind,
        "installed": a.installed,
        "certificate_sha256": c.map(|c| c.sha256.clone()),
        "certificate_subject": c.map(|c| c.subject.clone()),
        "certificate_not_after": c.map(|c| crate::model::format_datetime_bulk(c.not_after.saturating_mul(1000))),
        "certificate_is_rsa": c.map(|c| c.is_rsa),
        "permitted_users": a.permitted_users,
        "preauthorized_profiles": a.preauthorized_profiles,
        "preauthorized_permission_sets": a.preauthorized_permission_sets,
        "scopes": a.scopes,
        "ip_relaxation": a.ip_relaxation,
        "session_timeout_seconds": a.session_timeout_seconds,
        "propagating": now_ms < a.changed_at_ms.saturating_add(i64::try_from(delay_s).unwrap_or(i64::MAX).saturating_mul(1000)),
    })
}

fn user_view(u: &User) -> serde_json::Value {
    serde_json::to_value(u).unwrap_or_default()
}

async fn state(st: St) -> Response {
    let g = st.0.lock();
    let now = g.now_ms();
    let delay = g.settings.propagation_delay_seconds;
    ok(
        StatusCode::OK,
        j!({
            "base_url": st.0.base_url,
            "org": {"id": g.org_id, "name": g.org.name, "kind": g.org.kind, "my_domain_url": g.org.my_domain_url,
                    "extra_audiences": g.org.extra_audiences, "api_access_control": g.org.api_access_control},
            "settings": g.settings,
            "now": crate::model::format_datetime_bulk(now),
            "api_requests_used": g.api_used,
            "apps": g.apps.values().map(|a| app_view(a, now, delay)).collect::<Vec<_>>(),
            "users": g.users.iter().map(user_view).collect::<Vec<_>>(),
            "objects": st.0.data.names().iter().filter_map(|n| st.0.data.get(n)).map(|o| j!({"name": o.name, "key_prefix": o.key_prefix, "records": o.len()})).collect::<Vec<_>>(),
            "sessions": g.sessions.values().filter(|s| s.ended.is_none()).count(),
            "bulk_jobs": g.jobs.len(),
        }),
    )
}

async fn list_apps(st: St) -> Response {
    let g = st.0.lock();
    let now = g.now_ms();
    let d = g.settings.propagation_delay_seconds;
    ok(
        StatusCode::OK,
        j!(g.apps
            .values()
            .map(|a| app_view(a, now, d))
            .collect::<Vec<_>>()),
    )
}

fn unknown_app(key: &str) -> Response {
    fail(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("no app with consumer key {key}"),
    )
}

async fn get_app(st: St, Path(key): Path<String>) -> Response {
    let g = st.0.lock();
    let now = g.now_ms();
    match g.apps.get(&key) {
        Some(a) => ok(
            StatusCode::OK,
            app_view(a, now, g.settings.propagation_delay_seconds),
        ),
        None => unknown_app(&key),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewApp {
    consumer_key: Option<String>,
    name: Option<String>,
    #[serde(default)]
    kind: AppKind,
    #[serde(default = "yes")]
    installed: bool,
    certificate: Option<String>,
    #[serde(default = "admin_approved")]
    permitted_users: PermittedUsers,
    #[serde(default)]
    preauthorized_profiles: Vec<String>,
    #[serde(default)]
    preauthorized_permission_sets: Vec<String>,
    #[serde(default = "default_scopes")]
    scopes: Vec<String>,
    #[serde(default = "enforce")]
    ip_relaxation: IpRelaxation,
    session_timeout_seconds: Option<u64>,
}
fn yes() -> bool {
    true
}
fn admin_approved() -> PermittedUsers {
    PermittedUsers::AdminApproved
}
fn enforce() -> IpRelaxation {
    IpRelaxation::Enforce
}

async fn create_app(st: St, body: Bytes) -> Response {
    let n: NewApp = match parse_json(&body) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let key = n
        .consumer_key
        .unwrap_or_else(|| format!("3MVG9{}", random_alnum(80)));
    let seed = AppSeed {
        consumer_key: key.clone(),
        name: n.name,
        kind: n.kind,
        installed: n.installed,
        certificate: n.certificate,
        permitted_users: n.permitted_users,
        preauthorized_profiles: n.preauthorized_profiles,
        preauthorized_permission_sets: n.preauthorized_permission_sets,
        scopes: n.scopes,
        ip_relaxation: n.ip_relaxation,
        session_timeout_seconds: n.session_timeout_seconds,
    };
    let mut g = st.0.lock();
    if g.apps.contains_key(&key) {
        return fail(
            StatusCode::CONFLICT,
            "conflict",
            &format!("an app with consumer key {key} exists"),
        );
    }
    let now = g.now_ms();
    let app = match App::from_seed(&seed, now) {
        Ok(a) => a,
        Err(e) => return fail(StatusCode::BAD_REQUEST, "bad_request", &e.to_string()),
    };
    let view = app_view(&app, now, g.settings.propagation_delay_seconds);
    g.apps.insert(key, app);
    ok(StatusCode::CREATED, view)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppPatch {
    name: Option<String>,
    kind: Option<AppKind>,
    installed: Option<bool>,
    #[serde(default, with = "double_option")]
    certificate: Option<Option<String>>,
    permitted_users: Option<PermittedUsers>,
    preauthorized_profiles: Option<Vec<String>>,
    preauthorized_permission_sets: Option<Vec<String>>,
    scopes: Option<Vec<String>>,
    ip_relaxation: Option<IpRelaxation>,
    #[serde(default, with = "double_option")]
    session_timeout_seconds: Option<Option<u64>>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

async fn patch_app(st: St, Path(key): Path<String>, body: Bytes) -> Response {
    let p: AppPatch = match parse_json(&body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let cert = match &p.certificate {
        Some(Some(pem)) => match CertInfo::parse(pem) {
            Ok(c) => Some(Some(c)),
            Err(e) => {
                return fail(
                    StatusCode::BAD_REQUEST,
                    "invalid_certificate",
                    &e.to_string(),
                );
            }
        },
        Some(None) => Some(None),
        None => None,
    };
    let mut g = st.0.lock();
    let now = g.now_ms();
    let delay = g.settings.propagation_delay_seconds;
    let Some(a) = g.apps.get_mut(&key) else {
        return unknown_app(&key);
    };
    if let Some(v) = p.name {
        a.name = v;
    }
    if let Some(v) = p.kind {
        a.kind = v;
    }
    if let Some(v) = p.installed {
        a.installed = v;
    }
    if let Some(c) = cert {
        a.certificate = c;
    }
    if let Some(v) = p.permitted_users {
        a.permitted_users = v;
    }
    if let Some(v) = p.preauthorized_profiles {
        a.preauthorized_profiles = v;
    }
    if let Some(v) = p.preauthorized_permission_sets {
        a.preauthorized_permission_sets = v;
    }
    if let Some(v) = p.scopes {
        a.scopes = v;
    }
    if let Some(v) = p.ip_relaxation {
        a.ip_relaxation = v;
    }
    if let Some(v) = p.session_timeout_seconds {
        a.session_timeout_seconds = v;
    }
    a.changed_at_ms = now;
    ok(StatusCode::OK, app_view(a, now, delay))
}

async fn delete_app(st: St, Path(key): Path<String>) -> Response {
    let mut g = st.0.lock();
    if g.apps.remove(&key).is_none() {
        return unknown_app(&key);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn put_certificate(st: St, Path(key): Path<String>, body: Bytes) -> Response {
    let text = match std::str::from_utf8(&body) {
        Ok(t) => t.to_string(),
        Err(_) => {
            return fail(
                StatusCode::BAD_REQUEST,
                "invalid_certificate",
                "the body must be a PEM certificate (UTF-8 text)",
            );
        }
    };
    let mut g = st.0.lock();
    let now = g.now_ms();
    if !g.apps.contains_key(&key) {
        return unknown_app(&key);
    }
    let cert = match CertInfo::parse(&text) {
        Ok(c) => c,
        Err(e) => {
            return fail(
                StatusCode::BAD_REQUEST,
                "invalid_certificate",
                &e.to_string(),
            );
        }
    };
    let sha = cert.sha256.clone();
    if let Some(a) = g.apps.get_mut(&key) {
        let same = a.certificate.as_ref().is_some_and(|c| c.sha256 == sha);
        if !same {
            a.certificate = Some(cert);
            a.changed_at_ms = now;
        }
    }
    ok(
        StatusCode::OK,
        j!({"consumer_key": key, "certificate_sha256": sha}),
    )
}

async fn delete_certificate(st: St, Path(key): Path<String>) -> Response {
    let mut g = st.0.lock();
    let now = g.now_ms();
    match g.apps.get_mut(&key) {
        Some(a) => {
            a.certificate = None;
            a.changed_at_ms = now;
            ok(
                StatusCode::OK,
                j!({"consumer_key": key, "certificate_sha256": null}),
            )
        }
        None => unknown_app(&key),
    }
}

async fn list_users(st: St) -> Response {
    let g = st.0.lock();
    ok(
        StatusCode::OK,
        j!(g.users.iter().map(user_view).collect::<Vec<_>>()),
    )
}

fn unknown_user(name: &str) -> Response {
    fail(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("no user with username {name}"),
    )
}

async fn get_user(st: St, Path(name): Path<String>) -> Response {
    let g = st.0.lock();
    match g.user_by_name(&name) {
        Some(u) => ok(StatusCode::OK, user_view(u)),
        None => unknown_user(&name),
    }
}

async fn create_user(st: St, body: Bytes) -> Response {
    let u: UserSeed = match parse_json(&body) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let id = match &u.id {
        Some(id) => match crate::model::normalize_id(id).filter(|i| i.starts_with("005")) {
            Some(i) => i,
            None => {
                return fail(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "id must be a 15/18-character id starting with 005",
                );
            }
        },
        None => random_id("005"),
    };
    let mut g = st.0.lock();
    if g.user_by_name(&u.username).is_some() || g.users.iter().any(|x| x.id == id) {
        return fail(
            StatusCode::CONFLICT,
            "conflict",
            &format!("user {} exists", u.username),
        );
    }
    match User::from_seed(id, &u) {
        Ok(user) => {
            let v = user_view(&user);
            g.users.push(user);
            ok(StatusCode::CREATED, v)
        }
        Err(e) => fail(StatusCode::BAD_REQUEST, "bad_request", &e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserPatch {
    active: Option<bool>,
    profile: Option<String>,
    permission_sets: Option<Vec<String>>,
    approved_apps: Option<Vec<String>>,
    login_ip_ranges: Option<Vec<String>>,
    use_any_api_client: Option<bool>,
}

async fn patch_user(st: St, Path(name): Path<String>, body: Bytes) -> Response {
    let p: UserPatch = match parse_json(&body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(r) = &p.login_ip_ranges
        && let Some(bad) = r.iter().find(|x| crate::state::parse_ip_range(x).is_none())
    {
        return fail(
            StatusCode::BAD_REQUEST,
            "bad_request",
            &format!("bad login IP range {bad:?}"),
        );
    }
    let mut g = st.0.lock();
    let Some(u) = g
        .users
        .iter_mut()
        .find(|u| u.username.eq_ignore_ascii_case(&name))
    else {
        return unknown_user(&name);
    };
    if let Some(v) = p.active {
        u.active = v;
    }
    if let Some(v) = p.profile {
        u.profile = v;
    }
    if let Some(v) = p.permission_sets {
        u.permission_sets = v;
    }
    if let Some(v) = p.approved_apps {
        u.approved_apps = v;
    }
    if let Some(v) = p.login_ip_ranges {
        u.login_ip_ranges = v;
    }
    if let Some(v) = p.use_any_api_client {
        u.use_any_api_client = v;
    }
    ok(StatusCode::OK, user_view(u))
}

async fn requests(st: St, RawQuery(raw): RawQuery) -> Response {
    let params = query_params(raw.as_deref());
    let since: u64 = param(&params, "since")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let prefix = param(&params, "path").unwrap_or("");
    let g = st.0.lock();
    let v: Vec<_> = g
        .log
        .iter()
        .filter(|e| e.seq > since && e.path.starts_with(prefix))
        .collect();
    ok(StatusCode::OK, serde_json::to_value(v).unwrap_or_default())
}

async fn clear_requests(st: St) -> Response {
    st.0.lock().log.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn sessions(st: St) -> Response {
    let g = st.0.lock();
    let v: Vec<_> = g
        .sessions
        .values()
        .map(|s| {
            j!({
                "username": s.username, "user_id": s.user_id, "consumer_key": s.consumer_key,
                "issued": crate::model::format_datetime_bulk(s.issued_ms),
                "last_used": crate::model::format_datetime_bulk(s.last_used_ms),
                "timeout_seconds": s.timeout_s, "ended": s.ended,
            })
        })
        .collect();
    ok(StatusCode::OK, j!(v))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ExpireReq {
    username: Option<String>,
}

async fn expire_sessions(st: St, body: Bytes) -> Response {
    let r: ExpireReq = match parse_json(&body) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let mut g = st.0.lock();
    let mut n = 0;
    for s in g.sessions.values_mut() {
        if s.ended.is_none()
            && r.username
                .as_ref()
                .is_none_or(|u| u.eq_ignore_ascii_case(&s.username))
        {
            s.ended = Some("expired");
            n += 1;
        }
    }
    ok(StatusCode::OK, j!({"expired": n}))
}

async fn get_settings(st: St) -> Response {
    let g = st.0.lock();
    ok(
        StatusCode::OK,
        serde_json::to_value(&g.settings).unwrap_or_default(),
    )
}

async fn patch_settings(st: St, body: Bytes) -> Response {
    let patch: serde_json::Value = match parse_json(&body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(patch) = patch.as_object() else {
        return fail(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "expected a JSON object",
        );
    };
    let mut g = st.0.lock();
    let mut cur = serde_json::to_value(&g.settings).unwrap_or_default();
    if let Some(m) = cur.as_object_mut() {
        for (k, v) in patch {
            m.insert(k.clone(), v.clone());
        }
    }
    match serde_json::from_value::<Settings>(cur) {
        Ok(s) => {
            if patch.contains_key("api_requests_used") {
                g.api_used = s.api_requests_used;
            }
            g.settings = s;
            ok(
                StatusCode::OK,
                serde_json::to_value(&g.settings).unwrap_or_default(),
            )
        }
        Err(e) => fail(StatusCode::BAD_REQUEST, "bad_request", &e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: i64,
}

async fn advance_clock(st: St, body: Bytes) -> Response {
    let a: Advance = match parse_json(&body) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let mut g = st.0.lock();
    g.settings.clock_offset_seconds = g.settings.clock_offset_seconds.saturating_add(a.seconds);
    let now = g.now_ms();
    ok(
        StatusCode::OK,
        j!({"clock_offset_seconds": g.settings.clock_offset_seconds, "now": crate::model::format_datetime_bulk(now)}),
    )
}

async fn reset_limits(st: St) -> Response {
    let mut g = st.0.lock();
    g.api_used = 0;
    ok(StatusCode::OK, j!({"api_requests_used": 0}))
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/__admin/state", get(state))
        .route("/__admin/apps", get(list_apps).post(create_app))
        .route(
            "/__admin/apps/{key}",
            get(get_app).patch(patch_app).delete(delete_app),
        )
        .route(
            "/__admin/apps/{key}/certificate",
            put(put_certificate).delete(delete_certificate),
        )
        .route("/__admin/users", get(list_users).post(create_user))
        .route("/__admin/users/{username}", get(get_user).patch(patch_user))
        .route("/__admin/requests", get(requests).delete(clear_requests))
        .route("/__admin/sessions", get(sessions))
        .route("/__admin/sessions/expire", post(expire_sessions))
        .route("/__admin/settings", get(get_settings).patch(patch_settings))
        .route("/__admin/clock/advance", post(advance_clock))
        .route("/__admin/limits/reset", post(reset_limits))
}

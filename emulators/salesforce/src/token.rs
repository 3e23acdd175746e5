//! `POST /services/oauth2/token` with the JWT bearer grant: validation in the documented order,
//! Salesforce's exact error bodies, and Salesforce's success body.

use crate::seed::{AppKind, IpRelaxation, PermittedUsers};
use crate::state::{LogExtra, Session};
use crate::web::{JSON_CT, NO_CACHE, St};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Serialize;
use serde_json::Value as J;
use std::net::{IpAddr, SocketAddr};

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: &'static str,
}

const fn oe(error: &'static str, description: &'static str) -> OAuthError {
    OAuthError { error, description }
}

pub const UNSUPPORTED_GRANT: OAuthError = oe("unsupported_grant_type", "grant type not supported");
pub const INVALID_ASSERTION: OAuthError = oe("invalid_grant", "invalid assertion");
pub const INVALID_CLIENT: OAuthError = oe("invalid_client", "invalid client credentials");
pub const INVALID_CLIENT_ID: OAuthError = oe("invalid_client_id", "client identifier invalid");
pub const APP_NOT_FOUND: OAuthError = oe(
    "app_not_found",
    "External client app is not installed in this org",
);
pub const BAD_AUDIENCE: OAuthError = oe("invalid_grant", "audience is invalid");
pub const EXPIRED: OAuthError = oe("invalid_grant", "expired authorization code");
pub const INACTIVE_USER: OAuthError = oe("invalid_grant", "inactive user");
pub const IP_RESTRICTED: OAuthError = oe("invalid_grant", "ip restricted");
pub const NOT_APPROVED: OAuthError = oe("invalid_grant", "user hasn't approved this consumer");
pub const NO_APP_ACCESS: OAuthError = oe(
    "invalid_app_access",
    "user is not admin approved to access this app",
);

#[derive(Serialize)]
struct Success<'a> {
    access_token: &'a str,
    scope: &'a str,
    instance_url: &'a str,
    id: &'a str,
    token_type: &'a str,
}

fn respond(status: StatusCode, body: String, extra: LogExtra) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CT));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r.extensions_mut().insert(extra);
    r
}

pub fn error_body(e: &OAuthError) -> String {
    format!(
        "{{\"error\":{},\"error_description\":{}}}",
        J::String(e.error.into()),
        J::String(e.description.into())
    )
}

fn b64url_decode(seg: &str) -> Option<Vec<u8>> {
    // Accept padded and unpadded base64url.
    let s = seg.trim_end_matches('=');
    if s.is_empty() || s.contains(['+', '/', '=']) {
        return None;
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.as_bytes())
        .ok()
}

fn json_object(seg: &str) -> Option<serde_json::Map<String, J>> {
    let bytes = b64url_decode(seg)?;
    match serde_json::from_slice::<J>(&bytes).ok()? {
        J::Object(m) => Some(m),
        _ => None,
    }
}

/// `exp` as a JSON number or a string of digits; seconds since the epoch.
fn numeric_date(v: &J) -> Option<i64> {
    match v {
        J::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        J::String(s) if !s.is_empty() && s.len() <= 19 && s.bytes().all(|c| c.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

/// u64 → i64 without wrapping.
fn si(x: u64) -> i64 {
    i64::try_from(x).unwrap_or(i64::MAX)
}

fn strip_slash(s: &str) -> &str {
    s.strip_suffix('/').unwrap_or(s)
}

pub struct Outcome {
    pub result: Result<(String, Session), OAuthError>,
    pub extra: LogExtra,
}

/// The whole grant, in the check order of the reference's section 9.
pub fn grant(
    st: &crate::state::AppState,
    params: &[(String, String)],
    client_ip: Option<IpAddr>,
) -> Outcome {
    let mut extra = LogExtra::default();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let grant_type = get("grant_type");
    extra.grant_type = grant_type.map(str::to_string);
    let fail = |extra: LogExtra, e: OAuthError| Outcome {
        result: Err(e),
        extra,
    };
    if grant_type != Some(JWT_BEARER) {
        return fail(extra, UNSUPPORTED_GRANT);
    }
    let Some(assertion) = get("assertion").map(str::trim) else {
        return fail(extra, INVALID_ASSERTION);
    };
    let parts: Vec<&str> = assertion.split('.').collect();
    if parts.len() != 3 {
        return fail(extra, INVALID_ASSERTION);
    }
    let (Some(hdr), Some(claims)) = (json_object(parts[0]), json_object(parts[1])) else {
        return fail(extra, INVALID_ASSERTION);
    };
    extra.jwt_header = Some(J::Object(hdr.clone()));
    extra.claims = Some(J::Object(claims.clone()));
    let Some(signature) = b64url_decode(parts[2]) else {
        return fail(extra, INVALID_ASSERTION);
    };
    match hdr.get("alg") {
        Some(J::String(a)) if a == "RS256" => {}
        Some(J::String(_)) => return fail(extra, INVALID_CLIENT),
        _ => return fail(extra, INVALID_ASSERTION),
    }
    let iss = claims.get("iss").and_then(J::as_str).unwrap_or("");
    extra.consumer_key = Some(iss.to_string());

    let mut g = st.lock();
    let now_ms = g.now_ms();
    let now = now_ms.div_euclid(1000);
    let settings = g.settings.clone();
    let Some(app) = g.apps.get(iss).cloned() else {
        return fail(extra, INVALID_CLIENT_ID);
    };
    if now_ms
        < app
            .changed_at_ms
            .saturating_add(si(settings.propagation_delay_seconds).saturating_mul(1000))
    {
        return fail(extra, INVALID_CLIENT_ID);
    }
    if !app.installed {
        // A connected app that is not in this org is simply an unknown consumer key.
        return fail(
            extra,
            match app.kind {
                AppKind::ExternalClientApp => APP_NOT_FOUND,
                AppKind::ConnectedApp => INVALID_CLIENT_ID,
            },
        );
    }
    // Audience: the org's generic login host, its My Domain, extra audiences, the emulator itself.
    let mut accepted: Vec<String> = vec![
        match g.org.kind {
            crate::seed::OrgKind::Production => "https://login.salesforce.com".into(),
            crate::seed::OrgKind::Sandbox => "https://test.salesforce.com".into(),
        },
        st.base_url.clone(),
    ];
    accepted.extend(g.org.my_domain_url.iter().cloned());
    accepted.extend(g.org.extra_audiences.iter().cloned());
    let aud_ok = |a: &str| accepted.iter().any(|x| strip_slash(x) == strip_slash(a));
    let aud_match = match claims.get("aud") {
        Some(J::String(a)) => aud_ok(a),
        Some(J::Array(v)) => v.iter().filter_map(J::as_str).any(aud_ok),
        _ => false,
    };
    if !aud_match {
        return fail(extra, BAD_AUDIENCE);
    }
    // Signature, with the app's one certificate.
    let Some(cert) = app.certificate.as_ref() else {
        return fail(extra, INVALID_ASSERTION);
    };
    if !cert.is_rsa || (settings.reject_expired_certificates && cert.not_after < now) {
        return fail(extra, INVALID_ASSERTION);
    }
    let key = jsonwebtoken::DecodingKey::from_rsa_der(&cert.public_key_der);
    let signing_input = &assertion[..parts[0].len() + 1 + parts[1].len()];
    let sig_b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&signature);
    let verified = jsonwebtoken::crypto::verify(
        &sig_b64,
        signing_input.as_bytes(),
        &key,
        jsonwebtoken::Algorithm::RS256,
    )
    .unwrap_or(false);
    if !verified {
        return fail(extra, INVALID_ASSERTION);
    }
    // exp: number or digit string, no maximum unless configured.
    let Some(exp) = claims.get("exp").and_then(numeric_date) else {
        return fail(extra, INVALID_ASSERTION);
    };
    if exp <= now.saturating_sub(si(settings.clock_skew_seconds)) {
        return fail(extra, EXPIRED);
    }
    if let Some(max) = settings.max_exp_lifetime_seconds
        && exp
            > now
                .saturating_add(si(max))
                .saturating_add(si(settings.clock_skew_seconds))
    {
        return fail(extra, EXPIRED);
    }
    if settings.reject_reused_jti
        && let Some(jti) = claims.get("jti").and_then(J::as_str)
        && !g.seen_jti.insert(format!("{iss}\u{0}{jti}"))
    {
        return fail(extra, INVALID_ASSERTION);
    }
    // The user: prn wins over sub.
    let username = claims
        .get("prn")
        .and_then(J::as_str)
        .or_else(|| claims.get("sub").and_then(J::as_str))
        .unwrap_or("");
    extra.username = Some(username.to_string());
    let Some(user) = g.user_by_name(username).cloned() else {
        return fail(extra, INACTIVE_USER);
    };
    if !user.active {
        return fail(extra, INACTIVE_USER);
    }
    let ip4 = match client_ip {
        Some(IpAddr::V4(a)) => Some(a),
        Some(IpAddr::V6(a)) => a.to_ipv4_mapped(),
        None => None,
    };
    if app.ip_relaxation == IpRelaxation::Enforce && !user.ip_allowed(ip4) {
        return fail(extra, IP_RESTRICTED);
    }
    let preauthorized = app.preauthorizes(&user);
    let approved = match app.permitted_users {
        PermittedUsers::AdminApproved => preauthorized,
        PermittedUsers::SelfAuthorized => user.approved_apps.iter().any(|k| k == &app.consumer_key),
    };
    if !approved {
        return fail(extra, NOT_APPROVED);
    }
    if g.org.api_access_control && !user.use_any_api_client && !preauthorized {
        return fail(extra, NO_APP_ACCESS);
    }
    let token = g.new_token();
    let session = Session {
        user_id: user.id.clone(),
        username: user.username.clone(),
        consumer_key: app.consumer_key.clone(),
        issued_ms: now_ms,
        last_used_ms: now_ms,
        timeout_s: app
            .session_timeout_seconds
            .unwrap_or(settings.session_timeout_seconds),
        ended: None,
    };
    g.sessions.insert(token.clone(), session.clone());
    Outcome {
        result: Ok((token, session)),
        extra,
    }
}

pub async fn token(
    st: St,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    // Form body first; query-string parameters fill gaps (one public client sends them there).
    let mut params: Vec<(String, String)> = form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    for (k, v) in crate::web::query_params(q.as_deref()) {
        if !params.iter().any(|(n, _)| n == &k) {
            params.push((k, v));
        }
    }
    let out = grant(&st.0, &params, Some(addr.ip()));
    match out.result {
        Err(e) => respond(
            StatusCode::BAD_REQUEST,
            error_body(&e),
            LogExtra {
                error: Some(e.error.into()),
                error_description: Some(e.description.into()),
                ..out.extra
            },
        ),
        Ok((token, session)) => {
            let base = &st.0.base_url;
            let (org_id, scope) = {
                let g = st.0.lock();
                let scope = g
                    .apps
                    .get(&session.consumer_key)
                    .map(|a| a.scopes.join(" "))
                    .unwrap_or_default();
                (g.org_id.clone(), scope)
            };
            let id = format!("{base}/id/{org_id}/{}", session.user_id);
            let body = serde_json::to_string(&Success {
                access_token: &token,
                scope: &scope,
                instance_url: base,
                id: &id,
                token_type: "Bearer",
            })
            .unwrap_or_default();
            respond(StatusCode::OK, body, out.extra)
        }
    }
}

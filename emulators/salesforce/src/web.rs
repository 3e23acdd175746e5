//! Router, logging / Sforce-Limit-Info middleware and response helpers.

use crate::state::{AppState, LogEntry, LogExtra, Session};
use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::net::SocketAddr;
use std::sync::Arc;

pub type St = State<Arc<AppState>>;

pub const JSON_CT: &str = "application/json;charset=UTF-8";
pub const NO_CACHE: &str = "no-cache,must-revalidate,max-age=0,no-store,private";

pub fn json_text(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CT));
    r
}

pub fn json(status: StatusCode, v: &impl serde::Serialize) -> Response {
    json_text(
        status,
        serde_json::to_string(v).unwrap_or_else(|_| "{}".into()),
    )
}

/// Salesforce's REST error shape: a JSON array of `{"message","errorCode"}`.
pub fn sf_error(status: StatusCode, code: &str, message: &str) -> Response {
    // serde_json's map is sorted; write message first, errorCode second, as Salesforce does.
    let text = format!(
        "[{{\"message\":{},\"errorCode\":{}}}]",
        serde_json::Value::String(message.into()),
        serde_json::Value::String(code.into())
    );
    let mut r = json_text(status, text);
    r.extensions_mut().insert(LogExtra {
        error_code: Some(code.to_string()),
        ..Default::default()
    });
    r
}

pub fn invalid_session() -> Response {
    let mut r = sf_error(
        StatusCode::UNAUTHORIZED,
        "INVALID_SESSION_ID",
        "Session expired or invalid",
    );
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
    r
}

pub fn not_found() -> Response {
    sf_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "The requested resource does not exist",
    )
}

/// `Authorization: Bearer <t>` (or `OAuth <t>`).
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth") {
        let t = token.trim();
        (!t.is_empty()).then(|| t.to_string())
    } else {
        None
    }
}

pub fn query_params(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| {
        form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Authenticates a REST call and counts it against the daily limit.
pub fn rest_auth(st: &AppState, headers: &HeaderMap) -> Result<Session, Response> {
    let token = bearer(headers).ok_or_else(invalid_session)?;
    let mut g = st.lock();
    let s = g.session(&token).ok_or_else(invalid_session)?;
    if g.api_used >= g.settings.daily_api_request_limit {
        return Err(sf_error(
            StatusCode::FORBIDDEN,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        ));
    }
    g.api_used += 1;
    Ok(s)
}

/// `v66.0` → `66.0` when the version is served.
pub fn api_version(st: &AppState, v: &str) -> Result<String, Response> {
    let max = st.lock().settings.max_api_version;
    let num = if v.eq_ignore_ascii_case("latest") {
        format!("{max}.0")
    } else {
        v.strip_prefix('v').unwrap_or("").to_string()
    };
    match num.split_once('.') {
        Some((maj, "0")) => match maj.parse::<u32>() {
            Ok(m) if (31..=max).contains(&m) => Ok(format!("{m}.0")),
            _ => Err(not_found()),
        },
        _ => Err(not_found()),
    }
}

fn redact_query(q: &str) -> String {
    form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| {
            let secret = matches!(
                k.as_ref(),
                "oauth_token" | "access_token" | "token" | "assertion" | "client_secret"
            );
            if secret {
                format!("{k}=<redacted>")
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

async fn around(
    State(st): St,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(redact_query);
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "(no route)".into());
    let mut resp = next.run(req).await;
    let extra = resp
        .extensions_mut()
        .remove::<LogExtra>()
        .unwrap_or_default();
    let mut g = st.lock();
    if !path.starts_with("/__admin") {
        let time = crate::model::format_datetime_bulk(g.now_ms());
        g.push_log(LogEntry {
            seq: 0,
            time,
            method,
            path,
            query,
            endpoint,
            status: resp.status().as_u16(),
            remote_addr: Some(addr.ip().to_string()),
            extra,
        });
    }
    let usage = format!(
        "api-usage={}/{}",
        g.api_used, g.settings.daily_api_request_limit
    );
    drop(g);
    if let Ok(v) = HeaderValue::from_str(&usage) {
        resp.headers_mut().insert("sforce-limit-info", v);
    }
    resp
}

async fn fallback() -> Response {
    not_found()
}

pub fn router(st: Arc<AppState>) -> Router {
    use crate::{admin, bulk, rest, token};
    let data = Router::new()
        .route("/services/data", get(rest::versions))
        .route("/services/data/", get(rest::versions))
        .route("/services/data/{v}", get(rest::resources))
        .route("/services/data/{v}/", get(rest::resources))
        .route("/services/data/{v}/query", get(rest::query))
        .route("/services/data/{v}/query/", get(rest::query))
        .route("/services/data/{v}/queryAll", get(rest::query_all))
        .route("/services/data/{v}/queryAll/", get(rest::query_all))
        .route("/services/data/{v}/query/{locator}", get(rest::query_more))
        .route(
            "/services/data/{v}/queryAll/{locator}",
            get(rest::query_more),
        )
        .route("/services/data/{v}/limits", get(rest::limits))
        .route("/services/data/{v}/limits/", get(rest::limits))
        .route("/services/data/{v}/sobjects", get(rest::sobjects))
        .route("/services/data/{v}/sobjects/", get(rest::sobjects))
        .route(
            "/services/data/{v}/jobs/query",
            get(bulk::list).post(bulk::create),
        )
        .route(
            "/services/data/{v}/jobs/query/",
            get(bulk::list).post(bulk::create),
        )
        .route(
            "/services/data/{v}/jobs/query/{id}",
            get(bulk::info).patch(bulk::abort).delete(bulk::delete),
        )
        .route(
            "/services/data/{v}/jobs/query/{id}/results",
            get(bulk::results),
        )
        .route("/services/oauth2/token", post(token::token))
        .route(
            "/services/oauth2/revoke",
            get(rest::revoke).post(rest::revoke),
        )
        .route(
            "/services/oauth2/userinfo",
            get(rest::userinfo).post(rest::userinfo),
        )
        .route("/id/{org}/{user}", get(rest::identity).post(rest::identity));
    data.merge(admin::routes())
        .fallback(fallback)
        .layer(axum::middleware::from_fn_with_state(st.clone(), around))
        .with_state(st)
}

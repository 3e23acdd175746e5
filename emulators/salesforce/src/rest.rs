//! The instance side: versions, resources, query/queryAll with paging, limits, userinfo, identity,
//! revoke.

use crate::data::{ID_FIELD, SObject};
use crate::model::{Value, write_json_str};
use crate::soql::Selection;
use crate::state::{AppState, Cursor, LogExtra, Session};
use crate::web::{
    St, api_version, bearer, json, json_text, param, query_params, rest_auth, sf_error,
};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json as j;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CURSOR_IDLE: Duration = Duration::from_secs(15 * 60);

fn season_label(v: u32) -> String {
    let idx = v - 31;
    let season = ["Summer", "Winter", "Spring"][(idx % 3) as usize];
    let year = 14 + idx.div_ceil(3);
    format!("{season} '{year:02}")
}

pub async fn versions(st: St) -> Response {
    let max = st.0.lock().settings.max_api_version;
    let v: Vec<_> = (31..=max)
        .map(|n| {
            j!({"label": season_label(n), "url": format!("/services/data/v{n}.0"), "version": format!("{n}.0")})
        })
        .collect();
    json(StatusCode::OK, &v)
}

pub async fn resources(st: St, Path(v): Path<String>, headers: HeaderMap) -> Response {
    let ver = match api_version(&st.0, &v) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let s = match rest_auth(&st.0, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let org_id = st.0.lock().org_id.clone();
    let p = |r: &str| format!("/services/data/v{ver}/{r}");
    json(
        StatusCode::OK,
        &j!({
            "tooling": p("tooling"),
            "metadata": p("metadata"),
            "jobs": p("jobs"),
            "query": p("query"),
            "queryAll": p("queryAll"),
            "sobjects": p("sobjects"),
            "limits": p("limits"),
            "search": p("search"),
            "composite": p("composite"),
            "recent": p("recent"),
            "identity": format!("{}/id/{org_id}/{}", st.0.base_url, s.user_id),
        }),
    )
}

pub async fn sobjects(st: St, Path(v): Path<String>, headers: HeaderMap) -> Response {
    let ver = match api_version(&st.0, &v) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = rest_auth(&st.0, &headers) {
        return r;
    }
    let list: Vec<_> =
        st.0.data
            .names()
            .into_iter()
            .filter_map(|n| st.0.data.get(&n))
            .map(|o| {
                j!({
                    "name": o.name, "label": o.name, "keyPrefix": o.key_prefix, "queryable": true,
                    "custom": o.name.ends_with("__c"),
                    "urls": {"sobject": format!("/services/data/v{ver}/sobjects/{}", o.name)}
                })
            })
            .collect();
    json(
        StatusCode::OK,
        &j!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": list}),
    )
}

/// Writes one record as Salesforce's REST API does: attributes first, then fields in SELECT order.
pub fn write_record(out: &mut String, obj: &SObject, fields: &[usize], idx: usize, ver: &str) {
    let id = match obj.value(idx, ID_FIELD) {
        Value::Str(s) => s,
        _ => String::new(),
    };
    out.push_str("{\"attributes\":{\"type\":");
    write_json_str(out, &obj.name);
    out.push_str(",\"url\":");
    write_json_str(
        out,
        &format!("/services/data/v{ver}/sobjects/{}/{id}", obj.name),
    );
    out.push('}');
    for f in fields {
        out.push(',');
        write_json_str(out, &obj.fields[*f].name);
        out.push(':');
        obj.value(idx, *f).write_json(out);
    }
    out.push('}');
}

fn page_body(
    obj: &SObject,
    fields: &[usize],
    sel: &Selection,
    from: usize,
    batch: usize,
    ver: &str,
    next: Option<String>,
) -> String {
    let total = sel.len();
    let end = (from + batch).min(total);
    let mut out = String::with_capacity((end - from) * 160 + 128);
    out.push_str(&format!(
        "{{\"totalSize\":{total},\"done\":{}",
        next.is_none()
    ));
    if let Some(n) = &next {
        out.push_str(",\"nextRecordsUrl\":");
        write_json_str(&mut out, n);
    }
    out.push_str(",\"records\":[");
    for k in from..end {
        if k > from {
            out.push(',');
        }
        if let Some(idx) = sel.get(k) {
            write_record(&mut out, obj, fields, idx, ver);
        }
    }
    out.push_str("]}");
    out
}

fn batch_size(headers: &HeaderMap, default: usize) -> usize {
    let Some(v) = headers
        .get("sforce-query-options")
        .and_then(|v| v.to_str().ok())
    else {
        return default;
    };
    for opt in v.split(',') {
        if let Some((k, n)) = opt.split_once('=')
            && k.trim().eq_ignore_ascii_case("batchSize")
            && let Ok(n) = n.trim().parse::<usize>()
        {
            return n.clamp(200, 2000);
        }
    }
    default
}

fn with_soql(mut r: Response, soql: &str) -> Response {
    let mut extra = r.extensions_mut().remove::<LogExtra>().unwrap_or_default();
    extra.soql = Some(soql.chars().take(2000).collect());
    r.extensions_mut().insert(extra);
    r
}

async fn run_query(
    st: Arc<AppState>,
    v: String,
    raw: Option<String>,
    headers: HeaderMap,
    all: bool,
) -> Response {
    let ver = match api_version(&st, &v) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = rest_auth(&st, &headers) {
        return r;
    }
    let params = query_params(raw.as_deref());
    let Some(q) = param(&params, "q").map(str::to_string) else {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "MALFORMED_QUERY",
            "A query string has to be specified",
        );
    };
    let (now, default_batch) = {
        let g = st.lock();
        (g.now_ms(), g.settings.query_batch_size as usize)
    };
    let batch = batch_size(&headers, default_batch.clamp(1, 2000));
    let st2 = st.clone();
    let q2 = q.clone();
    let work = tokio::task::spawn_blocking(move || -> Result<String, crate::soql::SoqlError> {
        let plan = crate::soql::compile(&q2, &st2.data, now)?;
        let sel = plan.execute(all);
        let total = sel.len();
        if plan.count_only {
            return Ok(format!(
                "{{\"totalSize\":{total},\"done\":true,\"records\":[]}}"
            ));
        }
        let next = if total > batch {
            let id = st2.lock().add_cursor(Cursor {
                obj: plan.obj.clone(),
                fields: plan.fields.clone(),
                selection: sel.clone(),
                batch,
                last_used: Instant::now(),
            });
            Some(format!("/services/data/v{ver}/query/{id}-{batch}"))
        } else {
            None
        };
        Ok(page_body(
            &plan.obj,
            &plan.fields,
            &sel,
            0,
            batch,
            &ver,
            next,
        ))
    })
    .await;
    let r = match work {
        Ok(Ok(body)) => json_text(StatusCode::OK, body),
        Ok(Err(e)) => sf_error(StatusCode::BAD_REQUEST, e.code, &e.message),
        Err(_) => sf_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred.",
        ),
    };
    with_soql(r, &q)
}

pub async fn query(
    st: St,
    Path(v): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    run_query(st.0, v, raw, headers, false).await
}

pub async fn query_all(
    st: St,
    Path(v): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    run_query(st.0, v, raw, headers, true).await
}

pub async fn query_more(
    st: St,
    Path((v, locator)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let ver = match api_version(&st.0, &v) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = rest_auth(&st.0, &headers) {
        return r;
    }
    let bad = || {
        sf_error(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY_LOCATOR",
            "invalid query locator",
        )
    };
    let Some((id, off)) = locator.rsplit_once('-') else {
        return bad();
    };
    let Ok(off) = off.parse::<usize>() else {
        return bad();
    };
    let cursor = {
        let mut g = st.0.lock();
        match g.cursors.get_mut(id) {
            Some(c) if c.last_used.elapsed() < CURSOR_IDLE => {
                c.last_used = Instant::now();
                c.clone()
            }
            _ => return bad(),
        }
    };
    let total = cursor.selection.len();
    if off >= total {
        return bad();
    }
    let body = tokio::task::spawn_blocking(move || {
        let next_off = off + cursor.batch;
        let next = (next_off < total).then(|| {
            format!(
                "/services/data/v{ver}/query/{id_s}-{next_off}",
                id_s = locator_id(&locator)
            )
        });
        page_body(
            &cursor.obj,
            &cursor.fields,
            &cursor.selection,
            off,
            cursor.batch,
            &ver,
            next,
        )
    })
    .await;
    match body {
        Ok(b) => json_text(StatusCode::OK, b),
        Err(_) => bad(),
    }
}

fn locator_id(l: &str) -> String {
    l.rsplit_once('-')
        .map(|(a, _)| a.to_string())
        .unwrap_or_default()
}

pub async fn limits(st: St, Path(v): Path<String>, headers: HeaderMap) -> Response {
    if let Err(r) = api_version(&st.0, &v) {
        return r;
    }
    if let Err(r) = rest_auth(&st.0, &headers) {
        return r;
    }
    let g = st.0.lock();
    let max = g.settings.daily_api_request_limit;
    let jobs = g.jobs.len() as u64;
    let lim = |m: u64, used: u64| j!({"Max": m, "Remaining": m.saturating_sub(used)});
    json(
        StatusCode::OK,
        &j!({
            "ConcurrentAsyncGetReportInstances": lim(200, 0),
            "DailyApiRequests": lim(max, g.api_used),
            "DailyAsyncApexExecutions": lim(250000, 0),
            "DailyBulkApiBatches": lim(15000, 0),
            "DailyBulkV2QueryFileStorageMB": lim(976562, 0),
            "DailyBulkV2QueryJobs": lim(10000, jobs),
            "DataStorageMB": lim(5120, 0),
            "FileStorageMB": lim(20480, 0),
            "HourlyODataCallout": lim(10000, 0),
            "SingleEmail": lim(5000, 0),
        }),
    )
}

fn token_from(headers: &HeaderMap, raw: Option<&str>, body: &[u8]) -> Option<String> {
    if let Some(t) = bearer(headers) {
        return Some(t);
    }
    let mut params = query_params(raw);
    params.extend(form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())));
    param(&params, "oauth_token")
        .or_else(|| param(&params, "access_token"))
        .map(str::to_string)
}

fn bad_oauth_token() -> Response {
    let mut r = (StatusCode::FORBIDDEN, "Bad_OAuth_Token").into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain;charset=UTF-8"),
    );
    r
}

fn session_for(
    st: &AppState,
    headers: &HeaderMap,
    raw: Option<&str>,
    body: &[u8],
) -> Option<Session> {
    let t = token_from(headers, raw, body)?;
    st.lock().session(&t)
}

fn urls(base: &str, org: &str, user: &str) -> serde_json::Value {
    let d = |p: &str| format!("{base}/services/{p}");
    j!({
        "enterprise": d(&format!("Soap/c/{{version}}/{org}")),
        "metadata": d(&format!("Soap/m/{{version}}/{org}")),
        "partner": d(&format!("Soap/u/{{version}}/{org}")),
        "rest": d("data/v{version}/"),
        "sobjects": d("data/v{version}/sobjects/"),
        "search": d("data/v{version}/search/"),
        "query": d("data/v{version}/query/"),
        "recent": d("data/v{version}/recent/"),
        "tooling_soap": d(&format!("Soap/T/{{version}}/{org}")),
        "tooling_rest": d("data/v{version}/tooling/"),
        "profile": format!("{base}/{user}"),
        "feeds": d("data/v{version}/chatter/feeds"),
        "groups": d("data/v{version}/chatter/groups"),
        "users": d("data/v{version}/chatter/users"),
        "feed_items": d("data/v{version}/chatter/feed-items"),
        "feed_elements": d("data/v{version}/chatter/feed-elements"),
        "custom_domain": base,
    })
}

pub async fn userinfo(
    st: St,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let Some(s) = session_for(&st.0, &headers, raw.as_deref(), &body) else {
        return bad_oauth_token();
    };
    let g = st.0.lock();
    let Some(u) = g.users.iter().find(|u| u.id == s.user_id).cloned() else {
        return bad_oauth_token();
    };
    let base = &st.0.base_url;
    let org = g.org_id.clone();
    let name = format!("{} {}", u.first_name, u.last_name)
        .trim()
        .to_string();
    json(
        StatusCode::OK,
        &j!({
            "sub": format!("{base}/id/{org}/{}", u.id),
            "user_id": u.id,
            "organization_id": org,
            "preferred_username": u.username,
            "nickname": u.username.split('@').next().unwrap_or(""),
            "name": name,
            "email": u.email,
            "email_verified": true,
            "given_name": u.first_name,
            "family_name": u.last_name,
            "zoneinfo": "America/Los_Angeles",
            "photos": {"picture": format!("{base}/profilephoto/005/F"), "thumbnail": format!("{base}/profilephoto/005/T")},
            "profile": format!("{base}/{}", u.id),
            "picture": format!("{base}/profilephoto/005/F"),
            "address": {"country": "US"},
            "is_salesforce_integration_user": u.profile.to_ascii_lowercase().contains("integration"),
            "urls": urls(base, &org, &u.id),
            "active": u.active,
            "user_type": "STANDARD",
            "language": "en_US",
            "locale": "en_US",
            "utcOffset": -28800000,
            "updated_at": "2026-01-01T00:00:00Z",
            "is_app_installed": true,
        }),
    )
}

pub async fn identity(
    st: St,
    Path((org, user)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let Some(s) = session_for(&st.0, &headers, raw.as_deref(), &body) else {
        return bad_oauth_token();
    };
    let g = st.0.lock();
    let org_ok = crate::model::normalize_id(&org).is_some_and(|o| o == g.org_id);
    let target = crate::model::normalize_id(&user)
        .and_then(|id| g.users.iter().find(|u| u.id == id).cloned());
    let (true, Some(u)) = (org_ok, target) else {
        return crate::web::not_found();
    };
    let base = &st.0.base_url;
    let org = g.org_id.clone();
    let name = format!("{} {}", u.first_name, u.last_name)
        .trim()
        .to_string();
    json(
        StatusCode::OK,
        &j!({
            "id": format!("{base}/id/{org}/{}", u.id),
            "asserted_user": u.id == s.user_id,
            "user_id": u.id,
            "organization_id": org,
            "username": u.username,
            "nick_name": u.username.split('@').next().unwrap_or(""),
            "display_name": name,
            "email": u.email,
            "email_verified": true,
            "first_name": u.first_name,
            "last_name": u.last_name,
            "timezone": "America/Los_Angeles",
            "photos": {"picture": format!("{base}/profilephoto/005/F"), "thumbnail": format!("{base}/profilephoto/005/T")},
            "addr_street": null, "addr_city": null, "addr_state": null, "addr_country": "US", "addr_zip": null,
            "mobile_phone": null, "mobile_phone_verified": false,
            "is_lightning_login_user": false,
            "status": {"created_date": null, "body": null},
            "urls": urls(base, &org, &u.id),
            "active": u.active,
            "user_type": "STANDARD",
            "language": "en_US",
            "locale": "en_US",
            "utcOffset": -28800000,
            "last_modified_date": "2026-01-01T00:00:00.000+0000",
            "is_app_installed": true,
        }),
    )
}

pub async fn revoke(st: St, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let mut params = query_params(raw.as_deref());
    params.extend(form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())));
    let token = param(&params, "token").map(str::to_string);
    let found = token.is_some_and(|t| {
        let mut g = st.0.lock();
        match g.sessions.get_mut(&t) {
            Some(s) if s.ended.is_none() => {
                s.ended = Some("revoked");
                true
            }
            _ => false,
        }
    });
    if found {
        let mut r = (StatusCode::OK, "").into_response();
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(crate::web::NO_CACHE),
        );
        r
    } else {
        json_text(
            StatusCode::BAD_REQUEST,
            "{\"error\":\"invalid_token\",\"error_description\":\"Token was invalid\"}".into(),
        )
    }
}

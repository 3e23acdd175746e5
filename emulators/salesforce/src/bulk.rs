//! Bulk API 2.0 query jobs: create, poll, results (CSV pages with Sforce-Locator), abort, delete.

use crate::model::{format_datetime_rest, random_id, write_csv_str};
use crate::state::{Job, LogExtra};
use crate::web::{St, api_version, json, param, query_params, rest_auth, sf_error};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json as j;
use std::time::Instant;

fn delimiter(name: &str) -> Option<u8> {
    Some(match name {
        "COMMA" => b',',
        "TAB" => b'\t',
        "PIPE" => b'|',
        "SEMICOLON" => b';',
        "CARET" => b'^',
        "BACKQUOTE" => b'`',
        _ => return None,
    })
}

fn api_num(ver: &str) -> f64 {
    ver.parse().unwrap_or(0.0)
}

fn job_info(job: &Job, full: bool) -> serde_json::Value {
    let state = job.state();
    let mut v = j!({
        "id": job.id,
        "operation": job.operation,
        "object": job.object,
        "createdById": job.created_by,
        "createdDate": format_datetime_rest(job.created_ms),
        "systemModstamp": format_datetime_rest(job.aborted_ms.unwrap_or(job.created_ms)),
        "state": state,
        "concurrencyMode": "Parallel",
        "contentType": "CSV",
        "apiVersion": api_num(&job.api_version),
        "lineEnding": job.line_ending,
        "columnDelimiter": job.column_delimiter,
    });
    if full && let Some(m) = v.as_object_mut() {
        m.insert("jobType".into(), j!("V2Query"));
        let done = state == "JobComplete";
        m.insert(
            "numberRecordsProcessed".into(),
            j!(if done { job.selection.len() } else { 0 }),
        );
        m.insert("retries".into(), j!(0));
        m.insert(
            "totalProcessingTime".into(),
            j!(if done { job.delay_ms } else { 0 }),
        );
        m.insert("isPkChunkingSupported".into(), j!(true));
        if state == "Failed" {
            m.insert(
                "errorMessage".into(),
                j!("The job failed (emulator setting bulk_jobs_fail)."),
            );
        }
    }
    v
}

pub async fn create(st: St, Path(v): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let ver = match api_version(&st.0, &v) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let session = match rest_auth(&st.0, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(req) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "JSON_PARSER_ERROR",
            "Unexpected character in the request body: it is not JSON.",
        );
    };
    let s = |k: &str| req.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let operation = s("operation").unwrap_or_default();
    if operation != "query" && operation != "queryAll" {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "INVALIDJOB",
            &format!("Invalid operation: {operation}. Valid values are query and queryAll."),
        );
    }
    let Some(q) = s("query") else {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "INVALIDJOB",
            "The query field is required.",
        );
    };
    let content_type = s("contentType").unwrap_or_else(|| "CSV".into());
    if content_type != "CSV" {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "INVALIDJOB",
            &format!("Invalid contentType: {content_type}. Only CSV is supported."),
        );
    }
    let column_delimiter = s("columnDelimiter").unwrap_or_else(|| "COMMA".into());
    if delimiter(&column_delimiter).is_none() {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "INVALIDJOB",
            &format!("Invalid columnDelimiter: {column_delimiter}"),
        );
    }
    let line_ending = s("lineEnding").unwrap_or_else(|| "LF".into());
    if line_ending != "LF" && line_ending != "CRLF" {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "INVALIDJOB",
            &format!("Invalid lineEnding: {line_ending}"),
        );
    }
    let (now, delay, fail) = {
        let g = st.0.lock();
        (
            g.now_ms(),
            g.settings.bulk_job_delay_ms,
            g.settings.bulk_jobs_fail,
        )
    };
    let st2 = st.0.clone();
    let q2 = q.clone();
    let all = operation == "queryAll";
    let planned = tokio::task::spawn_blocking(move || {
        crate::soql::compile(&q2, &st2.data, now).map(|p| {
            let sel = p.execute(all);
            (p, sel)
        })
    })
    .await;
    let (plan, selection) = match planned {
        Ok(Ok((p, _))) if p.count_only => {
            return sf_error(
                StatusCode::BAD_REQUEST,
                "API_ERROR",
                "Aggregate queries (COUNT()) are not supported by Bulk API 2.0 query jobs.",
            );
        }
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return sf_error(StatusCode::BAD_REQUEST, e.code, &e.message),
        Err(_) => {
            return sf_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred.",
            );
        }
    };
    let job = Job {
        id: random_id("750"),
        operation,
        object: plan.obj.name.clone(),
        created_by: session.user_id.clone(),
        created_ms: now,
        created: Instant::now(),
        delay_ms: delay,
        fail,
        aborted_ms: None,
        api_version: ver,
        column_delimiter,
        line_ending,
        obj: plan.obj.clone(),
        fields: plan.fields.clone(),
        selection,
    };
    let info = job_info(&job, false);
    st.0.lock().jobs.insert(job.id.clone(), job);
    let mut r = json(StatusCode::OK, &info);
    r.extensions_mut().insert(LogExtra {
        soql: Some(q.chars().take(2000).collect()),
        ..Default::default()
    });
    r
}

pub async fn list(st: St, Path(v): Path<String>, headers: HeaderMap) -> Response {
    if let Err(r) = api_version(&st.0, &v) {
        return r;
    }
    if let Err(r) = rest_auth(&st.0, &headers) {
        return r;
    }
    let g = st.0.lock();
    let records: Vec<_> = g.jobs.values().map(|job| job_info(job, false)).collect();
    json(
        StatusCode::OK,
        &j!({"done": true, "records": records, "nextRecordsUrl": null}),
    )
}

fn no_job() -> Response {
    sf_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "The requested resource does not exist",
    )
}

pub async fn info(st: St, Path((v, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if let Err(r) = api_version(&st.0, &v) {
        return r;
    }
    if let Err(r) = rest_auth(&st.0, &headers) {
        return r;
    }
    let g = st.0.lock();
    match g.jobs.get(&id) {
        Some(job) => json(StatusCode::OK, &job_info(job, true)),
        None => no_job(),
    }
}

pub async fn abort(
    st: St,
    Path((v, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = api_version(&st.0, &v) {
        return r;
    }
    if let Err(r) = rest_auth(&st.0, &headers) {
        return r;
    }
    let state = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("state").and_then(|s| s.as_str()).map(str::to_string));
    if state.as_deref() != Some("Aborted") {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "INVALIDJOBSTATE",
            "Invalid state: only Aborted can be set on a query job.",
        );
    }
    let mut g = st.0.lock();
    let now = g.now_ms();
    let Some(job) = g.jobs.get_mut(&id) else {
        return no_job();
    };
    match job.state() {
        "JobComplete" | "Failed" | "Aborted" => sf_error(
            StatusCode::BAD_REQUEST,
            "INVALIDJOBSTATE",
            &format!("Aborting already {} Job not allowed", job.state()),
        ),
        _ => {
            job.aborted_ms = Some(now);
            json(StatusCode::OK, &job_info(job, false))
        }
    }
}

pub async fn delete(st: St, Path((v, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if let Err(r) = api_version(&st.0, &v) {
        return r;
    }
    if let Err(r) = rest_auth(&st.0, &headers) {
        return r;
    }
    let mut g = st.0.lock();
    let Some(job) = g.jobs.get(&id) else {
        return no_job();
    };
    match job.state() {
        "JobComplete" | "Failed" | "Aborted" => {
            g.jobs.remove(&id);
            StatusCode::NO_CONTENT.into_response()
        }
        s => sf_error(
            StatusCode::BAD_REQUEST,
            "INVALIDJOBSTATE",
            &format!("Deleting a job in state {s} is not allowed; abort it first."),
        ),
    }
}

fn encode_locator(offset: usize) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(offset.to_string())
}

fn decode_locator(l: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(l.trim_end_matches('='))
        .ok()?;
    std::str::from_utf8(&bytes).ok()?.parse().ok()
}

pub async fn results(
    st: St,
    Path((v, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = api_version(&st.0, &v) {
        return r;
    }
    if let Err(r) = rest_auth(&st.0, &headers) {
        return r;
    }
    let params = query_params(raw.as_deref());
    let default_max = st.0.lock().settings.bulk_default_max_records.max(1) as usize;
    let max = match param(&params, "maxRecords") {
        None | Some("") => default_max,
        Some(m) => match m.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                return sf_error(
                    StatusCode::BAD_REQUEST,
                    "INVALIDENTITY",
                    "maxRecords must be a positive integer",
                );
            }
        },
    };
    let offset = match param(&params, "locator") {
        None | Some("") => 0,
        Some(l) => match decode_locator(l) {
            Some(o) => o,
            None => {
                return sf_error(
                    StatusCode::BAD_REQUEST,
                    "INVALIDENTITY",
                    &format!("Invalid locator: {l}"),
                );
            }
        },
    };
    let job = {
        let g = st.0.lock();
        match g.jobs.get(&id) {
            Some(j) => j.clone(),
            None => return no_job(),
        }
    };
    match job.state() {
        "JobComplete" => {}
        "UploadComplete" | "InProgress" => {
            return sf_error(
                StatusCode::PRECONDITION_FAILED,
                "JOB_NOT_COMPLETE",
                "The job is not yet complete.",
            );
        }
        s => {
            return sf_error(
                StatusCode::BAD_REQUEST,
                "INVALIDJOBSTATE",
                &format!("Results are not available for a job in state {s}."),
            );
        }
    }
    if job.api_version != api_version(&st.0, &v).unwrap_or_default() {
        return sf_error(
            StatusCode::CONFLICT,
            "INVALIDVERSION",
            "Results must be requested with the API version the job was created with.",
        );
    }
    let total = job.selection.len();
    let built = tokio::task::spawn_blocking(move || {
        let delim = delimiter(&job.column_delimiter).unwrap_or(b',');
        let eol: &[u8] = if job.line_ending == "CRLF" {
            b"\r\n"
        } else {
            b"\n"
        };
        let end = offset.saturating_add(max).min(total);
        let start = offset.min(end);
        // Bytes, not a String: cells are written by `SObject::write_csv_cell` and are UTF-8 by
        // construction.
        let mut out = Vec::with_capacity((end - start + 1) * 120);
        for (k, f) in job.fields.iter().enumerate() {
            if k > 0 {
                out.push(delim);
            }
            write_csv_str(&mut out, &job.obj.fields[*f].name);
        }
        out.extend_from_slice(eol);
        for k in start..end {
            let Some(idx) = job.selection.get(k) else {
                break;
            };
            for (c, f) in job.fields.iter().enumerate() {
                if c > 0 {
                    out.push(delim);
                }
                job.obj.write_csv_cell(idx, *f, &mut out);
            }
            out.extend_from_slice(eol);
        }
        (
            out,
            end - start,
            if end < total {
                encode_locator(end)
            } else {
                "null".to_string()
            },
        )
    })
    .await;
    let Ok((csv, n, locator)) = built else {
        return sf_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred.",
        );
    };
    let mut r = (StatusCode::OK, csv).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"));
    if let Ok(v) = HeaderValue::from_str(&locator) {
        h.insert("sforce-locator", v);
    }
    if let Ok(v) = HeaderValue::from_str(&n.to_string()) {
        h.insert("sforce-numberofrecords", v);
    }
    r
}

//! Bulk API 2.0 query jobs, the admin API and the request log.

mod common;
use common::*;
use serde_json::{Value, json};
use sha2::Digest as _;

async fn wait_state(emu: &Emu, t: &str, id: &str, want: &str) -> Value {
    for _ in 0..100 {
        let (_, v) = emu
            .get_json(&format!("/services/data/v66.0/jobs/query/{id}"), t)
            .await;
        if v["state"] == want {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("job {id} never reached {want}");
}

#[tokio::test]
async fn bulk_query_job_lifecycle_and_results() {
    let emu = spawn(&seed("production", "", "  bulk_job_delay_ms: 200"));
    let t = emu.login().await;
    let r = emu
        .http
        .post(emu.url("/services/data/v66.0/jobs/query"))
        .bearer_auth(&t)
        .json(&json!({"operation": "query", "query": "SELECT Id, Name, SystemModstamp FROM Account WHERE Name != 'x'"}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status().as_u16(), 200);
    let job: Value = r.json().await.expect("json");
    assert_eq!(job["state"], "UploadComplete");
    assert_eq!(job["object"], "Account");
    assert_eq!(job["apiVersion"], 66.0);
    assert_eq!(job["contentType"], "CSV");
    let id = job["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("750"));
    let early = emu
        .get(&format!("/services/data/v66.0/jobs/query/{id}/results"), &t)
        .await;
    assert_eq!(early.status().as_u16(), 412);
    let done = wait_state(&emu, &t, &id, "JobComplete").await;
    assert_eq!(done["numberRecordsProcessed"], 4456);
    assert_eq!(done["jobType"], "V2Query");
    // Page through with maxRecords.
    let mut locator = String::new();
    let mut rows = 0;
    let mut pages = 0;
    loop {
        let mut url = format!("/services/data/v66.0/jobs/query/{id}/results?maxRecords=2000");
        if !locator.is_empty() {
            url.push_str(&format!("&locator={locator}"));
        }
        let r = emu.get(&url, &t).await;
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.headers()["content-type"], "text/csv");
        let n: usize = r.headers()["sforce-numberofrecords"]
            .to_str()
            .unwrap_or("")
            .parse()
            .unwrap_or(0);
        let next = r.headers()["sforce-locator"]
            .to_str()
            .unwrap_or("")
            .to_string();
        let body = r.text().await.expect("csv");
        let mut lines = body.lines();
        assert_eq!(lines.next(), Some("\"Id\",\"Name\",\"SystemModstamp\""));
        let data: Vec<&str> = lines.collect();
        assert_eq!(data.len(), n);
        if pages == 0 {
            assert!(
                data[0].starts_with(
                    "\"001000000000001AAA\",\"Literal Account\",\"2024-01-01T00:00:00.000Z\""
                ),
                "{}",
                data[0]
            );
        }
        rows += n;
        pages += 1;
        if next == "null" {
            break;
        }
        locator = next;
    }
    assert_eq!((rows, pages), (4456, 3));
    // Delete, then it is gone.
    let r = emu
        .http
        .delete(emu.url(&format!("/services/data/v66.0/jobs/query/{id}")))
        .bearer_auth(&t)
        .send()
        .await
        .expect("del");
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(
        emu.get(&format!("/services/data/v66.0/jobs/query/{id}"), &t)
            .await
            .status()
            .as_u16(),
        404
    );
    // Invalid SOQL is refused at creation.
    let r = emu
        .http
        .post(emu.url("/services/data/v66.0/jobs/query"))
        .bearer_auth(&t)
        .json(&json!({"operation": "query", "query": "SELECT Nope FROM Account"}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        r.json::<Value>().await.expect("json")[0]["errorCode"],
        "INVALID_FIELD"
    );
}

#[tokio::test]
async fn bulk_abort_and_failed() {
    let emu = spawn(&seed("production", "", "  bulk_job_delay_ms: 60000"));
    let t = emu.login().await;
    let create = |op: &'static str| {
        emu.http.post(emu.url("/services/data/v66.0/jobs/query")).bearer_auth(&t)
            .json(&json!({"operation": op, "query": "SELECT Id FROM Contact", "columnDelimiter": "PIPE", "lineEnding": "CRLF"})).send()
    };
    let job: Value = create("queryAll")
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let id = job["id"].as_str().expect("id").to_string();
    assert_eq!(job["columnDelimiter"], "PIPE");
    let r = emu
        .http
        .patch(emu.url(&format!("/services/data/v66.0/jobs/query/{id}")))
        .bearer_auth(&t)
        .json(&json!({"state": "Aborted"}))
        .send()
        .await
        .expect("abort");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<Value>().await.expect("json")["state"], "Aborted");
    let (s, list) = emu.get_json("/services/data/v66.0/jobs/query", &t).await;
    assert_eq!(s, 200);
    assert_eq!(list["records"].as_array().map(Vec::len), Some(1));
    // Failed jobs (knob).
    emu.admin(
        reqwest::Method::PATCH,
        "/__admin/settings",
        Some(json!({"bulk_jobs_fail": true, "bulk_job_delay_ms": 0})),
    )
    .await;
    let job: Value = create("query")
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let id = job["id"].as_str().expect("id").to_string();
    let v = wait_state(&emu, &t, &id, "Failed").await;
    assert!(v["errorMessage"].is_string());
}

#[tokio::test]
async fn admin_certificate_upload() {
    let emu = standard();
    let k = keys_b();
    let put = |key: &str, body: String| {
        emu.http
            .put(emu.url(&format!("/__admin/apps/{key}/certificate")))
            .body(body)
            .send()
    };
    let r = put(NOCERT, k.cert_pem.clone()).await.expect("put");
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.expect("json");
    let want = sha2::Sha256::digest(&k.cert_der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    assert_eq!(
        v,
        json!({"consumer_key": NOCERT, "certificate_sha256": want})
    );
    // Idempotent.
    let v2: Value = put(NOCERT, k.cert_pem.clone())
        .await
        .expect("put")
        .json()
        .await
        .expect("json");
    assert_eq!(v2, v);
    // Now the app signs in with key B.
    let a = assertion_with(
        &json!({"alg":"RS256"}),
        &claims(NOCERT, USER, "https://login.salesforce.com"),
        &k.key_pem,
    );
    assert_eq!(emu.grant(&a).await.0, 200);
    // Unknown app → 404 JSON; bad PEM → 400 JSON.
    let r = put("3MVGnope", k.cert_pem.clone()).await.expect("put");
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(r.json::<Value>().await.expect("json")["error"], "not_found");
    let r = put(NOCERT, "not a certificate".into()).await.expect("put");
    assert_eq!(r.status().as_u16(), 400);
    // It created nothing else.
    let (_, apps) = emu.admin(reqwest::Method::GET, "/__admin/apps", None).await;
    assert_eq!(apps.as_array().map(Vec::len), Some(6));
}

#[tokio::test]
async fn admin_patch_app_and_user() {
    let emu = standard();
    let login = "https://login.salesforce.com";
    let (s, _) = emu
        .admin(
            reqwest::Method::PATCH,
            &format!("/__admin/apps/{ECA}"),
            Some(json!({"installed": false})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        emu.grant(&assertion(ECA, USER, login)).await.1["error"],
        "app_not_found"
    );
    emu.admin(
        reqwest::Method::PATCH,
        &format!("/__admin/apps/{ECA}"),
        Some(json!({"installed": true, "preauthorized_profiles": []})),
    )
    .await;
    assert_eq!(
        emu.grant(&assertion(ECA, USER, login)).await.1["error_description"],
        "user hasn't approved this consumer"
    );
    emu.admin(
        reqwest::Method::PATCH,
        &format!("/__admin/apps/{ECA}"),
        Some(json!({"preauthorized_profiles": ["Integration Profile"]})),
    )
    .await;
    assert_eq!(emu.grant(&assertion(ECA, USER, login)).await.0, 200);
    let (s, v) = emu
        .admin(
            reqwest::Method::PATCH,
            &format!("/__admin/apps/{ECA}"),
            Some(json!({"nonsense": 1})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    let (s, _) = emu
        .admin(
            reqwest::Method::PATCH,
            "/__admin/apps/3MVGnope",
            Some(json!({"installed": true})),
        )
        .await;
    assert_eq!(s, 404);
    // Users.
    emu.admin(
        reqwest::Method::PATCH,
        "/__admin/users/unapproved@test.example",
        Some(json!({"profile": "Integration Profile"})),
    )
    .await;
    assert_eq!(
        emu.grant(&assertion(ECA, "unapproved@test.example", login))
            .await
            .0,
        200
    );
    emu.admin(
        reqwest::Method::PATCH,
        "/__admin/users/iprestricted@test.example",
        Some(json!({"login_ip_ranges": ["127.0.0.1"]})),
    )
    .await;
    assert_eq!(
        emu.grant(&assertion(ECA, "iprestricted@test.example", login))
            .await
            .0,
        200
    );
    let (s, _) = emu
        .admin(
            reqwest::Method::POST,
            "/__admin/users",
            Some(json!({"username": "new@test.example", "profile": "Integration Profile"})),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(
        emu.grant(&assertion(ECA, "new@test.example", login))
            .await
            .0,
        200
    );
    let (s, _) = emu
        .admin(
            reqwest::Method::PATCH,
            "/__admin/users/nobody@test.example",
            Some(json!({"active": true})),
        )
        .await;
    assert_eq!(s, 404);
    let (s, st) = emu
        .admin(reqwest::Method::GET, "/__admin/state", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(st["org"]["id"], "00D000000000001EAA");
}

#[tokio::test]
async fn request_log_has_claims_but_no_secrets() {
    let emu = standard();
    let a = assertion(ECA, USER, "https://login.salesforce.com");
    let (_, tok) = emu.grant(&a).await;
    let t = tok["access_token"].as_str().expect("t").to_string();
    emu.grant(&assertion(
        ECA,
        "unapproved@test.example",
        "https://login.salesforce.com",
    ))
    .await;
    emu.get(&q("SELECT Id FROM Account LIMIT 1"), &t).await;
    emu.get(
        &format!("/id/00D000000000001EAA/005000000000001AAA?oauth_token={t}"),
        "",
    )
    .await;
    let r = emu
        .http
        .get(emu.url("/__admin/requests"))
        .send()
        .await
        .expect("log");
    let text = r.text().await.expect("text");
    assert!(!text.contains(&t), "token leaked into the log");
    assert!(!text.contains(&a), "assertion leaked into the log");
    assert!(
        !text.contains(a.split('.').nth(2).unwrap_or("x")),
        "signature leaked into the log"
    );
    let log: Value = serde_json::from_str(&text).expect("json");
    let entries = log.as_array().expect("array");
    let tokens: Vec<&Value> = entries
        .iter()
        .filter(|e| e["path"] == "/services/oauth2/token")
        .collect();
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0]["status"], 200);
    assert_eq!(tokens[0]["claims"]["sub"], USER);
    assert_eq!(tokens[0]["claims"]["iss"], ECA);
    assert_eq!(tokens[0]["jwt_header"]["alg"], "RS256");
    assert_eq!(tokens[1]["status"], 400);
    assert_eq!(tokens[1]["error"], "invalid_grant");
    assert_eq!(
        tokens[1]["error_description"],
        "user hasn't approved this consumer"
    );
    let query = entries
        .iter()
        .find(|e| e["endpoint"] == "/services/data/{v}/query")
        .expect("query entry");
    assert_eq!(query["soql"], "SELECT Id FROM Account LIMIT 1");
    assert_eq!(query["status"], 200);
    let ident = entries
        .iter()
        .find(|e| e["endpoint"] == "/id/{org}/{user}")
        .expect("identity entry");
    assert_eq!(ident["query"], "oauth_token=<redacted>");
    // since= filter.
    let last = entries.last().and_then(|e| e["seq"].as_u64()).unwrap_or(0);
    let (_, v) = emu
        .admin(
            reqwest::Method::GET,
            &format!("/__admin/requests?since={last}"),
            None,
        )
        .await;
    assert_eq!(v.as_array().map(Vec::len), Some(0));
}

//! The instance side: versions, resources, query paging, SOQL subset and errors, sessions, limits,
//! userinfo / identity, revoke, Sforce-Limit-Info.

mod common;
use common::*;
use serde_json::{Value, json};
use std::collections::HashSet;

#[tokio::test]
async fn versions_and_resources() {
    let emu = standard();
    let r = emu
        .http
        .get(emu.url("/services/data"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers().contains_key("sforce-limit-info"));
    let v: Value = r.json().await.expect("json");
    let arr = v.as_array().expect("array");
    assert_eq!(
        arr[0],
        json!({"label": "Summer '14", "url": "/services/data/v31.0", "version": "31.0"})
    );
    assert!(
        arr.iter().any(|x| x
            == &json!({"label": "Spring '26", "url": "/services/data/v66.0", "version": "66.0"}))
    );
    let (s, _) = emu.get_json("/services/data/", "").await;
    assert_eq!(s, 200);
    let t = emu.login().await;
    let (s, v) = emu.get_json("/services/data/v66.0/", &t).await;
    assert_eq!(s, 200);
    assert_eq!(v["query"], "/services/data/v66.0/query");
    assert_eq!(v["limits"], "/services/data/v66.0/limits");
    let (s, v) = emu.get_json("/services/data/v99.0/", &t).await;
    assert_eq!(
        (s, v),
        (
            404,
            json!([{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}])
        )
    );
}

#[tokio::test]
async fn bad_tokens_get_the_401_array() {
    let emu = standard();
    let want =
        json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]);
    for path in [
        "/services/data/v66.0/",
        "/services/data/v66.0/query?q=SELECT+Id+FROM+Account",
        "/services/data/v66.0/limits",
        "/services/data/v66.0/jobs/query",
    ] {
        for token in ["", "garbage", "00D000000000001!AQforged"] {
            let r = emu.get(path, token).await;
            assert_eq!(r.status().as_u16(), 401, "{path} {token}");
            assert_eq!(
                r.headers()["content-type"],
                "application/json;charset=UTF-8"
            );
            assert!(r.headers().contains_key("sforce-limit-info"));
            assert_eq!(r.json::<Value>().await.expect("json"), want);
        }
    }
    // userinfo and the identity URL answer 403 instead.
    let r = emu.get("/services/oauth2/userinfo", "garbage").await;
    assert_eq!(r.status().as_u16(), 403);
    let r = emu
        .get("/id/00D000000000001EAA/005000000000001AAA", "garbage")
        .await;
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test]
async fn paging_through_4500_accounts() {
    let emu = standard();
    let t = emu.login().await;
    let (s, v) = emu
        .get_json(&q("SELECT Id, Name, SystemModstamp FROM Account"), &t)
        .await;
    assert_eq!(s, 200, "{v}");
    // 4,501 records less every 100th generated one (deleted).
    assert_eq!(v["totalSize"], 4456);
    assert_eq!(v["done"], false);
    let mut ids = HashSet::new();
    let mut pages = 1;
    let mut page = v;
    loop {
        let recs = page["records"].as_array().expect("records");
        for r in recs {
            assert_eq!(r["attributes"]["type"], "Account");
            let id = r["Id"].as_str().expect("id").to_string();
            assert_eq!(
                r["attributes"]["url"],
                format!("/services/data/v66.0/sobjects/Account/{id}")
            );
            assert_eq!(id.len(), 18);
            ids.insert(id);
        }
        if page["done"] == true {
            assert!(page.get("nextRecordsUrl").is_none());
            break;
        }
        assert_eq!(recs.len(), 2000);
        let next = page["nextRecordsUrl"].as_str().expect("next").to_string();
        assert!(next.starts_with("/services/data/v66.0/query/01g"), "{next}");
        let (s, p) = emu.get_json(&next, &t).await;
        assert_eq!(s, 200, "{p}");
        page = p;
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(ids.len(), 4456);
    // First record's field order and formats.
    let (_, v) = emu.get_json(&q("SELECT Name, Id, SystemModstamp, AnnualRevenue, IsPartner, NumberOfEmployees FROM Account WHERE Id = '001000000000001'"), &t).await;
    let rec = &v["records"][0];
    assert_eq!(rec.as_object().map(|o| o.len()), Some(7));
    assert_eq!(rec["Name"], "Literal Account");
    assert_eq!(rec["SystemModstamp"], "2024-01-01T00:00:00.000+0000");
    assert_eq!(v["totalSize"], 1);
    assert_eq!(v["done"], true);
}

#[tokio::test]
async fn raw_record_json_keeps_select_order() {
    let emu = standard();
    let t = emu.login().await;
    let r = emu
        .get(
            &q("SELECT Name, Id FROM Account WHERE Name = 'Account 00001'"),
            &t,
        )
        .await;
    let text = r.text().await.expect("text");
    assert!(text.starts_with("{\"totalSize\":1,\"done\":true,\"records\":[{\"attributes\":{\"type\":\"Account\",\"url\":\"/services/data/v66.0/sobjects/Account/"), "{text}");
    assert!(
        text.contains("\"Name\":\"Account 00001\",\"Id\":\"001Em"),
        "{text}"
    );
}

#[tokio::test]
async fn batch_size_trailing_slash_query_all() {
    let emu = standard();
    let t = emu.login().await;
    let r = emu
        .http
        .get(emu.url(&q("SELECT Id FROM Contact").replace("/query?", "/query/?")))
        .bearer_auth(&t)
        .header("Sforce-Query-Options", "batchSize=500")
        .send()
        .await
        .expect("get");
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["totalSize"], 2500);
    assert_eq!(v["records"].as_array().map(Vec::len), Some(500));
    // jsforce-style: the locator as the last path segment of /query/<locator>.
    let next = v["nextRecordsUrl"].as_str().expect("next");
    assert!(next.ends_with("-500"), "{next}");
    let (s, v2) = emu.get_json(next, &t).await;
    assert_eq!(s, 200);
    assert_eq!(v2["records"].as_array().map(Vec::len), Some(500));
    // Out-of-range batch sizes are clamped to 200..2000.
    let r = emu
        .http
        .get(emu.url(&q("SELECT Id FROM Contact")))
        .bearer_auth(&t)
        .header("Sforce-Query-Options", "batchSize=50")
        .send()
        .await
        .expect("get");
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["records"].as_array().map(Vec::len), Some(200));
    // queryAll includes deleted records, /queryAll/ too.
    let (_, v) = emu
        .get_json(
            &q("SELECT Id FROM Account").replace("/query?", "/queryAll?"),
            &t,
        )
        .await;
    assert_eq!(v["totalSize"], 4501);
    let (_, v) = emu
        .get_json(
            &q("SELECT Id FROM Account WHERE IsDeleted = true").replace("/query?", "/queryAll/?"),
            &t,
        )
        .await;
    assert_eq!(v["totalSize"], 45);
    // Bad locator.
    let (s, v) = emu
        .get_json("/services/data/v66.0/query/01gnope-2000", &t)
        .await;
    assert_eq!(
        (s, v[0]["errorCode"].clone()),
        (400, json!("INVALID_QUERY_LOCATOR"))
    );
}

#[tokio::test]
async fn soql_where_order_limit() {
    let emu = standard();
    let t = emu.login().await;
    let count = |v: &Value| v["totalSize"].as_i64().unwrap_or(-1);
    // SystemModstamp: 2025-12-31T00:00Z + (n-1) min. > 2026-01-01T00:00:00Z → n-1 > 1440.
    let (s, v) = emu.get_json(&q("SELECT Id, SystemModstamp FROM Account WHERE SystemModstamp > 2026-01-01T00:00:00Z"), &t).await;
    assert_eq!(s, 200, "{v}");
    let expected = (1441..4500).filter(|i| (i + 1) % 100 != 0).count() as i64;
    assert_eq!(count(&v), expected);
    let (_, v) = emu.get_json(&q("SELECT Id FROM Account WHERE SystemModstamp >= 2026-01-01T00:00:00.000+0000 AND SystemModstamp < 2026-01-01T01:00:00Z"), &t).await;
    assert_eq!(count(&v), 60 - 1); // n = 1441..1500, minus n=1500 (deleted)
    let (_, v) = emu
        .get_json(
            &q("SELECT Id, Name FROM Account ORDER BY SystemModstamp DESC LIMIT 3"),
            &t,
        )
        .await;
    let names: Vec<_> = v["records"]
        .as_array()
        .expect("r")
        .iter()
        .map(|r| r["Name"].clone())
        .collect();
    assert_eq!(
        names,
        vec![
            json!("Account 04499"),
            json!("Account 04498"),
            json!("Account 04497")
        ]
    );
    assert_eq!(count(&v), 3);
    let (_, v) = emu.get_json(&q("SELECT Id, Name FROM Account WHERE Industry = 'banking' AND NumberOfEmployees >= 100 ORDER BY Name LIMIT 5"), &t).await;
    let recs = v["records"].as_array().expect("r");
    assert_eq!(recs.len(), 5);
    let names: Vec<String> = recs
        .iter()
        .map(|r| r["Name"].as_str().unwrap_or("").to_string())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    // Id comparisons, 15-character ids, IN, LIKE, OR, NOT, dates.
    let (_, first) = emu
        .get_json(&q("SELECT Id FROM Contact ORDER BY Id LIMIT 10"), &t)
        .await;
    let tenth = first["records"][9]["Id"].as_str().expect("id").to_string();
    let (_, v) = emu
        .get_json(
            &q(&format!(
                "SELECT Id FROM Contact WHERE Id > '{}'",
                &tenth[..15]
            )),
            &t,
        )
        .await;
    assert_eq!(count(&v), 2490);
    let (_, v) = emu
        .get_json(
            &q("SELECT Id FROM Contact WHERE LastName IN ('Contact00001', 'Contact00002', 'nope')"),
            &t,
        )
        .await;
    assert_eq!(count(&v), 2);
    let (_, v) = emu
        .get_json(
            &q("SELECT Id FROM Contact WHERE LastName LIKE 'contact0001%'"),
            &t,
        )
        .await;
    assert_eq!(count(&v), 10);
    let (_, v) = emu.get_json(&q("SELECT Id FROM Contact WHERE (LastName = 'Contact00001' OR LastName = 'Contact00003') AND NOT LastName = 'Contact00003'"), &t).await;
    assert_eq!(count(&v), 1);
    let (_, v) = emu
        .get_json(
            &q("SELECT Id, Birthdate FROM Contact WHERE Birthdate < 1980-01-11"),
            &t,
        )
        .await;
    assert_eq!(count(&v), 10);
    assert_eq!(v["records"][0]["Birthdate"], "1980-01-01");
    let (_, v) = emu.get_json(&q("SELECT Id FROM Contact LIMIT 0"), &t).await;
    assert_eq!((count(&v), v["done"].clone()), (0, json!(true)));
    let (_, v) = emu
        .get_json(&q("SELECT Name, IsSandbox FROM Organization"), &t)
        .await;
    assert_eq!(v["records"][0]["IsSandbox"], false);
    let (_, v) = emu
        .get_json(
            &q("SELECT Id, Username FROM User WHERE IsActive = true"),
            &t,
        )
        .await;
    assert_eq!(count(&v), 5);
}

#[tokio::test]
async fn soql_errors_in_salesforce_shape() {
    let emu = standard();
    let t = emu.login().await;
    let hint_f = "If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.";
    let hint_o = "If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.";
    let cases: Vec<(&str, &str, String)> = vec![
        ("SELECT Id, Foo FROM Account", "INVALID_FIELD", format!("\nSELECT Id, Foo FROM Account\n           ^\nERROR at Row:1:Column:12\nNo such column 'Foo' on entity 'Account'. {hint_f}")),
        ("SELECT Id FROM Account WHERE Bar = 1", "INVALID_FIELD", format!("\nSELECT Id FROM Account WHERE Bar = 1\n                             ^\nERROR at Row:1:Column:30\nNo such column 'Bar' on entity 'Account'. {hint_f}")),
        ("SELECT Id FROM ScratchOrgInfo limit 1", "INVALID_TYPE", format!("\nSELECT Id FROM ScratchOrgInfo limit 1\n               ^\nERROR at Row:1:Column:16\nsObject type 'ScratchOrgInfo' is not supported. {hint_o}")),
        ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY", "\nSELECT Id FROM Account WHERE\n                            ^\nERROR at Row:1:Column:29\nunexpected token: <EOF>".into()),
        ("SELECT Id FROM Account LIMT 5", "MALFORMED_QUERY", "\nSELECT Id FROM Account LIMT 5\n                       ^\nERROR at Row:1:Column:24\nunexpected token: LIMT".into()),
        ("SELECT Id, FROM Account", "MALFORMED_QUERY", "\nSELECT Id, FROM Account\n           ^\nERROR at Row:1:Column:12\nunexpected token: FROM".into()),
        ("SELECT Id FROM Account WHERE SystemModstamp > '2026-01-01'", "INVALID_FIELD", "\nSELECT Id FROM Account WHERE SystemModstamp > '2026-01-01'\n                                              ^\nERROR at Row:1:Column:47\nvalue of filter criterion for field 'SystemModstamp' must be of type dateTime and should not be enclosed in quotes".into()),
        ("SELECT Id FROM Account WHERE Name = 5", "INVALID_FIELD", "\nSELECT Id FROM Account WHERE Name = 5\n                                    ^\nERROR at Row:1:Column:37\nvalue of filter criterion for field 'Name' must be of type string and should be enclosed in quotes".into()),
    ];
    for (soql, code, message) in cases {
        let r = emu.get(&q(soql), &t).await;
        assert_eq!(r.status().as_u16(), 400, "{soql}");
        assert_eq!(
            r.headers()["content-type"],
            "application/json;charset=UTF-8"
        );
        let v: Value = r.json().await.expect("json");
        assert_eq!(
            v,
            json!([{"message": message, "errorCode": code}]),
            "{soql}"
        );
    }
    let (s, v) = emu.get_json("/services/data/v66.0/query", &t).await;
    assert_eq!(
        (s, v[0]["errorCode"].clone()),
        (400, json!("MALFORMED_QUERY"))
    );
}

#[tokio::test]
async fn sessions_timeout_revoke_and_expire() {
    let emu = standard();
    let t = emu.login().await;
    assert_eq!(emu.get_json("/services/data/v66.0/limits", &t).await.0, 200);
    // Inactivity timeout (3600 s in the test seed).
    emu.admin(
        reqwest::Method::POST,
        "/__admin/clock/advance",
        Some(json!({"seconds": 3601})),
    )
    .await;
    let (s, v) = emu.get_json("/services/data/v66.0/limits", &t).await;
    assert_eq!(
        (s, v[0]["errorCode"].clone()),
        (401, json!("INVALID_SESSION_ID"))
    );
    emu.admin(
        reqwest::Method::POST,
        "/__admin/clock/advance",
        Some(json!({"seconds": -3601})),
    )
    .await;
    // Revocation.
    let t = emu.login().await;
    assert_eq!(
        emu.get("/services/oauth2/userinfo", &t)
            .await
            .status()
            .as_u16(),
        200
    );
    let r = emu
        .http
        .post(emu.url("/services/oauth2/revoke"))
        .form(&[("token", t.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(emu.get_json(&q("SELECT Id FROM Account"), &t).await.0, 401);
    assert_eq!(
        emu.get("/services/oauth2/userinfo", &t)
            .await
            .status()
            .as_u16(),
        403
    );
    let r = emu
        .http
        .post(emu.url("/services/oauth2/revoke"))
        .form(&[("token", t.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({"error": "invalid_token", "error_description": "Token was invalid"})
    );
    // Admin: expire every session.
    let t = emu.login().await;
    let (s, v) = emu
        .admin(reqwest::Method::POST, "/__admin/sessions/expire", None)
        .await;
    assert_eq!(s, 200);
    assert!(v["expired"].as_i64().unwrap_or(0) >= 1);
    assert_eq!(emu.get_json("/services/data/v66.0/", &t).await.0, 401);
    // Deactivating the user ends their sessions.
    let t = emu.login().await;
    emu.admin(
        reqwest::Method::PATCH,
        &format!("/__admin/users/{USER}"),
        Some(json!({"active": false})),
    )
    .await;
    assert_eq!(emu.get_json("/services/data/v66.0/", &t).await.0, 401);
    assert_eq!(
        emu.grant(&assertion(ECA, USER, "https://login.salesforce.com"))
            .await
            .1["error_description"],
        "inactive user"
    );
}

#[tokio::test]
async fn userinfo_and_identity() {
    let emu = standard();
    let (_, tok) = emu
        .grant(&assertion(ECA, USER, "https://login.salesforce.com"))
        .await;
    let t = tok["access_token"].as_str().expect("t");
    let (s, v) = emu.get_json("/services/oauth2/userinfo", t).await;
    assert_eq!(s, 200);
    assert_eq!(v["preferred_username"], USER);
    assert_eq!(v["user_id"], "005000000000001AAA");
    assert_eq!(v["organization_id"], "00D000000000001EAA");
    assert_eq!(v["sub"], tok["id"]);
    let id_url = tok["id"].as_str().expect("id");
    let r = emu
        .http
        .get(format!("{id_url}?format=json&oauth_token={t}"))
        .send()
        .await
        .expect("id");
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["username"], USER);
    assert_eq!(v["id"], id_url);
    let r = emu
        .http
        .get(id_url)
        .bearer_auth(t)
        .send()
        .await
        .expect("id");
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn limits_and_request_limit_exceeded() {
    let emu = spawn(&seed("production", "", "  daily_api_request_limit: 5"));
    let t = emu.login().await;
    let r = emu.get("/services/data/v66.0/limits", &t).await;
    assert_eq!(r.headers()["sforce-limit-info"], "api-usage=1/5");
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["DailyApiRequests"], json!({"Max": 5, "Remaining": 4}));
    for _ in 0..4 {
        assert_eq!(emu.get_json("/services/data/v66.0/", &t).await.0, 200);
    }
    let r = emu.get(&q("SELECT Id FROM Account"), &t).await;
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(r.headers()["sforce-limit-info"], "api-usage=5/5");
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    );
    // A bad token is still a 401, and the token endpoint is not limited.
    assert_eq!(emu.get_json("/services/data/v66.0/", "bad").await.0, 401);
    assert_eq!(
        emu.grant(&assertion(ECA, USER, "https://login.salesforce.com"))
            .await
            .0,
        200
    );
    emu.admin(reqwest::Method::POST, "/__admin/limits/reset", None)
        .await;
    assert_eq!(emu.get_json("/services/data/v66.0/", &t).await.0, 200);
}

#[tokio::test]
async fn count_queries_answer_only_the_total() {
    let emu = standard();
    let t = emu.login().await;
    for filter in ["", "+WHERE+Name+LIKE+'%25001%25'"] {
        let (_, all) = emu
            .get_json(
                &format!("/services/data/v66.0/query?q=SELECT+Id+FROM+Account{filter}"),
                &t,
            )
            .await;
        let (s, v) = emu
            .get_json(
                &format!("/services/data/v66.0/query?q=SELECT+COUNT()+FROM+Account{filter}"),
                &t,
            )
            .await;
        assert_eq!(
            (s, v),
            (
                200,
                json!({"totalSize": all["totalSize"], "done": true, "records": []})
            )
        );
    }
    let (s, v) = emu
        .get_json(
            "/services/data/v66.0/query?q=SELECT+COUNT(),+Id+FROM+Account",
            &t,
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v[0]["errorCode"], "MALFORMED_QUERY");
    let r = emu
        .http
        .post(emu.url("/services/data/v66.0/jobs/query"))
        .bearer_auth(&t)
        .json(&json!({"operation": "query", "query": "SELECT COUNT() FROM Account"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 400);
}

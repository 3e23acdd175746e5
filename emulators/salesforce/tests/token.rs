//! The token endpoint: every error row of the reference's section 3 with exact strings, the check
//! order of section 9, and every acceptance rule.

mod common;
use common::*;
use serde_json::{Value, json};

struct Case {
    name: &'static str,
    form: Vec<(String, String)>,
    error: &'static str,
    description: &'static str,
}

fn form(assertion: String) -> Vec<(String, String)> {
    vec![
        ("grant_type".into(), GRANT.into()),
        ("assertion".into(), assertion),
    ]
}

fn with(iss: &str, sub: &str, aud: &str, f: impl FnOnce(&mut Value)) -> Vec<(String, String)> {
    let mut c = claims(iss, sub, aud);
    f(&mut c);
    form(assertion_with(
        &json!({"alg": "RS256"}),
        &c,
        &keys_a().key_pem,
    ))
}

const LOGIN: &str = "https://login.salesforce.com";

fn error_cases() -> Vec<Case> {
    let hs256 = {
        let key = jsonwebtoken::EncodingKey::from_secret(b"secret").expect("hmac key");
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims(ECA, USER, LOGIN),
            &key,
        )
        .expect("hs256")
    };
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        b64(claims(ECA, USER, LOGIN).to_string().as_bytes())
    );
    let wrong_key = assertion_with(
        &json!({"alg":"RS256"}),
        &claims(ECA, USER, LOGIN),
        &keys_b().key_pem,
    );
    let tampered = {
        let good = assertion(ECA, USER, LOGIN);
        let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
        parts[1] = b64(claims(ECA, "unapproved@test.example", LOGIN)
            .to_string()
            .as_bytes());
        parts.join(".")
    };
    vec![
        Case {
            name: "wrong grant_type",
            form: vec![
                ("grant_type".into(), "password".into()),
                ("assertion".into(), assertion(ECA, USER, LOGIN)),
            ],
            error: "unsupported_grant_type",
            description: "grant type not supported",
        },
        Case {
            name: "no grant_type",
            form: vec![("assertion".into(), assertion(ECA, USER, LOGIN))],
            error: "unsupported_grant_type",
            description: "grant type not supported",
        },
        Case {
            name: "no assertion",
            form: vec![("grant_type".into(), GRANT.into())],
            error: "invalid_grant",
            description: "invalid assertion",
        },
        Case {
            name: "private key pasted as assertion",
            form: form(keys_a().key_pem.clone()),
            error: "invalid_grant",
            description: "invalid assertion",
        },
        Case {
            name: "two segments",
            form: form("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0".into()),
            error: "invalid_grant",
            description: "invalid assertion",
        },
        Case {
            name: "not base64 json",
            form: form("abc.def.ghi".into()),
            error: "invalid_grant",
            description: "invalid assertion",
        },
        Case {
            name: "unsigned (alg none)",
            form: form(unsigned),
            error: "invalid_grant",
            description: "invalid assertion",
        },
        Case {
            name: "HS256",
            form: form(hs256),
            error: "invalid_client",
            description: "invalid client credentials",
        },
        Case {
            name: "unknown iss",
            form: with("3MVGunknown", USER, LOGIN, |_| {}),
            error: "invalid_client_id",
            description: "client identifier invalid",
        },
        Case {
            name: "missing iss",
            form: with(ECA, USER, LOGIN, |c| {
                c.as_object_mut().map(|m| m.remove("iss"));
            }),
            error: "invalid_client_id",
            description: "client identifier invalid",
        },
        Case {
            name: "ECA not installed",
            form: with(NOTINST, USER, LOGIN, |_| {}),
            error: "app_not_found",
            description: "External client app is not installed in this org",
        },
        Case {
            name: "connected app not in org",
            form: with(CA_NOTINST, USER, LOGIN, |_| {}),
            error: "invalid_client_id",
            description: "client identifier invalid",
        },
        Case {
            name: "sandbox aud on production",
            form: with(ECA, USER, "https://test.salesforce.com", |_| {}),
            error: "invalid_grant",
            description: "audience is invalid",
        },
        Case {
            name: "foreign aud",
            form: with(ECA, USER, "https://other.my.salesforce.com", |_| {}),
            error: "invalid_grant",
            description: "audience is invalid",
        },
        Case {
            name: "aud with two slashes",
            form: with(ECA, USER, "https://login.salesforce.com//", |_| {}),
            error: "invalid_grant",
            description: "audience is invalid",
        },
        Case {
            name: "missing aud",
            form: with(ECA, USER, LOGIN, |c| {
                c.as_object_mut().map(|m| m.remove("aud"));
            }),
            error: "invalid_grant",
            description: "audience is invalid",
        },
        Case {
            name: "signed with another key",
            form: form(wrong_key),
            error: "invalid_grant",
            description: "invalid assertion",
        },
        Case {
            name: "claims changed after signing",
            form: form(tampered),
            error: "invalid_grant",
            description: "invalid assertion",
        },
        Case {
            name: "app without certificate",
            form: with(NOCERT, USER, LOGIN, |_| {}),
            error: "invalid_grant",
            description: "invalid assertion",
        },
        Case {
            name: "exp passed",
            form: with(ECA, USER, LOGIN, |c| c["exp"] = json!(now() - 10)),
            error: "invalid_grant",
            description: "expired authorization code",
        },
        Case {
            name: "exp passed as string",
            form: with(ECA, USER, LOGIN, |c| {
                c["exp"] = json!((now() - 10).to_string())
            }),
            error: "invalid_grant",
            description: "expired authorization code",
        },
        Case {
            name: "exp not a number",
            form: with(ECA, USER, LOGIN, |c| c["exp"] = json!("tomorrow")),
            error: "invalid_grant",
            description: "invalid assertion",
        },
        Case {
            name: "missing exp",
            form: with(ECA, USER, LOGIN, |c| {
                c.as_object_mut().map(|m| m.remove("exp"));
            }),
            error: "invalid_grant",
            description: "invalid assertion",
        },
        Case {
            name: "unknown user",
            form: with(ECA, "nobody@test.example", LOGIN, |_| {}),
            error: "invalid_grant",
            description: "inactive user",
        },
        Case {
            name: "no sub",
            form: with(ECA, USER, LOGIN, |c| {
                c.as_object_mut().map(|m| m.remove("sub"));
            }),
            error: "invalid_grant",
            description: "inactive user",
        },
        Case {
            name: "inactive user",
            form: with(ECA, "inactive@test.example", LOGIN, |_| {}),
            error: "invalid_grant",
            description: "inactive user",
        },
        Case {
            name: "ip restricted",
            form: with(ECA, "iprestricted@test.example", LOGIN, |_| {}),
            error: "invalid_grant",
            description: "ip restricted",
        },
        Case {
            name: "profile not pre-authorized",
            form: with(ECA, "unapproved@test.example", LOGIN, |_| {}),
            error: "invalid_grant",
            description: "user hasn't approved this consumer",
        },
        Case {
            name: "self-authorize app, never approved",
            form: with(SELF, USER, LOGIN, |_| {}),
            error: "invalid_grant",
            description: "user hasn't approved this consumer",
        },
        // Check order: the earlier check wins when several fail.
        Case {
            name: "order: grant type before assertion",
            form: vec![
                ("grant_type".into(), "x".into()),
                ("assertion".into(), "junk".into()),
            ],
            error: "unsupported_grant_type",
            description: "grant type not supported",
        },
        Case {
            name: "order: iss before aud",
            form: with("3MVGunknown", USER, "https://x.example", |_| {}),
            error: "invalid_client_id",
            description: "client identifier invalid",
        },
        Case {
            name: "order: installed before aud",
            form: with(NOTINST, USER, "https://x.example", |_| {}),
            error: "app_not_found",
            description: "External client app is not installed in this org",
        },
        Case {
            name: "order: aud before signature",
            form: form(assertion_with(
                &json!({"alg":"RS256"}),
                &claims(ECA, USER, "https://x.example"),
                &keys_b().key_pem,
            )),
            error: "invalid_grant",
            description: "audience is invalid",
        },
        Case {
            name: "order: signature before exp",
            form: form(assertion_with(
                &json!({"alg":"RS256"}),
                &json!({"iss": ECA, "sub": USER, "aud": LOGIN, "exp": now() - 100}),
                &keys_b().key_pem,
            )),
            error: "invalid_grant",
            description: "invalid assertion",
        },
        Case {
            name: "order: exp before user",
            form: with(ECA, "inactive@test.example", LOGIN, |c| {
                c["exp"] = json!(now() - 100)
            }),
            error: "invalid_grant",
            description: "expired authorization code",
        },
        Case {
            name: "order: user before ip",
            form: with(ECA, "nobody@test.example", LOGIN, |_| {}),
            error: "invalid_grant",
            description: "inactive user",
        },
        Case {
            name: "order: prn (inactive) wins over sub (ok)",
            form: with(ECA, USER, LOGIN, |c| {
                c["prn"] = json!("inactive@test.example")
            }),
            error: "invalid_grant",
            description: "inactive user",
        },
    ]
}

#[tokio::test]
async fn every_error_row_with_exact_strings_and_order() {
    let emu = standard();
    let mut failures = Vec::new();
    for case in error_cases() {
        let r = emu
            .http
            .post(emu.url("/services/oauth2/token"))
            .form(&case.form)
            .send()
            .await
            .expect("post");
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let cc = r
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = r.text().await.unwrap_or_default();
        let want = format!(
            "{{\"error\":\"{}\",\"error_description\":\"{}\"}}",
            case.error, case.description
        );
        if status != 400
            || body != want
            || ct != "application/json;charset=UTF-8"
            || cc != "no-cache,must-revalidate,max-age=0,no-store,private"
        {
            failures.push(format!(
                "{}: got {status} {body} ({ct}; {cc}), want 400 {want}",
                case.name
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[tokio::test]
async fn invalid_app_access_under_api_access_control() {
    let emu = spawn(&seed("production", "  api_access_control: true", ""));
    // Self-authorized app, the user approved it, but the app is not assigned to the user.
    let (s, v) = emu
        .grant(&assertion(
            SELF,
            "selfapproved@test.example",
            "https://login.salesforce.com",
        ))
        .await;
    assert_eq!(
        (s, v),
        (
            400,
            json!({"error":"invalid_app_access","error_description":"user is not admin approved to access this app"})
        )
    );
    // The pre-authorized user still gets in.
    let (s, _) = emu
        .grant(&assertion(ECA, USER, "https://login.salesforce.com"))
        .await;
    assert_eq!(s, 200);
    // And approval still comes first.
    let (_, v) = emu
        .grant(&assertion(
            ECA,
            "unapproved@test.example",
            "https://login.salesforce.com",
        ))
        .await;
    assert_eq!(v["error_description"], "user hasn't approved this consumer");
}

fn token_re_ok(t: &str) -> bool {
    // sfdx-core: /(00D\w{12,15})![.\w]*/
    let Some((org, rest)) = t.split_once('!') else {
        return false;
    };
    org.starts_with("00D")
        && (15..=18).contains(&org.len())
        && org.chars().all(|c| c.is_ascii_alphanumeric())
        && !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
}

#[tokio::test]
async fn success_body_is_salesforces() {
    let emu = standard();
    let r = emu
        .token_form(&[
            ("grant_type", GRANT),
            (
                "assertion",
                &assertion(ECA, USER, "https://login.salesforce.com"),
            ),
        ])
        .await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/json;charset=UTF-8"
    );
    assert!(r.headers().contains_key("sforce-limit-info"));
    let text = r.text().await.expect("body");
    let v: Value = serde_json::from_str(&text).expect("json");
    let keys: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["access_token", "id", "instance_url", "scope", "token_type"]
    );
    assert!(text.starts_with("{\"access_token\":"), "{text}");
    assert!(token_re_ok(v["access_token"].as_str().unwrap_or("")), "{v}");
    assert!(
        v["access_token"]
            .as_str()
            .unwrap_or("")
            .starts_with("00D000000000001!")
    );
    assert_eq!(v["instance_url"], emu.base.as_str());
    assert_eq!(
        v["id"],
        format!("{}/id/00D000000000001EAA/005000000000001AAA", emu.base)
    );
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["scope"], "api refresh_token offline_access");
    // Connected apps work the same way; scope follows the app.
    let (s, v) = emu
        .grant(&assertion(CA, USER, "https://login.salesforce.com"))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["scope"], "api web");
    // Two logins, two different tokens.
    let (a, b) = (emu.login().await, emu.login().await);
    assert_ne!(a, b);
}

#[tokio::test]
async fn acceptance_rules() {
    let emu = standard();
    let base = emu.base.clone();
    let key = &keys_a().key_pem;
    let rs = json!({"alg": "RS256"});
    let mut cases: Vec<(&str, String)> = vec![
        ("sub", assertion(ECA, USER, LOGIN)),
        (
            "prn instead of sub",
            assertion_with(
                &rs,
                &json!({"iss": ECA, "prn": USER, "aud": LOGIN, "exp": now() + 60}),
                key,
            ),
        ),
        (
            "prn wins over sub",
            assertion_with(
                &rs,
                &json!({"iss": ECA, "prn": USER, "sub": "nobody@test.example", "aud": LOGIN, "exp": now() + 60}),
                key,
            ),
        ),
        (
            "exp as digit string",
            assertion_with(
                &rs,
                &json!({"iss": ECA, "sub": USER, "aud": LOGIN, "exp": (now() + 60).to_string()}),
                key,
            ),
        ),
        (
            "exp in milliseconds (sfdx-core)",
            assertion_with(
                &rs,
                &json!({"iss": ECA, "sub": USER, "aud": LOGIN, "exp": now() * 1000 + 300}),
                key,
            ),
        ),
        (
            "exp far future",
            assertion_with(
                &rs,
                &json!({"iss": ECA, "sub": USER, "aud": LOGIN, "exp": now() + 10 * 365 * 86400}),
                key,
            ),
        ),
        (
            "typ and kid headers",
            assertion_with(
                &json!({"alg": "RS256", "typ": "JWT", "kid": "whatever"}),
                &claims(ECA, USER, LOGIN),
                key,
            ),
        ),
        (
            "extra claims iat nbf jti scope",
            assertion_with(
                &rs,
                &json!({"iss": ECA, "sub": USER, "aud": LOGIN, "exp": now() + 60, "iat": now(), "nbf": now() - 5, "jti": "abc", "scope": "api", "custom": {"x": 1}}),
                key,
            ),
        ),
        (
            "username case-insensitive",
            assertion(ECA, "INTEGRATION@test.example", LOGIN),
        ),
        (
            "aud login with trailing slash",
            assertion(ECA, USER, "https://login.salesforce.com/"),
        ),
        ("aud My Domain", assertion(ECA, USER, MY_DOMAIN)),
        (
            "aud My Domain with slash",
            assertion(ECA, USER, &format!("{MY_DOMAIN}/")),
        ),
        ("aud emulator base URL", assertion(ECA, USER, &base)),
        (
            "aud emulator base URL with slash",
            assertion(ECA, USER, &format!("{base}/")),
        ),
        (
            "aud as array",
            assertion_with(
                &rs,
                &json!({"iss": ECA, "sub": USER, "aud": ["https://x.example", LOGIN], "exp": now() + 60}),
                key,
            ),
        ),
        (
            "permission-set pre-authorization",
            assertion(ECA, "permset@test.example", LOGIN),
        ),
        (
            "self-authorized app, approved user",
            assertion(SELF, "selfapproved@test.example", LOGIN),
        ),
        ("connected app", assertion(CA, USER, LOGIN)),
    ];
    // Padded base64url segments, as in Salesforce's own worked example.
    let c = json!({"iss": ECA, "prn": USER, "aud": LOGIN, "exp": (now() + 120).to_string(), "pad": "x"});
    let mut h_seg = b64_padded(br#"{"alg":"RS256"}"#);
    let mut c_seg = b64_padded(c.to_string().as_bytes());
    // Make sure the padding is really there.
    let mut extra = String::new();
    while !h_seg.ends_with('=') {
        extra.push(' ');
        h_seg = b64_padded(format!("{{\"alg\":\"RS256\"{extra}}}").as_bytes());
    }
    let mut pad = String::from("x");
    while !c_seg.ends_with('=') {
        pad.push('x');
        c_seg = b64_padded(json!({"iss": ECA, "prn": USER, "aud": LOGIN, "exp": (now() + 120).to_string(), "pad": pad}).to_string().as_bytes());
    }
    cases.push(("padded base64url", sign_raw(&h_seg, &c_seg, key)));
    let mut failures = Vec::new();
    for (name, a) in cases {
        let (s, v) = emu.grant(&a).await;
        if s != 200 {
            failures.push(format!("{name}: {s} {v}"));
        }
    }
    // Parameters in the query string are accepted too.
    let a = assertion(ECA, USER, LOGIN);
    let url = format!(
        "{}/services/oauth2/token?grant_type={}&assertion={a}",
        emu.base,
        form_urlencoded_byte_serialize(GRANT)
    );
    let r = emu.http.post(url).send().await.expect("post");
    if r.status().as_u16() != 200 {
        failures.push(format!("query string: {}", r.status()));
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[tokio::test]
async fn sandbox_org_audiences() {
    let emu = spawn(&seed("sandbox", "", ""));
    let ok = [
        "https://test.salesforce.com",
        "https://test.salesforce.com/",
        MY_DOMAIN,
        &emu.base.clone(),
    ];
    for aud in ok {
        let (s, v) = emu.grant(&assertion(ECA, USER, aud)).await;
        assert_eq!(s, 200, "{aud}: {v}");
    }
    let (s, v) = emu
        .grant(&assertion(ECA, USER, "https://login.salesforce.com"))
        .await;
    assert_eq!(
        (s, v),
        (
            400,
            json!({"error":"invalid_grant","error_description":"audience is invalid"})
        )
    );
}

#[tokio::test]
async fn knob_max_exp_lifetime_and_clock_skew() {
    let emu = spawn(&seed(
        "production",
        "",
        "  max_exp_lifetime_seconds: 300\n  clock_skew_seconds: 60",
    ));
    let key = &keys_a().key_pem;
    let rs = json!({"alg": "RS256"});
    let mk = |exp: i64| {
        assertion_with(
            &rs,
            &json!({"iss": ECA, "sub": USER, "aud": LOGIN, "exp": exp}),
            key,
        )
    };
    assert_eq!(emu.grant(&mk(now() + 200)).await.0, 200);
    let (s, v) = emu.grant(&mk(now() + 3600)).await;
    assert_eq!(
        (s, v["error_description"].clone()),
        (400, json!("expired authorization code"))
    );
    let (s, v) = emu.grant(&mk(now() * 1000)).await;
    assert_eq!((s, v["error"].clone()), (400, json!("invalid_grant")));
    // 30 s in the past is inside the 60 s skew; 120 s is not.
    assert_eq!(emu.grant(&mk(now() - 30)).await.0, 200);
    assert_eq!(
        emu.grant(&mk(now() - 120)).await.1["error_description"],
        "expired authorization code"
    );
}

#[tokio::test]
async fn knob_reject_reused_jti() {
    let emu = spawn(&seed("production", "", "  reject_reused_jti: true"));
    let key = &keys_a().key_pem;
    let a = assertion_with(
        &json!({"alg":"RS256"}),
        &json!({"iss": ECA, "sub": USER, "aud": LOGIN, "exp": now() + 60, "jti": "once"}),
        key,
    );
    assert_eq!(emu.grant(&a).await.0, 200);
    assert_eq!(
        emu.grant(&a).await.1,
        json!({"error":"invalid_grant","error_description":"invalid assertion"})
    );
    // Off by default: the same assertion twice works.
    let emu = standard();
    let a = assertion_with(
        &json!({"alg":"RS256"}),
        &json!({"iss": ECA, "sub": USER, "aud": LOGIN, "exp": now() + 60, "jti": "once"}),
        key,
    );
    assert_eq!(emu.grant(&a).await.0, 200);
    assert_eq!(emu.grant(&a).await.0, 200);
}

#[tokio::test]
async fn knob_expired_certificates() {
    let emu = standard();
    let expired = &keys_expired();
    let (s, _) = emu
        .admin(
            reqwest::Method::PATCH,
            &format!("/__admin/apps/{NOCERT}"),
            Some(json!({"certificate": expired.cert_pem})),
        )
        .await;
    assert_eq!(s, 200);
    let a = assertion_with(
        &json!({"alg":"RS256"}),
        &claims(NOCERT, USER, LOGIN),
        &expired.key_pem,
    );
    // Accepted by default (Salesforce keeps expired certificates working)...
    assert_eq!(emu.grant(&a).await.0, 200);
    // ...and refused once the knob is on.
    let (s, _) = emu
        .admin(
            reqwest::Method::PATCH,
            "/__admin/settings",
            Some(json!({"reject_expired_certificates": true})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        emu.grant(&a).await.1,
        json!({"error":"invalid_grant","error_description":"invalid assertion"})
    );
}

#[tokio::test]
async fn knob_propagation_delay() {
    let emu = spawn(&seed("production", "", "  propagation_delay_seconds: 600"));
    // Seeded apps are already propagated.
    assert_eq!(emu.grant(&assertion(ECA, USER, LOGIN)).await.0, 200);
    let (s, v) = emu
        .admin(reqwest::Method::POST, "/__admin/apps", Some(json!({"certificate": keys_a().cert_pem, "preauthorized_profiles": ["Integration Profile"]})))
        .await;
    assert_eq!(s, 201, "{v}");
    let key = v["consumer_key"].as_str().expect("key").to_string();
    assert!(key.starts_with("3MVG") && key.len() > 80, "{key}");
    assert_eq!(v["propagating"], true);
    let (s, v) = emu.grant(&assertion(&key, USER, LOGIN)).await;
    assert_eq!(
        (s, v),
        (
            400,
            json!({"error":"invalid_client_id","error_description":"client identifier invalid"})
        )
    );
    let (s, _) = emu
        .admin(
            reqwest::Method::POST,
            "/__admin/clock/advance",
            Some(json!({"seconds": 601})),
        )
        .await;
    assert_eq!(s, 200);
    // (The emulator's clock is now 601 s ahead: give the assertion a longer exp.)
    let long = assertion_with(
        &json!({"alg":"RS256"}),
        &json!({"iss": key, "sub": USER, "aud": LOGIN, "exp": now() + 3600}),
        &keys_a().key_pem,
    );
    assert_eq!(emu.grant(&long).await.0, 200);
    // A certificate change starts the delay again.
    let (s, _) = emu
        .http
        .put(emu.url(&format!("/__admin/apps/{key}/certificate")))
        .body(keys_b().cert_pem.clone())
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .expect("put");
    assert_eq!(s, 200);
    let b = assertion_with(
        &json!({"alg":"RS256"}),
        &json!({"iss": key, "sub": USER, "aud": LOGIN, "exp": now() + 3600}),
        &keys_b().key_pem,
    );
    assert_eq!(emu.grant(&b).await.1["error"], "invalid_client_id");
}

//! The Salesforce side: the JWT bearer token exchange, one REST call, and what each error means.
//!
//! [`Salesforce`] is the narrow trait the verify step uses; [`HttpSalesforce`] implements it with
//! reqwest (rustls on aws-lc-rs). Every request has a timeout and a bounded body. Access tokens
//! are [`Sensitive`] and never leave this module except to be sent back to Salesforce.

// Used only inside this crate with a concrete type; see the note in `aws`.
#![allow(async_fn_in_trait)]

use crate::call_log::{Answer, CallLog};
use crate::error::{Failure, Result};
use crate::secret::Sensitive;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Bodies larger than this are refused: a token response is under 2 KB.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A successful token response. `access_token` redacts itself.
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    pub access_token: Sensitive,
    pub instance_url: String,
    pub id: String,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub token_type: String,
}

impl TokenResponse {
    /// Org and user ids: the last two segments of the identity URL in `id`.
    pub fn org_and_user(&self) -> (String, String) {
        let mut parts = self.id.trim_end_matches('/').rsplit('/');
        let user = parts.next().unwrap_or("").to_string();
        let org = parts.next().unwrap_or("").to_string();
        (org, user)
    }
}

/// The facts verify reports. No token in here.
#[derive(Debug, Clone, Serialize)]
pub struct SignInProof {
    pub org_id: String,
    pub user_id: String,
    pub instance_url: String,
    pub scopes: Vec<String>,
    pub token_ms: u128,
    pub api_ms: u128,
}

pub trait Salesforce {
    async fn exchange(&self, token_url: &str, assertion: &Sensitive) -> Result<TokenResponse>;
    /// GETs `url` with the token; Ok when Salesforce answers 2xx.
    async fn get_authenticated(&self, url: &str, token: &Sensitive) -> Result<()>;
}

pub struct HttpSalesforce {
    client: reqwest::Client,
    calls: CallLog,
}

impl HttpSalesforce {
    /// A client whose every request ends after `timeout` (connect included); with `calls` on,
    /// each request writes a line (`-v`).
    pub fn new(timeout: Duration, calls: CallLog) -> Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("sfglue/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                Failure::runtime("http.client", format!("cannot build the HTTP client: {e}"))
            })?;
        Ok(HttpSalesforce { client, calls })
    }

    /// Sends `request` (a `method` to `url`), logs the call, and names `url` when nothing answers.
    async fn send(
        &self,
        method: &str,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let started = std::time::Instant::now();
        let sent = request.send().await;
        let answer = match &sent {
            Ok(resp) => Answer::Status(resp.status().as_u16()),
            Err(_) => Answer::None,
        };
        self.calls.record(
            "salesforce",
            &format!("{method} {url}"),
            answer,
            started.elapsed(),
        );
        sent.map_err(|e| unreachable(url, &e))
    }
}

/// Reads a body up to [`MAX_BODY_BYTES`].
async fn bounded_body(mut resp: reqwest::Response, what: &str) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| Failure::runtime("salesforce.read", format!("reading {what} failed: {e}")))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(Failure::runtime(
                "salesforce.body_too_large",
                format!(
                    "{what} is larger than {MAX_BODY_BYTES} bytes; this is not a Salesforce answer"
                ),
            )
            .with_fix(
                "check login_url: a proxy or another server may be answering in Salesforce's place",
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn unreachable(url: &str, e: &reqwest::Error) -> Failure {
    let why = if e.is_timeout() {
        "it did not answer in time".to_string()
    } else if e.is_connect() {
        "the connection failed".to_string()
    } else {
        e.to_string()
    };
    Failure::runtime(
        "salesforce.unreachable",
        format!("cannot reach {url}: {why}"),
    )
    .with_fix("check salesforce.login_url and the network path (proxy, VPC egress) to Salesforce")
}

impl Salesforce for HttpSalesforce {
    async fn exchange(&self, token_url: &str, assertion: &Sensitive) -> Result<TokenResponse> {
        let request = self
            .client
            .post(token_url)
            .header("Accept", "application/json")
            .form(&[
                ("grant_type", JWT_BEARER_GRANT),
                ("assertion", assertion.expose()),
            ]);
        let resp = self.send("POST", token_url, request).await?;
        let status = resp.status();
        let body = bounded_body(resp, "the token response").await?;
        if status.is_success() {
            let parsed: std::result::Result<TokenResponse, _> = serde_json::from_slice(&body);
            return parsed.map_err(|_| {
                Failure::runtime(
                    "salesforce.bad_token_response",
                    format!("{token_url} answered {status} without a usable access_token"),
                )
                .with_fix(
                    "check login_url: it must be a Salesforce login host, not a proxy or web page",
                )
            });
        }
        #[derive(Deserialize)]
        struct OAuthError {
            error: String,
            #[serde(default)]
            error_description: String,
        }
        match serde_json::from_slice::<OAuthError>(&body) {
            Ok(e) => Err(diagnose_token_error(
                &e.error,
                &e.error_description,
                status.as_u16(),
            )),
            Err(_) => Err(Failure::runtime(
                "salesforce.non_json",
                format!(
                    "{token_url} answered {status} with a body that is not Salesforce's JSON ({})",
                    describe_body(&body)
                ),
            )
            .with_fix("check login_url, and any proxy between this machine and Salesforce")),
        }
    }

    async fn get_authenticated(&self, url: &str, token: &Sensitive) -> Result<()> {
        let request = self
            .client
            .get(url)
            .bearer_auth(token.expose())
            .header("Accept", "application/json");
        let resp = self.send("GET", url, request).await?;
        let status = resp.status();
        let body = bounded_body(resp, "the REST response").await?;
        if status.is_success() {
            return Ok(());
        }
        #[derive(Deserialize)]
        struct RestError {
            #[serde(rename = "errorCode", default)]
            error_code: String,
            #[serde(default)]
            message: String,
        }
        let detail = serde_json::from_slice::<Vec<RestError>>(&body)
            .ok()
            .and_then(|v| v.into_iter().next())
            .map(|e| format!("{}: {}", e.error_code, e.message))
            .unwrap_or_else(|| describe_body(&body));
        let mut f = Failure::runtime(
            "salesforce.api_refused",
            format!("the sign-in worked, but the REST API refused {url} with {status}: {detail}"),
        );
        if status.as_u16() == 401 {
            f = f.with_fix("the user may lack the API Enabled permission, or the session is locked to another IP: check the user's profile and the app's IP relaxation");
        } else if status.as_u16() == 403 {
            f = f
                .with_fix("the org's API request limit may be spent, or the user lacks API access");
        }
        Err(f)
    }
}

/// A short, safe description of a body that is not what we expected.
fn describe_body(body: &[u8]) -> String {
    if body.is_empty() {
        return "an empty body".to_string();
    }
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim_start();
    if trimmed.starts_with('<') {
        return format!("an HTML or XML page of {} bytes", body.len());
    }
    let first: String = trimmed
        .chars()
        .take(80)
        .filter(|c| !c.is_control())
        .collect();
    format!("{} bytes starting {first:?}", body.len())
}

/// Turns a Salesforce token error into the fix. Unknown errors are shown as Salesforce sent them.
pub fn diagnose_token_error(error: &str, description: &str, status: u16) -> Failure {
    let shown = format!("Salesforce refused the sign-in: {error}: {description}");
    let fix = match (error, description) {
        ("invalid_grant", "user hasn't approved this consumer") => Some(
            "the integration user is not pre-authorized for the app: in the app's policies set Permitted Users to \"Admin approved users are pre-authorized\" and add the user's profile or a permission set the user has".to_string(),
        ),
        ("invalid_grant", d) if d.starts_with("audience is invalid") => Some(
            "the JWT audience does not fit the org: use https://test.salesforce.com for a sandbox and https://login.salesforce.com for production (set salesforce.audience, or fix salesforce.login_url)".to_string(),
        ),
        ("invalid_client_id", _) => Some(
            "Salesforce does not know this consumer key: check salesforce.consumer_key against the app's Consumer Key and the org (a production key does not work in a sandbox); a new or edited app can take 2 to 10 minutes to propagate, so wait and run `sfglue verify` again".to_string(),
        ),
        ("invalid_grant", "invalid assertion") => Some(
            "the certificate on the Salesforce app is not this key's: upload the certificate sfglue wrote (compare its SHA-256 fingerprint with the one shown above) to the app's JWT bearer settings".to_string(),
        ),
        ("invalid_grant", "expired authorization code") => Some(
            "the assertion had expired when Salesforce read it: check this machine's clock (run an NTP sync); sfglue signs assertions valid for 3 minutes".to_string(),
        ),
        ("invalid_grant", "inactive user") => Some(
            "the integration user is deactivated or frozen: reactivate the user in Setup, or set salesforce.username to an active user".to_string(),
        ),
        ("invalid_grant", "ip restricted") => Some(
            "this machine's IP is outside the user's Login IP Ranges: relax IP restrictions in the app's policies, or add the range to the profile".to_string(),
        ),
        ("app_not_found", _) => Some(
            "the External Client App is not installed in this org (created in another org, or a refreshed sandbox): install or create it in this org, or sign in through the org's My Domain URL".to_string(),
        ),
        ("invalid_app_access", _) => Some(
            "the user is not admin-approved for this app: add the user's profile or permission set to the app's pre-authorized list".to_string(),
        ),
        ("unsupported_grant_type", _) => Some(
            "the endpoint did not accept the JWT bearer grant: check that salesforce.login_url is a Salesforce login host".to_string(),
        ),
        _ => None,
    };
    let code = format!("salesforce.{error}");
    let f = Failure::runtime(code, format!("{shown} (HTTP {status})"));
    match fix {
        Some(fix) => f.with_fix(fix),
        None => f,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_error_gets_a_fix() {
        for (e, d, needle) in [
            (
                "invalid_grant",
                "user hasn't approved this consumer",
                "pre-authorized",
            ),
            ("invalid_grant", "audience is invalid", "sandbox"),
            (
                "invalid_client_id",
                "client identifier invalid",
                "propagate",
            ),
            ("invalid_grant", "invalid assertion", "fingerprint"),
            ("invalid_grant", "expired authorization code", "clock"),
            (
                "app_not_found",
                "External client app is not installed in this org",
                "installed",
            ),
        ] {
            let f = diagnose_token_error(e, d, 400);
            assert!(f.message.contains(d), "{}", f.message);
            assert!(
                f.fix.as_deref().unwrap_or("").contains(needle),
                "{e} {d}: {:?}",
                f.fix
            );
        }
        let unknown = diagnose_token_error("weird", "something new", 400);
        assert!(unknown.fix.is_none());
        assert!(unknown.message.contains("weird: something new"));
    }

    #[test]
    fn identity_url_gives_org_and_user() {
        let t: TokenResponse = serde_json::from_str(
            r#"{"access_token":"00Dx!abc","instance_url":"https://x.my.salesforce.com","id":"https://login.salesforce.com/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS","scope":"api","token_type":"Bearer"}"#,
        )
        .unwrap();
        assert_eq!(
            t.org_and_user(),
            ("00Dxx0000001gPLEAY".into(), "005xx000001SwiUAAS".into())
        );
        assert!(!format!("{t:?}").contains("00Dx!abc"));
    }

    #[test]
    fn odd_bodies_are_described_not_dumped() {
        assert_eq!(describe_body(b""), "an empty body");
        assert!(describe_body(b"<html><body>proxy</body></html>").starts_with("an HTML"));
    }
}

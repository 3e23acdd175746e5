//! The token-response side of the JWT exchange: the success body (`TokenResponse`, as
//! `HttpSalesforce::exchange` parses it with serde_json), the org/user split of its `id`, and
//! `diagnose_token_error` on any error code, description and status.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sfglue::salesforce::{TokenResponse, diagnose_token_error};

fuzz_target!(|data: &[u8]| {
    if let Ok(resp) = serde_json::from_slice::<TokenResponse>(data) {
        let (_org, _user) = resp.org_and_user();
        // The token redacts itself in Debug output.
        let _ = format!("{resp:?}");
    }
    // An error body: {"error": ..., "error_description": ...}. Also feed the raw text, split at
    // the first NUL, with a status from the first two bytes.
    #[derive(serde::Deserialize)]
    struct OAuthError {
        error: String,
        #[serde(default)]
        error_description: String,
    }
    let status = match data {
        [a, b, ..] => u16::from_le_bytes([*a, *b]),
        _ => 400,
    };
    if let Ok(e) = serde_json::from_slice::<OAuthError>(data) {
        let f = diagnose_token_error(&e.error, &e.error_description, status);
        let _ = f.to_string();
    }
    let text = String::from_utf8_lossy(data);
    let (error, description) = text.split_once('\0').unwrap_or((&text, ""));
    let f = diagnose_token_error(error, description, status);
    let _ = f.to_string();
});

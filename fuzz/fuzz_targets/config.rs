//! The config loader: `config::parse(text, path, env)` on any text, with no environment and
//! with the two environment names the corpus uses. It must answer Ok or a Failure, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sfglue::config;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    // The loader reads files as UTF-8 (read_to_string); other bytes never reach parse.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz/sfglue.yaml");
    for env in [None, Some("dev"), Some("prod")] {
        if let Ok(cfg) = config::parse(text, path, env) {
            // What the commands derive from a valid config must not panic either.
            let _ = cfg.salesforce.token_url();
            let _ = cfg.glue.trigger_name();
            let _ = cfg.glue.script.uri();
            let _ = config::derive_audience(&cfg.salesforce.login_url);
        }
    }
});

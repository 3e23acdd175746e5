//! The `sfglue` binary: parse the command line, run one command, print, exit with its code.

use clap::Parser;
use serde_json::{Value, json};
use sfglue::aws::sdk::Aws;
use sfglue::cli::{Cli, Command};
use sfglue::error::{Failure, Result};
use sfglue::report::{OutputMode, Reporter};
use sfglue::salesforce::HttpSalesforce;
use sfglue::{apply, config, crypto, verify};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    crypto::install_provider();
    let rep = Reporter::new(cli.output, cli.verbosity());
    let command = command_name(&cli.command);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let (result, failure) = runtime.block_on(run(&cli, &rep));
    finish(&rep, command, result, failure)
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Init { .. } => "init",
        Command::Apply => "apply",
        Command::Verify { .. } => "verify",
    }
}

/// Runs the command; returns its JSON result (if any) and its failure (if any). Both can be set:
/// apply reports what it did even when it then waits for Salesforce or verify fails.
async fn run(cli: &Cli, rep: &Reporter) -> (Option<Value>, Option<Failure>) {
    match &cli.command {
        Command::Init { path } => match init(path, rep) {
            Ok(v) => (Some(v), None),
            Err(f) => (None, Some(f)),
        },
        Command::Apply => {
            let (config, aws, sf) = match connect(cli).await {
                Ok(x) => x,
                Err(f) => return (None, Some(f)),
            };
            match apply::run(&config, &aws, &sf, rep).await {
                Ok(report) => (Some(to_json(&report)), None),
                Err((f, report)) => (report.map(|r| to_json(&r)), Some(f)),
            }
        }
        Command::Verify { run_job } => {
            let (config, aws, sf) = match connect(cli).await {
                Ok(x) => x,
                Err(f) => return (None, Some(f)),
            };
            match verify::run(&config, &aws, &sf, rep, *run_job).await {
                Ok(report) => (Some(to_json(&report)), None),
                Err(f) => (None, Some(f)),
            }
        }
    }
}

async fn connect(cli: &Cli) -> Result<(config::Config, Aws, HttpSalesforce)> {
    let config = config::load(&cli.config)?;
    let aws = Aws::connect(&config.aws).await?;
    let sf = HttpSalesforce::new()?;
    Ok((config, aws, sf))
}

fn init(path: &std::path::Path, rep: &Reporter) -> Result<Value> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Failure::config(
                    "init.exists",
                    format!(
                        "{} already exists; sfglue init does not overwrite files",
                        path.display()
                    ),
                )
                .with_fix("choose another file with --path, or edit the existing config")
            } else {
                Failure::runtime(
                    "init.write",
                    format!("cannot create {}: {e}", path.display()),
                )
            }
        })?;
    file.write_all(config::STARTER.as_bytes()).map_err(|e| {
        Failure::runtime(
            "init.write",
            format!("cannot write {}: {e}", path.display()),
        )
    })?;
    rep.result("config", format!("written    {}", path.display()));
    rep.progress(
        "Edit it (name, Salesforce login URL and user, buckets, queries), then run `sfglue apply`.",
    );
    Ok(json!({"config": path.display().to_string()}))
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn finish(
    rep: &Reporter,
    command: &str,
    result: Option<Value>,
    failure: Option<Failure>,
) -> ExitCode {
    let code = failure.as_ref().map(|f| f.class.code()).unwrap_or(0);
    match rep.mode {
        OutputMode::Json => {
            let doc = json!({
                "command": command,
                "ok": failure.is_none(),
                "exit_code": code,
                "result": result,
                "error": failure.as_ref().map(|f| json!({
                    "class": f.class.name(),
                    "code": f.code,
                    "message": f.message,
                    "fix": f.fix,
                })),
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        OutputMode::Text => {
            if let Some(f) = &failure {
                let label = if f.class == sfglue::error::ExitClass::WaitingForSalesforce {
                    "waiting"
                } else {
                    "error"
                };
                eprintln!("{label}: {}", f.message);
                if let Some(fix) = &f.fix {
                    eprintln!("  fix: {fix}");
                }
            }
        }
    }
    ExitCode::from(code as u8)
}

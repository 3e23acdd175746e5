//! The `sfglue` binary: parse the command line, run one command, print, exit with its code.

use clap::{CommandFactory, Parser};
use serde_json::{Value, json};
use sfglue::apply::{self, ApplyOptions};
use sfglue::aws::SecretStore;
use sfglue::aws::sdk::Aws;
use sfglue::call_log::CallLog;
use sfglue::cli::{CertAction, Cli, Command, RotateStep, StatusArgs};
use sfglue::destroy::{self, DestroyOptions};
use sfglue::error::{ExitClass, Failure, Result};
use sfglue::report::{OutputMode, Reporter};
use sfglue::salesforce::HttpSalesforce;
use sfglue::{cert, config, crypto, instructions_command, plan, policy, rotate, verify};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    crypto::install_provider();
    let rep = Reporter::new(cli.output, cli.verbosity()).with_color(cli.color);
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

/// A command line clap refuses: clap's own text on stderr, or, when `--output json` was asked
/// for, the usual JSON document on stdout. Help and version requests print as usual.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    let args: Vec<String> = std::env::args().collect();
    let json = args
        .windows(2)
        .any(|w| w[0] == "--output" && w[1] == "json")
        || args.iter().any(|a| a == "--output=json");
    if !json {
        e.exit();
    }
    let message = e
        .to_string()
        .lines()
        .next()
        .unwrap_or("")
        .trim_start_matches("error: ")
        .to_string();
    let doc = json!({
        "schema": "sfglue.output/v1",
        "command": "usage",
        "ok": false,
        "exit_code": 2,
        "result": null,
        "error": {"class": "config", "code": "usage", "message": message, "fix": "see `sfglue --help`"},
    });
    println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    ExitCode::from(2)
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Init { .. } => "init",
        Command::Plan { .. } => "plan",
        Command::Apply { .. } => "apply",
        Command::Verify { .. } => "verify",
        Command::Instructions { .. } => "instructions",
        Command::Destroy { .. } => "destroy",
        Command::Policy => "policy",
        Command::Completions { .. } => "completions",
        Command::Man => "man",
        Command::Status(_)
        | Command::Rotate {
            step: RotateStep::Status(_),
        } => "status",
        Command::Rotate { step } => match step {
            RotateStep::Start => "rotate start",
            RotateStep::Finish => "rotate finish",
            RotateStep::Rollback => "rotate rollback",
            RotateStep::Cancel => "rotate cancel",
            RotateStep::Status(_) => "status",
        },
        Command::Cert {
            action: CertAction::Import { .. },
        } => "cert import",
        Command::Cert {
            action: CertAction::Generate { .. },
        } => "cert generate",
    }
}

type Outcome = (Option<Value>, Option<Failure>);

fn outcome<T: serde::Serialize>(r: Result<T>) -> Outcome {
    match r {
        Ok(v) => (Some(to_json(&v)), None),
        Err(f) => (None, Some(f)),
    }
}

/// Runs the command; returns its JSON result (if any) and its failure (if any). Both can be set:
/// apply reports what it did even when it then waits for Salesforce or verify fails.
async fn run(cli: &Cli, rep: &Reporter) -> Outcome {
    match &cli.command {
        // `init` writes where --config (or SFGLUE_CONFIG) points unless --path says otherwise,
        // so that the next command finds the file.
        Command::Init { path } => outcome(init(path.as_ref().unwrap_or(&cli.config), rep)),
        Command::Completions { shell } => {
            // Rendered into memory first: clap_complete panics when stdout closes early
            // (`| head`); a closed pipe here is the reader's choice, not an error.
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "sfglue", &mut script);
            use std::io::Write;
            let _ = std::io::stdout().write_all(&script);
            (None, None)
        }
        Command::Man => {
            let man = clap_mangen::Man::new(Cli::command());
            match man.render(&mut std::io::stdout()) {
                Ok(()) => (None, None),
                Err(e) => (
                    None,
                    Some(Failure::runtime(
                        "man",
                        format!("cannot write the man page: {e}"),
                    )),
                ),
            }
        }
        Command::Plan {
            detailed_exitcode,
            all_envs,
            adopt,
        } => plan_command(cli, rep, *detailed_exitcode, *all_envs, *adopt).await,
        Command::Apply { yes, adopt } => {
            let (config, aws, sf) = match connect(cli).await {
                Ok(x) => x,
                Err(f) => return (None, Some(f)),
            };
            let opts = ApplyOptions {
                yes: *yes,
                adopt: *adopt,
            };
            match apply::run(&config, &aws, &sf, rep, opts).await {
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
                Ok(report) => {
                    let failure = verify::job_run_failure(&config, &report);
                    (Some(to_json(&report)), failure)
                }
                Err(f) => (None, Some(f)),
            }
        }
        Command::Instructions { metadata } => {
            let (config, aws, _) = match connect(cli).await {
                Ok(x) => x,
                Err(f) => return (None, Some(f)),
            };
            outcome(instructions_command::run(&config, &aws, rep, metadata.as_deref()).await)
        }
        Command::Destroy {
            yes,
            force_delete_secret,
            purge_buckets,
        } => {
            let (config, aws, _) = match connect(cli).await {
                Ok(x) => x,
                Err(f) => return (None, Some(f)),
            };
            let opts = DestroyOptions {
                yes: *yes,
                force_delete_secret: *force_delete_secret,
                purge_buckets: *purge_buckets,
            };
            outcome(destroy::run(&config, &aws, rep, opts).await)
        }
        Command::Policy => {
            let (config, aws, _) = match connect(cli).await {
                Ok(x) => x,
                Err(f) => return (None, Some(f)),
            };
            outcome(policy_command(&config, &aws, rep).await)
        }
        Command::Status(args)
        | Command::Rotate {
            step: RotateStep::Status(args),
        } => status(cli, rep, args).await,
        Command::Rotate { step } => {
            let (config, aws, sf) = match connect(cli).await {
                Ok(x) => x,
                Err(f) => return (None, Some(f)),
            };
            let result = match step {
                RotateStep::Start => rotate::start(&config, &aws, rep, None).await,
                RotateStep::Finish => rotate::finish(&config, &aws, &sf, rep).await,
                RotateStep::Rollback => rotate::rollback(&config, &aws, rep).await,
                RotateStep::Cancel => rotate::cancel(&config, &aws, rep).await,
                RotateStep::Status(_) => unreachable_status(),
            };
            match result {
                Ok(report) => (Some(to_json(&report)), None),
                Err(f) => (None, Some(f)),
            }
        }
        Command::Cert {
            action: CertAction::Import { key, cert: crt },
        } => {
            let (config, aws, _sf) = match connect(cli).await {
                Ok(x) => x,
                Err(f) => return (None, Some(f)),
            };
            match cert::import(&config, &aws, rep, key, crt).await {
                Ok(report) => (Some(to_json(&report)), None),
                Err(f) => (None, Some(f)),
            }
        }
        Command::Cert {
            action:
                CertAction::Generate {
                    out,
                    common_name,
                    bits,
                    days,
                },
        } => match cert::generate(out, common_name, *bits, *days, rep) {
            Ok(report) => (Some(to_json(&report)), None),
            Err(f) => (None, Some(f)),
        },
    }
}

/// `rotate status` is routed to [`status`] before this match; reaching here is a bug.
fn unreachable_status() -> Result<rotate::RotateReport> {
    Err(Failure::runtime(
        "cli.routing",
        "internal: status was not routed",
    ))
}

async fn status(cli: &Cli, rep: &Reporter, args: &StatusArgs) -> (Option<Value>, Option<Failure>) {
    let (config, aws, sf) = match connect(cli).await {
        Ok(x) => x,
        Err(f) => return (None, Some(f)),
    };
    match rotate::status(&config, &aws, &sf, rep, !args.no_sign_in, args.fail_within).await {
        Ok(report) => (Some(to_json(&report)), None),
        Err((f, report)) => (report.map(|r| to_json(&r)), Some(f)),
    }
}

async fn plan_command(
    cli: &Cli,
    rep: &Reporter,
    detailed: bool,
    all_envs: bool,
    adopt: bool,
) -> Outcome {
    let configs = if all_envs {
        config::load_all(&cli.config)
    } else {
        config::load(&cli.config, cli.env.as_deref()).map(|c| vec![c])
    };
    let configs = match configs {
        Ok(c) => c,
        Err(f) => return (None, Some(f)),
    };
    let mut reports = Vec::new();
    let mut pending = false;
    for config in &configs {
        let aws = match Aws::connect(&config.aws, call_log(cli)).await {
            Ok(a) => a,
            Err(f) => return (None, Some(f)),
        };
        if configs.len() > 1 {
            rep.result_raw(&format!(
                "environment {}",
                config.env.as_deref().unwrap_or("")
            ));
        }
        match apply::run_plan(config, &aws, rep, adopt).await {
            Ok(r) => {
                pending |= r.has_changes || r.conflicts > 0;
                reports.push(r);
            }
            Err(f) => return (Some(to_json(&reports)), Some(f)),
        }
    }
    let result = if all_envs {
        json!({ "environments": reports })
    } else {
        reports.pop().map(|r| to_json(&r)).unwrap_or(Value::Null)
    };
    let failure = (detailed && pending).then(|| {
        Failure::new(
            ExitClass::ChangesPending,
            "plan.changes_pending",
            "the plan has changes to apply",
        )
    });
    (Some(result), failure)
}

async fn policy_command(config: &config::Config, aws: &Aws, rep: &Reporter) -> Result<Value> {
    use sfglue::aws::Identity;
    let id = aws.caller().await?;
    let secret_arn = match aws.describe_secret(&config.secret.name).await? {
        Some(meta) => meta.arn,
        // Before the first apply the ARN's random suffix is unknown; IAM's `?` matches one
        // character, so this pattern names exactly this secret.
        None => format!(
            "arn:{}:secretsmanager:{}:{}:secret:{}-??????",
            policy::partition_of(&id.arn),
            id.region,
            id.account,
            config.secret.name
        ),
    };
    let trust = policy::trust_policy();
    let inline = plan::desired_policy(config, &id, &secret_arn);
    rep.result_raw(&format!("# trust policy of role {}", config.glue.role_name));
    rep.result_raw(&serde_json::to_string_pretty(&trust).unwrap_or_default());
    rep.result_raw(&format!("# inline policy {}", policy::INLINE_POLICY_NAME));
    rep.result_raw(&serde_json::to_string_pretty(&inline).unwrap_or_default());
    Ok(json!({
        "role": config.glue.role_name,
        "trust_policy": trust,
        "inline_policy_name": policy::INLINE_POLICY_NAME,
        "inline_policy": inline,
    }))
}

async fn connect(cli: &Cli) -> Result<(config::Config, Aws, HttpSalesforce)> {
    let config = config::load(&cli.config, cli.env.as_deref())?;
    let aws = Aws::connect(&config.aws, call_log(cli)).await?;
    let sf = HttpSalesforce::new(
        std::time::Duration::from_secs(u64::from(config.salesforce.http_timeout_seconds)),
        call_log(cli),
    )?;
    Ok((config, aws, sf))
}

/// `-v` lists every AWS and Salesforce call on stderr.
fn call_log(cli: &Cli) -> CallLog {
    CallLog::new(cli.verbosity() >= 1)
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
                .with_fix("create the folder first, or choose another path with --path")
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
        "Edit it (name, Salesforce login URL and user, buckets, queries), then run `sfglue plan` and `sfglue apply`.",
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
    if matches!(command, "completions" | "man") && failure.is_none() {
        return ExitCode::SUCCESS;
    }
    match rep.mode {
        OutputMode::Json => {
            let doc = json!({
                "schema": "sfglue.output/v1",
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
                let label = match f.class {
                    ExitClass::WaitingForSalesforce => "waiting",
                    ExitClass::ChangesPending => "changes",
                    ExitClass::ExpiresSoon => "expiring",
                    _ => "error",
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

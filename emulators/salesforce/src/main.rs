//! sf-emulator: one process = one Salesforce org, for sfglue's tests. See README.md.
// Handlers return `Result<_, Response>` so an error is the finished HTTP answer; boxing it buys nothing.
#![allow(clippy::result_large_err)]

mod admin;
mod bulk;
mod data;
mod model;
mod rest;
mod seed;
mod soql;
mod state;
mod token;
mod web;

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

const HELP: &str = "\
sf-emulator: a local Salesforce org (JWT bearer token endpoint, REST query, Bulk API 2.0, admin API)

USAGE:
    sf-emulator --seed FILE [--listen 127.0.0.1:0]

OPTIONS:
    --seed FILE        YAML seed: org, users, apps, settings (knobs), objects (see README.md)
    --listen ADDR      address to bind (default 127.0.0.1:0 = a free port on loopback)
    --check            parse the seed, print a summary and exit
    -h, --help         this text
    -V, --version      version

The first line on stdout is the base URL (http://127.0.0.1:PORT). Logs go to stderr.
SIGTERM or SIGINT stops it (exit 0). The admin API lives under /__admin (README.md).
";

struct Args {
    seed: std::path::PathBuf,
    listen: String,
    check: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut seed = None;
    let mut listen = "127.0.0.1:0".to_string();
    let mut check = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            "-V" | "--version" => {
                println!("sf-emulator {}", env!("CARGO_PKG_VERSION"));
                std::process::exit(0);
            }
            "--seed" => seed = Some(std::path::PathBuf::from(value("--seed")?)),
            "--listen" => listen = value("--listen")?,
            "--check" => check = true,
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(Args {
        seed: seed.ok_or("--seed FILE is required (see --help)")?,
        listen,
        check,
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    eprintln!("sf-emulator: stopping");
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sf-emulator: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args) {
        eprintln!("sf-emulator: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    }
    let seed = seed::load(&args.seed)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot bind {}: {e}", args.listen))?;
        let addr = listener.local_addr()?;
        let base = format!("http://{addr}");
        let state = Arc::new(state::AppState::new(seed, base.clone())?);
        if args.check {
            let g = state.lock();
            println!(
                "org {} ({:?}), {} users, {} apps, objects: {}",
                g.org_id,
                g.org.kind,
                g.users.len(),
                g.apps.len(),
                state.data.names().join(", ")
            );
            return Ok(());
        }
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{base}")?;
            out.flush()?;
        }
        eprintln!("sf-emulator: serving org {} at {base}", state.lock().org_id);
        let app = web::router(state);
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .await?;
        Ok(())
    })
}

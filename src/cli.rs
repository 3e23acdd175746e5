//! The command line: clap definitions only. Behaviour lives in the command modules.

use crate::report::OutputMode;
use clap::{ArgAction, Parser, Subcommand};
use std::path::PathBuf;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  runtime failure (AWS, Salesforce, network, a failed job run)
  2  usage or config error; nothing was changed
  3  AWS is set up; waiting for the Salesforce-side setup (no consumer key yet)";

#[derive(Debug, Parser)]
#[command(
    name = "sfglue",
    version,
    about = "Set up an AWS Glue job that signs in to Salesforce with the OAuth 2.0 JWT bearer flow, and prove it works",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// The config file.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "SFGLUE_CONFIG",
        default_value = "sfglue.yaml"
    )]
    pub config: PathBuf,

    /// Output format of results on stdout (progress always goes to stderr).
    #[arg(long, global = true, value_enum, default_value_t = OutputMode::Text)]
    pub output: OutputMode,

    /// More detail on stderr (repeat for more).
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// No progress on stderr; results and errors only.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented starting config (refuses to overwrite a file).
    #[command(after_help = "Example:\n  sfglue init --path envs/dev.yaml")]
    Init {
        /// Where to write it.
        #[arg(long, value_name = "FILE", default_value = "sfglue.yaml")]
        path: PathBuf,
    },

    /// Create or update the key, secret, setup steps, role, script and Glue job; then verify.
    #[command(
        after_help = "Idempotent: a second run with the same config changes nothing.\n\nExample:\n  sfglue --config sfglue.yaml apply"
    )]
    Apply,

    /// Prove the sign-in with the key stored in Secrets Manager.
    #[command(after_help = "Example:\n  sfglue verify --run-job --output json")]
    Verify {
        /// Also start the Glue job, wait for it, and report its final state.
        #[arg(long)]
        run_job: bool,
    },
}

impl Cli {
    pub fn verbosity(&self) -> i8 {
        if self.quiet {
            -1
        } else {
            self.verbose.min(3) as i8
        }
    }
}

//! The command line: clap definitions only. Behaviour lives in the command modules.

use crate::report::{ColorChoice, OutputMode};
use clap::{ArgAction, Parser, Subcommand};
use std::path::PathBuf;

pub const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  runtime failure (AWS, Salesforce, network, a failed job run, a conflict)
  2  usage or config error; nothing was changed
  3  AWS is set up; waiting for the Salesforce-side setup (no consumer key yet)
  4  plan --detailed-exitcode: there are changes to apply";

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

    /// The environment to use, in a config with `environments:`.
    #[arg(long, global = true, value_name = "NAME", env = "SFGLUE_ENV")]
    pub env: Option<String>,

    /// Output format of results on stdout (progress always goes to stderr).
    #[arg(long, global = true, value_enum, default_value_t = OutputMode::Text)]
    pub output: OutputMode,

    /// Colour in text output (`auto`: on a terminal, unless NO_COLOR is set).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

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

    /// Show what apply would change, resource by resource, without changing anything.
    #[command(
        after_help = "Examples:\n  sfglue plan\n  sfglue plan --detailed-exitcode --output json   # CI: exit 4 when there are changes\n  sfglue --config envs.yaml plan --all-envs"
    )]
    Plan {
        /// Exit with 4 when there are changes (0: none).
        #[arg(long)]
        detailed_exitcode: bool,
        /// Plan every environment of the config.
        #[arg(long, conflicts_with = "env")]
        all_envs: bool,
        /// Plan to take over same-named resources sfglue does not manage.
        #[arg(long)]
        adopt: bool,
    },

    /// Create or update the key, secret, setup steps, role, script and Glue job; then verify.
    #[command(
        after_help = "Shows the plan and asks before changing anything; --yes skips the question (and is\nrequired without a terminal). A second run with the same config changes nothing.\n\nExamples:\n  sfglue apply\n  sfglue --env prod apply --yes --output json"
    )]
    Apply {
        /// Apply without asking.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Take over same-named resources that sfglue does not manage (tags them as sfglue's).
        #[arg(long)]
        adopt: bool,
    },

    /// Prove the sign-in with the key stored in Secrets Manager.
    #[command(after_help = "Examples:\n  sfglue verify\n  sfglue verify --run-job --output json")]
    Verify {
        /// Also start the Glue job, wait for it, and report its final state.
        #[arg(long)]
        run_job: bool,
    },

    /// Remove what sfglue created for this config (resources it does not manage stay).
    #[command(
        after_help = "Examples:\n  sfglue destroy\n  sfglue --env dev destroy --yes --force-delete-secret --purge-buckets"
    )]
    Destroy {
        /// Destroy without asking.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Delete the secret at once instead of after the 30-day recovery window.
        #[arg(long)]
        force_delete_secret: bool,
        /// Delete the objects in the buckets sfglue created (the job's output!), then the buckets.
        #[arg(long)]
        purge_buckets: bool,
    },

    /// Print the job role's trust policy and least-privilege inline policy.
    #[command(after_help = "Example:\n  sfglue policy --output json")]
    Policy,

    /// Print a shell completion script.
    #[command(after_help = "Example:\n  sfglue completions bash > /etc/bash_completion.d/sfglue")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },

    /// Print the man page (roff).
    #[command(after_help = "Example:\n  sfglue man > sfglue.1 && man ./sfglue.1")]
    Man,
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

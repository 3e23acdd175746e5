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
  4  plan --detailed-exitcode: there are changes to apply
  5  status --fail-within DAYS: the current certificate expires within DAYS";

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

    /// More detail on stderr, and a line per AWS and Salesforce call (its status and time).
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
        /// Where to write it (default: the --config file, `sfglue.yaml`).
        #[arg(long, value_name = "FILE")]
        path: Option<PathBuf>,
    },

    /// Show what apply would change, resource by resource, without changing anything.
    #[command(
        after_help = "Examples:\n  sfglue plan\n  sfglue plan --detailed-exitcode --output json   # CI: exit 4 when there are changes\n  sfglue --config envs.yaml plan --all-envs"
    )]
    Plan {
        /// Exit with 4 when there are changes (0: none).
        #[arg(long)]
        detailed_exitcode: bool,
        /// Plan every environment of the config (any --env or SFGLUE_ENV is ignored).
        #[arg(long)]
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

    /// Write the Salesforce setup steps and certificate for the stored key; with --metadata, the
    /// External Client App as a Salesforce source-format project too.
    #[command(
        after_help = "Reads the certificate from the secret (run `sfglue apply` first) and writes
<output_dir>/SALESFORCE_SETUP.md and <output_dir>/salesforce-jwt.crt. --metadata DIR also writes
an sfdx project (needs salesforce.app.contact_email) to deploy with
`sf project deploy start --source-dir force-app --target-org <alias>`; DIR must be new, empty,
or written by an earlier run.

Examples:
  sfglue instructions
  sfglue instructions --metadata salesforce-app --output json"
    )]
    Instructions {
        /// Also write the External Client App's Salesforce metadata into this folder.
        #[arg(long, value_name = "DIR")]
        metadata: Option<PathBuf>,
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
    /// The secret's versions: certificate subject, fingerprint, validity, days left, labels,
    /// and which version Salesforce accepts right now.
    #[command(
        after_help = "Exit code 5 with --fail-within when the current certificate expires within DAYS.\n\nExamples:\n  sfglue status\n  sfglue status --fail-within 30 --no-sign-in   # a scheduled CI check"
    )]
    Status(StatusArgs),

    /// Rotate the key and certificate without stopping the job: start, upload, finish.
    #[command(
        after_help = "Procedure:\n  sfglue rotate start     # new key as AWSPENDING; writes the new certificate\n  (upload sfglue-out/salesforce-jwt-pending.crt to the app, as ROTATION_STEPS.md says)\n  sfglue rotate finish    # signs in with the new key, then makes it AWSCURRENT\n  sfglue rotate rollback  # AWSPREVIOUS back to AWSCURRENT\n\nEvery step is safe to repeat, and resumes where an interrupted run stopped."
    )]
    Rotate {
        #[command(subcommand)]
        step: RotateStep,
    },

    /// Bring your own key and certificate, or write a new pair to files.
    Cert {
        #[command(subcommand)]
        action: CertAction,
    },
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Exit with code 5 when the current certificate expires within DAYS.
    #[arg(long, value_name = "DAYS")]
    pub fail_within: Option<u32>,
    /// Do not try a sign-in with each version (no call to Salesforce).
    #[arg(long)]
    pub no_sign_in: bool,
}

#[derive(Debug, Subcommand)]
pub enum RotateStep {
    /// Store a new key and certificate as the AWSPENDING version; write the certificate and steps.
    #[command(after_help = "Example:\n  sfglue rotate start")]
    Start,
    /// Prove the pending key with a live sign-in, then move AWSCURRENT to it.
    #[command(
        after_help = "Nothing moves when Salesforce refuses the pending key.\n\nExample:\n  sfglue rotate finish"
    )]
    Finish,
    /// Make AWSPREVIOUS the current version again.
    #[command(after_help = "Example:\n  sfglue rotate rollback")]
    Rollback,
    /// Drop a started, unfinished rotation (the AWSPENDING version).
    Cancel,
    /// The same as `sfglue status`.
    Status(StatusArgs),
}

#[derive(Debug, Subcommand)]
pub enum CertAction {
    /// Store an existing key and certificate (PKCS#1 or PKCS#8 PEM, repaired and normalised).
    #[command(
        after_help = "Into a new secret the key becomes AWSCURRENT (then run `sfglue apply`); into an existing\nsecret it starts a rotation (then upload the certificate and run `sfglue rotate finish`).\n\nExample:\n  sfglue cert import --key jwt.key --cert jwt.crt"
    )]
    Import {
        /// The private key file (RSA, 2048 bits or more, unencrypted).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The certificate made for that key.
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
    },
    /// Write a new RSA key (mode 0600) and a self-signed certificate into a folder.
    #[command(after_help = "Example:\n  sfglue cert generate --out keys/ --days 365")]
    Generate {
        /// The folder to write salesforce-jwt.key and salesforce-jwt.crt into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The certificate's common name.
        #[arg(long, default_value = "sfglue Salesforce JWT")]
        common_name: String,
        /// Key size in bits: 2048, 3072 or 4096.
        #[arg(long, default_value_t = 2048)]
        bits: u32,
        /// Days of validity.
        #[arg(long, default_value_t = 365)]
        days: u32,
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

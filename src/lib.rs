//! sfglue: sets up everything an AWS Glue job needs to sign in to Salesforce with the OAuth 2.0
//! JWT bearer flow, and proves that it works.
//!
//! Layout: a pure core ([`config`] with [`soql`], [`crypto`], [`keyfile`], [`preflight`], [`secret_doc`],
//! [`policy`], [`plan`], [`instructions`], [`metadata`]) with no network; thin adapters behind
//! narrow traits ([`aws`] for AWS, [`salesforce`] for Salesforce, both logging their calls
//! through [`call_log`] with `-v`); the commands ([`apply`],
//! [`verify`], [`rotate`] with `status`, [`cert`], [`instructions_command`]); and a thin CLI
//! ([`cli`], `main.rs`) with [`report`] deciding what goes to stdout and stderr.

pub mod apply;
pub mod aws;
pub mod call_log;
pub mod cert;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod destroy;
pub mod error;
pub mod glue_script;
pub mod instructions;
pub mod instructions_command;
pub mod keyfile;
pub mod metadata;
pub mod plan;
pub mod policy;
pub mod preflight;
pub mod report;
pub mod rotate;
pub mod salesforce;
pub mod secret;
pub mod secret_doc;
pub mod soql;
pub mod verify;

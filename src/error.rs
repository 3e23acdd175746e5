//! The one error type of sfglue, and the exit codes it maps to.
//!
//! Every failure a user can meet is a [`Failure`]: a class (which decides the exit code), a message
//! that names the problem, and where possible a fix that says what to do. Messages never carry
//! secret values: the types that hold secrets redact themselves (see [`crate::secret`]).

use std::fmt;

/// The documented exit codes. Keep in step with the README's "Exit codes" table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitClass {
    /// 1: something failed at run time (AWS, Salesforce, the network, a job run).
    Runtime,
    /// 2: the command line or the config file is wrong; nothing was changed.
    Config,
    /// 3: AWS is set up, and sfglue waits for the person in Salesforce Setup.
    WaitingForSalesforce,
    /// 4: `plan --detailed-exitcode` found changes to make.
    ChangesPending,
    /// 5: `status --fail-within DAYS`: the current certificate expires within DAYS.
    ExpiresSoon,
}

impl ExitClass {
    pub fn code(self) -> i32 {
        match self {
            ExitClass::Runtime => 1,
            ExitClass::Config => 2,
            ExitClass::WaitingForSalesforce => 3,
            ExitClass::ChangesPending => 4,
            ExitClass::ExpiresSoon => 5,
        }
    }

    /// Stable machine-readable name, used in `--output json`.
    pub fn name(self) -> &'static str {
        match self {
            ExitClass::Runtime => "runtime",
            ExitClass::Config => "config",
            ExitClass::WaitingForSalesforce => "waiting_for_salesforce",
            ExitClass::ChangesPending => "changes_pending",
            ExitClass::ExpiresSoon => "expires_soon",
        }
    }
}

/// A failure to report to the user.
#[derive(Debug)]
pub struct Failure {
    pub class: ExitClass,
    /// A short stable code, e.g. `config.unknown_field` or `salesforce.invalid_grant`.
    pub code: String,
    pub message: String,
    pub fix: Option<String>,
}

impl Failure {
    pub fn new(class: ExitClass, code: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            class,
            code: code.into(),
            message: message.into(),
            fix: None,
        }
    }

    pub fn config(code: impl Into<String>, message: impl Into<String>) -> Self {
        Failure::new(ExitClass::Config, code, message)
    }

    pub fn runtime(code: impl Into<String>, message: impl Into<String>) -> Self {
        Failure::new(ExitClass::Runtime, code, message)
    }

    pub fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n  fix: {fix}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

pub type Result<T> = std::result::Result<T, Failure>;

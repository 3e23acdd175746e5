//! Where output goes: results on stdout (text lines, or one JSON document), progress on stderr.
//!
//! Commands call [`Reporter::result`] for each fact the user asked for and [`Reporter::progress`]
//! for what is happening. In JSON mode result lines are not printed: the command's report struct
//! is serialised once at the end instead. Nothing given to a reporter may hold a secret value.

use std::io::{IsTerminal, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputMode {
    Text,
    Json,
}

pub struct Reporter {
    pub mode: OutputMode,
    /// -1 quiet, 0 normal, 1 and up verbose.
    pub verbosity: i8,
}

impl Reporter {
    pub fn new(mode: OutputMode, verbosity: i8) -> Self {
        Reporter { mode, verbosity }
    }

    /// A result line on stdout (text mode only), as `label  detail`.
    pub fn result(&self, label: &str, detail: impl AsRef<str>) {
        if self.mode == OutputMode::Text {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{label:<14} {}", detail.as_ref());
            let _ = out.flush();
        }
    }

    /// What is happening now, on stderr; hidden by `-q`.
    pub fn progress(&self, msg: impl AsRef<str>) {
        if self.verbosity >= 0 {
            eprintln!("{}", msg.as_ref());
        }
    }

    /// Extra detail on stderr with `-v`.
    pub fn detail(&self, msg: impl AsRef<str>) {
        if self.verbosity >= 1 {
            eprintln!("  {}", msg.as_ref());
        }
    }

    /// A warning on stderr; shown even with `-q`.
    pub fn warn(&self, msg: impl AsRef<str>) {
        eprintln!("warning: {}", msg.as_ref());
    }

    /// True when stderr is a terminal (for live progress while waiting).
    pub fn stderr_is_terminal(&self) -> bool {
        std::io::stderr().is_terminal()
    }
}

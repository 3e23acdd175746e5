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

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal, unless NO_COLOR is set.
    Auto,
    Always,
    Never,
}

pub struct Reporter {
    pub mode: OutputMode,
    /// -1 quiet, 0 normal, 1 and up verbose.
    pub verbosity: i8,
    pub color: bool,
}

impl Reporter {
    pub fn new(mode: OutputMode, verbosity: i8) -> Self {
        Reporter {
            mode,
            verbosity,
            color: false,
        }
    }

    pub fn with_color(mut self, choice: ColorChoice) -> Self {
        self.color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
                    && std::io::stderr().is_terminal()
            }
        };
        self
    }

    /// A result line on stdout as it is (text mode only).
    pub fn result_raw(&self, line: &str) {
        if self.mode == OutputMode::Text {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }

    /// The plan as lines: `+` create, `~` update, `-` delete, `=` unchanged, `!` conflict,
    /// coloured when colour is on.
    pub fn plan_lines(&self, plan: &crate::plan::Plan) -> Vec<String> {
        use crate::plan::Action;
        plan.changes
            .iter()
            .map(|c| {
                let (mark, colour, detail) = match &c.action {
                    Action::Create => ("+", "32", "create".to_string()),
                    Action::Update { fields } => {
                        ("~", "33", format!("update: {}", fields.join(", ")))
                    }
                    Action::Delete => ("-", "31", "delete".to_string()),
                    Action::Unchanged => ("=", "2", "unchanged".to_string()),
                    Action::Conflict { reason } => ("!", "1;31", format!("conflict: {reason}")),
                    Action::Keep { reason } => ("=", "2", format!("keep: {reason}")),
                };
                let line = format!("  {mark} {:<12} {}  ({detail})", c.resource.label(), c.name);
                if self.color {
                    format!("\x1b[{colour}m{line}\x1b[0m")
                } else {
                    line
                }
            })
            .collect()
    }

    pub fn stdin_is_terminal(&self) -> bool {
        std::io::stdin().is_terminal()
    }

    /// Asks a yes/no question on stderr; true only for an explicit yes.
    pub fn ask(&self, question: &str) -> bool {
        eprint!("{question} Type 'yes' to continue: ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        if std::io::stdin().read_line(&mut answer).is_err() {
            return false;
        }
        matches!(answer.trim(), "yes" | "y" | "YES" | "Yes")
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

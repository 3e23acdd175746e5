//! `-v`: one stderr line per call sfglue makes to AWS or Salesforce, with its answer and time.
//!
//! Both adapters write through [`CallLog`], so the lines look alike and the rule for what may be
//! shown lives in one place: the service, the operation (AWS) or the method and URL
//! (Salesforce, whose URLs carry no secret: the assertion and the token travel in the body and
//! a header), the HTTP status and the milliseconds. Never a request or response body.

use std::time::Duration;

/// Where call lines go; off unless `-v` was given. Cheap to copy into each client.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallLog {
    enabled: bool,
}

/// What came back from one call.
pub enum Answer {
    /// An HTTP status.
    Status(u16),
    /// No HTTP answer: the connection failed, or the call timed out.
    None,
}

impl CallLog {
    pub fn new(enabled: bool) -> Self {
        CallLog { enabled }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Writes `  aws  Glue.GetJob  200  12 ms` (or `salesforce  POST https://…`) on stderr.
    pub fn record(&self, system: &str, what: &str, answer: Answer, elapsed: Duration) {
        if self.enabled {
            eprintln!("{}", line(system, what, &answer, elapsed));
        }
    }
}

fn line(system: &str, what: &str, answer: &Answer, elapsed: Duration) -> String {
    let answer = match answer {
        Answer::Status(code) => code.to_string(),
        Answer::None => "no answer".to_string(),
    };
    format!(
        "  {system:<10} {what}  {answer}  {} ms",
        elapsed.as_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_names_the_call_its_answer_and_its_time() {
        assert_eq!(
            line(
                "aws",
                "Glue.GetJob",
                &Answer::Status(200),
                Duration::from_micros(12_400)
            ),
            "  aws        Glue.GetJob  200  12 ms"
        );
        assert_eq!(
            line(
                "salesforce",
                "POST https://login.salesforce.com/services/oauth2/token",
                &Answer::None,
                Duration::from_secs(10)
            ),
            "  salesforce POST https://login.salesforce.com/services/oauth2/token  no answer  10000 ms"
        );
    }
}

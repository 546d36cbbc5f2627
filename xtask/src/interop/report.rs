//! One line per check and the closing count.
//!
//! A check ends as `PASS name`, `FAIL name — detail` or `SKIP name — reason`
//! (a sub-check that does not apply here, with the reason; it counts as
//! neither). The last line is exactly `N passed, M failed`, the plain form
//! CI reads.

use std::fmt;

/// How one check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail(String),
    Skip(String),
}

/// A named check and its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub verdict: Verdict,
}

impl Check {
    pub fn pass(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            verdict: Verdict::Pass,
        }
    }

    pub fn fail(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            verdict: Verdict::Fail(one_line(&detail.into())),
        }
    }

    pub fn skip(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            verdict: Verdict::Skip(one_line(&reason.into())),
        }
    }

    /// `Ok(())` ⇒ pass, `Err(e)` ⇒ fail with the error chain.
    pub fn from_result(name: impl Into<String>, result: anyhow::Result<()>) -> Self {
        match result {
            Ok(()) => Self::pass(name),
            Err(error) => Self::fail(name, format!("{error:#}")),
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.verdict {
            Verdict::Pass => write!(f, "PASS {}", self.name),
            Verdict::Fail(detail) => write!(f, "FAIL {} — {detail}", self.name),
            Verdict::Skip(reason) => write!(f, "SKIP {} — {reason}", self.name),
        }
    }
}

/// The closing line: `N passed, M failed`.
pub fn summary(checks: &[Check]) -> String {
    let passed = checks.iter().filter(|c| c.verdict == Verdict::Pass).count();
    let failed = checks
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Fail(_)))
        .count();
    format!("{passed} passed, {failed} failed")
}

/// Whether any check failed.
pub fn any_failed(checks: &[Check]) -> bool {
    checks.iter().any(|c| matches!(c.verdict, Verdict::Fail(_)))
}

/// Newlines and runs of spaces folded, and long details cut, so that one
/// check is one line.
fn one_line(text: &str) -> String {
    const MAX: usize = 600;
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.chars().count() <= MAX {
        return folded;
    }
    let cut: String = folded.chars().take(MAX).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_summary_have_the_documented_shape() {
        let checks = vec![
            Check::pass("browser login"),
            Check::fail("python sdk", "exit 1\n  Traceback"),
            Check::skip("inspector oauth", "not supported"),
        ];
        let lines: Vec<String> = checks.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "PASS browser login",
                "FAIL python sdk — exit 1 Traceback",
                "SKIP inspector oauth — not supported",
            ]
        );
        assert_eq!(summary(&checks), "1 passed, 1 failed");
        assert!(any_failed(&checks));
        assert!(!any_failed(&checks[..1]));
    }

    #[test]
    fn long_details_are_cut() {
        let check = Check::fail("x", "a".repeat(2000));
        let Verdict::Fail(detail) = check.verdict else {
            panic!("not a failure")
        };
        assert_eq!(detail.chars().count(), 601);
    }
}

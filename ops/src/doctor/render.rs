//! The doctor's checks as text: one aligned line each, and a tally.

use super::{Check, Outcome};

/// One aligned line per check `shown` selects: outcome, name, detail, then the hint indented.
pub fn render(checks: &[Check], shown: impl Fn(&Check) -> bool) -> String {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let indent = " ".repeat(4 + 2 + width + 2);
    let mut lines = Vec::new();
    for c in checks.iter().filter(|c| shown(c)) {
        lines.push(format!("{}  {:<width$}  {}", c.outcome.label(), c.name, c.detail));
        if let Some(hint) = &c.hint {
            lines.push(format!("{indent}hint: {hint}"));
        }
    }
    lines.join("\n")
}

/// "9 checks: 8 passed, 1 warning".
pub fn tally(checks: &[Check]) -> String {
    let count = |o: Outcome| checks.iter().filter(|c| c.outcome == o).count();
    let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut parts = vec![format!("{} passed", count(Outcome::Pass))];
    for (outcome, one, many) in [
        (Outcome::Warn, "warning", "warnings"),
        (Outcome::Fail, "failed", "failed"),
        (Outcome::Skip, "skipped", "skipped"),
    ] {
        if count(outcome) > 0 {
            parts.push(plural(count(outcome), one, many));
        }
    }
    format!("{}: {}", plural(checks.len(), "check", "checks"), parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_align_and_hints_sit_under_the_detail() {
        let checks = [
            Check::pass("region", "us-east-1 (from AWS_REGION)"),
            Check::fail("chat-model", "AccessDeniedException: no", Some("enable it".into())),
        ];
        let text = render(&checks, |_| true);
        assert_eq!(
            text,
            "PASS  region      us-east-1 (from AWS_REGION)\n\
             FAIL  chat-model  AccessDeniedException: no\n                  hint: enable it"
        );
        assert_eq!(tally(&checks), "2 checks: 1 passed, 1 failed");
    }
}

//! `opsctl doctor`: the checks of [`crate::doctor`], one line each, or as JSON; exit 1 when any
//! failed. [`preflight`] is the same checks as `opsctl deploy` runs them first.

use std::process::ExitCode;

use anyhow::bail;
use aws_config::SdkConfig;
use serde_json::json;

use crate::Ctx;
use crate::cli::{DoctorArgs, Target};
use crate::commands::deploy;
use crate::doctor::{self, Check, EmulatorNeed, Outcome, Request};

pub async fn run(args: DoctorArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let target = ctx.global.target;
    let request = Request {
        env: ctx.global.env,
        target,
        region_source: crate::aws::region_source(&ctx.global),
        params: deploy::parse_params(&args.param)?,
        rag: args.rag.then_some(true),
        // The local target deploys placeholders: nothing is built for it.
        build: (target == Target::Aws).then_some(args.arch),
        emulator: Some(match target {
            Target::Aws => EmulatorNeed::Installed,
            Target::Local => EmulatorNeed::Running,
        }),
    };
    let sdk = crate::aws::load(&ctx.global).await.map_err(|e| crate::errors::summary(&e));
    let checks = doctor::run(sdk.as_ref().map_err(String::clone), &request).await;
    let failed = doctor::any_failed(&checks);
    let report = json!({
        "env": request.env.as_str(),
        "target": match target { Target::Aws => "aws", Target::Local => "local" },
        "ok": !failed,
        "checks": checks,
    });
    ctx.out.emit(&report, || format!("{}\n{}", render(&checks, |_| true), tally(&checks)))?;
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// What `opsctl deploy` checks before it changes anything, given its configuration: prints the
/// warnings and failures on stderr and fails when any check did.
pub async fn preflight(ctx: &Ctx, sdk: &SdkConfig, request: &Request) -> anyhow::Result<()> {
    let checks = doctor::run(Ok(sdk), request).await;
    let notable = render(&checks, |c| matches!(c.outcome, Outcome::Warn | Outcome::Fail));
    if !notable.is_empty() {
        eprintln!("{notable}");
    }
    if doctor::any_failed(&checks) {
        let failed = checks.iter().filter(|c| c.outcome == Outcome::Fail).count();
        bail!(
            "deploy stopped before changing anything: {failed} check{} failed (above); `opsctl doctor` \
             lists them all",
            if failed == 1 { "" } else { "s" }
        );
    }
    if !ctx.out.quiet {
        eprintln!("checked before deploying: {}", tally(&checks));
    }
    Ok(())
}

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

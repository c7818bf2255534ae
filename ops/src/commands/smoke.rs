//! `opsctl smoke [--junit FILE]`: the checks of [`crate::smoke`] against whatever the environment
//! points to, AWS or the local target, one line each as they finish; the exit status is 1 when
//! any failed.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

use crate::cli::SmokeArgs;
use crate::ctx::Ctx;
use crate::smoke::{self, CheckResult, Verdict, junit, target_name};

pub async fn run(args: SmokeArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let d = ctx.deployed().await?;
    let json = ctx.out.is_json();
    let mut print = |r: &CheckResult| {
        if !json {
            print_line(r);
        }
    };
    let run = smoke::run(&d, ctx.ui.as_ref(), Duration::from_secs(args.rag_timeout), &mut print).await?;
    let elapsed = run.elapsed;
    let failed = run.results.iter().filter(|r| matches!(r.verdict, Verdict::Fail(_))).count();
    let passed = run.results.iter().filter(|r| r.verdict == Verdict::Pass).count();
    if let Some(path) = &args.junit {
        let suite = format!("opsctl smoke {} ({})", d.env, target_name(&d));
        std::fs::write(path, junit::render(&suite, &run.results, elapsed))
            .with_context(|| format!("writing the JUnit report {}", path.display()))?;
    }
    let checks: Vec<Value> = run
        .results
        .iter()
        .map(|r| {
            let (status, reason) = match &r.verdict {
                Verdict::Pass => ("pass", None),
                Verdict::Fail(why) => ("fail", Some(why.clone())),
                Verdict::Skip(why) => ("skip", Some(why.clone())),
            };
            json!({"name": r.name, "status": status, "reason": reason, "detail": r.detail,
                   "duration_ms": r.duration.as_millis() as u64})
        })
        .collect();
    let summary = json!({"env": d.env.as_str(), "target": target_name(&d), "passed": passed, "failed": failed,
        "duration_ms": elapsed.as_millis() as u64, "checks": checks});
    ctx.out.emit(&summary, || {
        format!(
            "\nsmoke {} ({}): {passed} passed, {failed} failed in {:.1} s",
            d.env,
            target_name(&d),
            elapsed.as_secs_f64()
        )
    })?;
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn print_line(r: &CheckResult) {
    let (mark, text) = match &r.verdict {
        Verdict::Pass => ("PASS", r.detail.clone()),
        Verdict::Fail(why) => ("FAIL", why.clone()),
        Verdict::Skip(why) => ("SKIP", why.clone()),
    };
    let text = crate::printable::printable(&text);
    println!("{mark}  {:<12} {:>7.0} ms  {text}", r.name, r.duration.as_secs_f64() * 1000.0);
}

//! `opsctl cost`: the environment's month-to-date cost from its CloudWatch usage and the
//! embedded price table, projected to the month's end, beside AWS's own billing estimate.
//!
//! Exit status: 0, or with `--check` 0 within the budget and 1 over it; 2 when the cost could
//! not be worked out, so CI can tell "over budget" from "could not tell".

use std::process::ExitCode;

use time::OffsetDateTime;

use crate::cli::CostArgs;
use crate::cost::Window;
use crate::cost::bill;
use crate::cost::report::{Report, report_for};
use crate::ctx::Ctx;

pub async fn run(args: CostArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let env = ctx.env;
    let mut report = match report(&args, ctx).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cost {env} could not be computed: {}", crate::errors::explain(&e));
            return Ok(ExitCode::from(2));
        }
    };
    let verdict = args.budget.map(|b| bill::verdict(env.as_str(), report.bill.projected_usd, b));
    report.summary = verdict.as_ref().map(|(line, _)| line.clone());
    ctx.out.emit(&report, || text(&report))?;
    if let (true, Some(line)) = (ctx.out.is_json(), &report.summary) {
        eprintln!("{line}");
    }
    Ok(match verdict {
        Some((_, false)) if args.check => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    })
}

async fn report(args: &CostArgs, ctx: &Ctx) -> anyhow::Result<Report> {
    if let Some(b) = args.budget {
        anyhow::ensure!(b.is_finite() && b > 0.0, "--budget {b}: expected a positive amount in USD");
    }
    let window = Window::new(args.month.as_deref(), OffsetDateTime::now_utc())?;
    let deployed = ctx.deployed().await?;
    let mut report = report_for(&deployed, window).await?;
    report.budget_usd = args.budget;
    Ok(report)
}

fn text(r: &Report) -> String {
    let mut out = format!(
        "cost of {} ({}) for {}{}, at the list prices of {} (check them against AWS's pricing pages)\n",
        r.environment,
        r.region,
        r.month,
        if r.elapsed_fraction < 1.0 {
            format!(", {:.0} % of the month so far", r.elapsed_fraction * 100.0)
        } else {
            String::new()
        },
        r.price_table_date,
    );
    out.push_str(&format!("{}\n", bill::table(&r.bill)));
    match r.billing_estimate_usd {
        Some(v) => {
            out.push_str(&format!("AWS's estimate for the whole account this month: {}\n", bill::usd(v)))
        }
        None => out.push_str("AWS's estimate: not available\n"),
    }
    for n in &r.bill.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    if let Some(s) = &r.summary {
        out.push_str(s);
    }
    out.trim_end().to_owned()
}

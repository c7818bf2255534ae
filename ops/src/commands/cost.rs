//! `opsctl cost`: the environment's month-to-date cost from its CloudWatch usage and the
//! embedded price table, projected to the month's end, beside AWS's own billing estimate.
//!
//! Exit status: 0, or with `--check` 0 within the budget and 1 over it; 2 when the cost could
//! not be worked out, so CI can tell "over budget" from "could not tell".

use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;
use time::OffsetDateTime;

use crate::Ctx;
use crate::cli::{CostArgs, Env};
use crate::cost::Window;
use crate::cost::bill::{self, Bill};
use crate::cost::prices::PriceBook;
use crate::cost::usage::{self, FUNCTIONS, Resources, Usage};
use crate::deployed::Deployed;

#[derive(Debug, Serialize)]
pub struct Report {
    environment: String,
    region: String,
    month: String,
    window_start: String,
    window_end: String,
    elapsed_fraction: f64,
    price_table_date: String,
    #[serde(flatten)]
    pub bill: Bill,
    /// AWS's own estimate for the whole account (all services), when billing alerts are on.
    pub billing_estimate_usd: Option<f64>,
    metric_calls: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    budget_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<String>,
}

pub async fn run(args: CostArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let env = ctx.global.env;
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
    let deployed = Deployed::locate(ctx).await?;
    let mut report = report_for(&deployed, window).await?;
    report.budget_usd = args.budget;
    Ok(report)
}

/// The cost of `deployed` over `window`; the dashboard's cost panel shows the same figures.
pub async fn report_for(deployed: &Deployed, window: Window) -> anyhow::Result<Report> {
    let book = PriceBook::embedded()?;
    let region =
        deployed.sdk.region().map(|r| r.to_string()).context("the AWS configuration has no region")?;
    let prices = book.region(&region)?;
    let param = |k: &str| deployed.parameters.get(k).cloned();
    let resources = resources(deployed, param("ChatModelId"), param("EmbeddingModelId"));

    let cw = aws_sdk_cloudwatch::Client::new(&deployed.sdk);
    let (results, metric_calls) = usage::fetch(&cw, &usage::queries(&resources), &window).await?;
    let mut usage = Usage::read(&resources, &results);
    let billing = usage::billing_client(&deployed.sdk);

    let mut notes = Vec::new();
    let env = deployed.env.as_str();
    match usage::alarm_metrics(&cw, env).await {
        Ok(n) => usage.alarm_metrics = n,
        Err(e) => notes.push(format!("alarms not counted: {}", crate::errors::explain(&e))),
    }
    if region != usage::BILLING_REGION {
        // The billing alarm lives in us-east-1 whatever the stack's region.
        match usage::alarm_metrics(&billing, env).await {
            Ok(n) => usage.alarm_metrics += n,
            Err(e) => notes.push(format!("the billing alarm is not counted: {}", crate::errors::explain(&e))),
        }
    }
    let billing_estimate_usd = match usage::billing_estimate(&billing, &window).await {
        Ok(Some(v)) => Some(v),
        Ok(None) => {
            notes.push(
                "AWS/Billing EstimatedCharges has no datapoints: turn on 'Receive Billing Alerts' in the \
                 Billing console preferences to see AWS's own estimate here"
                    .into(),
            );
            None
        }
        Err(e) => {
            notes.push(format!("no billing estimate: {}", crate::errors::explain(&e)));
            None
        }
    };

    let x86_64 = param("Architecture").is_some_and(|a| a == "x86_64");
    let terms = bill::Terms { prices, x86_64, prod: deployed.env == Env::Prod, window };
    let mut bill = bill::compute(&usage, &terms);
    bill.notes.extend(notes);
    bill.notes.push(
        "list prices without free tiers; not counted: CloudWatch Logs and custom metrics, SQS, EventBridge, \
         DynamoDB and S3 storage requests, data transfer; KMS requests are read from the chat handler's \
         `Chatbot KmsRequests` metric (S3, DynamoDB and SQS encryption calls are not in it)"
            .into(),
    );
    if deployed.target == crate::cli::Target::Local {
        bill.notes.push(
            "the local target: its usage is priced as if it ran on AWS, with the stack's model and the list prices \
             (nothing here is billed)"
                .into(),
        );
    }
    if resources.collection {
        bill.notes
            .push("OpenSearch Serverless OCUs are reported per account: other collections share them".into());
    }
    let rfc3339 =
        |t: OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    Ok(Report {
        environment: env.to_owned(),
        region,
        month: window.label(),
        window_start: rfc3339(window.start),
        window_end: rfc3339(window.end),
        elapsed_fraction: window.elapsed_fraction(),
        price_table_date: book.source_date.clone(),
        bill,
        billing_estimate_usd,
        metric_calls,
        budget_usd: None,
        summary: None,
    })
}

fn resources(d: &Deployed, chat_model: Option<String>, embedding_model: Option<String>) -> Resources {
    let env = d.env.as_str();
    let functions = FUNCTIONS
        .iter()
        .filter(|(f, _)| d.rag || *f == "chat")
        .map(|(f, mb)| (format!("chatbot-{f}-{env}"), *mb))
        .collect();
    let out = |k: &str| d.outputs.get(k).cloned();
    Resources {
        env: env.to_owned(),
        functions,
        api_id: out("ApiId"),
        table: out("TableName"),
        bucket: out("DocumentsBucket"),
        chat_model: chat_model.unwrap_or_else(|| "us.anthropic.claude-sonnet-4-6".into()),
        embedding_model: d
            .rag
            .then(|| embedding_model.unwrap_or_else(|| "amazon.titan-embed-text-v2:0".into())),
        // arn:aws:kms:<region>:<account>:key/<id>
        account: out("KeyArn")
            .and_then(|arn| arn.split(':').nth(4).map(str::to_owned))
            .filter(|a| !a.is_empty()),
        collection: d.rag,
    }
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

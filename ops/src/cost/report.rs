//! The environment's month-to-date cost from its CloudWatch usage and the embedded price table,
//! projected to the month's end, beside AWS's own billing estimate. `opsctl cost` and the
//! dashboard's cost panel show the same figures.

use anyhow::Context;
use serde::Serialize;
use time::OffsetDateTime;

use crate::aws::BILLING_REGION;
use crate::config::{Env, Target};
use crate::cost::Window;
use crate::cost::bill::{self, Bill};
use crate::cost::prices::PriceBook;
use crate::cost::usage::{self, Resources, Usage};
use crate::deployed::Deployed;
use crate::functions::Function;
use crate::vector_store::{self, VectorStore};

#[derive(Debug, Serialize)]
pub struct Report {
    pub environment: String,
    pub region: String,
    pub month: String,
    pub window_start: String,
    pub window_end: String,
    pub elapsed_fraction: f64,
    pub price_table_date: String,
    #[serde(flatten)]
    pub bill: Bill,
    /// AWS's own estimate for the whole account (all services), when billing alerts are on.
    pub billing_estimate_usd: Option<f64>,
    pub metric_calls: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
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
    let mut notes = Vec::new();
    if let Some(v) = usage.s3_vectors.as_mut() {
        match crate::docs::corpus::indexed(deployed).await {
            Ok(c) => v.corpus = Some(c),
            Err(e) => notes.push(format!(
                "the S3 Vectors index could not be read, so its storage and query data are not counted: {e:#}"
            )),
        }
    }
    let billing = usage::billing_client(&deployed.sdk);

    let env = deployed.env.as_str();
    match usage::alarm_metrics(&cw, env).await {
        Ok(n) => usage.alarm_metrics = n,
        Err(e) => notes.push(format!("alarms not counted: {}", crate::errors::explain(&e))),
    }
    if region != BILLING_REGION {
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
    if deployed.target == Target::Local {
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
    let functions = Function::deployed(d.rag).map(|f| (f.function_name(env), f.memory_mb())).collect();
    let out = |k: &str| d.outputs.get(k).cloned();
    let store = VectorStore::in_use(&d.parameters);
    Resources {
        env: env.to_owned(),
        functions,
        api_function: out(Function::Chat.output_key()),
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
        collection: store == Some(VectorStore::OpenSearch),
        s3_vectors: (store == Some(VectorStore::S3Vectors)).then(|| vector_store::dimensions(&d.parameters)),
    }
}

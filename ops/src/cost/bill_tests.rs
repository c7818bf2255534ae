//! The bill for a fixed month of usage, checked by hand against the us-east-1 prices.
//!
//! The scenario: dev with RAG on, arm64, half-way through a 30-day month (2026-11-16 00:00 UTC:
//! 360 of 720 hours, fraction 0.5), after 1,000 chats of 2,000 input and 300 output tokens and
//! 100 documents. "100 documents" here means: 100 ingest invocations of 3 s each; 5,000
//! embedding tokens per document; 100 MiB stored in the documents bucket (1 MiB each); a vector
//! collection, so the dev OCU floor applies. Each chat with RAG also makes one retrieve call of
//! 200 ms that embeds a 20-token query, two DynamoDB reads and two writes.

use time::macros::datetime;

use super::Window;
use super::bill::{Terms, compute, table, usd, verdict};
use super::prices::PriceBook;
use super::prices::{GIB, TIB};
use super::usage::{FunctionUsage, ModelTokens, S3VectorsUsage, Usage};
use crate::vector_store::Corpus;

fn scenario() -> Usage {
    let f = |name: &str, memory_mb, invocations, duration_ms| FunctionUsage {
        name: name.into(),
        memory_mb,
        invocations,
        duration_ms,
    };
    Usage {
        functions: vec![
            f("chatbot-chat-dev", 512, 1_000.0, 1_000.0 * 2_000.0),
            f("chatbot-ingest-dev", 1024, 100.0, 100.0 * 3_000.0),
            f("chatbot-retrieve-dev", 512, 1_000.0, 1_000.0 * 200.0),
        ],
        api_requests: 1_000.0,
        read_units: 2_000.0,
        write_units: 2_000.0,
        tokens: vec![
            ModelTokens {
                model: "us.anthropic.claude-sonnet-4-6".into(),
                input: 1_000.0 * 2_000.0,
                output: 1_000.0 * 300.0,
            },
            ModelTokens {
                model: "amazon.titan-embed-text-v2:0".into(),
                input: 100.0 * 5_000.0 + 1_000.0 * 20.0,
                output: 0.0,
            },
        ],
        kms_requests: 50.0,
        collection: Some(Some(1.0)),
        s3_vectors: None,
        s3_average_bytes: 100.0 * 1_048_576.0,
        // 3 error-rate alarms over 2 metrics each, 5 single-metric alarms.
        alarm_metrics: 11,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn a_month_of_fixed_usage_bills_as_computed_by_hand() {
    let book = PriceBook::embedded().unwrap();
    let window = Window::new(None, datetime!(2026-11-16 00:00 UTC)).unwrap();
    let terms = Terms { prices: book.region("us-east-1").unwrap(), x86_64: false, prod: false, window };
    let bill = compute(&scenario(), &terms);
    println!("{}", table(&bill));
    let line = |prefix: &str| bill.lines.iter().find(|l| l.service.starts_with(prefix)).unwrap();

    // chat: 1,000 × 2 s = 2,000 s × 0.5 GB = 1,000 GB-s × $0.0000133334 = $0.0133334,
    //       + 1,000 requests × $0.20/M = $0.0002 → $0.0135334.
    assert!(close(line("Lambda chatbot-chat").month_to_date_usd, 0.0135334));
    // ingest: 100 × 3 s = 300 s × 1 GB = 300 GB-s → $0.00400002, + $0.00002 → $0.00402002.
    assert!(close(line("Lambda chatbot-ingest").month_to_date_usd, 0.00402002));
    // retrieve: 1,000 × 0.2 s = 200 s × 0.5 GB = 100 GB-s → $0.00133334, + $0.0002 → $0.00153334.
    assert!(close(line("Lambda chatbot-retrieve").month_to_date_usd, 0.00153334));
    // The API: 1,000 requests to the chat function's URL, which charges nothing of its own.
    let api = line("Lambda function URL");
    assert_eq!(
        (api.usage.as_str(), api.unit_price.as_str()),
        ("1,000 requests", "no charge: billed as chat invocations")
    );
    assert!(api.month_to_date_usd == 0.0 && api.projected_usd == 0.0);
    // DynamoDB: 2,000 RRU × $0.125/M = $0.00025, + 2,000 WRU × $0.625/M = $0.00125 → $0.0015.
    assert!(close(line("DynamoDB").month_to_date_usd, 0.0015));
    // Chat model: 1,000 × 2,000 = 2,000,000 input tokens × $0.003/1k = $6.00,
    //             1,000 × 300 = 300,000 output tokens × $0.015/1k = $4.50 → $10.50.
    assert!(close(line("Bedrock us.anthropic").month_to_date_usd, 10.50));
    // Embeddings: 100 × 5,000 + 1,000 × 20 = 520,000 tokens × $0.00002/1k = $0.0104.
    assert!(close(line("Bedrock amazon.titan").month_to_date_usd, 0.0104));
    // KMS: 50 requests × $0.03/10k = $0.00015; the key, $1 a month, half of it so far.
    assert!(close(line("KMS requests").month_to_date_usd, 0.00015));
    assert!(close(line("KMS key").month_to_date_usd, 0.50) && close(line("KMS key").projected_usd, 1.0));
    // OCUs: 1 measured = the dev floor of 1; 360 h × $0.24 = $86.40; the month: 720 h → $172.80.
    let ocu = line("OpenSearch");
    assert!(close(ocu.month_to_date_usd, 86.40) && close(ocu.projected_usd, 172.80));
    // S3: 100 MiB = 0.09765625 GiB × $0.023 = $0.00224609375 a month, half of it so far.
    assert!(close(line("S3").month_to_date_usd, 0.001123046875));
    // Alarms: 11 alarm metrics × $0.10 = $1.10 a month, $0.55 so far.
    assert!(close(line("CloudWatch alarms").month_to_date_usd, 0.55));

    // Month to date: 10.50 + 86.40 + 0.50 + 0.55 + 0.0104 + (0.0135334 + 0.00402002 + 0.00153334)
    //   + 0.0015 + 0.00015 + 0.001123046875 = $97.982259806875.
    assert!(close(bill.month_to_date_usd, 97.982259806875), "{}", bill.month_to_date_usd);
    // Projected: metered lines doubled (21.00 + 0.0208 + 0.03817352 + 0.003 + 0.0003),
    //   the standing charges whole (1.00 + 172.80 + 1.10) and S3 for the month (0.00224609375)
    //   = $195.96451961375.
    assert!(close(bill.projected_usd, 195.96451961375), "{}", bill.projected_usd);
    assert!(bill.notes.is_empty(), "{:?}", bill.notes);
}

#[test]
fn prod_pays_the_higher_ocu_floor_even_when_idle() {
    let book = PriceBook::embedded().unwrap();
    let window = Window::new(Some("2026-09"), datetime!(2026-11-16 00:00 UTC)).unwrap();
    let terms = Terms { prices: book.region("us-east-1").unwrap(), x86_64: true, prod: true, window };
    let usage = Usage { collection: Some(None), ..Usage::default() };
    let bill = compute(&usage, &terms);
    // 2 OCUs × 720 h × $0.24 = $345.60 for September, a whole (past) month: no projection past it.
    let ocu = bill.lines.iter().find(|l| l.service.starts_with("OpenSearch")).unwrap();
    assert!(close(ocu.month_to_date_usd, 345.60) && close(ocu.projected_usd, 345.60));
    assert!(bill.notes[0].contains("floor"));
    // $345.60 + the key's $1.00.
    assert!(close(bill.projected_usd, 346.60), "{}", bill.projected_usd);
}

#[test]
fn an_unpriced_model_is_named_not_guessed() {
    let book = PriceBook::embedded().unwrap();
    let window = Window::new(None, datetime!(2026-11-16 00:00 UTC)).unwrap();
    let terms = Terms { prices: book.region("eu-west-1").unwrap(), x86_64: false, prod: false, window };
    let usage = Usage {
        tokens: vec![ModelTokens { model: "eu.meta.llama9".into(), input: 1e6, output: 1e6 }],
        ..Usage::default()
    };
    let bill = compute(&usage, &terms);
    assert!(bill.notes[0].contains("eu.meta.llama9"));
}

#[test]
fn the_verdict_line_is_what_ci_logs_carry() {
    assert_eq!(
        verdict("dev", 12.344, 50.0),
        ("cost dev: projected $12.34 of $50.00 budget (ok)".into(), true)
    );
    assert_eq!(
        verdict("prod", 51.0, 50.0),
        ("cost prod: projected $51.00 of $50.00 budget (over budget)".into(), false)
    );
    assert_eq!(usd(0.0042), "$0.0042");
    assert_eq!(usd(0.0), "$0.00");
    assert_eq!(usd(-0.0), "$0.00");
}

/// Phase 2 with S3 Vectors for a whole month (September 2026, 720 h): 20 documents of 100
/// chunks each (2,000 vectors of 1,024 dimensions at 6,240 bytes: the vector, a 45-byte key and
/// about 2 KB of text and metadata), indexed once this month, and 3,000 chats that each retrieve
/// once. The same per-chat usage as above: 2 s of chat, 200 ms of retrieval, 2 RRU and 2 WRU;
/// one KMS request a chat (the worst case: no data key reused); ingestion 3 s a document. The
/// alarms: the stack's 11 alarm metrics and the billing alarm.
fn phase_two_s3_vectors() -> Usage {
    let f = |name: &str, memory_mb, invocations: f64, each_ms: f64| FunctionUsage {
        name: name.into(),
        memory_mb,
        invocations,
        duration_ms: invocations * each_ms,
    };
    let bytes = 2_000 * 6_240;
    Usage {
        functions: vec![
            f("chatbot-chat-dev", 512, 3_000.0, 2_000.0),
            f("chatbot-ingest-dev", 1024, 20.0, 3_000.0),
            f("chatbot-retrieve-dev", 512, 3_000.0, 200.0),
        ],
        api_requests: 3_000.0,
        read_units: 6_000.0,
        write_units: 6_000.0,
        tokens: vec![
            ModelTokens { model: "us.anthropic.claude-sonnet-4-6".into(), input: 6e6, output: 9e5 },
            ModelTokens { model: "amazon.titan-embed-text-v2:0".into(), input: 1_000_000.0, output: 0.0 },
        ],
        kms_requests: 3_000.0,
        collection: None,
        s3_vectors: Some(S3VectorsUsage {
            dimensions: 1_024,
            corpus: Some(Corpus { documents: 20, chunks: 2_000, bytes }),
            bytes_written: bytes as f64,
            queries: 3_000.0,
        }),
        s3_average_bytes: 20.0 * 1_048_576.0,
        alarm_metrics: 12,
    }
}

#[test]
fn phase_two_with_s3_vectors_costs_under_three_dollars_a_month_before_tokens() {
    let book = PriceBook::embedded().unwrap();
    let window = Window::new(Some("2026-09"), datetime!(2026-11-16 00:00 UTC)).unwrap();
    let terms = Terms { prices: book.region("us-east-1").unwrap(), x86_64: false, prod: false, window };
    let bill = compute(&phase_two_s3_vectors(), &terms);
    println!("{}", table(&bill));
    let line = |prefix: &str| bill.lines.iter().find(|l| l.service.starts_with(prefix)).unwrap();

    // Storage: 12,480,000 bytes = 0.011623 GiB x $0.06 = $0.000697; PUTs: the same GiB x $0.20 =
    // $0.002325; queries: 3,000 x $2.50/M = $0.0075; data processed: 3,000 queries x 2,000
    // vectors x (4,096 + 64) bytes = 0.022701 TiB x $0.004 (all under 100,000 vectors) = $0.000091.
    let gib = 12_480_000.0 / GIB;
    let vectors = gib * 0.06 + gib * 0.20 + 0.0075 + 3_000.0 * 2_000.0 * 4_160.0 / TIB * 0.004;
    let v = line("S3 Vectors");
    println!("vector store: {} / {} projected", v.usage, usd(v.projected_usd));
    assert!(close(v.projected_usd, vectors) && close(v.month_to_date_usd, vectors), "{v:?}");
    assert!((vectors - 0.010613).abs() < 1e-6, "{vectors}");
    assert_eq!(v.usage, "2,000 vectors, 0.0116 GB stored; 0.0116 GB written; 3,000 queries");
    assert!(!bill.lines.iter().any(|l| l.service.starts_with("OpenSearch")));
    assert!(
        bill.notes.iter().any(|n| n.starts_with("S3 Vectors: storage is the index's size")),
        "{:?}",
        bill.notes
    );

    // Everything but the model tokens: the Lambdas ($0.0406 + $0.000804 + $0.0046; the API's
    // function URL adds nothing), DynamoDB ($0.0045), KMS ($0.009 + the key's $1.00), S3 Vectors
    // ($0.0106), the documents ($0.00045) and 12 alarm metrics ($1.20).
    let infrastructure: f64 =
        bill.lines.iter().filter(|l| !l.service.starts_with("Bedrock")).map(|l| l.projected_usd).sum();
    println!("Phase 2 infrastructure with S3 Vectors: {} a month", usd(infrastructure));
    let expected =
        0.0406002 + 0.000804004 + 0.00460002 + 0.0045 + 0.009 + 1.0 + vectors + 20.0 / 1_024.0 * 0.023 + 1.2;
    assert!(close(infrastructure, expected), "{infrastructure} vs {expected}");
    assert!(infrastructure < 3.0, "the target: under $3 a month before model tokens");
}

#[test]
fn s3_vectors_without_prices_or_an_index_size_says_what_is_not_counted() {
    let book = PriceBook::embedded().unwrap();
    let window = Window::new(None, datetime!(2026-11-16 00:00 UTC)).unwrap();
    let usage = Usage {
        s3_vectors: Some(S3VectorsUsage { dimensions: 1_024, ..Default::default() }),
        ..Usage::default()
    };
    let eu = Terms { prices: book.region("eu-west-1").unwrap(), x86_64: false, prod: false, window };
    let bill = compute(&usage, &eu);
    assert!(bill.notes[0].contains("no S3 Vectors prices"), "{:?}", bill.notes);
    let us = Terms { prices: book.region("us-east-1").unwrap(), x86_64: false, prod: false, window };
    // Half-way through the month, 1,000 queries and nothing stored: $0.0025 so far, $0.005 projected.
    let queried = Usage {
        s3_vectors: Some(S3VectorsUsage { dimensions: 1_024, queries: 1_000.0, ..Default::default() }),
        ..Usage::default()
    };
    let line = compute(&queried, &us).lines.into_iter().find(|l| l.service == "S3 Vectors").unwrap();
    assert!(close(line.month_to_date_usd, 0.0025) && close(line.projected_usd, 0.005), "{line:?}");
}

//! `opsctl docs put` on AWS, against the emulator: it uploads, then waits for the ingestion
//! Lambda's verdict in the Lambda's log group. The emulator runs no Lambda, so this test writes
//! the log lines the ingestion handler writes, as the Lambda would, and checks that `docs put`
//! reports them, and that a document with no verdict times out with the next step named.

mod support;

use std::time::{Duration, SystemTime};

use serde_json::Value;
use support::{Moto, opsctl, text};

/// A root stack with what `docs` reads: EnableRAG, the documents bucket and the ingest function.
const STACK: &str = r#"{
  "Parameters": {"EnableRAG": {"Type": "String", "Default": "true"}},
  "Resources": {"Docs": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "docs-aws-test"}}},
  "Outputs": {
    "DocumentsBucket": {"Value": {"Ref": "Docs"}},
    "IngestFunctionName": {"Value": "chatbot-ingest-staging"},
    "ApiUrl": {"Value": "http://127.0.0.1:9"}
  }
}"#;
const GROUP: &str = "/aws/lambda/chatbot-ingest-staging";

#[test]
fn docs_put_waits_for_the_ingestion_lambdas_verdict() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let sdk = rt.block_on(Moto::shared().sdk_config());
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    rt.block_on(async {
        let cfn = aws_sdk_cloudformation::Client::new(&sdk);
        cfn.create_stack().stack_name("chatbot-staging").template_body(STACK).send().await.unwrap();
        aws_sdk_ssm::Client::new(&sdk)
            .put_parameter()
            .name("/chatbot/staging/api-token")
            .value("t0ken")
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .unwrap();
        logs.create_log_group().log_group_name(GROUP).send().await.unwrap();
        logs.create_log_stream().log_group_name(GROUP).log_stream_name("s").send().await.unwrap();
    });
    let dir = std::env::temp_dir().join(format!("opsctl-docs-aws-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.md"), "# Notes\n\nThe kettle is in the shed.\n").unwrap();
    std::fs::write(dir.join("scan.pdf"), "%PDF-1.4 not really").unwrap();

    // The Lambda's verdicts arrive a moment after the uploads, as they would on AWS.
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as i64;
        let lines = [
            r#"START RequestId: 7f0c Version: $LATEST"#.to_owned(),
            r#"{"level":"INFO","message":"document done","key":"docs/notes.md","outcome":"indexed","chunks":3,"elapsed_ms":40}"#.to_owned(),
            r#"{"level":"ERROR","message":"document rejected; fix it and upload again","key":"docs/scan.pdf","error":"the PDF has no text layer (a scan?): it needs OCR"}"#.to_owned(),
        ];
        rt.block_on(async {
            let events = lines.iter().map(|l| {
                aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                    .timestamp(now)
                    .message(l)
                    .build()
                    .unwrap()
            });
            logs.put_log_events()
                .log_group_name(GROUP)
                .log_stream_name("s")
                .set_log_events(Some(events.collect()))
                .send()
                .await
                .unwrap();
        });
    });
    let notes = dir.join("notes.md");
    let scan = dir.join("scan.pdf");
    let args = ["--env", "staging", "docs", "put", notes.to_str().unwrap(), scan.to_str().unwrap()];
    let out = opsctl(None, &[&args[..], &["--output", "json", "--timeout", "30"]].concat());
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "one document was rejected:\n{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["documents"][0]["key"], "docs/notes.md");
    assert_eq!(report["documents"][0]["indexed_chunks"], 3);
    assert!(report["documents"][1]["rejected"].as_str().unwrap().contains("OCR"), "{report}");

    // Nothing answers for a new upload: it times out, says where to look, and the file stays.
    std::fs::write(dir.join("later.md"), "# Later\n").unwrap();
    let later = dir.join("later.md");
    let out = opsctl(None, &["--env", "staging", "docs", "put", later.to_str().unwrap(), "--timeout", "3"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("no verdict from the ingestion Lambda within 3 s") && stdout.contains(GROUP),
        "{stdout}"
    );
    assert!(stdout.contains("stay in the bucket"), "{stdout}");
    let listed = opsctl(None, &["--env", "staging", "docs", "ls", "--output", "json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let names: Vec<&str> =
        listed["documents"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["later.md", "notes.md", "scan.pdf"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

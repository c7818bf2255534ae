//! The whole life of an environment through the real binary, against the emulator: deploy,
//! enable-rag, status, disable-rag, cleanup with versioned buckets, and cleanup again.

mod support;

use std::path::Path;
use std::process::Output;

use aws_sdk_s3::primitives::ByteStream;
use support::{Moto, packaged_target, text};

fn opsctl(target: &Path, args: &[&str]) -> Output {
    support::opsctl(Some(target), args)
}

fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "failed:\n{stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(out)).expect("JSON on stdout")
}

#[tokio::test]
async fn deploy_rag_on_off_status_and_cleanup_twice() {
    let t = packaged_target("lifecycle", &["chat", "ingest", "retrieve"]);
    let sdk = Moto::shared().sdk_config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let s3 = aws_sdk_s3::Client::new(&sdk);

    let deployed =
        json(&opsctl(&t, &["deploy", "--yes", "--no-package", "--arch", "x86_64", "--output", "json"]));
    assert_eq!(deployed["status"], "CREATE_COMPLETE");

    // enable-rag changes only EnableRAG; the AI stack appears.
    let on = opsctl(&t, &["enable-rag", "--yes"]);
    assert!(String::from_utf8_lossy(&on.stderr).contains("$175 a month"));
    ok(&on);
    let status = json(&opsctl(&t, &["status", "--output", "json"]));
    assert_eq!(status["status"], "UPDATE_COMPLETE");
    assert_eq!(status["parameters"]["EnableRAG"], "true");
    assert!(status["outputs"]["CollectionEndpoint"].as_str().unwrap().contains(".aoss."));
    let names: Vec<&str> =
        status["functions"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["chatbot-chat-dev", "chatbot-ingest-dev", "chatbot-retrieve-dev"]);
    assert!(status["functions"][0]["code_sha256"].as_str().is_some_and(|s| !s.is_empty()));
    let stacks = cfn.list_stacks().send().await.unwrap();
    assert!(
        stacks.stack_summaries().iter().any(|s| s.stack_name().unwrap().starts_with("chatbot-dev-AiStack")
            && s.stack_status().unwrap().as_str() == "CREATE_COMPLETE")
    );
    ok(&opsctl(&t, &["enable-rag", "--yes"])); // already on: nothing to do

    let off = opsctl(&t, &["disable-rag", "--yes"]);
    assert!(String::from_utf8_lossy(&off.stderr).contains("indexed chunk will be deleted"));
    ok(&off);
    let status = json(&opsctl(&t, &["status", "--output", "json"]));
    assert_eq!(status["parameters"]["EnableRAG"], "false");
    assert!(status["outputs"].get("CollectionEndpoint").is_none());

    // Several versions and delete markers in the documents bucket, and a log group Lambda left.
    let docs = status["outputs"]["DocumentsBucket"].as_str().unwrap().to_owned();
    for i in 0..3 {
        s3.put_object()
            .bucket(&docs)
            .key("docs/cv.md")
            .body(ByteStream::from(format!("v{i}").into_bytes()))
            .send()
            .await
            .unwrap();
    }
    s3.delete_object().bucket(&docs).key("docs/cv.md").send().await.unwrap();
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    logs.create_log_group().log_group_name("/aws/lambda/chatbot-chat-dev").send().await.ok();

    // `--export` goes first: when it cannot write its file, nothing is deleted.
    let export = std::env::temp_dir().join(format!("opsctl-cleanup-export-{}.jsonl", std::process::id()));
    std::fs::write(&export, "already here").unwrap();
    let refused = opsctl(&t, &["cleanup", "--yes", "--export", export.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("nothing was deleted"), "{}", text(&refused.stderr));
    assert!(cfn.describe_stacks().stack_name("chatbot-dev").send().await.is_ok(), "the stack must remain");
    std::fs::remove_file(&export).unwrap();

    let cleaned = ok(&opsctl(&t, &["cleanup", "--yes", "--export", export.to_str().unwrap()]));
    assert_eq!(std::fs::read_to_string(&export).unwrap(), "", "an empty table exports an empty file");
    std::fs::remove_file(&export).unwrap();
    assert!(cleaned.contains("removed stack chatbot-dev"), "{cleaned}");
    assert!(cleaned.contains("removed stack chatbot-bootstrap-dev"), "{cleaned}");
    assert!(cleaned.contains(&format!("from s3://{docs}")), "{cleaned}");
    assert!(cleaned.contains("removed parameter /chatbot/dev/api-token"), "{cleaned}");
    for stack in ["chatbot-dev", "chatbot-bootstrap-dev", "chatbot-billing-dev"] {
        let d = cfn.describe_stacks().stack_name(stack).send().await;
        assert!(
            d.is_err() || d.unwrap().stacks()[0].stack_status().unwrap().as_str() == "DELETE_COMPLETE",
            "{stack} remains"
        );
    }
    let buckets = s3.list_buckets().send().await.unwrap();
    assert!(
        !buckets
            .buckets()
            .iter()
            .any(|b| b.name().unwrap().contains("chatbot-") && b.name().unwrap().contains("-dev-")),
        "buckets remain"
    );
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    assert!(ssm.get_parameter().name("/chatbot/dev/api-token").send().await.is_err(), "token remains");
    let groups =
        logs.describe_log_groups().log_group_name_prefix("/aws/lambda/chatbot-").send().await.unwrap();
    assert!(
        groups.log_groups().iter().all(|g| !g.log_group_name().unwrap().ends_with("-dev")),
        "log groups remain"
    );

    let again = ok(&opsctl(&t, &["cleanup", "--yes"]));
    assert_eq!(again.trim(), "nothing to remove for dev");
}

/// prod keeps its table and documents, so it keeps the key that encrypts them: cleanup says which
/// key it kept and how to delete it on purpose, and the key is neither deleted nor scheduled.
#[tokio::test]
async fn prod_cleanup_keeps_the_key_of_the_retained_data_and_says_how_to_delete_it() {
    let t = packaged_target("lifecycle-prod", &["chat"]);
    let sdk = Moto::shared().sdk_config().await;
    let deployed = json(&opsctl(
        &t,
        &["--env", "prod", "deploy", "--yes", "--no-package", "--arch", "x86_64", "--output", "json"],
    ));
    assert_eq!(deployed["status"], "CREATE_COMPLETE");
    let key = deployed["outputs"]["KeyArn"].as_str().expect("the KeyArn output").to_owned();

    let cleaned = ok(&opsctl(&t, &["--env", "prod", "cleanup", "--confirm", "chatbot-prod"]));
    let kept = cleaned.lines().find(|l| l.starts_with("kept") && l.contains(&key));
    let kept = kept.unwrap_or_else(|| panic!("cleanup names the key it kept:\n{cleaned}"));
    assert!(kept.contains("alias/chatbot-prod"), "{kept}");
    assert!(kept.contains(&format!("aws kms schedule-key-deletion --key-id {key}")), "{kept}");

    let kms = aws_sdk_kms::Client::new(&sdk);
    let described = kms.describe_key().key_id(&key).send().await.expect("the key still exists");
    let state = described.key_metadata().and_then(|m| m.key_state()).map(|s| s.as_str().to_owned());
    assert_eq!(state.as_deref(), Some("Enabled"), "the key is not scheduled for deletion");
}

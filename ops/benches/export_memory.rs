//! Whether `opsctl export --all` keeps memory flat as the table grows: it seals N messages of about
//! 1 KiB each with the stack's key, as the chat Lambda does, writes them to the emulator's table,
//! then runs the real binary and reads its peak RSS from the kernel (`ru_maxrss` of the child,
//! through Python's `resource`, which needs no extra crate). A streaming export stays near the
//! same figure at 2,000 and 20,000 messages; one that held the table would grow by ~20 MiB.
//!
//! Every run also checks the round trip: as many lines as DynamoDB counts items, each content
//! equal to what was sealed. Prints `export_memory messages=N peak_rss_kib=K seconds=S`.
//!
//! `cargo bench -p opsctl --bench export_memory`

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, Select, WriteRequest};
use chatbot_core::aws::dynamodb::to_item;
use chatbot_core::aws::kms::KmsDataKeys;
use chatbot_core::crypto::EnvelopeCipher;
use chatbot_core::domain::message::{ConversationId, Message, Role, SealedMessage};
use chatbot_core::ports::Cipher;
use test_support::moto::Moto;

const SIZES: [usize; 2] = [2_000, 20_000];
const PER_CONVERSATION: usize = 50;
const TABLE: &str = "chatbot-export-bench";

fn content(i: usize) -> String {
    format!("message {i:06}: {}", "the quick brown fox jumps over the lazy dog. ".repeat(22))
}

#[tokio::main]
async fn main() {
    let moto = Moto::shared();
    let sdk = moto.sdk_config().await;
    let kms = aws_sdk_kms::Client::new(&sdk);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let key_arn = kms.create_key().send().await.unwrap().key_metadata.unwrap().arn.unwrap();
    create_table(&ddb).await;
    let stack = format!(
        r#"{{"Resources": {{"T": {{"Type": "AWS::SNS::Topic"}}}},
            "Outputs": {{"TableName": {{"Value": "{TABLE}"}}, "KeyArn": {{"Value": "{key_arn}"}},
                         "ApiUrl": {{"Value": "http://127.0.0.1:9"}}}}}}"#
    );
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    cfn.create_stack().stack_name("chatbot-dev").template_body(stack).send().await.unwrap();

    let cipher = Arc::new(EnvelopeCipher::new(KmsDataKeys::new(kms, &key_arn, "dev")));
    let dir = std::env::temp_dir().join(format!("opsctl-export-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut seeded = 0;
    for size in SIZES {
        seed(&ddb, cipher.as_ref(), seeded, size).await;
        seeded = size;
        let out = dir.join(format!("export-{size}.jsonl"));
        let (peak_kib, seconds) = export(moto, &out);
        let text = std::fs::read_to_string(&out).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let counted = count(&ddb).await;
        assert_eq!(lines.len(), counted, "every stored message is exported");
        let mut contents: Vec<&str> = lines.iter().map(|l| l["content"].as_str().unwrap()).collect();
        contents.sort_unstable();
        let expected: Vec<String> = (0..size).map(content).collect();
        assert!(contents.iter().zip(&expected).all(|(a, b)| a == b), "every message round-trips");
        println!(
            "export_memory messages={size} table_items={counted} file_bytes={} peak_rss_kib={peak_kib} seconds={seconds:.2}",
            text.len()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

async fn create_table(ddb: &aws_sdk_dynamodb::Client) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |n: &str, t| KeySchemaElement::builder().attribute_name(n).key_type(t).build().unwrap();
    ddb.create_table()
        .table_name(TABLE)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("conversation_id"))
        .attribute_definitions(attr("timestamp"))
        .key_schema(key("conversation_id", KeyType::Hash))
        .key_schema(key("timestamp", KeyType::Range))
        .send()
        .await
        .unwrap();
}

/// Messages `from..to`, sealed as the chat handler seals them, written 25 at a time.
async fn seed(ddb: &aws_sdk_dynamodb::Client, cipher: &dyn Cipher, from: usize, to: usize) {
    let mut conversation = ConversationId::new();
    let mut batch = Vec::new();
    for i in from..to {
        if i % PER_CONVERSATION == 0 {
            conversation = ConversationId::new();
        }
        let role = if i % 2 == 0 { Role::User } else { Role::Assistant };
        let mut m = Message::new(conversation, role, content(i), time::OffsetDateTime::now_utc());
        // Set before sealing: the AAD covers the model.
        m.model = Some("bench".into());
        let sealed = cipher.seal(m.content.as_bytes(), &m.aad()).await.unwrap();
        let item = to_item(
            &SealedMessage {
                conversation_id: m.conversation_id,
                message_id: m.message_id,
                sort_key: m.sort_key.clone(),
                role,
                content: sealed.blob,
                wrapped_key: sealed.wrapped_key,
                model: m.model.clone(),
                usage: None,
                status: None,
                citations: None,
            },
            i64::MAX / 2,
        );
        batch.push(
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                .build(),
        );
        if batch.len() == 25 || i + 1 == to {
            let mut items = HashMap::from([(TABLE.to_owned(), std::mem::take(&mut batch))]);
            while !items.is_empty() {
                let out = ddb.batch_write_item().set_request_items(Some(items)).send().await.unwrap();
                items = out.unprocessed_items.unwrap_or_default();
                items.retain(|_, v| !v.is_empty());
            }
        }
    }
}

async fn count(ddb: &aws_sdk_dynamodb::Client) -> usize {
    let mut n = 0;
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let page = ddb
            .scan()
            .table_name(TABLE)
            .select(Select::Count)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap();
        n += page.count as usize;
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return n,
        }
    }
}

/// Runs `opsctl export --all` and returns its peak RSS in KiB and its wall time in seconds.
fn export(moto: &Moto, out: &std::path::Path) -> (u64, f64) {
    const MEASURE: &str = "import resource, subprocess, sys, time\n\
t = time.monotonic()\n\
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n\
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.monotonic() - t, code)\n";
    let python = std::env::var("MOTO_PYTHON").unwrap_or_else(|_| "python3".into());
    let run = Command::new(python)
        .args(["-c", MEASURE, env!("CARGO_BIN_EXE_opsctl"), "--env", "dev", "export", "--all", "--out"])
        .arg(out)
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", Moto::REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&run.stdout);
    let fields: Vec<&str> = report.split_whitespace().collect();
    assert_eq!(fields.get(2), Some(&"0"), "opsctl export failed: {}", String::from_utf8_lossy(&run.stderr));
    (fields[0].parse().unwrap(), fields[1].parse().unwrap())
}

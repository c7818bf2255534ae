//! Stored conversations against a moto server, through the real DynamoDB and KMS adapters: a
//! malformed or altered item does not break the conversation, a retried write is not an error,
//! and an `Idempotency-Key` sent twice is answered once.

mod support;

use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use chatbot_core::auth::Authenticator;
use chatbot_core::aws::dynamodb::{DEFAULT_RETENTION, DynamoConversationStore, to_item};
use chatbot_core::aws::kms::KmsDataKeys;
use chatbot_core::crypto::EnvelopeCipher;
use chatbot_core::domain::message::{ConversationId, Message, Role, SealedMessage, aad_v1};
use chatbot_core::fakes::{RecordingMetrics, ScriptedModel};
use chatbot_core::handlers::chat::{OpenError, open};
use chatbot_core::handlers::{ApiRequest, ChatApp, ChatSettings, route};
use chatbot_core::ports::{CipherError, ConversationStore, StoreError};
use serde_json::{Value, json};
use support::moto::Moto;
use support::tables::{create_key, create_table};
use time::OffsetDateTime;
use uuid::Uuid;

struct Stack {
    sdk: SdkConfig,
    table: String,
    app: ChatApp,
    model: Arc<ScriptedModel>,
    metrics: Arc<RecordingMetrics>,
}

impl Stack {
    async fn new() -> Self {
        let sdk = Moto::shared().sdk_config().await;
        let table = create_table(&sdk).await;
        let key_id = create_key(&sdk).await;
        let model = Arc::new(ScriptedModel::new("fake-model"));
        let metrics = Arc::new(RecordingMetrics::default());
        let store = Arc::new(store(&sdk, &table));
        let app = ChatApp {
            store: store.clone(),
            idempotency: store,
            cipher: Arc::new(EnvelopeCipher::new(KmsDataKeys::new(
                aws_sdk_kms::Client::new(&sdk),
                &key_id,
                "dev",
            ))),
            model: model.clone(),
            retriever: None,
            metrics: metrics.clone(),
            auth: Authenticator::Disabled,
            sign_in_codes: Arc::new(chatbot_core::sign_in_codes::MemorySignInCodes::default()),
            settings: ChatSettings::default(),
            documents: None,
        };
        Self { sdk, table, app, model, metrics }
    }

    fn dynamo(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }

    async fn say(&self, key: Option<&str>, body: Value) -> (u16, Vec<u8>) {
        let req = ApiRequest {
            method: http::Method::POST,
            path: "/chat".into(),
            authorization: None,
            idempotency_key: key.map(str::to_owned),
            accept: None,
            cookie: None,
            csrf: None,
            accept_encoding: None,
            if_none_match: None,
            query: None,
            body: body.to_string().into(),
            request_id: "moto".into(),
        };
        let resp = route(&self.app, &req).await;
        (resp.status().as_u16(), resp.body().clone())
    }

    async fn turn(&self, conversation: Option<&str>, message: &str) -> Value {
        let mut body = json!({ "message": message });
        if let Some(c) = conversation {
            body["conversation_id"] = c.into();
        }
        let (status, bytes) = self.say(None, body).await;
        let json: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(status, 200, "{json}");
        json
    }

    /// Every item of a partition, raw.
    async fn partition(&self, pk: &str) -> Vec<std::collections::HashMap<String, AttributeValue>> {
        let out = self
            .dynamo()
            .query()
            .table_name(&self.table)
            .key_condition_expression("conversation_id = :c")
            .expression_attribute_values(":c", AttributeValue::S(pk.to_owned()))
            .send()
            .await
            .unwrap();
        out.items().to_vec()
    }

    async fn set(&self, conversation: &str, sort_key: &str, expression: &str, value: AttributeValue) {
        self.dynamo()
            .update_item()
            .table_name(&self.table)
            .key("conversation_id", AttributeValue::S(conversation.to_owned()))
            .key("timestamp", AttributeValue::S(sort_key.to_owned()))
            .update_expression(expression)
            .expression_attribute_values(":v", value)
            .send()
            .await
            .unwrap();
    }
}

fn store(sdk: &SdkConfig, table: &str) -> DynamoConversationStore {
    DynamoConversationStore::new(aws_sdk_dynamodb::Client::new(sdk), table, DEFAULT_RETENTION)
}

#[tokio::test]
async fn a_garbage_item_in_a_conversation_is_skipped_and_counted_and_the_next_turn_answers() {
    let stack = Stack::new().await;
    let conv = stack.turn(None, "first").await["conversation_id"].as_str().unwrap().to_owned();
    stack
        .dynamo()
        .put_item()
        .table_name(&stack.table)
        .item("conversation_id", AttributeValue::S(conv.clone()))
        .item("timestamp", AttributeValue::S("2026-01-01T00:00:00.000000Z#not-a-message".into()))
        .item("content", AttributeValue::S("garbage, and not binary".into()))
        .send()
        .await
        .unwrap();

    let history =
        store(&stack.sdk, &stack.table).recent(&ConversationId::parse(&conv).unwrap(), 10).await.unwrap();
    assert_eq!(history.messages.len(), 2);
    assert_eq!(history.skipped.len(), 1);
    assert_eq!(history.skipped[0].sort_key.as_deref(), Some("2026-01-01T00:00:00.000000Z#not-a-message"));
    assert!(!history.skipped[0].reason.contains("garbage"), "{}", history.skipped[0].reason);

    let second = stack.turn(Some(&conv), "second").await;
    assert_eq!(second["conversation_id"], conv.as_str());
    let skipped: Vec<u32> = stack.metrics.turns().iter().map(|t| t.history_items_skipped).collect();
    assert_eq!(skipped, [0, 1]);
    assert_eq!(stack.model.last_prompt().unwrap().turns.len(), 3, "the first turn is still remembered");
}

#[tokio::test]
async fn changing_message_id_model_or_tokens_on_a_stored_item_makes_it_fail_to_open() {
    let stack = Stack::new().await;
    let conv = stack.turn(None, "hello").await["conversation_id"].as_str().unwrap().to_owned();
    let id = ConversationId::parse(&conv).unwrap();
    let reply = store(&stack.sdk, &stack.table).recent(&id, 10).await.unwrap().messages.remove(1);
    let sk = reply.sort_key.to_string();
    let usage = reply.usage.unwrap();
    let edits = [
        ("SET message_id = :v", AttributeValue::S(Uuid::new_v4().to_string())),
        ("SET model = :v", AttributeValue::S("another-model".into())),
        ("SET input_tokens = :v", AttributeValue::N((usage.input_tokens + 1).to_string())),
        ("SET output_tokens = :v", AttributeValue::N((usage.output_tokens + 1).to_string())),
    ];
    let originals = [
        AttributeValue::S(reply.message_id.to_string()),
        AttributeValue::S(reply.model.clone().unwrap()),
        AttributeValue::N(usage.input_tokens.to_string()),
        AttributeValue::N(usage.output_tokens.to_string()),
    ];
    for ((expression, value), original) in edits.into_iter().zip(originals) {
        stack.set(&conv, &sk, expression, value).await;
        let altered = store(&stack.sdk, &stack.table).recent(&id, 10).await.unwrap().messages.remove(1);
        let err = open(&stack.app, altered).await.unwrap_err();
        assert!(matches!(err, OpenError::Cipher(CipherError::Authentication)), "{expression}: {err:?}");
        stack.set(&conv, &sk, expression, original).await;
    }
    let restored = store(&stack.sdk, &stack.table).recent(&id, 10).await.unwrap().messages.remove(1);
    assert!(open(&stack.app, restored).await.is_ok());

    // Left altered, the item is skipped by the next turn.
    stack.set(&conv, &sk, "SET model = :v", AttributeValue::S("another-model".into())).await;
    stack.turn(Some(&conv), "again").await;
    assert_eq!(stack.metrics.turns().last().unwrap().history_items_skipped, 1);
}

#[tokio::test]
async fn an_item_sealed_with_the_v1_aad_still_opens() {
    let stack = Stack::new().await;
    let mut m = Message::new(
        ConversationId::new(),
        Role::Assistant,
        "from last year".into(),
        OffsetDateTime::now_utc(),
    );
    m.model = Some("old-model".into());
    let sealed = stack
        .app
        .cipher
        .seal(m.content.as_bytes(), &aad_v1(&m.conversation_id, &m.sort_key, m.role))
        .await
        .unwrap();
    let mut content = sealed.blob;
    content[0] = 1; // the version byte the code before AAD v2 wrote
    let item = SealedMessage {
        conversation_id: m.conversation_id,
        message_id: m.message_id,
        sort_key: m.sort_key.clone(),
        role: m.role,
        content,
        wrapped_key: sealed.wrapped_key,
        model: m.model.clone(),
        usage: None,
        status: None,
        citations: None,
    };
    stack
        .dynamo()
        .put_item()
        .table_name(&stack.table)
        .set_item(Some(to_item(&item, 0)))
        .send()
        .await
        .unwrap();
    let read =
        store(&stack.sdk, &stack.table).recent(&m.conversation_id, 10).await.unwrap().messages.remove(0);
    assert_eq!(open(&stack.app, read).await.unwrap().content, "from last year");
}

#[tokio::test]
async fn putting_the_same_sealed_message_twice_is_success_and_another_at_its_key_is_not() {
    let stack = Stack::new().await;
    let store = store(&stack.sdk, &stack.table);
    let id = Uuid::new_v4();
    let m = SealedMessage {
        conversation_id: ConversationId::new(),
        message_id: id,
        sort_key: chatbot_core::domain::message::SortKey::new(OffsetDateTime::now_utc(), id),
        role: Role::User,
        content: vec![2; 40],
        wrapped_key: vec![1; 8],
        model: None,
        usage: None,
        status: None,
        citations: None,
    };
    store.append(&m).await.unwrap();
    store.append(&m).await.expect("the write had landed: success, not a 500");
    let other = SealedMessage { message_id: Uuid::new_v4(), ..m.clone() };
    assert!(matches!(store.append(&other).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.recent(&m.conversation_id, 10).await.unwrap().messages, [m]);
}

#[tokio::test]
async fn the_same_idempotency_key_twice_calls_the_model_once_and_stores_two_messages() {
    let stack = Stack::new().await;
    stack.model.then_reply("answered once");
    let body = json!({"message": "my secret question"});
    let (status, first) = stack.say(Some("moto-key-1"), body.clone()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&first));
    let (status, again) = stack.say(Some("moto-key-1"), body).await;
    assert_eq!(status, 200);
    assert_eq!(first, again, "two identical replies");
    assert_eq!(stack.model.prompts().len(), 1, "one model call");

    let reply: Value = serde_json::from_slice(&first).unwrap();
    let conv = reply["conversation_id"].as_str().unwrap();
    let items = stack.partition(conv).await;
    let messages = items.iter().filter(|i| i.contains_key("message_id")).count();
    assert_eq!((messages, items.len()), (2, 3), "two stored messages in all, and the listing entry");

    // The record: its own partition, the reply sealed in it.
    let key = chatbot_core::digest::sha256_hex(b"moto-key-1");
    let record = stack.partition(&format!("idempotency#{key}")).await;
    assert_eq!(record.len(), 1);
    let response = record[0]["response"].as_b().expect("the reply is binary").as_ref();
    assert!(!response.windows(8).any(|w| w == b"answered"), "the stored reply is sealed");
    assert!(record[0]["ttl"].as_n().is_ok());
    assert_eq!(record[0]["state"].as_s().unwrap(), "complete");

    // A different body under the key is refused; a second key is a second turn.
    let (status, _) = stack.say(Some("moto-key-1"), json!({"message": "another question"})).await;
    assert_eq!(status, 422);
    let (status, _) = stack.say(Some("moto-key-2"), json!({"message": "my secret question"})).await;
    assert_eq!(status, 200);
    assert_eq!(stack.model.prompts().len(), 2);
}

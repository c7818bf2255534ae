//! DynamoDB, KMS and SSM adapters over real wire calls to a moto server.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_types::config_bag::ConfigBag;
use chatbot_core::auth::Authenticator;
use chatbot_core::aws::dynamodb::{DEFAULT_RETENTION, DynamoConversationStore};
use chatbot_core::aws::kms::KmsDataKeys;
use chatbot_core::aws::ssm::SsmParameter;
use chatbot_core::crypto::EnvelopeCipher;
use chatbot_core::domain::message::{ConversationId, Role, SealedMessage, SortKey};
use chatbot_core::fakes::{RecordingMetrics, ScriptedModel};
use chatbot_core::handlers::chat::{OpenError, open};
use chatbot_core::handlers::{ApiRequest, ChatApp, ChatSettings, route};
use chatbot_core::ports::{Cipher, CipherError, ConversationStore, SecretError, SecretSource, StoreError};
use support::moto::Moto;
use support::tables::{create_key, create_table};
use time::OffsetDateTime;
use uuid::Uuid;

/// Counts every KMS operation the client sends.
#[derive(Debug, Default, Clone)]
struct CallCounter(Arc<AtomicUsize>);

impl CallCounter {
    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }
    fn read_before_execution(
        &self,
        _ctx: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

async fn sdk() -> SdkConfig {
    Moto::shared().sdk_config().await
}

fn store(sdk: &SdkConfig, table: &str) -> DynamoConversationStore {
    DynamoConversationStore::new(aws_sdk_dynamodb::Client::new(sdk), table, DEFAULT_RETENTION)
}

fn counted_kms(sdk: &SdkConfig) -> (aws_sdk_kms::Client, CallCounter) {
    let counter = CallCounter::default();
    let conf = aws_sdk_kms::config::Builder::from(sdk).interceptor(counter.clone()).build();
    (aws_sdk_kms::Client::from_conf(conf), counter)
}

struct Stack {
    sdk: SdkConfig,
    table: String,
    key_id: String,
}

impl Stack {
    async fn new() -> Self {
        let sdk = sdk().await;
        let table = create_table(&sdk).await;
        let key_id = create_key(&sdk).await;
        Self { sdk, table, key_id }
    }

    /// A cold chat Lambda: fresh caches, its own KMS call counter.
    fn app(&self) -> (ChatApp, CallCounter) {
        let (kms, counter) = counted_kms(&self.sdk);
        let table = Arc::new(store(&self.sdk, &self.table));
        let app = ChatApp {
            store: table.clone(),
            idempotency: table,
            cipher: Arc::new(EnvelopeCipher::new(KmsDataKeys::new(kms, &self.key_id, "dev"))),
            model: Arc::new(ScriptedModel::new("fake-model")),
            retriever: None,
            metrics: Arc::new(RecordingMetrics::default()),
            auth: Authenticator::Disabled,
            sign_in_codes: Arc::new(chatbot_core::sign_in_codes::MemorySignInCodes::default()),
            settings: ChatSettings::default(),
            documents: None,
        };
        (app, counter)
    }
}

async fn say(app: &ChatApp, conversation: Option<&str>, message: &str) -> serde_json::Value {
    let mut body = serde_json::json!({ "message": message });
    if let Some(c) = conversation {
        body["conversation_id"] = c.into();
    }
    let req = ApiRequest {
        method: http::Method::POST,
        path: "/chat".into(),
        authorization: None,
        idempotency_key: None,
        accept: None,
        cookie: None,
        csrf: None,
        accept_encoding: None,
        if_none_match: None,
        query: None,
        body: body.to_string().into(),
        request_id: "moto".into(),
    };
    let resp = route(app, &req).await;
    let json: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(resp.status(), 200, "{json}");
    json
}

fn sealed(conv: ConversationId, at: OffsetDateTime, role: Role, tag: u8) -> SealedMessage {
    let id = Uuid::new_v4();
    SealedMessage {
        conversation_id: conv,
        message_id: id,
        sort_key: SortKey::new(at, id),
        role,
        content: vec![tag; 4],
        wrapped_key: vec![0xAA; 8],
        model: None,
        usage: None,
        status: None,
        citations: None,
    }
}

#[tokio::test]
async fn dynamodb_round_trip_returns_the_newest_n_oldest_first() {
    let sdk = sdk().await;
    let table = create_table(&sdk).await;
    let store = store(&sdk, &table);
    let conv = ConversationId::new();
    let other = ConversationId::new();
    let t0 = OffsetDateTime::now_utc();
    let mut written = Vec::new();
    for i in 0..6u8 {
        let role = if i % 2 == 0 { Role::User } else { Role::Assistant };
        let m = sealed(conv, t0 + Duration::from_millis(u64::from(i) * 7), role, i);
        store.append(&m).await.unwrap();
        written.push(m);
    }
    store.append(&sealed(other, t0, Role::User, 99)).await.unwrap();

    let recent = store.recent(&conv, 4).await.unwrap().messages;
    assert_eq!(
        recent,
        written[2..].to_vec(),
        "newest four, oldest first, nothing from the other conversation"
    );
    assert_eq!(store.recent(&conv, 100).await.unwrap().messages.len(), 6);
    assert!(store.recent(&ConversationId::new(), 10).await.unwrap().messages.is_empty());

    // ttl is now + 30 days.
    let raw = aws_sdk_dynamodb::Client::new(&sdk)
        .get_item()
        .table_name(&table)
        .key("conversation_id", AttributeValue::S(conv.to_string()))
        .key("timestamp", AttributeValue::S(written[0].sort_key.to_string()))
        .send()
        .await
        .unwrap();
    let ttl: i64 = raw.item().unwrap()["ttl"].as_n().unwrap().parse().unwrap();
    let expected = OffsetDateTime::now_utc().unix_timestamp() + 30 * 86_400;
    assert!((ttl - expected).abs() < 120, "ttl {ttl} vs {expected}");
}

#[tokio::test]
async fn two_messages_in_the_same_millisecond_are_kept_apart() {
    let sdk = sdk().await;
    let table = create_table(&sdk).await;
    let store = store(&sdk, &table);
    let conv = ConversationId::new();
    let at = OffsetDateTime::now_utc();
    let a = sealed(conv, at, Role::User, 1);
    let b = sealed(conv, at, Role::Assistant, 2);
    store.append(&a).await.unwrap();
    store.append(&b).await.unwrap();
    let got = store.recent(&conv, 10).await.unwrap().messages;
    assert_eq!(got.len(), 2);
    assert!(got.contains(&a) && got.contains(&b));
    // Another message at a stored key is refused, never an overwrite.
    let usurper = SealedMessage { message_id: Uuid::new_v4(), content: vec![7; 4], ..a.clone() };
    let err = store.append(&usurper).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(
        store.recent(&conv, 10).await.unwrap().messages.iter().find(|m| m.sort_key == a.sort_key),
        Some(&a)
    );
}

#[tokio::test]
async fn stored_content_is_ciphertext_and_moved_content_fails_to_decrypt() {
    let stack = Stack::new().await;
    let (app, _) = stack.app();
    let first = say(&app, None, "my bank PIN is 2468").await;
    let conv = first["conversation_id"].as_str().unwrap().to_owned();
    say(&app, Some(&conv), "and my dog is called Biscuit").await;

    let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let items = dynamo.scan().table_name(&stack.table).send().await.unwrap().items().to_vec();
    assert_eq!(items.len(), 5, "four messages and the conversation's listing entry");
    let (entries, items): (Vec<_>, Vec<_>) =
        items.into_iter().partition(chatbot_core::aws::dynamodb::is_listing);
    // The title is the first message: sealed like it.
    let title = entries[0]["title"].as_b().expect("the title is binary").as_ref();
    assert!(!title.windows(4).any(|w| w == b"2468") && !title.windows(4).any(|w| w == b"bank"));
    for item in &items {
        let content = item["content"].as_b().expect("content is binary").as_ref();
        assert!(!item["wrapped_key"].as_b().unwrap().as_ref().is_empty());
        for plain in [&b"2468"[..], b"Biscuit", b"bank"] {
            assert!(!content.windows(plain.len()).any(|w| w == plain), "plaintext in stored content");
        }
    }

    // Move the first message's content (and its wrapped key) onto the second item.
    let conv_id = ConversationId::parse(&conv).unwrap();
    let history = stack_store(&stack).recent(&conv_id, 10).await.unwrap().messages;
    let (from, to) = (&history[0], &history[2]);
    dynamo
        .update_item()
        .table_name(&stack.table)
        .key("conversation_id", AttributeValue::S(conv.clone()))
        .key("timestamp", AttributeValue::S(to.sort_key.to_string()))
        .update_expression("SET content = :c, wrapped_key = :k")
        .expression_attribute_values(":c", AttributeValue::B(from.content.clone().into()))
        .expression_attribute_values(":k", AttributeValue::B(from.wrapped_key.clone().into()))
        .send()
        .await
        .unwrap();
    let moved = stack_store(&stack).recent(&conv_id, 10).await.unwrap().messages.remove(2);
    let err = open(&app, moved).await.unwrap_err();
    assert!(matches!(err, OpenError::Cipher(CipherError::Authentication)), "{err:?}");
    assert!(err.to_string().contains("belongs to another item"), "{err}");

    // The chat turn over that history leaves the moved item out rather than failing: it answers,
    // and no one's text is opened under another item's name.
    let req = ApiRequest {
        method: http::Method::POST,
        path: "/chat".into(),
        authorization: None,
        idempotency_key: None,
        accept: None,
        cookie: None,
        csrf: None,
        accept_encoding: None,
        if_none_match: None,
        query: None,
        body: serde_json::json!({"conversation_id": conv, "message": "hi"}).to_string().into(),
        request_id: "moved".into(),
    };
    assert_eq!(route(&app, &req).await.status(), 200);
}

fn stack_store(stack: &Stack) -> DynamoConversationStore {
    store(&stack.sdk, &stack.table)
}

#[tokio::test]
async fn a_wrong_encryption_context_fails_to_unwrap() {
    let sdk = sdk().await;
    let key = create_key(&sdk).await;
    let kms = aws_sdk_kms::Client::new(&sdk);
    let dev = EnvelopeCipher::new(KmsDataKeys::new(kms.clone(), &key, "dev"));
    let sealed = dev.seal(b"hello", b"aad").await.unwrap();
    assert_eq!(&dev.open(&sealed, b"aad").await.unwrap()[..], b"hello");

    let prod = EnvelopeCipher::new(KmsDataKeys::new(kms, &key, "prod"));
    let err = prod.open(&sealed, b"aad").await.unwrap_err();
    assert!(matches!(err, CipherError::KeyService { operation: "unwrap", .. }), "{err}");
    assert!(err.to_string().contains("encryption context"), "{err}");
}

#[tokio::test]
async fn a_warm_turn_makes_no_kms_call_and_a_cold_one_at_most_two() {
    let stack = Stack::new().await;
    let (warm, warm_calls) = stack.app();
    let conv = say(&warm, None, "first").await["conversation_id"].as_str().unwrap().to_owned();
    assert_eq!(warm_calls.get(), 1, "a new conversation on a cold start: one GenerateDataKey");

    let before = warm_calls.get();
    say(&warm, Some(&conv), "second").await;
    assert_eq!(warm_calls.get() - before, 0, "a warm turn makes no KMS call");

    // A new cold instance picks up the conversation: one Decrypt for the history's data key,
    // one GenerateDataKey for its own.
    let (cold, cold_calls) = stack.app();
    say(&cold, Some(&conv), "third").await;
    assert!(cold_calls.get() <= 2, "cold turn made {} KMS calls", cold_calls.get());
    assert!(cold_calls.get() >= 1);
    let before = cold_calls.get();
    say(&cold, Some(&conv), "fourth").await;
    assert_eq!(cold_calls.get(), before, "and then it is warm");
}

#[tokio::test]
async fn the_api_token_is_read_from_an_ssm_secure_string() {
    let sdk = sdk().await;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let name = format!("/chatbot/test-{}/api-token", Uuid::new_v4().simple());
    ssm.put_parameter()
        .name(&name)
        .value("tok-123")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let source = SsmParameter::new(ssm.clone(), &name);
    assert_eq!(source.fetch().await.unwrap().as_str(), "tok-123");
    let missing = SsmParameter::new(ssm, "/chatbot/nope/api-token");
    assert!(matches!(missing.fetch().await, Err(SecretError::NotFound { .. })));
}

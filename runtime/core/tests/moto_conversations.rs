//! The DynamoDB conversations adapter (listing entry, owner/updated index, pages, rename,
//! delete) over real wire calls to a moto server, and the requests a warm chat turn makes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use chatbot_core::auth::Authenticator;
use chatbot_core::aws::dynamodb::{DEFAULT_RETENTION, DynamoConversationStore, LISTING_SORT_KEY};
use chatbot_core::aws::kms::KmsDataKeys;
use chatbot_core::crypto::EnvelopeCipher;
use chatbot_core::domain::message::{ConversationId, Role, SealedMessage, SortKey};
use chatbot_core::fakes::{RecordingMetrics, ScriptedModel};
use chatbot_core::handlers::{ApiRequest, ChatApp, ChatSettings, route};
use chatbot_core::ports::{
    ConversationStore, DEFAULT_OWNER, ListingChange, ListingEntry, Sealed, StoreError,
};
use test_support::moto::Moto;
use test_support::tables::{create_key, create_table};
use time::OffsetDateTime;
use uuid::Uuid;

type Item = HashMap<String, AttributeValue>;

/// Records the operation of every request a client puts on the wire, retries included: the
/// budget of a warm turn is in requests, and a retried one costs as much as the first.
#[derive(Debug, Default, Clone)]
struct Requests(Arc<Mutex<Vec<String>>>);

impl Requests {
    fn names(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

impl Intercept for Requests {
    fn name(&self) -> &'static str {
        "Requests"
    }
    fn read_before_transmit(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg.load::<Metadata>().map_or("<unnamed>", |m| m.name()).to_owned();
        self.0.lock().unwrap().push(name);
        Ok(())
    }
}

async fn sdk() -> SdkConfig {
    Moto::shared().sdk_config().await
}

/// A store over a fresh table of its own, so no other test's conversations are listed.
async fn fresh() -> (SdkConfig, String, DynamoConversationStore) {
    let sdk = sdk().await;
    let table = create_table(&sdk).await;
    let store = DynamoConversationStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table, DEFAULT_RETENTION);
    (sdk, table, store)
}

fn message(conv: ConversationId, at: OffsetDateTime, role: Role, tag: u8) -> SealedMessage {
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

/// A stand-in for a sealed title: the store never opens it, it only keeps its bytes.
fn title(tag: u8) -> Sealed {
    Sealed { blob: vec![tag; 6], wrapped_key: vec![tag ^ 0xFF; 8] }
}

fn change(owner: &str, title: Option<Sealed>) -> ListingChange {
    ListingChange { owner: owner.to_owned(), title }
}

/// The time part of a sort key, which is what the entry's `created` and `updated` hold.
fn time_of(m: &SealedMessage) -> String {
    m.sort_key.as_str().split_once('#').unwrap().0.to_owned()
}

/// Every item in a conversation's partition, read straight from the table.
async fn partition(sdk: &SdkConfig, table: &str, conv: &ConversationId) -> Vec<Item> {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .query()
            .table_name(table)
            .key_condition_expression("conversation_id = :c")
            .expression_attribute_values(":c", AttributeValue::S(conv.to_string()))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        items.extend(out.items().iter().cloned());
        start = out.last_evaluated_key().cloned();
        if start.is_none() {
            return items;
        }
    }
}

#[tokio::test]
async fn append_listed_creates_then_updates_the_entry_and_a_retry_counts_once() {
    let (_, _, store) = fresh().await;
    let conv = ConversationId::new();
    let t0 = OffsetDateTime::now_utc();
    let first = message(conv, t0, Role::User, 1);
    store.append_listed(&first, &change(DEFAULT_OWNER, Some(title(1)))).await.unwrap();
    let entry = store.listing(&conv).await.unwrap().expect("an entry with the first message");
    assert_eq!(
        entry,
        ListingEntry {
            conversation_id: conv,
            owner: DEFAULT_OWNER.to_owned(),
            title: Some(title(1)),
            created: time_of(&first),
            updated: time_of(&first),
            message_count: 1,
        }
    );

    // A later change that carries another title does not replace the first one.
    let second = message(conv, t0 + Duration::from_millis(5), Role::Assistant, 2);
    store.append_listed(&second, &change(DEFAULT_OWNER, Some(title(2)))).await.unwrap();
    let updated = ListingEntry { updated: time_of(&second), message_count: 2, ..entry.clone() };
    assert_ne!(updated.updated, entry.updated, "the time moved");
    assert_eq!(store.listing(&conv).await.unwrap(), Some(updated.clone()), "the first title is kept");

    // The SDK's retry of a write that had landed: same key, same message id.
    store.append_listed(&second, &change(DEFAULT_OWNER, None)).await.unwrap();
    assert_eq!(store.listing(&conv).await.unwrap(), Some(updated.clone()), "a retry counts once");

    // Another message at a stored key: refused, and the entry is left as it was.
    let usurper = SealedMessage { message_id: Uuid::new_v4(), content: vec![7; 4], ..second.clone() };
    let err = store.append_listed(&usurper, &change(DEFAULT_OWNER, Some(title(3)))).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(store.listing(&conv).await.unwrap(), Some(updated));
    let stored = store.recent(&conv, 10).await.unwrap().messages;
    assert_eq!(stored, vec![first, second], "the stored message is not overwritten");
}

#[tokio::test]
async fn recent_never_returns_the_listing_item_and_honours_its_limit() {
    let (_, _, store) = fresh().await;
    let conv = ConversationId::new();
    let t0 = OffsetDateTime::now_utc();
    let mut written = Vec::new();
    for i in 0..3u8 {
        let m = message(conv, t0 + Duration::from_millis(u64::from(i) * 3), Role::User, i);
        store.append_listed(&m, &change(DEFAULT_OWNER, Some(title(i)))).await.unwrap();
        written.push(m);
    }
    assert!(store.listing(&conv).await.unwrap().is_some(), "the entry is in the partition");

    // The entry sorts after every message: a newest-first query would meet it first.
    let two = store.recent(&conv, 2).await.unwrap();
    assert_eq!(two.messages, written[1..].to_vec(), "the newest two messages, oldest first");
    assert!(two.skipped.is_empty(), "the entry is not a skipped item: {:?}", two.skipped);
    let one = store.recent(&conv, 1).await.unwrap();
    assert_eq!(one.messages, written[2..].to_vec());
    assert!(one.skipped.is_empty(), "{:?}", one.skipped);
    let all = store.recent(&conv, 50).await.unwrap();
    assert_eq!(all.messages, written);
    assert!(all.skipped.is_empty(), "{:?}", all.skipped);
}

#[tokio::test]
async fn list_pages_newest_first_per_owner_and_refuses_foreign_cursors() {
    let (_, _, store) = fresh().await;
    let t0 = OffsetDateTime::now_utc();
    // Written in an order unlike their update times, so the order can only come from the index.
    let offsets = [3u64, 0, 5, 1, 6, 2, 4];
    let mut convs = Vec::new();
    for (i, offset) in offsets.iter().enumerate() {
        let conv = ConversationId::new();
        let at = t0 + Duration::from_secs(*offset);
        let m = message(conv, at, Role::User, u8::try_from(i).unwrap());
        store.append_listed(&m, &change(DEFAULT_OWNER, Some(title(1)))).await.unwrap();
        convs.push((*offset, conv));
    }
    // One conversation gets a later message: it moves to the front.
    let (_, bumped) = convs[1];
    let later = message(bumped, t0 + Duration::from_secs(10), Role::Assistant, 9);
    store.append_listed(&later, &change(DEFAULT_OWNER, None)).await.unwrap();
    convs[1].0 = 10;
    // Another owner's conversations, newer than all of them.
    let foreign = ConversationId::new();
    let m = message(foreign, t0 + Duration::from_secs(20), Role::User, 0);
    store.append_listed(&m, &change("someone-else", Some(title(2)))).await.unwrap();

    convs.sort_by_key(|c| std::cmp::Reverse(c.0));
    let expected: Vec<ConversationId> = convs.iter().map(|(_, c)| *c).collect();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store.list(DEFAULT_OWNER, 2, cursor.as_deref()).await.unwrap();
        assert!(page.items.len() <= 2, "page {pages} has {} entries", page.items.len());
        for e in &page.items {
            assert_eq!(e.owner, DEFAULT_OWNER);
        }
        seen.extend(page.items.iter().map(|e| e.conversation_id));
        pages += 1;
        assert!(pages <= 10, "the cursors do not come to an end");
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, expected, "every conversation once, newest first, none of another owner's");
    let bumped_entry = store.list(DEFAULT_OWNER, 1, None).await.unwrap().items.remove(0);
    assert_eq!(bumped_entry.conversation_id, bumped);
    assert_eq!(bumped_entry.message_count, 2);

    let theirs = store.list("someone-else", 10, None).await.unwrap();
    assert_eq!(theirs.items.iter().map(|e| e.conversation_id).collect::<Vec<_>>(), vec![foreign]);
    assert_eq!(theirs.cursor, None);

    let good_time = time_of(&later);
    for bad in [
        "garbage".to_owned(),
        "".to_owned(),
        format!("yesterday|{bumped}"),
        format!("{good_time}|not-a-uuid"),
        good_time.clone(),
        format!("{bumped}|{good_time}"),
    ] {
        let err = store.list(DEFAULT_OWNER, 2, Some(&bad)).await.unwrap_err();
        assert!(matches!(err, StoreError::BadCursor), "cursor {bad:?}: {err}");
    }
}

#[tokio::test]
async fn messages_page_oldest_first_without_the_listing_item() {
    let (_, _, store) = fresh().await;
    let conv = ConversationId::new();
    let other = ConversationId::new();
    let t0 = OffsetDateTime::now_utc();
    let mut written = Vec::new();
    for i in 0..5u8 {
        let role = if i % 2 == 0 { Role::User } else { Role::Assistant };
        let m = message(conv, t0 + Duration::from_millis(u64::from(i) * 4), role, i);
        store.append_listed(&m, &change(DEFAULT_OWNER, Some(title(i)))).await.unwrap();
        written.push(m);
    }
    store.append_listed(&message(other, t0, Role::User, 50), &change(DEFAULT_OWNER, None)).await.unwrap();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0.. {
        assert!(page < 10, "the cursors do not come to an end");
        let (history, next) = store.messages(&conv, 2, cursor.as_deref()).await.unwrap();
        assert!(history.messages.len() <= 2);
        assert!(history.skipped.is_empty(), "the entry is not a skipped item: {:?}", history.skipped);
        seen.extend(history.messages);
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, written, "every message once, oldest first, nothing else");

    let (whole, next) = store.messages(&conv, 100, None).await.unwrap();
    assert_eq!(whole.messages, written);
    assert!(whole.skipped.is_empty());
    assert_eq!(next, None);

    for bad in
        ["garbage", "", LISTING_SORT_KEY, "2024-13-45T99:00:00.000000Z#00000000-0000-0000-0000-000000000000"]
    {
        let err = store.messages(&conv, 2, Some(bad)).await.unwrap_err();
        assert!(matches!(err, StoreError::BadCursor), "cursor {bad:?}: {err}");
    }
    let bad_uuid = format!("{}#nope", time_of(&written[0]));
    assert!(matches!(store.messages(&conv, 2, Some(&bad_uuid)).await, Err(StoreError::BadCursor)));
}

#[tokio::test]
async fn rename_replaces_a_title_and_creates_nothing_for_an_unknown_conversation() {
    let (sdk, table, store) = fresh().await;
    let conv = ConversationId::new();
    let m = message(conv, OffsetDateTime::now_utc(), Role::User, 1);
    store.append_listed(&m, &change(DEFAULT_OWNER, Some(title(1)))).await.unwrap();
    let before = store.listing(&conv).await.unwrap().unwrap();

    assert!(store.rename(&conv, &title(42)).await.unwrap());
    let after = store.listing(&conv).await.unwrap().unwrap();
    assert_eq!(after, ListingEntry { title: Some(title(42)), ..before }, "only the title changed");

    let unknown = ConversationId::new();
    assert!(!store.rename(&unknown, &title(43)).await.unwrap());
    assert_eq!(store.listing(&unknown).await.unwrap(), None);
    assert!(partition(&sdk, &table, &unknown).await.is_empty(), "no item made for it");
}

#[tokio::test]
async fn delete_removes_every_item_across_several_batches_and_repeats() {
    let (sdk, table, store) = fresh().await;
    let conv = ConversationId::new();
    let kept = ConversationId::new();
    let t0 = OffsetDateTime::now_utc();
    // 60 messages: three BatchWriteItem batches of at most 25.
    for i in 0..60u64 {
        let m = message(conv, t0 + Duration::from_millis(i), Role::User, u8::try_from(i).unwrap());
        store.append_listed(&m, &change(DEFAULT_OWNER, Some(title(1)))).await.unwrap();
    }
    for i in 0..3u64 {
        let m = message(kept, t0 + Duration::from_millis(i), Role::User, 1);
        store.append_listed(&m, &change(DEFAULT_OWNER, Some(title(2)))).await.unwrap();
    }
    assert_eq!(partition(&sdk, &table, &conv).await.len(), 61, "60 messages and the entry");
    assert_eq!(store.listing(&conv).await.unwrap().unwrap().message_count, 60);

    store.delete(&conv).await.unwrap();
    let left = partition(&sdk, &table, &conv).await;
    let keys: Vec<_> = left.iter().map(|i| i.get("timestamp").cloned()).collect();
    assert!(left.is_empty(), "items of the deleted conversation remain: {keys:?}");
    assert_eq!(store.listing(&conv).await.unwrap(), None);
    let listed = store.list(DEFAULT_OWNER, 10, None).await.unwrap();
    assert_eq!(listed.items.iter().map(|e| e.conversation_id).collect::<Vec<_>>(), vec![kept]);

    let other = partition(&sdk, &table, &kept).await;
    assert_eq!(other.len(), 4, "the other conversation is untouched");
    assert_eq!(other.iter().filter(|i| chatbot_core::aws::dynamodb::is_listing(i)).count(), 1);
    assert_eq!(store.listing(&kept).await.unwrap().unwrap().message_count, 3);

    // Deleting what is gone succeeds.
    store.delete(&conv).await.unwrap();
    store.delete(&ConversationId::new()).await.unwrap();
    assert!(partition(&sdk, &table, &conv).await.is_empty());
}

#[tokio::test]
async fn a_warm_turn_makes_three_dynamodb_requests_and_no_kms_request() {
    let sdk = sdk().await;
    let table = create_table(&sdk).await;
    let key_id = create_key(&sdk).await;
    let dynamo_requests = Requests::default();
    let kms_requests = Requests::default();
    let dynamo = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(dynamo_requests.clone()).build(),
    );
    let kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(&sdk).interceptor(kms_requests.clone()).build(),
    );
    let store = Arc::new(DynamoConversationStore::new(dynamo, &table, DEFAULT_RETENTION));
    let app = ChatApp {
        store: store.clone(),
        idempotency: store,
        cipher: Arc::new(EnvelopeCipher::new(KmsDataKeys::new(kms, &key_id, "dev"))),
        model: Arc::new(ScriptedModel::new("fake-model")),
        retriever: None,
        metrics: Arc::new(RecordingMetrics::default()),
        auth: Authenticator::Disabled,
        sign_in_codes: Arc::new(chatbot_core::sign_in_codes::MemorySignInCodes::default()),
        settings: ChatSettings::default(),
        documents: None,
    };
    let say = |conversation: Option<String>, text: &str| {
        let mut body = serde_json::json!({ "message": text });
        if let Some(c) = conversation {
            body["conversation_id"] = c.into();
        }
        ApiRequest {
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
            request_id: "moto-warm".into(),
        }
    };

    // The cold turn: it starts the conversation and fetches the data key.
    let resp = route(&app, &say(None, "first")).await;
    let json: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(resp.status(), 200, "{json}");
    let conv = json["conversation_id"].as_str().unwrap().to_owned();
    assert!(!kms_requests.names().is_empty(), "the cold turn fetched a data key");

    dynamo_requests.clear();
    kms_requests.clear();
    let resp = route(&app, &say(Some(conv.clone()), "second")).await;
    assert_eq!(resp.status(), 200, "{}", String::from_utf8_lossy(resp.body()));
    assert_eq!(
        dynamo_requests.names(),
        ["Query", "TransactWriteItems", "TransactWriteItems"],
        "a warm turn: the history, then the user message and the reply, each with its entry"
    );
    assert_eq!(kms_requests.names(), Vec::<String>::new(), "a warm turn makes no KMS request");

    // And the turn did what those requests say: four messages, the entry counting them.
    let entry = DynamoConversationStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table, DEFAULT_RETENTION)
        .listing(&ConversationId::parse(&conv).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.message_count, 4);
}

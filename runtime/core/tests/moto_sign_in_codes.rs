//! One-time sign-in codes in the conversations table over real wire calls to a moto server:
//! only the code's hash is stored, with its expiry as the `ttl`; a code is redeemed at most once,
//! by racing containers too, and never after its expiry.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chatbot_core::aws::dynamodb::{DEFAULT_RETENTION, DynamoConversationStore};
use chatbot_core::aws::sign_in_codes::is_sign_in_code;
use chatbot_core::ports::{SignInCodes, StoreError};
use chatbot_core::session::unix_now;
use chatbot_core::sign_in_codes::new_code;
use test_support::moto::Moto;
use test_support::tables::create_table;

type Item = HashMap<String, AttributeValue>;

async fn fresh() -> (aws_sdk_dynamodb::Client, String, DynamoConversationStore) {
    let sdk = Moto::shared().sdk_config().await;
    let table = create_table(&sdk).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let store = DynamoConversationStore::new(client.clone(), &table, DEFAULT_RETENTION);
    (client, table, store)
}

async fn items(client: &aws_sdk_dynamodb::Client, table: &str) -> Vec<Item> {
    client.scan().table_name(table).consistent_read(true).send().await.unwrap().items().to_vec()
}

#[tokio::test]
async fn a_code_is_stored_as_its_hash_and_redeemed_once() {
    let (client, table, store) = fresh().await;
    let code = new_code().unwrap();
    let expires_at = unix_now() + 60;
    store.mint(&code.sha256, expires_at).await.unwrap();

    let stored = items(&client, &table).await;
    assert_eq!(stored.len(), 1);
    let item = &stored[0];
    assert!(is_sign_in_code(item));
    assert_eq!(item["conversation_id"].as_s().unwrap(), &format!("signin#{}", code.sha256));
    assert_eq!(item["timestamp"].as_s().unwrap(), "code");
    assert_eq!(item["expires_at"].as_n().unwrap(), &expires_at.to_string());
    assert_eq!(item["ttl"].as_n().unwrap(), &expires_at.to_string(), "DynamoDB deletes it after its expiry");
    let dump = format!("{item:?}");
    assert!(!dump.contains(code.code.as_str()), "the code itself is never stored: {dump}");

    assert!(matches!(store.mint(&code.sha256, expires_at).await, Err(StoreError::Conflict(_))));
    assert!(store.redeem(&code.sha256, unix_now()).await.unwrap());
    assert!(!store.redeem(&code.sha256, unix_now()).await.unwrap(), "a second time");
    assert!(items(&client, &table).await.is_empty(), "redeeming deletes it");
    assert!(!store.redeem(&new_code().unwrap().sha256, unix_now()).await.unwrap(), "an unknown code");
}

#[tokio::test]
async fn an_expired_code_is_refused_though_ttl_has_not_deleted_it() {
    let (client, table, store) = fresh().await;
    let code = new_code().unwrap();
    let now = unix_now();
    store.mint(&code.sha256, now + 60).await.unwrap();
    assert!(!store.redeem(&code.sha256, now + 60).await.unwrap(), "at its expiry");
    assert!(!store.redeem(&code.sha256, now + 3600).await.unwrap(), "an hour later");
    assert_eq!(items(&client, &table).await.len(), 1, "still there until TTL deletes it");
    assert!(store.redeem(&code.sha256, now + 59).await.unwrap(), "within its minute");
}

#[tokio::test]
async fn racing_redeems_of_one_code_let_exactly_one_in() {
    let (_client, _table, store) = fresh().await;
    let store = std::sync::Arc::new(store);
    let code = new_code().unwrap();
    store.mint(&code.sha256, unix_now() + 60).await.unwrap();
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let (store, hash) = (store.clone(), code.sha256.clone());
            tokio::spawn(async move { store.redeem(&hash, unix_now()).await.unwrap() })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        won += usize::from(racer.await.unwrap());
    }
    assert_eq!(won, 1);
}

//! One-time sign-in codes in the conversations table, as [`SignInCodes`]: every container of
//! the chat Lambda must see a code another one minted, and redeem it at most once between them.
//!
//! A code lives in its own partition, `conversation_id = "signin#<sha256 of the code>"`, under
//! the fixed sort key `code`, so no conversation's query meets one; only the hash is stored. Its
//! `ttl` is its expiry, so DynamoDB deletes the unused ones, but TTL deletes up to days late:
//! redeeming is a delete conditional on the expiry too, so one delete both checks and uses it.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::dynamodb::{DynamoConversationStore, is_condition_failure, store_error};
use crate::ports::{SignInCodes, StoreError};

/// The partition-key prefix of sign-in codes; no conversation id (a UUID) starts so.
pub const CODE_PREFIX: &str = "signin#";
const CODE_SORT_KEY: &str = "code";

type Item = std::collections::HashMap<String, AttributeValue>;

/// Whether a scanned item is a sign-in code rather than a message.
pub fn is_sign_in_code(item: &Item) -> bool {
    item.get("conversation_id").and_then(|v| v.as_s().ok()).is_some_and(|pk| pk.starts_with(CODE_PREFIX))
}

fn key(code_sha256: &str) -> Item {
    Item::from([
        ("conversation_id".to_owned(), AttributeValue::S(format!("{CODE_PREFIX}{code_sha256}"))),
        ("timestamp".to_owned(), AttributeValue::S(CODE_SORT_KEY.to_owned())),
    ])
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

#[async_trait]
impl SignInCodes for DynamoConversationStore {
    async fn mint(&self, code_sha256: &str, expires_at: u64) -> Result<(), StoreError> {
        let mut item = key(code_sha256);
        item.insert("expires_at".into(), n(expires_at));
        item.insert("ttl".into(), n(expires_at));
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // 256 random bits do not collide; a retried put whose first attempt landed would,
            // and must not hand the same code out again as new.
            .condition_expression("attribute_not_exists(conversation_id)")
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => {
                Err(StoreError::Conflict("this sign-in code is already stored".into()))
            }
            Err(e) => Err(store_error(e)),
        }
    }

    async fn redeem(&self, code_sha256: &str, now: u64) -> Result<bool, StoreError> {
        let sent = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(code_sha256)))
            // Fails on a missing item as well as an expired one: the comparison needs the
            // attribute. Two redeems racing: one deletes, the other finds nothing.
            .condition_expression("expires_at > :now")
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(store_error(e)),
        }
    }
}

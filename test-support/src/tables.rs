//! A conversations table and a KMS key on the emulator, shaped as the templates make them.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use uuid::Uuid;

pub async fn create_table(sdk: &SdkConfig) -> String {
    let name = format!("chatbot-conversations-test-{}", Uuid::new_v4().simple());
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("a complete attribute definition")
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder().attribute_name(name).key_type(kind).build().expect("a complete key")
    };
    aws_sdk_dynamodb::Client::new(sdk)
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("conversation_id"))
        .attribute_definitions(attribute("timestamp"))
        .attribute_definitions(attribute("owner"))
        .attribute_definitions(attribute("updated"))
        .key_schema(key("conversation_id", KeyType::Hash))
        .key_schema(key("timestamp", KeyType::Range))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by_owner_updated")
                .key_schema(key("owner", KeyType::Hash))
                .key_schema(key("updated", KeyType::Range))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .expect("a complete index"),
        )
        .send()
        .await
        .expect("create table on moto");
    name
}

pub async fn create_key(sdk: &SdkConfig) -> String {
    let out = aws_sdk_kms::Client::new(sdk)
        .create_key()
        .description("chatbot test")
        .send()
        .await
        .expect("create key");
    out.key_metadata().expect("the new key's metadata").key_id().to_owned()
}

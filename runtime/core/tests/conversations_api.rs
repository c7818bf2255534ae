//! The conversations API over the in-memory fakes: list, read, rename, delete, with the chat
//! API's token and §4 errors.

use std::sync::Arc;

use chatbot_core::auth::{Authenticator, TokenAuthenticator};
use chatbot_core::crypto::EnvelopeCipher;
use chatbot_core::domain::message::ConversationId;
use chatbot_core::domain::prompt::RetrievedChunk;
use chatbot_core::fakes::*;
use chatbot_core::handlers::{ApiRequest, ChatApp, ChatSettings, route};
use chatbot_core::ports::{ConversationStore, Retriever};
use http::Method;
use serde_json::{Value, json};

const TOKEN: &str = "test-token-0123456789";

struct Harness {
    app: ChatApp,
    store: Arc<InMemoryConversationStore>,
}

async fn harness(retriever: Option<Arc<dyn Retriever>>) -> Harness {
    let store = Arc::new(InMemoryConversationStore::new());
    let auth = TokenAuthenticator::load(Arc::new(StaticSecret::new(TOKEN))).await.unwrap();
    let app = ChatApp {
        store: store.clone(),
        idempotency: Arc::new(InMemoryIdempotencyStore::default()),
        cipher: Arc::new(EnvelopeCipher::new(LocalKeyring::new("dev"))),
        model: Arc::new(ScriptedModel::new("fake-model")),
        retriever,
        metrics: Arc::new(RecordingMetrics::default()),
        auth: Authenticator::Token(auth),
        sign_in_codes: Arc::new(chatbot_core::sign_in_codes::MemorySignInCodes::default()),
        settings: ChatSettings::default(),
        documents: None,
    };
    Harness { app, store }
}

fn request(method: Method, path: &str, query: Option<&str>, body: &str) -> ApiRequest {
    ApiRequest {
        method,
        path: path.to_owned(),
        query: query.map(str::to_owned),
        authorization: Some(format!("Bearer {TOKEN}")),
        idempotency_key: None,
        accept: None,
        cookie: None,
        csrf: None,
        accept_encoding: None,
        if_none_match: None,
        body: body.to_owned().into(),
        request_id: "req-9".to_owned(),
    }
}

async fn call(h: &Harness, req: ApiRequest) -> (u16, Value) {
    let resp = route(&h.app, &req).await;
    let status = resp.status().as_u16();
    let body =
        if resp.body().is_empty() { Value::Null } else { serde_json::from_slice(resp.body()).unwrap() };
    (status, body)
}

async fn say(h: &Harness, conversation: Option<&str>, message: &str) -> String {
    let mut body = json!({ "message": message });
    if let Some(c) = conversation {
        body["conversation_id"] = json!(c);
    }
    let (status, reply) = call(h, request(Method::POST, "/chat", None, &body.to_string())).await;
    assert_eq!(status, 200, "{reply}");
    reply["conversation_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_list_is_newest_first_with_titles_counts_and_pages() {
    let h = harness(None).await;
    let long = "Plan the trip to Porto in May: trains, the hotel near Ribeira, and the wine tour";
    let first = say(&h, None, long).await;
    say(&h, Some(&first), "and the budget?").await;
    let second = say(&h, None, "hello").await;

    let (status, page) = call(&h, request(Method::GET, "/conversations", None, "")).await;
    assert_eq!(status, 200, "{page}");
    let list = page["conversations"].as_array().unwrap();
    let ids: Vec<&str> = list.iter().map(|c| c["conversation_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [second.as_str(), first.as_str()], "newest first");
    assert_eq!(list[1]["title"], "Plan the trip to Porto in May: trains, the hotel near Ribeir");
    assert_eq!(list[1]["title"].as_str().unwrap().chars().count(), 60);
    assert_eq!(list[1]["message_count"], 4);
    assert_eq!(list[0]["message_count"], 2);
    assert!(list[1]["created"].as_str().unwrap() < list[1]["updated"].as_str().unwrap());
    assert_eq!(page["cursor"], Value::Null);

    let (_, one) = call(&h, request(Method::GET, "/conversations", Some("limit=1"), "")).await;
    assert_eq!(one["conversations"].as_array().unwrap().len(), 1);
    let cursor = one["cursor"].as_str().expect("a next page").to_owned();
    let query = format!("limit=1&cursor={cursor}");
    let (_, next) = call(&h, request(Method::GET, "/conversations", Some(&query), "")).await;
    assert_eq!(next["conversations"][0]["conversation_id"], first.as_str());
}

#[tokio::test]
async fn a_conversation_reads_back_with_statuses_and_the_citations_each_reply_had() {
    let chunk =
        RetrievedChunk { source: "docs/porto.md".into(), chunk: 3, score: 0.9, text: "Ribeira".into() };
    let h = harness(Some(Arc::new(StaticRetriever::new(vec![chunk])))).await;
    let id = say(&h, None, "where is the hotel?").await;
    let (status, page) = call(&h, request(Method::GET, &format!("/conversations/{id}"), None, "")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["title"], "where is the hotel?");
    let messages = page["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!((messages[0]["role"].as_str(), messages[0]["status"].as_str()), (Some("user"), None));
    assert_eq!(messages[0]["content"], "where is the hotel?");
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["status"], "complete");
    assert_eq!(messages[1]["model"], "fake-model");
    assert_eq!(
        messages[1]["citations"],
        json!([{"source": "docs/porto.md", "chunk": 3, "score": 0.9, "passage": "Ribeira"}])
    );
    let reply = messages[1]["content"].as_str().unwrap();
    assert!(messages[1]["html"].as_str().unwrap().starts_with("<p>"), "a reply comes rendered too");
    assert!(!reply.is_empty());
    assert_eq!(messages[0].get("html"), None, "the person's own text is shown as they wrote it");
    assert!(messages[0]["time"].as_str().unwrap().ends_with('Z'));

    // A page at a time.
    let (_, first) =
        call(&h, request(Method::GET, &format!("/conversations/{id}"), Some("limit=1"), "")).await;
    let cursor = first["cursor"].as_str().unwrap().to_owned();
    let q = format!("limit=1&cursor={cursor}");
    let (_, second) = call(&h, request(Method::GET, &format!("/conversations/{id}"), Some(&q), "")).await;
    assert_eq!(second["messages"][0]["role"], "assistant");
    assert_eq!(second["cursor"], Value::Null);
}

#[tokio::test]
async fn rename_changes_the_title_and_refuses_what_it_cannot_store() {
    let h = harness(None).await;
    let id = say(&h, None, "hello").await;
    let path = format!("/conversations/{id}");
    let (status, renamed) =
        call(&h, request(Method::PATCH, &path, None, r#"{"title": "  Trip\nto Porto "}"#)).await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["title"], "Trip to Porto");
    let (_, list) = call(&h, request(Method::GET, "/conversations", None, "")).await;
    assert_eq!(list["conversations"][0]["title"], "Trip to Porto");

    let too_long = json!({"title": "x".repeat(61)}).to_string();
    assert_eq!(call(&h, request(Method::PATCH, &path, None, &too_long)).await.0, 400);
    assert_eq!(call(&h, request(Method::PATCH, &path, None, r#"{"title": ""}"#)).await.0, 400);
    assert_eq!(call(&h, request(Method::PATCH, &path, None, r#"{"name": "x"}"#)).await.0, 400);
    let missing = format!("/conversations/{}", ConversationId::new());
    let (status, body) = call(&h, request(Method::PATCH, &missing, None, r#"{"title": "x"}"#)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn delete_removes_every_item_and_answers_204_again_on_a_repeat() {
    let h = harness(None).await;
    let id = say(&h, None, "forget me").await;
    say(&h, Some(&id), "and this").await;
    let keep = say(&h, None, "keep me").await;
    let conversation = ConversationId::parse(&id).unwrap();
    assert_eq!(h.store.items_of(&conversation), 5, "four messages and the entry");
    let path = format!("/conversations/{id}");
    assert_eq!(call(&h, request(Method::DELETE, &path, None, "")).await, (204, Value::Null));
    assert_eq!(h.store.items_of(&conversation), 0);
    assert!(h.store.listing(&conversation).await.unwrap().is_none());
    assert_eq!(call(&h, request(Method::DELETE, &path, None, "")).await.0, 204);
    assert_eq!(call(&h, request(Method::GET, &path, None, "")).await.0, 404);
    let (_, list) = call(&h, request(Method::GET, "/conversations", None, "")).await;
    let ids: Vec<&str> = list["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversation_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [keep.as_str()]);
}

#[tokio::test]
async fn bad_requests_get_the_usual_errors_never_a_500() {
    let h = harness(None).await;
    let id = say(&h, None, "hello").await;
    let mut anonymous = request(Method::GET, "/conversations", None, "");
    anonymous.authorization = None;
    assert_eq!(call(&h, anonymous).await.0, 401);
    let mut anonymous = request(Method::DELETE, &format!("/conversations/{id}"), None, "");
    anonymous.authorization = Some("Bearer wrong".into());
    assert_eq!(call(&h, anonymous).await.0, 401);
    assert_eq!(h.store.items_of(&ConversationId::parse(&id).unwrap()), 3, "nothing deleted");
    for (path, query) in [
        ("/conversations", Some("limit=0")),
        ("/conversations", Some("limit=101")),
        ("/conversations", Some("cursor=zz")),
        ("/conversations", Some("cursor=6869")),
        ("/conversations", Some("sort=asc")),
        ("/conversations/not-a-uuid", None),
    ] {
        let (status, body) = call(&h, request(Method::GET, path, query, "")).await;
        assert_eq!(status, 400, "{path}?{query:?}: {body}");
        assert_eq!(body["error"]["request_id"], "req-9");
    }
    assert_eq!(call(&h, request(Method::POST, "/conversations", None, "{}")).await.0, 405);
    assert_eq!(call(&h, request(Method::PUT, &format!("/conversations/{id}"), None, "{}")).await.0, 405);
    let unknown = format!("/conversations/{}", ConversationId::new());
    assert_eq!(call(&h, request(Method::GET, &unknown, None, "")).await.0, 404);
}

#[tokio::test]
async fn titles_are_sealed_in_the_store() {
    let h = harness(None).await;
    let id = say(&h, None, "my bank PIN is 2468").await;
    let entry = h.store.listing(&ConversationId::parse(&id).unwrap()).await.unwrap().unwrap();
    let blob = entry.title.expect("a title").blob;
    assert!(!blob.windows(4).any(|w| w == b"2468" || w == b"bank"), "the title is ciphertext");
}

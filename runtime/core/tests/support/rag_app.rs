//! A chat app with RAG on the local adapters, its documents ingested first: what the RAG tests
//! ask questions of.

use std::sync::Arc;

use bytes::Bytes;
use chatbot_core::auth::{Authenticator, TokenAuthenticator};
use chatbot_core::crypto::EnvelopeCipher;
use chatbot_core::domain::document_event::DocumentEvent;
use chatbot_core::fakes::{
    InMemoryConversationStore, InMemoryDocuments, LocalKeyring, RecordingMetrics, StaticSecret,
};
use chatbot_core::handlers::ingest::{IngestApp, IngestSettings, Outcome, handle_events};
use chatbot_core::handlers::retrieve::{DirectRetriever, RetrieveApp, RetrieveSettings};
use chatbot_core::handlers::{ApiRequest, ChatApp, ChatSettings, route};
use chatbot_core::local::hashing::{HashingEmbedder, LOCAL_SCORE_FLOOR};
use chatbot_core::local::sqlite_index::SqliteVectorIndex;
use chatbot_core::ports::ChatModel;
use http::Method;
use serde_json::{Value, json};

const DIMS: usize = 1024;

/// `documents` (key, text) ingested into an in-memory index, and a chat app over it.
pub async fn rag_app(documents: &[(&str, &str)], model: Arc<dyn ChatModel>, token: &str) -> ChatApp {
    let index = Arc::new(SqliteVectorIndex::open_in_memory(DIMS).unwrap());
    let embedder = Arc::new(HashingEmbedder::new(DIMS));
    let docs = Arc::new(InMemoryDocuments::default());
    for (key, text) in documents {
        docs.put(key, text.as_bytes());
    }
    let ingest = IngestApp {
        documents: docs,
        embedder: embedder.clone(),
        index: index.clone(),
        metrics: Arc::new(RecordingMetrics::default()),
        settings: IngestSettings::default(),
        statuses: None,
    };
    let events: Vec<DocumentEvent> =
        documents.iter().map(|(key, _)| DocumentEvent::Upserted { key: (*key).to_owned() }).collect();
    for report in handle_events(&ingest, &events).await {
        assert!(matches!(report.result, Ok(Outcome::Indexed { .. })), "{report:?}");
    }
    let retriever = DirectRetriever::new(RetrieveApp {
        embedder,
        index,
        settings: RetrieveSettings { score_floor: LOCAL_SCORE_FLOOR },
    });
    ChatApp {
        store: Arc::new(InMemoryConversationStore::new()),
        idempotency: Arc::new(chatbot_core::fakes::InMemoryIdempotencyStore::default()),
        cipher: Arc::new(EnvelopeCipher::new(LocalKeyring::new("dev"))),
        model,
        retriever: Some(Arc::new(retriever)),
        metrics: Arc::new(RecordingMetrics::default()),
        sign_in_codes: Arc::new(chatbot_core::sign_in_codes::MemorySignInCodes::default()),
        auth: Authenticator::Token(
            TokenAuthenticator::load(Arc::new(StaticSecret::new(token))).await.unwrap(),
        ),
        settings: ChatSettings::default(),
        documents: None,
    }
}

/// One `POST /chat` with `token`, which must answer 200.
pub async fn ask(app: &ChatApp, token: &str, message: &str) -> Value {
    let req = ApiRequest {
        method: Method::POST,
        path: "/chat".into(),
        authorization: Some(format!("Bearer {token}")),
        idempotency_key: None,
        accept: None,
        cookie: None,
        csrf: None,
        accept_encoding: None,
        if_none_match: None,
        query: None,
        body: Bytes::from(json!({ "message": message }).to_string()),
        request_id: "rag-test".into(),
    };
    let resp = route(app, &req).await;
    assert_eq!(resp.status(), 200, "{}", String::from_utf8_lossy(resp.body()));
    serde_json::from_slice(resp.body()).unwrap()
}

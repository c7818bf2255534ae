//! RAG end to end, in-process, with the local adapters: a résumé is ingested, then the chat API
//! answers a question about it with a citation, and an unrelated question with none.

use std::sync::Arc;

use bytes::Bytes;
use chatbot_core::auth::{Authenticator, TokenAuthenticator};
use chatbot_core::aws::envelope::EnvelopeCipher;
use chatbot_core::domain::document_event::DocumentEvent;
use chatbot_core::fakes::{
    InMemoryConversationStore, InMemoryDocuments, LocalKeyring, RecordingMetrics, StaticSecret,
};
use chatbot_core::handlers::ingest::{IngestApp, IngestSettings, Outcome, handle_events};
use chatbot_core::handlers::retrieve::{DirectRetriever, RetrieveApp, RetrieveSettings};
use chatbot_core::handlers::{ApiRequest, ChatApp, ChatSettings, route};
use chatbot_core::local::extractive::{ExtractiveModel, MODEL_NAME};
use chatbot_core::local::hashing::{HashingEmbedder, LOCAL_SCORE_FLOOR};
use chatbot_core::local::sqlite_index::SqliteVectorIndex;
use http::Method;
use serde_json::{Value, json};

const TOKEN: &str = "e2e-token-0123456789";
const DIMS: usize = 1024;

const RESUME: &str = "# Jane Doe\n\nSoftware engineer in Lisbon.\n\n\
## Programming languages\n\nI program in Rust, Go and Python, and I know some TypeScript.\n\n\
## Experience\n\n- 2021-2026: platform engineer at Acme, building deployment tooling.\n\
- 2017-2021: backend developer at Initech.\n\n\
## Education\n\nMSc in Computer Science, University of Lisbon.\n";

const GARDEN: &str = "# Garden notes\n\nTomatoes want six hours of sun. Water the basil in the morning.\n";

async fn chat_app() -> ChatApp {
    let index = Arc::new(SqliteVectorIndex::open_in_memory(DIMS).unwrap());
    let embedder = Arc::new(HashingEmbedder::new(DIMS));
    let docs = Arc::new(InMemoryDocuments::default());
    docs.put("docs/resume.md", RESUME.as_bytes());
    docs.put("docs/garden.md", GARDEN.as_bytes());
    let ingest = IngestApp {
        documents: docs,
        embedder: embedder.clone(),
        index: index.clone(),
        metrics: Arc::new(RecordingMetrics::default()),
        settings: IngestSettings::default(),
    };
    let events = [
        DocumentEvent::Upserted { key: "docs/resume.md".into() },
        DocumentEvent::Upserted { key: "docs/garden.md".into() },
    ];
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
        cipher: Arc::new(EnvelopeCipher::new(LocalKeyring::new("dev"))),
        model: Arc::new(ExtractiveModel::new()),
        retriever: Some(Arc::new(retriever)),
        metrics: Arc::new(RecordingMetrics::default()),
        auth: Authenticator::Token(
            TokenAuthenticator::load(Arc::new(StaticSecret::new(TOKEN))).await.unwrap(),
        ),
        settings: ChatSettings::default(),
    }
}

async fn ask(app: &ChatApp, message: &str) -> Value {
    let req = ApiRequest {
        method: Method::POST,
        path: "/chat".into(),
        authorization: Some(format!("Bearer {TOKEN}")),
        body: Bytes::from(json!({ "message": message }).to_string()),
        request_id: "e2e".into(),
    };
    let resp = route(app, &req).await;
    assert_eq!(resp.status(), 200, "{}", String::from_utf8_lossy(resp.body()));
    serde_json::from_slice(resp.body()).unwrap()
}

#[tokio::test]
async fn a_question_about_the_resume_is_answered_from_it_with_a_citation() {
    let app = chat_app().await;
    let reply = ask(&app, "What programming languages do I know?").await;
    assert_eq!(reply["model"], MODEL_NAME, "the development model names itself");
    let citations = reply["citations"].as_array().unwrap();
    assert!(!citations.is_empty(), "{reply}");
    assert_eq!(citations[0]["source"], "docs/resume.md", "{reply}");
    assert!(
        citations.iter().all(|c| c["source"] == "docs/resume.md"),
        "the garden notes are not relevant: {reply}"
    );
    let text = reply["reply"].as_str().unwrap();
    assert!(text.contains("Rust") && text.contains("Go") && text.contains("Python"), "{text}");
    assert!(text.contains("[1]"), "the answer cites its source: {text}");
}

#[tokio::test]
async fn an_unrelated_question_gets_no_citation_and_no_invented_answer() {
    let app = chat_app().await;
    let reply = ask(&app, "Who won the 1998 football world cup?").await;
    assert_eq!(reply["citations"], json!([]), "{reply}");
    let text = reply["reply"].as_str().unwrap();
    assert!(!text.contains("[1]"), "{text}");
    assert!(text.to_lowercase().contains("nothing"), "it says nothing was found: {text}");
}

//! RAG end to end, in-process, with the local adapters: a résumé is ingested, then the chat API
//! answers a question about it with a citation, and an unrelated question with none.

use std::sync::Arc;

use chatbot_core::handlers::ChatApp;
use chatbot_core::local::extractive::{ExtractiveModel, MODEL_NAME};
use serde_json::{Value, json};

mod support;

const TOKEN: &str = "e2e-token-0123456789";

const RESUME: &str = "# Jane Doe\n\nSoftware engineer in Lisbon.\n\n\
## Programming languages\n\nI program in Rust, Go and Python, and I know some TypeScript.\n\n\
## Experience\n\n- 2021-2026: platform engineer at Acme, building deployment tooling.\n\
- 2017-2021: backend developer at Initech.\n\n\
## Education\n\nMSc in Computer Science, University of Lisbon.\n";

const GARDEN: &str = "# Garden notes\n\nTomatoes want six hours of sun. Water the basil in the morning.\n";

async fn chat_app() -> ChatApp {
    let docs = [("docs/resume.md", RESUME), ("docs/garden.md", GARDEN)];
    support::rag_app::rag_app(&docs, Arc::new(ExtractiveModel::new()), TOKEN).await
}

async fn ask(app: &ChatApp, message: &str) -> Value {
    support::rag_app::ask(app, TOKEN, message).await
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

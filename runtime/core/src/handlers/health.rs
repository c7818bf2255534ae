//! `GET /health`: no token needed; reports the version and whether RAG is on.

use super::ChatApp;
use crate::domain::api::HealthResponse;

pub fn health(app: &ChatApp) -> HealthResponse {
    HealthResponse {
        status: "ok".to_owned(),
        version: app.settings.version.clone(),
        rag_enabled: app.retriever.is_some(),
        embedder: app.retriever.as_ref().and(app.settings.embedder.clone()),
    }
}

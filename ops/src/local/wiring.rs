//! The local target's adapters: the emulator for DynamoDB, KMS and SSM (the same adapters the
//! chat Lambda uses, pointed at it), and the local development doubles for what the emulator
//! lacks: the model, the embedder and the vector index (see ARCHITECTURE.md, "Ports and adapters").

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use aws_config::SdkConfig;
use chatbot_core::auth::{Authenticator, TokenAuthenticator};
use chatbot_core::aws::document_status::DynamoStatuses;
use chatbot_core::aws::dynamodb::DynamoConversationStore;
use chatbot_core::aws::kms::KmsDataKeys;
use chatbot_core::aws::s3::S3Documents;
use chatbot_core::aws::s3vectors::{DEFAULT_CHUNKS_INDEX, DEFAULT_MANIFESTS_INDEX, S3VectorsIndex};
use chatbot_core::aws::ssm::SsmParameter;
use chatbot_core::crypto::EnvelopeCipher;
use chatbot_core::domain::extract::ExtractLimits;
use chatbot_core::extract_worker::IsolatedExtraction;
use chatbot_core::handlers::documents::Documents;
use chatbot_core::handlers::ingest::{Extraction, IngestApp, IngestSettings};
use chatbot_core::handlers::retrieve::{DirectRetriever, RetrieveApp, RetrieveSettings};
use chatbot_core::handlers::{ChatApp, ChatSettings};
use chatbot_core::local::extractive::ExtractiveModel;
use chatbot_core::local::sqlite_index::SqliteVectorIndex;
use chatbot_core::ports::{
    ChatModel, DocumentStatuses, Embedder, MetricsSink, Retriever, TurnMetrics, VectorIndex,
};
use chatbot_core::sign_in_codes::MemorySignInCodes;
use chatbot_core::web::WebSettings;

use super::documents::LocalLibrary;
use super::embedder::LocalEmbedder;
use super::gateway::Services;
use super::metrics::{CountedRetriever, LocalMetrics};
use super::openai::{ModelSpec, OpenAiChatModel};

/// A local model server on a small machine can take long over a long prompt.
const OPENAI_TIMEOUT: Duration = Duration::from_secs(120);

/// What the local gateway is wired to: names from the stack deployed on the emulator.
#[derive(Debug, Clone, Default)]
pub struct LocalWiring {
    pub environment: String,
    pub table_name: String,
    pub key_id: String,
    pub token_parameter: String,
    /// `Some` with RAG on: where the vectors live.
    pub vectors: Option<LocalVectors>,
    /// With RAG on: the documents bucket on the emulator, which ingestion reads.
    pub documents_bucket: Option<String>,
    /// With RAG on: the embedder, loaded once when the services are built.
    pub embedder: LocalEmbedder,
    /// Replaces the embedder's calibrated floor.
    pub score_floor: Option<f32>,
    /// Where the embedding model's `.venv/` is looked for.
    pub repo_root: PathBuf,
    /// The development double, or an OpenAI-compatible server.
    pub model: ModelSpec,
    /// Added to every reply of the development model, to imitate a remote model's latency.
    pub model_latency: Duration,
    /// The pause between the development model's words when it streams.
    pub word_delay: Duration,
}

/// The local target's vector store.
#[derive(Debug, Clone)]
pub enum LocalVectors {
    /// The embedded SQLite index (a development double): fast, persistent, the default.
    Sqlite(PathBuf),
    /// The real S3 Vectors adapter, against the vector bucket deployed on the emulator.
    S3Vectors { bucket: String },
}

/// The RAG half of the local target, shared by the gateway's retriever and `docs put`.
pub struct LocalRag {
    pub kind: LocalEmbedder,
    pub score_floor: f32,
    pub embedder: Arc<dyn Embedder>,
    pub index: Arc<dyn VectorIndex>,
}

impl LocalRag {
    pub fn open(sdk: &SdkConfig, vectors: &LocalVectors, wiring: &LocalWiring) -> anyhow::Result<Self> {
        let kind = wiring.embedder;
        let dimensions = kind.dimensions();
        let index: Arc<dyn VectorIndex> = match vectors {
            LocalVectors::Sqlite(path) => Arc::new(
                SqliteVectorIndex::open(path, dimensions)
                    .with_context(|| format!("opening the local vector index {}", path.display()))?,
            ),
            LocalVectors::S3Vectors { bucket } => Arc::new(S3VectorsIndex::new(
                S3VectorsIndex::client(sdk),
                bucket,
                DEFAULT_CHUNKS_INDEX,
                DEFAULT_MANIFESTS_INDEX,
                dimensions,
            )?),
        };
        let embedder =
            kind.load(&wiring.repo_root).with_context(|| format!("loading {}", kind.model_name()))?;
        Ok(Self { kind, score_floor: wiring.score_floor.unwrap_or(kind.score_floor()), embedder, index })
    }

    pub fn retriever(&self) -> DirectRetriever {
        DirectRetriever::new(RetrieveApp {
            embedder: self.embedder.clone(),
            index: self.index.clone(),
            settings: RetrieveSettings { score_floor: self.score_floor },
        })
    }
}

/// Everything the gateway runs: the chat handler and, with RAG on, the ingestion handler over the
/// same vector index, so a document ingested is searchable by the next turn. With `metrics`,
/// the handlers report to it as they would to CloudWatch on AWS.
pub async fn services(
    sdk: &SdkConfig,
    wiring: &LocalWiring,
    metrics: Option<Arc<LocalMetrics>>,
) -> anyhow::Result<Services> {
    let rag = wiring.vectors.as_ref().map(|v| LocalRag::open(sdk, v, wiring)).transpose()?;
    let sink: Arc<dyn MetricsSink> = match &metrics {
        Some(m) => m.clone(),
        None => Arc::new(LogMetrics),
    };
    let mut chat = chat_app_with(sdk, wiring, rag.as_ref()).await?;
    chat.metrics = sink.clone();
    if let (Some(m), Some(inner)) = (&metrics, chat.retriever.take()) {
        chat.retriever = Some(Arc::new(CountedRetriever { inner, metrics: m.clone() }));
    }
    let ingest = match (&rag, &wiring.documents_bucket) {
        (Some(rag), Some(bucket)) => {
            // Ingestion records each document's status beside the conversations, as on AWS.
            let statuses: Arc<dyn DocumentStatuses> =
                Arc::new(DynamoStatuses::new(aws_sdk_dynamodb::Client::new(sdk), &wiring.table_name));
            let ingest = Arc::new(IngestApp {
                documents: Arc::new(S3Documents::new(
                    aws_sdk_s3::Client::new(sdk),
                    bucket,
                    ExtractLimits::default().max_bytes,
                )),
                embedder: rag.embedder.clone(),
                index: rag.index.clone(),
                metrics: sink,
                settings: IngestSettings {
                    chunk_size: rag.kind.chunk_size(),
                    embed_titles: rag.kind.embeds_titles(),
                    ..local_ingest_settings()?
                },
                statuses: Some(statuses.clone()),
            });
            let library = LocalLibrary::new(aws_sdk_s3::Client::new(sdk), bucket, ingest.clone());
            chat.documents = Some(Documents { library: Arc::new(library), statuses });
            Some(ingest)
        }
        _ => None,
    };
    Ok(Services { chat: Arc::new(chat), ingest, metrics })
}

/// As on AWS: documents are read by a worker, here opsctl itself re-invoked, under the same
/// memory and CPU limits as in the ingest Lambda.
fn local_ingest_settings() -> anyhow::Result<IngestSettings> {
    let isolation = IsolatedExtraction::this_executable()
        .context("finding the opsctl executable, which reads each document as a worker")?;
    Ok(IngestSettings { extraction: Extraction::Isolated(isolation), ..IngestSettings::default() })
}

/// The chat handler's dependencies for the local target.
pub async fn chat_app(sdk: &SdkConfig, wiring: &LocalWiring) -> anyhow::Result<ChatApp> {
    let rag = wiring.vectors.as_ref().map(|v| LocalRag::open(sdk, v, wiring)).transpose()?;
    chat_app_with(sdk, wiring, rag.as_ref()).await
}

async fn chat_app_with(
    sdk: &SdkConfig,
    wiring: &LocalWiring,
    rag: Option<&LocalRag>,
) -> anyhow::Result<ChatApp> {
    let token = Arc::new(SsmParameter::new(aws_sdk_ssm::Client::new(sdk), &wiring.token_parameter));
    let auth = TokenAuthenticator::load(token)
        .await
        .with_context(|| format!("reading the API token {} from the emulator", wiring.token_parameter))?;
    let keys = KmsDataKeys::new(aws_sdk_kms::Client::new(sdk), &wiring.key_id, &wiring.environment);
    let retriever = rag.map(|r| Arc::new(r.retriever()) as Arc<dyn Retriever>);
    let model: Arc<dyn ChatModel> = match &wiring.model {
        ModelSpec::Local => {
            let model =
                ExtractiveModel::new().with_latency(wiring.model_latency).with_word_delay(wiring.word_delay);
            // With a real embedder it picks sentences by meaning; the hashing one would only
            // echo word overlap, which it already measures itself.
            Arc::new(match rag {
                Some(r) if r.kind == LocalEmbedder::Minilm => model.with_embedder(r.embedder.clone()),
                _ => model,
            })
        }
        ModelSpec::OpenAi { base_url, model } => {
            Arc::new(OpenAiChatModel::from_env(base_url, model, OPENAI_TIMEOUT)?)
        }
    };
    let table = Arc::new(DynamoConversationStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        &wiring.table_name,
        chatbot_core::aws::dynamodb::DEFAULT_RETENTION,
    ));
    Ok(ChatApp {
        store: table.clone(),
        idempotency: table,
        cipher: Arc::new(EnvelopeCipher::new(keys)),
        model,
        retriever,
        metrics: Arc::new(LogMetrics),
        auth: Authenticator::Token(auth),
        // The gateway is one process: its memory is every sign-in code there is.
        sign_in_codes: Arc::new(MemorySignInCodes::default()),
        // A local model may take up to its timeout; a repeat must not take over a live request.
        settings: ChatSettings {
            idempotency_lease: OPENAI_TIMEOUT * 2,
            // The local gateway is plain HTTP on the loopback address: a Secure cookie would not stick.
            secure_cookies: false,
            // Nor does HSTS mean anything without HTTPS.
            web: WebSettings { connect_sources: Vec::new(), hsts: false },
            embedder: rag.map(|r| r.kind.model_name().to_owned()),
            ..ChatSettings::default()
        },
        documents: None,
    })
}

/// Turn metrics as debug log lines, when they are not published.
struct LogMetrics;

#[async_trait::async_trait]
impl MetricsSink for LogMetrics {
    async fn record_turn(&self, m: &TurnMetrics) {
        tracing::debug!(
            input_tokens = m.input_tokens,
            output_tokens = m.output_tokens,
            model_latency_ms = m.model_latency.as_millis() as u64,
            "chat turn metrics"
        );
    }
}

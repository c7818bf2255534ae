//! The chat Lambda's configuration, read once from its environment.

use std::fmt;

use crate::aws::bedrock::{DEFAULT_MAX_TOKENS, DEFAULT_MODEL_ID};
use crate::aws::dynamodb::DEFAULT_RETENTION_DAYS;
use crate::domain::prompt::{DEFAULT_HISTORY_LENGTH, DEFAULT_HISTORY_TOKENS};
use crate::handlers::DEFAULT_IDEMPOTENCY_LEASE;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthConfig {
    /// The bearer token lives in this SSM SecureString parameter.
    Token { parameter: String },
    /// `AUTH_MODE=none`: the API is open. Never a default.
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatConfig {
    pub environment: String,
    pub table_name: String,
    pub kms_key_id: String,
    pub model_id: String,
    pub max_tokens: u32,
    pub history_length: usize,
    /// About how many tokens of history a prompt may carry (`HISTORY_TOKENS`).
    pub history_tokens: usize,
    pub retention_days: u32,
    /// How long an unfinished turn holds its idempotency key (`IDEMPOTENCY_LEASE_SECONDS`): longer
    /// than the function's timeout, so a retry never runs a turn that is still streaming.
    pub idempotency_lease_seconds: u32,
    pub auth: AuthConfig,
    /// The retrieval Lambda, set when RAG is on.
    pub retrieval_function: Option<String>,
    /// The documents bucket (`DOCUMENTS_BUCKET`): with RAG on, the documents API lists it,
    /// presigns uploads to it and deletes from it.
    pub documents_bucket: Option<String>,
}

#[derive(PartialEq, Eq)]
pub enum ConfigError {
    Missing(Vec<&'static str>),
    Invalid { name: &'static str, value: String, expected: &'static str },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Missing(names) => write!(
                f,
                "missing environment variable(s): {}. The compute stack sets them; when running by hand, \
                 export them first",
                names.join(", ")
            ),
            ConfigError::Invalid { name, value, expected } => {
                write!(f, "environment variable {name}={value:?} is invalid: expected {expected}")
            }
        }
    }
}

// `main` returning this error prints its Debug form; make that the readable sentence.
impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ConfigError {}

impl ChatConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(process_env)
    }

    /// Reads every variable through `get`, reporting all missing ones at once.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut required = Required::new(&get);
        let environment = required.take("CHATBOT_ENV");
        let table_name = required.take("TABLE_NAME");
        let kms_key_id = required.take("KMS_KEY_ID");
        let auth = match get("AUTH_MODE").as_deref() {
            None | Some("token") => AuthConfig::Token { parameter: required.take("API_TOKEN_PARAMETER") },
            Some("none") => AuthConfig::Disabled,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "AUTH_MODE",
                    value: other.to_owned(),
                    expected: "`token` (the default) or `none`",
                });
            }
        };
        required.finish()?;
        if environment.is_empty()
            || environment.len() > 32
            || !environment.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(ConfigError::Invalid {
                name: "CHATBOT_ENV",
                value: environment,
                expected: "a short lowercase name such as dev, staging or prod",
            });
        }
        Ok(Self {
            environment,
            table_name,
            kms_key_id,
            model_id: get("MODEL_ID").unwrap_or_else(|| DEFAULT_MODEL_ID.to_owned()),
            max_tokens: number(
                &get,
                "MAX_TOKENS",
                DEFAULT_MAX_TOKENS,
                1,
                64_000,
                "a number of tokens from 1 to 64000",
            )?,
            history_length: number(
                &get,
                "HISTORY_LENGTH",
                DEFAULT_HISTORY_LENGTH as u32,
                0,
                100,
                "a count from 0 to 100",
            )? as usize,
            history_tokens: number(
                &get,
                "HISTORY_TOKENS",
                DEFAULT_HISTORY_TOKENS as u32,
                500,
                200_000,
                "a number of tokens from 500 to 200000",
            )? as usize,
            retention_days: number(
                &get,
                "RETENTION_DAYS",
                DEFAULT_RETENTION_DAYS,
                1,
                3650,
                "a number of days from 1 to 3650",
            )?,
            idempotency_lease_seconds: number(
                &get,
                "IDEMPOTENCY_LEASE_SECONDS",
                DEFAULT_IDEMPOTENCY_LEASE.as_secs() as u32,
                10,
                1000,
                "a number of seconds from 10 to 1000",
            )?,
            auth,
            retrieval_function: get("RETRIEVAL_FUNCTION"),
            documents_bucket: get("DOCUMENTS_BUCKET"),
        })
    }
}

/// The ingestion and retrieval Lambdas' configuration (the RAG stack sets it).
#[derive(Debug, Clone, PartialEq)]
pub struct RagConfig {
    pub environment: String,
    pub store: VectorStoreConfig,
    /// The index of chunks, in either store.
    pub index_name: String,
    pub embedding_model_id: String,
    pub embedding_dimensions: usize,
    /// Only the ingestion Lambda reads documents.
    pub documents_bucket: Option<String>,
    /// Only the ingestion Lambda writes the documents' status records, in the conversations
    /// table (`TABLE_NAME`).
    pub status_table: Option<String>,
    pub score_floor: f32,
}

/// Where the vectors live: the templates' `VectorStore` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VectorStoreConfig {
    /// `VECTOR_STORE=s3vectors` (the default): `VECTOR_BUCKET` holds the chunks index and the
    /// manifests index `MANIFEST_INDEX_NAME`.
    S3Vectors { bucket: String, manifests_index: String },
    /// `VECTOR_STORE=opensearch`: the collection at `COLLECTION_ENDPOINT`.
    OpenSearch { collection_endpoint: String },
}

impl RagConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(process_env)
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut required = Required::new(&get);
        let environment = required.take("CHATBOT_ENV");
        // A stack deployed before the store became a choice sets only COLLECTION_ENDPOINT.
        let store = match get("VECTOR_STORE").as_deref() {
            Some("opensearch") => Some(false),
            Some("s3vectors") => Some(true),
            None => Some(get("COLLECTION_ENDPOINT").is_none()),
            Some(_) => None,
        };
        let store = match store {
            Some(true) => VectorStoreConfig::S3Vectors {
                bucket: required.take("VECTOR_BUCKET"),
                manifests_index: get("MANIFEST_INDEX_NAME")
                    .unwrap_or_else(|| crate::aws::s3vectors::DEFAULT_MANIFESTS_INDEX.to_owned()),
            },
            Some(false) => {
                VectorStoreConfig::OpenSearch { collection_endpoint: required.take("COLLECTION_ENDPOINT") }
            }
            None => {
                return Err(ConfigError::Invalid {
                    name: "VECTOR_STORE",
                    value: get("VECTOR_STORE").unwrap_or_default(),
                    expected: "`s3vectors` (the default) or `opensearch`",
                });
            }
        };
        required.finish()?;
        let embedding_dimensions =
            match number(&get, "EMBEDDING_DIMENSIONS", 1024, 256, 1024, "256, 512 or 1024")? {
                d @ (256 | 512 | 1024) => d as usize,
                other => {
                    return Err(ConfigError::Invalid {
                        name: "EMBEDDING_DIMENSIONS",
                        value: other.to_string(),
                        expected: "256, 512 or 1024 (what Titan Text Embeddings v2 produces)",
                    });
                }
            };
        let score_floor = match get("SCORE_FLOOR") {
            None => crate::handlers::retrieve::DEFAULT_SCORE_FLOOR,
            Some(raw) => raw.trim().parse::<f32>().ok().filter(|f| (-1.0..=1.0).contains(f)).ok_or(
                ConfigError::Invalid {
                    name: "SCORE_FLOOR",
                    value: raw,
                    expected: "a similarity from -1 to 1",
                },
            )?,
        };
        Ok(Self {
            environment,
            store,
            index_name: get("INDEX_NAME").unwrap_or_else(|| "chunks".to_owned()),
            embedding_model_id: get("EMBEDDING_MODEL_ID")
                .unwrap_or_else(|| crate::aws::titan::DEFAULT_MODEL_ID.to_owned()),
            embedding_dimensions,
            documents_bucket: get("DOCUMENTS_BUCKET"),
            status_table: get("TABLE_NAME"),
            score_floor,
        })
    }
}

/// A set variable, blank counting as unset.
fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Collects every missing required variable, so one error names them all.
struct Required<'a, G> {
    get: &'a G,
    missing: Vec<&'static str>,
}

impl<'a, G: Fn(&str) -> Option<String>> Required<'a, G> {
    fn new(get: &'a G) -> Self {
        Self { get, missing: Vec::new() }
    }

    fn take(&mut self, name: &'static str) -> String {
        (self.get)(name).unwrap_or_else(|| {
            self.missing.push(name);
            String::new()
        })
    }

    fn finish(self) -> Result<(), ConfigError> {
        if self.missing.is_empty() { Ok(()) } else { Err(ConfigError::Missing(self.missing)) }
    }
}

fn number(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u32,
    min: u32,
    max: u32,
    expected: &'static str,
) -> Result<u32, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or(ConfigError::Invalid { name, value: raw, expected }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)]) -> Result<ChatConfig, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ChatConfig::from_lookup(|k| map.get(k).cloned())
    }

    const BASE: &[(&str, &str)] = &[
        ("CHATBOT_ENV", "dev"),
        ("TABLE_NAME", "chatbot-conversations-dev"),
        ("KMS_KEY_ID", "alias/chatbot-dev"),
        ("API_TOKEN_PARAMETER", "/chatbot/dev/api-token"),
    ];

    #[test]
    fn defaults_fill_the_optional_settings() {
        let c = cfg(BASE).unwrap();
        assert_eq!(c.model_id, DEFAULT_MODEL_ID);
        assert_eq!(c.max_tokens, 1024);
        assert_eq!(c.history_length, 10);
        assert_eq!(c.history_tokens, DEFAULT_HISTORY_TOKENS);
        assert_eq!(c.retention_days, 30);
        assert_eq!(c.idempotency_lease_seconds, 60);
        assert_eq!(c.auth, AuthConfig::Token { parameter: "/chatbot/dev/api-token".into() });
        assert_eq!(c.retrieval_function, None, "RAG is off unless the stack names the retrieval Lambda");
        let mut vars = BASE.to_vec();
        vars.push(("RETRIEVAL_FUNCTION", "chatbot-retrieve-dev"));
        assert_eq!(cfg(&vars).unwrap().retrieval_function.as_deref(), Some("chatbot-retrieve-dev"));
        assert_eq!(c.documents_bucket, None);
        vars.push(("DOCUMENTS_BUCKET", "chatbot-documents-dev-1-us-east-1"));
        assert_eq!(
            cfg(&vars).unwrap().documents_bucket.as_deref(),
            Some("chatbot-documents-dev-1-us-east-1")
        );
    }

    #[test]
    fn every_missing_variable_is_named_at_once() {
        let err = cfg(&[("CHATBOT_ENV", "dev")]).unwrap_err();
        assert_eq!(err, ConfigError::Missing(vec!["TABLE_NAME", "KMS_KEY_ID", "API_TOKEN_PARAMETER"]));
        assert!(err.to_string().contains("TABLE_NAME, KMS_KEY_ID, API_TOKEN_PARAMETER"));
    }

    #[test]
    fn auth_none_needs_no_token_parameter_and_must_be_named() {
        let vars = [("CHATBOT_ENV", "dev"), ("TABLE_NAME", "t"), ("KMS_KEY_ID", "k"), ("AUTH_MODE", "none")];
        assert_eq!(cfg(&vars).unwrap().auth, AuthConfig::Disabled);
        let vars = [("CHATBOT_ENV", "dev"), ("TABLE_NAME", "t"), ("KMS_KEY_ID", "k"), ("AUTH_MODE", "off")];
        assert!(matches!(cfg(&vars), Err(ConfigError::Invalid { name: "AUTH_MODE", .. })));
    }

    #[test]
    fn bad_numbers_are_rejected_with_the_range() {
        let mut vars = BASE.to_vec();
        vars.push(("MAX_TOKENS", "0"));
        let err = cfg(&vars).unwrap_err().to_string();
        assert!(err.contains("MAX_TOKENS") && err.contains("1 to 64000"), "{err}");
        let mut vars = BASE.to_vec();
        vars.push(("IDEMPOTENCY_LEASE_SECONDS", "5"));
        assert!(matches!(cfg(&vars), Err(ConfigError::Invalid { name: "IDEMPOTENCY_LEASE_SECONDS", .. })));
        vars.pop();
        vars.push(("HISTORY_TOKENS", "10"));
        assert!(matches!(cfg(&vars), Err(ConfigError::Invalid { name: "HISTORY_TOKENS", .. })));
        vars.pop();
        vars.push(("HISTORY_LENGTH", "ten"));
        assert!(matches!(cfg(&vars), Err(ConfigError::Invalid { name: "HISTORY_LENGTH", .. })));
    }

    #[test]
    fn rag_config_reads_the_stack_variables_and_checks_them() {
        let get = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let c = RagConfig::from_lookup(get(&[
            ("CHATBOT_ENV", "dev"),
            ("COLLECTION_ENDPOINT", "https://abc.us-east-1.aoss.amazonaws.com"),
            ("DOCUMENTS_BUCKET", "docs-bucket"),
        ]))
        .unwrap();
        assert_eq!((c.index_name.as_str(), c.embedding_dimensions), ("chunks", 1024));
        assert_eq!(c.documents_bucket.as_deref(), Some("docs-bucket"));
        assert_eq!(c.score_floor, crate::handlers::retrieve::DEFAULT_SCORE_FLOOR);
        assert_eq!(
            c.store,
            VectorStoreConfig::OpenSearch {
                collection_endpoint: "https://abc.us-east-1.aoss.amazonaws.com".into()
            },
            "a stack from before the store was a choice"
        );
        assert_eq!(
            RagConfig::from_lookup(get(&[("CHATBOT_ENV", "dev")])),
            Err(ConfigError::Missing(vec!["VECTOR_BUCKET"])),
            "S3 Vectors is the default"
        );
        assert_eq!(
            RagConfig::from_lookup(get(&[("CHATBOT_ENV", "dev"), ("VECTOR_STORE", "opensearch")])),
            Err(ConfigError::Missing(vec!["COLLECTION_ENDPOINT"]))
        );
        let s3 = RagConfig::from_lookup(get(&[
            ("CHATBOT_ENV", "dev"),
            ("VECTOR_STORE", "s3vectors"),
            ("VECTOR_BUCKET", "chatbot-vectors-dev"),
        ]))
        .unwrap();
        assert_eq!(
            s3.store,
            VectorStoreConfig::S3Vectors {
                bucket: "chatbot-vectors-dev".into(),
                manifests_index: "manifests".into()
            }
        );
        let unknown = RagConfig::from_lookup(get(&[("CHATBOT_ENV", "dev"), ("VECTOR_STORE", "pinecone")]));
        assert!(matches!(unknown, Err(ConfigError::Invalid { name: "VECTOR_STORE", .. })), "{unknown:?}");
        let bad = RagConfig::from_lookup(get(&[
            ("CHATBOT_ENV", "dev"),
            ("COLLECTION_ENDPOINT", "https://x"),
            ("EMBEDDING_DIMENSIONS", "300"),
        ]));
        assert!(matches!(bad, Err(ConfigError::Invalid { name: "EMBEDDING_DIMENSIONS", .. })));
    }
}

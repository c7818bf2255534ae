//! The configured store as a [`VectorIndex`], for the ingestion and retrieval Lambdas alike.

use std::sync::Arc;

use ::opensearch::auth::Credentials;

use super::opensearch::OpenSearchIndex;
use super::s3vectors::S3VectorsIndex;
use crate::config::{ConfigError, RagConfig, VectorStoreConfig};
use crate::ports::VectorIndex;

/// `sdk` is the Lambda's `&SdkConfig`. The bounds name it through the SDK's and the opensearch
/// crate's own conversions, which keeps `aws-types` out of this crate's dependencies.
pub fn open<C>(config: &RagConfig, sdk: C) -> Result<Arc<dyn VectorIndex>, ConfigError>
where
    C: Copy,
    aws_sdk_s3vectors::config::Builder: From<C>,
    Credentials: TryFrom<C>,
    <Credentials as TryFrom<C>>::Error: std::fmt::Display,
{
    match &config.store {
        VectorStoreConfig::S3Vectors { bucket, manifests_index } => {
            let index = S3VectorsIndex::new(
                S3VectorsIndex::client(sdk),
                bucket,
                &config.index_name,
                manifests_index,
                config.embedding_dimensions,
            )
            .map_err(|e| ConfigError::Invalid {
                name: "VECTOR_BUCKET",
                value: format!("{bucket} ({e})"),
                expected: "the vector bucket's name, with INDEX_NAME and MANIFEST_INDEX_NAME set",
            })?;
            Ok(Arc::new(index))
        }
        VectorStoreConfig::OpenSearch { collection_endpoint } => {
            let index = OpenSearchIndex::new(
                sdk,
                collection_endpoint,
                &config.index_name,
                config.embedding_dimensions,
            )
            .map_err(|e| ConfigError::Invalid {
                name: "COLLECTION_ENDPOINT",
                value: format!("{collection_endpoint} ({e})"),
                expected: "the collection's https endpoint",
            })?;
            Ok(Arc::new(index))
        }
    }
}

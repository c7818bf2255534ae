//! Turns a failure into one line a person can act on: what happened, and what to do next.
//!
//! The SDK's errors are read as the SDK types them: each layer of the chain is downcast to
//! `ErrorMetadata` (code and message), `CredentialsError` or `ConnectorError`. Known causes
//! become a [`Known`] error whose help says what to do. Only errors that are plain text by the
//! time they get here (our own messages, a test's) are matched by phrase.

use std::error::Error as StdError;

use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::error::ErrorMetadata;

/// A failure with a known cause, and what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Known {
    #[error(
        "your AWS credentials have expired: refresh them (for example `aws sso login`) and run the command again"
    )]
    ExpiredCredentials,
    #[error("AWS does not recognise these credentials: check AWS_PROFILE or your access key")]
    UnknownCredentials,
    #[error(
        "no usable AWS credentials: set AWS_PROFILE, run `aws configure` or `aws sso login`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )]
    UnusableCredentials,
    #[error(
        "no AWS credentials found: set AWS_PROFILE, run `aws configure` or `aws sso login`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )]
    NoCredentials,
    #[error(
        "AWS denied the call: grant your identity the permission named above, or use a profile that has it"
    )]
    AccessDenied,
    #[error(
        "the stack is stuck in UPDATE_ROLLBACK_FAILED: run `aws cloudformation continue-update-rollback --stack-name <stack>` (skipping resources that cannot roll back), then deploy again"
    )]
    RollbackFailed,
    #[error("could not reach AWS: check the network, --endpoint-url and --region")]
    Unreachable,
}

impl Known {
    /// The help text, as it follows `hint:`.
    pub fn help(self) -> String {
        self.to_string()
    }

    /// The cause an AWS error code names.
    pub fn from_code(code: &str) -> Option<Known> {
        Some(match code {
            "ExpiredToken" | "ExpiredTokenException" => Known::ExpiredCredentials,
            "InvalidClientTokenId" | "UnrecognizedClientException" => Known::UnknownCredentials,
            c if c.starts_with("AccessDenied") => Known::AccessDenied,
            _ => return None,
        })
    }

    /// The cause a plain-text failure names, for errors that reach us as text. Checked in this
    /// order: a credentials failure reported through a dispatch failure is about credentials.
    fn from_text(text: &str) -> Option<Known> {
        const PHRASES: &[(&str, Known)] = &[
            ("ExpiredToken", Known::ExpiredCredentials),
            ("InvalidClientTokenId", Known::UnknownCredentials),
            ("UnrecognizedClientException", Known::UnknownCredentials),
            ("loading credentials", Known::UnusableCredentials),
            ("no credentials", Known::NoCredentials),
            ("AccessDenied", Known::AccessDenied),
            ("UPDATE_ROLLBACK_FAILED", Known::RollbackFailed),
            ("dispatch failure", Known::Unreachable),
        ];
        PHRASES.iter().find(|(needle, _)| text.contains(needle)).map(|(_, known)| *known)
    }
}

/// The failure and, for a known cause, what to do about it on a second line.
pub fn explain(err: &anyhow::Error) -> String {
    let read = read(err);
    match read.known.or_else(|| Known::from_text(&read.text)) {
        Some(known) => format!("{}\n  hint: {}", first_line(&read.text), known.help()),
        None => first_line(&read.text),
    }
}

/// The error and its causes on one line, each said once, without the SDK's debug dumps.
pub fn summary(err: &anyhow::Error) -> String {
    first_line(&read(err).text)
}

/// What to do about a failure, from its code or its one-line summary.
pub fn hint(summary: &str) -> Option<String> {
    Known::from_code(summary).or_else(|| Known::from_text(summary)).map(Known::help)
}

struct Read {
    text: String,
    known: Option<Known>,
}

fn read(err: &anyhow::Error) -> Read {
    let mut parts: Vec<String> = Vec::new();
    let mut known = None;
    let causes: Vec<&(dyn StdError + 'static)> = err.chain().collect();
    for (i, cause) in causes.iter().enumerate() {
        let typed = typed_cause(*cause);
        // A credentials failure wins over the dispatch failure that carries it.
        if let Some(k) = typed.known
            && (known.is_none() || known == Some(Known::Unreachable))
        {
            known = Some(k);
        }
        let text = match typed.text {
            Some(text) => text,
            None if typed.known.is_some() => cause.to_string(),
            None => {
                let text = cause.to_string();
                if is_sdk_wrapper(&text, &causes[i + 1..]) {
                    continue;
                }
                text
            }
        };
        // SDK errors often repeat their source's text; say each thing once.
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    Read { text: parts.join(": "), known }
}

struct Typed {
    text: Option<String>,
    known: Option<Known>,
}

fn typed_cause(cause: &(dyn StdError + 'static)) -> Typed {
    if let Some(meta) = cause.downcast_ref::<ErrorMetadata>() {
        let text = match (meta.code(), meta.message()) {
            (Some(code), Some(message)) => Some(format!("{code}: {message}")),
            (Some(code), None) => Some(code.to_owned()),
            _ => None,
        };
        return Typed { text, known: meta.code().and_then(Known::from_code) };
    }
    if let Some(e) = cause.downcast_ref::<CredentialsError>() {
        let known = match e {
            CredentialsError::CredentialsNotLoaded(_) => Known::NoCredentials,
            _ => Known::UnusableCredentials,
        };
        return Typed { text: None, known: Some(known) };
    }
    if let Some(e) = cause.downcast_ref::<ConnectorError>() {
        let known = (e.is_io() || e.is_timeout()).then_some(Known::Unreachable);
        return Typed { text: None, known };
    }
    Typed { text: None, known: None }
}

/// Whether this layer is one of the SDK's wrappers around the `ErrorMetadata` further down the
/// chain: `SdkError`'s "service error" and an operation error's "unhandled error (Code)", which
/// the metadata's code and message say better.
fn is_sdk_wrapper(text: &str, rest: &[&(dyn StdError + 'static)]) -> bool {
    let Some(meta) = rest.iter().find_map(|c| c.downcast_ref::<ErrorMetadata>()) else {
        return false;
    };
    text == "service error"
        || text == "unhandled error"
        || meta.code().is_some_and(|code| text == format!("unhandled error ({code})"))
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).chars().take(600).collect()
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::operation::get_object::GetObjectError;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_types::body::SdkBody;

    use super::*;

    #[test]
    fn known_failures_get_a_hint() {
        let err = anyhow::anyhow!("ExpiredToken: The security token included in the request is expired")
            .context("reading /chatbot/dev/api-token");
        let text = explain(&err);
        assert!(text.starts_with("reading /chatbot/dev/api-token: ExpiredToken"), "{text}");
        assert!(text.contains("hint: your AWS credentials have expired"), "{text}");
    }

    #[test]
    fn missing_credentials_are_not_reported_as_a_network_problem() {
        let err = anyhow::anyhow!(
            "dispatch failure: other: an error occurred while loading credentials: IMDS is disabled"
        );
        assert!(explain(&err).contains("hint: no usable AWS credentials"), "{}", explain(&err));
    }

    fn service_error(code: &str, message: &str) -> anyhow::Error {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        let response = HttpResponse::new(404.try_into().unwrap(), SdkBody::empty());
        anyhow::Error::new(SdkError::service_error(GetObjectError::generic(meta), response))
    }

    #[test]
    fn sdk_layers_collapse_to_code_and_message() {
        // Moved from a test of the text parser: the same SDK error, now as the SDK types it.
        let err =
            service_error("NoSuchBucket", "The specified bucket does not exist").context("reading s3://b/k");
        assert_eq!(explain(&err), "reading s3://b/k: NoSuchBucket: The specified bucket does not exist");
        let denied = service_error("AccessDenied", "no").context("listing");
        assert!(explain(&denied).contains("hint: AWS denied the call"), "{}", explain(&denied));
    }

    #[test]
    fn other_failures_are_one_line() {
        let err = anyhow::anyhow!("line one\nline two");
        assert_eq!(explain(&err), "line one");
    }
}

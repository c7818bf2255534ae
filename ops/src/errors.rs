//! Turns a failure into one line a person can act on: what happened, and what to do next.

/// Known AWS failures, by a code or phrase that appears in the error's chain.
const HINTS: &[(&str, &str)] = &[
    (
        "ExpiredToken",
        "your AWS credentials have expired: refresh them (for example `aws sso login`) and run the command again",
    ),
    (
        "InvalidClientTokenId",
        "AWS does not recognise these credentials: check AWS_PROFILE or your access key",
    ),
    (
        "UnrecognizedClientException",
        "AWS does not recognise these credentials: check AWS_PROFILE or your access key",
    ),
    (
        "loading credentials",
        "no usable AWS credentials: set AWS_PROFILE, run `aws configure` or `aws sso login`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    ),
    (
        "no credentials",
        "no AWS credentials found: set AWS_PROFILE, run `aws configure` or `aws sso login`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    ),
    (
        "AccessDenied",
        "AWS denied the call: grant your identity the permission named above, or use a profile that has it",
    ),
    (
        "UPDATE_ROLLBACK_FAILED",
        "the stack is stuck in UPDATE_ROLLBACK_FAILED: run `aws cloudformation continue-update-rollback --stack-name <stack>` (skipping resources that cannot roll back), then deploy again",
    ),
    ("dispatch failure", "could not reach AWS: check the network, --endpoint-url and --region"),
];

pub fn explain(err: &anyhow::Error) -> String {
    let joined = joined(err);
    match hint(&joined) {
        Some(hint) => format!("{}\n  hint: {hint}", first_line(&joined)),
        None => first_line(&joined),
    }
}

/// The error and its causes on one line, each said once, without the SDK's debug dumps.
pub fn summary(err: &anyhow::Error) -> String {
    first_line(&joined(err))
}

fn joined(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let Some(text) = readable(&cause.to_string()) else { continue };
        // SDK errors often repeat their source's text; say each thing once.
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// What to do about a known AWS failure, from its summary.
pub fn hint(summary: &str) -> Option<&'static str> {
    HINTS.iter().find(|(needle, _)| summary.contains(needle)).map(|(_, hint)| *hint)
}

/// The SDK's layers say "service error", "unhandled error (Code)" and then a debug-formatted
/// `Error { code: "Code", message: "…", aws_request_id: … }`; keep only "Code: message".
fn readable(text: &str) -> Option<String> {
    if text == "service error" || (text.starts_with("unhandled error (") && text.ends_with(')')) {
        return None;
    }
    let quoted = |field: &str| -> Option<String> {
        let start = text.find(&format!("{field}: \""))? + field.len() + 3;
        let end = text[start..].find('"')? + start;
        Some(text[start..end].to_owned())
    };
    if text.starts_with("Error { ") {
        return match (quoted("code"), quoted("message")) {
            (Some(code), Some(message)) => Some(format!("{code}: {message}")),
            (Some(code), None) => Some(code),
            _ => Some(text.to_owned()),
        };
    }
    Some(text.to_owned())
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).chars().take(600).collect()
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn sdk_layers_collapse_to_code_and_message() {
        assert_eq!(readable("service error"), None);
        assert_eq!(readable("unhandled error (NoSuchBucket)"), None);
        assert_eq!(
            readable(
                r#"Error { code: "NoSuchBucket", message: "The specified bucket does not exist", aws_request_id: "x" }"#
            ),
            Some("NoSuchBucket: The specified bucket does not exist".into())
        );
    }

    #[test]
    fn other_failures_are_one_line() {
        let err = anyhow::anyhow!("line one\nline two");
        assert_eq!(explain(&err), "line one");
    }
}

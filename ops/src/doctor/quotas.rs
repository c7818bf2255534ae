//! The quotas that break a first deploy or a first chat: Lambda's concurrency, against the chat
//! function's reserved concurrency (Lambda keeps 100 unreserved), and the chat model's tokens per
//! minute in Service Quotas (some models start at 0 on a new account). A quota that cannot be
//! read warns; one that is too low fails.

use aws_sdk_servicequotas::types::ServiceQuota;

use super::{Check, names};

/// Lambda refuses a reservation that leaves fewer unreserved concurrent executions than this.
pub const MIN_UNRESERVED: i64 = 100;

/// The most pages of Bedrock quotas read (100 each): Bedrock lists a few thousand.
const MAX_PAGES: usize = 100;

/// `ingest`: the ingestion function's name when it will reserve a concurrency of 1 (RAG on, with
/// SerializeIngestion=true).
pub async fn lambda_concurrency(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    reserved: &str,
    ingest: Option<&str>,
) -> Check {
    let name = names::LAMBDA_CONCURRENCY;
    let Ok(chat) = reserved.parse::<i64>() else {
        return Check::fail(
            name,
            format!("ChatReservedConcurrency is {reserved:?}, not a number"),
            Some("pass --param ChatReservedConcurrency=0 (unreserved) or a small number".into()),
        );
    };
    let settings = match lambda.get_account_settings().send().await {
        Ok(s) => s,
        Err(e) => {
            return unreadable(
                name,
                "Lambda's account settings",
                anyhow::Error::from(e),
                "lambda:GetAccountSettings",
            );
        }
    };
    let Some(limit) = settings.account_limit() else {
        return Check::warn(name, "Lambda's account settings have no AccountLimit", None);
    };
    let total = i64::from(limit.concurrent_executions());
    let unreserved = limit.unreserved_concurrent_executions().map(i64::from).unwrap_or(total);
    let mut reservations: Vec<(&str, i64)> = Vec::new();
    if chat > 0 {
        reservations.push((function, chat));
    }
    if let Some(ingest) = ingest {
        reservations.push((ingest, 1));
    }
    if reservations.is_empty() {
        return Check::pass(
            name,
            format!("{total} concurrent executions, {unreserved} unreserved; no function reserves any"),
        );
    }
    let wanted: i64 = reservations.iter().map(|(_, n)| n).sum();
    // A reservation a function already holds is given back when it changes.
    let mut current = 0;
    for (f, _) in &reservations {
        current += match lambda.get_function_concurrency().function_name(*f).send().await {
            Ok(c) => c.reserved_concurrent_executions().map(i64::from).unwrap_or(0),
            Err(_) => 0, // not deployed yet (or unreadable): it holds nothing we know of
        };
    }
    let what = reservations
        .iter()
        .map(|(f, n)| format!("{n} for {}", if *f == function { "chat" } else { "ingestion" }))
        .collect::<Vec<_>>()
        .join(" and ");
    let left = unreserved + current - wanted;
    if left < MIN_UNRESERVED {
        let mut hint = String::from(
            "request a higher Lambda \"Concurrent executions\" quota in Service Quotas, or lower \
             ChatReservedConcurrency (--param ChatReservedConcurrency=0 leaves the chat function \
             unreserved: the account's own quota then caps what a flood of its public URL can run)",
        );
        if ingest.is_some() {
            hint.push_str(
                "; with RAG, --param SerializeIngestion=false gives up the ingestion function's \
                 reservation of 1 (events for one document may then be handled at the same time)",
            );
        }
        return Check::fail(
            name,
            format!(
                "reserving {what} would leave {left} of {total} concurrent executions unreserved; \
                 Lambda keeps at least {MIN_UNRESERVED}"
            ),
            Some(hint),
        );
    }
    Check::pass(name, format!("{total} concurrent executions; reserving {what} leaves {left} unreserved"))
}

pub async fn model_quota(sq: &aws_sdk_servicequotas::Client, model_id: &str, region: &str) -> Check {
    let name = names::MODEL_QUOTA;
    let Some(model) = ModelRef::parse(model_id) else {
        return Check::warn(
            name,
            format!("cannot tell which tokens-per-minute quota applies to {model_id}"),
            None,
        );
    };
    let mut found = match list(sq, false).await {
        Ok(quotas) => model.matching(&quotas),
        Err(e) => return unreadable(name, "Bedrock's quotas", e, "servicequotas:ListServiceQuotas"),
    };
    if found.is_none() {
        // Service Quotas lists applied values only where it has them; the defaults cover the rest.
        found = list(sq, true).await.ok().and_then(|quotas| model.matching(&quotas));
    }
    let Some((quota_name, code, value)) = found else {
        return Check::warn(
            name,
            format!("Service Quotas lists no {} tokens-per-minute quota for {model_id}", model.kind.label()),
            None,
        );
    };
    if value <= 0.0 {
        return Check::fail(
            name,
            format!("{quota_name} is 0: every chat would be throttled"),
            Some(format!(
                "request an increase of quota {code} in the Service Quotas console of {region} (new accounts \
                 start at 0 for some models)"
            )),
        );
    }
    Check::pass(name, format!("{quota_name}: {value}"))
}

fn unreadable(name: &'static str, what: &str, err: anyhow::Error, permission: &str) -> Check {
    let summary = crate::errors::summary(&err);
    Check::warn(
        name,
        format!("could not read {what}: {summary}"),
        Some(format!("allow {permission} to have it checked; the deploy does not need it")),
    )
}

async fn list(sq: &aws_sdk_servicequotas::Client, defaults: bool) -> anyhow::Result<Vec<ServiceQuota>> {
    let mut quotas = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let (page, next) = if defaults {
            let out = sq
                .list_aws_default_service_quotas()
                .service_code("bedrock")
                .max_results(100)
                .set_next_token(token)
                .send()
                .await?;
            (out.quotas().to_vec(), out.next_token().map(str::to_owned))
        } else {
            let out = sq
                .list_service_quotas()
                .service_code("bedrock")
                .max_results(100)
                .set_next_token(token)
                .send()
                .await?;
            (out.quotas().to_vec(), out.next_token().map(str::to_owned))
        };
        quotas.extend(page);
        match next {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => break,
        }
    }
    Ok(quotas)
}

/// How a model id is invoked, which decides whose quota it draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invocation {
    /// A foundation model id, in this Region only.
    OnDemand,
    /// A geography's inference profile (us., eu., ...).
    CrossRegion,
    /// The global. inference profile.
    Global,
}

impl Invocation {
    fn label(self) -> &'static str {
        match self {
            Invocation::OnDemand => "on-demand",
            Invocation::CrossRegion => "cross-Region",
            Invocation::Global => "global cross-Region",
        }
    }

    /// From the words before "tokens per minute for" in a quota's name, which AWS has spelled
    /// "Cross-region model inference", "Cross-Region InvokeModel", "On-demand InvokeModel"...
    fn of_quota(prefix: &str) -> Option<Self> {
        let p = prefix.to_lowercase();
        if p.contains("mantle") || p.contains("batch") {
            None // other endpoints' quotas
        } else if p.contains("global") {
            Some(Invocation::Global)
        } else if p.contains("cross-region") {
            Some(Invocation::CrossRegion)
        } else if p.contains("on-demand") {
            Some(Invocation::OnDemand)
        } else {
            None
        }
    }
}

/// A model id reduced to what its quota's name says: how it is invoked, and its name as
/// lower-case letters and digits only ("us.anthropic.claude-sonnet-4-5-20250929-v1:0" and
/// "Anthropic Claude Sonnet 4.5 V1" both give "claudesonnet45").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    pub kind: Invocation,
    provider: String,
    pub key: String,
}

const GEOGRAPHIES: [&str; 7] = ["us", "eu", "apac", "jp", "au", "ca", "us-gov"];

impl ModelRef {
    pub fn parse(model_id: &str) -> Option<Self> {
        if model_id.starts_with("arn:") {
            return None;
        }
        let mut parts: Vec<&str> = model_id.split('.').collect();
        let kind = match parts.first() {
            Some(&"global") => Invocation::Global,
            Some(p) if GEOGRAPHIES.contains(p) => Invocation::CrossRegion,
            _ => Invocation::OnDemand,
        };
        if kind != Invocation::OnDemand {
            parts.remove(0);
        }
        let [provider, model @ ..] = parts.as_slice() else { return None };
        let model = model.join(".");
        let model = model.split(':').next().unwrap_or_default();
        let words: Vec<&str> = model
            .split(['-', '.'])
            .filter(|w| !(w.len() == 8 && w.chars().all(|c| c.is_ascii_digit()))) // release dates
            .collect();
        let key = squash(&without_v1(&words));
        (!key.is_empty()).then(|| Self { kind, provider: provider.to_lowercase(), key })
    }

    /// The name, code and value of the tokens-per-minute quota this model draws on, the lowest
    /// if several are named for it.
    pub fn matching(&self, quotas: &[ServiceQuota]) -> Option<(String, String, f64)> {
        quotas
            .iter()
            .filter_map(|q| {
                let name = q.quota_name()?;
                let lower = name.to_lowercase();
                let (prefix, model) = lower.split_once(" tokens per minute for ")?;
                if Invocation::of_quota(prefix)? != self.kind || !self.names(model) {
                    return None;
                }
                Some((name.to_owned(), q.quota_code().unwrap_or_default().to_owned(), q.value()?))
            })
            .min_by(|a, b| a.2.total_cmp(&b.2))
    }

    /// Whether a quota's model name ("Anthropic Claude Sonnet 4.6") is this model.
    fn names(&self, model: &str) -> bool {
        let lower = model.to_lowercase();
        let mut words: Vec<&str> = lower.split_whitespace().collect();
        if words.first() == Some(&self.provider.as_str()) {
            words.remove(0);
        }
        squash(&without_v1(&words)) == self.key
    }
}

/// "v1" is every model's first version, said by some names and ids and not others.
fn without_v1<'a>(words: &[&'a str]) -> Vec<&'a str> {
    let mut words = words.to_vec();
    if words.last().is_some_and(|w| w.eq_ignore_ascii_case("v1")) {
        words.pop();
    }
    words
}

fn squash(words: &[&str]) -> String {
    words.concat().chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(name: &str, value: f64) -> ServiceQuota {
        ServiceQuota::builder().quota_name(name).quota_code("L-12345678").value(value).build()
    }

    #[test]
    fn model_ids_reduce_to_their_quota_names() {
        let sonnet = ModelRef::parse("us.anthropic.claude-sonnet-4-6").unwrap();
        assert_eq!((sonnet.kind, sonnet.key.as_str()), (Invocation::CrossRegion, "claudesonnet46"));
        let dated = ModelRef::parse("global.anthropic.claude-sonnet-4-5-20250929-v1:0").unwrap();
        assert_eq!((dated.kind, dated.key.as_str()), (Invocation::Global, "claudesonnet45"));
        let old = ModelRef::parse("anthropic.claude-3-5-haiku-20241022-v1:0").unwrap();
        assert_eq!((old.kind, old.key.as_str()), (Invocation::OnDemand, "claude35haiku"));
        let titan = ModelRef::parse("amazon.titan-embed-text-v2:0").unwrap();
        assert_eq!(titan.key, "titanembedtextv2", "a v2 stays");
        assert_eq!(ModelRef::parse("arn:aws:bedrock:us-east-1:1:inference-profile/x"), None);
    }

    #[test]
    fn the_quota_of_the_invocation_kind_and_model_is_chosen() {
        let quotas = [
            quota("On-demand InvokeModel tokens per minute for Anthropic Claude Sonnet 4.6", 1.0),
            quota("Global cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.6", 2.0),
            quota("Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.5 V1", 3.0),
            quota(
                "Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.6 1M Context Length",
                4.0,
            ),
            quota("Bedrock Mantle input tokens per minute for Anthropic Claude Sonnet 4.6", 5.0),
            quota("Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.6", 6.0),
            quota("Cross-region model inference tokens per minute for Anthropic Claude Sonnet 4.6", 7.0),
        ];
        let pick = |id: &str| ModelRef::parse(id).unwrap().matching(&quotas).map(|(_, _, v)| v);
        assert_eq!(pick("us.anthropic.claude-sonnet-4-6"), Some(6.0), "the lowest of the two spellings");
        assert_eq!(pick("global.anthropic.claude-sonnet-4-6"), Some(2.0));
        assert_eq!(pick("anthropic.claude-sonnet-4-6"), Some(1.0));
        assert_eq!(pick("eu.anthropic.claude-sonnet-4-5-20250929-v1:0"), Some(3.0));
        assert_eq!(pick("us.anthropic.claude-opus-4-6"), None);
    }
}

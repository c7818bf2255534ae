//! The CloudFormation templates, embedded in the binary so `opsctl` deploys exactly what it was
//! built and tested with.

/// CloudFormation's limit for a template passed inline; nested templates are uploaded to S3,
/// but every template stays under it so any of them can also be deployed directly.
pub const MAX_TEMPLATE_BYTES: usize = 51_200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    /// The file name under `templates/`.
    pub file: &'static str,
    pub body: &'static str,
    /// For a nested template: the root stack's parameter that carries its S3 key.
    pub key_parameter: Option<&'static str>,
}

impl Template {
    /// `templates/<stem>-<first 16 hex of sha256>.yaml`: a changed template gets a new key, an
    /// unchanged one keeps its key, so an unchanged deploy uploads nothing and changes nothing.
    pub fn content_key(&self) -> String {
        let hex = sha256_hex(self.body.as_bytes());
        let stem = self.file.trim_end_matches(".yaml");
        format!("templates/{stem}-{}.yaml", &hex[..16])
    }
}

/// Lower-case hex SHA-256: the content hash behind every artifact key.
pub use chatbot_core::digest::sha256_hex;

const fn nested(file: &'static str, body: &'static str, key_parameter: &'static str) -> Template {
    Template { file, body, key_parameter: Some(key_parameter) }
}

pub const MAIN: Template =
    Template { file: "main.yaml", body: include_str!("../../templates/main.yaml"), key_parameter: None };

pub const NESTED: [Template; 5] = [
    nested("security.yaml", include_str!("../../templates/security.yaml"), "SecurityTemplateKey"),
    nested("storage.yaml", include_str!("../../templates/storage.yaml"), "StorageTemplateKey"),
    nested("compute.yaml", include_str!("../../templates/compute.yaml"), "ComputeTemplateKey"),
    nested("ai.yaml", include_str!("../../templates/ai.yaml"), "AiTemplateKey"),
    nested(
        "observability.yaml",
        include_str!("../../templates/observability.yaml"),
        "ObservabilityTemplateKey",
    ),
];

/// The artifact bucket's stack, deployed before the root stack.
pub const BOOTSTRAP: Template = Template {
    file: "bootstrap.yaml",
    body: include_str!("../../templates/bootstrap.yaml"),
    key_parameter: None,
};

/// The billing alarm's stack, deployed in us-east-1.
pub const BILLING: Template = Template {
    file: "billing.yaml",
    body: include_str!("../../templates/billing.yaml"),
    key_parameter: None,
};

/// The `Default:` of a root stack parameter, as `templates/main.yaml` declares it: what a deploy
/// that neither passes `--param NAME=...` nor finds a deployed value uses.
pub fn parameter_default(name: &str) -> Option<&'static str> {
    let mut lines = MAIN
        .body
        .lines()
        .skip_while(|l| *l != "Parameters:")
        .skip(1)
        .take_while(|l| l.starts_with(' ') || l.is_empty());
    let header = format!("  {name}:");
    lines.find(|l| *l == header)?;
    lines
        .take_while(|l| l.starts_with("    ") || l.trim().is_empty())
        .find_map(|l| l.trim().strip_prefix("Default:"))
        .map(|v| v.trim().trim_matches('"'))
}

pub fn all() -> Vec<Template> {
    let mut all = vec![MAIN];
    all.extend(NESTED);
    all.push(BOOTSTRAP);
    all.push(BILLING);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_keys_are_stable_and_distinct() {
        let keys: Vec<String> = all().iter().map(Template::content_key).collect();
        assert_eq!(keys[0], MAIN.content_key());
        assert!(keys[0].starts_with("templates/main-") && keys[0].ends_with(".yaml"));
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), keys.len());
    }

    #[test]
    fn parameter_defaults_are_read_from_main() {
        let parsed: serde_norway::Value = serde_norway::from_str(MAIN.body).unwrap();
        for name in ["ChatModelId", "EmbeddingModelId", "EmbeddingDimensions", "ChatReservedConcurrency"] {
            let expected = match &parsed["Parameters"][name]["Default"] {
                serde_norway::Value::String(s) => s.clone(),
                other => serde_norway::to_string(other).unwrap().trim().to_owned(),
            };
            assert_eq!(parameter_default(name), Some(expected.as_str()), "{name}");
        }
        assert_eq!(parameter_default("ArtifactBucket"), None, "a parameter without a default");
        assert_eq!(parameter_default("NoSuchParameter"), None);
    }

    #[test]
    fn every_nested_template_has_its_key_parameter_in_main() {
        for t in NESTED {
            let p = t.key_parameter.unwrap();
            assert!(MAIN.body.contains(&format!("  {p}:\n")), "main.yaml lacks parameter {p}");
            assert!(MAIN.body.contains(&format!("${{{p}}}")), "main.yaml never uses {p}");
        }
    }
}

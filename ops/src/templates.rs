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
    fn every_nested_template_has_its_key_parameter_in_main() {
        for t in NESTED {
            let p = t.key_parameter.unwrap();
            assert!(MAIN.body.contains(&format!("  {p}:\n")), "main.yaml lacks parameter {p}");
            assert!(MAIN.body.contains(&format!("${{{p}}}")), "main.yaml never uses {p}");
        }
    }
}

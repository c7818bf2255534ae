//! The runtime functions and every name derived from them: the one place that knows how the
//! templates name a function, its log group, its alarms and its metric dimensions. cost, cleanup,
//! the dashboard, package, logs and the local target's metrics all read these names from here;
//! the template tests keep them in step with `templates/`.

use std::fmt::Display;

use clap::ValueEnum;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Function {
    Chat,
    Ingest,
    Retrieve,
}

impl Function {
    pub const ALL: [Function; 3] = [Function::Chat, Function::Ingest, Function::Retrieve];

    pub const fn name(self) -> &'static str {
        match self {
            Function::Chat => "chat",
            Function::Ingest => "ingest",
            Function::Retrieve => "retrieve",
        }
    }

    /// The function by its short name (`chat`), as metric groups and log records carry it.
    pub fn named(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Ingest and retrieve exist only while RAG is on.
    pub const fn needs_rag(self) -> bool {
        !matches!(self, Function::Chat)
    }

    /// The functions a stack with or without RAG has.
    pub fn deployed(rag: bool) -> impl Iterator<Item = Function> {
        Function::ALL.into_iter().filter(move |f| rag || !f.needs_rag())
    }

    /// The workspace package whose binary of the same name is this function.
    pub fn package(self) -> String {
        format!("chatbot-{}", self.name())
    }

    /// The Lambda's name in an environment (`FunctionName: !Sub chatbot-chat-${Environment}`).
    pub fn function_name(self, env: impl Display) -> String {
        format!("chatbot-{}-{env}", self.name())
    }

    /// The log group Lambda writes the function's lines to.
    pub fn log_group(self, env: impl Display) -> String {
        format!("/aws/lambda/{}", self.function_name(env))
    }

    /// `MemorySize` in the templates; cost prices GB-seconds with it.
    pub const fn memory_mb(self) -> u32 {
        match self {
            Function::Chat => 512,
            Function::Ingest => 1024,
            Function::Retrieve => 512,
        }
    }

    /// The root stack output that names the deployed function.
    pub const fn output_key(self) -> &'static str {
        match self {
            Function::Chat => "ChatFunctionName",
            Function::Ingest => "IngestFunctionName",
            Function::Retrieve => "RetrieveFunctionName",
        }
    }

    /// The root stack parameter that takes the S3 key of the function's zip.
    pub const fn code_parameter(self) -> &'static str {
        match self {
            Function::Chat => "ChatCodeKey",
            Function::Ingest => "IngestCodeKey",
            Function::Retrieve => "RetrieveCodeKey",
        }
    }

    /// The alarms observability.yaml defines on this function.
    pub fn alarm_names(self, env: impl Display) -> Vec<String> {
        let prefix = alarm_prefix(env);
        let mut names =
            vec![format!("{prefix}{}-error-rate", self.name()), format!("{prefix}{}-throttles", self.name())];
        match self {
            Function::Chat => names.push(format!("{prefix}model-latency")),
            Function::Ingest => names.push(format!("{prefix}ingest-dlq-depth")),
            Function::Retrieve => {}
        }
        names
    }

    /// The `AWS/Lambda` dimensions of the function's metrics.
    pub fn dims(self, env: impl Display) -> [(&'static str, String); 1] {
        [("FunctionName", self.function_name(env))]
    }
}

impl Display for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Every alarm of an environment starts with this (the billing alarm too).
pub fn alarm_prefix(env: impl Display) -> String {
    format!("chatbot-{env}-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_templates_pattern() {
        assert_eq!(Function::Ingest.function_name("prod"), "chatbot-ingest-prod");
        assert_eq!(Function::Chat.log_group("dev"), "/aws/lambda/chatbot-chat-dev");
        assert_eq!(Function::named("retrieve"), Some(Function::Retrieve));
        assert_eq!(Function::deployed(false).collect::<Vec<_>>(), [Function::Chat]);
        assert_eq!(Function::deployed(true).count(), 3);
    }

    #[test]
    fn the_registry_names_what_the_templates_define() {
        let main = include_str!("../../templates/main.yaml");
        let compute = include_str!("../../templates/compute.yaml");
        let ai = include_str!("../../templates/ai.yaml");
        let observability = include_str!("../../templates/observability.yaml");
        let env = "${Environment}";
        for f in Function::ALL {
            let own = if f.needs_rag() { ai } else { compute };
            assert!(own.contains(&format!("FunctionName: !Sub {}", f.function_name(env))), "{f}");
            assert!(own.contains(&format!("LogGroupName: !Sub {}", f.log_group(env))), "{f}");
            assert!(main.contains(&format!("\n  {}:", f.output_key())), "{f}: output {}", f.output_key());
            assert!(main.contains(&format!("\n  {}:", f.code_parameter())), "{f}: {}", f.code_parameter());
            for alarm in f.alarm_names(env) {
                assert!(observability.contains(&format!("AlarmName: !Sub {alarm}\n")), "{alarm}");
            }
        }
        let alarms = Function::ALL.iter().map(|f| f.alarm_names(env).len()).sum::<usize>();
        assert_eq!(alarms, observability.matches("AlarmName: !Sub ").count(), "an alarm the registry lacks");
    }
}

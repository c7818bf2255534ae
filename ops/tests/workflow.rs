//! The CI/CD workflow operators copy: what it may touch, when it deploys, and that every command
//! it runs exists. actionlint (in `scripts/test validate`) checks its syntax and scripts; this
//! checks its contract: OIDC only, deploy gated to main and an environment, and each `opsctl`
//! line accepted by this opsctl's own argument parser.

use std::path::PathBuf;

use clap::Parser;
use opsctl::cli::{Cli, Command};
use serde_norway::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn workflow() -> (String, Value) {
    let text = std::fs::read_to_string(root().join(".github/workflows/deploy.yaml")).unwrap();
    let yaml = serde_norway::from_str(&text).unwrap();
    (text, yaml)
}

fn runs(job: &Value) -> Vec<String> {
    job["steps"].as_sequence().unwrap().iter().filter_map(|s| s["run"].as_str().map(str::to_owned)).collect()
}

#[test]
fn the_stages_run_in_order_with_the_local_commands() {
    let (_, w) = workflow();
    let jobs = &w["jobs"];
    assert_eq!(runs(&jobs["validate"]), ["scripts/test validate"]);
    assert_eq!(runs(&jobs["test"]), ["scripts/test tests"]);
    assert!(runs(&jobs["build"]).contains(&"scripts/package arm64".to_owned()));
    assert_eq!(jobs["test"]["needs"], "validate");
    assert_eq!(jobs["build"]["needs"], "test");
    assert_eq!(jobs["deploy"]["needs"], "build");
    for script in ["scripts/test", "scripts/package"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(root().join(script)).unwrap().permissions().mode();
        assert!(mode & 0o111 != 0, "{script} is not executable");
    }
    // A stage name the script does not know fails before installing anything.
    let out = std::process::Command::new(root().join("scripts/test")).arg("deploy").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("scripts/test validate"));
}

#[test]
fn aws_access_is_oidc_for_the_deploy_job_only() {
    let (text, w) = workflow();
    assert_eq!(w["permissions"]["contents"], "read");
    assert_eq!(w["permissions"].as_mapping().unwrap().len(), 1, "the default token reads only");
    for (name, job) in w["jobs"].as_mapping().unwrap() {
        let id_token = &job["permissions"]["id-token"];
        if name == "deploy" {
            assert_eq!(id_token, "write");
        } else {
            assert!(id_token.is_null(), "{name:?} must not get an OIDC token");
        }
    }
    for long_lived in ["aws-access-key-id", "aws-secret-access-key", "AWS_SECRET_ACCESS_KEY", "secrets."] {
        assert!(!text.contains(long_lived), "the workflow mentions {long_lived}");
    }
    let creds = w["jobs"]["deploy"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("aws-actions/configure-aws-credentials@")))
        .expect("the deploy job assumes a role");
    assert!(creds["with"]["role-to-assume"].as_str().unwrap().contains("vars.AWS_DEPLOY_ROLE_ARN"));
}

#[test]
fn only_main_deploys_and_only_through_an_environment() {
    let (_, w) = workflow();
    let deploy = &w["jobs"]["deploy"];
    let gate = deploy["if"].as_str().unwrap();
    assert!(gate.contains("github.ref == 'refs/heads/main'"), "{gate}");
    assert!(gate.contains("github.event_name != 'pull_request'"), "{gate}");
    assert!(deploy["environment"]["name"].as_str().unwrap().contains("inputs.environment"));
    let inputs = &w["on"]["workflow_dispatch"]["inputs"];
    assert_eq!(inputs["environment"]["type"], "choice");
    let options: Vec<&str> =
        inputs["environment"]["options"].as_sequence().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(options, ["dev", "staging", "prod"]);
    assert_eq!(inputs["EnableRAG"]["type"], "boolean");
    assert_eq!(inputs["EnableRAG"]["default"], false, "RAG costs money: off unless asked for");
    assert_eq!(inputs["budget"]["type"], "number");
}

#[test]
fn every_opsctl_line_parses_and_the_deploy_checks_itself() {
    let (_, w) = workflow();
    let deploy = &w["jobs"]["deploy"];
    let script = runs(deploy).join("\n");
    let env_of = |name: &str| deploy["env"][name].as_str().map(str::to_owned);
    assert!(env_of("OPSCTL_ENV").is_some() && env_of("BUDGET_USD").is_some());

    // The deploy step builds its arguments in a bash array; the rest are plain lines.
    let array = script.lines().find_map(|l| l.trim().strip_prefix("args=(")).unwrap();
    let deploy_line = format!("opsctl {} --enable-rag", array.trim_end_matches(')'));
    let lines: Vec<String> = std::iter::once(deploy_line)
        .chain(script.lines().filter_map(|l| l.trim().strip_prefix("target/release/").map(str::to_owned)))
        .filter(|l| !l.contains("\"${args[@]}\""))
        .collect();
    let mut seen = Vec::new();
    for line in &lines {
        let argv: Vec<String> = line
            .replace("\"$BUDGET_USD\"", "20")
            .replace("$BUDGET_USD", "20")
            .split_whitespace()
            .map(|a| a.trim_matches('"').to_owned())
            .collect();
        let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("`{line}` does not parse: {e}"));
        seen.push(match cli.command {
            Command::Deploy(a) => {
                assert!(a.yes && a.no_package && a.enable_rag, "{line}");
                assert_eq!(a.param, ["MonthlyBudgetUsd=20"]);
                "deploy"
            }
            Command::Smoke(a) => {
                assert!(a.junit.is_some(), "{line}");
                "smoke"
            }
            Command::Alarms(a) => {
                assert!(a.check, "{line}");
                "alarms"
            }
            Command::Cost(a) => {
                assert!(a.check && a.budget == Some(20.0), "{line}");
                "cost"
            }
            other => panic!("unexpected command {other:?}"),
        });
    }
    assert_eq!(seen, ["deploy", "smoke", "alarms", "cost"]);

    // The JUnit report is uploaded even when the smoke step failed.
    let upload = deploy["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["with"]["path"] == "smoke-junit.xml")
        .expect("the smoke report is uploaded");
    assert_eq!(upload["if"], "always()");
}

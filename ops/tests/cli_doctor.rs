//! `opsctl doctor`, and the same checks in front of `opsctl deploy`, run as the real binary
//! against the emulator (its Bedrock double grants the templates' default models only).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use support::{Moto, packaged_target, text};

/// Every check on the AWS target with RAG asked for, in the order they are reported.
const ALL_CHECKS: [&str; 9] = [
    "region",
    "credentials",
    "stacks",
    "chat-model",
    "embedding-model",
    "lambda-concurrency",
    "model-quota",
    "lambda-target",
    "emulator",
];

/// The architecture whose Rust target a development machine has without cross-compiling.
const HOST_ARCH: &str = if cfg!(target_arch = "aarch64") { "arm64" } else { "x86_64" };

/// opsctl from the workspace root, with none of this process's `OPSCTL_*` or AWS variables.
fn clean_opsctl() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_opsctl"));
    support::isolate::isolated(&mut cmd)
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
        .stdin(Stdio::null());
    cmd
}

/// opsctl calling `endpoint` with the emulator's credentials.
fn opsctl_at(endpoint: &str, cargo_target: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = clean_opsctl();
    cmd.args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", Moto::REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    if let Some(t) = cargo_target {
        cmd.env("CARGO_TARGET_DIR", t);
    }
    cmd.output().expect("run opsctl")
}

fn opsctl(args: &[&str]) -> Output {
    opsctl_at(&Moto::shared().endpoint, None, args)
}

/// The text report's line for `check`.
fn line<'a>(stdout: &'a str, check: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(check))
        .unwrap_or_else(|| panic!("no line for {check}:\n{stdout}"))
}

#[test]
fn every_check_passes_against_the_emulator() {
    let out = opsctl(&["doctor", "--rag", "--arch", HOST_ARCH]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    for check in ALL_CHECKS {
        assert!(line(&stdout, check).starts_with("PASS  "), "{check}:\n{stdout}");
    }
    assert!(line(&stdout, "chat-model").contains("us.anthropic.claude-sonnet-4-6"), "{stdout}");
    assert!(line(&stdout, "region").contains(&Moto::shared().endpoint), "the endpoint is named: {stdout}");
    assert!(stdout.trim_end().ends_with("9 checks: 9 passed"), "{stdout}");
}

#[test]
fn the_json_report_has_every_check() {
    let out = opsctl(&["doctor", "--rag", "--arch", HOST_ARCH, "--output", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(report["ok"], true);
    assert_eq!(report["target"], "aws");
    let checks = report["checks"].as_array().unwrap();
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ALL_CHECKS);
    for c in checks {
        assert_eq!(c["outcome"], "pass", "{c}");
        assert!(!c["detail"].as_str().unwrap().is_empty(), "{c}");
    }
}

#[test]
fn a_model_the_account_may_not_use_fails_with_the_hint() {
    let out =
        opsctl(&["doctor", "--arch", HOST_ARCH, "--param", "ChatModelId=eu.anthropic.claude-not-granted"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let failed = line(&stdout, "chat-model");
    assert!(failed.starts_with("FAIL  ") && failed.contains("AccessDeniedException"), "{stdout}");
    assert!(
        stdout.contains("hint: enable access to this model in the Bedrock console of us-east-1"),
        "{stdout}"
    );
    assert!(line(&stdout, "credentials").starts_with("PASS  "), "only the model fails: {stdout}");
}

#[test]
fn with_the_emulator_down_the_credentials_check_fails() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = opsctl_at(&format!("http://127.0.0.1:{closed}"), None, &["doctor", "--arch", HOST_ARCH]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let credentials = line(&stdout, "credentials");
    assert!(credentials.starts_with("FAIL  ") && credentials.contains("dispatch failure"), "{stdout}");
    assert!(stdout.contains("hint: could not reach AWS"), "{stdout}");
    for later in ["stacks", "chat-model", "lambda-concurrency", "model-quota"] {
        assert!(line(&stdout, later).starts_with("SKIP  "), "{later}: {stdout}");
    }
}

#[test]
fn the_local_target_must_be_running() {
    let empty = std::env::temp_dir().join(format!("opsctl-doctor-local-{}", std::process::id()));
    let out = clean_opsctl()
        .args(["--target", "local", "doctor"])
        .env("OPSCTL_LOCAL_DIR", &empty)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(line(&stdout, "emulator").starts_with("FAIL  "), "{stdout}");
    assert!(stdout.contains("hint: start it with `opsctl local up --env dev`"), "{stdout}");
    assert!(!stdout.contains("chat-model"), "Bedrock does not apply to the local target: {stdout}");
}

#[tokio::test]
async fn deploy_stops_on_a_failing_check_before_creating_anything() {
    let target = packaged_target("doctor-deploy", &["chat"]);
    let out = opsctl_at(
        &Moto::shared().endpoint,
        Some(&target),
        &[
            "deploy",
            "--env",
            "staging",
            "--yes",
            "--no-package",
            "--arch",
            "x86_64",
            "--param",
            "ChatModelId=eu.anthropic.claude-not-granted",
        ],
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let failed =
        stderr.lines().find(|l| l.starts_with("FAIL  chat-model")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(failed.contains("AccessDeniedException"), "{failed}");
    assert!(stderr.contains("deploy stopped before changing anything"), "{stderr}");
    assert!(!stderr.contains("uploaded"), "nothing was uploaded: {stderr}");

    let sdk = Moto::shared().sdk_config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    for stack in ["chatbot-bootstrap-staging", "chatbot-staging"] {
        assert!(cfn.describe_stacks().stack_name(stack).send().await.is_err(), "{stack} was created");
    }
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    assert!(
        ssm.get_parameter().name("/chatbot/staging/api-token").send().await.is_err(),
        "no token was created"
    );
}

#[test]
fn a_stack_whose_first_create_failed_is_reported_with_the_way_out() {
    let target = packaged_target("doctor-rollback", &["chat"]);
    let bad_bucket = ["--param", "ArtifactBucket=chatbot-no-such-bucket"];
    let deploy = ["deploy", "--env", "prod", "--yes", "--no-package", "--arch", "x86_64"];
    let failed = opsctl_at(&Moto::shared().endpoint, Some(&target), &[&deploy[..], &bad_bucket].concat());
    assert!(!failed.status.success(), "{}", text(&failed.stderr));

    let out = opsctl(&["doctor", "--env", "prod", "--arch", HOST_ARCH]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        line(&stdout, "stacks").starts_with("FAIL  ") && stdout.contains("chatbot-prod is ROLLBACK_COMPLETE")
    );
    assert!(stdout.contains("`aws cloudformation delete-stack --stack-name chatbot-prod`"), "{stdout}");

    // deploy says the same before it tries an update CloudFormation would refuse.
    let again = opsctl_at(&Moto::shared().endpoint, Some(&target), &deploy);
    let stderr = text(&again.stderr);
    assert!(!again.status.success());
    assert!(stderr.lines().any(|l| l.starts_with("FAIL  stacks")), "{stderr}");
}

//! `opsctl deploy`, run as the real binary against the emulator.

mod support;

use support::{Moto, opsctl as run, packaged_target as packaged, text};

fn packaged_target(env: &str) -> std::path::PathBuf {
    packaged(&format!("deploy-{env}"), &["chat"])
}

fn opsctl(target: &std::path::Path, args: &[&str]) -> std::process::Output {
    run(Some(target), args)
}

async fn last_updated(stack: &str) -> Option<aws_sdk_cloudformation::primitives::DateTime> {
    let sdk = Moto::shared().sdk_config().await;
    let out =
        aws_sdk_cloudformation::Client::new(&sdk).describe_stacks().stack_name(stack).send().await.unwrap();
    let s = &out.stacks()[0];
    s.last_updated_time().or(s.creation_time()).copied()
}

#[tokio::test]
async fn deploy_from_empty_then_again_with_no_change() {
    let target = packaged_target("staging");
    let args = ["deploy", "--env", "staging", "--yes", "--no-package", "--arch", "x86_64"];
    let first = opsctl(&target, &[&args[..], &["--output", "json"]].concat());
    assert!(first.status.success(), "stderr:\n{}", text(&first.stderr));
    let report: serde_json::Value = serde_json::from_slice(&first.stdout).expect("JSON report");
    assert_eq!(report["stack"], "chatbot-staging");
    assert_eq!(report["status"], "CREATE_COMPLETE");
    assert!(report["changes"].as_array().unwrap().len() >= 4, "{report}");
    let api = report["outputs"]["ApiUrl"].as_str().unwrap();
    assert!(api.starts_with("https://"));
    // The web app is served at the API's root.
    assert_eq!(report["app_url"], format!("{}/", api.trim_end_matches('/')), "{report}");
    assert_eq!(report["outputs"]["TableName"], "chatbot-conversations-staging");
    assert!(text(&first.stderr).contains("created the API token at /chatbot/staging/api-token"));
    let before = last_updated("chatbot-staging").await;

    let second = opsctl(&target, &args);
    assert!(second.status.success(), "stderr:\n{}", text(&second.stderr));
    let out = text(&second.stdout);
    assert!(out.contains("no changes: chatbot-staging is up to date"), "{out}");
    assert!(out.contains("ApiUrl"), "outputs are printed: {out}");
    assert!(out.lines().any(|l| l.starts_with("App: https://")), "the app's URL is printed: {out}");
    assert!(!text(&second.stderr).contains("uploaded"), "nothing is uploaded again");
    assert_eq!(last_updated("chatbot-staging").await, before, "the stack was not updated");
}

#[tokio::test]
async fn a_non_interactive_deploy_without_yes_is_refused_before_any_change() {
    let target = packaged_target("prod");
    let out = opsctl(&target, &["deploy", "--env", "prod", "--no-package"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("pass --yes"), "{}", text(&out.stderr));
    let sdk = Moto::shared().sdk_config().await;
    let stacks = aws_sdk_cloudformation::Client::new(&sdk)
        .describe_stacks()
        .stack_name("chatbot-bootstrap-prod")
        .send()
        .await;
    assert!(stacks.is_err(), "nothing was created");
}

#[tokio::test]
async fn a_failing_deploy_names_the_failed_resource_and_its_reason() {
    let target = packaged_target("dev");
    let out = opsctl(
        &target,
        &[
            "deploy",
            "--env",
            "dev",
            "--yes",
            "--no-package",
            "--arch",
            "x86_64",
            "--param",
            "ArtifactBucket=chatbot-no-such-bucket",
        ],
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("deploying chatbot-dev failed"), "{stderr}");
    // The emulator fails the root stack itself; AWS names the nested SecurityStack. Either way a
    // *_FAILED line carries the resource and the reason.
    let failed = stderr
        .lines()
        .find(|l| l.contains("CREATE_FAILED"))
        .unwrap_or_else(|| panic!("no failed resource: {stderr}"));
    assert!(failed.contains("chatbot-dev") || failed.contains("SecurityStack"), "{failed}");
    assert!(failed.contains("bucket does not exist"), "{failed}");
    assert!(
        !stderr.contains("aws_request_id") && !stderr.contains("Error {"),
        "no raw SDK debug output: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

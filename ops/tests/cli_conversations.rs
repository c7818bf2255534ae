//! `opsctl conversations` against a gateway serving the real handlers: ls, show, rename and rm,
//! in text and JSON.

mod support;

use std::sync::Arc;

use chatbot_core::fakes::{ScriptedModel, chat_app};
use opsctl::local::gateway;
use serde_json::Value;
use support::{deployed_api, opsctl, text};

/// The token `deployed_api` stores for the environment.
const TOKEN: &str = "t0ken";

async fn gateway() -> String {
    let app = chat_app(Arc::new(ScriptedModel::new("fake-model")), Some(TOKEN)).await.unwrap();
    let listener = gateway::bind(0).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(gateway::serve(listener, Arc::new(app), std::future::pending()));
    url
}

async fn run(args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        opsctl(None, &args)
    })
    .await
    .unwrap()
}

async fn json(args: &[&str]) -> Value {
    let out = run(args).await;
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", text(&out.stdout)))
}

#[tokio::test(flavor = "multi_thread")]
async fn list_show_rename_and_delete_from_the_command_line() {
    let url = gateway().await;
    deployed_api("prod", &url).await;
    let first = json(&["--env", "prod", "chat", "Plan the trip to Porto", "--output", "json"]).await;
    let id = first["conversation_id"].as_str().unwrap().to_owned();
    json(&["--env", "prod", "chat", "and the budget?", "--conversation", &id, "--output", "json"]).await;

    let listed = json(&["--env", "prod", "conversations", "ls", "--output", "json"]).await;
    let entry = &listed["conversations"][0];
    assert_eq!(
        (entry["conversation_id"].as_str(), entry["message_count"].as_u64()),
        (Some(id.as_str()), Some(4))
    );
    assert_eq!(entry["title"], "Plan the trip to Porto");
    let table = text(&run(&["--env", "prod", "conversations", "ls"]).await.stdout);
    assert!(table.contains("TITLE") && table.contains("Plan the trip to Porto"), "{table}");

    let shown = json(&["--env", "prod", "conversations", "show", &id, "--output", "json"]).await;
    let roles: Vec<&str> =
        shown["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
    assert_eq!(shown["messages"][1]["status"], "complete");
    let printed = text(&run(&["--env", "prod", "conversations", "show", &id]).await.stdout);
    assert!(printed.contains("you:\nPlan the trip to Porto") && printed.contains("fake-model:"), "{printed}");

    let renamed =
        json(&["--env", "prod", "conversations", "rename", &id, "Porto in May", "--output", "json"]).await;
    assert_eq!(renamed["title"], "Porto in May");
    let long = "x".repeat(61);
    let refused = run(&["--env", "prod", "conversations", "rename", &id, &long]).await;
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("the limit is 60"), "{}", text(&refused.stderr));

    let bad = run(&["--env", "prod", "conversations", "show", "../chat"]).await;
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("must be a UUID"), "{}", text(&bad.stderr));

    let removed = json(&["--env", "prod", "conversations", "rm", &id, "--output", "json"]).await;
    assert_eq!(removed["deleted"][0], id.as_str());
    let listed = json(&["--env", "prod", "conversations", "ls", "--output", "json"]).await;
    assert_eq!(listed["conversations"], serde_json::json!([]));
    let missing = run(&["--env", "prod", "conversations", "show", &id]).await;
    assert!(!missing.status.success() && text(&missing.stderr).contains("no such conversation"));
}

//! `opsctl token` and `opsctl completions`, run as the real binary against the emulator.

mod support;

use std::process::{Command, Output};

fn opsctl(args: &[&str]) -> Output {
    support::opsctl(None, args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn token_show_before_any_token_says_how_to_get_one() {
    let out = opsctl(&["token", "show", "--env", "staging"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("no API token at /chatbot/staging/api-token") && err.contains("opsctl deploy"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
}

#[test]
fn token_rotate_then_show_returns_the_new_token() {
    let rotated = opsctl(&["token", "rotate", "--output", "json"]);
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    let v: serde_json::Value = serde_json::from_str(&stdout(&rotated)).unwrap();
    assert_eq!(v["parameter"], "/chatbot/dev/api-token");
    let token = v["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64);

    let shown = opsctl(&["token", "show"]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert_eq!(stdout(&shown).trim(), token);

    let again = opsctl(&["token", "rotate", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&again)).unwrap();
    assert_ne!(v["token"].as_str().unwrap(), token);
}

#[test]
fn help_shows_examples_and_completions_work() {
    let commands = [
        "token",
        "completions",
        "package",
        "deploy",
        "doctor",
        "enable-rag",
        "disable-rag",
        "status",
        "cleanup",
        "local",
        "chat",
        "open",
    ];
    let local = ["up", "down", "status"].map(|c| vec!["local", c, "--help"]);
    let helps =
        commands.iter().map(|c| vec![*c, "--help"]).chain(local).chain(std::iter::once(vec!["--help"]));
    for args in helps {
        let out = support::isolate::isolated(&mut Command::new(env!("CARGO_BIN_EXE_opsctl")))
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(stdout(&out).contains("Examples:"), "{args:?}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = support::isolate::isolated(&mut Command::new(env!("CARGO_BIN_EXE_opsctl")))
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        assert!(stdout(&out).contains("opsctl"), "{shell}");
    }
}

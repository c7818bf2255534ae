//! The local target end to end, through the real `opsctl` binary only: up, chat with memory,
//! documents in and out of RAG with citations, the smoke tests' JUnit report, what the dashboard,
//! the logs and an export show of all that, and down.
//!
//! Every test shares one local target, started by the first. The steps run in the scenario's
//! order, each once (see `e2e::shared`): the checks of what the traffic left behind count every
//! chat and upload, so they ask for the steps that make it instead of repeating them. Each step
//! is its own test, so a failed one hides none of the others.

use e2e::shared::{Outcome, Step, caught, check, shared_opsctl};
use e2e::{Opsctl, cited, port_open, process_gone, repo_root};
use serde_json::Value;
use std::sync::OnceLock;

const LAMP_QUESTION: &str = "When was the Skerry Point lighthouse lamp replaced?";

/// What `local up --rag` and the `local status` after it said.
struct Started {
    up: Value,
    status: Value,
}

/// The shared target, started by the first test that needs it; the tests after a failed start
/// fail with its message rather than starting it again.
fn target() -> (&'static Opsctl, &'static Value) {
    let (opsctl, started) = start();
    match started {
        Ok(started) => (opsctl, &started.status),
        Err(why) => panic!("the local target did not start: {why}"),
    }
}

fn start() -> (&'static Opsctl, &'static Result<Started, String>) {
    static STARTED: OnceLock<Result<Started, String>> = OnceLock::new();
    let opsctl = shared_opsctl("local");
    let started = STARTED.get_or_init(|| {
        caught(|| Started {
            up: opsctl.json(&["local", "up", "--rag"]),
            status: opsctl.json(&["local", "status"]),
        })
    });
    (opsctl, started)
}

#[test]
fn local_up_starts_the_target_with_rag() {
    let (_, started) = start();
    let Started { up, status } = started.as_ref().unwrap_or_else(|why| panic!("{why}"));
    assert_eq!(up["rag"], true);
    assert_eq!(status["running"], true, "{status}");
}

fn conversation() -> &'static Outcome {
    static STEP: Step = Step::new();
    STEP.run(|| {
        let (opsctl, _) = target();
        // Two turns of one conversation: the second reply shows the first was remembered.
        let first = opsctl.json(&["chat", "My sister's name is Aurelia and she lives in Porto."]);
        let conversation = first["conversation_id"].as_str().unwrap().to_owned();
        let second = opsctl.json(&["chat", "What is my sister's name?", "--conversation", &conversation]);
        assert_eq!(second["conversation_id"], conversation.as_str());
        assert!(second["reply"].as_str().unwrap().contains("Aurelia"), "not remembered: {second}");

        // The conversation exports decrypted, in order, to a file only its owner can read.
        let out = opsctl.local_dir.join("one.jsonl");
        let export =
            opsctl.json(&["export", "--conversation", &conversation, "--out", out.to_str().unwrap()]);
        assert_eq!(
            (export["messages"].as_u64(), export["conversations"].as_u64()),
            (Some(4), Some(1)),
            "{export}"
        );
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let (messages, entries): (Vec<_>, Vec<_>) = lines.iter().partition(|l| l["record"] == "message");
        let roles: Vec<&str> = messages.iter().map(|l| l["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
        assert_eq!(messages[0]["content"], "My sister's name is Aurelia and she lives in Porto.");
        assert_eq!(messages[1]["status"], "complete");
        // The conversation's entry: its title (the first message, opened) and its count.
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries[0]["title"], "My sister's name is Aurelia and she lives in Porto.");
        assert_eq!(entries[0]["message_count"], 4);
        let first_line = std::fs::read_to_string(&out).unwrap().lines().next().unwrap().to_owned();
        let at = |key: &str| {
            first_line.find(&format!("\"{key}\":")).unwrap_or_else(|| panic!("no {key}: {first_line}"))
        };
        let order = ["conversation_id", "timestamp", "role", "content", "model"].map(at);
        assert!(order.windows(2).all(|w| w[0] < w[1]), "fields out of order: {first_line}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
        let again = opsctl.run(&["export", "--all", "--out", out.to_str().unwrap()]);
        assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("already exists"));
    })
}

#[test]
fn a_conversation_is_remembered_and_exports_in_order_to_an_owner_only_file() {
    check(conversation());
}

fn documents() -> &'static Outcome {
    static STEP: Step = Step::new();
    STEP.run(|| {
        // After the conversation, as in the scenario: its replies drew on no documents.
        let _ = conversation();
        let (opsctl, _) = target();
        // A Markdown file and a PDF, both indexed, each answering its own question with a citation.
        let samples = repo_root().join("samples/docs");
        let md = samples.join("household-handbook.md");
        let pdf = samples.join("lighthouse-log.pdf");
        let put = opsctl.json(&["docs", "put", md.to_str().unwrap(), pdf.to_str().unwrap()]);
        assert_eq!(put["failed"], 0, "{put}");
        for doc in put["documents"].as_array().unwrap() {
            assert!(doc["indexed_chunks"].as_u64().unwrap() > 0, "not indexed: {doc}");
        }
        let listed = opsctl.json(&["docs", "ls"]);
        let names: Vec<&str> =
            listed["documents"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["household-handbook.md", "lighthouse-log.pdf"]);
        // The index holds the documents' text; with the logs and the state, all of it is owner-only.
        // MiniLM's, as scripts/test installs the model and `local up` prefers it.
        assert!(opsctl.local_dir.join("dev/vectors-minilm.sqlite").exists());
        assert_eq!(e2e::not_owner_only(&opsctl.local_dir.join("dev")), Vec::<String>::new());

        let key = opsctl.json(&["chat", "Where is the spare house key kept?"]);
        assert!(key["reply"].as_str().unwrap().contains("blue ceramic jar"), "{key}");
        assert!(cited(&key).contains(&"docs/household-handbook.md".to_owned()), "{key}");
        let lamp = opsctl.json(&["chat", LAMP_QUESTION]);
        assert!(lamp["reply"].as_str().unwrap().contains("14 March 2024"), "{lamp}");
        assert_eq!(cited(&lamp).first().map(String::as_str), Some("docs/lighthouse-log.pdf"), "{lamp}");

        // Removed, the PDF is neither cited nor quoted any more.
        let rm = opsctl.json(&["docs", "rm", "lighthouse-log.pdf"]);
        assert_eq!(rm["documents"][0]["removed"], true, "{rm}");
        let after = opsctl.json(&["chat", LAMP_QUESTION]);
        assert!(!cited(&after).contains(&"docs/lighthouse-log.pdf".to_owned()), "still cited: {after}");
        assert!(!after["reply"].as_str().unwrap().contains("14 March 2024"), "still quoted: {after}");
        let missing = opsctl.run(&["docs", "rm", "lighthouse-log.pdf"]);
        assert!(!missing.status.success());
        assert!(String::from_utf8_lossy(&missing.stderr).contains("opsctl docs ls"), "no next step given");
    })
}

#[test]
fn documents_answer_with_citations_until_removed() {
    check(documents());
}

fn smoke() -> &'static Outcome {
    static STEP: Step = Step::new();
    STEP.run(|| {
        // After the documents: it checks that only the handbook stays once its own is gone.
        let _ = documents();
        let (opsctl, _) = target();
        // The smoke tests pass and their JUnit report parses.
        let junit = opsctl.local_dir.join("smoke.xml");
        let smoke = opsctl.run(&["smoke", "--junit", junit.to_str().unwrap()]);
        let stdout = String::from_utf8_lossy(&smoke.stdout);
        assert!(
            smoke.status.success(),
            "smoke failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&smoke.stderr)
        );
        let xml = std::fs::read_to_string(&junit).unwrap();
        let doc = roxmltree::Document::parse(&xml)
            .unwrap_or_else(|e| panic!("the JUnit report does not parse: {e}\n{xml}"));
        let suites = doc.root_element();
        assert_eq!(suites.tag_name().name(), "testsuites");
        assert_eq!(suites.attribute("failures"), Some("0"));
        assert_eq!(suites.attribute("skipped"), Some("0"), "with RAG on, no check is skipped");
        let cases: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .filter_map(|n| n.attribute("name"))
            .collect();
        for check in [
            "health",
            "web_app",
            "chat",
            "memory",
            "ciphertext",
            "stream",
            "listed",
            "delete",
            "bad_json",
            "oversize",
            "no_token",
            "rag_upload",
            "rag_answer",
            "rag_delete",
            "cleanup",
        ] {
            assert!(cases.contains(&check), "no {check} check in {cases:?}");
        }
        assert!(!doc.descendants().any(|n| n.has_tag_name("failure")), "{xml}");
        // The smoke document is gone again; only the handbook stays.
        let listed = opsctl.json(&["docs", "ls"]);
        assert_eq!(listed["documents"].as_array().unwrap().len(), 1, "{listed}");
    })
}

#[test]
fn the_smoke_tests_pass_and_their_junit_report_parses() {
    check(smoke());
}

/// Every step that makes traffic, run (or waited for): what the checks below look at.
fn traffic() {
    let _ = smoke();
}

fn dashboard() -> &'static Outcome {
    static STEP: Step = Step::new();
    STEP.run(|| {
        traffic();
        let (opsctl, _) = target();
        // The dashboard shows the traffic the smoke tests made, as AWS would report it. The gateway
        // publishes every 10 s, so the newest requests may take that long to appear; a minute leaves
        // room for a machine busy with builds.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let invocations = loop {
            let snapshot = opsctl.json(&["dashboard", "--once"]);
            let total = |id: &str| -> f64 {
                snapshot["series"][id]["points"]
                    .as_array()
                    .map(|p| p.iter().map(|p| p[1].as_f64().unwrap()).sum())
                    .unwrap_or(0.0)
            };
            let seen = (
                total("chat_invocations"),
                total("api_count"),
                total("ingest_invocations"),
                total("tokens_in"),
            );
            // Tokens too: a flush sends AWS/Lambda before the Chatbot namespace, so a poll can
            // land between the two calls.
            if (seen.0 >= 12.0 && seen.2 >= 4.0 && seen.3 > 0.0) || std::time::Instant::now() > deadline {
                break seen;
            }
            std::thread::sleep(std::time::Duration::from_secs(2));
        };
        // The 5 chats of the conversation and document steps and the smoke tests' 7 requests; 4
        // ingestion events (put, rm, and the smoke document's put and delete).
        assert!(
            invocations.0 >= 12.0 && invocations.1 >= 12.0 && invocations.3 > 0.0,
            "chat invocations on the dashboard: {invocations:?}"
        );
        assert!(
            invocations.2 >= 4.0,
            "ingest invocations (put, rm, the smoke document's put and rm): {invocations:?}"
        );
        let screen = opsctl.run(&["dashboard", "--once"]);
        assert!(screen.status.success(), "{}", String::from_utf8_lossy(&screen.stderr));
        let screen = String::from_utf8_lossy(&screen.stdout);
        assert!(screen.contains("chat") && screen.contains("retrieve"), "{screen}");
        // The gateway reads its own SQLite index, not the stack's vector bucket: both say so.
        assert!(screen.contains("RAG on (SQLite index, a local development double)"), "{screen}");
        let status = opsctl.json(&["status"]);
        assert_eq!(status["vector_store"], "sqlite", "{status}");
        assert!(status["vector_store_resource"].is_null(), "{status}");
    })
}

#[test]
fn the_dashboard_shows_the_traffic() {
    check(dashboard());
}

fn logs() -> &'static Outcome {
    static STEP: Step = Step::new();
    STEP.run(|| {
        traffic();
        let (opsctl, _) = target();
        // The functions' logs show the smoke tests' requests, refused ones too, and never what was
        // said or the token.
        let logs = opsctl.run(&["logs", "--since", "5m"]);
        assert!(logs.status.success(), "{}", String::from_utf8_lossy(&logs.stderr));
        let chat_log = String::from_utf8_lossy(&logs.stdout).into_owned();
        assert!(chat_log.contains("  chat turn  conversation_id="), "{chat_log}");
        for status in ["status=200", "status=400", "status=413", "status=401"] {
            assert!(chat_log.contains(status), "no {status} request in:\n{chat_log}");
        }
        let ingest_log =
            String::from_utf8_lossy(&opsctl.run(&["logs", "ingest", "--since", "5m"]).stdout).into_owned();
        assert!(
            ingest_log.contains("document done") && ingest_log.contains("key=docs/lighthouse-log.pdf"),
            "{ingest_log}"
        );
        // As on AWS, each document was read by a worker process: opsctl re-invoked.
        assert!(
            ingest_log.contains("extraction worker done") && ingest_log.contains("peak_rss_kib="),
            "{ingest_log}"
        );
        let retrieve_log =
            String::from_utf8_lossy(&opsctl.run(&["logs", "retrieve", "--since", "5m"]).stdout).into_owned();
        assert!(retrieve_log.contains("retrieval done"), "{retrieve_log}");
        let requests =
            opsctl.run(&["logs", "--since", "5m", "--filter", "\"request done\"", "--output", "json"]);
        let requests: Vec<serde_json::Value> = String::from_utf8_lossy(&requests.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(requests.iter().all(|r| r["message"] == "request done"), "{requests:?}");
        let refused = requests.iter().filter(|r| r["fields"]["status"] == 401).count();
        assert_eq!(refused, 1, "the smoke test sends one request without a token: {requests:?}");
        let token = opsctl.json(&["token", "show"]);
        let token = token["token"].as_str().unwrap_or_else(|| panic!("no token in {token}"));
        let raw = std::fs::read_to_string(opsctl.local_dir.join("dev/function-logs.jsonl")).unwrap();
        for secret in ["Aurelia", "Porto", "spare house key", LAMP_QUESTION, token] {
            assert!(!raw.contains(secret), "the function logs contain {secret:?}");
        }
    })
}

#[test]
fn the_logs_show_every_request_and_nothing_said() {
    check(logs());
}

fn export_all() -> &'static Outcome {
    static STEP: Step = Step::new();
    STEP.run(|| {
        traffic();
        let (opsctl, status) = target();
        // Everything stored comes back out: as many exported lines as items in the table.
        let all = opsctl.local_dir.join("all.jsonl");
        let export = opsctl.json(&["export", "--all", "--out", all.to_str().unwrap()]);
        let exported = std::fs::read_to_string(&all).unwrap();
        let message_lines = exported.lines().filter(|l| l.starts_with(r#"{"record":"message""#)).count();
        assert_eq!(export["messages"].as_u64(), Some(message_lines as u64), "{export}");
        // Every item but the records that are not conversations: the messages and each
        // conversation's entry.
        let (items, records) = dynamodb_items(status["emulator"]["url"].as_str().unwrap());
        assert_eq!(exported.lines().count(), items);
        // `opsctl chat` sends an Idempotency-Key per message: one record for each of the 5 chats
        // of the conversation and document steps (the smoke tests send none); and one status
        // record for each document still in the bucket. The export passes over them all.
        let documents = opsctl.json(&["docs", "ls"]);
        let documents = documents["documents"].as_array().map_or(0, Vec::len);
        assert_eq!(
            records,
            5 + documents,
            "one idempotency record per `opsctl chat`, one status per document"
        );
        assert!(exported.contains("My sister's name is Aurelia and she lives in Porto."));
    })
}

#[test]
fn everything_stored_exports() {
    check(export_all());
}

#[test]
fn local_down_closes_both_ports_and_ends_both_processes() {
    // Last: every other step uses the running target.
    let _ = (dashboard(), logs(), export_all());
    let (opsctl, status) = target();
    let gateway_port = port_of(status["gateway"]["url"].as_str().unwrap());
    let emulator_port = port_of(status["emulator"]["url"].as_str().unwrap());
    let pids = [status["gateway"]["pid"].as_u64().unwrap(), status["emulator"]["pid"].as_u64().unwrap()];
    // Down: both ports closed and both processes gone.
    let down = opsctl.json(&["local", "down"]);
    assert_eq!(down["stopped"].as_array().unwrap().len(), 2, "{down}");
    assert!(!port_open(gateway_port) && !port_open(emulator_port), "a port is still open");
    for pid in pids {
        assert!(process_gone(pid), "process {pid} is still running");
    }
}

/// Every item of every table on the emulator, counted by DynamoDB itself (COUNT scans): the
/// messages, and the idempotency records in their own partitions.
fn dynamodb_items(endpoint: &str) -> (usize, usize) {
    let python = std::env::var("MOTO_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| repo_root().join(".venv/bin/python"));
    // Conversations are what is left once the records that are not conversations are passed
    // over: idempotency records, one-time sign-in codes and the documents' status records.
    let script = "import boto3, sys; \
        c = boto3.client('dynamodb', endpoint_url=sys.argv[1], region_name='us-east-1', \
                         aws_access_key_id='local', aws_secret_access_key='local'); \
        count = lambda f: sum(page['Count'] for t in c.list_tables()['TableNames'] \
                  for page in c.get_paginator('scan').paginate(TableName=t, Select='COUNT', \
                      FilterExpression=f, ExpressionAttributeValues={':p': {'S': 'idempotency#'}, \
                          ':s': {'S': 'signin#'}, ':d': {'S': 'document-status'}})); \
        print(count('NOT begins_with(conversation_id, :p) AND NOT begins_with(conversation_id, :s) \
                     AND conversation_id <> :d'), \
              count('begins_with(conversation_id, :p) OR begins_with(conversation_id, :s) OR conversation_id = :d'))";
    let out = e2e::isolated(&mut std::process::Command::new(&python))
        .args(["-c", script, endpoint])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let counts: Vec<usize> =
        String::from_utf8_lossy(&out.stdout).split_whitespace().map(|n| n.parse().unwrap()).collect();
    (counts[0], counts[1])
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("no port in {url}"))
}

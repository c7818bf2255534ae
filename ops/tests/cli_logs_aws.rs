//! `opsctl logs` on AWS, against the emulator's CloudWatch Logs: the emulator runs no Lambda, so
//! the test writes the lines the chat Lambda and Lambda itself write, and checks what `logs`
//! makes of them: the time window, the columns, JSON, a filter, `--follow`, and clear errors.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use serde_json::Value;
use support::{Moto, opsctl, text};

const STACK: &str = r#"{
  "Parameters": {"EnableRAG": {"Type": "String", "Default": "false"}},
  "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
  "Outputs": {
    "ChatFunctionName": {"Value": "chatbot-chat-staging"},
    "ApiUrl": {"Value": "http://127.0.0.1:9"}
  }
}"#;
const GROUP: &str = "/aws/lambda/chatbot-chat-staging";
const TURN: &str = r#"{"timestamp":"TS","level":"INFO","message":"chat turn","conversation_id":"c-1","latency_ms":812,"spans":[{"name":"Lambda runtime invoke","requestId":"7f0c-aa"}]}"#;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as i64
}

async fn put(logs: &aws_sdk_cloudwatchlogs::Client, at: i64, lines: &[&str]) {
    let events = lines.iter().map(|l| InputLogEvent::builder().timestamp(at).message(*l).build().unwrap());
    logs.put_log_events()
        .log_group_name(GROUP)
        .log_stream_name("2026/11/25/[$LATEST]abc")
        .set_log_events(Some(events.collect()))
        .send()
        .await
        .unwrap();
}

#[test]
fn logs_reads_the_functions_log_group() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let sdk = rt.block_on(Moto::shared().sdk_config());
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    rt.block_on(async {
        let cfn = aws_sdk_cloudformation::Client::new(&sdk);
        cfn.create_stack().stack_name("chatbot-staging").template_body(STACK).send().await.unwrap();
    });

    // Before the function has run, its group does not exist: a note, not a failure.
    let out = opsctl(None, &["--env", "staging", "logs"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("has not run since it was deployed"), "{}", text(&out.stderr));

    let now = now_ms();
    rt.block_on(async {
        logs.create_log_group().log_group_name(GROUP).send().await.unwrap();
        logs.create_log_stream().log_group_name(GROUP).log_stream_name("2026/11/25/[$LATEST]abc").send().await.unwrap();
        put(&logs, now - 20 * 60_000, &["START RequestId: old-1 Version: $LATEST"]).await;
        let turn = TURN.replace("TS", "2026-11-25T10:00:00.250Z");
        put(
            &logs,
            now - 60_000,
            &[
                "START RequestId: 7f0c-aa Version: $LATEST",
                &turn,
                r#"{"level":"ERROR","message":"could not load history","error":"throttled","request_id":"7f0c-bb"}"#,
                "REPORT RequestId: 7f0c-aa\tDuration: 812.31 ms\tBilled Duration: 813 ms\tMemory Size: 256 MB\tMax Memory Used: 41 MB",
            ],
        )
        .await;
    });

    let out = opsctl(None, &["--env", "staging", "logs", "--since", "5m"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "the 20-minute-old line is outside --since 5m:\n{stdout}");
    assert!(lines[0].ends_with(" -     7f0c-aa  START Version: $LATEST"), "{stdout}");
    assert_eq!(
        lines[1],
        "2026-11-25T10:00:00.250Z INFO  7f0c-aa  chat turn  conversation_id=c-1  latency_ms=812"
    );
    assert!(lines[2].contains(" ERROR 7f0c-bb  could not load history  error=throttled"), "{stdout}");
    assert!(lines[3].contains("7f0c-aa  REPORT Duration: 812.31 ms Billed Duration: 813 ms"), "{stdout}");

    let out = opsctl(None, &["--env", "staging", "logs", "--since", "1h", "--output", "json"]);
    let records: Vec<Value> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 5, "{}", text(&out.stdout));
    assert_eq!(records[2]["function"], "chat");
    assert_eq!(records[2]["request_id"], "7f0c-aa");
    assert_eq!(records[2]["fields"]["latency_ms"], 812);

    let out = opsctl(None, &["--env", "staging", "logs", "--since", "1h", "--filter", "ERROR"]);
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("could not load history"));

    // --follow prints lines written after it started, then stops on a signal.
    let moto = Moto::shared();
    let mut child = support::isolate::isolated(&mut Command::new(env!("CARGO_BIN_EXE_opsctl")))
        .args(["--env", "staging", "logs", "--follow", "--since", "10s"])
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", Moto::REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    std::thread::sleep(Duration::from_secs(1));
    rt.block_on(put(&logs, now_ms(), &[r#"{"level":"INFO","message":"a later turn","request_id":"9e1d"}"#]));
    let seen = rx.recv_timeout(Duration::from_secs(20));
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let status = child.wait().unwrap();
    assert!(seen.as_deref().is_ok_and(|l| l.contains("9e1d  a later turn")), "{seen:?}");
    assert!(status.success(), "Ctrl-C ends --follow normally: {status:?}");
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err(), "each event is printed once");

    let out = opsctl(None, &["--env", "staging", "logs", "ingest"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("opsctl enable-rag --env staging"), "{}", text(&out.stderr));
    let out = opsctl(None, &["--env", "staging", "logs", "--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("use 30s, 15m, 2h, 1d"), "{}", text(&out.stderr));
}

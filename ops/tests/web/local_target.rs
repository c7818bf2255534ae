//! A local target of a test's own: `opsctl local up --rag --word-delay-ms 50` in its own
//! OPSCTL_LOCAL_DIR, from the real binary, stopped by `Drop` even when the test fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use super::support::isolate;

pub fn opsctl(local_dir: &Path, args: &[&str]) -> Output {
    isolate::isolated(&mut Command::new(env!("CARGO_BIN_EXE_opsctl")))
        .current_dir(workspace())
        .args(args)
        .env("OPSCTL_LOCAL_DIR", local_dir)
        .stdin(Stdio::null())
        .output()
        .expect("run opsctl")
}

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub struct LocalTarget {
    dir: PathBuf,
    /// The gateway, which serves the app at `/` and the API beside it.
    pub url: String,
    pub emulator: String,
    pub token: String,
}

impl LocalTarget {
    pub fn up(name: &str) -> LocalTarget {
        let dir = std::env::temp_dir().join(format!("opsctl-web-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // Built before `up`, so a failing `up` is still followed by `down`.
        let mut target =
            LocalTarget { dir, url: String::new(), emulator: String::new(), token: String::new() };
        let up = opsctl(&target.dir, &["local", "up", "--rag", "--word-delay-ms", "50", "--output", "json"]);
        assert!(up.status.success(), "local up failed:\n{}", text(&up.stderr));
        let report: Value = serde_json::from_slice(&up.stdout).expect("local up prints JSON");
        target.url = report["gateway"].as_str().expect("the gateway's URL").trim_end_matches('/').to_owned();
        target.emulator = report["emulator"].as_str().expect("the emulator's URL").to_owned();
        let token = target.opsctl(&["--target", "local", "token", "show"]);
        assert!(token.status.success(), "token show: {}", text(&token.stderr));
        target.token = text(&token.stdout).trim().to_owned();
        target
    }

    pub fn opsctl(&self, args: &[&str]) -> Output {
        opsctl(&self.dir, args)
    }

    async fn sdk(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.emulator)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::for_tests())
            .load()
            .await
    }

    /// The items the conversations table holds under `conversation`, read from the emulator
    /// directly, not through the API.
    pub async fn table_items(&self, conversation: &str) -> usize {
        let sdk = self.sdk().await;
        let stacks = aws_sdk_cloudformation::Client::new(&sdk)
            .describe_stacks()
            .stack_name("chatbot-dev")
            .send()
            .await
            .expect("describe the local stack");
        let table = stacks
            .stacks()
            .iter()
            .flat_map(|s| s.outputs())
            .find(|o| o.output_key() == Some("TableName"))
            .and_then(|o| o.output_value())
            .expect("the stack's TableName output")
            .to_owned();
        let items = aws_sdk_dynamodb::Client::new(&sdk)
            .query()
            .table_name(table)
            .key_condition_expression("conversation_id = :c")
            .expression_attribute_values(
                ":c",
                aws_sdk_dynamodb::types::AttributeValue::S(conversation.to_owned()),
            )
            .consistent_read(true)
            .send()
            .await
            .expect("query the conversations table");
        items.items().len()
    }
}

impl LocalTarget {
    /// Stops the gateway alone, as a crash or a lost network would; the emulator stays up.
    pub fn kill_gateway(&self) {
        let status = self.opsctl(&["local", "status", "--output", "json"]);
        let status: Value = serde_json::from_slice(&status.stdout).expect("local status prints JSON");
        let pid = status["gateway"]["pid"].as_u64().expect("the gateway's pid");
        let killed = Command::new("kill").arg(pid.to_string()).status().expect("run kill");
        assert!(killed.success(), "could not stop the gateway {pid}");
        let port: u16 = self.url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("the gateway's port");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            assert!(std::time::Instant::now() < deadline, "the gateway still answers");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Starts the gateway again on its recorded port (`opsctl local serve`, as `up` does); the
    /// returned guard stops it.
    pub fn restart_gateway(&self) -> Gateway {
        let child = isolate::isolated(&mut Command::new(env!("CARGO_BIN_EXE_opsctl")))
            .current_dir(workspace())
            .args(["--env", "dev", "local", "serve"])
            .env("OPSCTL_LOCAL_DIR", &self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the gateway");
        Gateway(child)
    }
}

/// A gateway this test started itself, which `local down` does not know of.
pub struct Gateway(std::process::Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for LocalTarget {
    fn drop(&mut self) {
        let _ = opsctl(&self.dir, &["local", "down"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

//! Starts one emulator per test binary, on a free loopback port: the moto server with the
//! project's CloudFormation patches (`scripts/emulator/serve.py`).
//!
//! The server watches its stdin, which this process holds open: when the test binary exits,
//! for whatever reason, the pipe closes and the server exits too. Nothing is left running.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;

use crate::isolate;

const INSTALL_HINT: &str = "the moto server is not installed. Run the README's test command (`scripts/test`), \
which installs it into .venv/, or install it by hand: \
`python3 -m venv .venv && .venv/bin/pip install 'moto[server]==5.2.5' cbor2==6.2.1`. \
Set MOTO_PYTHON to use another interpreter that has moto.";

pub struct Moto {
    _child: Child,
    pub endpoint: String,
}

/// The workspace root: the nearest ancestor of this crate holding `scripts/emulator/serve.py`.
fn workspace_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("scripts/emulator/serve.py").exists() {
        assert!(dir.pop(), "scripts/emulator/serve.py not found above {}", env!("CARGO_MANIFEST_DIR"));
    }
    dir
}

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("MOTO_PYTHON") {
        return PathBuf::from(p);
    }
    workspace_root().join(".venv/bin/python")
}

fn log_file(port: u16) -> Stdio {
    let path = std::env::temp_dir().join(format!("opsctl-emulator-{port}.log"));
    std::fs::File::create(path).map(Stdio::from).unwrap_or_else(|_| Stdio::null())
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local addr").port()
}

fn responds(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: localhost\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

impl Moto {
    /// A server of the caller's own, with `vars` in its environment (such as
    /// `EMULATOR_BEDROCK_STREAM_PAUSE_MS`), for a test that needs the emulator to behave otherwise
    /// than [`Moto::shared`]'s. It stops when the returned value is dropped.
    pub fn with_env(vars: &[(&str, &str)]) -> Moto {
        Moto::start(vars)
    }

    fn start(vars: &[(&str, &str)]) -> Moto {
        let python = python();
        if !python.exists() {
            panic!("{} ({} does not exist)", INSTALL_HINT, python.display());
        }
        let check = Command::new(&python).args(["-c", "import moto.server"]).output();
        match check {
            Ok(out) if out.status.success() => {}
            _ => panic!("{INSTALL_HINT} ({} cannot import moto.server)", python.display()),
        }
        let port = free_port();
        let mut command = Command::new(&python);
        // boto inside moto reads the AWS variables too: a caller's AWS_PROFILE stops it at start.
        let mut child = isolate::isolated(&mut command)
            .envs(vars.iter().copied())
            .arg(workspace_root().join("scripts/emulator/serve.py"))
            .args(["-p", &port.to_string(), "--exit-with-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            // The server's own log, for when a test needs to know what the emulator did.
            .stderr(log_file(port))
            .spawn()
            .unwrap_or_else(|e| panic!("could not start the moto server with {}: {e}", python.display()));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !responds(port) {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the moto server exited at start ({status}); run it by hand to see why: {} -m moto.server -p {port}",
                    python.display()
                );
            }
            if Instant::now() > deadline {
                panic!("the moto server did not answer on 127.0.0.1:{port} within 60 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { _child: child, endpoint: format!("http://127.0.0.1:{port}") }
    }

    /// The region every test uses.
    pub const REGION: &'static str = "us-east-1";

    /// The shared server of this test binary.
    pub fn shared() -> &'static Moto {
        static MOTO: OnceLock<Moto> = OnceLock::new();
        MOTO.get_or_init(|| Moto::start(&[]))
    }

    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new(Self::REGION))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .load()
            .await
    }
}

//! Starts one moto server per test binary, on a free loopback port.
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

const WRAPPER: &str = r#"
import os, sys, threading
def watch_parent():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=watch_parent, daemon=True).start()
from moto.server import main
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
"#;

const INSTALL_HINT: &str = "the moto server is not installed. Run the README's test command (`scripts/test`), \
which installs it into .venv/, or install it by hand: \
`python3 -m venv .venv && .venv/bin/pip install 'moto[server]==5.2.5'`. \
Set MOTO_PYTHON to use another interpreter that has moto.";

pub struct Moto {
    _child: Child,
    pub endpoint: String,
}

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("MOTO_PYTHON") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")
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
    fn start() -> Moto {
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
        let mut child = Command::new(&python)
            .args(["-c", WRAPPER, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
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

    /// The shared server of this test binary.
    pub fn shared() -> &'static Moto {
        static MOTO: OnceLock<Moto> = OnceLock::new();
        MOTO.get_or_init(Moto::start)
    }

    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .load()
            .await
    }
}

//! Shared by the CLI test binaries: the emulator and a way to run the real `opsctl` against it.
#![allow(dead_code)]

#[allow(unused_imports)]
pub use test_support::{isolate, moto, private_files};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub use moto::Moto;

/// The smallest valid zip; the emulator stores Lambda code without running it.
pub const EMPTY_ZIP: [u8; 22] =
    [0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// Runs opsctl from the workspace root against the emulator, with no terminal on stdin and,
/// when given, `target` as the cargo target directory (where packaged zips are looked for).
pub fn opsctl(target: Option<&Path>, args: &[&str]) -> Output {
    opsctl_command(target, args).output().expect("run opsctl")
}

/// The command [`opsctl`] runs, for a test that drives the process while it runs.
pub fn opsctl_command(target: Option<&Path>, args: &[&str]) -> Command {
    let moto = Moto::shared();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_opsctl"));
    isolate::isolated(&mut cmd)
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
        .args(args)
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", Moto::REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .stdin(Stdio::null());
    if let Some(t) = target {
        cmd.env("CARGO_TARGET_DIR", t);
    }
    cmd
}

/// A cargo target directory holding packaged zips for `functions`, as `opsctl package` leaves it.
/// Each zip differs, so each function gets its own content key.
pub fn packaged_target(name: &str, functions: &[&str]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("opsctl-{name}-{}", std::process::id()));
    for f in functions {
        std::fs::create_dir_all(dir.join("lambda").join(f)).unwrap();
        let comment = f.as_bytes();
        let mut zip = EMPTY_ZIP.to_vec();
        zip[20] = comment.len() as u8; // the end record's comment length
        zip.extend_from_slice(comment);
        std::fs::write(dir.join("lambda").join(f).join("bootstrap.zip"), zip).unwrap();
    }
    dir
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A root stack on the emulator whose `ApiUrl` is `url`, and its token.
pub async fn deployed_api(env: &str, url: &str) {
    let sdk = Moto::shared().sdk_config().await;
    let template = serde_json::json!({
        "Resources": {"Nothing": {"Type": "AWS::SSM::Parameter",
            "Properties": {"Type": "String", "Value": "x", "Name": format!("/chat-test/{env}")}}},
        "Outputs": {"ApiUrl": {"Value": url}}
    });
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    cfn.create_stack()
        .stack_name(format!("chatbot-{env}"))
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let put = ssm.put_parameter().name(format!("/chatbot/{env}/api-token")).value("t0ken");
    put.r#type(aws_sdk_ssm::types::ParameterType::SecureString).send().await.unwrap();
}

//! Human-readable logs on stderr; stdout is for results. The local gateway also writes its
//! handlers' lines, as the Lambdas would to CloudWatch Logs, to a JSON file `opsctl logs` reads.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, fmt};

/// `function_log`: where `opsctl local serve` appends its handlers' JSON lines.
pub fn init(verbose: u8, function_log: Option<&Path>) {
    // The SDK's own warnings (a missing IMDS, say) are noise unless asked for; failures reach
    // the user as errors anyway.
    let default = match verbose {
        0 => "opsctl=warn",
        1 => "opsctl=debug,aws_config=info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_env("OPSCTL_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let stderr = fmt::layer().with_writer(std::io::stderr).with_target(false).with_filter(filter);
    let functions = function_log.and_then(open_function_log).map(|file| {
        // The same shape as the Lambdas' lines (`chatbot_core::telemetry`), plus the `lambda`
        // span that says which function a line belongs to.
        fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .with_target(false)
            .with_ansi(false)
            .with_writer(Mutex::new(file))
            .with_filter(
                Targets::new()
                    .with_target("chatbot_core", Level::INFO)
                    .with_target("opsctl::local", Level::INFO),
            )
    });
    let _ = tracing_subscriber::registry().with(stderr).with(functions).try_init();
}

/// Appends, owner-only: the lines carry conversation ids and document names.
fn open_function_log(path: &Path) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let opened = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path));
    match opened {
        Ok(file) => Some(file),
        Err(e) => {
            // The gateway still serves; only `opsctl logs` goes without.
            let _ = writeln!(
                std::io::stderr(),
                "could not open {}: {e}; `opsctl logs` will show nothing",
                path.display()
            );
            None
        }
    }
}

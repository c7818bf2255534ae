//! Human-readable logs on stderr; stdout is for results.

use tracing_subscriber::EnvFilter;

pub fn init(verbose: u8) {
    // The SDK's own warnings (a missing IMDS, say) are noise unless asked for; failures reach
    // the user as errors anyway.
    let default = match verbose {
        0 => "opsctl=warn",
        1 => "opsctl=debug,aws_config=info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_env("OPSCTL_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

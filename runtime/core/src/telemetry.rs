//! Structured JSON logs for the Lambdas.

use tracing_subscriber::EnvFilter;

/// One JSON object per line, fields flattened, level from `RUST_LOG` (default `info`).
/// Lambda timestamps each line itself, so ours is kept only for local runs' sake. The span list
/// carries Lambda's `requestId` onto every line, which `opsctl logs` shows.
pub fn init_json_logs() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_target(false)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
}

//! One module per subcommand, each exposing `run(args, &ctx)`.

pub mod alarms;
pub mod chat;
pub mod cleanup;
pub mod completions;
pub mod cost;
pub mod dashboard;
pub mod deploy;
pub mod docs;
pub mod doctor;
pub mod export;
pub mod local;
pub mod logs;
pub mod package;
pub mod rag;
pub mod smoke;
pub mod status;
pub mod token;

//! One module per subcommand, each exposing `run(args, &ctx)`.

pub mod completions;
pub mod deploy;
pub mod package;
pub mod token;

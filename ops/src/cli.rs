//! The command line: clap types only.

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

pub use crate::package::{Arch, Function};

const EXAMPLES: &str = "\
Examples:
  opsctl deploy --env dev                build, show the change set, ask, deploy
  opsctl package --arch x86_64           build the Lambdas into target/lambda/<function>/bootstrap.zip
  opsctl token show                      print the API token of the dev environment
  opsctl token rotate --env prod         replace prod's token; the chat Lambda picks it up within a minute
  opsctl completions zsh > ~/.zfunc/_opsctl";

#[derive(Debug, Parser)]
#[command(name = "opsctl", version, about = "Deploy and run the private chatbot on AWS", after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The arguments every subcommand takes. The standard AWS variables are honoured as well.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The environment to act on.
    #[arg(long, global = true, value_enum, default_value_t = Env::Dev, env = "OPSCTL_ENV")]
    pub env: Env,
    /// AWS Region (default: AWS_REGION or the profile's region).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Named AWS profile (default: AWS_PROFILE or `default`).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Send every AWS call to this endpoint, such as an emulator (default: AWS_ENDPOINT_URL).
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// More logging (-v, -vv).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Env {
    Dev,
    Staging,
    Prod,
}

impl Env {
    pub fn as_str(self) -> &'static str {
        match self {
            Env::Dev => "dev",
            Env::Staging => "staging",
            Env::Prod => "prod",
        }
    }
}

impl std::fmt::Display for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Package, upload and deploy the stacks, after showing the change set.
    Deploy(DeployArgs),
    /// Delete everything the environment owns: stacks, bucket versions, log groups, the token.
    #[command(
        after_help = "Examples:\n  opsctl cleanup --env dev --yes\n  opsctl cleanup --env prod --confirm chatbot-prod"
    )]
    Cleanup(CleanupArgs),
    /// Turn RAG on: OpenSearch Serverless, ingestion and retrieval (about $175 a month).
    #[command(after_help = "Examples:\n  opsctl enable-rag --env dev\n  opsctl enable-rag --env prod --yes")]
    EnableRag(RagArgs),
    /// Turn RAG off: deletes the vector collection; documents stay in their bucket.
    #[command(after_help = "Examples:\n  opsctl disable-rag --env dev\n  opsctl disable-rag --yes")]
    DisableRag(RagArgs),
    /// Build the Lambdas into zips (bootstrap inside) and check their glibc.
    Package(PackageArgs),
    /// Show the stack, its outputs, each function's code and the alarms.
    #[command(after_help = "Examples:\n  opsctl status\n  opsctl status --env prod --output json")]
    Status,
    /// Show or rotate the API token (an SSM SecureString).
    Token(TokenArgs),
    /// Print shell completions.
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  opsctl deploy                               build, show the change set, ask, deploy dev\n  opsctl deploy --env prod --yes --param AlarmEmail=me@example.com\n  opsctl deploy --no-package --arch x86_64    deploy the zips `opsctl package` made"
)]
pub struct DeployArgs {
    /// Execute the change set without asking (required when stdin is not a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Turn RAG on (about $175 a month for OpenSearch Serverless).
    #[arg(long)]
    pub enable_rag: bool,
    /// Deploy the zips already in target/lambda instead of building them.
    #[arg(long)]
    pub no_package: bool,
    /// CPU architecture of the Lambdas.
    #[arg(long, value_enum, default_value_t = Arch::Arm64)]
    pub arch: Arch,
    /// A root stack parameter, KEY=VALUE (repeatable), e.g. AlarmEmail=me@example.com.
    #[arg(long, value_name = "KEY=VALUE")]
    pub param: Vec<String>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  opsctl package                      all functions for arm64 (Lambda's default here)\n  opsctl package --arch x86_64 --function chat"
)]
pub struct PackageArgs {
    /// CPU architecture of the Lambda.
    #[arg(long, value_enum, default_value_t = Arch::Arm64)]
    pub arch: Arch,
    /// Only this function (default: every function with a crate).
    #[arg(long, value_enum)]
    pub function: Option<Function>,
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Delete without asking (not enough for prod).
    #[arg(long)]
    pub yes: bool,
    /// prod only: the stack name, typed back (chatbot-prod).
    #[arg(long, value_name = "STACK")]
    pub confirm: Option<String>,
}

#[derive(Debug, Args)]
pub struct RagArgs {
    /// Apply without asking (required when stdin is not a terminal).
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  opsctl token show\n  opsctl token rotate --env prod")]
pub struct TokenArgs {
    #[command(subcommand)]
    pub action: TokenAction,
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum TokenAction {
    /// Print the token.
    Show,
    /// Replace the token with a new random 256-bit one.
    Rotate,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  opsctl completions bash > /etc/bash_completion.d/opsctl\n  opsctl completions fish > ~/.config/fish/completions/opsctl.fish"
)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    pub shell: clap_complete::Shell,
}

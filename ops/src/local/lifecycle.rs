//! The local target's lifecycle: the whole chatbot on this machine (see ARCHITECTURE.md, "The local target").
//!
//! `up` starts the emulator, deploys the embedded templates to it through the same deploy path
//! as AWS, then starts the gateway (`opsctl local serve`) in the background. Both are recorded in
//! the state file, so `--target local` finds them and `down` stops exactly them.

use std::collections::BTreeMap;
use std::os::unix::fs::DirBuilderExt;
use std::time::Duration;

use anyhow::{Context, bail};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::aws::Sdk;
use crate::config::{Env, Target};
use crate::functions::Function;
use crate::interact::{Interaction, Step};
use crate::local::embedder::{self, EmbedderArg, LocalEmbedder};
use crate::local::metrics::LocalMetrics;
use crate::local::openai::ModelSpec;
use crate::local::process::{self, EMULATOR_MARK, GATEWAY_MARK};
use crate::local::state::{self, LocalState, Process, VectorStore};
use crate::local::wiring::LocalVectors;
use crate::local::{gateway, wiring};
use crate::package::Arch;
use crate::stack::deploy::{self, Code, Deployment, Plan};
use crate::stack::rollout::Approval;
use crate::{stack, token};

/// The Lambda zips deployed to the emulator: it stores code without running it, and on the
/// local target the gateway runs the handlers in-process. A valid empty zip whose comment says so.
const PLACEHOLDER_NOTE: &[u8] = b"opsctl local target: no code, the gateway runs the handlers";

/// How often the gateway publishes metrics to the emulator: well within a dashboard refresh.
const METRICS_INTERVAL: Duration = Duration::from_secs(10);

/// What `up` starts.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// The gateway's port on 127.0.0.1 (default: a free one).
    pub port: Option<u16>,
    pub rag: bool,
    /// With RAG on: the embedded SQLite index or the real S3 Vectors adapter on the emulator.
    pub vector_store: VectorStore,
    /// With RAG on: which embedder, `auto` preferring MiniLM when installed.
    pub embedder: EmbedderArg,
    /// With RAG on: replaces the embedder's calibrated score floor.
    pub score_floor: Option<f32>,
    pub model: ModelSpec,
    /// The pause between the development model's streamed words.
    pub word_delay_ms: u64,
}

/// The running local target and its token (or how to read it).
pub struct Up {
    pub local: LocalState,
    pub token: String,
    /// Why RAG runs the local/hashing fallback, when it was not asked for.
    pub embedder_fallback: Option<String>,
}

/// Starts the local target of `env`, reporting progress through `ui`.
pub async fn up(env: Env, args: &UpOptions, ui: &dyn Interaction) -> anyhow::Result<Up> {
    if let Some(existing) = state::load(env)? {
        if process::is_ours(existing.emulator.pid, EMULATOR_MARK) {
            bail!(
                "the local target of {env} is already running: emulator {}, gateway {} (pids {}{}). \
                 Stop it first with `opsctl local down --env {env}`",
                existing.emulator_url(),
                existing.gateway_url().unwrap_or_else(|| "not started".into()),
                existing.emulator.pid,
                existing.gateway.as_ref().map(|g| format!(", {}", g.pid)).unwrap_or_default(),
            );
        }
        // Left by a crash or a reboot: nothing of it runs any more.
        state::remove(env)?;
    }
    let python = process::emulator_python()?;
    // Before anything starts: a broken model installation fails here, with how to repair it.
    let resolved = if args.rag {
        let configured = std::env::var_os(chatbot_core::local::minilm::MODEL_PATH_ENV);
        embedder::resolve(args.embedder, args.vector_store, configured.as_deref(), &repo_root()?)?
    } else {
        embedder::Resolved { embedder: LocalEmbedder::default(), fallback: None }
    };
    if let Some(why) = &resolved.fallback {
        ui.note(why);
    }
    let dir = state::private_env_dir(env)?;
    let gateway_port = match args.port {
        Some(p) if process::port_open(p) => {
            bail!("port {p} on 127.0.0.1 is in use: pick another with --port")
        }
        Some(p) => p,
        None => process::free_port()?,
    };

    ui.note("starting the emulator ...");
    let port = process::free_port()?;
    let log = dir.join("emulator.log");
    let serve_args = vec![EMULATOR_MARK.to_owned(), "-p".to_owned(), port.to_string()];
    let pid = process::spawn_detached(&python, &serve_args, &log, process::AwsVariables::Remove)?;
    let mut local = LocalState {
        env: env.as_str().to_owned(),
        emulator: Process { pid, port },
        gateway: None,
        rag: args.rag,
        vector_store: args.vector_store,
        embedder: resolved.embedder,
        score_floor: args.score_floor,
        model: args.model.clone(),
        word_delay_ms: args.word_delay_ms,
        started_at: OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default(),
    };
    state::save(&local, env)?;
    let started = async {
        process::wait_for_port(port, pid, "emulator", &log, Duration::from_secs(60))?;
        ui.note("deploying the templates to the emulator ...");
        let code_dir = dir.join("lambda");
        for f in Function::ALL {
            let folder = code_dir.join(f.name());
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&folder)?;
            std::io::Write::write_all(
                &mut state::create_private(&folder.join("bootstrap.zip"))?,
                &placeholder_zip(),
            )?;
        }
        let plan = Plan {
            env,
            target: Target::Local,
            enable_rag: args.rag,
            code: Code::Dir(code_dir),
            arch: Arch::X86_64,
            params: BTreeMap::new(),
            approval: Approval::Given,
        };
        let sdk = Sdk::new(local.emulator_aws()).await?;
        match deploy::deploy(&sdk, &plan, &Step).await? {
            Deployment::Applied { .. } | Deployment::Unchanged { .. } => {}
            Deployment::Failed(failed) => {
                for line in failed.lines() {
                    ui.note(&line);
                }
                bail!("deploying to the emulator failed (see above); its log is {}", log.display());
            }
            Deployment::Declined => bail!("deploying to the emulator was not approved"),
        }
        ui.note("starting the gateway ...");
        let exe = std::env::current_exe().context("locating the opsctl binary")?;
        let gw_log = dir.join("gateway.log");
        let gw_args: Vec<String> =
            ["--env", env.as_str(), "local", "serve"].iter().map(|s| (*s).to_owned()).collect();
        local.gateway = Some(Process { pid: 0, port: gateway_port });
        state::save(&local, env)?;
        let gw_pid = process::spawn_detached(&exe, &gw_args, &gw_log, process::AwsVariables::Inherit)?;
        local.gateway = Some(Process { pid: gw_pid, port: gateway_port });
        state::save(&local, env)?;
        process::wait_for_port(gateway_port, gw_pid, "gateway", &gw_log, Duration::from_secs(60))
    };
    if let Err(e) = started.await {
        // Leave nothing half-started behind.
        stop_all(&local);
        state::remove(env)?;
        return Err(e);
    }
    let sdk = Sdk::new(local.emulator_aws()).await?;
    let token = token::read(&aws_sdk_ssm::Client::new(&sdk.config), &token::parameter_name(env))
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| "<token: opsctl token show --target local>".into());
    Ok(Up { local, token, embedder_fallback: resolved.fallback })
}

/// Where `.venv/` is looked for: the working directory, from which the README's commands run
/// (as the emulator's Python is found).
fn repo_root() -> anyhow::Result<std::path::PathBuf> {
    std::env::current_dir().context("reading the working directory")
}

pub fn model_label(model: &ModelSpec) -> String {
    match model {
        ModelSpec::Local => "local/extractive (a development double: it quotes, it does not reason)".into(),
        other => other.to_string(),
    }
}

fn placeholder_zip() -> Vec<u8> {
    let mut zip = vec![0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    zip.extend_from_slice(&(PLACEHOLDER_NOTE.len() as u16).to_le_bytes());
    zip.extend_from_slice(PLACEHOLDER_NOTE);
    zip
}

fn stop_all(local: &LocalState) -> Vec<String> {
    let mut stopped = Vec::new();
    if let Some(g) = &local.gateway
        && g.pid != 0
        && process::stop(g.pid, GATEWAY_MARK).unwrap_or(false)
    {
        stopped.push(format!("gateway (pid {}, port {})", g.pid, g.port));
    }
    if process::stop(local.emulator.pid, EMULATOR_MARK).unwrap_or(false) {
        stopped.push(format!("emulator (pid {}, port {})", local.emulator.pid, local.emulator.port));
    }
    stopped
}

/// Stops what `up` started for `env`: `None` when it was not running, else what was stopped
/// (empty when it had already stopped).
pub fn down(env: Env) -> anyhow::Result<Option<Vec<String>>> {
    let Some(local) = state::load(env)? else {
        return Ok(None);
    };
    let stopped = stop_all(&local);
    state::remove(env)?;
    Ok(Some(stopped))
}

/// Whether each part of the local target runs.
pub struct Health {
    pub local: LocalState,
    pub emulator_up: bool,
    pub gateway_up: bool,
}

/// The local target of `env`, or `None` when it was never started.
pub fn status(env: Env) -> anyhow::Result<Option<Health>> {
    let Some(local) = state::load(env)? else {
        return Ok(None);
    };
    let emulator_up =
        process::is_ours(local.emulator.pid, EMULATOR_MARK) && process::port_open(local.emulator.port);
    let gateway_up = local
        .gateway
        .as_ref()
        .is_some_and(|g| process::is_ours(g.pid, GATEWAY_MARK) && process::port_open(g.port));
    Ok(Some(Health { local, emulator_up, gateway_up }))
}

/// The gateway process: wired to the stack deployed on the emulator, serving until SIGTERM.
pub async fn serve(env: Env) -> anyhow::Result<()> {
    let local = state::load(env)?.context("no local state: `opsctl local up` starts the gateway")?;
    let port = local.gateway.as_ref().map(|g| g.port).context("the local state names no gateway port")?;
    let sdk = Sdk::new(local.emulator_aws()).await?.config;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let info = stack::describe(&cfn, &stack::root_name(env))
        .await?
        .context("the stack is not deployed on the emulator: run `opsctl local up` again")?;
    let output = |key: &str| {
        info.outputs
            .get(key)
            .cloned()
            .with_context(|| format!("the stack on the emulator has no {key} output"))
    };
    let wiring = wiring::LocalWiring {
        environment: env.as_str().to_owned(),
        table_name: output("TableName")?,
        key_id: output("KeyArn")?,
        token_parameter: output("TokenParameter")?,
        vectors: match (local.rag, local.vector_store) {
            (false, _) => None,
            (true, VectorStore::Sqlite) => {
                Some(LocalVectors::Sqlite(state::env_dir(env).join(local.embedder.index_file())))
            }
            (true, VectorStore::S3vectors) => {
                Some(LocalVectors::S3Vectors { bucket: output("VectorBucketName")? })
            }
        },
        documents_bucket: if local.rag { Some(output("DocumentsBucket")?) } else { None },
        embedder: local.embedder,
        score_floor: local.score_floor,
        repo_root: repo_root()?,
        model: local.model.clone(),
        model_latency: Duration::ZERO,
        word_delay: Duration::from_millis(local.word_delay_ms),
    };
    let metrics = LocalMetrics::new(env.as_str());
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
    let publisher = metrics.clone().spawn_publisher(cloudwatch.clone(), METRICS_INTERVAL);
    let services = wiring::services(&sdk, &wiring, Some(metrics.clone())).await?;
    let listener = gateway::bind(port).await.with_context(|| format!("binding 127.0.0.1:{port}"))?;
    eprintln!("gateway for {env} on http://127.0.0.1:{port}");
    gateway::serve(listener, services, shutdown_signal()).await?;
    publisher.abort();
    // The last requests' metrics, so a run that ends right after them still shows them.
    if let Err(e) = metrics.flush(&cloudwatch).await {
        eprintln!("could not publish the last metrics to the emulator: {e}");
    }
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

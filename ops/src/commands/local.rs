//! `opsctl local up|down|status|serve`: the whole chatbot on this machine, through
//! [`crate::local::lifecycle`].

use std::process::ExitCode;

use serde_json::json;

use crate::cli::{LocalCommand, LocalUpArgs};
use crate::ctx::Ctx;
use crate::local::lifecycle::{self, UpOptions, model_label};
use crate::local::openai::ModelSpec;
use crate::local::state;

pub async fn run(cmd: LocalCommand, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    match cmd {
        LocalCommand::Up(args) => up(args, ctx).await,
        LocalCommand::Down => down(ctx),
        LocalCommand::Status => status(ctx),
        LocalCommand::Serve => {
            lifecycle::serve(ctx.env).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn up(args: LocalUpArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let env = ctx.env;
    let options = UpOptions {
        port: args.port,
        rag: args.rag,
        vector_store: args.vector_store,
        embedder: args.embedder,
        score_floor: args.score_floor,
        model: args.model,
        word_delay_ms: args.word_delay_ms,
    };
    let up = lifecycle::up(env, &options, ctx.ui.as_ref()).await?;
    let (local, token) = (&up.local, &up.token);
    let url = local.gateway_url().unwrap_or_default();
    let app = crate::browser::app_url(&url);
    let report = json!({"env": env.as_str(), "gateway": url, "app_url": app, "emulator": local.emulator_url(), "rag": local.rag,
        "vector_store": local.rag.then(|| local.vector_store.label()),
        "embedder": local.rag.then(|| local.embedder.model_name()),
        "embedder_fallback": up.embedder_fallback,
        "score_floor": local.rag.then(|| local.score_floor.unwrap_or(local.embedder.score_floor())),
        "model": local.model.to_string(),
        "word_delay_ms": (local.model == ModelSpec::Local).then_some(local.word_delay_ms),
        "token_parameter": crate::token::parameter_name(env)});
    ctx.out.emit(&report, || {
        format!(
            "the local target of {env} is up\nApp: {app}\n  gateway   {url}  (127.0.0.1 only)\n  emulator  {}\n  model     {}\n  RAG       {}\n\n\
             Try it:\n  opsctl --target local --env {env} open    the app in the browser, signed in\n  curl -s {url}/chat -H 'Authorization: Bearer {token}' -d '{{\"message\":\"hello\"}}'\n\
             Every opsctl command works on it with --target local (or OPSCTL_TARGET=local).\n\
             Stop it with `opsctl local down --env {env}`.",
            local.emulator_url(),
            match local.model {
                ModelSpec::Local => format!("{}, streamed a word each {} ms", model_label(&local.model), local.word_delay_ms),
                _ => model_label(&local.model),
            },
            rag_lines(local),
        )
    })?;
    Ok(ExitCode::SUCCESS)
}

/// "on", the store and the embedder, as `up` and `status` print them.
fn rag_lines(local: &state::LocalState) -> String {
    if local.rag {
        format!(
            "on, {}\n  embedder  {}, score floor {}",
            local.vector_store.describe(),
            local.embedder.describe(),
            local.score_floor.unwrap_or(local.embedder.score_floor())
        )
    } else {
        "off".into()
    }
}

fn down(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let env = ctx.env;
    let Some(stopped) = lifecycle::down(env)? else {
        ctx.out.emit(&json!({"env": env.as_str(), "stopped": []}), || {
            format!("the local target of {env} is not running: nothing to stop")
        })?;
        return Ok(ExitCode::SUCCESS);
    };
    ctx.out.emit(&json!({"env": env.as_str(), "stopped": stopped}), || {
        if stopped.is_empty() {
            format!("the local target of {env} had already stopped; its state is cleared")
        } else {
            format!("stopped {}", stopped.join(" and "))
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

fn status(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let env = ctx.env;
    let Some(health) = lifecycle::status(env)? else {
        ctx.out.emit(&json!({"env": env.as_str(), "running": false}), || {
            format!("the local target of {env} is not running; start it with `opsctl local up --env {env}`")
        })?;
        return Ok(ExitCode::FAILURE);
    };
    let (local, emulator_up, gateway_up) = (&health.local, health.emulator_up, health.gateway_up);
    let report = json!({"env": env.as_str(), "running": emulator_up && gateway_up, "rag": local.rag,
        "vector_store": local.rag.then(|| local.vector_store.label()),
        "embedder": local.rag.then(|| local.embedder.model_name()),
        "started_at": local.started_at, "emulator": {"url": local.emulator_url(), "pid": local.emulator.pid, "up": emulator_up},
        "gateway": {"url": local.gateway_url(), "pid": local.gateway.as_ref().map(|g| g.pid), "up": gateway_up}});
    ctx.out.emit(&report, || {
        let mark = |up: bool| if up { "up" } else { "DOWN" };
        let mut text = format!(
            "local target of {env} (started {})\n  emulator  {}  pid {}  {}\n  gateway   {}  pid {}  {}\n  RAG       {}",
            local.started_at,
            local.emulator_url(),
            local.emulator.pid,
            mark(emulator_up),
            local.gateway_url().unwrap_or_default(),
            local.gateway.as_ref().map(|g| g.pid).unwrap_or_default(),
            mark(gateway_up),
            rag_lines(local),
        );
        if !(emulator_up && gateway_up) {
            text.push_str(&format!(
                "\npart of it has stopped (logs in {}); restart with `opsctl local down --env {env}` then \
                 `opsctl local up --env {env}`",
                state::env_dir(env).display()
            ));
        }
        text
    })?;
    Ok(if emulator_up && gateway_up { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

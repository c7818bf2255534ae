//! `opsctl status`: the stack, its parameters and outputs, each function's code, and alarms.

use std::process::ExitCode;

use comfy_table::Table;

use crate::ctx::Ctx;
use crate::stack::{self, status::Status};

pub async fn run(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let env = ctx.env;
    let Some(mut status) = stack::status::read(&ctx.sdk().await?, env).await? else {
        let root = stack::root_name(env);
        let view = serde_json::json!({"stack": root, "status": "NOT_DEPLOYED"});
        ctx.out.emit(&view, || format!("{root} is not deployed: `opsctl deploy --env {env}` creates it"))?;
        return Ok(ExitCode::SUCCESS);
    };
    status.served_by(crate::deployed::retrieval_store(env, ctx.target, &status.parameters)?);
    ctx.out.emit(&status, || text(&status))?;
    Ok(ExitCode::SUCCESS)
}

fn text(s: &Status) -> String {
    let mut out = format!("{}: {}\n", s.stack, s.status);
    if let Some(r) = &s.status_reason {
        out.push_str(&format!("  reason: {r}\n"));
    }
    match (s.vector_store, &s.vector_store_resource) {
        (Some(store), Some(name)) => {
            out.push_str(&format!("RAG: on, vector store {} ({name})\n", store.title()))
        }
        (Some(store), None) => out.push_str(&format!("RAG: on, vector store {}\n", store.title())),
        (None, _) => out.push_str("RAG: off\n"),
    }
    let mut kv = Table::new();
    kv.set_header(["output", "value"]);
    for (k, v) in &s.outputs {
        kv.add_row([k.clone(), v.clone()]);
    }
    out.push_str(&format!("{kv}\n"));
    let mut p = Table::new();
    p.set_header(["parameter", "value"]);
    for (k, v) in s.parameters.iter().filter(|(k, _)| !k.ends_with("TemplateKey")) {
        p.add_row([k.clone(), v.clone()]);
    }
    out.push_str(&format!("{p}\n"));
    let mut f = Table::new();
    f.set_header(["function", "arch", "memory", "code sha256", "last modified"]);
    for x in &s.functions {
        f.add_row([
            x.name.clone(),
            x.architecture.clone(),
            format!("{} MB", x.memory_mb),
            x.code_sha256.clone(),
            x.last_modified.clone(),
        ]);
    }
    out.push_str(&format!("{f}\n"));
    if let Some(e) = &s.alarms_error {
        out.push_str(&format!("alarms: could not be read: {e}"));
        return out;
    }
    out.push_str(&format!("alarms: {} in ALARM of {}", s.alarms_in_alarm, s.alarms.len()));
    for a in s.alarms.iter().filter(|a| a.state != "OK") {
        out.push_str(&format!("\n  {:<18} {}", a.state, a.name));
    }
    out
}

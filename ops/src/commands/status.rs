//! `opsctl status`: the stack, its parameters and outputs, each function's code, and alarms.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context;
use aws_sdk_cloudformation::Client as Cfn;
use comfy_table::Table;
use serde::Serialize;

use crate::Ctx;
use crate::stack;

#[derive(Debug, Serialize)]
struct FunctionStatus {
    name: String,
    code_sha256: String,
    last_modified: String,
    architecture: String,
    memory_mb: i32,
}

#[derive(Debug, Serialize)]
struct AlarmStatus {
    name: String,
    state: String,
}

#[derive(Debug, Serialize)]
struct Status {
    stack: String,
    status: String,
    status_reason: Option<String>,
    parameters: BTreeMap<String, String>,
    outputs: BTreeMap<String, String>,
    functions: Vec<FunctionStatus>,
    alarms: Vec<AlarmStatus>,
    alarms_in_alarm: usize,
    alarms_error: Option<String>,
}

/// The shared alarm reader, as `{name, state}` with AWS's state names.
async fn read_alarms(
    cw: &aws_sdk_cloudwatch::Client,
    env: crate::cli::Env,
) -> anyhow::Result<Vec<AlarmStatus>> {
    let rows = crate::dashboard::cloudwatch::read_alarms(cw, env.as_str()).await?;
    Ok(rows.into_iter().map(|a| AlarmStatus { name: a.name, state: a.state.as_str().to_owned() }).collect())
}

pub async fn run(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let sdk = ctx.sdk().await?;
    let env = ctx.global.env;
    let root = stack::root_name(env);
    let Some(info) = stack::describe(&Cfn::new(&sdk), &root).await?.filter(|s| s.status != "DELETE_COMPLETE")
    else {
        let view = serde_json::json!({"stack": root, "status": "NOT_DEPLOYED"});
        ctx.out.emit(&view, || format!("{root} is not deployed: `opsctl deploy --env {env}` creates it"))?;
        return Ok(ExitCode::SUCCESS);
    };

    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let mut functions = Vec::new();
    for key in ["ChatFunctionName", "IngestFunctionName", "RetrieveFunctionName"] {
        let Some(name) = info.outputs.get(key) else { continue };
        let c = lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .with_context(|| format!("reading {name}"))?;
        functions.push(FunctionStatus {
            name: name.clone(),
            code_sha256: c.code_sha256().unwrap_or_default().to_owned(),
            last_modified: c.last_modified().unwrap_or_default().to_owned(),
            architecture: c.architectures().first().map(|a| a.as_str().to_owned()).unwrap_or_default(),
            memory_mb: c.memory_size().unwrap_or_default(),
        });
    }

    // Status stays useful when alarms cannot be read (a missing permission, an emulator without
    // CloudWatch's protocol): the stack part is still shown, with the reason.
    let (alarms, alarms_error) = match read_alarms(&aws_sdk_cloudwatch::Client::new(&sdk), env).await {
        Ok(a) => (a, None),
        Err(e) => (Vec::new(), Some(crate::errors::explain(&e))),
    };
    let alarms_in_alarm = alarms.iter().filter(|a| a.state == "ALARM").count();
    let status = Status {
        stack: root,
        status: info.status,
        status_reason: info.status_reason,
        parameters: info.parameters,
        outputs: info.outputs,
        functions,
        alarms,
        alarms_in_alarm,
        alarms_error,
    };
    ctx.out.emit(&status, || text(&status))?;
    Ok(ExitCode::SUCCESS)
}

fn text(s: &Status) -> String {
    let mut out = format!("{}: {}\n", s.stack, s.status);
    if let Some(r) = &s.status_reason {
        out.push_str(&format!("  reason: {r}\n"));
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

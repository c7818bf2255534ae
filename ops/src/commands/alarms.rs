//! `opsctl alarms [--check]`: the environment's alarms with their state, reason and last change.
//! With `--check` the exit status is for CI: 0 when none is in ALARM, 1 when any is, 2 when the
//! alarms could not be read, with a one-line summary a CI log can carry.

use std::process::ExitCode;

use comfy_table::Table;
use serde_json::json;

use crate::alarms::{AlarmState, read_alarms, summary_line};
use crate::cli::AlarmsArgs;
use crate::ctx::Ctx;

pub async fn run(args: AlarmsArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let env = ctx.env;
    let alarms = async {
        let sdk = ctx.sdk().await?;
        read_alarms(&aws_sdk_cloudwatch::Client::new(&sdk.config), env.as_str()).await
    }
    .await;
    let alarms = match alarms {
        Ok(a) => a,
        Err(e) if args.check => {
            println!("alarms {env}: could not be read: {}", crate::errors::explain(&e));
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e),
    };
    let count = |s: AlarmState| alarms.iter().filter(|a| a.state == s).count();
    let (ok, firing, unknown) =
        (count(AlarmState::Ok), count(AlarmState::Alarm), count(AlarmState::InsufficientData));
    let summary = summary_line(env.as_str(), &alarms);
    ctx.out.emit(&json!({"env": env.as_str(), "ok": ok, "alarm": firing, "insufficient_data": unknown, "alarms": alarms}), || {
        let mut text = String::new();
        if !alarms.is_empty() {
            let mut table = Table::new();
            table.set_header(["ALARM", "STATE", "SINCE", "REASON"]);
            for a in &alarms {
                table.add_row([a.name.as_str(), a.state.as_str(), a.updated.as_deref().unwrap_or("-"), a.reason.as_str()]);
            }
            text.push_str(&format!("{table}\n"));
        }
        text.push_str(&summary);
        text
    })?;
    Ok(if args.check && firing > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

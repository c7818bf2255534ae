//! `opsctl alarms [--check]`: the environment's alarms with their state, reason and last change.
//! With `--check` the exit status is for CI: 0 when none is in ALARM, 1 when any is, 2 when the
//! alarms could not be read, with a one-line summary a CI log can carry.

use std::process::ExitCode;

use comfy_table::Table;
use serde_json::json;

use crate::Ctx;
use crate::cli::AlarmsArgs;
use crate::dashboard::cloudwatch::read_alarms;
use crate::dashboard::model::{AlarmRow, AlarmState};

pub async fn run(args: AlarmsArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let env = ctx.global.env;
    let alarms = async {
        let sdk = ctx.sdk().await?;
        read_alarms(&aws_sdk_cloudwatch::Client::new(&sdk), env.as_str()).await
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

/// `alarms dev: 1 ALARM (chatbot-dev-chat-error-rate), 6 OK, 2 INSUFFICIENT_DATA`.
pub fn summary_line(env: &str, alarms: &[AlarmRow]) -> String {
    if alarms.is_empty() {
        return format!("alarms {env}: none found (is the stack deployed? `opsctl status`)");
    }
    let firing: Vec<&str> =
        alarms.iter().filter(|a| a.state == AlarmState::Alarm).map(|a| a.name.as_str()).collect();
    let ok = alarms.iter().filter(|a| a.state == AlarmState::Ok).count();
    let unknown = alarms.len() - ok - firing.len();
    let mut line = format!("alarms {env}: ");
    if firing.is_empty() {
        line.push_str("0 ALARM");
    } else {
        line.push_str(&format!("{} ALARM ({})", firing.len(), firing.join(", ")));
    }
    line.push_str(&format!(", {ok} OK, {unknown} INSUFFICIENT_DATA"));
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, state: AlarmState) -> AlarmRow {
        AlarmRow { name: name.into(), state, reason: String::new(), updated: None }
    }

    #[test]
    fn the_summary_names_what_fires() {
        let alarms =
            [row("a", AlarmState::Ok), row("b", AlarmState::Alarm), row("c", AlarmState::InsufficientData)];
        assert_eq!(summary_line("dev", &alarms), "alarms dev: 1 ALARM (b), 1 OK, 1 INSUFFICIENT_DATA");
        assert_eq!(summary_line("dev", &alarms[..1]), "alarms dev: 0 ALARM, 1 OK, 0 INSUFFICIENT_DATA");
        assert!(summary_line("prod", &[]).contains("none found"));
    }
}

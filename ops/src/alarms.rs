//! The environment's CloudWatch alarms (`chatbot-<env>-…`), read once for `opsctl alarms`,
//! `opsctl status`, the dashboard and cost.

use anyhow::Context;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{MetricAlarm, StateValue};
use serde::Serialize;

use crate::functions::alarm_prefix;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

impl AlarmState {
    /// CloudWatch's name for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Alarm => "ALARM",
            Self::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmRow {
    pub name: String,
    pub state: AlarmState,
    pub reason: String,
    /// When the state last changed, RFC 3339.
    pub updated: Option<String>,
}

/// Every metric alarm of the environment (`chatbot-<env>-…`), as CloudWatch describes them.
pub async fn metric_alarms(cw: &Client, environment: &str) -> anyhow::Result<Vec<MetricAlarm>> {
    let mut alarms = Vec::new();
    let mut token = None;
    loop {
        let page = cw
            .describe_alarms()
            .alarm_name_prefix(alarm_prefix(environment))
            .set_next_token(token)
            .send()
            .await
            .context("reading the alarms (DescribeAlarms)")?;
        alarms.extend(page.metric_alarms().iter().cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(alarms);
        }
    }
}

/// The environment's alarms as the dashboard and `opsctl alarms` show them, in name order.
pub async fn read_alarms(cw: &Client, environment: &str) -> anyhow::Result<Vec<AlarmRow>> {
    let mut alarms: Vec<AlarmRow> = metric_alarms(cw, environment)
        .await?
        .iter()
        .map(|a| AlarmRow {
            name: a.alarm_name().unwrap_or_default().to_owned(),
            state: match a.state_value() {
                Some(StateValue::Alarm) => AlarmState::Alarm,
                Some(StateValue::Ok) => AlarmState::Ok,
                _ => AlarmState::InsufficientData,
            },
            reason: a.state_reason().unwrap_or_default().to_owned(),
            updated: a
                .state_updated_timestamp()
                .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
        })
        .collect();
    alarms.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(alarms)
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

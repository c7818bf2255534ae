//! The dashboard panel spec (`dashboards/panels.json`): one file drives both the CloudWatch
//! dashboard in `templates/observability.yaml` and the terminal dashboard.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const EMBEDDED: &str = include_str!("../../dashboards/panels.json");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub version: u32,
    #[serde(default)]
    pub about: String,
    pub panels: Vec<Panel>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PanelKind {
    /// A time series per metric, with the latest value.
    Line,
    /// A single latest value.
    Stat,
    /// The alarm list with states.
    Alarms,
    /// Month-to-date cost and projection.
    Cost,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Panel {
    pub id: String,
    pub title: String,
    pub kind: PanelKind,
    pub group: String,
    /// Shown only when RAG is on.
    pub rag: bool,
    pub metrics: Vec<Metric>,
    #[serde(default)]
    pub derived: Vec<Derived>,
    #[serde(default)]
    pub thresholds: Vec<Threshold>,
    #[serde(default)]
    pub alarms: Vec<AlarmRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    /// Query id, unique across the spec: all metrics are fetched in one GetMetricData call.
    pub id: String,
    pub namespace: String,
    pub name: String,
    pub dimensions: BTreeMap<String, String>,
    pub stat: String,
    pub period: u32,
    pub label: String,
    /// Only for metrics that live in one Region, such as AWS/Billing in us-east-1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// `scale * numerator / denominator`, computed by CloudWatch metric math on the dashboard and
/// client-side where metric math is unavailable (the emulator).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Derived {
    pub id: String,
    pub ratio: [String; 2],
    pub scale: f64,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub value: f64,
    pub label: String,
    /// The metric or derived id the threshold applies to.
    pub on: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmRef {
    pub name: String,
    pub rag: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("dashboards/panels.json is not valid: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("dashboards/panels.json: {0}")]
    Invalid(String),
}

impl Spec {
    pub fn embedded() -> Result<Spec, SpecError> {
        Self::parse(EMBEDDED)
    }

    pub fn parse(text: &str) -> Result<Spec, SpecError> {
        let spec: Spec = serde_json::from_str(text)?;
        spec.validate()?;
        Ok(spec)
    }

    fn validate(&self) -> Result<(), SpecError> {
        let bad = |m: String| Err(SpecError::Invalid(m));
        let mut panel_ids = HashSet::new();
        let mut query_ids = HashSet::new();
        for p in &self.panels {
            if !panel_ids.insert(p.id.as_str()) {
                return bad(format!("panel id `{}` is used twice", p.id));
            }
            let ids = p.metrics.iter().map(|m| &m.id).chain(p.derived.iter().map(|d| &d.id));
            for id in ids {
                if !is_query_id(id) {
                    return bad(format!(
                        "`{id}` in panel `{}` must start with a lowercase letter and hold only letters, digits and _",
                        p.id
                    ));
                }
                if !query_ids.insert(id.clone()) {
                    return bad(format!("query id `{id}` is used twice; ids share one GetMetricData call"));
                }
            }
            let local: HashSet<&str> = p.metrics.iter().map(|m| m.id.as_str()).collect();
            for d in &p.derived {
                if let Some(missing) = d.ratio.iter().find(|r| !local.contains(r.as_str())) {
                    return bad(format!("derived `{}` uses `{missing}`, which panel `{}` lacks", d.id, p.id));
                }
            }
            for t in &p.thresholds {
                if !local.contains(t.on.as_str()) && !p.derived.iter().any(|d| d.id == t.on) {
                    return bad(format!(
                        "threshold `{}` in panel `{}` is on unknown `{}`",
                        t.label, p.id, t.on
                    ));
                }
            }
            let needs_metrics = matches!(p.kind, PanelKind::Line | PanelKind::Stat | PanelKind::Cost);
            if needs_metrics && p.metrics.is_empty() {
                return bad(format!("panel `{}` shows metrics but lists none", p.id));
            }
        }
        Ok(())
    }

    /// The panels shown with RAG on or off.
    pub fn panels(&self, rag: bool) -> impl Iterator<Item = &Panel> {
        self.panels.iter().filter(move |p| rag || !p.rag)
    }

    /// Every metric shown with RAG on or off.
    pub fn metrics(&self, rag: bool) -> Vec<&Metric> {
        self.panels(rag).flat_map(|p| p.metrics.iter()).collect()
    }

    /// The CloudWatch dashboard body, with `${Environment}`, `${ChatFunctionName}` and
    /// `${AWS::...}` left for CloudFormation's `Fn::Sub`.
    pub fn cloudwatch_body(&self, rag: bool) -> String {
        let widgets: Vec<Value> = self.panels(rag).enumerate().map(|(i, p)| widget(p, rag, i)).collect();
        json!({ "widgets": widgets }).to_string()
    }

    /// The generated YAML lines of the template's `DashboardBody`.
    pub fn template_block(&self, indent: &str) -> String {
        let quote = |s: String| format!("'{}'", s.replace('\'', "''"));
        format!(
            "{indent}DashboardBody: !If\n{indent}  - IsRAGEnabled\n{indent}  - !Sub {}\n{indent}  - !Sub {}\n",
            quote(self.cloudwatch_body(true)),
            quote(self.cloudwatch_body(false))
        )
    }
}

fn is_query_id(id: &str) -> bool {
    id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn widget(p: &Panel, rag: bool, index: usize) -> Value {
    let (x, y) = ((index % 2) * 12, (index / 2) * 6);
    match p.kind {
        PanelKind::Alarms => {
            let alarms: Vec<String> = p
                .alarms
                .iter()
                .filter(|a| rag || !a.rag)
                .map(|a| {
                    format!(
                        "arn:${{AWS::Partition}}:cloudwatch:${{AWS::Region}}:${{AWS::AccountId}}:alarm:{}",
                        a.name
                    )
                })
                .collect();
            json!({"type": "alarm", "x": x, "y": y, "width": 12, "height": 6,
                   "properties": {"title": p.title, "alarms": alarms}})
        }
        PanelKind::Line | PanelKind::Stat | PanelKind::Cost => {
            let mut metrics: Vec<Value> = p.metrics.iter().map(metric_row).collect();
            for d in &p.derived {
                let [a, b] = &d.ratio;
                metrics.push(json!([{
                    "expression": format!("IF({b} > 0, {} * {a} / {b}, 0)", d.scale),
                    "id": d.id, "label": d.label
                }]));
            }
            let region =
                p.metrics.iter().find_map(|m| m.region.clone()).unwrap_or_else(|| "${AWS::Region}".into());
            let view = if p.kind == PanelKind::Line { "timeSeries" } else { "singleValue" };
            let horizontal: Vec<Value> =
                p.thresholds.iter().map(|t| json!({"value": t.value, "label": t.label})).collect();
            json!({"type": "metric", "x": x, "y": y, "width": 12, "height": 6,
                   "properties": {"title": p.title, "view": view, "region": region, "stacked": false,
                                  "metrics": metrics, "annotations": {"horizontal": horizontal}}})
        }
    }
}

fn metric_row(m: &Metric) -> Value {
    let mut row = vec![Value::from(m.namespace.as_str()), Value::from(m.name.as_str())];
    for (k, v) in &m.dimensions {
        row.push(Value::from(k.as_str()));
        row.push(Value::from(v.as_str()));
    }
    row.push(json!({"id": m.id, "stat": m.stat, "period": m.period, "label": m.label}));
    Value::Array(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_spec_is_valid_and_covers_every_panel_kind() {
        let spec = Spec::embedded().unwrap();
        for kind in [PanelKind::Line, PanelKind::Stat, PanelKind::Alarms, PanelKind::Cost] {
            assert!(spec.panels.iter().any(|p| p.kind == kind), "no {kind:?} panel");
        }
        assert!(spec.metrics(false).len() < spec.metrics(true).len());
        assert!(spec.metrics(false).iter().all(|m| !m.dimensions.values().any(|v| v.contains("ingest"))));
    }

    #[test]
    fn invalid_specs_say_what_is_wrong() {
        let dup = r#"{"version":1,"panels":[
            {"id":"a","title":"A","kind":"stat","group":"g","rag":false,"metrics":[
              {"id":"x","namespace":"N","name":"M","dimensions":{},"stat":"Sum","period":60,"label":"l"}]},
            {"id":"b","title":"B","kind":"stat","group":"g","rag":false,"metrics":[
              {"id":"x","namespace":"N","name":"M","dimensions":{},"stat":"Sum","period":60,"label":"l"}]}]}"#;
        assert!(Spec::parse(dup).unwrap_err().to_string().contains("`x` is used twice"));
        let unknown = r#"{"version":1,"panels":[],"colour":"red"}"#;
        assert!(Spec::parse(unknown).unwrap_err().to_string().contains("colour"));
        let ratio = r#"{"version":1,"panels":[
            {"id":"a","title":"A","kind":"line","group":"g","rag":false,"metrics":[
              {"id":"x","namespace":"N","name":"M","dimensions":{},"stat":"Sum","period":60,"label":"l"}],
             "derived":[{"id":"r","ratio":["x","y"],"scale":100,"label":"%"}]}]}"#;
        assert!(Spec::parse(ratio).unwrap_err().to_string().contains("uses `y`"));
    }

    #[test]
    fn derived_ratios_become_metric_math_on_the_dashboard() {
        let body: Value = serde_json::from_str(&Spec::embedded().unwrap().cloudwatch_body(false)).unwrap();
        let text = body.to_string();
        assert!(text.contains("IF(chat_calls > 0, 100 * chat_errors / chat_calls, 0)"), "{text}");
        assert!(!text.contains("chatbot-ingest"), "RAG panels are left out when RAG is off");
    }
}

//! The dashboard's screens, drawn with ratatui's TestBackend from fixed series and compared
//! with the snapshots in `tests/snapshots/`. After a deliberate change to the screen, review
//! and accept the new ones with `INSTA_UPDATE=always cargo test -p opsctl --test dashboard_screens`.

use std::collections::BTreeMap;

use opsctl::dashboard::model::{AlarmRow, AlarmState, CostSummary, Series, Snapshot, TimeRange};
use opsctl::dashboard::state::{Action, App, Key};
use opsctl::dashboard::view::{render_buffer, render_text};
use opsctl::dashboards::Spec;
use opsctl::vector_store::{RetrievalStore, VectorStore};
use ratatui::style::Color;

const START: i64 = 1_777_636_800; // 2026-05-01T12:00:00Z

/// A value for `id` at minute `i`: shaped by what the metric is, wobbling deterministically.
fn value(id: &str, i: i64) -> f64 {
    let wobble = ((i * 7 + id.len() as i64 * 3) % 11) as f64;
    match id {
        _ if id.ends_with("_errors") => {
            if i % 9 == 0 {
                1.0
            } else {
                0.0
            }
        }
        _ if id.ends_with("_invocations") || id.ends_with("_calls") => 30.0 + wobble * 2.0,
        _ if id.ends_with("_throttles") => 0.0,
        _ if id.ends_with("_p50") => 400.0 + wobble * 10.0,
        _ if id.ends_with("_p99") => 1_800.0 + wobble * 60.0,
        "api_count" => 45.0 + wobble * 2.0,
        "api_4xx" => (i % 5 == 0) as u8 as f64,
        "api_5xx" => 0.0,
        "tokens_in" => 12_000.0 + wobble * 900.0,
        "tokens_out" => 3_000.0 + wobble * 250.0,
        "ingested_chunks" => {
            if i % 20 == 0 {
                48.0
            } else {
                0.0
            }
        }
        "dlq_depth" => 0.0,
        "estimated_charges" => 12.34,
        _ => wobble,
    }
}

fn alarms(firing: Option<&str>, rag: bool) -> Vec<AlarmRow> {
    let spec = Spec::embedded().unwrap();
    let refs = spec.panels.iter().flat_map(|p| p.alarms.iter());
    refs.filter(|a| rag || !a.rag)
        .map(|a| {
            let name = a.name.replace("${Environment}", "dev");
            let state = if firing.is_some_and(|f| name.ends_with(f)) {
                AlarmState::Alarm
            } else if name.ends_with("dlq-depth") {
                AlarmState::InsufficientData
            } else {
                AlarmState::Ok
            };
            AlarmRow { name, state, reason: String::new(), updated: Some("2026-05-01T11:40:00Z".into()) }
        })
        .collect()
}

fn snapshot(firing: Option<&str>, rag: bool) -> Snapshot {
    let spec = Spec::embedded().unwrap();
    let mut series = BTreeMap::new();
    for metric in spec.metrics(rag) {
        let points = (0..60)
            .map(|i| {
                let mut v = value(&metric.id, i);
                // The firing alarm's story: chat errors climbing over the last ten minutes.
                if firing.is_some() && metric.id == "chat_errors" && i >= 50 {
                    v = (i - 48) as f64 * 2.0;
                }
                (START + i * 60, v)
            })
            .collect();
        series.insert(metric.id.clone(), Series { points });
    }
    Snapshot {
        range: TimeRange::H1,
        fetched_at: "2026-05-01T13:00:05Z".into(),
        series,
        alarms: alarms(firing, rag),
        cost: Some(CostSummary {
            month_to_date_usd: 12.34,
            projected_usd: 38.9,
            budget_usd: Some(50.0),
            billing_estimate_usd: None,
        }),
    }
}

fn app(rag: bool) -> App {
    App::new(Spec::embedded().unwrap(), "dev", rag, TimeRange::H1)
}

fn screens(name: &str, app: &App) {
    for (w, h) in [(80, 24), (160, 48)] {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), render_text(app, w, h));
    }
}

#[test]
fn normal() {
    let mut app = app(true);
    app.update(Action::Fetched(Ok(snapshot(None, true))));
    screens("normal", &app);
}

/// The RAG panels read the chatbot's own metrics (chunks ingested, retrieval latency, the
/// dead-letter queue) and Lambda's, never a store's, so both stores show the same panels; the
/// header names the store in use.
#[test]
fn the_header_names_the_vector_store_and_the_panels_are_the_same_for_both() {
    let mut s3 = app(true);
    s3.vector_store = Some(RetrievalStore::Stack(VectorStore::S3Vectors));
    s3.update(Action::Fetched(Ok(snapshot(None, true))));
    insta::assert_snapshot!("normal_s3vectors_160x48", render_text(&s3, 160, 48));
    let mut os = app(true);
    os.vector_store = Some(RetrievalStore::Stack(VectorStore::OpenSearch));
    os.update(Action::Fetched(Ok(snapshot(None, true))));
    let body = |a: &App| render_text(a, 160, 48).lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&s3), body(&os));
    assert!(render_text(&os, 160, 48).lines().next().unwrap().contains("RAG on (OpenSearch Serverless)"));
    // The local gateway's own index, named as the development double it is.
    let mut local = app(true);
    local.vector_store = Some(RetrievalStore::LocalSqlite);
    local.update(Action::Fetched(Ok(snapshot(None, true))));
    let header = render_text(&local, 120, 40).lines().next().unwrap().to_owned();
    assert!(header.contains("RAG on (SQLite index, a local development double)"), "{header}");
    // And on the local target, the embedder retrieval runs.
    local.embedder = Some("all-MiniLM-L6-v2".into());
    let header = render_text(&local, 160, 48).lines().next().unwrap().to_owned();
    assert!(header.contains("embedder all-MiniLM-L6-v2"), "{header}");
    for p in Spec::embedded().unwrap().panels(true) {
        for m in &p.metrics {
            assert!(!m.namespace.starts_with("AWS/AOSS") && !m.namespace.contains("S3Vectors"), "{}", m.id);
        }
    }
}

#[test]
fn normal_without_rag() {
    let mut app = app(false);
    app.update(Action::Fetched(Ok(snapshot(None, false))));
    screens("normal_without_rag", &app);
}

#[test]
fn one_alarm_firing() {
    let mut app = app(true);
    app.update(Action::Fetched(Ok(snapshot(Some("chat-error-rate"), true))));
    screens("alarm_firing", &app);

    let buffer = render_buffer(&app, 160, 48);
    let text = render_text(&app, 160, 48);
    let colour_of = |word: &str| {
        let (y, line) = text.lines().enumerate().find(|(_, l)| l.contains(word)).unwrap();
        // Cells count characters, and the borders are several bytes each.
        let x = line[..line.find(word).unwrap()].chars().count();
        buffer[(x as u16, y as u16)].fg
    };
    assert_eq!(colour_of("ALARM "), Color::Red);
    assert_eq!(colour_of("OK "), Color::Green);
    assert_eq!(colour_of("INSUFFICIENT_DATA"), Color::Yellow);
    assert_eq!(colour_of("error rate % 61.1"), Color::Magenta, "the label keeps its series colour");
    assert_eq!(colour_of("61.1"), Color::Red, "a value over its threshold is red");
}

#[test]
fn a_failed_refresh_keeps_the_last_good_data() {
    let mut app = app(true);
    app.update(Action::Fetched(Ok(snapshot(None, true))));
    app.update(Action::Key(Key::Char('r')));
    app.update(Action::Fetched(Err("GetMetricData: ExpiredToken: the security token has expired".into())));
    screens("fetch_error", &app);
}

#[test]
fn no_data_yet() {
    screens("no_data", &app(true));
    let mut failed = app(true);
    failed.update(Action::Fetched(Err("no credentials in the environment".into())));
    insta::assert_snapshot!("no_data_failed_80x24", render_text(&failed, 80, 24));
}

#[test]
fn help_and_zoom() {
    let mut app = app(true);
    app.update(Action::Fetched(Ok(snapshot(None, true))));
    app.update(Action::Key(Key::Tab));
    app.update(Action::Key(Key::Down));
    app.update(Action::Key(Key::Enter));
    insta::assert_snapshot!("zoom_ingest_errors_80x24", render_text(&app, 80, 24));
    app.update(Action::Key(Key::Char('?')));
    insta::assert_snapshot!("help_80x24", render_text(&app, 80, 24));
}

#[test]
fn tiny_terminals_get_a_notice_instead_of_a_panic() {
    let mut app = app(true);
    app.update(Action::Fetched(Ok(snapshot(Some("chat-error-rate"), true))));
    app.update(Action::Key(Key::Char('?')));
    for (w, h) in [(20, 5), (1, 1), (0, 0), (79, 24), (80, 23), (200, 3)] {
        let text = render_text(&app, w, h);
        if w >= 10 && h >= 2 {
            assert!(text.contains("too small"), "{w}x{h}: {text}");
        }
    }
    assert!(!render_text(&app, 80, 24).contains("too small"));
}

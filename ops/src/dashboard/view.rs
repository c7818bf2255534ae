//! Drawing only: every function here reads `&App` and writes to a frame, so a screen is a pure
//! function of the state and the snapshot tests need no clock and no terminal.

mod panels;

use std::convert::Infallible;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::{Frame, layout::Flex};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::model::TimeRange;
use super::state::App;
use crate::dashboards::{Panel, PanelKind};

/// The smallest screen the layout is designed for; below it only a notice is drawn.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

const SPINNER: [&str; 4] = ["|", "/", "-", "\\"];

pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area);
        return;
    }
    let [header_area, tabs_area, body, status_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(header(app), header_area);
    tabs(frame, app, tabs_area);
    if app.snapshot.is_none() {
        no_data(frame, app, body);
    } else if let (true, Some(panel)) = (app.zoomed, app.selected_panel()) {
        panels::draw(frame, app, panel, body, true);
    } else {
        columns(frame, app, body);
    }
    frame.render_widget(status(app), status_area);
    if app.help {
        help(frame, area);
    }
}

/// One frame as plain text, trailing spaces trimmed: `opsctl dashboard --once` and the tests.
pub fn render_text(app: &App, width: u16, height: u16) -> String {
    let buffer = render_buffer(app, width, height);
    let area = buffer.area;
    let mut out = String::new();
    for y in area.top()..area.bottom() {
        let line: String = (area.left()..area.right()).map(|x| buffer[(x, y)].symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub fn render_buffer(app: &App, width: u16, height: u16) -> Buffer {
    let Ok(mut terminal) = Terminal::new(TestBackend::new(width, height)).map_err(never);
    let Ok(_) = terminal.draw(|frame| draw(frame, app)).map_err(never);
    terminal.backend().buffer().clone()
}

fn never(e: Infallible) -> Infallible {
    e
}

fn too_small(frame: &mut Frame, area: Rect) {
    let text = format!(
        "terminal too small: {}x{}, the dashboard needs {MIN_WIDTH}x{MIN_HEIGHT}",
        area.width, area.height
    );
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }).yellow(), area);
}

fn header(app: &App) -> Line<'static> {
    let refreshed = app.snapshot.as_ref().map_or_else(|| "never".to_owned(), |s| clock(&s.fetched_at));
    let mut spans = vec![
        Span::raw(" opsctl dashboard").bold(),
        Span::raw("  env "),
        Span::raw(app.env.clone()).bold(),
        Span::raw("  range "),
        Span::raw(app.range.label()).bold(),
        Span::raw("  RAG "),
        match (app.rag, app.vector_store) {
            (true, Some(store)) => Span::raw(format!("on ({})", store.title())).green(),
            (true, None) => Span::raw("on").green(),
            (false, _) => Span::raw("off").dark_gray(),
        },
    ];
    if let (true, Some(embedder)) = (app.rag, &app.embedder) {
        spans.push(Span::raw(format!("  embedder {embedder}")));
    }
    spans.extend([Span::raw("  refreshed "), Span::raw(refreshed)]);
    if app.loading {
        let frame = SPINNER[(app.ticks % SPINNER.len() as u64) as usize];
        spans.push(Span::raw(format!("  refreshing {frame}")).cyan());
    }
    Line::from(spans)
}

/// `2026-05-01T12:00:05Z` as `2026-05-01 12:00:05 UTC`; anything unparsable as it came.
fn clock(rfc3339: &str) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    OffsetDateTime::parse(rfc3339, &Rfc3339)
        .ok()
        .and_then(|t| t.to_offset(time::UtcOffset::UTC).format(&format).ok())
        .unwrap_or_else(|| rfc3339.to_owned())
}

fn tabs(frame: &mut Frame, app: &App, area: Rect) {
    let mut left = vec![Span::raw(" ")];
    for (i, name) in app.functions().into_iter().enumerate() {
        let style = if i == app.function {
            Style::new().fg(Color::Black).bg(Color::Cyan).add_modifier(Modifier::BOLD)
        } else {
            Style::new().fg(Color::Gray)
        };
        left.extend([Span::styled(format!(" {name} "), style), Span::raw(" ")]);
    }
    let mut right = Vec::new();
    for (i, range) in TimeRange::ALL.into_iter().enumerate() {
        let style =
            if range == app.range { Style::new().fg(Color::Cyan).bold() } else { Style::new().dark_gray() };
        right.extend([Span::styled(format!("{}:{}", i + 1, range.label()), style), Span::raw(" ")]);
    }
    frame.render_widget(Paragraph::new(Line::from(left)), area);
    frame.render_widget(Paragraph::new(Line::from(right)).alignment(Alignment::Right), area);
}

/// Three columns: the selected function, the rest of the service, then RAG and the overview.
fn columns(frame: &mut Frame, app: &App, body: Rect) {
    let shown = app.panels();
    let functions = app.functions();
    let column_of = |p: &Panel| {
        if functions.contains(&p.group.as_str()) {
            0
        } else if p.group == "rag" || matches!(p.kind, PanelKind::Alarms | PanelKind::Cost) {
            2
        } else {
            1
        }
    };
    let areas = Layout::horizontal([Constraint::Fill(1); 3]).split(body);
    for (column, area) in areas.iter().enumerate() {
        let stack: Vec<&Panel> = shown.iter().copied().filter(|p| column_of(p) == column).collect();
        let heights = panels::heights(app, &stack, area.height);
        let rows = Layout::vertical(heights.iter().map(|h| Constraint::Length(*h))).split(*area);
        for (panel, row) in stack.iter().zip(rows.iter()) {
            panels::draw(frame, app, panel, *row, false);
        }
    }
}

fn no_data(frame: &mut Frame, app: &App, body: Rect) {
    let lines = match &app.error {
        Some(error) => vec![
            Line::from("no data yet: the first refresh failed").red().bold(),
            Line::from(error.clone()).red(),
            Line::from("press r to retry").dark_gray(),
        ],
        None => vec![Line::from("waiting for the first refresh...").dark_gray()],
    };
    let height = lines.len() as u16;
    let [middle] = Layout::vertical([Constraint::Length(height)]).flex(Flex::Center).areas(body);
    frame.render_widget(Paragraph::new(lines).alignment(Alignment::Center).wrap(Wrap { trim: true }), middle);
}

fn status(app: &App) -> Line<'static> {
    match &app.error {
        Some(error) => {
            // The context goes first: a long error is cut at the screen's edge.
            let kept = match &app.snapshot {
                Some(s) => format!(", showing data from {}", clock(&s.fetched_at)),
                None => String::new(),
            };
            Line::from(format!(" refresh failed{kept}: {error}")).red().bold()
        }
        None => Line::from(" tab function  arrows panel  enter zoom  1-5 range  r refresh  ? help  q quit")
            .dark_gray(),
    }
}

const HELP: [(&str, &str); 9] = [
    ("tab, ->", "next function (chat, ingest, retrieve)"),
    ("shift-tab, <-", "previous function"),
    ("up/down, k/j", "move between panels"),
    ("enter, e", "zoom the selected panel"),
    ("1 2 3 4 5", "range 1h, 3h, 12h, 24h, 7d"),
    ("r", "refresh now"),
    ("?", "this help"),
    ("esc", "close help or zoom, then quit"),
    ("q, ctrl-c", "quit"),
];

fn help(frame: &mut Frame, area: Rect) {
    let lines: Vec<Line> = HELP
        .iter()
        .map(|(keys, what)| {
            Line::from(vec![Span::raw(format!(" {keys:<14}")).cyan().bold(), Span::raw(*what)])
        })
        .collect();
    let height = (lines.len() as u16 + 2).min(area.height);
    let width = 60.min(area.width);
    let popup = area.centered(Constraint::Length(width), Constraint::Length(height));
    frame.render_widget(Clear, popup);
    let block = Block::bordered().title(" keys ").border_style(Style::new().cyan());
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}

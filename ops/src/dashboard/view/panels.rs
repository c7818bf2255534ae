//! One panel of the spec drawn into its rectangle: a line panel as a sparkline per series with
//! its latest value, a stat as one value, the alarm list, the cost.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, LineGauge, Paragraph, Sparkline};

use crate::dashboard::model::{AlarmState, Series};
use crate::dashboard::state::App;
use crate::dashboards::{Panel, PanelKind};

const PALETTE: [Color; 4] = [Color::Cyan, Color::Magenta, Color::Yellow, Color::LightBlue];
/// Alarm rows a column keeps room for before it shrinks the list to "+N more".
const ALARM_ROWS: u16 = 3;

/// One row of a panel: a metric, or a value derived from two of them.
struct Row<'a> {
    id: &'a str,
    label: &'a str,
}

/// The metrics a panel draws, then its derived values. A ratio's denominator is left out:
/// it is the function's invocations, which have their own panel.
fn rows(panel: &Panel) -> Vec<Row<'_>> {
    let denominators: Vec<&str> = panel.derived.iter().map(|d| d.ratio[1].as_str()).collect();
    let metrics = panel.metrics.iter().filter(|m| !denominators.contains(&m.id.as_str()));
    metrics
        .map(|m| Row { id: &m.id, label: &m.label })
        .chain(panel.derived.iter().map(|d| Row { id: &d.id, label: &d.label }))
        .collect()
}

fn min_height(app: &App, panel: &Panel) -> u16 {
    match panel.kind {
        PanelKind::Line | PanelKind::Stat => 2 + rows(panel).len().max(1) as u16,
        PanelKind::Alarms => {
            let alarms = app.snapshot.as_ref().map_or(0, |s| s.alarms.len()) as u16;
            2 + alarms.clamp(1, ALARM_ROWS)
        }
        PanelKind::Cost => 5,
    }
}

/// Stats and the cost keep their minimum; the rest share the spare rows by series count.
fn weight(panel: &Panel) -> u16 {
    match panel.kind {
        PanelKind::Line => rows(panel).len() as u16,
        PanelKind::Alarms => 1,
        PanelKind::Stat | PanelKind::Cost => 0,
    }
}

/// Heights for a column of panels. When even the minimums do not fit, the layout squeezes the
/// last panels; that only happens below the supported 80x24.
pub fn heights(app: &App, stack: &[&Panel], total: u16) -> Vec<u16> {
    let mut heights: Vec<u16> = stack.iter().map(|p| min_height(app, p)).collect();
    let spare = total.saturating_sub(heights.iter().sum());
    let weights: Vec<u16> = stack.iter().map(|p| weight(p)).collect();
    let total_weight: u16 = weights.iter().sum();
    if spare == 0 || total_weight == 0 {
        return heights;
    }
    let mut given = 0;
    for (h, w) in heights.iter_mut().zip(&weights) {
        let share = spare * w / total_weight;
        *h += share;
        given += share;
    }
    if let Some(i) = weights.iter().position(|w| *w > 0) {
        heights[i] += spare - given;
    }
    heights
}

pub fn draw(frame: &mut Frame, app: &App, panel: &Panel, area: Rect, zoomed: bool) {
    let selected = zoomed || app.selected_panel().is_some_and(|p| p.id == panel.id);
    let border = if selected { Style::new().cyan().bold() } else { Style::new().dark_gray() };
    let title = match panel.kind {
        PanelKind::Alarms => alarms_title(app),
        _ => Line::from(format!(" {} ", panel.title)).white(),
    };
    let block = Block::bordered().title(title).border_style(border);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    match panel.kind {
        PanelKind::Line | PanelKind::Stat => series_rows(frame, app, panel, inner),
        PanelKind::Alarms => alarms(frame, app, inner),
        PanelKind::Cost => cost(frame, app, inner),
    }
}

fn series_rows(frame: &mut Frame, app: &App, panel: &Panel, inner: Rect) {
    let rows = rows(panel);
    let chunks = Layout::vertical(rows.iter().map(|_| Constraint::Fill(1))).split(inner);
    for (i, (row, chunk)) in rows.iter().zip(chunks.iter()).enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let series = app.series(row.id).filter(|s| !s.points.is_empty());
        // A stat of sums means "how many in the window"; anything else is its latest value.
        let total =
            panel.kind == PanelKind::Stat && panel.metrics.iter().any(|m| m.id == row.id && m.stat == "Sum");
        let value = series.as_ref().and_then(|s| if total { Some(sum(s)) } else { s.latest() });
        let breached = value.is_some_and(|v| panel.thresholds.iter().any(|t| t.on == row.id && v > t.value));
        let value_text = match value {
            Some(v) if total => format!("{} in {}", number(v), app.range.label()),
            Some(v) => number(v),
            None => "-".to_owned(),
        };
        let value_style = if breached { Style::new().red().bold() } else { Style::new().white().bold() };
        let text = Line::from(vec![
            Span::styled(row.label.to_owned(), Style::new().fg(colour)),
            Span::raw(" "),
            Span::styled(value_text, value_style),
            Span::raw(" "),
        ]);
        let spark_area = if chunk.height >= 2 {
            let [top, rest] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(*chunk);
            frame.render_widget(text, top);
            rest
        } else {
            let used = (text.width() as u16).min(chunk.width);
            let [left, rest] =
                Layout::horizontal([Constraint::Length(used), Constraint::Fill(1)]).areas(*chunk);
            frame.render_widget(text, left);
            rest
        };
        if let Some(series) = series {
            let data = downsample(&series, spark_area.width as usize);
            let colour = if breached { Color::Red } else { colour };
            frame.render_widget(Sparkline::default().data(data).style(Style::new().fg(colour)), spark_area);
        }
    }
}

fn sum(series: &Series) -> f64 {
    series.points.iter().map(|(_, v)| v).sum()
}

/// At most `width` bars, each the largest value of its share of the points so a spike stays
/// visible; values are scaled by 1000 because the bars are integers and rates are fractions.
fn downsample(series: &Series, width: usize) -> Vec<u64> {
    let values: Vec<f64> = series.points.iter().map(|(_, v)| v.max(0.0)).collect();
    if width == 0 || values.is_empty() {
        return Vec::new();
    }
    let bars = values.len().min(width);
    (0..bars)
        .map(|i| {
            let (start, end) =
                (i * values.len() / bars, ((i + 1) * values.len() / bars).max(i * values.len() / bars + 1));
            let peak = values[start..end].iter().copied().fold(0.0, f64::max);
            (peak * 1000.0).round() as u64
        })
        .collect()
}

/// A value in at most about six characters: 7, 2.5, 0.25, 812, 12.3k, 4.1M.
pub fn number(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn alarms_title(app: &App) -> Line<'static> {
    let firing =
        app.snapshot.as_ref().map_or(0, |s| s.alarms.iter().filter(|a| a.state == AlarmState::Alarm).count());
    if firing > 0 {
        Line::from(format!(" Alarms: {firing} firing ")).red().bold()
    } else {
        Line::from(" Alarms ").white()
    }
}

fn alarms(frame: &mut Frame, app: &App, inner: Rect) {
    let Some(snapshot) = &app.snapshot else { return };
    if snapshot.alarms.is_empty() {
        frame.render_widget(Line::from("no alarms found").dark_gray(), inner);
        return;
    }
    let severity = |s: AlarmState| match s {
        AlarmState::Alarm => 0,
        AlarmState::InsufficientData => 1,
        AlarmState::Ok => 2,
    };
    let mut rows: Vec<_> = snapshot.alarms.iter().collect();
    rows.sort_by_key(|a| (severity(a.state), a.name.as_str()));
    let wide = inner.width >= 48;
    let room = inner.height as usize;
    let shown = if rows.len() > room { room.saturating_sub(1) } else { rows.len() };
    let prefix = crate::functions::alarm_prefix(&app.env);
    let mut lines: Vec<Line> = rows[..shown]
        .iter()
        .map(|a| {
            let (label, colour) = match a.state {
                AlarmState::Alarm => ("ALARM", Color::Red),
                AlarmState::Ok => ("OK", Color::Green),
                AlarmState::InsufficientData if wide => ("INSUFFICIENT_DATA", Color::Yellow),
                AlarmState::InsufficientData => ("NO DATA", Color::Yellow),
            };
            let state = format!("{label:<width$} ", width = if wide { 17 } else { 7 });
            let name = a.name.strip_prefix(&prefix).unwrap_or(&a.name).to_owned();
            Line::from(vec![Span::styled(state, Style::new().fg(colour).bold()), Span::raw(name)])
        })
        .collect();
    if shown < rows.len() {
        lines.push(Line::from(format!("+{} more", rows.len() - shown)).dark_gray());
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn cost(frame: &mut Frame, app: &App, inner: Rect) {
    let Some(snapshot) = &app.snapshot else { return };
    let Some(cost) = &snapshot.cost else {
        let billing = app.series("estimated_charges").and_then(|s| s.latest());
        let line = match billing {
            Some(v) => Line::from(format!("billing estimate ${v:.2}")),
            None => Line::from("no cost data yet").dark_gray(),
        };
        frame.render_widget(line, inner);
        return;
    };
    let over = cost.budget_usd.is_some_and(|b| cost.projected_usd > b);
    let projected_style = if over { Style::new().red().bold() } else { Style::new().white().bold() };
    let mut lines = vec![
        Line::from(vec![
            Span::raw("month to date "),
            format!("${:.2}", cost.month_to_date_usd).white().bold(),
        ]),
        Line::from(vec![
            Span::raw("projected     "),
            Span::styled(format!("${:.2}", cost.projected_usd), projected_style),
        ]),
    ];
    if let Some(b) = cost.billing_estimate_usd {
        lines.push(Line::from(format!("billing est.  ${b:.2}")).dark_gray());
    }
    let text_rows = (lines.len() as u16).min(inner.height.saturating_sub(1));
    let [text_area, bar_area] =
        Layout::vertical([Constraint::Length(text_rows), Constraint::Length(1)]).areas(inner);
    frame.render_widget(Paragraph::new(lines), text_area);
    let Some(budget) = cost.budget_usd.filter(|b| *b > 0.0) else {
        frame.render_widget(Line::from("no budget set").dark_gray(), bar_area);
        return;
    };
    let ratio = cost.month_to_date_usd / budget;
    let colour = if over || ratio >= 1.0 {
        Color::Red
    } else if ratio >= 0.8 {
        Color::Yellow
    } else {
        Color::Green
    };
    let gauge = LineGauge::default()
        .ratio(ratio.clamp(0.0, 1.0))
        .label(format!("${budget:.0} {:>3.0}%", ratio * 100.0))
        .filled_style(Style::new().fg(colour))
        .unfilled_style(Style::new().dark_gray());
    frame.render_widget(gauge, bar_area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_stay_short() {
        let shown: Vec<String> = [7.0, 2.5, 0.25, 812.4, 12_345.0, 4_100_000.0, 0.0].map(number).to_vec();
        assert_eq!(shown, ["7", "2.5", "0.25", "812", "12.3k", "4.1M", "0"]);
    }

    #[test]
    fn downsampling_keeps_spikes_and_never_exceeds_the_width() {
        let series = Series { points: (0..100).map(|i| (i, if i == 37 { 9.0 } else { 1.0 })).collect() };
        let bars = downsample(&series, 10);
        assert_eq!(bars.len(), 10);
        assert_eq!(bars.iter().filter(|b| **b == 9_000).count(), 1);
        assert_eq!(downsample(&series, 0), Vec::<u64>::new());
        assert_eq!(downsample(&Series { points: vec![(0, 0.5)] }, 10), [500]);
    }
}

//! The dashboard's state and its only way to change: [`App::update`], a pure function of the
//! current state and one [`Action`]. The run loop acts on the returned [`Effect`]; nothing in
//! here reads the clock, the terminal or the network, so every key path is a plain unit test.

use std::collections::BTreeMap;

use super::model::{Series, Snapshot, TimeRange};
use crate::dashboards::{Panel, PanelKind, Spec};
use crate::functions::Function;
use crate::vector_store::RetrievalStore;

/// The functions whose Lambda panels share one slot on screen, in tab order.
const FUNCTIONS: [&str; 3] = [Function::Chat.name(), Function::Ingest.name(), Function::Retrieve.name()];

/// A key, already decoded: the state never depends on the terminal library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Tab,
    BackTab,
    Left,
    Right,
    Up,
    Down,
    Enter,
    Esc,
    /// Ctrl-C: raw mode turns it into a key instead of a signal.
    Interrupt,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Key(Key),
    /// The input thread's heartbeat; drives the refresh spinner.
    Tick,
    Fetched(Result<Snapshot, String>),
    Resize(u16, u16),
}

/// What the run loop must do after an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    None,
    Refresh(TimeRange),
    Quit,
}

#[derive(Debug, Clone)]
pub struct App {
    pub spec: Spec,
    pub env: String,
    pub rag: bool,
    /// Where RAG keeps its chunks, for the header; the panels read the same metrics either way.
    pub vector_store: Option<RetrievalStore>,
    /// The embedder retrieval runs, where it is known (the local target's).
    pub embedder: Option<String>,
    pub range: TimeRange,
    /// Index into [`App::functions`].
    pub function: usize,
    /// Index into [`App::panels`]: the panel with the highlighted border.
    pub selected: usize,
    /// The selected panel fills the body.
    pub zoomed: bool,
    pub help: bool,
    /// The last good refresh; kept on screen when a later one fails.
    pub snapshot: Option<Snapshot>,
    /// The last refresh's error, until one succeeds.
    pub error: Option<String>,
    /// A refresh was asked for and has not answered yet.
    pub loading: bool,
    pub ticks: u64,
    pub size: (u16, u16),
}

impl App {
    pub fn new(spec: Spec, env: impl Into<String>, rag: bool, range: TimeRange) -> Self {
        Self {
            spec,
            env: env.into(),
            rag,
            vector_store: None,
            embedder: None,
            range,
            function: 0,
            selected: 0,
            zoomed: false,
            help: false,
            snapshot: None,
            error: None,
            // The poller fetches as soon as it starts.
            loading: true,
            ticks: 0,
            size: (0, 0),
        }
    }

    pub fn update(&mut self, action: Action) -> Effect {
        match action {
            Action::Key(key) => self.key(key),
            Action::Tick => {
                self.ticks = self.ticks.wrapping_add(1);
                Effect::None
            }
            Action::Resize(w, h) => {
                self.size = (w, h);
                Effect::None
            }
            Action::Fetched(Ok(snapshot)) => {
                // An answer for the range on screen before the last change: the refresh for
                // the new range is already queued behind it.
                if snapshot.range != self.range {
                    return Effect::None;
                }
                self.snapshot = Some(snapshot);
                self.error = None;
                self.loading = false;
                Effect::None
            }
            Action::Fetched(Err(error)) => {
                self.error = Some(error);
                self.loading = false;
                Effect::None
            }
        }
    }

    fn key(&mut self, key: Key) -> Effect {
        match key {
            Key::Char('q') | Key::Interrupt => return Effect::Quit,
            Key::Esc if self.help => self.help = false,
            Key::Esc if self.zoomed => self.zoomed = false,
            Key::Esc => return Effect::Quit,
            Key::Char('?') => self.help = !self.help,
            Key::Char('r') => return self.refresh(),
            Key::Char(c @ '1'..='5') => {
                return match TimeRange::from_key(c) {
                    Some(range) if range != self.range => {
                        self.range = range;
                        self.refresh()
                    }
                    _ => Effect::None,
                };
            }
            Key::Tab | Key::Right => self.cycle_function(1),
            Key::BackTab | Key::Left => self.cycle_function(-1),
            Key::Down | Key::Char('j') => self.selected = step(self.selected, 1, self.panels().len()),
            Key::Up | Key::Char('k') => self.selected = step(self.selected, -1, self.panels().len()),
            Key::Enter | Key::Char('e') => self.zoomed = !self.zoomed,
            _ => {}
        }
        Effect::None
    }

    fn refresh(&mut self) -> Effect {
        self.loading = true;
        Effect::Refresh(self.range)
    }

    fn cycle_function(&mut self, by: isize) {
        self.function = step(self.function, by, self.functions().len());
        // Each function has as many panels as the others, so the selection stays on the
        // same kind of panel; clamp in case the spec says otherwise.
        self.selected = self.selected.min(self.panels().len().saturating_sub(1));
    }

    /// The functions with panels in this deployment: chat alone without RAG.
    pub fn functions(&self) -> Vec<&'static str> {
        FUNCTIONS.into_iter().filter(|f| self.spec.panels(self.rag).any(|p| p.group == *f)).collect()
    }

    pub fn current_function(&self) -> Option<&'static str> {
        self.functions().get(self.function).copied()
    }

    /// Every panel on screen in focus order: the current function's, then the others in
    /// spec order, with the alarm list and the cost last.
    pub fn panels(&self) -> Vec<&Panel> {
        let current = self.current_function();
        let shown = |p: &&Panel| !FUNCTIONS.contains(&p.group.as_str()) || Some(p.group.as_str()) == current;
        let is_overview = |p: &Panel| matches!(p.kind, PanelKind::Alarms | PanelKind::Cost);
        let all: Vec<&Panel> = self.spec.panels(self.rag).filter(shown).collect();
        let (overview, rest): (Vec<&Panel>, Vec<&Panel>) = all.into_iter().partition(|p| is_overview(p));
        rest.into_iter().chain(overview).collect()
    }

    pub fn selected_panel(&self) -> Option<&Panel> {
        self.panels().get(self.selected).copied()
    }

    /// A metric's or a derived value's series from the last good snapshot. Derived values are
    /// `scale * a / b` per timestamp of `b`, 0 where `b` is 0, as the CloudWatch dashboard's
    /// metric math does.
    pub fn series(&self, id: &str) -> Option<Series> {
        let snapshot = self.snapshot.as_ref()?;
        if let Some(series) = snapshot.series.get(id) {
            return Some(series.clone());
        }
        let derived = self.spec.panels.iter().flat_map(|p| p.derived.iter()).find(|d| d.id == id)?;
        let [a, b] = &derived.ratio;
        let numerator: BTreeMap<i64, f64> =
            snapshot.series.get(a).map(|s| s.points.iter().copied().collect()).unwrap_or_default();
        let denominator = snapshot.series.get(b)?;
        let points = denominator
            .points
            .iter()
            .map(|&(t, d)| {
                let n = numerator.get(&t).copied().unwrap_or(0.0);
                (t, if d > 0.0 { derived.scale * n / d } else { 0.0 })
            })
            .collect();
        Some(Series { points })
    }
}

fn step(index: usize, by: isize, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    (index as isize + by).rem_euclid(len as isize) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(range: TimeRange, at: &str) -> Snapshot {
        let mut series = BTreeMap::new();
        series.insert("chat_errors".to_owned(), Series { points: vec![(60, 1.0), (120, 0.0)] });
        series.insert("chat_calls".to_owned(), Series { points: vec![(0, 0.0), (60, 4.0), (120, 10.0)] });
        Snapshot { range, fetched_at: at.to_owned(), series, alarms: vec![], cost: None }
    }

    fn app(rag: bool) -> App {
        App::new(Spec::embedded().unwrap(), "dev", rag, TimeRange::H1)
    }

    fn press(app: &mut App, key: Key) -> Effect {
        app.update(Action::Key(key))
    }

    #[test]
    fn range_keys_switch_the_range_and_ask_for_a_refresh() {
        let mut app = app(false);
        app.update(Action::Fetched(Ok(snapshot(TimeRange::H1, "t0"))));
        assert!(!app.loading);
        assert_eq!(press(&mut app, Key::Char('4')), Effect::Refresh(TimeRange::H24));
        assert_eq!(app.range, TimeRange::H24);
        assert!(app.loading);
        assert_eq!(press(&mut app, Key::Char('4')), Effect::None, "the same range again");
        assert_eq!(press(&mut app, Key::Char('5')), Effect::Refresh(TimeRange::D7));
        assert_eq!(press(&mut app, Key::Char('6')), Effect::None);
        assert_eq!(app.range, TimeRange::D7);
        assert_eq!(press(&mut app, Key::Char('r')), Effect::Refresh(TimeRange::D7));
    }

    #[test]
    fn an_answer_for_a_range_left_behind_is_dropped() {
        let mut app = app(false);
        press(&mut app, Key::Char('2'));
        app.update(Action::Fetched(Ok(snapshot(TimeRange::H1, "old"))));
        assert!(app.snapshot.is_none());
        assert!(app.loading);
        app.update(Action::Fetched(Ok(snapshot(TimeRange::H3, "new"))));
        assert_eq!(app.snapshot.as_ref().map(|s| s.fetched_at.as_str()), Some("new"));
    }

    #[test]
    fn a_failed_refresh_keeps_the_last_good_data_until_one_succeeds() {
        let mut app = app(false);
        assert!(app.snapshot.is_none() && app.loading, "no data yet");
        app.update(Action::Fetched(Err("throttled".into())));
        assert_eq!(app.error.as_deref(), Some("throttled"));
        assert!(app.snapshot.is_none());
        app.update(Action::Fetched(Ok(snapshot(TimeRange::H1, "t1"))));
        assert_eq!(app.error, None);
        press(&mut app, Key::Char('r'));
        app.update(Action::Fetched(Err("expired token".into())));
        assert_eq!(app.error.as_deref(), Some("expired token"));
        assert!(!app.loading);
        assert_eq!(app.snapshot.as_ref().map(|s| s.fetched_at.as_str()), Some("t1"));
        app.update(Action::Fetched(Ok(snapshot(TimeRange::H1, "t2"))));
        assert_eq!(app.error, None);
        assert_eq!(app.snapshot.as_ref().map(|s| s.fetched_at.as_str()), Some("t2"));
    }

    #[test]
    fn help_toggles_and_esc_closes_it_before_quitting() {
        let mut app = app(false);
        assert_eq!(press(&mut app, Key::Char('?')), Effect::None);
        assert!(app.help);
        assert_eq!(press(&mut app, Key::Char('?')), Effect::None);
        assert!(!app.help);
        press(&mut app, Key::Char('?'));
        assert_eq!(press(&mut app, Key::Esc), Effect::None);
        assert!(!app.help);
        assert_eq!(press(&mut app, Key::Esc), Effect::Quit);
        press(&mut app, Key::Char('?'));
        assert_eq!(press(&mut app, Key::Char('q')), Effect::Quit, "q quits even over the help");
        assert_eq!(press(&mut app, Key::Interrupt), Effect::Quit);
    }

    #[test]
    fn tabs_and_arrows_move_between_functions_and_panels() {
        let mut app = app(true);
        assert_eq!(app.functions(), ["chat", "ingest", "retrieve"]);
        press(&mut app, Key::Tab);
        assert_eq!(app.current_function(), Some("ingest"));
        press(&mut app, Key::Right);
        assert_eq!(app.current_function(), Some("retrieve"));
        press(&mut app, Key::Tab);
        assert_eq!(app.current_function(), Some("chat"), "wraps around");
        press(&mut app, Key::BackTab);
        assert_eq!(app.current_function(), Some("retrieve"));
        press(&mut app, Key::Left);
        assert_eq!(app.current_function(), Some("ingest"));

        let ids = |app: &App| app.panels().iter().map(|p| p.id.clone()).collect::<Vec<_>>();
        let shown = ids(&app);
        assert_eq!(
            shown[..4],
            ["ingest-invocations", "ingest-errors", "ingest-duration", "ingest-throttles"]
        );
        assert!(!shown.iter().any(|id| id.starts_with("chat-")));
        assert_eq!(shown[shown.len() - 2..], ["alarms", "cost"]);

        assert_eq!(app.selected_panel().map(|p| p.id.as_str()), Some("ingest-invocations"));
        press(&mut app, Key::Down);
        press(&mut app, Key::Down);
        assert_eq!(app.selected_panel().map(|p| p.id.as_str()), Some("ingest-duration"));
        press(&mut app, Key::Tab);
        assert_eq!(app.selected_panel().map(|p| p.id.as_str()), Some("retrieve-duration"));
        press(&mut app, Key::Up);
        press(&mut app, Key::Up);
        press(&mut app, Key::Up);
        assert_eq!(app.selected_panel().map(|p| p.id.as_str()), Some("cost"), "wraps around");
        press(&mut app, Key::Enter);
        assert!(app.zoomed);
        assert_eq!(press(&mut app, Key::Esc), Effect::None, "Esc leaves the zoom first");
        assert!(!app.zoomed);
    }

    #[test]
    fn without_rag_only_chat_is_shown() {
        let mut app = app(false);
        assert_eq!(app.functions(), ["chat"]);
        press(&mut app, Key::Tab);
        assert_eq!(app.current_function(), Some("chat"));
        assert!(!app.panels().iter().any(|p| p.rag));
    }

    #[test]
    fn derived_values_are_computed_per_timestamp() {
        let mut app = app(false);
        assert_eq!(app.series("chat_error_rate"), None, "no data yet");
        app.update(Action::Fetched(Ok(snapshot(TimeRange::H1, "t"))));
        let rate = app.series("chat_error_rate").unwrap();
        assert_eq!(rate.points, [(0, 0.0), (60, 25.0), (120, 0.0)]);
        assert_eq!(app.series("chat_p99"), None);
    }
}

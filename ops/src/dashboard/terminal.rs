//! The interactive loop: a guard that owns the screen (ratatui's own `try_init`/`restore`), a poller task that fetches, an input
//! thread that reads keys, and one channel of [`Action`]s between them and [`App::update`].

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::model::{Source, TimeRange};
use super::state::{Action, App, Effect, Key};
use super::view;

/// How often the input thread looks up from waiting for a key: the spinner's pace, and how
/// soon the thread notices the loop has ended.
const TICK: Duration = Duration::from_millis(250);

/// The screen as ratatui's `try_init` sets it up (raw mode, the alternate screen, and a panic
/// hook that restores the terminal before the panic is printed), restored on drop: an early
/// return with an error included.
pub struct Screen {
    pub terminal: DefaultTerminal,
}

impl Screen {
    pub fn enter() -> io::Result<Self> {
        static HOOKS: Once = Once::new();
        // The hook in place before the dashboard, shared so that both paths below can call it.
        let original: Arc<PanicHook> = Arc::new(std::panic::take_hook());
        let forward = original.clone();
        std::panic::set_hook(Box::new(move |info| forward(info)));
        let terminal = ratatui::try_init()?;
        ENTERED.store(true, Ordering::SeqCst);
        HOOKS.call_once(|| {
            // try_init's hook restores the screen, then calls the original one.
            let restoring = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if ENTERED.swap(false, Ordering::SeqCst) {
                    restoring(info);
                } else {
                    original(info);
                }
            }));
        });
        Ok(Self { terminal })
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        if ENTERED.swap(false, Ordering::SeqCst) {
            ratatui::restore();
        }
    }
}

type PanicHook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Sync + Send + 'static>;

/// Whether the screen is still ours: after ratatui's panic hook restored it (a panic in the
/// poller, on another thread), Drop must not restore it again, since leaving the alternate
/// screen twice moves the cursor back over the panic message.
static ENTERED: AtomicBool = AtomicBool::new(false);

/// Runs the dashboard until the user quits.
pub async fn run(mut app: App, source: Arc<dyn Source>, interval: Duration) -> anyhow::Result<()> {
    let (actions, mut inbox) = unbounded_channel::<Action>();
    let (refreshes, requests) = unbounded_channel::<TimeRange>();
    let mut poller = tokio::spawn(poll(source, app.range, interval, requests, actions.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut guard = Screen::enter()?;
    let input = {
        let (actions, stop) = (actions.clone(), stop.clone());
        std::thread::spawn(move || read_input(&actions, &stop))
    };
    drop(actions);
    let result = async {
        guard.terminal.draw(|f| view::draw(f, &app))?;
        loop {
            let action = tokio::select! {
                action = inbox.recv() => action,
                // A panic in the poller ran the hook, which already restored the screen: going
                // on drawing would scribble over the shell.
                ended = &mut poller => anyhow::bail!("the dashboard's poller stopped: {ended:?}"),
            };
            let Some(action) = action else { break };
            match app.update(action) {
                Effect::Quit => break,
                Effect::Refresh(range) => {
                    let _ = refreshes.send(range);
                }
                Effect::None => {}
            }
            guard.terminal.draw(|f| view::draw(f, &app))?;
        }
        anyhow::Ok(())
    }
    .await;
    stop.store(true, Ordering::Relaxed);
    poller.abort();
    drop(guard);
    // The thread wakes within one tick; a failure to join means it panicked, already reported.
    let _ = input.join();
    result
}

/// Fetches on every interval tick and whenever the screen asks, always for the latest range
/// asked for. Ends when the screen stops listening.
pub async fn poll(
    source: Arc<dyn Source>,
    mut range: TimeRange,
    interval: Duration,
    mut requests: UnboundedReceiver<TimeRange>,
    actions: UnboundedSender<Action>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            asked = requests.recv() => match asked {
                Some(asked) => {
                    range = asked;
                    ticker.reset();
                }
                None => return,
            },
        }
        // Keys pressed during the last fetch: only the newest range matters.
        while let Ok(asked) = requests.try_recv() {
            range = asked;
        }
        let result = source.fetch(range).await;
        if actions.send(Action::Fetched(result)).is_err() {
            return;
        }
    }
}

/// crossterm's blocking reader on its own thread: simpler than an event stream and needs no
/// extra features; the timeout keeps the thread from outliving the loop by more than a tick.
fn read_input(actions: &UnboundedSender<Action>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let action = match event::poll(TICK) {
            Ok(false) => Action::Tick,
            Ok(true) => match event::read() {
                Ok(Event::Key(key)) => match decode(key) {
                    Some(key) => Action::Key(key),
                    None => continue,
                },
                Ok(Event::Resize(w, h)) => Action::Resize(w, h),
                Ok(_) => continue,
                Err(_) => Action::Key(Key::Interrupt),
            },
            // The terminal is gone; quitting restores what is left of it.
            Err(_) => Action::Key(Key::Interrupt),
        };
        if actions.send(action).is_err() {
            return;
        }
    }
}

pub fn decode(key: KeyEvent) -> Option<Key> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    Some(match key.code {
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Key::Interrupt,
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Tab => Key::Tab,
        KeyCode::BackTab => Key::BackTab,
        KeyCode::Left => Key::Left,
        KeyCode::Right => Key::Right,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::dashboard::model::Snapshot;

    struct Recorder(Mutex<Vec<TimeRange>>);

    #[async_trait]
    impl Source for Recorder {
        async fn fetch(&self, range: TimeRange) -> Result<Snapshot, String> {
            self.0.lock().unwrap().push(range);
            Ok(Snapshot {
                range,
                fetched_at: "t".into(),
                series: BTreeMap::new(),
                alarms: vec![],
                cost: None,
            })
        }
    }

    #[tokio::test]
    async fn the_poller_fetches_at_once_on_each_tick_and_on_demand() {
        let source = Arc::new(Recorder(Mutex::new(Vec::new())));
        let (actions, mut inbox) = unbounded_channel();
        let (refreshes, requests) = unbounded_channel();
        let task =
            tokio::spawn(poll(source.clone(), TimeRange::H1, Duration::from_millis(100), requests, actions));
        let range_of = |a: Option<Action>| match a {
            Some(Action::Fetched(Ok(s))) => Some(s.range),
            _ => None,
        };
        assert_eq!(range_of(inbox.recv().await), Some(TimeRange::H1), "fetches at start");
        refreshes.send(TimeRange::H24).unwrap();
        assert_eq!(range_of(inbox.recv().await), Some(TimeRange::H24), "on demand");
        assert_eq!(range_of(inbox.recv().await), Some(TimeRange::H24), "then on the interval");
        drop(refreshes);
        task.await.unwrap();
        assert_eq!(*source.0.lock().unwrap(), [TimeRange::H1, TimeRange::H24, TimeRange::H24]);
    }

    #[test]
    fn keys_decode_and_releases_are_ignored() {
        let press = |code, modifiers| decode(KeyEvent::new(code, modifiers));
        assert_eq!(press(KeyCode::Char('c'), KeyModifiers::CONTROL), Some(Key::Interrupt));
        assert_eq!(press(KeyCode::Char('2'), KeyModifiers::NONE), Some(Key::Char('2')));
        assert_eq!(press(KeyCode::BackTab, KeyModifiers::SHIFT), Some(Key::BackTab));
        assert_eq!(press(KeyCode::F(1), KeyModifiers::NONE), None);
        let mut release = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
        release.kind = KeyEventKind::Release;
        assert_eq!(decode(release), None);
    }
}

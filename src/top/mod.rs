//! `top`: the live view of a scoreboard for the console, when httpd is too
//! busy to answer `/server-status`.
//!
//! The segment is opened once ([`scoreboard::watch`]: a capability is
//! effective only around the open, and kept afterwards only where every
//! copy needs it, a root's SysV segment) and copied and decoded on every
//! refresh; the figures are [`crate::measure`]'s, as every check and
//! command counts them ([`view::Sample`]). On a terminal it draws with
//! ratatui ([`draw`]) until `q`, Ctrl-C, SIGTERM, SIGINT, SIGHUP or
//! SIGQUIT, and always leaves the terminal as it found it (raw mode off,
//! alternate screen left, cursor shown) on every way out, errors and
//! panics included. Otherwise, or with `--once`, it prints one plain
//! frame ([`plain`]) and exits.

pub mod draw;
pub mod plain;
pub mod view;

use std::collections::HashMap;
use std::io::{IsTerminal, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::{cursor, execute, terminal};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use crate::measure::{self, Capacity};
use crate::plugin::text::escape_str;
use crate::process::{self, Health};
use crate::scoreboard::{self, LiveInfo, ReadOptions, Watched};
pub use view::{Action, Key, Privacy, Sample, Ui};

/// How `top` runs.
#[derive(Clone, Debug)]
pub struct Options {
    pub read: ReadOptions,
    pub capacity: Capacity,
    pub interval: Duration,
    /// One plain frame even on a terminal.
    pub once: bool,
    pub privacy: Privacy,
}

impl Options {
    /// Whether `top` takes the terminal (else it prints one plain frame).
    pub fn interactive(&self) -> bool {
        !self.once && std::io::stdout().is_terminal()
    }
}

/// The shortest refresh interval (the loop polls keys and signals at
/// least this often anyway).
pub const MIN_INTERVAL: Duration = Duration::from_millis(50);

/// How often keys and the stop flag are looked at between refreshes.
const POLL: Duration = Duration::from_millis(100);

/// The kernel's view of the processes (which run, stopped, stuck, the
/// listen queue, the users serving) is measured at most this often: it
/// reads `/proc` for every process.
const HEALTH_EVERY: Duration = Duration::from_secs(1);

/// The segment, opened once, and the kernel's view of its processes as
/// last measured.
struct Source {
    options: Options,
    watched: Watched,
    kernel: Kernel,
    /// When the latest measurement of the kernel's view started.
    measured: Option<Instant>,
    /// A measurement under way.
    pending: Option<mpsc::Receiver<Kernel>>,
}

/// What `/proc` says about a live server's processes.
#[derive(Clone, Default)]
struct Kernel {
    /// Which of the segment's processes run (and the parent, the MPM):
    /// for the copies decoded until the next measurement.
    live: Option<LiveInfo>,
    health: Option<Health>,
    /// The user serving each process's requests (mpm-itk: its
    /// per-connection child's), by pid.
    users: HashMap<i32, String>,
}

impl Kernel {
    /// Starts measuring `loaded`'s processes on a thread of its own: a
    /// child in `D` or connections queued while workers are idle take a
    /// second's resample (and a process hung in the kernel up to the
    /// measurement's time box), which the screen must not wait for.
    /// `None` for a snapshot.
    fn start(loaded: &scoreboard::Loaded) -> Option<mpsc::Receiver<Kernel>> {
        let probe = measure::health::Probe::of(loaded)?;
        let segment_pids: Vec<i32> = loaded.scoreboard.processes().map(|p| p.pid).collect();
        // Users only for processes with a request in flight: the lookup
        // reads the children files of every thread (16 event processes
        // have over a thousand).
        let mut pids: Vec<i32> = measure::inflight::requests(loaded, true)
            .map(|r| r.worker.pid())
            .collect();
        pids.sort_unstable();
        pids.dedup();
        let (tx, rx) = mpsc::channel();
        let builder = std::thread::Builder::new().name("top-kernel".into());
        crate::watchdog::spawn(builder, move || {
            let mut live = scoreboard::live::live_info(segment_pids);
            live.read_mpm();
            let health = probe.measure();
            // Not while /proc blocks.
            let users = match health.blocked {
                None => process::proc::time_boxed(USERS_TIME_BOX, move |_| serving_users(pids))
                    .unwrap_or_default(),
                Some(_) => HashMap::new(),
            };
            let _ = tx.send(Kernel {
                live: Some(live),
                health: Some(health),
                users,
            });
        })
        .ok()?;
        Some(rx)
    }
}

/// The name of the user serving each of `pids`, escaped.
fn serving_users(pids: Vec<i32>) -> HashMap<i32, String> {
    process::users::serving_user_names(pids)
        .into_iter()
        .map(|(pid, name)| (pid, escape_str(&name)))
        .collect()
}

/// How long the users' `/proc` reads may take.
const USERS_TIME_BOX: Duration = Duration::from_secs(1);

/// How long the plain frame waits for the kernel's view (its own time
/// boxes end it sooner).
const KERNEL_WAIT: Duration = Duration::from_secs(5);

impl Source {
    fn open(options: Options) -> anyhow::Result<Source> {
        let watched = scoreboard::watch(&options.read).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Source {
            options,
            watched,
            kernel: Kernel::default(),
            measured: None,
            pending: None,
        })
    }

    /// The segment now, measured, with the kernel's view of its processes
    /// as last measured (`wait`: as measured now, for the one plain frame).
    fn sample(&mut self, wait: bool) -> anyhow::Result<Sample> {
        if !self.watched.is_current() && self.options.read.at.is_none() {
            // httpd stopped, or started again with a new segment.
            self.watched =
                scoreboard::watch(&self.options.read).map_err(|e| anyhow::anyhow!("{e}"))?;
            // Another server's processes: read with the next copy.
            self.kernel.live = None;
        }
        let mut loaded = self
            .watched
            .load(self.kernel.live.clone())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        crate::checks::know_the_server(&mut loaded, Some(self.options.capacity), 0);
        // Until the kernel's view (which reads it) arrives.
        loaded.learn_mpm();
        if self.pending.is_none() && self.measured.is_none_or(|t| t.elapsed() >= HEALTH_EVERY) {
            self.pending = Kernel::start(&loaded);
            self.measured = Some(Instant::now());
        }
        if let Some(rx) = &self.pending {
            // Err(true): still under way.
            let got = if wait {
                rx.recv_timeout(KERNEL_WAIT)
                    .map_err(|e| e == mpsc::RecvTimeoutError::Timeout)
            } else {
                rx.try_recv().map_err(|e| e == mpsc::TryRecvError::Empty)
            };
            match got {
                Ok(k) => {
                    self.kernel = k;
                    self.pending = None;
                }
                Err(true) => {}
                // Ended without a word: the next refresh starts another.
                Err(false) => self.pending = None,
            }
        }
        let mut sample = Sample::measure(
            &loaded,
            self.options.capacity,
            self.options.privacy,
            self.kernel.health.clone(),
        );
        for w in &mut sample.workers {
            w.user = self.kernel.users.get(&w.pid).cloned();
        }
        Ok(sample)
    }
}

/// One sample of the segment `options` name, as the first frame shows it
/// (for tests and benchmarks: the live view keeps the segment open).
pub fn sample(options: Options) -> anyhow::Result<Sample> {
    Source::open(options)?.sample(true)
}

/// Runs `top`: the plain frame (returned), or the live view until the
/// person or a signal ends it (an empty string then).
pub fn run(options: Options) -> anyhow::Result<String> {
    let interactive = options.interactive();
    let mut source = Source::open(options)?;
    let sample = source.sample(!interactive)?;
    if !interactive {
        return Ok(plain::render(&sample, &Ui::default()));
    }
    live(source, sample)?;
    Ok(String::new())
}

/// Signals that end the live view cleanly (the terminal restored, exit 0).
const STOP_SIGNALS: [i32; 4] = [
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGHUP,
    signal_hook::consts::SIGQUIT,
];

fn live(mut source: Source, mut sample: Sample) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in STOP_SIGNALS {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let mut screen = Screen::enter()?;
    let still = sample.still;
    let interval = source.options.interval.max(MIN_INTERVAL);
    let mut ui = Ui::default();
    let mut next = Instant::now() + interval;
    let mut dirty = true;
    while !stop.load(Ordering::SeqCst) {
        if dirty {
            screen.terminal.draw(|f| draw::draw(f, &sample, &ui))?;
            dirty = false;
        }
        let refreshing = !still && !ui.paused;
        let wait = if refreshing {
            next.saturating_duration_since(Instant::now()).min(POLL)
        } else {
            POLL
        };
        if event::poll(wait)? {
            match event::read()? {
                Event::Key(k) if k.kind != KeyEventKind::Release => {
                    let key = match (k.code, k.modifiers.contains(KeyModifiers::CONTROL)) {
                        (KeyCode::Char('c'), true) => Some(Key::Interrupt),
                        (KeyCode::Char(c), false) => Some(Key::Char(c)),
                        (KeyCode::Enter, _) => Some(Key::Enter),
                        (KeyCode::Esc, _) => Some(Key::Escape),
                        (KeyCode::Backspace, _) => Some(Key::Backspace),
                        (KeyCode::Up, _) => Some(Key::Up),
                        (KeyCode::Down, _) => Some(Key::Down),
                        (KeyCode::PageUp, _) => Some(Key::PageUp),
                        (KeyCode::PageDown, _) => Some(Key::PageDown),
                        (KeyCode::Home, _) => Some(Key::Home),
                        _ => None,
                    };
                    match key.map(|k| ui.key(k)) {
                        Some(Action::Quit) => break,
                        Some(Action::Changed) => {
                            ui.clamp_scroll(&sample);
                            dirty = true;
                        }
                        _ => {}
                    }
                }
                Event::Resize(..) => {
                    screen.terminal.autoresize()?;
                    dirty = true;
                }
                _ => {}
            }
        }
        if terminal::size().is_err() {
            // The terminal hung up (its window closed, the tmux server
            // killed) without a SIGHUP reaching us: nobody is looking.
            break;
        }
        if refreshing && Instant::now() >= next {
            sample = refreshed(&mut source, sample);
            next += interval;
            if next < Instant::now() {
                next = Instant::now() + interval;
            }
            dirty = true;
        }
    }
    drop(screen);
    Ok(())
}

/// The next sample, with rates since `previous`; on a failed read, the
/// previous figures with the reason.
fn refreshed(source: &mut Source, previous: Sample) -> Sample {
    match source.sample(false) {
        Ok(mut s) => {
            s.rates = view::Rates::between(&previous.counters, &s.counters);
            s
        }
        Err(e) => Sample {
            error: Some(format!("{e:#}")),
            rates: None,
            ..previous
        },
    }
}

/// The terminal in raw mode on the alternate screen; restored when
/// dropped, whichever way the live view ends (a panic unwinds through it).
struct Screen {
    terminal: Terminal<CrosstermBackend<Stdout>>,
    _restore: Restore,
}

impl Screen {
    fn enter() -> anyhow::Result<Screen> {
        // Armed first: whatever below fails, what was done is undone.
        let restore = Restore;
        terminal::enable_raw_mode()?;
        execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        )?;
        let terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
        Ok(Screen {
            terminal,
            _restore: restore,
        })
    }
}

struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = execute!(
            std::io::stdout(),
            terminal::LeaveAlternateScreen,
            cursor::Show
        );
        let _ = terminal::disable_raw_mode();
    }
}

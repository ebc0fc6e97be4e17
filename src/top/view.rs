//! What one refresh of `top` shows, measured once ([`Sample`]) from the
//! figures every consumer shares ([`crate::measure`]), and what the person
//! at the keyboard chose to see of it ([`Ui`]): view, sort, filter. Both
//! renderings (the terminal's [`super::draw`] and the plain frame,
//! [`super::plain`]) lay out the same text cells made here.

use crate::checks::{human_age, rfc3339};
use crate::measure::inflight::{request_shown, requests};
use crate::measure::tenants::{self, GroupBy, Tenancy};
use crate::measure::{percent, Capacity, Pool};
use crate::plugin::text::escape_bytes;
use crate::process::Health;
use crate::scoreboard::{status, Loaded};

/// What the caller may see of request lines and clients: query strings
/// and clients only when asked for and allowed (root, the caller's own
/// segment, a `show-details` allowlist entry), as for the checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Privacy {
    pub show_query: bool,
    pub show_clients: bool,
}

/// The request and byte counters of one sample, for rates between two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counters {
    /// µs since the epoch ("now" of the sample).
    pub at: i64,
    pub accesses: u64,
    pub bytes: u64,
}

/// Requests and kilobytes per second between two samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rates {
    pub requests: f64,
    pub kbytes: f64,
}

impl Rates {
    /// `None` when no time passed or a counter went down (a process left
    /// the scoreboard with its counts, or httpd restarted).
    pub fn between(before: &Counters, after: &Counters) -> Option<Rates> {
        let secs = (after.at - before.at) as f64 / 1e6;
        let accesses = after.accesses.checked_sub(before.accesses)?;
        let bytes = after.bytes.checked_sub(before.bytes)?;
        (secs > 0.0).then(|| Rates {
            requests: accesses as f64 / secs,
            kbytes: bytes as f64 / 1024.0 / secs,
        })
    }
}

/// One slot of the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    pub status: u8,
    /// Beyond the configured limits (mod_status leaves it out when dead).
    pub disabled: bool,
}

/// One process slot's row of the map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapRow {
    pub process_slot: usize,
    pub pid: i32,
    pub cells: Vec<Cell>,
}

/// A worker with a request in flight (or reading one), as shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerRow {
    pub pid: i32,
    pub slot: (usize, usize),
    pub state: char,
    /// µs; for `R`, since the worker last left idle.
    pub age: i64,
    /// Escaped; `None` when clients are not shown.
    pub client: Option<String>,
    /// Escaped; `(none)` for slots without one.
    pub vhost: String,
    /// Escaped, query string as `?…` unless shown.
    pub request: String,
    /// The user serving the request (mpm-itk: its per-connection child's),
    /// escaped; live servers only.
    pub user: Option<String>,
}

/// One vhost's busy workers (by mod_status's rule, as the checks count).
#[derive(Clone, Debug, PartialEq)]
pub struct GroupRow {
    pub name: String,
    pub busy: usize,
    /// Percent of the capacity, when known.
    pub share: Option<f64>,
    /// µs
    pub oldest: Option<i64>,
}

/// Everything one refresh shows, owned (the segment copy is dropped).
#[derive(Clone, Debug)]
pub struct Sample {
    /// The segment as named (escaped).
    pub source: String,
    /// `2.4.71`, or `2.4.71?` when assumed from the layout.
    pub version: String,
    /// `event`, or `event?` when guessed from the segment (an idle event
    /// server looks like worker: `--mpm` settles it).
    pub mpm: String,
    pub uptime: i64,
    pub generation: i32,
    /// "now" of the sample, µs since the epoch.
    pub now: i64,
    /// A snapshot read with `--at`: one still moment.
    pub still: bool,
    pub pool: Pool,
    pub counters: Counters,
    /// Set by the caller from the previous sample.
    pub rates: Option<Rates>,
    /// Live servers only (the listen queue, frozen children).
    pub health: Option<Health>,
    pub map: Vec<MapRow>,
    pub workers: Vec<WorkerRow>,
    pub groups: Vec<GroupRow>,
    /// Whether the client column is shown at all.
    pub clients_shown: bool,
    /// Why the latest refresh failed (the figures are the last good ones).
    pub error: Option<String>,
}

impl Sample {
    /// Measures `loaded` against `capacity`; `health` is the kernel's view
    /// of the live server, when measured.
    pub fn measure(
        loaded: &Loaded,
        capacity: Capacity,
        privacy: Privacy,
        health: Option<Health>,
    ) -> Sample {
        let sb = &loaded.scoreboard;
        let g = sb.global();
        let pool = Pool::measure(loaded, capacity);
        let show_query = privacy.show_query && loaded.details;
        let clients_shown = privacy.show_clients && loaded.details;
        let mut workers: Vec<WorkerRow> = requests(loaded, true)
            .map(|r| {
                let w = &r.worker;
                WorkerRow {
                    pid: w.pid(),
                    slot: (w.process_slot, w.thread_slot),
                    state: w.status_char(),
                    age: r.age,
                    client: clients_shown.then(|| or_dash(w.client())),
                    vhost: vhost_name(w.vhost()),
                    request: or_dash(&request_shown(w.request(), show_query)),
                    user: None,
                }
            })
            .collect();
        workers.sort_by_key(|w| std::cmp::Reverse(w.age));
        let capacity_known = pool.capacity;
        let mut groups: Vec<GroupRow> =
            tenants::measure(loaded, GroupBy::Vhost, &Tenancy::default())
                .into_iter()
                .map(|v| GroupRow {
                    name: vhost_name(&v.name),
                    busy: v.active,
                    share: capacity_known.map(|c| percent(v.active, c)),
                    oldest: v.oldest,
                })
                .collect();
        groups.sort_by(|a, b| b.busy.cmp(&a.busy).then_with(|| a.name.cmp(&b.name)));
        Sample {
            source: escape_bytes(loaded.shown.as_bytes()),
            version: format!(
                "{}{}",
                loaded.version,
                if loaded.version_known { "" } else { "?" }
            ),
            mpm: format!(
                "{}{}",
                loaded.mpm_guess().name(),
                if loaded.mpm.is_some() { "" } else { "?" }
            ),
            uptime: loaded.now.saturating_sub(g.restart_time).max(0),
            generation: g.running_generation,
            now: loaded.now,
            still: loaded.at_given,
            counters: Counters {
                at: loaded.now,
                accesses: pool.summary.total_accesses,
                bytes: pool.summary.total_bytes,
            },
            pool,
            rates: None,
            health,
            map: map(loaded, capacity),
            workers,
            groups,
            clients_shown,
            error: None,
        }
    }

    /// Whether any row names the serving user (the column is shown then).
    pub fn users_known(&self) -> bool {
        self.workers.iter().any(|w| w.user.is_some())
    }
}

/// Every process slot with its worker slots; those beyond the configured
/// limits marked disabled.
fn map(loaded: &Loaded, capacity: Capacity) -> Vec<MapRow> {
    let sb = &loaded.scoreboard;
    let limits = capacity.limits(loaded);
    sb.processes()
        .map(|p| MapRow {
            process_slot: p.slot,
            pid: p.pid,
            cells: sb
                .row(&p)
                .map(|w| Cell {
                    status: w.status(),
                    disabled: limits.disabled(p.slot, w.thread_slot),
                })
                .collect(),
        })
        .collect()
}

fn or_dash(b: &[u8]) -> String {
    if b.is_empty() {
        "-".into()
    } else {
        escape_bytes(b)
    }
}

fn vhost_name(b: &[u8]) -> String {
    if b.is_empty() {
        "(none)".into()
    } else {
        escape_bytes(b)
    }
}

/// Workers or vhosts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum View {
    #[default]
    Workers,
    Groups,
}

/// The order of the workers' table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WorkerSort {
    /// Oldest first.
    #[default]
    Age,
    Pid,
    Slot,
    Vhost,
}

/// The order of the vhosts' table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GroupSort {
    /// Most busy first.
    #[default]
    Busy,
    /// Oldest request first.
    Oldest,
    Name,
}

/// What a key did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Quit,
    /// Redraw.
    Changed,
    Nothing,
}

/// A key, as far as `top` cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Char(char),
    /// Ctrl-C.
    Interrupt,
    Enter,
    Escape,
    Backspace,
    /// Scrolling the table: a row, a page (`Page(±1)`), to the top.
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
}

/// Rows a page key scrolls.
pub const PAGE: usize = 10;

/// What the person at the keyboard chose.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ui {
    pub view: View,
    pub worker_sort: WorkerSort,
    pub group_sort: GroupSort,
    /// Case-insensitive text rows must contain (vhost, client or request).
    pub filter: String,
    /// The filter being typed after `/`.
    pub editing: Option<String>,
    pub paused: bool,
    pub help: bool,
    /// Rows of the table scrolled past.
    pub scroll: usize,
}

impl Ui {
    /// `q`/Ctrl-C quit, `p` pause, `s` sort, `v` view, `/` filter, `?`
    /// help; while a filter is typed, keys are its text (Enter keeps it,
    /// Escape drops it).
    pub fn key(&mut self, key: Key) -> Action {
        if key == Key::Interrupt {
            return Action::Quit;
        }
        if let Some(text) = &mut self.editing {
            match key {
                Key::Char(c) if !c.is_control() => text.push(c),
                Key::Backspace => {
                    text.pop();
                }
                Key::Enter => {
                    self.filter = self.editing.take().unwrap_or_default();
                    self.scroll = 0;
                }
                Key::Escape => {
                    self.editing = None;
                    self.filter.clear();
                }
                _ => return Action::Nothing,
            }
            return Action::Changed;
        }
        if self.help && key != Key::Char('q') {
            self.help = false;
            return Action::Changed;
        }
        match key {
            Key::Char('q') => return Action::Quit,
            Key::Char('p') => self.paused = !self.paused,
            Key::Char('s') => self.cycle_sort(),
            Key::Char('v') => {
                self.scroll = 0;
                self.view = match self.view {
                    View::Workers => View::Groups,
                    View::Groups => View::Workers,
                }
            }
            Key::Char('/') => self.editing = Some(self.filter.clone()),
            Key::Char('?') | Key::Char('h') => self.help = true,
            Key::Escape if !self.filter.is_empty() => self.filter.clear(),
            Key::Up => self.scroll = self.scroll.saturating_sub(1),
            Key::Down => self.scroll = self.scroll.saturating_add(1),
            Key::PageUp => self.scroll = self.scroll.saturating_sub(PAGE),
            Key::PageDown => self.scroll = self.scroll.saturating_add(PAGE),
            Key::Home => self.scroll = 0,
            _ => return Action::Nothing,
        }
        Action::Changed
    }

    /// Keeps the scroll within the current table's rows.
    pub fn clamp_scroll(&mut self, s: &Sample) {
        let rows = match self.view {
            View::Workers => self.workers(s).len(),
            View::Groups => self.groups(s).len(),
        };
        self.scroll = self.scroll.min(rows.saturating_sub(1));
    }

    fn cycle_sort(&mut self) {
        match self.view {
            View::Workers => {
                self.worker_sort = match self.worker_sort {
                    WorkerSort::Age => WorkerSort::Pid,
                    WorkerSort::Pid => WorkerSort::Slot,
                    WorkerSort::Slot => WorkerSort::Vhost,
                    WorkerSort::Vhost => WorkerSort::Age,
                }
            }
            View::Groups => {
                self.group_sort = match self.group_sort {
                    GroupSort::Busy => GroupSort::Oldest,
                    GroupSort::Oldest => GroupSort::Name,
                    GroupSort::Name => GroupSort::Busy,
                }
            }
        }
    }

    /// The sort of `view`'s table, in words.
    pub fn sort_name(&self, view: View) -> &'static str {
        match view {
            View::Workers => match self.worker_sort {
                WorkerSort::Age => "age",
                WorkerSort::Pid => "pid",
                WorkerSort::Slot => "slot",
                WorkerSort::Vhost => "vhost",
            },
            View::Groups => match self.group_sort {
                GroupSort::Busy => "busy",
                GroupSort::Oldest => "oldest",
                GroupSort::Name => "name",
            },
        }
    }

    fn passes(&self, texts: &[&str]) -> bool {
        let needle = self.editing.as_deref().unwrap_or(&self.filter);
        needle.is_empty() || {
            let needle = needle.to_lowercase();
            texts.iter().any(|t| t.to_lowercase().contains(&needle))
        }
    }

    /// The workers that pass the filter (matched as shown: a hidden query
    /// string or client cannot be probed), in the chosen order.
    pub fn workers<'s>(&self, s: &'s Sample) -> Vec<&'s WorkerRow> {
        let mut rows: Vec<&WorkerRow> = s
            .workers
            .iter()
            .filter(|w| self.passes(&[&w.vhost, w.client.as_deref().unwrap_or(""), &w.request]))
            .collect();
        match self.worker_sort {
            // Sample::measure keeps them oldest first.
            WorkerSort::Age => {}
            WorkerSort::Pid => rows.sort_by_key(|w| (w.pid, w.slot)),
            WorkerSort::Slot => rows.sort_by_key(|w| w.slot),
            WorkerSort::Vhost => rows.sort_by(|a, b| a.vhost.cmp(&b.vhost)),
        }
        rows
    }

    /// The vhosts that pass the filter, in the chosen order.
    pub fn groups<'s>(&self, s: &'s Sample) -> Vec<&'s GroupRow> {
        let mut rows: Vec<&GroupRow> = s
            .groups
            .iter()
            .filter(|g| self.passes(&[&g.name]))
            .collect();
        match self.group_sort {
            GroupSort::Busy => {}
            GroupSort::Oldest => rows.sort_by_key(|g| std::cmp::Reverse(g.oldest)),
            GroupSort::Name => rows.sort_by(|a, b| a.name.cmp(&b.name)),
        }
        rows
    }
}

// The text both renderings lay out.

/// `httpd 2.4.71 event · up 1h02m · generation 3 · /run/apache2/sb`, with
/// the moment of a still view or that the view is paused.
pub fn title_line(s: &Sample, ui: &Ui) -> String {
    let mut line = format!(
        "httpd {} {} · up {} · generation {} · {}",
        s.version,
        s.mpm,
        human_age(s.uptime),
        s.generation,
        s.source
    );
    if s.still {
        line.push_str(&format!(" · at {}", rfc3339(s.now)));
    }
    if ui.paused {
        line.push_str(" · PAUSED");
    }
    line
}

/// `busy 3 · idle 9 · graceful 0 · open 0 of 12 (25%)`.
pub fn pool_line(s: &Sample) -> String {
    let p = &s.pool;
    let sum = &p.summary;
    let capacity = match (p.capacity, p.open, p.busy_pct) {
        (Some(c), Some(open), Some(pct)) => format!(" · open {open} of {c} ({pct:.0}% busy)"),
        _ => " · capacity unknown (--max-workers)".into(),
    };
    format!(
        "busy {} · idle {} · graceful {}{capacity}",
        sum.busy, sum.idle, sum.graceful
    )
}

/// `req/s 12.3 · kB/s 45.6 · listen queue 0 · frozen none`.
pub fn rates_line(s: &Sample) -> String {
    let (req, kb) = s.rates.map_or(("-".into(), "-".into()), |r| {
        (format!("{:.1}", r.requests), format!("{:.1}", r.kbytes))
    });
    let queue = match s.health.as_ref().and_then(|h| h.listen.as_ref()) {
        Some(Ok(q)) => q.queued().to_string(),
        Some(Err(_)) => "unreadable".into(),
        None => "-".into(),
    };
    format!(
        "req/s {req} · kB/s {kb} · listen queue {queue} · frozen {}",
        frozen(s.health.as_ref())
    )
}

/// Frozen children in words: `none`, `2 stopped (12, 13)`, ...
fn frozen(health: Option<&Health>) -> String {
    let Some(h) = health else {
        return "-".into();
    };
    let pids = |l: &[i32]| {
        l.iter()
            .take(5)
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut said = Vec::new();
    if let Some(b) = &h.blocked {
        said.push(format!("hung reading /proc ({b})"));
    }
    for (what, list) in [
        ("stopped", &h.stopped),
        ("in D", &h.uninterruptible),
        ("orphaned", &h.orphaned),
    ] {
        if !list.is_empty() {
            said.push(format!("{} {what} ({})", list.len(), pids(list)));
        }
    }
    if h.hung() {
        said.push("hung: queue not accepted".into());
    }
    if said.is_empty() {
        "none".into()
    } else {
        said.join(", ")
    }
}

/// The workers' column titles, with the optional columns shown.
pub fn worker_titles(s: &Sample) -> Vec<&'static str> {
    let mut t = vec!["PID", "SLOT", "ST", "AGE"];
    if s.clients_shown {
        t.push("CLIENT");
    }
    t.push("VHOST");
    if s.users_known() {
        t.push("USER");
    }
    t.push("REQUEST");
    t
}

/// One worker's cells, matching [`worker_titles`].
pub fn worker_cells(s: &Sample, w: &WorkerRow) -> Vec<String> {
    let mut c = vec![
        w.pid.to_string(),
        format!("{}-{}", w.slot.0, w.slot.1),
        w.state.to_string(),
        human_age(w.age),
    ];
    if s.clients_shown {
        c.push(w.client.clone().unwrap_or_default());
    }
    c.push(w.vhost.clone());
    if s.users_known() {
        c.push(w.user.clone().unwrap_or_else(|| "-".into()));
    }
    c.push(w.request.clone());
    c
}

pub const GROUP_TITLES: [&str; 4] = ["VHOST", "BUSY", "SHARE", "OLDEST"];

/// One vhost's cells, matching [`GROUP_TITLES`].
pub fn group_cells(g: &GroupRow) -> Vec<String> {
    vec![
        g.name.clone(),
        g.busy.to_string(),
        g.share.map_or("-".into(), |p| format!("{p:.0}%")),
        g.oldest.map_or("-".into(), human_age),
    ]
}

/// The workers' table title.
pub fn workers_title(s: &Sample, ui: &Ui, shown: usize) -> String {
    table_title(
        "Workers in flight",
        shown,
        s.workers.len(),
        ui,
        View::Workers,
    )
}

/// The vhosts' table title.
pub fn groups_title(s: &Sample, ui: &Ui, shown: usize) -> String {
    table_title(
        "Busy workers per vhost",
        shown,
        s.groups.len(),
        ui,
        View::Groups,
    )
}

/// `What: 2 of 5 · sort age · filter "b.test"`.
fn table_title(what: &str, shown: usize, all: usize, ui: &Ui, view: View) -> String {
    let of = if shown == all {
        String::new()
    } else {
        format!(" of {all}")
    };
    format!(
        "{what}: {shown}{of} · sort {}{}",
        ui.sort_name(view),
        filter_note(ui)
    )
}

fn filter_note(ui: &Ui) -> String {
    match (&ui.editing, ui.filter.is_empty()) {
        (Some(_), _) | (None, true) => String::new(),
        (None, false) => format!(" · filter \"{}\"", ui.filter),
    }
}

/// The map's legend.
pub const LEGEND: &str =
    "_ idle  W write  R read  K keepalive  L log  D dns  C closing  G graceful  I cleanup  S start  . open";

/// Whether a status is one the busy rule counts as busy (for colour).
pub fn busy_status(s: u8) -> bool {
    !matches!(
        s,
        status::DEAD | status::STARTING | status::READY | status::IDLE_KILL | status::GRACEFUL
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_need_time_and_growing_counters() {
        let a = Counters {
            at: 0,
            accesses: 10,
            bytes: 0,
        };
        let b = Counters {
            at: 2_000_000,
            accesses: 30,
            bytes: 4096,
        };
        assert_eq!(
            Rates::between(&a, &b),
            Some(Rates {
                requests: 10.0,
                kbytes: 2.0
            })
        );
        assert_eq!(Rates::between(&b, &a), None);
        assert_eq!(Rates::between(&a, &a), None);
    }

    #[test]
    fn keys() {
        let mut ui = Ui::default();
        assert_eq!(ui.key(Key::Char('v')), Action::Changed);
        assert_eq!(ui.view, View::Groups);
        ui.key(Key::Char('s'));
        assert_eq!(ui.sort_name(View::Groups), "oldest");
        ui.key(Key::Char('/'));
        ui.key(Key::Char('q'));
        assert_eq!(ui.editing.as_deref(), Some("q"));
        ui.key(Key::Enter);
        assert_eq!(ui.filter, "q");
        assert_eq!(ui.key(Key::Char('q')), Action::Quit);
        assert_eq!(ui.key(Key::Interrupt), Action::Quit);
        ui.key(Key::Char('?'));
        assert!(ui.help);
        ui.key(Key::Char('x'));
        assert!(!ui.help);
        ui.key(Key::PageDown);
        ui.key(Key::Up);
        assert_eq!(ui.scroll, PAGE - 1);
        ui.key(Key::Home);
        assert_eq!(ui.scroll, 0);
    }
}

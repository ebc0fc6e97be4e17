//! The three checks and what they share: probe (load the scoreboard), judge
//! (each check's file), say (an [`Outcome`]). This module owns the common
//! options, the stale-segment policy and the `-v` diagnostics.

pub mod busy;
pub mod cluster;
pub mod stuck;
pub mod vhost;

use std::time::{Duration, UNIX_EPOCH};

use crate::httpd::RunningConfig;
use crate::measure::{self, Capacity};
use crate::plugin::output::Outcome;
use crate::plugin::text::glob_match;
use crate::plugin::State;
use crate::scoreboard::{self, Loaded, ReadOptions};

/// What httpd not running reports (no segment and no httpd process, or a
/// stale segment: no process named in it runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StalePolicy {
    Critical,
    Unknown,
    /// OK with the same text; a stale segment is evaluated as if httpd ran.
    Ok,
}

/// What frozen or hung httpd processes report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FrozenPolicy {
    Critical,
    Warning,
    /// Name them in the status line only.
    Ok,
}

impl FrozenPolicy {
    fn state(self) -> State {
        match self {
            FrozenPolicy::Critical => State::Critical,
            FrozenPolicy::Warning => State::Warning,
            FrozenPolicy::Ok => State::Ok,
        }
    }
}

/// The states httpd's own condition sets, whatever the check judges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policies {
    pub stale: StalePolicy,
    pub frozen: FrozenPolicy,
}

/// Loads the scoreboard the options name; errors name the file (the
/// reading layers attach it).
pub fn load(opts: &ReadOptions) -> anyhow::Result<Loaded> {
    use scoreboard::Error as E;
    // One line, `<file>: <what is wrong>`. Display only, not the `{:#}`
    // chain, which would repeat an I/O error's text with its os error code.
    scoreboard::load(opts).map_err(|e| match e {
        // Kept typed: `run` reports it with the --stale state.
        E::Shm(crate::shm::Error::NotRunning { .. }) => anyhow::Error::new(e),
        _ => anyhow::anyhow!("{e}"),
    })
}

/// Probe, measure the processes, then judge with `check`, then add the
/// diagnostics `-v` asks for. `capacity`: the check measures against the
/// worker pool.
pub fn run(
    source: &ReadOptions,
    policies: Policies,
    verbose: u8,
    capacity: Option<Capacity>,
    check: impl FnOnce(&Loaded) -> Outcome,
) -> Outcome {
    match load(source) {
        Err(e) => match e.downcast_ref::<scoreboard::Error>() {
            Some(scoreboard::Error::Shm(crate::shm::Error::NotRunning { looked })) => {
                let mut o = Outcome::new(not_running_state(policies.stale), "httpd is not running");
                o.long.push(looked.clone());
                o
            }
            _ => Outcome::unknown(format!("{e:#}")),
        },
        Ok(mut loaded) => {
            know_the_server(&mut loaded, capacity, verbose);
            loaded.health = measure::health(&loaded);
            let health = loaded.health.as_ref();
            let mut outcome = match stale_outcome(&loaded, policies.stale) {
                Some(o) if health.is_none_or(|h| h.orphaned.is_empty()) => o,
                _ => check(&loaded),
            };
            if let Some(h) = health {
                report_health(&mut outcome, h, policies.frozen);
            }
            if verbose > 0 {
                loaded.learn_mpm();
            }
            outcome.long.extend(diagnostics(&loaded, capacity, verbose));
            outcome
        }
    }
}

fn not_running_state(policy: StalePolicy) -> State {
    match policy {
        StalePolicy::Critical => State::Critical,
        StalePolicy::Unknown => State::Unknown,
        StalePolicy::Ok => State::Ok,
    }
}

fn stale_outcome(loaded: &Loaded, policy: StalePolicy) -> Option<Outcome> {
    if !loaded.is_stale() || policy == StalePolicy::Ok {
        return None;
    }
    let mut o = Outcome::new(
        not_running_state(policy),
        format!(
            "httpd is not running: stale scoreboard since {}",
            rfc3339(loaded.last_activity())
        ),
    );
    o.long.push(format!(
        "no process named in {} is alive; a snapshot is evaluated with --at",
        loaded.origin.describe()
    ));
    Some(o)
}

/// Frozen and hung processes first in the status line, waiting connections
/// last; frozen or hung makes the state `policy`'s unless the check's is
/// already more severe (an UNKNOWN check is not).
fn report_health(o: &mut Outcome, h: &crate::process::Health, policy: FrozenPolicy) {
    let mut said = Vec::new();
    if let Some(blocked) = &h.blocked {
        said.push(format!("httpd hung: {blocked}"));
    }
    if !h.orphaned.is_empty() {
        said.push(format!(
            "httpd parent no longer runs, its {} still run: {}",
            plural(h.orphaned.len(), "child", "children"),
            pids(&h.orphaned)
        ));
    }
    let (parent, children): (Vec<i32>, Vec<i32>) =
        h.stopped.iter().partition(|&&p| Some(p) == h.parent);
    if let Some(p) = parent.first() {
        said.push(format!("httpd parent {p} stopped"));
    }
    if !children.is_empty() {
        said.push(format!(
            "{} stopped: {}",
            plural(children.len(), "child", "children"),
            pids(&children)
        ));
    }
    if !h.uninterruptible.is_empty() {
        said.push(format!(
            "{} in uninterruptible sleep (D) for {} s: {}",
            plural(h.uninterruptible.len(), "child", "children"),
            crate::process::RESAMPLE.as_secs(),
            pids(&h.uninterruptible)
        ));
    }
    if h.hung() {
        said.push("hung: connections waiting while workers are idle".into());
    }
    if h.frozen() || h.hung() {
        // A frozen server is a finding, more telling than what the check
        // could not determine: it also replaces UNKNOWN.
        let frozen = policy.state();
        if frozen != State::Ok
            && (o.state == State::Unknown || frozen.exit_code() > o.state.exit_code())
        {
            o.state = frozen;
        }
    }
    said.push(std::mem::take(&mut o.summary));
    if let Some(n @ 1..) = h.queued() {
        said.push(format!(
            "{} waiting to be accepted",
            plural(n as usize, "connection", "connections")
        ));
    }
    o.summary = said.join("; ");
}

/// `1 child`, `3 children`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Pids for the status line: the first ten, then how many more.
fn pids(list: &[i32]) -> String {
    const SHOWN: usize = 10;
    let mut text = list
        .iter()
        .take(SHOWN)
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if list.len() > SHOWN {
        text.push_str(&format!(" and {} more", list.len() - SHOWN));
    }
    text
}

/// Reads the running httpd's configuration when the pool or `-v` needs it
/// (once: the check and its `-v` lines share it), and takes the httpd
/// version from its binary where the layout only implied one.
pub fn know_the_server(loaded: &mut Loaded, capacity: Option<Capacity>, verbose: u8) {
    if !(verbose > 0 || capacity.is_some_and(|c| c.needs_configuration())) {
        return;
    }
    if let Some(server) = measure::running_httpd(loaded) {
        if let Ok(config) = server.as_ref() {
            if let (Some(v), false) = (config.version, loaded.version_known) {
                loaded.version = v;
                loaded.version_known = true;
            }
            if loaded.mpm.is_none() {
                loaded.mpm = config.conf.mpm.as_ref().map(|m| m.value);
            }
        }
    }
}

/// `-v` lines: 1 = where the numbers come from, 2 = times and processes,
/// 3 = every process slot.
fn diagnostics(loaded: &Loaded, capacity: Option<Capacity>, verbose: u8) -> Vec<String> {
    let mut lines = Vec::new();
    if verbose == 0 {
        return lines;
    }
    let sb = &loaded.scoreboard;
    let g = sb.global();
    lines.push(format!(
        "scoreboard: {}, layout {}, ServerLimit {}, ThreadLimit {}, generation {}",
        loaded.origin.describe(),
        sb.layout().name(),
        g.server_limit,
        g.thread_limit,
        g.running_generation
    ));
    lines.push(format!(
        "httpd {} ({}), {} MPM ({}), counted as mod_status {} counts",
        loaded.version,
        if loaded.version_known {
            "of the binary"
        } else {
            "assumed from the layout"
        },
        loaded.mpm_guess().name(),
        if loaded.mpm.is_some() {
            "of the running server or --mpm"
        } else {
            "guessed from the segment"
        },
        loaded.rules().describe()
    ));
    match loaded.health.as_ref().and_then(|h| h.listen.as_ref()) {
        Some(Ok(q)) => lines.extend(q.sockets.iter().map(|s| {
            format!(
                "listening on {}: {} waiting to be accepted, backlog {}",
                s.address,
                s.queued,
                s.backlog.map_or("unknown".into(), |b| b.to_string())
            )
        })),
        Some(Err(why)) => lines.push(format!("listen queue not measured: {why}")),
        None => {}
    }
    if let Some(c) = capacity {
        lines.extend(c.resolve(loaded).provenance);
    }
    if let Some(server) = measure::running_httpd(loaded) {
        let restart = UNIX_EPOCH
            + Duration::from_micros(loaded.scoreboard.global().restart_time.max(0) as u64);
        lines.extend(server_lines(&server, restart, verbose));
    }
    if verbose >= 2 {
        lines.push(format!(
            "now {}, restart {}",
            rfc3339(loaded.now),
            rfc3339(g.restart_time)
        ));
        if let Some(live) = &loaded.live {
            lines.push(match live.parent {
                Some(parent) => format!(
                    "httpd parent pid {parent}, live children {}",
                    pids(&live.live_children)
                ),
                None => "no live httpd process named in the scoreboard".into(),
            });
        }
    }
    if verbose >= 3 {
        for p in sb.processes().filter(|p| p.pid != 0) {
            lines.push(format!(
                "process slot {} pid {} generation {} quiescing {} connections {} keepalive {} closing {}",
                p.slot, p.pid, p.generation, p.quiescing, p.connections, p.keep_alive, p.lingering_close
            ));
        }
    }
    lines
}

/// What `-v` says about the running httpd: its binary, configuration and
/// MPM; `-vv` adds what httpd would have warned about.
fn server_lines(
    server: &Result<RunningConfig, String>,
    restart: std::time::SystemTime,
    verbose: u8,
) -> Vec<String> {
    let c = match server {
        Ok(c) => c,
        Err(e) => return vec![format!("httpd configuration: {e}")],
    };
    let mut lines = vec![format!(
        "httpd pid {}: {} {}, configuration {} ({} files), mpm {}",
        c.pid,
        c.binary
            .as_ref()
            .map_or("(binary unknown)".into(), |b| b.display().to_string()),
        c.version
            .map_or("(version unknown)".into(), |v| v.to_string()),
        c.conf.config_file.display(),
        c.conf.files.len(),
        c.conf.mpm.as_ref().map_or("unknown".into(), |m| format!(
            "{} ({})",
            crate::httpd::mpm_name(m.value),
            m.source
        )),
    )];
    lines.extend(
        c.conf
            .incomplete
            .iter()
            .map(|i| format!("configuration incomplete: {i}")),
    );
    lines.extend(c.changed_notes(restart));
    if verbose >= 2 {
        lines.extend(c.conf.notes.iter().map(|n| format!("configuration: {n}")));
    }
    lines
}

/// µs since the epoch as RFC 3339 (UTC, second precision).
pub fn rfc3339(us: i64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_micros(us.max(0) as u64))
        .to_string()
}

/// A request age for people: `3.8s`, `4m12s`, `2h05m`.
pub fn human_age(us: i64) -> String {
    let s = us.max(0) as f64 / 1e6;
    if s < 60.0 {
        format!("{s:.1}s")
    } else if s < 3600.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{}h{:02}m", (s / 3600.0) as u64, (s % 3600.0 / 60.0) as u64)
    }
}

/// Comma-separated globs (`*`, `?`; no brackets or `|`, which NRPE refuses).
#[derive(Clone, Debug, Default)]
pub struct Globs(Vec<String>);

impl std::str::FromStr for Globs {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let globs: Vec<String> = s
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(String::from)
            .collect();
        if globs.is_empty() {
            return Err(format!("invalid pattern list '{s}': empty"));
        }
        Ok(Globs(globs))
    }
}

impl Globs {
    /// Whether any glob matches the whole of `text`.
    pub fn matches(&self, text: &[u8], ignore_case: bool) -> bool {
        self.0
            .iter()
            .any(|g| glob_match(g.as_bytes(), text, ignore_case))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match(b"*.test", b"a.test", false));
        assert!(glob_match(b"a.t?st:*", b"a.test:80", false));
        assert!(!glob_match(b"a.test", b"a.test:80", false));
        assert!(glob_match(b"GET /ws/*", b"GET /ws/chat HTTP/1.1", false));
        assert!(glob_match(b"A.TEST", b"a.test", true));
        assert!(!glob_match(b"*x*y", b"axbxc", false));
        assert!("a.test, b.*"
            .parse::<Globs>()
            .unwrap()
            .matches(b"b.example", false));
        assert!(",".parse::<Globs>().is_err());
    }

    #[test]
    fn ages() {
        assert_eq!(human_age(3_843_253), "3.8s");
        assert_eq!(human_age(252_000_000), "4m12s");
        assert_eq!(human_age(7_500_000_000), "2h05m");
    }
}

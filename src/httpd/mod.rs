//! The configuration a running httpd was started with, read the way httpd
//! reads it, and the MPM figures it runs with.
//!
//! [`RunningConfig::inspect`] takes the pid of an httpd parent and follows
//! what httpd did at start-up: its binary and `-d`/`-f`/`-C`/`-c`/`-D`
//! arguments and environment ([`process`]), the configuration files with
//! their Includes, conditional sections, `Define`s and `${VAR}`s
//! ([`conf`]), then the MPM's defaults and its own adjustments ([`mpm`]).
//! Every figure carries where it came from ([`Source`]).
//!
//! Every file is hostile input: reads are bounded, non-regular files are
//! refused, invalid UTF-8 is kept as bytes, Include depth and the number of
//! files are bounded; nothing here panics. Nothing here needs or uses a
//! privilege: it runs after the capabilities are dropped, with the rights
//! of whoever runs the check (root under sudo, or nagios). What it cannot
//! read makes the configuration [incomplete](RunningConfig::incomplete), and
//! capacity then unknown rather than guessed.

pub mod conf;
pub mod mpm;
pub mod process;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::scoreboard::{HttpdVersion, Mpm};

pub use conf::VirtualHost;
pub use mpm::MpmFigures;

/// Where a figure came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A directive in a configuration file (line of the directive's start).
    File { path: Arc<Path>, line: usize },
    /// A `-C` or `-c` directive on httpd's command line.
    CommandLine(String),
    /// Not configured: httpd's compiled-in default.
    Default,
    /// The running scoreboard segment (ServerLimit and ThreadLimit cannot
    /// change on a restart, so the segment's win over edited files).
    Segment,
    /// The process's memory maps (the MPM module it has loaded).
    Maps,
    /// Given on our own command line.
    Given,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File { path, line } => write!(f, "{} line {line}", path.display()),
            Source::CommandLine(arg) => write!(f, "httpd command line {arg}"),
            Source::Default => f.write_str("httpd default"),
            Source::Segment => f.write_str("the running scoreboard"),
            Source::Maps => f.write_str("the process's loaded modules"),
            Source::Given => f.write_str("command line"),
        }
    }
}

/// A value and where it came from; `adjusted` says what httpd changed
/// (with its log message number), as it does at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Figure<T> {
    pub value: T,
    pub source: Source,
    pub adjusted: Option<String>,
}

impl<T> Figure<T> {
    pub fn new(value: T, source: Source) -> Figure<T> {
        Figure {
            value,
            source,
            adjusted: None,
        }
    }

    pub fn default(value: T) -> Figure<T> {
        Figure::new(value, Source::Default)
    }
}

impl<T: fmt::Display> Figure<T> {
    /// `150 (/etc/apache2/mods-enabled/mpm_event.conf line 9)`, with httpd's
    /// adjustment after a `;`.
    pub fn describe(&self) -> String {
        match &self.adjusted {
            None => format!("{} ({})", self.value, self.source),
            Some(why) => format!("{} ({}; {why})", self.value, self.source),
        }
    }
}

/// A reading shared by everything one run prints.
pub type Shared = Arc<Result<RunningConfig, String>>;

/// Which start of one httpd parent a configuration was read for: the
/// segment's restart time (a full restart, SIGHUP) and running generation
/// (advanced by every restart, graceful ones too, which keep the restart
/// time). `None` where no segment tells (`instances`).
pub type Generation = Option<(i64, i32)>;

/// What one running httpd was started with.
#[derive(Clone, Debug)]
pub struct RunningConfig {
    pub pid: i32,
    /// The executable (from `/proc/PID/exe`, else its absolute argv[0]).
    pub binary: Option<PathBuf>,
    /// The binary's `Apache/2.x.y` string.
    pub version: Option<HttpdVersion>,
    /// The configuration files as parsed, with the MPM the process has
    /// loaded (`conf.mpm`) and what contradicts the process
    /// (`conf.incomplete`).
    pub conf: conf::Parsed,
    /// ServerLimit, ThreadLimit, ThreadsPerChild, MaxRequestWorkers as
    /// httpd runs with them (`None` without an MPM).
    pub figures: Option<MpmFigures>,
}

impl RunningConfig {
    /// Reads the configuration the httpd parent `pid` was started with,
    /// with the caller's own rights only: no capability is effective here
    /// (`shm::privilege` raises them around a segment's open alone).
    pub fn inspect(pid: i32) -> Result<RunningConfig, String> {
        let started = process::Started::read(pid)?;
        Ok(Self::from_started(&started))
    }

    /// Reads the configuration as `started` describes it (also for tests,
    /// which build a [`process::Started`] by hand).
    pub fn from_started(started: &process::Started) -> RunningConfig {
        let mut conf = conf::read(started);
        conf.mpm = match (conf.mpm.take(), started.maps_mpm) {
            (Some(c), Some(m)) if c.value != m => {
                conf.incomplete.push(format!(
                    "the configuration loads the {} MPM but the process runs {}: the files changed since httpd started",
                    mpm_name(c.value),
                    mpm_name(m)
                ));
                Some(Figure::new(m, Source::Maps))
            }
            (Some(c), _) => Some(c),
            (None, Some(m)) => Some(Figure::new(m, Source::Maps)),
            (None, None) => started.static_mpm.map(|m| Figure::new(m, Source::Default)),
        };
        let figures = conf
            .mpm
            .as_ref()
            .map(|m| mpm::figures(m.value, &conf.mpm_directives));
        if conf.mpm.is_none() {
            conf.incomplete
                .push("no MPM found (no LoadModule mpm_*_module, none compiled in)".into());
        }
        RunningConfig {
            pid: started.pid,
            binary: started.binary.clone(),
            version: started.version,
            conf,
            figures,
        }
    }

    /// [`RunningConfig::inspect`] once per pid and `generation`: the
    /// checks, their `-v` lines and `status` share one reading, and a
    /// long-running consumer reads the configuration again after httpd
    /// restarted. The segment's restart time alone would not do: a
    /// graceful restart keeps it (httpd creates the scoreboard again only
    /// on a full restart) and only advances the running generation.
    pub fn shared(pid: i32, generation: Generation) -> Shared {
        static READ: Mutex<Vec<(i32, Generation, Shared)>> = Mutex::new(Vec::new());
        let mut read = READ.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, c)) = read.iter().find(|(p, g, _)| *p == pid && *g == generation) {
            return Arc::clone(c);
        }
        let c = Arc::new(RunningConfig::inspect(pid));
        read.retain(|(p, _, _)| *p != pid);
        read.push((pid, generation, Arc::clone(&c)));
        c
    }

    /// The figures with ServerLimit and ThreadLimit as the running
    /// scoreboard has them: httpd keeps the first ones across restarts
    /// (AH00501/AH00304), so files edited since do not change them.
    pub fn figures_with_limits(&self, server_limit: usize, thread_limit: usize) -> MpmFigures {
        let mut directives = self.conf.mpm_directives.clone();
        for (name, value) in [("ServerLimit", server_limit), ("ThreadLimit", thread_limit)] {
            directives.push(conf::MpmDirective {
                name,
                value: i64::try_from(value).unwrap_or(i64::MAX),
                source: Source::Segment,
            });
        }
        match &self.conf.mpm {
            Some(m) => mpm::figures(m.value, &directives),
            None => mpm::figures(Mpm::Event, &directives),
        }
    }

    /// When the process started, read when asked (`instances` shows the
    /// files changed since; a check needs neither /proc/PID/stat a second
    /// time nor /proc/stat for it).
    pub fn started_at(&self) -> Option<SystemTime> {
        process::started_at(self.pid)
    }

    /// The configuration files modified after `t`: what they say now may not
    /// be what httpd runs with.
    pub fn changed_since(&self, t: SystemTime) -> Vec<&Path> {
        self.conf
            .files
            .iter()
            .filter(|f| {
                std::fs::metadata(f)
                    .and_then(|m| m.modified())
                    .is_ok_and(|m| m > t)
            })
            .map(|f| &**f)
            .collect()
    }

    /// One line per file modified after `full_restart`, the segment's
    /// restart time. Only a full restart recreates the scoreboard; a graceful
    /// one re-reads the files and keeps that time, and neither the segment
    /// nor the parent process (same pid, same start) records when it came,
    /// so a file may already be applied: the line says so.
    pub fn changed_notes(&self, full_restart: SystemTime) -> Vec<String> {
        self.changed_since(full_restart)
            .iter()
            .map(|f| {
                format!(
                    "{} changed since httpd's last full restart (a graceful restart since \
                     would have applied it): figures are as the file says now",
                    f.display()
                )
            })
            .collect()
    }

    /// MaxRequestWorkers and ThreadsPerChild as httpd runs with them, or
    /// why they are not known.
    pub fn capacity(&self) -> Result<&MpmFigures, String> {
        if let Some(why) = self.conf.incomplete.first() {
            return Err(format!(
                "httpd pid {}'s configuration could not be read fully ({why})",
                self.pid
            ));
        }
        self.figures
            .as_ref()
            .ok_or_else(|| format!("httpd pid {}: no MPM found", self.pid))
    }

    /// The addresses the Listen directives bind: (address, port); `None`
    /// for every address (`Listen 80`). Unparsable ones are left out.
    pub fn listen_addresses(&self) -> Vec<(Option<std::net::IpAddr>, u16)> {
        self.conf
            .listen
            .iter()
            .filter_map(|l| parse_listen(&l.value))
            .collect()
    }

    /// The line to add for a named scoreboard: `ScoreBoardFile
    /// /run/apache2/apache_scoreboard` (Debian) or below ServerRoot.
    pub fn scoreboard_file_suggestion(&self) -> String {
        let dir = if Path::new("/run/apache2").is_dir() {
            PathBuf::from("/run/apache2")
        } else if Path::new("/run/httpd").is_dir() {
            PathBuf::from("/run/httpd")
        } else {
            self.conf.server_root.join("logs")
        };
        format!("ScoreBoardFile {}", dir.join("apache_scoreboard").display())
    }
}

/// `Listen [addr:]port [protocol]` as httpd reads it: `80`,
/// `192.0.2.1:8080`, `[2001:db8::1]:443 https`.
pub fn parse_listen(listen: &str) -> Option<(Option<std::net::IpAddr>, u16)> {
    let word = listen.split_whitespace().next()?;
    match word.rsplit_once(':') {
        None => Some((None, word.parse().ok()?)),
        Some((host, port)) => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let addr = match host {
                "*" | "" => None,
                h => Some(h.parse().ok()?),
            };
            Some((addr, port.parse().ok()?))
        }
    }
}

pub fn mpm_name(m: Mpm) -> &'static str {
    match m {
        Mpm::Prefork => "prefork",
        Mpm::Worker => "worker",
        Mpm::Event => "event",
    }
}

#[cfg(test)]
mod tests;

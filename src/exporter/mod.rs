//! `exporter`: a long-running Prometheus exporter that answers from the
//! segment whatever state httpd is in.
//!
//! Each scoreboard is opened once (with the capability raised just for
//! that, when the process has one) and copied on every scrape; a scrape
//! never talks to httpd, never writes the segment, and takes the same
//! mod_status rules as the checks ([`crate::prometheus`]). When httpd
//! stops, the copy fails or the name no longer gives the kept segment,
//! and the scrape says `apache_up 0`; when httpd starts again and creates
//! a new segment under the same name, the next scrape opens that one.
//!
//! The exporter runs with default signal actions (it handles SIGTERM and
//! SIGINT itself), so it never maps a segment: every scrape copies it
//! ([`Opened::copy_unmapped`]), and a segment that shrinks under it, even
//! at root's hand, is `apache_up 0` and a line on stdout (the journal),
//! never a SIGBUS. Each change between readable and not is logged once.
//!
//! Several httpd instances: the multi-target pattern (`/probe?target=`,
//! like the blackbox and snmp exporters), limited to the scoreboards
//! named on the command line and in the allowlist. Each instance then
//! keeps apache_exporter's series names unchanged under its own
//! `instance` label, which is what the dashboards and alerts written for
//! apache_exporter group by; one scrape with a `scoreboard` label on every
//! series would change every one of their queries.

pub mod serve;

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use crate::measure::Capacity;
use crate::plugin::text::{escape_bytes, escape_str};
use crate::prometheus::{self, Exposition, Server};
use crate::scoreboard::{self, Loaded, ReadOptions, Settled};
use crate::shm::locate::{self, Opened};
use crate::shm::{privilege, Error};

/// One scoreboard the exporter may read.
struct Target {
    /// As given (`--scoreboard`, an allowlist line): the `target` of
    /// `/probe`.
    spec: PathBuf,
    opened: Mutex<Option<Opened>>,
    /// Whether the last scrape read it (`None`: not scraped yet), so the
    /// log says each change once.
    readable: Mutex<Option<bool>>,
    /// The last copy's buffer, to copy into next time.
    buffer: Mutex<Vec<u8>>,
    /// The layout the opened segment's copies decode with (afresh with
    /// every open).
    settled: Mutex<Settled>,
}

/// The exporter's state: its targets, the first the one `/metrics` reads.
pub struct Exporter {
    targets: Vec<Target>,
    options: ReadOptions,
    capacity: Capacity,
    max_vhosts: usize,
    /// Started with a capability: opens are checked against the allowlist
    /// and done with the capability raised.
    privileged: bool,
    /// The httpd binary's version and description, per parent pid.
    servers: Mutex<HashMap<i32, Server>>,
}

impl Exporter {
    /// The targets: `options.scoreboard` (else the allowlist's first
    /// entry, else the one running httpd's segment) and the allowlist's
    /// entries. Opens each it can now, then keeps only the capability to
    /// open them again.
    pub fn new(
        options: ReadOptions,
        capacity: Capacity,
        max_vhosts: usize,
    ) -> Result<Exporter, Error> {
        let privileged = privilege::mode() == privilege::Mode::Capable;
        let listed: Vec<PathBuf> = match privilege::Allowlist::load() {
            Ok(list) if privileged && !list.admits_caller() => {
                privilege::drop_all();
                return Err(Error::NotAllowedGroup {
                    groups: list.groups.join(", "),
                });
            }
            Ok(list) => list.entries.into_iter().map(|e| e.path).collect(),
            Err(e) if privileged => return Err(e),
            Err(_) => Vec::new(),
        };
        let mut specs: Vec<PathBuf> = Vec::new();
        match &options.scoreboard {
            Some(s) => specs.push(s.clone()),
            None if !listed.is_empty() => {}
            None if privileged => {
                return Err(Error::Discovery(format!(
                    "{} lists no scoreboard: pass --scoreboard",
                    privilege::ALLOWLIST
                )))
            }
            None => specs.push(discover()?),
        }
        for p in listed {
            if !specs.contains(&p) {
                specs.push(p);
            }
        }
        if privileged {
            if let Some(first) = specs.first() {
                privilege::entry_named(first)?;
            }
        }
        let exporter = Exporter {
            targets: specs
                .into_iter()
                .map(|spec| Target {
                    spec,
                    opened: Mutex::new(None),
                    readable: Mutex::new(None),
                    buffer: Mutex::new(Vec::new()),
                    settled: Mutex::new(Settled::default()),
                })
                .collect(),
            options,
            capacity,
            max_vhosts,
            privileged,
            servers: Mutex::new(HashMap::new()),
        };
        for t in &exporter.targets {
            // A server not running yet is apache_up 0 until it is.
            let read = exporter.copy(t).map(drop).map_err(|e| e.to_string());
            t.log_change(read);
        }

        Ok(exporter)
    }

    /// The `/probe` targets, in order (the first is `/metrics`').
    pub fn targets(&self) -> impl Iterator<Item = &Path> {
        self.targets.iter().map(|t| t.spec.as_path())
    }

    /// One scrape of the default target, or of `target` (`None` when it
    /// is not one of the exporter's).
    pub fn scrape(&self, target: Option<&str>) -> Option<Exposition> {
        let t = match target {
            None => self.targets.first()?,
            Some(name) => self.targets.iter().find(|t| t.spec.as_os_str() == name)?,
        };
        let started = Instant::now();
        let mut e = match self.load(t) {
            Ok(mut loaded) => {
                t.log_change(Ok(()));
                let server = self.server(&loaded);
                server.apply(&mut loaded);
                let e = prometheus::up(&loaded, &server, self.capacity, self.max_vhosts);
                t.keep_buffer(loaded.scoreboard.into_bytes());
                e
            }
            Err(why) => {
                t.log_change(Err(why.to_string()));
                prometheus::down()
            }
        };
        prometheus::scrape_duration(&mut e, started.elapsed().as_secs_f64());
        Some(e)
    }

    fn load(&self, t: &Target) -> Result<Loaded, scoreboard::Error> {
        let copied = self.copy(t)?;
        let shown = t.spec.display().to_string();
        let mut settled = t.settled.lock().unwrap_or_else(|e| e.into_inner());
        scoreboard::decode_settled(copied, shown, &self.options, &mut settled, None)
    }

    /// A copy of the target's segment: the kept one while its name still
    /// gives it, else opened anew.
    fn copy(&self, t: &Target) -> Result<locate::Copied, Error> {
        let mut opened = t.opened.lock().unwrap_or_else(|e| e.into_inner());
        if opened.as_ref().is_some_and(|o| !o.is_current()) {
            *opened = None;
        }
        if opened.is_none() {
            *opened = Some(self.open(&t.spec)?);
            *t.settled.lock().unwrap_or_else(|e| e.into_inner()) = Settled::default();
        }
        let o = opened.as_ref().ok_or(Error::Discovery(String::new()))?;
        let buffer = std::mem::take(&mut *t.buffer.lock().unwrap_or_else(|e| e.into_inner()));
        let copied = if self.privileged && o.needs_capability_to_copy() {
            privilege::raised_again(|| o.copy_unmapped(buffer))
        } else {
            o.copy_unmapped(buffer)
        };
        if copied.is_err() {
            *opened = None;
        }
        copied
    }

    fn open(&self, spec: &Path) -> Result<Opened, Error> {
        let root = self.options.server_root.as_deref();
        if self.privileged {
            // The entry's own object, never the caller's string.
            let entry = privilege::entry_named(spec)?;
            privilege::raised_again(|| locate::open_derived(&entry.path, &entry.path, true))
        } else {
            locate::open_named(spec, root, privilege::mode().strict())
        }
    }

    /// The binary of `loaded`'s httpd, read once per parent pid.
    fn server(&self, loaded: &Loaded) -> Server {
        let Some(parent) = loaded.live.as_ref().and_then(|l| l.parent) else {
            return Server::default();
        };
        let mut servers = self.servers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = servers.get(&parent) {
            return s.clone();
        }
        let s = Server::inspect(loaded);
        // Parents come and go with full restarts; keep only the live one.
        servers.clear();
        servers.insert(parent, s.clone());
        s
    }
}

impl Target {
    /// Keeps a copy's buffer for the next scrape (one is enough: parallel
    /// scrapes of one target are rare).
    fn keep_buffer(&self, bytes: crate::shm::segment::Bytes) {
        if let Some(b) = bytes.into_buffer() {
            *self.buffer.lock().unwrap_or_else(|e| e.into_inner()) = b;
        }
    }

    /// One line on stdout when the target becomes unreadable (why) or
    /// readable again; nothing while it stays as it was.
    fn log_change(&self, read: Result<(), String>) {
        let was = self
            .readable
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(read.is_ok());
        // Readable from the start is the normal case, not news.
        if was.unwrap_or(true) == read.is_ok() {
            return;
        }
        let spec = escape_bytes(self.spec.as_os_str().as_bytes());
        let line = match read {
            Ok(()) => format!("{spec}: read again, apache_up 1\n"),
            Err(why) => format!("{spec}: apache_up 0: {}\n", escape_str(&why)),
        };
        // Nobody to tell if stdout is gone.
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
    }
}

/// Without `--scoreboard` and without an allowlist: the one running httpd's
/// named segment.
fn discover() -> Result<PathBuf, Error> {
    let found = scoreboard::live::instances();
    let named: Vec<&str> = found.iter().filter_map(|i| i.segment.as_deref()).collect();
    match named.as_slice() {
        [one] => Ok(PathBuf::from(one)),
        [] => Err(Error::Discovery(
            "no running httpd with a named scoreboard found: pass --scoreboard PATH".into(),
        )),
        many => Err(Error::Discovery(format!(
            "{} httpd instances found, pass --scoreboard with one of: {}",
            many.len(),
            many.join(", ")
        ))),
    }
}

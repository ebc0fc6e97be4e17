//! The scoreboard reader: find the segment, copy it once, detect its layout
//! and decode it with safe code; apply mod_status's rules.
//!
//! [`load`] is the one entry point the commands use: it turns the
//! [`ReadOptions`] of the command line into a [`Loaded`] scoreboard with
//! everything the checks need to know about where it came from.

pub mod decode;
pub mod detect;
/// Test-only: writes segments of every layout (the `test-encoder` feature).
#[cfg(any(test, feature = "test-encoder"))]
pub mod encode;
pub mod error;
pub mod layout;
pub mod le;
pub mod rules;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

pub use crate::shm::locate::{self, Origin};
use crate::shm::privilege;
pub use crate::shm::proc::{self as live, Instance, LiveInfo};
pub use decode::{status, Form, Global, Process, Scoreboard, Tms, Worker};
pub use detect::Hints;
pub use error::Error;
pub use layout::{Abi, HttpdVersion, Layout, LayoutSpec, Revision};
pub use rules::{Counted, MpmLimits, Rules, Summary};

/// The MPM that wrote the segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mpm {
    Prefork,
    Worker,
    Event,
}

impl Mpm {
    /// `prefork`, `worker`, `event`: as httpd names it.
    pub fn name(self) -> &'static str {
        match self {
            Mpm::Prefork => "prefork",
            Mpm::Worker => "worker",
            Mpm::Event => "event",
        }
    }

    /// The MPM a module name (`mod_mpm_NAME.so`'s NAME) gives.
    pub fn from_module(name: &str) -> Option<Mpm> {
        [Mpm::Prefork, Mpm::Worker, Mpm::Event]
            .into_iter()
            .find(|m| m.name() == name)
    }
}

/// How to find and read the segment (the reader's command-line options).
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    pub scoreboard: Option<PathBuf>,
    pub server_root: Option<PathBuf>,
    pub layout: Option<LayoutSpec>,
    pub httpd_version: Option<HttpdVersion>,
    pub mpm: Option<Mpm>,
    /// "now" in µs since the epoch (`--at`), for evaluating snapshots.
    pub at: Option<i64>,
    /// The command shows request lines and clients (`dump`, `status`,
    /// `snapshot`): refused with a capability unless the entry allows it.
    pub wants_details: bool,
}

impl ReadOptions {
    /// For `dump`, `status` and `snapshot`, which show request lines and
    /// clients (see [`ReadOptions::wants_details`]).
    pub fn with_details(self) -> ReadOptions {
        ReadOptions {
            wants_details: true,
            ..self
        }
    }
}

/// A decoded scoreboard and what is known about it.
pub struct Loaded {
    pub scoreboard: Scoreboard,
    pub origin: Origin,
    /// The path shown in messages.
    pub shown: String,
    /// The httpd version: `--httpd-version`, else the live binary's, else
    /// the one the layout implies.
    pub version: HttpdVersion,
    pub version_known: bool,
    /// `--mpm`, else the running server's once something asked for it
    /// ([`Loaded::learn_mpm`]; a prefork segment shows itself).
    pub mpm: Option<Mpm>,
    /// Live processes, when the segment was checked against /proc.
    pub live: Option<LiveInfo>,
    /// "now" for ages, µs since the epoch.
    pub now: i64,
    /// What the kernel says about the running server's processes, when a
    /// check measured it (see [`crate::process`]).
    pub health: Option<crate::process::Health>,
    pub at_given: bool,
    /// Whether the caller may see request lines, query strings and clients
    /// (`--show-query`, `--show-clients`): root, the caller's own rights, or
    /// an allowlist entry marked `show-details`.
    pub details: bool,
}

impl Loaded {
    /// Where `--mpm` gave none, the running server's MPM from its mappings
    /// ([`LiveInfo::read_mpm`], a guarded read): for what shows the MPM or
    /// counts by it (`status`, the exporter, `top`, `snapshot`, `-v`). The
    /// checks judge without it: the segment tells prefork (one thread per
    /// process) from the threaded MPMs, and that is all they ask.
    pub fn learn_mpm(&mut self) {
        if self.mpm.is_some() {
            return;
        }
        if let Some(live) = self.live.as_mut() {
            live.read_mpm();
            self.mpm = live.mpm.as_deref().and_then(Mpm::from_module);
        }
    }

    pub fn rules(&self) -> Rules {
        Rules::for_version(self.version)
    }

    /// Stale: read without `--at` and no process named in the segment runs.
    pub fn is_stale(&self) -> bool {
        !self.at_given && self.live.as_ref().is_some_and(|l| !l.is_running())
    }

    /// Last moment the segment shows activity (µs), for stale reports.
    pub fn last_activity(&self) -> i64 {
        let sb = &self.scoreboard;
        sb.workers()
            .map(|(_, w)| w.last_used().max(w.stop_time()))
            .fold(sb.global().restart_time, i64::max)
    }

    /// The MPM: `--mpm`, the live server's, or what the segment shows.
    pub fn mpm_guess(&self) -> Mpm {
        self.mpm.unwrap_or_else(|| guess_mpm(&self.scoreboard))
    }
}

/// The MPM as far as the segment tells: prefork leaves worker pids 0 and
/// has one thread per process; only event writes the async counters or
/// quiescing = 2. An idle event server looks like worker: pass `--mpm`.
pub fn guess_mpm(sb: &Scoreboard) -> Mpm {
    let threaded = sb.global().thread_limit > 1
        || sb
            .workers()
            .any(|(_, w)| w.status() != status::DEAD && w.pid() != 0 && w.tid() != 0);
    if !threaded {
        return Mpm::Prefork;
    }
    let event = sb.processes().any(|p| {
        p.quiescing == 2
            || p.not_accepting != 0
            || p.connections != 0
            || p.keep_alive != 0
            || p.lingering_close != 0
            || p.write_completion != 0
            || p.suspended != 0
            || p.wait_io.unwrap_or(0) != 0
    });
    if event {
        Mpm::Event
    } else {
        Mpm::Worker
    }
}

pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// Finds, copies and decodes the scoreboard the options name (or the one
/// running httpd's), as the [`privilege::Mode`] allows.
pub fn load(opts: &ReadOptions) -> Result<Loaded, Error> {
    use privilege::Mode;
    let mode = privilege::mode();
    let spec = opts.scoreboard.as_deref();
    let (copied, shown, details) = match mode {
        Mode::Broken => return Err(crate::shm::Error::Unprivilegeable.into()),
        Mode::Capable => {
            // Decided before anything is opened: the entry, or one refusal.
            let entry = privilege::admit(spec, opts.wants_details)?;
            let copied =
                privilege::copy_raised(|| locate::open_derived(&entry.path, &entry.path, true));
            let shown = spec.unwrap_or(&entry.path).display().to_string();
            (copied, shown, entry.details)
        }
        Mode::Root | Mode::Plain => {
            let copied = open_unprivileged(opts, mode.strict())
                .and_then(|(opened, shown)| Ok((opened.copy()?, shown)));
            match copied {
                Ok((c, shown)) => (Ok(c), shown, true),
                Err(e) => (Err(e), String::new(), true),
            }
        }
    };
    let copied = copied.map_err(|e| match opts.at {
        // A snapshot evaluated at a time: no server to be down.
        Some(_) => e,
        None => explain_absence(e, spec),
    })?;
    let mut loaded = decode_copied(copied, shown, opts)?;
    loaded.details = details;
    Ok(loaded)
}

/// A segment opened once and copied and decoded again on every
/// [`Watched::load`], for a command that refreshes (`top`). As with
/// [`load`], a capability is effective only around the open (and the
/// attach of a root's SysV segment, which every copy needs); a segment
/// that needs none afterwards has every capability set cleared for good.
pub struct Watched {
    opened: locate::Opened,
    shown: String,
    details: bool,
    opts: ReadOptions,
    settled: Settled,
}

/// Opens the scoreboard the options name (or the one running httpd's),
/// as the [`privilege::Mode`] allows, for [`Watched::load`].
pub fn watch(opts: &ReadOptions) -> Result<Watched, Error> {
    use privilege::Mode;
    let spec = opts.scoreboard.as_deref();
    let opened = match privilege::mode() {
        Mode::Broken => return Err(crate::shm::Error::Unprivilegeable.into()),
        Mode::Capable => {
            let entry = privilege::admit(spec, opts.wants_details)?;
            let opened =
                privilege::raised_again(|| locate::open_derived(&entry.path, &entry.path, true));
            if !opened
                .as_ref()
                .is_ok_and(locate::Opened::needs_capability_to_copy)
            {
                privilege::drop_all();
            }
            let shown = spec.unwrap_or(&entry.path).display().to_string();
            opened.map(|o| (o, shown, entry.details))
        }
        mode @ (Mode::Root | Mode::Plain) => {
            open_unprivileged(opts, mode.strict()).map(|(o, shown)| (o, shown, true))
        }
    };
    let (opened, shown, details) = opened.map_err(|e| match opts.at {
        Some(_) => e,
        None => explain_absence(e, spec),
    })?;
    Ok(Watched {
        opened,
        shown,
        details,
        opts: opts.clone(),
        settled: Settled::default(),
    })
}

impl Watched {
    /// The segment as it is now, decoded. Copied, never mapped: the live
    /// view runs without the watchdog's handlers, so a mapping that a root
    /// truncates meanwhile would end it with SIGBUS (terminal left raw,
    /// nothing said); a short copy is an error it shows. The layout is the
    /// one the first copy settled while the segment's size, size header
    /// and limits stay as they were ([`Settled`]). `live`: the processes
    /// as the caller last measured them (`top` does so once a second), else
    /// read from `/proc` now.
    pub fn load(&mut self, live: Option<LiveInfo>) -> Result<Loaded, Error> {
        let copy = || self.opened.copy_unmapped(Vec::new());
        let copied = if self.opened.needs_capability_to_copy() {
            privilege::raised_again(copy)
        } else {
            copy()
        }?;
        let mut loaded = decode_settled(
            copied,
            self.shown.clone(),
            &self.opts,
            &mut self.settled,
            live,
        )?;
        loaded.details = self.details;
        Ok(loaded)
    }

    /// Whether the name still gives the opened segment (httpd creates a
    /// new one on a full restart).
    pub fn is_current(&self) -> bool {
        self.opened.is_current()
    }
}

/// Root or the caller's own rights: the segment `--scoreboard` names, or
/// the one running httpd's.
fn open_unprivileged(
    opts: &ReadOptions,
    strict: bool,
) -> Result<(locate::Opened, String), crate::shm::Error> {
    match opts.scoreboard.as_deref() {
        Some(path) => locate::open_named(path, opts.server_root.as_deref(), strict)
            .map(|o| (o, path.display().to_string())),
        None => discover(strict),
    }
}

/// A named segment that is not there (nothing at all at its path): httpd
/// is down (no httpd process runs), or runs with an anonymous scoreboard,
/// or the path is wrong (another httpd runs: the error stays as it was).
fn explain_absence(e: crate::shm::Error, named: Option<&std::path::Path>) -> crate::shm::Error {
    use crate::shm::Error as E;
    let absent = match &e {
        E::NotFound { path, .. } => {
            std::fs::symlink_metadata(path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
        }
        E::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    };
    if !absent || !live::sees_all_processes() {
        return e;
    }
    let running = live::instances();
    if running.is_empty() {
        return E::NotRunning {
            looked: e.to_string(),
        };
    }
    match running.as_slice() {
        [one] if one.anonymous => E::Anonymous {
            pid: one.pid,
            line: one.scoreboard_line(named),
        },
        _ => e,
    }
}

/// Decodes a copy made by [`locate`], consulting the live server where the
/// segment alone cannot decide. Errors name the segment as `shown`.
pub fn decode_copied(
    copied: locate::Copied,
    shown: String,
    opts: &ReadOptions,
) -> Result<Loaded, Error> {
    decode_settled(copied, shown, opts, &mut Settled::default(), None)
}

/// What decoding the copies of one opened segment settled, for its next
/// copies: the layout (and the httpd version that decided it) is detected
/// again only when the copy's length, its first 16 bytes (the size header
/// and the limits) or its `lb_limit` differ from the copy that settled it.
/// Detection is a fifth of a refresh of a 16x64 segment; what it decides
/// (the size formula) depends on nothing else, and every read of a
/// record is bounds-checked, so records changed meanwhile decode as they
/// would have. Keep one per opened segment: a new segment (httpd restarted,
/// another binary) starts afresh.
#[derive(Default)]
pub struct Settled(Option<SettledLayout>);

#[derive(Clone, Copy)]
struct SettledLayout {
    len: usize,
    head: [u8; 16],
    base: usize,
    found: detect::Detected,
    version: Option<HttpdVersion>,
}

impl SettledLayout {
    fn head(bytes: &[u8]) -> [u8; 16] {
        let mut head = [0; 16];
        let n = bytes.len().min(16);
        head[..n].copy_from_slice(&bytes[..n]);
        head
    }

    /// Whether `bytes` would detect as the copy that settled this.
    fn fits(&self, bytes: &[u8]) -> bool {
        let lb = self.found.layout.global.lb_limit.map_or(Some(0), |f| {
            le::int(bytes.get(self.base..)?, f.offset).and_then(|v| usize::try_from(v).ok())
        });
        bytes.len() == self.len && Self::head(bytes) == self.head && lb == Some(self.found.lb_limit)
    }
}

/// [`decode_copied`], with the layout `settled` by an earlier copy of the
/// same segment, and the processes as measured (`live`) where given.
pub fn decode_settled(
    copied: locate::Copied,
    shown: String,
    opts: &ReadOptions,
    settled: &mut Settled,
    live: Option<LiveInfo>,
) -> Result<Loaded, Error> {
    let wants_live = opts.at.is_none() || copied.origin.is_shared_memory();
    let fits = settled.0.filter(|s| s.fits(&copied.bytes));
    let (scoreboard, live, version) = match fits {
        Some(s) => {
            let scoreboard = Scoreboard::new(copied.bytes, s.base, s.found);
            let live = live_of(&scoreboard, wants_live, live);
            (scoreboard, live, s.version)
        }
        None => {
            let head = SettledLayout::head(&copied.bytes);
            let len = copied.bytes.len();
            let (scoreboard, live, version) =
                detect_layout(copied.bytes, copied.bare, opts, wants_live, live).map_err(|e| {
                    match e {
                        Error::Shm(_) | Error::Undecodable { .. } => e,
                        what => Error::Undecodable {
                            shown: shown.clone(),
                            what: Box::new(what),
                        },
                    }
                })?;
            settled.0 = Some(SettledLayout {
                len,
                head,
                base: scoreboard.base(),
                found: scoreboard.detected(),
                version,
            });
            (scoreboard, live, version)
        }
    };
    let live_mpm = live
        .as_ref()
        .and_then(|l| l.mpm.as_deref())
        .and_then(Mpm::from_module);
    Ok(Loaded {
        version: version.unwrap_or_else(|| scoreboard.layout().revision.assumed_version()),
        version_known: version.is_some(),
        mpm: opts.mpm.or(live_mpm),
        origin: copied.origin,
        shown,
        live,
        now: opts.at.unwrap_or_else(now_us),
        at_given: opts.at.is_some(),
        details: true,
        health: None,
        scoreboard,
    })
}

/// The processes `scoreboard` names, as the caller measured them (`given`)
/// or read from `/proc` now; none unless `wanted` (a snapshot read with
/// `--at` has no processes of ours).
fn live_of(scoreboard: &Scoreboard, wanted: bool, given: Option<LiveInfo>) -> Option<LiveInfo> {
    wanted.then(|| given.unwrap_or_else(|| live::live_info(scoreboard.processes().map(|p| p.pid))))
}

/// Detects the layout of a copy (and reads the processes it names, which
/// settle what the bytes cannot), with the httpd version that decided it.
fn detect_layout(
    bytes: crate::shm::segment::Bytes,
    bare: bool,
    opts: &ReadOptions,
    wants_live: bool,
    live: Option<LiveInfo>,
) -> Result<(Scoreboard, Option<LiveInfo>, Option<HttpdVersion>), Error> {
    let form = if bare { Form::Bare } else { Form::Auto };
    let mut hints = Hints {
        layout: opts.layout,
        version: opts.httpd_version,
    };
    let (base, found) = match Scoreboard::probe(&bytes, form, &hints) {
        // A running httpd's version settles sizes that fit several layouts.
        Err(Error::AmbiguousLayout { .. }) if hints.version.is_none() && hints.layout.is_none() => {
            // Only servers with a named segment: as root, those are the
            // trusted ones (see live::instances).
            hints.version = live::instances()
                .iter()
                .filter(|i| i.segment.is_some())
                .find_map(|i| binary_version(i.pid));
            Scoreboard::probe(&bytes, form, &hints)?
        }
        other => other?,
    };
    let mut scoreboard = Scoreboard::new(bytes, base, found);
    let live = live_of(&scoreboard, wants_live, live);
    // 2.4.36-62 spans the 2.4.58 rule change, and its size equals 2.4.63+'s:
    // the running binary's version decides both (it costs a read of the
    // binary, so only for this revision).
    let mut version = hints.version;
    if version.is_none() && scoreboard.layout().revision == Revision::G {
        version = live
            .as_ref()
            .and_then(|l| l.parent)
            .and_then(binary_version);
        if let (Some(v), None) = (version, opts.layout) {
            if Revision::for_version(v) == Some(Revision::H) {
                let hints = Hints {
                    layout: Some(LayoutSpec {
                        revision: Revision::H,
                        abi: Some(scoreboard.layout().abi),
                    }),
                    version,
                };
                let (base, found) = Scoreboard::probe(scoreboard.segment_bytes(), form, &hints)?;
                scoreboard = Scoreboard::new(scoreboard.into_bytes(), base, found);
            }
        }
    }
    Ok((scoreboard, live, version))
}

/// Without `--scoreboard`: the one running httpd's named segment.
fn discover(strict: bool) -> Result<(locate::Opened, String), crate::shm::Error> {
    let found = live::instances();
    let with_segment: Vec<&Instance> = found.iter().filter(|i| i.segment.is_some()).collect();
    match (with_segment.as_slice(), found.as_slice()) {
        ([one], _) => {
            let seg = one.segment.clone().unwrap_or_default();
            Ok((locate::open_named(std::path::Path::new(&seg), None, strict)?, seg))
        }
        ([], []) if live::sees_all_processes() => Err(crate::shm::Error::NotRunning {
            looked: "no httpd process runs".into(),
        }),
        ([], []) => Err(crate::shm::Error::Discovery("no running httpd found: pass --scoreboard PATH (a ScoreBoardFile path, /dev/shm/ShM.* object or snapshot)".into())),
        ([], [one]) if one.anonymous => Err(crate::shm::Error::Anonymous {
            pid: one.pid,
            line: one.scoreboard_line(None),
        }),
        ([], some) => Err(crate::shm::Error::Discovery(format!(
            "no readable named scoreboard in running httpd ({}): set ScoreBoardFile, run as root, or pass --scoreboard",
            some.iter().map(|i| format!("pid {}{}", i.pid, i.note.as_deref().map(|n| format!(": {n}")).unwrap_or_default())).collect::<Vec<_>>().join("; ")
        ))),
        (many, _) => Err(crate::shm::Error::Discovery(format!(
            "{} httpd instances found, pass --scoreboard with one of: {}",
            many.len(),
            many.iter().map(|i| format!("{} (pid {})", i.segment.as_deref().unwrap_or("?"), i.pid)).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// The version of the httpd binary a process runs (its `Apache/2.x.y`
/// string), when its executable is readable.
pub fn binary_version(pid: i32) -> Option<HttpdVersion> {
    HttpdVersion::find_in(&live::read_exe(pid)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A settled layout decodes the next copies as detection would, and
    /// detection runs again (refusing it) once the size, header or limits
    /// change under us.
    #[test]
    fn settled_layouts_refuse_what_detection_refuses() {
        let layout = Layout::new(Revision::H, Abi::Lp64).unwrap();
        let good = encode::busy_server(layout, 4, 8).posix();
        let opts = ReadOptions {
            at: Some(now_us()),
            ..ReadOptions::default()
        };
        let copy = |bytes: &[u8]| locate::Copied {
            bytes: bytes.to_vec().into(),
            origin: Origin::File("segment".into()),
            bare: false,
        };
        let mut settled = Settled::default();
        let decode = |bytes: &[u8], settled: &mut Settled| {
            decode_settled(copy(bytes), "segment".into(), &opts, settled, None)
                .map(|l| {
                    (
                        l.scoreboard.layout().name(),
                        l.scoreboard.global().thread_limit,
                    )
                })
                .map_err(|e| e.to_string())
        };
        let first = decode(&good, &mut settled).unwrap();
        assert_eq!(decode(&good, &mut settled).unwrap(), first);
        let mut limits = good.clone();
        limits[12..16].copy_from_slice(&16i32.to_le_bytes());
        let mut header = good.clone();
        header[0] ^= 1;
        for hostile in [&good[..good.len() - 8], &limits, &header] {
            let fresh = decode(hostile, &mut Settled::default());
            assert!(fresh.is_err());
            assert_eq!(decode(hostile, &mut settled), fresh);
            assert_eq!(decode(&good, &mut settled).unwrap(), first);
        }
    }
}

//! Prometheus metrics from the segment: apache_exporter's names, types,
//! labels and values for everything mod_status's `?auto` page would tell
//! it (taken from the same `?auto` fields `status` prints, mapped as
//! apache_exporter maps them), and what only the segment knows under the
//! prefix `apache_segment_` (chosen so that nothing of ours starts with
//! `apache_scoreboard`, apache_exporter's per-state family).
//!
//! Figures come from [`crate::measure`], as for the checks; this module
//! only names them. [`exposition`] writes them in either text format.

pub mod exposition;

use crate::measure::auto;
use crate::measure::tenants::{self, GroupBy, Tenancy};
use crate::measure::{inflight, Capacity, Pool};
use crate::plugin::text::escape_bytes;
use crate::scoreboard::{self, HttpdVersion, Loaded, Mpm};
pub use exposition::{Exposition, Format, Kind};

/// How many vhosts get their own `apache_segment_vhost_busy_workers`
/// series by default; the rest are summed as `vhost="(other)"`.
pub const DEFAULT_MAX_VHOSTS: usize = 20;

/// What the segment does not record about the httpd that wrote it, read
/// from its parent once per parent: its version (the segment's layout
/// gives only a range) and server description (apache_info's `version`
/// label) from its binary, and its MPM from its mappings (a parent keeps
/// its MPM: httpd refuses another one on restart).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Server {
    pub parent: Option<i32>,
    pub version: Option<HttpdVersion>,
    /// `Apache/2.4.71 (Debian)`.
    pub description: Option<String>,
    pub mpm: Option<Mpm>,
}

impl Server {
    /// The binary of the parent `loaded`'s live check found (unreadable
    /// without root: the process is root's).
    pub fn inspect(loaded: &Loaded) -> Server {
        let mpm = loaded
            .live
            .as_ref()
            .and_then(|live| live.mapped_mpm())
            .and_then(Mpm::from_module);
        let parent = loaded.live.as_ref().and_then(|l| l.parent);
        let exe = parent.and_then(scoreboard::live::read_exe);
        let version = exe.as_deref().and_then(HttpdVersion::find_in);
        let description = exe
            .as_deref()
            .zip(version)
            .and_then(|(exe, v)| description_in(exe, v));
        Server {
            parent,
            version,
            description,
            mpm,
        }
    }

    /// Whether this describes the httpd `loaded` names.
    pub fn is_of(&self, loaded: &Loaded) -> bool {
        self.parent == loaded.live.as_ref().and_then(|l| l.parent)
    }

    /// The binary's version and the MPM, unless given or already read.
    pub fn apply(&self, loaded: &mut Loaded) {
        if let (Some(v), false) = (self.version, loaded.version_known) {
            loaded.version = v;
            loaded.version_known = true;
        }
        loaded.mpm = loaded.mpm.or(self.mpm);
    }
}

/// httpd's server description as the binary spells it for `version`
/// (`Apache/2.4.71 (Debian)`: base version and platform; components that
/// modules add at run time, such as `OpenSSL/3.0.x`, are not in it).
pub fn description_in(exe: &[u8], version: HttpdVersion) -> Option<String> {
    let needle = format!("Apache/{version} (");
    let at = exe
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())?;
    let rest = &exe[at..exe.len().min(at + 80)];
    let end = rest.iter().position(|&b| b == b')')?;
    let text = std::str::from_utf8(&rest[..=end]).ok()?;
    text.bytes()
        .all(|b| b.is_ascii_graphic() || b == b' ')
        .then(|| text.to_string())
}

type FromAuto = (
    &'static str,
    &'static str,
    Kind,
    &'static str,
    Option<(&'static str, &'static str)>,
);

/// apache_exporter's families fed by `?auto` keys: key, family, type, help,
/// label (apache_exporter's GaugeVec label for that key).
#[rustfmt::skip]
const FROM_AUTO: [FromAuto; 14] = [
    ("ParentServerMPMGeneration", "apache_generation", Kind::Gauge, "Apache restart generation", Some(("type", "mpm"))),
    ("Total Accesses", "apache_accesses_total", Kind::Counter, "Current total apache accesses (*)", None),
    ("Total kBytes", "apache_sent_kilobytes_total", Kind::Counter, "Current total kbytes sent (*)", None),
    ("Total Duration", "apache_duration_ms_total", Kind::Counter, "Total duration of all registered requests in ms", None),
    ("CPULoad", "apache_cpuload", Kind::Gauge, CPULOAD_HELP, None),
    ("Uptime", "apache_uptime_seconds_total", Kind::Counter, "Current uptime in seconds (*)", None),
    ("BusyWorkers", "apache_workers", Kind::Gauge, "Apache worker statuses", Some(("state", "busy"))),
    ("IdleWorkers", "apache_workers", Kind::Gauge, "Apache worker statuses", Some(("state", "idle"))),
    ("Processes", "apache_processes", Kind::Gauge, "Apache process count", Some(("state", "all"))),
    ("Stopping", "apache_processes", Kind::Gauge, "Apache process count", Some(("state", "stopping"))),
    ("ConnsTotal", "apache_connections", Kind::Gauge, CONNECTIONS_HELP, Some(("state", "total"))),
    ("ConnsAsyncWriting", "apache_connections", Kind::Gauge, CONNECTIONS_HELP, Some(("state", "writing"))),
    ("ConnsAsyncKeepAlive", "apache_connections", Kind::Gauge, CONNECTIONS_HELP, Some(("state", "keepalive"))),
    ("ConnsAsyncClosing", "apache_connections", Kind::Gauge, CONNECTIONS_HELP, Some(("state", "closing"))),
];
const CPULOAD_HELP: &str =
    "The current percentage CPU used by each worker and in total by all workers combined (*)";
const CONNECTIONS_HELP: &str = "Apache connection statuses";
const SCOREBOARD_HELP: &str = "Apache scoreboard statuses";

/// apache_exporter's `apache_scoreboard` state label of each status value.
const STATE_LABELS: [&str; 11] = [
    "open_slot",
    "startup",
    "idle",
    "read",
    "reply",
    "keepalive",
    "logging",
    "dns",
    "closing",
    "graceful_stop",
    "idle_cleanup",
];

/// A scrape of a segment that was read.
pub fn up(loaded: &Loaded, server: &Server, capacity: Capacity, max_vhosts: usize) -> Exposition {
    let mut e = Exposition::default();
    e.set("apache_up", Kind::Gauge, UP_HELP, &[], 1.0);
    let v = loaded.version;
    let description = server
        .description
        .clone()
        .unwrap_or_else(|| format!("Apache/{v}"));
    // apache_exporter: "%s.%02s%03s" of the version's parts, as a float.
    let numeric: f64 = format!("{}.{:02}{:03}", v.major, v.minor, v.patch)
        .parse()
        .unwrap_or(0.0);
    e.set(
        "apache_version",
        Kind::Gauge,
        "Apache server version",
        &[],
        numeric,
    );
    let mpm = match loaded.mpm_guess() {
        Mpm::Prefork => "prefork",
        Mpm::Worker => "worker",
        Mpm::Event => "event",
    };
    e.set(
        "apache_info",
        Kind::Gauge,
        "Apache version information",
        &[("version", &description), ("mpm", mpm)],
        1.0,
    );

    let pool = Pool::measure(loaded, capacity);
    let s = &pool.summary;
    // apache_cpuload is a plain Gauge there: 0 until CPULoad sets it.
    e.set("apache_cpuload", Kind::Gauge, CPULOAD_HELP, &[], 0.0);
    let (mut cpu_user, mut cpu_system, mut cpu_found) = (0.0, 0.0, false);
    for (key, field) in auto::fields(loaded, s) {
        let Some(value) = field.value() else {
            continue;
        };
        match key {
            "CPUUser" | "CPUChildrenUser" => (cpu_user, cpu_found) = (cpu_user + value, true),
            "CPUSystem" | "CPUChildrenSystem" => {
                (cpu_system, cpu_found) = (cpu_system + value, true)
            }
            _ => {}
        }
        if let Some((_, name, kind, help, label)) = FROM_AUTO.iter().find(|f| f.0 == key) {
            let labels: &[(&str, &str)] = match label {
                Some(l) => &[*l],
                None => &[],
            };
            e.set(name, *kind, help, labels, value);
        }
    }
    if cpu_found {
        let f = e.family("apache_cpu_time_ms_total", Kind::Counter, "Apache CPU time");
        f.set(&[("type", "user")], 1000.0 * cpu_user);
        f.set(&[("type", "system")], 1000.0 * cpu_system);
    }
    let board = e.family("apache_scoreboard", Kind::Gauge, SCOREBOARD_HELP);
    for (label, n) in STATE_LABELS.iter().zip(s.status_counts) {
        board.set(&[("state", label)], n as f64);
    }
    if s.status_counts[11] > 0 {
        board.set(&[("state", "?")], s.status_counts[11] as f64);
    }
    segment_only(&mut e, loaded, &pool, max_vhosts);
    e
}

const UP_HELP: &str = "Could the apache server be reached";

/// What only the segment knows, under `apache_segment_`.
fn segment_only(e: &mut Exposition, loaded: &Loaded, pool: &Pool, max_vhosts: usize) {
    let requests: Vec<inflight::Request> = inflight::requests(loaded, false).collect();
    e.set(
        "apache_segment_requests_in_flight",
        Kind::Gauge,
        "Requests being served (start_time > stop_time, any status)",
        &[],
        requests.len() as f64,
    );
    let oldest = requests.iter().map(|r| r.age).max().unwrap_or(0);
    e.set(
        "apache_segment_oldest_request_age_seconds",
        Kind::Gauge,
        "Age of the oldest request in flight (0 when none)",
        &[],
        oldest.max(0) as f64 / 1e6,
    );
    e.set(
        "apache_segment_graceful_workers",
        Kind::Gauge,
        "Workers finishing their request in a graceful restart or stop (G of the current generation counted as mod_status counts them)",
        &[],
        pool.summary.graceful as f64,
    );
    e.set(
        "apache_segment_slots",
        Kind::Gauge,
        "Worker slots in the segment (ServerLimit x ThreadLimit)",
        &[],
        loaded.scoreboard.slot_count() as f64,
    );
    if let Some(capacity) = pool.capacity {
        e.set(
            "apache_segment_capacity_workers",
            Kind::Gauge,
            "MaxRequestWorkers as the running httpd's configuration (or --max-workers) gives it",
            &[],
            capacity as f64,
        );
    }
    e.set(
        "apache_segment_httpd_running",
        Kind::Gauge,
        "Whether a process the segment names still runs (0: the segment outlived its httpd)",
        &[],
        if loaded.is_stale() { 0.0 } else { 1.0 },
    );
    listen_queues(e, loaded);
    let f = e.family(
        "apache_segment_vhost_busy_workers",
        Kind::Gauge,
        "Busy workers per vhost (the busiest ones; the rest as vhost=\"(other)\")",
    );
    let mut loads = tenants::measure(loaded, GroupBy::Vhost, &Tenancy::default());
    loads.sort_by(|a, b| b.active.cmp(&a.active).then_with(|| a.name.cmp(&b.name)));
    let mut other = 0;
    for (i, l) in loads.iter().enumerate() {
        if i < max_vhosts {
            let name = if l.name.is_empty() {
                "(none)".to_string()
            } else {
                escape_bytes(&l.name)
            };
            f.set(&[("vhost", &name)], l.active as f64);
        } else {
            other += l.active;
        }
    }
    if loads.len() > max_vhosts {
        f.set(&[("vhost", "(other)")], other as f64);
    }
}

/// The httpd parent's listening sockets: connections waiting for a worker
/// to accept them, and the kernel's limit (needs the rights to read the
/// parent's descriptors: root; left out otherwise).
fn listen_queues(e: &mut Exposition, loaded: &Loaded) {
    let Some(parent) = loaded.live.as_ref().and_then(|l| l.parent) else {
        return;
    };
    let Ok(queues) = crate::process::listen::measure(parent, &Default::default()) else {
        return;
    };
    for s in &queues.sockets {
        let address = s.address.to_string();
        e.set(
            "apache_segment_listen_queue_connections",
            Kind::Gauge,
            "Connections established on a listening socket of httpd and waiting to be accepted",
            &[("address", &address)],
            s.queued as f64,
        );
        if let Some(backlog) = s.backlog {
            e.set(
                "apache_segment_listen_backlog_connections",
                Kind::Gauge,
                "The most connections the kernel queues on that socket (ListenBacklog capped by net.core.somaxconn)",
                &[("address", &address)],
                backlog as f64,
            );
        }
    }
}

/// A scrape of a segment that could not be read: `apache_up 0`.
pub fn down() -> Exposition {
    let mut e = Exposition::default();
    e.set("apache_up", Kind::Gauge, UP_HELP, &[], 0.0);
    e
}

/// The scrape's own duration, last.
pub fn scrape_duration(e: &mut Exposition, seconds: f64) {
    e.set(
        "apache_segment_scrape_duration_seconds",
        Kind::Gauge,
        "Time this scrape took to copy, decode and measure the segment",
        &[],
        seconds,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_from_binary_strings() {
        let v = HttpdVersion::new(2, 4, 71);
        let exe = b"\0Apache/2.4.71\0Apache/2.4.71 (Debian)\0Apache/2\0";
        assert_eq!(
            description_in(exe, v).as_deref(),
            Some("Apache/2.4.71 (Debian)")
        );
        assert_eq!(description_in(b"Apache/2.4.71\0", v), None);
        assert_eq!(description_in(b"Apache/2.4.71 (\x1b)", v), None);
    }

    #[test]
    fn every_state_has_apache_exporters_label() {
        use crate::scoreboard::status as slot;
        assert_eq!(STATE_LABELS.len(), slot::CHARS.len());
        assert_eq!(STATE_LABELS[usize::from(slot::GRACEFUL)], "graceful_stop");
        assert_eq!(STATE_LABELS[usize::from(slot::BUSY_WRITE)], "reply");
    }
}

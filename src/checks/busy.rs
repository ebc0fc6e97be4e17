//! `check_scoreboard_busy`: how full the worker pool is, counted with
//! mod_status's rules.

use clap::Args;

use crate::measure::{Capacity, Pool};
use crate::plugin::output::Outcome;
use crate::plugin::perfdata::Perfdata;
use crate::plugin::range::Range;
use crate::plugin::verdict::Thresholds;
use crate::scoreboard::{Loaded, Mpm};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BusyMetric {
    /// Busy workers in percent of capacity
    #[value(name = "busy_pct")]
    BusyPct,
    Busy,
    Idle,
    /// Slots that could still take a worker: capacity - busy - idle - graceful
    Open,
    /// Connections waiting to be accepted on the sockets httpd listens on
    /// (perfdata listen_queue; needs root to see the parent's sockets)
    Queue,
}

// What -w/-c judge.
#[derive(Args, Debug, Clone)]
pub struct Options {
    /// What -w/-c apply to; busy_pct defaults to -w 80 -c 95
    #[arg(long, value_enum, default_value = "busy_pct")]
    pub metric: BusyMetric,
}

/// Perfdata labels of the per-status slot counts, by status value.
const STATE_LABELS: [&str; 11] = [
    "slots_open",
    "slots_starting",
    "slots_ready",
    "slots_reading",
    "slots_writing",
    "slots_keepalive",
    "slots_logging",
    "slots_dns",
    "slots_closing",
    "slots_graceful",
    "slots_idle_cleanup",
];

/// The thresholds on busy_pct when none are given.
pub const DEFAULT_WARNING: &str = "80";
pub const DEFAULT_CRITICAL: &str = "95";

pub fn check(
    loaded: &Loaded,
    args: &Options,
    thresholds: &Thresholds,
    capacity: Capacity,
) -> Outcome {
    let pool = Pool::measure(loaded, capacity);
    if let (Err(why), BusyMetric::BusyPct | BusyMetric::Open) = (pool.capacity(), args.metric) {
        return Outcome::unknown(why);
    }
    let thresholds = &with_defaults(thresholds, args.metric);
    let listen = loaded.health.as_ref().and_then(|h| h.listen.as_ref());
    let (value, label) = match (args.metric, listen) {
        (BusyMetric::Queue, Some(Ok(q))) => (q.queued() as f64, "listen_queue"),
        (BusyMetric::Queue, Some(Err(why))) => {
            return Outcome::unknown(format!("listen queue unknown: {why}"))
        }
        (BusyMetric::Queue, None) => {
            return Outcome::unknown("listen queue unknown: no running httpd parent")
        }
        (m, _) => metric(&pool, m),
    };
    let verdict = thresholds.judge(value);
    let s = &pool.summary;
    let mut summary = match (pool.capacity, pool.busy_pct) {
        (Some(cap), Some(pct)) => {
            format!("{}/{cap} workers busy ({pct:.1}%), {} idle", s.busy, s.idle)
        }
        _ => format!("{} workers busy, {} idle", s.busy, s.idle),
    };
    if s.graceful > 0 {
        summary.push_str(&format!(", {} graceful", s.graceful));
    }
    match s.finishing {
        0 => {}
        1 => summary.push_str(", 1 request finishing from the previous generation"),
        n => summary.push_str(&format!(
            ", {n} requests finishing from the previous generation"
        )),
    }
    let mut o = Outcome::new(verdict.state, summary);
    o.long.extend(verdict.reason(label, value));
    if s.scoreboard.len() <= 256 {
        o.long.push(format!("scoreboard: {}", s.scoreboard));
    }
    let judged = |name: &str| thresholds.if_judged(name == label);
    o.perfdata = perfdata(&pool, judged, has_async_counters(loaded));
    if let Some(Ok(q)) = listen {
        let queue = Perfdata::new("listen_queue", q.queued() as f64)
            .thresholds(judged("listen_queue"))
            .min(0.0);
        o.perfdata.push(match q.backlog() {
            Some(b) => queue.max(b as f64),
            None => queue,
        });
        if let Some(b) = q.backlog() {
            o.perfdata
                .push(Perfdata::new("listen_backlog", b as f64).min(0.0));
        }
    }
    o
}

/// `-w 80 -c 95` on busy_pct where not given (the other metrics have no
/// sensible default).
fn with_defaults(given: &Thresholds, metric: BusyMetric) -> Thresholds {
    let mut t = *given;
    if metric == BusyMetric::BusyPct {
        t.warning = t.warning.or_else(|| DEFAULT_WARNING.parse::<Range>().ok());
        t.critical = t
            .critical
            .or_else(|| DEFAULT_CRITICAL.parse::<Range>().ok());
    }
    t
}

/// The value -w/-c judge and its perfdata label.
fn metric(pool: &Pool, metric: BusyMetric) -> (f64, &'static str) {
    let s = &pool.summary;
    match metric {
        BusyMetric::BusyPct => (pool.busy_pct.unwrap_or(0.0), "busy_pct"),
        BusyMetric::Busy => (s.busy as f64, "busy"),
        BusyMetric::Idle => (s.idle as f64, "idle"),
        BusyMetric::Open => (pool.open.unwrap_or(0) as f64, "open"),
        // Not a pool figure: `check` takes it from the process health.
        BusyMetric::Queue => (0.0, "listen_queue"),
    }
}

/// Whether the processes and connection counts go into the perfdata: for
/// a threaded MPM's segment of a layout that has the counters (event
/// writes them; worker's stay 0). Decided from the segment alone, so the
/// perfdata are the same whether or not the MPM was read (only `-v` and a
/// capacity from the configuration read it).
fn has_async_counters(loaded: &Loaded) -> bool {
    loaded.mpm_guess() != Mpm::Prefork
        && loaded.scoreboard.layout().process.async_counters.is_some()
}

/// The pool's figures, with the thresholds on the judged one; the
/// processes and connection counts of [`has_async_counters`].
fn perfdata<'t>(
    pool: &Pool,
    judged: impl Fn(&str) -> &'t Thresholds,
    event: bool,
) -> Vec<Perfdata> {
    let s = &pool.summary;
    let count = |name: &'static str, v: usize| {
        let p = Perfdata::new(name, v as f64)
            .thresholds(judged(name))
            .min(0.0);
        match pool.capacity {
            Some(cap) => p.max(cap as f64),
            None => p,
        }
    };
    let mut perfdata = vec![
        count("busy", s.busy),
        count("idle", s.idle),
        count("graceful", s.graceful),
    ];
    // Without a capacity there is nothing to be open or a percentage of.
    if let (Some(cap), Some(open), Some(pct)) = (pool.capacity, pool.open, pool.busy_pct) {
        perfdata.extend([
            count("open", open),
            Perfdata::new("capacity", cap as f64),
            Perfdata::new("busy_pct", pct)
                .uom("%")
                .thresholds(judged("busy_pct"))
                .min(0.0)
                .max(100.0),
        ]);
    }
    // Counters graphers derive rates from. A counter is never negative: the
    // durations httpd writes are, but a hostile segment's need not be.
    perfdata.extend([
        Perfdata::new("accesses", s.total_accesses as f64).uom("c"),
        Perfdata::new("traffic", s.total_bytes as f64).uom("c"),
        Perfdata::new("duration", (s.total_duration / 1000).max(0) as f64).uom("c"),
    ]);
    perfdata.extend(
        STATE_LABELS
            .iter()
            .zip(s.status_counts)
            .map(|(l, n)| Perfdata::new(l, n as f64).min(0.0)),
    );
    if event {
        perfdata.extend(
            [
                ("processes", s.processes as u64),
                ("stopping", s.stopping as u64),
                ("conns_total", s.conns_total),
                ("conns_async_writing", s.conns_async_writing),
                ("conns_async_keepalive", s.conns_async_keep_alive),
                ("conns_async_closing", s.conns_async_closing),
            ]
            .map(|(l, n)| Perfdata::new(l, n as f64).min(0.0)),
        );
    }
    perfdata
}

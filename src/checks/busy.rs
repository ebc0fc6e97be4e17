//! `check_scoreboard_busy`: how full the worker pool is, counted with
//! mod_status's rules.

use clap::Args;

use crate::measure::{percent, Capacity};
use crate::plugin::output::Outcome;
use crate::plugin::perfdata::Perfdata;
use crate::plugin::range::{evaluate, Range};
use crate::plugin::verdict::Thresholds;
use crate::plugin::State;
use crate::scoreboard::{rules, Loaded, Mpm};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BusyMetric {
    /// Busy workers in percent of capacity
    #[value(name = "busy_pct")]
    BusyPct,
    Busy,
    Idle,
    /// Slots that could still take a worker: capacity - busy - idle - graceful
    Open,
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

/// The busy check's thresholds when none are given: `-w 80 -c 95` on
/// busy_pct (the other metrics have no sensible default).
pub const DEFAULT_WARNING: &str = "80";
pub const DEFAULT_CRITICAL: &str = "95";

pub fn check(
    loaded: &Loaded,
    args: &Options,
    thresholds: &Thresholds,
    capacity: Capacity,
) -> anyhow::Result<Outcome> {
    let pool = capacity.resolve(loaded);
    let s = rules::summarize(&loaded.scoreboard, loaded.rules(), pool.limits);
    let cap = match (pool.workers(), args.metric) {
        (Ok(n), _) => Some(n),
        (Err(why), BusyMetric::BusyPct | BusyMetric::Open) => return Ok(Outcome::unknown(why)),
        (Err(_), BusyMetric::Busy | BusyMetric::Idle) => None,
    };
    let open = cap.map(|c| c.saturating_sub(s.busy + s.idle + s.graceful));
    let pct = cap.map(|c| percent(s.busy, c));
    let (value, label) = match args.metric {
        BusyMetric::BusyPct => (pct.unwrap_or(0.0), "busy_pct"),
        BusyMetric::Busy => (s.busy as f64, "busy"),
        BusyMetric::Idle => (s.idle as f64, "idle"),
        BusyMetric::Open => (open.unwrap_or(0) as f64, "open"),
    };
    let mut thresholds = *thresholds;
    if args.metric == BusyMetric::BusyPct {
        let default = |r: &str| r.parse::<Range>().ok();
        thresholds.warning = thresholds.warning.or_else(|| default(DEFAULT_WARNING));
        thresholds.critical = thresholds.critical.or_else(|| default(DEFAULT_CRITICAL));
    }
    let (w, c) = (thresholds.warning.as_ref(), thresholds.critical.as_ref());
    let state = evaluate(value, w, c);
    let mut summary = match (cap, pct) {
        (Some(cap), Some(pct)) => {
            format!("{}/{cap} workers busy ({pct:.1}%), {} idle", s.busy, s.idle)
        }
        _ => format!("{} workers busy, {} idle", s.busy, s.idle),
    };
    if s.graceful > 0 {
        summary.push_str(&format!(", {} graceful", s.graceful));
    }
    let mut o = Outcome::new(state, summary);
    if state != State::Ok {
        let range = if evaluate(value, None, c) == State::Critical {
            c
        } else {
            w
        };
        if let Some(r) = range {
            o.long.push(format!(
                "{label} {} is {}",
                crate::plugin::number::format_number(value),
                r.violation()
            ));
        }
    }
    if s.scoreboard.len() <= 256 {
        o.long.push(format!("scoreboard: {}", s.scoreboard));
    }
    let judged = |name: &str| if name == label { (w, c) } else { (None, None) };
    let count = |name: &'static str, v: usize| {
        let (w, c) = judged(name);
        let p = Perfdata::new(name, v as f64).thresholds(w, c).min(0.0);
        match cap {
            Some(cap) => p.max(cap as f64),
            None => p,
        }
    };
    o.perfdata = vec![
        count("busy", s.busy),
        count("idle", s.idle),
        count("graceful", s.graceful),
    ];
    if let (Some(cap), Some(open), Some(pct)) = (cap, open, pct) {
        o.perfdata.push(count("open", open));
        o.perfdata.push(Perfdata::new("capacity", cap as f64));
        let (pw, pc) = judged("busy_pct");
        o.perfdata.push(
            Perfdata::new("busy_pct", pct)
                .uom("%")
                .thresholds(pw, pc)
                .min(0.0)
                .max(100.0),
        );
    }
    o.perfdata.extend(
        STATE_LABELS
            .iter()
            .zip(s.status_counts)
            .map(|(l, n)| Perfdata::new(l, n as f64).min(0.0)),
    );
    if loaded.mpm_guess() == Mpm::Event {
        o.perfdata.extend([
            Perfdata::new("processes", s.processes as f64).min(0.0),
            Perfdata::new("stopping", s.stopping as f64).min(0.0),
            Perfdata::new("conns_total", s.conns_total as f64).min(0.0),
            Perfdata::new("conns_async_writing", s.conns_async_writing as f64).min(0.0),
            Perfdata::new("conns_async_keepalive", s.conns_async_keep_alive as f64).min(0.0),
            Perfdata::new("conns_async_closing", s.conns_async_closing as f64).min(0.0),
        ]);
    }
    Ok(o)
}

//! `check_scoreboard_busy`: how full the worker pool is, counted with
//! mod_status's rules.

use clap::Args;

use crate::measure::{percent, Capacity};
use crate::plugin::output::Outcome;
use crate::plugin::perfdata::Perfdata;
use crate::plugin::range::evaluate;
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
    /// What -w/-c apply to
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

pub fn check(
    loaded: &Loaded,
    args: &Options,
    thresholds: &Thresholds,
    capacity: Capacity,
) -> anyhow::Result<Outcome> {
    let (cap, limits, assumed) = capacity.resolve(loaded);
    let s = rules::summarize(&loaded.scoreboard, loaded.rules(), limits);
    let open = cap.saturating_sub(s.busy + s.idle + s.graceful);
    let pct = percent(s.busy, cap);
    let (value, label) = match args.metric {
        BusyMetric::BusyPct => (pct, "busy_pct"),
        BusyMetric::Busy => (s.busy as f64, "busy"),
        BusyMetric::Idle => (s.idle as f64, "idle"),
        BusyMetric::Open => (open as f64, "open"),
    };
    let (w, c) = (thresholds.warning.as_ref(), thresholds.critical.as_ref());
    let state = evaluate(value, w, c);
    let mut summary = format!("{}/{cap} workers busy ({pct:.1}%), {} idle", s.busy, s.idle);
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
    o.long.extend(assumed);
    if s.scoreboard.len() <= 256 {
        o.long.push(format!("scoreboard: {}", s.scoreboard));
    }
    let judged = |name: &str| if name == label { (w, c) } else { (None, None) };
    let count = |name: &'static str, v: usize| {
        let (w, c) = judged(name);
        Perfdata::new(name, v as f64)
            .thresholds(w, c)
            .min(0.0)
            .max(cap as f64)
    };
    o.perfdata = vec![
        count("busy", s.busy),
        count("idle", s.idle),
        count("graceful", s.graceful),
        count("open", open),
        Perfdata::new("capacity", cap as f64),
    ];
    let (pw, pc) = judged("busy_pct");
    o.perfdata.push(
        Perfdata::new("busy_pct", pct)
            .uom("%")
            .thresholds(pw, pc)
            .min(0.0)
            .max(100.0),
    );
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

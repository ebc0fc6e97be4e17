//! `check_scoreboard_busy`: how full the worker pool is, counted with
//! mod_status's rules.

use clap::Args;

use super::{capacity, percent, PluginArgs};
use crate::cli::SourceArgs;
use crate::plugin::output::Outcome;
use crate::plugin::perfdata::Perfdata;
use crate::plugin::range::{evaluate, Range};
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
    /// Connections waiting to be accepted on the sockets httpd listens on
    /// (perfdata listen_queue; needs root to see the parent's sockets)
    Queue,
}

#[derive(Args, Debug)]
pub struct BusyArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub plugin: PluginArgs,
    /// Warning range for --metric (Nagios range: 80, 5:, @10:20)
    #[arg(short, long, value_name = "RANGE", allow_hyphen_values = true)]
    pub warning: Option<Range>,
    /// Critical range for --metric
    #[arg(short, long, value_name = "RANGE", allow_hyphen_values = true)]
    pub critical: Option<Range>,
    /// What -w/-c apply to
    #[arg(long, value_enum, default_value = "busy_pct")]
    pub metric: BusyMetric,
    /// Capacity: MaxRequestWorkers [default: ServerLimit x ThreadLimit]
    #[arg(long, value_name = "N", value_parser = crate::cli::positive)]
    pub max_workers: Option<usize>,
    /// ThreadsPerChild (with --max-workers, drops disabled slots as mod_status does)
    #[arg(long, value_name = "N", value_parser = crate::cli::positive)]
    pub threads_per_child: Option<usize>,
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

pub fn check(loaded: &Loaded, args: &BusyArgs) -> anyhow::Result<Outcome> {
    let (cap, limits, assumed) = capacity(loaded, args.max_workers, args.threads_per_child);
    let s = rules::summarize(&loaded.scoreboard, loaded.rules(), limits);
    let open = cap.saturating_sub(s.busy + s.idle + s.graceful);
    let pct = percent(s.busy, cap);
    let listen = loaded.health.as_ref().and_then(|h| h.listen.as_ref());
    let (value, label) = match args.metric {
        BusyMetric::BusyPct => (pct, "busy_pct"),
        BusyMetric::Busy => (s.busy as f64, "busy"),
        BusyMetric::Idle => (s.idle as f64, "idle"),
        BusyMetric::Open => (open as f64, "open"),
        BusyMetric::Queue => match listen {
            Some(Ok(q)) => (q.queued() as f64, "listen_queue"),
            Some(Err(why)) => anyhow::bail!("listen queue unknown: {why}"),
            None => anyhow::bail!("listen queue unknown: no running httpd parent"),
        },
    };
    let (w, c) = (args.warning.as_ref(), args.critical.as_ref());
    let state = evaluate(value, w, c);
    let mut summary = format!("{}/{cap} workers busy ({pct:.1}%), {} idle", s.busy, s.idle);
    if s.graceful > 0 {
        summary.push_str(&format!(", {} graceful", s.graceful));
    }
    if s.finishing > 0 {
        summary.push_str(&format!(
            ", {} finishing from the previous generation",
            if s.finishing == 1 {
                "1 request".to_string()
            } else {
                format!("{} requests", s.finishing)
            }
        ));
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
                crate::plugin::perfdata::format_number(value),
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
    if let Some(Ok(q)) = listen {
        let (qw, qc) = judged("listen_queue");
        let queue = Perfdata::new("listen_queue", q.queued() as f64)
            .thresholds(qw, qc)
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

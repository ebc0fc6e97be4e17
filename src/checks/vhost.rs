//! `check_vhost_saturation`: which site is eating the worker pool. Busy
//! workers (mod_status's busy rule) grouped by vhost; the busiest vhost's
//! share is judged. Slots without a vhost (e.g. `R`) are shown as `(none)`
//! but never judged.

use std::collections::HashMap;

use clap::Args;

use super::{capacity, host_part, human_age, percent, PluginArgs};
use crate::cli::SourceArgs;
use crate::plugin::output::Outcome;
use crate::plugin::perfdata::{format_number, sanitize_label, Perfdata};
use crate::plugin::range::{evaluate, Range};
use crate::plugin::text::escape_bytes;
use crate::plugin::State;
use crate::scoreboard::{status, Loaded, Rules};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum VhostMetric {
    /// The busiest vhost's busy workers in percent of capacity
    #[value(name = "share_of_capacity")]
    ShareOfCapacity,
    /// ... in percent of all busy workers
    #[value(name = "share_of_busy")]
    ShareOfBusy,
    /// ... as a count
    Busy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupBy {
    /// ServerName:port as the scoreboard records it
    Vhost,
    /// The name without the port
    Host,
}

#[derive(Args, Debug)]
pub struct VhostArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub plugin: PluginArgs,
    /// Warning range for --metric of the busiest vhost
    #[arg(short, long, value_name = "RANGE", allow_hyphen_values = true)]
    pub warning: Option<Range>,
    /// Critical range for --metric of the busiest vhost
    #[arg(short, long, value_name = "RANGE", allow_hyphen_values = true)]
    pub critical: Option<Range>,
    #[arg(long, value_enum, default_value = "share_of_capacity")]
    pub metric: VhostMetric,
    #[arg(long, value_enum, default_value = "vhost")]
    pub group_by: GroupBy,
    /// How many vhosts the long output and perfdata list
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub top: usize,
    /// Capacity: MaxRequestWorkers [default: ServerLimit x ThreadLimit]
    #[arg(long, value_name = "N", value_parser = crate::cli::positive)]
    pub max_workers: Option<usize>,
    /// ThreadsPerChild
    #[arg(long, value_name = "N", value_parser = crate::cli::positive)]
    pub threads_per_child: Option<usize>,
}

#[derive(Default)]
struct Group {
    busy: usize,
    oldest: Option<i64>,
}

const NO_VHOST: &str = "(none)";

pub fn check(loaded: &Loaded, args: &VhostArgs) -> anyhow::Result<Outcome> {
    let (cap, _, assumed) = capacity(loaded, args.max_workers, args.threads_per_child);
    let rules = loaded.rules();
    let mut groups: HashMap<Vec<u8>, Group> = HashMap::new();
    for (p, w) in loaded.scoreboard.workers() {
        if !p.is_counted() || !is_busy(w.status(), rules) {
            continue;
        }
        let vhost = w.vhost();
        let key = match args.group_by {
            GroupBy::Vhost => vhost,
            GroupBy::Host => host_part(vhost).unwrap_or(vhost),
        };
        let g = groups.entry(key.to_vec()).or_default();
        g.busy += 1;
        g.oldest = g.oldest.max(w.request_age_us(loaded.now));
    }
    let total_busy: usize = groups.values().map(|g| g.busy).sum();
    let mut ranked: Vec<(String, Group)> = groups
        .into_iter()
        .map(|(k, g)| {
            (
                if k.is_empty() {
                    NO_VHOST.into()
                } else {
                    escape_bytes(&k)
                },
                g,
            )
        })
        .collect();
    ranked.sort_by(|a, b| b.1.busy.cmp(&a.1.busy).then_with(|| a.0.cmp(&b.0)));
    let metric = |g: &Group| match args.metric {
        VhostMetric::ShareOfCapacity => percent(g.busy, cap),
        VhostMetric::ShareOfBusy => percent(g.busy, total_busy),
        VhostMetric::Busy => g.busy as f64,
    };
    let top = ranked.iter().find(|(name, _)| name != NO_VHOST);
    let (w, c) = (args.warning.as_ref(), args.critical.as_ref());
    let state = top.map_or(State::Ok, |(_, g)| evaluate(metric(g), w, c));
    let summary = match top {
        None => format!("no busy worker on any vhost ({total_busy}/{cap} busy)"),
        Some((name, g)) => format!(
            "{name} holds {}/{cap} workers ({:.1}% of capacity, {:.1}% of busy)",
            g.busy,
            percent(g.busy, cap),
            percent(g.busy, total_busy)
        ),
    };
    let mut o = Outcome::new(state, summary);
    if let (Some((name, g)), true) = (top, state != State::Ok) {
        let r = if evaluate(metric(g), None, c) == State::Critical {
            c
        } else {
            w
        };
        if let Some(r) = r {
            o.long.push(format!(
                "{name}: {} {} is {}",
                metric_name(args.metric),
                format_number(metric(g)),
                r.violation()
            ));
        }
    }
    for (name, g) in ranked.iter().take(args.top) {
        o.long.push(format!(
            "{name}: {} busy ({:.1}% of capacity, {:.1}% of busy), oldest request {}",
            g.busy,
            percent(g.busy, cap),
            percent(g.busy, total_busy),
            g.oldest.map_or("-".into(), human_age)
        ));
    }
    o.long.extend(assumed);
    let top_value = |m: VhostMetric| {
        top.map_or(0.0, |(_, g)| match m {
            VhostMetric::ShareOfCapacity => percent(g.busy, cap),
            VhostMetric::ShareOfBusy => percent(g.busy, total_busy),
            VhostMetric::Busy => g.busy as f64,
        })
    };
    let judged = |m: VhostMetric| {
        if m == args.metric {
            (w, c)
        } else {
            (None, None)
        }
    };
    let (cw, cc) = judged(VhostMetric::ShareOfCapacity);
    let (bw, bc) = judged(VhostMetric::ShareOfBusy);
    let (nw, nc) = judged(VhostMetric::Busy);
    o.perfdata = vec![
        Perfdata::new("top_vhost_pct", top_value(VhostMetric::ShareOfCapacity))
            .uom("%")
            .thresholds(cw, cc)
            .min(0.0)
            .max(100.0),
        Perfdata::new("top_vhost_busy_pct", top_value(VhostMetric::ShareOfBusy))
            .uom("%")
            .thresholds(bw, bc)
            .min(0.0)
            .max(100.0),
        Perfdata::new("top_vhost_busy", top_value(VhostMetric::Busy))
            .thresholds(nw, nc)
            .min(0.0)
            .max(cap as f64),
        Perfdata::new("busy", total_busy as f64)
            .min(0.0)
            .max(cap as f64),
    ];
    let mut labels: Vec<String> = Vec::new();
    for (name, g) in ranked.iter().filter(|(n, _)| n != NO_VHOST).take(args.top) {
        let base = format!("vhost_{}", sanitize_label(name));
        let mut label = base.clone();
        let mut n = 2;
        while labels.contains(&label) {
            label = format!("{base}_{n}");
            n += 1;
        }
        o.perfdata.push(
            Perfdata::new(&label, g.busy as f64)
                .min(0.0)
                .max(cap as f64),
        );
        labels.push(label);
    }
    Ok(o)
}

/// mod_status's busy rule for one slot of a counted process.
fn is_busy(s: u8, rules: Rules) -> bool {
    match s {
        status::DEAD | status::STARTING | status::READY | status::IDLE_KILL => false,
        status::GRACEFUL => rules != Rules::Httpd2458,
        _ => true,
    }
}

fn metric_name(m: VhostMetric) -> &'static str {
    match m {
        VhostMetric::ShareOfCapacity => "share of capacity",
        VhostMetric::ShareOfBusy => "share of busy",
        VhostMetric::Busy => "busy workers",
    }
}

//! `check_vhost_saturation`, the tenant check: busy workers (mod_status's
//! busy rule) grouped by vhost, host, serving user or environment
//! ([`crate::measure::tenants`]); judged is the busiest group's share, or
//! the availability (AVAIL) of the group with the least room left under its
//! limit. Slots without a vhost (e.g. `R`) are shown as `(none)` but never
//! judged.

use std::path::PathBuf;

use clap::Args;

use super::human_age;
use crate::measure::tenants::{self, Group, GroupBy, LimitSource, Tenancy};
use crate::measure::{percent, Capacity};
use crate::plugin::output::Outcome;
use crate::plugin::perfdata::{series_labels, Perfdata};
use crate::plugin::text::escape_bytes;
use crate::plugin::verdict::Thresholds;
use crate::plugin::State;
use crate::scoreboard::Loaded;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum VhostMetric {
    /// The busiest group's busy workers in percent of capacity
    #[value(name = "share_of_capacity")]
    ShareOfCapacity,
    /// ... in percent of all busy workers
    #[value(name = "share_of_busy")]
    ShareOfBusy,
    /// ... as a count
    Busy,
    /// The least room any group has left under its limit: 100 x (limit -
    /// workers held, as mpm-itk counts them) / limit (e.g. -w 25: -c 1:)
    #[value(name = "avail_pct")]
    AvailPct,
}

// What -w/-c judge and how workers are grouped, limited and listed.
#[derive(Args, Debug, Clone)]
pub struct Options {
    /// What -w/-c judge; without either, share_of_capacity is judged with
    /// -w 50 -c 80
    #[arg(long, value_enum, default_value = "share_of_capacity")]
    pub metric: VhostMetric,
    /// How busy workers are grouped (the tenants)
    #[arg(long, value_enum, default_value = "vhost")]
    pub group_by: GroupBy,
    #[command(flatten)]
    pub tenancy: TenancyArgs,
    /// How many groups the long output and perfdata list
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub top: usize,
}

// The environments and limits of the groups (the check and `dump
// --group-by`).
#[derive(Args, Debug, Clone, Default)]
pub struct TenancyArgs {
    /// The environments of --group-by environment: one per line, NAME
    /// PATTERN... [limit=N] (see README, check_vhost_saturation) [default: one per
    /// AssignUserID user of the running mpm-itk]
    #[arg(long, value_name = "FILE")]
    pub environments: Option<PathBuf>,
    /// At most N workers for the group NAME (repeatable; a vhost, host,
    /// user or environment name as --group-by groups)
    #[arg(long = "limit", value_name = "NAME=N", value_parser = parse_limit)]
    pub limits: Vec<(String, usize)>,
}

impl TenancyArgs {
    pub fn request(&self, by: GroupBy) -> tenants::Request {
        tenants::Request {
            by,
            environments: self.environments.clone(),
            limits: self.limits.clone(),
        }
    }
}

/// `NAME=N`, N at least 1 (the last `=` splits: vhosts have none).
fn parse_limit(s: &str) -> Result<(String, usize), String> {
    let (name, n) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("invalid limit '{s}': expected NAME=N"))?;
    match n.parse::<usize>() {
        Ok(n) if n > 0 && !name.is_empty() => Ok((name.to_string(), n)),
        _ => Err(format!(
            "invalid limit '{s}': expected NAME=N with N a whole number of at least 1"
        )),
    }
}

pub const NO_VHOST: &str = "(none)";

/// The ranges on share_of_capacity when neither -w nor -c is given (the
/// other metrics have no default: one site alone is 100% of busy).
pub const DEFAULT_WARNING: &str = "50";
pub const DEFAULT_CRITICAL: &str = "80";

fn with_defaults(given: &Thresholds, metric: VhostMetric) -> Thresholds {
    match (given.warning, given.critical, metric) {
        (None, None, VhostMetric::ShareOfCapacity) => Thresholds {
            warning: DEFAULT_WARNING.parse().ok(),
            critical: DEFAULT_CRITICAL.parse().ok(),
        },
        _ => *given,
    }
}

pub fn check(
    loaded: &Loaded,
    args: &Options,
    thresholds: &Thresholds,
    capacity: Capacity,
) -> Outcome {
    let resolved = capacity.resolve(loaded);
    let cap = match (resolved.workers(), args.metric) {
        (Ok(n), _) => Some(n),
        (Err(why), VhostMetric::ShareOfCapacity) => return Outcome::unknown(why),
        (Err(_), _) => None,
    };
    let tenancy = match Tenancy::resolve(loaded, &args.tenancy.request(args.group_by)) {
        Ok(t) => t,
        Err(why) => return Outcome::unknown(why),
    };
    let groups = ranked(
        tenants::measure(loaded, args.group_by, &tenancy),
        args.metric,
    );
    let total_busy: usize = groups.iter().map(|(_, g)| g.active).sum();
    let value = |g: &Group, m: VhostMetric| match m {
        VhostMetric::ShareOfCapacity => percent(g.active, cap.unwrap_or(0)),
        VhostMetric::ShareOfBusy => percent(g.active, total_busy),
        VhostMetric::Busy => g.active as f64,
        VhostMetric::AvailPct => g.avail_pct().unwrap_or(100.0),
    };
    let busiest = groups
        .iter()
        .filter(|(name, _)| name != NO_VHOST)
        .max_by(|a, b| a.1.active.cmp(&b.1.active).then_with(|| b.0.cmp(&a.0)));
    let worst = groups.iter().find(|(_, g)| g.limit.is_some());
    let judged = match args.metric {
        VhostMetric::AvailPct if worst.is_none() => {
            return Outcome::unknown(format!(
                "avail_pct needs a limit: no {} has one (give --limit NAME=N, limit= in \
                 --environments, or run mpm-itk with MaxClientsVHost)",
                group_word(args.group_by)
            ))
        }
        VhostMetric::AvailPct => worst,
        _ => busiest,
    };
    let thresholds = &with_defaults(thresholds, args.metric);
    let verdict = judged.map(|(_, g)| thresholds.judge(value(g, args.metric)));
    let summary = match (judged, args.metric) {
        (Some((name, g)), VhostMetric::AvailPct) => format!("{name} {}", room(g)),
        (Some((name, g)), _) => {
            let share = match cap {
                Some(cap) => format!(
                    "/{cap} workers ({:.1}% of capacity, ",
                    percent(g.active, cap)
                ),
                None => " workers (".into(),
            };
            format!(
                "{name} holds {}{share}{:.1}% of busy)",
                g.active,
                percent(g.active, total_busy)
            )
        }
        (None, _) => format!(
            "no busy worker on any vhost ({total_busy}{} busy)",
            cap.map_or(String::new(), |c| format!("/{c}"))
        ),
    };
    let mut o = Outcome::new(verdict.map_or(State::Ok, |v| v.state), summary);
    if let (Some((name, g)), Some(verdict)) = (judged, verdict) {
        let what = format!("{name}: {}", metric_name(args.metric));
        o.long.extend(verdict.reason(&what, value(g, args.metric)));
    }
    o.long
        .extend(table(args.group_by, &groups[..groups.len().min(args.top)]));
    let listed: Vec<&(String, Group)> = groups
        .iter()
        .filter(|(n, _)| n != NO_VHOST)
        .take(args.top)
        .collect();
    let top_value = |m| busiest.map_or(0.0, |(_, g)| value(g, m));
    let judged_on = |m| thresholds.if_judged(m == args.metric);
    let bounded = |p: Perfdata| match cap {
        Some(c) => p.max(c as f64),
        None => p,
    };
    if cap.is_some() {
        o.perfdata.push(share(
            "top_vhost_pct",
            top_value(VhostMetric::ShareOfCapacity),
            judged_on(VhostMetric::ShareOfCapacity),
        ));
    }
    o.perfdata.extend([
        share(
            "top_vhost_busy_pct",
            top_value(VhostMetric::ShareOfBusy),
            judged_on(VhostMetric::ShareOfBusy),
        ),
        bounded(
            Perfdata::new("top_vhost_busy", top_value(VhostMetric::Busy))
                .thresholds(judged_on(VhostMetric::Busy))
                .min(0.0),
        ),
        bounded(Perfdata::new("busy", total_busy as f64).min(0.0)),
    ]);
    if let Some((_, g)) = worst {
        o.perfdata.push(share(
            "worst_avail_pct",
            value(g, VhostMetric::AvailPct),
            judged_on(VhostMetric::AvailPct),
        ));
    }
    let names: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
    let prefix = match args.group_by {
        GroupBy::Vhost | GroupBy::Host => "vhost",
        GroupBy::User => "user",
        GroupBy::Environment => "env",
    };
    for ((_, g), label) in listed.iter().zip(series_labels(prefix, &names)) {
        o.perfdata
            .push(bounded(Perfdata::new(&label, g.active as f64).min(0.0)));
    }
    let limited: Vec<&(String, Group)> = listed
        .into_iter()
        .filter(|(_, g)| g.limit.is_some())
        .collect();
    let names: Vec<&str> = limited.iter().map(|(n, _)| n.as_str()).collect();
    for ((_, g), label) in limited.iter().zip(series_labels("avail", &names)) {
        o.perfdata.push(share(
            &label,
            value(g, VhostMetric::AvailPct),
            &Thresholds::NONE,
        ));
    }
    o
}

/// A percentage series, 0 to 100.
fn share(label: &str, value: f64, thresholds: &Thresholds) -> Perfdata {
    Perfdata::new(label, value)
        .uom("%")
        .thresholds(thresholds)
        .min(0.0)
        .max(100.0)
}

/// The groups with their names as shown (escaped, `(none)` for no vhost),
/// worst first: by AVAIL (groups with a limit first, least room first) for
/// avail_pct, else the busiest first; then by name.
pub fn ranked(groups: Vec<Group>, metric: VhostMetric) -> Vec<(String, Group)> {
    let mut ranked: Vec<(String, Group)> = groups
        .into_iter()
        .map(|g| {
            let name = if g.name.is_empty() {
                NO_VHOST.into()
            } else {
                escape_bytes(&g.name)
            };
            (name, g)
        })
        .collect();
    let room = |g: &Group| g.avail_pct().unwrap_or(f64::INFINITY);
    ranked.sort_by(|a, b| {
        let by_room = match metric {
            VhostMetric::AvailPct => room(&a.1).total_cmp(&room(&b.1)),
            _ => std::cmp::Ordering::Equal,
        };
        by_room
            .then_with(|| b.1.active.cmp(&a.1.active))
            .then_with(|| a.0.cmp(&b.0))
    });
    ranked
}

/// `AVAIL 0.0%: 2/2 workers (--limit)`.
fn room(g: &Group) -> String {
    let Some(l) = &g.limit else {
        return format!("has no limit, {} active", g.active);
    };
    let source = match (l.source, &l.vhost) {
        (LimitSource::CommandLine, _) => "--limit".to_string(),
        (LimitSource::EnvironmentsFile, _) => "environments file".to_string(),
        (LimitSource::MaxClientsVHost, Some(v)) => {
            format!("MaxClientsVHost of {}", escape_bytes(v))
        }
        (LimitSource::MaxClientsVHost, None) => "MaxClientsVHost".to_string(),
    };
    format!(
        "AVAIL {:.1}%: {}/{} workers ({source})",
        l.avail_pct(),
        l.held,
        l.max
    )
}

/// The peruser-style table: group, active, idle, max, AVAIL, oldest
/// request; `-` where a figure does not apply.
pub fn table(by: GroupBy, groups: &[(String, Group)]) -> Vec<String> {
    let width = groups
        .iter()
        .map(|(n, _)| n.chars().count())
        .chain([group_word(by).len()])
        .max()
        .unwrap_or(0)
        .min(40);
    let dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let mut lines = vec![format!(
        "{:<width$} {:>6} {:>5} {:>5} {:>6}  oldest",
        group_word(by),
        "active",
        "idle",
        "max",
        "AVAIL"
    )];
    for (name, g) in groups {
        lines.push(format!(
            "{name:<width$} {:>6} {:>5} {:>5} {:>6}  {}",
            g.active,
            dash(g.idle.map(|n| n.to_string())),
            dash(g.limit.as_ref().map(|l| l.max.to_string())),
            dash(g.avail_pct().map(|p| format!("{p:.1}%"))),
            dash(g.oldest.map(human_age)),
        ));
    }
    lines
}

fn group_word(by: GroupBy) -> &'static str {
    match by {
        GroupBy::Vhost => "vhost",
        GroupBy::Host => "host",
        GroupBy::User => "user",
        GroupBy::Environment => "environment",
    }
}

fn metric_name(m: VhostMetric) -> &'static str {
    match m {
        VhostMetric::ShareOfCapacity => "share of capacity",
        VhostMetric::ShareOfBusy => "share of busy",
        VhostMetric::Busy => "busy workers",
        VhostMetric::AvailPct => "avail_pct",
    }
}

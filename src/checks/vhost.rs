//! `check_vhost_saturation`: which site is eating the worker pool. Busy
//! workers (mod_status's busy rule) grouped by vhost; the busiest vhost's
//! share is judged. Slots without a vhost (e.g. `R`) are shown as `(none)`
//! but never judged.

use clap::Args;

use super::human_age;
use crate::measure::vhosts::{busy_by_vhost, GroupBy, VhostLoad};
use crate::measure::{percent, Capacity};
use crate::plugin::output::Outcome;
use crate::plugin::perfdata::{Perfdata, MAX_LABEL_CHARS};
use crate::plugin::text::escape_bytes;
use crate::plugin::verdict::Thresholds;
use crate::plugin::State;
use crate::scoreboard::Loaded;

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

// What -w/-c judge and how vhosts are grouped and listed.
#[derive(Args, Debug, Clone)]
pub struct Options {
    /// What -w/-c judge; without either, share_of_capacity is judged with
    /// -w 50 -c 80
    #[arg(long, value_enum, default_value = "share_of_capacity")]
    pub metric: VhostMetric,
    #[arg(long, value_enum, default_value = "vhost")]
    pub group_by: GroupBy,
    /// How many vhosts the long output and perfdata list
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub top: usize,
}

const NO_VHOST: &str = "(none)";

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
        (Err(_), VhostMetric::ShareOfBusy | VhostMetric::Busy) => None,
    };
    // ("/150", "12.0% of capacity, "), or empty when the capacity is unknown.
    let of_capacity = |busy: usize| match cap {
        Some(cap) => (
            format!("/{cap}"),
            format!("{:.1}% of capacity, ", percent(busy, cap)),
        ),
        None => (String::new(), String::new()),
    };
    let thresholds = &with_defaults(thresholds, args.metric);
    let ranked = ranked(busy_by_vhost(loaded, args.group_by));
    let total_busy: usize = ranked.iter().map(|(_, g)| g.busy).sum();
    let value = |g: &VhostLoad, m: VhostMetric| match m {
        VhostMetric::ShareOfCapacity => percent(g.busy, cap.unwrap_or(0)),
        VhostMetric::ShareOfBusy => percent(g.busy, total_busy),
        VhostMetric::Busy => g.busy as f64,
    };
    let top = ranked.iter().find(|(name, _)| name != NO_VHOST);
    let verdict = top.map(|(_, g)| thresholds.judge(value(g, args.metric)));
    let summary = match top {
        None => format!(
            "no busy worker on any vhost ({total_busy}{} busy)",
            of_capacity(0).0
        ),
        Some((name, g)) => {
            let (whole, share) = of_capacity(g.busy);
            format!(
                "{name} holds {}{whole} workers ({share}{:.1}% of busy)",
                g.busy,
                percent(g.busy, total_busy)
            )
        }
    };
    let mut o = Outcome::new(verdict.map_or(State::Ok, |v| v.state), summary);
    if let (Some((name, g)), Some(verdict)) = (top, verdict) {
        let what = format!("{name}: {}", metric_name(args.metric));
        o.long.extend(verdict.reason(&what, value(g, args.metric)));
    }
    for (name, g) in ranked.iter().take(args.top) {
        o.long.push(format!(
            "{name}: {} busy ({}{:.1}% of busy), oldest request {}",
            g.busy,
            of_capacity(g.busy).1,
            percent(g.busy, total_busy),
            g.oldest.map_or("-".into(), human_age)
        ));
    }
    let top_value = |m| top.map_or(0.0, |(_, g)| value(g, m));
    let judged = |m| thresholds.if_judged(m == args.metric);
    o.perfdata = perfdata(&ranked, args.top, cap, total_busy, top_value, judged);
    o
}

/// The top vhost's figures (thresholds on the judged one), the busy total
/// and one series per listed vhost, bounded by the capacity when known.
fn perfdata<'t>(
    ranked: &[(String, VhostLoad)],
    top: usize,
    cap: Option<usize>,
    total_busy: usize,
    top_value: impl Fn(VhostMetric) -> f64,
    judged: impl Fn(VhostMetric) -> &'t Thresholds,
) -> Vec<Perfdata> {
    let bounded = |p: Perfdata| match cap {
        Some(cap) => p.max(cap as f64),
        None => p,
    };
    let mut perfdata = Vec::new();
    if cap.is_some() {
        perfdata.push(
            Perfdata::new("top_vhost_pct", top_value(VhostMetric::ShareOfCapacity))
                .uom("%")
                .thresholds(judged(VhostMetric::ShareOfCapacity))
                .min(0.0)
                .max(100.0),
        );
    }
    perfdata.extend([
        Perfdata::new("top_vhost_busy_pct", top_value(VhostMetric::ShareOfBusy))
            .uom("%")
            .thresholds(judged(VhostMetric::ShareOfBusy))
            .min(0.0)
            .max(100.0),
        bounded(
            Perfdata::new("top_vhost_busy", top_value(VhostMetric::Busy))
                .thresholds(judged(VhostMetric::Busy))
                .min(0.0),
        ),
        bounded(Perfdata::new("busy", total_busy as f64).min(0.0)),
    ]);
    let listed: Vec<&(String, VhostLoad)> = ranked
        .iter()
        .filter(|(n, _)| n != NO_VHOST)
        .take(top)
        .collect();
    let names: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
    for ((_, g), label) in listed.iter().zip(vhost_labels(&names)) {
        perfdata.push(bounded(Perfdata::new(&label, g.busy as f64).min(0.0)));
    }
    perfdata
}

/// The groups with their names as shown (escaped, `(none)` for no vhost),
/// busiest first, then by name.
fn ranked(groups: Vec<VhostLoad>) -> Vec<(String, VhostLoad)> {
    let mut ranked: Vec<(String, VhostLoad)> = groups
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
    ranked.sort_by(|a, b| b.1.busy.cmp(&a.1.busy).then_with(|| a.0.cmp(&b.0)));
    ranked
}

/// Perfdata labels for vhost names (the text output keeps the real names):
/// `vhost_` and the name with every run of characters outside
/// `[A-Za-z0-9]` as one `_`, at most [`MAX_LABEL_CHARS`]. Graphite (Icinga's
/// GraphiteWriter, PNP, carbon) splits metric names on `.`, so
/// `www.example.com:443` must not stay dotted; `:` (Icinga's `::` check
/// prefix), `-` and with them the need to quote the label go too. Names that come out equal (`a.b` and
/// `a_b`, or long names cut alike) each get `_` and 8 hex digits of a hash
/// (FNV-1a) of the real name: deterministic, and independent of the
/// vhosts' ranking, so a series keeps its name when two vhosts swap places.
/// A clash left after that (a hash collision) is numbered in ranking order.
fn vhost_labels(names: &[&str]) -> Vec<String> {
    const HASH_SUFFIX: usize = 9; // `_` and 8 hex digits
    let plain = |name: &str, max: usize| {
        let mut label = String::from("vhost");
        for c in name.chars() {
            let c = if c.is_ascii_alphanumeric() { c } else { '_' };
            if !(c == '_' && label.ends_with('_')) {
                label.push(c);
            }
        }
        label.truncate(max);
        label.trim_end_matches('_').to_string()
    };
    let base: Vec<String> = names
        .iter()
        .map(|n| {
            let mut label = plain(&format!("_{n}"), MAX_LABEL_CHARS);
            if label == "vhost" {
                label.push_str("_empty");
            }
            label
        })
        .collect();
    let mut labels: Vec<String> = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let shared = base.iter().filter(|b| **b == base[i]).count() > 1;
        let mut label = if shared {
            let hash = name.bytes().fold(0x811c_9dc5_u32, |h, b| {
                (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
            });
            let head = plain(&format!("_{name}"), MAX_LABEL_CHARS - HASH_SUFFIX);
            format!("{head}_{hash:08x}")
        } else {
            base[i].clone()
        };
        let stem = label.clone();
        let mut n = 2;
        while labels.contains(&label) || (label != base[i] && base.contains(&label)) {
            let suffix = format!("_{n}");
            let keep = stem.len().min(MAX_LABEL_CHARS - suffix.len());
            label = format!("{}{suffix}", &stem[..keep]);
            n += 1;
        }
        labels.push(label);
    }
    labels
}

fn metric_name(m: VhostMetric) -> &'static str {
    match m {
        VhostMetric::ShareOfCapacity => "share of capacity",
        VhostMetric::ShareOfBusy => "share of busy",
        VhostMetric::Busy => "busy workers",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::perfdata::sanitize_label;

    #[test]
    fn labels_have_no_graphite_separators() {
        let labels = vhost_labels(&[
            "www.example.com:443",
            "b.test:18082",
            "[::1]:80",
            "my-site.example:8080",
            r"ev\x7cl'=\x0a:80",
            "",
        ]);
        assert_eq!(
            labels,
            [
                "vhost_www_example_com_443",
                "vhost_b_test_18082",
                "vhost_1_80",
                "vhost_my_site_example_8080",
                "vhost_ev_x7cl_x0a_80",
                "vhost_empty",
            ]
        );
        for label in &labels {
            assert!(label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_'));
            // Perfdata::new keeps them as they are.
            assert_eq!(&sanitize_label(label), label);
        }
    }

    #[test]
    fn colliding_labels_are_distinct_and_independent_of_order() {
        let long = "a".repeat(60);
        let longer = format!("{long}b");
        let names = [
            "a.b:80",
            "a_b:80",
            "c.test:80",
            long.as_str(),
            longer.as_str(),
        ];
        let labels = vhost_labels(&names);
        assert_eq!(labels[2], "vhost_c_test_80");
        for (i, label) in labels.iter().enumerate() {
            assert!(label.len() <= MAX_LABEL_CHARS, "{label}");
            assert_eq!(
                labels.iter().filter(|l| *l == label).count(),
                1,
                "{labels:?}"
            );
            if i != 2 {
                assert!(label.len() > 9 && label.as_bytes()[label.len() - 9] == b'_');
            }
        }
        assert!(labels[0].starts_with("vhost_a_b_80_"), "{}", labels[0]);
        // The same name gets the same label whatever the ranking.
        let mut reversed = names;
        reversed.reverse();
        let mut again = vhost_labels(&reversed);
        again.reverse();
        assert_eq!(labels, again);
    }

    #[test]
    fn leftover_clash_is_numbered() {
        // A plain label that equals another vhost's hashed one cannot be
        // constructed without a hash collision; a repeated name can.
        let labels = vhost_labels(&["x.y", "x.y"]);
        assert_ne!(labels[0], labels[1]);
        assert!(labels[1].ends_with("_2"), "{labels:?}");
    }
}

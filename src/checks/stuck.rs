//! `check_stuck_requests`: requests that have been running too long (see
//! [`crate::measure::inflight`] for what is in flight).

use clap::Args;

use super::{human_age, Globs};
use crate::measure::inflight::{request_shown, requests, Request};
use crate::measure::tenants::host_part;
use crate::plugin::output::Outcome;
use crate::plugin::perfdata::Perfdata;
use crate::plugin::range::Range;
use crate::plugin::text::escape_bytes;
use crate::plugin::verdict::Thresholds;
use crate::plugin::State;
use crate::scoreboard::{Loaded, Worker};

// The ages -w/-c name and which requests count.
#[derive(Args, Debug, Clone)]
pub struct Options {
    /// Warning age: 30s, 5m, 1h30m; a bare number is seconds [default
    /// without -w and -c: 5m]
    #[arg(short, long, value_name = "AGE", value_parser = parse_age)]
    pub warning: Option<i64>,
    /// Critical age [default without -w and -c: 15m]
    #[arg(short, long, value_name = "AGE", value_parser = parse_age)]
    pub critical: Option<i64>,
    /// Alert only when at least N requests are older than the age
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub min_count: u64,
    /// Only requests on these vhosts (comma-separated globs; a glob without a
    /// port also matches the name alone)
    #[arg(long, value_name = "GLOBS")]
    pub vhost: Option<Globs>,
    /// Leave out requests on these vhosts
    #[arg(long, value_name = "GLOBS")]
    pub exclude_vhost: Option<Globs>,
    /// Leave out requests whose request line matches (e.g. 'GET /ws/*')
    #[arg(long, value_name = "GLOBS")]
    pub exclude_request: Option<Globs>,
    /// Also count R slots (reading a request) by the time since the worker
    /// last left idle, as mod_status's SS column does
    #[arg(long)]
    pub include_reading: bool,
    /// Show request lines with their query strings (shown as `?…` by
    /// default); only for root, the caller's own segment or a show-details
    /// scoreboard (README, "Running without root")
    #[arg(long)]
    pub show_query: bool,
    /// Show client addresses (left out by default); same condition as
    /// --show-query
    #[arg(long)]
    pub show_clients: bool,
}

/// `30s`, `5m`, `1h 30m`, or a bare number of seconds, in µs.
pub fn parse_age(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<f64>() {
        if (0.0..1e12).contains(&secs) {
            return Ok((secs * 1e6) as i64);
        }
        return Err(format!(
            "invalid age '{s}': must be a non-negative number of seconds"
        ));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("invalid age '{s}': {e} (e.g. 30s, 5m, 1h30m)"))
        .and_then(|d| {
            i64::try_from(d.as_micros()).map_err(|_| format!("invalid age '{s}': too large"))
        })
}

/// The ages judged when neither -w nor -c is given, in µs: a request
/// running for five minutes (Apache's default Timeout) warns, for fifteen
/// is critical.
pub const DEFAULT_WARNING_US: i64 = 300_000_000;
pub const DEFAULT_CRITICAL_US: i64 = 900_000_000;

impl Options {
    fn with_default_ages(&self) -> Options {
        let mut o = self.clone();
        if o.warning.is_none() && o.critical.is_none() {
            o.warning = Some(DEFAULT_WARNING_US);
            o.critical = Some(DEFAULT_CRITICAL_US);
        }
        o
    }
}

pub fn check(loaded: &Loaded, args: &Options) -> Outcome {
    let args = &args.with_default_ages();
    let mut running: Vec<Request> = requests(loaded, args.include_reading)
        .filter(|r| args.selects(&r.worker, loaded.details))
        .collect();
    running.sort_by(|a, b| b.age.cmp(&a.age).then(slot(a).cmp(&slot(b))));
    let older = |limit: Option<i64>| {
        limit.map_or(0, |l| running.iter().filter(|r| r.age > l).count() as u64)
    };
    let (n_warn, n_crit) = (older(args.warning), older(args.critical));
    let secs = |us: i64| us as f64 / 1e6;
    let ages = Thresholds {
        warning: args.warning.map(|us| Range::up_to(secs(us))),
        critical: args.critical.map(|us| Range::up_to(secs(us))),
    };
    // At least --min-count requests older than an age: the age of the
    // min-count-th oldest is judged.
    let nth_oldest = running.get(args.min_count.saturating_sub(1) as usize);
    let state = ages.judge(nth_oldest.map_or(0.0, |r| secs(r.age))).state;
    let oldest = running.first();
    let summary = match (state, oldest) {
        (_, None) => "no request in flight".to_string(),
        (State::Ok, Some(o)) => format!(
            "{} requests in flight, oldest {} on {}",
            running.len(),
            human_age(o.age),
            vhost_shown(o)
        ),
        (_, Some(o)) => {
            let (n, limit) = if state == State::Critical {
                (n_crit, args.critical)
            } else {
                (n_warn, args.warning)
            };
            format!(
                "{n} of {} requests running longer than {}, oldest {} on {}",
                running.len(),
                human_age(limit.unwrap_or(0)),
                human_age(o.age),
                vhost_shown(o)
            )
        }
    };
    let mut o = Outcome::new(state, summary);
    // Offenders (older than the warning age, or every request without one).
    let shown_from = args.warning.or(args.critical);
    o.long = running
        .iter()
        .filter(|r| shown_from.is_none_or(|l| r.age > l))
        .map(|r| {
            offender_line(
                r,
                args.show_query && loaded.details,
                args.show_clients && loaded.details,
            )
        })
        .collect();
    if (args.show_query || args.show_clients) && !loaded.details {
        o.long.push(
            "--show-query/--show-clients ignored: for root or show-details scoreboards only".into(),
        );
    }
    let slots = loaded.scoreboard.slot_count() as f64;
    let count = |label: &str, n: usize| Perfdata::new(label, n as f64).min(0.0).max(slots);
    let reading = running.iter().filter(|r| r.reading).count();
    o.perfdata = vec![
        count("inflight", running.len() - reading),
        count("stuck_warning", n_warn as usize),
        count("stuck_critical", n_crit as usize),
        Perfdata::new("oldest_age", oldest.map_or(0.0, |r| secs(r.age)))
            .uom("s")
            .thresholds(&ages)
            .min(0.0),
    ];
    if args.include_reading {
        o.perfdata.push(count("reading", reading));
    }
    o
}

impl Options {
    /// Whether the request on `w` passes --vhost, --exclude-vhost and
    /// --exclude-request. The request line is matched as the caller may see
    /// it (`details`): a glob must not probe a hidden query string one
    /// character at a time.
    fn selects(&self, w: &Worker<'_>, details: bool) -> bool {
        let vhost = w.vhost();
        let on = |globs: &Globs| {
            globs.matches(vhost, true) || host_part(vhost).is_some_and(|h| globs.matches(h, true))
        };
        self.vhost.as_ref().is_none_or(on)
            && !self
                .exclude_vhost
                .as_ref()
                .is_some_and(|g| !vhost.is_empty() && on(g))
            && !self
                .exclude_request
                .as_ref()
                .is_some_and(|g| g.matches(&request_shown(w.request(), details), false))
    }
}

fn slot(r: &Request<'_>) -> (usize, usize) {
    (r.worker.process_slot, r.worker.thread_slot)
}

fn vhost_shown(r: &Request<'_>) -> String {
    match r.worker.vhost() {
        b"" => "(none)".into(),
        vhost => escape_bytes(vhost),
    }
}

/// `4m12s pid 1234 slot 0-3 W a.test:80 GET /slow?… HTTP/1.1`, with the
/// client after the vhost when `show_clients`.
fn offender_line(r: &Request<'_>, show_query: bool, show_clients: bool) -> String {
    let w = &r.worker;
    let or_dash = |b: &[u8]| {
        if b.is_empty() {
            "-".to_string()
        } else {
            escape_bytes(b)
        }
    };
    let client = if show_clients {
        format!(" {}", or_dash(w.client()))
    } else {
        String::new()
    };
    format!(
        "{} pid {} slot {}-{} {}{} {}{client} {}",
        human_age(r.age),
        w.pid(),
        w.process_slot,
        w.thread_slot,
        w.status_char(),
        if r.reading {
            " (reading, age since last idle)"
        } else {
            ""
        },
        vhost_shown(r),
        or_dash(&request_shown(w.request(), show_query))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_parse() {
        assert_eq!(parse_age("30"), Ok(30_000_000));
        assert_eq!(parse_age("1.5"), Ok(1_500_000));
        assert_eq!(parse_age("5m"), Ok(300_000_000));
        assert_eq!(parse_age("1h30m"), Ok(5_400_000_000));
        assert!(parse_age("-1").is_err());
        assert!(parse_age("soon").is_err());
    }
}

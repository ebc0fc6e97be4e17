//! `check_stuck_requests`: requests that have been running too long. A
//! request is in flight exactly when `start_time > stop_time`, whatever the
//! status letter (W, or G during a graceful restart) and generation.

use clap::Args;

use super::{host_part, human_age, Globs};
use crate::plugin::output::Outcome;
use crate::plugin::perfdata::Perfdata;
use crate::plugin::range::Range;
use crate::plugin::text::escape_bytes;
use crate::plugin::State;
use crate::scoreboard::{status, Loaded};

// The ages -w/-c name and which requests count.
#[derive(Args, Debug, Clone)]
pub struct Options {
    /// Warning age: 30s, 5m, 1h30m; a bare number is seconds
    #[arg(short, long, value_name = "AGE", value_parser = parse_age)]
    pub warning: Option<i64>,
    /// Critical age
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

/// One request the check looks at.
struct Running {
    age: i64,
    reading: bool,
    pid: i32,
    slot: (usize, usize),
    status: char,
    vhost: String,
    client: String,
    request: String,
}

/// A request line as checks show it: the query string (from `?` to the
/// next space, e.g. a token) as `?…` unless `show_query`.
pub fn request_shown(request: &[u8], show_query: bool) -> std::borrow::Cow<'_, [u8]> {
    let Some(q) = request
        .iter()
        .position(|&b| b == b'?')
        .filter(|_| !show_query)
    else {
        return request.into();
    };
    let end = request[q..]
        .iter()
        .position(|&b| b == b' ')
        .map_or(request.len(), |e| q + e);
    let mut shown = request[..q].to_vec();
    shown.extend_from_slice("?…".as_bytes());
    shown.extend_from_slice(&request[end..]);
    shown.into()
}

fn vhost_matches(globs: &Globs, vhost: &[u8]) -> bool {
    globs.matches(vhost, true) || host_part(vhost).is_some_and(|h| globs.matches(h, true))
}

pub fn check(loaded: &Loaded, args: &Options) -> anyhow::Result<Outcome> {
    let now = loaded.now;
    let show_query = args.show_query && loaded.details;
    let show_clients = args.show_clients && loaded.details;
    let mut running: Vec<Running> = Vec::new();
    for (_, w) in loaded.scoreboard.workers() {
        let (age, reading) = match (
            w.request_age_us(now),
            w.status() == status::BUSY_READ && args.include_reading,
        ) {
            (Some(age), _) => (age, false),
            (None, true) => match w.idle_for_us(now) {
                Some(age) => (age, true),
                None => continue,
            },
            (None, false) => continue,
        };
        let vhost = w.vhost();
        if let Some(g) = &args.vhost {
            if !vhost_matches(g, vhost) {
                continue;
            }
        }
        if args
            .exclude_vhost
            .as_ref()
            .is_some_and(|g| !vhost.is_empty() && vhost_matches(g, vhost))
        {
            continue;
        }
        if args
            .exclude_request
            .as_ref()
            // Matched against what the caller may see: a glob must not
            // probe a hidden query string one character at a time.
            .is_some_and(|g| g.matches(&request_shown(w.request(), loaded.details), false))
        {
            continue;
        }
        running.push(Running {
            age,
            reading,
            pid: w.pid(),
            slot: (w.process_slot, w.thread_slot),
            status: w.status_char(),
            vhost: if vhost.is_empty() {
                "(none)".into()
            } else {
                escape_bytes(vhost)
            },
            client: escape_bytes(w.client()),
            request: escape_bytes(&request_shown(w.request(), show_query)),
        });
    }
    running.sort_by(|a, b| b.age.cmp(&a.age).then(a.slot.cmp(&b.slot)));
    let older = |limit: Option<i64>| {
        limit.map_or(0, |l| running.iter().filter(|r| r.age > l).count() as u64)
    };
    let (n_warn, n_crit) = (older(args.warning), older(args.critical));
    let state = if args.critical.is_some() && n_crit >= args.min_count {
        State::Critical
    } else if args.warning.is_some() && n_warn >= args.min_count {
        State::Warning
    } else {
        State::Ok
    };
    let oldest = running.first();
    let summary = match (state, oldest) {
        (_, None) => "no request in flight".to_string(),
        (State::Ok, Some(o)) => format!(
            "{} requests in flight, oldest {} on {}",
            running.len(),
            human_age(o.age),
            o.vhost
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
                o.vhost
            )
        }
    };
    let mut o = Outcome::new(state, summary);
    // Offenders (older than the warning age, or every request without one).
    let shown_from = args.warning.or(args.critical);
    for r in running
        .iter()
        .filter(|r| shown_from.is_none_or(|l| r.age > l))
    {
        let client = match (show_clients, r.client.is_empty()) {
            (false, _) => String::new(),
            (true, true) => " -".into(),
            (true, false) => format!(" {}", r.client),
        };
        o.long.push(format!(
            "{} pid {} slot {}-{} {}{} {}{client} {}",
            human_age(r.age),
            r.pid,
            r.slot.0,
            r.slot.1,
            r.status,
            if r.reading {
                " (reading, age since last idle)"
            } else {
                ""
            },
            r.vhost,
            if r.request.is_empty() {
                "-"
            } else {
                &r.request
            }
        ));
    }
    if (args.show_query || args.show_clients) && !loaded.details {
        o.long.push(
            "--show-query/--show-clients ignored: for root or show-details scoreboards only".into(),
        );
    }
    let secs = |us: i64| us as f64 / 1e6;
    let age_range = |l: Option<i64>| {
        l.map(|us| format!("{}", secs(us)).parse::<Range>())
            .transpose()
    };
    let (wr, cr) = (age_range(args.warning)?, age_range(args.critical)?);
    let slots = loaded.scoreboard.slot_count() as f64;
    o.perfdata = vec![
        Perfdata::new(
            "inflight",
            running.iter().filter(|r| !r.reading).count() as f64,
        )
        .min(0.0)
        .max(slots),
        Perfdata::new("stuck_warning", n_warn as f64)
            .min(0.0)
            .max(slots),
        Perfdata::new("stuck_critical", n_crit as f64)
            .min(0.0)
            .max(slots),
        Perfdata::new("oldest_age", oldest.map_or(0.0, |r| secs(r.age)))
            .uom("s")
            .thresholds(wr.as_ref(), cr.as_ref())
            .min(0.0),
    ];
    if args.include_reading {
        o.perfdata.push(
            Perfdata::new(
                "reading",
                running.iter().filter(|r| r.reading).count() as f64,
            )
            .min(0.0)
            .max(slots),
        );
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_strings_are_hidden() {
        let shown = |r: &str| {
            String::from_utf8(super::request_shown(r.as_bytes(), false).into_owned()).unwrap()
        };
        assert_eq!(shown("GET /a?token=x HTTP/1.1"), "GET /a?… HTTP/1.1");
        assert_eq!(shown("GET /a?token=x&pad=01234"), "GET /a?…");
        assert_eq!(shown("GET /a HTTP/1.1"), "GET /a HTTP/1.1");
        assert_eq!(shown("OPTIONS * HTTP/1.1"), "OPTIONS * HTTP/1.1");
        assert_eq!(
            super::request_shown(b"GET /?q HTTP/1.1", true).as_ref(),
            b"GET /?q HTTP/1.1"
        );
    }

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

//! `check_heartbeat_cluster`: are the origins a mod_heartmonitor hears from
//! alive, and how much room does the cluster have. Reads the monitor's
//! storage ([`crate::heartbeat`]); a member is live while its news is at
//! most `--max-age` old.

use std::net::IpAddr;

use clap::Args;

use super::human_age;
use super::stuck::parse_age;
use crate::heartbeat::{self, Member, Monitor, Storage};
use crate::plugin::output::Outcome;
use crate::plugin::perfdata::Perfdata;
use crate::plugin::verdict::Thresholds;
use crate::plugin::{worst, State};

/// The monitor rewrites the file every 5 s; three periods without a write
/// means it is gone.
pub const FILE_DEAD_US: i64 = 15_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ClusterMetric {
    /// 100 x busy / (busy + ready) over every live member
    #[value(name = "busy_pct")]
    BusyPct,
    /// Live members
    Live,
    /// The busiest live member's busy_pct
    #[value(name = "member_busy_pct")]
    MemberBusyPct,
}

// Who should be alive and what -w/-c judge.
#[derive(Args, Debug, Clone)]
pub struct Options {
    /// Number of origins that should be alive
    #[arg(long, value_name = "N")]
    pub expect: Option<usize>,
    /// An origin that must be alive (its IP as the monitor sees it; repeat)
    #[arg(long, value_name = "IP", value_parser = parse_member)]
    pub member: Vec<IpAddr>,
    /// Age beyond which a member is stale (mod_lbmethod_heartbeat's alive is 10s)
    #[arg(long, value_name = "AGE", default_value = "10s", value_parser = parse_age)]
    pub max_age: i64,
    /// What -w/-c apply to
    #[arg(long, value_enum, default_value = "busy_pct")]
    pub metric: ClusterMetric,
    /// Per-member perfdata (busy_<ip>, ready_<ip>) for at most N members, busiest first
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
}

fn parse_member(s: &str) -> Result<IpAddr, String> {
    s.parse()
        .map_err(|_| format!("'{s}' is not an IP address (the monitor keys members by source IP)"))
}

fn ip_of(m: &Member) -> Option<IpAddr> {
    m.ip.split('%').next()?.parse().ok()
}

fn percent(busy: u64, ready: u64) -> f64 {
    crate::measure::percent(busy as usize, (busy + ready) as usize)
}

/// The figures, measured once.
struct Figures<'a> {
    live: Vec<&'a Member>,
    stale: Vec<&'a Member>,
    /// Listed members the storage does not hold.
    absent: Vec<IpAddr>,
    busy: u64,
    ready: u64,
}

impl<'a> Figures<'a> {
    fn measure(storage: &'a Storage, args: &Options) -> Figures<'a> {
        let (live, stale): (Vec<&Member>, Vec<&Member>) = storage
            .members
            .iter()
            .partition(|m| m.age_us <= args.max_age);
        let held: Vec<Option<IpAddr>> = storage.members.iter().map(ip_of).collect();
        let mut absent: Vec<IpAddr> = Vec::new();
        for ip in &args.member {
            if !held.contains(&Some(*ip)) && !absent.contains(ip) {
                absent.push(*ip);
            }
        }
        let busy = live.iter().map(|m| u64::from(m.busy)).sum();
        let ready = live.iter().map(|m| u64::from(m.ready)).sum();
        Figures {
            live,
            stale,
            absent,
            busy,
            ready,
        }
    }

    fn busy_pct(&self) -> f64 {
        percent(self.busy, self.ready)
    }

    fn member_busy_pct(&self) -> f64 {
        self.live
            .iter()
            .map(|m| percent(m.busy.into(), m.ready.into()))
            .fold(0.0, f64::max)
    }

    /// Members not held at all: the listed ones absent, or what --expect
    /// lacks beyond the held ones.
    fn missing(&self, args: &Options) -> usize {
        let held = self.live.len() + self.stale.len();
        let short = args.expect.map_or(0, |n| n.saturating_sub(held));
        self.absent.len().max(short)
    }
}

/// Whether a live monitor (re)started less than `--max-age` ago: members
/// not heard yet are then waited for.
fn in_grace(storage: &Storage, max_age: i64) -> bool {
    match storage.monitor {
        Monitor::Running {
            started_us: Some(t),
            ..
        } => !storage.at_given && storage.now - t < max_age,
        _ => false,
    }
}

pub fn check(storage: &Storage, args: &Options, thresholds: &Thresholds) -> Outcome {
    let f = Figures::measure(storage, args);
    let listed = |m: &Member| ip_of(m).is_some_and(|ip| args.member.contains(&ip));
    let judged = |m: &Member| args.expect.is_some() || listed(m);
    let grace = in_grace(storage, args.max_age);

    let mut state = State::Ok;
    let mut problems: Vec<String> = Vec::new();
    let short = args.expect.map_or(0, |n| n.saturating_sub(f.live.len()));
    for m in f.stale.iter().filter(|m| judged(m)) {
        problems.push(format!("{} stale ({})", m.ip, human_age(m.age_us)));
    }
    for ip in &f.absent {
        problems.push(format!("{ip} missing"));
    }
    let unheard = f.missing(args) > 0 || short > f.stale.iter().filter(|m| judged(m)).count();
    let waiting = grace && unheard;
    if !problems.is_empty() || short > 0 {
        if waiting && f.stale.iter().all(|m| !judged(m)) {
            problems.insert(0, "waiting for the first heartbeats".into());
        } else {
            state = State::Critical;
        }
    }

    let (value, label) = match args.metric {
        ClusterMetric::BusyPct => (f.busy_pct(), "busy_pct"),
        ClusterMetric::Live => (f.live.len() as f64, "live"),
        ClusterMetric::MemberBusyPct => (f.member_busy_pct(), "member_busy_pct"),
    };
    let verdict = thresholds.judge(value);
    state = worst(state, verdict.state);

    // Out of --expect, else out of the members listed.
    let wanted = args
        .expect
        .or((!args.member.is_empty()).then_some(args.member.len()));
    let expected = wanted.map_or(String::new(), |n| format!("/{n}"));
    let mut summary = format!(
        "{}{expected} members live, {} busy {} ready ({:.1}% busy)",
        f.live.len(),
        f.busy,
        f.ready,
        f.busy_pct()
    );
    if !problems.is_empty() {
        summary = format!("{summary}: {}", problems.join(", "));
    }
    let mut o = Outcome::new(state, summary);
    o.long.extend(verdict.reason(label, value));
    for m in &storage.members {
        let live = m.age_us <= args.max_age;
        let role = if judged(m) { "" } else { ", not expected" };
        o.long.push(format!(
            "{}: {} busy {} ready, {} old ({}{role}){}",
            m.ip,
            m.busy,
            m.ready,
            human_age(m.age_us),
            if live { "live" } else { "stale" },
            m.port.map_or(String::new(), |p| format!(", port {p}"))
        ));
    }
    o.perfdata = perfdata(&f, args, thresholds, label, value);
    o
}

fn perfdata(
    f: &Figures,
    args: &Options,
    thresholds: &Thresholds,
    label: &str,
    value: f64,
) -> Vec<Perfdata> {
    let judged = |name: &str| thresholds.if_judged(name == label);
    let count = |name: &str, v: usize| {
        Perfdata::new(name, v as f64)
            .thresholds(judged(name))
            .min(0.0)
    };
    let mut perf = vec![count("live", f.live.len()), count("stale", f.stale.len())];
    if args.expect.is_some() || !args.member.is_empty() {
        perf.push(count("missing", f.missing(args)));
    }
    perf.push(Perfdata::new("busy", f.busy as f64).min(0.0));
    perf.push(Perfdata::new("ready", f.ready as f64).min(0.0));
    let pct = |name: &str, v: f64| {
        Perfdata::new(name, v)
            .uom("%")
            .thresholds(judged(name))
            .min(0.0)
            .max(100.0)
    };
    perf.push(pct("busy_pct", f.busy_pct()));
    if label == "member_busy_pct" {
        perf.push(pct("member_busy_pct", value));
    }
    let mut ranked = f.live.clone();
    ranked.sort_by(|a, b| {
        let pa = percent(a.busy.into(), a.ready.into());
        let pb = percent(b.busy.into(), b.ready.into());
        pb.total_cmp(&pa)
            .then(b.busy.cmp(&a.busy))
            .then(a.ip.cmp(&b.ip))
    });
    for m in ranked.into_iter().take(args.top) {
        let key = m.ip.replace(['.', ':'], "_");
        perf.push(Perfdata::new(&format!("busy_{key}"), m.busy.into()).min(0.0));
        perf.push(Perfdata::new(&format!("ready_{key}"), m.ready.into()).min(0.0));
    }
    perf
}

/// A file the monitor stopped rewriting: (how long ago it was written).
pub fn dead_file(storage: &Storage) -> Option<i64> {
    let written = storage.written_us?;
    let age = storage.now - written;
    (age > FILE_DEAD_US).then_some(age)
}

/// The check's outcome for a storage that could not be read: a slotmem
/// object gone while no monitor runs is the monitor being down.
pub fn unreadable(e: &heartbeat::Error, monitor_running: bool) -> Outcome {
    match e {
        heartbeat::Error::Gone { what } if !monitor_running => Outcome::new(
            State::Critical,
            format!("heartbeat monitor not running ({what})"),
        ),
        other => Outcome::unknown(other.to_string()),
    }
}

/// Probe (read the storage), judge, and add what `-v` asks for.
pub fn run(
    opts: &heartbeat::StorageOptions,
    args: &Options,
    thresholds: &Thresholds,
    verbose: u8,
) -> Outcome {
    match heartbeat::load(opts) {
        Err(e) => {
            let running = matches!(e, heartbeat::Error::Gone { .. })
                && !heartbeat::locate::monitors().is_empty();
            unreadable(&e, running)
        }
        Ok(storage) => {
            let mut o = judge(&storage, args, thresholds);
            o.long.extend(diagnostics(&storage, verbose));
            o
        }
    }
}

/// `-v`: where the figures come from; `-vv`: times.
fn diagnostics(storage: &Storage, verbose: u8) -> Vec<String> {
    let mut lines = Vec::new();
    if verbose == 0 {
        return lines;
    }
    let slots = storage.slots.map_or(String::new(), |h| {
        format!(", {} slots, {} free", h.slots, h.free)
    });
    lines.push(format!(
        "storage: {} {}{slots}, {} members",
        storage.kind.name(),
        storage.shown,
        storage.members.len()
    ));
    lines.push(match &storage.monitor {
        Monitor::Running { pid, started_us } => format!(
            "monitor: httpd pid {pid}{}",
            started_us.map_or(String::new(), |t| format!(
                ", (re)started {}",
                super::rfc3339(t)
            ))
        ),
        Monitor::Unknown => "monitor: not identified (a copy, or not readable in /proc)".into(),
    });
    if verbose >= 2 {
        lines.push(format!(
            "now {}{}",
            super::rfc3339(storage.now),
            storage.written_us.map_or(String::new(), |w| format!(
                ", file written {}",
                super::rfc3339(w)
            ))
        ));
    }
    lines
}

/// Judges a storage read: a dead monitor first, else the members.
pub fn judge(storage: &Storage, args: &Options, thresholds: &Thresholds) -> Outcome {
    let mut o = check(storage, args, thresholds);
    if let Some(age) = dead_file(storage) {
        o.state = State::Critical;
        o.summary = format!(
            "heartbeat monitor not running: {} last written {} ago",
            storage.shown,
            human_age(age)
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heartbeat::Kind;

    const NOW: i64 = 1_795_225_433_000_000;

    fn member(ip: &str, busy: u32, ready: u32, age_s: f64) -> Member {
        Member {
            ip: ip.into(),
            ready,
            busy,
            age_us: (age_s * 1e6) as i64,
            port: None,
            slot: None,
        }
    }

    fn storage(members: Vec<Member>, monitor: Monitor) -> Storage {
        Storage {
            kind: Kind::Slotmem,
            shown: "/dev/shm/ShM.x".into(),
            members,
            written_us: None,
            slots: None,
            monitor,
            now: NOW,
            at_given: false,
        }
    }

    /// Options and -w/-c from a command line.
    fn args(extra: &[&str]) -> (Options, Thresholds) {
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            a: Options,
            #[arg(short)]
            w: Option<crate::plugin::range::Range>,
            #[arg(short)]
            c: Option<crate::plugin::range::Range>,
        }
        let mut argv = vec!["x"];
        argv.extend_from_slice(extra);
        let p = <P as clap::Parser>::parse_from(argv);
        let t = Thresholds {
            warning: p.w,
            critical: p.c,
        };
        (p.a, t)
    }

    fn judge(s: &Storage, (a, t): &(Options, Thresholds)) -> Outcome {
        super::judge(s, a, t)
    }

    fn three() -> Vec<Member> {
        vec![
            member("192.0.2.11", 0, 6, 0.9),
            member("192.0.2.12", 3, 5, 0.1),
            member("192.0.2.13", 0, 10, 42.0),
        ]
    }

    #[test]
    fn stale_and_missing_members_are_critical_with_ages() {
        let s = storage(three(), Monitor::Unknown);
        let o = judge(&s, &args(&["--expect", "3"]));
        assert_eq!(o.state, State::Critical);
        assert_eq!(
            o.summary,
            "2/3 members live, 3 busy 11 ready (21.4% busy): 192.0.2.13 stale (42.0s)"
        );
        let o = judge(
            &s,
            &args(&["--member", "192.0.2.11", "--member", "192.0.2.14"]),
        );
        assert_eq!(o.state, State::Critical);
        assert!(o.summary.ends_with(": 192.0.2.14 missing"), "{}", o.summary);
        let perf: Vec<String> = o.perfdata.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            perf,
            [
                "live=2;;;0",
                "stale=1;;;0",
                "missing=1;;;0",
                "busy=3;;;0",
                "ready=11;;;0",
                "busy_pct=21.428571%;;;0;100",
                "busy_192_0_2_12=3;;;0",
                "ready_192_0_2_12=5;;;0",
                "busy_192_0_2_11=0;;;0",
                "ready_192_0_2_11=6;;;0",
            ]
        );
        // Only listed members are judged: the stale .13 is not.
        let o = judge(&s, &args(&["--member", "192.0.2.11"]));
        assert_eq!(o.state, State::Ok);
        assert!(o
            .long
            .iter()
            .any(|l| l.contains("192.0.2.13") && l.contains("not expected")));
    }

    #[test]
    fn thresholds_on_top_worst_wins() {
        let s = storage(three()[..2].to_vec(), Monitor::Unknown);
        let o = judge(
            &s,
            &args(&["--metric", "member_busy_pct", "-w", "30", "-c", "50"]),
        );
        assert_eq!(o.state, State::Warning);
        assert!(o
            .perfdata
            .iter()
            .any(|p| p.to_string() == "member_busy_pct=37.5%;30;50;0;100"));
        let o = judge(
            &s,
            &args(&["--metric", "live", "-c", "3:", "--expect", "2"]),
        );
        assert_eq!(o.state, State::Critical);
        assert_eq!(o.perfdata[0].to_string(), "live=2;;3:;0");
    }

    #[test]
    fn a_fresh_monitor_waits_for_the_first_heartbeats() {
        let fresh = Monitor::Running {
            pid: 1,
            started_us: Some(NOW - 2_000_000),
        };
        let s = storage(vec![member("192.0.2.11", 0, 6, 0.5)], fresh.clone());
        let o = judge(&s, &args(&["--expect", "3"]));
        assert_eq!(o.state, State::Ok);
        assert!(
            o.summary.contains("waiting for the first heartbeats"),
            "{}",
            o.summary
        );
        let old = Monitor::Running {
            pid: 1,
            started_us: Some(NOW - 60_000_000),
        };
        let s = storage(vec![member("192.0.2.11", 0, 6, 0.5)], old);
        assert_eq!(judge(&s, &args(&["--expect", "3"])).state, State::Critical);
    }

    #[test]
    fn a_frozen_file_is_a_dead_monitor() {
        let mut s = storage(three(), Monitor::Unknown);
        s.kind = Kind::File;
        s.shown = "/run/apache2/hb.dat".into();
        s.written_us = Some(NOW - 72_000_000);
        let o = judge(&s, &args(&[]));
        assert_eq!(o.state, State::Critical);
        assert_eq!(
            o.summary,
            "heartbeat monitor not running: /run/apache2/hb.dat last written 1m12s ago"
        );
        let gone = heartbeat::Error::Gone {
            what: "no slotmem object /dev/shm/ShM.x".into(),
        };
        assert_eq!(unreadable(&gone, false).state, State::Critical);
        assert_eq!(unreadable(&gone, true).state, State::Unknown);
    }
}

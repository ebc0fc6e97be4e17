//! `metrics` against apache_exporter's reading of mod_status's own `?auto`
//! page: [`apache_exporter`] ports its collector (collector/collector.go,
//! v0.12.0 as Debian 12 ships it, the same in 1.1) to compare with; the
//! live tests run the real one beside ours.

use std::collections::BTreeMap;

use crate::fixtures::{Fixture, FIXTURES};
use crate::util::{run_bin, TempDir};

/// A series: family name and sorted `label=value` pairs.
pub type Series = (String, Vec<(String, String)>);

/// An exposition parsed: every sample's value, and each family's type.
#[derive(Debug, Default)]
pub struct Scrape {
    pub samples: BTreeMap<Series, f64>,
    pub types: BTreeMap<String, String>,
}

impl Scrape {
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut l: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        l.sort();
        self.samples.get(&(name.to_string(), l)).copied()
    }
}

/// Parses the text format (0.0.4) as Prometheus reads it, for the values
/// our exposition uses (no timestamps; label values with `\"`, `\\`, `\n`).
pub fn parse(text: &str) -> Scrape {
    let mut s = Scrape::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE line");
            s.types.insert(name.into(), kind.into());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), Vec::new()),
            Some((name, rest)) => (name.to_string(), parse_labels(rest.trim_end_matches('}'))),
        };
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("value in {line}")),
        };
        s.samples.insert((name, labels), value);
    }
    s
}

fn parse_labels(mut rest: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (k, after) = rest.split_once("=\"").expect("label");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect("closing quote") {
                (i, '"') => break i,
                (_, '\\') => match chars.next().expect("escape").1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        out.push((k.trim_start_matches(',').to_string(), value));
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    out.sort();
    out
}

/// apache_exporter's collect() over an `?auto` page: the samples it
/// exposes (without apache_up and its own failure counter).
pub fn apache_exporter(auto: &str) -> BTreeMap<Series, f64> {
    let mut out = BTreeMap::new();
    let mut set = |name: &str, label: Option<(&str, &str)>, v: f64| {
        let labels = label
            .map(|(k, l)| vec![(k.to_string(), l.to_string())])
            .unwrap_or_default();
        out.insert((name.to_string(), labels), v);
    };
    let (mut version, mut mpm) = ("UNKNOWN".to_string(), "UNKNOWN".to_string());
    let (mut user, mut system, mut cpu_found) = (0.0, 0.0, false);
    set("apache_cpuload", None, 0.0);
    for line in auto.lines() {
        let Some((key, v)) = line.split_once(':') else {
            continue;
        };
        let (key, v) = (key.trim(), v.trim());
        let num = || v.parse::<f64>().unwrap_or_else(|_| panic!("{line}"));
        match key {
            "ServerVersion" => {
                version = v.to_string();
                let t = v
                    .split('/')
                    .nth(1)
                    .unwrap_or("")
                    .split(' ')
                    .next()
                    .unwrap_or("");
                let p: Vec<&str> = t.split('.').collect();
                let f = format!("{}.{:0>2}{:0>3}", p[0], p[1], p[2]);
                set("apache_version", None, f.parse().expect("version"));
            }
            "ServerMPM" => mpm = v.to_string(),
            "ParentServerConfigGeneration" => {
                set("apache_generation", Some(("type", "config")), num())
            }
            "ParentServerMPMGeneration" => set("apache_generation", Some(("type", "mpm")), num()),
            "Load1" => set("apache_load", Some(("interval", "1min")), num()),
            "Load5" => set("apache_load", Some(("interval", "5min")), num()),
            "Load15" => set("apache_load", Some(("interval", "15min")), num()),
            "Total Accesses" => set("apache_accesses_total", None, num()),
            "Total kBytes" => set("apache_sent_kilobytes_total", None, num()),
            "Total Duration" => set("apache_duration_ms_total", None, num()),
            "CPUUser" | "CPUChildrenUser" => (user, cpu_found) = (user + num(), true),
            "CPUSystem" | "CPUChildrenSystem" => (system, cpu_found) = (system + num(), true),
            "CPULoad" => set("apache_cpuload", None, num()),
            "Uptime" => set("apache_uptime_seconds_total", None, num()),
            "BusyWorkers" => set("apache_workers", Some(("state", "busy")), num()),
            "IdleWorkers" => set("apache_workers", Some(("state", "idle")), num()),
            "Processes" => set("apache_processes", Some(("state", "all")), num()),
            "Stopping" => set("apache_processes", Some(("state", "stopping")), num()),
            "ConnsTotal" => set("apache_connections", Some(("state", "total")), num()),
            "ConnsAsyncWriting" => set("apache_connections", Some(("state", "writing")), num()),
            "ConnsAsyncKeepAlive" => set("apache_connections", Some(("state", "keepalive")), num()),
            "ConnsAsyncClosing" => set("apache_connections", Some(("state", "closing")), num()),
            "Scoreboard" => {
                for (c, label) in [
                    ('_', "idle"),
                    ('S', "startup"),
                    ('R', "read"),
                    ('W', "reply"),
                    ('K', "keepalive"),
                    ('D', "dns"),
                    ('C', "closing"),
                    ('L', "logging"),
                    ('G', "graceful_stop"),
                    ('I', "idle_cleanup"),
                    ('.', "open_slot"),
                ] {
                    let n = v.chars().filter(|&x| x == c).count();
                    set("apache_scoreboard", Some(("state", label)), n as f64);
                }
            }
            _ => {}
        }
    }
    if cpu_found {
        set(
            "apache_cpu_time_ms_total",
            Some(("type", "user")),
            1000.0 * user,
        );
        set(
            "apache_cpu_time_ms_total",
            Some(("type", "system")),
            1000.0 * system,
        );
    }
    let mut info = vec![("mpm".to_string(), mpm), ("version".to_string(), version)];
    info.sort();
    out.insert(("apache_info".into(), info), 1.0);
    out
}

/// Series of apache_exporter's that the segment cannot answer.
pub fn not_in_segment(series: &Series) -> bool {
    series.0 == "apache_load" || (series.0 == "apache_generation" && series.1[0].1 == "config")
}

/// Counters that the status request itself moves (mod_status counts its
/// own request before printing the page).
pub const MOVED_BY_STATUS_REQUEST: [&str; 5] = [
    "apache_cpuload",
    "apache_accesses_total",
    "apache_sent_kilobytes_total",
    "apache_duration_ms_total",
    "apache_cpu_time_ms_total",
];

#[test]
fn fixtures_expose_what_apache_exporter_reads_from_mod_status() {
    for name in FIXTURES {
        let f = Fixture::load(name);
        let mut args = vec!["metrics".to_string()];
        args.extend(f.source_args());
        args.extend(f.limit_args());
        // The segment alone gives its layout's version; a live server's
        // binary would give the rest.
        let auto = std::fs::read_to_string(f.dir.join("auto.txt")).expect("auto.txt");
        let version = auto
            .lines()
            .find_map(|l| l.strip_prefix("ServerVersion: Apache/"))
            .and_then(|v| v.split(' ').next())
            .expect("ServerVersion");
        args.extend([
            "--mpm".into(),
            f.mpm(),
            "--httpd-version".into(),
            version.into(),
        ]);
        let out = run_bin(&args);
        assert_eq!(out.code, 0, "{name}: {}", out.stdout);
        let ours = parse(&out.stdout);
        assert_eq!(ours.get("apache_up", &[]), Some(1.0), "{name}");
        let theirs = apache_exporter(&auto);
        for (series, want) in theirs.iter().filter(|(s, _)| !not_in_segment(s)) {
            let got = ours.samples.get(series).copied();
            if series.0 == "apache_info" {
                // The fixture has no live binary: the version label is the
                // bare version, the MPM label the same.
                let got = ours.samples.iter().find(|(s, _)| s.0 == "apache_info");
                let (s, _) = got.unwrap_or_else(|| panic!("{name}: no apache_info"));
                assert_eq!(s.1[0], series.1[0], "{name}: mpm");
                assert!(
                    series.1[1].1.starts_with(&s.1[1].1),
                    "{name}: {s:?} vs {series:?}"
                );
            } else if MOVED_BY_STATUS_REQUEST.contains(&series.0.as_str()) {
                let got = got.unwrap_or_else(|| panic!("{name}: no {series:?}"));
                // Only the status requests (?auto, then the HTML page the
                // fixtures also saved) come between the two readings.
                let slack = if series.0 == "apache_accesses_total" {
                    2.0
                } else {
                    f64::MAX
                };
                assert!(
                    got >= *want && got - want <= slack,
                    "{name}: {series:?} {got} vs {want}"
                );
            } else {
                assert_eq!(got, Some(*want), "{name}: {series:?}\n{}", out.stdout);
            }
        }
        // Types as apache_exporter declares them.
        for (family, kind) in [
            ("apache_up", "gauge"),
            ("apache_accesses_total", "counter"),
            ("apache_uptime_seconds_total", "counter"),
            ("apache_cpu_time_ms_total", "counter"),
            ("apache_scoreboard", "gauge"),
            ("apache_workers", "gauge"),
        ] {
            assert_eq!(
                ours.types.get(family).map(String::as_str),
                Some(kind),
                "{name}: {family}"
            );
        }
        // The states sum to the Scoreboard string's length: the configured
        // capacity's slots, as mod_status prints them.
        let states: f64 = ours
            .samples
            .iter()
            .filter(|(s, _)| s.0 == "apache_scoreboard")
            .map(|(_, v)| v)
            .sum();
        let slots: f64 = theirs
            .iter()
            .filter(|(s, _)| s.0 == "apache_scoreboard")
            .map(|(_, v)| v)
            .sum();
        assert_eq!(states, slots, "{name}");
    }
}

#[test]
fn output_file_is_written_atomically_and_apache_up_0_when_unreadable() {
    let tmp = TempDir::new("metrics");
    let dir = &tmp.0;
    let prom = tmp.path("apache.prom");
    let missing = tmp.path("no-such-scoreboard");
    let out = run_bin(&[
        "metrics".into(),
        "--scoreboard".into(),
        missing.display().to_string(),
        "--output".into(),
        prom.display().to_string(),
    ]);
    assert_eq!((out.code, out.stdout.as_str()), (0, ""));
    let written = parse(&std::fs::read_to_string(&prom).unwrap());
    assert_eq!(written.get("apache_up", &[]), Some(0.0));
    assert_eq!(
        std::fs::read_dir(dir).unwrap().count(),
        1,
        "a temporary file was left"
    );
    // A readable one replaces it.
    let f = Fixture::load("event-mixed");
    let mut args = vec!["metrics".to_string()];
    args.extend(f.source_args());
    args.extend(["--output".into(), prom.display().to_string()]);
    assert_eq!(run_bin(&args).code, 0);
    let ours = parse(&std::fs::read_to_string(&prom).unwrap());
    assert_eq!(ours.get("apache_up", &[]), Some(1.0));
}

//! The real captures in tests/fixtures against mod_status, their oracle:
//! `status` against `auto.txt` (and `status.html` for Total Accesses),
//! `dump` against `workers.json` and the in-flight requests of `meta.json`,
//! and each check's whole output against a golden file whose figures are
//! asserted against `meta.json` (never against our own decoder).
//! `BLESS=1 cargo test` rewrites the golden files.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use crate::support::parse_auto;
use crate::util::{perfdata, run_bin, Run};

pub const FIXTURES: [&str; 13] = [
    "prefork-slow",
    "prefork-mixed",
    "prefork-graceful",
    "worker-mixed",
    "worker-saturation",
    "event-slow",
    "event-mixed",
    "event-graceful",
    // Written by Debian's httpd for other architectures (README.md).
    "2.4.68-armhf-prefork-slow",
    "2.4.68-armhf-worker-saturation",
    "2.4.68-armhf-event-graceful",
    "2.4.68-i386-event-slow",
    "2.4.71-arm64-prefork-graceful",
];

pub struct Fixture {
    pub name: &'static str,
    pub dir: PathBuf,
    pub meta: Value,
}

impl Fixture {
    pub fn load(name: &'static str) -> Fixture {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        let meta = serde_json::from_str(
            &std::fs::read_to_string(dir.join("meta.json")).expect("meta.json"),
        )
        .expect("meta.json parses");
        Fixture { name, dir, meta }
    }
    pub fn segment(&self) -> String {
        self.dir.join("scoreboard.bin").display().to_string()
    }
    pub fn at(&self) -> String {
        self.meta["capture"]["time_iso"]
            .as_str()
            .expect("time_iso")
            .to_string()
    }
    pub fn config(&self, key: &str) -> u64 {
        self.meta["config"][key].as_u64().expect("config value")
    }
    pub fn mpm(&self) -> String {
        self.meta["mpm"].as_str().expect("mpm").to_string()
    }
    pub fn expected(&self) -> &Value {
        &self.meta["expected"]
    }
    /// `--scoreboard … --at …` plus the capture's MPM limits.
    pub fn source_args(&self) -> Vec<String> {
        vec![
            "--scoreboard".into(),
            self.segment(),
            "--at".into(),
            self.at(),
        ]
    }
    pub fn limit_args(&self) -> Vec<String> {
        vec![
            "--max-workers".into(),
            self.config("MaxRequestWorkers").to_string(),
            "--threads-per-child".into(),
            self.config("ThreadsPerChild").to_string(),
        ]
    }
    fn text(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file)).expect("fixture file")
    }
}

#[test]
fn status_matches_mod_status() {
    for name in FIXTURES {
        let f = Fixture::load(name);
        let mut args = vec!["status".to_string()];
        args.extend(f.source_args());
        args.extend(f.limit_args());
        args.extend(["--mpm".into(), f.mpm()]);
        let out = run_bin(&args);
        assert_eq!(out.code, 0, "{name}: {}", out.stdout);
        let ours = parse_auto(&out.stdout);
        let theirs = parse_auto(&f.text("auto.txt"));
        let theirs_map: BTreeMap<_, _> = theirs.iter().cloned().collect();
        for key in [
            "BusyWorkers",
            "GracefulWorkers",
            "IdleWorkers",
            "Processes",
            "Stopping",
            "Scoreboard",
            "ConnsTotal",
            "ConnsAsyncWaitIO",
            "ConnsAsyncWriting",
            "ConnsAsyncKeepAlive",
            "ConnsAsyncClosing",
            "RestartTime",
            "ParentServerMPMGeneration",
            "ServerUptimeSeconds",
            "ServerUptime",
            "Uptime",
        ] {
            let mine = ours.iter().find(|(k, _)| k == key).map(|(_, v)| v);
            assert_eq!(mine, theirs_map.get(key), "{name}: {key}\n{}", out.stdout);
        }
        // Every key we print is one mod_status printed, in its order.
        let order: Vec<&String> = theirs.iter().map(|(k, _)| k).collect();
        let mut last = 0;
        for (k, _) in &ours {
            let pos = order
                .iter()
                .position(|o| *o == k)
                .unwrap_or_else(|| panic!("{name}: {k} not in auto.txt"));
            assert!(pos >= last, "{name}: {k} out of order");
            last = pos;
        }
        // The HTML page was generated one request after ?auto, at the instant
        // of the copy.
        let html = f.text("status.html");
        let total = html
            .split("Total accesses: ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .expect("html total");
        let mine = ours
            .iter()
            .find(|(k, _)| k == "Total Accesses")
            .map(|(_, v)| v.as_str());
        assert_eq!(mine, Some(total), "{name}: Total Accesses");
        // CPU figures too: a request served between the two pages moves
        // them (2.4.68-armhf-event-graceful).
        let cpu = html
            .split("CPU Usage: ")
            .nth(1)
            .and_then(|s| s.split(['-', '<']).next())
            .expect("html CPU usage");
        let shown: Vec<&str> = cpu.split_whitespace().collect();
        for (key, prefix, token) in [
            ("CPUUser", "u", shown[0]),
            ("CPUSystem", "s", shown[1]),
            ("CPUChildrenUser", "cu", shown[2]),
            ("CPUChildrenSystem", "cs", shown[3]),
        ] {
            let mine = ours.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
            assert_eq!(mine, token.strip_prefix(prefix), "{name}: {key}");
        }
        let duration = html
            .split("Total Duration: ")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .expect("html duration");
        let mine = ours
            .iter()
            .find(|(k, _)| k == "Total Duration")
            .map(|(_, v)| v.as_str());
        assert_eq!(mine, Some(duration), "{name}: Total Duration");
    }
}

#[test]
fn mpm_guess_without_flag() {
    // The segment tells prefork from threaded; event shows itself by its
    // async counters when they are non-zero (event-slow's are all 0).
    for name in [
        "prefork-slow",
        "prefork-graceful",
        "worker-mixed",
        "worker-saturation",
        "event-mixed",
        "event-graceful",
    ] {
        let f = Fixture::load(name);
        let mut args = vec!["status".to_string()];
        args.extend(f.source_args());
        args.extend(f.limit_args());
        let out = run_bin(&args);
        assert_eq!(
            out.stdout.contains("\nProcesses: "),
            f.mpm() == "event",
            "{name}"
        );
    }
}

#[test]
fn dump_matches_worker_table_and_inflight_requests() {
    for name in FIXTURES {
        let f = Fixture::load(name);
        let mut args = vec![
            "dump".to_string(),
            "--format".into(),
            "json".into(),
            "--all".into(),
        ];
        args.extend(f.source_args());
        let out = run_bin(&args);
        assert_eq!(out.code, 0, "{name}: {}", out.stdout);
        let rows: Vec<Value> = serde_json::from_str(&out.stdout).expect("dump json");
        let slots = (f.config("ServerLimit") * f.config("ThreadLimit")) as usize;
        assert_eq!(rows.len(), slots, "{name}: --all lists every slot");
        let row = |slot: &Value| {
            rows.iter()
                .find(|r| r["process_slot"] == slot[0] && r["thread_slot"] == slot[1])
                .expect("slot row")
        };
        let workers: Vec<Value> =
            serde_json::from_str(&f.text("workers.json")).expect("workers.json");
        for w in &workers {
            let r = row(&w["bin_slot"]);
            // mod_status shows no pid for a dead slot.
            if w["status"] != "." {
                assert_eq!(r["pid"], w["pid"], "{name} slot {}: pid", w["bin_slot"]);
            }
            for (ours, theirs) in [
                ("status", "status"),
                ("client", "client"),
                ("vhost", "vhost"),
                ("request", "request"),
                ("protocol", "protocol"),
                ("access_count", "acc_slot"),
                ("conn_count", "acc_conn"),
                ("duration_ms", "dur"),
                ("generation", "generation"),
            ] {
                assert_eq!(r[ours], w[theirs], "{name} slot {}: {ours}", w["bin_slot"]);
            }
            // mod_status prints bytes as KB with one decimal and MB with two.
            for (ours, theirs, unit, decimals) in [
                ("conn_bytes", "conn_kb", 1024.0, 1),
                ("bytes_served", "slot_mb", 1048576.0, 2),
            ] {
                let mine = r[ours].as_f64().expect("bytes") / unit;
                let shown = w[theirs].as_f64().expect("KB/MB");
                assert!(
                    (mine - shown).abs() <= 0.5 / 10f64.powi(decimals) + 1e-9,
                    "{name} slot {}: {ours} {mine} vs {theirs} {shown}",
                    w["bin_slot"]
                );
            }
            // SS = whole seconds since last_used, at page generation (a few
            // ms before the capture instant).
            let ss = r["idle_seconds"].as_f64().expect("idle_seconds");
            assert!(
                (ss - w["ss"].as_f64().expect("ss")).abs() <= 1.0,
                "{name}: SS"
            );
        }
        let inflight = f.expected()["inflight_requests"]
            .as_array()
            .expect("inflight");
        let ours: Vec<&Value> = rows.iter().filter(|r| r["in_flight"] == true).collect();
        assert_eq!(ours.len(), inflight.len(), "{name}: in-flight count");
        for want in inflight {
            let r = row(&want["slot"]);
            assert_eq!(r["in_flight"], true);
            assert_eq!(r["status"], want["status"], "{name}");
            assert_eq!(r["vhost"], want["vhost"], "{name}");
            assert_eq!(r["request"], want["request"], "{name}");
            assert_eq!(r["pid"], want["pid"], "{name}");
            let age = r["age_seconds"].as_f64().expect("age");
            assert!(
                (age - want["age_s"].as_f64().expect("age_s")).abs() < 0.001,
                "{name}: age {age} vs {}",
                want["age_s"]
            );
        }
        // TSV: first five fields exactly pid, status, client, vhost, request.
        let mut args = vec!["dump".to_string()];
        args.extend(f.source_args());
        let tsv = run_bin(&args);
        let live_rows: Vec<&Value> = rows.iter().filter(|r| r["status"] != ".").collect();
        assert_eq!(
            tsv.stdout.lines().count(),
            live_rows.len(),
            "{name}: TSV lists non-dead slots"
        );
        for (line, r) in tsv.stdout.lines().zip(live_rows) {
            let fields: Vec<&str> = line.split('\t').collect();
            let want = [
                r["pid"].to_string(),
                r["status"].as_str().unwrap_or("").to_string(),
                r["client"].as_str().unwrap_or("").to_string(),
                r["vhost"].as_str().unwrap_or("").to_string(),
                r["request"].as_str().unwrap_or("").to_string(),
            ];
            assert_eq!(
                fields[..5],
                want.iter().map(String::as_str).collect::<Vec<_>>()[..],
                "{name}"
            );
        }
    }
}

/// The whole stdout and exit code of each check, compared with a golden
/// file, and its figures with meta.json.
#[test]
fn checks_golden() {
    for name in FIXTURES {
        let f = Fixture::load(name);
        let e = f.expected();
        let cases: [(&str, Vec<&str>); 3] = [
            ("check_scoreboard_busy", vec!["-w", "50", "-c", "90"]),
            ("check_stuck_requests", vec!["-w", "2s", "-c", "4s"]),
            ("check_vhost_saturation", vec!["-w", "30", "-c", "60"]),
        ];
        for (check, thresholds) in cases {
            let mut args = vec![check.to_string()];
            args.extend(f.source_args());
            args.extend(thresholds.iter().map(|s| s.to_string()));
            if check != "check_stuck_requests" {
                args.extend(f.limit_args());
            }
            args.extend(["--mpm".into(), f.mpm()]);
            let out = run_bin(&args);
            golden(&f, check, &out);
            let perf = perfdata(&out.stdout);
            match check {
                "check_scoreboard_busy" => {
                    for key in ["busy", "idle", "graceful"] {
                        assert_eq!(perf[key], e[key].as_f64().expect("count"), "{name}: {key}");
                    }
                    let cap = f.config("MaxRequestWorkers") as f64;
                    let pct = 100.0 * e["busy"].as_f64().expect("busy") / cap;
                    assert!((perf["busy_pct"] - pct).abs() < 0.01, "{name}");
                    assert_eq!(
                        out.code,
                        if pct > 90.0 {
                            2
                        } else if pct > 50.0 {
                            1
                        } else {
                            0
                        },
                        "{name}: {}",
                        out.stdout
                    );
                    for (ch, label) in [
                        ("_", "slots_ready"),
                        ("W", "slots_writing"),
                        ("K", "slots_keepalive"),
                        ("G", "slots_graceful"),
                        (".", "slots_open"),
                    ] {
                        assert_eq!(
                            perf[label],
                            e["status_counts"][ch].as_f64().expect("status count"),
                            "{name}: {label}"
                        );
                    }
                    if let Some(a) = e.get("async").filter(|a| a.is_object()) {
                        assert_eq!(
                            perf["processes"],
                            a["Processes"].as_f64().expect("Processes"),
                            "{name}"
                        );
                        assert_eq!(
                            perf["conns_async_keepalive"],
                            a["ConnsAsyncKeepAlive"].as_f64().expect("ka"),
                            "{name}"
                        );
                    }
                }
                "check_stuck_requests" => {
                    let inflight = e["inflight_requests"].as_array().expect("inflight");
                    let ages: Vec<f64> = inflight
                        .iter()
                        .map(|r| r["age_s"].as_f64().expect("age"))
                        .collect();
                    assert_eq!(perf["inflight"], inflight.len() as f64, "{name}");
                    assert_eq!(
                        perf["stuck_warning"],
                        ages.iter().filter(|a| **a > 2.0).count() as f64,
                        "{name}"
                    );
                    assert_eq!(
                        perf["stuck_critical"],
                        ages.iter().filter(|a| **a > 4.0).count() as f64,
                        "{name}"
                    );
                    let oldest = ages.iter().cloned().fold(0.0, f64::max);
                    assert!((perf["oldest_age"] - oldest).abs() < 0.001, "{name}");
                    let want = if ages.iter().any(|a| *a > 4.0) {
                        2
                    } else if ages.iter().any(|a| *a > 2.0) {
                        1
                    } else {
                        0
                    };
                    assert_eq!(out.code, want, "{name}");
                    // Offenders listed oldest first, each naming its request.
                    let mut offenders: Vec<&Value> = inflight
                        .iter()
                        .filter(|r| r["age_s"].as_f64().unwrap_or(0.0) > 2.0)
                        .collect();
                    offenders.sort_by(|a, b| {
                        b["age_s"]
                            .as_f64()
                            .partial_cmp(&a["age_s"].as_f64())
                            .expect("ages")
                    });
                    let long: Vec<&str> = out.stdout.lines().skip(1).collect();
                    for (line, r) in long.iter().zip(&offenders) {
                        // The query string is shown as `?…` (issue 9).
                        let request = r["request"].as_str().expect("request");
                        let shown = match request.split_once('?') {
                            Some((path, rest)) => {
                                format!("{path}?…{}", rest.find(' ').map_or("", |i| &rest[i..]))
                            }
                            None => request.to_string(),
                        };
                        assert!(line.contains(&shown), "{name}: {line}");
                    }
                }
                _ => {
                    let busy = e["vhost_busy"].as_object().expect("vhost_busy");
                    let (top_name, top_n) = busy
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_f64().unwrap_or(0.0)))
                        .fold((String::new(), 0.0), |a, b| {
                            if b.1 > a.1 || (b.1 == a.1 && b.0 < a.0) {
                                b
                            } else {
                                a
                            }
                        });
                    assert_eq!(perf["top_vhost_busy"], top_n, "{name}");
                    let cap = f.config("MaxRequestWorkers") as f64;
                    assert!(
                        (perf["top_vhost_pct"] - 100.0 * top_n / cap).abs() < 0.01,
                        "{name}"
                    );
                    assert!(
                        out.stdout.lines().next().unwrap_or("").contains(&top_name),
                        "{name}: {}",
                        out.stdout
                    );
                }
            }
        }
    }
}

fn golden(f: &Fixture, check: &str, out: &Run) {
    let path = f.dir.join(format!("{check}.golden"));
    let actual = format!("exit {}\n{}", out.code, out.stdout);
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, &actual).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} missing: run BLESS=1 cargo test", path.display()));
    assert_eq!(
        actual, want,
        "{}: {check} output changed (BLESS=1 to accept)",
        f.name
    );
}

/// Without -w and -c the checks still judge: stuck requests by 5 and 15
/// minutes, the busiest vhost by 50% and 80% of capacity.
#[test]
fn checks_without_thresholds_use_their_documented_defaults() {
    let f = Fixture::load("event-mixed");
    let later = |minutes: i64| {
        let at = humantime::parse_rfc3339_weak(&f.at()).expect("capture time");
        let shifted = at + std::time::Duration::from_secs(minutes as u64 * 60);
        humantime::format_rfc3339_micros(shifted).to_string()
    };
    let stuck = |at: String| {
        run_bin(&[
            "check_stuck_requests".into(),
            "--scoreboard".into(),
            f.segment(),
            "--at".into(),
            at,
        ])
    };
    assert_eq!(stuck(f.at()).code, 0);
    let warning = stuck(later(6));
    assert_eq!(warning.code, 1, "{}", warning.stdout);
    assert!(
        warning.stdout.contains("running longer than 5m00s"),
        "{}",
        warning.stdout
    );
    assert!(warning.stdout.contains("oldest_age=") && warning.stdout.contains("s;300;900;"));
    assert_eq!(stuck(later(16)).code, 2);
    // Either range given: only that one judges.
    let only = run_bin(&[
        "check_stuck_requests".into(),
        "--scoreboard".into(),
        f.segment(),
        "--at".into(),
        later(16),
        "-w".into(),
        "1h".into(),
    ]);
    assert_eq!(only.code, 0, "{}", only.stdout);

    let g = Fixture::load("worker-saturation");
    let mut vhost = vec!["check_vhost_saturation".to_string()];
    vhost.extend(g.source_args());
    vhost.extend(["--max-workers".into(), "12".into()]);
    let out = run_bin(&vhost);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stdout.contains("top_vhost_pct=91.666667%;50;80;0;100"),
        "{}",
        out.stdout
    );
}

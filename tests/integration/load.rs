//! Under load: a real apache2 (event MPM) on 127.0.0.1 serves wrk (bounded
//! in time, stopped by pid) plus two held slow requests, while each check
//! runs 1000 times back to back against its live scoreboard. No run may be
//! UNKNOWN or write to stderr, every figure stays within [0, capacity], and
//! busy + idle + graceful never exceeds the slots that count.
//!
//! This is the live counterpart of `torn.rs` (which tears fields on
//! purpose): here the writers are httpd's own workers, as fast as wrk can
//! drive them.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::hostile::assert_well_formed;
use crate::support::{require_apache, Httpd, HttpdConfig, Mpm};
use crate::util::{perfdata, run, Run};

const RUNS: usize = 1000;
const CHECKS: [&str; 3] = [
    "check_scoreboard_busy",
    "check_stuck_requests",
    "check_vhost_saturation",
];
const WRK: &str = "/usr/bin/wrk";

/// wrk is part of this test's equipment: required under CI=true, like
/// apache2 itself.
fn require_wrk() -> bool {
    if Path::new(WRK).is_file() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("CI=true but this test needs {WRK} (apt-get install wrk)");
    }
    eprintln!("skipping the load test: {WRK} is not installed");
    false
}

/// A wrk run, stopped by its pid when dropped (also when the test fails).
struct Wrk(Child);

impl Wrk {
    fn start(port: u16, seconds: u64) -> Wrk {
        let child = Command::new(WRK)
            .args([
                "-t1",
                "-c24",
                &format!("-d{seconds}s"),
                "-H",
                "Host: a.test",
            ])
            .arg(format!("http://127.0.0.1:{port}/ok.txt"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wrk");
        Wrk(child)
    }

    /// Requests wrk completed, from its report: stops it first (SIGINT
    /// makes wrk print its summary).
    fn finish(mut self) -> u64 {
        // SAFETY: kill takes plain integers; the child is ours and unreaped.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.0.try_wait().expect("wait wrk").is_none() {
            assert!(Instant::now() < deadline, "wrk did not stop on SIGINT");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut out = String::new();
        if let Some(mut stdout) = self.0.stdout.take() {
            use std::io::Read;
            let _ = stdout.read_to_string(&mut out);
        }
        out.lines()
            .find_map(|l| l.trim().split_once(" requests in "))
            .and_then(|(n, _)| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no request count in wrk's report:\n{out}"))
    }
}

impl Drop for Wrk {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Figures of one run: in [0, capacity], and the busy check's counts add
/// up to no more than the counted slots.
fn check_bounds(cmd: &str, r: &Run, capacity: f64) {
    assert_well_formed(cmd, r);
    assert!(
        (0..=2).contains(&r.code),
        "{cmd}: exit {} under load: {}",
        r.code,
        r.stdout
    );
    let perf = perfdata(&r.stdout);
    for (label, v) in &perf {
        assert!(
            v.is_finite() && *v >= 0.0,
            "{cmd}: {label}={v}: {}",
            r.stdout
        );
        if label.ends_with("_pct") {
            assert!(*v <= 100.0, "{cmd}: {label}={v}: {}", r.stdout);
        } else if !label.starts_with("conns_")
            && !label.starts_with("listen_")
            && !label.ends_with("_age")
            && label != "processes"
            && !crate::util::COUNTERS.contains(&label.as_str())
        {
            assert!(
                *v <= capacity,
                "{cmd}: {label}={v} > capacity {capacity}: {}",
                r.stdout
            );
        }
    }
    if cmd == "check_scoreboard_busy" {
        let used = perf["busy"] + perf["idle"] + perf["graceful"];
        assert!(
            used <= capacity,
            "{cmd}: busy+idle+graceful {used}: {}",
            r.stdout
        );
        assert_eq!(perf["capacity"], capacity, "{}", r.stdout);
    }
}

#[test]
fn checks_under_wrk_load() {
    if !require_apache() || !require_wrk() {
        return;
    }
    let cfg = HttpdConfig::new(Mpm::Event);
    let capacity = f64::from(cfg.max_request_workers);
    let h = Httpd::start(cfg.clone()).expect("start apache2");
    // Two requests that stay in flight, so that the stuck and vhost checks
    // have something to name while wrk churns the other workers.
    let held = [
        h.hold("b.test", 120, "load-1"),
        h.hold("c.test", 120, "load-2"),
    ];
    // Longer than the checks take; stopped as soon as they are done.
    let wrk = Wrk::start(h.port(), 600);
    std::thread::sleep(Duration::from_millis(500));

    let scoreboard = h.scoreboard_file();
    let started = Instant::now();
    let mut summary = Vec::new();
    for cmd in CHECKS {
        let mut args: Vec<std::ffi::OsString> = vec![cmd.into(), "--scoreboard".into()];
        args.push(scoreboard.clone().into_os_string());
        // The capacity options exist where a figure is judged against them.
        if cmd != "check_stuck_requests" {
            for a in [
                "--max-workers",
                &cfg.max_request_workers.to_string(),
                "--threads-per-child",
                &cfg.threads_per_child.to_string(),
            ] {
                args.push(a.into());
            }
        }
        let mut states: BTreeMap<i32, usize> = BTreeMap::new();
        let mut max_busy = 0f64;
        for _ in 0..RUNS {
            let r = run(&args);
            check_bounds(cmd, &r, capacity);
            *states.entry(r.code).or_default() += 1;
            let busy = if cmd == "check_stuck_requests" {
                "inflight"
            } else {
                "busy"
            };
            max_busy = max_busy.max(perfdata(&r.stdout)[busy]);
        }
        assert!(
            max_busy >= 2.0,
            "{cmd}: the held requests were never seen busy"
        );
        summary.push(format!(
            "{cmd}: exit codes {states:?}, most busy {max_busy}"
        ));
    }
    let elapsed = started.elapsed();
    let requests = wrk.finish();
    if elapsed < Duration::from_secs(100) {
        for h in &held {
            assert!(h.is_open(), "a held request ended early");
        }
    }
    eprintln!(
        "{} checks in {elapsed:.1?} while wrk completed {requests} requests: {}",
        RUNS * CHECKS.len(),
        summary.join("; ")
    );
    assert!(requests > 1000, "wrk hardly ran ({requests} requests)");
}

//! Against a real Debian apache2 on 127.0.0.1: `status` equals mod_status's
//! own `?auto` read at the same instant, `dump` shows the requests the test
//! holds with their ages, the checks answer while `/server-status` cannot,
//! and running requests survive a graceful restart in the reports.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::support::{auto_value, parse_auto, require_apache, Httpd, HttpdConfig, Mpm};
use crate::util::perfdata;
use crate::util::run_bin;

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn source(h: &Httpd) -> Vec<String> {
    args(&["--scoreboard", &h.scoreboard_file().display().to_string()])
}

fn limits(cfg: &HttpdConfig) -> Vec<String> {
    let tpc = if cfg.mpm == Mpm::Prefork {
        1
    } else {
        cfg.threads_per_child
    };
    args(&[
        "--max-workers",
        &cfg.max_request_workers.to_string(),
        "--threads-per-child",
        &tpc.to_string(),
    ])
}

fn with(mut base: Vec<String>, more: Vec<String>) -> Vec<String> {
    base.extend(more);
    base
}

/// `status` read while mod_status's page is held equals the page. Slots in
/// passing states (starting `S`, the test's previous connection reading `R`,
/// logging `L` or closing `C`, `D`, `I`) change within milliseconds, between
/// mod_status's count and the stall; such instants are retried, every other
/// is compared key by key.
fn compare_status(h: &Httpd, cfg: &HttpdConfig, what: &str) {
    for attempt in 0..=55 {
        let (auto, ours) = h
            .synchronized_status(|| run_bin(&with(with(args(&["status"]), source(h)), limits(cfg))))
            .expect("synchronized ?auto");
        assert_eq!(ours.code, 0, "{what}: {}", ours.stdout);
        let starting = |text: &str| {
            auto_value(text, "Scoreboard")
                .is_some_and(|b| b.contains(['S', 'R', 'L', 'C', 'D', 'I']))
        };
        if (starting(&auto) || starting(&ours.stdout)) && attempt < 50 {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        let mine = parse_auto(&ours.stdout);
        let mismatch = keys().into_iter().find(|key| {
            mine.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()) != auto_value(&auto, key)
        });
        // The previous request's end-of-request counting and the event
        // listener's counter refresh also run asynchronously: a mismatch is
        // retried a few times, and the last attempt must match.
        if let Some(key) = mismatch {
            assert!(
                attempt < 55,
                "{what}: {key}\nours:\n{}\ntheirs:\n{auto}",
                ours_text(&mine)
            );
            std::thread::sleep(Duration::from_millis(300));
            continue;
        }
        return;
    }
}

fn keys() -> [&'static str; 10] {
    [
        "BusyWorkers",
        "GracefulWorkers",
        "IdleWorkers",
        "Processes",
        "Stopping",
        "Scoreboard",
        "Total Accesses",
        "Total kBytes",
        "ParentServerMPMGeneration",
        "ConnsTotal",
    ]
}

fn ours_text(lines: &[(String, String)]) -> String {
    lines.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[test]
fn status_and_dump_match_live_mod_status() {
    if !require_apache() {
        return;
    }
    for mpm in [Mpm::Prefork, Mpm::Worker, Mpm::Event] {
        let cfg = HttpdConfig::new(mpm);
        let h = Httpd::start(cfg.clone()).expect("start apache2");
        let what = mpm.name();
        compare_status(&h, &cfg, &format!("{what} idle"));
        let held = [h.hold("a.test", 60, "liveA"), h.hold("b.test", 60, "liveB")];
        compare_status(&h, &cfg, &format!("{what} busy"));

        // dump: the held requests are in flight with their request lines and ages.
        let started = now_s();
        let out = run_bin(&with(args(&["dump", "--format", "json"]), source(&h)));
        let rows: Vec<Value> = serde_json::from_str(&out.stdout).expect("dump json");
        for req in &held {
            let row = rows
                .iter()
                .find(|r| r["request"] == req.request_line())
                .unwrap_or_else(|| {
                    panic!(
                        "{what}: {} not in dump:\n{}",
                        req.request_line(),
                        out.stdout
                    )
                });
            assert_eq!(row["in_flight"], true, "{what}");
            assert_eq!(row["status"], "W", "{what}");
            assert_eq!(
                row["vhost"],
                format!("{}:{}", req.vhost, h.port()),
                "{what}"
            );
            let age = row["age_seconds"].as_f64().expect("age");
            let sent = req
                .sent_at
                .duration_since(UNIX_EPOCH)
                .expect("sent")
                .as_secs_f64();
            let banner = req
                .banner_at
                .duration_since(UNIX_EPOCH)
                .expect("banner")
                .as_secs_f64();
            assert!(
                age <= started - sent + 0.5 && age >= started - banner - 0.5,
                "{what}: age {age}"
            );
        }

        // A graceful restart: the running requests are still reported.
        h.graceful();
        h.wait_until("new generation", Duration::from_secs(15), || {
            let s = run_bin(&with(args(&["status"]), source(&h)));
            auto_value(&s.stdout, "ParentServerMPMGeneration").as_deref() == Some("1")
        })
        .expect("graceful restart");
        let out = run_bin(&with(
            with(args(&["check_stuck_requests", "-w", "1h"]), source(&h)),
            args(&["--exclude-request", "GET /server-status*"]),
        ));
        assert_eq!(out.code, 0, "{what}: {}", out.stdout);
        assert_eq!(
            perfdata(&out.stdout)["inflight"],
            2.0,
            "{what} after graceful: {}",
            out.stdout
        );
        for req in &held {
            assert!(
                req.is_open(),
                "{what}: held request died in the graceful restart"
            );
        }
        compare_status(&h, &cfg, &format!("{what} after graceful"));
    }
}

#[test]
fn checks_answer_while_server_status_cannot() {
    if !require_apache() {
        return;
    }
    let cfg = HttpdConfig::new(Mpm::Prefork);
    let h = Httpd::start(cfg.clone()).expect("start apache2");
    // Every worker held: 7 on b.test, 1 on a.test.
    let mut held = Vec::new();
    for i in 0..cfg.max_request_workers {
        let vhost = if i == 0 { "a.test" } else { "b.test" };
        held.push(h.hold(vhost, 60, &format!("sat{i}")));
    }
    let t = Instant::now();
    let out = run_bin(&with(
        with(
            args(&["check_scoreboard_busy", "-w", "80", "-c", "95"]),
            source(&h),
        ),
        limits(&cfg),
    ));
    let took = t.elapsed();
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stdout
            .starts_with("SCOREBOARD CRITICAL - 8/8 workers busy (100.0%)"),
        "{}",
        out.stdout
    );
    assert!(took < Duration::from_secs(2), "check took {took:?}");
    // Meanwhile mod_status has no worker to answer.
    let status = h.get("lab.test", "/server-status?auto", Duration::from_secs(5));
    assert!(
        status.is_err(),
        "server-status answered on a saturated server: {status:?}"
    );

    std::thread::sleep(Duration::from_millis(1100));
    let out = run_bin(&with(
        // Root may see query strings, when it asks (issue 9).
        args(&[
            "check_stuck_requests",
            "-w",
            "1s",
            "-c",
            "1h",
            "--show-query",
        ]),
        source(&h),
    ));
    assert_eq!(out.code, 1, "{}", out.stdout);
    let perf = perfdata(&out.stdout);
    assert_eq!(perf["inflight"], 8.0, "{}", out.stdout);
    for r in &held {
        assert!(
            out.stdout.contains(r.request_line()),
            "{} missing:\n{}",
            r.request_line(),
            out.stdout
        );
    }
    let out = run_bin(&with(
        with(
            args(&["check_vhost_saturation", "-w", "50", "-c", "80"]),
            source(&h),
        ),
        limits(&cfg),
    ));
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stdout.starts_with(&format!(
            "SCOREBOARD CRITICAL - b.test:{} holds 7/8 workers",
            h.port()
        )),
        "{}",
        out.stdout
    );
}

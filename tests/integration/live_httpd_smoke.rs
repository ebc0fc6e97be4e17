//! Smoke test of the live-httpd harness (`support::httpd`) on every MPM:
//! start, hold requests, read mod_status at a synchronized instant, graceful
//! restart with requests in flight, stop.

use std::fs;
use std::time::{Duration, Instant};

use crate::support::{
    auto_value, parse_auto, pid_alive, require_apache, shm_objects, Httpd, HttpdConfig, Mpm,
};

fn auto_number(body: &str, key: &str) -> u64 {
    auto_value(body, key)
        .unwrap_or_else(|| panic!("no {key} in ?auto:\n{body}"))
        .parse()
        .unwrap_or_else(|e| panic!("{key} in ?auto is not a number ({e}):\n{body}"))
}

fn smoke(mpm: Mpm) {
    if !require_apache() {
        return;
    }
    let shm_before = shm_objects();
    let started = Instant::now();
    let mut httpd = Httpd::start(HttpdConfig::new(mpm)).expect("start apache2");
    eprintln!(
        "{}: port {}, pid {}; start() took {:?} (including any wait for another live server)",
        mpm.name(),
        httpd.port(),
        httpd.pid(),
        started.elapsed()
    );
    assert!(httpd.server_root().is_dir());
    let conf = fs::read_to_string(httpd.conf_path()).expect("read the generated httpd.conf");
    let scoreboard_file = httpd.scoreboard_file();
    assert!(
        conf.contains(&format!("ScoreBoardFile \"{}\"", scoreboard_file.display())),
        "{conf}"
    );
    assert!(httpd.error_log().is_file(), "{}", httpd.logs());
    let ok = httpd
        .get("c.test", "/ok.txt", Duration::from_secs(5))
        .expect("static file on c.test");
    assert_eq!(ok, "ok\n");

    let a = httpd.hold("a.test", 60, "smoke-a");
    let b = httpd.hold("b.test", 60, "smoke-b");
    for (held, vhost, id) in [(&a, "a.test", "smoke-a"), (&b, "b.test", "smoke-b")] {
        assert_eq!((held.vhost.as_str(), held.id.as_str()), (vhost, id));
        assert_eq!(
            held.request_line(),
            format!("GET /cgi-bin/sleep.cgi?s=60&id={id} HTTP/1.1")
        );
        assert!(held.sent_at <= held.banner_at);
    }

    let (auto, shm_during) = httpd
        .synchronized_status(shm_objects)
        .expect("synchronized ?auto");
    assert_eq!(auto_value(&auto, "ServerMPM").as_deref(), Some(mpm.name()));
    let busy = auto_number(&auto, "BusyWorkers");
    assert!(
        busy >= 3,
        "2 held + the status request, got {busy}:\n{auto}"
    );
    let scoreboard = auto_value(&auto, "Scoreboard").expect("Scoreboard in ?auto");
    let writing = scoreboard.chars().filter(|&c| c == 'W').count();
    assert!(writing >= 3, "expected >= 3 W in {scoreboard:?}");
    assert_eq!(
        parse_auto(&auto)
            .iter()
            .filter(|(key, _)| key == "Scoreboard")
            .count(),
        1
    );
    let shm = httpd.shm_path();
    assert!(
        shm_during.contains(&shm) && !shm_before.contains(&shm),
        "expected the new object {} in {shm_during:?} (before: {shm_before:?}); \
         ScoreBoardFile {} exists: {}",
        shm.display(),
        scoreboard_file.display(),
        scoreboard_file.exists()
    );

    let generation = auto_number(&auto, "ParentServerMPMGeneration");
    httpd.graceful();
    let mut after = String::new();
    httpd
        .wait_until("a graceful restart", Duration::from_secs(10), || {
            after = httpd
                .get("lab.test", "/server-status?auto", Duration::from_secs(2))
                .unwrap_or_default();
            auto_value(&after, "ParentServerMPMGeneration")
                .and_then(|g| g.parse::<u64>().ok())
                .is_some_and(|g| g > generation)
        })
        .expect("MPM generation increments");
    assert!(
        a.is_open() && b.is_open(),
        "held requests survive a graceful restart"
    );
    eprintln!(
        "{}: after graceful: {}",
        mpm.name(),
        auto_value(&after, "Scoreboard").unwrap_or_default()
    );

    let pid = httpd.pid();
    let children = httpd.child_pids();
    assert!(!children.is_empty());
    let stopping = Instant::now();
    httpd.stop().expect("stop apache2");
    eprintln!("{}: stopped in {:?}", mpm.name(), stopping.elapsed());
    assert!(!a.is_open() && !b.is_open(), "stop closes held sockets");
    assert!(!pid_alive(pid), "parent {pid} still exists");
    for child in children {
        assert!(!pid_alive(child), "child {child} of {pid} still exists");
    }
    assert!(!httpd.server_root().exists());
    assert!(!shm.exists(), "{} left behind", shm.display());
}

#[test]
fn prefork() {
    smoke(Mpm::Prefork);
}

#[test]
fn worker() {
    smoke(Mpm::Worker);
}

#[test]
fn event() {
    smoke(Mpm::Event);
}

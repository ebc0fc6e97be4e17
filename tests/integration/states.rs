//! The states this tool exists for, on a real Debian apache2: stopped
//! cleanly (CRITICAL "httpd is not running"), every child frozen by SIGSTOP
//! (CRITICAL naming them), connections piling up in the listen queue while
//! every worker is busy and while the children are frozen, and requests
//! finishing in the old generation after a graceful restart.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::httpd::send_signal;
use crate::support::{require_apache, Httpd, HttpdConfig, Mpm};
use crate::util::{perfdata, run_bin, wait_bounded, BIN};

fn busy(h: &Httpd, more: &[&str]) -> crate::util::Run {
    let mut args = vec![
        "check_scoreboard_busy".to_string(),
        "--scoreboard".into(),
        h.scoreboard_file().display().to_string(),
    ];
    args.extend(more.iter().map(|s| s.to_string()));
    run_bin(&args)
}

/// The first line, for assertions on the status text.
fn status_line(out: &crate::util::Run) -> &str {
    out.stdout.lines().next().unwrap_or("")
}

/// SIGCONT to every process it stopped, also when an assertion fails.
struct Stopped(Vec<u32>);

impl Stopped {
    fn stop(pids: Vec<u32>) -> Stopped {
        for &pid in &pids {
            send_signal(pid, libc::SIGSTOP).expect("SIGSTOP");
        }
        let stopped = Stopped(pids);
        for &pid in &stopped.0 {
            wait_for_state(pid, 'T');
        }
        stopped
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        for &pid in &self.0 {
            let _ = send_signal(pid, libc::SIGCONT);
        }
    }
}

fn wait_for_state(pid: u32, state: char) {
    // Polled up to 30 s: a loaded 2-core machine may take seconds to run
    // the process the signal went to.
    for _ in 0..3000 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let now = stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next());
        if now == Some(state) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("pid {pid} never reached state {state}");
}

/// Raw TCP connections with a request line sent: the kernel queues them
/// until a worker accepts. (Debian's httpd listens with TCP_DEFER_ACCEPT,
/// `AcceptFilter http data`: a connection that has sent nothing is not in
/// the accept queue yet.)
fn pile_up(h: &Httpd, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut c = TcpStream::connect(("127.0.0.1", h.port())).expect("connect");
            c.write_all(b"GET / HTTP/1.1\r\n").expect("send");
            c
        })
        .collect()
}

/// Prefork's StartServers 3, once all three run and each is ready in the
/// scoreboard (on a loaded machine they come up one after the other, and
/// the parent records a child's pid only after the fork returns: a check
/// sampling earlier sees fewer children than /proc does).
fn three_children(h: &Httpd) -> Vec<u32> {
    let mut children = Vec::new();
    h.wait_until(
        "prefork's 3 children, ready in the scoreboard",
        Duration::from_secs(30),
        || {
            children = h.child_pids();
            children.len() == 3 && {
                let dump = run_bin(&[
                    "dump".to_string(),
                    "--scoreboard".into(),
                    h.scoreboard_file().display().to_string(),
                ]);
                children.iter().all(|pid| {
                    dump.stdout.lines().any(|l| {
                        let mut f = l.split('\t');
                        f.next() == Some(&pid.to_string()) && f.next() == Some("_")
                    })
                })
            }
        },
    )
    .expect("StartServers 3");
    children
}

#[test]
fn clean_stop_is_critical_not_running() {
    if !require_apache() {
        return;
    }
    let mut h = Httpd::start(HttpdConfig::new(Mpm::Event)).expect("start apache2");
    let running = busy(&h, &[]);
    assert!(
        status_line(&running).starts_with("SCOREBOARD OK - "),
        "{}",
        running.stdout
    );
    // A path no httpd uses while one runs: a mistake, not a server down.
    let typo = run_bin(&[
        "check_scoreboard_busy".into(),
        "--scoreboard".into(),
        h.server_root().join("apache_statsu").display().to_string(),
    ]);
    assert_eq!(typo.code, 3, "{}", typo.stdout);
    assert!(!typo.stdout.contains("not running"), "{}", typo.stdout);

    let sbf = h.scoreboard_file();
    h.stop().expect("clean stop");
    assert!(!h.shm_path().exists(), "the clean stop removed the segment");
    // Seen from a private pid namespace, where no other test's or user's
    // httpd runs: the answer does not depend on what else this machine runs.
    let check = |stale: &str| {
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--pid",
            "--fork",
            "--mount-proc",
            BIN,
            "check_scoreboard_busy",
        ])
        .arg("--scoreboard")
        .arg(&sbf)
        .args(["--stale", stale]);
        wait_bounded(
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("unshare"),
            "check in a private pid namespace",
        )
    };
    let down = check("critical");
    assert_eq!(down.code, 2, "{}{}", down.stdout, down.stderr);
    assert!(
        down.stdout
            .starts_with("SCOREBOARD CRITICAL - httpd is not running\n"),
        "{}",
        down.stdout
    );
    assert_eq!(check("unknown").code, 3);
    let ok = check("ok");
    assert_eq!(ok.code, 0, "{}", ok.stdout);
    assert!(ok
        .stdout
        .starts_with("SCOREBOARD OK - httpd is not running"));
}

#[test]
fn stopped_children_are_critical_and_named_with_the_connections_they_leave_waiting() {
    if !require_apache() {
        return;
    }
    let mut cfg = HttpdConfig::new(Mpm::Prefork);
    cfg.extra_conf = "ListenBacklog 16\n".into();
    let h = Httpd::start(cfg).expect("start apache2");
    let children = three_children(&h);
    let frozen = Stopped::stop(children.clone());
    let out = busy(&h, &[]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    let line = status_line(&out);
    let named = format!(
        "3 children stopped: {}",
        children
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(line.contains(&named), "{line}");
    // Nobody accepts: connections wait in the kernel, while the scoreboard
    // still shows the frozen children's workers idle.
    let _waiting = pile_up(&h, 4);
    // The kernel queues a connection once its bytes arrive: on a loaded
    // machine that may be after the check's first look.
    let mut out = busy(&h, &[]);
    let _ = h.wait_until("4 connections queued", Duration::from_secs(30), || {
        out = busy(&h, &[]);
        perfdata(&out.stdout).get("listen_queue") == Some(&4.0)
    });
    let line = status_line(&out);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(line.contains(&named), "{line}");
    assert!(
        line.contains("4 connections waiting to be accepted"),
        "{line}"
    );
    assert!(
        line.contains("hung: connections waiting while workers are idle"),
        "{line}"
    );
    let perf = perfdata(&out.stdout);
    assert_eq!(perf["listen_queue"], 4.0, "{line}");
    assert_eq!(perf["listen_backlog"], 16.0, "{line}");
    // --frozen warning lowers the state, the text stays.
    let out = busy(&h, &["--frozen", "warning"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    drop(frozen);
    for pid in children {
        wait_for_state(pid, 'S');
    }
}

#[test]
fn connections_wait_in_the_listen_queue_while_every_worker_is_busy() {
    if !require_apache() {
        return;
    }
    let mut cfg = HttpdConfig::new(Mpm::Prefork);
    (cfg.server_limit, cfg.max_request_workers, cfg.start_servers) = (4, 4, 4);
    cfg.extra_conf = "ListenBacklog 8\n".into();
    let h = Httpd::start(cfg).expect("start apache2");
    let _held: Vec<_> = (0..4)
        .map(|i| h.hold("a.test", 60, &format!("q{i}")))
        .collect();
    let _waiting = pile_up(&h, 3);
    let out = busy(&h, &["--max-workers", "4"]);
    let line = status_line(&out);
    assert!(
        line.contains("3 connections waiting to be accepted"),
        "{line}"
    );
    assert!(
        !line.contains("hung"),
        "no idle worker, nothing hung: {line}"
    );
    assert!(line.contains("4/4 workers busy"), "{line}");
    let perf = perfdata(&out.stdout);
    assert_eq!((perf["listen_queue"], perf["listen_backlog"]), (3.0, 8.0));
    let queue = busy(&h, &["--metric", "queue", "-w", "1", "-c", "2"]);
    assert_eq!(queue.code, 2, "{}", queue.stdout);
    assert!(
        queue.stdout.contains("listen_queue=3;1;2;0;8"),
        "{}",
        queue.stdout
    );
    let calm = busy(&h, &["--metric", "queue", "-w", "5", "-c", "7"]);
    assert_eq!(calm.code, 0, "{}", calm.stdout);
}

#[test]
fn graceful_restart_names_the_requests_still_finishing() {
    if !require_apache() {
        return;
    }
    let h = Httpd::start(HttpdConfig::new(Mpm::Event)).expect("start apache2");
    let held: Vec<_> = (0..4)
        .map(|i| h.hold("b.test", 60, &format!("g{i}")))
        .collect();
    h.graceful();
    h.wait_until(
        "the old generation quiescing",
        Duration::from_secs(15),
        || {
            status_line(&busy(&h, &[]))
                .contains("4 requests finishing from the previous generation")
        },
    )
    .expect("graceful restart");
    let out = busy(&h, &[]);
    let line = status_line(&out);
    assert!(line.starts_with("SCOREBOARD OK - 0/"), "{line}");
    assert!(held.iter().all(|r| r.is_open()), "held requests survived");
    assert!(Path::new(&format!("/proc/{}", h.pid())).exists());
}

#[test]
fn children_left_by_a_killed_parent_are_critical_and_named() {
    if !require_apache() {
        return;
    }
    let mut h = Httpd::start(HttpdConfig::new(Mpm::Prefork)).expect("start apache2");
    let children = three_children(&h);
    let shm = h.shm_path();
    send_signal(h.pid(), libc::SIGKILL).expect("SIGKILL the parent");
    h.wait_until("the parent gone", Duration::from_secs(10), || {
        std::fs::read_to_string(format!("/proc/{}/stat", children[0])).is_ok_and(|s| {
            s.rsplit_once(") ")
                .is_some_and(|(_, r)| r.split(' ').nth(1) != Some(&h.pid().to_string()))
        })
    })
    .expect("children re-parented");
    let out = busy(&h, &[]);
    // Kill the orphans (by pid) and the segment the killed parent left,
    // before any assertion can fail.
    for &pid in &children {
        let _ = send_signal(pid, libc::SIGKILL);
    }
    let _ = std::fs::remove_file(&shm);
    let _ = h.stop();
    assert_eq!(out.code, 2, "{}", out.stdout);
    let named = format!(
        "httpd parent no longer runs, its 3 children still run: {}",
        children
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(status_line(&out).contains(&named), "{}", out.stdout);
}

/// httpd without a ScoreBoardFile keeps its scoreboard in anonymous memory:
/// UNKNOWN with the exact line to add, found and given, named or not. Run
/// in a private pid namespace, where this httpd is the only one (and dies
/// with the namespace).
#[test]
fn anonymous_scoreboard_is_unknown_with_the_line_to_add() {
    if !require_apache() {
        return;
    }
    let t = crate::util::TempDir::new("anonymous");
    for d in ["logs", "run"] {
        std::fs::create_dir(t.path(d)).expect("mkdir");
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let root = t.0.display().to_string();
    let modules = "/usr/lib/apache2/modules";
    std::fs::write(
        t.path("httpd.conf"),
        format!(
            "ServerRoot \"{root}\"\nDefaultRuntimeDir \"{root}/run\"\nPidFile \"{root}/run/httpd.pid\"\n\
             ErrorLog \"{root}/logs/error.log\"\nServerName lab.test\nListen 127.0.0.1:{port}\n\
             User www-data\nGroup www-data\nMutex file:{root}/run default\n\
             LoadModule mpm_event_module {modules}/mod_mpm_event.so\n\
             LoadModule authz_core_module {modules}/mod_authz_core.so\n\
             StartServers 1\nServerLimit 2\nThreadsPerChild 4\nMaxRequestWorkers 8\n"
        ),
    )
    .expect("write httpd.conf");
    let script = format!(
        "/usr/sbin/apache2 -f {root}/httpd.conf -k start || exit 99\n\
         for i in $(seq 100); do [ -s {root}/run/httpd.pid ] && break; sleep 0.1; done\n\
         sleep 0.5\n\
         echo ===; {BIN} check_scoreboard_busy; echo \"exit $?\"\n\
         echo ===; {BIN} check_scoreboard_busy --scoreboard /run/apache2/lab_scoreboard; echo \"exit $?\"\n\
         /usr/sbin/apache2 -f {root}/httpd.conf -k stop\n"
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", "bash", "-c", &script]);
    let run = wait_bounded(
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("unshare"),
        "anonymous httpd in a private pid namespace",
    );
    let parts: Vec<&str> = run.stdout.split("===\n").collect();
    assert_eq!(parts.len(), 3, "{}{}", run.stdout, run.stderr);
    let found = parts[1];
    assert!(
        found.starts_with("SCOREBOARD UNKNOWN - httpd pid ")
            && found.contains(
                " keeps its scoreboard in anonymous memory: add `ScoreBoardFile /run/apache2/apache_scoreboard` to its configuration and restart it\nexit 3\n"
            ),
        "{found}"
    );
    let named = parts[2];
    assert!(
        named.contains("add `ScoreBoardFile /run/apache2/lab_scoreboard` to its configuration")
            && named.ends_with("exit 3\n"),
        "{named}"
    );
}

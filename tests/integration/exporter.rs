//! The exporter against real servers: a live httpd through graceful and
//! full restarts and a stop, parallel scrapes and SIGTERM; side by side
//! with Debian's prometheus-apache-exporter scraping the same httpd's
//! `?auto`, also when every worker is held; a real Prometheus scraping it
//! (its API, promtool's lints, the apache-http mixin's ApacheWorkersLoad);
//! node_exporter's textfile collector reading `metrics --output`.
//! Every program runs on 127.0.0.1 high ports with its files in a temp dir
//! and is stopped by pid.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::prometheus::{apache_exporter, not_in_segment, parse, Scrape, Series};
use crate::support::httpd::{require_apache, Httpd, HttpdConfig, Mpm};
use crate::support::require_program as require;
use crate::util::{run_bin, RemovedOnDrop, TempDir, BIN};

const APACHE_EXPORTER: &str = "/usr/bin/prometheus-apache-exporter";
const PROMETHEUS: &str = "/usr/bin/prometheus";
const PROMTOOL: &str = "/usr/bin/promtool";
const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

/// A free port on 127.0.0.1 (bound, then released for the program).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// `GET url` with curl, at most `timeout`; the body of a 2xx answer.
fn get(url: &str, accept: Option<&str>, timeout: Duration) -> Result<String, String> {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-f", "--max-time"])
        .arg(format!("{}", timeout.as_secs_f64()));
    if let Some(a) = accept {
        cmd.args(["-H", &format!("Accept: {a}")]);
    }
    let out = cmd.arg(url).output().map_err(|e| format!("curl: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "curl {url}: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A program we started, stopped by pid (SIGTERM, then SIGKILL) on drop.
struct Program {
    child: Child,
    name: &'static str,
}

impl Program {
    fn start(name: &'static str, program: &str, args: &[String], logs: &Path) -> Program {
        let log = std::fs::File::create(logs.join(format!("{name}.log"))).expect("log file");
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {program}: {e}"));
        Program { child, name }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// SIGTERM and the exit status within `limit`.
    fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        // SAFETY: kill(2) with our own child's pid, which we have not reaped.
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None))
            && self.terminate(Duration::from_secs(5)).is_none()
        {
            eprintln!("{} ignored SIGTERM: SIGKILL", self.name);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `url` until it answers (at most 15 s).
fn wait_answering(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match get(url, None, Duration::from_secs(2)) {
            Ok(_) => return,
            Err(e) if Instant::now() > deadline => panic!("{url} never answered: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Our exporter for `httpd`'s scoreboard on a free port.
fn our_exporter(httpd: &Httpd, logs: &Path) -> (Program, String) {
    let port = free_port();
    let p = Program::start(
        "apache-scoreboard-exporter",
        BIN,
        &[
            "exporter".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--scoreboard".into(),
            httpd.scoreboard_file().display().to_string(),
        ],
        logs,
    );
    let url = format!("http://127.0.0.1:{port}/metrics");
    wait_answering(&url);
    (p, url)
}

fn scrape(url: &str) -> Scrape {
    parse(&get(url, None, Duration::from_secs(5)).unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn exporter_follows_httpd_through_restarts_stops_parallel_scrapes_and_sigterm() {
    if !require_apache() {
        return;
    }
    let logs = TempDir::new("exporter-life");
    let mut httpd = Httpd::start(HttpdConfig::new(Mpm::Event)).expect("httpd");
    let (mut exporter, url) = our_exporter(&httpd, &logs.0);
    let first = scrape(&url);
    assert_eq!(first.get("apache_up", &[]), Some(1.0));
    assert_eq!(
        first.get("apache_generation", &[("type", "mpm")]),
        Some(0.0)
    );
    let info = first
        .samples
        .keys()
        .find(|s| s.0 == "apache_info")
        .expect("apache_info");
    assert!(info.1.contains(&("mpm".into(), "event".into())), "{info:?}");
    // OpenMetrics when asked.
    let om = get(
        &url,
        Some("application/openmetrics-text;version=1.0.0"),
        Duration::from_secs(5),
    )
    .unwrap();
    assert!(
        om.ends_with("# EOF\n") && om.contains("# TYPE apache_accesses counter\n"),
        "{om}"
    );
    // The capacity from the running configuration, which the scoreboard's
    // states add up to (ServerLimit 4 x ThreadsPerChild 4, MaxRequestWorkers 12).
    assert_eq!(capacity(&first), (Some(12.0), 12.0));
    // A graceful restart after editing the configuration: same parent pid,
    // same segment, next generation. httpd keeps ServerLimit 4 until a full
    // restart (AH00501), so of MaxRequestWorkers 20 it runs with 16
    // (4 x 4, AH00511); the long-running exporter must read the files again.
    let conf = std::fs::read_to_string(httpd.conf_path()).unwrap();
    assert!(conf.contains("\nServerLimit 4\n") && conf.contains("\nMaxRequestWorkers 12\n"));
    let conf = conf
        .replace("\nServerLimit 4\n", "\nServerLimit 6\n")
        .replace("\nMaxRequestWorkers 12\n", "\nMaxRequestWorkers 20\n");
    std::fs::write(httpd.conf_path(), conf).unwrap();
    let parent = httpd.pid();
    httpd.graceful();
    httpd
        .wait_until("generation 1", Duration::from_secs(15), || {
            scrape(&url).get("apache_generation", &[("type", "mpm")]) == Some(1.0)
        })
        .unwrap();
    assert_eq!(httpd.pid(), parent);
    assert_eq!(capacity(&scrape(&url)), (Some(16.0), 16.0));
    // Stopped: the segment is gone, apache_up 0 (and the exporter stays).
    httpd.halt().expect("halt");
    assert_eq!(scrape(&url).get("apache_up", &[]), Some(0.0));
    // Started again (a full restart): the new segment under the same name.
    httpd.start_again().expect("start again");
    let again = scrape(&url);
    assert_eq!(again.get("apache_up", &[]), Some(1.0), "{again:?}");
    assert_eq!(
        again.get("apache_generation", &[("type", "mpm")]),
        Some(0.0)
    );
    assert!(again.get("apache_uptime_seconds_total", &[]).unwrap() < 10.0);
    // A new parent with the edited files: ServerLimit 6 now, all of
    // MaxRequestWorkers 20.
    assert_eq!(capacity(&again), (Some(20.0), 20.0));
    assert_eq!(again.get("apache_segment_slots", &[]), Some(48.0));
    // Parallel scrapes all answer.
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|_| scrape(&url).get("apache_up", &[]))
                    .all(|up| up == Some(1.0))
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().expect("scraper"), "a parallel scrape failed");
    }
    // /probe names only its own scoreboards.
    let probe = format!(
        "{}?target={}",
        url.replace("/metrics", "/probe"),
        httpd.scoreboard_file().display()
    );
    assert_eq!(scrape(&probe).get("apache_up", &[]), Some(1.0));
    assert!(get(
        &url.replace("/metrics", "/probe?target=/etc/shadow"),
        None,
        Duration::from_secs(5)
    )
    .is_err());
    // SIGTERM: a clean exit. The log has one line for the stop and one
    // for the start, nothing else.
    let status = exporter
        .terminate(Duration::from_secs(3))
        .expect("exits on SIGTERM");
    assert_eq!(status.code(), Some(0));
    let log = std::fs::read_to_string(logs.path("apache-scoreboard-exporter.log")).unwrap();
    let sbf = httpd.scoreboard_file().display().to_string();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(
        lines[0].starts_with(&format!("{sbf}: apache_up 0: ")),
        "{log}"
    );
    assert_eq!(lines[1], format!("{sbf}: read again, apache_up 1"));
}

/// `apache_segment_capacity_workers` and the sum of `apache_scoreboard`'s
/// states (what the apache-http mixin divides by).
fn capacity(s: &Scrape) -> (Option<f64>, f64) {
    let states: f64 = s
        .samples
        .iter()
        .filter(|(series, _)| series.0 == "apache_scoreboard")
        .map(|(_, v)| v)
        .sum();
    (s.get("apache_segment_capacity_workers", &[]), states)
}

/// A root-owned object in /dev/shm (which a one-shot check maps) removed,
/// truncated and rewritten while the exporter is scraped in parallel: the
/// exporter runs with default signal actions, so a read of a mapping past
/// the new end would kill it with SIGBUS. Every scrape answers, with
/// `apache_up 0` or the object's true figures; each change between the two
/// is one line of its log; the true figures again once the object is
/// whole; and the process is alive throughout.
#[test]
fn exporter_survives_its_segment_shrinking_under_it() {
    use apache_scoreboard::scoreboard::encode::busy_server;
    use apache_scoreboard::scoreboard::{Abi, Layout, Revision};
    let logs = TempDir::new("exporter-shrink");
    let path = std::path::PathBuf::from(format!(
        "/dev/shm/ShM.exporter-shrink-{}",
        std::process::id()
    ));
    let _object = RemovedOnDrop(path.clone());
    let layout = Layout::new(Revision::H, Abi::Lp64).expect("layout H");
    let whole = busy_server(layout, 16, 64).posix();
    // Owned by the test's user (root in CI), writable by nobody else.
    std::fs::write(&path, &whole).unwrap();
    let port = free_port();
    let mut exporter = Program::start(
        "exporter-shrink",
        BIN,
        &[
            "exporter".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--scoreboard".into(),
            path.display().to_string(),
            "--max-workers".into(),
            "1024".into(),
        ],
        &logs.0,
    );
    let url = format!("http://127.0.0.1:{port}/metrics");
    wait_answering(&url);
    let figures = |s: &Scrape| {
        (
            s.get("apache_workers", &[("state", "busy")]),
            s.get("apache_workers", &[("state", "idle")]),
            s.get("apache_segment_requests_in_flight", &[]),
        )
    };
    // What a whole object gives: the exporter read once, without churn.
    let expected = {
        let dir = TempDir::new("exporter-shrink-whole");
        let copy = dir.write("whole.bin", &whole);
        let out = run_bin(&[
            "metrics".into(),
            "--scoreboard".into(),
            copy.display().to_string(),
            "--max-workers".into(),
            "1024".into(),
        ]);
        let whole = parse(&out.stdout);
        assert_eq!(whole.get("apache_up", &[]), Some(1.0), "{}", out.stdout);
        figures(&whole)
    };
    assert_eq!(figures(&scrape(&url)), expected);
    let churn =
        crate::hostile::Background::shrinking(&path, whole.clone(), Duration::from_micros(300));
    let scrapers: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let (mut up, mut down) = (0, 0);
                let until = Instant::now() + Duration::from_secs(4);
                while Instant::now() < until {
                    let s = parse(&get(&url, None, Duration::from_secs(5))?);
                    match s.get("apache_up", &[]) {
                        Some(1.0) => {
                            assert_eq!(figures(&s), expected, "a torn read was exposed");
                            up += 1;
                        }
                        Some(0.0) => down += 1,
                        other => panic!("apache_up {other:?}"),
                    }
                }
                Ok::<_, String>((up, down))
            })
        })
        .collect();
    let answers: Vec<_> = scrapers
        .into_iter()
        .map(|t| t.join().expect("scraper"))
        .collect();
    let steps = churn.finish();
    let status = exporter.child.try_wait();
    assert!(matches!(status, Ok(None)), "the exporter died: {status:?}");
    let (mut up, mut down) = (0, 0);
    for a in answers {
        let (u, d) = a.unwrap_or_else(|e| panic!("{e}"));
        up += u;
        down += d;
    }
    eprintln!("shrinking segment: {steps} changes, {up} scrapes up, {down} down");
    assert!(down > 0, "the churn never made a scrape fail");
    // Whole again: the true figures.
    std::fs::write(&path, &whole).unwrap();
    let again = scrape(&url);
    assert_eq!(again.get("apache_up", &[]), Some(1.0));
    assert_eq!(figures(&again), expected);
    let status = exporter
        .terminate(Duration::from_secs(3))
        .expect("exits on SIGTERM");
    assert_eq!(status.code(), Some(0));
    // The log: each change once, why it could not be read, and back.
    let log = std::fs::read_to_string(logs.path("exporter-shrink.log")).unwrap();
    let shown = path.display().to_string();
    assert!(
        log.lines()
            .all(|l| l.starts_with(&format!("{shown}: apache_up 0: "))
                || l == format!("{shown}: read again, apache_up 1")),
        "{log}"
    );
    assert!(log.lines().count() >= 2, "{log}");
    assert!(
        log.ends_with(&format!("{shown}: read again, apache_up 1\n")),
        "{log}"
    );
}

/// Samples of apache_exporter's that ours must have with the same value,
/// given that apache_exporter's own status request was in flight when
/// mod_status counted (one more busy `W` worker, one idle less; event's
/// ConnsTotal counts no synchronous connection) and counted once it ended
/// (one access more, its bytes, duration and CPU).
fn compare(theirs: &std::collections::BTreeMap<Series, f64>, ours: &Scrape) {
    for (series, want) in theirs.iter().filter(|(s, _)| !not_in_segment(s)) {
        let label = series.1.first().map(|(_, v)| v.as_str()).unwrap_or("");
        let got = ours.samples.get(series).copied();
        let got = got.unwrap_or_else(|| panic!("ours lacks {series:?}"));
        let expected = match (series.0.as_str(), label) {
            ("apache_workers", "busy") | ("apache_scoreboard", "reply") => want - 1.0,
            ("apache_workers", "idle") | ("apache_scoreboard", "idle") => want + 1.0,
            ("apache_accesses_total", _) => want + 1.0,
            (
                "apache_sent_kilobytes_total"
                | "apache_duration_ms_total"
                | "apache_cpu_time_ms_total",
                _,
            ) => {
                assert!(
                    got >= *want && got <= want + 50.0,
                    "{series:?}: ours {got}, theirs {want}"
                );
                continue;
            }
            ("apache_uptime_seconds_total", _) => {
                assert!(
                    got - want <= 1.0 && got >= *want,
                    "{series:?}: ours {got}, theirs {want}"
                );
                continue;
            }
            ("apache_cpuload", _) => {
                assert!(
                    (got - want).abs() <= want.max(1.0),
                    "{series:?}: ours {got}, theirs {want}"
                );
                continue;
            }
            _ => *want,
        };
        assert_eq!(got, expected, "{series:?}: ours {got}, theirs {want}");
        if let Some(kind) = ours.types.get(&series.0) {
            let theirs_kind = if series.0.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            };
            assert_eq!(kind, theirs_kind, "{}", series.0);
        }
    }
}

#[test]
fn side_by_side_with_debian_apache_exporter_and_under_saturation() {
    if !require_apache() || !require(APACHE_EXPORTER) {
        return;
    }
    let logs = TempDir::new("exporter-side");
    let mut config = HttpdConfig::new(Mpm::Event);
    // apache_exporter's Go client would keep its connection open.
    config.extra_conf = "KeepAlive Off\n".into();
    // Every process from the start: the saturation below then needs no
    // process started on demand while requests arrive.
    config.start_servers = config.max_request_workers / config.threads_per_child;
    let httpd = Httpd::start(config).expect("httpd");
    let (_ours, url) = our_exporter(&httpd, &logs.0);
    let their_port = free_port();
    let _theirs = Program::start(
        "apache_exporter",
        APACHE_EXPORTER,
        &[
            format!(
                "--scrape_uri=http://127.0.0.1:{}/server-status?auto",
                httpd.port()
            ),
            format!("--telemetry.address=127.0.0.1:{their_port}"),
        ],
        &logs.0,
    );
    let their_url = format!("http://127.0.0.1:{their_port}/metrics");
    wait_answering(&their_url);
    let _held: Vec<_> = ["a.test", "b.test", "b.test"]
        .iter()
        .enumerate()
        .map(|(i, v)| httpd.hold(v, 25, &format!("side{i}")))
        .collect();
    let text = get(&their_url, None, Duration::from_secs(10)).unwrap();
    let theirs_scrape = parse(&text);
    assert_eq!(theirs_scrape.get("apache_up", &[]), Some(1.0), "{text}");
    // Their status request has ended (KeepAlive Off) before ours reads.
    std::thread::sleep(Duration::from_millis(300));
    let ours = scrape(&url);
    // Their samples, as its collector produced them (the port of it in
    // prometheus.rs only names what it parses; here the real one's text).
    let theirs: std::collections::BTreeMap<Series, f64> = theirs_scrape
        .samples
        .iter()
        .filter(|(s, _)| {
            s.0.starts_with("apache_") && !s.0.starts_with("apache_exporter_") && s.0 != "apache_up"
        })
        .map(|(s, v)| (s.clone(), *v))
        .collect();
    // The port agrees with the real thing on which series exist.
    let port_names: std::collections::BTreeSet<String> =
        apache_exporter("ServerVersion: Apache/2.4.71 (Debian)\nServerMPM: event\n")
            .keys()
            .map(|s| s.0.clone())
            .collect();
    assert!(
        port_names.iter().all(|n| theirs.keys().any(|s| &s.0 == n)),
        "{port_names:?}"
    );
    for (family, kind) in &theirs_scrape.types {
        if let Some(k) = ours.types.get(family) {
            assert_eq!(k, kind, "type of {family}");
        }
    }
    assert!(
        theirs.len() >= 25,
        "apache_exporter exposed only {theirs:?}"
    );
    compare(&theirs, &ours);
    // Every worker held: theirs gets no answer at all; ours answers at once
    // with every worker busy.
    let more = httpd.saturate("c.test", 25, "sat", 9);
    let started = Instant::now();
    let ours = scrape(&url);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(ours.get("apache_up", &[]), Some(1.0));
    assert_eq!(ours.get("apache_workers", &[("state", "busy")]), Some(12.0));
    assert_eq!(ours.get("apache_workers", &[("state", "idle")]), Some(0.0));
    assert_eq!(
        ours.get("apache_scoreboard", &[("state", "reply")]),
        Some(12.0)
    );
    assert_eq!(
        ours.get("apache_segment_requests_in_flight", &[]),
        Some(12.0)
    );
    let address = [("address", &*format!("127.0.0.1:{}", httpd.port()))];
    assert!(
        ours.get("apache_segment_listen_backlog_connections", &address)
            .is_some_and(|b| b > 0.0),
        "{ours:?}"
    );
    assert!(
        get(&their_url, None, Duration::from_secs(3)).is_err(),
        "apache_exporter answered under saturation"
    );
    // apache_exporter's own request now waits in httpd's accept queue.
    let queued = scrape(&url).get("apache_segment_listen_queue_connections", &address);
    assert!(queued.is_some_and(|q| q >= 1.0), "listen queue {queued:?}");
    drop(more);
}

#[test]
fn prometheus_scrapes_the_exporter_and_node_exporter_reads_the_textfile() {
    if !require_apache() || !require(PROMETHEUS) || !require(NODE_EXPORTER) {
        return;
    }
    let dir = TempDir::new("exporter-prom");
    let httpd = Httpd::start(HttpdConfig::new(Mpm::Worker)).expect("httpd");
    let _held: Vec<_> = (0..3)
        .map(|i| httpd.hold("a.test", 25, &format!("prom{i}")))
        .collect();
    let (_ours, url) = our_exporter(&httpd, &dir.0);
    let text = get(&url, None, Duration::from_secs(5)).unwrap();
    // promtool's lints: only those apache_exporter's own names draw.
    let lint = {
        let mut child = Command::new(PROMTOOL)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("promtool");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    for line in lint.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            line.starts_with("apache_duration_ms_total")
                || line.starts_with("apache_cpu_time_ms_total")
                || line.starts_with("apache_sent_kilobytes_total"),
            "promtool: {line}\n{lint}"
        );
    }
    // A real Prometheus scrapes it.
    let port = url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/metrics")
        .to_string();
    let config = dir.write(
        "prometheus.yml",
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: apache\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        )
        .as_bytes(),
    );
    let web = free_port();
    let _prom = Program::start(
        "prometheus",
        PROMETHEUS,
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.path("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{web}"),
        ],
        &dir.0,
    );
    let query = |expr: &str| -> Option<f64> {
        let q: String = expr
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let body = get(
            &format!("http://127.0.0.1:{web}/api/v1/query?query={q}"),
            None,
            Duration::from_secs(5),
        )
        .ok()?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while query("apache_up") != Some(1.0) {
        assert!(
            Instant::now() < deadline,
            "Prometheus never got apache_up 1"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let ours = scrape(&url);
    let busy = ours.get("apache_workers", &[("state", "busy")]).unwrap();
    // The apache-http mixin's ApacheWorkersLoad: busy over the
    // scoreboard's slots (the configured capacity, as mod_status prints).
    let load = query("sum(apache_workers{state=\"busy\"}) / sum(apache_scoreboard)")
        .expect("ApacheWorkersLoad");
    assert_eq!(load, busy / 12.0, "busy {busy} of MaxRequestWorkers 12");
    // The same expression evaluated by promtool over the series of our
    // scrape (`promtool test rules`).
    let scraped = parse(&text);
    let scraped_busy = scraped.get("apache_workers", &[("state", "busy")]).unwrap();
    assert_eq!(promtool_workers_load(&dir, &scraped), scraped_busy / 12.0);
    assert_eq!(query("apache_segment_requests_in_flight"), Some(3.0));
    // node_exporter's textfile collector reads `metrics --output`.
    let textfiles = dir.path("textfile");
    std::fs::create_dir(&textfiles).unwrap();
    let out = run_bin(&[
        "metrics".into(),
        "--scoreboard".into(),
        httpd.scoreboard_file().display().to_string(),
        "--output".into(),
        textfiles.join("apache.prom").display().to_string(),
    ]);
    assert_eq!((out.code, out.stdout.as_str()), (0, ""));
    let node_port = free_port();
    let _node = Program::start(
        "node_exporter",
        NODE_EXPORTER,
        &[
            "--collector.disable-defaults".into(),
            "--collector.textfile".into(),
            format!("--collector.textfile.directory={}", textfiles.display()),
            format!("--web.listen-address=127.0.0.1:{node_port}"),
        ],
        &dir.0,
    );
    let node_url = format!("http://127.0.0.1:{node_port}/metrics");
    wait_answering(&node_url);
    let node = scrape(&node_url);
    assert_eq!(node.get("apache_up", &[]), Some(1.0));
    assert_eq!(node.get("apache_workers", &[("state", "busy")]), Some(busy));
    assert_eq!(node.get("node_textfile_scrape_error", &[]), Some(0.0));
}

/// The apache-http mixin's `ApacheWorkersLoad` expression evaluated by
/// `promtool test rules` over `scrape`'s `apache_workers` and
/// `apache_scoreboard` series must give busy / (the states' sum) of that
/// scrape, which is returned.
fn promtool_workers_load(dir: &TempDir, scrape: &Scrape) -> f64 {
    let mut series = String::new();
    for ((name, labels), value) in &scrape.samples {
        if name != "apache_workers" && name != "apache_scoreboard" {
            continue;
        }
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        series.push_str(&format!(
            "      - series: '{name}{{{}}}'\n        values: '{value}x2'\n",
            labels.join(",")
        ));
    }
    let busy = scrape.get("apache_workers", &[("state", "busy")]).unwrap();
    let slots: f64 = scrape
        .samples
        .iter()
        .filter(|(s, _)| s.0 == "apache_scoreboard")
        .map(|(_, v)| v)
        .sum();
    let expected = busy / slots;
    let tests = dir.write(
        "workers-load.test.yml",
        format!(
            "tests:\n  - interval: 1m\n    input_series:\n{series}    promql_expr_test:\n      \
             - expr: sum(apache_workers{{state=\"busy\"}}) / sum(apache_scoreboard)\n        \
             eval_time: 1m\n        exp_samples:\n          - labels: '{{}}'\n            \
             value: {expected}\n"
        )
        .as_bytes(),
    );
    let out = Command::new(PROMTOOL)
        .args(["test", "rules"])
        .arg(&tests)
        .output()
        .expect("promtool");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "promtool test rules: {said}");
    expected
}

/// The packaged unit and the contrib timer pass `systemd-analyze verify`
/// (with ExecStart pointed at the built binary, as the package would have
/// it at /usr/lib/nagios/plugins).
#[test]
fn systemd_units_verify() {
    const ANALYZE: &str = "/usr/bin/systemd-analyze";
    if !require(ANALYZE) {
        return;
    }
    let dir = TempDir::new("units");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut units = Vec::new();
    for unit in [
        "packaging/systemd/apache-scoreboard-exporter.service",
        "contrib/systemd/apache-scoreboard-metrics.service",
        "contrib/systemd/apache-scoreboard-metrics.timer",
    ] {
        let text = std::fs::read_to_string(root.join(unit)).unwrap();
        assert!(
            text.contains("/usr/lib/nagios/plugins/apache-scoreboard") || unit.ends_with(".timer")
        );
        let text = text.replace("/usr/lib/nagios/plugins/apache-scoreboard", BIN);
        let name = Path::new(unit).file_name().unwrap().to_str().unwrap();
        units.push(dir.write(name, text.as_bytes()));
    }
    let out = Command::new(ANALYZE)
        .arg("verify")
        .args(&units)
        .output()
        .expect("systemd-analyze");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );
    let exporter = std::fs::read_to_string(&units[0]).unwrap();
    for directive in [
        "DynamicUser=yes",
        "AmbientCapabilities=CAP_DAC_READ_SEARCH\n",
        "CapabilityBoundingSet=CAP_DAC_READ_SEARCH\n",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
    ] {
        assert!(exporter.contains(directive), "{directive}");
    }
}

/// As the systemd unit runs it: an unprivileged user with
/// CAP_DAC_READ_SEARCH as an ambient capability and no_new_privs. It opens
/// the allowlisted segment, keeps nothing effective, reopens the new
/// segment after a full restart, and refuses anything else.
#[test]
fn unprivileged_exporter_with_the_units_capability_follows_a_full_restart() {
    let id_name = |gid: u32| {
        let out = std::process::Command::new("getent")
            .args(["group", &gid.to_string()])
            .output()
            .expect("getent");
        String::from_utf8_lossy(&out.stdout)
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string()
    };
    use crate::privilege::{confined_argv, tool, Setup, User};
    if !require_apache() || !require("/usr/bin/setpriv") {
        return;
    }
    let logs = TempDir::new("exporter-caps");
    let scratch = TempDir::new("exporter-ns");
    let mut httpd = Httpd::start(HttpdConfig::new(Mpm::Event)).expect("httpd");
    let sbf = httpd.scoreboard_file();
    let nobody = User::get("nobody").expect("user nobody");
    let group = id_name(nobody.gid);
    // The allowlist exists only in the exporter's private mount namespace;
    // nobody's own group is the allowed one there.
    let setup = Setup::allow(&format!("allow-group {group}\n{}\n", sbf.display()));
    let port = free_port();
    let args: Vec<String> = confined_argv(
        &setup,
        &scratch.0,
        Some(&nobody),
        &[
            "--inh-caps=+dac_read_search",
            "--ambient-caps=+dac_read_search",
            "--no-new-privs",
        ],
        Path::new(BIN),
        &[
            "exporter".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}").into(),
        ],
    )
    .into_iter()
    .map(|a| a.into_string().expect("UTF-8 argument"))
    .collect();
    let unshare = tool("unshare").expect("unshare");
    let exporter = Program::start("exporter-nobody", unshare.to_str().unwrap(), &args, &logs.0);
    let url = format!("http://127.0.0.1:{port}/metrics");
    wait_answering(&url);
    assert_eq!(scrape(&url).get("apache_up", &[]), Some(1.0));
    let status = std::fs::read_to_string(format!("/proc/{}/status", exporter.pid())).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
            .unwrap()
    };
    const DAC_READ_SEARCH: u64 = 1 << 2;
    assert_eq!(field("CapEff:"), 0, "{status}");
    assert_eq!(field("CapAmb:"), 0, "{status}");
    assert_eq!(field("CapPrm:"), DAC_READ_SEARCH, "{status}");
    httpd.halt().expect("halt");
    assert_eq!(scrape(&url).get("apache_up", &[]), Some(0.0));
    httpd.start_again().expect("start again");
    assert_eq!(scrape(&url).get("apache_up", &[]), Some(1.0));
    let probe = |target: &str| {
        get(
            &format!("http://127.0.0.1:{port}/probe?target={target}"),
            None,
            Duration::from_secs(5),
        )
    };
    assert!(probe(&sbf.display().to_string()).is_ok());
    assert!(probe("/etc/shadow").is_err());
    assert!(
        probe(&httpd.shm_path().display().to_string()).is_err(),
        "only the listed names"
    );
}

//! `top` live, as the sysadmin at the console sees it: a real Debian
//! apache2 with requests held by slow CGIs, `apache-scoreboard top` in a
//! 200x50 tmux pane (support/tmux.rs), the screen read back with
//! `capture-pane`. The held requests show with ages that grow, the busy
//! count and their vhosts; `p`, `s`, `/`, `v` and `?` change the view as
//! they say, a smaller window is redrawn to fit; `q`, Ctrl-C and SIGTERM
//! end it with exit code 0 and give the shell back its
//! terminal as it was (no alternate screen, canonical mode and echo on,
//! cursor visible).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::httpd::{send_signal, Held};
use crate::support::tmux::{Tmux, PROMPT, TMUX};
use crate::support::{pid_alive, require_apache, require_program, Httpd, HttpdConfig, Mpm};
use crate::util::{RemovedOnDrop, BIN};

/// Every wait on the screen is bounded by this (a 2-core machine running
/// the suite needs seconds where an idle one needs one refresh).
const SEEN: Duration = Duration::from_secs(20);
/// `top`'s refresh in these tests.
const INTERVAL: &str = "200ms";

/// Starts `top` for `h`'s scoreboard in the pane, as `sh -c 'echo $$ >
/// PIDFILE; exec top ...'; echo rc=$?`, so its pid is known and its exit
/// code printed; waits until it shows its full screen and returns its pid.
fn start_top(tmux: &mut Tmux, h: &Httpd, run: &str) -> u32 {
    let pidfile = tmux.own_pidfile(&format!("top-{run}.pid"));
    let _ = std::fs::remove_file(&pidfile);
    tmux.run_line(&format!(
        "sh -c 'echo $$ > {pidfile}; exec {BIN} top --scoreboard {sb} --interval {INTERVAL} --show-query'; echo rc=$?",
        pidfile = pidfile.display(),
        sb = h.scoreboard_file().display(),
    ));
    let pid = tmux.pid_in(&pidfile);
    tmux.wait_for("top's screen", SEEN, |_| {
        tmux.display("#{alternate_on}") == "1"
    });
    pid
}

/// `top` (`pid`) ended with exit code 0 and the shell has its terminal
/// back: the line discipline as a shell expects it (canonical mode, echo,
/// CR to NL), the normal screen, the cursor shown, `rc=0` and the prompt.
fn assert_shell_is_back(tmux: &Tmux, pid: u32, how: &str) {
    tmux.wait_for(&format!("top ending on {how}"), SEEN, |_| !pid_alive(pid));
    let stty = tmux.stty();
    let flags: Vec<&str> = stty.split_whitespace().collect();
    for flag in ["icanon", "echo", "icrnl", "isig", "opost", "onlcr"] {
        assert!(
            flags.contains(&flag),
            "{how}: raw mode left behind ({flag} off):\n{stty}"
        );
    }
    assert_eq!(
        tmux.display("#{alternate_on}"),
        "0",
        "{how}: the alternate screen is still on:\n{}",
        tmux.screen()
    );
    assert_eq!(
        tmux.display("#{cursor_flag}"),
        "1",
        "{how}: the cursor is still hidden"
    );
    tmux.wait_for(&format!("rc=0 and the prompt after {how}"), SEEN, |s| {
        let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
        lines.len() >= 2
            && lines[lines.len() - 2] == "rc=0"
            && lines[lines.len() - 1].trim_end() == PROMPT.trim_end()
    });
    // And the shell reads lines again: a command typed now runs.
    tmux.run_line("echo still-a-shell");
    tmux.wait_for(&format!("the shell answering after {how}"), SEEN, |s| {
        s.lines().any(|l| l == "still-a-shell")
    });
}

/// One row of the workers' table: PID SLOT ST AGE VHOST REQUEST...
#[derive(Debug)]
struct Row {
    pid: u32,
    slot: (u32, u32),
    age: f64,
    vhost: String,
    line: String,
}

/// The rows of the screen that show a held request (sleep.cgi's path), in
/// the order shown.
fn held_rows(screen: &str) -> Vec<Row> {
    screen
        .lines()
        .filter(|l| l.contains("/cgi-bin/sleep.cgi"))
        .map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            let parse = || -> Option<Row> {
                let (process, thread) = cells.get(1)?.split_once('-')?;
                Some(Row {
                    pid: cells.first()?.parse().ok()?,
                    slot: (process.parse().ok()?, thread.parse().ok()?),
                    age: seconds(cells.get(3)?)?,
                    vhost: cells.get(4)?.to_string(),
                    line: line.to_string(),
                })
            };
            parse().unwrap_or_else(|| panic!("not a worker row: {line}\n{screen}"))
        })
        .collect()
}

/// `3.5s`, `1m02s`, `2h05m` (checks::human_age) in seconds.
fn seconds(text: &str) -> Option<f64> {
    let (h, rest) = text.split_once('h').unwrap_or(("0", text));
    let (m, rest) = rest.split_once('m').unwrap_or(("0", rest));
    let s = match rest {
        "" => "0",
        _ => rest.strip_suffix('s')?,
    };
    Some(h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?)
}

/// The row of the request with `id`.
fn row<'a>(rows: &'a [Row], id: &str) -> &'a Row {
    let needle = format!("&id={id} ");
    rows.iter()
        .find(|r| r.line.contains(&needle))
        .unwrap_or_else(|| panic!("{id} not shown: {rows:#?}"))
}

fn ids(rows: &[Row]) -> Vec<&str> {
    rows.iter()
        .map(|r| {
            let at = r.line.find("&id=").expect("id") + 4;
            r.line[at..].split_whitespace().next().expect("id")
        })
        .collect()
}

/// The line of the screen starting with `prefix` (a table's title).
fn title<'a>(screen: &'a str, prefix: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?}:\n{screen}"))
}

/// One held request per vhost and one more on b.test, oldest first.
fn hold_three(h: &Httpd) -> Vec<Held> {
    vec![
        h.hold("a.test", 90, "topA"),
        h.hold("b.test", 90, "topB1"),
        h.hold("b.test", 90, "topB2"),
    ]
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

#[test]
fn top_in_tmux_shows_held_requests_and_quits_cleanly() {
    if !require_apache() || !require_program(TMUX) {
        return;
    }
    let h = Httpd::start(HttpdConfig::new(Mpm::Event)).expect("start apache2");
    let held = hold_three(&h);
    let port = h.port();
    let mut tmux = Tmux::start("top");
    let pid = start_top(&mut tmux, &h, "keys");

    // The three held requests, oldest first, with their vhosts; the busy
    // count as mod_status counts it (nothing else runs on the server);
    // the capacity from the running httpd's configuration.
    let first = tmux.wait_for("the three held requests, 3 busy", SEEN, |s| {
        held_rows(s).len() == 3 && s.contains("busy 3 · ")
    });
    let rows = held_rows(&first);
    assert_eq!(ids(&rows), ["topA", "topB1", "topB2"], "{first}");
    for r in &held {
        assert_eq!(
            row(&rows, &r.id).vhost,
            format!("{}:{port}", r.vhost),
            "{first}"
        );
    }
    assert!(
        title(&first, "Workers in flight: ").starts_with("Workers in flight: 3 · sort age"),
        "{first}"
    );
    assert!(first.contains(" of 12 ("), "capacity 12:\n{first}");
    assert!(
        first.contains("httpd 2.4.") && first.contains(" event · "),
        "{first}"
    );

    // Ages grow between two captures, and stay within the wall time since
    // each request was sent (0.5 s of slack for the rounding to tenths).
    let then = row(&rows, "topA").age;
    let later = tmux.wait_for("the ages growing", SEEN, |s| {
        let rows = held_rows(s);
        rows.len() == 3 && row(&rows, "topA").age >= then + 1.0
    });
    let now = unix(SystemTime::now());
    for r in &held {
        let age = row(&held_rows(&later), &r.id).age;
        assert!(
            age <= now - unix(r.sent_at) + 0.5,
            "{}: age {age} older than the request:\n{later}",
            r.id
        );
    }

    // p: paused, the ages stand still (three refreshes' worth), p again
    // and they move on.
    tmux.press(&["p"]);
    let paused = tmux.wait_for("PAUSED", SEEN, |s| {
        s.lines().next().is_some_and(|l| l.contains(" · PAUSED"))
    });
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        held_rows(&tmux.screen())
            .iter()
            .map(|r| r.age)
            .collect::<Vec<_>>(),
        held_rows(&paused).iter().map(|r| r.age).collect::<Vec<_>>(),
        "ages moved while paused"
    );
    let frozen = row(&held_rows(&paused), "topA").age;
    tmux.press(&["p"]);
    tmux.wait_for("refreshing again", SEEN, |s| {
        !s.contains("PAUSED") && held_rows(s).first().is_some_and(|r| r.age > frozen)
    });

    // s: the sort cycles age -> pid -> slot -> vhost -> age.
    tmux.press(&["s"]);
    let by_pid = tmux.wait_for("sort pid", SEEN, |s| s.contains(" · sort pid"));
    let keys: Vec<(u32, (u32, u32))> = held_rows(&by_pid).iter().map(|r| (r.pid, r.slot)).collect();
    assert!(keys.is_sorted(), "not by pid:\n{by_pid}");
    tmux.press(&["s"]);
    let by_slot = tmux.wait_for("sort slot", SEEN, |s| s.contains(" · sort slot"));
    let slots: Vec<(u32, u32)> = held_rows(&by_slot).iter().map(|r| r.slot).collect();
    assert!(slots.is_sorted(), "not by slot:\n{by_slot}");
    tmux.press(&["s"]);
    let by_vhost = tmux.wait_for("sort vhost", SEEN, |s| s.contains(" · sort vhost"));
    let vhosts: Vec<String> = held_rows(&by_vhost)
        .iter()
        .map(|r| r.vhost.clone())
        .collect();
    assert_eq!(
        vhosts,
        [
            format!("a.test:{port}"),
            format!("b.test:{port}"),
            format!("b.test:{port}")
        ],
        "{by_vhost}"
    );
    tmux.press(&["s"]);
    let by_age = tmux.wait_for("sort age", SEEN, |s| s.contains(" · sort age"));
    assert_eq!(
        ids(&held_rows(&by_age)),
        ["topA", "topB1", "topB2"],
        "{by_age}"
    );

    // /: a filter typed and kept with Enter, by vhost, then by request
    // text; Escape clears it.
    tmux.type_text("/b.test");
    tmux.wait_for("the filter being typed", SEEN, |s| {
        s.contains("filter: b.test_")
    });
    tmux.press(&["Enter"]);
    let filtered = tmux.wait_for("the b.test filter", SEEN, |s| {
        s.contains("Workers in flight: 2 of ") && s.contains(" · filter \"b.test\"")
    });
    assert_eq!(ids(&held_rows(&filtered)), ["topB1", "topB2"], "{filtered}");
    tmux.press(&["Escape"]);
    tmux.wait_for("the filter cleared", SEEN, |s| {
        held_rows(s).len() == 3 && !s.contains(" · filter ")
    });
    tmux.type_text("/id=topB2");
    tmux.press(&["Enter"]);
    let filtered = tmux.wait_for("the request filter", SEEN, |s| {
        s.contains(" · filter \"id=topB2\"")
    });
    assert_eq!(ids(&held_rows(&filtered)), ["topB2"], "{filtered}");
    // (Waited for: an Escape read together with the next key is Alt+key.)
    tmux.press(&["Escape"]);
    tmux.wait_for("the filter cleared", SEEN, |s| {
        held_rows(s).len() == 3 && !s.contains(" · filter ")
    });

    // v: busy workers per vhost (the filter gone), and back.
    tmux.press(&["v"]);
    let groups = tmux.wait_for("busy per vhost", SEEN, |s| {
        s.contains("Busy workers per vhost: ")
    });
    for (vhost, busy) in [("a.test", "1"), ("b.test", "2")] {
        let name = format!("{vhost}:{port}");
        let line = groups
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name.as_str()))
            .unwrap_or_else(|| panic!("{name} not in:\n{groups}"));
        assert_eq!(line.split_whitespace().nth(1), Some(busy), "{groups}");
    }
    assert!(held_rows(&groups).is_empty(), "{groups}");
    tmux.press(&["v"]);
    tmux.wait_for("the workers again", SEEN, |s| held_rows(s).len() == 3);

    // ?: the help, closed by any key.
    tmux.press(&["?"]);
    tmux.wait_for("the help", SEEN, |s| {
        s.contains("apache-scoreboard top: keys")
    });
    tmux.press(&["Escape"]);
    tmux.wait_for("the help closed", SEEN, |s| {
        !s.contains("apache-scoreboard top: keys")
    });

    // A smaller terminal: redrawn to fit, the requests still there.
    tmux.command(&["resize-window", "-t", "t", "-x", "100", "-y", "30"]);
    let small = tmux.wait_for("a 100x30 frame", SEEN, |s| {
        s.lines().count() <= 30
            && s.lines().all(|l| l.chars().count() <= 100)
            && s.lines().any(|l| l.starts_with("q quit"))
            && held_rows(s).len() == 3
    });
    assert!(small.contains("busy 3 · "), "{small}");

    tmux.press(&["q"]);
    assert_shell_is_back(&tmux, pid, "q");
    for r in &held {
        assert!(r.is_open(), "{} ended while top ran", r.id);
    }
}

#[test]
fn top_in_tmux_ends_cleanly_on_sigterm_and_ctrl_c() {
    if !require_apache() || !require_program(TMUX) {
        return;
    }
    let h = Httpd::start(HttpdConfig::new(Mpm::Event)).expect("start apache2");
    let _held = h.hold("a.test", 60, "topTerm");
    let mut tmux = Tmux::start("top-signals");

    let pid = start_top(&mut tmux, &h, "sigterm");
    tmux.wait_for("the held request", SEEN, |s| held_rows(s).len() == 1);
    send_signal(pid, libc::SIGTERM).expect("SIGTERM to top");
    assert_shell_is_back(&tmux, pid, "SIGTERM");

    // Ctrl-C, with a filter half typed (raw mode: it is a key, not SIGINT).
    let pid = start_top(&mut tmux, &h, "ctrl-c");
    tmux.wait_for("the held request", SEEN, |s| held_rows(s).len() == 1);
    tmux.type_text("/a.te");
    tmux.wait_for("the filter being typed", SEEN, |s| {
        s.contains("filter: a.te_")
    });
    tmux.press(&["C-c"]);
    assert_shell_is_back(&tmux, pid, "Ctrl-C");
}

/// The live view runs without the watchdog's handlers, so a root-owned
/// `/dev/shm` object (which a one-shot check maps) removed, truncated and
/// rewritten under it must never reach it as a SIGBUS: `top` stays alive
/// through the churn and still ends cleanly on `q`.
#[test]
fn top_in_tmux_survives_its_segment_shrinking() {
    use apache_scoreboard::scoreboard::encode::busy_server;
    use apache_scoreboard::scoreboard::{Abi, Layout, Revision};
    if !require_program(TMUX) {
        return;
    }
    let path = std::path::PathBuf::from(format!("/dev/shm/ShM.top-shrink-{}", std::process::id()));
    let _object = RemovedOnDrop(path.clone());
    let whole = busy_server(
        Layout::new(Revision::H, Abi::Lp64).expect("layout H"),
        16,
        64,
    )
    .posix();
    std::fs::write(&path, &whole).unwrap();
    let mut tmux = Tmux::start("top-shrink");
    let pidfile = tmux.own_pidfile("top-shrink.pid");
    tmux.run_line(&format!(
        "sh -c 'echo $$ > {pidfile}; exec {BIN} top --scoreboard {sb} --max-workers 1024 --interval 50ms'; echo rc=$?",
        pidfile = pidfile.display(),
        sb = path.display(),
    ));
    let pid = tmux.pid_in(&pidfile);
    tmux.wait_for("top's screen", SEEN, |_| {
        tmux.display("#{alternate_on}") == "1"
    });
    let churn =
        crate::hostile::Background::shrinking(&path, whole.clone(), Duration::from_micros(300));
    std::thread::sleep(Duration::from_secs(4));
    let steps = churn.finish();
    std::fs::write(&path, &whole).unwrap();
    let alive = pid_alive(pid);
    let screen = tmux.screen();
    if alive {
        tmux.press(&["q"]);
    }
    assert!(
        alive,
        "top died during {steps} changes of its segment:\n{screen}"
    );
    assert_shell_is_back(&tmux, pid, "q after the churn");
}

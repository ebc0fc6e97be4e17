//! `top` on the captures in tests/fixtures read with `--at`: the screen
//! rendered into ratatui's test backend against golden frames at 80×24 and
//! 200×50 (tests/fixtures/top/; `BLESS=1 cargo test --test integration top`
//! rewrites them, review the diff), and the plain frame through the binary
//! when stdout is not a terminal. The live view in a real terminal is
//! tests/integration/top_live.rs's.

use std::path::PathBuf;

use apache_scoreboard::measure::Capacity;
use apache_scoreboard::scoreboard::ReadOptions;
use apache_scoreboard::top::{self, draw, Key, Privacy, Sample, Ui};
use ratatui::backend::TestBackend;
use ratatui::style::Modifier;
use ratatui::Terminal;

use crate::fixtures::Fixture;
use crate::util::run_bin;

fn options(f: &Fixture) -> top::Options {
    let at = humantime::parse_rfc3339_weak(&f.at()).expect("time");
    let at = at
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_micros() as i64;
    top::Options {
        read: ReadOptions {
            // Relative (tests run in the package's directory): the frame
            // shows the path, the same in every checkout.
            scoreboard: Some(format!("tests/fixtures/{}/scoreboard.bin", f.name).into()),
            mpm: clap::ValueEnum::from_str(&f.mpm(), true).ok(),
            at: Some(at),
            ..ReadOptions::default()
        },
        capacity: Capacity {
            max_workers: Some(f.config("MaxRequestWorkers") as usize),
            threads_per_child: Some(f.config("ThreadsPerChild") as usize),
        },
        interval: std::time::Duration::from_secs(1),
        once: true,
        privacy: Privacy::default(),
    }
}

/// The screen as text, one line per row, trailing blanks cut.
fn screen(s: &Sample, ui: &Ui, width: u16, height: u16) -> (String, Terminal<TestBackend>) {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal.draw(|f| draw::draw(f, s, ui)).expect("draw");
    let buffer = terminal.backend().buffer().clone();
    let mut text = String::new();
    for y in 0..height {
        let line: String = (0..width).map(|x| buffer[(x, y)].symbol()).collect();
        text.push_str(line.trim_end());
        text.push('\n');
    }
    (text, terminal)
}

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/top")
        .join(format!("{name}.txt"));
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (BLESS=1 to write it)", path.display()));
    assert!(
        expected == actual,
        "{name}: the frame differs from {} (BLESS=1 rewrites it):\n{actual}",
        path.display()
    );
}

/// Keys typed in order.
fn typed(keys: &str) -> Ui {
    let mut ui = Ui::default();
    for c in keys.chars() {
        ui.key(match c {
            '\n' => Key::Enter,
            c => Key::Char(c),
        });
    }
    ui
}

#[test]
fn top_frames_match_golden_files() {
    for name in [
        "event-slow",
        "prefork-mixed",
        "worker-saturation",
        "event-graceful",
    ] {
        let f = Fixture::load(name);
        let s = top::sample(options(&f)).expect("sample");
        for (width, height) in [(80, 24), (200, 50)] {
            let (text, _) = screen(&s, &Ui::default(), width, height);
            golden(&format!("{name}-{width}x{height}"), &text);
        }
    }
    let f = Fixture::load("worker-mixed");
    let s = top::sample(options(&f)).expect("sample");
    // v: vhosts; s: by oldest request; /: filter; ?: help.
    for (keys, what) in [
        ("v", "vhosts"),
        ("vs", "vhosts-oldest"),
        ("/b.test\n", "filter"),
        ("?", "help"),
        ("s", "sort-pid"),
    ] {
        let (text, _) = screen(&s, &typed(keys), 80, 24);
        golden(&format!("worker-mixed-{what}-80x24"), &text);
    }
}

#[test]
fn top_dims_disabled_slots_and_counts_as_mod_status() {
    let f = Fixture::load("event-slow");
    let s = top::sample(options(&f)).expect("sample");
    // Busy as mod_status counts it (auto.txt's BusyWorkers).
    assert_eq!(
        Some(s.pool.summary.busy as u64),
        f.expected()["busy"].as_u64()
    );
    let (text, terminal) = screen(&s, &Ui::default(), 80, 24);
    // ThreadsPerChild 4 of ThreadLimit 8: slots 4-7 of every process are
    // disabled, drawn dim; slot 0-0 is not.
    let buffer = terminal.backend().buffer();
    let row = text
        .lines()
        .position(|l| l.trim_start().starts_with("0 "))
        .expect("map row of process 0") as u16;
    let first = text.lines().nth(row as usize).unwrap().len() as u16 - 8;
    assert!(!buffer[(first, row)].modifier.contains(Modifier::DIM));
    assert!(buffer[(first + 4, row)].modifier.contains(Modifier::DIM));
}

#[test]
fn top_prints_one_plain_frame_when_stdout_is_no_terminal() {
    for name in ["worker-saturation", "prefork-slow", "event-mixed"] {
        let f = Fixture::load(name);
        let mut args = vec!["top".to_string()];
        args.extend(f.source_args());
        args.extend(f.limit_args());
        let out = run_bin(&args);
        assert_eq!(out.code, 0, "{name}: {}", out.stdout);
        assert!(!out.stdout.contains('\x1b'), "{name}: escape sequence");
        let inflight = f.expected()["inflight_requests"]
            .as_array()
            .expect("inflight");
        // Every request on a row of its own, whatever a screen's height.
        for want in inflight {
            let pid = want["pid"].as_i64().expect("pid").to_string();
            let slot = &want["slot"];
            let slot = format!("{}-{}", slot[0], slot[1]);
            let rows = out
                .stdout
                .lines()
                .filter(|l| {
                    let cells: Vec<&str> = l.split_whitespace().collect();
                    cells.len() > 4 && cells[0] == pid && cells[1] == slot
                })
                .count();
            assert_eq!(rows, 1, "{name}: request {want} in\n{}", out.stdout);
        }
        // Query strings hidden, no client column (privacy defaults).
        assert!(!out.stdout.contains("CLIENT"), "{name}");
        assert!(
            !out.stdout
                .lines()
                .any(|l| l.contains("?") && !l.contains("?…") && l.contains("GET")),
            "{name}: a query string shown:\n{}",
            out.stdout
        );
    }
}

/// A real event httpd with held requests: the plain frame shows each held
/// request on its row (query string with --show-query, as root may), its
/// vhost and the user serving it, busy workers as mod_status counts them
/// at the same instant, and the listen queue and frozen children of a live
/// server.
#[test]
fn top_once_on_a_live_server_shows_held_requests_as_mod_status_counts() {
    use crate::support::{auto_value, require_apache, Httpd, HttpdConfig, Mpm};
    if !require_apache() {
        return;
    }
    let httpd = Httpd::start(HttpdConfig::new(Mpm::Event)).expect("start apache2");
    let held = [
        httpd.hold("a.test", 60, "top-a1"),
        httpd.hold("a.test", 60, "top-a2"),
        httpd.hold("b.test", 60, "top-b1"),
    ];
    let args: Vec<String> = [
        "top",
        "--once",
        "--show-query",
        "--scoreboard",
        &httpd.scoreboard_file().display().to_string(),
    ]
    .map(String::from)
    .to_vec();
    let (auto, out) = httpd
        .synchronized_status(|| run_bin(&args))
        .expect("synchronized ?auto");
    assert_eq!(out.code, 0, "{}", out.stdout);
    let frame = out.stdout;
    assert!(!frame.contains('\x1b'), "{frame}");
    let busy = auto_value(&auto, "BusyWorkers").expect("BusyWorkers");
    assert!(
        frame
            .lines()
            .nth(1)
            .unwrap_or("")
            .starts_with(&format!("busy {busy} ")),
        "busy {busy} as ?auto says:\n{frame}"
    );
    assert!(frame.contains("listen queue 0"), "{frame}");
    assert!(frame.contains("frozen none"), "{frame}");
    let titles = frame
        .lines()
        .find(|l| l.starts_with("PID "))
        .expect("workers' titles");
    assert!(titles.contains(" USER "), "{titles}");
    for h in &held {
        let row = frame
            .lines()
            .find(|l| l.ends_with(h.request_line()))
            .unwrap_or_else(|| panic!("{} not in\n{frame}", h.request_line()));
        assert!(
            row.contains(&format!(" {}:{} ", h.vhost, httpd.port())),
            "{row}"
        );
        // The user the CGI's httpd child runs as (not "-").
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert!(cells.len() >= 7 && cells[5] != "-", "{row}");
    }
}

/// A 16×64 segment with hostile text in some slots (escape sequences, bidi
/// overrides, wide characters, names at their full length): every size of
/// screen, down to one cell, draws without a panic and without an escape
/// sequence; the plain frame has a row for every request in flight.
#[test]
fn top_draws_hostile_segments_at_any_size() {
    use apache_scoreboard::scoreboard::encode::{busy_server, WorkerValues, DEFAULT_RESTART_TIME};
    use apache_scoreboard::scoreboard::{status, Abi, Layout, Revision};
    let layout = Layout::new(Revision::H, Abi::Lp64).expect("layout H");
    let mut b = busy_server(layout, 16, 64);
    let now = DEFAULT_RESTART_TIME + 3_600_000_000;
    for (j, (vhost, request)) in [
        (
            &b"\x1b[2J\x1b]0;owned\x07:80"[..],
            &b"GET /\x1b[31mred\x1b[0m?token=secret HTTP/1.1"[..],
        ),
        (
            "\u{202e}evil.test:443".as_bytes(),
            "GET /\u{202e}txt.exe HTTP/1.1".as_bytes(),
        ),
        (
            "例え.テスト:80".as_bytes(),
            "GET /長い長い長い長い長い長い長い長い長い長い HTTP/1.1".as_bytes(),
        ),
        (&[b'v'; 32][..], &[b'A'; 128][..]),
        (&b"\xff\xfe:80"[..], &b"\xc3\x28 \x00"[..]),
    ]
    .into_iter()
    .enumerate()
    {
        b.worker(
            15,
            j,
            &WorkerValues {
                pid: 1015,
                status: status::BUSY_WRITE,
                start_time: now - 1_000_000 * (j as i64 + 1),
                stop_time: now - 1_000_000 * (j as i64 + 2),
                client: b"192.0.2.1".to_vec(),
                vhost: vhost.to_vec(),
                request: request.to_vec(),
                ..WorkerValues::default()
            },
        );
    }
    let path = std::env::temp_dir().join(format!("top-hostile-{}.bin", std::process::id()));
    std::fs::write(&path, b.posix()).expect("write segment");
    let options = top::Options {
        read: ReadOptions {
            scoreboard: Some(path.clone()),
            at: Some(now),
            ..ReadOptions::default()
        },
        capacity: Capacity {
            max_workers: Some(1024),
            threads_per_child: Some(64),
        },
        interval: std::time::Duration::from_secs(1),
        once: true,
        privacy: Privacy {
            show_query: true,
            show_clients: true,
        },
    };
    let s = top::sample(options).expect("sample");
    let _ = std::fs::remove_file(&path);
    assert!(s.clients_shown);
    for ui in [Ui::default(), typed("v"), typed("?"), typed("/例\n")] {
        for (w, h) in [
            (1, 1),
            (2, 1),
            (3, 2),
            (10, 4),
            (40, 10),
            (80, 24),
            (300, 3),
            (120, 80),
        ] {
            let (text, _) = screen(&s, &ui, w, h);
            assert!(
                !text.contains('\x1b') && !text.contains('\u{202e}'),
                "{w}x{h}:\n{text}"
            );
        }
    }
    let frame = top::plain::render(&s, &Ui::default());
    assert!(!frame.contains('\x1b') && !frame.contains('\u{202e}'));
    let rows = frame
        .lines()
        .filter(|l| l.split_whitespace().nth(2) == Some("W"))
        .count();
    assert_eq!(rows, s.workers.iter().filter(|w| w.state == 'W').count());
    assert!(rows > 100, "{rows}");
    assert!(
        frame.contains("\\x1b[31mred\\x1b[0m?token=secret"),
        "{frame}"
    );
}

/// The terminal going away under the live view (its tmux server killed,
/// an ssh connection dropped) ends `top` instead of leaving it spinning:
/// crossterm's default event source looped forever on a hung-up terminal,
/// at full CPU and deaf to SIGTERM.
#[test]
fn top_ends_when_its_terminal_hangs_up() {
    use crate::support::require_program;
    use crate::support::tmux::{Tmux, TMUX};
    if !require_program(TMUX) {
        return;
    }
    let mut tmux = Tmux::start("top-hangup");
    let pidfile = tmux.own_pidfile("top.pid");
    let f = Fixture::load("event-slow");
    tmux.run_line(&format!(
        "sh -c 'echo $$ > {pidfile}; exec {bin} top --scoreboard {sb} --at {at}'",
        pidfile = pidfile.display(),
        bin = crate::util::BIN,
        sb = f.segment(),
        at = f.at(),
    ));
    let pid = tmux.pid_in(&pidfile);
    tmux.wait_for("top's screen", std::time::Duration::from_secs(20), |_| {
        tmux.display("#{alternate_on}") == "1"
    });
    tmux.command(&["kill-server"]);
    // Ended: gone, or a zombie nobody reaps (its parent shell died too).
    let ended = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
            s.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'))
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !ended() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(ended(), "top {pid} still runs after its terminal hung up");
}

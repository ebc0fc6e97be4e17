//! Signals and the environment, through the real binary: every signal whose
//! default action ends a process ends a run as exactly one UNKNOWN line with
//! exit code 3 (issue 9), the `-t` timer included, whatever `RUST_MIN_STACK`
//! says; and no environment variable changes what a run prints.
//!
//! A run is caught mid-way deterministically: once `/proc/PID/status`
//! shows the handlers installed, the run is stopped (SIGSTOP), the signal
//! is sent while it is stopped, and it is continued (SIGCONT), so the
//! signal lands inside the run however fast the machine is. A run that
//! finished before it could be stopped, or was stopped only after it wrote
//! its report, is simply started again.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::hostile::{assert_well_formed, large_segment, os, TempDir, AT};
use crate::util::{run, spawn, wait_bounded, Run, BIN};

const UNKNOWN: &str = "SCOREBOARD UNKNOWN - ";

/// Signal numbers and names from the kernel's list (`kill -l` names).
fn ending_signals() -> Vec<(i32, String)> {
    let mut v: Vec<(i32, String)> = [
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGINT, "SIGINT"),
        (libc::SIGQUIT, "SIGQUIT"),
        (libc::SIGILL, "SIGILL"),
        (libc::SIGTRAP, "SIGTRAP"),
        (libc::SIGABRT, "SIGABRT"),
        (libc::SIGBUS, "SIGBUS"),
        (libc::SIGFPE, "SIGFPE"),
        (libc::SIGUSR1, "SIGUSR1"),
        (libc::SIGSEGV, "SIGSEGV"),
        (libc::SIGUSR2, "SIGUSR2"),
        (libc::SIGALRM, "SIGALRM"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGSTKFLT, "SIGSTKFLT"),
        (libc::SIGXCPU, "SIGXCPU"),
        (libc::SIGXFSZ, "SIGXFSZ"),
        (libc::SIGVTALRM, "SIGVTALRM"),
        (libc::SIGPROF, "SIGPROF"),
        (libc::SIGIO, "SIGIO"),
        (libc::SIGPWR, "SIGPWR"),
        (libc::SIGSYS, "SIGSYS"),
    ]
    .into_iter()
    .map(|(s, n)| (s, n.to_string()))
    .collect();
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    for s in [min, min + 1, min + 7, max] {
        v.push((s, format!("SIGRTMIN+{}", s - min)));
    }
    v
}

/// Whether `pid` has a handler for `sig` (SigCgt of /proc/PID/status), or
/// `None` once it has exited.
fn catches(pid: u32, sig: i32) -> Option<bool> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    if status.contains("State:\tZ") {
        return None;
    }
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:\t"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())?;
    Some(mask & (1u64 << (sig - 1)) != 0)
}

/// `State:` of /proc/PID/stat's third field.
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

fn kill(pid: u32, sig: i32) {
    // SAFETY: kill takes plain integers; the child is ours and unreaped.
    unsafe { libc::kill(pid as i32, sig) };
}

/// Runs `cmd` (with `env` added) and delivers `sig` inside the run; `None`
/// when the run ended before it could be stopped.
fn signalled_run(args: &[OsString], env: &[(&str, &str)], sig: i32) -> Option<Run> {
    let mut c = Command::new(BIN);
    c.args(args)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = c.spawn().expect("spawn");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stopped = false;
    while Instant::now() < deadline {
        match catches(pid, sig) {
            Some(true) => {
                kill(pid, libc::SIGSTOP);
                // Wait until it is stopped (or it ended meanwhile).
                while Instant::now() < deadline {
                    match state(pid) {
                        Some('T') => {
                            stopped = true;
                            break;
                        }
                        Some('Z') | None => break,
                        _ => std::thread::sleep(Duration::from_micros(200)),
                    }
                }
                break;
            }
            Some(false) => std::thread::sleep(Duration::from_micros(200)),
            None => break,
        }
    }
    if stopped {
        kill(pid, sig);
        kill(pid, libc::SIGCONT);
    }
    let r = wait_bounded(child, &format!("signal {sig}"));
    // Stopped after it had written its report (while the process was
    // ending): the signal came too late, as if it had finished first.
    let too_late = r.stdout.starts_with("SCOREBOARD OK - ") && r.stderr.is_empty();
    (stopped && !too_late).then_some(r)
}

/// A run that takes long enough to be caught: the 1.28 M-slot segment.
fn long_run(t: &TempDir) -> Vec<OsString> {
    let mut a = os(&["check_scoreboard_busy", "--scoreboard"]);
    a.push(large_segment(t).into());
    a.extend(os(&["--at", AT, "--max-workers", "64", "-t", "60"]));
    a
}

fn assert_terminated(r: &Run, name: &str) {
    assert_eq!((r.code, r.status.signal()), (3, None), "{name}: {r:?}");
    assert_eq!(
        r.stdout,
        format!("{UNKNOWN}terminated by {name}\n"),
        "{r:?}"
    );
    assert!(r.stderr.is_empty(), "{name}: {r:?}");
}

/// Every catchable signal whose default action ends the process: one
/// UNKNOWN line naming it, exit 3 (issue 9; SIGPIPE stays ignored).
#[test]
fn every_ending_signal_is_one_unknown_line() {
    let t = TempDir::new("signals");
    let args = long_run(&t);
    for (sig, name) in ending_signals() {
        let r = (0..5)
            .find_map(|_| signalled_run(&args, &[], sig))
            .unwrap_or_else(|| panic!("{name}: the run always ended before it could be stopped"));
        assert_terminated(&r, &name);
    }
}

/// SIGPIPE is ignored (by the entry point, as the Rust runtime's start-up
/// did before it was left out): a closed stdout is not an end of the
/// process.
#[test]
fn sigpipe_stays_ignored() {
    let t = TempDir::new("sigpipe");
    let args = long_run(&t);
    let child = spawn(BIN, &args);
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    let ignored = loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let mask = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
                .unwrap_or(0)
        };
        // Handlers installed (SIGTERM caught) means start-up is done.
        if mask("SigCgt:\t") & (1 << (libc::SIGTERM - 1)) != 0 || Instant::now() > deadline {
            break mask("SigIgn:\t") & (1 << (libc::SIGPIPE - 1)) != 0;
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    kill(pid, libc::SIGTERM);
    let _ = wait_bounded(child, "sigpipe");
    assert!(ignored, "SIGPIPE not ignored");
}

/// Closed standard descriptors are reopened on /dev/null before anything
/// runs (by the entry point, the Rust runtime's start-up being left out),
/// so no file the run opens, such as its segment, takes the number of
/// stdout: a run started with fds 0-2 closed, stopped once its handlers
/// are installed, has /dev/null on all three, and ends by SIGTERM with
/// exit code 3. A run that ended before it could be stopped is started
/// again.
#[test]
fn closed_standard_descriptors_are_reopened_on_dev_null() {
    let t = TempDir::new("closed-fds");
    let args = long_run(&t);
    let null = Some(std::path::PathBuf::from("/dev/null"));
    for _attempt in 0..5 {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" <&- >&- 2>&-"#)
            .arg(BIN)
            .args(&args)
            .spawn()
            .expect("sh");
        // exec: the shell's pid is the run's.
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        let caught = loop {
            match catches(pid, libc::SIGTERM) {
                Some(false) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_micros(200))
                }
                other => break other == Some(true),
            }
        };
        if caught {
            kill(pid, libc::SIGSTOP);
        }
        let stopped = caught && {
            let until = Instant::now() + Duration::from_secs(5);
            while !matches!(state(pid), Some('T') | Some('Z') | None) && Instant::now() < until {
                std::thread::sleep(Duration::from_micros(200));
            }
            state(pid) == Some('T')
        };
        let fds: Vec<_> = (0..3)
            .map(|fd| std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok())
            .collect();
        kill(pid, libc::SIGTERM);
        kill(pid, libc::SIGCONT);
        let status = child.wait().expect("wait");
        if !stopped {
            continue;
        }
        assert_eq!(fds, [null.clone(), null.clone(), null], "fds 0-2");
        assert_eq!((status.code(), status.signal()), (Some(3), None));
        return;
    }
    panic!("the run always ended before it could be stopped");
}

/// `RUST_MIN_STACK` used to stop the watchdog thread (issue 9): there is
/// no thread now, and `-t` and signals work whatever it says.
#[test]
fn rust_min_stack_changes_nothing() {
    let t = TempDir::new("min-stack");
    let mut args = long_run(&t);
    for huge in ["18446744073709551615", "999999999999999", "0", "x"] {
        let env = [("RUST_MIN_STACK", huge)];
        let r = (0..5)
            .find_map(|_| signalled_run(&args, &env, libc::SIGTERM))
            .expect("caught mid-run");
        assert_terminated(&r, "SIGTERM");
    }
    // The timer: -t 1 on the long run.
    args.truncate(args.len() - 2);
    args.extend(os(&["-t", "1"]));
    let mut c = Command::new(BIN);
    c.args(&args)
        .env("RUST_MIN_STACK", "18446744073709551615")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let r = wait_bounded(c.spawn().expect("spawn"), "-t 1");
    assert_well_formed("-t 1", &r);
    match r.code {
        3 => assert_eq!(r.stdout, format!("{UNKNOWN}timed out after 1 s (-t)\n")),
        0 => assert!(r.stdout.starts_with("SCOREBOARD OK - ")),
        other => panic!("exit {other}: {r:?}"),
    }
    assert!(r.elapsed < Duration::from_secs(5), "took {:?}", r.elapsed);
}

/// No environment variable changes a run's output: the Rust runtime's,
/// glibc's locale and time zone, terminal and colour conventions, against
/// an empty environment, for the checks, `status`, `dump`, `--help` and an
/// argument error.
#[test]
fn environment_changes_no_output() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/event-mixed/scoreboard.bin"
    );
    let noisy = [
        ("RUST_MIN_STACK", "1"),
        ("RUST_BACKTRACE", "full"),
        ("RUST_LIB_BACKTRACE", "1"),
        ("RUST_LOG", "trace"),
        ("LANG", "de_DE.UTF-8"),
        ("LC_ALL", "tr_TR.UTF-8"),
        ("LC_NUMERIC", "de_DE.UTF-8"),
        ("TZ", "Asia/Kolkata"),
        ("COLUMNS", "20"),
        ("LINES", "3"),
        ("TERM", "xterm-256color"),
        ("CLICOLOR_FORCE", "1"),
        ("NO_COLOR", "1"),
        ("MALLOC_PERTURB_", "165"),
        ("GLIBC_TUNABLES", "glibc.malloc.check=3"),
        ("HOME", "/nonexistent"),
        ("TMPDIR", "/nonexistent"),
        ("PATH", "/nonexistent"),
    ];
    let runs: Vec<Vec<&str>> = vec![
        vec![
            "check_scoreboard_busy",
            "--scoreboard",
            fixture,
            "--at",
            AT,
            "-w",
            "50",
            "-c",
            "90",
            "--max-workers",
            "32",
        ],
        vec![
            "check_stuck_requests",
            "--scoreboard",
            fixture,
            "--at",
            AT,
            "-w",
            "1s",
            "-c",
            "2s",
            "-v",
        ],
        vec![
            "check_vhost_saturation",
            "--scoreboard",
            fixture,
            "--at",
            AT,
            "-w",
            "30",
            "-c",
            "60",
            "--max-workers",
            "32",
        ],
        vec!["status", "--scoreboard", fixture, "--at", AT],
        vec![
            "dump",
            "--scoreboard",
            fixture,
            "--at",
            AT,
            "--format",
            "json",
        ],
        vec!["check_scoreboard_busy", "--help"],
        vec!["check_scoreboard_busy", "--no-such-option"],
    ];
    for args in runs {
        let with = |env: &[(&str, &str)]| {
            let mut c = Command::new(BIN);
            c.env_clear()
                .envs(env.iter().copied())
                .args(&args)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            wait_bounded(c.spawn().expect("spawn"), &args.join(" "))
        };
        let (clean, noisy) = (with(&[]), with(&noisy));
        assert_eq!(
            (clean.code, &clean.stdout, &clean.stderr),
            (noisy.code, &noisy.stdout, &noisy.stderr),
            "{args:?}"
        );
        assert!(clean.stderr.is_empty(), "{args:?}: {}", clean.stderr);
    }
    // And a run that is not under this test's environment at all.
    let r = run(&os(&["status", "--scoreboard", fixture, "--at", AT]));
    assert_eq!(r.code, 0, "{r:?}");
}

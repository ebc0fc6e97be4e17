//! Running the real binary, directly and through argv[0] symlinks, always
//! with a deadline: a run that hangs fails its test instead of the suite.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_apache-scoreboard");

/// No run may take longer than this (a FIFO or a lock would hang forever).
const DEADLINE: Duration = Duration::from_secs(30);

/// What one run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    /// The exit code, -1 when a signal ended the run.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Waits for `child` at most `DEADLINE`; kills it and fails the test when it
/// hangs.
pub fn wait_bounded(mut child: Child, what: &str) -> Run {
    let start = Instant::now();
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {DEADLINE:?} (hangs)");
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let elapsed = start.elapsed();
    Run {
        status,
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.join().expect("stdout reader")).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().expect("stderr reader")).into_owned(),
        elapsed,
    }
}

/// Starts `program ARGS` with stdin closed and both outputs piped.
pub fn spawn(
    program: impl AsRef<OsStr>,
    args: impl IntoIterator<Item = impl AsRef<OsStr>>,
) -> Child {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn apache-scoreboard")
}

/// Copies the binary to `to`, mode 0755, for a test that runs it from
/// there. The copy is made by install(1), a process of its own: a file this
/// process held open for writing could be inherited by a child that
/// another test thread forks at that instant, and exec'ing the copy would
/// then fail with "Text file busy" (ETXTBSY) until that child execs.
pub fn install_binary(to: &Path) {
    let ok = Command::new("install")
        .args(["-m", "0755", BIN])
        .arg(to)
        .status()
        .expect("run install(1)")
        .success();
    assert!(ok, "install {BIN} {}", to.display());
}

/// Runs `apache-scoreboard ARGS` (any bytes).
pub fn run(args: &[OsString]) -> Run {
    wait_bounded(spawn(BIN, args), &format!("{args:?}"))
}

pub fn run_program(program: &Path, args: &[String]) -> Run {
    wait_bounded(
        spawn(program, args),
        &format!("{} {args:?}", program.display()),
    )
}

/// Runs `apache-scoreboard ARGS`; stderr must stay empty.
pub fn run_bin(args: &[String]) -> Run {
    let run = run_program(Path::new(BIN), args);
    assert!(run.stderr.is_empty(), "stderr: {}", run.stderr);
    run
}

/// `label=value` pairs of the first line's perfdata (the value without its
/// unit); panics on a token that is not one.
pub fn perfdata(stdout: &str) -> std::collections::BTreeMap<String, f64> {
    let first = stdout.lines().next().unwrap_or("");
    let (_, perf) = first
        .split_once(" | ")
        .unwrap_or_else(|| panic!("no perfdata: {first}"));
    perf.split(' ')
        .map(|tok| {
            let (label, rest) = tok.rsplit_once('=').unwrap_or_else(|| panic!("{tok}"));
            let value = rest.split(';').next().unwrap_or("");
            let value = value.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '%');
            (
                label.trim_matches('\'').to_string(),
                value.parse().unwrap_or_else(|_| panic!("{tok}")),
            )
        })
        .collect()
}

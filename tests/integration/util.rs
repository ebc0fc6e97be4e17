//! Running the real binary, directly and through argv[0] symlinks, always
//! with a deadline: a run that hangs fails its test instead of the suite.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// Every perfdata token of the first line as (label, value, unit), labels
/// unquoted; panics on a token that is not `label=value[unit][;...]`.
pub fn perfdata_tokens(stdout: &str) -> Vec<(String, f64, String)> {
    let first = stdout.lines().next().unwrap_or("");
    let (_, perf) = first
        .split_once(" | ")
        .unwrap_or_else(|| panic!("no perfdata: {first}"));
    let mut rest = perf.trim();
    let mut tokens = Vec::new();
    while !rest.is_empty() {
        let (label, after) = match rest.strip_prefix('\'') {
            Some(quoted) => {
                let end = quoted.find("'=").expect("closing quote of a label");
                (&quoted[..end], &quoted[end + 2..])
            }
            None => rest.split_once('=').unwrap_or_else(|| panic!("{rest}")),
        };
        let end = after.find(' ').unwrap_or(after.len());
        let value = after[..end].split(';').next().unwrap_or("");
        let digits = value
            .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
            .unwrap_or(value.len());
        tokens.push((
            label.to_string(),
            value[..digits]
                .parse()
                .unwrap_or_else(|_| panic!("{label}={value}")),
            value[digits..].to_string(),
        ));
        rest = after[end..].trim_start();
    }
    tokens
}

/// `label=value` pairs of the first line's perfdata (the value without its
/// unit).
pub fn perfdata(stdout: &str) -> std::collections::BTreeMap<String, f64> {
    perfdata_tokens(stdout)
        .into_iter()
        .map(|(label, value, _)| (label, value))
        .collect()
}

/// Perfdata counters (unit `c`): totals since httpd started, bounded by no
/// capacity.
pub const COUNTERS: [&str; 3] = ["accesses", "traffic", "duration"];

/// A private temporary directory (mode 0755 so that `nobody` can reach
/// files in it), removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "apache-scoreboard-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        fs::write(&p, bytes).expect("write temp file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A file a test has to make outside its temporary directories (a POSIX
/// object in /dev/shm, which the reader takes for one only there): removed
/// when dropped, so a failed assertion does not leave it behind.
pub struct RemovedOnDrop(pub PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

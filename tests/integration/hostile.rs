//! Hostile inputs through the real binary: every bad file, segment and
//! argument must end as exactly one report on stdout (one line unless the
//! table says otherwise), starting `SCOREBOARD UNKNOWN - ` (or the documented
//! state), naming the file and what is wrong, with exit code 3 (or the
//! documented one), nothing on stderr, and never a panic or a hang.
//!
//! Crafted segments are copies of `tests/fixtures/event-mixed/scoreboard.bin`
//! (2.4.71 LP64, POSIX form: 8-byte size header, global at 8 with
//! ServerLimit 4 / ThreadLimit 8, process records of 40 bytes from 64,
//! worker records of 336 bytes from 224) with bytes changed.

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use crate::capture::worker;
use crate::capture::*;
use crate::util::{perfdata, spawn, wait_bounded, Run, BIN};
pub use crate::util::{run, TempDir};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/event-mixed/scoreboard.bin"
);
/// `capture.time_iso` of event-mixed (meta.json).
pub const AT: &str = "2026-11-21T00:46:37.699800Z";
pub fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

pub fn fixture() -> Vec<u8> {
    fs::read(FIXTURE).expect("event-mixed fixture")
}

fn set(b: &mut [u8], at: usize, v: &[u8]) {
    b[at..at + v.len()].copy_from_slice(v);
}

/// Writes `s` into a C string field, NUL-padded, without a NUL when it
/// fills the field.
fn text(b: &mut [u8], worker_at: usize, (off, width): (usize, usize), s: &[u8]) {
    let field = &mut b[worker_at + off..worker_at + off + width];
    field.fill(0);
    let n = s.len().min(width);
    field[..n].copy_from_slice(&s[..n]);
}

fn mutated(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = fixture();
    f(&mut b);
    b
}

fn limits(sl: i32, tl: i32) -> Vec<u8> {
    mutated(|b| {
        set(b, SERVER_LIMIT, &sl.to_le_bytes());
        set(b, THREAD_LIMIT, &tl.to_le_bytes());
    })
}

/// 2.0, 2.4.0 and 2.4.1-2.4.16 on LP64 have the same size at ThreadLimit 2
/// (docs/scoreboard-format.md, "Detecting the layout": A ≡ C ≡ C0): 24 + 16·SL + 256·SL·2 = 24 + 32·SL +
/// 248·SL·2. An empty segment with `sb_type` 2 at 8, zero at 12 (2.0's
/// generation, 2.4.1's padding) and a plausible restart time at 16 is
/// equally plausible for all three.
fn ambiguous() -> Vec<u8> {
    let area = 24 + 16 + 256 * 2;
    let mut b = vec![0u8; 8 + area];
    set(&mut b, 0, &((8 + area) as u64).to_le_bytes());
    set(&mut b, 8, &1i32.to_le_bytes());
    set(&mut b, 12, &2i32.to_le_bytes());
    set(&mut b, 16, &2i32.to_le_bytes());
    set(&mut b, 24, &1_795_221_993_000_000i64.to_le_bytes());
    b
}

/// How a case is run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum As {
    Root,
    /// `setpriv` to nobody (uid/gid 65534), which drops every capability.
    Nobody,
}

struct Case {
    name: &'static str,
    args: Vec<OsString>,
    code: i32,
    /// The first line starts with this.
    prefix: &'static str,
    /// Each must appear in the first line (the file name among them).
    phrases: Vec<String>,
    /// Exactly this many lines.
    lines: usize,
    who: As,
}

const UNKNOWN: &str = "SCOREBOARD UNKNOWN - ";

fn case(name: &'static str, args: Vec<OsString>, phrases: &[&str]) -> Case {
    Case {
        name,
        args,
        code: 3,
        prefix: UNKNOWN,
        phrases: phrases.iter().map(|s| s.to_string()).collect(),
        lines: 1,
        who: As::Root,
    }
}

/// `check_scoreboard_busy --scoreboard PATH --at AT` (or another command).
fn busy(path: &Path) -> Vec<OsString> {
    on("check_scoreboard_busy", path)
}

fn on(cmd: &str, path: &Path) -> Vec<OsString> {
    let mut a = os(&[cmd, "--scoreboard"]);
    a.push(path.into());
    a.extend(os(&["--at", AT]));
    a.extend(capacity(cmd));
    a
}

/// A snapshot has no running httpd to take the capacity from: the checks
/// that measure against it are given the fixture's 32 slots.
fn capacity(cmd: &str) -> Vec<OsString> {
    if matches!(cmd, "check_scoreboard_busy" | "check_vhost_saturation") {
        os(&["--max-workers", "32"])
    } else {
        Vec::new()
    }
}

fn show(p: &Path) -> String {
    p.display().to_string()
}

/// Asserts the common rules for any report: exit code 0-3, no stderr, no
/// panic text, no control byte but line ends (and tabs in `dump`'s TSV, the
/// only output that is not a plugin report), a final newline.
pub fn assert_well_formed(what: &str, r: &Run) {
    let code = r.code;
    assert!(code >= 0, "{what}: killed by a signal: {r:?}");
    assert!((0..=3).contains(&code), "{what}: exit {code}: {r:?}");
    assert!(r.stderr.is_empty(), "{what}: stderr {:?}", r.stderr);
    for bad in ["internal error", "panicked", "RUST_BACKTRACE"] {
        assert!(!r.stdout.contains(bad), "{what}: {bad}: {}", r.stdout);
    }
    assert!(r.stdout.ends_with('\n'), "{what}: {:?}", r.stdout);
    let tsv = !r.stdout.starts_with("SCOREBOARD ") && r.stdout.contains('\t');
    assert!(
        !r.stdout
            .chars()
            .any(|c| c.is_control() && c != '\n' && !(tsv && c == '\t')),
        "{what}: control byte in {:?}",
        r.stdout
    );
}

/// Creates a SysV segment holding `bytes` (bare, as APR's SysV method has
/// it), attached by this process.
pub struct SysvSegment {
    pub id: i32,
    addr: *mut libc::c_void,
}

impl SysvSegment {
    pub fn new(bytes: &[u8]) -> SysvSegment {
        // SAFETY: shmget with IPC_PRIVATE creates a new segment and takes
        // only integers.
        let id = unsafe { libc::shmget(libc::IPC_PRIVATE, bytes.len(), libc::IPC_CREAT | 0o600) };
        assert!(id >= 0, "shmget: {}", std::io::Error::last_os_error());
        // SAFETY: attaches the new segment at an address the kernel picks.
        let addr = unsafe { libc::shmat(id, std::ptr::null(), 0) };
        assert!(
            addr as isize != -1,
            "shmat: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: the segment is bytes.len() bytes long, mapped writable at
        // addr, and nothing else in this process refers to it.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr.cast::<u8>(), bytes.len()) };
        SysvSegment { id, addr }
    }

    /// IPC_RMID: the segment lives on until the last detach.
    fn remove(&self) {
        // SAFETY: IPC_RMID ignores the buffer argument.
        unsafe { libc::shmctl(self.id, libc::IPC_RMID, std::ptr::null_mut()) };
    }

    pub fn detach(&mut self) {
        if !self.addr.is_null() {
            // SAFETY: addr came from shmat and is not used afterwards.
            unsafe { libc::shmdt(self.addr) };
            self.addr = std::ptr::null_mut();
        }
    }
}

impl Drop for SysvSegment {
    fn drop(&mut self) {
        self.remove();
        self.detach();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn run_case(c: &Case) -> Run {
    match c.who {
        As::Root => run(&c.args),
        As::Nobody => {
            let mut args = os(&[
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
                BIN,
            ]);
            args.extend(c.args.iter().cloned());
            wait_bounded(spawn("/usr/bin/setpriv", &args), c.name)
        }
    }
}

#[test]
fn bad_inputs_end_as_one_unknown_line() {
    let t = TempDir::new("hostile");
    let fixture_len = fixture().len();
    let mut cases = Vec::new();

    // Files that are not segments.
    let missing = t.path("missing.bin");
    cases.push(case(
        "missing path",
        busy(&missing),
        &[&show(&missing), "no such file"],
    ));
    let dir = t.path("a-directory");
    fs::create_dir(&dir).unwrap();
    cases.push(case(
        "directory",
        busy(&dir),
        &[&show(&dir), "is a directory"],
    ));
    let fifo = t.path("fifo");
    let cpath = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: cpath is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(cpath.as_ptr(), 0o644) }, 0);
    cases.push(case(
        "FIFO (must not hang)",
        busy(&fifo),
        &[&show(&fifo), "is a FIFO"],
    ));
    cases.push(case(
        "FIFO through dump",
        on("dump", &fifo),
        &[&show(&fifo), "is a FIFO"],
    ));
    cases.push(case(
        "character device",
        busy(Path::new("/dev/zero")),
        &["/dev/zero", "is a device"],
    ));
    let empty = t.write("empty.bin", b"");
    cases.push(case(
        "empty file",
        busy(&empty),
        &[&show(&empty), "holds no segment"],
    ));
    let seven = t.write("seven.bin", &fixture()[..7]);
    cases.push(case(
        "7 bytes",
        busy(&seven),
        &[&show(&seven), "holds no segment"],
    ));
    let a = t.path("loop-a");
    let b = t.path("loop-b");
    symlink(&b, &a).unwrap();
    symlink(&a, &b).unwrap();
    // Root follows no symlink at all (issue 9); others get the kernel's word.
    let symlink_refused = "without following a symlink";
    let root = is_root();
    cases.push(case(
        "symlink loop",
        busy(&a),
        &[
            &show(&a),
            if root {
                symlink_refused
            } else {
                "too many levels of symbolic links"
            },
        ],
    ));
    let dangling = t.path("dangling");
    symlink(t.path("nowhere"), &dangling).unwrap();
    cases.push(case(
        "dangling symlink",
        busy(&dangling),
        &[
            &show(&dangling),
            if root {
                symlink_refused
            } else {
                "no such file"
            },
        ],
    ));
    let sparse = t.path("sparse-3g.bin");
    fs::File::create(&sparse)
        .and_then(|f| f.set_len(3 << 30))
        .unwrap();
    cases.push(case(
        "3 GiB file",
        busy(&sparse),
        &[&show(&sparse), "too large"],
    ));
    let shm = PathBuf::from(format!(
        "/dev/shm/ShM.hostile-missing-{}",
        std::process::id()
    ));
    cases.push(case(
        "missing /dev/shm object",
        busy(&shm),
        &[&show(&shm), "no such file"],
    ));
    cases.push(case(
        "missing SysV key",
        busy(Path::new("sysv:0x7eadbeef")),
        &[
            "sysv:0x7eadbeef",
            "cannot find SysV segment",
            "no such file",
        ],
    ));
    cases.push(case(
        "bad shmid",
        busy(Path::new("shmid:2147483000")),
        &[
            "shmid:2147483000",
            "cannot attach SysV segment",
            "invalid argument",
        ],
    ));
    if is_root() && Path::new("/usr/bin/setpriv").exists() {
        let secret = t.write("root-only.bin", &fixture());
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
        let mut c = case(
            "no permission (as nobody)",
            busy(&secret),
            &[&show(&secret), "permission denied"],
        );
        c.who = As::Nobody;
        cases.push(c);
    }

    // Segments that are not right.
    let hdr_big = t.write(
        "header-big.bin",
        &mutated(|b| set(b, 0, &(fixture_len as u64 + 100).to_le_bytes())),
    );
    cases.push(case(
        "header larger than the file",
        busy(&hdr_big),
        &[
            &show(&hdr_big),
            &format!(
                "header says {} bytes but the segment has {fixture_len}",
                fixture_len + 100
            ),
        ],
    ));
    let hdr_small = t.write(
        "header-small.bin",
        &mutated(|b| set(b, 0, &(fixture_len as u64 - 100).to_le_bytes())),
    );
    cases.push(case(
        "header smaller than the file",
        busy(&hdr_small),
        &[
            &show(&hdr_small),
            &format!("header says {} bytes", fixture_len - 100),
        ],
    ));
    let padded = t.write("padded.bin", &[fixture(), vec![0; 16]].concat());
    cases.push(case(
        "16 bytes appended",
        busy(&padded),
        &[
            &show(&padded),
            &format!("but the segment has {}", fixture_len + 16),
        ],
    ));
    for (name, sl, tl, phrase) in [
        (
            "ServerLimit 0",
            0,
            8,
            "invalid limits in segment: ServerLimit 0, ThreadLimit 8",
        ),
        ("ThreadLimit 0", 4, 0, "ServerLimit 4, ThreadLimit 0"),
        ("ServerLimit negative", -4, 8, "ServerLimit -4"),
        ("ThreadLimit negative", 4, -1, "ThreadLimit -1"),
        (
            "limits overflow the size formula",
            i32::MAX,
            i32::MAX,
            "matches no known scoreboard layout (ServerLimit 2147483647, ThreadLimit 2147483647)",
        ),
        (
            "size matches no layout",
            5,
            8,
            "segment size 10968 matches no known scoreboard layout",
        ),
    ] {
        let p = t.write(&format!("limits-{sl}-{tl}.bin"), &limits(sl, tl));
        cases.push(case(name, busy(&p), &[&show(&p), phrase]));
    }
    let amb = t.write("ambiguous.bin", &ambiguous());
    cases.push(case(
        "two layouts fit (2.0 = 2.4.1 at ThreadLimit 2)",
        busy(&amb),
        &[
            &show(&amb),
            "fits several layouts",
            "2.0/lp64",
            "2.4.1-2.4.16/lp64",
            "pass --layout",
        ],
    ));
    let cut = worker(0, 3) + 100;
    let torn_row = t.write(
        "truncated-row.bin",
        &mutated(|b| {
            b.truncate(cut);
            set(b, 0, &(cut as u64).to_le_bytes());
        }),
    );
    cases.push(case(
        "truncated in a worker row (header adjusted)",
        busy(&torn_row),
        &[
            &show(&torn_row),
            &format!(
                "segment size {} matches no known scoreboard layout",
                cut - 8
            ),
        ],
    ));
    let short = t.write("short.bin", &fixture()[..cut]);
    cases.push(case(
        "truncated in a worker row",
        busy(&short),
        &[
            &show(&short),
            &format!("header says {fixture_len} bytes but the segment has {cut}"),
        ],
    ));
    let mut wrong = busy(Path::new(FIXTURE));
    wrong.extend(os(&["--layout", "2.2"]));
    cases.push(case(
        "--layout that does not fit",
        wrong,
        &[FIXTURE, "does not fit layout 2.2"],
    ));
    let sl0 = t.path("limits-0-8.bin");
    cases.push(case(
        "dump of a bad segment",
        on("dump", &sl0),
        &[&show(&sl0), "invalid limits"],
    ));
    cases.push(case(
        "status of a bad segment",
        on("status", &sl0),
        &[&show(&sl0), "invalid limits"],
    ));
    cases.push(case(
        "stuck check of a bad segment",
        on("check_stuck_requests", &sl0),
        &[&show(&sl0), "invalid limits"],
    ));
    cases.push(case(
        "vhost check of a bad segment",
        on("check_vhost_saturation", &sl0),
        &[&show(&sl0), "invalid limits"],
    ));
    let mut snap = os(&["snapshot"]);
    snap.push(t.path("snapshot-out.bin").into());
    snap.extend(os(&["--scoreboard"]));
    snap.push(sl0.clone().into());
    cases.push(case(
        "snapshot of a bad segment",
        snap,
        &[&show(&sl0), "invalid limits"],
    ));

    // A snapshot read without --at: no process in it runs (documented: stale
    // is CRITICAL by default, with a long-output line).
    let mut stale = case(
        "stale snapshot without --at",
        os(&["check_scoreboard_busy", "--scoreboard", FIXTURE]),
        &["httpd is not running: stale scoreboard since 2026-11-21T00:46:37Z"],
    );
    stale.code = 2;
    stale.prefix = "SCOREBOARD CRITICAL - ";
    stale.lines = 2;
    cases.push(stale);

    // Bad arguments.
    let fx = || busy(Path::new(FIXTURE));
    let with = |extra: &[&str]| {
        let mut a = fx();
        a.extend(os(extra));
        a
    };
    cases.push(case(
        "unknown option",
        with(&["--bogus"]),
        &["invalid arguments", "unexpected argument '--bogus'"],
    ));
    cases.push(case(
        "-w 20:10",
        with(&["-w", "20:10"]),
        &["invalid arguments", "'20:10'", "start is greater than end"],
    ));
    cases.push(case(
        "-w abc",
        with(&["-w", "abc"]),
        &["invalid range 'abc'", "not a number"],
    ));
    cases.push(case(
        "--at yesterday",
        os(&[
            "check_scoreboard_busy",
            "--scoreboard",
            FIXTURE,
            "--at",
            "yesterday",
        ]),
        &["invalid time 'yesterday'", "RFC 3339"],
    ));
    cases.push(case(
        "--at before 1970",
        os(&[
            "check_scoreboard_busy",
            "--scoreboard",
            FIXTURE,
            "--at",
            "1969-12-31T23:59:59Z",
        ]),
        &["invalid time '1969-12-31T23:59:59Z'"],
    ));
    cases.push(case(
        "-t abc",
        with(&["-t", "abc"]),
        &["invalid value 'abc' for '--timeout <SECONDS>'"],
    ));
    cases.push(case(
        "stuck -w soon",
        os(&["check_stuck_requests", "-w", "soon"]),
        &["invalid age 'soon'"],
    ));
    cases.push(case(
        "--scoreboard without a value",
        os(&["check_scoreboard_busy", "--scoreboard"]),
        &["a value is required for '--scoreboard <PATH>'"],
    ));
    cases.push(case(
        "unknown subcommand",
        os(&["check_everything"]),
        &["invalid arguments", "check_everything"],
    ));
    cases.push(case(
        "--layout nonsense",
        with(&["--layout", "3.0"]),
        &["invalid value '3.0' for '--layout <REV>'"],
    ));

    // --help and --version: the monitoring-plugins convention, exit 3.
    for (name, args, phrase, lines) in [
        ("--help", os(&["--help"]), "Usage:", None),
        (
            "check --help",
            os(&["check_scoreboard_busy", "--help"]),
            "Usage:",
            None,
        ),
        ("no arguments", os(&[]), "Usage:", None),
        (
            "--version",
            os(&["--version"]),
            "apache-scoreboard ",
            Some(1),
        ),
    ] {
        let mut c = case(name, args, &[]);
        c.prefix = "";
        c.lines = lines.unwrap_or(0);
        c.phrases = vec![phrase.to_string()];
        cases.push(c);
    }

    assert!(cases.len() >= 30, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let r = run_case(c);
        let what = format!("{} ({:?})", c.name, c.args);
        let first = r.stdout.lines().next().unwrap_or("").to_string();
        // The table as it ran (visible with --nocapture).
        eprintln!("{:<48} exit {}  {first}", c.name, r.code);
        let mut problems = Vec::new();
        if r.code != c.code {
            problems.push(format!("exit {}, want {}", r.code, c.code));
        }
        if !r.stderr.is_empty() {
            problems.push(format!("stderr {:?}", r.stderr));
        }
        let n = r.stdout.lines().count();
        if c.lines > 0 && n != c.lines {
            problems.push(format!("{n} lines, want {}", c.lines));
        }
        let text = if c.lines == 0 { &r.stdout } else { &first };
        if !first.starts_with(c.prefix) {
            problems.push(format!("first line does not start with {:?}", c.prefix));
        }
        for p in &c.phrases {
            if !text.contains(p.as_str()) {
                problems.push(format!("missing {p:?}"));
            }
        }
        for bad in ["internal error", "panicked", "os error"] {
            if r.stdout.contains(bad) {
                problems.push(format!("contains {bad:?}"));
            }
        }
        if r.stdout.chars().any(|c| c.is_control() && c != '\n') {
            problems.push("control byte in output".into());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{what}: {}\n  stdout: {:?}",
                problems.join("; "),
                r.stdout
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// A SysV segment the test creates: readable while it exists, attachable
/// after IPC_RMID while still attached (Linux), a clear UNKNOWN once gone.
#[test]
fn sysv_segment_removed_while_in_use() {
    let bare = fixture()[8..].to_vec();
    let mut seg = SysvSegment::new(&bare);
    let spec = format!("shmid:{}", seg.id);
    let args = || {
        let mut a = os(&["check_scoreboard_busy", "--scoreboard", &spec, "--at", AT]);
        a.extend(os(&["--stale", "ok", "--max-workers", "32"]));
        a
    };
    let r = run(&args());
    assert_well_formed("live SysV", &r);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.starts_with("SCOREBOARD OK - 5/32 workers busy"),
        "{}",
        r.stdout
    );

    seg.remove();
    let r = run(&args());
    assert_well_formed("IPC_RMID'd, still attached", &r);
    assert!(matches!(r.code, 0 | 3), "{r:?}");

    seg.detach();
    let r = run(&args());
    assert_well_formed("removed SysV", &r);
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    assert!(
        r.stdout
            .starts_with(&format!("{UNKNOWN}cannot attach SysV segment of {spec}: ")),
        "{}",
        r.stdout
    );
}

/// A /dev/shm object that is unlinked, recreated and truncated while the
/// checks read it: every run ends as a valid result, one UNKNOWN line that
/// names the object, or (removed, and no httpd runs) CRITICAL "httpd is not
/// running".
#[test]
fn posix_object_disappearing_while_read() {
    let path = PathBuf::from(format!("/dev/shm/ShM.hostile-{}", std::process::id()));
    let bytes = fixture();
    fs::write(&path, &bytes).unwrap();
    let churn = Background::shrinking(&path, bytes, Duration::from_micros(200));
    let (mut ok, mut unknown) = (0, 0);
    for i in 0..60 {
        let cmd = ["check_scoreboard_busy", "status", "dump"][i % 3];
        let r = run(&on(cmd, &path));
        assert_well_formed(cmd, &r);
        match r.code {
            3 => {
                unknown += 1;
                assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
                assert!(r.stdout.starts_with(UNKNOWN), "{}", r.stdout);
                assert!(r.stdout.contains(&show(&path)), "{}", r.stdout);
            }
            0 => ok += 1,
            // Removed while no httpd runs on this machine: the server is
            // down as far as anyone can tell (the long line names the object).
            2 if r
                .stdout
                .starts_with("SCOREBOARD CRITICAL - httpd is not running\n") =>
            {
                assert!(r.stdout.contains(&show(&path)), "{}", r.stdout);
            }
            other => panic!("{cmd}: exit {other:?}: {}", r.stdout),
        }
    }
    drop(churn);
    eprintln!("disappearing object: {ok} results, {unknown} UNKNOWN");
}

/// A thread that calls `step(path, n)` for n = 0, 1, ... until dropped;
/// dropping it (also when a test fails) stops and joins it, then removes
/// `path`.
pub struct Background {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Background {
    pub fn start(path: &Path, mut step: impl FnMut(&Path, u64) + Send + 'static) -> Background {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (path, stop) = (path.to_path_buf(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    step(&path, n);
                    n += 1;
                }
                n
            })
        };
        Background {
            path: path.to_path_buf(),
            stop,
            thread: Some(thread),
        }
    }

    /// Removes `path`, writes half of `whole` to it, then all of it
    /// (truncating the same file first), again and again, `pause` after
    /// each step: a segment that disappears, shrinks and comes back under
    /// its reader.
    pub fn shrinking(path: &Path, whole: Vec<u8>, pause: Duration) -> Background {
        Background::start(path, move |path, n| {
            match n % 3 {
                0 => {
                    let _ = fs::remove_file(path);
                }
                1 => {
                    let _ = fs::write(path, &whole[..whole.len() / 2]);
                }
                _ => {
                    let _ = fs::write(path, &whole);
                }
            }
            std::thread::sleep(pause);
        })
    }

    /// Stops the thread; returns how many steps it made.
    pub fn finish(mut self) -> u64 {
        self.stop_thread()
    }

    fn stop_thread(&mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let steps = self.thread.take().map_or(0, |t| t.join().unwrap_or(0));
        let _ = fs::remove_file(&self.path);
        steps
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// Statuses > 10 (never written by httpd) count as busy, as mod_status
/// counts them, and show as `?`; figures stay within the slots.
#[test]
fn status_bytes_above_10() {
    let t = TempDir::new("status");
    let p = t.write(
        "status.bin",
        &mutated(|b| {
            for j in 0..TL {
                b[worker(0, j) + W_STATUS] = 11 + 30 * j as u8;
            }
        }),
    );
    let r = run(&busy(&p));
    assert_well_formed("status > 10", &r);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let perf = perfdata(&r.stdout);
    let (b, i, g) = (perf["busy"], perf["idle"], perf["graceful"]);
    assert!(b + i + g <= perf["capacity"], "{}", r.stdout);
    assert!(
        r.stdout.contains("scoreboard: ????????__WW"),
        "{}",
        r.stdout
    );
    let r = run(&on("status", &p));
    assert_well_formed("status > 10 (status)", &r);
    assert!(
        r.stdout.contains("Scoreboard: ????????__WW"),
        "{}",
        r.stdout
    );
}

/// Start, stop and last-used times of 0, negative, far in the future and at
/// the ends of i64: every command still reports, ages are never negative.
#[test]
fn extreme_timestamps() {
    let t = TempDir::new("times");
    for (name, start, stop, last) in [
        ("zero", 0i64, 0i64, 0i64),
        ("negative", -5, -10, -1),
        ("future", i64::MAX, 0, i64::MAX),
        ("minimum", 0, i64::MIN, i64::MIN),
        ("1970", 1, 0, 1),
    ] {
        let p = t.write(
            &format!("times-{name}.bin"),
            &mutated(|b| {
                for j in 0..TL {
                    let w = worker(0, j);
                    set(b, w + W_START, &start.to_le_bytes());
                    set(b, w + W_STOP, &stop.to_le_bytes());
                    set(b, w + W_LAST_USED, &last.to_le_bytes());
                }
                set(b, RESTART_TIME, &start.to_le_bytes());
            }),
        );
        for cmd in [
            "check_scoreboard_busy",
            "check_stuck_requests",
            "check_vhost_saturation",
        ] {
            let mut args = on(cmd, &p);
            args.extend(os(&["-w", "1"]));
            let r = run(&args);
            assert_well_formed(&format!("{name} {cmd}"), &r);
            assert!(matches!(r.code, 0..=2), "{name} {cmd}: {r:?}");
            for (label, v) in perfdata(&r.stdout) {
                assert!(v >= 0.0 && v.is_finite(), "{name} {cmd}: {label}={v}");
            }
        }
        let r = run(&[on("dump", &p), os(&["--format", "json", "--all"])].concat());
        assert_well_formed(&format!("{name} dump"), &r);
        let rows: serde_json::Value = serde_json::from_str(&r.stdout).expect("dump json");
        for row in rows.as_array().unwrap() {
            for key in ["age_seconds", "idle_seconds"] {
                if let Some(v) = row[key].as_f64() {
                    assert!(v >= 0.0, "{name}: {key} {v} in {row}");
                }
            }
        }
        let r = run(&on("status", &p));
        assert_well_formed(&format!("{name} status"), &r);
        assert_eq!(r.code, 0);
    }
}

/// Attacker-controlled strings (request line, vhost, client): `|`, `'`, `=`,
/// newlines, ANSI escapes, terminal control bytes, invalid UTF-8, fields
/// without their NUL. No check, `dump` or `status` output contains them
/// raw, and the perfdata stays one intact block on the first line.
#[test]
fn hostile_strings_are_escaped() {
    const EVIL_REQUEST: &[u8] =
        b"GET /a|b'c=d\ne\r\x1b[31mX\x07\x08\x7f\xc2\x9b\xff\xfe\xe2\x80\xae|x=1 HTTP/1.1";
    const EVIL_VHOST: &[u8] = b"ev|l'=\n\x1b]0;pwn\x07host:80";
    const EVIL_CLIENT: &[u8] = b"1.2.3.4|\n\x1b[2J\xff";
    let t = TempDir::new("strings");
    let p = t.write(
        "strings.bin",
        &mutated(|b| {
            // (1, 2) and (1, 3) are W with requests 4.3 s and 2.8 s old.
            let w = worker(1, 2);
            text(b, w, W_REQUEST, EVIL_REQUEST);
            text(b, w, W_VHOST, EVIL_VHOST);
            text(b, w, W_CLIENT, EVIL_CLIENT);
            text(b, w, W_CLIENT64, EVIL_CLIENT);
            text(b, w, W_PROTOCOL, b"h2|\x1b\n");
            // Every string field full, no NUL.
            let w = worker(1, 3);
            for (f, c) in [
                (W_REQUEST, b'A'),
                (W_VHOST, b'|'),
                (W_CLIENT, b'C'),
                (W_CLIENT64, b'\n'),
                (W_PROTOCOL, b'\x1b'),
            ] {
                b[w + f.0..w + f.0 + f.1].fill(c);
            }
        }),
    );
    let raw_bad = [
        '|', '\n', '\r', '\x1b', '\x07', '\x08', '\x7f', '\u{9b}', '\u{202e}',
    ];
    for (cmd, extra) in [
        ("check_scoreboard_busy", &["-w", "1"][..]),
        (
            "check_stuck_requests",
            &["-w", "1", "--max-lines", "100"][..],
        ),
        (
            "check_stuck_requests",
            &["--include-reading", "--vhost", "*|*"][..],
        ),
        (
            "check_vhost_saturation",
            &["-w", "1", "--top", "50", "--max-lines", "100"][..],
        ),
        (
            "check_vhost_saturation",
            &["--group-by", "host", "-c", "1"][..],
        ),
    ] {
        let mut args = on(cmd, &p);
        args.extend(os(extra));
        let r = run(&args);
        let what = format!("{cmd} {extra:?}");
        assert_well_formed(&what, &r);
        assert!(matches!(r.code, 0..=2), "{what}: {r:?}");
        let mut lines = r.stdout.lines();
        let first = lines.next().unwrap();
        assert_eq!(first.matches('|').count(), 1, "{what}: {first}");
        for line in lines {
            assert!(!line.contains('|'), "{what}: {line}");
        }
        let perf = perfdata(&r.stdout);
        assert!(!perf.is_empty());
        for label in perf.keys() {
            assert!(
                !label.contains(['\'', '=', ' ', '|']),
                "{what}: label {label:?}"
            );
        }
        for c in raw_bad {
            let body = r.stdout.replace('\n', "");
            let body = if c == '|' {
                body.replacen(" | ", "", 1)
            } else {
                body
            };
            assert!(!body.contains(c), "{what}: raw {c:?} in {:?}", r.stdout);
        }
        if cmd == "check_stuck_requests" && extra.contains(&"--max-lines") {
            assert!(
                r.stdout.contains(r"GET /a\x7cb'c=d\x0ae\x0d\x1b[31mX"),
                "{what}: {}",
                r.stdout
            );
            assert!(r.stdout.contains(&"A".repeat(64)), "{what}: {}", r.stdout);
        }
        if cmd == "check_vhost_saturation" && extra.contains(&"--top") {
            assert!(
                r.stdout.contains(r"ev\x7cl'=\x0a\x1b]0;pwn\x07host:80"),
                "{}",
                r.stdout
            );
        }
    }
    for fmt in ["tsv", "json"] {
        let r = run(&[on("dump", &p), os(&["--format", fmt, "--header"])].concat());
        assert_well_formed(&format!("dump {fmt}"), &r);
        assert_eq!(r.code, 0);
        // Line ends are the format's own; a raw newline from a field would
        // break a TSV row in two (checked below by the field count).
        let body = r.stdout.replace('\n', "");
        for c in raw_bad {
            assert!(!body.contains(c), "dump {fmt}: raw {c:?}");
        }
        if fmt == "tsv" {
            for line in r.stdout.lines() {
                assert_eq!(line.split('\t').count(), 14, "{line:?}");
            }
            assert!(
                r.stdout.contains(r"1.2.3.4\x7c\x0a\x1b[2J\xff"),
                "{}",
                r.stdout
            );
        } else {
            let rows: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
            let row = rows
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["process_slot"] == 1 && r["thread_slot"] == 2)
                .expect("slot 1-2");
            assert_eq!(row["vhost"], r"ev\x7cl'=\x0a\x1b]0;pwn\x07host:80");
            assert_eq!(row["protocol"], r"h2\x7c\x1b\x0a");
        }
    }
    let r = run(&on("status", &p));
    assert_well_formed("status", &r);
    for line in r.stdout.lines() {
        assert!(line.contains(": ") || line.ends_with(':'), "{line}");
    }
}

/// The watchdog: `-t 1` on a segment that takes seconds to evaluate (a
/// sparse 430 MB segment, ServerLimit 20000 × ThreadLimit 64 = 1.28 M
/// slots) ends with exactly the UNKNOWN timeout line and exit 3; if the
/// machine is fast enough to finish first, the result is a normal OK.
#[test]
fn timeout_expires_on_a_large_segment() {
    let t = TempDir::new("timeout");
    let p = large_segment(&t);
    let mut args = busy(&p);
    args.extend(os(&["-t", "1"]));
    let r = run(&args);
    assert_well_formed("-t 1", &r);
    match r.code {
        3 => assert_eq!(r.stdout, format!("{UNKNOWN}timed out after 1 s (-t)\n")),
        0 => assert!(r.stdout.starts_with("SCOREBOARD OK - 0/32 workers busy")),
        other => panic!("exit {other:?}: {r:?}"),
    }
    // No wall-clock bound: the exact timeout line is the watchdog's own
    // proof that it ended the run, and how soon is a benchmark matter
    // (BENCHMARKS.md), not something a loaded 2-core machine can promise.
}

/// A sparse segment with 1.28 M slots (430 MB, 2.4.63+ LP64).
pub fn large_segment(t: &TempDir) -> PathBuf {
    let (sl, tl) = (20_000u64, 64u64);
    let total = 8 + 56 + 40 * sl + 336 * sl * tl;
    let p = t.path("large.bin");
    let f = fs::File::create(&p).unwrap();
    f.set_len(total).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(&total.to_le_bytes(), 0).unwrap();
    f.write_all_at(&(sl as i32).to_le_bytes(), 8).unwrap();
    f.write_all_at(&(tl as i32).to_le_bytes(), 12).unwrap();
    f.write_all_at(&1_795_221_993_000_000i64.to_le_bytes(), 24)
        .unwrap();
    p
}

/// SIGTERM at any moment of a run: the result is exactly the UNKNOWN
/// `terminated by SIGTERM` line with exit 3, or the complete normal result
/// if the run finished first. Only a signal that lands before the handler
/// is installed (the first instructions of the process) kills it with the
/// default action; Icinga and Nagios then report the signal themselves.
#[test]
fn sigterm_mid_run() {
    let t = TempDir::new("sigterm");
    let p = large_segment(&t);
    let mut args = busy(&p);
    args.extend(os(&["-t", "60"]));
    for (signal, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let (mut terminated, mut finished, mut early) = (0, 0, 0);
        for delay_ms in [0u64, 1, 2, 5, 10, 20, 50, 100, 200, 400, 800] {
            let child = spawn(BIN, &args);
            std::thread::sleep(Duration::from_millis(delay_ms));
            // SAFETY: kill takes plain integers; the child is ours and unreaped.
            unsafe { libc::kill(child.id() as i32, signal) };
            let r = wait_bounded(child, name);
            use std::os::unix::process::ExitStatusExt;
            match (r.code, r.status.signal()) {
                (3, _) => {
                    assert_eq!(
                        r.stdout,
                        format!("{UNKNOWN}terminated by {name}\n"),
                        "{r:?}"
                    );
                    assert!(r.stderr.is_empty(), "{r:?}");
                    terminated += 1;
                }
                (0, _) => {
                    assert_well_formed("finished before the signal", &r);
                    finished += 1;
                }
                (-1, Some(s)) if s == signal => {
                    assert!(r.stdout.is_empty() && r.stderr.is_empty(), "{r:?}");
                    // Startup under load may take a while; a run that got
                    // going has the handler.
                    assert!(
                        delay_ms <= 200,
                        "killed by default action after {delay_ms} ms"
                    );
                    early += 1;
                }
                other => panic!("{name} after {delay_ms} ms: {other:?}: {r:?}"),
            }
        }
        eprintln!(
            "{name}: {terminated} terminated lines, {finished} finished, {early} before the handler"
        );
        assert!(
            terminated >= 3,
            "{name}: caught mid-run only {terminated} times"
        );
    }
}

/// `snapshot OUT` never replaces an existing OUT without --force, and never
/// writes through a symlink at OUT (with --force the link itself is replaced).
#[test]
fn snapshot_never_overwrites_or_follows_a_symlink() {
    let t = TempDir::new("snapshot");
    let snapshot = |out: &Path, force: bool| {
        let mut args = os(&["snapshot"]);
        args.push(out.into());
        args.extend(os(&["--scoreboard", FIXTURE, "--at", AT]));
        if force {
            args.push("--force".into());
        }
        run(&args)
    };
    let out = t.path("out.bin");
    let first = snapshot(&out, false);
    assert_eq!(first.code, 0, "{}", first.stdout);
    let saved = fs::read(&out).expect("snapshot written");
    fs::write(&out, b"keep me").expect("overwrite");
    let again = snapshot(&out, false);
    assert_eq!(again.code, 3, "{}", again.stdout);
    assert_eq!(
        again.stdout,
        format!(
            "SCOREBOARD UNKNOWN - {} already exists: choose a new name or pass --force to replace it\n",
            show(&out)
        )
    );
    assert_eq!(fs::read(&out).expect("still there"), b"keep me");
    let forced = snapshot(&out, true);
    assert_eq!(forced.code, 0, "{}", forced.stdout);
    assert_eq!(fs::read(&out).expect("replaced"), saved);

    let victim = t.write("victim", b"not yours");
    let link = t.path("link.bin");
    std::os::unix::fs::symlink(&victim, &link).expect("symlink");
    let through = snapshot(&link, false);
    assert_eq!(through.code, 3, "{}", through.stdout);
    assert_eq!(fs::read(&victim).expect("victim"), b"not yours");
    let forced = snapshot(&link, true);
    assert_eq!(forced.code, 0, "{}", forced.stdout);
    assert_eq!(fs::read(&victim).expect("victim"), b"not yours");
    assert!(fs::symlink_metadata(&link).expect("out").is_file());
    assert_eq!(fs::read(&link).expect("replaced"), saved);
    let left: Vec<_> = fs::read_dir(&t.0)
        .expect("list")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 3, "no temporary file left: {left:?}");
}

//! Signals and the `-t` timeout without a thread: every signal whose
//! default action would end the process (SIGPIPE aside, which the entry
//! point ignores) and the timer of `-t` (`alarm`, SIGALRM)
//! are caught by one handler that writes the one UNKNOWN line and ends the
//! process with exit code 3, unless the final report has already been
//! claimed by the run.
//!
//! The second and last module with `unsafe` code besides `shm::segment`:
//! installing a handler is `sigaction` (and a thread's signal mask
//! `pthread_sigmask`), and the handler itself may only do what is
//! async-signal-safe. It does: lock-free atomics, `clock_gettime`, `write`
//! and `_exit`, on bytes assembled in a stack buffer (no allocation, no
//! lock, no formatting machinery). Measured reason (BENCHMARKS.md): the
//! watchdog thread this replaces cost a quarter of a whole check.
//!
//! [`report_and_exit`] (the handler, or the watchdog thread of
//! [`super::guard`]) is the only way out of the process besides returning
//! from the entry point: a signal handler cannot return to `main` with an
//! exit code.
//!
//! The process's entry point is here too ([`apache_scoreboard_main`]):
//! it is `#[no_mangle]`, which is `unsafe`, and it stands in for the Rust
//! runtime's start-up, whose signal set-up is this module's business.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};

use libc::c_int;

/// No report written yet: a signal may still write the UNKNOWN line.
const RUNNING: u8 = 0;
/// The run, or a signal, owns stdout and the exit code.
const CLAIMED: u8 = 1;
static STATE: AtomicU8 = AtomicU8::new(RUNNING);

/// `-t` in seconds (0: none) and when it expires, CLOCK_MONOTONIC ns.
static TIMEOUT_S: AtomicU64 = AtomicU64::new(0);
static DEADLINE_NS: AtomicU64 = AtomicU64::new(u64::MAX);

/// What every UNKNOWN line starts with, set once by [`install`].
static LINE_START: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// What a SIGBUS means right now, if the reading layer said (see
/// [`explain_sigbus`]): the escaped text of the UNKNOWN line after its
/// start. Atomics, so the handler reads it without a lock or `unsafe`.
const SIGBUS_TEXT_MAX: usize = 4352;
static SIGBUS_TEXT: [AtomicU8; SIGBUS_TEXT_MAX] = [const { AtomicU8::new(0) }; SIGBUS_TEXT_MAX];
/// How many bytes of `SIGBUS_TEXT` are valid (0: none, the plain line).
static SIGBUS_LEN: AtomicUsize = AtomicUsize::new(0);
/// Which explanation is current (a later one replaces an earlier one).
static SIGBUS_GEN: AtomicU64 = AtomicU64::new(0);

/// Sets what a SIGBUS reports (already escaped for the status line, at
/// most `SIGBUS_TEXT_MAX` bytes kept) until [`forget_sigbus`] is called
/// with the returned token. Not for the handler: called by the run.
pub fn explain_sigbus(text: &[u8]) -> u64 {
    SIGBUS_LEN.store(0, Ordering::SeqCst);
    let token = SIGBUS_GEN.fetch_add(1, Ordering::SeqCst) + 1;
    let n = text.len().min(SIGBUS_TEXT_MAX);
    for (slot, &b) in SIGBUS_TEXT.iter().zip(&text[..n]) {
        slot.store(b, Ordering::Relaxed);
    }
    SIGBUS_LEN.store(n, Ordering::SeqCst);
    token
}

/// Ends the explanation `token` set, unless a later one replaced it.
pub fn forget_sigbus(token: u64) {
    if SIGBUS_GEN.load(Ordering::SeqCst) == token {
        SIGBUS_LEN.store(0, Ordering::SeqCst);
    }
}

/// The signals whose default action ends the process, by name (besides
/// the real-time ones, SIGRTMIN..SIGRTMAX, named SIGRTMIN+n). Not here:
/// SIGKILL and SIGSTOP (cannot be caught), SIGPIPE (ignored: a closed
/// stdout is an error of the write, not an end of the process).
pub const ENDING: [(c_int, &str); 21] = [
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
];

/// Faults raised by the instruction that runs: returning from their
/// handler would run it again, so they end the process even when the
/// report is already claimed. SIGABRT too: `abort` raises it again.
fn is_fault(sig: c_int) -> bool {
    matches!(
        sig,
        libc::SIGILL
            | libc::SIGTRAP
            | libc::SIGABRT
            | libc::SIGBUS
            | libc::SIGFPE
            | libc::SIGSEGV
            | libc::SIGSYS
    )
}

/// Every signal [`install`] catches: [`ENDING`] and the real-time ones.
pub fn caught() -> impl Iterator<Item = c_int> {
    ENDING
        .iter()
        .map(|&(s, _)| s)
        .chain(libc::SIGRTMIN()..=libc::SIGRTMAX())
}

/// Catches every signal of [`caught`]; `line_start` is what the UNKNOWN
/// line starts with ("SCOREBOARD UNKNOWN - "). A signal that cannot be
/// caught keeps its default action.
pub fn install(line_start: &'static str) {
    let _ = LINE_START.set(line_start);
    // SAFETY: sigaction is a plain C struct for which all-zero bytes are
    // a valid value (no handler, empty flags, empty mask).
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_signal as extern "C" fn(c_int) as libc::sighandler_t;
    // On the main thread's alternate stack, so a stack overflow's SIGSEGV
    // is still reported; not SA_RESTART, so a blocked system call returns
    // and nothing restarts after the report.
    action.sa_flags = libc::SA_ONSTACK;
    // SAFETY: sigfillset writes the mask inside `action`, which we own.
    unsafe { libc::sigfillset(&mut action.sa_mask) };
    for sig in caught() {
        // SAFETY: `action` is initialised and outlives the call; the
        // handler it installs is async-signal-safe (see `on_signal`), and
        // no other code of this program sets a handler for these signals.
        unsafe { libc::sigaction(sig, &action, std::ptr::null_mut()) };
    }
}

/// Each of fds 0, 1 and 2 that is not open is opened on /dev/null (as the
/// Rust runtime and, for a binary with file capabilities, glibc do), so
/// that a file the run opens never takes the number of stdout. False if
/// one stays closed.
fn keep_standard_fds_open() -> bool {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: poll reads and writes the three pollfd records of `fds`,
    // which we own, and waits for nothing (timeout 0).
    let closed: Vec<c_int> = if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } >= 0 {
        fds.iter()
            .filter(|p| p.revents & libc::POLLNVAL != 0)
            .map(|p| p.fd)
            .collect()
    } else {
        // poll refuses three descriptors under `ulimit -n` 2 or less (as
        // the Rust runtime did): ask for each.
        (0..3)
            .filter(|&fd| {
                // SAFETY: F_GETFD only reads the descriptor's flags.
                let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
                flags == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EBADF)
            })
            .collect()
    };
    closed.into_iter().all(|closed| {
        // SAFETY: open takes a NUL-terminated path of a static string; the
        // lowest free descriptor it returns is this closed one (the lower
        // ones are open by now), kept for the whole process.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        fd == closed
    })
}

/// Room for a handler's frame and the kernel's signal frame, AVX-512
/// state included. No guard page below it (unlike the Rust runtime's
/// mapped one): the handler uses a few KB, far from the end.
const ALTERNATE_STACK_SIZE: usize = 64 * 1024;

/// The main thread's alternate signal stack: zero pages of `.bss`, never
/// touched unless a handler runs on them (a heap block would be cleared,
/// page by page, by the allocator).
struct MainAlternateStack(std::cell::UnsafeCell<[u8; ALTERNATE_STACK_SIZE]>);
// SAFETY: no Rust code reads or writes the bytes; only the kernel does, for
// a handler of the one thread that runs the entry point, once (`ENTERED`;
// see `use_alternate_stack`).
unsafe impl Sync for MainAlternateStack {}
static MAIN_ALTERNATE_STACK: MainAlternateStack =
    MainAlternateStack(std::cell::UnsafeCell::new([0; ALTERNATE_STACK_SIZE]));

/// Gives the calling thread an alternate signal stack, on which every
/// handler of [`install`] runs (`SA_ONSTACK`): a stack overflow's SIGSEGV
/// still gets its UNKNOWN line. Every thread the program starts while
/// the handlers are installed calls it first ([`super::spawn`]).
pub fn give_this_thread_an_alternate_stack() {
    // Left uninitialised (no Rust code reads it; zeroing would touch every
    // page of it) and leaked: it lives as long as the thread (64 KB per
    // thread started, a handful per run).
    let stack = Box::leak(Box::<[std::mem::MaybeUninit<u8>]>::new_uninit_slice(
        ALTERNATE_STACK_SIZE,
    ));
    // SAFETY: leaked, so it lives as long as this thread, and nothing else
    // holds it.
    unsafe { use_alternate_stack(stack.as_mut_ptr().cast()) };
}

/// Makes `stack` the calling thread's alternate signal stack.
///
/// # Safety
/// `stack` is `ALTERNATE_STACK_SIZE` writable bytes that live as long as
/// the calling thread and that nothing else reads or writes, no other
/// thread's alternate stack included.
unsafe fn use_alternate_stack(stack: *mut u8) {
    let stack = libc::stack_t {
        ss_sp: stack.cast(),
        ss_flags: 0,
        ss_size: ALTERNATE_STACK_SIZE,
    };
    // SAFETY: by the contract above, only the signal handlers of this
    // thread run on the memory, one at a time (every handler masks all
    // signals: see `install`).
    unsafe { libc::sigaltstack(&stack, std::ptr::null_mut()) };
}

/// The process's entry point: the C library's start-up calls it as `main`
/// (src/main.rs is `#![no_main]`; build.rs links this symbol as `main`).
/// The Rust runtime's own start-up before `main` does not run: a `poll` of
/// fds 0-2, SIGPIPE, the main thread's stack bounds read from
/// /proc/self/maps and an alternate signal stack, 19 system calls and a
/// fifteenth of a check (BENCHMARKS.md, session 6). What of it this
/// program needs is done here: fds 0-2 kept open (else exit code 3 before
/// anything runs), SIGPIPE ignored (a closed stdout is an error of the
/// write, not the end of the process), the alternate stack. Then the
/// command line runs, on the arguments C's `main` receives; the exit code
/// is its 0-3. Runs once: a second call returns 3 at once.
#[unsafe(no_mangle)]
pub extern "C" fn apache_scoreboard_main(argc: c_int, argv: *const *const libc::c_char) -> c_int {
    static ENTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if ENTERED.swap(true, Ordering::SeqCst) || !keep_standard_fds_open() {
        return 3;
    }
    // SAFETY: SIG_IGN runs no code of ours; only this module sets SIGPIPE.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // SAFETY: the static is used by this thread alone: `ENTERED` lets the
    // entry run once.
    unsafe { use_alternate_stack(MAIN_ALTERNATE_STACK.0.get().cast()) };
    let args = arguments(argc, argv);
    // A panic must not unwind into C (the run catches its own and reports
    // it; this is for what comes before); its payload is not dropped, as
    // a panicking drop would abort.
    let code = match std::panic::catch_unwind(|| crate::cli::run(args)) {
        Ok(code) => c_int::from(code),
        Err(payload) => {
            std::mem::forget(payload);
            3
        }
    };
    // What the Rust runtime's exit did: nothing stays in stdout's buffer.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    code
}

/// `argv[0..argc]` as C's `main` receives them (no reliance on the C
/// library handing them to the Rust runtime as well).
fn arguments(argc: c_int, argv: *const *const libc::c_char) -> Vec<std::ffi::OsString> {
    use std::os::unix::ffi::OsStrExt;
    if argv.is_null() {
        return Vec::new();
    }
    let count = usize::try_from(argc).unwrap_or(0);
    (0..count)
        .map_while(|i| {
            // SAFETY: the C runtime passes `argc` pointers in `argv` (not
            // null), so `i < argc` stays inside that array.
            let at = unsafe { argv.add(i) };
            // SAFETY: as above: a pointer of the array, each one to a
            // NUL-terminated string alive for the whole process.
            let arg = unsafe { *at };
            (!arg.is_null()).then(|| {
                // SAFETY: as above; `arg` is not null.
                let bytes = unsafe { std::ffi::CStr::from_ptr(arg) }.to_bytes();
                std::ffi::OsStr::from_bytes(bytes).to_os_string()
            })
        })
        .collect()
}

/// Every signal of [`caught`] back to its default action.
pub fn uninstall() {
    // SAFETY: as in `install`; SIG_DFL is no code of ours.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = libc::SIG_DFL;
    for sig in caught() {
        // SAFETY: `action` is initialised and outlives the call; the
        // default action runs no code of this program.
        unsafe { libc::sigaction(sig, &action, std::ptr::null_mut()) };
    }
}

/// Starts the `-t` timer: after `seconds` (0: never) SIGALRM reports
/// `timed out after N s (-t)`.
pub fn arm_timeout(seconds: u64) {
    if seconds == 0 {
        return;
    }
    TIMEOUT_S.store(seconds, Ordering::SeqCst);
    DEADLINE_NS.store(
        monotonic_ns().saturating_add(seconds.saturating_mul(1_000_000_000)),
        Ordering::SeqCst,
    );
    // alarm() counts whole seconds in an unsigned int.
    let seconds = u32::try_from(seconds).unwrap_or(u32::MAX);
    // SAFETY: alarm takes a plain integer and only (re)starts this
    // process's real-time timer.
    unsafe { libc::alarm(seconds) };
}

/// The run takes stdout for its final report: false when a signal already
/// has (the process is then ending). After this, signals leave the run to
/// finish (faults aside).
pub fn claim_report() -> bool {
    STATE
        .compare_exchange(RUNNING, CLAIMED, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`, which we own;
    // it is async-signal-safe.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// A line assembled without allocating (the handler's only buffer).
pub struct Line {
    buf: [u8; 128],
    len: usize,
}

impl Line {
    fn new() -> Line {
        Line {
            buf: [0; 128],
            len: 0,
        }
    }
    fn push(&mut self, s: &[u8]) {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }
    fn push_number(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&digits[at..]);
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// The `-t` timer as armed: (seconds, deadline in monotonic ns); (0, 0)
/// when none is.
fn armed() -> (u64, u64) {
    (
        TIMEOUT_S.load(Ordering::SeqCst),
        DEADLINE_NS.load(Ordering::SeqCst),
    )
}

/// The UNKNOWN line for `sig` arriving at `now_ns` (monotonic) with the
/// `-t` timer `armed` ([`armed`]), handed to `out` in pieces (no
/// allocation: a stack buffer at a time).
fn report(sig: c_int, now_ns: u64, armed: (u64, u64), out: &mut dyn FnMut(&[u8])) {
    out(LINE_START.get().copied().unwrap_or("UNKNOWN - ").as_bytes());
    let explained = SIGBUS_LEN.load(Ordering::SeqCst);
    if sig == libc::SIGBUS && explained > 0 {
        let mut chunk = [0u8; 128];
        for start in (0..explained).step_by(chunk.len()) {
            let end = explained.min(start + chunk.len());
            for (b, slot) in chunk.iter_mut().zip(&SIGBUS_TEXT[start..end]) {
                *b = slot.load(Ordering::Relaxed);
            }
            out(&chunk[..end - start]);
        }
        out(b"\n");
        return;
    }
    out(report_line(sig, now_ns, armed).as_bytes());
}

/// The line for `sig` after its start, when no explanation applies.
fn report_line(sig: c_int, now_ns: u64, (timeout, deadline_ns): (u64, u64)) -> Line {
    let mut line = Line::new();
    if sig == libc::SIGALRM && timeout > 0 && now_ns >= deadline_ns {
        line.push(b"timed out after ");
        line.push_number(timeout);
        line.push(b" s (-t)");
    } else {
        line.push(b"terminated by ");
        match ENDING.iter().find(|(s, _)| *s == sig) {
            Some((_, name)) => line.push(name.as_bytes()),
            None => {
                line.push(b"SIGRTMIN+");
                line.push_number(sig.saturating_sub(libc::SIGRTMIN()).max(0) as u64);
            }
        }
    }
    line.push(b"\n");
    line
}

/// The handler: only async-signal-safe steps (atomics, clock_gettime,
/// write, _exit).
extern "C" fn on_signal(sig: c_int) {
    report_and_exit(sig, monotonic_ns());
}

/// The `-t` deadline, if one is armed: how long is left.
pub fn remaining() -> Option<std::time::Duration> {
    (TIMEOUT_S.load(Ordering::SeqCst) > 0).then(|| {
        std::time::Duration::from_nanos(
            DEADLINE_NS
                .load(Ordering::SeqCst)
                .saturating_sub(monotonic_ns()),
        )
    })
}

/// For the watchdog thread whose deadline passed: the timeout's line.
pub fn expire() {
    report_and_exit(libc::SIGALRM, u64::MAX);
}

/// The signals of [`caught`] blocked in the calling thread until the guard
/// is dropped (then pending ones are delivered): while the main thread
/// waits in the kernel where only a fatal signal would wake it, they go to
/// the watchdog thread, whose handler can end the process.
pub struct Blocked(libc::sigset_t);

pub fn block_in_this_thread() -> Blocked {
    // SAFETY: sigset_t is a plain C bitmask for which all-zero bytes are a
    // valid (empty) value; sigemptyset/sigaddset write only into `set`.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above, on our own `set`.
    unsafe { libc::sigemptyset(&mut set) };
    for sig in caught() {
        // SAFETY: as above, on our own `set`.
        unsafe { libc::sigaddset(&mut set, sig) };
    }
    // SAFETY: sigset_t as above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: pthread_sigmask reads `set` and writes `old`, both ours, and
    // changes only the calling thread's mask.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) };
    Blocked(old)
}

impl Drop for Blocked {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved by block_in_this_thread, for the
        // calling thread only.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
    }
}

/// Writes all of `bytes` to stdout (async-signal-safe; errors end it).
fn write_all(bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: write reads `rest.len()` bytes of the live buffer `rest`
        // borrows; it is async-signal-safe.
        let n = unsafe { libc::write(1, rest.as_ptr().cast(), rest.len()) };
        if n > 0 {
            rest = &rest[n as usize..];
        } else if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        } else {
            break;
        }
    }
}

/// Writes the UNKNOWN line for `sig` (at `now_ns`) and ends the process
/// with exit code 3, unless the run already claimed the report (then it
/// returns, faults aside). Async-signal-safe.
fn report_and_exit(sig: c_int, now_ns: u64) {
    if !claim_report() {
        if is_fault(sig) {
            // SAFETY: _exit is async-signal-safe and ends the process.
            unsafe { libc::_exit(3) };
        }
        // The run is writing its report and ends by itself.
        return;
    }
    report(sig, now_ns, armed(), &mut write_all);
    // SAFETY: _exit is async-signal-safe and ends the process at once,
    // without running atexit handlers or flushing buffers.
    unsafe { libc::_exit(3) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_the_signal_or_the_timeout() {
        let _ = LINE_START.set("SCOREBOARD UNKNOWN - ");
        // The timer is given, never stored: another test's guarded read
        // would find the past deadline in the statics and end the process.
        let with_timer = |sig, now, armed| {
            let mut line = Vec::new();
            report(sig, now, armed, &mut |b: &[u8]| line.extend_from_slice(b));
            String::from_utf8(line).unwrap()
        };
        let text = |sig, now| with_timer(sig, now, (0, 0));
        assert_eq!(
            text(libc::SIGTERM, 0),
            "SCOREBOARD UNKNOWN - terminated by SIGTERM\n"
        );
        assert_eq!(
            text(libc::SIGRTMIN() + 3, 0),
            "SCOREBOARD UNKNOWN - terminated by SIGRTMIN+3\n"
        );
        // Without -t, or before its deadline, SIGALRM is somebody's kill.
        assert_eq!(
            text(libc::SIGALRM, u64::MAX),
            "SCOREBOARD UNKNOWN - terminated by SIGALRM\n"
        );
        assert_eq!(
            with_timer(libc::SIGALRM, 999, (10, 1_000)),
            "SCOREBOARD UNKNOWN - terminated by SIGALRM\n"
        );
        assert_eq!(
            with_timer(libc::SIGALRM, 1_000, (10, 1_000)),
            "SCOREBOARD UNKNOWN - timed out after 10 s (-t)\n"
        );
        // A SIGBUS the reading layer explained names what was read, at
        // any length; once forgotten it is a plain signal again.
        let path = "/dev/shm/".to_string() + &"x".repeat(300);
        let token = explain_sigbus(format!("{path}: shrank").as_bytes());
        assert_eq!(
            text(libc::SIGBUS, 0),
            format!("SCOREBOARD UNKNOWN - {path}: shrank\n")
        );
        assert_eq!(
            text(libc::SIGSEGV, 0),
            "SCOREBOARD UNKNOWN - terminated by SIGSEGV\n"
        );
        forget_sigbus(token - 1);
        assert!(text(libc::SIGBUS, 0).contains(&path));
        forget_sigbus(token);
        assert_eq!(
            text(libc::SIGBUS, 0),
            "SCOREBOARD UNKNOWN - terminated by SIGBUS\n"
        );
        let mut long = Line::new();
        long.push(&[b'x'; 200]);
        long.push_number(u64::MAX);
        assert_eq!(long.as_bytes().len(), 128);
    }

    #[test]
    fn every_ending_signal_is_caught_once() {
        let all: Vec<c_int> = caught().collect();
        assert!(!all.contains(&libc::SIGPIPE));
        assert!(!all.contains(&libc::SIGKILL));
        for s in &all {
            assert_eq!(all.iter().filter(|x| *x == s).count(), 1, "{s}");
        }
        assert_eq!(all.len(), ENDING.len() + 31);
    }
}

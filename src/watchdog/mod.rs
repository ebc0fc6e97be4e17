//! The process's watchdog: every signal that would end the process and the
//! `-t` deadline end a run as one UNKNOWN line with exit code 3.
//!
//! Without a thread for the common case ([`signals`]: one handler, and
//! `alarm` for the deadline). A handler only runs once the system call
//! under way returns, though, and a few reads wait where only a fatal
//! signal wakes them: `/proc/PID/maps` or `cmdline` of a process that hangs
//! with its memory map locked. [`guard`] runs such a read with a watchdog
//! thread beside it (explicit stack size, so `RUST_MIN_STACK` plays no
//! part) and the signals blocked in the reading thread: the thread takes
//! them, or the deadline, and ends the process, which ends the read.
//!
//! Neither the command line nor the domain: `cli::runtime` installs and
//! arms it, `shm::proc` guards its reads.

mod signals;

use std::sync::mpsc;

pub use signals::claim_report;

/// Catches every signal that would end the process; `line_start` is what
/// the UNKNOWN line starts with.
pub fn install(line_start: &'static str) {
    signals::install(line_start);
}

/// Gives every signal back its default action (for a service that
/// handles the ones it cares about itself).
pub fn uninstall() {
    signals::uninstall();
}

/// Starts the `-t` deadline (0: none).
pub fn arm(timeout_s: u64) {
    signals::arm_timeout(timeout_s);
}

/// What a SIGBUS means while the returned [`SigbusNote`] lives: the
/// reading layer names the mapped object whose shrinking raises it, so the
/// UNKNOWN line says which file and what went wrong (`message`, escaped
/// here like every status line).
pub fn explain_sigbus(message: &str) -> SigbusNote {
    SigbusNote(signals::explain_sigbus(
        crate::plugin::text::escape_str(message).as_bytes(),
    ))
}

/// Ends its explanation when dropped (unless a later one replaced it).
#[derive(Debug)]
pub struct SigbusNote(u64);

impl Drop for SigbusNote {
    fn drop(&mut self) {
        signals::forget_sigbus(self.0);
    }
}

/// The watchdog thread's stack: it only waits and writes one line.
const STACK: usize = 64 * 1024;

/// Runs `read`, a read that may wait where only a fatal signal wakes it,
/// with the watchdog thread beside it (see the module comment).
pub fn guard<T>(read: impl FnOnce() -> T) -> T {
    let (done, wait) = mpsc::channel::<()>();
    let deadline = signals::remaining();
    let spawned = std::thread::Builder::new()
        .name("watchdog".into())
        .stack_size(STACK)
        .spawn(move || {
            let expired = match deadline {
                Some(left) => matches!(
                    wait.recv_timeout(left),
                    Err(mpsc::RecvTimeoutError::Timeout)
                ),
                None => {
                    let _ = wait.recv();
                    false
                }
            };
            if expired {
                signals::expire();
            }
        });
    // Signals wait for the reading thread's mask only if a thread takes
    // them meanwhile.
    let blocked = spawned.is_ok().then(signals::block_in_this_thread);
    let out = read();
    drop(blocked);
    drop(done);
    out
}

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
//! Both [`guard`] and the `/proc` measurements that give up after a while
//! ([`crate::process::proc::time_boxed`]) run on one helper thread per run
//! ([`beside`]), started at its first use: a thread costs a check about as
//! much as reading the whole segment (clone, stack, its malloc arena, ~20
//! system calls), and a check needed up to three.
//!
//! Neither the command line nor the domain: `cli::runtime` installs and
//! arms it, `shm::proc` guards its reads.

mod signals;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

pub use signals::claim_report;

/// Catches every signal that would end the process; `line_start` is what
/// the UNKNOWN line starts with.
pub fn install(line_start: &'static str) {
    signals::install(line_start);
}

/// Starts a thread as `builder` says, which first gets an alternate signal
/// stack: the handlers of [`install`] run on it, so a stack overflow there
/// still ends in the UNKNOWN line (the Rust runtime's start-up, which gave
/// every thread one, does not run). For every thread started while the
/// handlers are installed.
pub fn spawn<T: Send + 'static>(
    builder: std::thread::Builder,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<T>> {
    builder.spawn(move || {
        signals::give_this_thread_an_alternate_stack();
        f()
    })
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

/// The helper thread's stack: it waits, writes one line, or reads a few
/// `/proc` files.
const STACK: usize = 256 * 1024;

/// Runs `read`, a read that may wait where only a fatal signal wakes it,
/// with the watchdog beside it on the helper thread (see the module
/// comment).
pub fn guard<T>(read: impl FnOnce() -> T) -> T {
    let (done, wait) = mpsc::channel::<()>();
    let deadline = signals::remaining();
    let watching = beside(move || {
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
    let blocked = watching.is_ok().then(signals::block_in_this_thread);
    let out = read();
    drop(blocked);
    drop(done);
    if let Ok(job) = watching {
        job.returning();
    }
    out
}

type Job = Box<dyn FnOnce() + Send>;

/// The run's helper thread: where its jobs go, and whether it is free for
/// one. Only the caller knows when its job is about to return (a job may
/// never return: a `/proc` read blocked in the kernel), so it says so
/// ([`Beside::returning`]); until then the helper is taken.
struct Helper {
    jobs: mpsc::Sender<Job>,
    free: Arc<AtomicBool>,
}

static HELPER: Mutex<Option<Helper>> = Mutex::new(None);

/// A job given to the helper thread.
#[must_use]
pub struct Beside {
    free: Arc<AtomicBool>,
}

impl Beside {
    /// The job has nothing left that can wait (what it waited for has
    /// arrived): the next job may queue behind it.
    pub fn returning(self) {
        self.free.store(true, Ordering::Release);
    }
}

/// Runs `job` on the helper thread, started at the first call (its stack
/// size explicit, so `RUST_MIN_STACK` plays no part); on a new one while
/// it is taken. Signals are not blocked there: while the caller blocks
/// them, the helper takes them.
pub fn beside(job: impl FnOnce() + Send + 'static) -> std::io::Result<Beside> {
    let mut helper = HELPER.lock().unwrap_or_else(|e| e.into_inner());
    let mut job: Job = Box::new(job);
    if let Some(h) = helper.as_ref() {
        if h.free.swap(false, Ordering::AcqRel) {
            match h.jobs.send(job) {
                Ok(()) => {
                    return Ok(Beside {
                        free: Arc::clone(&h.free),
                    })
                }
                Err(mpsc::SendError(back)) => job = back,
            }
        }
    }
    let (jobs, queue) = mpsc::channel::<Job>();
    spawn(std::thread::Builder::new().stack_size(STACK), move || {
        for job in queue {
            job();
        }
    })?;
    // A new thread's receiver is alive: the send cannot fail.
    let _ = jobs.send(job);
    let free = Arc::new(AtomicBool::new(false));
    *helper = Some(Helper {
        jobs,
        free: Arc::clone(&free),
    });
    Ok(Beside { free })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A job that may still wait keeps the helper: the next job runs on
    /// another thread at once instead of queueing behind it.
    #[test]
    fn a_taken_helper_is_never_waited_for() {
        let (release, held) = mpsc::channel::<()>();
        let stuck = beside(move || {
            let _ = held.recv();
        })
        .expect("helper");
        let (tx, rx) = mpsc::channel();
        let job = beside(move || {
            let _ = tx.send(7);
        })
        .expect("helper");
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(7));
        job.returning();
        release.send(()).expect("release");
        stuck.returning();
        // Guarded reads one after the other, beside whichever helper is free.
        assert_eq!(guard(|| 1) + guard(|| 2), 3);
    }
}

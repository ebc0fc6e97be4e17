//! Bounded, time-boxed reads of `/proc`. A process hung in the kernel can
//! make some of its `/proc` files block (those that take its memory map
//! lock, and on some kernels `stat` too), so the readers here never read
//! more than a limit, and [`time_boxed`] runs a whole measurement on a
//! helper thread that the caller stops waiting for at a deadline.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Reads at most `limit` bytes of a /proc file (`None` when it cannot be
/// opened or read: the process is gone or not ours to look at).
pub fn read_bounded(path: &str, limit: u64) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(limit.min(4096) as usize);
    File::open(path)
        .ok()?
        .take(limit)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(bytes)
}

/// Calls `line` for each line of a /proc file until it returns false or
/// `limit` bytes were read; an error if the file cannot be opened.
pub fn for_each_line(path: &str, limit: u64, mut line: impl FnMut(&str) -> bool) -> io::Result<()> {
    let mut reader = BufReader::new(File::open(path)?.take(limit));
    let mut buf = String::new();
    loop {
        buf.clear();
        if reader.read_line(&mut buf)? == 0 || !line(buf.trim_end()) {
            return Ok(());
        }
    }
}

pub use crate::shm::proc::Stat;

pub use crate::shm::proc::stat;

/// What a time-boxed measurement was doing when it ran out of time.
#[derive(Clone, Default)]
pub struct Progress(Arc<Mutex<String>>);

impl Progress {
    /// Records the file about to be read.
    pub fn reading(&self, path: impl Into<String>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = path.into();
    }

    fn last(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Runs `measure` on the run's helper thread ([`crate::watchdog::beside`])
/// and waits at most `limit` for it. On time-out the thread is left behind
/// (blocked in the kernel; the process ends soon anyway) and the error
/// names the file it was reading.
pub fn time_boxed<T: Send + 'static>(
    limit: Duration,
    measure: impl FnOnce(&Progress) -> T + Send + 'static,
) -> Result<T, String> {
    let progress = Progress::default();
    let (tx, rx) = mpsc::sync_channel(1);
    let shared = progress.clone();
    let job = crate::watchdog::beside(move || {
        let _ = tx.send(measure(&shared));
    })
    .map_err(|e| format!("cannot start a thread to read /proc: {e}"))?;
    let measured = rx.recv_timeout(limit).map_err(|_| {
        let last = progress.last();
        if last.is_empty() {
            format!("reading /proc took longer than {} s", limit.as_secs_f64())
        } else {
            format!("reading {last} blocked for {} s", limit.as_secs_f64())
        }
    })?;
    // Sent: the job returns; one that timed out keeps the helper.
    job.returning();
    Ok(measured)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_stat_is_running_with_a_parent() {
        // The process's state is its main thread's: waiting for this one.
        let s = stat(std::process::id() as i32).expect("own stat");
        assert!(matches!(s.state, b'R' | b'S'), "{}", s.state as char);
        assert!(s.ppid > 0);
    }

    #[test]
    fn time_box_reports_the_blocked_file() {
        let err = time_boxed(Duration::from_millis(50), |p| {
            p.reading("/proc/1/maps");
            std::thread::sleep(Duration::from_millis(500));
        })
        .unwrap_err();
        assert_eq!(err, "reading /proc/1/maps blocked for 0.05 s");
        assert_eq!(time_boxed(Duration::from_secs(5), |_| 7), Ok(7));
    }
}

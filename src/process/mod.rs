//! The running httpd as the kernel sees it, measured once for every
//! consumer (checks today, an exporter or `top` later): children that are
//! stopped (`T`) or stuck in uninterruptible sleep (`D`), a parent that no
//! longer runs, and the listen queues of the sockets the parent listens on.
//!
//! The first look reads only what does not wait on the measured processes
//! (`/proc/PID/stat`, the `/proc/PID/fd` links, the kernel's socket
//! diagnostics): inline, under the run's `-t` alarm, with no thread. Only
//! the resample, which sleeps a second and reads again, is time-boxed
//! ([`proc::time_boxed`]) on the run's helper thread: a check must answer
//! even when a process hung in the kernel makes a read wait there.
//! (`/proc/PID/stat` took the memory-map lock only on Linux 4.17, before
//! 4.18's `arg_lock`; `maps`, `cmdline` and `environ` still take it and
//! are read guarded, see [`crate::watchdog::guard`].)

pub mod listen;
pub mod proc;
pub mod users;

use std::time::Duration;

pub use listen::{ListenQueues, Socket};

/// A `D` child is named only when it is still in `D` this long after the
/// first sample (a worker waiting on a disk read is in `D` for microseconds).
pub const RESAMPLE: Duration = Duration::from_secs(1);
/// Connections waiting while workers are idle are looked at again after
/// this long first: a server at work has used CPU time by then.
const QUICK: Duration = Duration::from_millis(20);
/// The whole measurement, resample included, gives up after this long.
const TIME_BOX: Duration = Duration::from_secs(3);

/// What the kernel says about a running httpd's processes.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Health {
    /// The parent, when one runs.
    pub parent: Option<i32>,
    /// Processes (the parent included) stopped by a signal: state `T`/`t`.
    pub stopped: Vec<i32>,
    /// Children in uninterruptible sleep (`D`) in two samples [`RESAMPLE`] apart.
    pub uninterruptible: Vec<i32>,
    /// Children named in the segment that still run without their httpd
    /// parent (re-parented to init or a subreaper).
    pub orphaned: Vec<i32>,
    /// The parent's listen queues, or why they could not be read.
    pub listen: Option<Result<ListenQueues, String>>,
    /// Connections still waiting [`RESAMPLE`] after the first sample, on
    /// the same sockets, while the children used no CPU time in between
    /// (measured only when the first sample had some and the caller said
    /// workers were idle).
    pub still_queued: Option<u64>,
    /// Set when reading `/proc` blocked (a process hung in the kernel).
    pub blocked: Option<String>,
}

impl Health {
    /// Whether any process is frozen: stopped, stuck in `D`, orphaned, or
    /// `/proc` itself blocked.
    pub fn frozen(&self) -> bool {
        !self.stopped.is_empty()
            || !self.uninterruptible.is_empty()
            || !self.orphaned.is_empty()
            || self.blocked.is_some()
    }

    /// Connections waiting to be accepted (first sample), when measured.
    pub fn queued(&self) -> Option<u64> {
        self.listen
            .as_ref()?
            .as_ref()
            .ok()
            .map(ListenQueues::queued)
    }

    /// Hung: connections wait to be accepted in both samples, the children
    /// made no progress (no CPU time) in between, and the scoreboard shows
    /// idle workers that should have taken them. (Under load the queue is
    /// rarely empty, and event's listeners stop accepting by design when
    /// connections outnumber workers: neither is hung, both use CPU.)
    pub fn hung(&self) -> bool {
        self.still_queued.is_some_and(|n| n > 0)
    }
}

/// What to look at: the httpd parent (when known) and every pid the
/// segment names. `idle_workers` is asked only when connections are
/// queued, to decide whether to look again a second later. `read` holds
/// the `/proc/PID/stat` of those just read (by [`crate::shm::proc::live_info`]),
/// which the first sample takes instead of reading them again.
pub struct Subject<'a> {
    pub parent: Option<i32>,
    pub segment_pids: Vec<i32>,
    pub idle_workers: &'a dyn Fn() -> usize,
    pub read: &'a [(i32, proc::Stat)],
}

/// Measures `subject`'s processes; pays [`RESAMPLE`] only when a child is
/// in `D`, or connections wait while workers are idle.
pub fn measure(subject: &Subject) -> Health {
    let parent = subject.parent;
    let (mut health, children, cpu) = first_sample(subject);
    let recheck_queue = health.queued().is_some_and(|n| n > 0) && (subject.idle_workers)() > 0;
    if health.uninterruptible.is_empty() && !recheck_queue {
        return health;
    }
    let d_pids = std::mem::take(&mut health.uninterruptible);
    let second = proc::time_boxed(TIME_BOX, move |progress| {
        let started = std::time::Instant::now();
        // Connections waiting while the children use no CPU at all: look
        // again at once, and again after RESAMPLE (a loaded server uses CPU
        // within QUICK, so it pays only that).
        let stalled = |progress: &proc::Progress| {
            let queued = parent
                .and_then(|p| listen::measure(p, progress).ok())?
                .queued();
            (queued > 0 && cpu_ticks(&children, progress) == cpu).then_some(queued)
        };
        let stalling = recheck_queue && {
            std::thread::sleep(QUICK);
            stalled(progress).is_some()
        };
        if stalling || !d_pids.is_empty() {
            std::thread::sleep(RESAMPLE.saturating_sub(started.elapsed()));
        }
        let still_d: Vec<i32> = d_pids
            .into_iter()
            .filter(|&pid| {
                progress.reading(format!("/proc/{pid}/stat"));
                proc::stat(pid).is_some_and(|s| s.state == b'D')
            })
            .collect();
        let queued = if stalling { stalled(progress) } else { None };
        (still_d, queued)
    });
    match second {
        Ok((still_d, queued)) => {
            health.uninterruptible = still_d;
            health.still_queued = queued;
        }
        Err(blocked) => health.blocked = Some(blocked),
    }
    health
}

/// The CPU time the processes used so far, in clock ticks.
fn cpu_ticks(pids: &[i32], progress: &proc::Progress) -> u64 {
    pids.iter()
        .filter_map(|&pid| {
            progress.reading(format!("/proc/{pid}/stat"));
            proc::stat(pid)
        })
        .map(|s| s.cpu_ticks)
        .sum()
}

/// The first look: the processes' states, the listen queues, and the
/// parent's children with the CPU time they used so far. Inline: none of
/// these reads waits on the processes (see the module comment).
fn first_sample(subject: &Subject) -> (Health, Vec<i32>, u64) {
    let parent = subject.parent;
    let mut health = Health {
        parent,
        ..Health::default()
    };
    let (mut children, mut cpu) = (Vec::new(), 0);
    let stat = |pid: i32| match subject.read.iter().find(|(p, _)| *p == pid) {
        Some((_, s)) => Some(s.clone()),
        None => proc::stat(pid),
    };
    if let (Some(p), Some(s)) = (parent, parent.and_then(stat)) {
        if is_stopped(s.state) {
            health.stopped.push(p);
        }
    }
    let pids = &subject.segment_pids;
    for &pid in pids.iter().filter(|&&p| p > 0 && Some(p) != parent) {
        let Some(s) = stat(pid) else { continue };
        let ours = parent.is_some_and(|p| s.ppid == p);
        if !ours {
            // Another parent: an orphan if it is still an httpd process
            // (not a recycled pid), else nothing of ours.
            if parent.is_none() && s.state != b'Z' && is_orphaned_httpd(pid, s.ppid) {
                health.orphaned.push(pid);
            }
            continue;
        }
        children.push(pid);
        cpu += s.cpu_ticks;
        match s.state {
            s if is_stopped(s) => health.stopped.push(pid),
            b'D' => health.uninterruptible.push(pid),
            _ => {}
        }
    }
    health.listen = parent.map(|p| listen::measure(p, &proc::Progress::default()));
    (health, children, cpu)
}

fn is_stopped(state: u8) -> bool {
    matches!(state, b'T' | b't')
}

/// A segment's child whose parent is no httpd: its command is an httpd
/// name and its parent's is not the same.
fn is_orphaned_httpd(pid: i32, ppid: i32) -> bool {
    let comm = |p: i32| crate::shm::proc::proc_stat(p).map(|(comm, _)| comm);
    let Some(mine) = comm(pid) else { return false };
    crate::shm::proc::is_httpd_name(&mine) && comm(ppid).as_deref() != Some(&mine)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_child_is_named_and_a_running_one_is_not() {
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let me = std::process::id() as i32;
        let pid = sleeper.id() as i32;
        let subject = |pids: Vec<i32>| Subject {
            parent: Some(me),
            segment_pids: pids,
            idle_workers: &|| 0,
            read: &[],
        };
        let h = measure(&subject(vec![pid]));
        assert!(h.stopped.is_empty() && !h.frozen(), "{h:?}");
        // kill(1) by pid: raw libc calls stay in the two audited modules.
        let signal = |sig: &str| {
            let ok = std::process::Command::new("kill")
                .args([sig, &pid.to_string()])
                .status()
                .expect("kill")
                .success();
            assert!(ok);
        };
        signal("-STOP");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while proc::stat(pid).map(|s| s.state) != Some(b'T') {
            assert!(std::time::Instant::now() < deadline, "never stopped");
            std::thread::sleep(Duration::from_millis(10));
        }
        let h = measure(&subject(vec![pid]));
        assert_eq!(h.stopped, vec![pid]);
        assert!(h.frozen());
        signal("-CONT");
        let _ = sleeper.kill();
        let _ = sleeper.wait();
    }
}

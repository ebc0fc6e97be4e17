//! What the kernel says about a live segment's processes (stopped, stuck,
//! orphaned, the listen queue: [`crate::process`]), measured for the
//! checks' status line and `top`'s header alike.

use crate::process::{Health, Subject};
use crate::scoreboard::{status, Loaded};

/// The kernel's view of a live segment's processes (not for a file read
/// with `--at`: no process of a snapshot is ours to look at).
pub fn health(loaded: &Loaded) -> Option<Health> {
    let live = loaded.live.as_ref().filter(|_| !loaded.at_given)?;
    let idle = || idle_workers(loaded);
    Some(crate::process::measure(&Subject {
        parent: live.parent,
        segment_pids: loaded.scoreboard.processes().map(|p| p.pid).collect(),
        idle_workers: &idle,
        // Read for the liveness moments ago: the first sample's.
        read: &live.stats,
    }))
}

/// What [`health`] looks at, owned, to be measured apart from the copy
/// (on another thread, by `top`, whose screen must not wait for the
/// second a resample takes).
#[derive(Clone, Debug)]
pub struct Probe {
    parent: Option<i32>,
    pids: Vec<i32>,
    idle: usize,
}

impl Probe {
    /// `None` for a snapshot or a segment no live process names.
    pub fn of(loaded: &Loaded) -> Option<Probe> {
        let live = loaded.live.as_ref().filter(|_| !loaded.at_given)?;
        Some(Probe {
            parent: live.parent,
            pids: loaded.scoreboard.processes().map(|p| p.pid).collect(),
            idle: idle_workers(loaded),
        })
    }

    pub fn measure(&self) -> Health {
        crate::process::measure(&Subject {
            parent: self.parent,
            segment_pids: self.pids.clone(),
            idle_workers: &|| self.idle,
            // A second after the copy: read anew.
            read: &[],
        })
    }
}

/// Idle workers of processes that accept connections: event stops a
/// process's listener by design when its connections outnumber its
/// workers, and then connections queue while its workers look idle.
fn idle_workers(loaded: &Loaded) -> usize {
    let sb = &loaded.scoreboard;
    let generation = sb.global().running_generation;
    sb.workers()
        .filter(|(p, w)| {
            p.is_counted()
                && p.not_accepting == 0
                && p.generation == generation
                && w.status() == status::READY
        })
        .count()
}

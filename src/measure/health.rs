//! What the kernel says about a live segment's processes (stopped, stuck,
//! orphaned, the listen queue: [`crate::process`]), measured for the
//! checks' status line and `top`'s header alike.

use crate::scoreboard::{status, Loaded};

/// The kernel's view of a live segment's processes (not for a file read
/// with `--at`: no process of a snapshot is ours to look at).
pub fn health(loaded: &Loaded) -> Option<crate::process::Health> {
    let live = loaded.live.as_ref().filter(|_| !loaded.at_given)?;
    // Idle workers of processes that accept connections: event stops a
    // process's listener by design when its connections outnumber its
    // workers, and then connections queue while its workers look idle.
    let sb = &loaded.scoreboard;
    let generation = sb.global().running_generation;
    let idle = || {
        sb.workers()
            .filter(|(p, w)| {
                p.is_counted()
                    && p.not_accepting == 0
                    && p.generation == generation
                    && w.status() == status::READY
            })
            .count()
    };
    Some(crate::process::measure(&crate::process::Subject {
        parent: live.parent,
        segment_pids: loaded.scoreboard.processes().map(|p| p.pid).collect(),
        idle_workers: &idle,
    }))
}

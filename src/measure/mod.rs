//! Figures computed once from a decoded scoreboard, for every consumer to
//! render: the worker pool against its capacity, and the shares in percent.

use crate::scoreboard::{Loaded, MpmLimits};

/// The configured pool, which the segment does not record:
/// MaxRequestWorkers and ThreadsPerChild.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capacity {
    pub max_workers: Option<usize>,
    pub threads_per_child: Option<usize>,
}

impl Capacity {
    /// The configured limits mod_status drops disabled slots by.
    pub fn limits(&self, loaded: &Loaded) -> MpmLimits {
        MpmLimits::from_config(
            self.max_workers,
            self.threads_per_child,
            loaded.scoreboard.global().thread_limit,
        )
    }

    /// The capacity: `--max-workers`, else every slot (ServerLimit ×
    /// ThreadLimit), with the line the long output then says.
    pub fn resolve(&self, loaded: &Loaded) -> (usize, MpmLimits, Option<String>) {
        let g = loaded.scoreboard.global();
        let limits = self.limits(loaded);
        match self.max_workers {
            Some(n) => (n, limits, None),
            None => {
                let slots = loaded.scoreboard.slot_count();
                (slots, limits, Some(format!("capacity {slots} assumed from ServerLimit {} x ThreadLimit {} (pass --max-workers MaxRequestWorkers)", g.server_limit, g.thread_limit)))
            }
        }
    }
}

/// 100 × part / whole, 0 for an empty whole.
pub fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

//! The worker pool: mod_status's counts (busy, idle, graceful, per status)
//! against the capacity, which the segment does not record.

use crate::httpd::{MpmFigures, RunningConfig, Shared};
use crate::scoreboard::{rules, Loaded, MpmLimits, Summary};

/// The configured pool, which the segment does not record:
/// MaxRequestWorkers and ThreadsPerChild, as given on the command line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capacity {
    pub max_workers: Option<usize>,
    pub threads_per_child: Option<usize>,
}

/// The capacity a check measures against: `--max-workers`, else the
/// running httpd's configuration, else unknown (never a guess).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// MaxRequestWorkers; `None`: unknown, [`Resolved::unknown`] says why.
    pub workers: Option<usize>,
    /// The configured limits mod_status drops disabled slots by.
    pub limits: MpmLimits,
    pub unknown: Option<String>,
    /// Where each figure came from, for `-v`.
    pub provenance: Vec<String>,
}

impl Resolved {
    /// The capacity, or the UNKNOWN message a percentage of it gets.
    pub fn workers(&self) -> Result<usize, String> {
        self.workers
            .ok_or_else(|| unknown_capacity(self.unknown.as_deref()))
    }
}

/// The one UNKNOWN text for a percentage of an unknown capacity.
fn unknown_capacity(why: Option<&str>) -> String {
    format!(
        "capacity unknown: give --max-workers ({})",
        why.unwrap_or("no running httpd")
    )
}

impl Capacity {
    /// Whether the running httpd's configuration is needed.
    pub fn needs_configuration(&self) -> bool {
        self.max_workers.is_none() || self.threads_per_child.is_none()
    }

    /// The configured limits mod_status drops disabled slots by.
    pub fn limits(&self, loaded: &Loaded) -> MpmLimits {
        self.resolve(loaded).limits
    }

    /// `--max-workers`/`--threads-per-child` first, then the running
    /// httpd's configuration for what they leave open.
    pub fn resolve(&self, loaded: &Loaded) -> Resolved {
        let thread_limit = loaded.scoreboard.global().thread_limit;
        let mut provenance = Vec::new();
        let mut unknown = None;
        let (mut workers, mut tpc) = (self.max_workers, self.threads_per_child);
        if let Some(n) = workers {
            provenance.push(format!("MaxRequestWorkers {n} (--max-workers)"));
        }
        if let Some(n) = tpc {
            provenance.push(format!("ThreadsPerChild {n} (--threads-per-child)"));
        }
        if self.needs_configuration() {
            match running_figures(loaded) {
                Ok(f) => {
                    if workers.is_none() {
                        workers = Some(f.max_request_workers.value);
                        provenance.push(format!(
                            "MaxRequestWorkers {}",
                            f.max_request_workers.describe()
                        ));
                    }
                    if tpc.is_none() {
                        tpc = Some(f.threads_per_child.value);
                        provenance.push(format!(
                            "ThreadsPerChild {}",
                            f.threads_per_child.describe()
                        ));
                    }
                    provenance.push(format!(
                        "ServerLimit {}, ThreadLimit {}",
                        f.server_limit.describe(),
                        f.thread_limit.describe()
                    ));
                }
                Err(why) => {
                    if workers.is_none() {
                        provenance.push(format!("capacity unknown: {why}"));
                        unknown = Some(why);
                    }
                }
            }
        }
        Resolved {
            workers,
            limits: MpmLimits::from_config(workers, tpc, thread_limit),
            unknown,
            provenance,
        }
    }
}

/// The running httpd that wrote the segment, read once per run; `None` for
/// a snapshot (`--at`) or a segment no live process names.
pub fn running_httpd(loaded: &Loaded) -> Option<Shared> {
    if loaded.at_given {
        return None;
    }
    let parent = loaded.live.as_ref()?.parent?;
    let g = loaded.scoreboard.global();
    Some(RunningConfig::shared(
        parent,
        Some((g.restart_time, g.running_generation)),
    ))
}

/// The MPM figures of the running httpd, with the segment's ServerLimit
/// and ThreadLimit where the files say otherwise (they cannot change on a
/// restart, so edited files do not change them).
fn running_figures(loaded: &Loaded) -> Result<MpmFigures, String> {
    let config = running_httpd(loaded).ok_or_else(|| {
        if loaded.at_given {
            format!("{} is read as a snapshot (--at)", loaded.shown)
        } else {
            "no running httpd names this scoreboard".to_string()
        }
    })?;
    let config = config.as_ref().as_ref().map_err(Clone::clone)?;
    let g = loaded.scoreboard.global();
    let f = config.capacity()?;
    let threaded = f.thread_limit.value > 1 || g.thread_limit > 1;
    if f.server_limit.value != g.server_limit
        || (threaded && f.thread_limit.value != g.thread_limit)
    {
        return Ok(config.figures_with_limits(g.server_limit, g.thread_limit));
    }
    Ok(f.clone())
}

/// The pool as mod_status counts it, against the capacity when known.
#[derive(Clone, Debug)]
pub struct Pool {
    /// MaxRequestWorkers; `None` when unknown ([`Pool::unknown`] says why).
    pub capacity: Option<usize>,
    pub unknown: Option<String>,
    pub summary: Summary,
    /// Slots that could still take a worker: capacity - busy - idle - graceful.
    pub open: Option<usize>,
    /// Busy workers in percent of capacity.
    pub busy_pct: Option<f64>,
}

impl Pool {
    pub fn measure(loaded: &Loaded, capacity: Capacity) -> Pool {
        let r = capacity.resolve(loaded);
        let summary = rules::summarize(&loaded.scoreboard, loaded.rules(), r.limits);
        Pool {
            capacity: r.workers,
            unknown: r.unknown,
            open: r
                .workers
                .map(|c| c.saturating_sub(summary.busy + summary.idle + summary.graceful)),
            busy_pct: r.workers.map(|c| percent(summary.busy, c)),
            summary,
        }
    }

    /// The capacity, or the UNKNOWN message a percentage of it gets.
    pub fn capacity(&self) -> Result<usize, String> {
        self.capacity
            .ok_or_else(|| unknown_capacity(self.unknown.as_deref()))
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

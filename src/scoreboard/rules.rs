//! mod_status's counting rules (docs/mod_status-rules.md), per httpd version: busy,
//! idle and graceful workers, the Scoreboard string, the totals and the
//! event MPM's async block, computed from a [`Scoreboard`] exactly as the
//! mod_status that goes with the segment computes them.

use super::decode::{status, Scoreboard, Tms};
use super::layout::HttpdVersion;

/// Which mod_status counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rules {
    /// 2.0 and 2.2: G and old-generation READY are busy; every slot printed.
    Httpd22,
    /// 2.4.0–2.4.57: G is busy; disabled slots dropped.
    Httpd24,
    /// 2.4.58+: G counted apart as GracefulWorkers.
    Httpd2458,
}

impl Rules {
    /// Which mod_status, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Rules::Httpd22 => "2.0/2.2",
            Rules::Httpd24 => "2.4.0-2.4.57",
            Rules::Httpd2458 => "2.4.58+",
        }
    }

    pub fn for_version(v: HttpdVersion) -> Rules {
        if v < HttpdVersion::new(2, 4, 0) {
            Rules::Httpd22
        } else if v < HttpdVersion::new(2, 4, 58) {
            Rules::Httpd24
        } else {
            Rules::Httpd2458
        }
    }
}

/// What mod_status makes of one slot of a counted process (one with a pid
/// that is not quiescing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counted {
    Idle,
    Busy,
    /// 2.4.58+ only: G, counted apart as GracefulWorkers.
    Graceful,
    /// Dead, starting, idle-cleanup, or an old generation's READY in 2.4.
    Neither,
}

impl Rules {
    /// The busy rule, the one every figure uses: READY of the running
    /// generation is idle; dead, starting and idle-cleanup slots are
    /// neither; an older generation's READY is busy in 2.2 and neither in
    /// 2.4; G is busy before 2.4.58 and counted apart from it; everything
    /// else is busy.
    pub fn count(self, status: u8, current_generation: bool) -> Counted {
        match status {
            status::READY if current_generation => Counted::Idle,
            status::READY if self == Rules::Httpd22 => Counted::Busy,
            status::READY | status::DEAD | status::STARTING | status::IDLE_KILL => Counted::Neither,
            status::GRACEFUL if self == Rules::Httpd2458 => Counted::Graceful,
            _ => Counted::Busy,
        }
    }
}

/// The MPM configuration mod_status knows and the segment does not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MpmLimits {
    /// `AP_MPMQ_MAX_DAEMONS`: MaxRequestWorkers / ThreadsPerChild for
    /// threaded MPMs, MaxRequestWorkers for prefork.
    pub max_servers: Option<usize>,
    /// `AP_MPMQ_MAX_THREADS`: ThreadsPerChild (1 for prefork).
    pub threads_per_child: Option<usize>,
}

impl MpmLimits {
    /// From MaxRequestWorkers and ThreadsPerChild as configured.
    pub fn from_config(
        max_request_workers: Option<usize>,
        threads_per_child: Option<usize>,
        thread_limit: usize,
    ) -> MpmLimits {
        let tpc = threads_per_child.or((thread_limit == 1).then_some(1));
        MpmLimits {
            // Without ThreadsPerChild the process limit is unknown.
            max_servers: tpc.and_then(|t| max_request_workers.map(|m| m.div_ceil(t.max(1)))),
            threads_per_child: tpc,
        }
    }

    /// Whether slot `j` of process slot `i` lies beyond the configured
    /// limits (mod_status leaves such slots out when dead).
    pub fn disabled(&self, i: usize, j: usize) -> bool {
        self.max_servers.is_some_and(|m| i >= m) || self.threads_per_child.is_some_and(|t| j >= t)
    }
}

/// What mod_status computes over the whole scoreboard.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub busy: usize,
    pub idle: usize,
    pub graceful: usize,
    /// Requests still running in processes quiescing after a graceful
    /// restart, which mod_status counts nowhere (those of other old
    /// processes it counts as busy or graceful).
    pub finishing: usize,
    /// Slot counts per status value (index = status, 11 = values > 10),
    /// over the slots that are printed (disabled slots left out).
    pub status_counts: [usize; 12],
    /// The Scoreboard string.
    pub scoreboard: String,
    pub total_accesses: u64,
    pub total_kbytes: u64,
    /// Bytes served (`Total kBytes` is this / 1024, rounded down).
    pub total_bytes: u64,
    /// µs
    pub total_duration: i64,
    /// Sum of the per-process tms plus the parent's, in ticks.
    pub cpu: Tms,
    /// Event block: processes with a pid, quiescing ones, and sums.
    pub processes: usize,
    pub stopping: usize,
    pub conns_total: u64,
    pub conns_async_wait_io: u64,
    pub conns_async_writing: u64,
    pub conns_async_keep_alive: u64,
    pub conns_async_closing: u64,
    /// 2.4.35–2.4.57 event's second pair (idle without generation check).
    pub async_busy: usize,
    pub async_idle: usize,
}

/// Applies mod_status's rules to the whole scoreboard.
pub fn summarize(sb: &Scoreboard, rules: Rules, limits: MpmLimits) -> Summary {
    let mut s = Summary {
        scoreboard: String::with_capacity(sb.slot_count()),
        ..Summary::default()
    };
    let generation = sb.global().running_generation;
    let mut bytes: u64 = 0;
    for p in sb.processes() {
        let mut per_process = Tms::default();
        let counted = p.is_counted();
        let old = p.pid != 0 && p.quiescing != 0;
        for w in sb.row(&p) {
            let res = w.status();
            if old
                && (w.in_flight()
                    || matches!(
                        res,
                        status::BUSY_READ
                            | status::BUSY_WRITE
                            | status::BUSY_LOG
                            | status::BUSY_DNS
                    ))
            {
                s.finishing += 1;
            }
            if !(rules != Rules::Httpd22
                && res == status::DEAD
                && limits.disabled(p.slot, w.thread_slot))
            {
                s.scoreboard.push(status::char_of(res));
                s.status_counts[usize::from(res.min(11))] += 1;
            }
            if counted {
                match rules.count(res, p.generation == generation) {
                    Counted::Idle => s.idle += 1,
                    Counted::Busy => s.busy += 1,
                    Counted::Graceful => s.graceful += 1,
                    Counted::Neither => {}
                }
                // The async block's pair comes from per-process thread
                // counts, whose idle count ignores the generation.
                if res == status::READY {
                    s.async_idle += 1;
                } else if !matches!(
                    res,
                    status::DEAD | status::STARTING | status::IDLE_KILL | status::GRACEFUL
                ) {
                    s.async_busy += 1;
                }
            }
            let access_count = w.access_count();
            if access_count != 0 || !matches!(res, status::READY | status::DEAD) {
                let times = w.times();
                if times.any_greater_than(&per_process) {
                    per_process = times;
                }
                s.total_accesses = s.total_accesses.wrapping_add(access_count);
                bytes = bytes.wrapping_add(w.bytes_served());
                s.total_duration = s.total_duration.wrapping_add(w.duration().unwrap_or(0));
            }
        }
        s.cpu = add_tms(s.cpu, per_process);
        if p.pid != 0 {
            s.processes += 1;
            s.stopping += usize::from(p.quiescing != 0);
            s.conns_total += u64::from(p.connections);
            s.conns_async_wait_io += u64::from(p.wait_io.unwrap_or(0));
            s.conns_async_writing += u64::from(p.write_completion);
            s.conns_async_keep_alive += u64::from(p.keep_alive);
            s.conns_async_closing += u64::from(p.lingering_close);
        }
    }
    s.total_bytes = bytes;
    s.total_kbytes = bytes >> 10;
    if let Some(g) = sb.global().times {
        s.cpu = add_tms(s.cpu, g);
    }
    s
}

fn add_tms(a: Tms, b: Tms) -> Tms {
    Tms {
        utime: a.utime.wrapping_add(b.utime),
        stime: a.stime.wrapping_add(b.stime),
        cutime: a.cutime.wrapping_add(b.cutime),
        cstime: a.cstime.wrapping_add(b.cstime),
    }
}

//! The MPM figures httpd runs with: its compiled-in defaults, the last of
//! each directive, then its own start-up adjustments in the order of
//! `{prefork,worker,event}_check_config` (httpd 2.4 server/mpm/*/*.c), with
//! the log message number httpd prints for each.

use super::conf::MpmDirective;
use super::{Figure, Source};
use crate::scoreboard::Mpm;

/// ServerLimit, ThreadLimit, ThreadsPerChild and MaxRequestWorkers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MpmFigures {
    pub server_limit: Figure<usize>,
    /// 1 for prefork.
    pub thread_limit: Figure<usize>,
    /// 1 for prefork.
    pub threads_per_child: Figure<usize>,
    /// The workers httpd runs at most: MaxRequestWorkers after its
    /// adjustments, capped at ServerLimit × ThreadsPerChild.
    pub max_request_workers: Figure<usize>,
}

impl MpmFigures {
    /// mod_status's AP_MPMQ_MAX_DAEMONS: the processes httpd starts at most.
    pub fn max_daemons(&self) -> usize {
        self.max_request_workers.value / self.threads_per_child.value.max(1)
    }
}

struct Defaults {
    /// The start-up messages (AHnnnnn) of each adjustment: ServerLimit
    /// above the maximum, below 1; ThreadLimit above, below; ThreadsPerChild
    /// above ThreadLimit, below 1; MaxRequestWorkers below ThreadsPerChild
    /// (prefork: below 1), not a multiple, above ServerLimit.
    ah: [u16; 9],
    server_limit: i64,
    max_server_limit: i64,
    thread_limit: i64,
    max_thread_limit: i64,
    threads_per_child: i64,
}

fn defaults(mpm: Mpm) -> Defaults {
    match mpm {
        // prefork.c: DEFAULT_SERVER_LIMIT 256, MAX_SERVER_LIMIT 200000.
        Mpm::Prefork => Defaults {
            ah: [175, 177, 0, 0, 0, 0, 182, 0, 180],
            server_limit: 256,
            max_server_limit: 200_000,
            thread_limit: 1,
            max_thread_limit: 1,
            threads_per_child: 1,
        },
        // worker.c: 16 / 20000, ThreadLimit 64 / 20000, mpm_default.h: 25.
        Mpm::Worker => Defaults {
            ah: [300, 302, 305, 307, 310, 312, 314, 316, 318],
            server_limit: 16,
            max_server_limit: 20_000,
            thread_limit: 64,
            max_thread_limit: 20_000,
            threads_per_child: 25,
        },
        // event.c: 16 / 20000, ThreadLimit 64 / 100000, mpm_default.h: 25.
        Mpm::Event => Defaults {
            ah: [497, 499, 502, 504, 507, 509, 511, 513, 515],
            server_limit: 16,
            max_server_limit: 20_000,
            thread_limit: 64,
            max_thread_limit: 100_000,
            threads_per_child: 25,
        },
    }
}

/// The figures `mpm` runs with, given its directives in configuration
/// order (the last of each wins).
pub fn figures(mpm: Mpm, directives: &[MpmDirective]) -> MpmFigures {
    let d = defaults(mpm);
    let last = |name: &str| directives.iter().rev().find(|x| x.name == name);
    let set = |name: &str, default: i64| -> (i64, Source) {
        match last(name) {
            Some(x) => (x.value, x.source.clone()),
            None => (default, Source::Default),
        }
    };
    let (mut server_limit, sl_src) = set("ServerLimit", d.server_limit);
    let mut sl_note = None;
    if server_limit > d.max_server_limit {
        sl_note = Some(format!(
            "ServerLimit {server_limit} lowered to httpd's maximum (AH{:05})",
            d.ah[0]
        ));
        server_limit = d.max_server_limit;
    } else if server_limit < 1 {
        sl_note = Some(format!(
            "ServerLimit {server_limit} raised to 1 (AH{:05})",
            d.ah[1]
        ));
        server_limit = 1;
    }
    if mpm == Mpm::Prefork {
        // prefork: MaxRequestWorkers defaults to DEFAULT_SERVER_LIMIT (set
        // before the configuration is read, not the configured ServerLimit).
        let (mut mrw, mrw_src) = set("MaxRequestWorkers", d.server_limit);
        let mut note = None;
        if mrw > server_limit {
            note = Some(format!(
                "MaxRequestWorkers {mrw} lowered to ServerLimit {server_limit} (AH{:05})",
                d.ah[8]
            ));
            mrw = server_limit;
        } else if mrw < 1 {
            note = Some(format!(
                "MaxRequestWorkers {mrw} raised to 1 (AH{:05})",
                d.ah[6]
            ));
            mrw = 1;
        }
        return MpmFigures {
            server_limit: adjusted(server_limit, sl_src, sl_note),
            thread_limit: Figure::default(1),
            threads_per_child: Figure::default(1),
            max_request_workers: adjusted(mrw, mrw_src, note),
        };
    }
    let (mut thread_limit, tl_src) = set("ThreadLimit", d.thread_limit);
    let mut tl_note = None;
    if thread_limit > d.max_thread_limit {
        tl_note = Some(format!(
            "ThreadLimit {thread_limit} lowered to httpd's maximum (AH{:05})",
            d.ah[2]
        ));
        thread_limit = d.max_thread_limit;
    } else if thread_limit < 1 {
        tl_note = Some(format!(
            "ThreadLimit {thread_limit} raised to 1 (AH{:05})",
            d.ah[3]
        ));
        thread_limit = 1;
    }
    let (mut tpc, tpc_src) = set("ThreadsPerChild", d.threads_per_child);
    let mut tpc_note = None;
    if tpc > thread_limit {
        tpc_note = Some(format!(
            "ThreadsPerChild {tpc} lowered to ThreadLimit {thread_limit} (AH{:05})",
            d.ah[4]
        ));
        tpc = thread_limit;
    } else if tpc < 1 {
        tpc_note = Some(format!(
            "ThreadsPerChild {tpc} raised to 1 (AH{:05})",
            d.ah[5]
        ));
        tpc = 1;
    }
    // MaxRequestWorkers defaults to DEFAULT_SERVER_LIMIT x
    // DEFAULT_THREADS_PER_CHILD, fixed before the configuration is read.
    let (mut mrw, mrw_src) = set("MaxRequestWorkers", d.server_limit * d.threads_per_child);
    let configured = mrw;
    let mut notes: Vec<String> = Vec::new();
    if mrw < tpc {
        notes.push(format!(
            "below ThreadsPerChild {tpc}: raised to {tpc} (AH{:05})",
            d.ah[6]
        ));
        mrw = tpc;
    }
    let mut daemons = mrw / tpc;
    if mrw % tpc != 0 {
        let rounded = daemons * tpc;
        notes.push(format!(
            "not a multiple of ThreadsPerChild {tpc}: rounded down to {rounded} (AH{:05})",
            d.ah[7]
        ));
        mrw = rounded;
    }
    if daemons > server_limit {
        notes.push(format!(
            "{daemons} processes of {tpc} threads are above ServerLimit {server_limit}: {} (AH{:05})",
            server_limit * tpc,
            d.ah[8]
        ));
        daemons = server_limit;
        mrw = daemons * tpc;
    }
    let note =
        (!notes.is_empty()).then(|| format!("configured {configured}, {}", notes.join("; ")));
    MpmFigures {
        server_limit: adjusted(server_limit, sl_src, sl_note),
        thread_limit: adjusted(thread_limit, tl_src, tl_note),
        threads_per_child: adjusted(tpc, tpc_src, tpc_note),
        max_request_workers: adjusted(mrw, mrw_src, note),
    }
}

fn adjusted(value: i64, source: Source, note: Option<String>) -> Figure<usize> {
    Figure {
        value: usize::try_from(value).unwrap_or(1),
        source,
        adjusted: note,
    }
}

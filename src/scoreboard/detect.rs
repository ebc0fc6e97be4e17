//! Layout detection from the segment itself (docs/scoreboard-format.md,
//! "Detecting the layout"): the size formula
//! picks the candidates; plausibility of the records breaks ties (most
//! importantly 2.4.36–2.4.62 versus 2.4.63+, same size, process stride 36
//! versus 40); the httpd version, when known, decides what the segment
//! cannot.

use super::error::Error;
use super::layout::{self, Abi, Field, HttpdVersion, Layout, LayoutSpec, Revision};
use super::le;

/// What is known about the segment besides its bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Hints {
    /// `--layout`: the only revision (and ABI) to try.
    pub layout: Option<LayoutSpec>,
    /// The httpd version (`--httpd-version` or the live binary's).
    pub version: Option<HttpdVersion>,
}

/// The outcome of detection.
#[derive(Clone, Copy, Debug)]
pub struct Detected {
    pub layout: Layout,
    pub server_limit: usize,
    pub thread_limit: usize,
    pub lb_limit: usize,
}

/// Plausible `apr_time_t` values: 2000-01-01 to 2200-01-01 in µs.
const PLAUSIBLE_TIME: std::ops::RangeInclusive<i64> = 946_684_800_000_000..=7_258_118_400_000_000;
/// Linux pid_max is at most 2^22.
const MAX_PID: i32 = 1 << 22;
/// How many process slots, threads per process and worker slots in all the
/// plausibility score samples. The process slots carry the stride tells;
/// the worker budget is spread over the sampled processes (at least one
/// thread each, the first ones, which httpd fills first), so detection costs
/// at most ~1k worker records however large the segment (a 1000x64 segment
/// would otherwise sample 64,000 per candidate layout). 16 threads of each
/// process: on Debian's default 16x64 event segment, scoring every slot of
/// the two candidates (2.4.36-62 and 2.4.63+ always tie in size) was a
/// fifth of a whole check's instructions.
const SAMPLE_PROCESSES: usize = 1024;
const SAMPLE_THREADS: usize = 16;
const SAMPLE_WORKERS: usize = 1024;

/// Finds the layout of a scoreboard area (the segment without its header).
pub fn detect(area: &[u8], hints: &Hints) -> Result<Detected, Error> {
    let (Some(sl), Some(tl)) = (
        le::int(area, layout::SERVER_LIMIT.offset),
        le::int(area, layout::THREAD_LIMIT.offset),
    ) else {
        return Err(Error::TooSmall { len: area.len() });
    };
    if sl <= 0 || tl <= 0 {
        return Err(Error::BadLimits {
            server_limit: sl,
            thread_limit: tl,
        });
    }
    let (server_limit, thread_limit) = (sl as usize, tl as usize);
    let candidates: Vec<Detected> = Layout::ALL
        .iter()
        .filter(|l| {
            hints
                .layout
                .is_none_or(|s| s.revision == l.revision && s.abi.is_none_or(|a| a == l.abi))
        })
        .filter_map(|layout| {
            let lb_limit = match layout.global.lb_limit {
                Some(f) => usize::try_from(le::int(area, f.offset)?).ok()?,
                None => 0,
            };
            (layout.expected_size(server_limit, thread_limit, lb_limit)? == area.len()).then_some(
                Detected {
                    layout: *layout,
                    server_limit,
                    thread_limit,
                    lb_limit,
                },
            )
        })
        .collect();
    match candidates.as_slice() {
        [] => Err(match hints.layout {
            Some(spec) => Error::LayoutMismatch {
                layout: spec.revision.releases(),
                expected: Layout::new(spec.revision, spec.abi.unwrap_or(Abi::Lp64))
                    .and_then(|l| l.expected_size(server_limit, thread_limit, 0))
                    .unwrap_or(0),
                size: area.len(),
                server_limit: sl,
                thread_limit: tl,
            },
            None => Error::UnknownLayout {
                size: area.len(),
                server_limit: sl,
                thread_limit: tl,
            },
        }),
        [one] => Ok(*one),
        many => choose(area, many, hints),
    }
}

/// Several layouts fit the size: keep the most plausible; a version hint or,
/// for G/H, the newer revision settles ties that the bytes cannot.
fn choose(area: &[u8], candidates: &[Detected], hints: &Hints) -> Result<Detected, Error> {
    // Scored newest revision first (the common case), each only until it
    // is worse than the best so far: a pruned score is above the final
    // best, so the choice is the same as with every score complete.
    let mut scored: Vec<(u64, &Detected)> = Vec::with_capacity(candidates.len());
    let mut best = u64::MAX;
    for c in candidates.iter().rev() {
        let score = implausibility(area, c, best);
        best = best.min(score);
        scored.push((score, c));
    }
    scored.reverse();
    let tied: Vec<&Detected> = scored
        .iter()
        .filter(|(s, _)| *s == best)
        .map(|(_, c)| *c)
        .collect();
    if let [one] = tied.as_slice() {
        return Ok(**one);
    }
    if let Some(rev) = hints.version.and_then(Revision::for_version) {
        if let Some(c) = tied.iter().find(|c| c.layout.revision == rev) {
            return Ok(**c);
        }
    }
    // G and H differ only in the process stride; when the bytes cannot tell
    // them apart only slot 0 has been used, which reads the same either way.
    if tied
        .iter()
        .all(|c| matches!(c.layout.revision, Revision::G | Revision::H))
        && tied.iter().all(|c| c.layout.abi == tied[0].layout.abi)
    {
        if let Some(h) = tied.iter().find(|c| c.layout.revision == Revision::H) {
            return Ok(**h);
        }
    }
    Err(Error::AmbiguousLayout {
        size: area.len(),
        candidates: tied
            .iter()
            .map(|c| c.layout.name())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Counts what would be impossible if the segment had this layout; stops
/// counting once the count exceeds `enough`.
fn implausibility(area: &[u8], c: &Detected, enough: u64) -> u64 {
    let (mut bad, generation) = global_implausibility(area, &c.layout);
    let processes = c.server_limit.min(SAMPLE_PROCESSES);
    let threads = c
        .thread_limit
        .min(SAMPLE_THREADS)
        .min((SAMPLE_WORKERS / processes.max(1)).max(1));
    let padding = c.layout.worker.padding();
    for i in 0..processes {
        if bad > enough {
            return bad;
        }
        bad += process_implausibility(area, c, i, generation, threads, &padding);
    }
    bad
}

/// The global record's score under `l`, and the running generation it
/// reads.
fn global_implausibility(area: &[u8], l: &Layout) -> (u64, i32) {
    let mut bad = 0;
    let g = l.global;
    match g.sb_type {
        Some(f) if le::uint(area, f.offset, f.width) != 2 => bad += 20,
        // 2.4.1+ on LP64 and armhf: the padding between running_generation
        // and the 8-aligned restart_time is zero.
        None if g.restart_time.offset > g.running_generation.offset + 4
            && le::uint(area, g.running_generation.offset + 4, 4) != 0 =>
        {
            bad += 20
        }
        _ => {}
    }
    let restart = le::uint(area, g.restart_time.offset, 8) as i64;
    if !PLAUSIBLE_TIME.contains(&restart) {
        bad += 20;
    }
    let generation = le::uint(area, g.running_generation.offset, 4) as i32;
    if !(0..1 << 24).contains(&generation) {
        bad += 20;
    }
    (bad, generation)
}

/// Process slot `i` and the first `threads` workers of its row.
fn process_implausibility(
    area: &[u8],
    c: &Detected,
    i: usize,
    generation: i32,
    threads: usize,
    padding: &[std::ops::Range<usize>],
) -> u64 {
    let l = &c.layout;
    let mut bad = 0;
    let p = l.process_offset(i);
    let pid = le::uint(area, p + layout::PROCESS_PID.offset, 4) as i32;
    let pgen = le::uint(area, p + layout::PROCESS_GENERATION.offset, 4) as i32;
    let q = l.process.quiescing;
    let quiescing = le::uint(area, p + q.offset, q.width);
    let not_accepting = l
        .process
        .not_accepting
        .map_or(0, |f| le::uint(area, p + f.offset, f.width));
    if !(0..MAX_PID).contains(&pid) || pid == 1 {
        bad += 1;
    }
    if pid != 0 && !(0..=generation).contains(&pgen) {
        bad += 1;
    }
    if quiescing > 2 || not_accepting > 1 {
        bad += 1;
    }
    // No rule on 2.4.63+'s wait_io: it is a snapshot counter that may
    // legitimately exceed `connections`, and judging it penalised only
    // one of the two strides (a torn or busy segment then read as G).
    let mut live_workers = false;
    let row = l.worker_offset(c.server_limit, c.thread_limit, i, 0);
    // A row never used (every sampled record zero, as in most slots of an
    // idle server) scores nothing under any rule below: one pass over its
    // bytes instead of each record's fields.
    let sampled = area.get(row..row.saturating_add(threads * l.worker.size));
    if sampled.is_some_and(le::all_zero) {
        return bad;
    }
    for j in 0..threads {
        let at = row + j * l.worker.size;
        let (score, live) =
            worker_implausibility(area, l, at, i * c.thread_limit + j, pid, padding);
        bad += score;
        live_workers |= live;
    }
    // A process slot whose workers are alive has a pid (prefork's only
    // tell for the process stride).
    if live_workers && pid == 0 {
        bad += 1;
    }
    bad
}

/// The worker record at `at` (slot number `slot`, of a process `pid`):
/// its score and whether it is alive (not dead).
fn worker_implausibility(
    area: &[u8],
    l: &Layout,
    at: usize,
    slot: usize,
    pid: i32,
    padding: &[std::ops::Range<usize>],
) -> (u64, bool) {
    let w = l.worker;
    let uint = |f: Field| le::uint(area, at + f.offset, f.width);
    let status = uint(w.status);
    if status > 10 {
        return (1, false);
    }
    let mut bad = 0;
    // In every slot, dead ones included: padding is zero, and CPU ticks
    // stay far below 2^40 (an 8-byte clock_t read over text is above it).
    // These tell an armhf 2.4.19-2.4.34 segment from an LP64 2.4.18 one of
    // the same size.
    if padding.iter().any(|h| {
        area.get(at + h.start..at + h.end)
            .is_some_and(|b| b.iter().any(|&x| x != 0))
    }) {
        bad += 1;
    }
    let tick = w.times.width;
    if (0..4).any(|k| le::uint(area, at + w.times.offset + k * tick, tick) >> 40 != 0) {
        bad += 1;
    }
    if status == 0 {
        return (bad, false);
    }
    let thread_num = uint(w.thread_num);
    if thread_num != 0 && thread_num != slot as u64 {
        bad += 1;
    }
    for t in [w.start_time, w.stop_time, w.last_used] {
        let v = uint(t) as i64;
        if v != 0 && !PLAUSIBLE_TIME.contains(&v) {
            bad += 1;
        }
    }
    if let Some(wpid) = w.pid.map(uint) {
        if wpid != 0 && pid != 0 && wpid != pid as u32 as u64 {
            bad += 1;
        }
    }
    (bad, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_limits_and_unknown_sizes() {
        let mut area = vec![0u8; 10968];
        area[0..4].copy_from_slice(&0i32.to_le_bytes());
        area[4..8].copy_from_slice(&8i32.to_le_bytes());
        assert!(matches!(
            detect(&area, &Hints::default()),
            Err(Error::BadLimits { .. })
        ));
        area[0..4].copy_from_slice(&4i32.to_le_bytes());
        area.push(0);
        let err = detect(&area, &Hints::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "segment size 10969 matches no known scoreboard layout (ServerLimit 4, ThreadLimit 8)"
        );
        assert!(matches!(
            detect(&area[..5], &Hints::default()),
            Err(Error::TooSmall { .. })
        ));
    }

    /// Past the sampling budget (more than 1024 process slots, a few of
    /// each one's threads sampled) G and H are still told apart, threaded
    /// and prefork, and a live segment that fits both sizes stays H.
    #[test]
    fn large_segments_detect_within_the_sample_budget() {
        use super::super::encode::busy_server;
        for (sl, tl) in [(1100, 8), (2000, 1)] {
            for rev in [Revision::G, Revision::H] {
                let layout = Layout::new(rev, Abi::Lp64).unwrap();
                let b = busy_server(layout, sl, tl);
                let found = detect(b.area(), &Hints::default()).unwrap();
                assert_eq!(found.layout, layout, "{sl}x{tl}");
            }
        }
    }

    #[test]
    fn huge_limits_do_not_overflow() {
        let mut area = vec![0u8; 64];
        area[0..4].copy_from_slice(&i32::MAX.to_le_bytes());
        area[4..8].copy_from_slice(&i32::MAX.to_le_bytes());
        assert!(matches!(
            detect(&area, &Hints::default()),
            Err(Error::UnknownLayout { .. })
        ));
    }
}

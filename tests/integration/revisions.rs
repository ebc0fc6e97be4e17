//! Every layout revision on every ABI, written by the test encoder
//! (`scoreboard::encode`) and read back through the public API: detection
//! (including the size collisions and how the tie-breakers settle them,
//! docs/scoreboard-format.md "Detecting the layout"), every decoded field, and mod_status's counting
//! rules, all compared with values the test computes itself from what it
//! wrote and from docs/scoreboard-format.md and docs/mod_status-rules.md, never from the decoder.

use crate::c_rules;
use apache_scoreboard::scoreboard::encode::{
    busy_server, ProcessValues, SegmentBuilder, WorkerValues, DEFAULT_RESTART_TIME,
};
use apache_scoreboard::scoreboard::{
    rules, status, Abi, Error, Form, Hints, HttpdVersion, Layout, LayoutSpec, MpmLimits, Revision,
    Rules, Scoreboard, Tms,
};

const SECOND: i64 = 1_000_000;
const RESTART: i64 = DEFAULT_RESTART_TIME - 86_400 * SECOND;
const NOW: i64 = RESTART + 7_200 * SECOND;

fn layout(revision: Revision, abi: Abi) -> Layout {
    Layout::new(revision, abi).expect("layout exists")
}

/// Every layout the reference describes: each revision on LP64, i386 and
/// armhf (APR 1.x), and 2.0 on i386 and armhf with APR 0.9.
fn all_layouts() -> Vec<Layout> {
    let mut v: Vec<Layout> = Revision::ALL
        .into_iter()
        .flat_map(|r| {
            [
                layout(r, Abi::Lp64),
                layout(r, Abi::Ilp32),
                layout(r, Abi::Armhf),
            ]
        })
        .collect();
    v.push(layout(Revision::A, Abi::Ilp32Apr09));
    v.push(layout(Revision::A, Abi::ArmhfApr09));
    v
}

fn armhf(abi: Abi) -> bool {
    matches!(abi, Abi::Armhf | Abi::ArmhfApr09)
}

fn spec(revision: Revision, abi: Option<Abi>) -> Hints {
    Hints {
        layout: Some(LayoutSpec { revision, abi }),
        version: None,
    }
}

/// What docs/scoreboard-format.md ("Field offsets", "ABIs") says each revision/ABI has, stated
/// independently of the crate's offset tables.
#[derive(Clone, Copy, Debug)]
struct Traits {
    /// `unsigned long` / `clock_t` / `pthread_t`: 8 on LP64, 4 on i386.
    long: u32,
    /// `apr_off_t`: 8, except 4 with APR 0.9.
    off: u32,
    worker_pid: bool,
    async_counters: bool,
    wait_io: bool,
    protocol: bool,
    duration: bool,
    client64: bool,
    global_times: bool,
}

fn traits(l: &Layout) -> Traits {
    use Revision::*;
    let r = l.revision;
    Traits {
        long: if l.abi == Abi::Lp64 { 8 } else { 4 },
        off: if matches!(l.abi, Abi::Ilp32Apr09 | Abi::ArmhfApr09) {
            4
        } else {
            8
        },
        worker_pid: r != A,
        async_counters: !matches!(r, A | B),
        wait_io: r == H,
        protocol: matches!(r, E | F | G | H),
        duration: matches!(r, F | G | H),
        client64: matches!(r, G | H),
        global_times: matches!(r, F | G | H),
    }
}

/// The low `bytes` bytes of `v`.
fn low(v: u64, bytes: u32) -> u64 {
    if bytes >= 8 {
        v
    } else {
        v & ((1u64 << (8 * bytes)) - 1)
    }
}

/// A C string of an array of `size` bytes as httpd leaves it.
fn cut(s: &[u8], size: usize) -> &[u8] {
    &s[..s.len().min(size - 1)]
}

/// A segment with what was written into it.
struct Scenario {
    builder: SegmentBuilder,
    generation: i32,
    global_times: Tms,
    processes: Vec<ProcessValues>,
    workers: Vec<Vec<WorkerValues>>,
    /// worker/event (worker pids and tids written) rather than prefork.
    threaded: bool,
}

const LONG_CLIENT: &[u8] = b"2001:db8:85a3:1234:5678:8a2e:370:7334"; // 37 bytes
const LONG_REQUEST: &[u8] =
    b"GET /a/very/long/path/that/does/not/fit/into/the/sixty-three/byte/field HTTP/1.1";
const LONG_VHOST: &[u8] = b"very-long-virtual-host-name.example.test:443";
const BAD_UTF8_REQUEST: &[u8] = b"GET /caf\xe9/\xff\xfe HTTP/1.1";

impl Scenario {
    /// Several process slots in every state httpd leaves them in, cycling
    /// with the slot number: live current-generation processes with mixed
    /// worker states, an old-generation one finishing gracefully (quiescing
    /// for threaded MPMs), a free slot with leftovers of a dead process.
    fn new(layout: Layout, server_limit: usize, thread_limit: usize) -> Scenario {
        Scenario::with_generation(layout, server_limit, thread_limit, 1)
    }

    fn with_generation(
        layout: Layout,
        server_limit: usize,
        thread_limit: usize,
        generation: i32,
    ) -> Scenario {
        let threaded = thread_limit > 1;
        let t = traits(&layout);
        let mut processes = Vec::new();
        let mut workers = Vec::new();
        for i in 0..server_limit {
            let kind = i % 5;
            let pid = if kind == 3 { 0 } else { 4000 + 17 * i as i32 };
            let old = kind == 2 && generation > 0;
            let p = ProcessValues {
                pid,
                generation: if old { generation - 1 } else { generation },
                quiescing: if old && threaded {
                    1 + (i as u32 % 2)
                } else {
                    0
                },
                not_accepting: u8::from(old && threaded && t.async_counters),
                connections: if threaded && pid != 0 {
                    3 + i as u32
                } else {
                    0
                },
                write_completion: if threaded && pid != 0 { 1 } else { 0 },
                lingering_close: if threaded && pid != 0 {
                    i as u32 % 2
                } else {
                    0
                },
                keep_alive: if threaded && pid != 0 { 2 } else { 0 },
                suspended: if threaded && pid != 0 { 1 } else { 0 },
                wait_io: if threaded && pid != 0 {
                    1 + i as u32 % 2
                } else {
                    0
                },
            };
            const LIVE: [&[u8]; 5] = [
                &[
                    status::READY,
                    status::BUSY_WRITE,
                    status::BUSY_KEEPALIVE,
                    status::BUSY_READ,
                ],
                &[
                    status::GRACEFUL,
                    status::BUSY_LOG,
                    status::READY,
                    status::STARTING,
                    status::BUSY_WRITE,
                ],
                &[
                    status::GRACEFUL,
                    status::BUSY_WRITE,
                    status::DEAD,
                    status::READY,
                ],
                &[status::DEAD],
                &[
                    status::CLOSING,
                    status::BUSY_DNS,
                    status::IDLE_KILL,
                    status::READY,
                    status::BUSY_WRITE,
                ],
            ];
            let row: Vec<WorkerValues> = (0..thread_limit)
                .map(|j| {
                    let statuses = LIVE[kind];
                    let st = statuses[(i + j) % statuses.len()];
                    worker_values(i, j, thread_limit, st, &p, threaded)
                })
                .collect();
            processes.push(p);
            workers.push(row);
        }
        let global_times = Tms {
            utime: 0x1_0000_0000 + 311,
            stime: 207,
            cutime: 5_003,
            cstime: 1_009,
        };
        let mut builder = SegmentBuilder::new(layout, server_limit, thread_limit);
        builder
            .global(generation, RESTART)
            .global_times(global_times);
        for (i, p) in processes.iter().enumerate() {
            builder.process(i, p);
            for (j, w) in workers[i].iter().enumerate() {
                builder.worker(i, j, w);
            }
        }
        Scenario {
            builder,
            generation,
            global_times,
            processes,
            workers,
            threaded,
        }
    }

    fn layout(&self) -> Layout {
        *self.builder.layout()
    }
}

fn worker_values(
    i: usize,
    j: usize,
    thread_limit: usize,
    st: u8,
    p: &ProcessValues,
    threaded: bool,
) -> WorkerValues {
    let n = (i * thread_limit + j) as u64;
    let ever_started = p.pid != 0 || n % 2 == 0;
    // Values above 2^32 where the C type allows: on i386 only the low
    // bytes survive.
    let big = 0x3_0000_0000 * (n % 3);
    let mut w = WorkerValues {
        tid: if threaded && p.pid != 0 {
            0x7f3a_b000_0000 + n * 0x80_1000
        } else {
            0
        },
        thread_num: if ever_started { n as i32 } else { 0 },
        pid: if threaded { p.pid } else { 0 },
        generation: if threaded { p.generation } else { 0 },
        status: st,
        conn_count: (n % 4) as u16 + 1,
        conn_bytes: big + 700 * n,
        access_count: if ever_started { big + 3 * n + 1 } else { 0 },
        bytes_served: if ever_started {
            big + 4_321 * n + 99
        } else {
            0
        },
        my_access_count: n % 3,
        my_bytes_served: (n % 3) * 2_000,
        start_time: NOW - 60 * SECOND - n as i64 * 1_000,
        stop_time: NOW - 60 * SECOND - n as i64 * 1_000 + 250_000,
        last_used: NOW - 60 * SECOND - n as i64 * 1_000 + 250_000,
        times: Tms {
            utime: big + 10 + n,
            stime: 5 + n % 4,
            cutime: n % 2,
            cstime: 0,
        },
        duration: 250_000 * (n as i64 + 1),
        client: format!("198.51.100.{}", n % 200 + 1).into_bytes(),
        request: format!("GET /item/{n} HTTP/1.1").into_bytes(),
        vhost: format!("v{}.example.net:8443", n % 3).into_bytes(),
        protocol: if n % 2 == 0 {
            b"HTTP/1.1".to_vec()
        } else {
            b"h2".to_vec()
        },
    };
    match n % 6 {
        1 => w.client = LONG_CLIENT.to_vec(),
        2 => w.request = LONG_REQUEST.to_vec(),
        3 => w.vhost = LONG_VHOST.to_vec(),
        4 => w.request = BAD_UTF8_REQUEST.to_vec(),
        5 => w.protocol = b"a-protocol-name-longer-than-16".to_vec(),
        _ => {}
    }
    if st == status::BUSY_WRITE {
        // Inside a request: START after the last STOP.
        w.start_time = NOW - (n as i64 % 30 + 1) * SECOND;
        w.stop_time = w.start_time - 400_000;
        w.last_used = w.start_time;
    }
    if st == status::DEAD && p.pid == 0 && n % 2 == 1 {
        w = WorkerValues::default();
    }
    w
}

/// Asserts every decoded global, process and worker field against what the
/// scenario wrote.
fn assert_decoded(sb: &Scoreboard, sc: &Scenario) {
    let l = sc.layout();
    let t = traits(&l);
    let ctx = l.name();
    let g = sb.global();
    assert_eq!(g.server_limit, sc.processes.len(), "{ctx}");
    assert_eq!(g.thread_limit, sc.workers[0].len(), "{ctx}");
    assert_eq!(g.running_generation, sc.generation, "{ctx}");
    assert_eq!(g.restart_time, RESTART, "{ctx}");
    let expect_times = |x: Tms| Tms {
        utime: low(x.utime, t.long),
        stime: low(x.stime, t.long),
        cutime: low(x.cutime, t.long),
        cstime: low(x.cstime, t.long),
    };
    assert_eq!(
        g.times,
        t.global_times.then(|| expect_times(sc.global_times)),
        "{ctx}"
    );
    for (i, p) in sc.processes.iter().enumerate() {
        let d = sb.process(i);
        let ctx = format!("{ctx} process {i}");
        assert_eq!(d.slot, i, "{ctx}");
        assert_eq!((d.pid, d.generation), (p.pid, p.generation), "{ctx}");
        assert_eq!(d.quiescing, p.quiescing, "{ctx}");
        let a = |v: u32| if t.async_counters { v } else { 0 };
        assert_eq!(
            (
                d.not_accepting,
                d.connections,
                d.write_completion,
                d.lingering_close,
                d.keep_alive,
                d.suspended
            ),
            (
                if t.async_counters { p.not_accepting } else { 0 },
                a(p.connections),
                a(p.write_completion),
                a(p.lingering_close),
                a(p.keep_alive),
                a(p.suspended)
            ),
            "{ctx}"
        );
        assert_eq!(d.wait_io, t.wait_io.then_some(p.wait_io), "{ctx}");
        for (j, w) in sc.workers[i].iter().enumerate() {
            let ctx = format!("{ctx} worker {j}");
            let d = sb.worker(i, j);
            assert_eq!((d.process_slot, d.thread_slot), (i, j), "{ctx}");
            assert_eq!(d.tid(), low(w.tid, t.long), "{ctx}");
            assert_eq!(d.thread_num(), w.thread_num, "{ctx}");
            // pid and generation: the worker's own where the revision has
            // them and they were set, else the process slot's.
            let (pid, generation) = if t.worker_pid && w.pid != 0 {
                (w.pid, w.generation)
            } else {
                (p.pid, p.generation)
            };
            assert_eq!((d.pid(), d.generation()), (pid, generation), "{ctx}");
            assert_eq!(d.status(), w.status, "{ctx}");
            assert_eq!(d.conn_count(), w.conn_count, "{ctx}");
            assert_eq!(d.conn_bytes(), low(w.conn_bytes, t.off), "{ctx}");
            assert_eq!(d.access_count(), low(w.access_count, t.long), "{ctx}");
            assert_eq!(d.bytes_served(), low(w.bytes_served, t.off), "{ctx}");
            assert_eq!(d.my_access_count(), low(w.my_access_count, t.long), "{ctx}");
            assert_eq!(d.my_bytes_served(), low(w.my_bytes_served, t.off), "{ctx}");
            assert_eq!(
                (d.start_time(), d.stop_time(), d.last_used()),
                (w.start_time, w.stop_time, w.last_used),
                "{ctx}"
            );
            assert_eq!(d.in_flight(), w.start_time > w.stop_time, "{ctx}");
            assert_eq!(d.times(), expect_times(w.times), "{ctx}");
            assert_eq!(d.duration(), t.duration.then_some(w.duration), "{ctx}");
            let client = if t.client64 {
                cut(&w.client, 64)
            } else {
                cut(&w.client, 32)
            };
            assert_eq!(d.client(), client, "{ctx}");
            assert_eq!(d.request(), cut(&w.request, 64), "{ctx}");
            assert_eq!(d.vhost(), cut(&w.vhost, 32), "{ctx}");
            let protocol: &[u8] = if t.protocol {
                cut(&w.protocol, 16)
            } else {
                b""
            };
            assert_eq!(d.protocol(), protocol, "{ctx}");
        }
    }
}

/// What mod_status computes (docs/mod_status-rules.md), from the written values.
#[derive(Debug, PartialEq)]
struct Expected {
    busy: usize,
    idle: usize,
    graceful: usize,
    scoreboard: String,
    total_accesses: u64,
    total_kbytes: u64,
    total_duration: i64,
    cpu: Tms,
    processes: usize,
    stopping: usize,
    conns: [u64; 5],
}

fn expected_summary(sc: &Scenario, rules: Rules, limits: Option<(usize, usize)>) -> Expected {
    const CHARS: &[u8; 11] = b".S_RWKLDCGI";
    let t = traits(&sc.layout());
    let mut e = Expected {
        busy: 0,
        idle: 0,
        graceful: 0,
        scoreboard: String::new(),
        total_accesses: 0,
        total_kbytes: 0,
        total_duration: 0,
        cpu: Tms::default(),
        processes: 0,
        stopping: 0,
        conns: [0; 5],
    };
    let mut bytes = 0u64;
    let mut cpu = [0u64; 4];
    for (i, p) in sc.processes.iter().enumerate() {
        let mut running = [0u64; 4];
        for (j, w) in sc.workers[i].iter().enumerate() {
            let s = w.status;
            let disabled = limits
                .is_some_and(|(max_servers, threads)| i >= max_servers || j >= threads)
                && s == status::DEAD;
            if rules == Rules::Httpd22 || !disabled {
                e.scoreboard.push(char::from(CHARS[usize::from(s)]));
            }
            if p.pid != 0 && p.quiescing == 0 {
                let current_ready = s == status::READY && p.generation == sc.generation;
                let never_busy = [status::DEAD, status::STARTING, status::IDLE_KILL];
                if current_ready {
                    e.idle += 1;
                } else if never_busy.contains(&s) {
                } else if s == status::READY {
                    // Old-generation READY: busy in 2.2, nothing in 2.4.
                    if rules == Rules::Httpd22 {
                        e.busy += 1;
                    }
                } else if s == status::GRACEFUL && rules == Rules::Httpd2458 {
                    e.graceful += 1;
                } else {
                    e.busy += 1;
                }
            }
            let accesses = low(w.access_count, t.long);
            if accesses != 0 || (s != status::READY && s != status::DEAD) {
                e.total_accesses += accesses;
                bytes += low(w.bytes_served, t.off);
                if t.duration {
                    e.total_duration += w.duration;
                }
                let tms = [w.times.utime, w.times.stime, w.times.cutime, w.times.cstime]
                    .map(|v| low(v, t.long));
                if tms.iter().zip(running).any(|(a, b)| *a > b) {
                    running = tms;
                }
            }
        }
        for k in 0..4 {
            cpu[k] += running[k];
        }
        if p.pid != 0 {
            e.processes += 1;
            e.stopping += usize::from(p.quiescing != 0);
            if t.async_counters {
                e.conns[0] += u64::from(p.connections);
                e.conns[2] += u64::from(p.write_completion);
                e.conns[3] += u64::from(p.keep_alive);
                e.conns[4] += u64::from(p.lingering_close);
            }
            if t.wait_io {
                e.conns[1] += u64::from(p.wait_io);
            }
        }
    }
    if t.global_times {
        let g = sc.global_times;
        for (k, v) in [g.utime, g.stime, g.cutime, g.cstime]
            .into_iter()
            .enumerate()
        {
            cpu[k] += low(v, t.long);
        }
    }
    e.cpu = Tms {
        utime: cpu[0],
        stime: cpu[1],
        cutime: cpu[2],
        cstime: cpu[3],
    };
    e.total_kbytes = bytes / 1024;
    e
}

fn summarize(sb: &Scoreboard, rules: Rules, limits: Option<(usize, usize)>) -> Expected {
    let limits = limits.map_or(MpmLimits::default(), |(m, t)| MpmLimits {
        max_servers: Some(m),
        threads_per_child: Some(t),
    });
    let s = rules::summarize(sb, rules, limits);
    Expected {
        busy: s.busy,
        idle: s.idle,
        graceful: s.graceful,
        scoreboard: s.scoreboard,
        total_accesses: s.total_accesses,
        total_kbytes: s.total_kbytes,
        total_duration: s.total_duration,
        cpu: s.cpu,
        processes: s.processes,
        stopping: s.stopping,
        conns: [
            s.conns_total,
            s.conns_async_wait_io,
            s.conns_async_writing,
            s.conns_async_keep_alive,
            s.conns_async_closing,
        ],
    }
}

/// The counting rules of the mod_status that goes with each revision (G
/// spans the 2.4.58 change).
fn rules_for(revision: Revision) -> &'static [Rules] {
    match revision {
        Revision::A | Revision::B => &[Rules::Httpd22],
        Revision::G => &[Rules::Httpd24, Rules::Httpd2458],
        Revision::H => &[Rules::Httpd2458],
        _ => &[Rules::Httpd24],
    }
}

fn assert_rules(sb: &Scoreboard, sc: &Scenario) {
    let l = sc.layout();
    for &r in rules_for(l.revision) {
        for limits in [None, Some((2, 2))] {
            assert_eq!(
                summarize(sb, r, limits),
                expected_summary(sc, r, limits),
                "{} {r:?} {limits:?}",
                l.name()
            );
        }
    }
}

/// Decodes the POSIX form with Form::Auto and the bare area with both
/// Form::Bare and Form::Auto.
fn decode_all(b: &SegmentBuilder, hints: &Hints) -> [Result<Scoreboard, Error>; 3] {
    [
        Scoreboard::from_bytes(b.posix(), Form::Auto, hints),
        Scoreboard::from_bytes(b.area().to_vec(), Form::Bare, hints),
        Scoreboard::from_bytes(b.area().to_vec(), Form::Auto, hints),
    ]
}

fn detected(b: &SegmentBuilder, hints: &Hints) -> Result<Layout, String> {
    let [posix, bare, auto] = decode_all(b, hints);
    let name = |r: &Result<Scoreboard, Error>| match r {
        Ok(sb) => Ok(*sb.layout()),
        Err(e) => Err(e.to_string()),
    };
    let (p, q, a) = (name(&posix), name(&bare), name(&auto));
    assert_eq!(p, q, "POSIX and bare forms disagree");
    assert_eq!(p, a, "Form::Auto on the bare area disagrees");
    p
}

/// Detects, decodes (three forms) and checks every field and the rules.
fn assert_round_trip(sc: &Scenario) {
    let l = sc.layout();
    for (form, r) in ["posix/auto", "bare", "bare/auto"]
        .into_iter()
        .zip(decode_all(&sc.builder, &Hints::default()))
    {
        let sb = r.unwrap_or_else(|e| panic!("{} ({form}): {e}", l.name()));
        assert_eq!(*sb.layout(), l, "{form}: {} detected as {}", l, sb.layout());
        assert_eq!(sb.has_header(), form == "posix/auto");
        assert_decoded(&sb, sc);
        assert_rules(&sb, sc);
    }
}

/// Region sizes of docs/scoreboard-format.md ("Field offsets") (armhf: derived by the C
/// rules), independent of the crate's tables: (global region, process
/// region per slot, worker region per slot, process stride, worker stride).
fn reference_sizes(l: &Layout) -> (usize, usize, usize, usize, usize) {
    use Revision::*;
    if armhf(l.abi) {
        return c_rules_sizes(l);
    }
    let lp64 = l.abi == Abi::Lp64;
    let (g, p, w) = match (l.revision, l.abi) {
        (A, Abi::Lp64) => (24, 16, 256),
        (A, Abi::Ilp32) => (24, 16, 216),
        (A, Abi::Ilp32Apr09) => (24, 16, 204),
        (B, Abi::Lp64) => (32, 16, 264),
        (B, _) => (28, 16, 224),
        (C0, Abi::Lp64) => (24, 32, 248),
        (C0, _) => (24, 32, 220),
        (C, Abi::Lp64) => (24, 32, 248),
        (C, _) => (20, 32, 220),
        (D, Abi::Lp64) => (24, 36, 248),
        (D, _) => (20, 36, 220),
        (D2, Abi::Lp64) => (24, 40, 248),
        (D2, _) => (24, 40, 224),
        (E, Abi::Lp64) => (24, 40, 264),
        (E, _) => (24, 40, 240),
        (F, Abi::Lp64) => (56, 40, 272),
        (F, _) => (40, 40, 248),
        (G | H, Abi::Lp64) => (56, 40, 336),
        (G | H, _) => (40, 40, 312),
        (_, Abi::Armhf | Abi::ArmhfApr09) => unreachable!("derived above"),
    };
    let process_stride = match l.revision {
        A | B => 16,
        C0 | C => 32,
        D | D2 | E | F | G => 36,
        H => 40,
    };
    let worker_stride = match (l.revision, lp64) {
        (C0 | C | D | D2, false) => 220,
        (E, false) => 236,
        (F, false) => 244,
        (G | H, false) => 308,
        _ => w,
    };
    (g, p, w, process_stride, worker_stride)
}

/// [`reference_sizes`] by the C rules: regions are `sizeof`, rounded to 8
/// from 2.4.18 (docs/scoreboard-format.md, "The scoreboard area").
fn c_rules_sizes(l: &Layout) -> (usize, usize, usize, usize, usize) {
    let pad = |n: usize| {
        if l.revision >= Revision::D2 {
            n.next_multiple_of(8)
        } else {
            n
        }
    };
    let g = c_rules::global(l.revision, l.abi).size;
    let p = c_rules::process(l.revision, l.abi).size;
    let w = c_rules::worker(l.revision, l.abi).size;
    (pad(g), pad(p), pad(w), p, w)
}

/// The usable size (docs/scoreboard-format.md, "The scoreboard area"; lb_limit 0).
fn reference_size(l: &Layout, sl: usize, tl: usize) -> usize {
    let (g, p, w, _, _) = reference_sizes(l);
    g + p * sl + w * sl * tl
}

fn short(l: &Layout) -> String {
    format!("{:?}/{}", l.revision, l.abi.name())
}

/// The layouts (lb_limit 0) whose size equals `l`'s, per docs/scoreboard-format.md "Detecting the layout".
fn same_size(l: &Layout, sl: usize, tl: usize) -> Vec<String> {
    let size = reference_size(l, sl, tl);
    all_layouts()
        .iter()
        .filter(|o| reference_size(o, sl, tl) == size)
        .map(short)
        .collect()
}

#[test]
fn every_revision_threaded_and_prefork() {
    for l in all_layouts() {
        for (sl, tl) in [(5, 4), (6, 1), (4, 8)] {
            let sc = Scenario::new(l, sl, tl);
            assert_eq!(sc.builder.area().len(), reference_size(&l, sl, tl));
            assert_eq!(sc.threaded, tl > 1);
            assert_round_trip(&sc);
        }
    }
}

#[test]
fn revision_b_with_lb_part() {
    for abi in [Abi::Lp64, Abi::Ilp32] {
        let l = layout(Revision::B, abi);
        for (sl, tl, lb) in [(5, 4, 20), (6, 1, 17), (1, 1, 16)] {
            let mut sc = Scenario::new(l, sl, tl);
            // Same records, with mod_proxy's blocks appended.
            let mut b = SegmentBuilder::with_lb_limit(l, sl, tl, lb);
            b.global(sc.generation, RESTART);
            for (i, p) in sc.processes.iter().enumerate() {
                b.process(i, p);
                for (j, w) in sc.workers[i].iter().enumerate() {
                    b.worker(i, j, w);
                }
            }
            let size = reference_size(&l, sl, tl) + 1024 * lb;
            assert_eq!(b.area().len(), size);
            // Opaque proxy_worker_stat bytes must not disturb anything.
            b.area_mut()[size - 1024 * lb..].fill(0xa5);
            sc.builder = b;
            assert_round_trip(&sc);
            let sb =
                Scoreboard::from_bytes(sc.builder.posix(), Form::Auto, &Hints::default()).unwrap();
            assert_eq!(sb.global().lb_limit, lb);
        }
    }
}

/// Every (ServerLimit, ThreadLimit) at which layouts share a size (the
/// collisions docs/scoreboard-format.md lists under "Detecting the layout"), for every layout and with a fresh (generation 0) and a
/// restarted (generation 1) server. The tie-breakers settle all of
/// them except two, asserted here:
/// * G with ServerLimit 1 is read as H: G ≡ H in size and with one process
///   slot the strides cannot differ; slot 0 reads the same either way (H's
///   `wait_io` is G's zero padding).
/// * C0 (2.4.0) with running generation 0 is refused as ambiguous with C
///   (2.4.1–2.4.16), on LP64 and armhf: its bytes are exactly those of a C
///   segment with generation 2 whose processes are all of generation 0
///   (C0's `sb_type` 2 sits where C keeps `running_generation`).
///
/// Everything else, including the cross-ABI collisions the reference does
/// not list (C0/C on LP64 ≡ E on i386 whenever ThreadLimit = 1; E/LP64 ≡
/// F/i386 at (1, 1); B/LP64 ≡ F/i386 at (1, 2); A/LP64 ≡ F/i386 at (1, 5)
/// and (2, 4); E/armhf ≡ D2/LP64 at every limit, told apart by zero padding
/// and CPU ticks; the other armhf ones listed), is detected as the revision
/// written.
#[test]
fn size_collisions_and_tie_breakers() {
    let collisions: [((usize, usize), &[&str]); 26] = [
        ((3, 2), &["A/lp64", "C0/lp64", "C/lp64"]),
        ((2, 2), &["A/lp64", "C0/lp64", "C/lp64"]),
        ((4, 3), &["A/lp64", "D2/lp64", "E/armhf"]),
        ((1, 3), &["A/lp64", "D2/lp64", "E/armhf"]),
        ((1, 1), &["B/lp64", "D2/lp64", "E/armhf"]),
        ((2, 1), &["B/lp64", "D/lp64"]),
        ((1, 1), &["C0/ilp32", "D/ilp32"]),
        ((1, 2), &["B/ilp32", "C/ilp32"]),
        ((2, 3), &["B/ilp32", "C/ilp32"]),
        ((1, 3), &["B/ilp32", "C0/ilp32", "D/ilp32"]),
        ((2, 4), &["B/ilp32", "D/ilp32"]),
        ((6, 1), &["C0/lp64", "C/lp64", "E/ilp32"]),
        ((1, 1), &["E/lp64", "F/ilp32"]),
        ((2, 4), &["A/lp64", "F/ilp32"]),
        ((1, 5), &["A/lp64", "F/ilp32"]),
        // armhf (derived sizes) against the others.
        ((1, 1), &["A/lp64", "D2/armhf"]),
        ((1, 1), &["C0/armhf", "C/armhf", "D2/ilp32"]),
        ((1, 2), &["B/armhf", "D2/ilp32"]),
        ((1, 2), &["E/lp64", "F/armhf"]),
        ((1, 3), &["A/armhf", "C/ilp32"]),
        ((1, 4), &["A/armhf", "C0/ilp32", "D/ilp32"]),
        ((1, 4), &["B/lp64", "F/armhf"]),
        ((2, 1), &["B/armhf", "C0/ilp32"]),
        ((2, 4), &["A/armhf", "C0/ilp32"]),
        ((3, 1), &["B/armhf", "C/ilp32"]),
        ((5, 4), &["C0/armhf", "C/armhf"]),
    ];
    for ((sl, tl), set) in collisions {
        let any = all_layouts()
            .into_iter()
            .find(|l| short(l) == set[0])
            .unwrap();
        assert_eq!(same_size(&any, sl, tl), set, "({sl}, {tl})");
    }
    for l in [
        layout(Revision::G, Abi::Lp64),
        layout(Revision::H, Abi::Ilp32),
    ] {
        for (sl, tl) in [(1, 1), (7, 3), (20, 25)] {
            assert_eq!(same_size(&l, sl, tl).len(), 2, "G ≡ H");
        }
    }

    let grid = [
        (3, 2),
        (2, 2),
        (4, 3),
        (1, 1),
        (2, 1),
        (1, 2),
        (2, 3),
        (1, 3),
        (2, 4),
        (6, 1),
        (7, 1),
        (1, 5),
        (1, 4),
        (3, 1),
    ];
    let mut settled = 0;
    for (sl, tl) in grid {
        for l in all_layouts() {
            for generation in [0, 1] {
                let sc = Scenario::with_generation(l, sl, tl, generation);
                let ctx = format!("{} at ({sl}, {tl}) generation {generation}", short(&l));
                let got = detected(&sc.builder, &Hints::default());
                if l.revision == Revision::G && sl == 1 {
                    let h = layout(Revision::H, l.abi);
                    assert_eq!(got, Ok(h), "{ctx}");
                    let sb = Scoreboard::from_bytes(
                        sc.builder.area().to_vec(),
                        Form::Bare,
                        &Hints::default(),
                    )
                    .unwrap();
                    let (p, w) = (&sc.processes[0], sb.process(0));
                    assert_eq!(
                        (w.pid, w.generation, w.wait_io),
                        (p.pid, p.generation, Some(0))
                    );
                    assert_eq!(sb.worker(0, 0).client(), cut(&sc.workers[0][0].client, 64));
                    continue;
                }
                if l.revision == Revision::C0 && l.abi != Abi::Ilp32 && generation == 0 {
                    let err = got.expect_err(&ctx);
                    let abi = l.abi.name();
                    assert!(
                        err.contains(&format!("2.4.0/{abi}, 2.4.1-2.4.16/{abi}")),
                        "{ctx}: {err}"
                    );
                    continue;
                }
                assert_eq!(got, Ok(l), "{ctx}");
                if same_size(&l, sl, tl).len() > 1 {
                    settled += 1;
                }
                if generation == 1 {
                    assert_round_trip(&sc);
                }
            }
        }
    }
    assert!(settled > 40, "only {settled} collisions exercised");
}

/// 2.4.36–2.4.62 with several process slots in use: the 36-byte process
/// stride is recognised although the size is H's.
#[test]
fn g_with_several_processes_is_g_not_h() {
    for abi in [Abi::Lp64, Abi::Ilp32] {
        let g = layout(Revision::G, abi);
        let h = layout(Revision::H, abi);
        // Event MPM as Debian configures it (worker pid = process pid), and
        // prefork (worker pids 0).
        for (sl, tl) in [(4, 8), (16, 25), (5, 1), (150, 1)] {
            let sc = Scenario::new(g, sl, tl);
            assert!(sc.processes.iter().filter(|p| p.pid != 0).count() >= 3);
            if tl > 1 {
                assert!(sc.workers[1].iter().all(|w| w.pid == sc.processes[1].pid));
            } else {
                assert!(sc.workers.iter().flatten().all(|w| w.pid == 0));
            }
            assert_round_trip(&sc);
            // Read with H's stride, slot 1 would be garbage.
            let forced = Scoreboard::from_bytes(
                sc.builder.area().to_vec(),
                Form::Bare,
                &spec(Revision::H, Some(abi)),
            )
            .unwrap();
            assert_eq!(*forced.layout(), h);
            assert_ne!(forced.process(1).pid, sc.processes[1].pid);

            let sc = Scenario::new(h, sl, tl);
            assert_round_trip(&sc);
        }
    }
}

/// A G segment where only slot 0 was ever used reads as H, with the same
/// values.
#[test]
fn g_with_only_slot_zero_reads_as_h() {
    let g = layout(Revision::G, Abi::Lp64);
    let full = Scenario::new(g, 4, 8);
    let mut b = SegmentBuilder::new(g, 4, 8);
    b.global(full.generation, RESTART);
    b.process(0, &full.processes[0]);
    for (j, w) in full.workers[0].iter().enumerate() {
        b.worker(0, j, w);
    }
    let sb = Scoreboard::from_bytes(b.posix(), Form::Auto, &Hints::default()).unwrap();
    assert_eq!(sb.layout().revision, Revision::H);
    assert_eq!(sb.process(0).pid, full.processes[0].pid);
    assert_eq!(
        sb.worker(0, 3).request(),
        cut(&full.workers[0][3].request, 64)
    );
    // A version hint settles it.
    let hints = Hints {
        layout: None,
        version: Some(HttpdVersion::new(2, 4, 62)),
    };
    let sb = Scoreboard::from_bytes(b.posix(), Form::Auto, &hints).unwrap();
    assert_eq!(*sb.layout(), g);
}

/// 2.4.0 and 2.4.1–2.4.16 always have the same size (LP64).
#[test]
fn c0_and_c() {
    let c0 = layout(Revision::C0, Abi::Lp64);
    let c = layout(Revision::C, Abi::Lp64);
    // C0 after a restart: non-zero bytes at 12 rule C out.
    assert_round_trip(&Scenario::with_generation(c0, 5, 4, 1));
    // C with generation 2 (what C0's sb_type looks like) and its processes
    // in generation 2: C0 would see processes newer than the server.
    let sc = Scenario::with_generation(c, 5, 4, 2);
    assert_round_trip(&sc);
    // A fresh C0 is byte-identical to a C with generation 2 and only
    // generation-0 processes: refused, and settled by a version or --layout.
    let sc = Scenario::with_generation(c0, 5, 4, 0);
    let bytes = sc.builder.posix();
    match Scoreboard::from_bytes(bytes.clone(), Form::Auto, &Hints::default()) {
        Err(Error::AmbiguousLayout { size, candidates }) => {
            assert_eq!(size, bytes.len() - 8);
            assert_eq!(candidates, "2.4.0/lp64, 2.4.1-2.4.16/lp64");
        }
        other => panic!(
            "expected AmbiguousLayout, got {:?}",
            other.map(|s| *s.layout())
        ),
    }
    let version = |v| Hints {
        layout: None,
        version: Some(v),
    };
    let sb = Scoreboard::from_bytes(
        bytes.clone(),
        Form::Auto,
        &version(HttpdVersion::new(2, 4, 0)),
    )
    .unwrap();
    assert_eq!(*sb.layout(), c0);
    assert_decoded(&sb, &sc);
    assert_rules(&sb, &sc);
    let sb = Scoreboard::from_bytes(
        bytes.clone(),
        Form::Auto,
        &version(HttpdVersion::new(2, 4, 10)),
    )
    .unwrap();
    assert_eq!(*sb.layout(), c);
    assert_eq!(sb.global().running_generation, 2);
    let sb = Scoreboard::from_bytes(bytes, Form::Auto, &spec(Revision::C0, None)).unwrap();
    assert_eq!(*sb.layout(), c0);
}

#[test]
fn i386_g_segment() {
    let g = layout(Revision::G, Abi::Ilp32);
    let sc = Scenario::new(g, 6, 10);
    // 40 + 40·SL + 312·SL·TL: rows padded to 8, elements 308 apart.
    assert_eq!(sc.builder.area().len(), 40 + 40 * 6 + 312 * 60);
    assert_round_trip(&sc);
    let sb = Scoreboard::from_bytes(sc.builder.posix(), Form::Auto, &Hints::default()).unwrap();
    assert_eq!(sb.layout().abi, Abi::Ilp32);
    // The 4-byte clock_t and unsigned long kept only the low half.
    let w = &sc.workers[2][2];
    assert!(w.access_count > u64::from(u32::MAX));
    assert_eq!(sb.worker(2, 2).access_count(), w.access_count & 0xffff_ffff);
    assert_eq!(sb.worker(2, 2).bytes_served(), w.bytes_served);
}

#[test]
fn unknown_size_is_refused() {
    let l = layout(Revision::H, Abi::Lp64);
    let sc = Scenario::new(l, 4, 8);
    let mut area = sc.builder.area().to_vec();
    area.push(0);
    let expected =
        "segment size 10969 matches no known scoreboard layout (ServerLimit 4, ThreadLimit 8)";
    assert_eq!(area.len(), 10969);
    for form in [Form::Bare, Form::Auto] {
        match Scoreboard::from_bytes(area.clone(), form, &Hints::default()) {
            Err(e @ Error::UnknownLayout { .. }) => {
                assert!(matches!(
                    e,
                    Error::UnknownLayout {
                        size: 10969,
                        server_limit: 4,
                        thread_limit: 8
                    }
                ));
                assert_eq!(e.to_string(), expected);
            }
            other => panic!("{form:?}: {:?}", other.map(|s| *s.layout())),
        }
    }
    // POSIX form whose header agrees with the (odd) length.
    let mut posix = sc.builder.posix();
    posix.push(0);
    let len = posix.len() as u64;
    posix[..8].copy_from_slice(&len.to_le_bytes());
    for form in [Form::Header, Form::Auto] {
        let err = Scoreboard::from_bytes(posix.clone(), form, &Hints::default())
            .err()
            .expect("refused");
        assert_eq!(err.to_string(), expected);
    }
}

#[test]
fn layout_forcing() {
    let h = layout(Revision::H, Abi::Lp64);
    let g = layout(Revision::G, Abi::Lp64);
    let sc = Scenario::new(h, 4, 8);
    let bytes = sc.builder.posix();
    let force = |s: &str| Hints {
        layout: Some(s.parse().unwrap()),
        version: None,
    };
    for s in ["2.4.71", "2.4.63+/lp64", "H", "2.4.65/x86_64"] {
        let sb = Scoreboard::from_bytes(bytes.clone(), Form::Auto, &force(s)).unwrap();
        assert_eq!(*sb.layout(), h, "{s}");
        assert_decoded(&sb, &sc);
    }
    // Forcing is obeyed even against the tie-breakers.
    let sb = Scoreboard::from_bytes(bytes.clone(), Form::Auto, &force("2.4.36-2.4.62")).unwrap();
    assert_eq!(*sb.layout(), g);
    // And a G segment forced to H (same size) decodes with H's stride.
    let sbg = Scenario::new(g, 4, 8);
    let sb = Scoreboard::from_bytes(sbg.builder.posix(), Form::Auto, &force("2.4.71")).unwrap();
    assert_eq!(*sb.layout(), h);

    // Mismatches name the layout and the size it expects.
    let cases = [
        ("2.4.20", "2.4.19-2.4.34", 24 + 40 * 4 + 264 * 32),
        ("2.4.71/ilp32", "2.4.63+", 40 + 40 * 4 + 312 * 32),
        ("2.2.34", "2.2", 32 + 16 * 4 + 264 * 32),
    ];
    for (s, name, expected) in cases {
        let err = Scoreboard::from_bytes(bytes.clone(), Form::Auto, &force(s))
            .err()
            .unwrap_or_else(|| panic!("{s} accepted"));
        assert!(
            matches!(err, Error::LayoutMismatch { expected: e, size: 10968, .. } if e == expected),
            "{s}: {err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "segment size 10968 does not fit layout {name} (expects {expected} bytes for ServerLimit 4, ThreadLimit 8)"
            )
        );
    }
    // Forcing the revision alone lets detection pick the ABI.
    let i = Scenario::new(layout(Revision::E, Abi::Ilp32), 3, 5);
    let sb =
        Scoreboard::from_bytes(i.builder.area().to_vec(), Form::Bare, &force("2.4.30")).unwrap();
    assert_eq!(*sb.layout(), layout(Revision::E, Abi::Ilp32));
    assert_decoded(&sb, &i);
}

/// Strings written without their NUL (all the field's bytes used) end at
/// the field's end; bytes are kept as they are, UTF-8 or not.
#[test]
fn strings_without_nul_and_invalid_utf8() {
    for l in all_layouts() {
        let t = traits(&l);
        let (sl, tl) = (2, 3);
        let mut b = busy_server(l, sl, tl);
        let w = l.worker;
        let mut fields = vec![(w.client, 32), (w.request, 64), (w.vhost, 32)];
        if t.protocol {
            fields.push((w.protocol.unwrap(), 16));
        }
        if t.client64 {
            fields.push((w.client64.unwrap(), 64));
        }
        // The last worker slot: its last field ends the segment.
        let at = b.worker_offset(sl - 1, tl - 1);
        for (k, (f, width)) in fields.iter().enumerate() {
            assert_eq!(f.width, *width, "{}", l.name());
            let fill: Vec<u8> = (0..*width).map(|x| 0x80 + ((x + k) % 0x7f) as u8).collect();
            b.area_mut()[at + f.offset..at + f.offset + width].copy_from_slice(&fill);
        }
        let sb = Scoreboard::from_bytes(
            b.area().to_vec(),
            Form::Bare,
            &spec(l.revision, Some(l.abi)),
        )
        .unwrap();
        let d = sb.worker(sl - 1, tl - 1);
        let full = |k: usize, width: usize| -> Vec<u8> {
            (0..width).map(|x| 0x80 + ((x + k) % 0x7f) as u8).collect()
        };
        assert!(std::str::from_utf8(d.request()).is_err());
        assert_eq!(d.request(), full(1, 64), "{}", l.name());
        assert_eq!(d.vhost(), full(2, 32), "{}", l.name());
        if t.protocol {
            assert_eq!(d.protocol(), full(3, 16), "{}", l.name());
        }
        if t.client64 {
            assert_eq!(d.client(), full(4, 64), "{}", l.name());
        } else {
            assert_eq!(d.client(), full(0, 32), "{}", l.name());
        }
        // The neighbours are untouched.
        let before = sb.worker(sl - 1, tl - 2);
        assert_eq!(before.thread_num() as usize, sl * tl - 2);
    }
}

/// The benchmark and fuzz-seed server is what it claims to be.
#[test]
fn busy_server_shape() {
    let h = layout(Revision::H, Abi::Lp64);
    for (sl, tl) in [(1, 1), (16, 64), (300, 1)] {
        let b = busy_server(h, sl, tl);
        let sb = Scoreboard::from_bytes(b.posix(), Form::Auto, &Hints::default()).unwrap();
        assert_eq!(*sb.layout(), h);
        let mut in_flight = 0;
        let mut counts = [0usize; 11];
        for (p, w) in sb.workers() {
            assert_eq!(p.pid, 1000 + p.slot as i32);
            assert_eq!(w.thread_num() as usize, p.slot * tl + w.thread_slot);
            assert_eq!(w.pid(), p.pid);
            assert!(!w.vhost().is_empty() && !w.request().is_empty());
            counts[usize::from(w.status())] += 1;
            in_flight += usize::from(w.in_flight());
            assert_eq!(w.in_flight(), w.status() == status::BUSY_WRITE);
        }
        let n = sl * tl;
        let (busy_w, busy_k) = (
            (0..n).filter(|k| k % 8 == 1 || k % 8 == 4).count(),
            (0..n).filter(|k| k % 8 == 6).count(),
        );
        assert_eq!(counts[usize::from(status::BUSY_WRITE)], busy_w);
        assert_eq!(counts[usize::from(status::BUSY_KEEPALIVE)], busy_k);
        assert_eq!(counts[usize::from(status::READY)], n - busy_w - busy_k);
        assert_eq!(in_flight, busy_w);
        let s = rules::summarize(&sb, Rules::Httpd2458, MpmLimits::default());
        assert_eq!((s.busy, s.idle), (busy_w + busy_k, n - busy_w - busy_k));
        assert_eq!(s.processes, sl);
    }
}

/// No two fields of a record overlap, and every field fits its record: a
/// typo in an offset table would show here even though the encoder and the
/// decoder share the tables.
#[test]
fn offset_tables_have_no_overlaps() {
    for l in all_layouts() {
        let w = l.worker;
        let mut fields = vec![
            ("tid", w.tid),
            ("thread_num", w.thread_num),
            ("status", w.status),
            ("conn_count", w.conn_count),
            ("conn_bytes", w.conn_bytes),
            ("access_count", w.access_count),
            ("bytes_served", w.bytes_served),
            ("my_access_count", w.my_access_count),
            ("my_bytes_served", w.my_bytes_served),
            ("start_time", w.start_time),
            ("stop_time", w.stop_time),
            ("last_used", w.last_used),
            ("client", w.client),
            ("request", w.request),
            ("vhost", w.vhost),
        ];
        let optional = [
            ("pid", w.pid),
            ("generation", w.generation),
            ("protocol", w.protocol),
            ("duration", w.duration),
            ("client64", w.client64),
        ];
        fields.extend(optional.into_iter().filter_map(|(n, f)| Some((n, f?))));
        fields.push((
            "times",
            apache_scoreboard::scoreboard::layout::Field {
                offset: w.times.offset,
                width: 4 * w.times.width,
            },
        ));
        fields.sort_by_key(|(_, f)| f.offset);
        assert_eq!(fields[0].1.offset, 0, "{}", l.name());
        for pair in fields.windows(2) {
            let ((a, fa), (b, fb)) = (pair[0], pair[1]);
            assert!(
                fa.offset + fa.width <= fb.offset,
                "{}: {a} overlaps {b}",
                l.name()
            );
            // Only alignment padding between fields.
            assert!(
                fb.offset - (fa.offset + fa.width) < 8,
                "{}: gap after {a}",
                l.name()
            );
        }
        let (last, fl) = fields[fields.len() - 1];
        assert!(fl.offset + fl.width <= w.size, "{}: {last}", l.name());
        assert!(w.size - (fl.offset + fl.width) < 8, "{}: tail", l.name());
    }
}

/// The encoder writes real segments: re-encoding what the decoder reads
/// from the real Debian captures (tests/fixtures: 2.4.71 on x86_64 and
/// arm64, 2.4.68 on armhf and i386) gives the capture
/// back byte for byte, except where httpd leaves bytes the values do not
/// describe: leftovers after a string's NUL, the deprecated `client[32]`
/// that 2.4.36+ no longer writes, and the pid/generation of worker slots
/// that never started (0 in the capture, the process's in the decoded
/// effective values).
#[test]
fn reencodes_real_captures() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut checked = 0;
    for entry in std::fs::read_dir(&root).unwrap().flatten() {
        let bin = entry.path().join("scoreboard.bin");
        let Ok(original) = std::fs::read(&bin) else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        let prefork = name.contains("prefork");
        let sb = Scoreboard::from_bytes(original.clone(), Form::Auto, &Hints::default()).unwrap();
        let l = *sb.layout();
        // The cross-architecture captures name their architecture.
        let abi = if name.contains("-armhf-") {
            Abi::Armhf
        } else if name.contains("-i386-") {
            Abi::Ilp32
        } else {
            Abi::Lp64
        };
        assert_eq!(l, layout(Revision::H, abi), "{name}");
        let g = sb.global();
        let (sl, tl) = (g.server_limit, g.thread_limit);
        let mut b = SegmentBuilder::new(l, sl, tl);
        b.global(g.running_generation, g.restart_time);
        b.global_times(g.times.unwrap());
        for p in sb.processes() {
            b.process(
                p.slot,
                &ProcessValues {
                    pid: p.pid,
                    generation: p.generation,
                    quiescing: p.quiescing,
                    not_accepting: p.not_accepting,
                    connections: p.connections,
                    write_completion: p.write_completion,
                    lingering_close: p.lingering_close,
                    keep_alive: p.keep_alive,
                    suspended: p.suspended,
                    wait_io: p.wait_io.unwrap(),
                },
            );
            for j in 0..tl {
                let w = sb.worker_of(&p, j);
                b.worker(
                    p.slot,
                    j,
                    &WorkerValues {
                        tid: w.tid(),
                        thread_num: w.thread_num(),
                        pid: if prefork { 0 } else { w.pid() },
                        generation: if prefork { 0 } else { w.generation() },
                        status: w.status(),
                        conn_count: w.conn_count(),
                        conn_bytes: w.conn_bytes(),
                        access_count: w.access_count(),
                        bytes_served: w.bytes_served(),
                        my_access_count: w.my_access_count(),
                        my_bytes_served: w.my_bytes_served(),
                        start_time: w.start_time(),
                        stop_time: w.stop_time(),
                        last_used: w.last_used(),
                        times: w.times(),
                        duration: w.duration().unwrap(),
                        client: w.client().to_vec(),
                        request: w.request().to_vec(),
                        vhost: w.vhost().to_vec(),
                        protocol: w.protocol().to_vec(),
                    },
                );
            }
        }
        let rebuilt = b.posix();
        assert_eq!(rebuilt.len(), original.len(), "{name}");
        let wf = l.worker;
        let first_worker = b.worker_offset(0, 0) + 8;
        for (at, (x, y)) in original.iter().zip(&rebuilt).enumerate() {
            if x == y {
                continue;
            }
            assert!(
                at >= first_worker,
                "{name}: byte {at} before the workers differs"
            );
            let rel = at - first_worker;
            // Rows are tl * worker_region() apart (i386 pads each row).
            let row = tl * l.worker_region();
            let (i, j) = (rel / row, rel % row / wf.size);
            let off = rel % row % wf.size;
            assert!(j < tl, "{name}: row padding of row {i} differs");
            let rec = first_worker + b.worker_offset(i, j) - b.worker_offset(0, 0);
            let within = |f: apache_scoreboard::scoreboard::layout::Field| {
                (f.offset..f.offset + f.width).contains(&off)
            };
            let nul_at = |f: apache_scoreboard::scoreboard::layout::Field| {
                original[rec + f.offset..rec + f.width + f.offset]
                    .iter()
                    .position(|&c| c == 0)
                    .map_or(f.offset + f.width, |n| f.offset + n)
            };
            let zero_in_capture = |f: apache_scoreboard::scoreboard::layout::Field| {
                original[rec + f.offset..rec + f.offset + f.width]
                    .iter()
                    .all(|&c| c == 0)
            };
            let strings = [
                Some(wf.client),
                Some(wf.request),
                Some(wf.vhost),
                wf.protocol,
                wf.client64,
            ];
            let explained = strings
                .into_iter()
                .flatten()
                .any(|f| within(f) && off > nul_at(f))
                || (within(wf.client) && zero_in_capture(wf.client))
                || [wf.pid, wf.generation]
                    .into_iter()
                    .flatten()
                    .any(|f| within(f) && zero_in_capture(f));
            assert!(
                explained,
                "{name}: worker ({i}, {j}) byte {off} differs: {x:#x} in the capture, {y:#x} re-encoded"
            );
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} captures found");
}

/// The encoder puts every field where docs/scoreboard-format.md ("Field offsets") says, typed out
/// here independently of the crate's tables: distinct values written
/// through the encoder are found at the reference's offsets.
#[test]
fn fields_at_reference_offsets() {
    use Revision::*;
    let w = WorkerValues {
        tid: 0x0102_0304_0506_0708,
        thread_num: 0x1122_3344,
        pid: 0x0033_4455,
        generation: 0x0044_5566,
        status: 7,
        conn_count: 0xbeef,
        conn_bytes: 0x0a0b_0c0d_0e0f_1011,
        access_count: 0x1213_1415_1617_1819,
        bytes_served: 0x2021_2223_2425_2627,
        my_access_count: 0x2829_2a2b_2c2d_2e2f,
        my_bytes_served: 0x3031_3233_3435_3637,
        start_time: 0x3839_3a3b_3c3d_3e3f,
        stop_time: 0x4041_4243_4445_4647,
        last_used: 0x4849_4a4b_4c4d_4e4f,
        times: Tms {
            utime: 0x5051_5253_5455_5657,
            stime: 0x5859_5a5b_5c5d_5e5f,
            cutime: 0x6061_6263_6465_6667,
            cstime: 0x6869_6a6b_6c6d_6e6f,
        },
        duration: 0x7071_7273_7475_7677,
        client: b"the-client".to_vec(),
        request: b"the request".to_vec(),
        vhost: b"the-vhost".to_vec(),
        protocol: b"the-proto".to_vec(),
    };
    let p = ProcessValues {
        pid: 0x0012_3456,
        generation: 0x0023_4567,
        quiescing: 2,
        not_accepting: 1,
        connections: 0x1111_1111,
        write_completion: 0x2222_2222,
        lingering_close: 0x3333_3333,
        keep_alive: 0x4444_4444,
        suspended: 0x5555_5555,
        wait_io: 0x6666_6666,
    };
    let raw = |area: &[u8], at: usize, width: usize| {
        let mut le = [0u8; 8];
        le[..width].copy_from_slice(&area[at..at + width]);
        u64::from_le_bytes(le)
    };
    for l in all_layouts() {
        let t = traits(&l);
        let (long, off) = (t.long as usize, t.off as usize);
        let name = l.name();
        let (sl, tl) = (3, 2);
        let mut b = SegmentBuilder::new(l, sl, tl);
        b.global(0x0012_3456, 0x7a7b_7c7d_7e7f_8081);
        b.global_times(w.times);
        b.process(1, &p);
        b.worker(1, 1, &w);
        let area = b.area();
        let (g, pr, wr, ps, ws) = reference_sizes(&l);
        assert_eq!(area.len(), g + pr * sl + wr * sl * tl, "{name}");

        // global_score
        assert_eq!(raw(area, 0, 4), 3, "{name}");
        assert_eq!(raw(area, 4, 4), 2, "{name}");
        let old = matches!(l.revision, A | B | C0);
        if old {
            assert_eq!(raw(area, 8, 4), 2, "{name} sb_type");
        }
        assert_eq!(
            raw(area, if old { 12 } else { 8 }, 4),
            0x0012_3456,
            "{name}"
        );
        let cg = c_rules::global(l.revision, l.abi);
        let restart = if armhf(l.abi) {
            cg.at("restart_time")
        } else if old || l.abi == Abi::Lp64 {
            16
        } else {
            12
        };
        assert_eq!(raw(area, restart, 8), 0x7a7b_7c7d_7e7f_8081, "{name}");
        if t.global_times {
            let at = match l.abi {
                Abi::Armhf => cg.at("times"),
                Abi::Lp64 => 24,
                _ => 20,
            };
            for (k, v) in [w.times.utime, w.times.stime, w.times.cutime, w.times.cstime]
                .into_iter()
                .enumerate()
            {
                assert_eq!(raw(area, at + k * long, long), low(v, t.long), "{name}");
            }
        }

        // process_score[1]
        let at = g + ps;
        assert_eq!(raw(area, at, 4), 0x0012_3456, "{name}");
        assert_eq!(raw(area, at + 4, 4), 0x0023_4567, "{name}");
        if matches!(l.revision, A | B) {
            assert_eq!(raw(area, at + 12, 4), 2, "{name} quiescing");
        } else {
            assert_eq!(raw(area, at + 8, 1), 2, "{name} quiescing");
            assert_eq!(raw(area, at + 9, 1), 1, "{name} not_accepting");
            for (k, v) in [
                0x1111_1111,
                0x2222_2222,
                0x3333_3333,
                0x4444_4444,
                0x5555_5555,
            ]
            .into_iter()
            .enumerate()
            {
                assert_eq!(raw(area, at + 12 + 4 * k, 4), v, "{name} counter {k}");
            }
            // bucket (2.4.17+) stays 0.
            assert_eq!(raw(area, at + 32, 4), 0, "{name} bucket");
        }
        if t.wait_io {
            assert_eq!(raw(area, at + 36, 4), 0x6666_6666, "{name} wait_io");
        }

        // worker_score[1][1]
        let at = g + pr * sl + wr * tl + ws;
        let offsets = reference_worker_offsets(&l);
        let [tid, tn, st, ac, bs, mac, mbs, cb, cc, start, stop, times, lu, client, request, vhost] =
            offsets;
        let num = [
            ("tid", tid, long, w.tid),
            ("thread_num", tn, 4, w.thread_num as u64),
            ("status", st, 1, u64::from(w.status)),
            ("access_count", ac, long, w.access_count),
            ("bytes_served", bs, off, w.bytes_served),
            ("my_access_count", mac, long, w.my_access_count),
            ("my_bytes_served", mbs, off, w.my_bytes_served),
            ("conn_bytes", cb, off, w.conn_bytes),
            ("conn_count", cc, 2, u64::from(w.conn_count)),
            ("start_time", start, 8, w.start_time as u64),
            ("stop_time", stop, 8, w.stop_time as u64),
            ("utime", times, long, w.times.utime),
            ("stime", times + long, long, w.times.stime),
            ("cutime", times + 2 * long, long, w.times.cutime),
            ("cstime", times + 3 * long, long, w.times.cstime),
            ("last_used", lu, 8, w.last_used as u64),
        ];
        for (field, o, width, v) in num {
            assert_eq!(
                raw(area, at + o, width),
                low(v, width as u32),
                "{name} worker.{field} at {o}"
            );
        }
        let text = |o: usize, size: usize| &area[at + o..at + o + size];
        let c_string = |s: &[u8], size: usize| {
            let mut v = s.to_vec();
            v.resize(size, 0);
            v
        };
        assert_eq!(text(client, 32), c_string(&w.client, 32), "{name}");
        assert_eq!(text(request, 64), c_string(&w.request, 64), "{name}");
        assert_eq!(text(vhost, 32), c_string(&w.vhost, 32), "{name}");
        if l.revision == B {
            let (pid, generation) = if l.abi == Abi::Lp64 {
                (16, 20)
            } else {
                (8, 12) // i386 and armhf
            };
            assert_eq!(raw(area, at + pid, 4), 0x0033_4455, "{name}");
            assert_eq!(raw(area, at + generation, 4), 0x0044_5566, "{name}");
        } else if l.revision != A {
            let (pid, generation) = if l.abi == Abi::Lp64 {
                (12, 16)
            } else {
                (8, 12) // i386 and armhf
            };
            assert_eq!(raw(area, at + pid, 4), 0x0033_4455, "{name}");
            assert_eq!(raw(area, at + generation, 4), 0x0044_5566, "{name}");
        }
        // The 2.4 appendix: protocol, duration, client64.
        let end = match l.abi {
            Abi::Lp64 => 248,
            Abi::Armhf => c_rules::worker(l.revision, l.abi)
                .get("protocol")
                .unwrap_or(232),
            _ => 220,
        };
        if t.protocol {
            assert_eq!(text(end, 16), c_string(&w.protocol, 16), "{name}");
        }
        if t.duration {
            assert_eq!(raw(area, at + end + 16, 8), w.duration as u64, "{name}");
        }
        if t.client64 {
            assert_eq!(text(end + 24, 64), c_string(&w.client, 64), "{name}");
        }
    }
}

/// Worker offsets (docs/scoreboard-format.md, "Field offsets"; armhf: by the C rules): tid,
/// thread_num, status, access_count, bytes_served, my_access_count,
/// my_bytes_served, conn_bytes, conn_count, start_time, stop_time, times,
/// last_used, client, request, vhost.
fn reference_worker_offsets(l: &Layout) -> [usize; 16] {
    use Revision::*;
    if armhf(l.abi) {
        return c_rules_worker_offsets(l);
    }
    #[rustfmt::skip]
    let offsets: [usize; 16] = match (l.revision, l.abi) {
        (A, Abi::Lp64) => [8, 0, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 120, 128, 160, 224],
        (A, Abi::Ilp32) => [4, 0, 8, 12, 16, 24, 28, 36, 44, 48, 56, 64, 80, 88, 120, 184],
        (A, Abi::Ilp32Apr09) => [4, 0, 8, 12, 16, 20, 24, 28, 32, 36, 44, 52, 68, 76, 108, 172],
        (B, Abi::Lp64) => [8, 0, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 128, 136, 168, 232],
        (B, _) => [4, 0, 16, 20, 24, 32, 36, 44, 52, 56, 64, 72, 88, 96, 128, 192],
        (_, Abi::Lp64) => [0, 8, 20, 32, 40, 48, 56, 24, 22, 64, 72, 88, 80, 120, 152, 216],
        (_, _) => [0, 4, 16, 28, 32, 40, 44, 20, 18, 52, 60, 76, 68, 92, 124, 188],
    };
    offsets
}

const WORKER_MEMBERS: [&str; 16] = [
    "tid",
    "thread_num",
    "status",
    "access_count",
    "bytes_served",
    "my_access_count",
    "my_bytes_served",
    "conn_bytes",
    "conn_count",
    "start_time",
    "stop_time",
    "times",
    "last_used",
    "client",
    "request",
    "vhost",
];

fn c_rules_worker_offsets(l: &Layout) -> [usize; 16] {
    let w = c_rules::worker(l.revision, l.abi);
    WORKER_MEMBERS.map(|m| w.at(m))
}

/// The C rules the armhf layouts are derived from reproduce every table the
/// reference measured on LP64 and i386 (sizes, regions, strides, worker
/// offsets) ...
#[test]
fn c_rules_reproduce_the_measured_tables() {
    for l in all_layouts().into_iter().filter(|l| !armhf(l.abi)) {
        let name = l.name();
        assert_eq!(c_rules_sizes(&l), reference_sizes(&l), "{name}");
        assert_eq!(
            c_rules_worker_offsets(&l),
            reference_worker_offsets(&l),
            "{name}"
        );
    }
}

/// ... and the real armhf 2.4.68 capture's offsets, located in its bytes by
/// known values (meta.json `layout`) ...
#[test]
fn c_rules_reproduce_the_armhf_capture() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/2.4.68-armhf-event-graceful/meta.json");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("meta.json")).expect("json");
    let measured = &meta["layout"];
    let (g, p, w) = (
        c_rules::global(Revision::H, Abi::Armhf),
        c_rules::process(Revision::H, Abi::Armhf),
        c_rules::worker(Revision::H, Abi::Armhf),
    );
    for (s, key) in [
        (&g, "global_fields"),
        (&p, "process_fields"),
        (&w, "worker_fields"),
    ] {
        let fields = measured[key].as_object().expect("fields");
        assert!(!fields.is_empty());
        for (m, at) in fields {
            assert_eq!(s.get(m), at.as_u64().map(|v| v as usize), "{key}.{m}");
        }
    }
    assert_eq!(measured["geometry"]["global_size"], g.size);
    assert_eq!(measured["geometry"]["process_stride"], p.size);
    assert_eq!(measured["geometry"]["worker_stride"], w.size);
}

/// ... so the crate's tables, armhf's for every revision included, are
/// what the C rules give.
#[test]
fn offset_tables_follow_the_c_rules() {
    for l in all_layouts() {
        let name = l.name();
        let (g, p, w) = (
            c_rules::global(l.revision, l.abi),
            c_rules::process(l.revision, l.abi),
            c_rules::worker(l.revision, l.abi),
        );
        assert_eq!(
            (g.size, p.size, w.size),
            (l.global.size, l.process.size, l.worker.size),
            "{name}"
        );
        let lw = l.worker;
        let ours = [
            lw.tid,
            lw.thread_num,
            lw.status,
            lw.access_count,
            lw.bytes_served,
            lw.my_access_count,
            lw.my_bytes_served,
            lw.conn_bytes,
            lw.conn_count,
            lw.start_time,
            lw.stop_time,
            lw.times,
            lw.last_used,
            lw.client,
            lw.request,
            lw.vhost,
        ]
        .map(|f| f.offset);
        assert_eq!(ours, c_rules_worker_offsets(&l), "{name}");
        let lg = l.global;
        for (s, m, f) in [
            (&g, "running_generation", Some(lg.running_generation)),
            (&g, "restart_time", Some(lg.restart_time)),
            (&g, "times", lg.times),
            (&g, "lb_limit", lg.lb_limit),
            (&g, "sb_type", lg.sb_type),
            (&p, "quiescing", Some(l.process.quiescing)),
            (&p, "not_accepting", l.process.not_accepting),
            (&p, "wait_io", l.process.wait_io),
            (&w, "protocol", lw.protocol),
            (&w, "duration", lw.duration),
            (&w, "client64", lw.client64),
            (&w, "pid", lw.pid),
            (&w, "generation", lw.generation),
        ] {
            assert_eq!(s.get(m), f.map(|f| f.offset), "{name} {m}");
        }
    }
}

/// A real 2.4.71 event segment whose listeners report more waiting-for-I/O
/// connections than connections (snapshot counters, or a torn copy) stays
/// 2.4.63+ and keeps mod_status's counts (5 busy, 3 idle).
#[test]
fn wait_io_above_connections_keeps_the_40_byte_stride() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/event-mixed/scoreboard.bin");
    let mut bytes = std::fs::read(path).expect("fixture");
    // POSIX header 8, global 56, process slots of 40: connections at +12, wait_io at +36.
    for slot in 1..4 {
        let at = 8 + 56 + 40 * slot;
        bytes[at + 12..at + 16].copy_from_slice(&0u32.to_le_bytes());
        bytes[at + 36..at + 40].copy_from_slice(&5u32.to_le_bytes());
    }
    let sb = Scoreboard::from_bytes(bytes, Form::Auto, &Hints::default()).expect("decodes");
    assert_eq!(sb.layout().revision, Revision::H);
    let s =
        apache_scoreboard::scoreboard::rules::summarize(&sb, Rules::Httpd2458, Default::default());
    assert_eq!((s.busy, s.idle), (5, 3));
}

/// httpd 2.2 counts an older generation's READY slots as busy (docs/mod_status-rules.md,
/// "Counting one slot"): the vhost check must count them too, so that its busy total is the
/// busy check's. A 2.2 segment whose second process is of the previous
/// generation, with READY slots on a vhost, read by both checks.
#[test]
fn vhost_totals_follow_the_2_2_busy_rule() {
    use crate::util::{perfdata, run_bin, TempDir};
    for revision in [Revision::A, Revision::B] {
        let l = layout(revision, Abi::Lp64);
        let mut b = SegmentBuilder::new(l, 2, 4);
        b.global(1, RESTART);
        let worker = |pid, generation, status, vhost: &[u8]| WorkerValues {
            pid,
            generation,
            status,
            vhost: vhost.to_vec(),
            start_time: NOW - 5 * SECOND,
            stop_time: NOW - 6 * SECOND,
            last_used: NOW - 5 * SECOND,
            ..WorkerValues::default()
        };
        for (i, (pid, generation)) in [(101, 1), (102, 0)].into_iter().enumerate() {
            b.process(
                i,
                &ProcessValues {
                    pid,
                    generation,
                    ..ProcessValues::default()
                },
            );
            for j in 0..4 {
                let (status, vhost): (u8, &[u8]) = match (i, j) {
                    (0, 0) => (status::BUSY_WRITE, b"a.test:80"),
                    (0, _) => (status::READY, b""),
                    (_, _) => (status::READY, b"old.test:80"),
                };
                b.worker(i, j, &worker(pid, generation, status, vhost));
            }
        }
        let t = TempDir::new("vhost22");
        let path = t.write("sb", &b.posix());
        let at = humantime::format_rfc3339_micros(
            std::time::UNIX_EPOCH + std::time::Duration::from_micros(NOW as u64),
        )
        .to_string();
        let run = |check: &str| {
            let args = [check, "--scoreboard", path.to_str().unwrap(), "--at", &at]
                .map(String::from)
                .into_iter()
                .chain([
                    "--layout".into(),
                    l.name(),
                    "--max-workers".into(),
                    "8".into(),
                ])
                .collect::<Vec<String>>();
            let out = run_bin(&args).stdout;
            (perfdata(&out), out)
        };
        let (busy, busy_out) = run("check_scoreboard_busy");
        let (vhost, vhost_out) = run("check_vhost_saturation");
        assert_eq!(busy["busy"], 5.0, "{busy_out}");
        assert_eq!(vhost["busy"], busy["busy"], "{vhost_out}");
        assert_eq!(vhost["top_vhost_busy"], 4.0, "{vhost_out}");
        assert!(
            vhost_out.starts_with("SCOREBOARD OK - old.test:80 holds 4/8"),
            "{vhost_out}"
        );
    }
}

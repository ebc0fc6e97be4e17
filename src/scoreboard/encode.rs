//! Test support: writes scoreboard segments of any [`Layout`] from the
//! offset tables in [`layout`](super::layout), the same tables the decoder
//! reads with. Used by the integration tests, the benchmarks and the fuzz
//! target's seeds; not part of the supported API.
//!
//! Every field is written little-endian with the width its [`Field`] gives;
//! fields a layout lacks are skipped. Strings are written NUL-terminated and
//! cut to the field width minus one, as httpd's `apr_cpystrn` does (the
//! client also goes into `client64` where the layout has it). To write
//! bytes httpd never would (a string without its NUL, garbage), change
//! [`SegmentBuilder::area_mut`] directly.

use super::decode::{status, Tms};
use super::layout::{
    async_counter, Field, Layout, PROCESS_GENERATION, PROCESS_PID, SERVER_LIMIT, THREAD_LIMIT,
};

/// `SB_SHARED`, the value httpd stores in `global.sb_type` where it exists.
const SB_SHARED: u64 = 2;

/// A plausible fixed `restart_time` (µs since the epoch, in 2026).
pub const DEFAULT_RESTART_TIME: i64 = 1_795_221_993_000_000;

/// Values of one `process_score` slot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessValues {
    pub pid: i32,
    pub generation: i32,
    pub quiescing: u32,
    pub not_accepting: u8,
    pub connections: u32,
    pub write_completion: u32,
    pub lingering_close: u32,
    pub keep_alive: u32,
    pub suspended: u32,
    pub wait_io: u32,
}

/// A value's type in [`WorkerValues`], by the field's kind.
macro_rules! value_type {
    (u8) => { u8 };
    (u16) => { u16 };
    (u64) => { u64 };
    (i32) => { i32 };
    (i64) => { i64 };
    (tms) => { Tms };
    (cstr) => { Vec<u8> };
}

/// Writes one value of `kind` into field `$f` (skipped where the layout
/// lacks it) of the record at `$base`.
macro_rules! put_value {
    ($b:expr, $base:expr, $presence:ident tms, $f:expr, $v:expr) => {
        $b.put_tms($base, $f, &$v)
    };
    ($b:expr, $base:expr, req cstr, $f:expr, $v:expr) => {
        $b.put_str($base, Some($f), &$v)
    };
    ($b:expr, $base:expr, opt cstr, $f:expr, $v:expr) => {
        $b.put_str($base, $f, &$v)
    };
    // A C `int`: its 32 bits, not sign-extended.
    ($b:expr, $base:expr, req i32, $f:expr, $v:expr) => {
        $b.put($base, $f, $v as u32 as u64)
    };
    ($b:expr, $base:expr, opt i32, $f:expr, $v:expr) => {
        $b.put_opt($base, $f, $v as u32 as u64)
    };
    ($b:expr, $base:expr, req $kind:ident, $f:expr, $v:expr) => {
        $b.put($base, $f, $v as value_type!($kind) as u64)
    };
    ($b:expr, $base:expr, opt $kind:ident, $f:expr, $v:expr) => {
        $b.put_opt($base, $f, $v as value_type!($kind) as u64)
    };
}

macro_rules! worker_values {
    (
        values: [$($name:ident: $presence:ident $kind:ident,)*],
        copies: [$($copy:ident: $cpresence:ident $ckind:ident = $from:ident,)*],
    ) => {
        /// Values of one `worker_score` slot (the field list of
        /// [`layout::with_worker_fields`](super::layout)).
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct WorkerValues {
            $(pub $name: value_type!($kind),)*
        }

        impl SegmentBuilder {
            /// Writes `worker[i][j]`: every field the layout has.
            ///
            /// Panics when the slot is out of range.
            pub fn worker(&mut self, i: usize, j: usize, w: &WorkerValues) -> &mut Self {
                assert!(
                    i < self.server_limit && j < self.thread_limit,
                    "worker slot ({i}, {j}) out of range"
                );
                let l = self.layout.worker;
                let base = self.worker_offset(i, j);
                $(put_value!(self, base, $presence $kind, l.$name, w.$name);)*
                $(put_value!(self, base, $cpresence $ckind, l.$copy, w.$from);)*
                self
            }
        }
    };
}

super::layout::with_worker_fields!(worker_values);

/// Builds one scoreboard area of a given layout and limits.
#[derive(Clone, Debug)]
pub struct SegmentBuilder {
    layout: Layout,
    server_limit: usize,
    thread_limit: usize,
    area: Vec<u8>,
}

impl SegmentBuilder {
    /// A zeroed area of the layout's size with the limits written,
    /// `sb_type` = SB_SHARED where the layout has it, running generation 0
    /// and [`DEFAULT_RESTART_TIME`].
    ///
    /// Panics when the limits do not fit a C `int` or the size overflows.
    pub fn new(layout: Layout, server_limit: usize, thread_limit: usize) -> Self {
        Self::with_lb_limit(layout, server_limit, thread_limit, 0)
    }

    /// Like [`new`](Self::new) with a 2.2 lb part of `lb_limit` blocks
    /// (mod_proxy loaded). Panics for a non-zero `lb_limit` on a layout
    /// without one.
    pub fn with_lb_limit(
        layout: Layout,
        server_limit: usize,
        thread_limit: usize,
        lb_limit: usize,
    ) -> Self {
        assert!(
            i32::try_from(server_limit).is_ok() && i32::try_from(thread_limit).is_ok(),
            "limits must fit a C int"
        );
        assert!(
            lb_limit == 0 || layout.global.lb_limit.is_some(),
            "{layout} has no lb part"
        );
        let size = layout
            .expected_size(server_limit, thread_limit, lb_limit)
            .expect("segment size overflows");
        let mut b = SegmentBuilder {
            layout,
            server_limit,
            thread_limit,
            area: vec![0; size],
        };
        b.put(0, SERVER_LIMIT, server_limit as u64);
        b.put(0, THREAD_LIMIT, thread_limit as u64);
        let g = layout.global;
        b.put_opt(0, g.sb_type, SB_SHARED);
        b.put_opt(0, g.lb_limit, lb_limit as u64);
        b.global(0, DEFAULT_RESTART_TIME);
        b
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn server_limit(&self) -> usize {
        self.server_limit
    }

    pub fn thread_limit(&self) -> usize {
        self.thread_limit
    }

    /// `running_generation` and `restart_time` (µs since the epoch).
    pub fn global(&mut self, running_generation: i32, restart_time: i64) -> &mut Self {
        let g = self.layout.global;
        self.put(0, g.running_generation, running_generation as u32 as u64);
        self.put(0, g.restart_time, restart_time as u64);
        self
    }

    /// The parent's `struct tms` (2.4.35+; skipped before).
    pub fn global_times(&mut self, t: Tms) -> &mut Self {
        if let Some(f) = self.layout.global.times {
            self.put_tms(0, f, &t);
        }
        self
    }

    /// Writes process slot `i`. Panics when `i` ≥ ServerLimit.
    pub fn process(&mut self, i: usize, p: &ProcessValues) -> &mut Self {
        assert!(i < self.server_limit, "process slot {i} out of range");
        let l = self.layout.process;
        let base = self.layout.process_offset(i);
        self.put(base, PROCESS_PID, p.pid as u32 as u64);
        self.put(base, PROCESS_GENERATION, p.generation as u32 as u64);
        self.put(base, l.quiescing, u64::from(p.quiescing));
        self.put_opt(base, l.not_accepting, u64::from(p.not_accepting));
        if let Some(first) = l.async_counters {
            let counters = [
                p.connections,
                p.write_completion,
                p.lingering_close,
                p.keep_alive,
                p.suspended,
            ];
            for (k, v) in counters.into_iter().enumerate() {
                self.put(base, async_counter(first, k), u64::from(v));
            }
        }
        self.put_opt(base, l.wait_io, u64::from(p.wait_io));
        self
    }

    /// Offset of `process[i]` in the area.
    pub fn process_offset(&self, i: usize) -> usize {
        self.layout.process_offset(i)
    }

    /// Offset of `worker[i][j]` in the area.
    pub fn worker_offset(&self, i: usize, j: usize) -> usize {
        self.layout
            .worker_offset(self.server_limit, self.thread_limit, i, j)
    }

    /// The bare scoreboard area, as a SysV segment holds it.
    pub fn area(&self) -> &[u8] {
        &self.area
    }

    /// The area for writing what httpd never would.
    pub fn area_mut(&mut self) -> &mut [u8] {
        &mut self.area
    }

    /// The POSIX / mmap form: an 8-byte little-endian size header (the
    /// total length, header included) followed by the area.
    pub fn posix(&self) -> Vec<u8> {
        let total = self.area.len() + 8;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&(total as u64).to_le_bytes());
        out.extend_from_slice(&self.area);
        out
    }

    /// Writes the low `f.width` bytes of `value` at `base + f.offset`.
    fn put(&mut self, base: usize, f: Field, value: u64) {
        let at = base + f.offset;
        self.area[at..at + f.width].copy_from_slice(&value.to_le_bytes()[..f.width]);
    }

    fn put_opt(&mut self, base: usize, f: Option<Field>, value: u64) {
        if let Some(f) = f {
            self.put(base, f, value);
        }
    }

    /// `struct tms`: four `clock_t` of `f.width` bytes from `f.offset`.
    fn put_tms(&mut self, base: usize, f: Field, t: &Tms) {
        for (k, v) in [t.utime, t.stime, t.cutime, t.cstime]
            .into_iter()
            .enumerate()
        {
            let clock = Field {
                offset: f.offset + k * f.width,
                width: f.width,
            };
            self.put(base, clock, v);
        }
    }

    /// A C string: at most `width - 1` bytes, the rest of the array NUL.
    fn put_str(&mut self, base: usize, f: Option<Field>, s: &[u8]) {
        let Some(f) = f else { return };
        let at = base + f.offset;
        let field = &mut self.area[at..at + f.width];
        field.fill(0);
        let n = s.len().min(f.width.saturating_sub(1));
        field[..n].copy_from_slice(&s[..n]);
    }
}

/// A realistic running server for benchmarks and fuzz seeds: every process
/// slot live (pid 1000 + i, generation 0), workers a mix of READY, W (with a
/// request in flight: `start_time > stop_time`) and K, `thread_num` =
/// i·TL + j, vhosts, request lines and counters filled in. With TL > 1 the
/// workers carry their process's pid and a `tid` (worker/event MPM) and the
/// processes event's async counters; with TL = 1 they are left 0 (prefork).
pub fn busy_server(layout: Layout, server_limit: usize, thread_limit: usize) -> SegmentBuilder {
    const SECOND: i64 = 1_000_000;
    let restart = DEFAULT_RESTART_TIME;
    let now = restart + 3_600 * SECOND;
    let threaded = thread_limit > 1;
    let mut b = SegmentBuilder::new(layout, server_limit, thread_limit);
    b.global(0, restart).global_times(Tms {
        utime: 120,
        stime: 45,
        cutime: 3_000,
        cstime: 900,
    });
    for i in 0..server_limit {
        let pid = 1000 + i as i32;
        b.process(
            i,
            &ProcessValues {
                pid,
                generation: 0,
                connections: if threaded { (i % 7) as u32 + 2 } else { 0 },
                keep_alive: if threaded { (i % 3) as u32 } else { 0 },
                write_completion: if threaded { (i % 2) as u32 } else { 0 },
                wait_io: if threaded { (i % 2) as u32 } else { 0 },
                ..ProcessValues::default()
            },
        );
        for j in 0..thread_limit {
            let n = i * thread_limit + j;
            let served = (n % 97) as u64 + 1;
            let mut w = WorkerValues {
                tid: if threaded {
                    0x7f00_0000_0000 + (n as u64) * 0x80_0000
                } else {
                    0
                },
                thread_num: n as i32,
                pid: if threaded { pid } else { 0 },
                generation: 0,
                status: status::READY,
                access_count: served,
                bytes_served: served * 5_123,
                my_access_count: served % 5,
                my_bytes_served: (served % 5) * 5_123,
                conn_count: (served % 5) as u16,
                conn_bytes: (served % 5) * 5_123,
                start_time: now - 2 * SECOND - n as i64,
                stop_time: now - 2 * SECOND - n as i64 + 1_500,
                last_used: now - 2 * SECOND - n as i64 + 1_500,
                times: Tms {
                    utime: served,
                    stime: served / 2,
                    cutime: 0,
                    cstime: 0,
                },
                duration: served as i64 * 1_500,
                client: format!("192.0.2.{}", n % 250 + 1).into_bytes(),
                request: format!("GET /app/item/{n}?page={} HTTP/1.1", n % 10).into_bytes(),
                vhost: format!("www{}.example.org:443", n % 4).into_bytes(),
                protocol: b"http/1.1".to_vec(),
            };
            match n % 8 {
                1 | 4 => {
                    // Inside a request: START after the last STOP.
                    w.status = status::BUSY_WRITE;
                    w.start_time = now - (n as i64 % 40) * SECOND - 500;
                    w.stop_time = w.start_time - 250_000;
                    w.last_used = w.start_time;
                }
                6 => w.status = status::BUSY_KEEPALIVE,
                _ => {}
            }
            b.worker(i, j, &w);
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::super::decode::{Form, Scoreboard};
    use super::super::detect::Hints;
    use super::super::layout::{Abi, LayoutSpec, Revision};
    use super::*;

    #[test]
    fn busy_server_round_trips_on_every_layout() {
        for layout in Layout::all() {
            let b = busy_server(layout, 3, 5);
            assert_eq!(b.posix().len(), b.area().len() + 8);
            // Detection is tested in tests/integration/revisions.rs.
            let hints = Hints {
                layout: Some(LayoutSpec {
                    revision: layout.revision,
                    abi: Some(layout.abi),
                }),
                version: None,
            };
            let sb = Scoreboard::from_bytes(b.posix(), Form::Header, &hints)
                .unwrap_or_else(|e| panic!("{layout}: {e}"));
            assert_eq!(*sb.layout(), layout);
            let w = sb.worker(2, 4);
            assert_eq!(w.thread_num(), 14);
            assert_eq!(w.pid(), 1002);
            assert_eq!(w.vhost(), b"www2.example.org:443");
        }
    }

    #[test]
    fn strings_are_cut_and_terminated() {
        let layout = Layout::new(Revision::H, Abi::Lp64).unwrap();
        let mut b = SegmentBuilder::new(layout, 1, 1);
        b.worker(
            0,
            0,
            &WorkerValues {
                vhost: vec![b'v'; 40],
                ..WorkerValues::default()
            },
        );
        let at = b.worker_offset(0, 0) + layout.worker.vhost.offset;
        assert_eq!(&b.area()[at..at + 31], &[b'v'; 31]);
        assert_eq!(b.area()[at + 31], 0);
    }
}

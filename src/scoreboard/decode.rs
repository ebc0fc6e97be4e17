//! Safe, bounds-checked decoding of an owned copy of a segment.
//!
//! A [`Scoreboard`] owns the bytes and a [`Layout`]; records are decoded on
//! demand into small `Copy` values whose strings borrow from the buffer, so
//! decoding allocates nothing per worker. Every read goes through
//! [`Record`], which returns zero for bytes outside the buffer instead of
//! panicking (the size is validated once when the scoreboard is built).

use super::detect::{self, Detected, Hints};
use super::error::Error;
use super::layout::{self, Field, Layout, WorkerFields};
use super::le;
pub use crate::shm::segment::Bytes;

/// `struct tms` values in clock ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Tms {
    pub utime: u64,
    pub stime: u64,
    pub cutime: u64,
    pub cstime: u64,
}

impl Tms {
    fn as_array(&self) -> [u64; 4] {
        [self.utime, self.stime, self.cutime, self.cstime]
    }
    /// mod_status replaces a process's running value when any one of a
    /// worker's four values is larger.
    pub fn any_greater_than(&self, other: &Tms) -> bool {
        self.as_array()
            .iter()
            .zip(other.as_array())
            .any(|(a, b)| *a > b)
    }
    /// Wraps like the C sum (values come from untrusted memory).
    pub fn total(&self) -> u64 {
        self.as_array().iter().fold(0, |a, &b| a.wrapping_add(b))
    }
}

/// `global_score`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Global {
    pub server_limit: usize,
    pub thread_limit: usize,
    pub running_generation: i32,
    /// µs since the epoch.
    pub restart_time: i64,
    pub lb_limit: usize,
    pub times: Option<Tms>,
}

/// One `process_score` slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Process {
    pub slot: usize,
    pub pid: i32,
    pub generation: i32,
    pub quiescing: u32,
    pub not_accepting: u8,
    pub connections: u32,
    pub write_completion: u32,
    pub lingering_close: u32,
    pub keep_alive: u32,
    pub suspended: u32,
    pub wait_io: Option<u32>,
}

impl Process {
    /// mod_status counts workers only of live, non-quiescing processes.
    pub fn is_counted(&self) -> bool {
        self.pid != 0 && self.quiescing == 0
    }
}

/// Worker status values (unchanged from 2.0 to 2.4.71).
pub mod status {
    pub const DEAD: u8 = 0;
    pub const STARTING: u8 = 1;
    pub const READY: u8 = 2;
    pub const BUSY_READ: u8 = 3;
    pub const BUSY_WRITE: u8 = 4;
    pub const BUSY_KEEPALIVE: u8 = 5;
    pub const BUSY_LOG: u8 = 6;
    pub const BUSY_DNS: u8 = 7;
    pub const CLOSING: u8 = 8;
    pub const GRACEFUL: u8 = 9;
    pub const IDLE_KILL: u8 = 10;
    /// mod_status's characters, indexed by status.
    pub const CHARS: [char; 11] = ['.', 'S', '_', 'R', 'W', 'K', 'L', 'D', 'C', 'G', 'I'];

    /// The mod_status character of a status value; `?` for values httpd never writes.
    pub fn char_of(status: u8) -> char {
        CHARS.get(usize::from(status)).copied().unwrap_or('?')
    }
}

/// One `worker_score` slot: a view of its record that decodes a field only
/// when it is asked for (a pass over every slot reads just the fields it
/// uses; the C strings are cut at their NUL on access). Pid and generation
/// are taken from the process record when the worker's own are 0 (prefork
/// never sets them).
#[derive(Clone, Copy)]
pub struct Worker<'a> {
    pub process_slot: usize,
    pub thread_slot: usize,
    rec: Record<'a>,
    fields: &'a WorkerFields,
    process_pid: i32,
    process_generation: i32,
}

impl<'a> Worker<'a> {
    fn own_pid(&self) -> i32 {
        self.fields.pid.map_or(0, |f| self.rec.int(f))
    }

    /// Effective pid: the worker's own, else the process slot's.
    pub fn pid(&self) -> i32 {
        match self.own_pid() {
            0 => self.process_pid,
            own => own,
        }
    }

    /// Effective generation: the worker's own (when it has its own pid),
    /// else the process slot's.
    pub fn generation(&self) -> i32 {
        match self.own_pid() {
            0 => self.process_generation,
            _ => self.fields.generation.map_or(0, |f| self.rec.int(f)),
        }
    }

    /// µs, 2.4.35+.
    pub fn duration(&self) -> Option<i64> {
        self.fields.duration.map(|f| self.rec.i64(f))
    }

    /// The client: `client64` where the layout has it and it is set, else
    /// the 32-byte `client`.
    pub fn client(&self) -> &'a [u8] {
        match self.fields.client64.map(|f| self.rec.cstr(f)) {
            Some(c) if !c.is_empty() => c,
            _ => self.rec.cstr(self.fields.client),
        }
    }

    /// Empty before 2.4.19.
    pub fn protocol(&self) -> &'a [u8] {
        self.fields.protocol.map_or(&[][..], |f| self.rec.cstr(f))
    }

    /// Inside a request: between START_PREQUEST and STOP_PREQUEST.
    pub fn in_flight(&self) -> bool {
        self.start_time() > self.stop_time()
    }

    /// Age of the running request at `now_us`, never negative (clock skew).
    pub fn request_age_us(&self, now_us: i64) -> Option<i64> {
        let start = self.start_time();
        (start > self.stop_time()).then(|| now_us.saturating_sub(start).max(0))
    }

    /// Time since the slot last changed (mod_status's SS), never negative.
    pub fn idle_for_us(&self, now_us: i64) -> Option<i64> {
        let last = self.last_used();
        (last > 0).then(|| now_us.saturating_sub(last).max(0))
    }

    pub fn status_char(&self) -> char {
        status::char_of(self.status())
    }
}

// The accessors and `Debug` from the one field list; `pid`, `generation`,
// `client`, `protocol` and `duration` have their own accessors above.
macro_rules! worker_accessor {
    (pid $($t:tt)*) => {};
    (generation $($t:tt)*) => {};
    (client $($t:tt)*) => {};
    (protocol $($t:tt)*) => {};
    (duration $($t:tt)*) => {};
    ($name:ident req u64) => {
        pub fn $name(&self) -> u64 {
            self.rec.uint(self.fields.$name)
        }
    };
    ($name:ident req u16) => {
        pub fn $name(&self) -> u16 {
            self.rec.uint(self.fields.$name) as u16
        }
    };
    ($name:ident req u8) => {
        pub fn $name(&self) -> u8 {
            self.rec.uint(self.fields.$name) as u8
        }
    };
    ($name:ident req i32) => {
        pub fn $name(&self) -> i32 {
            self.rec.int(self.fields.$name)
        }
    };
    ($name:ident req i64) => {
        pub fn $name(&self) -> i64 {
            self.rec.i64(self.fields.$name)
        }
    };
    ($name:ident req tms) => {
        pub fn $name(&self) -> Tms {
            self.rec.tms(self.fields.$name)
        }
    };
    ($name:ident req cstr) => {
        pub fn $name(&self) -> &'a [u8] {
            self.rec.cstr(self.fields.$name)
        }
    };
}

/// A field's value for `Debug`: C strings as (lossy) text.
macro_rules! debug_value {
    (cstr, $v:expr) => {
        String::from_utf8_lossy($v).into_owned()
    };
    ($kind:ident, $v:expr) => {
        $v
    };
}

macro_rules! worker_accessors {
    (
        values: [$($name:ident: $presence:ident $kind:ident,)*],
        copies: [$($copies:tt)*],
    ) => {
        impl<'a> Worker<'a> {
            $(worker_accessor!($name $presence $kind);)*
        }

        impl std::fmt::Debug for Worker<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("Worker")
                    .field("process_slot", &self.process_slot)
                    .field("thread_slot", &self.thread_slot)
                    $(.field(stringify!($name), &debug_value!($kind, self.$name())))*
                    .finish()
            }
        }
    };
}

layout::with_worker_fields!(worker_accessors);

/// A bounds-checked view of one record.
#[derive(Clone, Copy)]
struct Record<'a>(&'a [u8]);

impl<'a> Record<'a> {
    fn uint(&self, f: Field) -> u64 {
        le::uint(self.0, f.offset, f.width)
    }
    /// A C `int` (or `pid_t`, enum).
    fn int(&self, f: Field) -> i32 {
        self.uint(f) as u32 as i32
    }
    /// An `apr_time_t` / `apr_int64_t`.
    fn i64(&self, f: Field) -> i64 {
        self.uint(f) as i64
    }
    /// `struct tms` starting at `f`, four clock_t of `f.width` bytes.
    fn tms(&self, f: Field) -> Tms {
        let at = |k: usize| {
            self.uint(Field {
                offset: f.offset + k * f.width,
                width: f.width,
            })
        };
        Tms {
            utime: at(0),
            stime: at(1),
            cutime: at(2),
            cstime: at(3),
        }
    }
    /// A C string inside its array: cut at the first NUL, never past the
    /// field (the whole field when it has none).
    fn cstr(&self, f: Field) -> &'a [u8] {
        le::cstr(self.0, f.offset, f.width)
    }
}

/// A segment (a copy, or the live one mapped read-only: see
/// `shm::segment`), decoded with a [`Layout`].
#[derive(Clone)]
pub struct Scoreboard {
    bytes: Bytes,
    /// Start of the scoreboard area: 8 for POSIX/mmap segments (after the
    /// `apr_size_t` header), 0 for SysV.
    base: usize,
    layout: Layout,
    global: Global,
}

/// How a segment copy starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// POSIX shm, mmap'd file or snapshot: 8-byte size header first.
    Header,
    /// SysV shm: the scoreboard starts at offset 0.
    Bare,
    /// Decide from the header value and the layout size.
    Auto,
}

const HEADER: usize = 8;

impl Scoreboard {
    /// Decodes a whole segment.
    pub fn from_bytes(
        bytes: impl Into<Bytes>,
        form: Form,
        hints: &Hints,
    ) -> Result<Scoreboard, Error> {
        let bytes = bytes.into();
        let (base, found) = Scoreboard::probe(&bytes, form, hints)?;
        Ok(Scoreboard::new(bytes, base, found))
    }

    /// Finds where the scoreboard area starts and which layout it has.
    pub fn probe(bytes: &[u8], form: Form, hints: &Hints) -> Result<(usize, Detected), Error> {
        let base = match form {
            Form::Header => {
                check_header(bytes)?;
                HEADER
            }
            Form::Bare => 0,
            Form::Auto => detect_form(bytes, hints)?,
        };
        Ok((
            base,
            detect::detect(bytes.get(base..).unwrap_or(&[]), hints)?,
        ))
    }

    /// Builds the scoreboard from a [`probe`](Self::probe) result.
    pub fn new(bytes: impl Into<Bytes>, base: usize, found: Detected) -> Scoreboard {
        let bytes = bytes.into();
        let rec = Record(bytes.get(base..).unwrap_or(&[]));
        let g = found.layout.global;
        let global = Global {
            server_limit: found.server_limit,
            thread_limit: found.thread_limit,
            running_generation: rec.int(g.running_generation),
            restart_time: rec.i64(g.restart_time),
            lb_limit: found.lb_limit,
            times: g.times.map(|t| rec.tms(t)),
        };
        Scoreboard {
            bytes,
            base,
            layout: found.layout,
            global,
        }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn global(&self) -> &Global {
        &self.global
    }

    /// The whole segment as it was read (header included).
    pub fn segment_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Gives the bytes back (to decode them again with another layout).
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// Where the scoreboard area starts and what detection found: enough
    /// to decode another copy of the same segment ([`Scoreboard::new`]).
    pub fn base(&self) -> usize {
        self.base
    }

    pub fn detected(&self) -> Detected {
        Detected {
            layout: self.layout,
            server_limit: self.global.server_limit,
            thread_limit: self.global.thread_limit,
            lb_limit: self.global.lb_limit,
        }
    }

    /// Whether the segment carries the 8-byte POSIX header.
    pub fn has_header(&self) -> bool {
        self.base == HEADER
    }

    fn area(&self) -> &[u8] {
        self.bytes.get(self.base..).unwrap_or(&[])
    }

    fn record(&self, offset: usize, size: usize) -> Record<'_> {
        Record(self.area().get(offset..offset + size).unwrap_or(&[]))
    }

    pub fn process(&self, i: usize) -> Process {
        let p = self.layout.process;
        let rec = self.record(self.layout.process_offset(i), p.size);
        let counter = |k: usize| {
            p.async_counters
                .map_or(0, |o| rec.uint(layout::async_counter(o, k)) as u32)
        };
        Process {
            slot: i,
            pid: rec.int(layout::PROCESS_PID),
            generation: rec.int(layout::PROCESS_GENERATION),
            quiescing: rec.uint(p.quiescing) as u32,
            not_accepting: p.not_accepting.map_or(0, |f| rec.uint(f) as u8),
            connections: counter(0),
            write_completion: counter(1),
            lingering_close: counter(2),
            keep_alive: counter(3),
            suspended: counter(4),
            wait_io: p.wait_io.map(|f| rec.uint(f) as u32),
        }
    }

    pub fn processes(&self) -> impl Iterator<Item = Process> + '_ {
        (0..self.global.server_limit).map(|i| self.process(i))
    }

    /// Worker `j` of process slot `i`, with `process` the slot's record.
    pub fn worker_of(&self, process: &Process, j: usize) -> Worker<'_> {
        let (sl, tl) = (self.global.server_limit, self.global.thread_limit);
        let offset = self.layout.worker_offset(sl, tl, process.slot, j);
        self.worker_at(process, j, offset)
    }

    /// The worker whose record starts at `offset` in the area; an empty
    /// record (every field 0) when it does not fit.
    #[inline]
    fn worker_at(&self, process: &Process, j: usize, offset: usize) -> Worker<'_> {
        let fields = &self.layout.worker;
        Worker {
            process_slot: process.slot,
            thread_slot: j,
            rec: self.record(offset, fields.size),
            fields,
            process_pid: process.pid,
            process_generation: process.generation,
        }
    }

    pub fn worker(&self, i: usize, j: usize) -> Worker<'_> {
        self.worker_of(&self.process(i), j)
    }

    /// The workers of one process slot, in thread order: the row's offset
    /// is computed once, then stepped by the record size.
    pub fn row<'s>(&'s self, process: &'s Process) -> impl Iterator<Item = Worker<'s>> + 's {
        let (sl, tl) = (self.global.server_limit, self.global.thread_limit);
        let first = self.layout.worker_offset(sl, tl, process.slot, 0);
        let size = self.layout.worker.size;
        (0..tl).map(move |j| self.worker_at(process, j, first + j * size))
    }

    /// Every worker slot, process by process.
    pub fn workers(&self) -> impl Iterator<Item = (Process, Worker<'_>)> + '_ {
        let (sl, tl) = (self.global.server_limit, self.global.thread_limit);
        let size = self.layout.worker.size;
        self.processes().flat_map(move |p| {
            let first = self.layout.worker_offset(sl, tl, p.slot, 0);
            (0..tl).map(move |j| (p, self.worker_at(&p, j, first + j * size)))
        })
    }

    /// Number of worker slots (ServerLimit × ThreadLimit).
    pub fn slot_count(&self) -> usize {
        self.global.server_limit * self.global.thread_limit
    }
}

fn check_header(bytes: &[u8]) -> Result<(), Error> {
    let header = read_header(bytes).ok_or(Error::TooSmall { len: bytes.len() })?;
    if header != bytes.len() as u64 {
        return Err(Error::HeaderMismatch {
            header,
            len: bytes.len(),
        });
    }
    Ok(())
}

fn read_header(bytes: &[u8]) -> Option<u64> {
    bytes.first_chunk::<8>().map(|b| u64::from_le_bytes(*b))
}

/// Tells a POSIX-form copy (size header) from a bare SysV one: a header
/// equal to the length means POSIX; otherwise the bytes must start with
/// positive limits whose layout size matches.
fn detect_form(bytes: &[u8], hints: &Hints) -> Result<usize, Error> {
    let header = read_header(bytes).ok_or(Error::TooSmall { len: bytes.len() })?;
    if header == bytes.len() as u64 {
        return Ok(HEADER);
    }
    match detect::detect(bytes, hints) {
        Ok(_) => Ok(0),
        // A plausible size header that disagrees with the length: a
        // truncated or padded POSIX copy.
        Err(_) if (16..1 << 32).contains(&header) => Err(Error::HeaderMismatch {
            header,
            len: bytes.len(),
        }),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_the_same_at_a_record_end() {
        let bytes: Vec<u8> = (1..=12).collect();
        let rec = Record(&bytes);
        for offset in 0..=12 {
            for width in [1, 2, 4, 8] {
                let f = Field { offset, width };
                let want = bytes.get(offset..offset + width).map_or(0, |b| {
                    b.iter().rev().fold(0u64, |v, &x| v << 8 | u64::from(x))
                });
                assert_eq!(rec.uint(f), want, "{f:?}");
            }
        }
        assert_eq!(
            rec.uint(Field {
                offset: 2,
                width: 0
            }),
            0
        );
        assert_eq!(
            rec.uint(Field {
                offset: 0,
                width: 10
            }),
            u64::from_le_bytes([1, 2, 3, 4, 5, 6, 7, 8])
        );
    }
}

//! Safe, bounds-checked decoding of an owned copy of a segment.
//!
//! A [`Scoreboard`] owns the bytes and a [`Layout`]; records are decoded on
//! demand into small `Copy` values whose strings borrow from the buffer, so
//! decoding allocates nothing per worker. Every read goes through
//! [`Record`], which returns zero for bytes outside the buffer instead of
//! panicking (the size is validated once when the scoreboard is built).

use super::detect::{self, Detected, Hints};
use super::error::Error;
use super::layout::{Field, Layout};

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

/// One `worker_score` slot, with pid and generation taken from the process
/// record when the worker's own are 0 (prefork never sets them).
#[derive(Clone, Copy, Debug)]
pub struct Worker<'a> {
    pub process_slot: usize,
    pub thread_slot: usize,
    pub tid: u64,
    pub thread_num: i32,
    /// Effective pid: the worker's own, else the process slot's.
    pub pid: i32,
    /// Effective generation: the worker's own, else the process slot's.
    pub generation: i32,
    pub status: u8,
    pub conn_count: u16,
    pub conn_bytes: u64,
    pub access_count: u64,
    pub bytes_served: u64,
    pub my_access_count: u64,
    pub my_bytes_served: u64,
    pub start_time: i64,
    pub stop_time: i64,
    pub last_used: i64,
    pub times: Tms,
    /// µs, 2.4.35+.
    pub duration: Option<i64>,
    pub client: &'a [u8],
    pub request: &'a [u8],
    pub vhost: &'a [u8],
    pub protocol: &'a [u8],
}

impl Worker<'_> {
    /// Inside a request: between START_PREQUEST and STOP_PREQUEST.
    pub fn in_flight(&self) -> bool {
        self.start_time > self.stop_time
    }

    /// Age of the running request at `now_us`, never negative (clock skew).
    pub fn request_age_us(&self, now_us: i64) -> Option<i64> {
        self.in_flight()
            .then(|| now_us.saturating_sub(self.start_time).max(0))
    }

    /// Time since the slot last changed (mod_status's SS), never negative.
    pub fn idle_for_us(&self, now_us: i64) -> Option<i64> {
        (self.last_used > 0).then(|| now_us.saturating_sub(self.last_used).max(0))
    }

    pub fn status_char(&self) -> char {
        status::char_of(self.status)
    }
}

/// A bounds-checked view of one record.
#[derive(Clone, Copy)]
struct Record<'a>(&'a [u8]);

impl<'a> Record<'a> {
    fn uint(&self, f: Field) -> u64 {
        let Some(b) = self.0.get(f.offset..f.offset + f.width) else {
            return 0;
        };
        let mut le = [0u8; 8];
        le[..b.len().min(8)].copy_from_slice(&b[..b.len().min(8)]);
        u64::from_le_bytes(le)
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
    /// A C string inside its array: cut at the first NUL, never past the field.
    fn cstr(&self, f: Field) -> &'a [u8] {
        let b = self.0.get(f.offset..f.offset + f.width).unwrap_or(&[]);
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        &b[..end]
    }
}

/// An owned copy of a segment, decoded with a [`Layout`].
#[derive(Clone)]
pub struct Scoreboard {
    bytes: Vec<u8>,
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
    /// Decodes an owned copy of a whole segment.
    pub fn from_bytes(bytes: Vec<u8>, form: Form, hints: &Hints) -> Result<Scoreboard, Error> {
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
    pub fn new(bytes: Vec<u8>, base: usize, found: Detected) -> Scoreboard {
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

    /// The whole segment as it was copied (header included).
    pub fn segment_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Gives the copy back (to decode it again with another layout).
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
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
            p.async_counters.map_or(0, |o| {
                rec.uint(Field {
                    offset: o + 4 * k,
                    width: 4,
                }) as u32
            })
        };
        Process {
            slot: i,
            pid: rec.int(Field {
                offset: 0,
                width: 4,
            }),
            generation: rec.int(Field {
                offset: 4,
                width: 4,
            }),
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
        let i = process.slot;
        let w = self.layout.worker;
        let rec = self.record(self.layout.worker_offset(sl, tl, i, j), w.size);
        let own_pid = w.pid.map_or(0, |f| rec.int(f));
        let own_generation = w.generation.map_or(0, |f| rec.int(f));
        let client64 = w.client64.map_or(&[][..], |f| rec.cstr(f));
        Worker {
            process_slot: i,
            thread_slot: j,
            tid: rec.uint(w.tid),
            thread_num: rec.int(w.thread_num),
            pid: if own_pid != 0 { own_pid } else { process.pid },
            generation: if own_pid != 0 {
                own_generation
            } else {
                process.generation
            },
            status: rec.uint(w.status) as u8,
            conn_count: rec.uint(w.conn_count) as u16,
            conn_bytes: rec.uint(w.conn_bytes),
            access_count: rec.uint(w.access_count),
            bytes_served: rec.uint(w.bytes_served),
            my_access_count: rec.uint(w.my_access_count),
            my_bytes_served: rec.uint(w.my_bytes_served),
            start_time: rec.i64(w.start_time),
            stop_time: rec.i64(w.stop_time),
            last_used: rec.i64(w.last_used),
            times: rec.tms(w.times),
            duration: w.duration.map(|f| rec.i64(f)),
            client: if client64.is_empty() {
                rec.cstr(w.client)
            } else {
                client64
            },
            request: rec.cstr(w.request),
            vhost: rec.cstr(w.vhost),
            protocol: w.protocol.map_or(&[][..], |f| rec.cstr(f)),
        }
    }

    pub fn worker(&self, i: usize, j: usize) -> Worker<'_> {
        self.worker_of(&self.process(i), j)
    }

    /// Every worker slot, process by process.
    pub fn workers(&self) -> impl Iterator<Item = (Process, Worker<'_>)> + '_ {
        self.processes().flat_map(move |p| {
            (0..self.global.thread_limit).map(move |j| (p, self.worker_of(&p, j)))
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

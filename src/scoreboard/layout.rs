//! Layout revisions of the scoreboard, described as data (offset tables), not
//! as `repr(C)` structs of the host: one [`Layout`] value says where every
//! field of every record lives for one httpd revision on one ABI, and how big
//! a segment with given limits must be.
//!
//! Described in docs/scoreboard-format.md ("The scoreboard area", "Layout
//! revisions", "ABIs"); its "Field offsets" are generated from these
//! tables, which tests/integration/c_rules.rs derives from the C
//! declarations.

use std::fmt;
use std::str::FromStr;

/// A layout revision of `scoreboard.h` (docs/scoreboard-format.md,
/// "Layout revisions").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Revision {
    /// 2.0.35–2.0.65
    A,
    /// 2.2.0–2.2.34 (optional lb part from mod_proxy)
    B,
    /// 2.4.0 (tagged, never released)
    C0,
    /// 2.4.1–2.4.16
    C,
    /// 2.4.17 (process `bucket`)
    D,
    /// 2.4.18 (regions padded to 8)
    D2,
    /// 2.4.19–2.4.34 (worker `protocol`)
    E,
    /// 2.4.35 (worker `duration`, global `times`)
    F,
    /// 2.4.36–2.4.62 (worker `client64`)
    G,
    /// 2.4.63 and later (process `wait_io`)
    H,
}

impl Revision {
    pub const ALL: [Revision; 10] = [
        Revision::A,
        Revision::B,
        Revision::C0,
        Revision::C,
        Revision::D,
        Revision::D2,
        Revision::E,
        Revision::F,
        Revision::G,
        Revision::H,
    ];

    /// The httpd releases that use this revision.
    pub fn releases(self) -> &'static str {
        match self {
            Revision::A => "2.0",
            Revision::B => "2.2",
            Revision::C0 => "2.4.0",
            Revision::C => "2.4.1-2.4.16",
            Revision::D => "2.4.17",
            Revision::D2 => "2.4.18",
            Revision::E => "2.4.19-2.4.34",
            Revision::F => "2.4.35",
            Revision::G => "2.4.36-2.4.62",
            Revision::H => "2.4.63+",
        }
    }

    /// The revision an httpd version writes.
    pub fn for_version(v: HttpdVersion) -> Option<Revision> {
        Some(match (v.major, v.minor, v.patch) {
            (2, 0, _) => Revision::A,
            (2, 2, _) => Revision::B,
            (2, 4, 0) => Revision::C0,
            (2, 4, 1..=16) => Revision::C,
            (2, 4, 17) => Revision::D,
            (2, 4, 18) => Revision::D2,
            (2, 4, 19..=34) => Revision::E,
            (2, 4, 35) => Revision::F,
            (2, 4, 36..=62) => Revision::G,
            (2, 4, _) => Revision::H,
            _ => return None,
        })
    }

    /// The version assumed when nothing better is known: the last release
    /// of the revision, except for G, where the 2.4.58 counting rules are the
    /// documented default.
    pub fn assumed_version(self) -> HttpdVersion {
        let (minor, patch) = match self {
            Revision::A => (0, 65),
            Revision::B => (2, 34),
            Revision::C0 => (4, 0),
            Revision::C => (4, 16),
            Revision::D => (4, 17),
            Revision::D2 => (4, 18),
            Revision::E => (4, 34),
            Revision::F => (4, 35),
            Revision::G => (4, 62),
            Revision::H => (4, 71),
        };
        HttpdVersion {
            major: 2,
            minor,
            patch,
        }
    }

    /// Regions (global, each process slot, each worker row) are padded to 8
    /// bytes from 2.4.18 on.
    fn padded_regions(self) -> bool {
        self >= Revision::D2
    }
}

/// The data model of the httpd that wrote the segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Abi {
    /// x86_64 and aarch64 (identical offsets).
    Lp64,
    /// i386 with APR 1.x (64-bit `apr_off_t`).
    Ilp32,
    /// i386 with APR 0.9 (32-bit `apr_off_t`), httpd 2.0 only.
    Ilp32Apr09,
    /// 32-bit ARM EABI (armhf, armel) with APR 1.x: 4-byte `long`,
    /// pointers and `clock_t` as on i386, but 64-bit integers aligned to 8
    /// as on LP64 (docs/scoreboard-format.md, "ABIs").
    Armhf,
    /// 32-bit ARM EABI with APR 0.9 (32-bit `apr_off_t`), httpd 2.0 only.
    ArmhfApr09,
}

impl Abi {
    pub fn name(self) -> &'static str {
        match self {
            Abi::Lp64 => "lp64",
            Abi::Ilp32 => "ilp32",
            Abi::Ilp32Apr09 => "ilp32-apr09",
            Abi::Armhf => "armhf",
            Abi::ArmhfApr09 => "armhf-apr09",
        }
    }

    /// Bytes of `long`, `unsigned long`, `pthread_t` and `clock_t`.
    pub const fn long_width(self) -> usize {
        match self {
            Abi::Lp64 => 8,
            _ => 4,
        }
    }

    /// Whether 64-bit integers are aligned to 8 inside structures (and a
    /// structure holding one is padded to a multiple of 8); i386 aligns
    /// them to 4.
    pub const fn int64_aligned_to_8(self) -> bool {
        matches!(self, Abi::Lp64 | Abi::Armhf | Abi::ArmhfApr09)
    }

    /// APR 0.9's 32-bit `apr_off_t`.
    const fn apr09(self) -> bool {
        matches!(self, Abi::Ilp32Apr09 | Abi::ArmhfApr09)
    }
}

/// A field: byte offset inside its record and width in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub offset: usize,
    pub width: usize,
}

/// `global.server_limit` and `global.thread_limit`: `int`s at offsets 0 and
/// 4 of every revision (docs/scoreboard-format.md, "The scoreboard
/// area"), so the tables carry no field for them.
pub const SERVER_LIMIT: Field = f(0, 4);
pub const THREAD_LIMIT: Field = f(4, 4);
/// `process_score.pid` and `.generation`: offsets 0 and 4 in every revision.
pub const PROCESS_PID: Field = f(0, 4);
pub const PROCESS_GENERATION: Field = f(4, 4);

/// Async counter `k` of a process record whose five `apr_uint32_t`
/// counters (connections, write_completion, lingering_close, keep_alive,
/// suspended) start at `first`.
pub const fn async_counter(first: usize, k: usize) -> Field {
    f(first + 4 * k, 4)
}

const fn f(offset: usize, width: usize) -> Field {
    Field { offset, width }
}

/// Offsets inside `global_score`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GlobalFields {
    pub sb_type: Option<Field>,
    pub running_generation: Field,
    pub restart_time: Field,
    pub lb_limit: Option<Field>,
    /// `struct tms`: four `clock_t` of `width` bytes each.
    pub times: Option<Field>,
    pub size: usize,
}

/// Offsets inside `process_score` (identical on every ABI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessFields {
    pub quiescing: Field,
    pub not_accepting: Option<Field>,
    /// connections, write_completion, lingering_close, keep_alive, suspended
    pub async_counters: Option<usize>,
    pub wait_io: Option<Field>,
    pub size: usize,
}

/// The `worker_score` field list, once: every field by its C name in
/// `scoreboard.h` order of 2.4, whether every revision has it (`req`) or
/// some lack it (`opt`), and its kind (`u8`..`i64` little-endian integers
/// of the layout's width, `tms`: a `struct tms` of four `clock_t`, `cstr`:
/// a NUL-terminated char array). `$then!` gets the values a slot holds,
/// then the fields written from another's value (`client64` holds the
/// client too). [`WorkerFields`] and its `named`, the decoder's
/// `Worker` accessors and the test encoder's `WorkerValues` derive from it.
macro_rules! with_worker_fields {
    ($then:ident) => {
        $then! {
            values: [
                tid: req u64,
                thread_num: req i32,
                pid: opt i32,
                generation: opt i32,
                status: req u8,
                conn_count: req u16,
                conn_bytes: req u64,
                access_count: req u64,
                bytes_served: req u64,
                my_access_count: req u64,
                my_bytes_served: req u64,
                start_time: req i64,
                stop_time: req i64,
                last_used: req i64,
                times: req tms,
                client: req cstr,
                request: req cstr,
                vhost: req cstr,
                protocol: opt cstr,
                duration: opt i64,
            ],
            copies: [
                client64: opt cstr = client,
            ],
        }
    };
}
pub(crate) use with_worker_fields;

/// `Field` for a field every revision has, `Option<Field>` for one some lack.
macro_rules! field_type {
    (req) => { Field };
    (opt) => { Option<Field> };
}

/// A field of `WorkerFields` as an `Option<Field>`; a `tms` as one field
/// of its four `clock_t`.
macro_rules! named_field {
    (req tms, $f:expr) => {
        Some(f($f.offset, 4 * $f.width))
    };
    (opt tms, $f:expr) => {
        $f.map(|t| f(t.offset, 4 * t.width))
    };
    (req $kind:ident, $f:expr) => {
        Some($f)
    };
    (opt $kind:ident, $f:expr) => {
        $f
    };
}

macro_rules! define_worker_fields {
    (
        values: [$($name:ident: $presence:ident $kind:ident,)*],
        copies: [$($copy:ident: $cpresence:ident $ckind:ident = $from:ident,)*],
    ) => {
        /// Offsets inside `worker_score` (see [`with_worker_fields`]).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct WorkerFields {
            $(pub $name: field_type!($presence),)*
            $(pub $copy: field_type!($cpresence),)*
            pub size: usize,
        }

        impl WorkerFields {
            /// How many fields [`named`](Self::named) lists.
            pub const COUNT: usize = [$(stringify!($name),)* $(stringify!($copy),)*].len();

            /// The record's field list by C name, in `scoreboard.h` order
            /// of 2.4 (`times` as one field of its four `clock_t`), `None`
            /// where this revision lacks it.
            pub fn named(&self) -> [(&'static str, Option<Field>); Self::COUNT] {
                [
                    $((stringify!($name), named_field!($presence $kind, self.$name)),)*
                    $((stringify!($copy), named_field!($cpresence $ckind, self.$copy)),)*
                ]
            }
        }
    };
}

with_worker_fields!(define_worker_fields);

impl GlobalFields {
    /// The record's field list by C name (server_limit and thread_limit,
    /// at 0 and 4 everywhere, included), `None` where this revision lacks it.
    pub fn named(&self) -> [(&'static str, Option<Field>); 7] {
        [
            ("server_limit", Some(SERVER_LIMIT)),
            ("thread_limit", Some(THREAD_LIMIT)),
            ("sb_type", self.sb_type),
            ("running_generation", Some(self.running_generation)),
            ("restart_time", Some(self.restart_time)),
            ("lb_limit", self.lb_limit),
            ("times", self.times.map(|t| f(t.offset, 4 * t.width))),
        ]
    }
}

impl ProcessFields {
    /// The record's field list by C name, `None` where this revision lacks
    /// it.
    pub fn named(&self) -> [(&'static str, Option<Field>); 10] {
        let counter = |k| self.async_counters.map(|first| async_counter(first, k));
        [
            ("pid", Some(PROCESS_PID)),
            ("generation", Some(PROCESS_GENERATION)),
            ("quiescing", Some(self.quiescing)),
            ("not_accepting", self.not_accepting),
            ("connections", counter(0)),
            ("write_completion", counter(1)),
            ("lingering_close", counter(2)),
            ("keep_alive", counter(3)),
            ("suspended", counter(4)),
            ("wait_io", self.wait_io),
        ]
    }
}

impl WorkerFields {
    /// Every field this revision has.
    pub fn all(&self) -> impl Iterator<Item = Field> {
        self.named().into_iter().filter_map(|(_, f)| f)
    }

    /// The alignment padding inside the record: byte ranges no field
    /// covers, which httpd never writes (the segment is zeroed at creation).
    pub fn padding(&self) -> Vec<std::ops::Range<usize>> {
        let mut fields: Vec<Field> = self.all().collect();
        fields.sort_by_key(|f| f.offset);
        let mut holes = Vec::new();
        let mut end = 0;
        for f in fields {
            if f.offset > end {
                holes.push(end..f.offset);
            }
            end = end.max(f.offset + f.width);
        }
        if self.size > end {
            holes.push(end..self.size);
        }
        holes
    }
}

/// Size of one 2.2 `lb_score` block.
pub const LB_SCORE_SIZE: usize = 1024;

/// One revision on one ABI: every offset and stride needed to decode it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub revision: Revision,
    pub abi: Abi,
    pub global: GlobalFields,
    pub process: ProcessFields,
    pub worker: WorkerFields,
}

fn align8(n: usize) -> usize {
    (n + 7) & !7
}

impl Layout {
    /// The layout of `revision` on `abi`, or `None` for combinations that
    /// never existed (APR 0.9 went only with httpd 2.0).
    pub const fn new(revision: Revision, abi: Abi) -> Option<Layout> {
        if abi.apr09() && !matches!(revision, Revision::A) {
            return None;
        }
        Some(Layout {
            revision,
            abi,
            global: global_fields(revision, abi),
            process: process_fields(revision),
            worker: worker_fields(revision, abi),
        })
    }

    /// Every layout this crate knows, by revision, then LP64, ILP32,
    /// ILP32 with APR 0.9, armhf, armhf with APR 0.9.
    pub fn all() -> impl Iterator<Item = Layout> {
        Layout::ALL.iter().copied()
    }

    /// [`all`](Self::all) as a table built at compile time (detection
    /// looks at every entry of it for every segment).
    pub const ALL: [Layout; 32] = {
        const ABIS: [Abi; 5] = [
            Abi::Lp64,
            Abi::Ilp32,
            Abi::Ilp32Apr09,
            Abi::Armhf,
            Abi::ArmhfApr09,
        ];
        let mut all = [match Layout::new(Revision::A, Abi::Lp64) {
            Some(l) => l,
            None => panic!("2.0/lp64 exists"),
        }; 32];
        let (mut r, mut n) = (0, 0);
        while r < Revision::ALL.len() {
            let mut a = 0;
            while a < ABIS.len() {
                if let Some(l) = Layout::new(Revision::ALL[r], ABIS[a]) {
                    all[n] = l;
                    n += 1;
                }
                a += 1;
            }
            r += 1;
        }
        assert!(n == 32, "every layout listed once");
        all
    };

    /// Bytes reserved for the global record.
    pub fn global_region(&self) -> usize {
        self.pad(self.global.size)
    }

    /// Bytes reserved per process slot (the stride is `process.size`).
    pub fn process_region(&self) -> usize {
        self.pad(self.process.size)
    }

    /// Bytes reserved per worker in a row (the element stride is `worker.size`).
    pub fn worker_region(&self) -> usize {
        self.pad(self.worker.size)
    }

    fn pad(&self, n: usize) -> usize {
        if self.revision.padded_regions() {
            align8(n)
        } else {
            n
        }
    }

    /// Offset of `process[i]` from the start of the scoreboard area.
    pub fn process_offset(&self, i: usize) -> usize {
        self.global_region() + i * self.process.size
    }

    /// Offset of `worker[i][j]` from the start of the scoreboard area.
    pub fn worker_offset(
        &self,
        server_limit: usize,
        thread_limit: usize,
        i: usize,
        j: usize,
    ) -> usize {
        self.global_region()
            + server_limit * self.process_region()
            + i * thread_limit * self.worker_region()
            + j * self.worker.size
    }

    /// The scoreboard size httpd reserves for these limits, or `None` when
    /// it overflows.
    pub fn expected_size(
        &self,
        server_limit: usize,
        thread_limit: usize,
        lb_limit: usize,
    ) -> Option<usize> {
        let processes = server_limit.checked_mul(self.process_region())?;
        let workers = server_limit
            .checked_mul(thread_limit)?
            .checked_mul(self.worker_region())?;
        let lb = lb_limit.checked_mul(LB_SCORE_SIZE)?;
        self.global_region()
            .checked_add(processes)?
            .checked_add(workers)?
            .checked_add(lb)
    }

    /// Short name, e.g. `2.4.63+/lp64`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.revision.releases(), self.abi.name())
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (revision {:?}, {})",
            self.revision.releases(),
            self.revision,
            self.abi.name()
        )
    }
}

const fn global_fields(rev: Revision, abi: Abi) -> GlobalFields {
    use Revision::*;
    // i386 packs restart_time right after running_generation; LP64 and
    // armhf align it to 8 (and round the structure to 8).
    let packed = !abi.int64_aligned_to_8();
    let clock = abi.long_width();
    match rev {
        A | C0 => GlobalFields {
            sb_type: Some(f(8, 4)),
            running_generation: f(12, 4),
            restart_time: f(16, 8),
            lb_limit: None,
            times: None,
            size: 24,
        },
        B => GlobalFields {
            sb_type: Some(f(8, 4)),
            running_generation: f(12, 4),
            restart_time: f(16, 8),
            lb_limit: Some(f(24, 4)),
            times: None,
            size: if packed { 28 } else { 32 },
        },
        C | D | D2 | E => GlobalFields {
            sb_type: None,
            running_generation: f(8, 4),
            restart_time: f(if packed { 12 } else { 16 }, 8),
            lb_limit: None,
            times: None,
            size: if packed { 20 } else { 24 },
        },
        F | G | H => GlobalFields {
            sb_type: None,
            running_generation: f(8, 4),
            restart_time: f(if packed { 12 } else { 16 }, 8),
            lb_limit: None,
            times: Some(f(if packed { 20 } else { 24 }, clock)),
            // 24 + struct tms (4 clock_t), rounded to 8 where int64 is.
            size: match abi {
                Abi::Lp64 => 56,
                Abi::Armhf | Abi::ArmhfApr09 => 40,
                Abi::Ilp32 | Abi::Ilp32Apr09 => 36,
            },
        },
    }
}

const fn process_fields(rev: Revision) -> ProcessFields {
    use Revision::*;
    match rev {
        A | B => ProcessFields {
            quiescing: f(12, 4),
            not_accepting: None,
            async_counters: None,
            wait_io: None,
            size: 16,
        },
        _ => ProcessFields {
            quiescing: f(8, 1),
            not_accepting: Some(f(9, 1)),
            async_counters: Some(12),
            wait_io: if matches!(rev, H) {
                Some(f(36, 4))
            } else {
                None
            },
            size: match rev {
                C0 | C => 32,
                H => 40,
                _ => 36,
            },
        },
    }
}

const fn worker_fields(rev: Revision, abi: Abi) -> WorkerFields {
    use Revision::*;
    match (rev, abi) {
        (A, Abi::Lp64) => WorkerFields {
            tid: f(8, 8),
            thread_num: f(0, 4),
            pid: None,
            generation: None,
            status: f(16, 1),
            conn_count: f(64, 2),
            conn_bytes: f(56, 8),
            access_count: f(24, 8),
            bytes_served: f(32, 8),
            my_access_count: f(40, 8),
            my_bytes_served: f(48, 8),
            start_time: f(72, 8),
            stop_time: f(80, 8),
            last_used: f(120, 8),
            times: f(88, 8),
            client: f(128, 32),
            request: f(160, 64),
            vhost: f(224, 32),
            protocol: None,
            duration: None,
            client64: None,
            size: 256,
        },
        (A, Abi::Ilp32) => WorkerFields {
            tid: f(4, 4),
            thread_num: f(0, 4),
            pid: None,
            generation: None,
            status: f(8, 1),
            conn_count: f(44, 2),
            conn_bytes: f(36, 8),
            access_count: f(12, 4),
            bytes_served: f(16, 8),
            my_access_count: f(24, 4),
            my_bytes_served: f(28, 8),
            start_time: f(48, 8),
            stop_time: f(56, 8),
            last_used: f(80, 8),
            times: f(64, 4),
            client: f(88, 32),
            request: f(120, 64),
            vhost: f(184, 32),
            protocol: None,
            duration: None,
            client64: None,
            size: 216,
        },
        (A, Abi::Ilp32Apr09) => WorkerFields {
            tid: f(4, 4),
            thread_num: f(0, 4),
            pid: None,
            generation: None,
            status: f(8, 1),
            conn_count: f(32, 2),
            conn_bytes: f(28, 4),
            access_count: f(12, 4),
            bytes_served: f(16, 4),
            my_access_count: f(20, 4),
            my_bytes_served: f(24, 4),
            start_time: f(36, 8),
            stop_time: f(44, 8),
            last_used: f(68, 8),
            times: f(52, 4),
            client: f(76, 32),
            request: f(108, 64),
            vhost: f(172, 32),
            protocol: None,
            duration: None,
            client64: None,
            size: 204,
        },
        (B, Abi::Lp64) => WorkerFields {
            tid: f(8, 8),
            thread_num: f(0, 4),
            pid: Some(f(16, 4)),
            generation: Some(f(20, 4)),
            status: f(24, 1),
            conn_count: f(72, 2),
            conn_bytes: f(64, 8),
            access_count: f(32, 8),
            bytes_served: f(40, 8),
            my_access_count: f(48, 8),
            my_bytes_served: f(56, 8),
            start_time: f(80, 8),
            stop_time: f(88, 8),
            last_used: f(128, 8),
            times: f(96, 8),
            client: f(136, 32),
            request: f(168, 64),
            vhost: f(232, 32),
            protocol: None,
            duration: None,
            client64: None,
            size: 264,
        },
        // armhf: the i386 order with every 8-byte field aligned to 8.
        (A, Abi::Armhf) => WorkerFields {
            tid: f(4, 4),
            thread_num: f(0, 4),
            pid: None,
            generation: None,
            status: f(8, 1),
            conn_count: f(48, 2),
            conn_bytes: f(40, 8),
            access_count: f(12, 4),
            bytes_served: f(16, 8),
            my_access_count: f(24, 4),
            my_bytes_served: f(32, 8),
            start_time: f(56, 8),
            stop_time: f(64, 8),
            last_used: f(88, 8),
            times: f(72, 4),
            client: f(96, 32),
            request: f(128, 64),
            vhost: f(192, 32),
            protocol: None,
            duration: None,
            client64: None,
            size: 224,
        },
        (A, Abi::ArmhfApr09) => WorkerFields {
            tid: f(4, 4),
            thread_num: f(0, 4),
            pid: None,
            generation: None,
            status: f(8, 1),
            conn_count: f(32, 2),
            conn_bytes: f(28, 4),
            access_count: f(12, 4),
            bytes_served: f(16, 4),
            my_access_count: f(20, 4),
            my_bytes_served: f(24, 4),
            start_time: f(40, 8),
            stop_time: f(48, 8),
            last_used: f(72, 8),
            times: f(56, 4),
            client: f(80, 32),
            request: f(112, 64),
            vhost: f(176, 32),
            protocol: None,
            duration: None,
            client64: None,
            size: 208,
        },
        (B, Abi::Armhf | Abi::ArmhfApr09) => WorkerFields {
            tid: f(4, 4),
            thread_num: f(0, 4),
            pid: Some(f(8, 4)),
            generation: Some(f(12, 4)),
            status: f(16, 1),
            conn_count: f(56, 2),
            conn_bytes: f(48, 8),
            access_count: f(20, 4),
            bytes_served: f(24, 8),
            my_access_count: f(32, 4),
            my_bytes_served: f(40, 8),
            start_time: f(64, 8),
            stop_time: f(72, 8),
            last_used: f(96, 8),
            times: f(80, 4),
            client: f(104, 32),
            request: f(136, 64),
            vhost: f(200, 32),
            protocol: None,
            duration: None,
            client64: None,
            size: 232,
        },
        (B, _) => WorkerFields {
            tid: f(4, 4),
            thread_num: f(0, 4),
            pid: Some(f(8, 4)),
            generation: Some(f(12, 4)),
            status: f(16, 1),
            conn_count: f(52, 2),
            conn_bytes: f(44, 8),
            access_count: f(20, 4),
            bytes_served: f(24, 8),
            my_access_count: f(32, 4),
            my_bytes_served: f(36, 8),
            start_time: f(56, 8),
            stop_time: f(64, 8),
            last_used: f(88, 8),
            times: f(72, 4),
            client: f(96, 32),
            request: f(128, 64),
            vhost: f(192, 32),
            protocol: None,
            duration: None,
            client64: None,
            size: 224,
        },
        (_, Abi::Lp64) => extend_24(
            WorkerFields {
                tid: f(0, 8),
                thread_num: f(8, 4),
                pid: Some(f(12, 4)),
                generation: Some(f(16, 4)),
                status: f(20, 1),
                conn_count: f(22, 2),
                conn_bytes: f(24, 8),
                access_count: f(32, 8),
                bytes_served: f(40, 8),
                my_access_count: f(48, 8),
                my_bytes_served: f(56, 8),
                start_time: f(64, 8),
                stop_time: f(72, 8),
                last_used: f(80, 8),
                times: f(88, 8),
                client: f(120, 32),
                request: f(152, 64),
                vhost: f(216, 32),
                protocol: None,
                duration: None,
                client64: None,
                size: 248,
            },
            rev,
            248,
        ),
        // Measured on 2.4.68 (revision H); the other 2.4 revisions follow
        // from the same C rules.
        (_, Abi::Armhf | Abi::ArmhfApr09) => extend_24(
            WorkerFields {
                tid: f(0, 4),
                thread_num: f(4, 4),
                pid: Some(f(8, 4)),
                generation: Some(f(12, 4)),
                status: f(16, 1),
                conn_count: f(18, 2),
                conn_bytes: f(24, 8),
                access_count: f(32, 4),
                bytes_served: f(40, 8),
                my_access_count: f(48, 4),
                my_bytes_served: f(56, 8),
                start_time: f(64, 8),
                stop_time: f(72, 8),
                last_used: f(80, 8),
                times: f(88, 4),
                client: f(104, 32),
                request: f(136, 64),
                vhost: f(200, 32),
                protocol: None,
                duration: None,
                client64: None,
                size: 232,
            },
            rev,
            232,
        ),
        (_, _) => extend_24(
            WorkerFields {
                tid: f(0, 4),
                thread_num: f(4, 4),
                pid: Some(f(8, 4)),
                generation: Some(f(12, 4)),
                status: f(16, 1),
                conn_count: f(18, 2),
                conn_bytes: f(20, 8),
                access_count: f(28, 4),
                bytes_served: f(32, 8),
                my_access_count: f(40, 4),
                my_bytes_served: f(44, 8),
                start_time: f(52, 8),
                stop_time: f(60, 8),
                last_used: f(68, 8),
                times: f(76, 4),
                client: f(92, 32),
                request: f(124, 64),
                vhost: f(188, 32),
                protocol: None,
                duration: None,
                client64: None,
                size: 220,
            },
            rev,
            220,
        ),
    }
}

/// The 2.4 fields appended after `vhost` (at `end`, the 2.4.0–2.4.18 size):
/// protocol (2.4.19), duration (2.4.35), client64 (2.4.36).
const fn extend_24(mut w: WorkerFields, rev: Revision, end: usize) -> WorkerFields {
    use Revision::*;
    // `as u8`: the declaration order, as `Ord` compares (not const).
    let rev = rev as u8;
    if rev >= E as u8 {
        w.protocol = Some(f(end, 16));
        w.size = end + 16;
    }
    if rev >= F as u8 {
        w.duration = Some(f(end + 16, 8));
        w.size = end + 24;
    }
    if rev >= G as u8 {
        w.client64 = Some(f(end + 24, 64));
        w.size = end + 88;
    }
    w
}

/// An httpd version, e.g. 2.4.71.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HttpdVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl HttpdVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        HttpdVersion {
            major,
            minor,
            patch,
        }
    }

    /// Finds `Apache/2.x.y` in a binary or in `apache2 -v` output.
    pub fn find_in(haystack: &[u8]) -> Option<HttpdVersion> {
        // A vectorised search: the haystack may be a whole httpd binary.
        super::le::find_all(haystack, b"Apache/2.")
            .find_map(|pos| HttpdVersion::at_start(&haystack[pos..]))
    }

    /// The version of an `Apache/2.x.y …` string that starts `s`.
    pub fn at_start(s: &[u8]) -> Option<HttpdVersion> {
        let rest = s.strip_prefix(b"Apache/")?;
        let rest = &rest[..rest.len().min(16)];
        let end = rest
            .iter()
            .position(|b| !(b.is_ascii_digit() || *b == b'.'))
            .unwrap_or(rest.len());
        std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
    }
}

impl fmt::Display for HttpdVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for HttpdVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.trim().split('.').collect();
        let num = |p: &str| {
            p.parse::<u32>()
                .map_err(|_| format!("invalid httpd version '{s}': expected e.g. 2.4.71"))
        };
        match parts.as_slice() {
            [a, b, c] => Ok(HttpdVersion::new(num(a)?, num(b)?, num(c)?)),
            [a, b] => Ok(HttpdVersion::new(num(a)?, num(b)?, 0)),
            _ => Err(format!("invalid httpd version '{s}': expected e.g. 2.4.71")),
        }
    }
}

/// What `--layout` names: a revision (by an httpd version or a range such as
/// `2.4.36-2.4.62`), optionally with an ABI (`2.4.71/ilp32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayoutSpec {
    pub revision: Revision,
    pub abi: Option<Abi>,
}

impl FromStr for LayoutSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (rev, abi) = match s.split_once('/') {
            Some((r, a)) => (r, Some(a)),
            None => (s, None),
        };
        let abi = match abi {
            None => None,
            Some("lp64") | Some("x86_64") | Some("amd64") | Some("aarch64") | Some("arm64") => {
                Some(Abi::Lp64)
            }
            Some("ilp32") | Some("i386") | Some("i686") => Some(Abi::Ilp32),
            Some("ilp32-apr09") => Some(Abi::Ilp32Apr09),
            Some("armhf") | Some("armel") | Some("arm") => Some(Abi::Armhf),
            Some("armhf-apr09") => Some(Abi::ArmhfApr09),
            Some(other) => {
                return Err(format!(
                    "invalid layout ABI '{other}': expected lp64, ilp32, armhf, ilp32-apr09 or armhf-apr09"
                ))
            }
        };
        let named = Revision::ALL.into_iter().find(|r| {
            r.releases() == rev
                || format!("{r:?}").eq_ignore_ascii_case(rev)
                || r.releases().trim_end_matches('+') == rev
        });
        let revision = match named {
            Some(r) => r,
            None => {
                let version: HttpdVersion = rev.split('-').next().unwrap_or(rev).parse()?;
                Revision::for_version(version).ok_or_else(|| {
                    format!("invalid layout '{s}': not an httpd 2.0, 2.2 or 2.4 version")
                })?
            }
        };
        Ok(LayoutSpec { revision, abi })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lp64(r: Revision) -> Layout {
        Layout::new(r, Abi::Lp64).unwrap()
    }
    fn ilp32(r: Revision) -> Layout {
        Layout::new(r, Abi::Ilp32).unwrap()
    }

    /// The size formulas (docs/scoreboard-format.md, "The scoreboard
    /// area"), for many limits.
    #[test]
    fn sizes_match_reference_table() {
        use Revision::*;
        let table: [(Revision, [usize; 3], [usize; 3]); 10] = [
            (A, [24, 16, 256], [24, 16, 216]),
            (B, [32, 16, 264], [28, 16, 224]),
            (C0, [24, 32, 248], [24, 32, 220]),
            (C, [24, 32, 248], [20, 32, 220]),
            (D, [24, 36, 248], [20, 36, 220]),
            (D2, [24, 40, 248], [24, 40, 224]),
            (E, [24, 40, 264], [24, 40, 240]),
            (F, [56, 40, 272], [40, 40, 248]),
            (G, [56, 40, 336], [40, 40, 312]),
            (H, [56, 40, 336], [40, 40, 312]),
        ];
        for (rev, l, i) in table {
            for (sl, tl) in [(1, 1), (4, 8), (16, 64), (20000, 1), (3, 25)] {
                assert_eq!(
                    lp64(rev).expected_size(sl, tl, 0),
                    Some(l[0] + l[1] * sl + l[2] * sl * tl),
                    "{rev:?} lp64"
                );
                assert_eq!(
                    ilp32(rev).expected_size(sl, tl, 0),
                    Some(i[0] + i[1] * sl + i[2] * sl * tl),
                    "{rev:?} ilp32"
                );
            }
        }
        let apr09 = Layout::new(A, Abi::Ilp32Apr09).unwrap();
        assert_eq!(apr09.expected_size(2, 3, 0), Some(24 + 16 * 2 + 204 * 6));
        assert_eq!(
            lp64(B).expected_size(2, 2, 20),
            Some(32 + 32 + 264 * 4 + 20 * 1024)
        );
    }

    /// Offsets of the real Debian 2.4.71 segment (fixtures' meta.json).
    #[test]
    fn revision_h_offsets() {
        let l = lp64(Revision::H);
        assert_eq!(l.global_region(), 56);
        assert_eq!(l.process_offset(1), 96);
        assert_eq!(l.worker_offset(4, 8, 0, 0), 216);
        assert_eq!(l.worker_offset(4, 8, 1, 2), 216 + 8 * 336 + 2 * 336);
        let w = l.worker;
        assert_eq!(
            (
                w.request.offset,
                w.vhost.offset,
                w.protocol.unwrap().offset,
                w.duration.unwrap().offset,
                w.client64.unwrap().offset
            ),
            (152, 216, 248, 264, 272)
        );
    }

    /// 2.4.36–2.4.62 reserve 40 bytes per process slot but step by 36.
    #[test]
    fn revision_g_process_stride_is_36() {
        let l = lp64(Revision::G);
        assert_eq!(l.process.size, 36);
        assert_eq!(l.process_region(), 40);
        assert_eq!(l.process_offset(2), 56 + 72);
        // 2.4.17 reserves only 36 per slot: workers may start at 4 mod 8.
        let d = lp64(Revision::D);
        assert_eq!(d.worker_offset(3, 1, 0, 0), 24 + 3 * 36);
        // i386 from 2.4.18: rows padded, elements unpadded.
        let g = ilp32(Revision::G);
        assert_eq!(g.worker.size, 308);
        assert_eq!(
            g.worker_offset(2, 3, 1, 1) - g.worker_offset(2, 3, 1, 0),
            308
        );
        assert_eq!(
            g.worker_offset(2, 3, 1, 0) - g.worker_offset(2, 3, 0, 0),
            3 * 312
        );
    }

    #[test]
    fn field_ends_within_record() {
        for l in Layout::all() {
            let w = l.worker;
            assert_eq!(
                w.all().count(),
                16 + 5
                    - [w.pid, w.generation, w.protocol, w.duration, w.client64]
                        .iter()
                        .filter(|f| f.is_none())
                        .count()
            );
            for fl in w.all() {
                assert!(fl.offset + fl.width <= w.size, "{l}: {fl:?}");
            }
            assert!(l.global.restart_time.offset + 8 <= l.global.size);
        }
    }

    /// Padding as the C rules leave it: LP64 2.4 has one byte after
    /// `status`; armhf 2.4 after `status`, `conn_count`, `access_count` and
    /// `my_access_count`; i386 2.4.0-2.4.18 none but the byte after status.
    #[test]
    fn padding() {
        let holes = |r, a| Layout::new(r, a).unwrap().worker.padding();
        assert_eq!(holes(Revision::H, Abi::Lp64), vec![21..22]);
        assert_eq!(
            holes(Revision::E, Abi::Armhf),
            vec![17..18, 20..24, 36..40, 52..56]
        );
        assert_eq!(holes(Revision::D2, Abi::Ilp32), vec![17..18]);
        assert_eq!(holes(Revision::A, Abi::Lp64), vec![4..8, 17..24, 66..72]);
    }

    #[test]
    fn versions_and_specs() {
        assert_eq!(
            HttpdVersion::find_in(b"xx\0Apache/2.4.71 (Debian)\0"),
            Some(HttpdVersion::new(2, 4, 71))
        );
        assert_eq!(
            HttpdVersion::find_in(b"Apache/2.x Apache/2.2.34"),
            Some(HttpdVersion::new(2, 2, 34))
        );
        assert_eq!(
            "2.4.40".parse::<LayoutSpec>().unwrap().revision,
            Revision::G
        );
        assert_eq!(
            "2.4.63+".parse::<LayoutSpec>().unwrap().revision,
            Revision::H
        );
        assert_eq!(
            "2.4.36-2.4.62/ilp32".parse::<LayoutSpec>().unwrap(),
            LayoutSpec {
                revision: Revision::G,
                abi: Some(Abi::Ilp32)
            }
        );
        assert_eq!("g".parse::<LayoutSpec>().unwrap().revision, Revision::G);
        assert!("2.6.1".parse::<LayoutSpec>().is_err());
        assert!("2.4.1/sparc".parse::<LayoutSpec>().is_err());
    }
}

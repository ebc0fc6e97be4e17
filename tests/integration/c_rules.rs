//! The C layout rules, stated independently of the crate's offset tables:
//! the members of each `scoreboard.h` revision in declaration order with
//! their C types, laid out as a C compiler for the ABI does (each member at
//! the next multiple of its alignment, the structure rounded up to its
//! largest alignment). The revision tests derive the armhf layouts from this
//! and check it against the reference's measured LP64/i386 tables and the
//! real armhf capture first.

use apache_scoreboard::scoreboard::{Abi, Revision};

/// The C types the scoreboard structures use.
#[derive(Clone, Copy, Debug)]
enum Ty {
    /// `int`, `pid_t`, `ap_generation_t`, enums, `apr_uint32_t`
    Int,
    /// `unsigned char`, `char`
    Char,
    /// `unsigned short`
    Short,
    /// `unsigned long`, `pthread_t`
    Long,
    /// `apr_off_t`
    Off,
    /// `apr_time_t` (int64)
    Time,
    /// `struct tms`: four `clock_t` (long)
    Tms,
    /// `char[n]`
    Chars(usize),
}

/// (size, alignment) of `t` on `abi`.
fn size_align(t: Ty, abi: Abi) -> (usize, usize) {
    let long = if abi == Abi::Lp64 { 8 } else { 4 };
    // i386 aligns 64-bit integers to 4 inside structures; LP64 and the ARM
    // EABI to 8.
    let int64_align = if matches!(abi, Abi::Ilp32 | Abi::Ilp32Apr09) {
        4
    } else {
        8
    };
    match t {
        Ty::Int => (4, 4),
        Ty::Char => (1, 1),
        Ty::Short => (2, 2),
        Ty::Long => (long, long),
        Ty::Off if matches!(abi, Abi::Ilp32Apr09 | Abi::ArmhfApr09) => (4, 4),
        Ty::Off | Ty::Time => (8, int64_align),
        Ty::Tms => (4 * long, long),
        Ty::Chars(n) => (n, 1),
    }
}

/// A structure laid out: each member's offset, and `sizeof`.
pub struct Struct {
    members: Vec<(&'static str, usize)>,
    pub size: usize,
}

impl Struct {
    fn lay_out(abi: Abi, decl: &[(&'static str, Ty)]) -> Struct {
        let (mut at, mut max_align) = (0usize, 1);
        let mut members = Vec::new();
        for &(name, t) in decl {
            let (size, align) = size_align(t, abi);
            at = at.next_multiple_of(align);
            members.push((name, at));
            at += size;
            max_align = max_align.max(align);
        }
        Struct {
            members,
            size: at.next_multiple_of(max_align),
        }
    }

    /// The offset of member `name`, if this revision has it.
    pub fn get(&self, name: &str) -> Option<usize> {
        self.members
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, o)| *o)
    }

    pub fn at(&self, name: &str) -> usize {
        self.get(name).unwrap_or_else(|| panic!("no member {name}"))
    }
}

pub fn global(rev: Revision, abi: Abi) -> Struct {
    use Revision::*;
    let mut d = vec![("server_limit", Ty::Int), ("thread_limit", Ty::Int)];
    if matches!(rev, A | B | C0) {
        d.push(("sb_type", Ty::Int));
    }
    d.extend([("running_generation", Ty::Int), ("restart_time", Ty::Time)]);
    if rev == B {
        d.push(("lb_limit", Ty::Int));
    }
    if matches!(rev, F | G | H) {
        d.push(("times", Ty::Tms));
    }
    Struct::lay_out(abi, &d)
}

pub fn process(rev: Revision, abi: Abi) -> Struct {
    use Revision::*;
    let mut d = vec![("pid", Ty::Int), ("generation", Ty::Int)];
    if matches!(rev, A | B) {
        d.extend([("sb_type", Ty::Int), ("quiescing", Ty::Int)]);
    } else {
        d.extend([
            ("quiescing", Ty::Char),
            ("not_accepting", Ty::Char),
            ("connections", Ty::Int),
            ("write_completion", Ty::Int),
            ("lingering_close", Ty::Int),
            ("keep_alive", Ty::Int),
            ("suspended", Ty::Int),
        ]);
        if rev >= D {
            d.push(("bucket", Ty::Int));
        }
        if rev == H {
            d.push(("wait_io", Ty::Int));
        }
    }
    Struct::lay_out(abi, &d)
}

pub fn worker(rev: Revision, abi: Abi) -> Struct {
    use Revision::*;
    let strings = [
        ("client", Ty::Chars(32)),
        ("request", Ty::Chars(64)),
        ("vhost", Ty::Chars(32)),
    ];
    let mut d = Vec::new();
    if matches!(rev, A | B) {
        d.extend([("thread_num", Ty::Int), ("tid", Ty::Long)]);
        if rev == B {
            d.extend([("pid", Ty::Int), ("generation", Ty::Int)]);
        }
        d.extend([
            ("status", Ty::Char),
            ("access_count", Ty::Long),
            ("bytes_served", Ty::Off),
            ("my_access_count", Ty::Long),
            ("my_bytes_served", Ty::Off),
            ("conn_bytes", Ty::Off),
            ("conn_count", Ty::Short),
            ("start_time", Ty::Time),
            ("stop_time", Ty::Time),
            ("times", Ty::Tms),
            ("last_used", Ty::Time),
        ]);
        d.extend(strings);
    } else {
        d.extend([
            ("tid", Ty::Long),
            ("thread_num", Ty::Int),
            ("pid", Ty::Int),
            ("generation", Ty::Int),
            ("status", Ty::Char),
            ("conn_count", Ty::Short),
            ("conn_bytes", Ty::Off),
            ("access_count", Ty::Long),
            ("bytes_served", Ty::Off),
            ("my_access_count", Ty::Long),
            ("my_bytes_served", Ty::Off),
            ("start_time", Ty::Time),
            ("stop_time", Ty::Time),
            ("last_used", Ty::Time),
            ("times", Ty::Tms),
        ]);
        d.extend(strings);
        if rev >= E {
            d.push(("protocol", Ty::Chars(16)));
        }
        if rev >= F {
            d.push(("duration", Ty::Time));
        }
        if rev >= G {
            d.push(("client64", Ty::Chars(64)));
        }
    }
    Struct::lay_out(abi, &d)
}

//! Writes the seed corpus for the `decode` fuzz target into the directory
//! given as the only argument (default `fuzz/corpus/decode`):
//!
//! - every real capture in `tests/fixtures/*/scoreboard.bin`;
//! - a busy server of every known layout (POSIX form and bare SysV form),
//!   so the fuzzer starts from a valid size for each revision and ABI;
//! - hostile mutations of a capture: bad limits, wrong headers, truncation,
//!   status bytes > 10, extreme times, strings without NUL and with control
//!   bytes, `|`, `'`, `=`, invalid UTF-8;
//! - an ambiguous size (2.0 / 2.4.0 / 2.4.1 at ThreadLimit 2).

use std::fs;
use std::path::{Path, PathBuf};

use apache_scoreboard::scoreboard::encode::busy_server;
use apache_scoreboard::scoreboard::Layout;

/// POSIX form of the 2.4.63+/lp64 captures (docs/scoreboard-format.md, "Field offsets"): where things
/// sit in the file, header included.
const GLOBAL: usize = 8;
const PROCESS_SIZE: usize = 40;
const WORKER_SIZE: usize = 336;
const W_STATUS: usize = 20;
const W_START: usize = 64;
const W_STOP: usize = 72;
const W_LAST_USED: usize = 80;
const W_CLIENT: (usize, usize) = (120, 32);
const W_REQUEST: (usize, usize) = (152, 64);
const W_VHOST: (usize, usize) = (216, 32);
const W_CLIENT64: (usize, usize) = (272, 64);

fn main() {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/decode"));
    fs::create_dir_all(&out).expect("create corpus directory");
    let mut n = 0;
    let mut put = |name: &str, bytes: &[u8]| {
        fs::write(out.join(format!("seed-{name}")), bytes).expect("write seed");
        n += 1;
    };

    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let mut event_mixed = None;
    let mut dirs: Vec<_> = fs::read_dir(&fixtures)
        .expect("tests/fixtures")
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for dir in dirs {
        let Ok(bytes) = fs::read(dir.join("scoreboard.bin")) else {
            continue;
        };
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        put(&format!("fixture-{name}"), &bytes);
        put(&format!("fixture-{name}-bare"), &bytes[8..]);
        if name == "event-mixed" {
            event_mixed = Some(bytes);
        }
    }

    for layout in Layout::all() {
        for (sl, tl) in [(1, 1), (2, 3), (3, 2)] {
            let b = busy_server(layout, sl, tl);
            let name = layout.name().replace(['/', '+'], "_");
            put(&format!("busy-{name}-{sl}x{tl}"), &b.posix());
            put(&format!("busy-{name}-{sl}x{tl}-bare"), b.area());
        }
    }

    // 2.0, 2.4.0 and 2.4.1-2.4.16 on LP64 have the same size at TL = 2 and
    // an empty segment cannot tell them apart.
    let mut ambiguous = vec![0u8; 8 + 552];
    ambiguous[..8].copy_from_slice(&560u64.to_le_bytes());
    ambiguous[8..12].copy_from_slice(&1i32.to_le_bytes());
    ambiguous[12..16].copy_from_slice(&2i32.to_le_bytes());
    ambiguous[16..20].copy_from_slice(&2i32.to_le_bytes());
    ambiguous[24..32].copy_from_slice(&1_795_221_993_000_000i64.to_le_bytes());
    put("ambiguous-a-c", &ambiguous);

    let Some(base) = event_mixed else {
        eprintln!("tests/fixtures/event-mixed missing: wrote {n} seeds");
        return;
    };
    let sl = i32::from_le_bytes(base[GLOBAL..GLOBAL + 4].try_into().unwrap()) as usize;
    let tl = i32::from_le_bytes(base[GLOBAL + 4..GLOBAL + 8].try_into().unwrap()) as usize;
    let workers = GLOBAL + 56 + sl * PROCESS_SIZE;
    let worker = |i: usize, j: usize| workers + (i * tl + j) * WORKER_SIZE;
    let mutate = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = base.clone();
        f(&mut b);
        b
    };
    let set = |b: &mut Vec<u8>, at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
    let text = |b: &mut Vec<u8>, at: usize, (off, width): (usize, usize), s: &[u8]| {
        let field = &mut b[at + off..at + off + width];
        field.fill(0);
        let n = s.len().min(width);
        field[..n].copy_from_slice(&s[..n]);
    };

    put(
        "header-large",
        &mutate(&|b| set(b, 0, &(base.len() as u64 + 100).to_le_bytes())),
    );
    put(
        "header-small",
        &mutate(&|b| set(b, 0, &(base.len() as u64 - 100).to_le_bytes())),
    );
    for (name, sl, tl) in [
        ("sl0", 0, tl as i32),
        ("tl0", sl as i32, 0),
        ("sl-neg", -4, tl as i32),
        ("huge", i32::MAX, i32::MAX),
        ("sl5", 5, tl as i32),
    ] {
        put(
            &format!("limits-{name}"),
            &mutate(&|b| {
                set(b, GLOBAL, &sl.to_le_bytes());
                set(b, GLOBAL + 4, &tl.to_le_bytes());
            }),
        );
    }
    put("truncated-row", &base[..worker(0, 3) + 100]);
    put("seven-bytes", &base[..7]);
    put(
        "status-big",
        &mutate(&|b| {
            for j in 0..tl {
                b[worker(0, j) + W_STATUS] = 11 + j as u8 * 30;
            }
        }),
    );
    for (name, start, stop, last) in [
        ("zero", 0i64, 0i64, 0i64),
        ("negative", -5, -10, -1),
        ("future", i64::MAX, 0, i64::MAX),
        ("min", 0, i64::MIN, i64::MIN),
    ] {
        put(
            &format!("times-{name}"),
            &mutate(&|b| {
                let w = worker(0, 0);
                set(b, w + W_START, &start.to_le_bytes());
                set(b, w + W_STOP, &stop.to_le_bytes());
                set(b, w + W_LAST_USED, &last.to_le_bytes());
            }),
        );
    }
    let evil: &[u8] =
        b"GET /a|b'c=d\ne\r\x1b[31mX\x07\x08\x7f\xc2\x9b\xff\xfe\xe2\x80\xae|x=1 HTTP/1.1";
    put(
        "strings-evil",
        &mutate(&|b| {
            let w = worker(0, 0);
            text(b, w, W_REQUEST, evil);
            text(b, w, W_VHOST, b"ev|l'=\n\x1b]0;pwn\x07host:80");
            text(b, w, W_CLIENT, b"1.2.3.4|\n\x1b[2J");
            text(b, w, W_CLIENT64, b"1.2.3.4|\n\x1b[2J\xff");
        }),
    );
    put(
        "strings-no-nul",
        &mutate(&|b| {
            let w = worker(0, 1);
            for (f, c) in [
                (W_REQUEST, b'A'),
                (W_VHOST, b'B'),
                (W_CLIENT, b'C'),
                (W_CLIENT64, b'D'),
            ] {
                b[w + f.0..w + f.0 + f.1].fill(c);
            }
        }),
    );
    eprintln!("wrote {n} seeds to {}", out.display());
}

//! Torn reads: a writer thread rewrites a live POSIX shm object the way
//! httpd's workers do (field by field, in random order, never atomically as
//! a record: status, times, request line, vhost, client, per-process
//! counters and quiescing), while the checks and `status` read it through
//! the binary about 300 times.
//!
//! What the reader does about it: nothing, and it needs nothing. mod_status
//! itself reads the scoreboard without a lock, so a copy can mix old and new
//! values of one record (e.g. a `W` whose request line is still the previous
//! one, or a start time newer than the copy). Every such mix is still a
//! value each field can have, and the decoder treats each field on its own:
//! counts stay within the slots, ages are clamped at 0, strings are cut at
//! their field and escaped. What must never happen, and is asserted here:
//! UNKNOWN, a panic, a figure outside [0, capacity], busy + idle + graceful
//! > slots, or a layout that changes from one read to the next.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::hostile::{assert_well_formed, fixture, os, run, Background};
use crate::util::perfdata;
use apache_scoreboard::scoreboard::now_us;

use crate::capture::*;

const SLOTS: f64 = (SL * TL) as f64;

/// xorshift64*: enough randomness for choosing fields, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const REQUESTS: [&str; 5] = [
    "GET / HTTP/1.1",
    "GET /cgi-bin/sleep.cgi?s=60&id=torn&pad=0123456789abcdefghijklmnopqrstuvwxyz HTTP/1.1",
    "POST /api/v1/items HTTP/1.1",
    "GET /server-status?auto HTTP/1.1",
    "",
];
const VHOSTS: [&str; 4] = [
    "a.test:80",
    "b.test:443",
    "very-long-virtual-host-name.example.test",
    "",
];
const CLIENTS: [&str; 3] = ["127.0.0.1", "2001:db8::1234:5678:9abc", "192.0.2.77"];

/// One httpd-like change, written as several separate `pwrite`s in random
/// order: each field on its own, 8-byte times sometimes in two halves,
/// strings in two pieces (new prefix first, then the rest and the NUL).
fn mutate(file: &fs::File, rng: &mut Rng) {
    let (i, j) = (rng.below(SL as u64) as usize, rng.below(TL as u64) as usize);
    let w = worker(i, j);
    let now = now_us();
    let mut writes: Vec<(usize, Vec<u8>)> = Vec::new();
    let status = rng.below(11) as u8;
    writes.push((w + W_STATUS, vec![status]));
    let start = now - rng.below(120_000_000) as i64;
    let stop = if rng.below(2) == 0 {
        start + rng.below(2_000_000) as i64
    } else {
        start - rng.below(5_000_000) as i64
    };
    for (off, t) in [
        (W_START, start),
        (W_STOP, stop),
        (W_LAST_USED, start.max(stop)),
    ] {
        let b = t.to_le_bytes();
        if rng.below(4) == 0 {
            writes.push((w + off, b[..4].to_vec()));
            writes.push((w + off + 4, b[4..].to_vec()));
        } else {
            writes.push((w + off, b.to_vec()));
        }
    }
    writes.push((
        w + W_ACCESS_COUNT,
        rng.below(100_000).to_le_bytes().to_vec(),
    ));
    writes.push((
        w + W_DURATION,
        (rng.below(10_000_000) as i64).to_le_bytes().to_vec(),
    ));
    let pick = |rng: &mut Rng, list: &[&'static str]| list[rng.below(list.len() as u64) as usize];
    let request = pick(rng, &REQUESTS);
    let vhost = pick(rng, &VHOSTS);
    let client = pick(rng, &CLIENTS);
    for ((off, width), s) in [
        (W_REQUEST, request),
        (W_VHOST, vhost),
        (W_CLIENT, client),
        (W_CLIENT64, client),
    ] {
        // apr_cpystrn: at most width - 1 bytes, then a NUL.
        let n = s.len().min(width - 1);
        let mut bytes = s.as_bytes()[..n].to_vec();
        bytes.push(0);
        let cut = rng.below(bytes.len() as u64 + 1) as usize;
        writes.push((w + off, bytes[..cut].to_vec()));
        writes.push((w + off + cut, bytes[cut..].to_vec()));
    }
    let p = PROCESSES + i * PROCESS_SIZE;
    if rng.below(8) == 0 {
        writes.push((p + P_QUIESCING, vec![rng.below(2) as u8]));
    }
    // The event listener's counter snapshot (event.c): each counter its
    // own store; keep-alive and wait-io connections are among `connections`.
    let connections = rng.below(20) as u32;
    for (off, v) in [
        (P_CONNECTIONS, connections),
        (P_KEEP_ALIVE, rng.below(u64::from(connections) + 1) as u32),
        (P_WAIT_IO, rng.below(u64::from(connections) + 1) as u32),
    ] {
        writes.push((p + off, v.to_le_bytes().to_vec()));
    }
    // Random order, except that a string's two pieces may land either way.
    for k in (1..writes.len()).rev() {
        writes.swap(k, rng.below(k as u64 + 1) as usize);
    }
    for (at, bytes) in writes {
        if !bytes.is_empty() {
            file.write_all_at(&bytes, at as u64).expect("pwrite");
        }
    }
}

fn check_figures(cmd: &str, stdout: &str) {
    let perf = perfdata(stdout);
    let get = |k: &str| {
        *perf
            .get(k)
            .unwrap_or_else(|| panic!("{cmd}: no {k}: {stdout}"))
    };
    for (label, v) in &perf {
        assert!(v.is_finite() && *v >= 0.0, "{cmd}: {label}={v}: {stdout}");
        if !label.ends_with("_pct")
            && label != "oldest_age"
            && !label.starts_with("conns_")
            && !crate::util::COUNTERS.contains(&label.as_str())
        {
            assert!(*v <= SLOTS, "{cmd}: {label}={v} > {SLOTS} slots: {stdout}");
        }
        if label.ends_with("_pct") {
            assert!(*v <= 100.0, "{cmd}: {label}={v}: {stdout}");
        }
    }
    match cmd {
        "check_scoreboard_busy" => {
            assert_eq!(get("capacity"), SLOTS);
            let used = get("busy") + get("idle") + get("graceful");
            assert!(used <= SLOTS, "{cmd}: busy+idle+graceful {used}: {stdout}");
            assert_eq!(used + get("open"), SLOTS, "{stdout}");
        }
        "check_vhost_saturation" => {
            assert!(get("top_vhost_busy") <= get("busy"), "{stdout}");
        }
        _ => {}
    }
}

fn check_status(stdout: &str) {
    let mut seen = BTreeMap::new();
    for line in stdout.lines() {
        let (k, v) = line.split_once(':').unwrap_or_else(|| panic!("{line}"));
        seen.entry(k.to_string())
            .or_insert_with(|| v.trim().to_string());
    }
    let count = |k: &str| seen.get(k).map_or(0, |v| v.parse::<usize>().expect(k));
    let used = count("BusyWorkers") + count("IdleWorkers") + count("GracefulWorkers");
    assert!(used <= SL * TL, "status: {used} workers: {stdout}");
    assert_eq!(seen["Scoreboard"].len(), SL * TL, "{stdout}");
}

/// The layout `-v` reports (`layout 2.4.63+/lp64`).
fn layout_of(stdout: &str) -> String {
    stdout
        .split("layout ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("?")
        .to_string()
}

#[test]
fn torn_reads_of_a_live_segment() {
    let path = PathBuf::from(format!("/dev/shm/ShM.torn-test-{}", std::process::id()));
    fs::write(&path, fixture()).unwrap();
    let file = OpenOptions::new().write(true).open(&path).unwrap();
    let mut rng = Rng(now_us() as u64 | 1);
    // Stopped, joined and the object removed when dropped (also on failure).
    let writer = Background::start(&path, move |_, _| mutate(&file, &mut rng));
    let spec: &Path = &path;
    let mut layouts: BTreeMap<String, usize> = BTreeMap::new();
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    let commands = [
        "check_scoreboard_busy",
        "check_stuck_requests",
        "check_vhost_saturation",
        "status",
    ];
    let runs = 300;
    for n in 0..runs {
        let cmd = commands[n % commands.len()];
        let mut args = os(&[cmd, "--scoreboard"]);
        args.push(spec.into());
        if cmd.starts_with("check_") {
            args.extend(os(&[
                "--stale",
                "ok",
                "-v",
                "-w",
                "5",
                "-c",
                "60",
                "--max-lines",
                "100",
            ]));
            // No running httpd names this synthetic segment: its 4 x 8 slots.
            if cmd != "check_stuck_requests" {
                args.extend(os(&["--max-workers", "32"]));
            }
        }
        let r = run(&args);
        assert_well_formed(cmd, &r);
        let code = r.code;
        assert_ne!(code, 3, "{cmd}: UNKNOWN on a torn read: {}", r.stdout);
        if cmd == "status" {
            assert_eq!(code, 0);
            check_status(&r.stdout);
            continue;
        }
        let first = r.stdout.lines().next().unwrap_or("");
        assert_eq!(first.matches('|').count(), 1, "{first}");
        check_figures(cmd, &r.stdout);
        *layouts.entry(layout_of(&r.stdout)).or_default() += 1;
        *states
            .entry(first.split(" - ").next().unwrap_or("").to_string())
            .or_default() += 1;
    }
    let writes = writer.finish();
    eprintln!("torn reads: {runs} runs, {writes} httpd-like updates, layouts {layouts:?}, states {states:?}");
    assert!(writes > 1000, "the writer hardly ran ({writes} updates)");
    assert_eq!(
        layouts.keys().collect::<Vec<_>>(),
        ["2.4.63+/lp64"],
        "layout detection changed between reads"
    );
}

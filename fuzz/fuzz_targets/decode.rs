//! The whole decode path on arbitrary bytes: layout detection, decoding,
//! mod_status's rules, every check's judgement and rendering, `dump` and
//! `status`, exactly as the binary calls them (minus reading a file).
//!
//! Invariants, besides "never panics":
//! - busy + idle + graceful <= slot count, and the Scoreboard string has
//!   at most one character per slot;
//! - request ages and idle times are never negative;
//! - a rendered check has exactly one `|` on its first line, none on later
//!   lines, no control byte but the line ends, and perfdata values are plain
//!   non-negative numbers;
//! - `dump` TSV has 13 fields per line and no control byte but tabs and line
//!   ends; `dump --format json` parses and has no negative age;
//! - `status` lines are `Key: value` without control bytes;
//! - an error is one line without control bytes.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use apache_scoreboard::checks::{busy, stuck, vhost};
use apache_scoreboard::cli::{Applet, BusyArgs, Cmd, StuckArgs, VhostArgs};
use apache_scoreboard::commands::{dump, status};
use apache_scoreboard::measure::pool::Capacity;
use apache_scoreboard::plugin::output::Outcome;
use apache_scoreboard::scoreboard::{
    self, locate, rules, Form, Hints, MpmLimits, Origin, ReadOptions, Rules, Scoreboard,
};
use clap::Parser;
use common::assert_no_control;
use libfuzzer_sys::fuzz_target;

mod common;

/// The fixtures' capture time (2026-11-21T00:46:37.699800Z), µs.
const CAPTURE_US: i64 = 1_795_221_997_699_800;

/// Check invocations, parsed once by the real command-line definition.
struct Invocations {
    busy: Vec<BusyArgs>,
    stuck: Vec<StuckArgs>,
    vhost: Vec<VhostArgs>,
}

fn parse(args: &[&str]) -> Cmd {
    let argv = ["apache-scoreboard"].iter().chain(args).copied().chain([
        "--scoreboard",
        "fuzz.bin",
        "--at",
        "2026-11-21T00:46:37.6998Z",
    ]);
    match Applet::try_parse_from(argv) {
        Ok(Applet::Main { cmd } | Applet::Direct(cmd)) => cmd,
        Err(e) => panic!("bad fuzz invocation {args:?}: {e}"),
    }
}

fn invocations() -> &'static Invocations {
    static INV: OnceLock<Invocations> = OnceLock::new();
    INV.get_or_init(|| {
        let mut inv = Invocations {
            busy: Vec::new(),
            stuck: Vec::new(),
            vhost: Vec::new(),
        };
        let all: &[&[&str]] = &[
            &["check_scoreboard_busy"],
            &["check_scoreboard_busy", "-w", "1", "-c", "2"],
            &[
                "check_scoreboard_busy",
                "--metric",
                "open",
                "-w",
                "@0:3",
                "-c",
                "~:1",
                "--max-workers",
                "12",
                "--threads-per-child",
                "4",
            ],
            &["check_stuck_requests"],
            &[
                "check_stuck_requests",
                "-w",
                "0",
                "-c",
                "1",
                "--include-reading",
                "--exclude-request",
                "GET /ws/*",
            ],
            &[
                "check_stuck_requests",
                "-w",
                "1s",
                "--vhost",
                "*.test,a*",
                "--exclude-vhost",
                "b.test",
                "--min-count",
                "2",
            ],
            &["check_vhost_saturation", "-w", "1", "-c", "2"],
            &[
                "check_vhost_saturation",
                "--group-by",
                "host",
                "--metric",
                "share_of_busy",
                "-w",
                "10",
                "--top",
                "100",
                "--max-workers",
                "7",
            ],
        ];
        for args in all {
            match parse(args) {
                Cmd::Busy(a) => inv.busy.push(a),
                Cmd::Stuck(a) => inv.stuck.push(a),
                Cmd::Vhost(a) => inv.vhost.push(a),
                _ => unreachable!(),
            }
        }
        inv
    })
}

fuzz_target!(|data: &[u8]| {
    let inv = invocations();
    for form in [Form::Auto, Form::Bare] {
        match Scoreboard::from_bytes(data.to_vec(), form, &Hints::default()) {
            Ok(sb) => check_scoreboard(&sb),
            Err(e) => check_error(&e),
        }
    }
    // The binary's path: decode_copied with --at (no /proc involved for a
    // file). Only when the bytes decide the layout alone: an ambiguous size
    // makes decode_copied ask the running httpd (a /proc scan).
    for bare in [false, true] {
        let form = if bare { Form::Bare } else { Form::Auto };
        if Scoreboard::probe(data, form, &Hints::default()).is_err() {
            continue;
        }
        // The capture time for everything; 1970 and 2096 only where ages
        // matter (stuck requests, dump).
        for at in [CAPTURE_US, 0, 4_000_000_000_000_000] {
            let copied = locate::Copied {
                bytes: data.to_vec().into(),
                origin: Origin::File(PathBuf::from("fuzz.bin")),
                bare,
            };
            let opts = ReadOptions {
                at: Some(at),
                ..ReadOptions::default()
            };
            let loaded = match scoreboard::decode_copied(copied, "fuzz.bin".into(), &opts) {
                Ok(l) => l,
                Err(e) => {
                    check_error(&e);
                    continue;
                }
            };
            for a in &inv.stuck {
                check_outcome(stuck::check(&loaded, &a.stuck));
            }
            check_dump(&loaded);
            if at != CAPTURE_US {
                continue;
            }
            for a in &inv.busy {
                check_outcome(busy::check(
                    &loaded,
                    &a.busy,
                    &a.thresholds.thresholds(),
                    a.capacity.capacity(),
                ));
            }
            for a in &inv.vhost {
                check_outcome(vhost::check(
                    &loaded,
                    &a.vhost,
                    &a.thresholds.thresholds(),
                    a.capacity.capacity(),
                ));
            }
            check_status(&loaded);
        }
    }
});

fn check_scoreboard(sb: &Scoreboard) {
    let slots = sb.slot_count();
    let g = *sb.global();
    let limit_sets = [
        MpmLimits::default(),
        MpmLimits::from_config(Some(12), Some(4), g.thread_limit),
        MpmLimits::from_config(Some(1), None, g.thread_limit),
    ];
    for rules in [Rules::Httpd22, Rules::Httpd24, Rules::Httpd2458] {
        for limits in limit_sets {
            let s = rules::summarize(sb, rules, limits);
            assert!(
                s.busy + s.idle + s.graceful <= slots,
                "busy {} + idle {} + graceful {} > {slots} slots ({rules:?})",
                s.busy,
                s.idle,
                s.graceful
            );
            assert!(s.scoreboard.chars().count() <= slots);
            assert_eq!(
                s.status_counts.iter().sum::<usize>(),
                s.scoreboard.chars().count()
            );
            assert!(s.async_busy + s.async_idle <= slots);
            assert!(s.processes <= g.server_limit && s.stopping <= s.processes);
        }
    }
    for now in [CAPTURE_US, 0, i64::MAX, i64::MIN] {
        for (_, w) in sb.workers() {
            assert!(w.request_age_us(now).is_none_or(|a| a >= 0));
            assert!(w.idle_for_us(now).is_none_or(|a| a >= 0));
        }
    }
    let _ = scoreboard::guess_mpm(sb);
}

fn check_error(e: &scoreboard::Error) {
    common::check_error_line(&e.to_string());
}

fn check_outcome(outcome: Outcome) {
    common::check_rendered(&outcome);
}

fn check_dump(loaded: &scoreboard::Loaded) {
    for all in [false, true] {
        let tsv = dump::render(loaded, all, dump::Format::Tsv, true);
        assert_no_control(&tsv, "\t\n");
        // Every row has the header's columns (the header grows with dump:
        // 14 since the `user` column).
        let header = tsv.lines().find(|l| l.starts_with("#pid\t"));
        let columns = header.expect("dump has its header").split('\t').count();
        for line in tsv.lines() {
            assert!(!line.contains('|'), "{line:?}");
            if !line.starts_with('#') {
                assert_eq!(line.split('\t').count(), columns, "{line:?}");
            }
        }
        let json = dump::render(loaded, all, dump::Format::Json, false);
        let rows: serde_json::Value = serde_json::from_str(&json).expect("dump json parses");
        for row in rows.as_array().expect("dump json is an array") {
            for key in ["age_seconds", "idle_seconds"] {
                if let Some(v) = row[key].as_f64() {
                    assert!(v >= 0.0, "{key} {v} in {row}");
                }
            }
        }
    }
}

fn check_status(loaded: &scoreboard::Loaded) {
    let slots = loaded.scoreboard.slot_count();
    for limits in [
        MpmLimits::default(),
        Capacity {
            max_workers: Some(12),
            threads_per_child: Some(4),
        }
        .limits(loaded),
    ] {
        let text = status::render(loaded, limits);
        assert_no_control(&text, "\n");
        let mut workers = 0;
        let mut seen: Vec<&str> = Vec::new();
        for line in text.lines() {
            let (key, value) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("status line {line:?}"));
            // The second BusyWorkers/IdleWorkers pair (2.4.35-2.4.57
            // event's async block) counts again.
            if matches!(key, "BusyWorkers" | "IdleWorkers" | "GracefulWorkers")
                && !seen.contains(&key)
            {
                seen.push(key);
                workers += value.trim().parse::<usize>().expect("a count");
            }
        }
        assert!(
            workers <= slots,
            "{workers} workers > {slots} slots: {text}"
        );
    }
}

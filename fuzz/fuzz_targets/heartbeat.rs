//! mod_heartmonitor's two storages on arbitrary bytes: the flat-file and
//! slotmem parsers (detected and forced), the cluster check's judgement and
//! rendering and `cluster`'s TSV and JSON, as the binary calls them (minus
//! reading a file).
//!
//! Invariants, besides "never panics":
//! - an error is one line without control bytes;
//! - a rendered check has exactly one `|` on its first line, none on later
//!   lines, no control byte but the line ends, and plain non-negative
//!   perfdata numbers, busy_pct within 0-100;
//! - `cluster` TSV has 7 fields per line and JSON parses, one row per member.
#![no_main]

use std::sync::OnceLock;

use apache_scoreboard::checks::cluster;
use apache_scoreboard::cli::{Applet, Cmd};
use apache_scoreboard::commands::cluster as cluster_cmd;
use apache_scoreboard::commands::dump::Format;
use apache_scoreboard::heartbeat::{self, Kind, Monitor, Storage};
use apache_scoreboard::plugin::output::Outcome;
use apache_scoreboard::plugin::verdict::Thresholds;
use clap::Parser;
use common::assert_no_control;
use libfuzzer_sys::fuzz_target;

mod common;

/// The slotmem-busy capture's time, µs.
const NOW: i64 = 1_795_225_378_167_346;

fn invocations() -> &'static Vec<(cluster::Options, Thresholds)> {
    static INV: OnceLock<Vec<(cluster::Options, Thresholds)>> = OnceLock::new();
    INV.get_or_init(|| {
        let all: &[&[&str]] = &[
            &[],
            &["--expect", "3", "-w", "50", "-c", "90"],
            &["--member", "192.0.2.11", "--member", "::1", "--max-age", "0"],
            &["--metric", "member_busy_pct", "-c", "@0:10", "--top", "1000"],
            &["--metric", "live", "-w", "3:", "--expect", "1000000"],
        ];
        all.iter()
            .map(|args| {
                let argv = ["apache-scoreboard", "check_heartbeat_cluster"]
                    .iter()
                    .chain(args.iter())
                    .copied();
                match Applet::try_parse_from(argv) {
                    Ok(Applet::Main {
                        cmd: Cmd::ClusterCheck(a),
                    }) => (a.cluster, a.thresholds.thresholds()),
                    _ => panic!("bad fuzz invocation {args:?}"),
                }
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    for kind in [None, Some(Kind::File), Some(Kind::Slotmem)] {
        // The file's mtime: now, and long ago (a dead monitor).
        for written in [NOW, 0] {
            match heartbeat::decode(data, kind, written, NOW) {
                Ok((kind, members, slots)) => {
                    let storage = Storage {
                        kind,
                        shown: "fuzz.bin".into(),
                        members,
                        written_us: (kind == Kind::File).then_some(written),
                        slots,
                        monitor: Monitor::Unknown,
                        now: NOW,
                        at_given: true,
                    };
                    check_storage(&storage);
                }
                Err(e) => check_error(&format!("fuzz.bin: {}", e.0)),
            }
        }
    }
});

fn check_storage(storage: &Storage) {
    for (options, thresholds) in invocations() {
        check_outcome(&cluster::judge(storage, options, thresholds));
    }
    let tsv = cluster_cmd::render(storage, Format::Tsv);
    assert_no_control(&tsv, "\t\n");
    assert_eq!(tsv.lines().count(), storage.members.len());
    for line in tsv.lines() {
        assert_eq!(line.split('\t').count(), 7, "{line:?}");
    }
    let json = cluster_cmd::render(storage, Format::Json);
    let rows: serde_json::Value = serde_json::from_str(&json).expect("cluster json parses");
    assert_eq!(
        rows.as_array().expect("an array").len(),
        storage.members.len()
    );
}

fn check_error(message: &str) {
    common::check_error_line(message);
}

/// The shared rendering invariants, and percentages within 0-100.
fn check_outcome(outcome: &Outcome) {
    common::check_rendered(outcome);
    for p in &outcome.perfdata {
        if p.label.ends_with("busy_pct") {
            assert!((0.0..=100.0).contains(&p.value), "{p:?}");
        }
    }
}

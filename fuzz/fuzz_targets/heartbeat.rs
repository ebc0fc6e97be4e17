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
use apache_scoreboard::cli::{Applet, Cmd, SERVICE};
use apache_scoreboard::commands::cluster as cluster_cmd;
use apache_scoreboard::commands::dump::Format;
use apache_scoreboard::heartbeat::{self, Kind, Monitor, Storage};
use apache_scoreboard::plugin::output::{Outcome, OutputLimits};
use apache_scoreboard::plugin::verdict::Thresholds;
use clap::Parser;
use libfuzzer_sys::fuzz_target;

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
    let text = Outcome::unknown(message).render(SERVICE, &OutputLimits::default());
    assert_eq!(text.matches('\n').count(), 1, "{text:?}");
    assert_no_control(&text, "\n");
}

fn assert_no_control(text: &str, allowed: &str) {
    if let Some(c) = text
        .chars()
        .find(|&c| c.is_control() && !allowed.contains(c))
    {
        panic!("control character {c:?} in {text:?}");
    }
}

fn check_outcome(outcome: &Outcome) {
    for limits in [
        OutputLimits::default(),
        OutputLimits::for_max_lines(Some(1000)),
    ] {
        let text = outcome.render(SERVICE, &limits);
        assert!(text.ends_with('\n'), "{text:?}");
        assert_no_control(&text, "\n");
        let mut lines = text.lines();
        let first = lines.next().unwrap_or("");
        for line in lines {
            assert!(!line.contains('|'), "| in long output: {line:?}");
        }
        assert_eq!(first.matches('|').count(), 1, "{first:?}");
        let perf = first.split_once(" | ").map_or("", |(_, p)| p);
        for token in perf.split(' ') {
            let (label, rest) = token
                .rsplit_once('=')
                .unwrap_or_else(|| panic!("{token:?}"));
            assert!(!label.is_empty() && !label.contains([' ', '|', '=']), "{token:?}");
            let value = rest.split(';').next().unwrap_or("");
            let number = value.trim_end_matches('%');
            let v: f64 = number
                .parse()
                .unwrap_or_else(|_| panic!("perfdata value {value:?} in {token:?}"));
            assert!(v.is_finite() && v >= 0.0, "{token:?}");
            assert!(!number.contains(['e', 'E', ',']), "{token:?}");
            if label.ends_with("busy_pct") {
                assert!(v <= 100.0, "{token:?}");
            }
        }
    }
}

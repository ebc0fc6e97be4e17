//! argv[0] selects the check: symlinks named after each check give the same
//! output as the subcommands; usage errors, --help and --version exit 3.

use crate::fixtures::Fixture;
use crate::util::{run_bin, run_program, TempDir, BIN};

#[test]
fn symlinks_equal_subcommands() {
    let t = TempDir::new("multicall");
    let dir = &t.0;
    let f = Fixture::load("worker-saturation");
    for check in [
        "check_scoreboard_busy",
        "check_stuck_requests",
        "check_vhost_saturation",
    ] {
        let link = dir.join(check);
        std::os::unix::fs::symlink(BIN, &link).expect("symlink");
        let mut args = f.source_args();
        args.extend(["-w".into(), "1".into(), "-c".into(), "2".into()]);
        let direct = run_program(&link, &args);
        let mut sub = vec![check.to_string()];
        sub.extend(args);
        let via_sub = run_bin(&sub);
        assert_eq!(direct.stdout, via_sub.stdout, "{check}");
        assert_eq!(direct.code, via_sub.code, "{check}");
        assert!(
            direct.stdout.starts_with("SCOREBOARD "),
            "{check}: {}",
            direct.stdout
        );
        // --help through the symlink is that check's help.
        let help = run_program(&link, &["--help".to_string()]);
        assert_eq!(help.code, 3);
        assert!(help.stdout.contains(check), "{check}: {}", help.stdout);
        for flag in ["-V", "--version"] {
            let version = run_program(&link, &[flag.to_string()]);
            assert_eq!((version.code, version.stdout.as_str()), (3, VERSION_LINE));
        }
    }
    // The cluster check reads mod_heartmonitor's storage.
    let check = "check_heartbeat_cluster";
    let link = dir.join(check);
    std::os::unix::fs::symlink(BIN, &link).expect("symlink");
    let storage = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/heartbeat/slotmem-busy/slotmem.bin");
    let args: Vec<String> = [
        "--storage",
        &storage.display().to_string(),
        "--at",
        "2026-11-21T01:42:58.167346Z",
        "--expect",
        "3",
        "-w",
        "10",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let direct = run_program(&link, &args);
    let mut sub = vec![check.to_string()];
    sub.extend(args);
    let via_sub = run_bin(&sub);
    assert_eq!(direct.stdout, via_sub.stdout);
    assert_eq!((direct.code, via_sub.code), (1, 1), "{}", direct.stdout);
    let help = run_program(&link, &["--help".to_string()]);
    assert_eq!(help.code, 3);
    assert!(help.stdout.contains("--member"), "{}", help.stdout);
}

#[test]
fn usage_errors_are_one_unknown_line() {
    for args in [
        vec!["check_scoreboard_busy", "--bogus"],
        vec!["check_scoreboard_busy", "-w", "20:10"],
        vec!["check_scoreboard_busy", "-w", "abc"],
        vec!["check_stuck_requests", "-w", "soon"],
        vec!["status", "--at", "yesterday"],
        vec!["check_vhost_saturation", "--max-workers", "0"],
        vec!["check_scoreboard_busy", "--threads-per-child", "0"],
        vec!["check_heartbeat_cluster", "--member", "web1"],
        vec!["check_heartbeat_cluster", "--max-age", "soon"],
        vec!["check_heartbeat_cluster", "--metric", "queue"],
        vec!["cluster", "--storage-format", "xml"],
        vec!["frobnicate"],
    ] {
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        let run = run_bin(&args);
        assert_eq!(run.code, 3, "{args:?}: {}", run.stdout);
        assert_eq!(run.stdout.lines().count(), 1, "{args:?}: {}", run.stdout);
        assert!(
            run.stdout
                .starts_with("SCOREBOARD UNKNOWN - invalid arguments: "),
            "{args:?}: {}",
            run.stdout
        );
    }
    for flag in ["--help", "--version"] {
        let run = run_bin(&["check_scoreboard_busy".to_string(), flag.to_string()]);
        assert_eq!(run.code, 3, "{flag}");
        assert!(!run.stdout.is_empty());
    }
    let run = run_bin(&[]);
    assert_eq!(run.code, 3);
}

const VERSION_LINE: &str = concat!("apache-scoreboard ", env!("CARGO_PKG_VERSION"), "\n");

/// `-V` and `--version` on the binary and on every subcommand print the
/// same line and exit 3.
#[test]
fn every_subcommand_has_version() {
    use clap::CommandFactory;
    let mut applet = apache_scoreboard::cli::Applet::command();
    applet.build();
    let main = applet
        .find_subcommand("apache-scoreboard")
        .expect("the main command")
        .clone();
    let subcommands: Vec<String> = main
        .get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
        .map(|c| c.get_name().to_string())
        .collect();
    assert!(subcommands.len() >= 7, "{subcommands:?}");
    for flag in ["-V", "--version"] {
        let run = run_bin(&[flag.to_string()]);
        assert_eq!((run.code, run.stdout.as_str()), (3, VERSION_LINE), "{flag}");
        for sub in &subcommands {
            let run = run_bin(&[sub.clone(), flag.to_string()]);
            assert_eq!(
                (run.code, run.stdout.as_str()),
                (3, VERSION_LINE),
                "{sub} {flag}"
            );
        }
    }
}

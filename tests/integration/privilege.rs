//! The file-capability setup: as user `nagios`, a copy of the binary with
//! `cap_dac_read_search,cap_ipc_owner+ep` reads a live scoreboard listed in
//! /etc/apache-scoreboard/scoreboards, and refuses /etc/shadow, a symlink to
//! it and another user's file without printing any of their bytes. Without
//! the capability the permission error says what to do.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{require_apache, Httpd, HttpdConfig, Mpm};
use crate::util::{run_program, Run};

const ALLOWLIST: &str = "/etc/apache-scoreboard/scoreboards";

/// Writes the allowlist for the test and restores what was there. Set it
/// only while holding an [`Httpd`] (the harness runs one at a time), so
/// that tests never write it concurrently.
pub struct Allowlist {
    previous: Option<String>,
    created_dir: bool,
}

impl Allowlist {
    pub fn set(paths: &[PathBuf]) -> Allowlist {
        let dir = Path::new(ALLOWLIST).parent().expect("dir");
        let created_dir = !dir.exists();
        fs::create_dir_all(dir).expect("allowlist dir");
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).expect("chmod");
        let previous = fs::read_to_string(ALLOWLIST).ok();
        let text: String = paths.iter().map(|p| format!("{}\n", p.display())).collect();
        fs::write(ALLOWLIST, text).expect("write allowlist");
        fs::set_permissions(ALLOWLIST, fs::Permissions::from_mode(0o644)).expect("chmod");
        Allowlist {
            previous,
            created_dir,
        }
    }
}

impl Drop for Allowlist {
    fn drop(&mut self) {
        match &self.previous {
            Some(text) => {
                let _ = fs::write(ALLOWLIST, text);
            }
            None => {
                let _ = fs::remove_file(ALLOWLIST);
                if self.created_dir {
                    let _ = fs::remove_dir(Path::new(ALLOWLIST).parent().expect("dir"));
                }
            }
        }
    }
}

/// `name` in the system's bin directories.
pub fn tool(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// `id FLAG USER`, trimmed.
pub fn id(flag: &str, user: &str) -> Option<String> {
    let out = Command::new("id").args([flag, user]).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs `program args` as `user` through setpriv.
pub fn run_as(user: &str, program: &Path, args: &[&str]) -> Run {
    let (uid, gid) = (id("-u", user).expect("uid"), id("-g", user).expect("gid"));
    let mut full = vec![
        format!("--reuid={uid}"),
        format!("--regid={gid}"),
        "--clear-groups".into(),
        program.display().to_string(),
    ];
    full.extend(args.iter().map(|s| s.to_string()));
    run_program(&tool("setpriv").expect("setpriv"), &full)
}

#[test]
fn capability_reads_only_allowlisted_scoreboards() {
    if !require_apache() {
        return;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let user = if id("-u", "nagios").is_some() {
        "nagios"
    } else {
        "nobody"
    };
    let (Some(setcap), Some(_)) = (tool("setcap"), tool("setpriv")) else {
        assert!(
            !ci,
            "CI=true but setcap/setpriv are missing (apt-get install libcap2-bin util-linux)"
        );
        eprintln!("skipping: setcap or setpriv missing");
        return;
    };
    let dir = std::env::temp_dir().join(format!("apache-scoreboard-caps-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("temp dir");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod");
    let plain = dir.join("plain");
    let privileged = dir.join("privileged");
    for p in [&plain, &privileged] {
        crate::util::install_binary(p);
    }
    let ok = Command::new(setcap)
        .args([
            "cap_dac_read_search,cap_ipc_owner+ep",
            &privileged.display().to_string(),
        ])
        .status()
        .expect("setcap");
    assert!(ok.success(), "setcap failed");

    let h = Httpd::start(HttpdConfig::new(Mpm::Prefork)).expect("start apache2");
    let sbf = h.scoreboard_file();
    let sbf_arg = sbf.display().to_string();
    let _allow = Allowlist::set(std::slice::from_ref(&sbf));

    // Without the capability: permission denied, and what to do.
    let run = run_as(
        user,
        &plain,
        &["check_scoreboard_busy", "--scoreboard", &sbf_arg],
    );
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert!(
        run.stdout.contains("permission denied")
            && run
                .stdout
                .contains("run via sudo or install with the capability; see README"),
        "{}",
        run.stdout
    );

    // With it: the listed scoreboard, by its ScoreBoardFile path, by the
    // derived /dev/shm object, and by discovery (the allowlist's one entry).
    let shm = h.shm_path().display().to_string();
    for args in [
        vec!["check_scoreboard_busy", "--scoreboard", &sbf_arg],
        vec!["check_scoreboard_busy", "--scoreboard", &shm],
        vec!["check_scoreboard_busy"],
    ] {
        let run = run_as(user, &privileged, &args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stdout);
        assert!(run.stdout.starts_with("SCOREBOARD OK - "), "{}", run.stdout);
        assert!(run.stderr.is_empty(), "{}", run.stderr);
    }

    // Anything else is refused before a byte is read.
    let link = dir.join("link-to-shadow");
    std::os::unix::fs::symlink("/etc/shadow", &link).expect("symlink");
    let other = dir.join("root-only.bin");
    fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/event-mixed/scoreboard.bin"),
        &other,
    )
    .expect("copy fixture");
    fs::set_permissions(&other, fs::Permissions::from_mode(0o600)).expect("chmod");
    let shadow_head: String = fs::read_to_string("/etc/shadow")
        .unwrap_or_default()
        .chars()
        .take(12)
        .collect();
    for target in [
        "/etc/shadow".to_string(),
        link.display().to_string(),
        other.display().to_string(),
    ] {
        for check in ["check_scoreboard_busy", "dump", "status"] {
            let run = run_as(user, &privileged, &[check, "--scoreboard", &target]);
            assert_eq!(run.code, 3, "{check} {target}: {}", run.stdout);
            assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
            assert!(
                run.stdout.starts_with("SCOREBOARD UNKNOWN - refusing "),
                "{check} {target}: {}",
                run.stdout
            );
            assert!(
                shadow_head.is_empty() || !run.stdout.contains(&shadow_head),
                "leaked: {}",
                run.stdout
            );
        }
    }
    let _ = fs::remove_dir_all(&dir);
}

//! Shared helpers for the integration tests.
//!
//! - [`httpd`]: a real Debian `apache2` in a temporary ServerRoot, held
//!   requests, and mod_status read at a synchronized instant.
//! - here: parsing mod_status's `?auto` text and listing POSIX shared-memory
//!   objects and processes, which tests compare against our reader.

pub mod httpd;
pub mod netns;
pub mod tmux;

use std::fs;
use std::path::{Path, PathBuf};

pub use httpd::{require_apache, Httpd, HttpdConfig, Mpm};

/// `Key: value` lines of a `/server-status?auto` body, in order, duplicates
/// kept; lines without a colon (the leading server name) are skipped.
pub fn parse_auto(body: &str) -> Vec<(String, String)> {
    body.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(':')?;
            Some((key.trim().to_string(), value.trim().to_string()))
        })
        .collect()
}

/// The first value of `key` in a `?auto` body.
pub fn auto_value(body: &str, key: &str) -> Option<String> {
    parse_auto(body)
        .into_iter()
        .find_map(|(k, v)| (k == key).then_some(v))
}

/// APR's POSIX shared-memory objects (`/dev/shm/ShM.*`), sorted.
pub fn shm_objects() -> Vec<PathBuf> {
    let mut objects: Vec<PathBuf> = fs::read_dir("/dev/shm")
        .map(|entries| {
            entries
                .flatten()
                .filter(|entry| entry.file_name().as_encoded_bytes().starts_with(b"ShM."))
                .map(|entry| entry.path())
                .collect()
        })
        .unwrap_or_default();
    objects.sort();
    objects
}

/// True while a process with this pid exists (zombies included).
pub fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// The parent of a process, from the 4th field of `/proc/<pid>/stat`.
pub fn parent_pid(pid: u32) -> Option<u32> {
    stat_field(pid, 4)?.parse().ok()
}

/// When a process started (clock ticks since boot, the 22nd field of
/// `/proc/<pid>/stat`): with the pid, names one process for good.
pub fn start_time(pid: u32) -> Option<u64> {
    stat_field(pid, 22)?.parse().ok()
}

/// Field `n` (1-based, as proc(5) numbers them) of `/proc/<pid>/stat`.
fn stat_field(pid: u32, n: usize) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may contain anything, even ')'.
    let after_comm = &stat[stat.rfind(')')? + 1..];
    Some(
        after_comm
            .split_whitespace()
            .nth(n.checked_sub(3)?)?
            .to_string(),
    )
}

/// True when `program` is installed. Otherwise prints a skip note and
/// returns false, except under `CI=true`, where it panics: CI installs what
/// the tests need (packaging/ci-deps.sh).
pub fn require_program(program: &str) -> bool {
    if Path::new(program).is_file() {
        return true;
    }
    assert!(
        std::env::var("CI").map_or(true, |ci| ci != "true"),
        "CI=true but {program} is missing (packaging/ci-deps.sh)"
    );
    eprintln!("skipping: {program} is not installed");
    false
}

//! Running with a file capability (`cap_dac_read_search` for POSIX objects,
//! `cap_ipc_owner` for SysV) as an unprivileged user: then this binary is a
//! privileged program and behaves like one.
//!
//! - It opens only real httpd scoreboards: a ScoreBoardFile path listed in
//!   the root-owned [`ALLOWLIST`] file, or the POSIX object / SysV segment
//!   APR derives from such a path. Any other `--scoreboard` is refused before
//!   a byte of it is read.
//! - Allowed objects are opened without following symlinks and must be
//!   owned by root.
//! - Every capability is dropped right after the segment is opened and
//!   before anything is decoded.
//! - No environment variable is consulted anywhere in this program.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::apr::{posix_name, scoreboard_file_path};
use super::error::Error;

/// Root-owned list of ScoreBoardFile paths (one absolute path per line,
/// `#` comments) that the capability may be used for.
pub const ALLOWLIST: &str = "/etc/apache-scoreboard/scoreboards";

/// Whether this process holds capabilities it did not get by being root.
pub fn elevated() -> bool {
    let Some(status) = super::proc::read_proc("/proc/self/status", 4096)
        .and_then(|bytes| String::from_utf8(bytes).ok())
    else {
        return false;
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    let real_uid_root = field("Uid:").and_then(|u| u.split_whitespace().next()) == Some("0");
    let has_caps = field("CapEff:")
        .and_then(|c| u64::from_str_radix(c, 16).ok())
        .is_some_and(|c| c != 0);
    has_caps && !real_uid_root
}

/// Drops every capability (effective, permitted, inheritable, ambient).
pub fn drop_all() {
    for set in [
        caps::CapSet::Ambient,
        caps::CapSet::Effective,
        caps::CapSet::Permitted,
        caps::CapSet::Inheritable,
    ] {
        let _ = caps::clear(None, set);
    }
}

/// The ScoreBoardFile paths the allowlist names, if the file is owned by
/// root and writable by no one else.
pub fn allowed_paths() -> Result<Vec<PathBuf>, Error> {
    let refuse = |why: &str| {
        Error::Discovery(format!("{ALLOWLIST} {why}: the capability is used only for scoreboards listed there (see README)"))
    };
    for p in [
        Path::new(ALLOWLIST),
        Path::new(ALLOWLIST).parent().unwrap_or(Path::new("/")),
    ] {
        let meta = fs::symlink_metadata(p).map_err(|_| refuse("is missing"))?;
        if meta.uid() != 0
            || meta.permissions().mode() & 0o022 != 0
            || meta.file_type().is_symlink()
        {
            return Err(refuse("must be owned by root and writable only by root"));
        }
    }
    let text = fs::read_to_string(ALLOWLIST).map_err(|_| refuse("is unreadable"))?;
    Ok(text
        .lines()
        .map(str::trim)
        // Only absolute paths: a relative line would mean whatever the
        // caller's current directory makes of it.
        .filter(|l| l.starts_with('/'))
        .map(|l| scoreboard_file_path(Path::new(l), None))
        .collect())
}

/// What `--scoreboard` may name in elevated mode: the listed path (SysV key
/// file) and the POSIX objects derived from it.
pub fn check_allowed(spec: &Path, server_root: Option<&Path>) -> Result<(), Error> {
    let listed = allowed_paths()?;
    let wanted = scoreboard_file_path(spec, server_root);
    let ok = listed.iter().any(|p| {
        let bytes = p.as_os_str().as_encoded_bytes();
        *p == wanted
            || [true, false].iter().any(|&signed| {
                wanted
                    == Path::new("/dev/shm").join(posix_name(bytes, signed).trim_start_matches('/'))
            })
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Refused {
            path: spec.to_path_buf(),
        })
    }
}

/// The capabilities a reader ever needs: search any directory and read any
/// file (POSIX objects), attach any SysV segment.
const READER_CAPS: [caps::Capability; 2] = [
    caps::Capability::CAP_DAC_READ_SEARCH,
    caps::Capability::CAP_IPC_OWNER,
];

/// For a long-running reader (the exporter) once its segments are open:
/// nothing effective, inheritable or ambient, and of the permitted set
/// only what [`raised`] may need again to reopen a segment that httpd
/// recreated.
pub fn lower() {
    for set in [
        caps::CapSet::Ambient,
        caps::CapSet::Inheritable,
        caps::CapSet::Effective,
    ] {
        let _ = caps::clear(None, set);
    }
    if let Ok(permitted) = caps::read(None, caps::CapSet::Permitted) {
        let keep: caps::CapsHashSet = permitted
            .into_iter()
            .filter(|c| READER_CAPS.contains(c))
            .collect();
        let _ = caps::set(None, caps::CapSet::Permitted, &keep);
    }
}

/// Runs `open` with the permitted capabilities effective, then makes none
/// effective again (see [`lower`]).
pub fn raised<T>(open: impl FnOnce() -> T) -> T {
    if let Ok(permitted) = caps::read(None, caps::CapSet::Permitted) {
        let _ = caps::set(None, caps::CapSet::Effective, &permitted);
    }
    let out = open();
    let _ = caps::clear(None, caps::CapSet::Effective);
    out
}

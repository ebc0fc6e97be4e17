//! `snapshot OUT`: saves the live segment, POSIX form (8-byte size header,
//! then the scoreboard), for offline use and bug reports.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::scoreboard::Loaded;

/// `.NAME.partial-PID` in `out`'s directory (created with `O_EXCL`).
fn temporary_beside(out: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(out.file_name().unwrap_or_else(|| "snapshot".as_ref()));
    name.push(format!(".partial-{}", std::process::id()));
    out.with_file_name(name)
}

/// Writes the segment to `out` (mode 0600: it holds client addresses and
/// request lines). An existing `out` is an error unless `force`; a symlink
/// at `out` is never followed: without `force` the file is created with
/// `O_EXCL | O_NOFOLLOW`, with it the copy is written to a new temporary
/// file beside `out` and renamed over it, which replaces a symlink itself.
pub fn write(loaded: &Loaded, out: &Path, force: bool) -> anyhow::Result<String> {
    let sb = &loaded.scoreboard;
    let mut bytes = Vec::with_capacity(sb.segment_bytes().len() + 8);
    if !sb.has_header() {
        bytes.extend_from_slice(&(sb.segment_bytes().len() as u64 + 8).to_le_bytes());
    }
    bytes.extend_from_slice(sb.segment_bytes());
    let target = if force {
        temporary_beside(out)
    } else {
        out.to_path_buf()
    };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o600)
        .open(&target)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists if !force => anyhow::anyhow!(
                "{} already exists: choose a new name or pass --force to replace it",
                out.display()
            ),
            _ => anyhow::Error::new(e).context(format!("cannot create {}", target.display())),
        })?;
    let mut written = file.write_all(&bytes).and_then(|()| file.sync_all());
    if force {
        written = written.and_then(|()| fs::rename(&target, out));
    }
    if let Err(e) = written {
        let _ = fs::remove_file(&target);
        return Err(e).with_context(|| format!("cannot write {}", out.display()));
    }
    let at = humantime::format_rfc3339_micros(
        std::time::UNIX_EPOCH + std::time::Duration::from_micros(loaded.now.max(0) as u64),
    );
    let g = sb.global();
    Ok(format!(
        "wrote {} ({} bytes) from {}: layout {}, ServerLimit {}, ThreadLimit {}, httpd {}{}; evaluate it with: --scoreboard {} --at {at} --mpm {} --httpd-version {}\n",
        out.display(),
        bytes.len(),
        loaded.origin.describe(),
        sb.layout().name(),
        g.server_limit,
        g.thread_limit,
        loaded.version,
        if loaded.version_known { "" } else { " (assumed)" },
        out.display(),
        loaded.mpm_guess().name(),
        loaded.version,
    ))
}

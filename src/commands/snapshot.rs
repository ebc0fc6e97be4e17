//! `snapshot OUT`: saves the live segment, POSIX form (8-byte size header,
//! then the scoreboard), for offline use and bug reports.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;

use crate::scoreboard::Loaded;

/// Writes the segment to `out` (mode 0600: it holds client addresses and
/// request lines) through a temporary file renamed into place.
pub fn write(loaded: &Loaded, out: &Path) -> anyhow::Result<String> {
    let sb = &loaded.scoreboard;
    let mut bytes = Vec::with_capacity(sb.segment_bytes().len() + 8);
    if !sb.has_header() {
        bytes.extend_from_slice(&(sb.segment_bytes().len() as u64 + 8).to_le_bytes());
    }
    bytes.extend_from_slice(sb.segment_bytes());
    let tmp = out.with_extension("partial");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    let written = file
        .write_all(&bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&tmp, out));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
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
        format!("{:?}", loaded.mpm_guess()).to_lowercase(),
        loaded.version,
    ))
}

//! `metrics`: one Prometheus scrape of the segment (text format 0.0.4), to
//! stdout or atomically into a file for node_exporter's textfile
//! collector. A segment that cannot be read gives `apache_up 0`, not an
//! error: the scrape itself worked.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::measure::Capacity;
use crate::prometheus::{self, Exposition, Format};
use crate::scoreboard::{Loaded, ReadOptions};

/// Reads the segment once and measures it.
pub fn scrape(
    source: &ReadOptions,
    capacity: Capacity,
    max_vhosts: usize,
    load: impl FnOnce(&ReadOptions) -> anyhow::Result<Loaded>,
) -> Exposition {
    let started = Instant::now();
    let mut e = match load(source) {
        Ok(mut loaded) => {
            let server = prometheus::Server::inspect(&loaded);
            server.apply(&mut loaded);
            prometheus::up(&loaded, &server, capacity, max_vhosts)
        }
        Err(_) => prometheus::down(),
    };
    prometheus::scrape_duration(&mut e, started.elapsed().as_secs_f64());
    e
}

/// The text for stdout, or `""` after writing it to `output`.
pub fn emit(e: &Exposition, output: Option<&Path>) -> anyhow::Result<String> {
    let text = e.write(Format::Text);
    match output {
        None => Ok(text),
        Some(path) => {
            write_atomically(path, text.as_bytes())
                .map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
            Ok(String::new())
        }
    }
}

/// Writes a temporary file beside `path` (created, never opened if it
/// exists, never through a symlink), then renames it over `path`, so a
/// reader sees the old file or the new one, never a part.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("metrics-atomic-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).expect("mkdir");
        let out = dir.join("apache.prom");
        write_atomically(&out, b"a 1\n").expect("first");
        write_atomically(&out, b"a 2\n").expect("second");
        assert_eq!(fs::read(&out).expect("read"), b"a 2\n");
        assert_eq!(fs::read_dir(&dir).expect("ls").count(), 1);
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn unreadable_segment_is_apache_up_0() {
        let e = scrape(&ReadOptions::default(), Capacity::default(), 20, |_| {
            anyhow::bail!("nothing here")
        });
        let text = e.write(Format::Text);
        assert!(text.contains("\napache_up 0\n"), "{text}");
        assert!(text.contains("apache_segment_scrape_duration_seconds "));
    }
}

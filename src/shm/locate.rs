//! Finding a segment: what `--scoreboard PATH` names (docs/scoreboard-format.md, "Where the segment
//! lives"), by
//! APR's naming (`apr`); running httpd instances are `proc`'s. Everything
//! here is safe code; reading the bytes (a mapping or a copy) is
//! `segment`'s.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::apr::{posix_name, scoreboard_file_path, times33, HOST_SIGNED_CHAR};
use super::error::Error;
use super::segment as source;

/// Where a segment copy came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A regular file outside /dev/shm: a saved snapshot or an mmap'd
    /// ScoreBoardFile.
    File(PathBuf),
    /// A POSIX shm object (`/dev/shm/ShM.*`).
    Posix(PathBuf),
    /// A SysV segment.
    Sysv { key: Option<i32>, shmid: i32 },
}

impl Origin {
    /// Whether the segment belongs to a server that may still run (as
    /// opposed to a file saved earlier).
    pub fn is_shared_memory(&self) -> bool {
        !matches!(self, Origin::File(_))
    }

    pub fn describe(&self) -> String {
        match self {
            Origin::File(p) => format!("file {}", p.display()),
            Origin::Posix(p) => format!("POSIX shm {}", p.display()),
            Origin::Sysv {
                key: Some(k),
                shmid,
            } => format!("SysV shm key {k:#010x} (shmid {shmid})"),
            Origin::Sysv { key: None, shmid } => format!("SysV shm shmid {shmid}"),
        }
    }
}

/// An owned copy of a whole segment and where it came from.
#[derive(Debug)]
pub struct Copied {
    /// Mapped or copied, see `segment`.
    pub bytes: source::Bytes,
    pub origin: Origin,
    /// SysV segments have no size header.
    pub bare: bool,
}

const DEV_SHM: &str = "/dev/shm";

/// glibc's `ftok`: `(proj & 0xff) << 24 | (st_dev & 0xff) << 16 | (st_ino & 0xffff)`.
pub fn ftok(meta: &fs::Metadata, proj: u32) -> i32 {
    (((proj & 0xff) << 24) | ((meta.dev() as u32 & 0xff) << 16) | (meta.ino() as u32 & 0xffff))
        as i32
}

/// Opens a path read-only without blocking on FIFOs or acquiring a
/// controlling terminal, and checks it is a regular file. With `privileged`,
/// symlinks are not followed and the file must be root's.
fn open_regular(path: &Path, privileged: bool) -> Result<(File, u64), Error> {
    let io_err = |op, source| Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    };
    let meta = fs::metadata(path).map_err(|e| io_err("open", e))?;
    if let Some(what) = not_regular(&meta) {
        return Err(Error::NotASegment {
            path: path.to_path_buf(),
            what,
        });
    }
    let nofollow = if privileged { libc::O_NOFOLLOW } else { 0 };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC | nofollow)
        .open(path)
        .map_err(|e| io_err("open", e))?;
    // Check the opened file, not the name (it may have been swapped).
    let meta = file.metadata().map_err(|e| io_err("stat", e))?;
    if let Some(what) = not_regular(&meta) {
        return Err(Error::NotASegment {
            path: path.to_path_buf(),
            what,
        });
    }
    if privileged && meta.uid() != 0 {
        return Err(Error::NotRootOwned {
            path: path.to_path_buf(),
            uid: meta.uid(),
        });
    }
    Ok((file, meta.len()))
}

fn not_regular(meta: &fs::Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_char_device() || t.is_block_device() {
        Some("a device")
    } else {
        Some("not a regular file")
    }
}

/// A segment opened once, to be copied as often as needed: the open file
/// of a POSIX object, mapped file or snapshot, or a SysV segment's id.
#[derive(Debug)]
pub struct Opened {
    handle: Handle,
}

#[derive(Debug)]
enum Handle {
    File {
        file: File,
        path: PathBuf,
        posix: bool,
    },
    Sysv {
        key: Option<i32>,
        shmid: i32,
        shown: PathBuf,
        /// The size the SysV key file records.
        expected: Option<(PathBuf, u64)>,
    },
}

impl Opened {
    fn file(path: &Path, privileged: bool, posix: bool) -> Result<Opened, Error> {
        let (file, _) = open_regular(path, privileged)?;
        Ok(Opened {
            handle: Handle::File {
                file,
                path: path.to_path_buf(),
                posix,
            },
        })
    }

    /// The whole segment as it is now (mapped where it cannot shrink, else
    /// copied: see `segment`). A SysV segment is
    /// attached for the copy (with CAP_IPC_OWNER when it is root's).
    pub fn copy(&self) -> Result<Copied, Error> {
        match &self.handle {
            Handle::File { file, path, posix } => {
                let read_err = |source| Error::Io {
                    op: "read",
                    path: path.clone(),
                    source,
                };
                let meta = file.metadata().map_err(read_err)?;
                let bytes = source::read_file(file, &meta).map_err(read_err)?;
                Ok(Copied {
                    bytes,
                    origin: if *posix {
                        Origin::Posix(path.clone())
                    } else {
                        Origin::File(path.clone())
                    },
                    bare: false,
                })
            }
            Handle::Sysv {
                key,
                shmid,
                shown,
                expected,
            } => {
                let copied = copy_sysv(*key, *shmid, shown)?;
                if let (Some((sbf, expected)), Some(key)) = (expected, key) {
                    if copied.bytes.len() as u64 != *expected {
                        return Err(Error::SysvSizeMismatch {
                            key: *key,
                            path: sbf.clone(),
                            expected: *expected,
                            actual: copied.bytes.len() as u64,
                        });
                    }
                }
                Ok(copied)
            }
        }
    }

    /// Whether this is still the segment the name gives: httpd removes its
    /// segment when it stops and creates a new one when it starts (a full
    /// restart), which a kept descriptor or id would never see.
    pub fn is_current(&self) -> bool {
        match &self.handle {
            Handle::File { file, path, .. } => {
                let (Ok(kept), Ok(named)) = (file.metadata(), fs::symlink_metadata(path)) else {
                    return false;
                };
                kept.nlink() > 0 && kept.dev() == named.dev() && kept.ino() == named.ino()
            }
            Handle::Sysv {
                key: Some(key),
                shmid,
                ..
            } => source::sysv_id(*key).is_ok_and(|id| id == *shmid),
            Handle::Sysv {
                key: None, shmid, ..
            } => source::sysv_stat(*shmid).is_ok(),
        }
    }

    /// Whether copying needs a capability each time (attaching a root-owned
    /// SysV segment does; a kept file descriptor does not).
    pub fn needs_capability_to_copy(&self) -> bool {
        matches!(self.handle, Handle::Sysv { .. })
    }
}

/// How a whole-file read went wrong beyond an I/O error.
#[derive(Debug)]
pub enum Unstable {
    Read(Error),
    /// Larger than the caller accepts (bytes).
    TooLarge(u64),
    /// Changed (size, mtime or inode behind the name) while being read.
    Changed,
}

/// Reads a whole regular file of at most `max` bytes with its metadata, for
/// files another process rewrites (mod_heartmonitor's storage): the file is
/// opened as [`copy_named`] opens segments (same privilege rules: every
/// capability dropped once it is open), and a
/// read during which it changed size or mtime, or the name came to point to
/// another file, is [`Unstable::Changed`].
pub fn read_whole(
    path: &Path,
    privileged: bool,
    max: u64,
) -> Result<(Vec<u8>, fs::Metadata), Unstable> {
    let io_err = |op, source| {
        Unstable::Read(Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        })
    };
    let opened = open_regular(path, privileged);
    if privileged {
        super::privilege::drop_all();
    }
    let (file, len) = opened.map_err(Unstable::Read)?;
    if len > max {
        return Err(Unstable::TooLarge(len));
    }
    let before = file.metadata().map_err(|e| io_err("stat", e))?;
    let bytes = source::copy_file(&file, len).map_err(|e| io_err("read", e))?;
    let after = file.metadata().map_err(|e| io_err("stat", e))?;
    let named = if privileged {
        fs::symlink_metadata(path)
    } else {
        fs::metadata(path)
    };
    let same = |a: &fs::Metadata, b: &fs::Metadata| {
        a.len() == b.len() && a.mtime() == b.mtime() && a.mtime_nsec() == b.mtime_nsec()
    };
    match named {
        Ok(n) if same(&before, &after) && n.ino() == after.ino() && n.dev() == after.dev() => {
            Ok((bytes, after))
        }
        _ => Err(Unstable::Changed),
    }
}

/// Copies the segment `spec` names (see [`open_named`]) once. With
/// `privileged`, every capability is dropped as soon as the segment is open
/// (a SysV segment: once it is copied, as attaching needs it).
pub fn copy_named(
    spec: &Path,
    server_root: Option<&Path>,
    privileged: bool,
) -> Result<Copied, Error> {
    let opened = open_named(spec, server_root, privileged);
    let early = opened.as_ref().is_ok_and(|o| !o.needs_capability_to_copy());
    if privileged && early {
        super::privilege::drop_all();
    }
    let copied = opened.and_then(|o| o.copy());
    if privileged && !early {
        super::privilege::drop_all();
    }
    copied
}

/// Opens the segment `spec` names: a snapshot or mapped file, a
/// ScoreBoardFile path (POSIX object derived from it, or SysV key file), a
/// `/dev/shm/ShM.*` object, or `sysv:KEY` / `shmid:ID`. `privileged`: the
/// caller checked `spec` against the allowlist (see `privilege`); this
/// neither raises nor drops a capability.
pub fn open_named(
    spec: &Path,
    server_root: Option<&Path>,
    privileged: bool,
) -> Result<Opened, Error> {
    let raw = spec.as_os_str().as_bytes();
    if let Some(key) = raw.strip_prefix(b"sysv:").and_then(parse_int) {
        let shmid = source::sysv_id(key).map_err(|source| Error::Io {
            op: "find SysV segment",
            path: spec.into(),
            source,
        })?;
        return Ok(Opened::sysv(Some(key), shmid, spec, None));
    }
    if let Some(shmid) = raw.strip_prefix(b"shmid:").and_then(parse_int) {
        return Ok(Opened::sysv(None, shmid, spec, None));
    }
    if raw.starts_with(b"ShM.") || raw.starts_with(b"/ShM.") {
        let path =
            Path::new(DEV_SHM).join(OsStr::from_bytes(raw.strip_prefix(b"/").unwrap_or(raw)));
        return Opened::file(&path, privileged, true);
    }

    let sbf = scoreboard_file_path(spec, server_root);
    // A relative path given with --server-root is below it.
    let spec: &Path = if server_root.is_some() && spec.is_relative() {
        &sbf
    } else {
        spec
    };
    let mut tried = Vec::new();
    // 1. A regular file holding a whole segment (more than a SysV key file's size).
    match fs::metadata(spec) {
        Ok(meta) if meta.is_file() && meta.len() > 8 => {
            return Opened::file(spec, privileged, spec.starts_with(DEV_SHM));
        }
        Ok(meta) if !meta.is_file() => {
            return Err(Error::NotASegment {
                path: spec.into(),
                what: not_regular(&meta).unwrap_or("not a regular file"),
            });
        }
        Ok(meta) => tried.push(format!("the file holds no segment ({} bytes)", meta.len())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => tried.push("no such file".into()),
        Err(e) => {
            return Err(Error::Io {
                op: "open",
                path: spec.into(),
                source: e,
            })
        }
    }
    // 2. The POSIX object APR derives from the ScoreBoardFile path.
    let bytes_path = sbf.as_os_str().as_bytes();
    for signed in [HOST_SIGNED_CHAR, !HOST_SIGNED_CHAR] {
        let name = posix_name(bytes_path, signed);
        let path = PathBuf::from(format!("{DEV_SHM}{name}"));
        let shown = path.display().to_string();
        if tried.iter().any(|t| t.ends_with(&shown)) {
            continue;
        }
        match fs::metadata(&path) {
            Ok(_) => return Opened::file(&path, privileged, true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => tried.push(format!("no {shown}")),
            Err(e) => tried.push(format!("{shown}: {}", super::error::describe_io(&e))),
        }
    }
    // 3. The same path as a SysV key file (holds only the size).
    match fs::metadata(&sbf) {
        Ok(meta) if meta.is_file() && (meta.len() == 4 || meta.len() == 8) => {
            let size_bytes = Opened::file(&sbf, privileged, false)?.copy()?.bytes;
            let mut le = [0u8; 8];
            // The key file may have changed since its size was checked.
            let n = size_bytes.len().min(le.len());
            le[..n].copy_from_slice(&size_bytes[..n]);
            let expected = u64::from_le_bytes(le);
            let mut last = None;
            for proj in [times33(bytes_path), 1] {
                let key = ftok(&meta, proj);
                match source::sysv_id(key) {
                    Ok(shmid) => {
                        let expected = Some((sbf.clone(), expected));
                        return Ok(Opened::sysv(Some(key), shmid, &sbf, expected));
                    }
                    Err(e) => {
                        last = Some(if e.kind() == io::ErrorKind::NotFound {
                            format!("no SysV segment with key {key:#010x}")
                        } else {
                            format!("SysV key {key:#010x}: {}", super::error::describe_io(&e))
                        })
                    }
                }
            }
            tried.extend(last);
        }
        _ if sbf.as_path() == spec => tried.push("no SysV key file".into()),
        _ => tried.push(format!("no SysV key file {}", sbf.display())),
    }
    Err(Error::NotFound {
        path: spec.into(),
        tried: tried.join(", "),
    })
}

fn parse_int(s: &[u8]) -> Option<i32> {
    let s = std::str::from_utf8(s).ok()?;
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok().map(|v| v as i32),
        None => s.parse().ok(),
    }
}

impl Opened {
    fn sysv(
        key: Option<i32>,
        shmid: i32,
        shown: &Path,
        expected: Option<(PathBuf, u64)>,
    ) -> Opened {
        Opened {
            handle: Handle::Sysv {
                key,
                shmid,
                shown: shown.to_path_buf(),
                expected,
            },
        }
    }
}

fn copy_sysv(key: Option<i32>, shmid: i32, shown: &Path) -> Result<Copied, Error> {
    let (bytes, _) = source::attach_sysv(shmid).map_err(|source| Error::Io {
        op: "attach SysV segment of",
        path: shown.into(),
        source,
    })?;
    Ok(Copied {
        bytes,
        origin: Origin::Sysv { key, shmid },
        bare: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test vectors confirmed against a live Debian 2.4.71 (docs/scoreboard-format.md,
    /// "APR naming").
    #[test]
    fn posix_names_match_apr() {
        assert_eq!(
            posix_name(b"/run/apache2/apache_runtime_status", true),
            "/ShM.7dc2371eH646e832a"
        );
        assert_eq!(
            posix_name("/srv/café/sb".as_bytes(), true),
            "/ShM.b720c253H87b06d79"
        );
        assert_eq!(
            posix_name("/srv/café/sb".as_bytes(), false),
            "/ShM.b720c253H1a9fd79"
        );
        // The empty path hashes to the initial value.
        assert_eq!(times33(b""), 0);
    }

    #[test]
    fn scoreboard_file_paths_are_normalized_lexically() {
        let root = Path::new("/srv/lab");
        assert_eq!(
            scoreboard_file_path(Path::new("logs//./sub/../sb2"), Some(root)),
            PathBuf::from("/srv/lab/logs/sb2")
        );
        assert_eq!(
            scoreboard_file_path(Path::new("/run/apache2/x"), Some(root)),
            PathBuf::from("/run/apache2/x")
        );
        // Without --server-root a relative path is the shell's: below the
        // current directory, not below `/`.
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(
            scoreboard_file_path(Path::new("logs/sb"), None),
            cwd.join("logs/sb")
        );
    }
}

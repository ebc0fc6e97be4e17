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
use std::path::{Component, Path, PathBuf};

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

pub const DEV_SHM: &str = "/dev/shm";

/// glibc's `ftok`: `(proj & 0xff) << 24 | (st_dev & 0xff) << 16 | (st_ino & 0xffff)`.
pub fn ftok(meta: &fs::Metadata, proj: u32) -> i32 {
    (((proj & 0xff) << 24) | ((meta.dev() as u32 & 0xff) << 16) | (meta.ino() as u32 & 0xffff))
        as i32
}

/// Opens `path` read-only through no symlink and no magic link in any
/// component (`openat2` with `RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`),
/// without blocking on a FIFO or acquiring a controlling terminal.
/// `directory`: open a directory (for its `fstat`) instead.
pub fn open_strict(path: &Path, directory: bool) -> io::Result<File> {
    use rustix::fs::{openat2, Mode, OFlags, ResolveFlags, CWD};
    let mut flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    if directory {
        flags |= OFlags::DIRECTORY;
    }
    let fd = match openat2(
        CWD,
        path,
        flags,
        Mode::empty(),
        ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    ) {
        // Linux before 5.6 (Ubuntu 20.04's 5.4, RHEL 8's 4.18): the same
        // rules, one component at a time.
        Err(rustix::io::Errno::NOSYS) => open_by_components(path, flags)?,
        other => other?,
    };
    Ok(File::from(fd))
}

/// [`open_strict`]'s rules without `openat2`: the path walked one
/// component at a time from `/` or the working directory, each opened
/// with `O_PATH | O_NOFOLLOW` relative to the one before and refused with
/// `ELOOP` when it is a symlink (a magic link such as `/proc/self/fd/N` is
/// one to `lstat`), `ENOTDIR` when a component below a non-directory is
/// asked for, as `openat2` with `RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`
/// refuses them; the last component is opened with `flags | O_NOFOLLOW`.
fn open_by_components(
    path: &Path,
    flags: rustix::fs::OFlags,
) -> rustix::io::Result<std::os::fd::OwnedFd> {
    use rustix::fs::{fstat, openat, FileType, Mode, OFlags, CWD};
    use rustix::io::Errno;
    let bytes = path.as_os_str().as_bytes();
    if bytes.is_empty() {
        return Err(Errno::NOENT);
    }
    let walk = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let start = if bytes.starts_with(b"/") { "/" } else { "." };
    let mut at = openat(CWD, start, walk | OFlags::DIRECTORY, Mode::empty())?;
    let mut is_dir = true;
    let parts: Vec<&[u8]> = bytes.split(|&b| b == b'/').collect();
    let (last, parts) = parts.split_last().ok_or(Errno::NOENT)?;
    for part in parts {
        if !is_dir {
            return Err(Errno::NOTDIR);
        }
        match *part {
            b"" | b"." => {}
            name => {
                let name = OsStr::from_bytes(name);
                at = openat(&at, name, walk, Mode::empty())?;
                let kind = FileType::from_raw_mode(fstat(&at)?.st_mode);
                if kind == FileType::Symlink {
                    return Err(Errno::LOOP);
                }
                is_dir = kind == FileType::Directory;
            }
        }
    }
    if !is_dir {
        return Err(Errno::NOTDIR);
    }
    let last = match *last {
        b"" => ".".as_ref(),
        name => OsStr::from_bytes(name),
    };
    openat(&at, last, flags | OFlags::NOFOLLOW, Mode::empty())
}

/// Opens a path for reading as the mode allows: with the caller's own
/// rights (symlinks followed; a stat first, so a FIFO or device is never
/// opened) or, `strict`, with [`open_strict`] and nothing trusted before the
/// `fstat` of what was opened. `None` when nothing is there.
fn open_path(path: &Path, strict: bool) -> Result<Option<(File, fs::Metadata)>, Error> {
    let io_err = |op, source: io::Error| match source.raw_os_error() {
        Some(libc::ELOOP) if strict => Error::Symlink {
            path: path.to_path_buf(),
        },
        _ => Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        },
    };
    let not_found = |e: &io::Error| e.kind() == io::ErrorKind::NotFound;
    let file = if strict {
        match open_strict(path, false) {
            Ok(file) => file,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(io_err("open", e)),
        }
    } else {
        let meta = match fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(io_err("open", e)),
        };
        if let Some(what) = not_regular(&meta) {
            return Err(Error::NotASegment {
                path: path.to_path_buf(),
                what,
            });
        }
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .map_err(|e| io_err("open", e))?
    };
    // Check the opened file, not the name (it may have been swapped).
    let meta = file.metadata().map_err(|e| io_err("stat", e))?;
    if let Some(what) = not_regular(&meta) {
        return Err(Error::NotASegment {
            path: path.to_path_buf(),
            what,
        });
    }
    if strict && meta.uid() != 0 {
        return Err(Error::NotRootOwned {
            path: path.to_path_buf(),
            uid: meta.uid(),
        });
    }
    Ok(Some((file, meta)))
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

/// Whether a path has a `..` component.
fn has_dot_dot(path: &Path) -> bool {
    path.components().any(|c| c == Component::ParentDir)
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
        /// Only a root-owned segment is attached (see `copy_named`).
        strict: bool,
    },
}

impl Opened {
    fn file(file: File, path: &Path, posix: bool) -> Opened {
        Opened {
            handle: Handle::File {
                file,
                path: path.to_path_buf(),
                posix,
            },
        }
    }

    /// The whole segment as it is now (mapped where it cannot shrink, else
    /// copied: see `segment`), for a run whose watchdog turns the SIGBUS of
    /// a root truncating a mapped object into its UNKNOWN line. A SysV
    /// segment is attached for the copy (with CAP_IPC_OWNER when it is
    /// root's).
    pub fn copy(&self) -> Result<Copied, Error> {
        self.read(None)
    }

    /// The whole segment as it is now, never mapped: for a process that
    /// reads it again and again without the watchdog's handlers (the
    /// exporter restores default signal actions). A POSIX object that
    /// even root truncates meanwhile makes the copy come back short, an
    /// error of this read, where a mapping would end the process with
    /// SIGBUS. SysV segments, which never shrink, are attached as by
    /// [`Opened::copy`].
    /// `buffer` is the allocation of an earlier copy, reused (see
    /// `segment::copy_file_into`).
    pub fn copy_unmapped(&self, buffer: Vec<u8>) -> Result<Copied, Error> {
        self.read(Some(buffer))
    }

    /// Maps where it may unless `unmapped` gives a buffer to copy into.
    fn read(&self, unmapped: Option<Vec<u8>>) -> Result<Copied, Error> {
        match &self.handle {
            Handle::File { file, path, posix } => {
                let read_err = |source| Error::Io {
                    op: "read",
                    path: path.clone(),
                    source,
                };
                let meta = file.metadata().map_err(read_err)?;
                let bytes = match unmapped {
                    None => source::read_file(file, &meta, path),
                    Some(buffer) => {
                        source::copy_file_into(file, meta.len(), buffer).map(source::Bytes::from)
                    }
                }
                .map_err(read_err)?;
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
                strict,
            } => {
                let copied = copy_sysv(*key, *shmid, shown, *strict)?;
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
/// opened as [`copy_named`] opens segments (`strict`: the same rules as
/// there; raising and dropping capabilities is the caller's), and a read
/// during which it changed size or mtime, or the name came to point to
/// another file, is [`Unstable::Changed`].
pub fn read_whole(
    path: &Path,
    strict: bool,
    max: u64,
) -> Result<(Vec<u8>, fs::Metadata), Unstable> {
    let io_err = |op, source| {
        Unstable::Read(Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        })
    };
    let (file, meta) = open_path(path, strict)
        .map_err(Unstable::Read)?
        .ok_or_else(|| io_err("open", io::Error::from(io::ErrorKind::NotFound)))?;
    let len = meta.len();
    if len > max {
        return Err(Unstable::TooLarge(len));
    }
    let before = file.metadata().map_err(|e| io_err("stat", e))?;
    let bytes = source::copy_file(&file, len).map_err(|e| io_err("read", e))?;
    let after = file.metadata().map_err(|e| io_err("stat", e))?;
    let named = if strict {
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

/// Copies the segment `spec` names (see [`open_named`]) once. Raising and
/// dropping capabilities is the caller's (see `privilege`).
pub fn copy_named(spec: &Path, server_root: Option<&Path>, strict: bool) -> Result<Copied, Error> {
    open_named(spec, server_root, strict)?.copy()
}

/// Opens the segment `spec` names: a snapshot or mapped file, a
/// ScoreBoardFile path (POSIX object derived from it, or SysV key file), a
/// `/dev/shm/ShM.*` object, or `sysv:KEY` / `shmid:ID`. `strict` (root and
/// capability modes, see `privilege`): no symlink is followed, no `..`
/// accepted, and every object must be root's. This neither raises nor
/// drops a capability.
pub fn open_named(spec: &Path, server_root: Option<&Path>, strict: bool) -> Result<Opened, Error> {
    let raw = spec.as_os_str().as_bytes();
    if let Some(key) = raw.strip_prefix(b"sysv:").and_then(parse_int) {
        let shmid = source::sysv_id(key).map_err(|source| Error::Io {
            op: "find SysV segment",
            path: spec.into(),
            source,
        })?;
        return Ok(Opened::sysv(Some(key), shmid, spec, None, strict));
    }
    if let Some(shmid) = raw.strip_prefix(b"shmid:").and_then(parse_int) {
        return Ok(Opened::sysv(None, shmid, spec, None, strict));
    }
    if strict && has_dot_dot(spec) {
        return Err(Error::DotDot {
            shown: crate::plugin::text::escape_bytes(raw),
        });
    }
    // `ShM.…` or `/ShM.…`: an object name in /dev/shm, one component only.
    let name = raw.strip_prefix(b"/").unwrap_or(raw);
    if name.starts_with(b"ShM.") && !name.contains(&b'/') {
        let path = Path::new(DEV_SHM).join(OsStr::from_bytes(name));
        return match open_path(&path, strict)? {
            Some((file, _)) => Ok(Opened::file(file, &path, true)),
            None => Err(Error::NotFound {
                path: path.clone(),
                tried: "no such object".into(),
            }),
        };
    }
    let sbf = scoreboard_file_path(spec, server_root);
    // A relative path given with --server-root is below it.
    let spec: &Path = if server_root.is_some() && spec.is_relative() {
        &sbf
    } else {
        spec
    };
    open_derived(spec, &sbf, strict)
}

/// The segment of a ScoreBoardFile path `sbf` (`spec` as given): the file
/// itself when it holds a whole segment, else the POSIX object APR derives
/// from the path, else the SysV segment whose key file it is.
pub fn open_derived(spec: &Path, sbf: &Path, strict: bool) -> Result<Opened, Error> {
    let mut tried = Vec::new();
    // 1. A regular file holding a whole segment (more than a SysV key file's size).
    let key_file = match open_path(spec, strict)? {
        Some((file, meta)) if meta.len() > 8 => {
            return Ok(Opened::file(file, spec, spec.starts_with(DEV_SHM)));
        }
        Some((file, meta)) => {
            tried.push(format!("the file holds no segment ({} bytes)", meta.len()));
            Some((file, meta))
        }
        None => {
            tried.push("no such file".into());
            None
        }
    };
    // 2. The POSIX object APR derives from the ScoreBoardFile path.
    let bytes_path = sbf.as_os_str().as_bytes();
    for signed in [HOST_SIGNED_CHAR, !HOST_SIGNED_CHAR] {
        let name = posix_name(bytes_path, signed);
        let path = PathBuf::from(format!("{DEV_SHM}{name}"));
        let shown = path.display().to_string();
        if tried.iter().any(|t| t.ends_with(&shown)) {
            continue;
        }
        match open_path(&path, strict)? {
            Some((file, _)) => return Ok(Opened::file(file, &path, true)),
            None => tried.push(format!("no {shown}")),
        }
    }
    // 3. The same path as a SysV key file (holds only the size).
    match key_file {
        Some((file, meta)) if meta.len() == 4 || meta.len() == 8 => {
            let size_bytes = source::copy_file(&file, meta.len()).map_err(|source| Error::Io {
                op: "read",
                path: spec.to_path_buf(),
                source,
            })?;
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
                        let expected = Some((sbf.to_path_buf(), expected));
                        return Ok(Opened::sysv(Some(key), shmid, sbf, expected, strict));
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
        _ if sbf == spec => tried.push("no SysV key file".into()),
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
        strict: bool,
    ) -> Opened {
        Opened {
            handle: Handle::Sysv {
                key,
                shmid,
                shown: shown.to_path_buf(),
                expected,
                strict,
            },
        }
    }
}

/// Attaches a SysV segment; `strict`: only one root owns, refused before
/// it is attached.
fn copy_sysv(key: Option<i32>, shmid: i32, shown: &Path, strict: bool) -> Result<Copied, Error> {
    let attach_err = |source| Error::Io {
        op: "attach SysV segment of",
        path: shown.into(),
        source,
    };
    if strict {
        let info = source::sysv_stat(shmid).map_err(attach_err)?;
        if info.owner != 0 {
            return Err(Error::NotRootOwned {
                path: shown.into(),
                uid: info.owner,
            });
        }
    }
    let (bytes, _) = source::attach_sysv(shmid).map_err(attach_err)?;
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

    /// Without `openat2`, magic links are refused like symlinks, anywhere
    /// in the path, and a relative path starts at the working directory.
    #[test]
    fn open_by_components_refuses_magic_links() {
        use rustix::fs::OFlags;
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let file = File::open("/proc/self/stat").expect("a file");
        let loop_error = |path: &str| {
            open_by_components(Path::new(path), flags)
                .map(drop)
                .map_err(|e| e.raw_os_error())
        };
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        assert_eq!(loop_error(&format!("/proc/self/fd/{fd}")), Err(libc::ELOOP));
        assert_eq!(loop_error("/proc/self/cwd/Cargo.toml"), Err(libc::ELOOP));
        assert_eq!(loop_error("/proc/self/root/etc/passwd"), Err(libc::ELOOP));
        // /proc/self is itself a (magic) symlink.
        assert_eq!(loop_error("/proc/self/stat"), Err(libc::ELOOP));
        assert!(open_by_components(Path::new("Cargo.toml"), flags).is_ok());
        assert!(open_by_components(Path::new("/proc/1/stat"), flags).is_ok());
    }

    /// What the path rules say `open_strict` reaches, by an independent
    /// model of a small tree: component by component, no symlink anywhere,
    /// `..` back up, `.` and empty components only through directories.
    mod path_rules {
        use super::*;
        use proptest::prelude::*;
        use std::collections::BTreeMap;

        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        enum Node {
            Dir,
            File,
            Link,
        }

        #[derive(Debug, PartialEq, Eq)]
        enum Outcome {
            /// The node at this clean path below the base.
            Opened(String),
            Refused(i32),
        }

        const TREE: [(&str, Node); 8] = [
            ("d", Node::Dir),
            ("d/e", Node::Dir),
            ("d/e/f", Node::File),
            ("g", Node::File),
            ("s", Node::Link),
            ("t", Node::Link),
            ("d/u", Node::Link),
            ("d/e/v", Node::Link),
        ];
        const PARTS: [&str; 12] = ["d", "e", "f", "g", "s", "t", "u", "v", "x", ".", "..", ""];

        fn build() -> PathBuf {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let base = std::env::temp_dir().join(format!(
                "apache-scoreboard-path-rules-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            let _ = fs::remove_dir_all(&base);
            fs::create_dir_all(base.join("d/e")).expect("tree");
            fs::write(base.join("d/e/f"), "f").expect("tree");
            fs::write(base.join("g"), "g").expect("tree");
            let link = |target: &str, at: &str| {
                std::os::unix::fs::symlink(target, base.join(at)).expect("symlink")
            };
            link("d", "s");
            link("d/e/f", "t");
            link("..", "d/u");
            link("/etc", "d/e/v");
            base
        }

        /// The model: `None` when the walk leaves the base (not modelled).
        fn model(parts: &[&str]) -> Option<Outcome> {
            let tree: BTreeMap<&str, Node> = TREE.into_iter().collect();
            let mut at: Vec<&str> = Vec::new();
            let kind = |at: &[&str]| {
                if at.is_empty() {
                    Node::Dir
                } else {
                    tree[at.join("/").as_str()]
                }
            };
            for part in parts {
                if kind(&at) != Node::Dir {
                    return Some(Outcome::Refused(libc::ENOTDIR));
                }
                match *part {
                    "" | "." => {}
                    ".." => {
                        at.pop()?;
                    }
                    name => {
                        let mut next = at.clone();
                        next.push(name);
                        match tree.get(next.join("/").as_str()) {
                            None => return Some(Outcome::Refused(libc::ENOENT)),
                            Some(Node::Link) => return Some(Outcome::Refused(libc::ELOOP)),
                            Some(_) => at = next,
                        }
                    }
                }
            }
            Some(Outcome::Opened(at.join("/")))
        }

        fn identity(meta: &fs::Metadata) -> (u64, u64) {
            (meta.dev(), meta.ino())
        }

        fn reaches_what_the_model_reaches(
            parts: &[&str],
            open: impl Fn(&Path) -> io::Result<File>,
        ) -> Result<(), TestCaseError> {
            let Some(expected) = model(parts) else {
                return Ok(());
            };
            let base = build();
            let spec = PathBuf::from(format!("{}/{}", base.display(), parts.join("/")));
            let got = match open(&spec) {
                Ok(file) => {
                    let opened = identity(&file.metadata().expect("fstat"));
                    let Outcome::Opened(clean) = &expected else {
                        let _ = fs::remove_dir_all(&base);
                        return Err(TestCaseError::fail(format!(
                            "{spec:?} opened, model: {expected:?}"
                        )));
                    };
                    let want = identity(&fs::symlink_metadata(base.join(clean)).expect("stat"));
                    prop_assert_eq!(opened, want, "{:?}", spec);
                    expected
                }
                Err(e) => Outcome::Refused(e.raw_os_error().unwrap_or(0)),
            };
            let _ = fs::remove_dir_all(&base);
            prop_assert_eq!(got, model(parts).expect("modelled"), "{:?}", spec);
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(400))]
            #[test]
            fn open_strict_reaches_what_the_model_reaches(
                parts in proptest::collection::vec(proptest::sample::select(&PARTS[..]), 1..7)
            ) {
                reaches_what_the_model_reaches(&parts, |p| open_strict(p, false))?;
            }

            /// The walk for kernels without `openat2` refuses and reaches
            /// what `openat2` does.
            #[test]
            fn open_by_components_reaches_what_the_model_reaches(
                parts in proptest::collection::vec(proptest::sample::select(&PARTS[..]), 1..7)
            ) {
                use rustix::fs::OFlags;
                let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
                reaches_what_the_model_reaches(&parts, |p| {
                    open_by_components(p, flags).map(File::from).map_err(io::Error::from)
                })?;
            }

            /// With the capability, a `--scoreboard` names an entry only as
            /// the entry's path or its derived object, byte for byte: any
            /// `.`, `..`, `//` or prefix makes it a refusal.
            #[test]
            fn only_the_entry_or_its_object_names_it(
                parts in proptest::collection::vec(
                    proptest::sample::select(&["run", "apache2", "sb", ".", "..", "", "ShM.x"][..]),
                    1..6,
                ),
                absolute in any::<bool>(),
            ) {
                use crate::shm::privilege::Entry;
                let entry = Entry { path: "/run/apache2/sb".into(), details: false };
                let spec = format!("{}{}", if absolute { "/" } else { "" }, parts.join("/"));
                let [signed, unsigned] = entry.posix_objects();
                let forms: Vec<String> = [signed, unsigned]
                    .iter()
                    .flat_map(|o| {
                        let full = o.display().to_string();
                        let name = full.trim_start_matches("/dev/shm/").to_string();
                        [full, format!("/{name}"), name]
                    })
                    .chain(["/run/apache2/sb".to_string()])
                    .collect();
                prop_assert_eq!(entry.named_by(Path::new(&spec)), forms.contains(&spec), "{}", spec);
            }
        }
    }
}

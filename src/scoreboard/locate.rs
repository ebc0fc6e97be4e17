//! Finding a segment: what `--scoreboard PATH` names (reference §1), running
//! httpd instances found through `/proc`, and whether the httpd that wrote a
//! segment still runs. Everything here is safe code; the copy itself is
//! `source`'s.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use super::error::Error;
use super::layout::HttpdVersion;
use super::source;

/// Where a segment copy came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A regular file outside /dev/shm: a saved snapshot or an mmap'd
    /// ScoreBoardFile.
    File(PathBuf),
    /// A POSIX shm object (`/dev/shm/ShM.*`).
    Posix(PathBuf),
    /// A SysV segment.
    Sysv {
        key: Option<i32>,
        shmid: i32,
        creator_pid: i32,
        attached: u64,
    },
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
                ..
            } => format!("SysV shm key {k:#010x} (shmid {shmid})"),
            Origin::Sysv {
                key: None, shmid, ..
            } => format!("SysV shm shmid {shmid}"),
        }
    }
}

/// An owned copy of a whole segment and where it came from.
#[derive(Debug)]
pub struct Copied {
    pub bytes: Vec<u8>,
    pub origin: Origin,
    /// SysV segments have no size header.
    pub bare: bool,
}

pub const DEV_SHM: &str = "/dev/shm";

/// APR's default "times 33" hash (`h1`, and the SysV ftok proj id).
pub fn times33(path: &[u8]) -> u32 {
    path.iter()
        .fold(0u32, |h, &b| h.wrapping_mul(33).wrapping_add(u32::from(b)))
}

/// Sedgewick's RS hash as APR computes it (`h2`); `signed_char` sign-extends
/// bytes >= 0x80 as x86's `char` does (aarch64's `char` is unsigned).
pub fn rs_hash(path: &[u8], signed_char: bool) -> u32 {
    let (mut r, mut a) = (0u32, 63689u32);
    for &b in path {
        let c = if signed_char {
            b as i8 as i32 as u32
        } else {
            u32::from(b)
        };
        r = r.wrapping_mul(a).wrapping_add(c);
        a = a.wrapping_mul(378551);
    }
    r
}

/// The POSIX shm object name APR >= 1.5.1 derives from a ScoreBoardFile path.
pub fn posix_name(path: &[u8], signed_char: bool) -> String {
    format!("/ShM.{:x}H{:x}", times33(path), rs_hash(path, signed_char))
}

/// Whether this machine's C `char` is signed (x86, x86_64).
pub const HOST_SIGNED_CHAR: bool = cfg!(any(target_arch = "x86", target_arch = "x86_64"));

/// httpd's ScoreBoardFile path handling: a relative path is joined to
/// ServerRoot; `//`, `.` and `..` are removed lexically, symlinks are not
/// resolved (`apr_filepath_merge` with `APR_FILEPATH_TRUENAME`).
pub fn scoreboard_file_path(path: &Path, server_root: Option<&Path>) -> PathBuf {
    // Relative: below ServerRoot as httpd does, else below the current
    // directory as for any command-line path.
    let joined = match server_root {
        Some(root) if path.is_relative() => root.join(path),
        None if path.is_relative() => std::env::current_dir()
            .map(|cwd| cwd.join(path))
            .unwrap_or_else(|_| path.to_path_buf()),
        _ => path.to_path_buf(),
    };
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

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
    let fd = openat2(
        CWD,
        path,
        flags,
        Mode::empty(),
        ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )?;
    Ok(File::from(fd))
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

fn read_all(path: &Path, file: &File, meta: &fs::Metadata) -> Result<Vec<u8>, Error> {
    source::copy_file(file, meta.len()).map_err(|source| Error::Io {
        op: "read",
        path: path.to_path_buf(),
        source,
    })
}

/// Whether a path has a `..` component.
fn has_dot_dot(path: &Path) -> bool {
    path.components().any(|c| c == Component::ParentDir)
}

/// Copies the segment `spec` names: a snapshot or mapped file, a
/// ScoreBoardFile path (POSIX object derived from it, or SysV key file), a
/// `/dev/shm/ShM.*` object, or `sysv:KEY` / `shmid:ID`. `strict` (root and
/// capability modes, see `privilege`): no symlink is followed, no `..`
/// accepted, and every object must be root's.
pub fn copy_named(spec: &Path, server_root: Option<&Path>, strict: bool) -> Result<Copied, Error> {
    let raw = spec.as_os_str().as_bytes();
    if let Some(key) = raw.strip_prefix(b"sysv:").and_then(parse_int) {
        let shmid = source::sysv_id(key).map_err(|source| Error::Io {
            op: "find SysV segment",
            path: spec.into(),
            source,
        })?;
        return copy_sysv(Some(key), shmid, spec, strict);
    }
    if let Some(shmid) = raw.strip_prefix(b"shmid:").and_then(parse_int) {
        return copy_sysv(None, shmid, spec, strict);
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
            Some((file, meta)) => Ok(Copied {
                bytes: read_all(&path, &file, &meta)?,
                origin: Origin::Posix(path),
                bare: false,
            }),
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
    copy_derived(spec, &sbf, strict)
}

/// The segment of a ScoreBoardFile path `sbf` (`spec` as given): the file
/// itself when it holds a whole segment, else the POSIX object APR derives
/// from the path, else the SysV segment whose key file it is.
pub fn copy_derived(spec: &Path, sbf: &Path, strict: bool) -> Result<Copied, Error> {
    let mut tried = Vec::new();
    // 1. A regular file holding a whole segment (more than a SysV key file's size).
    let key_file = match open_path(spec, strict)? {
        Some((file, meta)) if meta.len() > 8 => {
            let bytes = read_all(spec, &file, &meta)?;
            let origin = if spec.starts_with(DEV_SHM) {
                Origin::Posix(spec.into())
            } else {
                Origin::File(spec.into())
            };
            return Ok(Copied {
                bytes,
                origin,
                bare: false,
            });
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
            Some((file, meta)) => {
                return Ok(Copied {
                    bytes: read_all(&path, &file, &meta)?,
                    origin: Origin::Posix(path),
                    bare: false,
                })
            }
            None => tried.push(format!("no {shown}")),
        }
    }
    // 3. The same path as a SysV key file (holds only the size).
    match key_file {
        Some((file, meta)) if meta.len() == 4 || meta.len() == 8 => {
            let size_bytes = read_all(spec, &file, &meta)?;
            let mut le = [0u8; 8];
            le[..size_bytes.len()].copy_from_slice(&size_bytes);
            let expected = u64::from_le_bytes(le);
            let mut last = None;
            for proj in [times33(bytes_path), 1] {
                let key = ftok(&meta, proj);
                match source::sysv_id(key) {
                    Ok(shmid) => {
                        let copied = copy_sysv(Some(key), shmid, sbf, strict)?;
                        if copied.bytes.len() as u64 != expected {
                            return Err(Error::SysvSizeMismatch {
                                key,
                                path: sbf.to_path_buf(),
                                expected,
                                actual: copied.bytes.len() as u64,
                            });
                        }
                        return Ok(copied);
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

fn copy_sysv(key: Option<i32>, shmid: i32, shown: &Path, strict: bool) -> Result<Copied, Error> {
    let mut owner = None;
    let admit = |info: &source::SysvInfo| {
        if strict && info.owner != 0 {
            owner = Some(info.owner);
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
        Ok(())
    };
    // Whatever privilege let the attach happen is not needed to copy.
    let attached = || {
        if super::privilege::mode() == super::privilege::Mode::Capable {
            super::privilege::drop_all();
        }
    };
    let copied = source::copy_sysv(shmid, admit, attached);
    if let Some(uid) = owner {
        return Err(Error::NotRootOwned {
            path: shown.into(),
            uid,
        });
    }
    let (bytes, info) = copied.map_err(|source| Error::Io {
        op: "attach SysV segment of",
        path: shown.into(),
        source,
    })?;
    Ok(Copied {
        bytes,
        origin: Origin::Sysv {
            key,
            shmid,
            creator_pid: info.creator_pid,
            attached: info.attached,
        },
        bare: true,
    })
}

/// Names httpd runs under.
fn is_httpd_name(comm: &str) -> bool {
    matches!(
        comm,
        "apache2"
            | "httpd"
            | "httpd2"
            | "apache"
            | "httpd.worker"
            | "httpd.event"
            | "httpd2-prefork"
            | "httpd2-worker"
            | "httpd2-event"
            | "httpd-prefork"
    )
}

/// `/proc/<pid>/stat`: (comm, ppid).
pub fn proc_stat(pid: i32) -> Option<(String, i32)> {
    let stat = read_proc(&format!("/proc/{pid}/stat"), 1024)?;
    let open = stat.iter().position(|&b| b == b'(')?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    let comm = String::from_utf8_lossy(stat.get(open + 1..close)?).into_owned();
    let rest = std::str::from_utf8(stat.get(close + 2..)?).ok()?;
    let ppid = rest.split(' ').nth(1)?.parse().ok()?;
    Some((comm, ppid))
}

/// A /proc file in as few reads as it takes: `fs::read` sees a size of 0
/// and probes with 32-byte reads, six of them for one `stat` line.
pub fn read_proc(path: &str, expected: usize) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::with_capacity(expected);
    fs::File::open(path).ok()?.read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// A running httpd parent and what its mappings say.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Instance {
    pub pid: i32,
    pub binary: Option<PathBuf>,
    pub config: Option<String>,
    /// `/dev/shm/ShM.*` path or `shmid:ID`.
    pub segment: Option<String>,
    pub mpm: Option<String>,
    pub note: Option<String>,
}

/// Running httpd parents: httpd-named processes whose parent is not one.
pub fn instances() -> Vec<Instance> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found: Vec<Instance> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let (comm, ppid) = proc_stat(pid)?;
            let parent_is_httpd = proc_stat(ppid).is_some_and(|(pc, _)| pc == comm);
            (is_httpd_name(&comm) && !parent_is_httpd).then(|| {
                let mut inst = describe_instance(pid);
                if super::privilege::mode() == super::privilege::Mode::Root {
                    if let Err(why) = trusted_parent(pid) {
                        inst.segment = None;
                        inst.note = Some(format!("not trusted by root: {why}"));
                    }
                }
                inst
            })
        })
        .collect();
    found.sort_by_key(|i| i.pid);
    found
}

fn describe_instance(pid: i32) -> Instance {
    let binary = fs::read_link(format!("/proc/{pid}/exe")).ok();
    let config = fs::read(format!("/proc/{pid}/cmdline")).ok().and_then(|c| {
        let args: Vec<&[u8]> = c.split(|&b| b == 0).collect();
        args.iter()
            .position(|a| *a == b"-f")
            .and_then(|i| args.get(i + 1))
            .map(|a| String::from_utf8_lossy(a).into_owned())
    });
    let mut inst = Instance {
        pid,
        binary,
        config,
        segment: None,
        mpm: None,
        note: None,
    };
    match fs::read_to_string(format!("/proc/{pid}/maps")) {
        Ok(maps) => {
            inst.mpm = mpm_from_maps(&maps);
            let mut anonymous = false;
            for line in maps.lines() {
                let name = line.split_whitespace().nth(5).unwrap_or("");
                if is_shm_object(name) {
                    inst.segment = Some(name.to_string());
                } else if let Some(key) = name.strip_prefix("/SYSV") {
                    let shmid = line.split_whitespace().nth(4).unwrap_or("0");
                    inst.segment = Some(format!("shmid:{shmid}"));
                    let _ = key;
                } else if name == "/dev/zero"
                    && line
                        .split_whitespace()
                        .nth(1)
                        .is_some_and(|p| p.ends_with('s'))
                {
                    anonymous = true;
                }
            }
            if inst.segment.is_none() && anonymous {
                inst.note = Some("anonymous scoreboard: set ScoreBoardFile in the httpd configuration (see README)".into());
            }
        }
        Err(e) => {
            inst.note = Some(format!(
                "cannot read /proc/{pid}/maps: {}",
                super::error::describe_io(&e)
            ))
        }
    }
    inst
}

/// `/dev/shm/ShM.<hex>H<hex>`, the only POSIX object names APR makes.
fn is_shm_object(name: &str) -> bool {
    name.strip_prefix("/dev/shm/ShM.")
        .and_then(|rest| rest.split_once('H'))
        .is_some_and(|(a, b)| {
            [a, b]
                .iter()
                .all(|h| !h.is_empty() && h.len() <= 8 && h.bytes().all(|c| c.is_ascii_hexdigit()))
        })
}

/// Whether root may trust an httpd parent: it runs as root (every uid 0),
/// from an executable that root owns and only root may write, in a
/// directory that root owns and only root may write, reached through no
/// symlink. Otherwise why not.
pub fn trusted_parent(pid: i32) -> Result<(), String> {
    let status = read_proc(&format!("/proc/{pid}/status"), 2048).ok_or("no status")?;
    let uids = status
        .split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(b"Uid:"))
        .ok_or("no Uid line")?;
    let root = uids
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .all(|w| w == b"0");
    if !root {
        return Err("does not run as root".into());
    }
    let exe = fs::read_link(format!("/proc/{pid}/exe")).map_err(|_| "executable unknown")?;
    let dir = exe.parent().ok_or("executable unknown")?;
    let root_only = |meta: &fs::Metadata| meta.uid() == 0 && meta.mode() & 0o022 == 0;
    let binary = open_strict(&exe, false)
        .and_then(|f| f.metadata())
        .map_err(|_| format!("{} cannot be opened without a symlink", exe.display()))?;
    let directory = open_strict(dir, true)
        .and_then(|f| f.metadata())
        .map_err(|_| format!("{} cannot be opened without a symlink", dir.display()))?;
    // The file the process runs must be the one the name leads to.
    let running = fs::metadata(format!("/proc/{pid}/exe")).map_err(|_| "executable unknown")?;
    if (running.dev(), running.ino()) != (binary.dev(), binary.ino()) {
        return Err(format!("{} was replaced", exe.display()));
    }
    if !root_only(&binary) || !root_only(&directory) {
        return Err(format!(
            "{} or its directory is not root's alone",
            exe.display()
        ));
    }
    Ok(())
}

/// The MPM module a process has mapped (Debian loads MPMs as modules).
pub fn mpm_from_maps(maps: &str) -> Option<String> {
    ["event", "worker", "prefork"]
        .into_iter()
        .find(|m| maps.contains(&format!("mod_mpm_{m}.so")))
        .map(String::from)
}

/// What the running server that owns a segment says about itself.
#[derive(Clone, Debug, Default)]
pub struct LiveInfo {
    /// Pids named in the segment that are live httpd children.
    pub live_children: Vec<i32>,
    pub parent: Option<i32>,
    pub mpm: Option<String>,
}

impl LiveInfo {
    pub fn is_running(&self) -> bool {
        !self.live_children.is_empty()
    }
}

/// Checks which of `pids` (a segment's process slots) are live httpd
/// children: the process exists and its parent runs the same program.
pub fn live_info(pids: impl IntoIterator<Item = i32>) -> LiveInfo {
    let mut info = LiveInfo::default();
    // Every child has the same parent: its name is read once.
    let mut parents: Vec<(i32, Option<String>)> = Vec::new();
    for pid in pids.into_iter().filter(|&p| p > 0) {
        let Some((comm, ppid)) = proc_stat(pid) else {
            continue;
        };
        if ppid <= 1 {
            continue;
        }
        let parent_comm = match parents.iter().find(|(p, _)| *p == ppid) {
            Some((_, c)) => c.clone(),
            None => {
                let c = proc_stat(ppid).map(|(c, _)| c);
                parents.push((ppid, c.clone()));
                c
            }
        };
        if parent_comm.is_some_and(|pc| pc == comm) {
            info.live_children.push(pid);
            info.parent.get_or_insert(ppid);
        }
    }
    if let Some(&child) = info.live_children.first() {
        info.mpm = read_proc(&format!("/proc/{child}/maps"), 64 * 1024)
            .and_then(|maps| String::from_utf8(maps).ok())
            .as_deref()
            .and_then(mpm_from_maps);
    }
    info
}

/// The version of the httpd binary a process runs (its `Apache/2.x.y`
/// string), when its executable is readable.
pub fn binary_version(pid: i32) -> Option<HttpdVersion> {
    let bytes = fs::read(format!("/proc/{pid}/exe")).ok()?;
    HttpdVersion::find_in(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test vectors confirmed against a live Debian 2.4.71 (reference §1.3).
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
        // The fixtures' shm name (meta.json) from their original path is not
        // known, but the event-mixed capture recorded this pair:
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

    #[test]
    fn proc_stat_parses_self() {
        let (comm, ppid) = proc_stat(std::process::id() as i32).expect("own stat");
        assert!(!comm.is_empty());
        assert!(ppid >= 0);
    }
}

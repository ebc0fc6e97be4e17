//! The bytes of a segment. The only module of the reading layer with
//! `unsafe` code: SysV shared memory can only be read through `shmat`, and
//! a live POSIX object is read through a read-only mapping, both of which
//! hand back a raw pointer. Nothing here writes, locks or resizes a segment.
//!
//! [`Bytes`] is what decoding sees: a read-only view of the live segment
//! where it cannot shrink under us, an owned copy where it could.
//! * SysV segments never change size: attached `SHM_RDONLY` and read in
//!   place until dropped.
//! * A POSIX shm object (tmpfs) that only root can resize (owned by root,
//!   writable by nobody else: httpd's `/dev/shm/ShM.*`) is mapped
//!   read-only: no copy, and only the pages a check reads are touched.
//! * Anything else (a user's snapshot, a file elsewhere) is copied with
//!   plain `pread`: a mapped file that another process shrinks would kill
//!   the reader with SIGBUS, a `read` just comes back short.
//!
//! A root process can still truncate such an object while it is mapped (a
//! hostile one, or an admin's mistake): the next read of a page past the
//! new end raises SIGBUS. Before mapping, the object's name goes to the
//! watchdog ([`crate::watchdog::explain_sigbus`]) for as long as the
//! mapping lives, so that signal ends the run as the UNKNOWN line naming
//! the file and what happened, like any other bad input. A process that
//! runs on without those handlers (the exporter restores default signal
//! actions) never maps a POSIX object: it copies every read with
//! [`copy_file`] (`locate::Opened::copy_unmapped`), and a truncation is an
//! error of that read.
//!
//! Mapped bytes change while they are read (httpd keeps writing): they are
//! untrusted input like a copy, and a field read twice may differ, exactly
//! as two copies would; decoding never relies on a byte keeping its value.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::ops::Deref;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::ptr::NonNull;

/// A segment's bytes: owned, or a read-only view of live shared memory.
pub struct Bytes(Inner);

enum Inner {
    Owned(Vec<u8>),
    /// `len` readable bytes at `ptr`, released by `munmap` or `shmdt`.
    Mapped {
        ptr: NonNull<u8>,
        len: usize,
        sysv: bool,
        /// What a SIGBUS means while a POSIX object is mapped; dropped
        /// after the mapping.
        _sigbus: Option<crate::watchdog::SigbusNote>,
    },
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Inner::Owned(v) => v,
            // SAFETY: `ptr` is a PROT_READ mapping (or SHM_RDONLY
            // attachment) of `len` bytes that stays until `drop`. A SysV
            // segment cannot shrink; a POSIX object only by root (module
            // comment), and a page past its new end then raises SIGBUS,
            // which ends the process (the watchdog's line names the
            // object; a process without it never maps one, see the
            // module comment) instead of yielding any value. Other
            // processes may change the contents meanwhile: they are
            // read as untrusted plain bytes.
            Inner::Mapped { ptr, len, .. } => unsafe {
                std::slice::from_raw_parts(ptr.as_ptr(), *len)
            },
        }
    }
}

impl Drop for Bytes {
    fn drop(&mut self) {
        if let Inner::Mapped { ptr, len, sysv, .. } = &self.0 {
            let (ptr, len) = (*ptr, *len);
            if *sysv {
                // SAFETY: `ptr` came from shmat and nothing borrows it
                // any more (`&mut self`).
                unsafe { libc::shmdt(ptr.as_ptr().cast()) };
            } else {
                // SAFETY: `ptr`/`len` are the mmap below and nothing
                // borrows it any more (`&mut self`).
                unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
            }
        }
    }
}

/// A clone is an owned copy.
impl Clone for Bytes {
    fn clone(&self) -> Bytes {
        Bytes::from(self.to_vec())
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Bytes {
        Bytes(Inner::Owned(v))
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = match self.0 {
            Inner::Owned(_) => "copied",
            Inner::Mapped { sysv: true, .. } => "attached",
            Inner::Mapped { sysv: false, .. } => "mapped",
        };
        write!(f, "Bytes({} bytes, {how})", self.len())
    }
}

impl Bytes {
    /// Whether these bytes are live shared memory rather than a copy.
    pub fn is_mapped(&self) -> bool {
        matches!(self.0, Inner::Mapped { .. })
    }

    /// The buffer of a copy, to copy into again; `None` for a mapping.
    pub fn into_buffer(mut self) -> Option<Vec<u8>> {
        match &mut self.0 {
            Inner::Owned(v) => Some(std::mem::take(v)),
            Inner::Mapped { .. } => None,
        }
    }
}

/// tmpfs (`/dev/shm`), from linux/magic.h.
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// Reads an open regular file whose `fstat` is `meta`: mapped read-only if
/// only root can resize it and it lives on tmpfs (a root httpd's POSIX
/// object), else copied. `path` names it in the line of a SIGBUS.
pub fn read_file(file: &File, meta: &std::fs::Metadata, path: &Path) -> io::Result<Bytes> {
    let len = meta.len();
    if len > MAX_SEGMENT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{len} bytes is too large for a scoreboard"),
        ));
    }
    let only_root_resizes = meta.uid() == 0 && meta.mode() & 0o022 == 0;
    if len == 0 || !only_root_resizes || !on_tmpfs(file) {
        return copy_file(file, len).map(Bytes::from);
    }
    map(
        file,
        len,
        &format!(
            "{}: the segment shrank while being read (SIGBUS)",
            path.display()
        ),
        false,
    )
    .or_else(|_| copy_file(file, len).map(Bytes::from))
}

/// Reads a whole regular file that only root can change (owned by root,
/// writable by nobody else: a root httpd's binary) through a read-only
/// mapping whose pages are mapped in at once; anything else is copied. A
/// caller that looks at every byte pays neither a copy nor a fault per
/// page. `shrank` is the UNKNOWN line's text should root truncate the file
/// while it is mapped (SIGBUS).
pub fn read_root_file(file: &File, meta: &std::fs::Metadata, shrank: &str) -> io::Result<Bytes> {
    let len = meta.len();
    let only_root_changes = meta.uid() == 0 && meta.mode() & 0o022 == 0;
    if len == 0 || !only_root_changes || !meta.is_file() {
        return copy_file(file, len).map(Bytes::from);
    }
    map(file, len, shrank, true).or_else(|_| copy_file(file, len).map(Bytes::from))
}

/// Maps `len` bytes of `file` read-only and shared; `populate`: with the
/// page tables filled in at once. `shrank` explains a SIGBUS while it lives.
fn map(file: &File, len: u64, shrank: &str, populate: bool) -> io::Result<Bytes> {
    let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let sigbus = crate::watchdog::explain_sigbus(shrank);
    let flags = if populate {
        libc::MAP_SHARED | libc::MAP_POPULATE
    } else {
        libc::MAP_SHARED
    };
    // SAFETY: a fresh read-only shared mapping at an address the kernel
    // chooses touches no existing memory; the file descriptor is valid for
    // the call (the mapping keeps its own reference to the object).
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            flags,
            file.as_raw_fd(),
            0,
        )
    };
    match NonNull::new(addr.cast::<u8>()) {
        Some(ptr) if addr != libc::MAP_FAILED => Ok(Bytes(Inner::Mapped {
            ptr,
            len,
            sysv: false,
            _sigbus: Some(sigbus),
        })),
        _ => Err(io::Error::last_os_error()),
    }
}

fn on_tmpfs(file: &File) -> bool {
    // SAFETY: statfs is a plain C struct for which all-zero bytes are a
    // valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: fstatfs writes one statfs into `st`, which we own.
    let ok = unsafe { libc::fstatfs(file.as_raw_fd(), &mut st) } == 0;
    ok && st.f_type as i64 == TMPFS_MAGIC
}

/// Bytes per `pread` of a copy.
const CHUNK: usize = 4 << 20;

/// Largest segment accepted (a 20000 × 64-slot 2.4 scoreboard is 430 MB).
pub const MAX_SEGMENT: u64 = 1 << 31;

/// Reads the whole of an open regular file (`len` bytes as `fstat` saw it).
/// A file that changes size while being read is reported, not trusted.
pub fn copy_file(file: &File, len: u64) -> io::Result<Vec<u8>> {
    copy_file_into(file, len, Vec::new())
}

/// [`copy_file`] into `buf`, whose allocation is reused: a process that
/// copies a segment again and again (the exporter) then does not allocate
/// and free hundreds of KB each time, which glibc's malloc answers by
/// keeping ever more of it resident.
pub fn copy_file_into(file: &File, len: u64, mut buf: Vec<u8>) -> io::Result<Vec<u8>> {
    if len > MAX_SEGMENT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{len} bytes is too large for a scoreboard"),
        ));
    }
    buf.clear();
    buf.resize(len as usize, 0);
    let mut done = 0;
    while done < buf.len() {
        // In chunks: a signal's handler runs only between reads, and one
        // read of hundreds of MB would hold it (and -t) back for seconds.
        let end = buf.len().min(done + CHUNK);
        match file.read_at(&mut buf[done..end], done as u64) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("file shrank to {done} bytes while being read"),
                ))
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(buf)
}

/// What `IPC_STAT` says about a SysV segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysvInfo {
    pub shmid: i32,
    pub size: u64,
    /// The owner (`shm_perm.uid`).
    pub owner: u32,
}

/// `shmget(key, 0, 0)`: the id of an existing segment.
pub fn sysv_id(key: i32) -> io::Result<i32> {
    // SAFETY: shmget takes plain integers and only looks the key up
    // (no IPC_CREAT), so it creates nothing.
    let id = unsafe { libc::shmget(key, 0, 0) };
    if id < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(id)
    }
}

/// `IPC_STAT` of segment `shmid` (fails once it is removed).
pub fn sysv_stat(shmid: i32) -> io::Result<SysvInfo> {
    // SAFETY: shmid_ds is a plain C struct for which all-zero bytes are a
    // valid value.
    let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: IPC_STAT writes one shmid_ds into the valid, exclusively
    // borrowed `ds`.
    if unsafe { libc::shmctl(shmid, libc::IPC_STAT, &mut ds) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(SysvInfo {
        shmid,
        size: ds.shm_segsz as u64,
        owner: ds.shm_perm.uid,
    })
}

/// Attaches segment `shmid` read-only (SysV segments never change size: it
/// is read in place and detached when the [`Bytes`] are dropped).
pub fn attach_sysv(shmid: i32) -> io::Result<(Bytes, SysvInfo)> {
    let info = sysv_stat(shmid)?;
    if info.size > MAX_SEGMENT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} bytes is too large for a scoreboard", info.size),
        ));
    }
    // SAFETY: attaching read-only at an address the kernel chooses maps new
    // pages and touches no existing memory.
    let addr = unsafe { libc::shmat(shmid, std::ptr::null(), libc::SHM_RDONLY) };
    if addr as isize == -1 {
        return Err(io::Error::last_os_error());
    }
    let ptr = NonNull::new(addr.cast::<u8>()).ok_or_else(io::Error::last_os_error)?;
    // The kernel mapped at least shm_segsz readable bytes at `addr`; they
    // stay attached until the Bytes are dropped (IPC_RMID included).
    Ok((
        Bytes(Inner::Mapped {
            ptr,
            len: info.size as usize,
            sysv: true,
            _sigbus: None,
        }),
        info,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user's file is copied: changing it afterwards changes nothing.
    #[test]
    fn files_others_may_resize_are_copied() {
        let dir = std::env::temp_dir().join(format!("segment-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        // Writable by others: whoever owns it, it is copied.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let file = File::open(&path).unwrap();
        let bytes = read_file(&file, &file.metadata().unwrap(), &path).unwrap();
        assert!(!bytes.is_mapped());
        std::fs::write(&path, b"").unwrap();
        assert_eq!(&bytes[..], b"0123456789");
        // A copy into an earlier copy's buffer: the file's bytes only, in
        // the same allocation.
        std::fs::write(&path, b"abc").unwrap();
        let buffer = bytes.into_buffer().unwrap();
        let at = buffer.as_ptr();
        let again = copy_file_into(&file, 3, buffer).unwrap();
        assert_eq!((&again[..], again.as_ptr()), (&b"abc"[..], at));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// An httpd binary is mapped only when root alone may change it (on
    /// any file system), else copied; the bytes are the file's either way.
    #[test]
    fn root_files_are_mapped_others_copied() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("segment-root-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("httpd");
        std::fs::write(&path, b"\0Apache/2.4.71\0").unwrap();
        for (mode, root_alone) in [(0o755, true), (0o775, false), (0o757, false)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let file = File::open(&path).unwrap();
            let meta = file.metadata().unwrap();
            let bytes = read_root_file(&file, &meta, "x: shrank").unwrap();
            assert_eq!(&bytes[..], b"\0Apache/2.4.71\0");
            let mapped = root_alone && meta.uid() == 0;
            assert_eq!(bytes.is_mapped(), mapped, "mode {mode:o}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

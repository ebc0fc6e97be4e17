//! Copies a segment into an owned buffer. The only module with `unsafe`
//! code: SysV shared memory can only be read through `shmat`, which hands
//! back a raw pointer. The segment is attached `SHM_RDONLY`, copied once and
//! detached before anything decodes it; no reference into live shared memory
//! survives this module, and nothing here writes, locks or resizes it.
//!
//! POSIX shm objects (`/dev/shm/ShM.*`), mapped files and snapshots are read
//! with plain `pread` through a file descriptor instead of a mapping: a
//! mapped file that another process shrinks kills the reader with SIGBUS,
//! a `read` just comes back short.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Largest segment accepted (a 20000 × 64-slot 2.4 scoreboard is 430 MB).
pub const MAX_SEGMENT: u64 = 1 << 31;

/// Reads the whole of an open regular file (`len` bytes as `fstat` saw it).
/// A file that changes size while being read is reported, not trusted.
pub fn copy_file(file: &File, len: u64) -> io::Result<Vec<u8>> {
    if len > MAX_SEGMENT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{len} bytes is too large for a scoreboard"),
        ));
    }
    let mut buf = vec![0u8; len as usize];
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], done as u64) {
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
    pub creator_pid: i32,
    pub attached: u64,
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

/// Attaches segment `shmid` read-only, copies it and detaches it. `admit`
/// sees what `IPC_STAT` says before anything is attached and may refuse;
/// `attached` runs right after the attach (the privilege that took is then
/// given up before a byte is copied).
pub fn copy_sysv(
    shmid: i32,
    admit: impl FnOnce(&SysvInfo) -> io::Result<()>,
    attached: impl FnOnce(),
) -> io::Result<(Vec<u8>, SysvInfo)> {
    // SAFETY: shmid_ds is a plain C struct for which all-zero bytes are a
    // valid value.
    let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: IPC_STAT writes one shmid_ds into the valid, exclusively
    // borrowed `ds`.
    if unsafe { libc::shmctl(shmid, libc::IPC_STAT, &mut ds) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let info = SysvInfo {
        shmid,
        size: ds.shm_segsz as u64,
        creator_pid: ds.shm_cpid,
        attached: ds.shm_nattch as u64,
        owner: ds.shm_perm.uid,
    };
    admit(&info)?;
    if info.size > MAX_SEGMENT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} bytes is too large for a scoreboard", info.size),
        ));
    }
    // SAFETY: attaching read-only at an address the kernel chooses maps new
    // pages and touches no existing memory.
    let addr = unsafe { libc::shmat(shmid, std::ptr::null(), libc::SHM_RDONLY) };
    let error = io::Error::last_os_error();
    attached();
    if addr as isize == -1 {
        return Err(error);
    }
    // SAFETY: the kernel mapped at least shm_segsz readable bytes at `addr`
    // (segments never shrink), they stay mapped until the shmdt below, and
    // the slice is copied out before that and never kept.
    let bytes =
        unsafe { std::slice::from_raw_parts(addr.cast::<u8>(), info.size as usize) }.to_vec();
    // SAFETY: `addr` came from the shmat above and nothing borrows it any more.
    unsafe { libc::shmdt(addr) };
    Ok((bytes, info))
}

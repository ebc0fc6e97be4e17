//! APR's naming of a ScoreBoardFile's shared memory: the path as httpd
//! normalises it, the POSIX object name derived from it and the SysV key.

use std::path::{Component, Path, PathBuf};

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

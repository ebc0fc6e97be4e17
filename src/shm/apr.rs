//! APR's naming of a ScoreBoardFile's shared memory: the path as httpd
//! normalises it, the POSIX object name derived from it and the SysV key.

use std::fs;
use std::os::unix::fs::MetadataExt;
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

/// glibc's `ftok`: `(proj & 0xff) << 24 | (st_dev & 0xff) << 16 | (st_ino & 0xffff)`.
pub fn ftok(meta: &fs::Metadata, proj: u32) -> i32 {
    (((proj & 0xff) << 24) | ((meta.dev() as u32 & 0xff) << 16) | (meta.ino() as u32 & 0xffff))
        as i32
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
}

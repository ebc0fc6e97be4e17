//! Errors finding, opening or copying a segment: one lowercase line each,
//! naming the file where there is one.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {op} {}: {}", path.display(), describe_io(source))]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{} is {what}, not a scoreboard", path.display())]
    NotASegment { path: PathBuf, what: &'static str },
    #[error("SysV segment {key:#x} has {actual} bytes but {} says {expected}", path.display())]
    SysvSizeMismatch {
        key: i32,
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
    #[error("no scoreboard at {}: {tried}", path.display())]
    NotFound { path: PathBuf, tried: String },
    #[error("refusing --scoreboard {shown}: not a scoreboard listed in /etc/apache-scoreboard/scoreboards (this binary holds a capability; see README, \"Running without root\")")]
    Refused { shown: String },
    #[error("refusing to read {shown}: request lines and clients are shown to callers other than root only for scoreboards marked show-details in /etc/apache-scoreboard/scoreboards (see README, \"Running without root\")")]
    DetailsRefused { shown: String },
    #[error("refusing to run with the capability: the caller is in none of the groups allowed in /etc/apache-scoreboard/scoreboards ({groups})")]
    NotAllowedGroup { groups: String },
    #[error("refusing {shown}: with privilege, a path with `..` is not opened")]
    DotDot { shown: String },
    #[error("cannot open {} without following a symlink (with privilege no symlink is followed)", path.display())]
    Symlink { path: PathBuf },
    #[error("could not give up the capabilities this binary was started with: nothing is opened")]
    Unprivilegeable,
    #[error("{} is owned by uid {uid}, not root: not an httpd scoreboard", path.display())]
    NotRootOwned { path: PathBuf, uid: u32 },
    #[error("{0}")]
    Discovery(String),
    /// No segment and no httpd process: the server is down.
    #[error("httpd is not running: {looked}")]
    NotRunning {
        /// Where the segment was looked for, and what was found there.
        looked: String,
    },
    /// httpd runs, but with an anonymous scoreboard no other process can read.
    #[error("httpd pid {pid} keeps its scoreboard in anonymous memory: add `{line}` to its configuration and restart it")]
    Anonymous { pid: i32, line: String },
}

/// `permission denied` rather than `Permission denied (os error 13)`, plus
/// what to do about it.
pub fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => {
            "permission denied (the scoreboard is readable by root only: run via sudo or install with the capability; see README)".into()
        }
        io::ErrorKind::NotFound => "no such file or directory".into(),
        _ => {
            let s = e.to_string();
            let s = s.split(" (os error").next().unwrap_or(&s).to_string();
            let mut c = s.chars();
            match c.next() {
                Some(first) => first.to_lowercase().chain(c).collect(),
                None => s,
            }
        }
    }
}

//! mod_heartmonitor's storage: the members a monitor httpd has heard from
//! (mod_heartbeat origins' `v=1&ready=R&busy=B` datagrams) and how old each
//! one's news is.
//!
//! - [`file`] and [`slotmem`] parse the two storages from bytes, strictly;
//! - [`locate`] finds the storage (`--storage PATH` forms, the running
//!   monitor) and reads it through the scoreboard's reading layer
//!   ([`crate::shm::locate::read_whole`]), under the same privilege
//!   rules;
//! - [`load`] turns that into a [`Storage`]: one [`Member`] per IP with its
//!   age as of "now" (or `--at`), and what is known of the monitor process.

pub mod file;
pub mod locate;
pub mod slotmem;

use std::net::IpAddr;
use std::path::PathBuf;

pub use locate::{Monitor, Target};

/// Which of the two storages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The flat file (`HeartbeatMaxServers 0`, `HeartbeatStorage`)
    File,
    /// mod_slotmem_shm's segment (the default)
    Slotmem,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Slotmem => "slotmem",
        }
    }
}

/// One member as the monitor holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// The datagram's source address, as the monitor printed it.
    pub ip: String,
    pub ready: u32,
    pub busy: u32,
    /// µs from the monitor processing the member's last datagram to "now".
    pub age_us: i64,
    /// The POSTed port; `None` for multicast senders (the file's 80, which
    /// the monitor writes for every one of them) and for the slotmem.
    pub port: Option<u32>,
    /// Slotmem index (`None` for the file).
    pub slot: Option<usize>,
}

/// The storage as read, with the monitor's state.
#[derive(Clone, Debug)]
pub struct Storage {
    pub kind: Kind,
    /// The path shown in messages.
    pub shown: String,
    pub members: Vec<Member>,
    /// The file's mtime (µs): when the monitor last rewrote it.
    pub written_us: Option<i64>,
    /// Slots in the segment and how many are free.
    pub slots: Option<slotmem::Header>,
    pub monitor: Monitor,
    /// "now" for ages, µs since the epoch.
    pub now: i64,
    pub at_given: bool,
}

/// How the storage is to be found and read.
#[derive(Clone, Debug, Default)]
pub struct StorageOptions {
    pub storage: Option<PathBuf>,
    pub format: Option<Kind>,
    /// "now" in µs since the epoch (`--at`).
    pub at: Option<i64>,
}

/// What is wrong with the bytes (the caller names the file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError(pub String);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Opening or reading failed (the message names the file).
    #[error("{}", describe_read(.0))]
    Read(crate::shm::Error),
    #[error("{shown}: {what}")]
    Format { shown: String, what: String },
    /// The storage a monitor would keep is not there: the named or derived
    /// slotmem object is gone (the monitor unlinks it when it stops).
    #[error("{what}")]
    Gone { what: String },
    #[error("{0}")]
    Discovery(String),
}

fn describe_read(e: &crate::shm::Error) -> String {
    use crate::shm::Error as E;
    match e {
        E::NotASegment { path, what } => {
            format!("{} is {what}, not heartbeat storage", path.display())
        }
        E::Io { op, path, source } if source.kind() == std::io::ErrorKind::PermissionDenied => format!(
            "cannot {op} {}: permission denied (the slotmem is readable by root only: run via sudo or install with the capability; see README)",
            path.display()
        ),
        other => other.to_string(),
    }
}

/// An IP address as the monitor prints one (IPv4 dotted quad, IPv6 text,
/// possibly with a `%scope`), as text.
pub fn parse_ip(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?;
    let addr = text.split_once('%').map_or(text, |(a, _)| a);
    addr.parse::<IpAddr>().ok()?;
    let scope_ok = text
        .split_once('%')
        .is_none_or(|(_, s)| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric()));
    scope_ok.then(|| text.to_string())
}

/// Parses storage bytes of either kind (`kind`, else detected from the
/// content) into members aged as of `now`; `written_us` is the file's mtime.
pub fn decode(
    bytes: &[u8],
    kind: Option<Kind>,
    written_us: i64,
    now: i64,
) -> Result<(Kind, Vec<Member>, Option<slotmem::Header>), FormatError> {
    // Text is the file (the empty file too); anything binary is read as
    // the slotmem, whose header check then says what is wrong with it.
    let kind = kind.unwrap_or(if file::looks_like(bytes) {
        Kind::File
    } else {
        Kind::Slotmem
    });
    Ok(match kind {
        Kind::File => {
            let members = file::parse(bytes)?
                .into_iter()
                .map(|l| Member {
                    age_us: i64::from(l.lastseen) * 1_000_000 + (now - written_us),
                    ip: l.ip,
                    ready: l.ready,
                    busy: l.busy,
                    port: l.port.filter(|&p| p != 80),
                    slot: None,
                })
                .collect();
            (kind, members, None)
        }
        Kind::Slotmem => {
            let (header, slots) = slotmem::parse(bytes)?;
            let members = slots
                .into_iter()
                .map(|s| Member {
                    age_us: now.saturating_sub(s.seen_us),
                    ip: s.ip,
                    ready: s.ready,
                    busy: s.busy,
                    port: None,
                    slot: Some(s.index),
                })
                .collect();
            (kind, members, Some(header))
        }
    })
}

/// Finds, reads and decodes the storage the options name (or the running
/// monitor's).
pub fn load(opts: &StorageOptions) -> Result<Storage, Error> {
    let now = opts.at.unwrap_or_else(crate::scoreboard::now_us);
    let found = locate::find(opts.storage.as_deref(), opts.format)?;
    let read = locate::read(&found)?;
    let (kind, members, slots) =
        decode(&read.bytes, opts.format, read.mtime_us, now).map_err(|e| Error::Format {
            shown: found.shown.clone(),
            what: e.0,
        })?;
    Ok(Storage {
        kind,
        shown: found.shown,
        members,
        written_us: (kind == Kind::File).then_some(read.mtime_us),
        slots,
        monitor: found.monitor,
        now,
        at_given: opts.at.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(parse_ip(b"192.0.2.1").as_deref(), Some("192.0.2.1"));
        assert_eq!(parse_ip(b"fe80::1%eth0").as_deref(), Some("fe80::1%eth0"));
        for bad in [&b""[..], b"192.0.2", b"a|b", b"::1%", b"::1%a b", b"\xff"] {
            assert_eq!(parse_ip(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn detects_the_kind_from_the_content() {
        let slot = slotmem::encode(10, &[(0, true, "192.0.2.1", 1, 2, 5_000_000)]);
        let (kind, m, _) = decode(&slot, None, 0, 6_000_000).unwrap();
        assert_eq!(
            (kind, m[0].age_us, m[0].slot),
            (Kind::Slotmem, 1_000_000, Some(0))
        );
        let text = b"192.0.2.1 &ready=2&busy=1&lastseen=3&port=80\n";
        let (kind, m, _) = decode(text, None, 10_000_000, 10_500_000).unwrap();
        assert_eq!(
            (kind, m[0].age_us, m[0].port),
            (Kind::File, 3_500_000, None)
        );
        assert!(decode(&slot, Some(Kind::File), 0, 0).is_err());
        let e = decode(b"\x00\x01", None, 0, 0).unwrap_err();
        assert!(e.0.starts_with("truncated: 2 bytes"), "{e:?}");
    }
}

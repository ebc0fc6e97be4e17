//! Who runs this binary, decided from the kernel, and what that allows.
//!
//! [`at_startup`] runs before the arguments are parsed. It reads the real,
//! effective and saved uids and gids (`getresuid`, `getresgid`) and the
//! capability sets (`capget`), never text from /proc, and settles one
//! [`Mode`] for the whole run:
//!
//! - [`Mode::Root`]: every uid is 0 (root, sudo). Root's own rights, but
//!   every open follows no symlink and needs a root-owned object, and
//!   discovery trusts only httpd parents run by root from root's binaries.
//! - [`Mode::Capable`]: not root, but the file capability
//!   (`cap_dac_read_search`, `cap_ipc_owner`) is permitted. The effective
//!   set is cleared at once and every capability outside those two dropped;
//!   they are raised only around the open/attach of one segment derived
//!   from an entry of the root-owned [`ALLOWLIST`], for a caller whose real
//!   uid/gids include an allowed group, and every set is cleared right after.
//! - [`Mode::Plain`]: neither; the caller's own rights, nothing to guard.
//!
//! Anything unclear (a failed syscall, uids that are neither all root nor
//! all the same user, a set that cannot be changed) clears every capability
//! and, where that fails too, leaves [`Mode::Broken`], which opens nothing.

use std::collections::HashSet;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use caps::{CapSet, Capability};
use nix::unistd::{getgroups, getresgid, getresuid, setresgid, setresuid, Gid, Group, Uid};

use super::apr::posix_name;
use super::error::Error;
use super::locate::{open_strict, DEV_SHM};
use crate::plugin::text::escape_bytes;

/// The root-owned configuration of the capability: allowed groups and the
/// scoreboards it may be used for (syntax in [`Allowlist::parse`]).
pub const ALLOWLIST: &str = "/etc/apache-scoreboard/scoreboards";

/// The group allowed when the allowlist names none.
pub const DEFAULT_GROUP: &str = "nagios";

/// How this process may open segments (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Root,
    Capable,
    Plain,
    /// Privilege that could not be given up: nothing is opened.
    Broken,
}

impl Mode {
    /// Whether opens follow no symlink and need root-owned objects.
    pub fn strict(self) -> bool {
        !matches!(self, Mode::Plain)
    }
}

static MODE: OnceLock<Mode> = OnceLock::new();

/// The capabilities the one open may use; every other one is dropped at
/// startup.
const NEEDED: [Capability; 2] = [Capability::CAP_DAC_READ_SEARCH, Capability::CAP_IPC_OWNER];

/// Decides the mode from the kernel and gives up what it does not need.
/// Idempotent; called first thing by the CLI (and by [`mode`] otherwise).
pub fn at_startup() -> Mode {
    *MODE.get_or_init(decide)
}

static RENOUNCED: AtomicBool = AtomicBool::new(false);

/// The mode [`at_startup`] decided ([`Mode::Plain`] instead of
/// [`Mode::Capable`] once [`renounce`]d).
pub fn mode() -> Mode {
    match at_startup() {
        Mode::Capable if RENOUNCED.load(Ordering::SeqCst) => Mode::Plain,
        mode => mode,
    }
}

/// For commands that read no segment (`instances`, `manpage`, `--help`,
/// usage errors): in [`Mode::Capable`], every capability set cleared for
/// the rest of the run. (Root keeps root's rights: `instances` needs them
/// to tell root's httpd from others, see `proc::trusted_parent`.)
pub fn renounce() {
    if at_startup() == Mode::Capable && drop_all() {
        RENOUNCED.store(true, Ordering::SeqCst);
    }
}

fn decide() -> Mode {
    let (Ok(uid), Ok(gid)) = (getresuid(), getresgid()) else {
        return give_up();
    };
    let uids = [uid.real, uid.effective, uid.saved];
    let gids = [gid.real, gid.effective, gid.saved];
    if uids.iter().all(|u| u.is_root()) {
        return Mode::Root;
    }
    // A set-id program (some uid or gid differs from the real one): run
    // with the caller's ids alone, and as a capability program at most.
    if uids.iter().any(|&u| u != uid.real) && setresuid(uid.real, uid.real, uid.real).is_err() {
        return give_up();
    }
    if gids.iter().any(|&g| g != gid.real) && setresgid(gid.real, gid.real, gid.real).is_err() {
        return give_up();
    }
    if uid.real.is_root() {
        // Real root with other effective ids: not a mode we know.
        return give_up();
    }
    let (Ok(permitted), Ok(effective), Ok(inheritable)) = (
        caps::read(None, CapSet::Permitted),
        caps::read(None, CapSet::Effective),
        caps::read(None, CapSet::Inheritable),
    ) else {
        return give_up();
    };
    if permitted.is_empty() && effective.is_empty() {
        // Ambient capabilities are always a subset of permitted ones, and
        // inheritable ones alone give nothing (cleared all the same).
        if !inheritable.is_empty() && caps::clear(None, CapSet::Inheritable).is_err() {
            return give_up();
        }
        return Mode::Plain;
    }
    let keep: caps::CapsHashSet = NEEDED
        .iter()
        .copied()
        .filter(|c| permitted.contains(c))
        .collect();
    let narrowed = caps::clear(None, CapSet::Effective).is_ok()
        && caps::clear(None, CapSet::Ambient).is_ok()
        && caps::clear(None, CapSet::Inheritable).is_ok()
        && caps::set(None, CapSet::Permitted, &keep).is_ok();
    if !narrowed {
        return give_up();
    }
    Mode::Capable
}

/// Clears every set; [`Mode::Plain`] if that worked, else [`Mode::Broken`].
fn give_up() -> Mode {
    if drop_all() {
        Mode::Plain
    } else {
        Mode::Broken
    }
}

/// Clears every capability set of this thread (ambient, effective,
/// inheritable, permitted), for good. Whether all are empty afterwards.
pub fn drop_all() -> bool {
    for set in [
        CapSet::Ambient,
        CapSet::Effective,
        CapSet::Inheritable,
        CapSet::Permitted,
    ] {
        let _ = caps::clear(None, set);
    }
    [CapSet::Effective, CapSet::Permitted, CapSet::Inheritable]
        .into_iter()
        .all(|set| caps::read(None, set).is_ok_and(|s| s.is_empty()))
}

/// In [`Mode::Capable`] only: runs `open` with the needed capabilities
/// raised, then clears every set, whatever `open` returned. In every other
/// mode `open` runs as it is.
pub fn while_raised<T>(open: impl FnOnce() -> T) -> T {
    if mode() != Mode::Capable {
        return open();
    }
    for cap in NEEDED {
        // A capability that is not permitted stays lowered: the open then
        // fails with the caller's own rights.
        let _ = caps::raise(None, CapSet::Effective, cap);
    }
    let result = open();
    drop_all();
    result
}

/// In [`Mode::Capable`]: opens with the needed capabilities raised, then
/// copies, with them raised again only where attaching needs them (a SysV
/// segment), and clears every set right after; nothing of the segment is
/// read while a capability is effective, except by an attach.
pub fn copy_raised(
    open: impl FnOnce() -> Result<super::locate::Opened, Error>,
) -> Result<super::locate::Copied, Error> {
    let opened = raised_again(open);
    let copied = match &opened {
        Ok(o) if o.needs_capability_to_copy() => raised_again(|| o.copy()),
        Ok(o) => {
            drop_all();
            o.copy()
        }
        Err(_) => Err(Error::Unprivilegeable),
    };
    drop_all();
    opened.and(copied)
}

/// For a long-running reader (the exporter), which must reopen a segment
/// httpd recreated: runs `open` with the needed capabilities effective, then
/// clears the effective set again; the permitted set (those two at most,
/// see [`at_startup`]) stays. Only in [`Mode::Capable`].
pub fn raised_again<T>(open: impl FnOnce() -> T) -> T {
    if mode() != Mode::Capable {
        return open();
    }
    for cap in NEEDED {
        let _ = caps::raise(None, CapSet::Effective, cap);
    }
    let result = open();
    if caps::clear(None, CapSet::Effective).is_err() {
        // An effective capability that cannot be lowered: give up all.
        drop_all();
    }
    result
}

/// One scoreboard the capability may be used for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The ScoreBoardFile path, absolute and normalised.
    pub path: PathBuf,
    /// `show-details`: callers of an allowed group may also see request
    /// lines, query strings and clients (`dump`, `status`, `snapshot`,
    /// `--show-query`, `--show-clients`).
    pub details: bool,
}

impl Entry {
    /// The `/dev/shm` objects APR may derive from the path (signed and
    /// unsigned `char`), e.g. `/dev/shm/ShM.7dc2371eH646e832a`.
    pub fn posix_objects(&self) -> [PathBuf; 2] {
        let bytes = self.path.as_os_str().as_bytes();
        [true, false].map(|signed| {
            Path::new(DEV_SHM).join(posix_name(bytes, signed).trim_start_matches('/'))
        })
    }

    /// Whether the caller's `--scoreboard` names this entry: the path
    /// itself, byte for byte, or one of its `/dev/shm` objects (also as
    /// `ShM.…` or `/ShM.…`).
    pub fn named_by(&self, spec: &Path) -> bool {
        let spec = spec.as_os_str().as_bytes();
        if spec == self.path.as_os_str().as_bytes() {
            return true;
        }
        self.posix_objects().iter().any(|object| {
            let full = object.as_os_str().as_bytes();
            let name = &full[DEV_SHM.len() + 1..];
            spec == full || spec == name || spec.strip_prefix(b"/") == Some(name)
        })
    }
}

/// The parsed [`ALLOWLIST`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowlist {
    pub groups: Vec<String>,
    pub entries: Vec<Entry>,
}

impl Allowlist {
    /// One item per line; `#` starts a comment:
    ///
    /// ```text
    /// allow-group nagios icinga       # who may use the capability (default: nagios)
    /// /run/apache2/apache_scoreboard  # checks only
    /// /run/apache2-app/scoreboard show-details
    /// ```
    ///
    /// A scoreboard line is an absolute path without `.`, `..` or `//`
    /// components, optionally followed by `show-details`. Lines that are
    /// neither are ignored (they name nothing the capability could open).
    pub fn parse(text: &[u8]) -> Allowlist {
        let mut list = Allowlist::default();
        let mut groups_named = false;
        for line in text.split(|&b| b == b'\n') {
            let line = line.split(|&b| b == b'#').next().unwrap_or_default();
            let mut words = line
                .split(|b| b.is_ascii_whitespace())
                .filter(|w| !w.is_empty());
            let Some(first) = words.next() else { continue };
            let rest: Vec<&[u8]> = words.collect();
            if first == b"allow-group" {
                groups_named = true;
                list.groups.extend(
                    rest.iter()
                        .filter_map(|g| std::str::from_utf8(g).ok())
                        .map(String::from),
                );
                continue;
            }
            let path = Path::new(std::ffi::OsStr::from_bytes(first));
            let details = match rest.as_slice() {
                [] => false,
                [b"show-details"] => true,
                _ => continue,
            };
            if is_normal_absolute(path) {
                list.entries.push(Entry {
                    path: path.to_path_buf(),
                    details,
                });
            }
        }
        if !groups_named {
            list.groups.push(DEFAULT_GROUP.into());
        }
        list
    }

    /// Reads [`ALLOWLIST`] without a capability, through no symlink; it and
    /// its directory must be root's and writable by root only.
    pub fn load() -> Result<Allowlist, Error> {
        let refuse = |why: &str| {
            Error::Discovery(format!(
                "{ALLOWLIST} {why}: the capability is used only for scoreboards listed there (see README, \"Running without root\")"
            ))
        };
        let dir = Path::new(ALLOWLIST).parent().unwrap_or(Path::new("/"));
        for (path, directory) in [(dir, true), (Path::new(ALLOWLIST), false)] {
            let file = open_strict(path, directory).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => refuse("is missing"),
                _ => refuse("cannot be opened without following a symlink"),
            })?;
            let meta = file.metadata().map_err(|_| refuse("cannot be read"))?;
            if meta.uid() != 0 || meta.mode() & 0o022 != 0 || meta.is_dir() != directory {
                return Err(refuse("must be owned by root and writable only by root"));
            }
            if !directory {
                let mut text = Vec::new();
                (&file)
                    .take(1 << 20)
                    .read_to_end(&mut text)
                    .map_err(|_| refuse("cannot be read"))?;
                return Ok(Allowlist::parse(&text));
            }
        }
        Err(refuse("is missing"))
    }

    /// Whether the real uid, real gid or a supplementary group of this
    /// process is one of the allowed groups.
    pub fn admits_caller(&self) -> bool {
        let allowed: HashSet<Gid> = self
            .groups
            .iter()
            .filter_map(|name| Group::from_name(name).ok().flatten())
            .map(|g| g.gid)
            .collect();
        let Ok(gid) = getresgid() else { return false };
        let Ok(uid) = getresuid() else { return false };
        if uid.real == Uid::from_raw(0) {
            return true;
        }
        allowed.contains(&gid.real)
            || getgroups().is_ok_and(|groups| groups.iter().any(|g| allowed.contains(g)))
    }

    /// The entry `--scoreboard` names (the only one, without it).
    pub fn entry_for(&self, spec: Option<&Path>) -> Result<&Entry, Error> {
        match spec {
            Some(spec) => self
                .entries
                .iter()
                .find(|e| e.named_by(spec))
                .ok_or_else(|| refused(spec)),
            None => match self.entries.as_slice() {
                [one] => Ok(one),
                [] => Err(Error::Discovery(format!(
                    "{ALLOWLIST} lists no scoreboard: the capability is used only for scoreboards listed there (see README)"
                ))),
                _ => Err(Error::Discovery(format!(
                    "{ALLOWLIST} lists several scoreboards: pass --scoreboard"
                ))),
            },
        }
    }
}

/// For a long-running reader (the exporter), each time it opens: the
/// allowlist entry `spec` names, for a caller in an allowed group.
pub fn entry_named(spec: &Path) -> Result<Entry, Error> {
    let list = Allowlist::load()?;
    if !list.admits_caller() {
        drop_all();
        return Err(Error::NotAllowedGroup {
            groups: list.groups.join(", "),
        });
    }
    list.entry_for(Some(spec)).cloned()
}

/// The refusal of a `--scoreboard` the capability may not open: the same
/// words whether or not the path exists.
pub fn refused(spec: &Path) -> Error {
    Error::Refused {
        shown: escape_bytes(spec.as_os_str().as_bytes()),
    }
}

/// An absolute path with nothing but normal components (no `.`, `..`,
/// empty component or trailing slash).
pub fn is_normal_absolute(path: &Path) -> bool {
    let bytes = path.as_os_str().as_bytes();
    bytes.starts_with(b"/")
        && bytes.len() > 1
        && !bytes.ends_with(b"/")
        && !bytes.windows(2).any(|w| w == b"//")
        && !bytes.split(|&b| b == b'/').any(|c| c == b"." || c == b"..")
}

/// What the allowlist lets a [`Mode::Capable`] caller do, decided before a
/// byte is read: the entry to open, or one refusal.
pub fn admit(spec: Option<&Path>, wants_details: bool) -> Result<Entry, Error> {
    let list = Allowlist::load()?;
    if !list.admits_caller() {
        drop_all();
        return Err(Error::NotAllowedGroup {
            groups: list.groups.join(", "),
        });
    }
    let entry = list.entry_for(spec)?.clone();
    if wants_details && !entry.details {
        drop_all();
        return Err(match spec {
            Some(spec) => Error::DetailsRefused {
                shown: escape_bytes(spec.as_os_str().as_bytes()),
            },
            None => Error::DetailsRefused {
                shown: escape_bytes(entry.path.as_os_str().as_bytes()),
            },
        });
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_syntax() {
        let list = Allowlist::parse(
            b"# comment\nallow-group nagios icinga\n/run/a/sb\n/run/b/sb show-details # x\n\
              relative/sb\n/run/../etc/shadow\n/run//x\n/run/./x\n/run/c/ extra words\n/run/d/\n",
        );
        assert_eq!(list.groups, ["nagios", "icinga"]);
        assert_eq!(
            list.entries,
            [
                Entry {
                    path: "/run/a/sb".into(),
                    details: false
                },
                Entry {
                    path: "/run/b/sb".into(),
                    details: true
                }
            ]
        );
        assert_eq!(Allowlist::parse(b"/x\n").groups, [DEFAULT_GROUP]);
    }

    #[test]
    fn entries_are_named_by_path_or_derived_object_only() {
        let e = Entry {
            path: "/run/apache2/apache_runtime_status".into(),
            details: false,
        };
        for ok in [
            "/run/apache2/apache_runtime_status",
            "/dev/shm/ShM.7dc2371eH646e832a",
            "ShM.7dc2371eH646e832a",
            "/ShM.7dc2371eH646e832a",
        ] {
            assert!(e.named_by(Path::new(ok)), "{ok}");
        }
        for bad in [
            "/run/apache2//apache_runtime_status",
            "/run/apache2/./apache_runtime_status",
            "/run/x/../apache2/apache_runtime_status",
            "run/apache2/apache_runtime_status",
            "ShM.7dc2371eH646e832a/../../etc/shadow",
            "/dev/shm/ShM.7dc2371eH646e832a/",
            "/dev/shm/../shm/ShM.7dc2371eH646e832a",
        ] {
            assert!(!e.named_by(Path::new(bad)), "{bad}");
        }
    }
}

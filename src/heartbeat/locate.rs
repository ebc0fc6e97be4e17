//! Finding mod_heartmonitor's storage and the monitor httpd that keeps it.
//!
//! `--storage PATH` may name:
//! - the flat file (`HeartbeatStorage`, e.g. `/run/apache2/hb.dat`), or any
//!   saved copy of either storage (the content decides);
//! - a POSIX object `/dev/shm/ShM.*`;
//! - the slotmem name `<DefaultRuntimeDir>/slotmem-shm-mod_heartmonitor_<gen
//!   hex>.shm`, which is never a file: APR derives the object's name from it
//!   with the hashes it uses for ScoreBoardFile ([`posix_name`]);
//! - the monitor's DefaultRuntimeDir: the newest generation's object there,
//!   else its `hb.dat`.
//!
//! Without it, the running monitor (an httpd parent with mod_heartmonitor
//! mapped) is found through the scoreboard's instance discovery; the
//! slotmem object is the one of its shared-memory objects that has a
//! slotmem header, and its (re)start time comes from its scoreboard.

use std::collections::HashSet;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{file, slotmem, Error, Kind};
use crate::shm::apr::{posix_name, scoreboard_file_path, HOST_SIGNED_CHAR};
use crate::shm::locate::{read_whole, Unstable};
use crate::shm::{privilege, proc, Error as ReadError};

const DEV_SHM: &str = "/dev/shm";
/// mod_heartmonitor's slotmem name: `slotmem-shm-` + `mod_heartmonitor` +
/// `_<generation hex>` + `.shm`, relative to DefaultRuntimeDir.
const SLOTMEM_PREFIX: &str = "slotmem-shm-mod_heartmonitor_";
const SLOTMEM_SUFFIX: &str = ".shm";
/// Generations searched for a DefaultRuntimeDir (one per restart).
const MAX_GENERATION: u32 = 0xffff;
/// The default HeartbeatStorage, relative to DefaultRuntimeDir.
const DEFAULT_FILE: &str = "hb.dat";

/// What to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A regular file: hb.dat, or a saved copy of either storage.
    File(PathBuf),
    /// A live POSIX shm object.
    Object(PathBuf),
}

/// What is known about the monitor that keeps the storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Monitor {
    /// A running monitor httpd keeps it; `started_us`: its last (re)start.
    Running { pid: i32, started_us: Option<i64> },
    /// Not known (a copy, or no monitor process matched).
    Unknown,
}

/// A storage found, not read yet.
#[derive(Clone, Debug)]
pub struct Found {
    pub target: Target,
    pub shown: String,
    pub monitor: Monitor,
}

/// A monitor httpd found running.
#[derive(Clone, Debug)]
pub struct MonitorProcess {
    pub pid: i32,
    /// Its POSIX shm objects (scoreboard, slotmem), from its mappings.
    pub objects: Vec<PathBuf>,
}

/// The running httpd parents that have mod_heartmonitor loaded (their
/// mappings readable: root, or the same user).
pub fn monitors() -> Vec<MonitorProcess> {
    proc::instances()
        .into_iter()
        .filter_map(|i| {
            let maps = proc::read_proc(&format!("/proc/{}/maps", i.pid), 64 * 1024)?;
            let maps = String::from_utf8_lossy(&maps);
            if !maps.contains("/mod_heartmonitor.so") {
                return None;
            }
            let mut objects: Vec<PathBuf> = maps
                .lines()
                .filter_map(|l| l.split_whitespace().nth(5))
                .filter(|n| n.starts_with("/dev/shm/ShM."))
                .map(PathBuf::from)
                .collect();
            objects.dedup();
            Some(MonitorProcess {
                pid: i.pid,
                objects,
            })
        })
        .collect()
}

/// The slotmem object name for a monitor's DefaultRuntimeDir and generation.
pub fn slotmem_name(runtime_dir: &Path, generation: u32) -> PathBuf {
    runtime_dir.join(format!("{SLOTMEM_PREFIX}{generation:x}{SLOTMEM_SUFFIX}"))
}

/// The `/dev/shm` paths APR may derive from a slotmem name (the host's
/// `char` signedness first).
fn derived_objects(name: &Path) -> [PathBuf; 2] {
    let bytes = name.as_os_str().as_bytes();
    [HOST_SIGNED_CHAR, !HOST_SIGNED_CHAR]
        .map(|signed| PathBuf::from(format!("{DEV_SHM}{}", posix_name(bytes, signed))))
}

fn is_slotmem_name(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(SLOTMEM_PREFIX) && n.ends_with(SLOTMEM_SUFFIX))
}

/// The newest generation's slotmem object of a DefaultRuntimeDir:
/// (object, slotmem name).
fn newest_object(runtime_dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let present: HashSet<Vec<u8>> = fs::read_dir(DEV_SHM)
        .ok()?
        .flatten()
        .map(|e| e.file_name().as_bytes().to_vec())
        .filter(|n| n.starts_with(b"ShM."))
        .collect();
    if present.is_empty() {
        return None;
    }
    (0..=MAX_GENERATION).rev().find_map(|g| {
        let name = slotmem_name(runtime_dir, g);
        let bytes = name.as_os_str().as_bytes();
        [HOST_SIGNED_CHAR, !HOST_SIGNED_CHAR]
            .into_iter()
            .map(|s| posix_name(bytes, s))
            .find(|n| present.contains(n.trim_start_matches('/').as_bytes()))
            .map(|n| (PathBuf::from(format!("{DEV_SHM}{n}")), name.clone()))
    })
}

/// Finds what `spec` names, or the running monitor's storage.
pub fn find(spec: Option<&Path>, format: Option<Kind>) -> Result<Found, Error> {
    let Some(spec) = spec else {
        return discover(format);
    };
    let raw = spec.as_os_str().as_bytes();
    let shown = spec.display().to_string();
    // A bare ShM name is below /dev/shm.
    if raw.starts_with(b"ShM.") || raw.starts_with(b"/ShM.") {
        let name = raw.strip_prefix(b"/").unwrap_or(raw);
        let path = Path::new(DEV_SHM).join(std::ffi::OsStr::from_bytes(name));
        return object(path, shown);
    }
    match fs::metadata(spec) {
        Ok(meta) if meta.is_dir() => runtime_dir(spec),
        Ok(_) if spec.starts_with(DEV_SHM) => object(spec.to_path_buf(), shown),
        Ok(_) => Ok(Found {
            target: Target::File(spec.to_path_buf()),
            shown,
            monitor: file_monitor(spec),
        }),
        Err(_) if is_slotmem_name(spec) => {
            let name = scoreboard_file_path(spec, None);
            let objects = derived_objects(&name);
            match objects.iter().find(|o| o.exists()) {
                Some(o) => object(o.clone(), format!("{shown} ({})", o.display())),
                None => Err(gone(format!(
                    "no slotmem object {} for {shown}",
                    objects[0].display()
                ))),
            }
        }
        Err(e) if spec.starts_with(DEV_SHM) && e.kind() == std::io::ErrorKind::NotFound => {
            Err(gone(format!("no slotmem object {shown}")))
        }
        Err(e) => Err(Error::Read(ReadError::Io {
            op: "open",
            path: spec.to_path_buf(),
            source: e,
        })),
    }
}

/// The storage a gone object leaves: "monitor not running" when no
/// monitor runs, else a plain error (the check tells the two apart).
fn gone(what: String) -> Error {
    Error::Gone { what }
}

fn object(path: PathBuf, shown: String) -> Result<Found, Error> {
    if !path.exists() {
        return Err(gone(format!("no slotmem object {}", path.display())));
    }
    let monitor = monitors()
        .into_iter()
        .find(|m| m.objects.contains(&path))
        .map_or(Monitor::Unknown, |m| Monitor::Running {
            pid: m.pid,
            started_us: mtime_us(&path),
        });
    Ok(Found {
        target: Target::Object(path),
        shown,
        monitor,
    })
}

fn runtime_dir(dir: &Path) -> Result<Found, Error> {
    let dir = scoreboard_file_path(dir, None);
    if let Some((object_path, name)) = newest_object(&dir) {
        return object(
            object_path.clone(),
            format!("{} ({})", name.display(), object_path.display()),
        );
    }
    let hb = dir.join(DEFAULT_FILE);
    if hb.is_file() {
        return Ok(Found {
            shown: hb.display().to_string(),
            target: Target::File(hb),
            monitor: Monitor::Unknown,
        });
    }
    Err(gone(format!(
        "no mod_heartmonitor slotmem object for {} in {DEV_SHM} and no {}",
        dir.display(),
        hb.display()
    )))
}

/// The file's or object's mtime in µs (a slotmem object's is its creation:
/// writes through the mapping do not change it).
fn mtime_us(path: &Path) -> Option<i64> {
    let m = fs::metadata(path).ok()?;
    Some(m.mtime() * 1_000_000 + m.mtime_nsec() / 1000)
}

/// A monitor's MPM generation and last (re)start (µs): from its scoreboard
/// when the configuration names one that can be read, else the start of
/// the process.
fn generation_and_start(
    pid: i32,
    conf: Option<&crate::httpd::RunningConfig>,
) -> (Option<u32>, Option<i64>) {
    let scoreboard = conf
        .and_then(|c| c.conf.scoreboard_file.as_ref())
        .and_then(|f| {
            crate::scoreboard::load(&crate::scoreboard::ReadOptions {
                scoreboard: Some(f.value.clone()),
                ..Default::default()
            })
            .ok()
        });
    let process = || {
        crate::httpd::process::started_at(pid)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_micros() as i64)
    };
    match scoreboard {
        Some(l) => {
            let g = l.scoreboard.global();
            (
                u32::try_from(g.running_generation).ok(),
                Some(g.restart_time),
            )
        }
        None => (None, process()),
    }
}

/// The running monitor that keeps its flat file at `path` (its
/// HeartbeatStorage), so a fresh one gets its grace; else unknown (a copy).
fn file_monitor(path: &Path) -> Monitor {
    let wanted = scoreboard_file_path(path, None);
    for m in monitors() {
        let Ok(conf) = crate::httpd::RunningConfig::inspect(m.pid) else {
            continue;
        };
        let keeps = conf
            .conf
            .heartmonitor
            .as_ref()
            .is_some_and(|hm| hm.max_servers.value == 0 && hm.storage_file.value == wanted);
        if keeps {
            let (_, started_us) = generation_and_start(m.pid, Some(&conf));
            return Monitor::Running {
                pid: m.pid,
                started_us,
            };
        }
    }
    Monitor::Unknown
}

/// Without `--storage`: the one running monitor's storage, as its
/// configuration names it (HeartbeatMaxServers, HeartbeatStorage,
/// DefaultRuntimeDir) and, for the slotmem, its scoreboard's generation;
/// when the configuration cannot be read, the slotmem object among its
/// mappings.
fn discover(format: Option<Kind>) -> Result<Found, Error> {
    if privilege::mode() == privilege::Mode::Capable {
        return Err(Error::Discovery(format!(
            "with the capability, pass --storage (the slotmem name listed in {})",
            privilege::ALLOWLIST
        )));
    }
    let mut found: Vec<(MonitorProcess, Option<crate::httpd::RunningConfig>)> = monitors()
        .into_iter()
        .map(|m| {
            let conf = crate::httpd::RunningConfig::inspect(m.pid).ok();
            (m, conf)
        })
        .collect();
    // Several monitors: --storage-format picks the one keeping that kind.
    if let (true, Some(kind)) = (found.len() > 1, format) {
        found.retain(|(_, c)| {
            c.as_ref()
                .and_then(|c| c.conf.heartmonitor.as_ref())
                .is_some_and(|hm| (hm.max_servers.value == 0) == (kind == Kind::File))
        });
    }
    let (monitor, conf) = match found.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(Error::Gone {
                what: "no running httpd with mod_heartmonitor found; pass --storage PATH".into(),
            })
        }
        many => {
            return Err(Error::Discovery(format!(
                "{} monitor httpds with mod_heartmonitor run (pids {}): pass --storage or --storage-format",
                many.len(),
                many.iter()
                    .map(|(m, _)| m.pid.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    };
    let monitor = &monitor;
    let (generation, started) = generation_and_start(monitor.pid, conf.as_ref());
    let hm = conf.as_ref().and_then(|c| c.conf.heartmonitor.clone());
    let file_mode = match (&hm, format) {
        (_, Some(kind)) => kind == Kind::File,
        (Some(hm), None) => hm.max_servers.value == 0,
        (None, None) => false,
    };
    if file_mode {
        let Some(hm) = hm else {
            return Err(Error::Discovery(format!(
                "cannot read the configuration of the monitor httpd (pid {}): pass --storage with its HeartbeatStorage path",
                monitor.pid
            )));
        };
        let path = hm.storage_file.value;
        return Ok(Found {
            shown: path.display().to_string(),
            target: Target::File(path),
            monitor: Monitor::Running {
                pid: monitor.pid,
                started_us: started,
            },
        });
    }
    // The slotmem: the configured name of the running generation, else the
    // newest generation's object of its DefaultRuntimeDir, else the object
    // with a slotmem header among its mappings.
    let by_name = hm.as_ref().and_then(|hm| match generation {
        Some(g) => {
            let name = slotmem_name(&hm.runtime_dir, g);
            derived_objects(&name)
                .into_iter()
                .find(|o| o.exists())
                .map(|o| (o, name))
        }
        None => newest_object(&hm.runtime_dir),
    });
    let object = match by_name {
        Some((o, name)) => Some((o.clone(), format!("{} ({})", name.display(), o.display()))),
        None => monitor
            .objects
            .iter()
            .find(|o| {
                read_whole(o, false, MAX_STORAGE)
                    .ok()
                    .is_some_and(|(b, _)| slotmem::looks_like(&b))
            })
            .map(|o| (o.clone(), o.display().to_string())),
    };
    match object {
        Some((o, shown)) => Ok(Found {
            monitor: Monitor::Running {
                pid: monitor.pid,
                started_us: mtime_us(&o),
            },
            target: Target::Object(o),
            shown,
        }),
        None => Err(Error::Discovery(format!(
            "the monitor httpd (pid {}) has no slotmem object{}: pass --storage",
            monitor.pid,
            hm.map_or(String::new(), |hm| format!(
                " for {}",
                hm.runtime_dir.display()
            ))
        ))),
    }
}

/// Bytes read and the mtime they go with.
pub struct Read {
    pub bytes: Vec<u8>,
    pub mtime_us: i64,
}

/// Largest storage read (a slotmem of 100000 members is 7.3 MB).
const MAX_STORAGE: u64 = 1 << 24;

/// Reads what [`find`] found. With the capability, a live object must be
/// allowlisted (its slotmem name, or that name with `*` for the
/// generation) and is opened as scoreboards are, with the capabilities
/// raised only for these attempts and every set cleared after them; a
/// plain file is read with every capability dropped first. As root, a live
/// object is opened as scoreboards are (no symlink, root's).
pub fn read(found: &Found) -> Result<Read, Error> {
    let mode = privilege::mode();
    let capable = mode == privilege::Mode::Capable;
    let (path, strict) = match &found.target {
        Target::Object(p) => {
            if capable {
                allowed_object(p)?;
            }
            (p, mode.strict())
        }
        Target::File(p) => {
            if capable {
                privilege::drop_all();
            }
            (p, false)
        }
    };
    let max = match &found.target {
        Target::File(_) => MAX_STORAGE.max(file::MAX_FILE as u64),
        Target::Object(_) => MAX_STORAGE,
    };
    let attempts = || {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match read_whole(path, strict, max) {
                Err(Unstable::Changed) if attempt < 3 => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                other => break other,
            }
        }
    };
    let result = if strict {
        privilege::while_raised(attempts)
    } else {
        attempts()
    };
    let shown = &found.shown;
    match result {
        Ok((bytes, meta)) => Ok(Read {
            bytes,
            mtime_us: meta.mtime() * 1_000_000 + meta.mtime_nsec() / 1000,
        }),
        Err(Unstable::Read(e)) => Err(Error::Read(e)),
        Err(Unstable::TooLarge(len)) => Err(Error::Format {
            shown: shown.clone(),
            what: format!("{len} bytes is too large for heartbeat storage (oversized)"),
        }),
        Err(Unstable::Changed) => Err(Error::Format {
            shown: shown.clone(),
            what: "replaced or changed while being read, three times in a row".into(),
        }),
    }
}

/// With the capability: the caller must be in an allowed group, and the
/// object must be listed itself, derive from a listed path (its `/dev/shm`
/// object) or from a listed slotmem name with `*` for the generation
/// (`.../slotmem-shm-mod_heartmonitor_*.shm`).
fn allowed_object(object: &Path) -> Result<(), Error> {
    let list = privilege::Allowlist::load().map_err(Error::Read)?;
    if !list.admits_caller() {
        privilege::drop_all();
        return Err(Error::Read(ReadError::NotAllowedGroup {
            groups: list.groups.join(", "),
        }));
    }
    let wildcard = format!("{SLOTMEM_PREFIX}*{SLOTMEM_SUFFIX}");
    let ok = list.entries.iter().any(|e| {
        if e.path == object || e.posix_objects().iter().any(|o| o == object) {
            return true;
        }
        let (Some(dir), Some(name)) = (e.path.parent(), e.path.file_name()) else {
            return false;
        };
        name.as_bytes() == wildcard.as_bytes()
            && (0..=MAX_GENERATION).any(|g| {
                derived_objects(&slotmem_name(dir, g))
                    .iter()
                    .any(|o| o == object)
            })
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Read(privilege::refused(object)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Debian defaults (docs/heartbeat-format.md, "Slotmem"; the
    /// captures' `apr_filename` was rewritten after hashing: it does not
    /// give their `path`; the live test checks a real monitor's name).
    #[test]
    fn slotmem_names_derive_like_apr() {
        let name = slotmem_name(Path::new("/srv/hb/run"), 0);
        assert_eq!(
            name,
            Path::new("/srv/hb/run/slotmem-shm-mod_heartmonitor_0.shm")
        );
        let debian =
            |g| derived_objects(&slotmem_name(Path::new("/var/run/apache2"), g))[0].clone();
        assert_eq!(debian(0), Path::new("/dev/shm/ShM.7bd37e11Hf3cc0f5"));
        assert_eq!(debian(1), Path::new("/dev/shm/ShM.7be59692H5c7cbc66"));
        assert!(is_slotmem_name(&name));
        assert!(!is_slotmem_name(Path::new("/run/hb.dat")));
    }
}

//! What `/proc` says: running httpd parents and their segments, whether the
//! processes a segment names still run, and a running binary's version.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::error::describe_io;
use super::locate::open_strict;

/// Names httpd runs under.
pub fn is_httpd_name(comm: &str) -> bool {
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
    let stat = stat(pid)?;
    Some((stat.comm, stat.ppid))
}

/// What `/proc/PID/stat` says about a process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    /// The command name (at most 15 bytes; any bytes but NUL).
    pub comm: String,
    /// `R`, `S`, `D`, `T`, `t`, `Z`, `X`, `I`, ...
    pub state: u8,
    pub ppid: i32,
    /// CPU time used so far (user + system), in clock ticks.
    pub cpu_ticks: u64,
}

/// Parses a `/proc/PID/stat` line: the command name sits between the
/// first `(` and the last `)` (it may hold spaces and parentheses), the
/// numbered fields of proc(5) follow.
pub fn parse_stat(stat: &[u8]) -> Option<Stat> {
    let open = stat.iter().position(|&b| b == b'(')?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    let comm = String::from_utf8_lossy(stat.get(open + 1..close)?).into_owned();
    // Fields 3 (state), 4 (ppid), 14 (utime) and 15 (stime).
    let mut fields = stat.get(close + 2..)?.split(|&b| b == b' ');
    let state = *fields.next()?.first()?;
    let mut number = |skip: usize| -> Option<i64> {
        std::str::from_utf8(fields.nth(skip)?)
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    let ppid = i32::try_from(number(0)?).ok()?;
    let utime = number(9).and_then(|t| u64::try_from(t).ok());
    let stime = number(0).and_then(|t| u64::try_from(t).ok());
    Some(Stat {
        comm,
        state,
        ppid,
        cpu_ticks: utime.unwrap_or(0).saturating_add(stime.unwrap_or(0)),
    })
}

/// A /proc file in as few reads as it takes: `fs::read` sees a size of 0
/// and probes with 32-byte reads, six of them for one `stat` line, and
/// `File::read_to_end` asks `statx` and `lseek` first; reads into spare
/// capacity of the `expected` size (grown if it fills) need only `open` and
/// `read`, and touch no more memory than the file fills (zeroing a 32 KB
/// buffer for 8 KB of maps faulted in 8 pages).
pub fn read_proc(path: &str, expected: usize) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::with_capacity(expected.max(64));
    // Through `take`, which hides the file's (zero) size from read_to_end.
    fs::File::open(path)
        .ok()?
        .take(u64::MAX)
        .read_to_end(&mut bytes)
        .ok()?;
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
    /// Its maps show an anonymous shared scoreboard and no named one.
    #[serde(skip)]
    pub anonymous: bool,
}

impl Instance {
    /// The configuration line that gives this httpd a scoreboard other
    /// processes can read (`path`, else the README's default for its binary).
    pub fn scoreboard_line(&self, path: Option<&Path>) -> String {
        let path = match path {
            Some(p) => p.display().to_string(),
            None if self
                .binary
                .as_ref()
                .and_then(|b| b.file_name())
                .is_some_and(|n| n.as_encoded_bytes().starts_with(b"apache2")) =>
            {
                "/run/apache2/apache_scoreboard".into()
            }
            None => "/run/httpd/apache_scoreboard".into(),
        };
        format!("ScoreBoardFile {path}")
    }
}

/// Whether this process sees every process in `/proc` (not so with
/// `hidepid=invisible` for another user's): only then does an empty list of
/// instances mean that httpd does not run.
pub fn sees_all_processes() -> bool {
    fs::metadata("/proc/1/stat").is_ok()
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
    // cmdline and maps wait while the process holds its memory map locked.
    crate::watchdog::guard(|| describe(pid))
}

fn describe(pid: i32) -> Instance {
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
        anonymous: false,
    };
    match fs::read_to_string(format!("/proc/{pid}/maps")) {
        Ok(maps) => {
            inst.mpm = mpm_from_maps(&maps);
            let mut anonymous = false;
            for line in maps.lines() {
                let name = line.split_whitespace().nth(5).unwrap_or("");
                if is_shm_object(name) {
                    inst.segment = Some(name.to_string());
                } else if name.starts_with("/SYSV") {
                    // A SysV attachment: the "inode" column is the shmid.
                    let shmid = line.split_whitespace().nth(4).unwrap_or("0");
                    inst.segment = Some(format!("shmid:{shmid}"));
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
                inst.anonymous = true;
                inst.note = Some(format!(
                    "anonymous scoreboard: add `{}` to the httpd configuration to read it",
                    inst.scoreboard_line(None)
                ));
            }
        }
        Err(e) => inst.note = Some(format!("cannot read /proc/{pid}/maps: {}", describe_io(&e))),
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
    mpm_in_maps(maps.as_bytes()).map(String::from)
}

/// [`mpm_from_maps`] on the raw bytes: the NAME of the first mapping whose
/// path ends in `/mod_mpm_NAME.so`. A plain scan of each line's end: a few
/// KB, and no vectorised searcher, whose first use asks the CPU for its
/// features (a `cpuid` is a VM exit: it cost more than the scan).
pub fn mpm_in_maps(maps: &[u8]) -> Option<&'static str> {
    maps.split(|&b| b == b'\n').find_map(|line| {
        let name = line.rsplit(|&b| b == b'/').next()?;
        match name {
            b"mod_mpm_event.so" => Some("event"),
            b"mod_mpm_worker.so" => Some("worker"),
            b"mod_mpm_prefork.so" => Some("prefork"),
            _ => None,
        }
    })
}

/// [`mpm_in_maps`] of the mappings file at `path` (`/proc/PID/maps`), read
/// only up to the MPM's line: the kernel formats only the lines read, and
/// an MPM loaded as a module comes early (after the binary, its heap and
/// the modules loaded after it: mappings are listed by address and each
/// `dlopen` maps below the previous one). At most 16 MiB. The caller
/// guards the read ([`crate::watchdog::guard`]): it waits while the
/// process holds its memory map locked.
pub fn mapped_mpm(path: &Path) -> Option<&'static str> {
    use std::io::Read;
    const READ: usize = 4096;
    let mut file = fs::File::open(path).ok()?;
    // A line is at most a path (PATH_MAX, 4096) and ~90 bytes more; one
    // longer than the buffer is dropped as it comes: what follows its last
    // `/`, if that arrives whole, is still its file name.
    let mut buf = [0u8; 2 * READ];
    let (mut filled, mut total) = (0, 0);
    loop {
        let space = buf.len() - filled;
        let n = file.read(&mut buf[filled..filled + space.min(READ)]).ok()?;
        if n == 0 {
            return mpm_in_maps(&buf[..filled]);
        }
        (filled, total) = (filled + n, total + n);
        if total > 16 << 20 {
            return None;
        }
        match buf[..filled].iter().rposition(|&b| b == b'\n') {
            Some(end) => {
                if let Some(mpm) = mpm_in_maps(&buf[..end]) {
                    return Some(mpm);
                }
                buf.copy_within(end + 1..filled, 0);
                filled -= end + 1;
            }
            None if filled == buf.len() => filled = 0,
            None => {}
        }
    }
}

/// What the running server that owns a segment says about itself.
#[derive(Clone, Debug, Default)]
pub struct LiveInfo {
    /// Pids named in the segment that are live httpd children.
    pub live_children: Vec<i32>,
    pub parent: Option<i32>,
    /// The MPM module the server has mapped, once [`LiveInfo::read_mpm`]
    /// looked (only what shows or counts by the MPM asks).
    pub mpm: Option<String>,
    /// `/proc/PID/stat` of every pid named in the segment and of their
    /// parents, as read here: the health look's first sample takes them
    /// instead of reading them again.
    pub stats: Vec<(i32, Stat)>,
}

impl LiveInfo {
    pub fn is_running(&self) -> bool {
        !self.live_children.is_empty()
    }

    /// The stat read of `pid`, if it was read.
    pub fn stat(&self, pid: i32) -> Option<&Stat> {
        self.stats.iter().find(|(p, _)| *p == pid).map(|(_, s)| s)
    }

    /// Reads the server's MPM from its mappings (the parent's: the same
    /// modules without the worker threads' stacks, which make an event
    /// child's list twice as long; a child's where only it is readable,
    /// same user). A maps read waits while the process holds its memory
    /// map locked: guarded by the watchdog thread, which is why only
    /// what needs the MPM pays for it.
    pub fn read_mpm(&mut self) {
        if self.mpm.is_none() {
            self.mpm = self.mapped_mpm().map(String::from);
        }
    }

    /// [`LiveInfo::read_mpm`]'s read, without keeping what it found.
    pub fn mapped_mpm(&self) -> Option<&'static str> {
        let readers = self
            .parent
            .into_iter()
            .chain(self.live_children.first().copied());
        crate::watchdog::guard(|| {
            readers
                .map(|pid| PathBuf::from(format!("/proc/{pid}/maps")))
                .find_map(|maps| mapped_mpm(&maps))
        })
    }
}

/// Checks which of `pids` (a segment's process slots) are live httpd
/// children: the process exists and its parent runs the same program.
/// Each `/proc/PID/stat` is read once and kept ([`LiveInfo::stats`]).
pub fn live_info(pids: impl IntoIterator<Item = i32>) -> LiveInfo {
    let mut info = LiveInfo::default();
    for pid in pids.into_iter().filter(|&p| p > 0) {
        if info.stat(pid).is_some() {
            continue;
        }
        let Some(stat) = stat(pid) else {
            continue;
        };
        let ppid = stat.ppid;
        info.stats.push((pid, stat));
        if ppid <= 1 {
            continue;
        }
        // Every child has the same parent: it is read once.
        if info.stat(ppid).is_none() {
            match self::stat(ppid) {
                Some(s) => info.stats.push((ppid, s)),
                None => continue,
            }
        }
        let same_program = match (info.stat(pid), info.stat(ppid)) {
            (Some(child), Some(parent)) => child.comm == parent.comm,
            _ => false,
        };
        if same_program {
            info.live_children.push(pid);
            info.parent.get_or_insert(ppid);
        }
    }
    info
}

/// `/proc/PID/stat`, parsed ([`parse_stat`]). The kernel prints the line
/// whole into a read that has room for it, so one `read` into 1 KB on
/// the stack is the whole file (the line is a few hundred bytes; one that
/// fills the buffer is refused rather than parsed short).
pub fn stat(pid: i32) -> Option<Stat> {
    use std::io::Read;
    let mut line = [0u8; 1024];
    let n = fs::File::open(format!("/proc/{pid}/stat"))
        .ok()?
        .read(&mut line)
        .ok()?;
    parse_stat(line.get(..n).filter(|_| n < line.len())?)
}

/// The executable a process runs, when it is readable.
pub fn read_exe(pid: i32) -> Option<Vec<u8>> {
    fs::read(format!("/proc/{pid}/exe")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mpm_from_the_module_file_name() {
        let maps = "7f33-7f34 r--p 00000000 fe:00 1 /usr/lib/apache2/modules/mod_status.so\n\
                    7f35-7f36 r-xp 00004000 fe:00 2 /usr/lib/apache2/modules/mod_mpm_event.so\n\
                    7f37-7f38 rw-p 00000000 00:00 0 \n";
        assert_eq!(mpm_from_maps(maps).as_deref(), Some("event"));
        assert_eq!(mpm_from_maps("x /srv/mod_mpm_event.so.bak\n"), None);
        assert_eq!(mpm_from_maps(""), None);
    }

    #[test]
    fn garbage_maps_name_no_mpm() {
        assert_eq!(mpm_in_maps(b"garbage\xff\n"), None);
    }

    #[test]
    fn maps_read_up_to_the_mpm() {
        let line = |path: &str| format!("7f00-7f01 r-xp 00000000 08:01 12 {path}\n");
        let mut maps = String::new();
        for i in 0..200 {
            maps.push_str(&line(&format!("/usr/lib/x86_64-linux-gnu/libfoo{i}.so")));
        }
        maps.push_str(&line(&format!("/{}/mod_mpm_x.so", "d".repeat(9000))));
        maps.push_str(&line(&format!("/{}/mod_mpm_worker.so", "d".repeat(9000))));
        let path = std::env::temp_dir().join(format!("sb-maps-{}", std::process::id()));
        std::fs::write(&path, &maps).expect("write");
        assert_eq!(mapped_mpm(&path), Some("worker"));
        std::fs::write(&path, maps.trim_end()).expect("write");
        assert_eq!(mapped_mpm(&path), Some("worker"));
        maps.push_str(&line("/usr/lib/apache2/modules/mod_mpm_event.so"));
        std::fs::write(&path, &maps[..maps.len() - 20]).expect("write");
        assert_eq!(mapped_mpm(&path), Some("worker"));
        let early = line("/usr/lib/apache2/modules/mod_mpm_prefork.so") + &maps;
        std::fs::write(&path, early).expect("write");
        assert_eq!(mapped_mpm(&path), Some("prefork"));
        std::fs::write(&path, &maps[..5000]).expect("write");
        assert_eq!(mapped_mpm(&path), None);
        let _ = std::fs::remove_file(&path);
        assert_eq!(mapped_mpm(Path::new("/proc/self/maps")), None);
    }

    #[test]
    fn stat_lines_with_odd_command_names() {
        let line = b"42 (a) b (c) D 7 42 42 0 -1 4194560 1 0 0 0 150 25 0 0 20 0 1 0 9 0 0\n";
        let s = parse_stat(line).expect("parses");
        assert_eq!(s.comm, "a) b (c");
        assert_eq!((s.state, s.ppid, s.cpu_ticks), (b'D', 7, 175));
        assert_eq!(parse_stat(b"42 (x S 1"), None);
    }

    #[test]
    fn proc_stat_parses_self() {
        let (comm, ppid) = proc_stat(std::process::id() as i32).expect("own stat");
        assert!(!comm.is_empty());
        assert!(ppid >= 0);
    }
}

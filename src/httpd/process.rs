//! How an httpd process was started: its binary (version, compiled-in
//! modules and paths), its command line (`/proc/PID/cmdline`, parsed as
//! httpd's `apr_getopt` does) and its environment (`/proc/PID/environ`,
//! where Debian's `apache2ctl` puts the `APACHE_*` variables of
//! `/etc/apache2/envvars`).

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::scoreboard::{le, HttpdVersion, Mpm};

/// Largest binary read for its version and compiled-in modules (Debian's
/// apache2 is 0.7 MiB; a statically linked one a few MiB).
const MAX_BINARY: u64 = 64 << 20;
const MAX_PROC: u64 = 1 << 20;

/// What httpd knew before reading its first configuration line.
#[derive(Clone, Debug, Default)]
pub struct Started {
    pub pid: i32,
    pub binary: Option<PathBuf>,
    pub version: Option<HttpdVersion>,
    /// `-d`, else the binary's HTTPD_ROOT.
    pub server_root: PathBuf,
    /// `-f`, else the binary's SERVER_CONFIG_FILE (relative to ServerRoot).
    pub config_file: PathBuf,
    /// `-D` names (and `DEBUG` for `-X`).
    pub defines: Vec<String>,
    /// `-C` directives (read before the configuration file).
    pub pre_directives: Vec<Vec<u8>>,
    /// `-c` directives (read after it).
    pub post_directives: Vec<Vec<u8>>,
    /// The environment `${VAR}` falls back to.
    pub environment: Vec<(Vec<u8>, Vec<u8>)>,
    /// Modules compiled into the binary: source names (`mod_so.c`) and
    /// symbols (`so_module`).
    pub static_modules: Vec<String>,
    /// An MPM compiled into the binary.
    pub static_mpm: Option<Mpm>,
    /// The MPM module mapped into the process.
    pub maps_mpm: Option<Mpm>,
    /// What could not be read about the process.
    pub notes: Vec<String>,
}

impl Started {
    /// Reads `/proc/PID/{cmdline,environ,exe,maps,stat}` and the binary;
    /// cmdline, environ and maps wait while the process holds its memory
    /// map locked, so beside the watchdog's thread. The binary is read
    /// after: a mapped one must not be read where signals are blocked
    /// (a SIGBUS there would end the process without its line).
    pub fn read(pid: i32) -> Result<Started, String> {
        let from_proc = crate::watchdog::guard(|| FromProc::read(pid))?;
        let mut notes = Vec::new();
        let image = from_proc.binary.as_deref().and_then(BinaryInfo::read);
        if image.is_none() {
            notes.push("httpd's binary is not readable: compiled-in defaults assumed".into());
        }
        let env_known = from_proc.environment.is_some();
        let mut started = Started::from_args(
            pid,
            from_proc.binary,
            image,
            &from_proc.argv,
            from_proc.environment.unwrap_or_default(),
        );
        started.maps_mpm = from_proc.maps_mpm;
        started.notes.append(&mut notes);
        if !env_known {
            started.debian_envvars();
        }
        Ok(started)
    }

    /// httpd's own argument parsing (`AP_SERVER_BASEARGS` plus the Unix
    /// MPMs' `-k` and `-R`), with the binary's compiled-in defaults.
    pub fn from_args(
        pid: i32,
        binary: Option<PathBuf>,
        image: Option<BinaryInfo>,
        argv: &[Vec<u8>],
        environment: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Started {
        let image = image.unwrap_or_else(|| BinaryInfo::assumed(binary.as_deref()));
        let mut s = Started {
            pid,
            version: image.version,
            server_root: image.httpd_root.clone(),
            config_file: image.config_file.clone(),
            static_modules: image.static_modules.clone(),
            static_mpm: image.static_mpm,
            binary,
            environment,
            ..Started::default()
        };
        const WITH_ARG: &[u8] = b"CcDdEefkR";
        let mut i = 1;
        while i < argv.len() {
            let arg = &argv[i];
            i += 1;
            if arg == b"--" || arg.first() != Some(&b'-') || arg.len() < 2 {
                break;
            }
            let mut j = 1;
            while j < arg.len() {
                let opt = arg[j];
                j += 1;
                if !WITH_ARG.contains(&opt) {
                    if opt == b'X' {
                        s.defines.push("DEBUG".into());
                    }
                    continue;
                }
                let value = if j < arg.len() {
                    arg[j..].to_vec()
                } else if i < argv.len() {
                    i += 1;
                    argv[i - 1].clone()
                } else {
                    Vec::new()
                };
                match opt {
                    b'C' => s.pre_directives.push(value),
                    b'c' => s.post_directives.push(value),
                    b'D' => s.defines.push(String::from_utf8_lossy(&value).into_owned()),
                    b'd' => s.server_root = PathBuf::from(OsStr::from_bytes(&value)),
                    b'f' => s.config_file = PathBuf::from(OsStr::from_bytes(&value)),
                    _ => {}
                }
                break;
            }
        }
        s
    }

    /// `${NAME}` from the environment.
    pub fn env(&self, name: &[u8]) -> Option<&[u8]> {
        self.environment
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }

    /// Without `/proc/PID/environ` (another user's process): Debian's
    /// apache2ctl exports `<ServerRoot>/envvars`, so take its `export
    /// NAME=value` lines, as apache2ctl would.
    fn debian_envvars(&mut self) {
        let path = self.server_root.join("envvars");
        let Ok(text) = read_bounded(&path, MAX_PROC) else {
            return;
        };
        let root = self.server_root.as_os_str().as_bytes();
        let suffix = root
            .strip_prefix(b"/etc/apache2-")
            .map(|s| [b"-", s].concat())
            .unwrap_or_default();
        for line in text.split(|&b| b == b'\n') {
            let line = line.trim_ascii();
            let Some(assign) = line.strip_prefix(b"export ") else {
                continue;
            };
            let Some(eq) = assign.iter().position(|&b| b == b'=') else {
                continue;
            };
            let value = assign[eq + 1..]
                .split(|&b| b == b'$')
                .enumerate()
                .map(|(k, part)| match k {
                    0 => part.to_vec(),
                    _ => match part.strip_prefix(b"SUFFIX") {
                        Some(rest) => [&suffix[..], rest].concat(),
                        None => [b"$", part].concat(),
                    },
                })
                .collect::<Vec<_>>()
                .concat();
            let value = value
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .map(<[u8]>::to_vec)
                .unwrap_or(value);
            self.environment.push((assign[..eq].to_vec(), value));
        }
        self.notes.push(format!(
            "environment taken from {} (cannot read /proc/{}/environ)",
            path.display(),
            self.pid
        ));
    }
}

/// What `/proc/PID` says about how the process was started.
struct FromProc {
    argv: Vec<Vec<u8>>,
    binary: Option<PathBuf>,
    environment: Option<Vec<(Vec<u8>, Vec<u8>)>>,
    maps_mpm: Option<Mpm>,
}

impl FromProc {
    fn read(pid: i32) -> Result<FromProc, String> {
        let proc_dir = PathBuf::from(format!("/proc/{pid}"));
        let cmdline = read_bounded(&proc_dir.join("cmdline"), MAX_PROC)
            .map_err(|e| format!("httpd pid {pid}: cannot read its command line: {e}"))?;
        let argv: Vec<Vec<u8>> = cmdline
            .split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        let binary = std::fs::read_link(proc_dir.join("exe")).ok().or_else(|| {
            argv.first()
                .map(|a| PathBuf::from(OsStr::from_bytes(a)))
                .filter(|p| p.is_absolute())
        });
        let environment = read_bounded(&proc_dir.join("environ"), MAX_PROC)
            .ok()
            .map(|env| parse_environ(&env));
        let maps_mpm =
            crate::shm::proc::mapped_mpm(&proc_dir.join("maps")).and_then(Mpm::from_module);
        Ok(FromProc {
            argv,
            binary,
            environment,
            maps_mpm,
        })
    }
}

/// The whole httpd binary, bounded; mapped, not copied, where only root can
/// change it (see [`segment::read_root_file`]).
///
/// [`segment::read_root_file`]: crate::shm::segment::read_root_file
fn read_binary(
    path: &Path,
    file: &File,
    meta: &std::fs::Metadata,
) -> io::Result<crate::shm::segment::Bytes> {
    if meta.len() > MAX_BINARY {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {MAX_BINARY} bytes"),
        ));
    }
    crate::shm::segment::read_root_file(
        file,
        meta,
        &format!(
            "{}: httpd's binary shrank while being read (SIGBUS)",
            path.display()
        ),
    )
}

/// Where an ELF file's `.rodata` section is (offset, size), the section
/// C compilers put string literals in: httpd's version, the `-D
/// HTTPD_ROOT="…"` lines and the compiled-in modules' names (67 KB of
/// Debian's 733 KB apache2). Its headers are read with `pread` and every
/// offset is checked against the file: `None` for a file that is not ELF
/// (32 or 64 bits, either byte order) or names no such section.
fn rodata_range(file: &File, len: u64) -> Option<(u64, u64)> {
    use std::os::unix::fs::FileExt;
    let read_at = |offset: u64, n: u64| -> Option<Vec<u8>> {
        if offset.checked_add(n)? > len || n > MAX_BINARY {
            return None;
        }
        let mut bytes = vec![0; usize::try_from(n).ok()?];
        file.read_exact_at(&mut bytes, offset).ok()?;
        Some(bytes)
    };
    let header = read_at(0, 64)?;
    if header[..4] != *b"\x7fELF" {
        return None;
    }
    let wide = match header[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let big_endian = match header[5] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let number = |b: &[u8]| -> u64 {
        let fold = |n: u64, &byte: &u8| n << 8 | u64::from(byte);
        if big_endian {
            b.iter().fold(0, fold)
        } else {
            b.iter().rev().fold(0, fold)
        }
    };
    // e_shoff, e_shentsize, e_shnum, e_shstrndx; a section header's
    // sh_name, sh_type, sh_offset, sh_size.
    let (shoff, entry, sections, names_index) = if wide {
        (&header[0x28..0x30], 0x3a, 0x3c, 0x3e)
    } else {
        (&header[0x20..0x24], 0x2e, 0x30, 0x32)
    };
    let field = |at: usize| number(&header[at..at + 2]);
    let (entry, sections, names_index) = (field(entry), field(sections), field(names_index));
    let least = if wide { 40 } else { 24 };
    // 0 sections (or an index of 0xffff) means the real figures are
    // elsewhere: such a file is read whole instead.
    if entry < least || sections == 0 || names_index >= sections {
        return None;
    }
    let table = read_at(number(shoff), entry.checked_mul(sections)?)?;
    let section = |i: u64| -> Option<(u64, u64, u64, u64)> {
        let s = table.get(usize::try_from(i * entry).ok()?..)?;
        Some(if wide {
            (
                number(&s[0..4]),
                number(&s[4..8]),
                number(&s[24..32]),
                number(&s[32..40]),
            )
        } else {
            (
                number(&s[0..4]),
                number(&s[4..8]),
                number(&s[16..20]),
                number(&s[20..24]),
            )
        })
    };
    let (_, _, names_at, names_len) = section(names_index)?;
    let names = read_at(names_at, names_len.min(1 << 16))?;
    const PROGBITS: u64 = 1;
    let (_, _, offset, size) = (0..sections)
        .filter_map(section)
        .find(|&(name, kind, ..)| {
            kind == PROGBITS
                && usize::try_from(name)
                    .ok()
                    .and_then(|at| names.get(at..))
                    .is_some_and(|n| n.starts_with(b".rodata\0"))
        })?;
    (offset.checked_add(size)? <= len && size <= MAX_BINARY).then_some((offset, size))
}

/// Longest string [`BinaryInfo::take`] looks at.
const MAX_STRING: usize = 256;

/// Gives `each` the NUL-separated strings of the `size` bytes at `offset`
/// in `file` that are at most [`MAX_STRING`] long (longer ones say nothing
/// looked for) and hold a marker ([`marked_strings`]: the others say
/// nothing either), in order, read `chunk` bytes at a time into one
/// buffer: a buffer for the whole section would fault in a fresh page per
/// 4 KB.
fn each_string_at(
    file: &File,
    (offset, size): (u64, u64),
    chunk: usize,
    mut each: impl FnMut(&[u8]),
) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    // A carried start and the rest of its string can be overlong together.
    let mut each = |s: &[u8]| {
        if s.len() <= MAX_STRING {
            each(s)
        }
    };
    let mut buf = vec![0; chunk + MAX_STRING];
    // The start of a string cut at the chunk's end, moved to the front; an
    // overlong one is dropped, up to its NUL.
    let (mut carry, mut overlong, mut at) = (0, false, 0);
    while at < size {
        let n = chunk.min(usize::try_from(size - at).unwrap_or(chunk));
        file.read_exact_at(&mut buf[carry..carry + n], offset + at)?;
        at += n as u64;
        let filled = carry + n;
        let rest = match buf[..filled].iter().rposition(|&b| b == 0) {
            Some(last) => {
                let mut whole = &buf[..last];
                if overlong {
                    // The rest of the overlong string, up to its NUL.
                    whole = whole
                        .iter()
                        .position(|&b| b == 0)
                        .map_or(&[], |nul| &whole[nul + 1..]);
                }
                marked_strings(whole).for_each(&mut each);
                last + 1
            }
            None => 0,
        };
        let tail = filled - rest;
        overlong = (overlong && rest == 0) || tail > MAX_STRING;
        carry = if overlong { 0 } else { tail };
        buf.copy_within(rest..rest + carry, 0);
    }
    if !overlong {
        marked_strings(&buf[..carry]).for_each(each);
    }
    Ok(())
}

/// What the binary itself says: version, compiled-in modules and paths.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BinaryInfo {
    pub version: Option<HttpdVersion>,
    pub httpd_root: PathBuf,
    pub config_file: PathBuf,
    pub static_modules: Vec<String>,
    pub static_mpm: Option<Mpm>,
}

/// What every string [`BinaryInfo::take`] uses holds (`-D ` for both
/// `-D HTTPD_ROOT="…"` and `-D SERVER_CONFIG_FILE="…"`: one search instead
/// of two, for some twenty more `httpd -V` lines to look at).
const MARKERS: [&[u8]; 4] = [b"-D ", b"_module", b".c", b"Apache/2."];

/// The NUL-terminated strings of `bytes` that hold a marker every match of
/// [`BinaryInfo::take`] needs, in file order: of Debian's apache2's 7,000
/// NUL-separated strings in `.rodata` (tables too), the 200 that can say
/// something. The markers are found with vectorised searches (splitting
/// the 700 KB of the whole binary at every NUL cost 8 M instructions, ten
/// times the rest of a check; `.rodata` alone 440,000, a third of a check
/// that reads the configuration).
fn marked_strings(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = Vec::new();
    for marker in MARKERS {
        // A hit's string starts after the last NUL before it, looked for
        // back to the marker's previous hit only (whose string it is in
        // when there is none), and is kept once: linear in time, and in
        // memory bounded by the strings, however many hits a string holds.
        let mut previous: Option<(usize, usize)> = None;
        for hit in le::find_all(bytes, marker) {
            let from = previous.map_or(0, |(at, _)| at);
            let start = match bytes[from..hit].iter().rposition(|&b| b == 0) {
                Some(nul) => from + nul + 1,
                None => previous.map_or(0, |(_, start)| start),
            };
            if previous.is_none_or(|(_, last)| last != start) {
                starts.push(start);
            }
            previous = Some((hit, start));
        }
    }
    starts.sort_unstable();
    starts.dedup();
    starts.into_iter().map(move |start| {
        let rest = &bytes[start..];
        &rest[..rest.iter().position(|&b| b == 0).unwrap_or(rest.len())]
    })
}

impl BinaryInfo {
    /// What the httpd binary at `path` says: its `.rodata` section's
    /// strings where they hold the version, both paths and a compiled-in
    /// module, else the whole file's ([`BinaryInfo::scan`]). `None` when
    /// it is not a readable regular file.
    pub fn read(path: &Path) -> Option<BinaryInfo> {
        let (file, meta) = open_regular(path).ok()?;
        if let Some(rodata) = rodata_range(&file, meta.len()) {
            let mut info = BinaryInfo::default();
            let read = each_string_at(&file, rodata, 16 << 10, |s| info.take(s));
            let complete = read.is_ok()
                && info.version.is_some()
                && !info.httpd_root.as_os_str().is_empty()
                && !info.config_file.as_os_str().is_empty()
                && !info.static_modules.is_empty();
            if complete {
                return Some(info.with_core());
            }
        }
        let bytes = read_binary(path, &file, &meta).ok()?;
        Some(BinaryInfo::scan(&bytes))
    }

    /// Scans the binary's NUL-terminated strings: `Apache/2.x.y`, the
    /// `-D HTTPD_ROOT="…"` and `-D SERVER_CONFIG_FILE="…"` lines `httpd -V`
    /// prints, module source names (`mod_so.c`, `core.c`, `http_core.c`,
    /// an MPM's `event.c`) and module symbols (`so_module`).
    pub fn scan(bytes: &[u8]) -> BinaryInfo {
        BinaryInfo::from_strings(bytes, marked_strings(bytes))
    }

    /// [`scan`](Self::scan) over the given strings of `bytes`, in file
    /// order (every string, or only those a marker picked).
    fn from_strings<'a>(bytes: &[u8], strings: impl Iterator<Item = &'a [u8]>) -> BinaryInfo {
        let mut info = BinaryInfo::collect(strings).with_core();
        if info.version.is_none() {
            info.version = HttpdVersion::find_in(bytes);
        }
        let assumed = BinaryInfo::assumed(None);
        if info.httpd_root.as_os_str().is_empty() {
            info.httpd_root = assumed.httpd_root;
        }
        if info.config_file.as_os_str().is_empty() {
            info.config_file = assumed.config_file;
        }
        info
    }

    /// The core module's source name where its symbol `core_module` was
    /// found (`httpd -l` lists `core.c` first): it is rarely a string of
    /// its own, as the linker keeps `core.c` as the tail of `http_core.c`
    /// (Debian's apache2), so `<IfModule core.c>` held only with this.
    fn with_core(mut self) -> BinaryInfo {
        let has = |name: &str| self.static_modules.iter().any(|m| m == name);
        if has("core_module") && !has("core.c") {
            self.static_modules.insert(0, "core.c".into());
        }
        self
    }

    /// What `strings` say, in order; what they do not say stays empty.
    fn collect<'a>(strings: impl Iterator<Item = &'a [u8]>) -> BinaryInfo {
        let mut info = BinaryInfo::default();
        for s in strings {
            info.take(s);
        }
        info
    }

    /// What one string of the binary says, if anything.
    fn take(&mut self, s: &[u8]) {
        let quoted = |s: &[u8], key: &[u8]| -> Option<PathBuf> {
            let rest = s.trim_ascii_start().strip_prefix(key)?;
            let end = rest.iter().position(|&b| b == b'"')?;
            Some(PathBuf::from(OsStr::from_bytes(&rest[..end])))
        };
        let n = s.len();
        if !(3..=MAX_STRING).contains(&n) {
            return;
        }
        match s[n - 1] {
            b'"' | b'\n' => {
                if let Some(p) = quoted(s, b"-D HTTPD_ROOT=\"") {
                    self.httpd_root = p;
                } else if let Some(p) = quoted(s, b"-D SERVER_CONFIG_FILE=\"") {
                    self.config_file = p;
                }
            }
            b'c' | b'e' => {
                let module_source = s.ends_with(b".c")
                    && (s.starts_with(b"mod_") || s == b"core.c" || s == b"http_core.c");
                let symbol = s.ends_with(b"_module") && !s.starts_with(b"ap_");
                let plain = s
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.".contains(b));
                if !((module_source || symbol) && plain) {
                    return;
                }
                let name = String::from_utf8_lossy(s).into_owned();
                if !self.static_modules.contains(&name) {
                    self.static_modules.push(name);
                }
                self.static_mpm = self.static_mpm.or(match s {
                    b"mpm_prefork_module" => Some(Mpm::Prefork),
                    b"mpm_worker_module" => Some(Mpm::Worker),
                    b"mpm_event_module" => Some(Mpm::Event),
                    _ => None,
                });
            }
            _ if self.version.is_none() && s.starts_with(b"Apache/2.") => {
                self.version = HttpdVersion::at_start(s);
            }
            _ => {}
        }
    }

    /// An unreadable binary: Debian's paths for `apache2`, the upstream
    /// and Red Hat ones otherwise; the modules every build compiles in.
    pub fn assumed(binary: Option<&Path>) -> BinaryInfo {
        let debian = binary
            .and_then(Path::file_name)
            .is_none_or(|n| n.as_bytes().starts_with(b"apache2"));
        let (root, conf) = if debian {
            ("/etc/apache2", "apache2.conf")
        } else {
            ("/etc/httpd", "conf/httpd.conf")
        };
        BinaryInfo {
            version: None,
            httpd_root: root.into(),
            config_file: conf.into(),
            static_modules: [
                "core.c",
                "mod_so.c",
                "http_core.c",
                "core_module",
                "so_module",
                "http_module",
            ]
            .map(String::from)
            .to_vec(),
            static_mpm: None,
        }
    }
}

/// `NAME=value` pairs of a NUL-separated environment block.
pub fn parse_environ(block: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    block
        .split(|&b| b == 0)
        .filter_map(|kv| {
            let eq = kv.iter().position(|&b| b == b'=')?;
            Some((kv[..eq].to_vec(), kv[eq + 1..].to_vec()))
        })
        .collect()
}

/// When process `pid` started (`/proc/PID/stat` field 22 after boot,
/// `/proc/stat`'s boot time).
pub fn started_at(pid: i32) -> Option<SystemTime> {
    let stat = read_bounded(Path::new(&format!("/proc/{pid}/stat")), 4096).ok()?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    let fields = std::str::from_utf8(stat.get(close + 2..)?).ok()?;
    let ticks: u64 = fields.split(' ').nth(19)?.parse().ok()?;
    let boot = read_bounded(Path::new("/proc/stat"), MAX_PROC).ok()?;
    let btime: u64 = boot
        .split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(b"btime "))
        .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse().ok())?;
    // USER_HZ is 100 on every Linux architecture.
    Some(UNIX_EPOCH + Duration::from_secs(btime) + Duration::from_millis(ticks * 10))
}

/// Opens without following a FIFO's open or acquiring a terminal, checks
/// the opened file is regular (or a /proc file) and reads at most `limit`
/// bytes; more is an error rather than a silent cut.
pub fn read_bounded(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    read_bounded_file(path, limit).map(|(bytes, _)| bytes)
}

/// [`read_bounded`], with what `fstat` said of the file read.
pub fn read_bounded_file(path: &Path, limit: u64) -> io::Result<(Vec<u8>, std::fs::Metadata)> {
    let (file, meta) = open_regular(path)?;
    let len = meta.len();
    // A /proc file says 0: one page, read at once, rather than growing
    // from a few bytes.
    let mut bytes = Vec::with_capacity(if len == 0 {
        4096
    } else {
        len.min(limit) as usize
    });
    // A regular file: the size fstat gave, without a read(2) more to see
    // its end (a file being rewritten meanwhile is read as it comes).
    let upto = if len == 0 {
        limit + 1
    } else {
        len.min(limit + 1)
    };
    file.take(upto).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {limit} bytes"),
        ));
    }
    Ok((bytes, meta))
}

/// Opens without following a FIFO's open or acquiring a terminal and
/// checks the opened file is regular (or a /proc file).
fn open_regular(path: &Path) -> io::Result<(File, std::fs::Metadata)> {
    let file: File = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            if meta.is_dir() {
                "is a directory"
            } else {
                "not a regular file"
            },
        ));
    }
    Ok((file, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The marker search finds what visiting every string finds: on the
    /// installed httpd binary when there is one, and on strings that only
    /// nearly match.
    #[test]
    fn marked_strings_are_every_string_that_matters() {
        let every = |b: &[u8]| BinaryInfo::from_strings(b, b.split(|&c| c == 0));
        let synthetic: &[u8] = b"\0\x01Apache/2.4.9 x\0  -D HTTPD_ROOT=\"/etc/apache2\"\0\
            -D SERVER_CONFIG_FILE=\"apache2.conf\"\0mod_so.c\0core.c\0x.c\0\
            so_module\0ap_x_module\0mpm_event_module\0mod_A.c\0so_module\0\
            Apache/2.4.71 (Debian)\0-D HTTPD_ROOT=\"/srv\"\0http_core.c";
        assert_eq!(BinaryInfo::scan(synthetic), every(synthetic));
        let info = BinaryInfo::scan(synthetic);
        assert_eq!(info.httpd_root, PathBuf::from("/srv"));
        assert_eq!(info.static_mpm, Some(Mpm::Event));
        for binary in ["/usr/sbin/apache2", "/usr/sbin/httpd"] {
            if let Ok(bytes) = std::fs::read(binary) {
                assert_eq!(BinaryInfo::scan(&bytes), every(&bytes), "{binary}");
            }
        }
    }

    /// An ELF file with a `.rodata` section holding `rodata` (after some
    /// bytes that are not in it), 32 or 64 bits, either byte order.
    fn elf(wide: bool, big_endian: bool, rodata: &[u8]) -> Vec<u8> {
        let put = |out: &mut Vec<u8>, n: u64, width: usize| {
            let b = n.to_le_bytes();
            let mut b = b[..width].to_vec();
            if big_endian {
                b.reverse();
            }
            out.extend(b);
        };
        let names = b"\0.text\0.rodata\0.shstrtab\0";
        let (header, entry) = if wide { (64, 64) } else { (52, 40) };
        let text = b"\0Apache/2.4.1 decoy\0-D HTTPD_ROOT=\"/decoy\"\0";
        let text_at = header as u64;
        let rodata_at = text_at + text.len() as u64;
        let names_at = rodata_at + rodata.len() as u64;
        let table_at = names_at + names.len() as u64;
        let mut out = b"\x7fELF".to_vec();
        out.extend([if wide { 2 } else { 1 }, if big_endian { 2 } else { 1 }, 1]);
        out.resize(16, 0);
        let word = if wide { 8 } else { 4 };
        put(&mut out, 2, 2); // e_type
        put(&mut out, 62, 2); // e_machine
        put(&mut out, 1, 4); // e_version
        put(&mut out, 0, word); // e_entry
        put(&mut out, 0, word); // e_phoff
        put(&mut out, table_at, word); // e_shoff
        put(&mut out, 0, 4); // e_flags
        put(&mut out, header as u64, 2);
        put(&mut out, 0, 2); // e_phentsize
        put(&mut out, 0, 2); // e_phnum
        put(&mut out, entry as u64, 2);
        put(&mut out, 4, 2); // e_shnum
        put(&mut out, 3, 2); // e_shstrndx
        assert_eq!(out.len(), header);
        out.extend(text);
        out.extend(rodata);
        out.extend(names);
        // (name, type, offset, size): null, .text, .rodata, .shstrtab.
        for (name, kind, at, len) in [
            (0, 0, 0, 0),
            (1, 1, text_at, text.len() as u64),
            (7, 1, rodata_at, rodata.len() as u64),
            (15, 3, names_at, names.len() as u64),
        ] {
            let start = out.len();
            put(&mut out, name, 4);
            put(&mut out, kind, 4);
            put(&mut out, 0, word); // sh_flags
            put(&mut out, 0, word); // sh_addr
            put(&mut out, at, word);
            put(&mut out, len, word);
            out.resize(start + entry, 0);
        }
        out
    }

    fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("sb-elf-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).expect("write");
        path
    }

    /// The version, paths and modules come from `.rodata` alone, in either
    /// ELF class and byte order; a file whose `.rodata` lacks any of them,
    /// or that is no ELF file, is read whole, as before.
    #[test]
    fn binary_strings_from_rodata() {
        let rodata = b"\0Apache/2.4.62 (Debian)\0 -D HTTPD_ROOT=\"/etc/apache2\"\0 -D SERVER_CONFIG_FILE=\"apache2.conf\"\0mod_so.c\0so_module\0";
        for (wide, big_endian) in [(true, false), (false, false), (true, true), (false, true)] {
            let path = scratch(
                &format!("{wide}{big_endian}"),
                &elf(wide, big_endian, rodata),
            );
            let info = BinaryInfo::read(&path).expect("readable");
            let _ = std::fs::remove_file(&path);
            assert_eq!(
                info.version,
                Some(HttpdVersion::new(2, 4, 62)),
                "{wide} {big_endian}"
            );
            assert_eq!(info.httpd_root, PathBuf::from("/etc/apache2"));
            assert_eq!(info.static_modules, ["mod_so.c", "so_module"]);
        }
        // No HTTPD_ROOT in .rodata: the whole file, where a decoy precedes it.
        let partial = elf(true, false, b"\0Apache/2.4.62\0mod_so.c\0");
        let path = scratch("partial", &partial);
        let info = BinaryInfo::read(&path).expect("readable");
        assert_eq!(info, BinaryInfo::scan(&partial));
        assert_eq!(info.httpd_root, PathBuf::from("/decoy"));
        // Damaged headers and tables: never a panic, never out of bounds.
        let whole = elf(true, false, rodata);
        for at in (0..64).chain(whole.len() - 4 * 64..whole.len()) {
            for value in [0, 1, 2, 0x7f, 0xff] {
                let mut bytes = whole.clone();
                bytes[at] = value;
                std::fs::write(&path, &bytes).expect("write");
                assert!(BinaryInfo::read(&path).is_some());
            }
        }
        std::fs::write(&path, &whole[..100]).expect("write");
        assert!(BinaryInfo::read(&path).is_some());
        let _ = std::fs::remove_file(&path);
        // The installed httpd: the same as scanning all of it, and what
        // the binary itself prints (-V, -l; no configuration read).
        for binary in ["/usr/sbin/apache2", "/usr/sbin/httpd"] {
            if let Ok(bytes) = std::fs::read(binary) {
                let mut whole = BinaryInfo::scan(&bytes);
                let mut rodata = BinaryInfo::read(Path::new(binary)).expect(binary);
                whole.static_modules.sort();
                rodata.static_modules.sort();
                assert_eq!(rodata, whole, "{binary}");
                assert_says_what_httpd_prints(binary, &rodata);
            }
        }
    }

    /// `info` agrees with `binary -V` (version, HTTPD_ROOT,
    /// SERVER_CONFIG_FILE) and holds every module `binary -l` lists.
    fn assert_says_what_httpd_prints(binary: &str, info: &BinaryInfo) {
        let printed = |flag: &str| {
            let out = std::process::Command::new(binary)
                .args(["-f", "/dev/null", flag])
                .output()
                .expect(binary);
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let v = printed("-V");
        let line = |key: &str| v.lines().find_map(|l| l.trim().strip_prefix(key));
        let quoted = |key: &str| line(key).map(|q| PathBuf::from(q.trim_matches('"')));
        let version = line("Server version: ").and_then(|s| HttpdVersion::find_in(s.as_bytes()));
        assert_eq!(info.version, version, "{binary} -V:\n{v}");
        assert_eq!(Some(&info.httpd_root), quoted("-D HTTPD_ROOT=").as_ref());
        assert_eq!(
            Some(&info.config_file),
            quoted("-D SERVER_CONFIG_FILE=").as_ref()
        );
        let listed = printed("-l");
        let modules: Vec<&str> = listed.lines().skip(1).map(str::trim).collect();
        assert!(modules.contains(&"core.c"), "{binary} -l:\n{listed}");
        for module in modules {
            assert!(info.static_modules.iter().any(|m| m == module), "{module}");
        }
    }

    fn argv(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn command_line_as_apr_getopt_reads_it() {
        let s = Started::from_args(
            1,
            Some("/usr/sbin/apache2".into()),
            None,
            &argv(&[
                "/usr/sbin/apache2",
                "-k",
                "start",
                "-DFOREGROUND",
                "-D",
                "SSL",
                "-X",
                "-d",
                "/srv/www",
                "-fconf/x.conf",
                "-C",
                "Define A 1",
                "-c",
                "ServerName x",
            ]),
            Vec::new(),
        );
        assert_eq!(s.defines, ["FOREGROUND", "SSL", "DEBUG"]);
        assert_eq!(s.server_root, PathBuf::from("/srv/www"));
        assert_eq!(s.config_file, PathBuf::from("conf/x.conf"));
        assert_eq!(s.pre_directives, [b"Define A 1".to_vec()]);
        assert_eq!(s.post_directives, [b"ServerName x".to_vec()]);
        let rhel = Started::from_args(
            1,
            Some("/usr/sbin/httpd".into()),
            None,
            &argv(&["httpd"]),
            Vec::new(),
        );
        assert_eq!(rhel.server_root, PathBuf::from("/etc/httpd"));
        assert_eq!(rhel.config_file, PathBuf::from("conf/httpd.conf"));
    }

    #[test]
    fn binary_strings() {
        let image = b"\0Apache/2.4.62 (Debian)\0 -D HTTPD_ROOT=\"/etc/apache2\"\0 -D SERVER_CONFIG_FILE=\"apache2.conf\"\0mod_so.c\0core.c\0so_module\0ap_top_module\0util.c\0";
        let info = BinaryInfo::scan(image);
        assert_eq!(info.version, Some(HttpdVersion::new(2, 4, 62)));
        assert_eq!(info.httpd_root, PathBuf::from("/etc/apache2"));
        assert_eq!(info.config_file, PathBuf::from("apache2.conf"));
        assert_eq!(info.static_modules, ["mod_so.c", "core.c", "so_module"]);
        assert_eq!(info.static_mpm, None);
    }

    /// Whether `s` holds a marker, by a plain search.
    fn has_marker(s: &[u8]) -> bool {
        MARKERS.iter().any(|m| s.windows(m.len()).any(|w| w == *m))
    }

    /// The strings with a marker are those of `split` at every NUL that
    /// hold one, wherever the markers are (first, last, twice, across
    /// what would be a vector's edge, in haystacks shorter than the vector
    /// search takes).
    #[test]
    fn marked_strings_are_the_split_strings_with_a_marker() {
        let mut cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"\0".to_vec(),
            b".c".to_vec(),
            b"mod_so.c\0so_module\0\0Apache/2.4.71 (Debian)".to_vec(),
            b"\0_module_module\0.c.c\0x\0-D HTTPD_ROOT=\"/etc/apache2\"\0".to_vec(),
        ];
        for n in 0..200usize {
            let mut bytes = Vec::new();
            for i in 0..n % 23 {
                let filler = [b'a', 0x80, b'.', b'_', b'c'][(i * 7 + n) % 5];
                bytes.extend(std::iter::repeat_n(filler, (i * 13 + n) % 40));
                if (i + n) % 3 != 0 {
                    bytes.extend_from_slice(MARKERS[(i * 3 + n) % MARKERS.len()]);
                }
                bytes.extend(std::iter::repeat_n(0, (i + n) % 3));
            }
            cases.push(bytes);
        }
        for bytes in cases {
            let got: Vec<&[u8]> = marked_strings(&bytes).collect();
            let want: Vec<&[u8]> = bytes.split(|&b| b == 0).filter(|s| has_marker(s)).collect();
            assert_eq!(got, want, "{bytes:?}");
        }
        // Half a million hits in one string (a hostile binary): one string,
        // each hit looking back only to the one before.
        let long = b".c_module".repeat(1 << 18);
        assert_eq!(marked_strings(&long).collect::<Vec<_>>(), [&long[..]]);
        assert_eq!(
            HttpdVersion::at_start(b"Apache/2.4.71 (Debian)"),
            Some(HttpdVersion::new(2, 4, 71))
        );
        assert_eq!(HttpdVersion::at_start(b"Apache/2.x"), None);
    }

    /// Read in pieces, a section gives the strings `split` gives that hold
    /// a marker, but for those longer than any looked for: cut at every
    /// chunk size, overlong strings across chunks, with and without a
    /// final NUL.
    #[test]
    fn strings_read_in_chunks() {
        let mut section: Vec<u8> = Vec::new();
        for i in 0..300usize {
            section.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, (i * 37) % 700));
            if i % 4 != 0 {
                section.extend_from_slice(MARKERS[i % MARKERS.len()]);
            }
            section.extend(std::iter::repeat_n(0, i % 3 + 1));
        }
        let path = scratch("chunks", &section);
        let file = File::open(&path).expect("open");
        for trimmed in [section.len(), section.len() - 1] {
            let expected: Vec<&[u8]> = section[..trimmed]
                .split(|&b| b == 0)
                .filter(|s| s.len() <= MAX_STRING && has_marker(s))
                .collect();
            for chunk in [1, 7, 255, 256, 257, 1000, 16 << 10] {
                let mut got = Vec::new();
                each_string_at(&file, (0, trimmed as u64), chunk, |s| got.push(s.to_vec()))
                    .expect("read");
                assert_eq!(got, expected, "chunk {chunk}, {trimmed} bytes");
            }
        }
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn environ() {
        let env = parse_environ(b"A=1\0APACHE_RUN_DIR=/run/apache2\0junk\0");
        assert_eq!(env.len(), 2);
        assert_eq!(env[1].1, b"/run/apache2");
    }

    #[test]
    fn bounded_reads_refuse_what_is_not_a_file() {
        assert!(read_bounded(Path::new("/"), 10).is_err());
        assert!(read_bounded(Path::new("/dev/zero"), 10).is_err());
        assert!(read_bounded(Path::new("/proc/self/stat"), 4096).is_ok());
    }
}

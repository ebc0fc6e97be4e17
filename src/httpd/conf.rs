//! httpd's configuration reader, as far as the figures this tool needs:
//! logical lines (a `\` before the newline continues a line; leading and
//! trailing blanks go; `#` starts a comment line), `${VAR}` from `Define`
//! then the environment, words as `ap_getword_conf` splits them (quotes),
//! `Include`/`IncludeOptional` relative to ServerRoot with wildcards in any
//! component and directories read recursively in byte order, and the
//! conditional sections `<IfModule>` (source name or module symbol, `!`),
//! `<IfDefine>`, `<IfFile>` and `<IfVersion>`, evaluated while reading as
//! httpd does, so a `Define` or `LoadModule` counts from the line it is on.

use std::borrow::Cow;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::process::{read_bounded_file, Started};
use super::{Figure, Source};
use crate::scoreboard::{HttpdVersion, Mpm};

/// httpd's AP_MAX_INCLUDE_DEPTH: it refuses to start beyond it ("There
/// appears to be a recursion"), as it does for a file that includes itself.
const MAX_DEPTH: usize = 128;
/// httpd's AP_MAX_FNMATCH_DIR_DEPTH for directories read recursively.
const MAX_DIR_DEPTH: usize = 128;
/// Bounds on the whole reading (a hosting server may have tens of
/// thousands of vhost files; hostile input must still end soon).
const MAX_FILES: usize = 100_000;
const MAX_FILE_BYTES: u64 = 16 << 20;
const MAX_TOTAL_BYTES: u64 = 256 << 20;
const MAX_DIR_ENTRIES: usize = 100_000;
/// A logical line after `${VAR}` expansion.
const MAX_LINE: usize = 256 << 10;

/// An MPM directive as written (httpd reads the number with `atoi`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MpmDirective {
    /// Canonical name: ServerLimit, ThreadLimit, ThreadsPerChild or
    /// MaxRequestWorkers (MaxClients is its old name).
    pub name: &'static str,
    pub value: i64,
    pub source: Source,
}

/// A `<VirtualHost>` and what the tenants of a shared server need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualHost {
    /// Its addresses as written (`*:80`, `192.0.2.1:443`).
    pub addresses: Vec<String>,
    pub server_name: Option<String>,
    pub aliases: Vec<String>,
    /// mpm-itk: the user and group its requests run as.
    pub assign_user_id: Option<(String, String)>,
    /// mpm-itk: at most this many of the server's workers.
    pub max_clients_vhost: Option<i64>,
    pub source: Source,
}

impl VirtualHost {
    /// The port of its first address that names one.
    pub fn port(&self) -> Option<u16> {
        self.addresses
            .iter()
            .find_map(|a| a.rsplit_once(':').and_then(|(_, p)| p.parse().ok()))
    }
}

/// mod_heartmonitor's storage settings, as it resolves them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heartmonitor {
    /// HeartbeatStorage joined to the DefaultRuntimeDir in force where it
    /// (or, for the default `hb.dat`, the LoadModule) was read.
    pub storage_file: Figure<PathBuf>,
    /// HeartbeatMaxServers: 0 = the flat file, else slotmem slots.
    pub max_servers: Figure<i64>,
    /// DefaultRuntimeDir at the end (ServerRoot/logs when not set): where
    /// the slotmem name lives.
    pub runtime_dir: PathBuf,
}

/// The configuration as [`read`] parsed it (the MPM and what is
/// incomplete reconciled with the process by
/// [`RunningConfig`](super::RunningConfig)).
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    pub server_root: PathBuf,
    /// The main configuration file (`-f`, else the compiled-in one).
    pub config_file: PathBuf,
    /// The MPM loaded (configuration's LoadModule; `RunningConfig`
    /// cross-checks it with the maps); `None` when nothing tells.
    pub mpm: Option<Figure<Mpm>>,
    /// The MPM directives in configuration order.
    pub mpm_directives: Vec<MpmDirective>,
    /// ScoreBoardFile, joined to ServerRoot as httpd does (`None`:
    /// anonymous shared memory).
    pub scoreboard_file: Option<Figure<PathBuf>>,
    pub extended_status: Figure<bool>,
    /// Listen directives as written (`80`, `127.0.0.1:8080`, `[::]:443 https`).
    pub listen: Vec<Figure<String>>,
    /// The main server's ServerName.
    pub server_name: Option<Figure<String>>,
    pub vhosts: Vec<VirtualHost>,
    /// mpm-itk: the server-level `AssignUserID` (the last one). mpm-itk keeps
    /// it in the per-directory configuration, which httpd merges into every
    /// vhost: it is the user of the main server and of each vhost without
    /// its own.
    pub assign_user_id: Option<(String, String)>,
    /// The mpm-itk module is loaded (AssignUserID, MaxClientsVHost apply).
    pub itk: bool,
    /// mod_heartmonitor is loaded: its storage settings.
    pub heartmonitor: Option<Heartmonitor>,
    /// Every configuration file read, in order.
    pub files: Vec<Arc<Path>>,
    /// Why the configuration could not be read fully (a file that cannot be
    /// read, an Include that fails, a section that cannot be evaluated):
    /// figures may then differ from the running ones.
    pub incomplete: Vec<String>,
    /// What httpd would have said about the configuration (unknown
    /// variables, files changed since it started).
    pub notes: Vec<String>,
}

impl Default for Figure<bool> {
    fn default() -> Self {
        Figure::default(false)
    }
}

/// Reads the configuration `started` names: `-C` directives, the main
/// file, `-c` directives.
pub fn read(started: &Started) -> Parsed {
    let mut r = Reader {
        started,
        defines: started.defines.clone(),
        vars: Vec::new(),
        server_root: started.server_root.clone(),
        loaded: started.static_modules.clone(),
        out: Parsed::default(),
        open: Vec::new(),
        total_bytes: 0,
        vhost: None,
        extended_status: None,
        runtime_dir: None,
    };
    r.out.notes.extend(started.notes.iter().cloned());
    for (k, d) in started.pre_directives.iter().enumerate() {
        r.lines(
            &[(1, Cow::Borrowed(&d[..]))],
            &Source::CommandLine(format!("-C #{}", k + 1)),
        );
    }
    let main = r.root_relative(&started.config_file);
    r.out.config_file = main.clone();
    r.file(&main, false);
    for (k, d) in started.post_directives.iter().enumerate() {
        r.lines(
            &[(1, Cow::Borrowed(&d[..]))],
            &Source::CommandLine(format!("-c #{}", k + 1)),
        );
    }
    r.out.server_root = r.server_root.clone();
    let runtime_dir = r.runtime_dir();
    if let Some(hm) = &mut r.out.heartmonitor {
        hm.runtime_dir = runtime_dir;
    }
    r.out.extended_status = r.extended_status.take().unwrap_or_else(|| {
        // mod_status turns ExtendedStatus on when loaded (2.3.6+).
        Figure::default(r.loaded.iter().any(|m| m == "status_module"))
    });
    r.out
}

/// One open section of a file.
enum Section {
    /// A conditional section that held (its lines are read).
    Condition,
    VirtualHost,
    /// `<Directory>`, `<Location>`, ...: nothing in it is server-wide.
    Other,
}

struct Reader<'a> {
    started: &'a Started,
    defines: Vec<String>,
    vars: Vec<(Vec<u8>, Vec<u8>)>,
    server_root: PathBuf,
    /// Module symbols and source names known so far.
    loaded: Vec<String>,
    out: Parsed,
    /// The files being read (device, inode), outermost first: an Include
    /// loop is refused however its paths are spelt.
    open: Vec<(u64, u64)>,
    total_bytes: u64,
    vhost: Option<usize>,
    extended_status: Option<Figure<bool>>,
    /// DefaultRuntimeDir so far.
    runtime_dir: Option<PathBuf>,
}

impl Reader<'_> {
    /// `ap_runtime_dir_relative`'s directory: DefaultRuntimeDir, else
    /// ServerRoot/logs.
    fn runtime_dir(&self) -> PathBuf {
        self.runtime_dir
            .clone()
            .unwrap_or_else(|| self.server_root.join("logs"))
    }

    /// `ap_runtime_dir_relative`, with APR's lexical normalization.
    fn runtime_relative(&self, p: &[u8]) -> PathBuf {
        let p = Path::new(std::ffi::OsStr::from_bytes(p));
        crate::shm::apr::scoreboard_file_path(p, Some(&self.runtime_dir()))
    }

    fn incomplete(&mut self, why: String) {
        if self.out.incomplete.len() < 20 {
            self.out.incomplete.push(why);
        }
    }

    /// `ap_server_root_relative`.
    fn root_relative(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.server_root.join(p)
        }
    }

    /// Reads one configuration file; `optional`: a missing file is fine.
    fn file(&mut self, path: &Path, optional: bool) {
        if self.out.files.len() >= MAX_FILES {
            return self.incomplete(format!("more than {MAX_FILES} configuration files"));
        }
        let looped = || {
            format!(
                "{}: an Include loop, with which httpd does not start (it changed since?)",
                path.display()
            )
        };
        if self.open.len() >= MAX_DEPTH {
            return self.incomplete(looped());
        }
        if self.total_bytes > MAX_TOTAL_BYTES {
            return self.incomplete(format!(
                "more than {MAX_TOTAL_BYTES} bytes of configuration"
            ));
        }
        // The file read is the file whose identity the loop test takes (its
        // fstat: no second lookup of the path).
        let (bytes, meta) = match read_bounded_file(path, MAX_FILE_BYTES) {
            Ok(read) => read,
            Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                return self.incomplete(format!(
                    "cannot read {}: {}",
                    path.display(),
                    crate::shm::error::describe_io(&e)
                ))
            }
        };
        let id = (meta.dev(), meta.ino());
        if self.open.contains(&id) {
            return self.incomplete(looped());
        }
        self.total_bytes += bytes.len() as u64;
        let shown: Arc<Path> = Arc::from(path);
        self.out.files.push(Arc::clone(&shown));
        self.open.push(id);
        self.lines(
            &logical_lines(&bytes),
            &Source::File {
                path: shown,
                line: 0,
            },
        );
        self.open.pop();
    }

    /// Processes the logical lines of one file (or `-C`/`-c` directive).
    fn lines(&mut self, lines: &[(usize, Cow<[u8]>)], file: &Source) {
        let at = |line: usize| match file {
            Source::File { path, .. } => Source::File {
                path: Arc::clone(path),
                line,
            },
            other => other.clone(),
        };
        let mut stack: Vec<Section> = Vec::new();
        // Nesting depth inside a section whose condition failed.
        let mut skipping = 0usize;
        for (line_no, raw) in lines {
            if raw.is_empty() || raw[0] == b'#' {
                continue;
            }
            if skipping > 0 {
                if raw.starts_with(b"</") {
                    skipping -= 1;
                } else if raw.starts_with(b"<") {
                    skipping += 1;
                }
                continue;
            }
            let source = at(*line_no);
            let line = self.expand(raw, &source);
            if let Some(rest) = line.strip_prefix(b"</") {
                if let Some(Section::VirtualHost) = stack.pop() {
                    self.vhost = None;
                }
                let _ = rest;
                continue;
            }
            if let Some(rest) = line.strip_prefix(b"<") {
                let end = rest.iter().rposition(|&b| b == b'>').unwrap_or(rest.len());
                let inner = &rest[..end];
                let name_end = inner
                    .iter()
                    .position(u8::is_ascii_whitespace)
                    .unwrap_or(inner.len());
                let name = String::from_utf8_lossy(&inner[..name_end]).to_ascii_lowercase();
                let args = inner[name_end..].trim_ascii();
                match self.condition(&name, args, &source) {
                    Some(true) => stack.push(Section::Condition),
                    Some(false) => skipping = 1,
                    None if name == "virtualhost"
                        && stack.iter().all(|s| matches!(s, Section::Condition)) =>
                    {
                        self.out.vhosts.push(VirtualHost {
                            addresses: words(args).iter().map(|w| lossy(w)).collect(),
                            server_name: None,
                            aliases: Vec::new(),
                            assign_user_id: None,
                            max_clients_vhost: None,
                            source,
                        });
                        self.vhost = Some(self.out.vhosts.len() - 1);
                        stack.push(Section::VirtualHost);
                    }
                    None => stack.push(Section::Other),
                }
                continue;
            }
            let server_level = stack.iter().all(|s| matches!(s, Section::Condition));
            let in_vhost = !server_level
                && stack
                    .iter()
                    .all(|s| matches!(s, Section::Condition | Section::VirtualHost));
            self.directive(&line, &source, server_level, in_vhost);
        }
        if skipping > 0
            || stack.iter().any(|s| !matches!(s, Section::Condition))
            || !stack.is_empty()
        {
            self.incomplete(format!("{file}: a section is not closed"));
            self.vhost = None;
        }
    }

    /// `Some(held)` for a conditional section, `None` for any other.
    fn condition(&mut self, name: &str, args: &[u8], source: &Source) -> Option<bool> {
        let (not, args) = match args.strip_prefix(b"!") {
            Some(rest) => (true, rest),
            None => (false, args),
        };
        let first = words(args).into_iter().next().unwrap_or_default();
        let arg = lossy(&first);
        let held = match name {
            "ifmodule" => self.loaded.contains(&arg),
            "ifdefine" => self.defines.contains(&arg),
            "iffile" => fs::symlink_metadata(
                self.root_relative(Path::new(std::ffi::OsStr::from_bytes(&first))),
            )
            .is_ok(),
            "ifversion" => match self.started.version.and_then(|v| if_version(v, args)) {
                Some(held) => held,
                None => {
                    self.incomplete(format!(
                        "{source}: cannot evaluate <IfVersion {}>",
                        lossy(args)
                    ));
                    false
                }
            },
            "ifdirective" | "ifsection" => {
                self.incomplete(format!("{source}: cannot evaluate <{name} {arg}>"));
                false
            }
            _ => return None,
        };
        Some(held != not)
    }

    /// One directive at server level, in a `<VirtualHost>`, or in another
    /// section (where only what httpd runs while reading counts).
    fn directive(&mut self, line: &[u8], source: &Source, server_level: bool, in_vhost: bool) {
        let w = words(line);
        let Some(name) = w.first() else { return };
        let name = lossy(name).to_ascii_lowercase();
        let args = &w[1..];
        let arg = |k: usize| args.get(k).map(|a| lossy(a)).unwrap_or_default();
        let number = |k: usize| atoi(args.get(k).map_or(&[][..], |a| a.as_slice()));
        match name.as_str() {
            "include" | "includeoptional" => {
                for a in args {
                    self.include(a, name == "includeoptional", source);
                }
            }
            "define" => {
                let n = arg(0);
                if !self.defines.contains(&n) {
                    self.defines.push(n.clone());
                }
                if let Some(v) = args.get(1) {
                    self.vars.push((n.into_bytes(), v.clone()));
                }
            }
            "undefine" => {
                let n = arg(0);
                self.defines.retain(|d| *d != n);
                self.vars.retain(|(k, _)| *k != n.as_bytes());
            }
            _ if !(server_level || in_vhost) => {}
            "servername" if in_vhost => {
                if let Some(v) = self.vhost.and_then(|i| self.out.vhosts.get_mut(i)) {
                    v.server_name = Some(arg(0));
                }
            }
            "serveralias" if in_vhost => {
                if let Some(v) = self.vhost.and_then(|i| self.out.vhosts.get_mut(i)) {
                    v.aliases.extend(args.iter().map(|a| lossy(a)));
                }
            }
            "assignuserid" if in_vhost => {
                if let Some(v) = self.vhost.and_then(|i| self.out.vhosts.get_mut(i)) {
                    v.assign_user_id = Some((arg(0), arg(1)));
                }
            }
            "maxclientsvhost" if in_vhost => {
                if let Some(v) = self.vhost.and_then(|i| self.out.vhosts.get_mut(i)) {
                    v.max_clients_vhost = Some(number(0));
                }
            }
            _ if in_vhost => {}
            "assignuserid" => self.out.assign_user_id = Some((arg(0), arg(1))),
            // A server-level MaxClientsVHost reaches no vhost: mpm-itk keeps it
            // in the per-server configuration and merges none (a vhost starts
            // from its own -1, no limit), and the main server's own requests
            // are not what tenants share, so it is not read.
            "serverroot" => {
                let p = PathBuf::from(std::ffi::OsStr::from_bytes(
                    args.first().map_or(&[][..], |a| a),
                ));
                self.server_root = self.root_relative(&p);
            }
            "loadmodule" => self.load_module(&arg(0), args.get(1).map_or(&[][..], |a| a), source),
            "serverlimit" | "threadlimit" | "threadsperchild" | "maxrequestworkers"
            | "maxclients" => {
                let canonical = match name.as_str() {
                    "serverlimit" => "ServerLimit",
                    "threadlimit" => "ThreadLimit",
                    "threadsperchild" => "ThreadsPerChild",
                    _ => "MaxRequestWorkers",
                };
                self.out.mpm_directives.push(MpmDirective {
                    name: canonical,
                    value: number(0),
                    source: source.clone(),
                });
            }
            "scoreboardfile" => {
                let p = PathBuf::from(std::ffi::OsStr::from_bytes(
                    args.first().map_or(&[][..], |a| a),
                ));
                let joined = crate::shm::apr::scoreboard_file_path(&p, Some(&self.server_root));
                self.out.scoreboard_file = Some(Figure::new(joined, source.clone()));
            }
            "extendedstatus" => {
                self.extended_status = Some(Figure::new(
                    arg(0).eq_ignore_ascii_case("on"),
                    source.clone(),
                ));
            }
            "listen" => {
                let shown = args.iter().map(|a| lossy(a)).collect::<Vec<_>>().join(" ");
                self.out.listen.push(Figure::new(shown, source.clone()));
            }
            "servername" => self.out.server_name = Some(Figure::new(arg(0), source.clone())),
            "defaultruntimedir" => {
                let p = PathBuf::from(std::ffi::OsStr::from_bytes(
                    args.first().map_or(&[][..], |a| a),
                ));
                self.runtime_dir = Some(crate::shm::apr::scoreboard_file_path(
                    &p,
                    Some(&self.server_root),
                ));
            }
            "heartbeatstorage" => {
                let path = self.runtime_relative(args.first().map_or(&[][..], |a| a));
                if let Some(hm) = &mut self.out.heartmonitor {
                    hm.storage_file = Figure::new(path, source.clone());
                }
            }
            "heartbeatmaxservers" => {
                if let Some(hm) = &mut self.out.heartmonitor {
                    hm.max_servers = Figure::new(number(0), source.clone());
                }
            }
            _ => {}
        }
    }

    /// `LoadModule symbol path`: the symbol and the module's source name
    /// (`mod_status.so` → `mod_status.c`, `mod_mpm_event.so` → `event.c`).
    fn load_module(&mut self, symbol: &str, path: &[u8], source: &Source) {
        if self.loaded.iter().any(|m| m == symbol) {
            return;
        }
        self.loaded.push(symbol.to_string());
        let file = lossy(path.rsplit(|&b| b == b'/').next().unwrap_or(path));
        if let Some(stem) = file.strip_suffix(".so") {
            let source_name = match stem.strip_prefix("mod_mpm_") {
                Some(mpm) if mpm != "itk" => format!("{mpm}.c"),
                Some(_) => "mpm_itk.c".to_string(),
                None => format!("{stem}.c"),
            };
            self.loaded.push(source_name);
        }
        if symbol == "heartmonitor_module" {
            // Its server config (the default hb.dat) is made as it loads.
            self.out.heartmonitor = Some(Heartmonitor {
                storage_file: Figure::new(self.runtime_relative(b"hb.dat"), Source::Default),
                max_servers: Figure::default(10),
                runtime_dir: PathBuf::new(),
            });
        }
        let mpm = match symbol {
            "mpm_prefork_module" => Some(Mpm::Prefork),
            "mpm_worker_module" => Some(Mpm::Worker),
            "mpm_event_module" => Some(Mpm::Event),
            "mpm_itk_module" => {
                self.out.itk = true;
                None
            }
            _ => None,
        };
        if let Some(m) = mpm {
            if let Some(prev) = &self.out.mpm {
                let why = format!("{source}: a second MPM after {}", prev.source);
                self.incomplete(why);
            }
            self.out.mpm = Some(Figure::new(m, source.clone()));
        }
    }

    /// `Include`/`IncludeOptional` as `ap_process_fnmatch_configs` does it.
    fn include(&mut self, pattern: &[u8], optional: bool, source: &Source) {
        let path = self.root_relative(Path::new(std::ffi::OsStr::from_bytes(pattern)));
        if path.as_os_str().as_bytes().windows(2).any(|w| w == b"${") {
            return self.incomplete(format!(
                "{source}: Include of {} names an undefined variable",
                path.display()
            ));
        }
        let mut files = Vec::new();
        let mut errors = Vec::new();
        if has_wildcard(path.as_os_str().as_bytes()) {
            let parts: Vec<&[u8]> = path
                .as_os_str()
                .as_bytes()
                .split(|&b| b == b'/')
                .filter(|p| !p.is_empty())
                .collect();
            expand_glob(
                PathBuf::from("/"),
                &parts,
                optional,
                &mut files,
                &mut errors,
                0,
            );
        } else {
            expand_dir(&path, optional, &mut files, &mut errors, 0);
        }
        for e in errors {
            self.incomplete(format!("{source}: {e}"));
        }
        for f in files {
            self.file(&f, optional);
        }
    }

    /// `${NAME}` from `Define`, else the environment; an unknown one stays
    /// as written, as httpd leaves it (AH00111).
    fn expand<'l>(&mut self, line: &'l [u8], source: &Source) -> Cow<'l, [u8]> {
        if !line.windows(2).any(|w| w == b"${") {
            return Cow::Borrowed(line);
        }
        let mut out = Vec::with_capacity(line.len());
        let mut i = 0;
        while i < line.len() {
            if line[i..].starts_with(b"${") {
                if let Some(len) = line[i + 2..].iter().position(|&b| b == b'}') {
                    let name = &line[i + 2..i + 2 + len];
                    let value = self
                        .vars
                        .iter()
                        .rev()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.as_slice())
                        .or_else(|| self.started.env(name));
                    match value {
                        Some(v) if out.len() + v.len() > MAX_LINE => {
                            self.incomplete(format!(
                                "{source}: longer than {MAX_LINE} bytes with its variables"
                            ));
                            return Cow::Owned(out);
                        }
                        Some(v) => out.extend_from_slice(v),
                        None => {
                            if self.out.notes.len() < 20 {
                                self.out.notes.push(format!(
                                    "{source}: variable ${{{}}} is not defined",
                                    lossy(name)
                                ));
                            }
                            out.extend_from_slice(&line[i..i + 3 + len]);
                        }
                    }
                    i += 3 + len;
                    continue;
                }
            }
            out.push(line[i]);
            i += 1;
        }
        Cow::Owned(out)
    }
}

/// Logical lines with the number of the physical line each starts on; a
/// line not continued with `\\` is borrowed from `bytes`, not copied.
pub fn logical_lines(bytes: &[u8]) -> Vec<(usize, Cow<'_, [u8]>)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, Vec<u8>)> = None;
    for (k, physical) in bytes.split(|&b| b == b'\n').enumerate() {
        let physical = physical.strip_suffix(b"\r").unwrap_or(physical);
        match (current.take(), physical.strip_suffix(b"\\")) {
            (None, None) => out.push((k + 1, Cow::Borrowed(physical.trim_ascii()))),
            (continued, Some(head)) => {
                let (start, mut text) = continued.unwrap_or((k + 1, Vec::new()));
                text.extend_from_slice(head);
                current = Some((start, text));
            }
            (Some((start, mut text)), None) => {
                text.extend_from_slice(physical);
                out.push((start, Cow::Owned(text.trim_ascii().to_vec())));
            }
        }
    }
    if let Some((start, text)) = current {
        out.push((start, Cow::Owned(text.trim_ascii().to_vec())));
    }
    out
}

/// Words as `ap_getword_conf` splits them: blanks separate, `"…"` and
/// `'…'` quote (a backslash escapes the quote inside).
pub fn words(line: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            break;
        }
        let q = line[i];
        if q == b'"' || q == b'\'' {
            let mut word = Vec::new();
            i += 1;
            while i < line.len() && line[i] != q {
                if line[i] == b'\\' && line.get(i + 1) == Some(&q) {
                    i += 1;
                }
                word.push(line[i]);
                i += 1;
            }
            i += 1;
            out.push(word);
        } else {
            // Copied at once: most words are not quoted.
            let start = i;
            while i < line.len() && !line[i].is_ascii_whitespace() {
                i += 1;
            }
            out.push(line[start..i].to_vec());
        }
    }
    out
}

/// C's `atoi`: leading blanks, a sign, digits; anything else ends it.
pub fn atoi(s: &[u8]) -> i64 {
    let s = s.trim_ascii_start();
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for &d in digits.iter().take_while(|d| d.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(i64::from(d - b'0'));
    }
    // atoi into an int: httpd stores it in a C int.
    let n = if neg { -n } else { n };
    n.clamp(i64::from(i32::MIN), i64::from(i32::MAX))
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `apr_fnmatch_test`: an unescaped `*`, `?` or `[…]`.
fn has_wildcard(s: &[u8]) -> bool {
    let mut i = 0;
    let mut open = false;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 1,
            b'*' | b'?' => return true,
            b'[' => open = true,
            b']' if open => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// `apr_fnmatch(pattern, name, APR_FNM_PERIOD)` for one path component.
pub fn fnmatch(p: &[u8], n: &[u8]) -> bool {
    if n.first() == Some(&b'.') && p.first() != Some(&b'.') {
        return false;
    }
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some(b'?') => Some(pi + 1),
            Some(b'[') => class(&p[pi..], n[ni]).map(|len| pi + len),
            Some(b'\\') if pi + 1 < p.len() => (p[pi + 1] == n[ni]).then_some(pi + 2),
            Some(&c) => (c == n[ni]).then_some(pi + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                pi = next;
                ni += 1;
            }
            (None, Some((sp, sn))) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// A bracket expression at the start of `p`: its length when it matches `c`.
fn class(p: &[u8], c: u8) -> Option<usize> {
    let mut i = 1;
    let negate = matches!(p.get(1), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() && (p[i] != b']' || first) {
        first = false;
        let lo = p[i];
        if p.get(i + 1) == Some(&b'-') && p.get(i + 2).is_some_and(|&h| h != b']') {
            matched |= lo <= c && c <= p[i + 2];
            i += 3;
        } else {
            matched |= lo == c;
            i += 1;
        }
    }
    if i >= p.len() {
        // No closing bracket: a literal `[`.
        return (c == b'[').then_some(1);
    }
    (matched != negate).then_some(i + 1)
}

/// Sorted directory entries (names only), bounded.
fn entries(dir: &Path) -> std::io::Result<Vec<Vec<u8>>> {
    let mut names: Vec<Vec<u8>> = Vec::new();
    for e in fs::read_dir(dir)?.take(MAX_DIR_ENTRIES) {
        names.push(e?.file_name().as_bytes().to_vec());
    }
    names.sort();
    Ok(names)
}

/// `ap_dir_nofnmatch`: a directory is read recursively, in order.
fn expand_dir(
    path: &Path,
    optional: bool,
    files: &mut Vec<PathBuf>,
    errors: &mut Vec<String>,
    depth: usize,
) {
    if files.len() > MAX_FILES {
        return;
    }
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            if depth >= MAX_DIR_DEPTH {
                return errors.push(format!(
                    "{} nests directories deeper than {MAX_DIR_DEPTH}",
                    path.display()
                ));
            }
            match entries(path) {
                Ok(names) => {
                    for n in names {
                        expand_dir(
                            &path.join(std::ffi::OsStr::from_bytes(&n)),
                            optional,
                            files,
                            errors,
                            depth + 1,
                        );
                    }
                }
                Err(e) => errors.push(format!(
                    "cannot read directory {}: {}",
                    path.display(),
                    crate::shm::error::describe_io(&e)
                )),
            }
        }
        Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            errors.push(format!("Include of {}: no such file", path.display()))
        }
        _ => files.push(path.to_path_buf()),
    }
}

/// `ap_dir_fnmatch`: wildcards in any component; inner components match
/// directories only; no match is an error for `Include` only.
fn expand_glob(
    base: PathBuf,
    parts: &[&[u8]],
    optional: bool,
    files: &mut Vec<PathBuf>,
    errors: &mut Vec<String>,
    depth: usize,
) {
    let Some((first, rest)) = parts.split_first() else {
        return expand_dir(&base, optional, files, errors, depth);
    };
    if !has_wildcard(first) {
        let next = base.join(std::ffi::OsStr::from_bytes(first));
        return if rest.is_empty() {
            expand_dir(&next, optional, files, errors, depth)
        } else {
            expand_glob(next, rest, optional, files, errors, depth)
        };
    }
    let names = match entries(&base) {
        Ok(n) => n,
        Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            return errors.push(format!(
                "cannot read directory {}: {}",
                base.display(),
                crate::shm::error::describe_io(&e)
            ))
        }
    };
    let mut matched = 0;
    for n in names.iter().filter(|n| fnmatch(first, n)) {
        let path = base.join(std::ffi::OsStr::from_bytes(n));
        if rest.is_empty() {
            matched += 1;
            expand_dir(&path, optional, files, errors, depth);
        } else if path.is_dir() {
            matched += 1;
            expand_glob(path, rest, optional, files, errors, depth);
        }
    }
    if matched == 0 && !optional {
        errors.push(format!(
            "Include: no matches for the wildcard '{}' in '{}'",
            lossy(first),
            base.display()
        ));
    }
}

/// `<IfVersion [op] version>` (mod_version): `=`/`==`, `!=`, `<`, `<=`,
/// `>`, `>=`; a missing part is 0 on either side... as mod_version compares
/// only the parts given. Regular expressions are not evaluated (`None`).
fn if_version(v: HttpdVersion, args: &[u8]) -> Option<bool> {
    let w = words(args);
    let (op, want) = match w.as_slice() {
        [version] => (&b"="[..], version.as_slice()),
        [op, version] => (op.as_slice(), version.as_slice()),
        _ => return None,
    };
    if want.starts_with(b"/") || op == b"~" {
        return None;
    }
    let parts: Vec<u32> = std::str::from_utf8(want)
        .ok()?
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let have = [v.major, v.minor, v.patch];
    let ord = have[..parts.len().min(3)].cmp(&parts[..parts.len().min(3)]);
    use std::cmp::Ordering::*;
    Some(match op {
        b"=" | b"==" => ord == Equal,
        b"!=" => ord != Equal,
        b"<" => ord == Less,
        b"<=" => ord != Greater,
        b">" => ord == Greater,
        b">=" => ord != Less,
        _ => return None,
    })
}

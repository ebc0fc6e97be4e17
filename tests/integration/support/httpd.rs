//! A real Debian `apache2` for integration tests.
//!
//! This file owns one live server from start to cleanup:
//! - the generated ServerRoot in a fresh temporary directory (config, MIME
//!   table, the slow CGI `sleep.cgi` and the stall filter script); nothing is
//!   read from outside it except the `apache2` binary and its modules;
//! - the parent process, run in the foreground as a direct child of the test
//!   so its pid is known exactly, and its lifecycle (start with port retry,
//!   graceful restart, stop with SIGTERM then SIGKILL, reaping, removal of
//!   the directory);
//! - a minimal raw-TCP HTTP/1.1 client ([`Httpd::get`]) and requests held in
//!   flight by the slow CGI ([`Httpd::hold`], [`Held`]);
//! - [`Httpd::synchronized_status`], which freezes a `/server-status?auto`
//!   request after mod_status generated its page, so the caller can read the
//!   scoreboard at the very instant the page describes.
//!
//! Only one test thread runs servers at a time in the test binary:
//! [`Httpd::start`] waits while another thread's server is alive, so tests
//! never compete for the two CPUs or see each other's shared-memory objects
//! appear. One thread may run several (the heartbeat cluster, each server
//! in its own network namespace: [`HttpdConfig::netns`]).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{self, Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{auto_value, parent_pid};

/// The Debian server binary.
pub const APACHE2: &str = "/usr/sbin/apache2";
/// Where Debian keeps the loadable modules.
const MODULES_DIR: &str = "/usr/lib/apache2/modules";
/// Name-based virtual hosts of every server; the first is the default and
/// the only one that serves `/server-status`.
pub const VHOSTS: [&str; 4] = ["lab.test", "a.test", "b.test", "c.test"];
/// The vhost that serves `/server-status` (to 127.0.0.1 only).
pub const STATUS_VHOST: &str = "lab.test";
/// Upper bound of `sleep.cgi`'s `s` parameter (the server's `Timeout` is
/// above it, so a held request never times out on the server side).
pub const MAX_HOLD_SECONDS: u32 = 120;

/// An upper bound, polled: only a failing start waits it out, and a 2-core
/// machine running the suite in parallel needs seconds where an idle one
/// needs milliseconds.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Above the 9 to 10 s httpd itself takes to escalate to SIGKILL for a
/// child that ignores SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Kept short: [`Httpd::saturate`] waits it out for every surplus request.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(20);
const CGI_EXIT_TIMEOUT: Duration = Duration::from_secs(2);
const PORT_ATTEMPTS: usize = 5;
/// Request header that enables the stall filter on `/server-status`.
const STALL_HEADER: &str = "X-Lab-Stall";
/// How long the stall filter holds a page when nobody releases it.
const STALL_SECONDS: u32 = 30;

/// Multi-processing module to load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mpm {
    Prefork,
    Worker,
    Event,
    /// Prefork with Debian's mpm-itk on top (`libapache2-mpm-itk`): every
    /// connection in a fork of the prefork child that switches to the
    /// vhost's `AssignUserID` user.
    Itk,
}

impl Mpm {
    /// The name in mod_status's `ServerMPM` (mpm-itk's is prefork's).
    pub fn name(self) -> &'static str {
        match self {
            Mpm::Prefork | Mpm::Itk => "prefork",
            Mpm::Worker => "worker",
            Mpm::Event => "event",
        }
    }

    /// The modules to load (`mpm_<name>`), the MPM first.
    pub fn modules(self) -> &'static [&'static str] {
        match self {
            Mpm::Prefork => &["mpm_prefork"],
            Mpm::Worker => &["mpm_worker"],
            Mpm::Event => &["mpm_event"],
            Mpm::Itk => &["mpm_prefork", "mpm_itk"],
        }
    }

    /// mod_cgid needs threads; prefork gets the forking mod_cgi.
    pub fn cgi_module(self) -> &'static str {
        match self {
            Mpm::Prefork | Mpm::Itk => "cgi",
            Mpm::Worker | Mpm::Event => "cgid",
        }
    }
}

/// Sizing of one server. [`HttpdConfig::new`] gives small pools whose spare
/// limits never kill an idle process during a test (spare processes are only
/// added when every slot is busy).
#[derive(Clone, Debug)]
pub struct HttpdConfig {
    pub mpm: Mpm,
    pub server_limit: u32,
    /// Ignored by prefork (one thread per process).
    pub thread_limit: u32,
    /// Ignored by prefork (one thread per process).
    pub threads_per_child: u32,
    pub max_request_workers: u32,
    pub start_servers: u32,
    /// Appended verbatim to the end of the server configuration (after the
    /// built-in vhosts, so `lab.test` stays the default).
    pub extra_conf: String,
    /// Run in this network namespace (`ip netns exec`; see `netns.rs`):
    /// 127.0.0.1 is then the namespace's own loopback, which the client
    /// reaches from inside it.
    pub netns: Option<String>,
    /// Which configuration tree the server reads.
    pub tree: Tree,
    /// Directives put inside the generated `<VirtualHost>` of a name of
    /// [`VHOSTS`] ([`Tree::Generated`] only): (vhost, directives).
    pub vhost_conf: Vec<(String, String)>,
    /// Files laid over `/etc` for the server alone, (name in /etc, text):
    /// the server runs in a private mount namespace (`unshare --mount`)
    /// where each is bind-mounted over `/etc/<name>` (which must exist), e.g.
    /// a passwd and group with test users. The host's /etc is never
    /// written; [`Httpd::command`] runs a program in that namespace.
    pub etc: Vec<(String, String)>,
}

/// The configuration a server reads.
#[derive(Clone, Debug, Default)]
pub enum Tree {
    /// One generated `httpd.conf` sized by [`HttpdConfig`] (the default).
    #[default]
    Generated,
    /// A copy of the installed `/etc/apache2` with its structure intact
    /// (`<root>/apache2`), started as `apache2ctl` does: `-d <copy>`, no
    /// `-f`, Debian's `APACHE_*` environment pointing into the root. Only the
    /// port (ports.conf, the default site), the MPM and `cgi`/`cgid` (with
    /// `a2dismod`/`a2enmod` inside the copy), a relative `ScoreBoardFile` and
    /// the `sleep.cgi` ScriptAlias (conf-enabled/lab.conf) change, plus
    /// `edits`: (path relative to the copy, text written over it). The
    /// sizing fields of [`HttpdConfig`] are not used.
    Debian { edits: Vec<(String, String)> },
    /// Files written below `<root>/tree` (path, text; `@ROOT@` is the
    /// ServerRoot `<root>/tree`, `@PORT@` the port, `@MODULES@` Debian's
    /// module directory, `@HARNESS@` the harness directory `<root>`),
    /// started with `-d <root>/tree -f <conf>` and `-D` for each of
    /// `defines`. The files must name `@HARNESS@/run/httpd.pid` as PidFile,
    /// `@HARNESS@/logs/error.log` as ErrorLog and `ScoreBoardFile` as
    /// [`Httpd::scoreboard_file`] has it.
    Files {
        files: Vec<(String, String)>,
        conf: String,
        defines: Vec<String>,
    },
}

impl HttpdConfig {
    /// Prefork (and mpm-itk): ServerLimit 8, MaxRequestWorkers 8, StartServers 3.
    /// Worker/event: ServerLimit 4, ThreadLimit 8, ThreadsPerChild 4,
    /// MaxRequestWorkers 12, StartServers 2.
    pub fn new(mpm: Mpm) -> HttpdConfig {
        let extra_conf = String::new();
        match mpm {
            Mpm::Prefork | Mpm::Itk => HttpdConfig {
                mpm,
                server_limit: 8,
                thread_limit: 1,
                threads_per_child: 1,
                max_request_workers: 8,
                start_servers: 3,
                extra_conf,
                netns: None,
                tree: Tree::Generated,
                vhost_conf: Vec::new(),
                etc: Vec::new(),
            },
            Mpm::Worker | Mpm::Event => HttpdConfig {
                mpm,
                server_limit: 4,
                thread_limit: 8,
                threads_per_child: 4,
                max_request_workers: 12,
                start_servers: 2,
                extra_conf,
                netns: None,
                tree: Tree::Generated,
                vhost_conf: Vec::new(),
                etc: Vec::new(),
            },
        }
    }

    /// Pool directives. MinSpare 1 and MaxSpare = everything: the pool only
    /// grows when no worker is idle and never shrinks.
    fn mpm_directives(&self) -> String {
        match self.mpm {
            Mpm::Prefork | Mpm::Itk => format!(
                "StartServers {}\nMinSpareServers 1\nMaxSpareServers {}\n\
                 ServerLimit {}\nMaxRequestWorkers {}\nMaxConnectionsPerChild 0\n",
                self.start_servers, self.server_limit, self.server_limit, self.max_request_workers,
            ),
            Mpm::Worker | Mpm::Event => format!(
                "StartServers {}\nServerLimit {}\nThreadLimit {}\nThreadsPerChild {}\n\
                 MinSpareThreads 1\nMaxSpareThreads {}\nMaxRequestWorkers {}\n\
                 MaxConnectionsPerChild 0\n",
                self.start_servers,
                self.server_limit,
                self.thread_limit,
                self.threads_per_child,
                // httpd wants MaxSpareThreads >= MinSpareThreads + ThreadsPerChild.
                self.max_request_workers.max(self.threads_per_child + 1),
                self.max_request_workers,
            ),
        }
    }
}

/// True when a live server can run here: `/usr/sbin/apache2` and its modules
/// exist and we are root. Otherwise prints a skip note and returns false,
/// except under `CI=true`, where it panics: a test that needs a real server
/// must never skip silently in CI.
pub fn require_apache() -> bool {
    let missing = if !Path::new(APACHE2).is_file() {
        Some(format!("{APACHE2} is not installed"))
    } else if !Path::new(MODULES_DIR).join("mod_status.so").is_file() {
        Some(format!("{MODULES_DIR}/mod_status.so is missing"))
    } else if !is_root() {
        Some("the tests do not run as root".to_string())
    } else {
        None
    };
    match missing {
        None => true,
        Some(why) if std::env::var("CI").is_ok_and(|ci| ci == "true") => panic!(
            "CI=true but this test needs a real apache2: {why} \
             (apt-get install apache2, run the tests as root)"
        ),
        Some(why) => {
            eprintln!("skipping live-httpd test: {why}");
            false
        }
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    euid == 0
}

/// A running `apache2` with its own ServerRoot. Dropping it stops the server
/// and removes the directory (see [`Httpd::stop`]).
///
/// The parent gets SIGTERM from the kernel when the thread that started it
/// exits (`PR_SET_PDEATHSIG`), so a killed test run leaves no server behind:
/// keep an `Httpd` on the thread that started it.
pub struct Httpd {
    config: HttpdConfig,
    root: PathBuf,
    port: u16,
    /// `None` once stopped (or before the first spawn).
    process: Option<Child>,
    pid: u32,
    /// Sockets of [`Held`] requests, shut down on stop.
    clients: Mutex<Vec<Weak<TcpStream>>>,
    /// Released after `Drop::drop` has stopped the server.
    _serial: Serial,
}

impl Httpd {
    /// Generates a ServerRoot, starts `apache2 -D FOREGROUND` on a free port
    /// of 127.0.0.1 and waits (at most 30 s) until the pidfile names our
    /// child, the scoreboard segment exists and mod_status answers with the
    /// expected MPM. On failure the message carries the server's logs.
    pub fn start(config: HttpdConfig) -> Result<Httpd, String> {
        let serial = Serial::acquire();
        let root = create_root()?;
        let mut httpd = Httpd {
            config,
            root,
            port: 0,
            process: None,
            pid: 0,
            clients: Mutex::new(Vec::new()),
            _serial: serial,
        };
        httpd.populate_root()?;
        let mut last_error = String::new();
        for _ in 0..PORT_ATTEMPTS {
            httpd.port = free_port()?;
            httpd.write_tree()?;
            httpd.spawn()?;
            match httpd.wait_ready() {
                Ok(()) => return Ok(httpd),
                Err(error) => {
                    // Whatever happened, this attempt's process must go.
                    if let Err(stop_error) = httpd.terminate() {
                        return Err(format!("{error}\nand then: {stop_error}"));
                    }
                    if !error.contains("Address already in use") {
                        return Err(error);
                    }
                    last_error = error;
                    for log in [httpd.error_log(), httpd.stderr_log()] {
                        remove_if_exists(&log)?;
                    }
                }
            }
        }
        Err(format!(
            "no free port after {PORT_ATTEMPTS} attempts; last error: {last_error}"
        ))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Pid of the parent process (still the old value after [`Httpd::stop`]).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn server_root(&self) -> &Path {
        &self.root
    }

    /// The configured `ScoreBoardFile`. With Debian's APR (POSIX shm) no file
    /// appears there; the segment is [`Httpd::shm_path`].
    pub fn scoreboard_file(&self) -> PathBuf {
        match self.config.tree {
            Tree::Generated => self.root.join("apache_status"),
            // Relative in the configuration: below ServerRoot.
            Tree::Debian { .. } => self.root.join("apache2/apache_status"),
            Tree::Files { .. } => self.root.join("tree/apache_status"),
        }
    }

    /// The ServerRoot of a [`Tree::Debian`] copy or [`Tree::Files`] tree.
    pub fn tree_root(&self) -> PathBuf {
        match self.config.tree {
            Tree::Generated => self.root.clone(),
            Tree::Debian { .. } => self.root.join("apache2"),
            Tree::Files { .. } => self.root.join("tree"),
        }
    }

    /// Where APR 1.7 with POSIX shm keeps the segment named after
    /// [`Httpd::scoreboard_file`]: `/dev/shm/ShM.<h1>H<h2>`.
    pub fn shm_path(&self) -> PathBuf {
        posix_shm_path(&self.scoreboard_file())
    }

    pub fn conf_path(&self) -> PathBuf {
        self.root.join("httpd.conf")
    }

    pub fn error_log(&self) -> PathBuf {
        self.root.join("logs/error.log")
    }

    /// The parent's stdout and stderr (messages from before `ErrorLog` opens).
    fn stderr_log(&self) -> PathBuf {
        self.root.join("logs/stderr.log")
    }

    fn pid_file(&self) -> PathBuf {
        self.root.join("run/httpd.pid")
    }

    fn stall_dir(&self) -> PathBuf {
        self.root.join("stall")
    }

    /// Pids of the parent's direct children (server processes and, with
    /// worker/event, mod_cgid's daemon), from `/proc`.
    pub fn child_pids(&self) -> Vec<u32> {
        child_pids(self.pid)
    }

    /// Sends SIGUSR1 (graceful restart) to the parent.
    pub fn graceful(&self) {
        assert!(self.process.is_some(), "graceful(): the server is stopped");
        send_signal(self.pid, libc::SIGUSR1)
            .unwrap_or_else(|e| panic!("SIGUSR1 to apache2 pid {}: {e}", self.pid));
    }

    /// Polls `f` every 50 ms until it returns true; on timeout the error
    /// names `what` and carries the server's logs.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut() -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if f() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "timed out after {timeout:?} waiting for {what}\n{}",
                    self.logs()
                ));
            }
            thread::sleep(POLL * 5 / 2);
        }
    }

    /// `GET <path>` on `vhost` over a fresh connection (`Connection: close`);
    /// the decoded body of a 200 answer, an error for any other status.
    pub fn get(&self, vhost: &str, path: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let stream = self.send(vhost, path, &[], timeout)?;
        let response = read_response(&stream, deadline)?;
        response.ok(&format!("GET {path} on {vhost}"))
    }

    /// Starts `GET /cgi-bin/sleep.cgi?s=<seconds>&id=<id>` on `vhost` and
    /// returns once the CGI's banner `started id=<id>` arrived, so the request
    /// is certainly in flight. Panics (with the server's logs) when that does
    /// not happen within 10 s.
    pub fn hold(&self, vhost: &str, seconds: u32, id: &str) -> Held {
        self.try_hold(vhost, seconds, id)
            .unwrap_or_else(|e| panic!("{e}\n{}", self.logs()))
    }

    /// Holds `workers` more workers (every one still idle): `2 × workers`
    /// requests are sent at once and the `workers` whose CGI started are
    /// returned; panics (with the logs) when fewer started within 10 s. On
    /// the event MPM a process keeps accepting connections while all its
    /// workers are busy (AsyncRequestWorkerFactor), so with exactly
    /// `workers` requests one may wait in a full process's queue while
    /// another process keeps an idle worker. The surplus requests, queued
    /// in httpd, are dropped (closed) before this returns. Even twice as
    /// many can all land in full processes' queues (seen once in CI: 8 of
    /// 9 started): up to two more rounds then send twice the missing
    /// number, which only a process with an idle worker still accepts.
    pub fn saturate(&self, vhost: &str, seconds: u32, prefix: &str, workers: usize) -> Vec<Held> {
        let attempt = |round: usize, count: usize| -> Vec<Result<Held, String>> {
            thread::scope(|scope| {
                let tries: Vec<_> = (0..count)
                    .map(|i| {
                        let id = match round {
                            0 => format!("{prefix}{i}"),
                            r => format!("{prefix}r{r}-{i}"),
                        };
                        scope.spawn(move || self.try_hold(vhost, seconds, &id))
                    })
                    .collect();
                tries
                    .into_iter()
                    .map(|t| t.join().unwrap_or_else(|_| Err("hold panicked".into())))
                    .collect()
            })
        };
        let (mut held, mut failed) = (Vec::new(), Vec::new());
        for round in 0..3 {
            let missing = workers.saturating_sub(held.len());
            if missing == 0 {
                break;
            }
            for result in attempt(round, 2 * missing) {
                match result {
                    Ok(h) => held.push(h),
                    Err(e) => failed.push(e),
                }
            }
        }
        assert!(
            held.len() >= workers,
            "saturate({vhost}): only {} of {workers} requests started: {:?}\n{}",
            held.len(),
            failed.first(),
            self.logs()
        );
        held.truncate(workers);
        held
    }

    /// [`Httpd::hold`] that reports instead of panicking.
    pub fn try_hold(&self, vhost: &str, seconds: u32, id: &str) -> Result<Held, String> {
        assert!(
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
            "hold(): id {id:?} must be 1-64 characters of [A-Za-z0-9._-]"
        );
        assert!(
            seconds <= MAX_HOLD_SECONDS,
            "hold(): {seconds} s is above sleep.cgi's bound of {MAX_HOLD_SECONDS} s"
        );
        let target = format!("/cgi-bin/sleep.cgi?s={seconds}&id={id}");
        let sent_at = SystemTime::now();
        let stream = self
            .send(vhost, &target, &[], IO_TIMEOUT)
            .map_err(|e| format!("hold({vhost}, {id}): {e}"))?;
        let banner = format!("started id={id}\n");
        let deadline = Instant::now() + IO_TIMEOUT;
        let mut received = Vec::new();
        while !contains(&received, banner.as_bytes()) {
            match read_some(&stream, deadline) {
                Ok(chunk) if !chunk.is_empty() => received.extend_from_slice(&chunk),
                outcome => {
                    return Err(format!(
                        "hold({vhost}, {id}): no banner {banner:?} ({}); received so far:\n{}",
                        outcome
                            .err()
                            .unwrap_or_else(|| "connection closed".to_string()),
                        String::from_utf8_lossy(&received),
                    ))
                }
            }
        }
        let banner_at = SystemTime::now();
        let stream = Arc::new(stream);
        lock(&self.clients).push(Arc::downgrade(&stream));
        Ok(Held {
            id: id.to_string(),
            vhost: vhost.to_string(),
            sent_at,
            banner_at,
            request_line: format!("GET {target} HTTP/1.1"),
            stream,
        })
    }

    /// Reads `/server-status?auto` and calls `read` at the instant the page
    /// describes: the request carries the stall header, so an ext_filter
    /// swallows the complete page (mod_status has finished counting), creates
    /// `stall/<token>.ready` and holds the page until `stall/<token>.go`
    /// exists. `read` runs between the two; the status request itself still
    /// occupies one `W` slot then, as it did when mod_status counted.
    /// Returns the `?auto` body and `read`'s value.
    pub fn synchronized_status<T>(&self, read: impl FnOnce() -> T) -> Result<(String, T), String> {
        static NEXT_TOKEN: AtomicU64 = AtomicU64::new(0);
        let token = format!(
            "p{}t{}",
            process::id(),
            NEXT_TOKEN.fetch_add(1, Ordering::Relaxed)
        );
        let ready = self.stall_dir().join(format!("{token}.ready"));
        let go = self.stall_dir().join(format!("{token}.go"));
        let deadline = Instant::now() + IO_TIMEOUT;
        let stream = self.send(
            STATUS_VHOST,
            "/server-status?auto",
            &[(STALL_HEADER, &token)],
            IO_TIMEOUT,
        )?;
        // Releases the filter however this function is left, even if `read` panics.
        let release = Release(go.clone());
        while !ready.exists() {
            if Instant::now() >= deadline {
                return Err(format!(
                    "the stall filter did not create {} within {IO_TIMEOUT:?}\n{}",
                    ready.display(),
                    self.logs()
                ));
            }
            thread::sleep(Duration::from_millis(2));
        }
        let value = read();
        drop(release);
        let response = read_response(&stream, deadline + IO_TIMEOUT);
        for marker in [&ready, &go] {
            remove_if_exists(marker)?;
        }
        let body = response?.ok("synchronized GET /server-status?auto")?;
        Ok((body, value))
    }

    /// Stops the server as `apachectl stop` does (SIGTERM: httpd removes
    /// its segment) but keeps the ServerRoot, port and configuration for
    /// [`Httpd::start_again`].
    pub fn halt(&mut self) -> Result<(), String> {
        for client in lock(&self.clients).drain(..) {
            if let Some(stream) = client.upgrade() {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
        self.terminate()
    }

    /// Starts a [halted](Httpd::halt) server again with the same
    /// configuration and port: a new parent creates a new segment under the
    /// same name (a full restart when run right after `halt`).
    pub fn start_again(&mut self) -> Result<(), String> {
        assert!(self.process.is_none(), "start_again(): still running");
        self.spawn()?;
        self.wait_ready()
    }

    /// Stops the server: shuts down the sockets of held requests; ends every
    /// running `sleep.cgi` and stall filter (marker `run/stopping`) and waits
    /// up to 2 s for the CGIs to exit, because a worker/event child whose
    /// thread still waits on a CGI ignores SIGTERM until httpd SIGKILLs it
    /// ~9 s later; sends SIGTERM to the parent (never anything by name),
    /// waits up to 15 s, then SIGKILLs the parent and its children by pid;
    /// reaps the parent and removes the ServerRoot. Idempotent; also run by
    /// `Drop`.
    pub fn stop(&mut self) -> Result<(), String> {
        for client in lock(&self.clients).drain(..) {
            if let Some(stream) = client.upgrade() {
                // Already closed by the peer is fine too.
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
        let stopped = if self.process.is_some() {
            write_file(&self.root.join("run/stopping"), "", 0o644).and_then(|()| {
                let deadline = Instant::now() + CGI_EXIT_TIMEOUT;
                while self.running_cgis() > 0 && Instant::now() < deadline {
                    thread::sleep(POLL / 2);
                }
                self.terminate()
            })
        } else {
            Ok(())
        };
        let removed = remove_tree(&self.root);
        match (stopped, removed) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(e), Ok(())) | (Ok(()), Err(e)) => Err(e),
            (Err(e1), Err(e2)) => Err(format!("{e1}\n{e2}")),
        }
    }

    /// `sleep.cgi` processes still running: each keeps `cgi-running/<pid>`.
    fn running_cgis(&self) -> usize {
        fs::read_dir(self.root.join("cgi-running")).map_or(0, |entries| {
            entries
                .flatten()
                .filter(|entry| Path::new("/proc").join(entry.file_name()).exists())
                .count()
        })
    }

    /// SIGTERM, bounded wait, SIGKILL if needed; reaps the parent.
    fn terminate(&mut self) -> Result<(), String> {
        let Some(mut child) = self.process.take() else {
            return Ok(());
        };
        let exited = |child: &mut Child| matches!(child.try_wait(), Ok(Some(_)) | Err(_));
        if exited(&mut child) {
            return Ok(());
        }
        send_signal(self.pid, libc::SIGTERM)
            .map_err(|e| format!("SIGTERM to apache2 pid {}: {e}", self.pid))?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if exited(&mut child) {
                return Ok(());
            }
            thread::sleep(POLL);
        }
        let orphans = child_pids(self.pid);
        // Child::kill is SIGKILL to exactly this pid; `wait` reaps it.
        let killed = child.kill().and_then(|()| child.wait());
        for pid in &orphans {
            // A child may have exited meanwhile.
            let _ = send_signal(*pid, libc::SIGKILL);
        }
        // A killed parent cannot unlink its segment.
        let unlinked = remove_if_exists(&self.shm_path());
        Err(format!(
            "apache2 pid {} ignored SIGTERM for {STOP_TIMEOUT:?}; SIGKILLed it ({killed:?}) \
             and its children {orphans:?}; segment removal: {unlinked:?}\n{}",
            self.pid,
            self.logs()
        ))
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = File::create(self.stderr_log())
            .map_err(|e| format!("create {}: {e}", self.stderr_log().display()))?;
        let log2 = log
            .try_clone()
            .map_err(|e| format!("dup {}: {e}", self.stderr_log().display()))?;
        // `ip netns exec` and `unshare` (through sh) exec apache2 in their
        // own place: the pid is still the server's.
        let mut command = match (&self.config.netns, self.config.etc.is_empty()) {
            (Some(ns), true) => {
                let mut c = Command::new(super::netns::IP);
                c.args(["netns", "exec", ns, APACHE2]);
                c
            }
            (None, false) => self.private_etc()?,
            (None, true) => Command::new(APACHE2),
            (Some(_), false) => return Err("netns and etc together are not supported".into()),
        };
        // Only what the tree needs: a generated configuration names every
        // path itself.
        command.env_clear();
        match &self.config.tree {
            Tree::Generated => {
                command.arg("-f").arg(self.conf_path());
            }
            Tree::Debian { .. } => {
                command.arg("-d").arg(self.tree_root());
            }
            Tree::Files { conf, defines, .. } => {
                command.arg("-d").arg(self.tree_root()).arg("-f").arg(conf);
                for d in defines {
                    command.arg("-D").arg(d);
                }
            }
        }
        if let Tree::Debian { .. } = self.config.tree {
            // What apache2ctl exports from /etc/apache2/envvars, pointed
            // into the root.
            let root = &self.root;
            command.envs([
                ("APACHE_RUN_USER", "www-data".into()),
                ("APACHE_RUN_GROUP", "www-data".into()),
                ("APACHE_PID_FILE", self.pid_file()),
                ("APACHE_RUN_DIR", root.join("run")),
                ("APACHE_LOCK_DIR", root.join("run")),
                ("APACHE_LOG_DIR", root.join("logs")),
            ]);
        }
        command
            .args(["-D", "FOREGROUND"])
            // Its own process group: on shutdown prefork sends SIGTERM to
            // its whole group, which would otherwise include the test runner.
            .process_group(0)
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LANG", "C")
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        // SAFETY: the hook runs in the forked child before exec and only
        // makes the async-signal-safe prctl(2) call.
        unsafe {
            command.pre_exec(die_with_starting_thread);
        }
        let child = command
            .spawn()
            .map_err(|e| format!("spawn {APACHE2}: {e}"))?;
        self.pid = child.id();
        self.process = Some(child);
        Ok(())
    }

    /// `unshare` that bind-mounts [`HttpdConfig::etc`]'s files (written
    /// to `<root>/etc`) over /etc in a private mount namespace, then execs
    /// apache2 (its arguments follow).
    fn private_etc(&self) -> Result<Command, String> {
        const BIND: &str = r#"set -e
dir=$1; shift
while [ "$1" != -- ]; do mount --bind "$dir/$1" "/etc/$1"; shift; done
shift
exec "$@""#;
        let dir = self.root.join("etc");
        fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let mut command = Command::new("unshare");
        command
            .args([
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                BIND,
                "sh",
            ])
            .arg(&dir);
        for (name, text) in &self.config.etc {
            assert!(
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                    && Path::new("/etc").join(name).is_file(),
                "etc: {name:?} must name an existing file directly in /etc"
            );
            write_file(&dir.join(name), text, 0o644)?;
            command.arg(name);
        }
        command.arg("--").arg(APACHE2);
        Ok(command)
    }

    /// A command for `program` that sees the files the server sees: run in
    /// its mount namespace (`nsenter`) when [`HttpdConfig::etc`] replaced
    /// some, else as is.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        if self.config.etc.is_empty() {
            return Command::new(program);
        }
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--target={}", self.pid))
            .args(["--mount", "--"])
            .arg(program);
        command
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let status = match self.process.as_mut() {
                Some(child) => child.try_wait().map_err(|e| format!("waitpid: {e}"))?,
                None => return Err("wait_ready(): no process".to_string()),
            };
            if let Some(status) = status {
                return Err(format!(
                    "apache2 exited during startup ({status})\n{}",
                    self.logs()
                ));
            }
            if self.is_ready() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "apache2 (pid {}) not ready after {START_TIMEOUT:?}\n{}",
                    self.pid,
                    self.logs()
                ));
            }
            thread::sleep(POLL);
        }
    }

    /// Pidfile names our child, the segment exists (POSIX shm, or a file for
    /// other APR builds), and mod_status answers from the expected MPM (so
    /// the port is ours, not a stranger's).
    fn is_ready(&self) -> bool {
        let pid_in_file = fs::read_to_string(self.pid_file())
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok());
        pid_in_file == Some(self.pid)
            && (self.shm_path().exists() || self.scoreboard_file().exists())
            && self
                .get(STATUS_VHOST, "/server-status?auto", Duration::from_secs(2))
                .is_ok_and(|body| {
                    auto_value(&body, "ServerMPM").as_deref() == Some(self.config.mpm.name())
                })
    }

    /// The tails of the parent's stderr and of the error log, for messages.
    pub fn logs(&self) -> String {
        [self.stderr_log(), self.error_log()]
            .iter()
            .map(|path| {
                let text = fs::read(path)
                    .map(|bytes| {
                        let tail = &bytes[bytes.len().saturating_sub(6000)..];
                        String::from_utf8_lossy(tail).into_owned()
                    })
                    .unwrap_or_else(|e| format!("({e})"));
                format!("--- {} ---\n{}", path.display(), text.trim_end())
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn send(
        &self,
        vhost: &str,
        target: &str,
        headers: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<TcpStream, String> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let connect = move || TcpStream::connect_timeout(&address, timeout);
        let connected = match &self.config.netns {
            Some(ns) => super::netns::inside(ns, connect),
            None => connect(),
        };
        let mut stream = connected.map_err(|e| format!("connect {address}: {e}"))?;
        let mut request =
            format!("GET {target} HTTP/1.1\r\nHost: {vhost}\r\nConnection: close\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream
            .set_nodelay(true)
            .and_then(|()| stream.set_write_timeout(Some(timeout)))
            .and_then(|()| stream.write_all(request.as_bytes()))
            .map_err(|e| format!("send GET {target} to {address}: {e}"))?;
        Ok(stream)
    }

    fn populate_root(&self) -> Result<(), String> {
        check_traversable(&self.root)?;
        for (dir, mode) in [
            ("run", 0o755),
            ("logs", 0o755),
            ("htdocs", 0o755),
            ("cgi-bin", 0o755),
            ("bin", 0o755),
            // The filter runs as www-data and drops its markers here.
            ("stall", 0o1777),
            // sleep.cgi (www-data) keeps a pid file here while it runs.
            ("cgi-running", 0o1777),
        ] {
            let path = self.root.join(dir);
            fs::create_dir(&path).map_err(|e| format!("mkdir {}: {e}", path.display()))?;
            set_mode(&path, mode)?;
        }
        let root = self.root.display().to_string();
        write_file(
            &self.root.join("mime.types"),
            "text/plain\ttxt\ntext/html\thtml\n",
            0o644,
        )?;
        write_file(&self.root.join("htdocs/ok.txt"), "ok\n", 0o644)?;
        write_file(
            &self.root.join("cgi-bin/sleep.cgi"),
            &SLEEP_CGI
                .replace("@ROOT@", &root)
                .replace("@MAX@", &MAX_HOLD_SECONDS.to_string()),
            0o755,
        )?;
        write_file(
            &self.root.join("bin/stall-filter.sh"),
            &STALL_FILTER
                .replace("@ROOT@", &root)
                .replace("@TICKS@", &(STALL_SECONDS * 50).to_string()),
            0o755,
        )
    }

    /// Writes the configuration for the current port (each start attempt).
    fn write_tree(&self) -> Result<(), String> {
        match &self.config.tree {
            Tree::Generated => write_file(&self.conf_path(), &self.render_conf(), 0o644),
            Tree::Debian { edits } => self.write_debian(edits),
            Tree::Files { files, .. } => {
                let root = self.tree_root();
                for (rel, text) in files {
                    let path = root.join(rel);
                    if let Some(dir) = path.parent() {
                        fs::create_dir_all(dir)
                            .map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
                    }
                    let text = text
                        .replace("@ROOT@", &root.display().to_string())
                        .replace("@HARNESS@", &self.root.display().to_string())
                        .replace("@PORT@", &self.port.to_string())
                        .replace("@MODULES@", MODULES_DIR);
                    write_file(&path, &text, 0o644)?;
                }
                Ok(())
            }
        }
    }

    /// [`Tree::Debian`]: copies /etc/apache2 once (`cp -a`: the enabled
    /// modules and sites stay relative symlinks), switches the MPM and CGI
    /// module with Debian's own tools inside the copy, then sets the port.
    fn write_debian(&self, edits: &[(String, String)]) -> Result<(), String> {
        let copy = self.tree_root();
        if !copy.exists() {
            run_tool(Command::new("cp").arg("-a").arg("/etc/apache2").arg(&copy))?;
            // Debian's cgid.conf: ScriptSock ${APACHE_RUN_DIR}/socks/cgisock.
            let socks = self.root.join("run/socks");
            fs::create_dir_all(&socks).map_err(|e| format!("mkdir {}: {e}", socks.display()))?;
            let a2 = |tool: &str, module: &str| {
                run_tool(
                    Command::new(tool)
                        .args(["-q", "-f", module])
                        .env_clear()
                        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                        .env("APACHE_CONFDIR", &copy)
                        .env("APACHE_STATE_DIRECTORY", self.root.join("a2state")),
                )
            };
            // mpm_itk first: Debian's libapache2-mpm-itk enables it (on top
            // of prefork) in the system's own tree when it is installed.
            for mpm in ["itk", "prefork", "worker", "event"] {
                if copy.join(format!("mods-enabled/mpm_{mpm}.load")).exists() {
                    a2("a2dismod", &format!("mpm_{mpm}"))?;
                }
            }
            for module in self.config.mpm.modules() {
                a2("a2enmod", module)?;
            }
            a2("a2enmod", self.config.mpm.cgi_module())?;
            // Debian enables mod_deflate, which holds sleep.cgi's banner
            // until the request ends (SetEnv no-gzip does not stop it).
            a2("a2dismod", "deflate")?;
            write_file(
                &copy.join("conf-enabled/lab.conf"),
                &format!(
                    "# tests/integration/support/httpd.rs: what the tests add.\n\
                     ScoreBoardFile apache_status\n\
                     ServerName {STATUS_VHOST}\n\
                     ScriptAlias /cgi-bin/ \"{root}/cgi-bin/\"\n\
                     <Directory \"{root}/cgi-bin\">\n    Options +ExecCGI\n    Require all granted\n</Directory>\n",
                    root = self.root.display()
                ),
                0o644,
            )?;
            for (rel, text) in edits {
                write_file(&copy.join(rel), text, 0o644)?;
            }
        }
        let port = self.port;
        write_file(
            &copy.join("ports.conf"),
            &format!("# tests/integration/support/httpd.rs: Debian's Listen 80, on a free port.\nListen 127.0.0.1:{port}\n"),
            0o644,
        )?;
        let site = copy.join("sites-available/000-default.conf");
        let text =
            fs::read_to_string(&site).map_err(|e| format!("read {}: {e}", site.display()))?;
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        for line in lines.iter_mut() {
            if line.trim_start().starts_with("<VirtualHost ") {
                *line = format!("<VirtualHost *:{port}>");
            }
        }
        write_file(&site, &(lines.join("\n") + "\n"), 0o644)
    }

    fn render_conf(&self) -> String {
        let root = self.root.display();
        let port = self.port;
        let cgi = self.config.mpm.cgi_module();
        let mut modules: Vec<String> = self
            .config
            .mpm
            .modules()
            .iter()
            .map(|m| m.to_string())
            .collect();
        modules.extend(
            [
                "authz_core",
                "authz_host",
                "mime",
                "status",
                "alias",
                cgi,
                "ext_filter",
                "setenvif",
            ]
            .map(String::from),
        );
        let load_modules: String = modules
            .iter()
            .map(|m| {
                // libapache2-mpm-itk's file lacks the `mod_` of httpd's own.
                let file = if m == "mpm_itk" { "" } else { "mod_" };
                format!("LoadModule {m}_module {MODULES_DIR}/{file}{m}.so\n")
            })
            .collect();
        let vhosts: String = VHOSTS
            .iter()
            .map(|name| {
                let status = if *name == STATUS_VHOST {
                    "    <Location /server-status>\n        SetHandler server-status\n        \
                     Require ip 127.0.0.1\n        SetOutputFilter labstall\n    </Location>\n"
                } else {
                    ""
                };
                let own: String = self
                    .config
                    .vhost_conf
                    .iter()
                    .filter(|(vhost, _)| vhost == name)
                    .flat_map(|(_, conf)| conf.lines())
                    .map(|line| format!("    {line}\n"))
                    .collect();
                format!(
                    "<VirtualHost 127.0.0.1:{port}>\n    ServerName {name}\n    \
                     DocumentRoot \"{root}/htdocs\"\n    \
                     ScriptAlias /cgi-bin/ \"{root}/cgi-bin/\"\n{status}{own}</VirtualHost>\n"
                )
            })
            .collect();
        format!(
            r#"# Generated by tests/integration/support/httpd.rs; removed with this directory.
ServerRoot "{root}"
DefaultRuntimeDir "{root}/run"
PidFile "{root}/run/httpd.pid"
ErrorLog "{root}/logs/error.log"
LogLevel info
ServerName {STATUS_VHOST}
Listen 127.0.0.1:{port}
User www-data
Group www-data
Mutex file:{root}/run default
ScoreBoardFile "{root}/apache_status"
ExtendedStatus On
HostnameLookups Off
Timeout {timeout}
KeepAlive On
KeepAliveTimeout 30
MaxKeepAliveRequests 100

{load_modules}TypesConfig "{root}/mime.types"
<IfModule cgid_module>
    ScriptSock "{root}/run/cgid.sock"
</IfModule>

{mpm_directives}
LogFormat "%h %v:%{{local}}p %{{%s}}t %D \"%r\" %>s %b" lab
CustomLog "{root}/logs/access.log" lab

# synchronized_status(): requests with "{STALL_HEADER}: <token>" get the stall filter.
ExtFilterDefine labstall mode=output cmd="/bin/bash {root}/bin/stall-filter.sh" EnableEnv=LAB_STALL
SetEnvIf {STALL_HEADER} "^([A-Za-z0-9]+)$" LAB_STALL=$1

<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory "{root}/htdocs">
    Require all granted
</Directory>
<Directory "{root}/cgi-bin">
    Options +ExecCGI
    Require all granted
</Directory>

{vhosts}
{extra_conf}
"#,
            timeout = MAX_HOLD_SECONDS + 60,
            mpm_directives = self.config.mpm_directives(),
            extra_conf = self.config.extra_conf,
        )
    }
}

impl Drop for Httpd {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("httpd harness: stopping the server failed: {e}");
        }
    }
}

/// A request held in flight by `sleep.cgi`. Dropping it closes the socket
/// (the CGI keeps sleeping until its time is up or the server is stopped).
pub struct Held {
    pub id: String,
    pub vhost: String,
    /// Just before the request was written: the server's request start time
    /// lies between this and [`Held::banner_at`].
    pub sent_at: SystemTime,
    /// When the CGI's banner arrived.
    pub banner_at: SystemTime,
    request_line: String,
    stream: Arc<TcpStream>,
}

impl Held {
    /// `GET /cgi-bin/sleep.cgi?s=<seconds>&id=<id> HTTP/1.1`, as mod_status
    /// shows it.
    pub fn request_line(&self) -> &str {
        &self.request_line
    }

    /// True while the server has not closed the connection (the request is
    /// still running). Consumes whatever else the server sent.
    pub fn is_open(&self) -> bool {
        let mut stream: &TcpStream = &self.stream;
        if stream.set_nonblocking(true).is_err() {
            return false;
        }
        let mut buf = [0u8; 4096];
        let open = loop {
            match stream.read(&mut buf) {
                Ok(0) => break false,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break false,
            }
        };
        open && stream.set_nonblocking(false).is_ok()
    }
}

/// `sleep.cgi`: prints its banner at once, then holds the request for `s`
/// seconds in 0.2 s steps, ending early once [`Httpd::stop`] began or the
/// ServerRoot is gone (so no CGI outlives its server by more than a step).
const SLEEP_CGI: &str = r#"#!/bin/bash
# sleep.cgi?s=<seconds>&id=<id>, generated by the integration-test harness.
s=0
id=-
IFS='&' read -r -a params <<< "${QUERY_STRING:-}"
for p in "${params[@]}"; do
    case $p in
        s=*) s=${p#s=} ;;
        id=*) id=${p#id=} ;;
    esac
done
[[ $s =~ ^[0-9]+$ ]] || s=0
if ((${#s} > 3 || 10#$s > @MAX@)); then s=@MAX@; else s=$((10#$s)); fi
[[ $id =~ ^[A-Za-z0-9._-]{1,64}$ ]] || id=invalid
running=@ROOT@/cgi-running/$$
: > "$running"
trap '/bin/rm -f "$running"' EXIT
printf 'Content-Type: text/plain\n\n'
printf 'started id=%s\n' "$id"
for ((i = 0; i < s * 5; i++)); do
    [[ -d @ROOT@/run && ! -e @ROOT@/run/stopping ]] || exit 0
    /bin/sleep 0.2
done
printf 'done id=%s\n' "$id"
"#;

/// The ext_filter behind `synchronized_status`: swallows the whole page,
/// signals `<token>.ready`, waits for `<token>.go` (bounded), then passes the
/// page on. Without a valid token it is a plain `cat`.
const STALL_FILTER: &str = r#"#!/bin/bash
# Output filter for /server-status, generated by the integration-test harness.
dir=@ROOT@/stall
tok=${LAB_STALL:-}
[[ $tok =~ ^[A-Za-z0-9]{1,64}$ ]] || exec /bin/cat
/bin/cat > "$dir/$tok.page"
: > "$dir/$tok.ready"
for ((i = 0; i < @TICKS@; i++)); do
    [[ -e $dir/$tok.go || -e @ROOT@/run/stopping ]] && break
    /bin/sleep 0.02
done
/bin/cat "$dir/$tok.page"
/bin/rm -f "$dir/$tok.page"
"#;

/// Creates the `.go` marker when dropped.
struct Release(PathBuf);

impl Drop for Release {
    fn drop(&mut self) {
        if let Err(e) = fs::write(&self.0, b"") {
            eprintln!("httpd harness: create {}: {e}", self.0.display());
        }
    }
}

/// One [`Httpd`] at a time per test binary: the owner's thread, if any.
static OWNER: Mutex<Option<(ThreadId, usize)>> = Mutex::new(None);
static RELEASED: Condvar = Condvar::new();

/// Proof of belonging to the one test thread that runs servers; released on
/// drop of its last [`Httpd`]. One thread may run several servers at once
/// (a heartbeat cluster); other threads wait.
struct Serial;

impl Serial {
    fn acquire() -> Serial {
        let me = thread::current().id();
        let mut owner = lock(&OWNER);
        loop {
            match *owner {
                None => {
                    *owner = Some((me, 1));
                    return Serial;
                }
                Some((holder, n)) if holder == me => {
                    *owner = Some((me, n + 1));
                    return Serial;
                }
                Some(_) => owner = RELEASED.wait(owner).unwrap_or_else(PoisonError::into_inner),
            }
        }
    }
}

impl Drop for Serial {
    fn drop(&mut self) {
        let mut owner = lock(&OWNER);
        *owner = match *owner {
            Some((holder, n)) if n > 1 => Some((holder, n - 1)),
            _ => None,
        };
        if owner.is_none() {
            RELEASED.notify_one();
        }
    }
}

/// A panicking test must not wedge the others: ignore poisoning.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `pre_exec` hook: SIGTERM to apache2 when the starting thread exits.
fn die_with_starting_thread() -> io::Result<()> {
    // SAFETY: prctl(PR_SET_PDEATHSIG) reads two integers and only changes
    // this process's death signal.
    let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) };
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Runs a setup tool (cp, a2enmod) to completion; its output in the error.
fn run_tool(command: &mut Command) -> Result<(), String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{command:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// kill(2) to exactly one process: pid 0 or anything that would wrap into a
/// negative pid_t (process groups, "everything") is refused.
pub fn send_signal(pid: u32, signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .ok()
        .filter(|&pid| pid > 0)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("bad pid {pid}")))?;
    // SAFETY: kill(2) takes two integers and touches no memory of ours.
    let rc = unsafe { libc::kill(pid, signal) };
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Direct children of `parent`.
fn child_pids(parent: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            (parent_pid(pid)? == parent).then_some(pid)
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// `/dev/shm/ShM.<h1>H<h2>`: APR 1.7's `make_shm_open_safe_name`, h1 the
/// times-33 hash (`apr_hashfunc_default`), h2 Sedgewick's RS hash over
/// (signed) chars.
pub fn posix_shm_path(file: &Path) -> PathBuf {
    let bytes = file.as_os_str().as_bytes();
    let h1 = bytes
        .iter()
        .fold(0u32, |h, &b| h.wrapping_mul(33).wrapping_add(u32::from(b)));
    let (h2, _) = bytes.iter().fold((0u32, 63689u32), |(h, a), &b| {
        // C's `char` is signed here: bytes >= 0x80 are sign-extended.
        let c = i32::from(b as i8) as u32;
        (h.wrapping_mul(a).wrapping_add(c), a.wrapping_mul(378551))
    });
    PathBuf::from(format!("/dev/shm/ShM.{h1:x}H{h2:x}"))
}

/// A fresh 0755 directory under the temp dir, named after this process.
fn create_root() -> Result<PathBuf, String> {
    static NEXT_ROOT: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir();
    for _ in 0..100 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = base.join(format!(
            "apache-scoreboard-httpd-{}-{}-{nanos:x}",
            process::id(),
            NEXT_ROOT.fetch_add(1, Ordering::Relaxed)
        ));
        match fs::create_dir(&dir) {
            Ok(()) => {
                set_mode(&dir, 0o755)?;
                return fs::canonicalize(&dir)
                    .map_err(|e| format!("canonicalize {}: {e}", dir.display()));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("mkdir {}: {e}", dir.display())),
        }
    }
    Err(format!("no unused directory name under {}", base.display()))
}

/// www-data must reach the CGI and filter scripts, and the path goes
/// unquoted into shell-like config arguments.
fn check_traversable(root: &Path) -> Result<(), String> {
    let text = root.to_str().unwrap_or_default();
    if text.is_empty()
        || !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b))
    {
        return Err(format!(
            "temp dir path {} must be plain [A-Za-z0-9/._-] (set TMPDIR=/tmp)",
            root.display()
        ));
    }
    for dir in root.ancestors().skip(1) {
        let mode = fs::metadata(dir)
            .map_err(|e| format!("stat {}: {e}", dir.display()))?
            .permissions()
            .mode();
        if mode & 0o001 == 0 {
            return Err(format!(
                "{} is not searchable by www-data (mode {mode:o}); set TMPDIR=/tmp",
                dir.display()
            ));
        }
    }
    Ok(())
}

fn free_port() -> Result<u16, String> {
    let mut last = None;
    for _ in 0..PORT_ATTEMPTS {
        match TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()) {
            Ok(address) => return Ok(address.port()),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(format!("bind 127.0.0.1:0: {e}")),
        }
    }
    Err(format!("bind 127.0.0.1:0: {last:?}"))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {mode:o} {}: {e}", path.display()))
}

fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))?;
    set_mode(path, mode)
}

fn remove_if_exists(path: &Path) -> Result<(), String> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(format!("remove {}: {e}", path.display()))
        }
        _ => Ok(()),
    }
}

/// `remove_dir_all`, retried briefly: a CGI or filter run by www-data may
/// still create a file while the tree goes.
fn remove_tree(path: &Path) -> Result<(), String> {
    let mut attempts = 0;
    loop {
        match fs::remove_dir_all(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Ok(()) => return Ok(()),
            Err(_) if attempts < 10 => {
                attempts += 1;
                thread::sleep(POLL);
            }
            Err(e) => return Err(format!("remove {}: {e}", path.display())),
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// One `read` with the time left until `deadline`; empty at EOF.
fn read_some(mut stream: &TcpStream, deadline: Instant) -> Result<Vec<u8>, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err("timed out".to_string());
    }
    stream
        .set_read_timeout(Some(left))
        .map_err(|e| format!("set_read_timeout: {e}"))?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err("timed out".to_string())
            }
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

struct Response {
    status_line: String,
    status: u16,
    body: String,
}

impl Response {
    fn ok(self, what: &str) -> Result<String, String> {
        if self.status == 200 {
            Ok(self.body)
        } else {
            Err(format!("{what}: {}\n{}", self.status_line, self.body))
        }
    }
}

/// Reads a `Connection: close` response to EOF and decodes its body
/// (chunked, Content-Length or up to EOF).
fn read_response(stream: &TcpStream, deadline: Instant) -> Result<Response, String> {
    let mut raw = Vec::new();
    loop {
        let chunk = read_some(stream, deadline).map_err(|e| {
            format!(
                "reading response: {e}; received so far:\n{}",
                String::from_utf8_lossy(&raw)
            )
        })?;
        if chunk.is_empty() {
            break;
        }
        raw.extend_from_slice(&chunk);
    }
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let garbled = || format!("malformed response:\n{}", String::from_utf8_lossy(raw));
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(garbled)?;
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let rest = &raw[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_string();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(garbled)?;
    let header = |name: &str| {
        head.split("\r\n").skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    };
    let body = if header("Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        decode_chunked(rest).ok_or_else(garbled)?
    } else if let Some(length) = header("Content-Length") {
        let length = length.parse::<usize>().map_err(|_| garbled())?;
        rest.get(..length).ok_or_else(garbled)?.to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status_line,
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Decodes a complete chunked body (trailers ignored); `None` if truncated.
fn decode_chunked(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_field = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size_hex = size_field.split(';').next()?.trim();
        let size = usize::from_str_radix(size_hex, 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

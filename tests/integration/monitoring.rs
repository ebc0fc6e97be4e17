//! The shipped monitoring definitions, run by the real daemons from Debian's
//! packages (`packaging/ci-deps.sh`): Icinga 2 validates
//! `checks/apache-scoreboard.conf` together with the ITL and the contrib
//! examples, and runs the CheckCommands; Nagios 4 validates and runs
//! `checks/apache-scoreboard.cfg`; NRPE runs commands with fixed arguments for
//! `check_nrpe`. Every client must report what a direct run of the same check
//! prints: the same state, the same text, every perfdata value.
//!
//! The checks read a copy of the `event-slow` capture evaluated `--at` its
//! capture time, so no live httpd is needed, and the daemons run them as
//! `nagios` as in production (as the current user when the tests do not run
//! as root): the binary, its check symlinks, the snapshot and the definitions
//! are copied into a world-readable temporary directory.
//!
//! Each daemon is a private instance (its own configuration, state and log
//! directories, 127.0.0.1 on a free port), started as a child process and
//! stopped by its pid. A missing daemon skips a test with a note, or fails it
//! when `CI=true`.

use std::collections::HashMap;
use std::fs;
use std::io::{ErrorKind, Read};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::{perfdata_tokens, TempDir};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The capture every check reads, and the instant its ages are taken at.
const FIXTURE: &str = "tests/fixtures/event-slow/scoreboard.bin";
const CAPTURED_AT: &str = "2026-11-21T00:46:30.792139Z";
/// mod_heartmonitor's slotmem with three origins, one of them busy.
const HEARTBEAT_FIXTURE: &str = "tests/fixtures/heartbeat/slotmem-busy/slotmem.bin";
const HEARTBEAT_AT: &str = "2026-11-21T01:42:58.167346Z";

/// What a case reads: the scoreboard capture (`--scoreboard`) or the
/// heartbeat storage capture (`--storage`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reads {
    Scoreboard,
    Storage,
}

const ICINGA2: &str = "/usr/sbin/icinga2";
/// Where `include <itl>` and friends are found.
const ICINGA2_ITL: &str = "/usr/share/icinga2/include";
const NAGIOS4: &str = "/usr/sbin/nagios4";
/// Debian's directory of command definitions that nagios4 loads.
const NAGIOS_PLUGINS_CONFIG: &str = "/etc/nagios-plugins/config";
const NRPE: &str = "/usr/sbin/nrpe";
const CHECK_NRPE: &str = "/usr/lib/nagios/plugins/check_nrpe";

/// A daemon test gives up after this long (each must stay under a minute).
const PATIENCE: Duration = Duration::from_secs(45);

/// One check with fixed arguments, as every client runs it.
struct Case {
    /// The Icinga 2 CheckCommand, also the NRPE command and service name.
    command: &'static str,
    /// The check symlink, also the Nagios command name.
    applet: &'static str,
    /// Arguments besides `--scoreboard`/`--at`; the first four are
    /// `-w W -c C`, which Nagios passes as `$ARG1$` and `$ARG2$`.
    args: &'static [&'static str],
    /// The same arguments as the CheckCommand's custom variables (Icinga 2
    /// DSL values, name without the command prefix); thresholds left out
    /// come from the CheckCommand's defaults.
    vars: &'static [(&'static str, &'static str)],
    /// The exit code on the capture: each client must pass it on.
    state: i32,
    reads: Reads,
}

const CASES: [Case; 4] = [
    Case {
        command: "scoreboard_busy",
        applet: "check_scoreboard_busy",
        args: &[
            "-w",
            "30",
            "-c",
            "95",
            "--max-workers",
            "12",
            "--threads-per-child",
            "4",
        ],
        vars: &[
            ("warning", "30"),
            ("max_workers", "12"),
            ("threads_per_child", "4"),
        ],
        state: 1,
        reads: Reads::Scoreboard,
    },
    Case {
        command: "stuck_requests",
        applet: "check_stuck_requests",
        args: &[
            "-w",
            "2s",
            "-c",
            "3s",
            "--vhost",
            "a.*,lab.*",
            "--exclude-request",
            "*server-status*",
        ],
        vars: &[
            ("warning", r#""2s""#),
            ("critical", r#""3s""#),
            ("vhost", r#"[ "a.*", "lab.*" ]"#),
            ("exclude_request", r#""*server-status*""#),
        ],
        state: 2,
        reads: Reads::Scoreboard,
    },
    Case {
        command: "vhost_saturation",
        applet: "check_vhost_saturation",
        args: &["-w", "50", "-c", "80", "--max-workers", "12"],
        vars: &[("max_workers", "12")],
        state: 0,
        reads: Reads::Scoreboard,
    },
    Case {
        command: "heartbeat_cluster",
        applet: "check_heartbeat_cluster",
        // busy_pct 12.5 (3 busy, 21 ready): WARNING.
        args: &[
            "-w",
            "10",
            "-c",
            "20",
            "--expect",
            "3",
            "--member",
            "192.0.2.12",
            "--member",
            "192.0.2.13",
        ],
        vars: &[
            ("warning", "10"),
            ("critical", "20"),
            ("expect", "3"),
            ("member", r#"[ "192.0.2.12", "192.0.2.13" ]"#),
        ],
        state: 1,
        reads: Reads::Storage,
    },
];

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// True when all `programs` exist; otherwise the test is skipped with a
/// note, or fails under `CI=true`.
fn have(test: &str, programs: &[&str]) -> bool {
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let note = format!(
        "{test}: {} missing (packaging/ci-deps.sh --install)",
        missing.join(", ")
    );
    assert!(!ci(), "CI=true but {note}");
    eprintln!("skipping {note}");
    false
}

/// `id ARGS`, trimmed.
fn id(args: &[&str]) -> Option<String> {
    let out = Command::new("id").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The account the daemons run plugins as: `nagios` when the tests run as
/// root (the daemons drop to it, as the Debian packages do), else the
/// current user, whom they cannot leave.
struct Account {
    user: String,
    group: String,
    /// uid and gid to chown the daemons' writable directories to, when root.
    chown: Option<(u32, u32)>,
}

impl Account {
    /// `None` (after a skip note, or a failure under `CI=true`) when the
    /// tests run as root but there is no `nagios` account.
    fn get(test: &str) -> Option<Account> {
        if id(&["-u"]).as_deref() != Some("0") {
            return Some(Account {
                user: id(&["-un"]).expect("id -un"),
                group: id(&["-gn"]).expect("id -gn"),
                chown: None,
            });
        }
        let Some(uid) = id(&["-u", "nagios"]) else {
            assert!(!ci(), "CI=true but {test}: no user nagios");
            eprintln!("skipping {test}: no user nagios to run the daemons as");
            return None;
        };
        let gid = id(&["-g", "nagios"]).expect("id -g nagios");
        Some(Account {
            user: "nagios".into(),
            group: id(&["-gn", "nagios"]).expect("id -gn nagios"),
            chown: Some((uid.parse().expect("uid"), gid.parse().expect("gid"))),
        })
    }
}

/// What every daemon test starts with: the account, a fresh sandbox and the
/// test's start time; `None` when the test is skipped (see [`have`] and
/// [`Account::get`]).
fn setup(test: &str, programs: &[&str]) -> Option<(Account, Sandbox, Instant)> {
    if !have(test, programs) {
        return None;
    }
    let account = Account::get(test)?;
    let started = Instant::now();
    Some((account, Sandbox::new(test), started))
}

/// A world-readable temporary directory, removed at the end of the test.
struct Sandbox(TempDir);

impl Sandbox {
    fn new(test: &str) -> Sandbox {
        Sandbox(TempDir::new(test))
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.path(rel)
    }

    /// A directory (mode 0755) the daemon may write to.
    fn dir(&self, rel: &str, account: &Account) -> PathBuf {
        let dir = self.path(rel);
        fs::create_dir_all(&dir).expect("create a directory");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod a directory");
        if let Some((uid, gid)) = account.chown {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown a directory");
        }
        dir
    }

    /// Writes a world-readable file.
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.path(rel);
        fs::write(&path, text).expect("write a file");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod a file");
        path
    }

    /// Copies a file of the source tree in, world-readable.
    fn copy(&self, source: &str, rel: &str) -> PathBuf {
        let text = fs::read_to_string(Path::new(ROOT).join(source)).expect("read a source file");
        self.write(rel, &text)
    }

    /// The binary with its check symlinks in `plugins/`, and a copy of the
    /// capture: what every client runs.
    fn install_checks(&self) -> Checks {
        let dir = self.path("plugins");
        fs::create_dir(&dir).expect("create plugins/");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod plugins/");
        let bin = dir.join("apache-scoreboard");
        crate::util::install_binary(&bin);
        for case in &CASES {
            symlink("apache-scoreboard", dir.join(case.applet)).expect("symlink a check");
        }
        let snapshot = self.path("scoreboard.bin");
        fs::copy(Path::new(ROOT).join(FIXTURE), &snapshot).expect("copy the capture");
        fs::set_permissions(&snapshot, fs::Permissions::from_mode(0o644))
            .expect("chmod the capture");
        let storage = self.path("slotmem.bin");
        fs::copy(Path::new(ROOT).join(HEARTBEAT_FIXTURE), &storage).expect("copy the capture");
        fs::set_permissions(&storage, fs::Permissions::from_mode(0o644))
            .expect("chmod the capture");
        Checks {
            dir,
            snapshot,
            storage,
        }
    }
}

/// The installed checks and the captures they read.
struct Checks {
    dir: PathBuf,
    snapshot: PathBuf,
    storage: PathBuf,
}

impl Checks {
    fn program(&self, case: &Case) -> PathBuf {
        self.dir.join(case.applet)
    }

    /// What the case reads: (option and variable name, path, capture time).
    fn source(&self, case: &Case) -> (&'static str, &Path, &'static str) {
        match case.reads {
            Reads::Scoreboard => ("scoreboard", &self.snapshot, CAPTURED_AT),
            Reads::Storage => ("storage", &self.storage, HEARTBEAT_AT),
        }
    }

    /// The case's full argument list.
    fn args(&self, case: &Case) -> Vec<String> {
        let mut args: Vec<String> = case.args.iter().map(|s| s.to_string()).collect();
        let (option, path, at) = self.source(case);
        args.extend([
            format!("--{option}"),
            path.display().to_string(),
            "--at".into(),
            at.into(),
        ]);
        args
    }

    /// Runs the case directly: the reference every client is held to.
    fn run(&self, case: &Case) -> Direct {
        // ETXTBSY: another test thread forked while the copy of the binary
        // was still open for writing here; its child closes it at exec.
        let mut tries = 0;
        let out = loop {
            match Command::new(self.program(case))
                .args(self.args(case))
                .stdin(Stdio::null())
                .output()
            {
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 100 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => break other.expect("run a check"),
            }
        };
        let direct = Direct {
            code: out.status.code().expect("exit code"),
            stdout: String::from_utf8(out.stdout).expect("UTF-8 output"),
        };
        assert_eq!(
            direct.code, case.state,
            "{} on the capture:\n{}",
            case.applet, direct.stdout
        );
        direct
    }
}

/// What a direct run printed and how it ended.
struct Direct {
    code: i32,
    stdout: String,
}

impl Direct {
    /// The status text, the perfdata and the long output lines.
    fn parts(&self) -> (&str, &str, Vec<&str>) {
        let mut lines = self.stdout.lines();
        let first = lines.next().expect("a status line");
        let (text, perf) = first.split_once('|').expect("perfdata on the status line");
        (text.trim(), perf.trim(), lines.collect())
    }

    /// Every perfdata token as (label, value, unit).
    fn perfdata(&self) -> Vec<(String, f64, String)> {
        let tokens = perfdata_tokens(&self.stdout);
        assert!(!tokens.is_empty(), "no perfdata in {}", self.stdout);
        tokens
    }
}

/// Quotes a word for /bin/sh (the words here hold no `'`).
fn sh_quote(word: &str) -> String {
    assert!(!word.contains('\''), "{word}");
    format!("'{word}'")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A daemon started as a child; stopped by its pid (SIGTERM, then SIGKILL).
struct Daemon {
    name: &'static str,
    child: Child,
    output: PathBuf,
}

impl Daemon {
    fn start(name: &'static str, command: &mut Command, output: PathBuf) -> Daemon {
        let file = fs::File::create(&output).expect("create the daemon's output file");
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("dup"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Daemon {
            name,
            child,
            output,
        }
    }

    /// Panics with the daemon's output if it has exited.
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited early ({status}):\n{}",
                self.name,
                fs::read_to_string(&self.output).unwrap_or_default()
            );
        }
    }

    /// Polls `probe` every 100 ms until it gives a value; fails when the
    /// daemon exits (with its output) or after `deadline`.
    fn wait_for<T>(
        &mut self,
        what: &str,
        deadline: Instant,
        mut probe: impl FnMut() -> Option<T>,
    ) -> T {
        loop {
            self.assert_running();
            if let Some(value) = probe() {
                return value;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
            // SAFETY: kill(2) has no memory-safety preconditions; the pid is
            // our own child's, not yet reaped, so it names no other process.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------- Icinga 2

/// `-D` constants that keep an `icinga2` run inside the sandbox.
fn icinga_defines(sandbox: &Sandbox, account: &Account) -> Vec<String> {
    let mut defines: Vec<String> = [
        ("ConfigDir", "etc"),
        ("DataDir", "data"),
        ("LogDir", "log"),
        ("CacheDir", "cache"),
        ("SpoolDir", "spool"),
        ("InitRunDir", "run"),
    ]
    .iter()
    .map(|(name, rel)| format!("-D{name}={}", sandbox.dir(rel, account).display()))
    .collect();
    defines.push(format!(
        "-DZonesDir={}",
        sandbox.path("etc/zones.d").display()
    ));
    defines.push(format!("-DRunAsUser={}", account.user));
    defines.push(format!("-DRunAsGroup={}", account.group));
    defines
}

/// Copies `checks/*.conf` into `etc/`; returns the include lines.
fn icinga_check_includes(sandbox: &Sandbox) -> String {
    let mut names: Vec<String> = fs::read_dir(Path::new(ROOT).join("checks"))
        .expect("read checks/")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".conf"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no checks/*.conf");
    names
        .iter()
        .map(|name| {
            let copy = sandbox.copy(&format!("checks/{name}"), &format!("etc/{name}"));
            format!("include \"{}\"\n", copy.display())
        })
        .collect()
}

/// Every argument of `command` in `icinga2 object list` output has a
/// description.
fn assert_arguments_described(list: &str, command: &str) {
    let header = format!("Object '{command}' of type 'CheckCommand':");
    let object = list
        .split("Object '")
        .map(|o| format!("Object '{o}"))
        .find(|o| o.starts_with(&header))
        .unwrap_or_else(|| panic!("{command} not in the object list"));
    let arguments = object
        .split("\n  * arguments\n")
        .nth(1)
        .unwrap_or_else(|| panic!("{command} has no arguments"));
    let mut keys = Vec::new();
    let mut described = Vec::new();
    for line in arguments.lines().take_while(|l| !l.starts_with("  * ")) {
        if let Some(key) = line.strip_prefix("    * ") {
            keys.push(key.to_string());
        } else if line.starts_with("      * description = ") {
            described.push(keys.last().expect("argument key").clone());
        }
    }
    assert!(!keys.is_empty(), "{command}: no arguments listed");
    assert_eq!(
        keys, described,
        "{command}: arguments without a description"
    );
}

#[test]
fn icinga2_validates_checkcommands_with_itl_and_examples() {
    let test = "icinga2-validate";
    let Some((account, sandbox, started)) = setup(test, &[ICINGA2, ICINGA2_ITL]) else {
        return;
    };
    sandbox.dir("etc/zones.d/master", &account);
    let mut config = String::from(
        "const PluginDir = \"/usr/lib/nagios/plugins\"\n\
         const PluginContribDir = \"/usr/lib/nagios/plugins\"\n\
         const ManubulonPluginDir = \"/usr/lib/nagios/plugins\"\n\
         const NodeName = \"master.example.org\"\n\
         include <itl>\n\
         include <plugins>\n",
    );
    // <plugins-contrib>, minus an installed copy of our own file.
    let mut contrib: Vec<PathBuf> = fs::read_dir(Path::new(ICINGA2_ITL).join("plugins-contrib.d"))
        .expect("read plugins-contrib.d")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .filter(|p| !p.ends_with("apache-scoreboard.conf"))
        .collect();
    contrib.sort();
    for path in &contrib {
        config.push_str(&format!("include \"{}\"\n", path.display()));
    }
    config.push_str(&icinga_check_includes(&sandbox));
    let sudo = sandbox.copy("contrib/icinga2-sudo.conf", "etc/icinga2-sudo.conf");
    config.push_str(&format!("include \"{}\"\n", sudo.display()));
    config.push_str(
        "object Endpoint \"master.example.org\" { }\n\
         object Zone \"master\" { endpoints = [ \"master.example.org\" ] }\n\
         object Endpoint \"web1.example.org\" { }\n\
         object Zone \"web1.example.org\" { endpoints = [ \"web1.example.org\" ]; parent = \"master\" }\n",
    );
    let config_file = sandbox.write("etc/icinga2.conf", &config);
    // The agent example, with the hosts it is meant for, in the master zone.
    sandbox.copy(
        "contrib/icinga2-agent.conf",
        "etc/zones.d/master/apache-scoreboard.conf",
    );
    let mut hosts = String::from(
        "object Host \"web1.example.org\" { check_command = \"hostalive\"; address = \"192.0.2.10\"; \
         vars.agent_endpoint = name; vars.apache_scoreboard = true }\n\
         object Host \"web2.example.org\" { check_command = \"hostalive\"; address = \"192.0.2.11\"; \
         vars.agent_endpoint = \"web1.example.org\"; vars.apache_scoreboard = true; \
         vars.apache_scoreboard_file = \"/run/apache2/apache_scoreboard\" }\n",
    );
    // Every command, plain and through sudo, with the test cases' variables.
    for case in &CASES {
        for suffix in ["", "_sudo"] {
            let vars: String = case
                .vars
                .iter()
                .map(|(name, value)| format!("vars.{}_{name} = {value}\n", case.command))
                .collect();
            hosts.push_str(&format!(
                "object Service \"{0}{suffix}\" {{\nhost_name = \"web1.example.org\"\n\
                 check_command = \"{0}{suffix}\"\ncommand_endpoint = \"web1.example.org\"\n{vars}}}\n",
                case.command
            ));
        }
    }
    sandbox.write("etc/zones.d/master/hosts.conf", &hosts);

    let out = Command::new(ICINGA2)
        .args(["daemon", "-C", "-c"])
        .arg(&config_file)
        .args(icinga_defines(&sandbox, &account))
        .output()
        .expect("run icinga2 daemon -C");
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "icinga2 daemon -C failed:\n{log}");
    for bad in ["warning/", "critical/"] {
        assert!(!log.contains(bad), "icinga2 daemon -C: {bad}\n{log}");
    }
    // 3 services per agent host from the example, 2 per case of our own.
    let services = format!("Instantiated {} Services.", 6 + 2 * CASES.len());
    assert!(log.contains(&services), "{log}");

    let list = Command::new(ICINGA2)
        .args(["object", "list", "--type", "CheckCommand"])
        .args(icinga_defines(&sandbox, &account))
        .output()
        .expect("run icinga2 object list");
    let list = String::from_utf8_lossy(&list.stdout);
    for case in &CASES {
        assert_arguments_described(&list, case.command);
        assert_arguments_described(&list, &format!("{}_sudo", case.command));
    }
    eprintln!("{test}: {:.1} s", started.elapsed().as_secs_f64());
}

/// Graphite plaintext lines Icinga's GraphiteWriter sent, as name → value.
struct Graphite {
    listener: TcpListener,
    streams: Vec<TcpStream>,
    buffer: String,
    metrics: HashMap<String, String>,
}

impl Graphite {
    fn listen() -> Graphite {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the Graphite listener");
        listener.set_nonblocking(true).expect("nonblocking");
        Graphite {
            listener,
            streams: Vec::new(),
            buffer: String::new(),
            metrics: HashMap::new(),
        }
    }

    fn port(&self) -> u16 {
        self.listener.local_addr().expect("listener address").port()
    }

    /// Accepts new connections and reads what has arrived.
    fn poll(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            stream.set_nonblocking(true).expect("nonblocking");
            self.streams.push(stream);
        }
        let mut chunk = [0u8; 16384];
        for stream in &mut self.streams {
            loop {
                match stream.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => self.buffer.push_str(&String::from_utf8_lossy(&chunk[..n])),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("read from icinga2: {e}"),
                }
            }
        }
        while let Some(end) = self.buffer.find('\n') {
            let line: String = self.buffer.drain(..=end).collect();
            let mut fields = line.split_whitespace();
            if let (Some(name), Some(value)) = (fields.next(), fields.next()) {
                self.metrics.insert(name.to_string(), value.to_string());
            }
        }
    }
}

/// Graphite's name for a perfdata label (Icinga's EscapeMetricLabel).
fn graphite_label(label: &str) -> String {
    label.replace([' ', '\\', '/'], "_").replace("::", ".")
}

/// Icinga records values in these units as they are (`c` only marks a
/// counter: PerfdataValue::Parse sets `counter` and keeps the value);
/// others it scales (`ms` to seconds, `KB` to bytes) or drops.
fn assert_unscaled_unit(unit: &str) {
    assert!(
        ["", "%", "s", "c"].contains(&unit),
        "perfdata unit {unit:?}: add how Icinga scales it to this test"
    );
}

#[test]
fn icinga2_runs_checkcommands_like_a_direct_run() {
    let test = "icinga2-run";
    let Some((account, sandbox, started)) = setup(test, &[ICINGA2, ICINGA2_ITL]) else {
        return;
    };
    let defines = icinga_defines(&sandbox, &account);
    let checks = sandbox.install_checks();
    let mut graphite = Graphite::listen();
    let mut config = format!(
        "const PluginDir = \"/usr/lib/nagios/plugins\"\n\
         const PluginContribDir = \"{}\"\n\
         include <itl>\n\
         include <plugins>\n\
         object FileLogger \"debug-file\" {{ path = LogDir + \"/debug.log\"; severity = \"debug\" }}\n\
         object CheckerComponent \"checker\" {{ }}\n\
         object GraphiteWriter \"graphite\" {{ host = \"127.0.0.1\"; port = {}; enable_send_metadata = true }}\n\
         object Host \"h\" {{ check_command = \"dummy\"; enable_active_checks = false }}\n",
        checks.dir.display(),
        graphite.port()
    );
    config.push_str(&icinga_check_includes(&sandbox));
    for case in &CASES {
        let (option, path, at) = checks.source(case);
        let mut vars = format!(
            "vars.{0}_{option} = \"{1}\"\nvars.{0}_at = \"{at}\"\n",
            case.command,
            path.display()
        );
        for (name, value) in case.vars {
            vars.push_str(&format!("vars.{}_{name} = {value}\n", case.command));
        }
        config.push_str(&format!(
            "object Service \"{0}\" {{\nhost_name = \"h\"\ncheck_command = \"{0}\"\n\
             check_interval = 2s\nretry_interval = 2s\n{vars}}}\n",
            case.command
        ));
    }
    let config_file = sandbox.write("etc/icinga2.conf", &config);
    let expected: Vec<(&Case, Direct)> = CASES.iter().map(|c| (c, checks.run(c))).collect();

    let mut icinga = Daemon::start(
        "icinga2",
        Command::new(ICINGA2)
            .args(["daemon", "-c"])
            .arg(&config_file)
            .args(&defines),
        sandbox.path("icinga2.out"),
    );
    let deadline = started + PATIENCE;
    for (case, direct) in &expected {
        let prefix = format!("icinga2.h.services.{0}.{0}", case.command);
        let perfdata = direct.perfdata();
        icinga.wait_for(&format!("{prefix} in Graphite"), deadline, || {
            graphite.poll();
            let complete = graphite
                .metrics
                .contains_key(&format!("{prefix}.metadata.state"))
                && perfdata.iter().all(|(label, _, _)| {
                    graphite.metrics.contains_key(&format!(
                        "{prefix}.perfdata.{}.value",
                        graphite_label(label)
                    ))
                });
            complete.then_some(())
        });
        let state = &graphite.metrics[&format!("{prefix}.metadata.state")];
        assert_eq!(
            state,
            &direct.code.to_string(),
            "{}: Icinga's state vs the direct run:\n{}",
            case.command,
            direct.stdout
        );
        for (label, value, unit) in &perfdata {
            assert_unscaled_unit(unit);
            let name = format!("{prefix}.perfdata.{}.value", graphite_label(label));
            let recorded: f64 = graphite.metrics[&name].parse().expect("Graphite value");
            assert!(
                (recorded - value).abs() <= 1e-6 * value.abs().max(1.0),
                "{name}: Icinga recorded {recorded}, the plugin said {value}{unit}"
            );
        }
    }
    icinga.stop();

    let log = fs::read_to_string(sandbox.path("log/debug.log")).expect("icinga2 debug log");
    for bad in [
        "Ignoring invalid perfdata",
        "Invalid performance data",
        "Ignoring unsupported perfdata",
    ] {
        let hits: Vec<&str> = log.lines().filter(|l| l.contains(bad)).collect();
        assert!(
            hits.is_empty(),
            "icinga2 logged {bad}:\n{}",
            hits.join("\n")
        );
    }
    // The output as Icinga keeps it (dumped to the state file on shutdown):
    // the direct run's lines, perfdata removed, nothing merged in from stderr.
    let state = fs::read_to_string(sandbox.path("data/icinga2.state")).expect("icinga2.state");
    for (case, direct) in &expected {
        let (text, _, long) = direct.parts();
        let mut want = vec![text];
        want.extend(long);
        let got = icinga_state_output(&state, &format!("h!{}", case.command));
        // Icinga keeps the space before the status line's `|`.
        let got: Vec<&str> = got.lines().map(str::trim_end).collect();
        assert_eq!(
            got, want,
            "{}: Icinga's output vs the direct run",
            case.command
        );
    }
    for case in &CASES {
        assert_eq!(
            icinga_logged_options(&log, &checks.program(case)),
            option_pairs(&checks.args(case)),
            "{}: the custom variables gave other arguments than the direct run's",
            case.command
        );
    }
    eprintln!("{test}: {:.1} s", started.elapsed().as_secs_f64());
}

/// The `last_check_result.output` of object `name` in an icinga2.state
/// file (netstrings of JSON objects).
fn icinga_state_output(state: &str, name: &str) -> String {
    let start = format!("{{\"name\":\"{name}\",\"type\":\"Service\"");
    let mut rest = state;
    while let Some((len, after)) = rest.split_once(':') {
        let len: usize = len.trim().parse().expect("netstring length");
        let (record, tail) = after.split_at(len);
        rest = tail.strip_prefix(',').expect("netstring end");
        if record.starts_with(&start) {
            let (_, output) = record
                .split_once("\"output\":\"")
                .unwrap_or_else(|| panic!("{name}: no output in the state file"));
            return json_string(output);
        }
    }
    panic!("{name} not in the state file");
}

/// Decodes a JSON string body up to its closing quote.
fn json_string(body: &str) -> String {
    let mut text = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return text,
            '\\' => match chars.next().expect("escape") {
                'n' => text.push('\n'),
                't' => text.push('\t'),
                'r' => text.push('\r'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let code = u32::from_str_radix(&hex, 16).expect("\\u escape");
                    text.push(char::from_u32(code).expect("a BMP character"));
                }
                other => text.push(other),
            },
            c => text.push(c),
        }
    }
    panic!("unterminated JSON string");
}

/// Option/value pairs, sorted, with `-w`/`-c` spelled as the CheckCommands
/// spell them; every argument of the cases is such a pair.
fn option_pairs(words: &[String]) -> Vec<(String, String)> {
    assert!(words.len() % 2 == 0, "not option/value pairs: {words:?}");
    let mut pairs: Vec<(String, String)> = words
        .chunks(2)
        .map(|pair| {
            let option = match pair[0].as_str() {
                "-w" => "--warning",
                "-c" => "--critical",
                other => other,
            };
            (option.to_string(), pair[1].clone())
        })
        .collect();
    pairs.sort();
    pairs
}

/// The arguments of the first run of `program` in Icinga's debug log
/// (`Running command '/p' '--a' 'b': PID 1`), as [`option_pairs`].
fn icinga_logged_options(log: &str, program: &Path) -> Vec<(String, String)> {
    let needle = format!("Running command '{}'", program.display());
    let line = log
        .lines()
        .find(|l| l.contains(&needle))
        .unwrap_or_else(|| panic!("icinga2 never ran {}", program.display()));
    let args = line[line.find(&needle).expect("needle") + needle.len()..]
        .split(": PID ")
        .next()
        .expect("arguments");
    let words: Vec<String> = args
        .split(" '")
        .map(|w| w.trim().trim_matches('\''))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    option_pairs(&words)
}

// ----------------------------------------------------------------- Nagios 4

/// A private nagios.cfg with the shipped commands, one service per case and
/// the `extra` object files.
fn nagios_config(
    sandbox: &Sandbox,
    account: &Account,
    checks: &Checks,
    extra: &[PathBuf],
) -> PathBuf {
    let state = sandbox.dir("nagios", account);
    sandbox.dir("nagios/checkresults", account);
    let commands = sandbox.copy("checks/apache-scoreboard.cfg", "apache-scoreboard.cfg");
    sandbox.write(
        "resource.cfg",
        &format!("$USER1$={}\n", checks.dir.display()),
    );
    let mut objects = String::from(
        "define timeperiod {\n timeperiod_name always\n alias always\n\
         monday 00:00-24:00\n tuesday 00:00-24:00\n wednesday 00:00-24:00\n\
         thursday 00:00-24:00\n friday 00:00-24:00\n saturday 00:00-24:00\n\
         sunday 00:00-24:00\n}\n\
         define command {\n command_name notify-none\n command_line /bin/true\n}\n\
         define contact {\n contact_name admin\n host_notifications_enabled 0\n\
         service_notifications_enabled 0\n host_notification_period always\n\
         service_notification_period always\n host_notification_options n\n\
         service_notification_options n\n host_notification_commands notify-none\n\
         service_notification_commands notify-none\n}\n\
         define host {\n host_name web1\n address 127.0.0.1\n max_check_attempts 1\n\
         check_period always\n contacts admin\n notification_period always\n\
         active_checks_enabled 0\n}\n",
    );
    for case in &CASES {
        // check_command NAME!warning!critical!further options
        let args = checks.args(case);
        let extra: Vec<String> = args[4..].iter().map(|a| sh_quote(a)).collect();
        objects.push_str(&format!(
            "define service {{\n host_name web1\n service_description {}\n\
             check_command {}!{}!{}!{}\n max_check_attempts 1\n check_interval 1\n\
             retry_interval 1\n check_period always\n contacts admin\n\
             notification_period always\n}}\n",
            case.command,
            case.applet,
            args[1],
            args[3],
            extra.join(" ")
        ));
    }
    let objects = sandbox.write("objects.cfg", &objects);
    let extra: String = extra
        .iter()
        .map(|path| format!("cfg_file={}\n", path.display()))
        .collect();
    let s = state.display();
    sandbox.write(
        "nagios.cfg",
        &format!(
            "log_file={s}/nagios.log\n\
             cfg_file={}\n\
             cfg_file={}\n\
             resource_file={}\n\
             object_cache_file={s}/objects.cache\n\
             precached_object_file={s}/objects.precache\n\
             status_file={s}/status.dat\n\
             status_update_interval=1\n\
             temp_file={s}/nagios.tmp\n\
             temp_path={s}\n\
             check_result_path={s}/checkresults\n\
             check_result_reaper_frequency=1\n\
             lock_file={s}/nagios.lock\n\
             retain_state_information=0\n\
             state_retention_file={s}/retention.dat\n\
             command_file={s}/nagios.cmd\n\
             check_external_commands=0\n\
             use_syslog=0\n\
             illegal_macro_output_chars=`~$&|'\"<>\n\
             nagios_user={}\n\
             nagios_group={}\n\
             interval_length=1\n\
             max_service_check_spread=1\n\
             service_inter_check_delay_method=n\n\
             {extra}",
            commands.display(),
            objects.display(),
            sandbox.path("resource.cfg").display(),
            account.user,
            account.group
        ),
    )
}

#[test]
fn nagios4_accepts_command_definitions() {
    let test = "nagios4-verify";
    let Some((account, sandbox, started)) = setup(test, &[NAGIOS4]) else {
        return;
    };
    let checks = sandbox.install_checks();
    // Debian's nagios4 also loads the stock definitions next to ours in
    // /etc/nagios-plugins/config: no name may clash with them.
    let mut stock: Vec<PathBuf> = fs::read_dir(NAGIOS_PLUGINS_CONFIG)
        .map(|dir| dir.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    stock.retain(|p| {
        p.extension().is_some_and(|e| e == "cfg") && !p.ends_with("apache-scoreboard.cfg")
    });
    let config = nagios_config(&sandbox, &account, &checks, &stock);
    let out = Command::new(NAGIOS4)
        .arg("-v")
        .arg(&config)
        .output()
        .expect("run nagios4 -v");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "nagios4 -v failed:\n{text}");
    assert!(
        text.contains("Total Warnings: 0") && text.contains("Total Errors:   0"),
        "{text}"
    );
    assert!(
        text.contains(&format!("Checked {} services.", CASES.len())),
        "{text}"
    );
    eprintln!("{test}: {:.1} s", started.elapsed().as_secs_f64());
}

/// The `servicestatus` blocks of a Nagios status.dat, as key → value maps.
fn nagios_service_status(status: &str) -> Vec<HashMap<String, String>> {
    status
        .split("servicestatus {")
        .skip(1)
        .map(|block| {
            block
                .lines()
                .take_while(|l| l.trim() != "}")
                .filter_map(|l| l.trim().split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn nagios4_runs_commands_like_a_direct_run() {
    let test = "nagios4-run";
    let Some((account, sandbox, started)) = setup(test, &[NAGIOS4]) else {
        return;
    };
    let checks = sandbox.install_checks();
    let config = nagios_config(&sandbox, &account, &checks, &[]);
    let expected: Vec<(&Case, Direct)> = CASES.iter().map(|c| (c, checks.run(c))).collect();
    let mut nagios = Daemon::start(
        "nagios4",
        Command::new(NAGIOS4).arg(&config),
        sandbox.path("nagios4.out"),
    );
    let status_file = sandbox.path("nagios/status.dat");
    let services = nagios.wait_for(
        "every service checked in status.dat",
        started + PATIENCE,
        || {
            let services = nagios_service_status(&fs::read_to_string(&status_file).ok()?);
            let checked = services
                .iter()
                .filter(|s| s.get("has_been_checked").map(String::as_str) == Some("1"))
                .count();
            (checked == CASES.len()).then_some(services)
        },
    );
    nagios.stop();
    for (case, direct) in &expected {
        let status = services
            .iter()
            .find(|s| s.get("service_description").map(String::as_str) == Some(case.command))
            .unwrap_or_else(|| panic!("{} not in status.dat", case.command));
        let (text, perf, long) = direct.parts();
        let field = |key: &str| status.get(key).map(String::as_str).unwrap_or("");
        assert_eq!(
            field("current_state"),
            direct.code.to_string(),
            "{}",
            case.command
        );
        assert_eq!(field("plugin_output"), text, "{}", case.command);
        assert_eq!(field("performance_data"), perf, "{}", case.command);
        assert_eq!(
            field("long_plugin_output"),
            long.join("\\n"),
            "{}",
            case.command
        );
    }
    eprintln!("{test}: {:.1} s", started.elapsed().as_secs_f64());
}

// --------------------------------------------------------------------- NRPE

#[test]
fn nrpe_relays_fixed_commands_byte_for_byte() {
    let test = "nrpe";
    let Some((account, sandbox, started)) = setup(test, &[NRPE, CHECK_NRPE]) else {
        return;
    };
    let checks = sandbox.install_checks();
    let port = free_port();
    let mut config = format!(
        "log_facility=daemon\n\
         debug=0\n\
         pid_file={}\n\
         server_port={port}\n\
         server_address=127.0.0.1\n\
         allowed_hosts=127.0.0.1\n\
         dont_blame_nrpe=0\n\
         allow_bash_command_substitution=0\n\
         command_timeout=60\n\
         connection_timeout=300\n",
        sandbox.dir("run", &account).join("nrpe.pid").display()
    );
    if account.chown.is_some() {
        config.push_str(&format!(
            "nrpe_user={}\nnrpe_group={}\n",
            account.user, account.group
        ));
    }
    // Fixed arguments, quoted for the shell nrpe runs them with.
    for case in &CASES {
        let words: Vec<String> = checks.args(case).iter().map(|a| sh_quote(a)).collect();
        config.push_str(&format!(
            "command[{}]={} {}\n",
            case.command,
            checks.program(case).display(),
            words.join(" ")
        ));
    }
    // The shipped example, whose commands (named after the checks) must be
    // defined; they run through sudo, which has no rule here.
    let example = sandbox.copy("contrib/nrpe.cfg", "nrpe-example.cfg");
    config.push_str(&format!("include={}\n", example.display()));
    let config_file = sandbox.write("nrpe.cfg", &config);
    let expected: Vec<(&Case, Direct)> = CASES.iter().map(|c| (c, checks.run(c))).collect();

    let mut nrpe = Daemon::start(
        "nrpe",
        Command::new(NRPE).arg("-c").arg(&config_file).arg("-f"),
        sandbox.path("nrpe.out"),
    );
    nrpe.wait_for("nrpe to listen", started + PATIENCE, || {
        TcpStream::connect(("127.0.0.1", port)).ok()
    });
    for (case, direct) in &expected {
        let out = Command::new(CHECK_NRPE)
            .args([
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-c",
                case.command,
            ])
            .output()
            .expect("run check_nrpe");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            direct.stdout,
            "{}: check_nrpe vs the direct run",
            case.command
        );
        assert_eq!(
            out.stdout,
            direct.stdout.as_bytes(),
            "{}: bytes",
            case.command
        );
        assert_eq!(out.status.code(), Some(direct.code), "{}", case.command);
    }
    for case in &CASES {
        let out = Command::new(CHECK_NRPE)
            .args([
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-c",
                case.applet,
            ])
            .output()
            .expect("run check_nrpe");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains("not defined"), "contrib/nrpe.cfg: {text}");
    }
    nrpe.stop();
    eprintln!("{test}: {:.1} s", started.elapsed().as_secs_f64());
}

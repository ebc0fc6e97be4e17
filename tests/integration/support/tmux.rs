//! A private tmux server with one fixed-size pane running a plain `sh`, for
//! tests of the full-screen `top`: keys are typed into the pane and the
//! screen is read back with `capture-pane`, as a sysadmin at the console
//! would see it.
//!
//! The server runs in the foreground (`tmux -D`) as a direct child of the
//! test, on its own socket in a temporary directory, with no configuration
//! file (`-f /dev/null`) and a cleared environment, so nothing of the
//! user's tmux or shell setup leaks in and its pid is known exactly.
//! Dropping a [`Tmux`] kills every process it knows of by pid (the pane's
//! shell, the processes whose pid files the test registered and read:
//! [`Tmux::own_pidfile`], [`Tmux::pid_in`]), each only while it is still the
//! same process, then the server by its socket and by pid.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::httpd::send_signal;
use super::{parent_pid, start_time};
use crate::util::TempDir;

pub const TMUX: &str = "/usr/bin/tmux";
/// The pane's size: wide enough for a request line, high enough for a
/// header, a map and the rows of a few workers.
pub const COLUMNS: u16 = 200;
pub const ROWS: u16 = 50;
/// The shell's prompt: `sh` prints it whenever it waits for a command.
pub const PROMPT: &str = "toplive$ ";
/// The terminal type the pane's programs are told (tmux's own default).
pub const TERM: &str = "screen";
const SESSION: &str = "t";
const POLL: Duration = Duration::from_millis(50);

/// One tmux server with one session of one window of one pane.
pub struct Tmux {
    dir: TempDir,
    server: Child,
    /// The pane's `sh`.
    shell: u32,
    /// Pid files of processes started in the pane (see [`Tmux::own_pidfile`]).
    pidfiles: Vec<PathBuf>,
    /// The processes [`Tmux::pid_in`] found, with their start times.
    started: Vec<(u32, u64)>,
}

impl Tmux {
    /// Starts the server and a `COLUMNS`×`ROWS` pane running `sh` with
    /// [`PROMPT`] and [`TERM`], and waits until the prompt shows.
    pub fn start(tag: &str) -> Tmux {
        let dir = TempDir::new(&format!("tmux-{tag}"));
        let socket = dir.path("sock");
        let server = clean_env(Command::new(TMUX))
            .arg("-u")
            .arg("-D")
            .arg("-S")
            .arg(&socket)
            .args(["-f", "/dev/null"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {TMUX}: {e}"));
        let mut tmux = Tmux {
            dir,
            server,
            shell: 0,
            pidfiles: Vec::new(),
            started: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "tmux server made no socket");
            std::thread::sleep(POLL);
        }
        let shell = format!(
            "exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME={home} \
             TERM={TERM} PS1='{PROMPT}' /bin/sh",
            home = tmux.dir.0.display()
        );
        tmux.command(&[
            "new-session",
            "-d",
            "-s",
            SESSION,
            "-x",
            &COLUMNS.to_string(),
            "-y",
            &ROWS.to_string(),
            &shell,
        ]);
        tmux.shell = tmux
            .display("#{pane_pid}")
            .parse()
            .expect("pane_pid is a number");
        tmux.wait_for("the shell's prompt", Duration::from_secs(10), |screen| {
            screen.trim_end().ends_with(PROMPT.trim_end())
        });
        tmux
    }

    /// Runs `tmux -S <socket> ARGS` and returns its stdout; panics on failure.
    pub fn command(&self, args: &[&str]) -> String {
        let out = clean_env(Command::new(TMUX))
            .arg("-u")
            .arg("-S")
            .arg(self.dir.path("sock"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {TMUX}: {e}"));
        assert!(
            out.status.success(),
            "tmux {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A tmux format of the pane (`#{pane_tty}`, `#{alternate_on}`, ...).
    pub fn display(&self, format: &str) -> String {
        self.command(&["display-message", "-p", "-t", SESSION, format])
            .trim_end()
            .to_string()
    }

    /// Types `text` as it is (no key names).
    pub fn type_text(&self, text: &str) {
        self.command(&["send-keys", "-t", SESSION, "-l", text]);
    }

    /// Presses keys by tmux's names (`Enter`, `C-c`, `Escape`, `q`).
    pub fn press(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", SESSION];
        args.extend_from_slice(keys);
        self.command(&args);
    }

    /// Types a command line into the shell and presses Enter.
    pub fn run_line(&self, line: &str) {
        self.type_text(line);
        self.press(&["Enter"]);
    }

    /// The visible screen of the pane, one line per row, trailing blanks cut.
    pub fn screen(&self) -> String {
        self.command(&["capture-pane", "-p", "-t", SESSION])
    }

    /// Polls the screen until `done` holds, at most `limit`; panics with the
    /// last screen otherwise. Returns the screen that satisfied it.
    pub fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        mut done: impl FnMut(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not seen within {limit:?}; the pane shows:\n{screen}"
            );
            std::thread::sleep(POLL);
        }
    }

    /// Registers a pid file that a process in the pane writes (`echo $$ >
    /// FILE; exec ...`), so that the process is killed with the server, and
    /// returns its path.
    pub fn own_pidfile(&mut self, name: &str) -> PathBuf {
        let path = self.dir.path(name);
        self.pidfiles.push(path.clone());
        path
    }

    /// The pid written to `pidfile`, waited for at most 10 s; that process
    /// is killed with the server even once it has left the pane.
    pub fn pid_in(&mut self, pidfile: &Path) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(pid) = read_pid(pidfile) {
                if let Some(started) = start_time(pid) {
                    self.started.push((pid, started));
                }
                return pid;
            }
            assert!(
                Instant::now() < deadline,
                "{} not written; the pane shows:\n{}",
                pidfile.display(),
                self.screen()
            );
            std::thread::sleep(POLL);
        }
    }

    /// `stty -a` of the pane's terminal, read from outside the pane (what a
    /// program left behind, whatever the shell can still read).
    pub fn stty(&self) -> String {
        let tty = self.display("#{pane_tty}");
        let out = Command::new("stty")
            .args(["-a", "-F", &tty])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("stty -F {tty}: {e}"));
        assert!(out.status.success(), "stty -F {tty}: {}", out.status);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Children first, each only while it is still ours: the same
        // start time as when found, or else its parent the pane's shell
        // (the shell's the server), so a reused pid is spared.
        let server = self.server.id();
        for &(pid, started) in &self.started {
            if start_time(pid) == Some(started) {
                let _ = send_signal(pid, libc::SIGKILL);
            }
        }
        for pidfile in &self.pidfiles {
            if let Some(pid) = read_pid(pidfile).filter(|&pid| parent_pid(pid) == Some(self.shell))
            {
                let _ = send_signal(pid, libc::SIGKILL);
            }
        }
        if self.shell > 1 && parent_pid(self.shell) == Some(server) {
            let _ = send_signal(self.shell, libc::SIGKILL);
        }
        let _ = clean_env(Command::new(TMUX))
            .arg("-S")
            .arg(self.dir.path("sock"))
            .arg("kill-server")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if matches!(self.server.try_wait(), Ok(None)) {
            let _ = self.server.kill();
        }
        let _ = self.server.wait();
    }
}

fn read_pid(pidfile: &Path) -> Option<u32> {
    let text = fs::read_to_string(pidfile).ok()?;
    text.trim().parse().ok().filter(|&pid| pid > 1)
}

/// tmux and everything it starts see only PATH and a UTF-8 locale: no
/// `TMUX` of an enclosing session, no user configuration, no `CI`.
fn clean_env(mut command: Command) -> Command {
    command
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LANG", "C.UTF-8");
    command
}

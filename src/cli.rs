//! The multi-call front end: one binary, `apache-scoreboard`, also run
//! through symlinks named after each check. Every outcome (a check result,
//! bad arguments, `--help`, `--version`, an error, a timeout, SIGTERM, even a
//! panic) ends as a report on stdout and an exit code 0-3; nothing is
//! written to stderr, which Icinga 2 would merge into the status text.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use clap::{ArgAction, Args, CommandFactory, Parser, Subcommand};

use crate::checks::{self, busy, stuck, vhost};
use crate::commands::{dump, instances, snapshot, status};
use crate::plugin::output::{Outcome, OutputLimits};
use crate::plugin::State;
use crate::scoreboard::{privilege, HttpdVersion, LayoutSpec, Mpm, ReadOptions};

/// The service name that starts every status line.
pub const SERVICE: &str = "SCOREBOARD";
const BINARY: &str = "apache-scoreboard";

// How to find and read the segment. (Plain comments, not doc comments, on
// every Args struct and on Cmd: under `defer` a doc comment would become the
// about text of each subcommand.)
#[derive(Args, Debug, Clone, Default)]
pub struct SourceArgs {
    /// ScoreBoardFile path (a relative one is joined to --server-root), a
    /// /dev/shm/ShM.* object, a snapshot, sysv:KEY or shmid:ID [default: the
    /// running httpd's]
    #[arg(long, value_name = "PATH")]
    pub scoreboard: Option<PathBuf>,
    /// ServerRoot, for a relative ScoreBoardFile path
    #[arg(long, value_name = "DIR")]
    pub server_root: Option<PathBuf>,
    /// Decode as this layout instead of detecting it: an httpd version
    /// (2.4.71, 2.2), optionally with /lp64 or /ilp32
    #[arg(long, value_name = "REV")]
    pub layout: Option<LayoutSpec>,
    /// The httpd version (decides mod_status's counting rules) [default:
    /// the running binary's, else the layout's]
    #[arg(long, value_name = "X.Y.Z")]
    pub httpd_version: Option<HttpdVersion>,
    /// The MPM [default: the running server's, else guessed from the segment]
    #[arg(long, value_enum)]
    pub mpm: Option<Mpm>,
    /// Evaluate ages as of this time (RFC 3339, e.g. 2026-11-21T00:46:30.792139Z),
    /// for snapshots; a snapshot read with --at is never stale
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub at: Option<i64>,
}

impl SourceArgs {
    pub fn read_options(&self) -> ReadOptions {
        ReadOptions {
            scoreboard: self.scoreboard.clone(),
            server_root: self.server_root.clone(),
            layout: self.layout,
            httpd_version: self.httpd_version,
            mpm: self.mpm,
            at: self.at,
            wants_details: false,
        }
    }
}

// Options every subcommand has.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Give up with UNKNOWN after this many seconds (0 = no limit)
    #[arg(short = 't', long, value_name = "SECONDS", default_value_t = 10)]
    pub timeout: u64,
    /// More detail in the long output (repeat up to 3 times)
    #[arg(short, long, action = ArgAction::Count)]
    pub verbose: u8,
}

/// A count that must be at least 1 (a capacity of 0 is a usage error).
pub fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("'{s}' is not a whole number of at least 1")),
    }
}

fn parse_time(s: &str) -> Result<i64, String> {
    let t = humantime::parse_rfc3339_weak(s).map_err(|e| {
        format!("invalid time '{s}': {e} (expected RFC 3339, e.g. 2026-11-21T00:46:30.792139Z)")
    })?;
    let d = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| format!("invalid time '{s}': before 1970"))?;
    i64::try_from(d.as_micros()).map_err(|_| format!("invalid time '{s}': too far in the future"))
}

#[derive(Args, Debug)]
pub struct DumpArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// Every slot, dead ones included
    #[arg(long)]
    pub all: bool,
    #[arg(long, value_enum, default_value = "tsv")]
    pub format: dump::Format,
    /// Start TSV output with a commented header line
    #[arg(long)]
    pub header: bool,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// MaxRequestWorkers: with --threads-per-child, slots beyond the
    /// configured limits are dropped from the Scoreboard string as mod_status does
    #[arg(long, value_name = "N", value_parser = crate::cli::positive)]
    pub max_workers: Option<usize>,
    /// ThreadsPerChild
    #[arg(long, value_name = "N", value_parser = crate::cli::positive)]
    pub threads_per_child: Option<usize>,
}

#[derive(Args, Debug)]
pub struct SnapshotArgs {
    /// Where to write the segment (POSIX form); must not exist yet
    #[arg(value_name = "OUT")]
    pub out: PathBuf,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args, Debug)]
pub struct InstancesArgs {
    #[command(flatten)]
    pub run: RunArgs,
}

// The subcommands, also reachable as argv[0]. Deferred: a run builds the
// arguments of the one subcommand it runs, not of all of them (clap's whole
// tree was half of a check's instructions).
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum Cmd {
    /// How full the worker pool is
    #[command(name = "check_scoreboard_busy")]
    Busy(busy::BusyArgs),
    /// Requests that have been running too long
    #[command(name = "check_stuck_requests")]
    Stuck(stuck::StuckArgs),
    /// Which site is eating the worker pool
    #[command(name = "check_vhost_saturation")]
    Vhost(vhost::VhostArgs),
    /// Every worker slot (pid, status, client, vhost, request, ...)
    Dump(DumpArgs),
    /// mod_status ?auto lines computed from the segment
    Status(StatusArgs),
    /// Save the live segment to a file
    Snapshot(SnapshotArgs),
    /// List running httpd instances and their scoreboards
    Instances(InstancesArgs),
    /// Print the man page (roff)
    #[command(hide = true)]
    Manpage(ManpageArgs),
}

impl Cmd {
    /// Whether the command opens a segment (the only use of a capability).
    fn reads_segment(&self) -> bool {
        !matches!(self, Cmd::Instances(_) | Cmd::Manpage(_))
    }

    fn run_args(&self) -> Option<&RunArgs> {
        match self {
            Cmd::Busy(a) => Some(&a.plugin.run),
            Cmd::Stuck(a) => Some(&a.plugin.run),
            Cmd::Vhost(a) => Some(&a.plugin.run),
            Cmd::Dump(a) => Some(&a.run),
            Cmd::Status(a) => Some(&a.run),
            Cmd::Snapshot(a) => Some(&a.run),
            Cmd::Instances(a) => Some(&a.run),
            Cmd::Manpage(_) => None,
        }
    }
}

/// argv[0] selects the applet; `apache-scoreboard` takes it as a subcommand.
#[derive(Parser, Debug)]
#[command(multicall = true, color = clap::ColorChoice::Never, defer = true)]
pub enum Applet {
    #[command(name = BINARY, version, about = "Nagios/Icinga checks that read Apache httpd's scoreboard from shared memory", subcommand_required = true, arg_required_else_help = true)]
    Main {
        #[command(subcommand)]
        cmd: Cmd,
    },
    #[command(flatten)]
    Direct(Cmd),
}

/// What a subcommand produced.
pub enum Report {
    /// A plugin result: status line, long output, perfdata.
    Plugin(Outcome, OutputLimits),
    /// Plain output of a non-check subcommand, exit 0.
    Text(String),
}

/// Set once the final report is written; the watchdog then stays silent.
static FINISHED: AtomicBool = AtomicBool::new(false);
static STDOUT: Mutex<()> = Mutex::new(());
static PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Writes the final report once, unless one was already written.
fn emit(text: &str) -> bool {
    let _guard = STDOUT.lock().unwrap_or_else(|e| e.into_inner());
    if FINISHED.swap(true, Ordering::SeqCst) {
        return false;
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    true
}

/// One UNKNOWN line.
pub fn unknown_line(message: &str) -> String {
    Outcome::unknown(message).render(SERVICE, &OutputLimits::default())
}

/// Runs the program: `abort` is called (from another thread) when the
/// timeout expires or SIGTERM arrives, after the UNKNOWN line is written; it
/// must end the process with exit code 3.
pub fn run(args: impl IntoIterator<Item = OsString>, abort: fn()) -> ExitCode {
    panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        *PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{msg}{at}"));
    }));
    // Before anything else: who runs this, from the kernel; the effective
    // capabilities are cleared here (see scoreboard::privilege).
    privilege::at_startup();
    // Signals first, so an engine's early kill still gets its UNKNOWN line.
    let watchdog = Watchdog::arm();
    let argv = normalize_argv0(args.into_iter().collect());
    let cmd = match Applet::try_parse_from(&argv) {
        Ok(Applet::Main { cmd } | Applet::Direct(cmd)) => cmd,
        Err(e) => {
            privilege::renounce();
            return finish_text(&clap_report(&e), State::Unknown);
        }
    };
    if !cmd.reads_segment() {
        privilege::renounce();
    }
    let run = cmd.run_args().cloned();
    // Subcommands without RunArgs (the man page) need no watchdog; a
    // SIGTERM that came during parsing is waiting in the socket pair.
    if let (Some(run), Some(watchdog)) = (&run, watchdog) {
        watchdog.start(run.timeout, abort);
    }
    let verbose = run.as_ref().map_or(0, |r| r.verbose);
    let result = panic::catch_unwind(AssertUnwindSafe(|| execute(cmd)));
    match result {
        Ok(Ok(Report::Plugin(outcome, limits))) => {
            finish_text(&outcome.render(SERVICE, &limits), outcome.state)
        }
        Ok(Ok(Report::Text(text))) => finish_text(&text, State::Ok),
        Ok(Err(e)) => finish_text(&unknown_line(&format!("{e:#}")), State::Unknown),
        Err(_) => {
            let msg = PANIC
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .unwrap_or_default();
            let mut outcome = Outcome::unknown(
                "internal error (a bug in apache-scoreboard; please report it with -v output)",
            );
            if verbose > 0 {
                outcome.long.push(format!("panic: {msg}"));
            }
            finish_text(
                &outcome.render(SERVICE, &OutputLimits::default()),
                State::Unknown,
            )
        }
    }
}

fn finish_text(text: &str, state: State) -> ExitCode {
    if emit(text) {
        ExitCode::from(state.exit_code() as u8)
    } else {
        // The watchdog already reported; it is exiting the process.
        ExitCode::from(3)
    }
}

/// A renamed binary still works: any argv[0] that is not an applet name is
/// taken as `apache-scoreboard`.
fn normalize_argv0(mut argv: Vec<OsString>) -> Vec<OsString> {
    let name = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_string();
    let known = Applet::command()
        .get_subcommands()
        .any(|c| c.get_name() == name);
    if argv.is_empty() {
        argv.push(BINARY.into());
    } else if !known {
        argv[0] = BINARY.into();
    } else {
        argv[0] = name.into();
    }
    argv
}

/// `--help` and `--version` print what they print and exit 3 like the
/// monitoring-plugins; usage errors become one UNKNOWN line.
fn clap_report(e: &clap::Error) -> String {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.render().to_string(),
        _ => {
            let text = e.render().to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ");
            unknown_line(&format!("invalid arguments: {first} (see --help)"))
        }
    }
}

/// The watchdog's inputs, set up before argument parsing so that an
/// engine's early SIGTERM is not lost: the signal handlers (signal-hook's,
/// no code of ours runs in signal context) write a byte into a socket pair
/// and raise a flag that tells SIGINT from SIGTERM.
struct Watchdog {
    wake: UnixStream,
    interrupted: Arc<AtomicBool>,
}

impl Watchdog {
    fn arm() -> Option<Watchdog> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let (wake, signalled) = UnixStream::pair().ok()?;
        let interrupted = Arc::new(AtomicBool::new(false));
        // The flag is registered first, so it is set before the byte wakes
        // the watchdog.
        signal_hook::flag::register(SIGINT, Arc::clone(&interrupted)).ok()?;
        signal_hook::low_level::pipe::register(SIGINT, signalled.try_clone().ok()?).ok()?;
        signal_hook::low_level::pipe::register(SIGTERM, signalled).ok()?;
        Some(Watchdog { wake, interrupted })
    }

    /// One thread waits for a signal or the timeout (0 = none), whichever
    /// comes first, writes the UNKNOWN line and calls `abort`. One thread, not
    /// one per cause: on a small VM each thread cost a quarter of a
    /// millisecond, a sixth of a whole check.
    fn start(self, timeout: u64, abort: fn()) {
        let _ = std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                let Watchdog {
                    mut wake,
                    interrupted,
                } = self;
                let limit = (timeout > 0).then(|| Duration::from_secs(timeout));
                if wake.set_read_timeout(limit).is_err() {
                    return;
                }
                let message = match wake.read(&mut [0u8]) {
                    Ok(1..) if interrupted.load(Ordering::SeqCst) => {
                        "terminated by SIGINT".to_string()
                    }
                    Ok(1..) => "terminated by SIGTERM".to_string(),
                    Err(e)
                        if limit.is_some()
                            && matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) =>
                    {
                        format!("timed out after {timeout} s (-t)")
                    }
                    // The write end is never closed; nothing else to report.
                    _ => return,
                };
                if emit(&unknown_line(&message)) {
                    abort();
                }
            });
    }
}

fn execute(cmd: Cmd) -> anyhow::Result<Report> {
    Ok(match cmd {
        Cmd::Busy(a) => checks::run(&a.plugin, &a.source, |l| busy::check(l, &a)),
        Cmd::Stuck(a) => checks::run(&a.plugin, &a.source, |l| stuck::check(l, &a)),
        Cmd::Vhost(a) => checks::run(&a.plugin, &a.source, |l| vhost::check(l, &a)),
        Cmd::Dump(a) => {
            let loaded = checks::load(&a.source, true)?;
            Report::Text(dump::render(&loaded, a.all, a.format, a.header))
        }
        Cmd::Status(a) => {
            let loaded = checks::load(&a.source, true)?;
            let limits = status::limits(&loaded, a.max_workers, a.threads_per_child);
            Report::Text(status::render(&loaded, limits))
        }
        Cmd::Snapshot(a) => {
            let loaded = checks::load(&a.source, true)?;
            Report::Text(snapshot::write(&loaded, &a.out)?)
        }
        Cmd::Instances(_) => Report::Text(instances::render()),
        Cmd::Manpage(a) => {
            let pages = man_pages()?;
            match a.dir {
                None => Report::Text(pages.into_iter().next().unwrap_or_default().1),
                Some(dir) => {
                    let mut names = Vec::new();
                    for (name, text) in pages {
                        let path = dir.join(&name);
                        std::fs::write(&path, text)
                            .map_err(|e| anyhow::anyhow!("write {}: {e}", path.display()))?;
                        names.push(name);
                    }
                    Report::Text(names.join("\n") + "\n")
                }
            }
        }
    })
}

// Options of the hidden `manpage` subcommand.
#[derive(Args, Debug)]
pub struct ManpageArgs {
    /// Write every page (see man_pages) into this directory instead of
    /// printing apache-scoreboard.1
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The man pages, as (file name, roff), apache-scoreboard.1 first: one for
/// the binary, one per check under its command name (check_scoreboard_busy.1,
/// ...; the name it is installed and run as, through its symlink), one per
/// other subcommand (apache-scoreboard-dump.1, ...), and for each check an
/// `apache-scoreboard-check_*.1` that sources the check's page, the name the
/// main page refers to.
pub fn man_pages() -> std::io::Result<Vec<(String, String)>> {
    // Subcommands are deferred (`defer = true`): build the whole tree, or
    // their pages would list no option.
    let mut applet = Applet::command().mut_subcommand(BINARY, |c| c.disable_help_subcommand(true));
    applet.build();
    let main = applet.find_subcommand(BINARY).cloned().unwrap_or(applet);
    let version = main.get_version().unwrap_or_default().to_string();
    let render = |cmd: clap::Command, title: &str| -> std::io::Result<String> {
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd)
            .title(title)
            .source(format!("{BINARY} {version}"))
            .manual(BINARY)
            .render(&mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    };
    let mut pages = vec![(format!("{BINARY}.1"), render(main.clone(), BINARY)?)];
    for sub in main.get_subcommands().filter(|c| !c.is_hide_set()) {
        let name = sub.get_name().to_string();
        if name.starts_with("check_") {
            let cmd = sub.clone().display_name(&name).bin_name(&name);
            pages.push((format!("{name}.1"), render(cmd, &name)?));
            pages.push((format!("{BINARY}-{name}.1"), format!(".so man1/{name}.1\n")));
        } else {
            let title = format!("{BINARY}-{name}");
            let cmd = sub
                .clone()
                .display_name(&title)
                .bin_name(format!("{BINARY} {name}"));
            pages.push((format!("{title}.1"), render(cmd, &title)?));
        }
    }
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Applet::command().debug_assert();
    }

    #[test]
    fn man_pages_list_every_option() {
        let pages = man_pages().expect("render");
        let page = |name: &str| {
            pages
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, text)| text.as_str())
                .unwrap_or_else(|| panic!("no page {name}"))
        };
        // roff escapes every `-`.
        let roff = |option: &str| format!("\\fB\\-\\-{}\\fR", option.replace('-', "\\-"));
        let mut app = Applet::command().mut_subcommand(BINARY, |c| c.disable_help_subcommand(true));
        app.build();
        let main = app.find_subcommand(BINARY).expect("main").clone();
        let mut checked = 0;
        for sub in main.get_subcommands().filter(|c| !c.is_hide_set()) {
            let name = sub.get_name();
            let file = if name.starts_with("check_") {
                assert_eq!(
                    page(&format!("{BINARY}-{name}.1")),
                    format!(".so man1/{name}.1\n")
                );
                format!("{name}.1")
            } else {
                format!("{BINARY}-{name}.1")
            };
            let text = page(&file);
            let longs: Vec<&str> = sub.get_arguments().filter_map(|a| a.get_long()).collect();
            // Deferred arguments not built would leave only --help.
            assert!(longs.contains(&"timeout"), "{name}: {longs:?}");
            if name != "instances" {
                assert!(text.contains(&roff("scoreboard")), "{file}");
            }
            for long in longs {
                assert!(text.contains(&roff(long)), "{file} lacks --{long}");
            }
            assert!(page(&format!("{BINARY}.1")).contains(&name.replace('-', "\\-")));
            checked += 1;
        }
        assert_eq!(checked, 7);
        assert!(!pages
            .iter()
            .any(|(n, _)| n.contains("help") || n.contains("manpage")));
    }

    #[test]
    fn unknown_argv0_is_the_main_binary() {
        let argv = normalize_argv0(vec![
            "/usr/lib/nagios/plugins/apache-scoreboard-1.0".into(),
            "status".into(),
        ]);
        assert_eq!(argv[0], OsString::from(BINARY));
        let argv = normalize_argv0(vec!["/x/check_stuck_requests".into()]);
        assert_eq!(argv[0], OsString::from("check_stuck_requests"));
    }
}

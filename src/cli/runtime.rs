//! The process around a subcommand: signal handlers and the watchdog
//! (timeout, SIGTERM, SIGINT), the panic hook, and writing the one final
//! report to stdout with its exit code 0-3. Nothing is written to stderr,
//! which Icinga 2 would merge into the status text.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::plugin::output::{Outcome, OutputLimits};
use crate::plugin::State;

/// The service name that starts every status line.
pub const SERVICE: &str = "SCOREBOARD";

/// What a subcommand produced.
pub enum Report {
    /// A plugin result: status line, long output, perfdata.
    Plugin(Outcome, OutputLimits),
    /// Plain output of a non-check subcommand, exit 0.
    Text(String),
}

/// A parsed command, as the dispatch hands it to the runtime. Each command
/// says how it is supervised: a one-shot check has a deadline (`-t`), a
/// long-running one none; every terminating signal still ends it with its
/// UNKNOWN line.
pub trait Job {
    /// Seconds after which the watchdog reports UNKNOWN and ends the
    /// process; `None` (or 0) for no deadline.
    fn deadline(&self) -> Option<u64>;
    /// `-v`: whether a panic's message goes into the long output.
    fn verbose(&self) -> u8;
    fn execute(self) -> anyhow::Result<Report>;
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

/// Runs the program: `parse` turns the arguments into a job; `abort` is
/// called (from another thread) when the timeout expires or SIGTERM
/// arrives, after the UNKNOWN line is written; it must end the process with
/// exit code 3.
pub fn run<J: Job>(
    args: impl IntoIterator<Item = OsString>,
    abort: fn(),
    parse: impl FnOnce(Vec<OsString>) -> Result<J, clap::Error>,
) -> ExitCode {
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
    // Signals first, so an engine's early kill still gets its UNKNOWN line.
    let watchdog = Watchdog::arm();
    let cmd = match parse(args.into_iter().collect()) {
        Ok(cmd) => cmd,
        Err(e) => return finish_text(&clap_report(&e), State::Unknown),
    };
    // A SIGTERM that came during parsing is waiting in the socket pair.
    if let Some(watchdog) = watchdog {
        watchdog.start(cmd.deadline().unwrap_or(0), abort);
    }
    let verbose = cmd.verbose();
    let result = panic::catch_unwind(AssertUnwindSafe(|| cmd.execute()));
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

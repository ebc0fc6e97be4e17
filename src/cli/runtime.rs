//! The process around a subcommand: signals and the `-t` timeout (the
//! [`watchdog`](crate::watchdog), armed here), the panic hook, and
//! writing the one final report to stdout with its exit code 0-3. Nothing
//! is written to stderr, which Icinga 2 would merge into the status text.
//!
//! No environment variable changes what a run does. The Rust runtime reads
//! `RUST_MIN_STACK` only for threads spawned without a stack size (the one
//! thread, the watchdog's around reads that may hang, has its own) and
//! `RUST_BACKTRACE`/`RUST_LIB_BACKTRACE` only to decide whether an error
//! or panic captures a backtrace, which is never printed.

use std::ffi::OsString;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;

use crate::plugin::output::{Outcome, OutputLimits};
use crate::plugin::State;
use crate::watchdog;

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
    /// A service (the exporter) handles SIGTERM and SIGINT itself and ends
    /// cleanly; the watchdog's handlers are removed for it.
    fn handles_signals(&self) -> bool {
        false
    }
    fn execute(self) -> anyhow::Result<Report>;
}

static PANIC: Mutex<Option<String>> = Mutex::new(None);

/// What every UNKNOWN line starts with (the signal handler's copy).
const UNKNOWN_START: &str = "SCOREBOARD UNKNOWN - ";

/// Writes the final report, unless a signal already wrote its line (the
/// process is then ending).
fn emit(text: &str) -> bool {
    if !watchdog::claim_report() {
        return false;
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    true
}

/// What a panic reports.
const INTERNAL_ERROR: &str =
    "internal error (a bug in apache-scoreboard; please report it with -v output)";

/// One UNKNOWN line.
pub fn unknown_line(message: &str) -> String {
    Outcome::unknown(message).render(SERVICE, &OutputLimits::default())
}

/// Runs the program: `parse` turns the arguments into a job. A signal or
/// the timeout ends the process from the signal handler (exit code 3).
pub fn run<J: Job>(
    args: impl IntoIterator<Item = OsString>,
    parse: impl FnOnce(Vec<OsString>) -> Result<J, clap::Error>,
) -> u8 {
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
    watchdog::install(UNKNOWN_START);
    let argv = args.into_iter().collect();
    let cmd = match panic::catch_unwind(AssertUnwindSafe(|| parse(argv))) {
        Ok(Ok(cmd)) => cmd,
        Ok(Err(e)) => return finish_text(&clap_report(&e), State::Unknown),
        Err(payload) => {
            std::mem::forget(payload);
            return finish_text(&unknown_line(INTERNAL_ERROR), State::Unknown);
        }
    };
    if cmd.handles_signals() {
        // A service ends cleanly on SIGTERM/SIGINT by itself.
        watchdog::uninstall();
    } else {
        // Subcommands without a deadline (the man page) have no timeout.
        watchdog::arm(cmd.deadline().unwrap_or(0));
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
            let mut outcome = Outcome::unknown(INTERNAL_ERROR);
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

/// The exit code (0-3) after the report.
fn finish_text(text: &str, state: State) -> u8 {
    if emit(text) {
        state.exit_code() as u8
    } else {
        // A signal's line was written; its handler is ending the process.
        3
    }
}

/// `--help` and `-V`/`--version` (on every subcommand and name) print what
/// they print and exit 3 like the monitoring-plugins; usage errors become
/// one UNKNOWN line.
fn clap_report(e: &clap::Error) -> String {
    use clap::error::ErrorKind;
    match e.kind() {
        // The same line whatever name the binary was run as.
        ErrorKind::DisplayVersion => {
            format!("apache-scoreboard {}\n", env!("CARGO_PKG_VERSION"))
        }
        ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            e.render().to_string()
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_lines_are_unknown_lines() {
        assert_eq!(unknown_line("x"), format!("{UNKNOWN_START}x\n"));
    }
}

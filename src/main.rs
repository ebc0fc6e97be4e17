//! Thin entry point: everything lives in the library so tests can call it
//! in-process. The only `process::exit` is here: the watchdog (timeout,
//! SIGTERM) calls it after writing its UNKNOWN line.
fn main() -> std::process::ExitCode {
    apache_scoreboard::cli::run(std::env::args_os(), abort_unknown)
}

fn abort_unknown() {
    std::process::exit(3)
}

//! Thin entry point: everything lives in the library so tests can call it
//! in-process. The exit code is `main`'s return value; the only other way
//! out is the signal handler's `_exit(3)` after its UNKNOWN line
//! (`cli::signals`).
fn main() -> std::process::ExitCode {
    apache_scoreboard::cli::run(std::env::args_os())
}

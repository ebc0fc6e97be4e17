//! Running the real binary, directly and through argv[0] symlinks.

use std::path::Path;
use std::process::{Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_apache-scoreboard");

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run_program(program: &Path, args: &[String]) -> Run {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run apache-scoreboard");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `apache-scoreboard ARGS`; stderr must stay empty.
pub fn run_bin(args: &[String]) -> Run {
    let run = run_program(Path::new(BIN), args);
    assert!(run.stderr.is_empty(), "stderr: {}", run.stderr);
    run
}

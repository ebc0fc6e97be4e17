//! The binary. The library is the whole program, so tests can call it in
//! process; its entry point, `watchdog::signals::apache_scoreboard_main`,
//! is the process's `main`: build.rs links that symbol under this name,
//! and `#![no_main]` leaves out the Rust runtime's start-up, which that
//! entry replaces by the part this program needs (see its comment).
#![no_main]

use apache_scoreboard as _;

//! Links the library's entry point (`watchdog::signals::apache_scoreboard_main`)
//! as the binary's `main` (src/main.rs is `#![no_main]`). Only the binary:
//! tests and benchmarks keep their harness's `main`. Both GNU ld and lld
//! read these flags; `--undefined` makes the linker take the symbol from
//! the library's archive even though nothing else names it.
fn main() {
    for arg in [
        "-Wl,--undefined=apache_scoreboard_main",
        "-Wl,--defsym=main=apache_scoreboard_main",
    ] {
        println!("cargo:rustc-link-arg-bin=apache-scoreboard={arg}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}

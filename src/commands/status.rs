//! `status`: mod_status's `?auto` lines computed from the segment
//! ([`crate::measure::auto`]).

use std::fmt::Write;

use crate::measure::auto::fields;
use crate::scoreboard::{rules, Loaded, MpmLimits};

/// The `?auto` report.
pub fn render(loaded: &Loaded, limits: MpmLimits) -> String {
    let s = rules::summarize(&loaded.scoreboard, loaded.rules(), limits);
    let mut out = String::new();
    for (k, val) in fields(loaded, &s) {
        let val = val.to_string();
        let _ = writeln!(out, "{k}:{}{val}", if val.is_empty() { "" } else { " " });
    }
    out
}

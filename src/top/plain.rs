//! The plain-text frame `top` prints when stdout is not a terminal (or
//! with `--once`): the same header, map and tables as the screen, no
//! escape sequence, nothing cut to a screen's size (every request in flight
//! on a row of its own), for scripts and bug reports.

use std::fmt::Write;

use super::view::{self, Sample, Ui};
use crate::scoreboard::status;

/// Slots per map line (mod_status's Scoreboard lines are as wide).
const MAP_WIDTH: usize = 64;

/// The whole frame.
pub fn render(s: &Sample, ui: &Ui) -> String {
    let mut out = String::new();
    for line in [
        view::title_line(s, ui),
        view::pool_line(s),
        view::rates_line(s),
    ] {
        let _ = writeln!(out, "{line}");
    }
    if let Some(e) = &s.error {
        let _ = writeln!(out, "error: {e}");
    }
    let _ = writeln!(out, "\nScoreboard ({}; lower case: disabled)", view::LEGEND);
    map(&mut out, s);
    let workers = ui.workers(s);
    let _ = writeln!(out, "\n{}", view::workers_title(s, ui, workers.len()));
    let rows: Vec<Vec<String>> = workers
        .into_iter()
        .map(|w| view::worker_cells(s, w))
        .collect();
    table(&mut out, &view::worker_titles(s), &rows);
    let groups = ui.groups(s);
    let _ = writeln!(out, "\n{}", view::groups_title(s, ui, groups.len()));
    let rows: Vec<Vec<String>> = groups.into_iter().map(view::group_cells).collect();
    table(&mut out, &view::GROUP_TITLES, &rows);
    out
}

/// `slot pid cells` per process slot (wrapped at [`MAP_WIDTH`]); for one
/// worker per process, the slots in runs of [`MAP_WIDTH`].
fn map(out: &mut String, s: &Sample) {
    let shown = |c: &view::Cell| {
        let ch = status::char_of(c.status);
        // No colour here: a disabled slot is told apart by its case, and a
        // disabled open slot as a blank.
        match (c.disabled, ch) {
            (false, ch) => ch,
            (true, '.') => ' ',
            (true, ch) => ch.to_ascii_lowercase(),
        }
    };
    let threads = s.map.first().map_or(0, |r| r.cells.len());
    if threads > 1 {
        for row in &s.map {
            let pid = if row.pid == 0 {
                "-".to_string()
            } else {
                row.pid.to_string()
            };
            for (i, chunk) in row.cells.chunks(MAP_WIDTH).enumerate() {
                let cells: String = chunk.iter().map(shown).collect();
                if i == 0 {
                    let _ = writeln!(out, "{:>3} {pid:>7} {}", row.process_slot, cells.trim_end());
                } else {
                    let _ = writeln!(out, "{:>11} {}", "", cells.trim_end());
                }
            }
        }
    } else {
        let cells: Vec<char> = s.map.iter().flat_map(|r| &r.cells).map(shown).collect();
        for (i, chunk) in cells.chunks(MAP_WIDTH).enumerate() {
            let line: String = chunk.iter().collect();
            let _ = writeln!(out, "{:>5} {}", i * MAP_WIDTH, line.trim_end());
        }
    }
}

/// Columns padded to their widest cell, two spaces apart; the last one
/// unpadded.
fn table(out: &mut String, titles: &[&str], rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..titles.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([titles[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i + 1 == widths.len() {
                text.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count());
                text.push_str(cell);
                text.push_str(&" ".repeat(pad + 2));
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(out, &mut titles.iter().copied());
    for r in rows {
        line(out, &mut r.iter().map(String::as_str));
    }
}

//! `instances`: running httpd parents and the scoreboards they map.

use crate::scoreboard::{self, ReadOptions};
use crate::shm::proc as live;

pub fn render() -> String {
    let found = live::instances();
    if found.is_empty() {
        return "no running httpd found\n".into();
    }
    let mut out = String::new();
    for i in found {
        let binary = i
            .binary
            .as_ref()
            .map_or("?".to_string(), |b| b.display().to_string());
        let version = scoreboard::binary_version(i.pid).map_or("?".to_string(), |v| v.to_string());
        let mut line = format!(
            "pid {}\tbinary {binary}\tversion {version}\tconfig {}\tmpm {}",
            i.pid,
            i.config.as_deref().unwrap_or("?"),
            i.mpm.as_deref().unwrap_or("?")
        );
        if let Some(seg) = &i.segment {
            let opts = ReadOptions {
                scoreboard: Some(seg.into()),
                ..ReadOptions::default()
            };
            let layout = match scoreboard::load(&opts) {
                Ok(l) => {
                    let g = l.scoreboard.global();
                    format!(
                        "{} ServerLimit {} ThreadLimit {}",
                        l.scoreboard.layout().name(),
                        g.server_limit,
                        g.thread_limit
                    )
                }
                Err(e) => format!("unreadable: {e}"),
            };
            line.push_str(&format!("\tsegment {seg}\tlayout {layout}"));
        }
        if let Some(note) = &i.note {
            line.push_str(&format!("\tnote {note}"));
        }
        out.push_str(&crate::plugin::text::escape_str(&line).replace("\\x09", "\t"));
        out.push('\n');
    }
    out
}

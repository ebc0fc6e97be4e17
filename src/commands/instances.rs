//! `instances`: every running httpd parent, what it was started with and
//! the scoreboard it maps: a block per instance, one `name: value` line
//! per figure, each figure with where it came from.

use crate::httpd::{mpm_name, RunningConfig};
use crate::plugin::text::escape_str;
use crate::scoreboard::{self, ReadOptions};
use crate::shm::proc as live;

pub fn render() -> String {
    let found = live::instances();
    if found.is_empty() {
        return "no running httpd found\n".into();
    }
    // The segments first, then the configurations.
    let segments: Vec<Option<String>> = found
        .iter()
        .map(|i| i.segment.as_deref().map(describe_segment))
        .collect();
    let mut out = String::new();
    for (i, segment) in found.into_iter().zip(segments) {
        let config = RunningConfig::shared(i.pid, None);
        let mut lines = vec![format!("httpd pid {}", i.pid)];
        let mut item = |name: &str, value: String| lines.push(format!("  {name:<14}{value}"));
        match config.as_ref() {
            Err(e) => item("configuration", format!("unknown: {e}")),
            Ok(c) => {
                item(
                    "binary",
                    format!(
                        "{} (version {})",
                        c.binary
                            .as_ref()
                            .map_or("unknown".into(), |b| b.display().to_string()),
                        c.version.map_or("unknown".into(), |v| v.to_string())
                    ),
                );
                item(
                    "mpm",
                    c.conf.mpm.as_ref().map_or("unknown".into(), |m| {
                        format!("{} ({})", mpm_name(m.value), m.source)
                    }),
                );
                item(
                    "configuration",
                    format!(
                        "{} (ServerRoot {}, {} files)",
                        c.conf.config_file.display(),
                        c.conf.server_root.display(),
                        c.conf.files.len()
                    ),
                );
                item(
                    "scoreboard",
                    match &c.conf.scoreboard_file {
                        Some(f) => format!("{} ({})", f.value.display(), f.source),
                        None => format!(
                            "anonymous: add `{}` to {} to read it",
                            c.scoreboard_file_suggestion(),
                            c.conf.config_file.display()
                        ),
                    },
                );
                item(
                    "capacity",
                    match c.capacity() {
                        Ok(f) => format!(
                            "MaxRequestWorkers {}, ThreadsPerChild {}",
                            f.max_request_workers.describe(),
                            f.threads_per_child.describe()
                        ),
                        Err(e) => format!("unknown: {e}"),
                    },
                );
                if let Some(f) = &c.figures {
                    item(
                        "limits",
                        format!(
                            "ServerLimit {}, ThreadLimit {}",
                            f.server_limit.describe(),
                            f.thread_limit.describe()
                        ),
                    );
                }
                let listen: Vec<String> = c.conf.listen.iter().map(|l| l.describe()).collect();
                item(
                    "listen",
                    if listen.is_empty() {
                        "none configured".into()
                    } else {
                        listen.join(", ")
                    },
                );
                item(
                    "extended",
                    format!(
                        "ExtendedStatus {} ({})",
                        if c.conf.extended_status.value {
                            "On"
                        } else {
                            "Off"
                        },
                        c.conf.extended_status.source
                    ),
                );
                for v in &c.conf.vhosts {
                    let mut text = format!(
                        "{} {}",
                        v.addresses.join(" "),
                        v.server_name.as_deref().unwrap_or("(no ServerName)")
                    );
                    if !v.aliases.is_empty() {
                        text.push_str(&format!(" alias {}", v.aliases.join(" ")));
                    }
                    if let (true, Some((user, group))) = (c.conf.itk, &v.assign_user_id) {
                        text.push_str(&format!(" AssignUserID {user} {group}"));
                    }
                    if let (true, Some(n)) = (c.conf.itk, v.max_clients_vhost) {
                        text.push_str(&format!(" MaxClientsVHost {n}"));
                    }
                    item("vhost", format!("{text} ({})", v.source));
                }
                for why in &c.conf.incomplete {
                    item("incomplete", why.clone());
                }
                let changed = c
                    .started_at()
                    .map(|t| c.changed_since(t))
                    .unwrap_or_default();
                for f in changed {
                    item(
                        "changed",
                        format!(
                            "{} since httpd started (a restart may have applied it)",
                            f.display()
                        ),
                    );
                }
            }
        }
        if let Some(segment) = segment {
            item("segment", segment);
        }
        if let Some(note) = &i.note {
            item("note", note.clone());
        }
        for line in lines {
            out.push_str(&escape_str(&line));
            out.push('\n');
        }
    }
    out
}

/// A segment's path, layout and limits, or why it cannot be read.
fn describe_segment(seg: &str) -> String {
    let opts = ReadOptions {
        scoreboard: Some(seg.into()),
        ..ReadOptions::default()
    };
    match scoreboard::load(&opts) {
        Ok(l) => {
            let g = l.scoreboard.global();
            format!(
                "{seg}, layout {}, ServerLimit {}, ThreadLimit {}",
                l.scoreboard.layout().name(),
                g.server_limit,
                g.thread_limit
            )
        }
        // The error names the segment.
        Err(e) => format!("unreadable: {e}"),
    }
}

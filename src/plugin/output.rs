//! The plugin report: a check's [`Outcome`] and its rendering as
//!
//! ```text
//! SERVICE STATE - summary | perfdata perfdata ...
//! long output line
//! ... N more not shown (use --max-lines)
//! ```
//!
//! All perfdata sits on the first line (the only place every consumer parses
//! it). Summary and long lines pass through [`escaped`], so no `|` or
//! newline from them can break the format, and long output is bounded.

use super::perfdata::Perfdata;
use std::borrow::Cow;
use std::fmt::Write;

use super::text::escaped;
use super::State;

/// What a check found: state, one-line summary, long-output lines, metrics.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub state: State,
    pub summary: String,
    pub long: Vec<String>,
    pub perfdata: Vec<Perfdata>,
}

/// Bounds for the long output. `max_lines` long lines at most (the "more"
/// notice not counted); the whole text at most `max_bytes` where possible:
/// the first line with all perfdata is always kept whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    pub max_lines: usize,
    pub max_bytes: usize,
}

impl OutputLimits {
    /// `--max-lines`: an explicit line count is honoured even past the NRPE
    /// v2 size; without one, the defaults.
    pub fn for_max_lines(max_lines: Option<usize>) -> OutputLimits {
        match max_lines {
            Some(n) => OutputLimits {
                max_lines: n,
                max_bytes: 65_000,
            },
            None => OutputLimits::default(),
        }
    }
}

impl Default for OutputLimits {
    /// 10 lines, 1000 bytes: fits NRPE v2 / NSClient++ (1 KiB) packets.
    fn default() -> Self {
        OutputLimits {
            max_lines: 10,
            max_bytes: 1000,
        }
    }
}

impl Outcome {
    pub fn new(state: State, summary: impl Into<String>) -> Self {
        Outcome {
            state,
            summary: summary.into(),
            long: Vec::new(),
            perfdata: Vec::new(),
        }
    }

    /// An UNKNOWN outcome for errors, e.g. `cannot open /x: permission denied`.
    pub fn unknown(message: impl Into<String>) -> Self {
        Outcome::new(State::Unknown, message)
    }

    /// The full plugin output, ending in a newline.
    pub fn render(&self, service: &str, limits: &OutputLimits) -> String {
        let mut out = String::with_capacity(limits.max_bytes.min(4096));
        out.push_str(&escaped(service));
        out.push(' ');
        // Writing to a String cannot fail.
        let _ = write!(out, "{}", self.state);
        out.push_str(" - ");
        out.push_str(&escaped(&self.summary));
        for (i, p) in self.perfdata.iter().enumerate() {
            out.push_str(if i == 0 { " | " } else { " " });
            let _ = write!(out, "{p}");
        }
        out.push('\n');

        let lines: Vec<Cow<'_, str>> = self.long.iter().map(|l| escaped(l)).collect();
        let total = lines.len();
        let (mut shown, mut by_bytes) = (0, false);
        for line in lines.iter().take(limits.max_lines) {
            // Keep room for the notice about the lines after this one.
            let rest = total - shown - 1;
            let reserve = if rest > 0 {
                notice(rest, false, limits).len() + 1
            } else {
                0
            };
            if out.len() + line.len() + 1 + reserve > limits.max_bytes {
                by_bytes = true;
                break;
            }
            out.push_str(line);
            out.push('\n');
            shown += 1;
        }
        if shown < total {
            out.push_str(&notice(total - shown, by_bytes, limits));
            out.push('\n');
        }
        out
    }
}

fn notice(more: usize, by_bytes: bool, limits: &OutputLimits) -> String {
    if by_bytes {
        format!(
            "... {more} more not shown (output limit {} bytes)",
            limits.max_bytes
        )
    } else {
        format!("... {more} more not shown (use --max-lines)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::verdict::Thresholds;

    fn lines(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("worker {i} busy")).collect()
    }

    #[test]
    fn renders_first_line_long_output_and_perfdata() {
        let mut o = Outcome::new(State::Warning, "85 of 100 workers busy (85%)");
        o.long = lines(2);
        let w = Thresholds {
            warning: Some("80".parse().unwrap()),
            critical: None,
        };
        o.perfdata
            .push(Perfdata::new("busy", 85.0).uom("%").thresholds(&w));
        o.perfdata.push(Perfdata::new("idle", 15.0));
        assert_eq!(
            o.render("SCOREBOARD", &OutputLimits::default()),
            "SCOREBOARD WARNING - 85 of 100 workers busy (85%) | busy=85%;80 idle=15\n\
             worker 1 busy\nworker 2 busy\n"
        );
    }

    #[test]
    fn renders_unknown_without_perfdata() {
        let o = Outcome::unknown("cannot open /x: permission denied");
        assert_eq!(
            o.render("SCOREBOARD", &OutputLimits::default()),
            "SCOREBOARD UNKNOWN - cannot open /x: permission denied\n"
        );
        assert_eq!(o.state.exit_code(), 3);
    }

    #[test]
    fn bounds_lines() {
        let mut o = Outcome::new(State::Ok, "fine");
        o.long = lines(12);
        let text = o.render("S", &OutputLimits::default());
        let got: Vec<&str> = text.lines().collect();
        assert_eq!(got.len(), 1 + 10 + 1);
        assert_eq!(got[10], "worker 10 busy");
        assert_eq!(got[11], "... 2 more not shown (use --max-lines)");

        o.long = lines(10);
        assert_eq!(o.render("S", &OutputLimits::default()).lines().count(), 11);
        let none = OutputLimits {
            max_lines: 0,
            ..Default::default()
        };
        assert_eq!(
            o.render("S", &none),
            "S OK - fine\n... 10 more not shown (use --max-lines)\n"
        );
    }

    #[test]
    fn bounds_bytes() {
        let mut o = Outcome::new(State::Critical, "stuck");
        o.perfdata.push(Perfdata::new("stuck", 500.0));
        o.long = (0..500)
            .map(|i| format!("{i:03} {}", "x".repeat(40)))
            .collect();
        for max_bytes in [0, 60, 200, 1000, 4096] {
            let limits = OutputLimits {
                max_lines: 1000,
                max_bytes,
            };
            let text = o.render("S", &limits);
            let all: Vec<&str> = text.lines().collect();
            assert_eq!(all[0], "S CRITICAL - stuck | stuck=500");
            let more = all.last().unwrap();
            let shown = all.len() - 2;
            assert_eq!(
                *more,
                format!(
                    "... {} more not shown (output limit {max_bytes} bytes)",
                    500 - shown
                )
            );
            // within the limit whenever the first line and notice fit at all
            if max_bytes >= 200 {
                assert!(text.len() <= max_bytes, "{max_bytes}: {}", text.len());
                assert!(text.len() + 45 > max_bytes, "{max_bytes}: wasted room");
            }
        }
    }

    #[test]
    fn injection_is_neutralised() {
        let evil = "a|b'c=d\ne\rf\tg\x1b[31mh\0i|x=1";
        let mut o = Outcome::new(State::Critical, evil);
        o.long = vec![
            evil.to_owned(),
            format!("GET /{evil} HTTP/1.1"),
            "| y=2".to_owned(),
        ];
        o.perfdata.push(Perfdata::new(evil, 1.0));
        o.perfdata.push(Perfdata::new("ok", 2.0));
        let text = o.render("SCOREBOARD", &OutputLimits::default());

        let all: Vec<&str> = text.lines().collect();
        assert_eq!(all.len(), 1 + o.long.len(), "{text}");
        assert_eq!(all[0].matches('|').count(), 1, "{}", all[0]);
        assert!(
            all[0].ends_with(" | a_b_c_d_e_f_g_31mh_i_x_1=1 ok=2"),
            "{}",
            all[0]
        );
        assert!(all[1..].iter().all(|l| !l.contains('|')), "{text}");
        assert!(text.ends_with('\n'));
        assert_eq!(text.matches('\n').count(), all.len());
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
    }
}

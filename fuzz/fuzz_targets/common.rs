//! What every fuzz target checks of the binary's output: a rendered check
//! (one status line with all perfdata, escaped long output) and an error
//! (one UNKNOWN line), neither with control bytes.

use apache_scoreboard::cli::SERVICE;
use apache_scoreboard::plugin::output::{Outcome, OutputLimits};

pub fn assert_no_control(text: &str, allowed: &str) {
    if let Some(c) = text
        .chars()
        .find(|&c| c.is_control() && !allowed.contains(c))
    {
        panic!("control character {c:?} in {text:?}");
    }
}

/// An error as the binary prints it: one `SCOREBOARD UNKNOWN - ` line.
pub fn check_error_line(message: &str) {
    let text = Outcome::unknown(message).render(SERVICE, &OutputLimits::default());
    assert_eq!(text.matches('\n').count(), 1, "{text:?}");
    assert!(text.starts_with("SCOREBOARD UNKNOWN - "), "{text:?}");
    assert_no_control(&text, "\n");
}

/// A check's outcome rendered with the default and a large output limit:
/// exactly one `|` on the first line and none after it, no control bytes,
/// perfdata values plain non-negative numbers, labels without `'`, `=`,
/// space or `|`.
pub fn check_rendered(outcome: &Outcome) {
    let limits = [
        OutputLimits::default(),
        OutputLimits {
            max_lines: 1000,
            max_bytes: 65_000,
        },
    ];
    for limits in limits {
        let text = outcome.render(SERVICE, &limits);
        assert!(text.ends_with('\n'), "{text:?}");
        assert_no_control(&text, "\n");
        let mut lines = text.lines();
        let first = lines.next().unwrap_or("");
        assert!(first.starts_with("SCOREBOARD "), "{first:?}");
        for line in lines {
            assert!(!line.contains('|'), "| in long output: {line:?}");
        }
        if outcome.perfdata.is_empty() {
            assert!(!first.contains('|'), "{first:?}");
            continue;
        }
        assert_eq!(first.matches('|').count(), 1, "{first:?}");
        let perf = first.split_once(" | ").map_or("", |(_, p)| p);
        let tokens: Vec<&str> = perf.split(' ').collect();
        assert_eq!(tokens.len(), outcome.perfdata.len(), "{perf:?}");
        for token in tokens {
            let (label, rest) = token
                .rsplit_once('=')
                .unwrap_or_else(|| panic!("{token:?}"));
            let label = label
                .strip_prefix('\'')
                .and_then(|l| l.strip_suffix('\''))
                .unwrap_or(label);
            assert!(
                !label.is_empty() && !label.contains(['\'', '=', ' ', '|']),
                "{token:?}"
            );
            let value = rest.split(';').next().unwrap_or("");
            let number = value.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '%');
            let v: f64 = number
                .parse()
                .unwrap_or_else(|_| panic!("perfdata value {value:?} in {token:?}"));
            assert!(v.is_finite() && v >= 0.0, "{token:?}");
            assert!(!number.contains(['e', 'E', ',']), "{token:?}");
        }
    }
}


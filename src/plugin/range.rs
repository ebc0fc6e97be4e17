//! Nagios threshold ranges `[@][start:][end]` (monitoring-plugins development
//! guidelines): parsing, evaluation, human text and the canonical form that
//! perfdata carries.
//!
//! `start` defaults to 0, `~` means -inf, a missing end means +inf, both ends
//! are inclusive. Without `@` a value alerts when it lies *outside* the range,
//! with `@` when it lies *inside*.

use std::fmt;
use std::str::FromStr;

use super::text;

/// A parsed threshold range. Endpoints are finite except `start = -inf`
/// (`~`) and `end = +inf` (empty end); `start <= end` always holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    start: f64,
    end: f64,
    inverted: bool,
}

/// Why a range string was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RangeErrorKind {
    #[error("empty")]
    Empty,
    #[error("not a number")]
    NotANumber,
    #[error("start is greater than end")]
    StartGreaterThanEnd,
}

/// A rejected range string, e.g. `invalid range '20:10': start is greater than end`.
/// The input is stored escaped ([`text::escape_str`]), so the message is one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid range '{input}': {kind}")]
pub struct RangeError {
    pub input: String,
    pub kind: RangeErrorKind,
}

impl FromStr for Range {
    type Err = RangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |kind| RangeError {
            input: text::escape_str(s),
            kind,
        };
        let (inverted, body) = match s.strip_prefix('@') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        if body.is_empty() {
            return Err(err(RangeErrorKind::Empty));
        }
        let number = |t: &str| {
            t.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or(err(RangeErrorKind::NotANumber))
        };
        let (start, end) = match body.split_once(':') {
            None => (0.0, number(body)?),
            Some((start, end)) => {
                let start = match start {
                    "" => 0.0,
                    "~" => f64::NEG_INFINITY,
                    t => number(t)?,
                };
                let end = if end.is_empty() {
                    f64::INFINITY
                } else {
                    number(end)?
                };
                (start, end)
            }
        };
        if start > end {
            return Err(err(RangeErrorKind::StartGreaterThanEnd));
        }
        Ok(Range {
            start,
            end,
            inverted,
        })
    }
}

impl Range {
    /// Whether `value` triggers this threshold. NaN lies outside every range.
    pub fn alerts(&self, value: f64) -> bool {
        let inside = self.start <= value && value <= self.end;
        inside == self.inverted
    }

    /// `0:end`: alerts above `end` (and below 0).
    pub fn up_to(end: f64) -> Range {
        Range {
            start: 0.0,
            end,
            inverted: false,
        }
    }

    /// Human text for the status line: `outside 0:80`, `less than 10`,
    /// `greater than 10`, `inside 10:20`, `at least 5`, `at most 5`.
    pub fn violation(&self) -> String {
        let (lo, hi) = (self.start.is_finite(), self.end.is_finite());
        match (self.inverted, lo, hi) {
            (false, false, true) => format!("greater than {}", endpoint(self.end)),
            (false, true, false) => format!("less than {}", endpoint(self.start)),
            (true, false, true) => format!("at most {}", endpoint(self.end)),
            (true, true, false) => format!("at least {}", endpoint(self.start)),
            (false, _, _) => format!("outside {}", self.explicit()),
            (true, _, _) => format!("inside {}", self.explicit()),
        }
    }

    /// `start:end` with `~` for -inf and an empty end for +inf.
    fn explicit(&self) -> String {
        let start = if self.start.is_finite() {
            endpoint(self.start)
        } else {
            "~".to_owned()
        };
        let end = if self.end.is_finite() {
            endpoint(self.end)
        } else {
            String::new()
        };
        format!("{start}:{end}")
    }
}

/// An endpoint in the shortest decimal form that parses back to the same
/// number, never with an exponent (`0.0000001`, `657.8210567`, `1e20` as
/// `100000000000000000000`): Rust's `Display` for `f64` is exactly that.
/// `-0` is written `0`.
fn endpoint(v: f64) -> String {
    if v == 0.0 {
        "0".to_owned()
    } else {
        v.to_string()
    }
}

/// Canonical form that parses back to the same range: `10`, `10:`, `~:10`,
/// `10:20`, `@10:20`, `@~:5`. Perfdata carries this form too: Icinga 2
/// keeps only plain numbers, so a non-inverted `0:N` is written `N`; every
/// other range has no exact plain form and keeps its range syntax.
impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.inverted {
            f.write_str("@")?;
        }
        if self.start == 0.0 && self.end.is_finite() {
            f.write_str(&endpoint(self.end))
        } else {
            f.write_str(&self.explicit())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Range {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn guideline_table() {
        let table: &[(&str, &[f64], &[f64])] = &[
            // range, alerting values, quiet values
            ("10", &[-0.1, -5.0, 10.1, 11.0], &[0.0, 5.0, 10.0]),
            ("10:", &[9.9, -1.0], &[10.0, 10.1, 1e9]),
            ("~:10", &[10.1, 11.0], &[10.0, -1e9, 0.0]),
            ("10:20", &[9.9, 20.1, 0.0], &[10.0, 15.0, 20.0]),
            ("@10:20", &[10.0, 15.0, 20.0], &[9.9, 20.1, 0.0]),
            ("@~:5", &[5.0, -1e9], &[5.1]),
            ("-5:5", &[-5.1, 5.1], &[-5.0, 0.0, 5.0]),
            ("0.5", &[0.51, -0.1], &[0.0, 0.5]),
        ];
        for &(s, alert, quiet) in table {
            for &v in alert {
                assert!(r(s).alerts(v), "{s} should alert on {v}");
            }
            for &v in quiet {
                assert!(!r(s).alerts(v), "{s} should not alert on {v}");
            }
        }
        assert!(r("10").alerts(f64::NAN));
    }

    #[test]
    fn round_trip() {
        for (input, canonical) in [
            ("10", "10"),
            ("0:10", "10"),
            (":10", "10"),
            ("10:", "10:"),
            ("0:", "0:"),
            ("~:10", "~:10"),
            ("~:", "~:"),
            ("10:20", "10:20"),
            ("@10:20", "@10:20"),
            ("@~:5", "@~:5"),
            ("@0:5", "@5"),
            ("@5:", "@5:"),
            ("-5:5", "-5:5"),
            ("-10:-5", "-10:-5"),
            ("0.5", "0.5"),
            ("1.50:2.25", "1.5:2.25"),
            ("10.0", "10"),
            ("1e3", "1000"),
            ("-0:3", "3"),
        ] {
            let range = r(input);
            assert_eq!(range.to_string(), canonical, "{input}");
            assert_eq!(r(canonical), range, "{input} re-parsed");
        }
    }

    #[test]
    fn errors() {
        use RangeErrorKind::*;
        for (input, kind) in [
            ("", Empty),
            ("@", Empty),
            ("abc", NotANumber),
            ("10:abc", NotANumber),
            ("10:~", NotANumber),
            ("~", NotANumber),
            ("NaN", NotANumber),
            ("inf", NotANumber),
            ("1,5", NotANumber),
            (" 10", NotANumber),
            ("@@5", NotANumber),
            ("1:2:3", NotANumber),
            ("20:10", StartGreaterThanEnd),
            ("@5:-5", StartGreaterThanEnd),
        ] {
            assert_eq!(input.parse::<Range>().unwrap_err().kind, kind, "{input:?}");
        }
        let msg = |s: &str| s.parse::<Range>().unwrap_err().to_string();
        assert_eq!(
            msg("20:10"),
            "invalid range '20:10': start is greater than end"
        );
        assert_eq!(msg("abc"), "invalid range 'abc': not a number");
        assert_eq!(msg("a|\nb"), "invalid range 'a\\x7c\\x0ab': not a number");
    }

    #[test]
    fn violation_text() {
        for (s, text) in [
            ("80", "outside 0:80"),
            ("10:20", "outside 10:20"),
            ("10:", "less than 10"),
            ("~:10", "greater than 10"),
            ("@10:20", "inside 10:20"),
            ("@~:5", "at most 5"),
            ("@5:", "at least 5"),
        ] {
            assert_eq!(r(s).violation(), text, "{s}");
        }
    }

    #[test]
    fn perfdata_form_is_plain_when_exact() {
        assert_eq!(r("0:80").to_string(), "80");
        assert_eq!(r("80.5").to_string(), "80.5");
        assert_eq!(r("10:").to_string(), "10:");
        assert_eq!(r("@10:20").to_string(), "@10:20");
    }

    #[test]
    fn endpoints_keep_every_digit() {
        for (input, canonical, violation) in [
            ("0.0000001", "0.0000001", "outside 0:0.0000001"),
            ("@0:657.8210567", "@657.8210567", "inside 0:657.8210567"),
            (
                "1e20",
                "100000000000000000000",
                "outside 0:100000000000000000000",
            ),
            ("~:-1.5e-9", "~:-0.0000000015", "greater than -0.0000000015"),
            (
                "123456789.123456789:",
                "123456789.12345679:",
                "less than 123456789.12345679",
            ),
        ] {
            assert_eq!(r(input).to_string(), canonical, "{input}");
            assert_eq!(r(input).violation(), violation, "{input}");
        }
    }

    /// Property: every range prints in a form without an exponent that
    /// parses back to the same range. Endpoints are drawn from random bit
    /// patterns (every magnitude), short decimals and integers.
    #[test]
    fn printed_ranges_parse_back_exactly() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let number = |next: &mut dyn FnMut() -> u64| -> f64 {
            let bits = next();
            let v = match bits % 4 {
                0 => f64::from_bits(next()),
                1 => (next() % 2_000_001) as f64 / 1000.0 - 1000.0,
                2 => (next() % 100_000) as f64 * 10f64.powi((next() % 40) as i32 - 20),
                _ => (next() % 1_000_000) as f64,
            };
            if v.is_finite() {
                v
            } else {
                1.0
            }
        };
        for _ in 0..20_000 {
            let (a, b) = (number(&mut next), number(&mut next));
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let inverted = next() % 2 == 0;
            let range = match next() % 4 {
                0 => Range {
                    start: 0.0,
                    end: hi.abs(),
                    inverted,
                },
                1 => Range {
                    start: lo,
                    end: hi,
                    inverted,
                },
                2 => Range {
                    start: lo,
                    end: f64::INFINITY,
                    inverted,
                },
                _ => Range {
                    start: f64::NEG_INFINITY,
                    end: hi,
                    inverted,
                },
            };
            let text = range.to_string();
            assert!(!text.contains(['e', 'E']), "{text}");
            assert_eq!(r(&text), range, "{text}");
            let violation = range.violation();
            let shown = violation.rsplit(' ').next().unwrap_or("");
            assert!(!shown.contains(['e', 'E']), "{violation}");
        }
    }
}

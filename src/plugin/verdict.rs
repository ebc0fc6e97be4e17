//! The one threshold judge: a value against `-w` and `-c`, critical first,
//! returning the state together with the range that fired (the habit of
//! nagiosplugin's `ScalarContext.evaluate`), so a check never evaluates
//! twice to learn why; the same ranges then go into the perfdata.

use super::number::format_number;
use super::range::Range;
use super::State;

/// Warning and critical ranges, either may be absent.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Thresholds {
    pub warning: Option<Range>,
    pub critical: Option<Range>,
}

/// The state of a value and the range that decided it (none for OK).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Verdict {
    pub state: State,
    pub fired: Option<Range>,
}

impl Thresholds {
    /// No thresholds: every value is OK.
    pub const NONE: Thresholds = Thresholds {
        warning: None,
        critical: None,
    };

    /// Judges `value`: CRITICAL when the critical range alerts, else
    /// WARNING when the warning range does, else OK.
    pub fn judge(&self, value: f64) -> Verdict {
        let fired = |r: &Option<Range>| r.filter(|r| r.alerts(value));
        match (fired(&self.critical), fired(&self.warning)) {
            (Some(r), _) => Verdict {
                state: State::Critical,
                fired: Some(r),
            },
            (None, Some(r)) => Verdict {
                state: State::Warning,
                fired: Some(r),
            },
            (None, None) => Verdict {
                state: State::Ok,
                fired: None,
            },
        }
    }

    /// These thresholds when `judged`, else none: perfdata carries the
    /// ranges only on the metric they were applied to.
    pub fn if_judged(&self, judged: bool) -> &Thresholds {
        if judged {
            self
        } else {
            &Thresholds::NONE
        }
    }
}

impl Verdict {
    /// Why the state is not OK, e.g. `busy_pct 85 is outside 0:80`.
    pub fn reason(&self, what: &str, value: f64) -> Option<String> {
        let r = self.fired?;
        Some(format!(
            "{what} {} is {}",
            format_number(value),
            r.violation()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Option<Range> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn critical_first_and_which_range_fired() {
        let t = Thresholds {
            warning: r("80"),
            critical: r("90"),
        };
        assert_eq!(t.judge(50.0).state, State::Ok);
        assert_eq!(t.judge(50.0).fired, None);
        assert_eq!(
            t.judge(85.0),
            Verdict {
                state: State::Warning,
                fired: r("80")
            }
        );
        assert_eq!(
            t.judge(95.0),
            Verdict {
                state: State::Critical,
                fired: r("90")
            }
        );
        let crit_only = Thresholds { warning: None, ..t };
        assert_eq!(crit_only.judge(95.0).state, State::Critical);
        let warn_only = Thresholds {
            critical: None,
            ..t
        };
        assert_eq!(warn_only.judge(95.0).state, State::Warning);
        assert_eq!(Thresholds::NONE.judge(95.0).state, State::Ok);
        assert_eq!(
            t.judge(95.5).reason("busy_pct", 95.5).as_deref(),
            Some("busy_pct 95.5 is outside 0:90")
        );
        assert_eq!(t.judge(1.0).reason("busy_pct", 1.0), None);
    }
}

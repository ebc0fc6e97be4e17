//! Monitoring-plugin conventions shared by every check: the service state,
//! Nagios threshold ranges ([`range`]), the one threshold judge
//! ([`verdict`]), numbers ([`number`]), performance data ([`perfdata`]),
//! escaping of untrusted text ([`text`]) and the rendered report ([`output`]).
//!
//! Everything here is pure: nothing prints or exits. A check builds an
//! [`output::Outcome`], the front end renders it to stdout and exits with
//! `outcome.state.exit_code()`.

pub mod number;
pub mod output;
pub mod perfdata;
pub mod range;
pub mod text;
pub mod verdict;

pub use nagiosplugin::ServiceState as State;

/// The more significant of two states: OK < WARNING < CRITICAL < UNKNOWN,
/// i.e. ordered by exit code (`State`'s own `Ord` ranks UNKNOWN below
/// WARNING, so never use `max()`).
pub fn worst(a: State, b: State) -> State {
    if b.exit_code() > a.exit_code() {
        b
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_orders_by_exit_code() {
        let order = [State::Ok, State::Warning, State::Critical, State::Unknown];
        for (i, &a) in order.iter().enumerate() {
            for (j, &b) in order.iter().enumerate() {
                assert_eq!(worst(a, b), order[i.max(j)]);
            }
        }
    }
}

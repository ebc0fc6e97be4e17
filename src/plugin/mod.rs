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

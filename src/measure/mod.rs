//! Figures computed once from a decoded scoreboard, for every consumer
//! (check, command) to judge and render: the worker pool against its
//! capacity ([`pool`]), busy workers per vhost ([`vhosts`]) and the
//! requests in flight with their ages ([`inflight`]). Counting follows
//! mod_status's rules ([`crate::scoreboard::rules`]); nothing here formats
//! text for people.

pub mod inflight;
pub mod pool;
pub mod vhosts;

pub use pool::{percent, running_httpd, Capacity, Pool, Resolved};

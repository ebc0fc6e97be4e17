//! Figures computed once from a decoded scoreboard, for every consumer
//! (check, command) to judge and render: the worker pool against its
//! capacity ([`pool`]), the tenants: busy workers per vhost, host, user or
//! environment with their limits and availability ([`tenants`], the
//! environments file in [`environments`]), the requests in flight with
//! their ages ([`inflight`]), and mod_status's `?auto` figures ([`auto`]).
//! Counting follows mod_status's rules ([`crate::scoreboard::rules`]);
//! nothing here writes text for people.

pub mod auto;
pub mod environments;
pub mod health;
pub mod inflight;
pub mod pool;
pub mod tenants;

pub use health::health;
pub use pool::{percent, running_httpd, Capacity, Pool, Resolved};

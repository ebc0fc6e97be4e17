//! apache-scoreboard: Nagios/Icinga checks that read Apache httpd's scoreboard
//! straight from shared memory, so they answer even when httpd has no free
//! worker to serve `/server-status`.
//!
//! Layers, bottom up:
//! - [`shm`]: find, open and map or copy the segment (the reading layer,
//!   `shm::segment`, is one of the two modules allowed raw libc calls).
//! - [`scoreboard`]: detect the segment's layout and decode it with safe,
//!   bounds-checked reads; mod_status's counting rules.
//! - [`process`]: the running httpd as the kernel sees it (stopped or hung
//!   children, a missing parent, listen queues), measured once.
//! - [`plugin`]: the monitoring-plugin conventions (ranges, perfdata, output).
//! - [`checks`] and [`commands`]: the three checks and `dump`/`status`/`snapshot`/`instances`;
//!   [`top`], the live terminal view.
//! - [`cli`]: the multi-call front end that turns every outcome into one
//!   stdout report and an exit code 0-3.
//! - [`watchdog`]: signals and the `-t` deadline (`watchdog::signals` is the
//!   second and last module allowed raw libc calls); the process's entry
//!   point, which calls [`cli::run`], is there too (src/main.rs is empty).

pub mod checks;
pub mod cli;
pub mod commands;
pub mod exporter;
pub mod heartbeat;
pub mod httpd;
pub mod measure;
pub mod plugin;
pub mod process;
pub mod prometheus;
pub mod scoreboard;
pub mod shm;
pub mod top;
pub mod watchdog;

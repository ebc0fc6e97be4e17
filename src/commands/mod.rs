//! The non-check subcommands: `dump`, `status`, `metrics`, `snapshot` and `instances`.

pub mod cluster;
pub mod dump;
pub mod instances;
pub mod metrics;
pub mod snapshot;
pub mod status;

//! The non-check subcommands: `dump`, `status`, `snapshot` and `instances`.

pub mod cluster;
pub mod dump;
pub mod instances;
pub mod snapshot;
pub mod status;

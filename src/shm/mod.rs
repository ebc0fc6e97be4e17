//! Shared memory: finding a segment and copying it out. The one module with
//! raw system calls on memory is [`segment`]; [`locate`] turns what `--scoreboard` names
//! into a copy, [`privilege`] decides what a capability may open.

pub mod apr;
pub mod error;
pub mod locate;
pub mod privilege;
pub mod proc;
pub mod segment;

pub use error::Error;

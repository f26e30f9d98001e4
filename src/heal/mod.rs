//! Healing state: circuit breaker, history file, workspace snapshots and undo.

pub mod breaker;
pub mod diff;
pub mod events;

pub use breaker::{Attempt, Breaker, Outcome};
pub use diff::FileChange;

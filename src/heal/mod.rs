//! Healing state: circuit breaker, history file, workspace snapshots and undo.

pub mod breaker;
pub mod diff;
pub mod events;
pub mod history;
pub mod state;

pub use breaker::{Attempt, Breaker, Outcome};
pub use diff::FileChange;
pub use history::{History, HistoryEntry};

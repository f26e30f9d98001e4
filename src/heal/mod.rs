//! Healing state: circuit breaker, history file, workspace snapshots and undo.

pub mod breaker;
pub mod diff;
pub mod events;
pub mod history;
pub mod snapshot;
pub mod state;
pub mod undo;

pub use breaker::{Attempt, Breaker, Outcome};
pub use diff::FileChange;
pub use history::{History, HistoryEntry};
pub use snapshot::Snapshot;
pub use undo::{undo, UndoReport};

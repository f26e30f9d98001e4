//! Healing state: circuit breaker, history, workspace snapshots and undo, and
//! where otorepair keeps its files.

pub mod attempt;
pub mod breaker;
mod confined;
pub mod diff;
pub mod events;
pub mod history;
mod legacy;
pub mod location;
pub mod paths;
pub mod snapshot;
pub mod state;
pub mod undo;

pub use breaker::{Attempt, Breaker, Outcome};
pub use diff::FileChange;
pub use history::HistoryEntry;
pub use undo::undo;

//! Healing state: circuit breaker, history file, workspace snapshots and undo.

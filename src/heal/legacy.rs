//! Older otorepair kept its state in the workspace, in `.otorepair/`. Its
//! `history.json` and `last-fix.json` are read once, the first time the new
//! state directory is opened, and carried over (history entries, and the last
//! fix as the oldest undo record if it was not undone), so users lose nothing.
//! The old directory is only read, never written: writing into the workspace
//! is what woke dev-server watchers. A symlinked `.otorepair` is ignored.

use std::path::Path;

use anyhow::Result;

use super::history::{self, History};
use super::location;
use super::state::{self, StateDir};
use super::undo::record::{self, Store};

/// Written in the state directory once the old one was looked at.
const MARKER: &str = "legacy-imported";
const LOCK: &str = "legacy.lock";
const LEGACY_HISTORY: &str = "history.json";
const LEGACY_UNDO: &str = "last-fix.json";

/// The state directory of `workspace`, with an older `.otorepair/` carried
/// over on first use. Returns warnings for the user (an old file that could
/// not be read is left where it is, and named).
pub fn open_state(workspace: &Path) -> Result<(StateDir, Vec<String>)> {
    let state = StateDir::open(workspace)?;
    if state.path(MARKER).exists() {
        return Ok((state, Vec::new()));
    }
    let _lock = state.lock(LOCK)?;
    if state.path(MARKER).exists() {
        return Ok((state, Vec::new()));
    }
    let mut warnings = Vec::new();
    if let Some(old) = location::legacy_dir(workspace) {
        let left = |name: &str, why: String| {
            format!("left {} where it is: {why}", old.join(name).display())
        };
        match state::read_bounded(&old.join(LEGACY_HISTORY), history::MAX_FILE_BYTES) {
            Ok(Some(bytes)) => match history::parse(&bytes) {
                Ok(entries) => History::new(state.clone()).import(entries)?,
                Err(e) => warnings.push(left(LEGACY_HISTORY, format!("corrupt: {e}"))),
            },
            Ok(None) => {}
            Err(e) => warnings.push(left(LEGACY_HISTORY, e.to_string())),
        }
        match state::read_bounded(&old.join(LEGACY_UNDO), record::MAX_RECORD_BYTES) {
            Ok(Some(bytes)) => match record::parse(&bytes) {
                Ok(r) if r.is_spent() => {}
                Ok(r) => {
                    let store = Store::open(&state)?;
                    let _lock = store.lock()?;
                    store.add(&r, u128::from(r.time) * 1000)?;
                }
                Err(e) => warnings.push(left(LEGACY_UNDO, format!("corrupt: {e}"))),
            },
            Ok(None) => {}
            Err(e) => warnings.push(left(LEGACY_UNDO, e.to_string())),
        }
    }
    state.write_note(MARKER, b"")?;
    Ok((state, warnings))
}

//! Taking a fix back: `otorepair undo`.
//!
//! Each fix leaves a record (see [`record`]). Undo takes the newest and, for
//! each file in it, restores the pre-fix content only if the file still has
//! exactly its post-fix content, so edits made since are never overwritten
//! (those files are named, and stay in the record: once the user takes their
//! edit back, undo can restore them). Files are reached only through real
//! directories inside the workspace ([`super::confined`]). A record is deleted
//! once nothing in it is left to undo; the next undo takes the fix before.

pub mod record;

use std::fmt;
use std::path::Path;

use anyhow::{bail, Result};

use super::confined::{self, Found};
use super::legacy;
use super::snapshot::MAX_COMPARE;
use record::{content_hash, Loaded, Record, RecordedFile, Store};

/// What [`undo`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UndoReport {
    /// There was no fix to undo.
    pub nothing_to_undo: bool,
    /// Files put back to their pre-fix content.
    pub restored: Vec<String>,
    /// Files the fix had created, now deleted.
    pub deleted: Vec<String>,
    /// Files edited since the fix, not touched.
    pub left_alone: Vec<String>,
    /// Files not touched because reaching them would follow a symlink, with why.
    pub unreachable: Vec<(String, String)>,
    /// Files the fix changed that the snapshot could not cover, with why.
    pub cannot_restore: Vec<(String, String)>,
    /// Things to tell the user (a legacy file or a record that could not be read).
    pub warnings: Vec<String>,
}

impl UndoReport {
    /// Whether everything the fix changed is back as it was.
    pub fn complete(&self) -> bool {
        self.left_alone.is_empty() && self.unreachable.is_empty() && self.cannot_restore.is_empty()
    }
}

impl fmt::Display for UndoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nothing_to_undo {
            return writeln!(f, "nothing to undo");
        }
        for p in &self.restored {
            writeln!(f, "restored: {p}")?;
        }
        for p in &self.deleted {
            writeln!(f, "deleted, created by the fix: {p}")?;
        }
        for p in &self.left_alone {
            writeln!(f, "left alone, edited since the fix: {p}")?;
        }
        for (p, why) in &self.unreachable {
            writeln!(f, "left alone, {why}: {p}")?;
        }
        for (p, why) in &self.cannot_restore {
            writeln!(
                f,
                "cannot restore {p}: {why}, so it was not captured before the fix"
            )?;
        }
        Ok(())
    }
}

/// Take back the last fix in `workspace`; see the module docs. `now` (unix
/// seconds) names a corrupt record moved aside.
pub fn undo(workspace: &Path, now: u64) -> Result<UndoReport> {
    let (state, warnings) = legacy::open_state(workspace)?;
    let store = Store::open(&state)?;
    let _lock = store.lock()?;
    let mut report = UndoReport {
        warnings,
        ..UndoReport::default()
    };
    for id in store.ids()?.iter().rev() {
        let mut record = match store.load(id, now)? {
            Loaded::Record(r) => r,
            // Never skip to an older fix past one that could not be read.
            Loaded::Corrupt(msg) => bail!("{msg}"),
        };
        if record.is_spent() {
            store.remove(id)?;
            continue;
        }
        let left = take_back(workspace, &record, &mut report)?;
        record.files = left;
        if record.files.is_empty() {
            store.remove(id)?;
        } else {
            // What could not be restored now may be later (the user takes their
            // own edit back).
            store.replace(id, &record)?;
        }
        return Ok(report);
    }
    report.nothing_to_undo = true;
    Ok(report)
}

/// Restores what it can of `record`; returns the files still to undo.
fn take_back(
    workspace: &Path,
    record: &Record,
    report: &mut UndoReport,
) -> Result<Vec<RecordedFile>> {
    let mut left = Vec::new();
    for file in &record.files {
        // The record is a file anyone can edit, and undo writes where it says.
        if !confined::is_plain_relative(&file.path) {
            bail!(
                "an undo record names a path outside the workspace: {}",
                file.path
            );
        }
        let before = file.before.to_bytes()?;
        let now = match confined::read(workspace, &file.path, MAX_COMPARE)? {
            Found::Missing => None,
            Found::File(bytes) => Some(bytes),
            Found::TooLarge(_) => {
                report.left_alone.push(file.path.clone());
                left.push(file.clone());
                continue;
            }
            Found::Unreachable(why) => {
                report
                    .unreachable
                    .push((file.path.clone(), why.to_string()));
                left.push(file.clone());
                continue;
            }
        };
        if now == before {
            // Already as before the fix (an undo was interrupted, or the user
            // reverted by hand): nothing to write.
            report.restored.push(file.path.clone());
            continue;
        }
        if now.as_deref().map(content_hash) != file.after {
            report.left_alone.push(file.path.clone());
            left.push(file.clone());
            continue;
        }
        let blocked = match &before {
            None => confined::remove(workspace, &file.path)?,
            Some(content) => confined::write(workspace, &file.path, content)?,
        };
        match (blocked, &before) {
            (Some(why), _) => {
                report
                    .unreachable
                    .push((file.path.clone(), why.to_string()));
                left.push(file.clone());
            }
            (None, None) => report.deleted.push(file.path.clone()),
            (None, Some(_)) => report.restored.push(file.path.clone()),
        }
    }
    for n in &record.not_restorable {
        report
            .cannot_restore
            .push((n.path.clone(), n.reason.clone()));
    }
    Ok(left)
}

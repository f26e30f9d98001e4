//! Snapshot the workspace before a fix, then find what the fix changed and
//! persist what [`super::undo::undo`] needs to take it back.
//!
//! In a git work tree the snapshot is a tree object (see [`git`]); elsewhere, or
//! when git is missing or fails, it is an in-memory copy of the text files (see
//! [`files`]).

pub mod files;
pub mod git;

use std::path::Path;

use anyhow::Result;

use super::diff::FileChange;
use super::state::StateDir;
use super::undo;
pub use super::undo::Before;

/// One changed file, with its pre-fix content if undo can restore it
/// (`None` for symlinks and submodules).
#[derive(Debug, Clone)]
pub(crate) struct Changed {
    pub change: FileChange,
    pub before: Option<Before>,
}

/// The workspace as it was before a fix.
#[derive(Debug, Clone)]
pub enum Snapshot {
    Git(git::GitSnapshot),
    Files(files::FilesSnapshot),
}

impl Snapshot {
    /// Snapshot `workspace` (creating `.otorepair/` if missing). Git is tried first;
    /// any git failure falls back to copying files, because a snapshot that works
    /// matters more than which kind it is.
    pub fn take(workspace: &Path) -> Result<Snapshot> {
        let state = StateDir::open(workspace)?;
        if let Ok(Some(g)) = git::GitSnapshot::take(workspace, &state) {
            return Ok(Snapshot::Git(g));
        }
        Ok(Snapshot::Files(files::FilesSnapshot::take(workspace)?))
    }

    /// The workspace snapshotted.
    pub fn workspace(&self) -> &Path {
        match self {
            Snapshot::Git(g) => g.workspace(),
            Snapshot::Files(f) => f.workspace(),
        }
    }

    /// `"git"` or `"files"`, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Snapshot::Git(_) => "git",
            Snapshot::Files(_) => "files",
        }
    }

    fn changed(&self) -> Result<Vec<Changed>> {
        match self {
            Snapshot::Git(g) => g.changed(),
            Snapshot::Files(f) => f.changed(),
        }
    }

    /// Files changed since the snapshot, sorted by path, with `+`/`-` line counts.
    pub fn changes(&self) -> Result<Vec<FileChange>> {
        Ok(self.changed()?.into_iter().map(|c| c.change).collect())
    }

    /// Call once the fix ended: returns [`Snapshot::changes`] and replaces
    /// `.otorepair/last-fix.json` with a record of them (even when empty, so undo
    /// never takes back an older fix than the last one). `now` is unix seconds.
    pub fn finish(&self, now: u64) -> Result<Vec<FileChange>> {
        self.finish_only(now, |_| true)
    }

    /// Like [`Snapshot::finish`], keeping only the changed paths `keep` accepts:
    /// during a live fix the server and the user may change files too, and those
    /// changes are not the fix's to report or to undo.
    pub fn finish_only(&self, now: u64, keep: impl Fn(&str) -> bool) -> Result<Vec<FileChange>> {
        let changed: Vec<Changed> = self
            .changed()?
            .into_iter()
            .filter(|c| keep(&c.change.path))
            .collect();
        undo::save(self.workspace(), now, &changed)?;
        Ok(changed.into_iter().map(|c| c.change).collect())
    }
}

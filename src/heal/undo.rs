//! `.otorepair/last-fix.json` and taking the last fix back.
//!
//! The record holds, for each file the last fix changed, its content before the
//! fix (or that it did not exist) and a hash of its content right after. Undo
//! restores a file only if it still has that post-fix content, so edits the user
//! made since are never overwritten; those files are named in the report.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Component, Path};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::snapshot::Changed;
use super::state::StateDir;

const FILE: &str = "last-fix.json";
const LOCK: &str = "last-fix.lock";

/// A file's content before the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Before {
    /// The fix created the file.
    Missing,
    Text {
        text: String,
    },
    /// Content that is not UTF-8, hex-encoded.
    Bytes {
        hex: String,
    },
}

impl Before {
    pub(crate) fn from_bytes(bytes: Vec<u8>) -> Before {
        match String::from_utf8(bytes) {
            Ok(text) => Before::Text { text },
            Err(e) => Before::Bytes {
                hex: e.as_bytes().iter().map(|b| format!("{b:02x}")).collect(),
            },
        }
    }

    fn to_bytes(&self) -> Result<Option<Vec<u8>>> {
        Ok(match self {
            Before::Missing => None,
            Before::Text { text } => Some(text.clone().into_bytes()),
            Before::Bytes { hex } => {
                let digits = hex.as_bytes();
                if digits.len() % 2 != 0 {
                    bail!("odd-length hex in {FILE}");
                }
                let bytes = digits
                    .chunks(2)
                    .map(|p| {
                        std::str::from_utf8(p)
                            .ok()
                            .and_then(|s| u8::from_str_radix(s, 16).ok())
                    })
                    .collect::<Option<Vec<u8>>>()
                    .with_context(|| format!("bad hex in {FILE}"))?;
                Some(bytes)
            }
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    version: u32,
    /// Unix seconds when the fix ended.
    time: u64,
    /// Set once undone, so a second undo has nothing to do.
    used: bool,
    files: Vec<RecordedFile>,
}

#[derive(Debug, Serialize, Deserialize)]
struct RecordedFile {
    /// Workspace-relative.
    path: String,
    before: Before,
    /// [`content_hash`] right after the fix; `None`: the fix deleted the file.
    after: Option<String>,
}

/// FNV-1a 64 plus length: enough to notice an edit (this guards against
/// accidents, not adversaries, and needs no extra crate).
pub fn content_hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("fnv1a64:{h:016x}:{}", bytes.len())
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Replace the record with the files of the fix that just ended.
pub(crate) fn save(workspace: &Path, now: u64, changed: &[Changed]) -> Result<()> {
    let state = StateDir::open(workspace)?;
    let mut files = Vec::new();
    for c in changed {
        let Some(before) = &c.before else { continue };
        let after = read_optional(&workspace.join(&c.change.path))?;
        files.push(RecordedFile {
            path: c.change.path.clone(),
            before: before.clone(),
            after: after.as_deref().map(content_hash),
        });
    }
    let record = Record {
        version: 1,
        time: now,
        used: false,
        files,
    };
    let json = serde_json::to_vec_pretty(&record).context("serializing the undo record")?;
    let _lock = state.lock(LOCK)?;
    state.write_atomic(FILE, &json)
}

/// What [`undo`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UndoReport {
    /// There was no fix to undo (none recorded, already undone, or it changed nothing).
    pub nothing_to_undo: bool,
    /// Files put back to their pre-fix content.
    pub restored: Vec<String>,
    /// Files the fix had created, now deleted.
    pub deleted: Vec<String>,
    /// Files edited since the fix, not touched.
    pub left_alone: Vec<String>,
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
        Ok(())
    }
}

/// A recorded path must stay inside the workspace: the record is a file anyone
/// can edit, and undo writes and deletes where it says.
fn safe_relative(path: &str) -> bool {
    let p = Path::new(path);
    !path.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Take back the last fix in `workspace`; see the module docs.
pub fn undo(workspace: &Path) -> Result<UndoReport> {
    let state = StateDir::open(workspace)?;
    let _lock = state.lock(LOCK)?;
    let path = state.path(FILE);
    let bytes = match read_optional(&path)? {
        Some(b) => b,
        None => {
            return Ok(UndoReport {
                nothing_to_undo: true,
                ..UndoReport::default()
            })
        }
    };
    let mut record: Record = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a valid undo record", path.display()))?;
    if record.used || record.files.is_empty() {
        return Ok(UndoReport {
            nothing_to_undo: true,
            ..UndoReport::default()
        });
    }
    let mut report = UndoReport::default();
    for file in &record.files {
        if !safe_relative(&file.path) {
            bail!(
                "{} names a path outside the workspace: {}",
                path.display(),
                file.path
            );
        }
        let target = workspace.join(&file.path);
        let before = file.before.to_bytes()?;
        let now = read_optional(&target)?;
        if now == before {
            // Already as before the fix (a previous undo was interrupted, or the
            // user reverted by hand): nothing to write.
            report.restored.push(file.path.clone());
            continue;
        }
        if now.as_deref().map(content_hash) != file.after {
            report.left_alone.push(file.path.clone());
            continue;
        }
        match before {
            None => {
                fs::remove_file(&target)
                    .with_context(|| format!("deleting {}", target.display()))?;
                report.deleted.push(file.path.clone());
            }
            Some(content) => {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                }
                fs::write(&target, content)
                    .with_context(|| format!("restoring {}", target.display()))?;
                report.restored.push(file.path.clone());
            }
        }
    }
    record.used = true;
    let json = serde_json::to_vec_pretty(&record).context("serializing the undo record")?;
    state.write_atomic(FILE, &json)?;
    Ok(report)
}

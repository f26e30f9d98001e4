//! Snapshots without git: in-memory copies of the workspace's text files.
//!
//! Kept: files up to [`MAX_FILE`] bytes, [`MAX_TOTAL`] in all, without a NUL in
//! their first 8 KiB, outside `.git`, `.otorepair`, `target` and `node_modules`
//! (at any depth). Symlinks are not followed, names that are not UTF-8 are
//! skipped. Files seen but not kept (too big, binary, over the total) are
//! remembered by path so they are never reported as created by the fix.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::super::diff::{count_changes, is_binary, lines, FileChange};
use super::{Before, Changed};

/// Largest file copied.
pub const MAX_FILE: u64 = 1 << 20;
/// Most bytes copied in all.
pub const MAX_TOTAL: u64 = 64 << 20;

const SKIP_DIRS: [&str; 4] = [".git", ".otorepair", "target", "node_modules"];

/// The text files of a workspace at one moment.
#[derive(Debug, Clone)]
pub struct FilesSnapshot {
    workspace: PathBuf,
    kept: BTreeMap<String, Vec<u8>>,
    not_kept: BTreeSet<String>,
}

impl FilesSnapshot {
    /// Copy the workspace's text files into memory.
    pub fn take(workspace: &Path) -> Result<FilesSnapshot> {
        let mut snap = FilesSnapshot {
            workspace: workspace.to_path_buf(),
            kept: BTreeMap::new(),
            not_kept: BTreeSet::new(),
        };
        let mut total = 0u64;
        for (rel, path, len) in walk(workspace)? {
            if len > MAX_FILE || total + len > MAX_TOTAL {
                snap.not_kept.insert(rel);
                continue;
            }
            match fs::read(&path) {
                Ok(bytes) if !is_binary(&bytes) => {
                    total += bytes.len() as u64;
                    snap.kept.insert(rel, bytes);
                }
                // Binary, or unreadable (permissions, vanished): not ours to diff.
                _ => {
                    snap.not_kept.insert(rel);
                }
            }
        }
        Ok(snap)
    }

    /// The workspace snapshotted.
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// Number of files copied.
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    /// Whether no file was copied.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    pub(super) fn changed(&self) -> Result<Vec<Changed>> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for (rel, path, _) in walk(&self.workspace)? {
            seen.insert(rel.clone());
            if self.not_kept.contains(&rel) {
                continue;
            }
            let now = match read_optional(&path)? {
                Some(b) => b,
                None => continue,
            };
            let (before, added, removed) = match self.kept.get(&rel) {
                Some(old) if *old == now => continue,
                Some(old) => {
                    let (a, r) = if is_binary(&now) {
                        (0, saturate(lines(old).len()))
                    } else {
                        count_changes(old, &now)
                    };
                    (Before::from_bytes(old.clone()), a, r)
                }
                None => {
                    let a = if is_binary(&now) {
                        0
                    } else {
                        saturate(lines(&now).len())
                    };
                    (Before::Missing, a, 0)
                }
            };
            out.push(Changed {
                change: FileChange {
                    path: rel,
                    added,
                    removed,
                },
                before: Some(before),
            });
        }
        for (rel, old) in &self.kept {
            if !seen.contains(rel) {
                out.push(Changed {
                    change: FileChange {
                        path: rel.clone(),
                        added: 0,
                        removed: saturate(lines(old).len()),
                    },
                    before: Some(Before::from_bytes(old.clone())),
                });
            }
        }
        out.sort_by(|a, b| a.change.path.cmp(&b.change.path));
        Ok(out)
    }
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Regular files under `root` as (relative `/` path, full path, length).
fn walk(root: &Path) -> Result<Vec<(String, PathBuf, u64)>> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            // The root must be readable; a subdirectory we cannot read is skipped.
            Err(_) if dir != root => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
        };
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Ok(ft) = entry.file_type() else { continue };
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if ft.is_dir() {
                if !SKIP_DIRS.contains(&name.as_str()) {
                    stack.push((entry.path(), child_rel));
                }
            } else if ft.is_file() {
                let len = entry.metadata().map_or(0, |m| m.len());
                out.push((child_rel, entry.path(), len));
            }
        }
    }
    Ok(out)
}

//! The workspace before a fix, and what the fix changed.
//!
//! Captured: the files a fix could plausibly touch (see [`walk`]: not
//! git-ignored, not under `node_modules`, `target`, `.venv`...), copied into
//! memory when they are text (no NUL in the first 8 KiB) of at most
//! [`MAX_FILE`] bytes, [`MAX_TOTAL`] in all. Larger and binary files are only
//! stat-ed (length, mtime, inode): a fix that changes one is seen, but cannot
//! be undone. Nothing is written anywhere: the user's `.git` is never touched,
//! and after the fix only the pre-fix content of the files it changed is kept,
//! in its undo record (`undo::record`).
//!
//! After the fix, [`Snapshot::changed`] compares either only the files the
//! agent's tools named (exact and cheap), or the whole walk again when the
//! agent ran a shell or does not say what it edits. A file the agent named that
//! the snapshot could not cover (git-ignored, too large, binary, over the
//! budget, outside the workspace) still counts as changed when it was modified
//! after the snapshot, marked with why it is not undoable.

pub mod walk;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::{self, File, Metadata};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use super::confined::{self, Found};
use super::diff::{count_changes, is_binary, lines, FileChange};
use super::paths::Resolved;
use super::undo::record::{content_hash, Before};

pub use walk::Cancelled;

/// Largest file copied.
pub const MAX_FILE: u64 = 1 << 20;
/// Most bytes copied in all.
pub const MAX_TOTAL: u64 = 64 << 20;
/// Most files walked: past this (a huge tree nobody ignored), the rest is over
/// the budget. About 10 µs a file here, so a walk stays near 100 ms.
pub const MAX_FILES: usize = 10_000;
/// Largest file read after the fix to compare with its copy.
pub const MAX_COMPARE: u64 = 64 << 20;
/// Timestamps can be coarse (a jiffy on Linux, 1-2 s on some filesystems): a
/// file modified this close to the snapshot is compared by content, and a
/// file the snapshot did not cover counts as the fix's if modified after
/// the snapshot less this.
const SLACK: Duration = Duration::from_secs(2);

/// Why a changed file is not undoable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uncovered {
    GitIgnored,
    TooLarge,
    Binary,
    OverBudget,
    /// Under a directory never walked (`node_modules`...).
    SkippedDir(String),
    Outside,
    /// A symlink, not a regular file, unreadable, or grown past [`MAX_COMPARE`].
    Unreachable(&'static str),
}

impl fmt::Display for Uncovered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uncovered::GitIgnored => write!(f, "git-ignored"),
            Uncovered::TooLarge => write!(f, "larger than {} MiB", MAX_FILE >> 20),
            Uncovered::Binary => write!(f, "binary"),
            Uncovered::OverBudget => write!(
                f,
                "over the snapshot budget ({} MiB, {} files)",
                MAX_TOTAL >> 20,
                MAX_FILES
            ),
            Uncovered::SkippedDir(d) => write!(f, "in {d}/"),
            Uncovered::Outside => write!(f, "outside the workspace"),
            Uncovered::Unreachable(why) => write!(f, "{why}"),
        }
    }
}

/// What a file's metadata says, to notice a change without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    ino: u64,
}

impl Stamp {
    fn of(meta: &Metadata) -> Stamp {
        Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            ino: meta.ino(),
        }
    }
}

/// One file the fix changed.
#[derive(Debug, Clone)]
pub struct Changed {
    /// With `not_undoable` set when `before` is `None`.
    pub change: FileChange,
    /// Its content before the fix, when the snapshot had it.
    pub before: Option<Before>,
    /// [`content_hash`] of its content now; `None`: the fix deleted it.
    pub after: Option<String>,
}

/// The workspace as it was before a fix.
#[derive(Debug)]
pub struct Snapshot {
    workspace: PathBuf,
    taken_at: SystemTime,
    kept: HashMap<String, (Vec<u8>, Stamp)>,
    not_kept: HashMap<String, (Stamp, Uncovered)>,
    bytes_kept: u64,
    /// The walk stopped at [`MAX_FILES`]: a file not seen may have been there.
    truncated: bool,
}

/// Reads at most `max + 1` bytes of a regular file (a FIFO never blocks the open).
fn read_capped(path: &Path, max: u64) -> Option<Vec<u8>> {
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn change(path: &str, added: u32, removed: u32, not_undoable: Option<&Uncovered>) -> FileChange {
    FileChange {
        path: path.to_string(),
        added,
        removed,
        not_undoable: not_undoable.map(ToString::to_string),
    }
}

fn not_undoable(path: &str, why: &Uncovered) -> Changed {
    Changed {
        change: change(path, 0, 0, Some(why)),
        before: None,
        after: None,
    }
}

impl Snapshot {
    /// Walks and copies the workspace (see the module docs), the files in
    /// `first` (workspace-relative: the ones the error names, which a fix most
    /// plausibly touches) before any other. Checks `cancel` between files: an
    /// aborted fix does not wait for the walk.
    pub fn take(
        workspace: &Path,
        first: &[String],
        cancel: &AtomicBool,
    ) -> Result<Snapshot, Cancelled> {
        Self::take_at_most(workspace, first, MAX_FILES, cancel)
    }

    fn take_at_most(
        workspace: &Path,
        first: &[String],
        limit: usize,
        cancel: &AtomicBool,
    ) -> Result<Snapshot, Cancelled> {
        let taken_at = SystemTime::now();
        let mut snap = Snapshot {
            workspace: workspace.to_path_buf(),
            taken_at,
            kept: HashMap::new(),
            not_kept: HashMap::new(),
            bytes_kept: 0,
            truncated: false,
        };
        let named = first.iter().filter_map(|rel| {
            let meta = fs::symlink_metadata(workspace.join(rel)).ok()?;
            let plain = confined::is_plain_relative(rel) && meta.file_type().is_file();
            (plain && walk::left_out(workspace, rel).is_none()).then(|| (rel.clone(), meta))
        });
        let named: Vec<(String, Metadata)> = named.collect();
        let walked = walk::files(workspace, limit, cancel)?;
        snap.truncated = walked.truncated;
        for (rel, meta) in named.into_iter().chain(walked.found) {
            if snap.kept.contains_key(&rel) || snap.not_kept.contains_key(&rel) {
                continue;
            }
            let stamp = Stamp::of(&meta);
            let len = meta.len();
            let why = if len > MAX_FILE {
                Some(Uncovered::TooLarge)
            } else if snap.bytes_kept + len > MAX_TOTAL {
                Some(Uncovered::OverBudget)
            } else {
                match read_capped(&workspace.join(&rel), MAX_FILE) {
                    Some(b) if b.len() as u64 > MAX_FILE => Some(Uncovered::TooLarge),
                    Some(b) if is_binary(&b) => Some(Uncovered::Binary),
                    Some(b) => {
                        snap.bytes_kept += b.len() as u64;
                        snap.kept.insert(rel.clone(), (b, stamp.clone()));
                        None
                    }
                    // Vanished or unreadable: nothing to restore it to.
                    None => Some(Uncovered::Unreachable("unreadable")),
                }
            };
            if let Some(why) = why {
                snap.not_kept.insert(rel, (stamp, why));
            }
        }
        Ok(snap)
    }

    /// Files copied, files only stat-ed, bytes copied: for `-v` and benchmarks.
    pub fn counts(&self) -> (usize, usize, u64) {
        (self.kept.len(), self.not_kept.len(), self.bytes_kept)
    }

    /// What changed since the snapshot, sorted by path: the files in `named`
    /// (the agent's tools named them) and, with `everything`, any file the walk
    /// covers.
    pub fn changed(&self, named: &[Resolved], everything: bool) -> Vec<Changed> {
        let mut out: BTreeMap<String, Changed> = BTreeMap::new();
        let mut done: HashSet<String> = HashSet::new();
        if everything {
            let now = walk::files(&self.workspace, MAX_FILES, &AtomicBool::new(false))
                .map(|f| f.found)
                .unwrap_or_default();
            for (rel, _) in now {
                if let Some(c) = self.compare(&rel, true) {
                    out.insert(rel.clone(), c);
                }
                done.insert(rel);
            }
            let gone: Vec<&String> = self
                .kept
                .keys()
                .chain(self.not_kept.keys())
                .filter(|r| !done.contains(*r))
                .collect();
            for rel in gone {
                if let Some(c) = self.compare(rel, true) {
                    out.insert(rel.clone(), c);
                }
            }
        }
        for name in named {
            match name {
                Resolved::Inside(rel) => {
                    if done.insert(rel.clone()) {
                        if let Some(c) = self.compare(rel, false) {
                            out.insert(rel.clone(), c);
                        }
                    }
                }
                Resolved::Outside(path) => {
                    let shown = name.shown();
                    if self.modified_since(path) && done.insert(shown.clone()) {
                        out.insert(shown.clone(), not_undoable(&shown, &Uncovered::Outside));
                    }
                }
            }
        }
        out.into_values().collect()
    }

    /// Whether `path` was modified after the snapshot (less [`SLACK`]).
    fn modified_since(&self, path: &Path) -> bool {
        let since = self.taken_at.checked_sub(SLACK).unwrap_or(self.taken_at);
        fs::symlink_metadata(path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= since)
    }

    /// How `rel` differs from the snapshot, if it does. `walked`: the walk
    /// found it now (or it was walked before), so it is not ignored.
    fn compare(&self, rel: &str, walked: bool) -> Option<Changed> {
        let full = self.workspace.join(rel);
        if let Some((old, stamp)) = self.kept.get(rel) {
            let racy = stamp.modified.is_none_or(|t| t + SLACK >= self.taken_at);
            let same_stamp = fs::symlink_metadata(&full)
                .is_ok_and(|m| m.file_type().is_file() && Stamp::of(&m) == *stamp);
            if same_stamp && !racy {
                return None;
            }
            return match confined::read(&self.workspace, rel, MAX_COMPARE) {
                Ok(Found::File(now)) if now == *old => None,
                Ok(Found::File(now)) => {
                    let (added, removed) = if is_binary(&now) {
                        (0, saturate(lines(old).len()))
                    } else {
                        count_changes(old, &now)
                    };
                    Some(Changed {
                        change: change(rel, added, removed, None),
                        before: Some(Before::from_bytes(old.clone())),
                        after: Some(content_hash(&now)),
                    })
                }
                Ok(Found::Missing) => Some(Changed {
                    change: change(rel, 0, saturate(lines(old).len()), None),
                    before: Some(Before::from_bytes(old.clone())),
                    after: None,
                }),
                Ok(Found::TooLarge(_)) => Some(not_undoable(
                    rel,
                    &Uncovered::Unreachable("grown past 64 MiB"),
                )),
                Ok(Found::Unreachable(why)) => {
                    Some(not_undoable(rel, &Uncovered::Unreachable(why)))
                }
                Err(_) => Some(not_undoable(rel, &Uncovered::Unreachable("unreadable"))),
            };
        }
        if let Some((stamp, why)) = self.not_kept.get(rel) {
            let now = fs::symlink_metadata(&full).ok().map(|m| Stamp::of(&m));
            return (now.as_ref() != Some(stamp)).then(|| not_undoable(rel, why));
        }
        // Not there at the snapshot, or never walked.
        let found = confined::read(&self.workspace, rel, MAX_FILE).ok()?;
        if found == Found::Missing {
            return None;
        }
        if !walked {
            if let Some(why) = walk::left_out(&self.workspace, rel) {
                // Ignored or skipped: it may have been there all along.
                return self.modified_since(&full).then(|| not_undoable(rel, &why));
            }
        }
        if self.truncated {
            // Past the walk's end: it may have been there all along, too.
            return self
                .modified_since(&full)
                .then(|| not_undoable(rel, &Uncovered::OverBudget));
        }
        match found {
            Found::File(now) => {
                let added = if is_binary(&now) {
                    0
                } else {
                    saturate(lines(&now).len())
                };
                Some(Changed {
                    change: change(rel, added, 0, None),
                    before: Some(Before::Missing),
                    after: Some(content_hash(&now)),
                })
            }
            Found::TooLarge(_) => Some(not_undoable(rel, &Uncovered::TooLarge)),
            Found::Unreachable(why) => Some(not_undoable(rel, &Uncovered::Unreachable(why))),
            Found::Missing => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &[u8]) {
        let p = dir.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn summary(changed: &[Changed]) -> Vec<(String, u32, u32, Option<String>)> {
        changed
            .iter()
            .map(|c| {
                let f = &c.change;
                (f.path.clone(), f.added, f.removed, f.not_undoable.clone())
            })
            .collect()
    }

    #[test]
    fn sees_edits_creations_deletions_and_what_it_could_not_copy() {
        let ws = tempfile::TempDir::new().unwrap();
        let d = ws.path();
        write(d, "app.py", b"a\nb\n");
        write(d, "old.py", b"1\n2\n3\n");
        write(d, "blob.bin", b"\0\x01");
        write(d, "big.txt", &vec![b'x'; MAX_FILE as usize + 1]);
        write(d, "node_modules/dep.js", b"dep\n");
        let snap = Snapshot::take(d, &[], &AtomicBool::new(false)).unwrap();
        assert_eq!(snap.counts().0, 2);
        write(d, "app.py", b"a\nc\nd\n");
        write(d, "new/mod.py", b"n\n");
        fs::remove_file(d.join("old.py")).unwrap();
        write(d, "blob.bin", b"\0\x02\x03");
        write(d, "big.txt", b"small now\n");
        write(d, "node_modules/dep.js", b"changed\n");
        let all = snap.changed(&[], true);
        assert_eq!(
            summary(&all),
            [
                ("app.py".into(), 2, 1, None),
                ("big.txt".into(), 0, 0, Some("larger than 1 MiB".into())),
                ("blob.bin".into(), 0, 0, Some("binary".into())),
                ("new/mod.py".into(), 1, 0, None),
                ("old.py".into(), 0, 3, None),
            ]
        );
        assert_eq!(all[3].before, Some(Before::Missing));
        assert_eq!(all[4].after, None);
        // Only what the agent named: the dependency it edited counts too.
        let named = [
            Resolved::Inside("app.py".into()),
            Resolved::Inside("node_modules/dep.js".into()),
            Resolved::Inside("unchanged/missing.py".into()),
        ];
        assert_eq!(
            summary(&snap.changed(&named, false)),
            [
                ("app.py".into(), 2, 1, None),
                (
                    "node_modules/dep.js".into(),
                    0,
                    0,
                    Some("in node_modules/".into())
                ),
            ]
        );
    }

    #[test]
    fn a_file_it_never_saw_counts_only_when_modified_after_it() {
        let ws = tempfile::TempDir::new().unwrap();
        let d = ws.path();
        write(d, "node_modules/old.js", b"old\n");
        let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(d.join("node_modules/old.js"))
            .unwrap()
            .set_modified(an_hour_ago)
            .unwrap();
        let snap = Snapshot::take(d, &[], &AtomicBool::new(false)).unwrap();
        let named = [Resolved::Inside("node_modules/old.js".into())];
        assert!(snap.changed(&named, false).is_empty());
        let outside = tempfile::NamedTempFile::new().unwrap();
        let named = [Resolved::Outside(outside.path().to_path_buf())];
        let got = snap.changed(&named, false);
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].change.not_undoable.as_deref(),
            Some("outside the workspace")
        );
    }

    #[test]
    fn a_cancelled_snapshot_stops() {
        let ws = tempfile::TempDir::new().unwrap();
        write(ws.path(), "a", b"a");
        assert!(Snapshot::take(ws.path(), &[], &AtomicBool::new(true)).is_err());
    }

    #[test]
    fn past_the_file_budget_the_error_s_files_come_first_and_new_files_are_not_undoable() {
        let ws = tempfile::TempDir::new().unwrap();
        let d = ws.path();
        for f in ["a.py", "b.py", "c.py", "d.py"] {
            write(d, f, b"x\n");
        }
        let first = ["c.py".to_string(), "missing.py".into(), "../x".into()];
        let snap = Snapshot::take_at_most(d, &first, 2, &AtomicBool::new(false)).unwrap();
        assert!(snap.truncated);
        assert!(snap.kept.contains_key("c.py"));
        assert!(snap.counts().0 >= 2);
        write(d, "c.py", b"y\n");
        write(d, "new.py", b"n\n");
        let named = [
            Resolved::Inside("c.py".into()),
            Resolved::Inside("new.py".into()),
        ];
        let got = summary(&snap.changed(&named, false));
        assert_eq!(got[0], ("c.py".into(), 1, 1, None));
        assert_eq!(got[1].0, "new.py");
        assert!(got[1]
            .3
            .as_deref()
            .unwrap()
            .starts_with("over the snapshot budget"));
    }
}

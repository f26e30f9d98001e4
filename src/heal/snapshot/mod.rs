//! The workspace before a fix, and what the fix changed.
//!
//! Captured: the files a fix could plausibly touch (see `walk`: not
//! git-ignored, not under `node_modules`, `target`, `.venv`...), copied into
//! memory when they are text (no NUL in the first 8 KiB) of at most
//! [`MAX_FILE`] bytes, [`MAX_TOTAL`] in all, [`MAX_FILES`] files walked at
//! most. Larger and binary files are only stat-ed (length, times, inode): a
//! fix that changes one is seen, but cannot be undone. Nothing is written
//! anywhere: the user's `.git` is never touched, and after the fix only the
//! pre-fix content of the files it changed is kept, in its undo record
//! (`undo::record`).
//!
//! When, and why it is sound: the agent must start at once, whatever the size
//! of the tree, and an agent takes seconds before its first edit. So
//! [`Taking::start`] copies before the agent starts only the likeliest edit
//! targets: the files the error names, the other files of their directories
//! and of the workspace's top, then the walk, [`BEFORE_AGENT`] files besides
//! the error's own (a few ms; all of a small project, so nothing races
//! there). A worker thread walks and copies the rest while the agent starts
//! and thinks (1–2 s for 100,000 small files here). A file copied before the
//! agent started holds its pre-fix content. One the background copy reaches
//! later is trusted only when its ctime shows no change since the fix started
//! ([`epoch`] reads that start from the filesystem's own clock), checked
//! before and again after reading it: otherwise its pre-fix content is
//! unknown, and a fix that changed it says so, not undoable ("changed before
//! the snapshot reached it"), never with a wrong "before".
//!
//! When the agent ends, the background copy is stopped, not waited for:
//! waiting would gain nothing, as a file it had not reached yet either still
//! has its pre-fix content (nothing to undo) or was changed during the fix
//! (its "before" is lost either way); such a file is judged by its ctime. Not
//! chosen: copying a file when the agent's tool event names it (the event
//! comes after the write), or watching the tree for writes (also after the
//! write, and a watch per directory).
//!
//! After the fix, [`Snapshot::changed`] compares either only the files the
//! agent's tools named (exact and cheap), or the whole walk again, on every
//! core, when the agent ran a shell or does not say what it edits. A file the agent named that
//! the snapshot could not cover (git-ignored, too large, binary, over the
//! budget, outside the workspace) still counts as changed when it was modified
//! after the start, marked with why it is not undoable.

mod compare;
mod epoch;
mod taking;
mod walk;

use std::collections::HashMap;
use std::fmt;
use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::FileStat;

use super::diff::{is_binary, FileChange};
use super::undo::record::Before;
use epoch::{Epoch, Nanos};

pub use taking::{Cancelled, OnDone, Report, Taking};

/// Largest file copied.
pub const MAX_FILE: u64 = 1 << 20;
/// Most bytes copied in all.
pub const MAX_TOTAL: u64 = 64 << 20;
/// Most files walked: past this (a huge tree nobody ignored), the rest is
/// over the budget. The walk runs while the agent works (10–20 µs a file
/// here), and holds about 200 bytes a file besides the copies: 40 MB at most.
pub const MAX_FILES: usize = 200_000;
/// Files copied before the agent starts besides the error's own: about 5 ms
/// here, and all of a small project.
pub const BEFORE_AGENT: usize = 500;
/// Largest file read after the fix to compare with its copy.
pub const MAX_COMPARE: u64 = 64 << 20;

/// Why a changed file is not undoable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uncovered {
    GitIgnored,
    TooLarge,
    Binary,
    OverBudget,
    /// Changed after the fix started, before the background copy had it.
    Raced,
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
            Uncovered::Raced => write!(f, "changed before the snapshot reached it"),
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
    mtime: Nanos,
    ctime: Nanos,
    ino: u64,
    dev: u64,
}

impl Stamp {
    fn of(meta: &Metadata) -> Stamp {
        Stamp {
            len: meta.len(),
            mtime: epoch::stamp_nanos(meta.mtime(), meta.mtime_nsec()),
            ctime: epoch::ctime(meta),
            ino: meta.ino(),
            dev: meta.dev(),
        }
    }

    /// The same, from `fstatat` (as `std` converts it: the field types
    /// differ by platform).
    #[allow(clippy::unnecessary_cast)]
    fn of_stat(st: &FileStat) -> Stamp {
        Stamp {
            len: st.st_size as u64,
            mtime: epoch::stamp_nanos(st.st_mtime as i64, st.st_mtime_nsec as i64),
            ctime: epoch::stamp_nanos(st.st_ctime as i64, st.st_ctime_nsec as i64),
            ino: st.st_ino as u64,
            dev: st.st_dev as u64,
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
    /// [`super::undo::record::content_hash`] of its content now; `None`: the
    /// fix deleted it.
    pub after: Option<String>,
}

/// How far the walk got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Every file was walked.
    Complete,
    /// The walk stopped at [`MAX_FILES`].
    Limit,
    /// The fix ended (or was abandoned) before the walk did.
    Stopped,
}

/// The workspace as it was before a fix.
#[derive(Debug)]
pub struct Snapshot {
    workspace: PathBuf,
    epoch: Epoch,
    /// Boxed slices, not `Vec`s: 8 bytes less a file, over 100,000 files.
    kept: HashMap<Box<str>, (Box<[u8]>, Stamp)>,
    not_kept: HashMap<Box<str>, (Stamp, Uncovered)>,
    bytes_kept: u64,
    /// Files the walk yielded (the error's files aside).
    walked: usize,
    reach: Reach,
}

/// Reads at most `max + 1` bytes of a regular file (a FIFO never blocks the
/// open), and its stamp once read.
fn read_capped(path: &Path, max: u64) -> Option<(Vec<u8>, Stamp)> {
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let mut bytes = Vec::new();
    (&file).take(max + 1).read_to_end(&mut bytes).ok()?;
    let stamp = Stamp::of(&file.metadata().ok()?);
    Some((bytes, stamp))
}

impl Snapshot {
    fn empty(workspace: &Path, epoch: Epoch) -> Snapshot {
        Snapshot {
            workspace: workspace.to_path_buf(),
            epoch,
            kept: HashMap::new(),
            not_kept: HashMap::new(),
            bytes_kept: 0,
            walked: 0,
            reach: Reach::Stopped,
        }
    }

    /// Files copied, files only stat-ed, bytes copied: for `-v` and benchmarks.
    pub fn counts(&self) -> (usize, usize, u64) {
        (self.kept.len(), self.not_kept.len(), self.bytes_kept)
    }

    /// How far the walk got.
    pub fn reach(&self) -> Reach {
        self.reach
    }

    /// Copies `rel` (`meta`: its metadata, read just before) or notes why not.
    /// `before_agent`: the agent has not started, so whatever the file holds is
    /// its pre-fix content; otherwise a file that may have changed since the
    /// start, before or while it is read, is not trusted ([`Uncovered::Raced`]).
    fn capture(&mut self, rel: String, meta: &Metadata, before_agent: bool) {
        if self.kept.contains_key(rel.as_str()) || self.not_kept.contains_key(rel.as_str()) {
            return;
        }
        let rel = rel.into_boxed_str();
        let stamp = Stamp::of(meta);
        let raced = |s: &Stamp| !before_agent && self.epoch.maybe_after(s.dev, s.ctime);
        let why = if raced(&stamp) {
            Some(Uncovered::Raced)
        } else if stamp.len > MAX_FILE {
            Some(Uncovered::TooLarge)
        } else if self.bytes_kept + stamp.len > MAX_TOTAL {
            Some(Uncovered::OverBudget)
        } else {
            match read_capped(&self.workspace.join(&*rel), MAX_FILE) {
                // Changed while it was read, or since the start: not trusted.
                Some((_, read)) if !before_agent && (read != stamp || raced(&read)) => {
                    Some(Uncovered::Raced)
                }
                Some((b, _)) if b.len() as u64 > MAX_FILE => Some(Uncovered::TooLarge),
                Some((b, _)) if is_binary(&b) => Some(Uncovered::Binary),
                Some((b, _)) => {
                    self.bytes_kept += b.len() as u64;
                    self.kept
                        .insert(rel.clone(), (b.into_boxed_slice(), stamp.clone()));
                    None
                }
                // Vanished or unreadable: nothing to restore it to.
                None => Some(Uncovered::Unreachable("unreadable")),
            }
        };
        if let Some(why) = why {
            self.not_kept.insert(rel, (stamp, why));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::fs;
    use std::sync::atomic::AtomicBool;

    pub fn write(dir: &Path, rel: &str, text: &[u8]) {
        let p = dir.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    /// A snapshot taken as a fix takes it, probing `probe` (a directory of the
    /// test's, standing for the state directory), waited to its end.
    pub fn take(ws: &Path, first: &[String], probe: &Path) -> Snapshot {
        let taking = Taking::start(
            ws,
            first,
            Some(probe),
            &AtomicBool::new(false),
            Box::new(|_| {}),
        )
        .unwrap();
        taking.wait();
        taking.into_snapshot()
    }

    #[test]
    fn copies_text_and_only_stats_the_rest() {
        let ws = tempfile::TempDir::new().unwrap();
        let d = ws.path();
        write(d, "app.py", b"a\nb\n");
        write(d, "blob.bin", b"\0\x01");
        write(d, "big.txt", &vec![b'x'; MAX_FILE as usize + 1]);
        write(d, "node_modules/dep.js", b"dep\n");
        let snap = take(d, &[], d);
        assert_eq!(snap.counts(), (1, 2, 4));
        assert_eq!(snap.reach(), Reach::Complete);
        assert_eq!(snap.not_kept["blob.bin"].1, Uncovered::Binary);
        assert_eq!(snap.not_kept["big.txt"].1, Uncovered::TooLarge);
    }

    #[test]
    fn a_file_changed_after_the_start_is_not_trusted_by_the_background_copy() {
        let ws = tempfile::TempDir::new().unwrap();
        let d = ws.path();
        write(d, "early.py", b"before\n");
        write(d, "late.py", b"before\n");
        let epoch = Epoch::begin(Some(d)).settle(d);
        let mut snap = Snapshot::empty(d, epoch);
        let meta = |rel: &str| fs::symlink_metadata(d.join(rel)).unwrap();
        snap.capture("early.py".into(), &meta("early.py"), false);
        // The agent edits late.py before the background copy reaches it.
        write(d, "late.py", b"after\n");
        snap.capture("late.py".into(), &meta("late.py"), false);
        assert_eq!(&*snap.kept["early.py"].0, b"before\n");
        assert_eq!(snap.not_kept["late.py"].1, Uncovered::Raced);
        // Before the agent started, whatever a file holds is its content.
        snap.not_kept.clear();
        snap.capture("late.py".into(), &meta("late.py"), true);
        assert_eq!(&*snap.kept["late.py"].0, b"after\n");
    }

    #[test]
    fn a_stamp_is_the_same_from_metadata_and_from_fstatat() {
        // The snapshot stamps from `Metadata`, the whole-tree comparison from
        // `fstatat`: were they to differ, every file would read as changed.
        let ws = tempfile::TempDir::new().unwrap();
        let d = ws.path();
        write(d, "a/b.py", b"some text\n");
        let meta = fs::symlink_metadata(d.join("a/b.py")).unwrap();
        let dir = File::open(d).unwrap();
        let flags = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
        let st = nix::sys::stat::fstatat(&dir, "a/b.py", flags).unwrap();
        assert_eq!(Stamp::of_stat(&st), Stamp::of(&meta));
        assert_eq!(Stamp::of(&meta).len, 10);
    }

    #[test]
    fn a_file_changed_while_it_is_read_is_not_trusted() {
        let ws = tempfile::TempDir::new().unwrap();
        let d = ws.path();
        write(d, "a.py", b"one\n");
        let epoch = Epoch::begin(Some(d)).settle(d);
        let mut snap = Snapshot::empty(d, epoch);
        // The metadata the walk read, then a change before the read.
        let stale = fs::symlink_metadata(d.join("a.py")).unwrap();
        write(d, "a.py", b"two\n");
        snap.capture("a.py".into(), &stale, false);
        assert_eq!(snap.not_kept["a.py"].1, Uncovered::Raced);
    }
}

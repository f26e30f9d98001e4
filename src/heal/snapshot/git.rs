//! Git snapshots: a tree object written through a temporary index.
//!
//! The user's index, HEAD, refs, stash and working tree are never written. The
//! temporary index starts as a copy of the user's index (so `git add` reuses its
//! stat cache and only hashes files that changed), or from `HEAD` when that copy
//! cannot be used; `git add -A .` then records the workspace as it is, honouring
//! `.gitignore`, and `git write-tree` turns it into a tree. The only trace left in
//! the repository is unreachable blob and tree objects, which `git gc` prunes.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context, Result};

use super::super::diff::FileChange;
use super::super::state::{StateDir, DIR_NAME};
use super::{Before, Changed};

/// A workspace state recorded as a git tree.
#[derive(Debug, Clone)]
pub struct GitSnapshot {
    /// Top of the work tree.
    top: PathBuf,
    /// The workspace relative to `top`, `""` or ending in `/`.
    prefix: String,
    state: StateDir,
    workspace: PathBuf,
    tree: String,
}

fn git(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("GIT_TERMINAL_PROMPT", "0")
        .args(["-c", "gc.auto=0", "-c", "core.safecrlf=false"])
        .stdin(Stdio::null());
    c
}

fn run(mut cmd: Command) -> Result<Vec<u8>> {
    let out: Output = cmd.output().context("running git")?;
    if !out.status.success() {
        bail!(
            "git {:?} failed: {}",
            cmd.get_args().collect::<Vec<&OsStr>>(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

fn text(bytes: Vec<u8>) -> Result<String> {
    Ok(String::from_utf8(bytes)
        .context("git printed non-UTF-8")?
        .trim_end_matches('\n')
        .to_string())
}

impl GitSnapshot {
    /// Snapshot `workspace` if it is inside a git work tree; `Ok(None)` if it is
    /// not, or git is missing.
    pub fn take(workspace: &Path, state: &StateDir) -> Result<Option<GitSnapshot>> {
        let mut probe = git(workspace);
        probe.args(["rev-parse", "--show-toplevel", "--show-prefix"]);
        let out = match probe.stderr(Stdio::null()).output() {
            Ok(o) if o.status.success() => o.stdout,
            _ => return Ok(None),
        };
        let out = text(out)?;
        let mut lines = out.lines();
        let top = PathBuf::from(lines.next().context("git rev-parse printed nothing")?);
        let prefix = lines.next().unwrap_or("").to_string();
        let mut snap = GitSnapshot {
            top,
            prefix,
            state: state.clone(),
            workspace: workspace.to_path_buf(),
            tree: String::new(),
        };
        snap.tree = snap.write_tree()?;
        Ok(Some(snap))
    }

    /// The workspace snapshotted.
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// The tree object of the snapshot.
    pub fn tree(&self) -> &str {
        &self.tree
    }

    /// A tree of the workspace as it is now, through a temporary index.
    fn write_tree(&self) -> Result<String> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let index = TempIndex(
            self.state
                .path(&format!("snapshot-index-{}-{n}", std::process::id())),
        );
        if self.copy_user_index(&index.0).is_ok() {
            if let Ok(tree) = self.add_and_write(&index.0) {
                return Ok(tree);
            }
        }
        index.remove();
        let mut verify = git(&self.top);
        verify.args(["rev-parse", "-q", "--verify", "HEAD^{tree}"]);
        if run(verify).is_ok() {
            let mut read = git(&self.top);
            read.env("GIT_INDEX_FILE", &index.0)
                .args(["read-tree", "HEAD"]);
            run(read)?;
        }
        self.add_and_write(&index.0)
    }

    fn copy_user_index(&self, to: &Path) -> Result<()> {
        let mut c = git(&self.top);
        c.args(["rev-parse", "--git-path", "index"]);
        let path = self.top.join(text(run(c)?)?);
        fs::copy(&path, to).with_context(|| format!("copying {}", path.display()))?;
        Ok(())
    }

    fn add_and_write(&self, index: &Path) -> Result<String> {
        let mut add = git(&self.workspace);
        add.env("GIT_INDEX_FILE", index)
            .args(["add", "-A", "--", "."]);
        run(add)?;
        let mut write = git(&self.top);
        write.env("GIT_INDEX_FILE", index).arg("write-tree");
        text(run(write)?)
    }

    /// Files that differ between the snapshot and the workspace now.
    pub(super) fn changed(&self) -> Result<Vec<Changed>> {
        let now = self.write_tree()?;
        let mut raw = git(&self.top);
        raw.args(["diff-tree", "-r", "-z", "--no-renames", "--no-ext-diff"])
            .args([&self.tree, &now]);
        let raw = run(raw)?;
        let mut numstat = git(&self.top);
        numstat
            .args(["diff-tree", "-r", "-z", "--no-renames", "--numstat"])
            .args([&self.tree, &now]);
        let numstat = run(numstat)?;
        let counts = parse_numstat(&numstat);
        let mut out = Vec::new();
        for r in parse_raw(&raw) {
            let Some(rel) = r.path.strip_prefix(&self.prefix) else {
                continue;
            };
            if rel.starts_with(&format!("{DIR_NAME}/")) {
                continue;
            }
            let (added, removed) = counts.get(&r.path).copied().unwrap_or((0, 0));
            // Symlinks and submodules are reported but not restorable by undo.
            let plain = |mode: &str| mode == "000000" || mode.starts_with("100");
            let before = if !(plain(&r.old_mode) && plain(&r.new_mode)) {
                None
            } else if r.old_mode == "000000" {
                Some(Before::Missing)
            } else {
                let mut cat = git(&self.top);
                cat.args(["cat-file", "--filters"])
                    .arg(format!("--path={}", r.path))
                    .arg(&r.old_sha);
                Some(Before::from_bytes(run(cat)?))
            };
            out.push(Changed {
                change: FileChange {
                    path: rel.to_string(),
                    added,
                    removed,
                },
                before,
            });
        }
        Ok(out)
    }
}

/// Removes the temporary index (and a stale lock next to it) when dropped.
struct TempIndex(PathBuf);

impl TempIndex {
    fn remove(&self) {
        let _ = fs::remove_file(&self.0);
        let mut lock = self.0.clone().into_os_string();
        lock.push(".lock");
        let _ = fs::remove_file(lock);
    }
}

impl Drop for TempIndex {
    fn drop(&mut self) {
        self.remove();
    }
}

struct RawEntry {
    old_mode: String,
    new_mode: String,
    old_sha: String,
    path: String,
}

/// `:old new oldsha newsha S\0path\0` records of `diff-tree -z`.
fn parse_raw(out: &[u8]) -> Vec<RawEntry> {
    let mut fields = out.split(|&b| b == 0);
    let mut entries = Vec::new();
    while let (Some(meta), Some(path)) = (fields.next(), fields.next()) {
        let meta = String::from_utf8_lossy(meta);
        let parts: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
        if parts.len() < 5 {
            continue;
        }
        entries.push(RawEntry {
            old_mode: parts[0].to_string(),
            new_mode: parts[1].to_string(),
            old_sha: parts[2].to_string(),
            path: String::from_utf8_lossy(path).into_owned(),
        });
    }
    entries
}

/// `added\tremoved\tpath\0` records; binary files (`-`) count 0.
fn parse_numstat(out: &[u8]) -> HashMap<String, (u32, u32)> {
    out.split(|&b| b == 0)
        .filter_map(|rec| {
            let rec = String::from_utf8_lossy(rec);
            let mut it = rec.trim_start_matches('\n').splitn(3, '\t');
            let (a, d, p) = (it.next()?, it.next()?, it.next()?);
            Some((
                p.to_string(),
                (a.parse().unwrap_or(0), d.parse().unwrap_or(0)),
            ))
        })
        .collect()
}

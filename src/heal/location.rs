//! Where otorepair keeps the state of a workspace: never where a dev server's
//! file watcher looks (a new file in the workspace made Vite reload the browser
//! in the middle of a fix).
//!
//! - In a git work tree: inside the git directory, `.git/otorepair/` (for a
//!   workspace below the top of the work tree,
//!   `.git/otorepair/workspaces/<dir>-<hash>/`). A directory of ours there is no
//!   object, ref, index or config change: git ignores what it does not know in
//!   its directory, and watchers ignore `.git`. A linked worktree uses its own
//!   git directory (`.git/worktrees/<name>/otorepair/`).
//! - Elsewhere: `$XDG_STATE_HOME/otorepair/workspaces/<dir>-<hash>/`, else
//!   `~/.local/state/otorepair/...` (macOS: `~/Library/Application Support/...`).
//!
//! `<hash>` is FNV-1a of the workspace's canonical path; a `workspace` file in
//! the directory names it. `otorepair config` prints the location.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::detect::fingerprint::fnv1a64;

use super::state::StateError;

/// Name of the directory older versions kept inside the workspace; still read
/// (see `legacy`), never written.
pub const LEGACY_DIR: &str = ".otorepair";

/// Where the state of `workspace` lives: the base directory that must already
/// exist (the git directory, or the user's state directory, which is created),
/// and the parts below it that otorepair creates.
pub(super) struct Location {
    pub(super) base: PathBuf,
    pub(super) parts: Vec<String>,
}

impl Location {
    pub(super) fn path(&self) -> PathBuf {
        self.parts.iter().fold(self.base.clone(), |p, c| p.join(c))
    }
}

/// `<last component>-<hash>`: readable, and unique per path.
fn workspace_key(path: &Path) -> String {
    let name: String = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let hash = fnv1a64(path.as_os_str().as_encoded_bytes());
    if name.is_empty() {
        format!("{hash:016x}")
    } else {
        format!("{name}-{hash:016x}")
    }
}

/// The git directory of the work tree holding `workspace`, and the workspace's
/// path below the top of that work tree. Found by looking for `.git` upwards (a
/// directory, or a file `gitdir: <path>` in linked worktrees and submodules), so
/// git itself is not needed.
fn git_dir_of(workspace: &Path) -> Option<(PathBuf, PathBuf)> {
    for top in workspace.ancestors() {
        let dot_git = top.join(".git");
        let Ok(meta) = fs::metadata(&dot_git) else {
            continue;
        };
        let git_dir = if meta.is_dir() {
            dot_git
        } else {
            let mut text = String::new();
            File::open(&dot_git)
                .ok()?
                .take(4096)
                .read_to_string(&mut text)
                .ok()?;
            let target = text.lines().next()?.strip_prefix("gitdir:")?.trim();
            top.join(target)
        };
        if !git_dir.join("HEAD").is_file() {
            return None;
        }
        let below = workspace.strip_prefix(top).ok()?.to_path_buf();
        return Some((git_dir, below));
    }
    None
}

/// The user's state directory: `$XDG_STATE_HOME` when it is an absolute path
/// (the XDG spec says to ignore a relative one), else the platform's default.
fn user_state_home(env: &dyn Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set("XDG_STATE_HOME").filter(|p| p.is_absolute()) {
        return Some(dir);
    }
    let home = set("HOME")?;
    Some(if cfg!(target_os = "macos") {
        home.join("Library/Application Support")
    } else {
        home.join(".local/state")
    })
}

pub(super) fn locate(
    workspace: &Path,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Location, StateError> {
    if let Some((git_dir, below)) = git_dir_of(workspace) {
        let mut parts = vec!["otorepair".to_string()];
        if !below.as_os_str().is_empty() {
            parts.push("workspaces".into());
            parts.push(workspace_key(&below));
        }
        return Ok(Location {
            base: git_dir,
            parts,
        });
    }
    let base = user_state_home(env).ok_or_else(|| StateError::NoHome {
        workspace: workspace.to_path_buf(),
    })?;
    Ok(Location {
        base,
        parts: vec![
            "otorepair".into(),
            "workspaces".into(),
            workspace_key(workspace),
        ],
    })
}

/// Where the state of `workspace` lives (nothing is created).
pub fn location(workspace: &Path) -> Result<PathBuf, StateError> {
    locate(workspace, &|name| std::env::var_os(name)).map(|l| l.path())
}

/// The directory older versions kept in the workspace, if it is a real
/// directory (a symlink there is never followed).
pub fn legacy_dir(workspace: &Path) -> Option<PathBuf> {
    let dir = workspace.join(LEGACY_DIR);
    let meta = fs::symlink_metadata(&dir).ok()?;
    meta.file_type().is_dir().then_some(dir)
}

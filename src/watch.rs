//! Waiting for the user to change a file, after otorepair gave up on a crash.
//!
//! Uses the `notify` crate (inotify on Linux): events arrive when they happen, with
//! no polling. Changes under `.git`, `.otorepair`, `target`, `node_modules` and
//! git-ignored paths do not count: build output and our own files must not
//! restart the command.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

const IGNORED_DIRS: [&str; 4] = [".git", ".otorepair", "target", "node_modules"];

/// Whether a change to `path` (inside `workspace`) should count.
pub fn counts(workspace: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(workspace) else {
        return false;
    };
    if rel.components().any(|c| {
        IGNORED_DIRS
            .iter()
            .any(|d| c.as_os_str() == std::ffi::OsStr::new(d))
    }) {
        return false;
    }
    !git_ignored(workspace, rel)
}

fn git_ignored(workspace: &Path, rel: &Path) -> bool {
    // Exit 0: ignored; 1: not ignored; anything else (no git, not a repo): not ignored.
    Command::new("git")
        .arg("-C")
        .arg(workspace)
        .args(["check-ignore", "-q", "--"])
        .arg(rel)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.code() == Some(0))
}

/// Watches `workspace` recursively; calls `on_change` for each counting change.
/// The watch lasts as long as the returned watcher.
pub fn watch(
    workspace: &Path,
    on_change: impl Fn() + Send + 'static,
) -> notify::Result<RecommendedWatcher> {
    let root: PathBuf = workspace.to_path_buf();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(event) = res else {
            return;
        };
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        if event.paths.iter().any(|p| counts(&root, p)) {
            on_change();
        }
    })?;
    watcher.watch(workspace, RecursiveMode::Recursive)?;
    Ok(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_output_and_our_own_files_do_not_count() {
        let ws = Path::new("/w");
        assert!(counts(ws, Path::new("/w/src/app.py")));
        assert!(!counts(ws, Path::new("/w/.git/index")));
        assert!(!counts(ws, Path::new("/w/.otorepair/history.json")));
        assert!(!counts(ws, Path::new("/w/target/debug/x")));
        assert!(!counts(ws, Path::new("/w/web/node_modules/a/b.js")));
        assert!(!counts(ws, Path::new("/elsewhere/x")));
    }
}

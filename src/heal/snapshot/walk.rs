//! Which files a fix could plausibly touch: the workspace's files, less what
//! git ignores (`.gitignore` at any level, `.git/info/exclude`, the global
//! excludes file; the `ignore` crate, as ripgrep reads them) and less
//! dependency, cache and VCS directories even when nobody ignored them
//! ([`SKIP_DIRS`]). Symlinks are not followed; names that are not UTF-8 are
//! left out.

use std::fs::Metadata;
use std::path::{Path, PathBuf};

use ignore::{DirEntry, WalkBuilder};

use super::Uncovered;

/// Directories never walked, at any depth.
pub const SKIP_DIRS: [&str; 12] = [
    ".git",
    ".hg",
    ".svn",
    ".otorepair",
    "node_modules",
    "target",
    "__pycache__",
    ".venv",
    "venv",
    ".tox",
    ".mypy_cache",
    ".pytest_cache",
];

fn skipped_dir(entry: &DirEntry) -> bool {
    entry.file_type().is_some_and(|t| t.is_dir())
        && entry
            .file_name()
            .to_str()
            .is_some_and(|n| SKIP_DIRS.contains(&n))
}

fn builder(root: &Path) -> WalkBuilder {
    let mut b = WalkBuilder::new(root);
    b.hidden(false)
        .ignore(false)
        .parents(true)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(true)
        .follow_links(false);
    b
}

/// The regular files under a root, in the walk's order: (relative `/` path,
/// metadata of the entry, read as the walk reached it).
pub struct Files {
    root: PathBuf,
    walk: ignore::Walk,
}

/// The files a fix could plausibly touch under `root`.
pub fn files(root: &Path) -> Files {
    Files {
        root: root.to_path_buf(),
        walk: builder(root).filter_entry(|e| !skipped_dir(e)).build(),
    }
}

/// The files directly in `dir` (workspace-relative, `""` for the root), by
/// the same rules.
pub fn files_in(root: &Path, dir: &str) -> Files {
    let mut b = builder(&root.join(dir));
    b.max_depth(Some(1));
    Files {
        root: root.to_path_buf(),
        walk: b.build(),
    }
}

impl Iterator for Files {
    type Item = (String, Metadata);

    fn next(&mut self) -> Option<(String, Metadata)> {
        for entry in self.walk.by_ref() {
            // An entry we cannot read (permissions, vanished) is not ours to diff.
            let Ok(entry) = entry else { continue };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            let Ok(rel) = entry.path().strip_prefix(&self.root) else {
                continue;
            };
            let Some(rel) = rel
                .to_str()
                .map(|s| s.replace(std::path::MAIN_SEPARATOR, "/"))
            else {
                continue;
            };
            let Ok(meta) = entry.metadata() else { continue };
            return Some((rel, meta));
        }
        None
    }
}

/// Why the walk leaves `rel` out, or `None` when it would include it: under a
/// [`SKIP_DIRS`] directory, or ignored by git. Walks only the directories on
/// the way to `rel`, which must exist.
pub fn left_out(root: &Path, rel: &str) -> Option<Uncovered> {
    let parts: Vec<&str> = rel.split('/').collect();
    if let Some(dir) = parts[..parts.len().saturating_sub(1)]
        .iter()
        .find(|p| SKIP_DIRS.contains(p))
    {
        return Some(Uncovered::SkippedDir(dir.to_string()));
    }
    let target: PathBuf = root.join(rel);
    let on_the_way = target.clone();
    let walk = builder(root)
        .filter_entry(move |e| on_the_way.starts_with(e.path()))
        .build();
    let seen = walk.flatten().any(|e| e.path() == target);
    (!seen).then_some(Uncovered::GitIgnored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::process::Command;

    fn write(dir: &Path, rel: &str) {
        let p = dir.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, "x\n").unwrap();
    }

    #[test]
    fn honours_gitignore_and_skips_dependency_dirs() {
        let ws = tempfile::TempDir::new().unwrap();
        let d = ws.path();
        let ok = Command::new("git")
            .args(["init", "-q"])
            .current_dir(d)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "git init");
        fs::write(d.join(".gitignore"), ".env\nbuild/\n").unwrap();
        for f in [
            ".env",
            "app.py",
            ".github/ci.yml",
            "build/out.js",
            "node_modules/x/i.js",
            "src/node_modules/y.js",
            "src/lib.py",
        ] {
            write(d, f);
        }
        let listed = |files: Files| {
            let mut got: Vec<String> = files.map(|(p, _)| p).collect();
            got.sort();
            got
        };
        assert_eq!(
            listed(files(d)),
            [".github/ci.yml", ".gitignore", "app.py", "src/lib.py"]
        );
        assert_eq!(listed(files_in(d, "")), [".gitignore", "app.py"]);
        assert_eq!(listed(files_in(d, "src")), ["src/lib.py"]);
        assert_eq!(left_out(d, ".env"), Some(Uncovered::GitIgnored));
        assert_eq!(left_out(d, "build/out.js"), Some(Uncovered::GitIgnored));
        assert_eq!(
            left_out(d, "src/node_modules/y.js"),
            Some(Uncovered::SkippedDir("node_modules".into()))
        );
        assert_eq!(left_out(d, "src/lib.py"), None);
    }
}

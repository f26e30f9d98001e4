//! Workspace-relative paths: the one spelling in which snapshots, undo records
//! and the files an agent's tools name are compared.
//!
//! An agent may name a file `./app.py`, `src/../app.py`, `/abs/ws/src/./app.py`,
//! or through the canonical path of a workspace reached by a symlink; all of
//! them are `app.py` here. Normalizing is lexical (`..` removes the component
//! before it, as a user reading the path would), then, when the result is not
//! under the workspace as given, the longest existing ancestor is resolved on
//! disk (a workspace under `/tmp` reached as `/private/tmp`).

use std::path::{Component, Path, PathBuf};

/// Where a path is, relative to the workspace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resolved {
    /// Inside: the relative path, `/`-separated.
    Inside(String),
    /// Outside the workspace (or the workspace itself): the normalized path.
    Outside(PathBuf),
}

impl Resolved {
    /// The path as shown to the user: relative inside, absolute outside.
    pub fn shown(&self) -> String {
        match self {
            Resolved::Inside(rel) => rel.clone(),
            Resolved::Outside(p) => p.display().to_string(),
        }
    }
}

/// `path` without `.` and `..` components (a `..` at the root stays at the root).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn relative_to(path: &Path, root: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// `path` (relative paths are taken from the workspace, as the agent runs
/// there) resolved against `workspace`.
pub fn resolve(workspace: &Path, path: &Path) -> Resolved {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        workspace.join(path)
    };
    let norm = lexical(&joined);
    let mut roots = vec![lexical(workspace)];
    if let Ok(canon) = workspace.canonicalize() {
        if !roots.contains(&canon) {
            roots.push(canon);
        }
    }
    let inside = |p: &Path| roots.iter().find_map(|r| relative_to(p, r));
    if let Some(rel) = inside(&norm) {
        return Resolved::Inside(rel);
    }
    // Resolve the part that exists on disk, keep the rest as written.
    let mut existing = norm.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => break,
        }
    }
    if let Ok(mut real) = existing.canonicalize() {
        real.extend(rest.iter().rev());
        if let Some(rel) = inside(&real) {
            return Resolved::Inside(rel);
        }
    }
    Resolved::Outside(norm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_file_agree() {
        let ws = tempfile::TempDir::new().unwrap();
        let w = ws.path().canonicalize().unwrap();
        std::fs::create_dir(w.join("src")).unwrap();
        let inside = |s: &str| Resolved::Inside(s.to_string());
        for spelled in [
            "app.py".to_string(),
            "./app.py".into(),
            "src/../app.py".into(),
            "src//.././app.py".into(),
            format!("{}/app.py", w.display()),
            format!("{}/src/../app.py", w.display()),
            format!("{}/./app.py", w.display()),
        ] {
            assert_eq!(
                resolve(&w, Path::new(&spelled)),
                inside("app.py"),
                "{spelled}"
            );
        }
        assert_eq!(
            resolve(&w, Path::new("missing/dir/x.py")),
            inside("missing/dir/x.py")
        );
        let long: String = (0..12).map(|i| format!("{i}{}/", "d".repeat(60))).collect();
        assert_eq!(
            resolve(&w, Path::new(&format!("{}/{long}f", w.display()))),
            inside(&format!("{long}f"))
        );
    }

    #[test]
    fn outside_and_through_a_symlinked_root() {
        let ws = tempfile::TempDir::new().unwrap();
        let w = ws.path().canonicalize().unwrap();
        assert_eq!(
            resolve(&w, Path::new("../other/x.py")),
            Resolved::Outside(w.parent().unwrap().join("other/x.py"))
        );
        assert_eq!(
            resolve(&w, Path::new("/etc/passwd")),
            Resolved::Outside("/etc/passwd".into())
        );
        assert!(matches!(resolve(&w, Path::new(".")), Resolved::Outside(_)));
        // The workspace reached through a symlink, the agent naming the real path.
        let links = tempfile::TempDir::new().unwrap();
        let link = links.path().join("ws");
        std::os::unix::fs::symlink(&w, &link).unwrap();
        assert_eq!(
            resolve(&link, &w.join("new/file.py")),
            Resolved::Inside("new/file.py".into())
        );
        assert_eq!(
            resolve(&w, &link.join("a.py")),
            Resolved::Inside("a.py".into())
        );
        assert_eq!(Resolved::Inside("a".into()).shown(), "a");
    }
}

//! Which files a fix could plausibly touch: the workspace's files, less what
//! git ignores (`.gitignore` at any level, `.git/info/exclude`, the global
//! excludes file; the `ignore` crate, as ripgrep reads them) and less
//! dependency, cache and VCS directories even when nobody ignored them
//! ([`SKIP_DIRS`]). Symlinks are not followed; names that are not UTF-8 are
//! left out.
//!
//! Two ways through the same files: [`files`], one at a time in the walk's
//! order (the snapshot copies them while the agent runs, and stops anywhere),
//! and [`visit_files`], all of them on every core (the comparison after a fix,
//! which the restart waits for: most of its time is one `lstat` a file).

use std::borrow::Cow;
use std::fs::{File, Metadata};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use ignore::{DirEntry, ParallelVisitor, ParallelVisitorBuilder, WalkBuilder, WalkState};
use nix::fcntl::AtFlags;
use nix::sys::stat::{self, FileStat};

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

/// The walk of the whole tree under `root`: [`SKIP_DIRS`] never entered.
fn tree(root: &Path) -> WalkBuilder {
    let mut b = builder(root);
    b.filter_entry(|e| !skipped_dir(e));
    b
}

/// The files a fix could plausibly touch under `root`.
pub fn files(root: &Path) -> Files {
    Files {
        root: root.to_path_buf(),
        walk: tree(root).build(),
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

/// A walked entry's relative `/` path when it is a regular file.
fn regular_file<'e>(root: &Path, entry: &'e DirEntry) -> Option<Cow<'e, str>> {
    if !entry.file_type().is_some_and(|t| t.is_file()) {
        return None;
    }
    relative(root, entry.path())
}

/// `path` (under `root`) relative to `root`, with `/` separators, if UTF-8.
/// Borrowed where the separator is `/`: no copy a file.
fn relative<'p>(root: &Path, path: &'p Path) -> Option<Cow<'p, str>> {
    // The walk makes each path by joining names onto `root`, so its bytes
    // start with root's: cheaper than `strip_prefix`, which parses
    // components (0.2 µs a file here).
    let bytes = path.as_os_str().as_encoded_bytes();
    let rel = match bytes.strip_prefix(root.as_os_str().as_encoded_bytes()) {
        Some([sep, rel @ ..]) if std::path::is_separator(char::from(*sep)) => {
            std::str::from_utf8(rel).ok()?
        }
        _ => path.strip_prefix(root).ok()?.to_str()?,
    };
    Some(if std::path::MAIN_SEPARATOR == '/' {
        Cow::Borrowed(rel)
    } else {
        Cow::Owned(rel.replace(std::path::MAIN_SEPARATOR, "/"))
    })
}

impl Iterator for Files {
    type Item = (String, Metadata);

    fn next(&mut self) -> Option<(String, Metadata)> {
        for entry in self.walk.by_ref() {
            // An entry we cannot read (permissions, vanished) is not ours to diff.
            let Ok(entry) = entry else { continue };
            let Some(rel) = regular_file(&self.root, &entry) else {
                continue;
            };
            let Ok(meta) = entry.metadata() else { continue };
            return Some((rel.into_owned(), meta));
        }
        None
    }
}

/// `rel`'s own status (a symlink is not followed), read relative to the
/// root's open directory: a lookup of `rel`'s few names, not of the whole
/// absolute path (15% less time for the comparison here).
fn stat_at(root: &File, rel: &str) -> Option<FileStat> {
    stat::fstatat(root, rel, AtFlags::AT_SYMLINK_NOFOLLOW).ok()
}

/// Calls `visit` on each of the first `max` files [`files`] yields under
/// `root`, with its `lstat`, with a state a thread (from `start`), and
/// returns the states. On every core (the `ignore` crate's parallel walker,
/// by the same rules), in no set order; when there are more than `max` files,
/// again in the walk's order, one at a time, so that the same `max` files are
/// visited as by `files(root).take(max)`.
pub fn visit_files<S, V>(root: &Path, max: usize, start: fn() -> S, visit: V) -> Vec<S>
where
    S: Send,
    V: Fn(&mut S, &str, &FileStat) + Sync,
{
    // A root we cannot open, the walk could not read either.
    let Ok(dir) = File::open(root) else {
        return vec![start()];
    };
    let on_every_core = OnEveryCore {
        root,
        dir: &dir,
        start,
        visit: &visit,
        max,
        yielded: AtomicUsize::new(0),
        over: AtomicBool::new(false),
        done: Mutex::new(Vec::new()),
    };
    tree(root)
        .threads(0) // as many as there are cores
        .build_parallel()
        .visit(&mut Threads(&on_every_core));
    if !on_every_core.over.into_inner() {
        let done = on_every_core.done.into_inner();
        return done.unwrap_or_else(PoisonError::into_inner);
    }
    let mut state = start();
    let in_order = tree(root).build();
    let mut yielded = 0;
    for entry in in_order.flatten() {
        if yielded == max {
            break;
        }
        let Some(rel) = regular_file(root, &entry) else {
            continue;
        };
        let Some(st) = stat_at(&dir, &rel) else {
            continue;
        };
        yielded += 1;
        visit(&mut state, &rel, &st);
    }
    vec![state]
}

/// [`visit_files`]' walk on every core, as its threads share it.
struct OnEveryCore<'a, S, V> {
    root: &'a Path,
    dir: &'a File,
    start: fn() -> S,
    visit: &'a V,
    max: usize,
    /// Files visited, by all threads.
    yielded: AtomicUsize,
    /// More than `max` files: the walk quit.
    over: AtomicBool,
    /// The states of the threads that are done.
    done: Mutex<Vec<S>>,
}

/// Makes each thread's visitor.
struct Threads<'a, S, V>(&'a OnEveryCore<'a, S, V>);

impl<'s, S, V> ParallelVisitorBuilder<'s> for Threads<'s, S, V>
where
    S: Send + 's,
    V: Fn(&mut S, &str, &FileStat) + Sync,
{
    fn build(&mut self) -> Box<dyn ParallelVisitor + 's> {
        Box::new(OneThread {
            walk: self.0,
            state: Some((self.0.start)()),
        })
    }
}

/// One thread's visitor: hands its state back when the thread is done.
struct OneThread<'a, S, V> {
    walk: &'a OnEveryCore<'a, S, V>,
    state: Option<S>,
}

impl<S, V> ParallelVisitor for OneThread<'_, S, V>
where
    S: Send,
    V: Fn(&mut S, &str, &FileStat) + Sync,
{
    fn visit(&mut self, entry: Result<DirEntry, ignore::Error>) -> WalkState {
        let walk = self.walk;
        let Ok(entry) = entry else {
            return WalkState::Continue;
        };
        let Some(rel) = regular_file(walk.root, &entry) else {
            return WalkState::Continue;
        };
        let Some(st) = stat_at(walk.dir, &rel) else {
            return WalkState::Continue;
        };
        if walk.yielded.fetch_add(1, Ordering::Relaxed) >= walk.max {
            walk.over.store(true, Ordering::Relaxed);
            return WalkState::Quit;
        }
        if let Some(state) = &mut self.state {
            (walk.visit)(state, &rel, &st);
        }
        WalkState::Continue
    }
}

impl<S, V> Drop for OneThread<'_, S, V> {
    fn drop(&mut self) {
        if let (Some(state), Ok(mut done)) = (self.state.take(), self.walk.done.lock()) {
            done.push(state);
        }
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

    #[test]
    fn relative_paths_whatever_the_root_s_spelling() {
        let cases = [
            ("/ws", "/ws/a/b.py", Some("a/b.py")),
            ("/ws/", "/ws/a.py", Some("a.py")),
            ("/ws/./x", "/ws/./x/a.py", Some("a.py")),
            ("/ws", "/wsx/a.py", None),
            ("/ws", "/ws", Some("")),
        ];
        for (root, path, want) in cases {
            let got = relative(Path::new(root), Path::new(path));
            assert_eq!(got.as_deref(), want, "{root} {path}");
        }
        use std::os::unix::ffi::OsStrExt;
        let not_utf8 = Path::new(std::ffi::OsStr::from_bytes(b"/ws/\xff.py"));
        assert_eq!(relative(Path::new("/ws"), not_utf8), None);
    }

    /// Many directories, so that every thread of the walk has some.
    fn a_wide_tree() -> tempfile::TempDir {
        let ws = tempfile::TempDir::new().unwrap();
        let d = ws.path();
        for i in 0..40 {
            for f in 0..10 {
                write(d, &format!("pkg{i}/sub/m{f}.py"));
            }
            write(d, &format!("pkg{i}/node_modules/dep.js"));
        }
        write(d, "top.py");
        ws
    }

    fn visited(root: &Path, max: usize) -> Vec<Vec<(String, u64)>> {
        visit_files(root, max, Vec::new, |seen, rel, st| {
            seen.push((rel.to_string(), st.st_size as u64));
        })
    }

    #[test]
    fn on_every_core_it_visits_what_the_walk_yields() {
        let ws = a_wide_tree();
        let d = ws.path();
        let mut walked: Vec<(String, u64)> = files(d).map(|(p, m)| (p, m.len())).collect();
        assert_eq!(walked.len(), 401);
        walked.sort();
        for max in [401, super::super::MAX_FILES] {
            let mut got: Vec<(String, u64)> = visited(d, max).into_iter().flatten().collect();
            got.sort();
            assert_eq!(got, walked, "max {max}");
        }
    }

    #[test]
    fn past_the_limit_it_visits_the_walk_s_first_files_in_order() {
        let ws = a_wide_tree();
        let d = ws.path();
        let first: Vec<(String, u64)> = files(d).take(400).map(|(p, m)| (p, m.len())).collect();
        assert_eq!(visited(d, 400), [first]);
        assert_eq!(visited(d, 0), [Vec::new()]);
    }
}

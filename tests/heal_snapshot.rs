//! Snapshots, change counting and undo against real directories and real git.

use std::fs;
use std::path::Path;
use std::process::Command;

use otorepair::heal::{undo, FileChange, Snapshot};
use tempfile::TempDir;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=x", "-c", "user.email=x@example.com"])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fc(path: &str, added: u32, removed: u32) -> FileChange {
    FileChange {
        path: path.into(),
        added,
        removed,
    }
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

/// What the user's git state is made of, byte for byte.
fn git_state(dir: &Path) -> (Vec<u8>, Vec<u8>, String, String) {
    (
        fs::read(dir.join(".git/index")).unwrap(),
        fs::read(dir.join(".git/HEAD")).unwrap(),
        git(dir, &["rev-parse", "HEAD"]),
        git(dir, &["stash", "list"]),
    )
}

#[test]
fn git_snapshot_finds_changes_and_leaves_git_state_alone() {
    let ws = TempDir::new().unwrap();
    let d = ws.path();
    git(d, &["init", "-q"]);
    write(d, ".gitignore", "ignored.log\n");
    write(d, "src/app.py", "a\nb\nc\n");
    write(d, "gone.txt", "x\ny\n");
    git(d, &["add", "-A"]);
    git(d, &["commit", "-qm", "init"]);
    // A stash entry, a staged change and an unstaged one: all must survive.
    write(d, "src/app.py", "a\nb\nc\nstashed\n");
    git(d, &["stash", "-q"]);
    write(d, "staged.txt", "staged\n");
    git(d, &["add", "staged.txt"]);
    write(d, "src/app.py", "a\nb\nc\nlocal\n");
    let before = git_state(d);

    let snap = Snapshot::take(d).unwrap();
    assert_eq!(snap.kind(), "git");
    // The fix: edit a file, add one, delete one, touch an ignored file.
    write(d, "src/app.py", "a\nB\nc\nlocal\nd\n");
    write(d, "src/new.py", "1\n2\n3\n");
    fs::remove_file(d.join("gone.txt")).unwrap();
    write(d, "ignored.log", "noise\n");
    let changes = snap.finish(100).unwrap();
    assert_eq!(
        changes,
        [
            fc("gone.txt", 0, 2),
            fc("src/app.py", 2, 1),
            fc("src/new.py", 3, 0)
        ]
    );
    assert_eq!(git_state(d), before);
    let status = git(d, &["status", "--porcelain"]);
    assert!(!status.contains(".otorepair"), "{status}");
    let leftovers: Vec<String> = fs::read_dir(d.join(".otorepair"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("index") || n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Undo puts everything back.
    let report = undo(d).unwrap();
    assert_eq!(report.deleted, ["src/new.py"]);
    assert_eq!(report.restored, ["gone.txt", "src/app.py"]);
    assert!(report.left_alone.is_empty());
    assert_eq!(
        fs::read_to_string(d.join("src/app.py")).unwrap(),
        "a\nb\nc\nlocal\n"
    );
    assert_eq!(fs::read_to_string(d.join("gone.txt")).unwrap(), "x\ny\n");
    assert!(!d.join("src/new.py").exists());
    assert_eq!(git_state(d), before);
    assert!(undo(d).unwrap().nothing_to_undo);
}

#[test]
fn git_snapshot_in_a_repo_without_commits_and_in_a_subdirectory() {
    let repo = TempDir::new().unwrap();
    git(repo.path(), &["init", "-q"]);
    let ws = repo.path().join("web");
    write(&ws, "index.js", "one\n");
    write(repo.path(), "outside.txt", "o\n");
    let snap = Snapshot::take(&ws).unwrap();
    assert_eq!(snap.kind(), "git");
    write(&ws, "index.js", "one\ntwo\n");
    write(
        repo.path(),
        "outside.txt",
        "changed outside the workspace\n",
    );
    assert_eq!(snap.changes().unwrap(), [fc("index.js", 1, 0)]);
}

#[test]
fn files_snapshot_outside_git() {
    let ws = TempDir::new().unwrap();
    let d = ws.path();
    write(d, "app.py", "a\nb\n");
    write(d, "old.py", "1\n2\n3\n");
    write(d, "node_modules/dep.js", "dep\n");
    write(d, "target/out.txt", "out\n");
    fs::write(d.join("blob.bin"), b"\0\x01\x02").unwrap();
    let big = "x\n".repeat(600_000); // 1.2 MB: not copied
    write(d, "big.txt", &big);

    let snap = Snapshot::take(d).unwrap();
    assert_eq!(snap.kind(), "files");
    write(d, "app.py", "a\nc\nd\n");
    write(d, "new/mod.py", "n\n");
    fs::remove_file(d.join("old.py")).unwrap();
    write(d, "node_modules/dep.js", "changed\n");
    write(d, "target/out.txt", "changed\n");
    fs::write(d.join("blob.bin"), b"\0\x09").unwrap();
    write(d, "big.txt", &format!("{big}more\n"));
    let changes = snap.finish(7).unwrap();
    assert_eq!(
        changes,
        [
            fc("app.py", 2, 1),
            fc("new/mod.py", 1, 0),
            fc("old.py", 0, 3)
        ]
    );

    // The user edits app.py after the fix: undo must leave it alone.
    write(d, "app.py", "mine\n");
    let report = undo(d).unwrap();
    assert_eq!(report.left_alone, ["app.py"]);
    assert_eq!(report.deleted, ["new/mod.py"]);
    assert_eq!(report.restored, ["old.py"]);
    assert!(report
        .to_string()
        .contains("left alone, edited since the fix: app.py"));
    assert_eq!(fs::read_to_string(d.join("app.py")).unwrap(), "mine\n");
    assert_eq!(fs::read_to_string(d.join("old.py")).unwrap(), "1\n2\n3\n");
    assert!(!d.join("new/mod.py").exists());
    let again = undo(d).unwrap();
    assert!(again.nothing_to_undo);
    assert_eq!(again.to_string(), "nothing to undo\n");
}

#[test]
fn undo_with_no_record_and_after_a_fix_that_changed_nothing() {
    let ws = TempDir::new().unwrap();
    assert!(undo(ws.path()).unwrap().nothing_to_undo);
    write(ws.path(), "a.txt", "a\n");
    let snap = Snapshot::take(ws.path()).unwrap();
    assert!(snap.finish(1).unwrap().is_empty());
    assert!(undo(ws.path()).unwrap().nothing_to_undo);
    assert_eq!(
        fs::read_to_string(ws.path().join(".otorepair/.gitignore")).unwrap(),
        "*\n"
    );
}

#[test]
fn undo_refuses_paths_outside_the_workspace() {
    let ws = TempDir::new().unwrap();
    write(
        ws.path(),
        ".otorepair/last-fix.json",
        r#"{"version":1,"time":1,"used":false,"files":[{"path":"../evil","before":{"kind":"missing"},"after":null}]}"#,
    );
    let err = undo(ws.path()).unwrap_err();
    assert!(err.to_string().contains("outside the workspace"), "{err}");
}

//! Snapshots, what a fix changed, and undo: against real directories and real
//! git through the library, then end to end through the built binary.

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;
use std::sync::atomic::AtomicBool;

use common::{git, path_with_fakes, run_piped, state_home};
use otorepair::heal::attempt::{self, Ending};
use otorepair::heal::paths::Resolved;
use otorepair::heal::{undo, FileChange, HistoryEntry};
use tempfile::TempDir;

fn fc(path: &str, added: u32, removed: u32) -> FileChange {
    FileChange {
        path: path.into(),
        added,
        removed,
        not_undoable: None,
    }
}

fn not_undoable(path: &str, why: &str) -> FileChange {
    FileChange {
        path: path.into(),
        added: 0,
        removed: 0,
        not_undoable: Some(why.into()),
    }
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

/// State outside a git work tree goes to `XDG_STATE_HOME`: the tests' own.
fn isolate_state() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var("XDG_STATE_HOME", state_home()));
}

fn job() -> attempt::Job {
    attempt::Job {
        fingerprint: "f".into(),
        summary: "E".into(),
        files: Vec::new(),
    }
}

fn entry() -> HistoryEntry {
    let red = otorepair::redact::Redactor::default();
    HistoryEntry {
        time: 0,
        fingerprint: "f".into(),
        summary: red.redact("E"),
        command: red.redact("c"),
        backend: "claude".into(),
        success: false,
        duration_ms: 0,
        error_snippet: red.redact(""),
        files: Vec::new(),
    }
}

/// Prepares a fix as the supervisor does, and lets the snapshot's background
/// copy end, as an agent that thinks before its first edit would.
fn prepare(ws: &Path) -> attempt::Prepared {
    isolate_state();
    let prepared = attempt::prepare(ws, &job(), 1, &AtomicBool::new(false), Box::new(|_| {}));
    let prepared = prepared.unwrap();
    prepared.wait_for_snapshot();
    prepared
}

/// A fix with no named files (every change counts), as the supervisor runs
/// one: prepare, `change` the workspace, finish. Returns what changed.
fn fix(ws: &Path, change: impl FnOnce()) -> Vec<FileChange> {
    let prepared = prepare(ws);
    change();
    let ending = Ending {
        named: Vec::new(),
        everything: true,
        failure: None,
        entry: entry(),
        now: 2,
    };
    attempt::finish(&prepared, ending).files
}

/// What the user's git state is made of, byte for byte.
fn git_state(dir: &Path) -> (Vec<(String, Vec<u8>)>, String, String) {
    (
        git_dir_content(dir),
        git(dir, &["rev-parse", "HEAD"]),
        git(dir, &["stash", "list"]),
    )
}

#[test]
fn in_git_a_fix_is_seen_and_undone_and_git_is_never_written() {
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

    // The fix: edit a file, add one, delete one, touch an ignored file.
    let changes = fix(d, || {
        write(d, "src/app.py", "a\nB\nc\nlocal\nd\n");
        write(d, "src/new.py", "1\n2\n3\n");
        fs::remove_file(d.join("gone.txt")).unwrap();
        write(d, "ignored.log", "noise\n");
    });
    assert_eq!(
        changes,
        [
            fc("gone.txt", 0, 2),
            fc("src/app.py", 2, 1),
            fc("src/new.py", 3, 0)
        ]
    );
    assert_eq!(git_state(d), before);
    let status = git(d, &["status", "--porcelain", "--ignored"]);
    assert!(!status.contains("otorepair"), "{status}");

    // Undo puts everything back.
    let report = undo(d, 3).unwrap();
    assert_eq!(report.deleted, ["src/new.py"]);
    assert_eq!(report.restored, ["gone.txt", "src/app.py"]);
    assert!(report.complete());
    assert_eq!(
        fs::read_to_string(d.join("src/app.py")).unwrap(),
        "a\nb\nc\nlocal\n"
    );
    assert_eq!(fs::read_to_string(d.join("gone.txt")).unwrap(), "x\ny\n");
    assert!(!d.join("src/new.py").exists());
    assert_eq!(git_state(d), before);
    assert!(undo(d, 4).unwrap().nothing_to_undo);
}

#[test]
fn a_workspace_below_the_top_of_a_repository() {
    let repo = TempDir::new().unwrap();
    git(repo.path(), &["init", "-q"]);
    let ws = repo.path().join("web");
    write(&ws, "index.js", "one\n");
    write(repo.path(), "outside.txt", "o\n");
    let changes = fix(&ws, || {
        write(&ws, "index.js", "one\ntwo\n");
        write(
            repo.path(),
            "outside.txt",
            "changed outside the workspace\n",
        );
    });
    assert_eq!(changes, [fc("index.js", 1, 0)]);
    assert!(fs::read_dir(repo.path().join(".git/otorepair/workspaces"))
        .unwrap()
        .any(|e| e.unwrap().file_name().to_string_lossy().starts_with("web-")));
}

#[test]
fn outside_git_text_files_are_copied_and_the_rest_only_seen() {
    let ws = TempDir::new().unwrap();
    let d = ws.path();
    write(d, "app.py", "a\nb\n");
    write(d, "old.py", "1\n2\n3\n");
    write(d, "node_modules/dep.js", "dep\n");
    write(d, "target/out.txt", "out\n");
    fs::write(d.join("blob.bin"), b"\0\x01\x02").unwrap();
    let big = "x\n".repeat(600_000); // 1.2 MB: not copied
    write(d, "big.txt", &big);
    let listing = |d: &Path| {
        let mut v: Vec<String> = fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };

    let changes = fix(d, || {
        write(d, "app.py", "a\nc\nd\n");
        write(d, "new/mod.py", "n\n");
        fs::remove_file(d.join("old.py")).unwrap();
        write(d, "node_modules/dep.js", "changed\n");
        write(d, "target/out.txt", "changed\n");
        fs::write(d.join("blob.bin"), b"\0\x09").unwrap();
        write(d, "big.txt", &format!("{big}more\n"));
    });
    assert_eq!(
        changes,
        [
            fc("app.py", 2, 1),
            not_undoable("big.txt", "larger than 1 MiB"),
            not_undoable("blob.bin", "binary"),
            fc("new/mod.py", 1, 0),
            fc("old.py", 0, 3)
        ]
    );

    // The user edits app.py after the fix: undo must leave it alone.
    write(d, "app.py", "mine\n");
    let report = undo(d, 1).unwrap();
    assert_eq!(report.left_alone, ["app.py"]);
    assert_eq!(report.deleted, ["new/mod.py"]);
    assert_eq!(report.restored, ["old.py"]);
    let said = report.to_string();
    assert!(
        said.contains("left alone, edited since the fix: app.py"),
        "{said}"
    );
    assert!(
        said.contains("cannot restore big.txt: larger than 1 MiB"),
        "{said}"
    );
    assert!(said.contains("cannot restore blob.bin: binary"), "{said}");
    assert_eq!(fs::read_to_string(d.join("app.py")).unwrap(), "mine\n");
    assert_eq!(fs::read_to_string(d.join("old.py")).unwrap(), "1\n2\n3\n");
    assert!(!d.join("new/mod.py").exists());
    // app.py is still to undo: once the user's edit is gone, it is.
    write(d, "app.py", "a\nc\nd\n");
    let again = undo(d, 2).unwrap();
    assert_eq!(again.restored, ["app.py"]);
    assert_eq!(fs::read_to_string(d.join("app.py")).unwrap(), "a\nb\n");
    assert!(undo(d, 3).unwrap().nothing_to_undo);
    // Nothing of otorepair's was left in the workspace (the emptied `new/` is
    // the fix's directory).
    assert_eq!(
        listing(d),
        [
            "app.py",
            "big.txt",
            "blob.bin",
            "new",
            "node_modules",
            "old.py",
            "target"
        ]
    );
}

#[test]
fn undo_with_no_record_and_after_a_fix_that_changed_nothing() {
    isolate_state();
    let ws = TempDir::new().unwrap();
    assert!(undo(ws.path(), 1).unwrap().nothing_to_undo);
    write(ws.path(), "a.txt", "a\n");
    assert!(fix(ws.path(), || {}).is_empty());
    let report = undo(ws.path(), 1).unwrap();
    assert!(report.nothing_to_undo);
    assert_eq!(report.to_string(), "nothing to undo\n");
    assert_eq!(fs::read_dir(ws.path()).unwrap().count(), 1);
}

#[test]
fn undo_refuses_paths_outside_the_workspace() {
    isolate_state();
    let ws = TempDir::new().unwrap();
    write(
        ws.path(),
        ".otorepair/last-fix.json",
        r#"{"version":1,"time":1,"used":false,"files":[{"path":"../evil","before":{"kind":"missing"},"after":null}]}"#,
    );
    let err = undo(ws.path(), 1).unwrap_err();
    assert!(err.to_string().contains("outside the workspace"), "{err}");
}

#[test]
fn only_named_files_count_when_the_agent_names_them() {
    isolate_state();
    let ws = TempDir::new().unwrap();
    let d = ws.path();
    write(d, "app.py", "a\n");
    write(d, "server.log", "1\n");
    let prepared = prepare(d);
    write(d, "app.py", "b\n");
    write(d, "server.log", "1\n2\n");
    let ending = Ending {
        named: vec![Resolved::Inside("app.py".into())],
        everything: false,
        failure: None,
        entry: entry(),
        now: 2,
    };
    let done = attempt::finish(&prepared, ending);
    assert_eq!(done.files, [fc("app.py", 1, 1)]);
    assert!(done.failure.is_none());
    // A fix that named nothing it changed is a failure, said why.
    let prepared = prepare(d);
    let ending = Ending {
        named: vec![Resolved::Inside("app.py".into())],
        everything: false,
        failure: None,
        entry: entry(),
        now: 3,
    };
    let done = attempt::finish(&prepared, ending);
    assert_eq!(done.failure.as_deref(), Some("the agent changed no file"));
}

// ---- End to end: the built binary, a real fix, what the snapshot sees. ----

fn all_output(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every file under `.git` with its content, otorepair's own directory left out:
/// objects, refs, index, config, logs, HEAD.
fn git_dir_content(ws: &Path) -> Vec<(String, Vec<u8>)> {
    let root = ws.join(".git");
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(&root).unwrap().display().to_string();
            if rel == "otorepair" {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push((rel, fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// A command that crashes until `file` says "fixed".
fn crash_until_fixed(ws: &Path, file: &str) {
    write(
        ws,
        "check.sh",
        &format!("grep -q fixed '{file}' || {{ echo 'Error: {file} is broken' >&2; exit 1; }}\necho OK\n"),
    );
}

#[test]
fn a_fix_beside_a_big_untracked_file_leaves_the_users_git_untouched() {
    let ws = TempDir::new().unwrap();
    let d = ws.path();
    git(d, &["init", "-q"]);
    write(d, "app.txt", "app broken\n");
    crash_until_fixed(d, "app.txt");
    git(d, &["add", "-A"]);
    git(d, &["commit", "-qm", "init"]);
    // 1 GiB of data, untracked and not ignored (sparse: it costs no disk), and a
    // dependency directory nobody ignored.
    let big = fs::File::create(d.join("data.bin")).unwrap();
    big.set_len(1 << 30).unwrap();
    for i in 0..200 {
        write(
            d,
            &format!("node_modules/dep{i}/index.js"),
            "module.exports = 1;\n",
        );
    }
    let before = git_dir_content(d);
    let out = run_piped(
        &["--", "sh", "check.sh"],
        &[("FAKE_AGENT_EDIT", "app.txt::broken::fixed")],
        Some(d),
    );
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    assert!(
        all_output(&out).contains("app.txt +1 -1"),
        "{}",
        all_output(&out)
    );
    assert!(
        git_dir_content(d) == before,
        "the fix changed the user's .git"
    );
    let undone = common::undo(d);
    assert_eq!(undone.status.code(), Some(0), "{}", all_output(&undone));
    assert_eq!(
        fs::read_to_string(d.join("app.txt")).unwrap(),
        "app broken\n"
    );
    assert!(git_dir_content(d) == before, "undo changed the user's .git");
}

#[test]
fn a_fix_to_a_git_ignored_file_is_a_success_that_undo_cannot_take_back() {
    let ws = TempDir::new().unwrap();
    let d = ws.path();
    git(d, &["init", "-q"]);
    write(d, ".gitignore", ".env\n");
    write(d, ".env", "MODE=broken\n");
    crash_until_fixed(d, ".env");
    let out = run_piped(
        &["--", "sh", "check.sh"],
        &[("FAKE_AGENT_EDIT", ".env::broken::fixed")],
        Some(d),
    );
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(".env changed (not undoable: git-ignored)"),
        "{text}"
    );
    assert!(!text.contains("changed no file"), "{text}");
    let history = fs::read_to_string(common::state_dir(d).join("history.json")).unwrap();
    assert!(history.contains("\"success\": true"), "{history}");
    let undone = common::undo(d);
    let said = all_output(&undone);
    assert_eq!(undone.status.code(), Some(1), "{said}");
    assert!(said.contains("cannot restore .env: git-ignored"), "{said}");
    assert_eq!(fs::read_to_string(d.join(".env")).unwrap(), "MODE=fixed\n");
}

/// A `claude` that edits `$EDIT` (relative to its cwd) and names it in its tool
/// event exactly as `$REPORT` spells it.
const SPELLING_AGENT: &str = r#"#!/usr/bin/env python3
import json, os, sys
sys.stdin.read()
path = os.environ["EDIT"]
with open(path) as f:
    text = f.read()
with open(path, "w") as f:
    f.write(text.replace("broken", "fixed"))
def emit(o):
    print(json.dumps(o), flush=True)
emit({"type": "assistant", "message": {"content": [
    {"type": "tool_use", "name": "Edit", "input": {"file_path": os.environ["REPORT"]}}]}})
emit({"type": "result", "is_error": False, "duration_ms": 5, "result": "done"})
"#;

#[test]
fn paths_the_agent_spells_in_other_ways_still_count_as_its_edit() {
    let bin_dir = TempDir::new().unwrap();
    let agent = bin_dir.path().join("claude");
    fs::write(&agent, SPELLING_AGENT).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&agent, fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin_dir.path().display(), path_with_fakes());
    let long_dir: Vec<String> = (0..8).map(|i| format!("{i}{}", "d".repeat(70))).collect();
    let long = format!("{}/app.txt", long_dir.join("/"));
    // (the file edited, how the agent names it; `{ws}` is the workspace)
    let cases = [
        ("app.txt".to_string(), "./app.txt".to_string()),
        ("src/app.txt".into(), "src/../src/app.txt".into()),
        ("src/app.txt".into(), "{ws}/src/./app.txt".into()),
        (long.clone(), format!("{{ws}}/{long}")),
    ];
    for (file, report) in cases {
        let ws = TempDir::new().unwrap();
        let d = ws.path();
        write(d, &file, "broken\n");
        crash_until_fixed(d, &file);
        let report = report.replace("{ws}", &d.display().to_string());
        let out = run_piped(
            &["--", "sh", "check.sh"],
            &[
                ("PATH", path.as_str()),
                ("EDIT", file.as_str()),
                ("REPORT", report.as_str()),
            ],
            Some(d),
        );
        let text = all_output(&out);
        assert_eq!(out.status.code(), Some(0), "{report}: {text}");
        assert!(!text.contains("changed no file"), "{report}: {text}");
        assert!(text.contains("Fix applied"), "{report}: {text}");
        let undone = common::undo(d);
        assert_eq!(
            undone.status.code(),
            Some(0),
            "{report}: {}",
            all_output(&undone)
        );
        assert_eq!(fs::read_to_string(d.join(&file)).unwrap(), "broken\n");
    }
}

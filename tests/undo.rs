//! Where otorepair keeps its state, and `otorepair undo`, end to end: the built
//! binary, real fixes by fake agents, signals in the middle of a fix, two
//! otorepair processes on one workspace, symlinks where undo must not go.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::{git, repo, run_piped, state_dir, state_home, Opts, Term};
use serde_json::Value;

/// The usual fix of `examples/crash_on_start`; port 0 so tests never race for a port.
const PORT_FIX: &str = r#"app.py::os.environ["PORT"]::os.environ.get("PORT", "0")"#;

fn example(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = repo().join("examples").join(name);
    for entry in fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

/// Every path under `dir` (relative, sorted), `.git` left out.
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            if rel == ".git" {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
            out.push(rel);
        }
    }
    out.sort();
    out
}

fn all_output(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn history(ws: &Path) -> Vec<Value> {
    let text = fs::read_to_string(state_dir(ws).join("history.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["entries"].as_array().unwrap().clone()
}

/// A command that crashes until `file` says "fixed".
fn check_script(ws: &Path, files: &[&str]) {
    let mut s = String::new();
    for f in files {
        s.push_str(&format!(
            "grep -q fixed {f} || {{ echo \"Error: {f} is broken\" >&2; exit 1; }}\n"
        ));
    }
    s.push_str("echo ALL-OK\n");
    fs::write(ws.join("check.sh"), s).unwrap();
}

/// A custom agent command that replaces "broken" with "fixed" in `file`.
fn sed_agent(file: &str) -> String {
    format!("cat >/dev/null; sed -i s/broken/fixed/ {file}; echo edited {file}")
}

/// Heals `sh check.sh` (crashing until `file` says "fixed") with [`sed_agent`].
fn fix_with_sed(ws: &Path, file: &str) {
    check_script(ws, &[file]);
    let out = run_piped(
        &["--agent-cmd", &sed_agent(file), "--", "sh", "check.sh"],
        &[],
        Some(ws),
    );
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
}

/// Runs otorepair in the background with pipes; returns the child.
fn spawn_piped(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> std::process::Child {
    common::piped(args, env)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (generously) for `child` to exit; its output, or a panic naming `what`.
fn wait_output(mut child: std::process::Child, what: &str) -> Output {
    let deadline = Instant::now() + common::DEADLINE;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("{what} did not exit:\n{}", all_output(&out));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `cond` holds, polling files the processes under test write.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + common::DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn contains(path: &Path, needle: &str) -> bool {
    fs::read_to_string(path).is_ok_and(|t| t.contains(needle))
}

#[test]
fn a_run_that_fixes_something_creates_nothing_in_the_workspace() {
    for in_git in [false, true] {
        let dir = example("crash_on_start");
        let ws = dir.path();
        if in_git {
            git(ws, &["init", "-q"]);
            git(ws, &["add", "-A"]);
            git(ws, &["commit", "-qm", "init"]);
        }
        let before = listing(ws);
        let out = run_piped(
            &["--", "python3", "app.py"],
            &[("FAKE_AGENT_EDIT", PORT_FIX), ("ONESHOT", "1")],
            Some(ws),
        );
        assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
        assert_eq!(listing(ws), before, "git: {in_git}");
        assert!(fs::read_to_string(ws.join("app.py"))
            .unwrap()
            .contains(r#"os.environ.get("PORT", "0")"#));
        // The state lives where `otorepair config` says: inside .git in a
        // repository, in the user's state directory elsewhere.
        let state = state_dir(ws);
        if in_git {
            assert!(state.starts_with(ws.join(".git")), "{}", state.display());
        } else {
            assert!(state.starts_with(state_home()), "{}", state.display());
        }
        assert_eq!(history(ws).len(), 1);
        let undone = common::undo(ws);
        assert_eq!(undone.status.code(), Some(0), "{}", all_output(&undone));
        assert!(String::from_utf8_lossy(&undone.stdout).contains("restored: app.py"));
        assert_eq!(listing(ws), before);
    }
}

#[test]
fn a_symlinked_dot_otorepair_never_makes_otorepair_write_outside() {
    let parent = tempfile::tempdir().unwrap();
    fs::write(parent.path().join(".gitignore"), "keep-me\n").unwrap();
    let ws = parent.path().join("ws");
    fs::create_dir(&ws).unwrap();
    fs::copy(
        repo().join("examples/crash_on_start/app.py"),
        ws.join("app.py"),
    )
    .unwrap();
    std::os::unix::fs::symlink("..", ws.join(".otorepair")).unwrap();
    let parent_before = listing(parent.path());
    let out = run_piped(
        &["--", "python3", "app.py"],
        &[("FAKE_AGENT_EDIT", PORT_FIX), ("ONESHOT", "1")],
        Some(&ws),
    );
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    assert_eq!(
        fs::read_to_string(parent.path().join(".gitignore")).unwrap(),
        "keep-me\n"
    );
    assert_eq!(listing(parent.path()), parent_before);
}

#[test]
fn undo_takes_back_a_fix_interrupted_by_a_signal_and_history_records_it() {
    for sig in [libc::SIGTERM, libc::SIGHUP] {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        fs::write(ws.join("a.txt"), "a broken\n").unwrap();
        fs::write(ws.join("b.txt"), "b broken\n").unwrap();
        // A good fix first.
        fix_with_sed(ws, "a.txt");
        assert_eq!(fs::read_to_string(ws.join("a.txt")).unwrap(), "a fixed\n");
        // Then a fix that edits b.txt and is still running when otorepair is told to go.
        check_script(ws, &["b.txt"]);
        let agent = format!("{}; sleep 60", sed_agent("b.txt"));
        let child = spawn_piped(&["--agent-cmd", &agent, "--", "sh", "check.sh"], ws, &[]);
        let pid = child.id() as i32;
        wait_until("the agent's edit", || contains(&ws.join("b.txt"), "fixed"));
        // SAFETY: kill on our own child.
        unsafe {
            libc::kill(pid, sig);
        }
        let out = wait_output(child, "otorepair after a signal");
        assert_eq!(out.status.code(), Some(128 + sig), "{}", all_output(&out));
        // Undo takes back the interrupted fix, not the good one before it.
        let undone = common::undo(ws);
        assert_eq!(undone.status.code(), Some(0), "{}", all_output(&undone));
        assert_eq!(fs::read_to_string(ws.join("b.txt")).unwrap(), "b broken\n");
        assert_eq!(fs::read_to_string(ws.join("a.txt")).unwrap(), "a fixed\n");
        let entries = history(ws);
        assert_eq!(entries.len(), 2, "{entries:#?}");
        assert_eq!(entries[1]["success"], false);
        assert_eq!(entries[1]["files"][0]["path"], "b.txt");
        // The good fix is next in line.
        let undone = common::undo(ws);
        assert_eq!(undone.status.code(), Some(0), "{}", all_output(&undone));
        assert_eq!(fs::read_to_string(ws.join("a.txt")).unwrap(), "a broken\n");
        assert!(String::from_utf8_lossy(&common::undo(ws).stdout).contains("nothing to undo"));
    }
}

#[test]
fn an_undo_that_restores_nothing_keeps_the_record_for_later() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    fs::write(ws.join("a.txt"), "a broken\n").unwrap();
    fix_with_sed(ws, "a.txt");
    fs::write(ws.join("a.txt"), "a fixed\nand mine\n").unwrap();
    let undone = common::undo(ws);
    assert_eq!(undone.status.code(), Some(1), "{}", all_output(&undone));
    assert!(
        String::from_utf8_lossy(&undone.stdout).contains("left alone, edited since the fix: a.txt")
    );
    assert_eq!(
        fs::read_to_string(ws.join("a.txt")).unwrap(),
        "a fixed\nand mine\n"
    );
    // The user takes their own edit back: now the fix can be undone.
    fs::write(ws.join("a.txt"), "a fixed\n").unwrap();
    let undone = common::undo(ws);
    assert_eq!(undone.status.code(), Some(0), "{}", all_output(&undone));
    assert_eq!(fs::read_to_string(ws.join("a.txt")).unwrap(), "a broken\n");
}

#[test]
fn undo_never_writes_through_a_directory_replaced_by_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    fs::create_dir_all(ws.join("src")).unwrap();
    fs::write(ws.join("src/a.txt"), "a broken\n").unwrap();
    fix_with_sed(&ws, "src/a.txt");
    // src/ is replaced by a symlink to a directory outside the workspace holding
    // a file with exactly the fixed content.
    let outside = dir.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("a.txt"), "a fixed\n").unwrap();
    fs::remove_dir_all(ws.join("src")).unwrap();
    std::os::unix::fs::symlink(&outside, ws.join("src")).unwrap();
    let undone = common::undo(&ws);
    assert_eq!(undone.status.code(), Some(1), "{}", all_output(&undone));
    assert!(
        String::from_utf8_lossy(&undone.stdout).contains("src/a.txt"),
        "{}",
        all_output(&undone)
    );
    assert_eq!(
        fs::read_to_string(outside.join("a.txt")).unwrap(),
        "a fixed\n"
    );
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 1);
}

#[test]
fn two_processes_on_one_workspace_undo_only_their_own_fix() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    fs::create_dir(&ws).unwrap();
    fs::write(ws.join("a.txt"), "a broken\n").unwrap();
    fs::write(ws.join("b.txt"), "b broken\n").unwrap();
    fs::write(
        ws.join("a.sh"),
        "grep -q fixed a.txt || { echo 'Error: a' >&2; exit 1; }\necho A-OK\n",
    )
    .unwrap();
    fs::write(
        ws.join("b.sh"),
        "grep -q fixed b.txt || { echo 'Error: b' >&2; exit 1; }\necho B-OK\n",
    )
    .unwrap();
    // A's agent edits a.txt, then waits (outside the workspace) until B is done.
    let go = dir.path().join("go");
    let agent_a = format!(
        "{}; while [ ! -f {} ]; do sleep 0.05; done",
        sed_agent("a.txt"),
        go.display()
    );
    let a = spawn_piped(&["--agent-cmd", &agent_a, "--", "sh", "a.sh"], &ws, &[]);
    wait_until("A's edit", || contains(&ws.join("a.txt"), "fixed"));
    // B fixes b.txt from start to end while A's fix is still running.
    let b = run_piped(
        &["--agent-cmd", &sed_agent("b.txt"), "--", "sh", "b.sh"],
        &[],
        Some(&ws),
    );
    assert_eq!(b.status.code(), Some(0), "{}", all_output(&b));
    fs::write(&go, "").unwrap();
    let a = wait_output(a, "otorepair A");
    assert_eq!(a.status.code(), Some(0), "{}", all_output(&a));
    // A finished last: undo takes back A's file and only that.
    let undone = common::undo(&ws);
    assert_eq!(undone.status.code(), Some(0), "{}", all_output(&undone));
    assert_eq!(String::from_utf8_lossy(&undone.stdout), "restored: a.txt\n");
    assert_eq!(fs::read_to_string(ws.join("b.txt")).unwrap(), "b fixed\n");
    // Then B's.
    let undone = common::undo(&ws);
    assert_eq!(String::from_utf8_lossy(&undone.stdout), "restored: b.txt\n");
    assert_eq!(fs::read_to_string(ws.join("b.txt")).unwrap(), "b broken\n");
}

#[test]
fn a_held_history_lock_neither_hangs_a_fix_nor_swallows_ctrl_c_or_sigterm() {
    use nix::fcntl::{Flock, FlockArg};
    let dir = example("crash_on_start");
    let ws = dir.path();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("agent.jsonl");
    let state = state_dir(ws);
    fs::create_dir_all(&state).unwrap();
    // Another process holds the history lock for as long as this test runs.
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(state.join("history.lock"))
        .unwrap();
    let _held = Flock::lock(file, FlockArg::LockExclusive).unwrap();

    let start = || {
        Term::spawn(
            &["--", "python3", "app.py"],
            Opts {
                cwd: Some(ws),
                env: vec![("FAKE_AGENT_LOG", log.display().to_string())],
                ..Opts::default()
            },
        )
    };
    // Ctrl-C between the crash and the agent's start aborts the fix.
    let mut t = start();
    t.expect("Process crashed. Attempting fix");
    t.send(b"\x03");
    t.expect("aborted");
    t.expect("waiting for a file change");
    t.send(b"\x03");
    assert_eq!(t.wait(), 130, "{}", t.text());
    assert!(!log.exists(), "the agent ran after Ctrl-C");

    // SIGTERM there ends otorepair at once.
    let mut t = start();
    t.expect("Process crashed. Attempting fix");
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(), 143, "{}", t.text());
    assert!(!log.exists(), "the agent ran after SIGTERM");

    // Left alone, the fix goes ahead without the history once the wait is over.
    let child = spawn_piped(
        &["--", "python3", "app.py"],
        ws,
        &[("FAKE_AGENT_EDIT", PORT_FIX), ("ONESHOT", "1")],
    );
    let out = wait_output(child, "otorepair with the history locked");
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    assert!(all_output(&out).contains("locked"), "{}", all_output(&out));
}

/// Heals `examples/crash_on_start` copied in `ws`; returns the fix prompt.
fn fix_crash_on_start(ws: &Path) -> String {
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("agent.jsonl");
    let out = run_piped(
        &["--", "python3", "app.py"],
        &[
            ("FAKE_AGENT_EDIT", PORT_FIX),
            ("ONESHOT", "1"),
            ("FAKE_AGENT_LOG", log.to_str().unwrap()),
        ],
        Some(ws),
    );
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    let text = fs::read_to_string(&log).unwrap();
    let record: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    record["stdin"].as_str().unwrap().to_string()
}

/// `fnv1a64:<hex>:<len>`, the post-fix hash an undo record carries.
fn content_hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("fnv1a64:{h:016x}:{}", bytes.len())
}

#[test]
fn an_existing_dot_otorepair_is_read_and_never_written() {
    let dir = example("crash_on_start");
    let ws = dir.path();
    let legacy = ws.join(".otorepair");
    fs::create_dir(&legacy).unwrap();
    let history = r#"{"version":1,"entries":[{"time":1,"fingerprint":"old","summary":"KeyError: LEGACY-MARKER-7","command":"python3 app.py","backend":"claude","success":false,"duration_ms":10,"error_snippet":"Traceback","files":[]}]}"#;
    fs::write(legacy.join("history.json"), history).unwrap();
    fs::write(ws.join("old.txt"), "new\n").unwrap();
    let record = format!(
        r#"{{"version":1,"time":1,"used":false,"files":[{{"path":"old.txt","before":{{"kind":"text","text":"old\n"}},"after":"{}"}}]}}"#,
        content_hash(b"new\n")
    );
    fs::write(legacy.join("last-fix.json"), &record).unwrap();
    let legacy_before = listing(&legacy);

    let prompt = fix_crash_on_start(ws);
    assert!(prompt.contains("LEGACY-MARKER-7"), "{prompt}");
    // The new fix first, then the one recorded before.
    assert!(String::from_utf8_lossy(&common::undo(ws).stdout).contains("restored: app.py"));
    let undone = common::undo(ws);
    assert_eq!(undone.status.code(), Some(0), "{}", all_output(&undone));
    assert_eq!(fs::read_to_string(ws.join("old.txt")).unwrap(), "old\n");
    assert!(String::from_utf8_lossy(&common::undo(ws).stdout).contains("nothing to undo"));
    // The old directory is read, never written.
    assert_eq!(listing(&legacy), legacy_before);
    assert_eq!(
        fs::read_to_string(legacy.join("history.json")).unwrap(),
        history
    );
    assert_eq!(
        fs::read_to_string(legacy.join("last-fix.json")).unwrap(),
        record
    );
}

#[test]
fn a_huge_history_entry_is_clipped_before_it_reaches_the_prompt() {
    let dir = example("crash_on_start");
    let ws = dir.path();
    // Under the 4 MiB read limit, so it is read, and must be clipped.
    let huge = "x".repeat(500_000);
    let entry = serde_json::json!({
        "time": 1, "fingerprint": huge, "summary": format!("KeyError: {huge}"),
        "command": huge, "backend": "claude", "success": false, "duration_ms": 10,
        "error_snippet": huge, "files": [{"path": huge, "added": 1, "removed": 1}],
    });
    let file = serde_json::json!({"version": 1, "entries": [entry]});
    fs::create_dir(ws.join(".otorepair")).unwrap();
    fs::write(ws.join(".otorepair/history.json"), file.to_string()).unwrap();
    let prompt = fix_crash_on_start(ws);
    assert!(
        prompt.contains("KeyError: xxx"),
        "the old entry is still shown"
    );
    assert!(prompt.len() < 32 * 1024, "prompt of {} bytes", prompt.len());
}

/// The state directory is a place of its own, named by `otorepair config`.
#[test]
fn config_names_the_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    let state: PathBuf = state_dir(dir.path());
    assert!(
        state.starts_with(state_home().join("otorepair")),
        "{}",
        state.display()
    );
    assert!(!dir.path().join(".otorepair").exists());
}

#[test]
fn a_fix_aborted_after_its_edit_says_what_it_changed_and_undo_takes_it_back() {
    let dir = example("crash_on_start");
    let before = fs::read(dir.path().join("app.py")).unwrap();
    let mut t = Term::spawn(
        &["--", "python3", "app.py"],
        Opts {
            cwd: Some(dir.path()),
            env: vec![
                ("FAKE_AGENT_EDIT", PORT_FIX.to_string()),
                // The fake agent edits, then thinks on.
                ("FAKE_AGENT_SLEEP", "60".to_string()),
            ],
            ..Opts::default()
        },
    );
    t.expect("Edit app.py");
    t.send(b"\x03");
    t.expect("waiting for a file change");
    t.send(b"\x03");
    assert_eq!(t.wait(), 130);
    let text = t.text();
    assert!(
        text.contains("aborted · app.py +1 -1 (otorepair undo to revert)"),
        "the panel hides what the aborted fix changed:\n{text}"
    );
    let out = common::undo(dir.path());
    assert!(
        all_output(&out).contains("restored: app.py"),
        "{}",
        all_output(&out)
    );
    assert_eq!(fs::read(dir.path().join("app.py")).unwrap(), before);
}

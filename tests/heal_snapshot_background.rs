//! The snapshot's background copy on a big tree of un-ignored files, end to
//! end: the agent starts at once, an edit made once the copy is done is
//! undoable wherever it is, and an edit racing the copy is never undone to a
//! wrong content.

mod common;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{git, path_with_fakes};
use tempfile::TempDir;

const DIRS: usize = 100;
const PER_DIR: usize = 200;

fn rel(dir: usize, file: usize) -> String {
    format!("src/gen/d{dir:03}/m{file:04}.py")
}

fn original(dir: usize, file: usize) -> String {
    format!("broken {dir} {file}\n")
}

/// 20,000 small source files nobody ignored (twice the old walk's limit), and
/// a command that crashes until the first of `edited` says "fixed", with an
/// error that names no file.
fn big_tree(ws: &Path, edited: &[(usize, usize)]) {
    for d in 0..DIRS {
        let dir = ws.join(format!("src/gen/d{d:03}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..PER_DIR {
            fs::write(dir.join(format!("m{f:04}.py")), original(d, f)).unwrap();
        }
    }
    let (d, f) = edited[0];
    fs::write(
        ws.join("check.sh"),
        format!(
            "grep -q fixed {} || {{ echo 'Error: the generated data is broken' >&2; exit 1; }}\necho OK\n",
            rel(d, f)
        ),
    )
    .unwrap();
}

/// Ten files spread over the tree.
fn scattered() -> Vec<(usize, usize)> {
    (0..10)
        .map(|k| (k * 10 + 3, (k * 37 + 11) % PER_DIR))
        .collect()
}

/// An agent that edits each file of `$EDIT` (`;`-separated) from "broken" to
/// "fixed", once `$GO` exists if set, naming each in a Claude tool event when
/// `$NAME_EDITS` is 1.
const EDITING_AGENT: &str = r#"#!/usr/bin/env python3
import json, os, sys, time
sys.stdin.read()
go = os.environ.get("GO")
if go:
    deadline = time.time() + 120
    while not os.path.exists(go):
        if time.time() > deadline:
            sys.exit(3)
        time.sleep(0.02)
for path in os.environ["EDIT"].split(";"):
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("broken", "fixed"))
    if os.environ.get("NAME_EDITS") == "1":
        print(json.dumps({"type": "assistant", "message": {"content": [
            {"type": "tool_use", "name": "Edit", "input": {"file_path": os.path.abspath(path)}}]}}), flush=True)
if os.environ.get("NAME_EDITS") == "1":
    print(json.dumps({"type": "result", "is_error": False, "duration_ms": 5, "result": "done"}), flush=True)
"#;

/// A bin directory holding [`EDITING_AGENT`] as `claude`.
fn agent_dir() -> (TempDir, PathBuf) {
    let dir = TempDir::new().unwrap();
    let agent = dir.path().join("claude");
    fs::write(&agent, EDITING_AGENT).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&agent, fs::Permissions::from_mode(0o755)).unwrap();
    (dir, agent)
}

/// otorepair running with pipes, its output collected as it comes.
struct Run {
    child: std::process::Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

fn collect(mut from: impl Read + Send + 'static) -> (Arc<Mutex<Vec<u8>>>, JoinHandle<()>) {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let to = buf.clone();
    let reader = std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = from.read(&mut chunk) {
            if n == 0 {
                break;
            }
            to.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    (buf, reader)
}

impl Run {
    fn start(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Run {
        let mut child = common::piped(args, env)
            .current_dir(cwd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (stdout, out_reader) = collect(child.stdout.take().unwrap());
        let (stderr, err_reader) = collect(child.stderr.take().unwrap());
        Run {
            child,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
        }
    }

    fn text(&self) -> String {
        let out = String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned();
        out + &String::from_utf8_lossy(&self.stderr.lock().unwrap())
    }

    fn wait_for_text(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !self.text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its exit code and all it printed (once its pipes are closed).
    fn wait(mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                if self.readers.iter().all(|r| r.is_finished()) {
                    return (status.code(), self.text());
                }
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("otorepair did not exit:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn all_output(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn an_edit_deep_in_a_big_tree_that_the_error_does_not_name_is_seen_and_undone() {
    let ws = TempDir::new().unwrap();
    let d = ws.path();
    git(d, &["init", "-q"]);
    let edited = scattered();
    big_tree(d, &edited);
    let (bin_dir, _) = agent_dir();
    let go = bin_dir.path().join("go");
    let edit: Vec<String> = edited.iter().map(|&(a, b)| rel(a, b)).collect();
    let path = format!("{}:{}", bin_dir.path().display(), path_with_fakes());
    let run = Run::start(
        &["-v", "--", "sh", "check.sh"],
        d,
        &[
            ("PATH", path.as_str()),
            ("EDIT", edit.join(";").as_str()),
            ("NAME_EDITS", "1"),
            ("GO", go.to_str().unwrap()),
        ],
    );
    // The agent thinks until the background copy is done.
    run.wait_for_text("snapshot complete:");
    fs::write(&go, "").unwrap();
    let (code, text) = run.wait();
    assert_eq!(code, Some(0), "{text}");
    // The agent was started before the copy was done: the 20,000 files were
    // not all captured before it.
    let early = text
        .lines()
        .find_map(|l| l.split("snapshot: ").nth(1))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no early snapshot line in:\n{text}"));
    assert!(early < DIRS * PER_DIR, "{text}");
    for file in &edit {
        assert!(text.contains(&format!("{file} +1 -1")), "{file}: {text}");
    }
    assert!(!text.contains("not undoable"), "{text}");
    let undone = common::undo(d);
    assert_eq!(undone.status.code(), Some(0), "{}", all_output(&undone));
    for &(a, b) in &edited {
        assert_eq!(
            fs::read_to_string(d.join(rel(a, b))).unwrap(),
            original(a, b)
        );
    }
}

#[test]
fn an_edit_racing_the_background_copy_is_never_undone_to_a_wrong_content() {
    let ws = TempDir::new().unwrap();
    let d = ws.path();
    let edited = scattered();
    big_tree(d, &edited);
    let (_bin_dir, agent) = agent_dir();
    let edit: Vec<String> = edited.iter().map(|&(a, b)| rel(a, b)).collect();
    // A custom agent edits at once and names nothing: every change counts.
    let cmd = format!("python3 {}", agent.display());
    let run = Run::start(
        &["--agent-cmd", &cmd, "--", "sh", "check.sh"],
        d,
        &[("EDIT", &edit.join(";"))],
    );
    let (code, text) = run.wait();
    assert_eq!(code, Some(0), "{text}");
    let fix_line = text
        .lines()
        .find(|l| l.contains("Fix applied"))
        .unwrap_or_else(|| panic!("no fix line in:\n{text}"));
    let mut undoable = Vec::new();
    for (file, &(a, b)) in edit.iter().zip(&edited) {
        if fix_line.contains(&format!("{file} +1 -1")) {
            undoable.push((a, b));
        } else {
            let raced =
                format!("{file} changed (not undoable: changed before the snapshot reached it)");
            assert!(fix_line.contains(&raced), "{file}: {fix_line}");
        }
    }
    // Nothing else was reported: the files it did not touch are unchanged.
    assert_eq!(fix_line.matches(", ").count() + 1, edit.len(), "{fix_line}");
    let undone = common::undo(d);
    let said = all_output(&undone);
    let all = undoable.len() == edited.len();
    assert_eq!(
        undone.status.code(),
        Some(if all { 0 } else { 1 }),
        "{said}"
    );
    for (file, &(a, b)) in edit.iter().zip(&edited) {
        let now = fs::read_to_string(d.join(file)).unwrap();
        if undoable.contains(&(a, b)) {
            assert_eq!(now, original(a, b), "{file}: {said}");
        } else {
            assert_eq!(now, original(a, b).replace("broken", "fixed"), "{file}");
            assert!(said.contains(&format!("cannot restore {file}")), "{said}");
        }
    }
}

#[test]
fn sigterm_while_the_background_copy_runs_ends_otorepair_and_keeps_the_fix_s_record() {
    let ws = TempDir::new().unwrap();
    let d = ws.path();
    let edited = scattered();
    big_tree(d, &edited);
    let target = rel(edited[0].0, edited[0].1);
    // Edits at once, then keeps running: the copy is still going (most runs:
    // it takes a few hundred ms here).
    let cmd = format!("sed -i s/broken/fixed/ {target}; sleep 60");
    let run = Run::start(&["-v", "--agent-cmd", &cmd, "--", "sh", "check.sh"], d, &[]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !fs::read_to_string(d.join(&target)).is_ok_and(|t| t.contains("fixed")) {
        assert!(Instant::now() < deadline, "no edit:\n{}", run.text());
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill on our own child.
    unsafe {
        libc::kill(run.child.id() as i32, libc::SIGTERM);
    }
    let (code, text) = run.wait();
    assert_eq!(code, Some(143), "{text}");
    assert!(text.contains("Fix interrupted"), "{text}");
    let history = fs::read_to_string(common::state_dir(d).join("history.json")).unwrap();
    assert!(history.contains(&target), "{history}");
    // Undone to its content before the fix, or named as not undoable.
    let undone = common::undo(d);
    let said = all_output(&undone);
    let now = fs::read_to_string(d.join(&target)).unwrap();
    let (a, b) = edited[0];
    match undone.status.code() {
        Some(0) => assert_eq!(now, original(a, b), "{said}"),
        _ => {
            assert!(said.contains(&format!("cannot restore {target}")), "{said}");
            assert_eq!(now, original(a, b).replace("broken", "fixed"));
        }
    }
}

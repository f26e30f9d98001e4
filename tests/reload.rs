//! Knowing when a fix has taken effect, with fake agents and small scripted
//! commands: a crash inside a wrapper is one crash, a fix lands (reload
//! evidence, or a restart when none comes), the fixed error coming back from
//! the old code is not a failed fix, and `--verify` runs the user's check.
//! Real dev servers are in `tests/dev_servers.rs`.

mod common;

use std::path::Path;

use common::{read_jsonl, run_piped, Opts, Term};
use serde_json::Value;

fn records(log: &Path, mode: &str) -> Vec<Value> {
    read_jsonl(log)
        .into_iter()
        .filter(|r| r["mode"] == mode)
        .collect()
}

fn events(path: &Path, name: &str) -> Vec<Value> {
    read_jsonl(path)
        .into_iter()
        .filter(|e| e["event"] == name)
        .collect()
}

/// Crashes with a KeyError until fixed; prints `fixed` and exits 0 after.
const CRASHER: &str = "def main():\n    d = {}\n    return d['total']\nmain()\n";
const CRASHER_FIX: &str = "crash.py::return d['total']::print('fixed', flush=True)";

/// Wrappers that outlive the crashing process, as `npm run`, `make` and
/// `sh -c "...; cleanup"` do.
const WRAPPERS: &[&str] = &[
    "python3 crash.py; s=$?; sleep 1; exit $s",
    "python3 wrapper.py",
];
/// Like npm: runs the script, complains after a moment, exits with its code.
const NPM_LIKE: &str = "import subprocess, sys, time\n\
r = subprocess.run([sys.executable, 'crash.py'])\n\
time.sleep(0.6)\n\
print('npm error Lifecycle script `dev` failed with error:', flush=True)\n\
sys.exit(r.returncode)\n";

fn crasher_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("crash.py"), CRASHER).unwrap();
    std::fs::write(dir.path().join("wrapper.py"), NPM_LIKE).unwrap();
    dir
}

#[test]
fn a_crash_inside_a_wrapper_is_reported_once() {
    for wrapper in WRAPPERS {
        let dir = crasher_dir();
        let mut t = Term::spawn(
            &["--dry-run", wrapper],
            Opts {
                cwd: Some(dir.path()),
                ..Opts::default()
            },
        );
        assert_eq!(t.wait(), 1, "{wrapper}: {}", t.text());
        let text = t.text();
        assert_eq!(
            text.matches("would fix: KeyError").count(),
            1,
            "{wrapper}: the crash was reported as a live error too:\n{text}"
        );
    }
}

#[test]
fn a_crash_inside_a_wrapper_costs_no_triage_and_one_fix() {
    for wrapper in WRAPPERS {
        let dir = crasher_dir();
        let logs = tempfile::tempdir().unwrap();
        let log = logs.path().join("agent.jsonl");
        let out = run_piped(
            &[wrapper],
            &[
                ("FAKE_AGENT_LOG", log.to_str().unwrap()),
                ("FAKE_AGENT_EDIT", CRASHER_FIX),
            ],
            Some(dir.path()),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{wrapper}: {err}");
        assert_eq!(records(&log, "triage").len(), 0, "{wrapper}: {err}");
        assert_eq!(records(&log, "fix").len(), 1, "{wrapper}: {err}");
    }
}

/// The app a fake dev server serves: `handle()` raises until fixed.
const APP: &str = "def handle():\n    d = {}\n    return d['total']\n";
const APP_FIX: &str = "app.py::return d['total']::return 'ok'";

/// A worker that "serves a request" every `EVERY` seconds with the app's
/// `handle()`, logging the traceback when it raises (a live error, as Flask's
/// or uvicorn's error log). With `MODE=inprocess` it reloads the app itself
/// half a second after it changes, clearing the screen first (as tsc and Vite).
const WORKER: &str = r#"import os, sys, time, traceback
mode = os.environ.get("MODE", "none")
every = float(os.environ.get("EVERY", "1"))
def load():
    ns = {}
    exec(compile(open("app.py").read(), os.path.abspath("app.py"), "exec"), ns)
    return ns["handle"], os.stat("app.py").st_mtime_ns
handle, seen = load()
print("serving", os.getpid(), flush=True)
while True:
    if mode == "inprocess" and os.stat("app.py").st_mtime_ns != seen:
        time.sleep(0.5)
        sys.stdout.write("\x1b[2J\x1b[3J\x1b[H")
        print("File change detected. Starting incremental compilation...", flush=True)
        handle, seen = load()
    try:
        print("GET / 200", handle(), flush=True)
    except Exception:
        traceback.print_exc()
        sys.stderr.flush()
    time.sleep(every)
"#;

/// A reloader that restarts the worker without a word, 1.5 s after app.py
/// changes: meanwhile the old worker keeps failing.
const RELOADER: &str = r#"import os, subprocess, sys, time
def mtime():
    return os.stat("app.py").st_mtime_ns
while True:
    seen = mtime()
    worker = subprocess.Popen([sys.executable, "worker.py"])
    while mtime() == seen:
        time.sleep(0.1)
    time.sleep(1.5)
    worker.terminate()
    worker.wait()
"#;

fn server_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("app.py", APP),
        ("worker.py", WORKER),
        ("reloader.py", RELOADER),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

/// What a run of a fake server through otorepair showed.
struct Served {
    text: String,
    fixes: Vec<Value>,
    events: std::path::PathBuf,
    _logs: tempfile::TempDir,
}

/// Runs `python3 program` through otorepair (fake claude fixing app.py) until the
/// fixed code has served three requests.
fn serve(program: &str, mode: &str, extra: &[&str]) -> Served {
    let dir = server_dir();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("agent.jsonl");
    let events = logs.path().join("events.jsonl");
    let mut args = vec!["--events", events.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "python3", program]);
    let mut t = Term::spawn(
        &args,
        Opts {
            cwd: Some(dir.path()),
            env: vec![
                ("FAKE_AGENT_LOG", log.display().to_string()),
                ("FAKE_AGENT_EDIT", APP_FIX.to_string()),
                ("MODE", mode.to_string()),
            ],
            ..Opts::default()
        },
    );
    t.expect("Fix applied in");
    t.expect("otorepair undo to revert");
    // The fixed code serves, and a few requests later nothing has been retried.
    t.wait_for(
        |s| s.matches("GET / 200 ok").count() >= 3,
        "three requests served by the fixed code",
    );
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(), 143);
    Served {
        text: t.text(),
        fixes: records(&log, "fix"),
        events,
        _logs: logs,
    }
}

fn assert_one_fix(s: &Served) {
    assert_eq!(s.fixes.len(), 1, "{}", s.text);
    assert!(!s.text.contains("attempt 2/"), "{}", s.text);
    assert!(!s.text.contains("Giving up"), "{}", s.text);
}

fn evidence(s: &Served) -> Vec<String> {
    events(&s.events, "reload")
        .iter()
        .map(|e| e["evidence"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn the_old_code_failing_until_the_worker_restarts_is_not_a_failed_fix() {
    let s = serve("reloader.py", "none", &[]);
    assert_one_fix(&s);
    assert!(s.text.contains("Waiting for hot-reload"), "{}", s.text);
    assert_eq!(evidence(&s), ["process"], "{}", s.text);
    assert_eq!(events(&s.events, "live").len(), 1);
    assert!(!s.text.contains("no reload seen"), "{}", s.text);
    // The prompt promised no more than otorepair does.
    let prompt = s.fixes[0]["stdin"].as_str().unwrap();
    assert!(
        prompt.contains("the dev server reloads the change, or is restarted for you"),
        "{prompt}"
    );
}

#[test]
fn without_a_reloader_auto_restarts_the_command_and_says_so() {
    let s = serve("worker.py", "none", &["--reload-timeout", "1"]);
    assert_one_fix(&s);
    assert!(
        s.text.contains("no reload seen in 1s; restarting"),
        "{}",
        s.text
    );
    assert!(s.text.contains("Process restarted (PID"), "{}", s.text);
    assert_eq!(evidence(&s), ["restart"], "{}", s.text);
}

#[test]
fn the_fix_record_comes_after_the_screen_clear_of_an_in_process_reload() {
    let s = serve("worker.py", "inprocess", &[]);
    assert_one_fix(&s);
    assert_eq!(evidence(&s), ["output"], "{}", s.text);
    let clear = s
        .text
        .rfind("\x1b[2J")
        .expect("the watcher cleared the screen");
    let record = s
        .text
        .find(
            "fixed KeyError: 'total' in handle (app.py) · app.py +1 -1 · otorepair undo to revert",
        )
        .unwrap_or_else(|| panic!("no fix record:\n{}", s.text));
    assert!(clear < record, "the clear erased the record:\n{}", s.text);
}

/// A custom agent that saves each prompt and fixes app.py (the first time) or
/// touches it (after that).
const AGENT: &str = r##"import os, sys
logs = os.path.dirname(os.path.abspath(__file__))
prompt = sys.stdin.read()
n = len([f for f in os.listdir(logs) if f.startswith("prompt-")]) + 1
open(os.path.join(logs, "prompt-%d.txt" % n), "w").write(prompt)
text = open("app.py").read()
if "return d['total']" in text:
    text = text.replace("return d['total']", "return 'ok'")
else:
    text += "# checked again\n"
open("app.py", "w").write(text)
print("Edited app.py")
"##;

/// The user's check: fails the first time (with a secret in its output).
const CHECK: &str = r#"import os, sys
logs = os.path.dirname(os.path.abspath(__file__))
runs = os.path.join(logs, "checks")
n = int(open(runs).read()) + 1 if os.path.exists(runs) else 1
open(runs, "w").write(str(n))
if n == 1:
    print("FAILED test_cart - AssertionError: cart total is 0 (token ghp_abcdefghijklmnopqrstuvwxyz0123456789)")
    sys.exit(1)
print("1 passed")
"#;

/// Writes [`AGENT`] and [`CHECK`] into `logs`; the command lines that run them.
fn agent_and_check(logs: &Path) -> (String, String) {
    std::fs::write(logs.join("agent.py"), AGENT).unwrap();
    std::fs::write(logs.join("check.py"), CHECK).unwrap();
    (
        format!("python3 {}", logs.join("agent.py").display()),
        format!("python3 {}", logs.join("check.py").display()),
    )
}

#[test]
fn a_failing_check_is_a_failed_attempt_and_the_next_prompt_carries_its_output() {
    let dir = server_dir();
    let logs = tempfile::tempdir().unwrap();
    let events_file = logs.path().join("events.jsonl");
    let (agent, check) = agent_and_check(logs.path());
    let mut t = Term::spawn(
        &[
            "--agent-cmd",
            &agent,
            "--triage-cmd",
            "cat >/dev/null; echo ERROR",
            "--verify",
            &check,
            "--events",
            events_file.to_str().unwrap(),
            "--",
            "python3",
            "worker.py",
        ],
        Opts {
            cwd: Some(dir.path()),
            env: vec![("MODE", "inprocess".to_string())],
            ..Opts::default()
        },
    );
    t.expect("✗ check failed");
    t.expect("✓ check passed");
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(), 143);
    let text = t.text();
    assert!(
        text.contains("AssertionError: cart total is 0"),
        "the failure is shown:\n{text}"
    );
    assert!(text.contains("attempt 2/3"), "{text}");
    let second =
        std::fs::read_to_string(logs.path().join("prompt-2.txt")).expect("a second prompt");
    assert!(
        second.contains("--verify) failed after the last attempt")
            && second.contains("(ended with exit code 1)")
            && second.contains("AssertionError: cart total is 0"),
        "{second}"
    );
    assert!(
        !second.contains("ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
        "{second}"
    );
    assert!(!logs.path().join("prompt-3.txt").exists());
    // The failed check is the attempt's verdict everywhere: in the history the
    // next prompt shows, in history.json, and in the events of that attempt.
    assert!(
        second.contains("1. FAILED: do not repeat this approach."),
        "{second}"
    );
    let verdicts: Vec<(u64, bool)> = events(&events_file, "verify")
        .iter()
        .map(|e| {
            (
                e["attempt"].as_u64().unwrap_or(0),
                e["ok"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(verdicts, [(1, false), (2, true)]);
    let applied: Vec<(u64, bool)> = events(&events_file, "fix_end")
        .iter()
        .map(|e| (e["attempt"].as_u64().unwrap(), e["ok"].as_bool().unwrap()))
        .collect();
    assert_eq!(applied, [(1, true), (2, true)], "the agent's part of each");
    let history: Value = serde_json::from_str(
        &std::fs::read_to_string(common::state_dir(dir.path()).join("history.json")).unwrap(),
    )
    .unwrap();
    let recorded: Vec<bool> = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["success"].as_bool().unwrap())
        .collect();
    assert_eq!(recorded, [false, true], "{history:#}");
}

/// Crashes at start until fixed, then runs on; each start appends its pid to `pids`.
const STARTER: &str = "import os, time\n\
open('pids', 'a').write('%d\\n' % os.getpid())\n\
def handle():\n    d = {}\n    return d['total']\n\
handle()\n\
print('ready', flush=True)\n\
while True:\n    time.sleep(1)\n";

#[test]
fn a_check_failing_after_a_crash_fix_refixes_and_restarts_one_command() {
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.py"), STARTER).unwrap();
    let (agent, check) = agent_and_check(logs.path());
    let mut t = Term::spawn(
        &[
            "--agent-cmd",
            &agent,
            "--verify",
            &check,
            "--",
            "python3",
            "app.py",
        ],
        Opts {
            cwd: Some(dir.path()),
            ..Opts::default()
        },
    );
    t.expect("✗ check failed");
    t.expect("✓ check passed");
    let pids: Vec<i32> = std::fs::read_to_string(dir.path().join("pids"))
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let running: Vec<i32> = pids
        .iter()
        .copied()
        .filter(|&p| !common::pid_gone(p))
        .collect();
    assert_eq!(
        running.len(),
        1,
        "the second fix's restart left the first command running (started: {pids:?}, running: {running:?}):\n{}",
        t.text()
    );
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(), 143);
    assert!(!logs.path().join("prompt-3.txt").exists(), "{}", t.text());
}

#[test]
fn the_old_code_crashing_while_a_fix_lands_is_not_a_failed_fix() {
    // The cleanup outlives the crash hold: the traceback is fixed as a live
    // error, and the wrapper exits with the old code's crash while the fix
    // waits for a reload.
    let dir = crasher_dir();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("agent.jsonl");
    let out = run_piped(
        &[
            "--reload-timeout",
            "60",
            "python3 crash.py || { sleep 5; exit 1; }",
        ],
        &[
            ("FAKE_AGENT_LOG", log.to_str().unwrap()),
            ("FAKE_AGENT_EDIT", CRASHER_FIX),
        ],
        Some(dir.path()),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let text = format!("{err}{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("Waiting for hot-reload"), "{text}");
    assert_eq!(records(&log, "fix").len(), 1, "{text}");
    assert!(!text.contains("attempt 2/"), "{text}");
    assert!(text.contains("restarting with the fix"), "{text}");
}

/// A worker that runs a helper process for each request (as a server shelling
/// out does): the helper dies just before each traceback settles, so every
/// block is held to see whether the command is exiting.
const HELPER_WORKER: &str = r#"import subprocess, sys, time, traceback
ns = {}
exec(open("app.py").read(), ns)
print("serving", flush=True)
while True:
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.1)"])
    try:
        print("GET / 200", ns["handle"](), flush=True)
    except Exception:
        traceback.print_exc()
        sys.stderr.flush()
    helper.wait()
    time.sleep(0.8)
"#;

/// The helpers must not pass for a reload (the fix would be taken as live at
/// once, and the old code's next error as a failed fix), and a block held
/// while the fix ran, released once it lands, is the old code's.
#[test]
fn a_server_running_helpers_is_not_taken_for_a_reload_nor_its_held_old_errors_for_new_ones() {
    let dir = server_dir();
    std::fs::write(dir.path().join("helper.py"), HELPER_WORKER).unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("agent.jsonl");
    let mut t = Term::spawn(
        &["-v", "--reload-timeout", "4", "--", "python3", "helper.py"],
        Opts {
            cwd: Some(dir.path()),
            env: vec![
                ("FAKE_AGENT_LOG", log.display().to_string()),
                ("FAKE_AGENT_EDIT", APP_FIX.to_string()),
                // Long enough that a block is held when the fix ends.
                ("FAKE_AGENT_SLEEP", "1.5".to_string()),
            ],
            ..Opts::default()
        },
    );
    t.expect("Fix applied in");
    t.wait_for(
        |s| s.matches("GET / 200 ok").count() >= 3,
        "three requests served by the fixed code",
    );
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(), 143);
    let text = t.text();
    assert_eq!(records(&log, "fix").len(), 1, "{text}");
    assert!(!text.contains("attempt 2/"), "{text}");
}

//! The healing loop end to end: the built binary, a real PTY (or pipes, as CI or a
//! script would run it), and fake agents that really edit files.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{read_jsonl, repo, run_piped, Opts, Term};
use serde_json::Value;

/// The usual fix; port 0 so parallel tests never race for a fixed port.
const PORT_FIX: &str = r#"app.py::os.environ["PORT"]::os.environ.get("PORT", "0")"#;

/// A private copy of an example, so the agent's edits stay in the test.
fn example(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = repo().join("examples").join(name);
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

fn fixes(log: &Path) -> Vec<Value> {
    read_jsonl(log)
        .into_iter()
        .filter(|r| r["mode"] == "fix")
        .collect()
}

fn argv(record: &Value) -> Vec<String> {
    record["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

fn s(v: &str) -> String {
    v.to_string()
}

#[test]
fn crash_on_start_is_healed_end_to_end_in_a_terminal() {
    let dir = example("crash_on_start");
    // Logs live outside the workspace, or they would count as changed files.
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("agent.jsonl");
    let events = logs.path().join("events.jsonl");
    let mut t = Term::spawn(
        &[
            "--events",
            events.to_str().unwrap(),
            "--",
            "python3",
            "app.py",
        ],
        Opts {
            cwd: Some(dir.path()),
            env: vec![
                ("FAKE_AGENT_LOG", log.display().to_string()),
                ("FAKE_AGENT_EDIT", s(PORT_FIX)),
                ("ONESHOT", s("1")),
            ],
            ..Opts::default()
        },
    );
    assert_eq!(t.wait(), 0, "{}", t.text());
    let text = t.text();
    for needle in [
        "Backend: claude · triage model: haiku",
        "Watching: python3 app.py",
        "KeyError: 'PORT'",
        "Process crashed. Attempting fix (attempt 1/3)...",
        "┌─ claude",
        "Read app.py",
        "Edit app.py",
        "Fix applied in",
        "app.py +1 -1",
        "Process restarted (PID",
        "Serving on http://127.0.0.1:",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(
        !text.contains("{\"type\""),
        "raw JSON reached the terminal:\n{text}"
    );
    // The overlay's lines start at column 0 (\r\n while raw).
    assert!(
        text.contains("\r\n\x1b[2m│\x1b[0m Edit app.py\r\n"),
        "{text:?}"
    );
    let app = std::fs::read_to_string(dir.path().join("app.py")).unwrap();
    assert!(app.contains(r#"os.environ.get("PORT", "0")"#));

    // What the agent was given: the fix flags, the workspace as cwd, the traceback
    // fenced as data, the file named in it.
    let fixes = fixes(&log);
    assert_eq!(fixes.len(), 1);
    assert_eq!(
        argv(&fixes[0]),
        [
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--permission-mode",
            "acceptEdits",
            "--tools",
            "Read,Edit,Write,Glob,Grep",
            "--no-session-persistence"
        ]
    );
    assert_eq!(
        Path::new(fixes[0]["cwd"].as_str().unwrap())
            .canonicalize()
            .unwrap(),
        dir.path().canonicalize().unwrap()
    );
    let prompt = fixes[0]["stdin"].as_str().unwrap();
    assert!(
        prompt.contains("KeyError: 'PORT'") && prompt.contains("```"),
        "{prompt}"
    );
    assert!(prompt.contains("app.py"), "{prompt}");

    // The events file tells the same story.
    let names: Vec<String> = read_jsonl(&events)
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "start",
            "child_exit",
            "fix_start",
            "fix_end",
            "restart",
            "child_exit",
            "exit"
        ]
    );
    let evs = read_jsonl(&events);
    assert_eq!(evs[2]["path"], "crash");
    assert_eq!(evs[3]["ok"], true);
    assert_eq!(evs[3]["files"][0]["path"], "app.py");
    assert_eq!(evs[6]["code"], 0);
    assert!(evs.iter().all(|e| e["ts"].as_f64().is_some()));

    // History remembers it; undo takes it back.
    let history =
        std::fs::read_to_string(common::state_dir(dir.path()).join("history.json")).unwrap();
    assert!(history.contains("\"success\": true"), "{history}");
    let out = common::undo(dir.path());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("restored: app.py"));
    let app = std::fs::read_to_string(dir.path().join("app.py")).unwrap();
    assert!(app.contains(r#"int(os.environ["PORT"])"#));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(port: u16) -> String {
    let deadline = Instant::now() + common::DEADLINE;
    loop {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            stream
                .write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
                .unwrap();
            let mut response = String::new();
            let _ = stream.read_to_string(&mut response);
            return response;
        }
        assert!(Instant::now() < deadline, "server on {port} never answered");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn live_error_is_triaged_fixed_and_the_server_restarted() {
    let dir = example("broken_http_server");
    let log = dir.path().join("agent.jsonl");
    let port = free_port();
    let mut t = Term::spawn(
        &[
            "--on-fix",
            "restart",
            "--settle",
            "5",
            "--",
            "python3",
            "server.py",
        ],
        Opts {
            cwd: Some(dir.path()),
            env: vec![
                ("FAKE_AGENT_LOG", log.display().to_string()),
                (
                    "FAKE_AGENT_EDIT",
                    s(
                        r#"server.py::raise RuntimeError(f"greeting template for {name!r} is missing")::return f"hello {name}""#,
                    ),
                ),
                ("PORT", port.to_string()),
            ],
            ..Opts::default()
        },
    );
    t.expect("Serving on");
    assert!(http_get(port).starts_with("HTTP/1.0 500"));
    t.expect("Error detected: RuntimeError");
    t.expect("Fix applied in");
    t.wait_for(
        |s| s.matches("Serving on").count() >= 2,
        "the restarted server",
    );
    assert!(t.text().contains("Process restarted (PID"));
    let response = http_get(port);
    assert!(response.contains("hello world"), "{response}");

    let records = read_jsonl(&log);
    assert_eq!(records[0]["mode"], "triage");
    let triage = argv(&records[0]);
    assert_eq!(&triage[..5], ["-p", "--model", "haiku", "--tools", ""]);
    assert!(records[0]["stdin"]
        .as_str()
        .unwrap()
        .contains("RuntimeError"));
    assert_eq!(records[1]["mode"], "fix");

    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(), 143);
}

#[test]
fn breaker_stops_after_exactly_n_failed_attempts_with_history_in_the_prompt() {
    let dir = example("crash_on_start");
    let log = dir.path().join("agent.jsonl");
    let out = run_piped(
        &["--max-attempts", "3", "--", "python3", "app.py"],
        &[
            ("FAKE_AGENT_LOG", log.to_str().unwrap()),
            ("FAKE_AGENT_EXIT", "1"),
        ],
        Some(dir.path()),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("Giving up on KeyError: 'PORT' in main (app.py) after 3 failed fix attempts"),
        "{err}"
    );
    let fixes = fixes(&log);
    assert_eq!(fixes.len(), 3, "{err}");
    let third = fixes[2]["stdin"].as_str().unwrap();
    assert!(
        third.contains("FAILED"),
        "history missing from the third prompt:\n{third}"
    );
    assert!(!fixes[0]["stdin"].as_str().unwrap().contains("FAILED"));
}

#[test]
fn a_fix_that_does_not_fix_counts_as_failed_and_a_new_error_is_progress() {
    // The "fix" changes a comment: the same error comes back, which counts.
    let dir = example("crash_on_start");
    let log = dir.path().join("agent.jsonl");
    let out = run_piped(
        &["--max-attempts", "2", "--", "python3", "app.py"],
        &[
            ("FAKE_AGENT_LOG", log.to_str().unwrap()),
            ("FAKE_AGENT_EDIT", "app.py::# A tiny::# A very tiny"),
        ],
        Some(dir.path()),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(fixes(&log).len(), 2);

    // A fix that turns the error into another one is progress: with one attempt
    // allowed, the new error still gets its own attempt.
    let dir = example("crash_on_start");
    let log = dir.path().join("agent.jsonl");
    let events = dir.path().join("events.jsonl");
    let out = run_piped(
        &[
            "--max-attempts",
            "1",
            "--events",
            events.to_str().unwrap(),
            "--",
            "python3",
            "app.py",
        ],
        &[
            ("FAKE_AGENT_LOG", log.to_str().unwrap()),
            (
                "FAKE_AGENT_EDIT",
                r#"app.py::os.environ["PORT"]::os.environ["APP_PORT"]"#,
            ),
        ],
        Some(dir.path()),
    );
    assert_eq!(out.status.code(), Some(1));
    let starts: Vec<Value> = read_jsonl(&events)
        .into_iter()
        .filter(|e| e["event"] == "fix_start")
        .collect();
    assert_eq!(starts.len(), 2);
    assert_ne!(starts[0]["fingerprint"], starts[1]["fingerprint"]);
    assert_eq!(starts[1]["attempt"], 1);
    let tripped: Vec<Value> = read_jsonl(&events)
        .into_iter()
        .filter(|e| e["event"] == "tripped")
        .collect();
    assert_eq!(tripped.len(), 1);
}

#[test]
fn after_giving_up_it_waits_for_a_file_change_in_a_terminal() {
    let dir = example("crash_on_start");
    let mut t = Term::spawn(
        &["--max-attempts", "1", "--", "python3", "app.py"],
        Opts {
            cwd: Some(dir.path()),
            env: vec![("FAKE_AGENT_EXIT", s("1")), ("ONESHOT", s("1"))],
            ..Opts::default()
        },
    );
    t.expect("waiting for a file change");
    // Our own state files and ignored directories do not count.
    std::fs::create_dir_all(dir.path().join("node_modules")).unwrap();
    std::fs::write(dir.path().join("node_modules/x.js"), "x").unwrap();
    let app = dir.path().join("app.py");
    let fixed = std::fs::read_to_string(&app)
        .unwrap()
        .replace(r#"os.environ["PORT"]"#, r#"os.environ.get("PORT", "0")"#);
    std::fs::write(&app, fixed).unwrap();
    t.expect("File changed: restarting.");
    t.expect("Serving on");
    assert_eq!(t.wait(), 0);
}

#[test]
fn a_corrupt_history_is_kept_aside_not_lost() {
    let dir = example("crash_on_start");
    let state = common::state_dir(dir.path());
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("history.json"), "{ not json").unwrap();
    let out = run_piped(
        &["--", "python3", "app.py"],
        &[("FAKE_AGENT_EDIT", PORT_FIX), ("ONESHOT", "1")],
        Some(dir.path()),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let aside: Vec<PathBuf> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("history.json.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(std::fs::read_to_string(&aside[0]).unwrap(), "{ not json");
    assert!(String::from_utf8_lossy(&out.stderr).contains("corrupt"));
}

#[test]
fn dry_run_reports_and_runs_no_agent() {
    let dir = example("crash_on_start");
    let mut cmd = std::process::Command::new(common::bin());
    let out = cmd
        .args(["--dry-run", "--", "python3", "app.py"])
        .current_dir(dir.path())
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("would fix: KeyError: 'PORT' in main (app.py)"),
        "{err}"
    );
    assert!(err.contains("Traceback (most recent call last):"));
    assert!(!dir.path().join(".otorepair").exists());
}

#[test]
fn every_backend_gets_its_own_flags_and_no_shell_unless_allowed() {
    // (flags, extra env, backend the fake logs, expected argv prefix)
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            vec!["--backend", "codex"],
            vec![],
            "codex",
            vec!["exec", "--json", "--sandbox", "workspace-write"],
        ),
        (vec!["--backend", "gemini"], vec![], "gemini", vec!["-p"]),
        (
            vec!["--backend", "cursor"],
            vec![("CURSOR_API_KEY", "k")],
            "agent",
            vec!["-p", "--force", "--trust", "--workspace"],
        ),
        (
            vec!["--agent-cmd", "fake-custom --fix"],
            vec![],
            "custom",
            vec!["--fix"],
        ),
        (
            vec!["--allow-shell"],
            vec![],
            "claude",
            vec!["-p", "--output-format", "stream-json"],
        ),
    ];
    for (flags, env, backend, prefix) in cases {
        let dir = example("crash_on_start");
        let logs = tempfile::tempdir().unwrap();
        let log = logs.path().join("agent.jsonl");
        let mut args = flags.clone();
        args.extend(["--", "python3", "app.py"]);
        let mut env = env.clone();
        let log_s = log.display().to_string();
        env.extend([
            ("FAKE_AGENT_LOG", log_s.as_str()),
            ("FAKE_AGENT_EDIT", PORT_FIX),
            ("ONESHOT", "1"),
        ]);
        let out = run_piped(&args, &env, Some(dir.path()));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{flags:?}: {err}");
        let fixes = fixes(&log);
        assert_eq!(fixes.len(), 1, "{flags:?}");
        assert_eq!(fixes[0]["backend"], backend);
        let a = argv(&fixes[0]);
        assert_eq!(&a[..prefix.len()], prefix.as_slice(), "{flags:?}: {a:?}");
        let joined = a.join(" ");
        let allow = flags.contains(&"--allow-shell");
        match backend {
            "claude" => assert_eq!(joined.contains("Bash"), allow, "{joined}"),
            "gemini" => assert!(joined.contains("--approval-mode auto_edit"), "{joined}"),
            "codex" => {
                assert!(!joined.contains("danger"), "{joined}");
                assert!(joined.contains("--skip-git-repo-check -C "), "{joined}");
                assert_eq!(
                    a.last().map(String::as_str),
                    Some("-"),
                    "prompt on stdin: {joined}"
                );
            }
            _ => {}
        }
        assert!(err.contains("Fix applied in"), "{flags:?}: {err}");
    }
}

#[test]
fn a_missing_agent_or_cursor_login_is_a_clear_error_before_starting() {
    let out = std::process::Command::new(common::bin())
        .args(["--backend", "codex", "--", "true"])
        .env("PATH", "/usr/bin:/bin")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.starts_with("otorepair: error: 'codex' not found on PATH"),
        "{err}"
    );
    assert!(err.contains("npm install -g @openai/codex"), "{err}");

    let out = run_piped(
        &["--backend", "cursor", "--", "true"],
        &[("FAKE_CURSOR_STATUS", "1")],
        None,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("agent login"), "{err}");
}

#[test]
fn the_fix_timeout_stops_the_agent_and_its_children() {
    let dir = example("crash_on_start");
    let pid_file = dir.path().join("grandchild.pid");
    let out = run_piped(
        &[
            "--fix-timeout",
            "1",
            "--max-attempts",
            "1",
            "--",
            "python3",
            "app.py",
        ],
        &[
            ("FAKE_AGENT_SLEEP", "60"),
            ("FAKE_AGENT_SPAWN_CHILD", "1"),
            ("FAKE_AGENT_CHILD_PID_FILE", pid_file.to_str().unwrap()),
        ],
        Some(dir.path()),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("Fix failed after") && err.contains("timed out after 1s"),
        "{err}"
    );
    common::wait_pid_gone(
        common::read_pid(&pid_file),
        "the agent's child after the timeout",
    );
}

#[test]
fn ctrl_c_aborts_the_fix_and_keeps_the_terminal() {
    let dir = example("crash_on_start");
    let mut t = Term::spawn(
        &["--", "python3", "app.py"],
        Opts {
            cwd: Some(dir.path()),
            env: vec![("FAKE_AGENT_SLEEP", s("60"))],
            ..Opts::default()
        },
    );
    t.expect("Reading the file named in the error.");
    t.send(b"\x03");
    t.expect("Ctrl-C: stopping the agent");
    t.expect("Fix failed after");
    t.expect("aborted");
    t.expect("waiting for a file change");
    t.send(b"\x03");
    assert_eq!(t.wait(), 130);
}

#[test]
fn secrets_are_redacted_before_the_prompt_leaves() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.py"),
        "import os\nprint('connecting with', os.environ['SHOP_API_TOKEN'], 'Bearer abc.def.ghi123')\nraise SystemExit('db password rejected')\n",
    )
    .unwrap();
    let log = dir.path().join("agent.jsonl");
    let out = run_piped(
        &["--max-attempts", "1", "--", "python3", "app.py"],
        &[
            ("SHOP_API_TOKEN", "tok-5f2b9c8e1d"),
            ("FAKE_AGENT_LOG", log.to_str().unwrap()),
            ("FAKE_AGENT_EXIT", "1"),
        ],
        Some(dir.path()),
    );
    assert_eq!(out.status.code(), Some(1));
    // The user still sees their own output unchanged...
    assert!(String::from_utf8_lossy(&out.stdout).contains("tok-5f2b9c8e1d"));
    // ...but the agent never does.
    let prompt = fixes(&log)[0]["stdin"].as_str().unwrap().to_string();
    assert!(!prompt.contains("tok-5f2b9c8e1d"), "{prompt}");
    assert!(!prompt.contains("abc.def.ghi123"), "{prompt}");
    assert!(prompt.contains("[REDACTED]"), "{prompt}");
    let history =
        std::fs::read_to_string(common::state_dir(dir.path()).join("history.json")).unwrap();
    assert!(!history.contains("tok-5f2b9c8e1d"));
}

#[test]
fn output_held_during_a_fix_is_replayed_in_order_afterwards() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.py"),
        "import sys, time, traceback\n\
         def handler():\n    raise ValueError('bad input 42')\n\
         try:\n    handler()\nexcept Exception:\n    traceback.print_exc()\n\
         for i in range(100):\n    print('tick', i, flush=True)\n    time.sleep(0.05)\n\
         print('done', flush=True)\ntime.sleep(60)\n",
    )
    .unwrap();
    let mut t = Term::spawn(
        &["--on-fix", "wait", "--", "python3", "app.py"],
        Opts {
            cwd: Some(dir.path()),
            env: vec![
                // The fake sleeps in triage and in the fix: the fix overlaps the ticks.
                ("FAKE_AGENT_SLEEP", s("1")),
                ("FAKE_AGENT_EDIT", s("app.py::bad input::bad  input")),
            ],
            ..Opts::default()
        },
    );
    t.expect("Fix applied in");
    t.expect("done");
    let text = t.text();
    let open = text.find("┌─ claude").unwrap();
    let close = text.find("└─").unwrap();
    let inside = &text[open..close];
    let after = &text[close..];
    let held: Vec<usize> = (0..100)
        .filter(|i| after.contains(&format!("tick {i}\r\n")))
        .collect();
    assert!(!held.is_empty(), "nothing was held: {text}");
    assert!(
        !inside.contains("tick"),
        "child output leaked into the overlay: {inside}"
    );
    // In order, none lost.
    let positions: Vec<usize> = (0..100)
        .map(|i| text.find(&format!("tick {i}\r\n")).unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "out of order: {text}"
    );
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(), 143);
}

#[test]
fn over_a_full_screen_program_the_panel_takes_the_screen_and_the_program_repaints() {
    // The error is logged on the main screen, then the program goes full-screen; it
    // redraws on SIGWINCH, which otorepair sends by nudging the size after the fix.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tui.py"),
        "import signal, sys, time, traceback\n\
         def boom():\n    raise LookupError('no theme named dark')\n\
         try:\n    boom()\nexcept Exception:\n    traceback.print_exc()\n\
         sys.stdout.write('\\x1b[?1049hSCREEN v1'); sys.stdout.flush()\n\
         def redraw(*_):\n    sys.stdout.write('\\x1b[2J\\x1b[HREPAINTED'); sys.stdout.flush()\n\
         signal.signal(signal.SIGWINCH, redraw)\n\
         time.sleep(60)\n",
    )
    .unwrap();
    let mut t = Term::spawn(
        &["--on-fix", "wait", "--", "python3", "tui.py"],
        Opts {
            cwd: Some(dir.path()),
            env: vec![("FAKE_AGENT_EDIT", s("tui.py::dark::light"))],
            ..Opts::default()
        },
    );
    t.expect("Fix applied in");
    t.expect("REPAINTED");
    let text = t.text();
    let screen = text.find("SCREEN v1").unwrap();
    let panel = text.find("┌─ claude").unwrap();
    assert!(screen < panel);
    // The panel cleared the program's picture before drawing on it.
    assert!(text[screen..panel].contains("\x1b[2J\x1b[H"), "{text:?}");
    assert!(text.find("REPAINTED").unwrap() > text.find("└─").unwrap());
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(), 143);
}

#[test]
fn the_node_example_with_a_bad_import_is_healed() {
    let dir = tempfile::tempdir().unwrap();
    let src = repo().join("examples/node_bad_import");
    std::fs::create_dir_all(dir.path().join("lib")).unwrap();
    for f in ["server.js", "lib/router.js"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let mut t = Term::spawn(
        &["--", "node", "server.js"],
        Opts {
            cwd: Some(dir.path()),
            env: vec![
                (
                    "FAKE_AGENT_EDIT",
                    s("server.js::./lib/routes::./lib/router"),
                ),
                ("PORT", s("0")),
            ],
            ..Opts::default()
        },
    );
    t.expect("Serving on");
    let text = t.text();
    assert!(text.contains("Cannot find module './lib/routes'"), "{text}");
    assert!(
        text.contains("Edit server.js") && text.contains("server.js +1 -1"),
        "{text}"
    );
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(), 143);
}

#[test]
fn the_interactive_example_keeps_its_prompt_through_a_heal() {
    let dir = example("interactive_prompt");
    let mut t = Term::spawn(
        &["--", "python3", "app.py"],
        Opts {
            cwd: Some(dir.path()),
            env: vec![(
                "FAKE_AGENT_EDIT",
                s(r#"app.py::"medium": 4}::"medium": 4, "large": 5}"#),
            )],
            ..Opts::default()
        },
    );
    let prompt = "empty to quit)? ";
    t.wait_for(|s| s.matches(prompt).count() >= 1, "the prompt");
    t.send(b"small\r");
    t.expect("That is 3 euros.");
    t.send(b"large\r");
    t.expect("KeyError: 'large'");
    t.expect("Process restarted");
    // Prompts: the first, after "small", and the restarted program's.
    t.wait_for(
        |s| s.matches(prompt).count() >= 3,
        "the prompt after the restart",
    );
    // Line editing works at the restarted prompt: "lrge" <- "a" = "large".
    t.send(b"lrge\x1b[D\x1b[D\x1b[Da\r");
    t.expect("That is 5 euros.");
    t.send(b"\r");
    assert_eq!(t.wait(), 0);
}

#[test]
fn the_full_screen_example_crashes_heals_and_takes_the_screen_again() {
    let dir = example("fullscreen");
    let mut t = Term::spawn(
        &["--", "python3", "app.py"],
        Opts {
            cwd: Some(dir.path()),
            env: vec![(
                "FAKE_AGENT_EDIT",
                s("app.py::counter / (counter - counter)::counter / max(counter, 1)"),
            )],
            ..Opts::default()
        },
    );
    t.expect("ticks:");
    t.send(b"b");
    t.expect("ZeroDivisionError");
    t.expect("Process restarted");
    t.wait_for(
        |s| s.rfind("ticks:") > s.rfind("Process restarted"),
        "the restarted screen",
    );
    t.send(b"b");
    t.wait_for(|s| s.contains("ratio"), "the fixed key");
    t.send(b"q");
    assert_eq!(t.wait(), 0);
    // The program left the alternate screen itself each time; nothing is left on.
    let text = t.text();
    assert_eq!(
        text.matches("\x1b[?1049h").count(),
        text.matches("\x1b[?1049l").count(),
        "{text:?}"
    );
}

#[test]
fn confirm_asks_before_each_fix() {
    // "n": nothing is run, and the crash waits for the user's own fix.
    let dir = example("crash_on_start");
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("agent.jsonl");
    let mut t = Term::spawn(
        &["--confirm", "--", "python3", "app.py"],
        Opts {
            cwd: Some(dir.path()),
            env: vec![("FAKE_AGENT_LOG", log.display().to_string())],
            ..Opts::default()
        },
    );
    t.expect("Fix with claude? [Y/n]");
    t.send(b"n");
    t.expect("Not fixing");
    t.expect("waiting for a file change");
    t.send(b"\x03");
    assert_eq!(t.wait(), 130);
    assert!(fixes(&log).is_empty());

    // "y": the fix runs.
    let mut t = Term::spawn(
        &["--confirm", "--", "python3", "app.py"],
        Opts {
            cwd: Some(dir.path()),
            env: vec![("FAKE_AGENT_EDIT", s(PORT_FIX)), ("ONESHOT", s("1"))],
            ..Opts::default()
        },
    );
    t.expect("Fix with claude? [Y/n]");
    t.send(b"y");
    t.expect("Fix applied in");
    assert_eq!(t.wait(), 0);

    // Without a terminal there is nobody to ask: a usage error.
    let out = run_piped(&["--confirm", "--", "true"], &[], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--confirm needs a terminal"));
}

/// A program that logs a traceback, keeps running for a while, then exits 0.
fn live_script(dir: &Path) {
    std::fs::write(
        dir.join("live.py"),
        "import time, traceback\n\
         def load():\n    raise ValueError('config entry missing')\n\
         try:\n    load()\nexcept Exception:\n    traceback.print_exc()\n\
         time.sleep(3)\nprint('bye', flush=True)\n",
    )
    .unwrap();
}

#[test]
fn triage_no_means_no_fix_and_a_failed_triage_is_shown() {
    for (env, verdict, message) in [
        (vec![("FAKE_TRIAGE_ANSWER", "NO")], "not_error", None),
        (
            vec![("FAKE_AGENT_SLEEP", "20")],
            "failed",
            Some("Triage failed: timed out after 1s"),
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        live_script(dir.path());
        let logs = tempfile::tempdir().unwrap();
        let log = logs.path().join("agent.jsonl");
        let events = logs.path().join("events.jsonl");
        let mut env = env.clone();
        let log_s = log.display().to_string();
        env.push(("FAKE_AGENT_LOG", log_s.as_str()));
        let out = run_piped(
            &[
                "--triage-timeout",
                "1",
                "--events",
                events.to_str().unwrap(),
                "--",
                "python3",
                "live.py",
            ],
            &env,
            Some(dir.path()),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        let records = read_jsonl(&log);
        assert_eq!(records.len(), 1, "{verdict}: {records:?}");
        assert_eq!(records[0]["mode"], "triage");
        // Pipe mode: the prompt says which stream the lines came from.
        assert!(records[0]["stdin"]
            .as_str()
            .unwrap()
            .contains("ValueError: config entry missing"));
        let triage: Vec<Value> = read_jsonl(&events)
            .into_iter()
            .filter(|e| e["event"] == "triage")
            .collect();
        assert_eq!(triage.len(), 1);
        assert_eq!(triage[0]["verdict"], verdict);
        if let Some(message) = message {
            assert!(err.contains(message), "{err}");
        }
    }
}

#[test]
fn no_agent_outlives_otorepair() {
    // SIGTERM while a triage runs: the triage agent's whole group goes too.
    let dir = tempfile::tempdir().unwrap();
    live_script(dir.path());
    let pid_file = dir.path().join("agent-child.pid");
    let mut t = Term::spawn(
        &["--", "python3", "live.py"],
        Opts {
            cwd: Some(dir.path()),
            env: vec![
                ("FAKE_AGENT_SLEEP", s("20")),
                ("FAKE_AGENT_SPAWN_CHILD", s("1")),
                ("FAKE_AGENT_CHILD_PID_FILE", pid_file.display().to_string()),
            ],
            ..Opts::default()
        },
    );
    let deadline = Instant::now() + common::DEADLINE;
    let pid: i32 = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            break pid;
        }
        assert!(
            Instant::now() < deadline,
            "no triage agent started: {}",
            t.text()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(), 143);
    common::wait_pid_gone(pid, "the triage agent's child after otorepair exited");
}

#[test]
fn a_flood_of_output_does_not_starve_the_settle() {
    // After the traceback the program prints as fast as it can for 3 s: the block
    // must still settle on time, not after the flood.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flood.py"),
        "import sys, time, traceback\n\
         def f():\n    raise KeyError('cart')\n\
         try:\n    f()\nexcept Exception:\n    traceback.print_exc()\n\
         end = time.time() + 3\n\
         while time.time() < end:\n    print('GET /static/app.js 200', flush=True)\n\
         print('EN' + 'D', flush=True)\n",
    )
    .unwrap();
    let mut t = Term::spawn(
        &["--dry-run", "--", "python3", "flood.py"],
        Opts {
            cwd: Some(dir.path()),
            ..Opts::default()
        },
    );
    assert_eq!(t.wait(), 0);
    let text = t.text();
    let reported = text
        .find("would fix: KeyError: 'cart'")
        .expect("not reported");
    let end = text.find("END").expect("no END");
    assert!(reported < end, "reported only after the flood");
}

#[test]
fn a_crash_after_a_quiet_spell_still_hands_its_traceback_to_the_fix() {
    // The exit can be reported before the parser has passed on the last lines;
    // they must still make it into the crash block (this raced half the time).
    for _ in 0..8 {
        let mut t = Term::spawn(
            &[
                "--dry-run",
                "sleep 0.3; printf 'Traceback (most recent call last):\\n  File \"/srv/app.py\", line 3, in <module>\\n    main()\\nZeroDivisionError: division by zero\\n'; exit 1",
            ],
            Opts::default(),
        );
        assert_eq!(t.wait(), 1);
        assert!(
            t.text()
                .contains("would fix: ZeroDivisionError: division by zero"),
            "{}",
            t.text()
        );
    }
}

#[test]
fn exiting_during_a_fix_closes_the_panel_and_shows_the_held_output() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.py"),
        "import time, traceback\n\
         def load():\n    raise ValueError('config entry missing')\n\
         try:\n    load()\nexcept Exception:\n    traceback.print_exc()\n\
         time.sleep(2)\nprint('FINAL', 'RESULT', 42, flush=True)\n",
    )
    .unwrap();
    let mut t = Term::spawn(
        &[
            "--agent-cmd",
            "cat >/dev/null; echo working; sleep 30",
            "--triage-cmd",
            "cat >/dev/null; echo ERROR",
            "--",
            "python3",
            "app.py",
        ],
        Opts {
            cwd: Some(dir.path()),
            ..Opts::default()
        },
    );
    assert_eq!(t.wait(), 0);
    let text = t.text();
    assert!(text.contains("Fix interrupted"), "{text}");
    let closed = text.find("Fix interrupted").unwrap();
    let last = text.find("FINAL RESULT 42").expect("held output lost");
    assert!(last > closed, "{text}");
}

#[test]
fn in_pipe_mode_ctrl_c_reaches_otorepair_to_abort_a_crash_fix() {
    // --no-pty at a terminal: the child had the terminal's foreground; once it
    // has died, Ctrl-C must reach otorepair.
    let dir = example("crash_on_start");
    let mut t = Term::spawn(
        &["--no-pty", "--max-attempts", "1", "--", "python3", "app.py"],
        Opts {
            cwd: Some(dir.path()),
            env: vec![("FAKE_AGENT_SLEEP", s("60"))],
            ..Opts::default()
        },
    );
    t.expect("Reading the file named in the error.");
    t.send(b"\x03");
    t.expect("Ctrl-C: stopping the agent");
    t.expect("aborted");
    let code = t.wait();
    assert_eq!(code, 1, "{}", t.text());
}

#[test]
fn a_live_fix_claims_only_what_the_agent_edited() {
    // The server keeps writing its log while the agent works: the log is not part
    // of the fix, in the overlay, the history, or undo.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.py"),
        "import time, traceback\n\
         def load():\n    raise ValueError('config entry missing')\n\
         try:\n    load()\nexcept Exception:\n    traceback.print_exc()\n\
         for i in range(40):\n    open('server.log', 'a').write(f'request {i}\\n')\n    time.sleep(0.1)\n\
         time.sleep(60)\n",
    )
    .unwrap();
    let mut t = Term::spawn(
        &["--on-fix", "wait", "--", "python3", "app.py"],
        Opts {
            cwd: Some(dir.path()),
            env: vec![
                ("FAKE_AGENT_SLEEP", s("1")),
                (
                    "FAKE_AGENT_EDIT",
                    s("app.py::config entry missing::config entry absent"),
                ),
            ],
            ..Opts::default()
        },
    );
    t.expect("Fix applied in");
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(), 143);
    let text = t.text();
    assert!(text.contains("app.py +1 -1"), "{text}");
    assert!(
        !text.contains("server.log +"),
        "the server's log counted as the fix: {text}"
    );
    let log_before_undo = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    let out = common::undo(dir.path());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("server.log")).unwrap(),
        log_before_undo
    );
    assert!(std::fs::read_to_string(dir.path().join("app.py"))
        .unwrap()
        .contains("config entry missing"));
}

#[test]
fn the_prompt_lists_the_users_files_first_and_no_virtualenv_files() {
    // A framework installed in the workspace's virtualenv calls the user's view,
    // which raises: the traceback names app.py, the framework, then urls.py.
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir
        .path()
        .join(".venv/lib/python3.11/site-packages/framework");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("__init__.py"), "").unwrap();
    std::fs::write(
        pkg.join("handlers.py"),
        "def dispatch(view, request):\n    return view(request)\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("urls.py"),
        "def order_view(request):\n    return request[\"total\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("app.py"),
        "import sys\nsys.path.insert(0, \".venv/lib/python3.11/site-packages\")\n\
         from framework.handlers import dispatch\nfrom urls import order_view\n\
         dispatch(order_view, {})\n",
    )
    .unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("agent.jsonl");
    let out = run_piped(
        &["--max-attempts", "1", "--", "python3", "app.py"],
        &[
            ("FAKE_AGENT_LOG", log.to_str().unwrap()),
            ("FAKE_AGENT_EXIT", "1"),
        ],
        Some(dir.path()),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let fixes = fixes(&log);
    assert_eq!(fixes.len(), 1, "{err}");
    let prompt = fixes[0]["stdin"].as_str().unwrap();
    let (_, listed) = prompt
        .split_once("Workspace files named in the output")
        .unwrap_or_else(|| panic!("no file list in the prompt:\n{prompt}"));
    let listed: Vec<&str> = listed
        .lines()
        .skip(2) // the rest of the heading, the fence
        .take_while(|l| !l.starts_with("```") && !l.starts_with("~~~"))
        .collect();
    assert_eq!(listed, ["urls.py", "app.py"], "{prompt}");
}

#[test]
fn a_json_log_error_is_triaged_and_vv_shows_the_verdict() {
    // A pino-style record with a stack, from a command that keeps running.
    let dir = tempfile::tempdir().unwrap();
    let record = r#"{"level":50,"time":1,"err":{"type":"TypeError","message":"boom","stack":"TypeError: boom\n    at run (/srv/app/a.js:1:2)"},"msg":"request failed"}"#;
    std::fs::write(
        dir.path().join("server.py"),
        format!("import time\nprint('ready', flush=True)\nprint({record:?}, flush=True)\ntime.sleep(120)\n"),
    )
    .unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("agent.jsonl");
    let mut t = Term::spawn(
        &["-vv", "--", "python3", "server.py"],
        Opts {
            cwd: Some(dir.path()),
            env: vec![
                ("FAKE_AGENT_LOG", log.display().to_string()),
                ("FAKE_TRIAGE_ANSWER", s("NO")),
            ],
            ..Opts::default()
        },
    );
    t.expect("ready\r\n");
    t.expect("triage verdict: not an error: TypeError: boom in run (a.js)");
    let records = read_jsonl(&log);
    assert_eq!(records.len(), 1, "only a triage ran");
    assert_eq!(records[0]["mode"], "triage");
    assert!(records[0]["stdin"]
        .as_str()
        .unwrap()
        .contains("    at run (/srv/app/a.js:1:2)"));
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(), 143);
}

#[test]
fn an_events_fifo_nobody_reads_is_a_usage_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("events.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let mut child = common::piped(&["--events", fifo.to_str().unwrap(), "--", "true"], &[])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run otorepair");
    let deadline = std::time::Instant::now() + common::DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("otorepair waits for a reader of the events FIFO");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("events.fifo") && err.contains("no process reads it"),
        "{err}"
    );
}

#[test]
fn an_events_reader_that_stops_reading_does_not_stall_otorepair() {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("events.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    // A reader that opened the file and reads nothing (a tool that hung, a
    // pager left at its first screen).
    let _reader = std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    // An error every 50 ms, each a suspect event of a few KiB: the pipe's
    // 64 KiB are full after a few dozen.
    let app = "import sys, time\n\
               n = 0\n\
               while True:\n\
               \x20   n += 1\n\
               \x20   print('Traceback (most recent call last):', file=sys.stderr)\n\
               \x20   for i in range(40):\n\
               \x20       print(f'  File \"/srv/app/module_{i}.py\", line {i}, in handler_{i}', file=sys.stderr)\n\
               \x20   print(f'KeyError: {n}', file=sys.stderr, flush=True)\n\
               \x20   time.sleep(0.05)\n";
    std::fs::write(dir.path().join("app.py"), app).unwrap();
    let mut t = Term::spawn(
        &[
            "--dry-run",
            "--events",
            fifo.to_str().unwrap(),
            "--",
            "python3",
            "app.py",
        ],
        Opts {
            cwd: Some(dir.path()),
            ..Opts::default()
        },
    );
    t.wait_for(
        |s| s.matches("would fix: KeyError").count() >= 60,
        "sixty errors reported while the events file takes nothing",
    );
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(), 143);
}

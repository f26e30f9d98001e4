//! Faults found by an adversarial review (issue 11), each tried as a user would
//! meet it: hostile output, a stalled terminal, signals, a killed otorepair.

mod common;

use common::{Opts, Term};

fn py(code: &str) -> Vec<String> {
    vec!["--".into(), "python3".into(), "-c".into(), code.into()]
}

fn spawn_py(extra: &[&str], code: &str, opts: Opts<'_>) -> Term {
    let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    args.extend(py(code));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Term::spawn(&args, opts)
}

/// otorepair with `args`, the fake agents on PATH and no stdin; the test sets
/// the rest (stdout, env, cwd).
fn otorepair(args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(common::bin());
    cmd.args(args)
        .env("PATH", common::path_with_fakes())
        .stdin(std::process::Stdio::null());
    cmd
}

#[test]
fn a_tab_past_the_line_cap_does_not_freeze_the_output() {
    // A 9000-character line, a TAB, then 3000 lines; and a cursor jump far to
    // the right, then a TAB. Every line must reach the terminal.
    // Each line is flushed on its own, so the pump reads many small chunks (more
    // than the parse queue holds).
    let code = "import sys\n\
                print('x' * 9000 + '\\tafter', flush=True)\n\
                for i in range(3000): print('line %d' % i, flush=True)\n\
                print('\\x1b[9999C\\tjump', flush=True)\n\
                for i in range(30000): print('more %d' % i, flush=True)\n\
                print('DONE', flush=True)";
    let mut t = spawn_py(&["--dry-run"], code, Opts::default());
    t.expect("more 29999\r\nDONE\r\n");
    assert_eq!(t.wait(), 0);
}

#[test]
fn every_mode_a_crashed_full_screen_program_left_on_is_switched_off() {
    // Line drawing, no autowrap, a scroll region, origin and insert mode, a bar
    // cursor, keypad: then killed before it could undo any of it.
    let mut t = Term::spawn(
        &[
            "--dry-run",
            "printf '\\033[?1049h\\033(0\\033[?7l\\033[3;20r\\033[?6h\\033[4h\\033[5 q\\033=lqqk'; kill -9 $$",
        ],
        Opts::default(),
    );
    assert_eq!(t.wait(), 137);
    let text = t.text();
    let tail = &text[text.rfind("lqqk").expect("child output")..];
    for seq in [
        "\x1b(B",
        "\x1b[?7h",
        "\x1b[r",
        "\x1b[?6l",
        "\x1b[4l",
        "\x1b[0 q",
        "\x1b>",
        "\x1b[?1049l",
    ] {
        assert!(
            tail.contains(seq),
            "{seq:?} missing after the crash: {tail:?}"
        );
    }
}

#[test]
fn a_non_utf8_environment_variable_is_fine() {
    use std::os::unix::ffi::OsStrExt;
    let out = otorepair(&["--dry-run", "--", "true"])
        .env("X", std::ffi::OsStr::from_bytes(b"\xff"))
        .env(std::ffi::OsStr::from_bytes(b"Y\xfe_TOKEN"), "s3cr3t-value")
        .output()
        .expect("run otorepair");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_closed_stdout_is_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    for args in [
        &["config"][..],
        &["config", "--help"],
        &["--help"],
        &["--version"],
        &["undo"],
        &["man"],
        &["init", "bash"],
        &["completions", "bash"],
    ] {
        // `otorepair ... | true`: the reader is gone before anything is written.
        let (reader, writer) = common::cloexec_pipe();
        drop(reader);
        let out = otorepair(args)
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .stdout(std::process::Stdio::from(writer))
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("run otorepair");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn config_says_whether_stdout_is_a_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().to_str().expect("utf-8 path");
    let out = common::run_piped(&["config"], &[("HOME", home)], Some(dir.path()));
    let text = String::from_utf8_lossy(&out.stdout);
    let pty = text
        .lines()
        .find(|l| l.starts_with("pty "))
        .expect("a pty line");
    assert!(pty.contains("stdout is not a terminal"), "{text}");
    let mut t = Term::spawn(
        &["config"],
        Opts {
            cwd: Some(dir.path()),
            env: vec![("HOME", home.to_string())],
            ..Opts::default()
        },
    );
    assert_eq!(t.wait(), 0);
    assert!(t.text().contains("(stdout is a terminal)"), "{}", t.text());
}

#[test]
fn status_lines_carry_no_bidi_overrides() {
    // A crash whose message reverses the text after it: in otorepair's own
    // lines it must be removed (the command's own output passes unchanged).
    let out = common::run_piped(
        &[
            "--dry-run",
            "--",
            "python3",
            "-c",
            "raise KeyError('\u{202e}txt.terces')",
        ],
        &[],
        None,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let ours: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("[otorepair]"))
        .collect();
    assert!(ours.iter().any(|l| l.contains("txt.terces")), "{err}");
    for line in ours {
        assert!(!line.contains('\u{202e}'), "{line:?}");
    }
}

#[test]
fn a_custom_agent_that_cannot_run_is_an_error_at_start() {
    for (args, needle) in [
        (
            &["--agent-cmd", "no-such-agent-xyz --fix", "true"][..],
            "'no-such-agent-xyz' not found (the first word of --agent-cmd)",
        ),
        (
            &["--agent-cmd", "FOO=1 ./nope.sh", "true"],
            "'./nope.sh' not found (the first word of --agent-cmd)",
        ),
        (
            &[
                "--agent-cmd",
                "fake-custom",
                "--triage-cmd",
                "no-such-triage",
                "true",
            ],
            "'no-such-triage' not found (the first word of --triage-cmd)",
        ),
        (&["--agent-cmd", "", "true"], "--agent-cmd is empty"),
        (&["--agent-cmd", "  ", "true"], "--agent-cmd is empty"),
        (
            &["--agent-cmd", "fake-custom", "--triage-cmd", "", "true"],
            "--triage-cmd is empty",
        ),
    ] {
        let out = common::run_piped(args, &[], None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.starts_with(&format!("otorepair: error: {needle}")),
            "{args:?}: {err}"
        );
    }
    // Builtins, paths and shell syntax the check cannot judge are left to the shell.
    for cmd in [
        "fake-custom",
        "exec fake-custom",
        "\"fake-custom\"",
        "cd . && fake-custom",
    ] {
        let out = common::run_piped(&["--agent-cmd", cmd, "true"], &[], None);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn an_agent_cannot_reach_the_users_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("app.py"),
        "import os, sys\n\
         if os.path.exists('fixed'):\n    print('healthy')\n    sys.exit(0)\n\
         raise SystemExit('broken')\n",
    )
    .unwrap();
    // The agent tries to write an escape sequence to /dev/tty, then to read it.
    let agent = "cat >/dev/null; \
                 if (printf 'AGENT-WROTE\\033]0;pwned\\007' >/dev/tty) 2>/dev/null; then echo tty-open; else echo no-tty; fi; \
                 (read x </dev/tty) 2>/dev/null; echo read-done; touch fixed";
    let mut t = Term::spawn(
        &["--agent-cmd", agent, "--", "python3", "app.py"],
        Opts {
            cwd: Some(dir.path()),
            ..Opts::default()
        },
    );
    t.expect("healthy");
    assert_eq!(t.wait(), 0);
    let text = t.text();
    assert!(
        text.contains("no-tty") && text.contains("read-done"),
        "{text}"
    );
    assert!(
        !text.contains("AGENT-WROTE") && !text.contains("pwned"),
        "{text}"
    );
}

/// Peak resident memory of `pid`, in KiB.
fn peak_rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[test]
fn a_huge_line_from_an_agent_does_not_take_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("app.py"),
        "import os, sys, time\n\
         if os.path.exists('fixed'):\n    print('healthy', flush=True)\n    time.sleep(60)\n\
         raise SystemExit('broken')\n",
    )
    .unwrap();
    // 100 MB without a newline, as a stream agent would print one JSON line.
    let agent = "cat >/dev/null; head -c 100000000 /dev/zero | tr '\\0' x; echo; touch fixed";
    let mut t = Term::spawn(
        &["--agent-cmd", agent, "--", "python3", "app.py"],
        Opts {
            cwd: Some(dir.path()),
            ..Opts::default()
        },
    );
    t.expect("healthy");
    let peak = peak_rss_kib(t.pid());
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(), 143);
    assert!(peak < 64 * 1024, "otorepair peaked at {peak} KiB");
    assert!(
        t.text().contains("skipped a line of 95 MiB"),
        "{}",
        t.text()
    );
}

/// Waits up to `secs` for `pid` to be gone (or a zombie).
fn gone_within(pid: i32, secs: u64, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !common::pid_gone(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} ({pid}) outlived otorepair by {secs} s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Waits until the file holds a pid.
fn pid_in(path: &std::path::Path) -> i32 {
    let deadline = std::time::Instant::now() + common::DEADLINE;
    loop {
        if let Some(pid) = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} never written",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn sigkill_of_otorepair_stops_the_command_and_a_running_agent() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A command that ignores SIGHUP (so the PTY closing does not end it), with a
    // grandchild that ignores it too, and that prints a live error to fix.
    let command = "trap '' HUP; sleep 977.1 & echo $! > grandchild.pid; echo $$ > command.pid; \
                   printf 'Traceback (most recent call last):\\n  File \"app.py\", line 1, in <module>\\nValueError: boom\\n'; \
                   wait";
    let agent =
        "echo $$ > agent.pid; sleep 977.2 & echo $! > agent-child.pid; cat >/dev/null; wait";
    let t = Term::spawn(
        &[
            "--settle",
            "0.2",
            "--agent-cmd",
            agent,
            "--triage-cmd",
            "cat >/dev/null; echo ERROR",
            command,
        ],
        Opts {
            cwd: Some(dir.path()),
            ..Opts::default()
        },
    );
    let pids: Vec<(i32, &str)> = [
        ("command.pid", "the command"),
        ("grandchild.pid", "the command's child that ignores SIGHUP"),
        ("agent.pid", "the fix agent"),
        ("agent-child.pid", "the fix agent's child"),
    ]
    .into_iter()
    .map(|(file, what)| (pid_in(&dir.path().join(file)), what))
    .collect();
    t.signal(libc::SIGKILL);
    common::wait_pid_gone(t.pid(), "otorepair");
    for (pid, what) in pids {
        // The grace (3 s) and a margin for a loaded machine.
        gone_within(pid, 15, what);
    }
}

#[test]
fn sigkill_of_otorepair_in_pipe_mode_stops_the_whole_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The real command runs under sh -c, as its child: a parent-death signal on
    // the direct child would not reach it.
    let mut otorepair = otorepair(&[
        "--dry-run",
        "--no-pty",
        "sleep 978.1 & echo $! > server.pid; wait",
    ])
    .current_dir(dir.path())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("spawn otorepair");
    let server = pid_in(&dir.path().join("server.pid"));
    otorepair.kill().expect("SIGKILL");
    otorepair.wait().expect("reap");
    gone_within(server, 15, "the dev server under sh -c");
}

/// Bytes waiting in a pipe, seen from its read end.
fn pipe_fill(reader: &std::os::fd::OwnedFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes an int.
    unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(reader),
            libc::FIONREAD,
            &mut n,
        )
    };
    usize::try_from(n).unwrap_or(0)
}

/// A process the test started, killed if the test fails before it is reaped.
struct Started(std::process::Child);

impl Drop for Started {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn a_stalled_stdout_does_not_keep_otorepair_from_exiting() {
    // `otorepair ... | less`, and less is not scrolled: a pipe nobody reads.
    let (reader, writer) = common::cloexec_pipe();
    let mut otorepair = Started(
        otorepair(&[
            "--dry-run",
            "--",
            "python3",
            "-c",
            "import sys\nwhile True: sys.stdout.write('x' * 99 + '\\n')",
        ])
        .stdout(std::process::Stdio::from(writer))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn otorepair"),
    );
    let deadline = std::time::Instant::now() + common::DEADLINE;
    // Full enough that the terminal writer blocks (pages are not all packed).
    while pipe_fill(&reader) < 32 * 1024 {
        assert!(
            std::time::Instant::now() < deadline,
            "the pipe never filled"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let signalled = std::time::Instant::now();
    // SAFETY: kill on our own child.
    unsafe { libc::kill(otorepair.0.id() as i32, libc::SIGTERM) };
    // The grace for the command (3 s), a short wait on the terminal, a margin.
    let deadline = signalled + std::time::Duration::from_secs(15);
    let status = loop {
        if let Some(status) = otorepair.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "otorepair still running 15 s after SIGTERM with a stalled stdout"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(143));
    drop(reader);
}

#[test]
fn a_reader_that_goes_away_ends_the_command_as_it_would_without_otorepair() {
    // `otorepair -- server | head -1`: once head is done, the server meets the
    // closed pipe; it is not a crash to heal.
    let (reader, writer) = common::cloexec_pipe();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("agent.log");
    let mut otorepair = Started(
        otorepair(&[
            "--",
            "python3",
            "-c",
            "import time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(0.01)",
        ])
        .env("FAKE_AGENT_LOG", &log)
        .stdout(std::process::Stdio::from(writer))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn otorepair"),
    );
    let mut first = [0u8; 5];
    nix::unistd::read(&reader, &mut first).expect("read");
    drop(reader);
    let deadline = std::time::Instant::now() + common::DEADLINE;
    let status = loop {
        if let Some(status) = otorepair.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the command kept running with no reader"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // Python's own BrokenPipeError, as `python3 ... | head -1` ends.
    assert_eq!(status.code(), Some(1));
    assert!(!log.exists(), "an agent was asked to fix a closed pipe");
}

#[test]
fn pipe_mode_lines_reach_the_prompt_in_the_order_they_were_printed() {
    // stdout lines, then a traceback on stderr: the fix prompt shows them in that
    // order, every time (the race lost it in about half of the runs).
    let code = "import sys\n\
                for i in range(20): print('step', i)\n\
                sys.stdout.flush()\n\
                raise KeyError('total')";
    for run in 0..6 {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("agent.log");
        let log_path = log.to_str().expect("utf-8 path");
        let out = common::run_piped(
            &["--max-attempts", "1", "--", "python3", "-c", code],
            &[("FAKE_AGENT_LOG", log_path)],
            Some(dir.path()),
        );
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let records = std::fs::read_to_string(&log).expect("the agent ran");
        let prompt = records
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|r| r["mode"] == "fix")
            .and_then(|r| r["stdin"].as_str().map(str::to_string))
            .expect("a fix prompt");
        let last_step = prompt
            .find("stdout| step 19")
            .expect("stdout lines in the prompt");
        let traceback = prompt
            .find("stderr| Traceback")
            .expect("the traceback in the prompt");
        assert!(
            last_step < traceback,
            "run {run}: stderr before stdout:\n{prompt}"
        );
    }
}

#[test]
fn a_crash_without_a_recognised_error_has_one_identity_whatever_the_order() {
    // The same crash, its stdout and stderr lines arriving in either order (as
    // timing decides on two pipes): one fingerprint, so the breaker counts it once.
    let fingerprint = |first_stdout: bool| {
        let dir = tempfile::tempdir().expect("tempdir");
        let events = dir.path().join("events.jsonl");
        let code = format!(
            "import sys, time\n\
             def out(): print(' * Debug mode: off', flush=True)\n\
             def err(): print('listener gave up on port 5000', file=sys.stderr, flush=True)\n\
             {}\ntime.sleep(0.3)\n{}\nsys.exit(1)",
            if first_stdout { "out()" } else { "err()" },
            if first_stdout { "err()" } else { "out()" },
        );
        let out = common::run_piped(
            &[
                "--max-attempts",
                "1",
                "--events",
                events.to_str().expect("utf-8 path"),
                "--",
                "python3",
                "-c",
                &code,
            ],
            &[],
            Some(dir.path()),
        );
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_to_string(&events)
            .expect("events")
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| e["event"] == "fix_start")
            .and_then(|e| e["fingerprint"].as_str().map(str::to_string))
            .expect("a fix started")
    };
    assert_eq!(fingerprint(true), fingerprint(false));
}

#[test]
fn a_line_typed_while_the_command_ends_reaches_the_shell() {
    // In an interactive shell: otorepair runs a command that ends, then lingers
    // (a grandchild ignores SIGTERM, so stopping the group takes its grace). A
    // line typed meanwhile is for the shell and must reach it.
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("cmd.pid");
    let bin = common::bin();
    let mut t = Term::spawn_program(
        std::path::Path::new("bash"),
        &["--norc", "--noprofile", "-i"],
        Opts {
            env: vec![("PS1", "PROMPT-\\#> ".to_string())],
            cwd: Some(dir.path()),
            ..Opts::default()
        },
    );
    t.expect("PROMPT-1> ");
    t.send(
        format!(
            "{} --dry-run -- sh -c 'echo $$ > cmd.pid; (trap \"\" TERM; exec sleep 979.1 >/dev/null 2>&1) & echo ENDED''-NOW'\r",
            bin.display()
        )
        .as_bytes(),
    );
    t.expect("ENDED-NOW");
    let command = pid_in(&pid_file);
    common::wait_pid_gone(command, "the command");
    // otorepair is still running: the group's grace has not passed.
    t.send(b"echo TYPED-$((6*7))\r");
    t.expect("TYPED-42");
    t.expect("PROMPT-3> ");
    t.send(b"exit\r");
    t.wait();
    common::wait_no_processes("sleep 979.1");
}

#[test]
fn ctrl_c_is_a_key_for_a_program_that_turned_signals_off() {
    // A raw-mode program (an editor, a TUI) reads 0x03 as a key: two presses must
    // reach it, not stop it as a double Ctrl-C.
    let code = "import os, sys, termios, tty\n\
                saved = termios.tcgetattr(0)\n\
                tty.setraw(0)\n\
                os.write(1, b'raw\\r\\n')\n\
                seen = 0\n\
                while seen < 2:\n    seen += os.read(0, 1).count(3)\n\
                termios.tcsetattr(0, termios.TCSANOW, saved)\n\
                print('got two')";
    let mut t = spawn_py(&["--dry-run"], code, Opts::default());
    t.expect("raw\r\n");
    t.send(b"\x03");
    t.send(b"\x03");
    t.expect("got two");
    assert_eq!(t.wait(), 0);
}

#[test]
fn a_crash_long_after_a_caught_ctrl_c_is_a_crash() {
    // A REPL-like program catches Ctrl-C and goes on; it crashes later than any
    // shutdown takes. That is a crash to report (here: --dry-run), not a stop.
    let code = "import sys, time\n\
                try:\n    print('ready', flush=True)\n    time.sleep(60)\n\
                except KeyboardInterrupt:\n    print('caught', flush=True)\n\
                time.sleep(11)\n\
                raise SystemExit('gave up later')";
    let mut t = spawn_py(&["--dry-run"], code, Opts::default());
    t.expect("ready\r\n");
    t.send(b"\x03");
    t.expect("caught");
    t.expect("would fix");
    assert_eq!(t.wait(), 1);
}

/// The panic hook exists in debug builds only (what `cargo test` builds).
#[cfg(debug_assertions)]
#[test]
fn a_panic_during_a_fix_stops_the_agent_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = "echo $$ > agent.pid; sleep 980.1 & echo $! > agent-child.pid; \
                 cat >/dev/null; echo working; wait";
    let mut t = Term::spawn(
        &[
            "--agent-cmd",
            agent,
            "--",
            "sh",
            "-c",
            "sleep 980.2 & exit 3",
        ],
        Opts {
            cwd: Some(dir.path()),
            env: vec![("OTOREPAIR_TEST_PANIC", "agent".into())],
            ..Opts::default()
        },
    );
    assert_eq!(t.wait(), 101);
    assert!(t.text().contains("panicking on purpose"), "{}", t.text());
    for (file, what) in [
        ("agent.pid", "the fix agent"),
        ("agent-child.pid", "its child"),
    ] {
        gone_within(pid_in(&dir.path().join(file)), 15, what);
    }
}

/// Runs otorepair with no terminal and a deadline (a hang is a failure, not a
/// stuck test).
fn run_within(args: &[&str], cwd: &std::path::Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = otorepair(args);
    cmd.current_dir(cwd)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = Started(cmd.spawn().expect("spawn otorepair"));
    let deadline = std::time::Instant::now() + common::DEADLINE;
    while child.0.try_wait().expect("try_wait").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "otorepair {args:?} hangs"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut out = std::process::Output {
        status: child.0.wait().expect("wait"),
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    use std::io::Read;
    if let Some(mut s) = child.0.stdout.take() {
        let _ = s.read_to_end(&mut out.stdout);
    }
    if let Some(mut s) = child.0.stderr.take() {
        let _ = s.read_to_end(&mut out.stderr);
    }
    out
}

#[test]
fn a_settings_file_that_is_not_a_small_regular_file_is_one_error() {
    for (what, make, needle) in [
        (
            "a device",
            &(|p: &std::path::Path| std::os::unix::fs::symlink("/dev/zero", p).expect("symlink"))
                as &dyn Fn(&std::path::Path),
            "cannot read: not a regular file",
        ),
        (
            "a FIFO",
            &|p: &std::path::Path| {
                nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600))
                    .expect("mkfifo")
            },
            "cannot read: not a regular file",
        ),
        (
            "a huge file",
            &|p: &std::path::Path| {
                std::fs::write(p, format!("# {}\n", "x".repeat(2 << 20))).expect("write")
            },
            "cannot read: larger than 1 MiB",
        ),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join(".otorepair.toml");
        make(&file);
        let home = dir.path().to_str().expect("utf-8 path");
        for args in [&["--dry-run", "true"][..], &["config"]] {
            let out = run_within(args, dir.path(), &[("HOME", home)]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{what}, {args:?}: {err}");
            assert!(
                err.starts_with(&format!("otorepair: error: {}: {needle}", file.display())),
                "{what}, {args:?}: {err}"
            );
        }
    }
}

#[test]
fn running_out_of_descriptors_is_said_plainly_never_a_panic() {
    // From too few descriptors to enough: each limit fails cleanly somewhere
    // (a pseudo-terminal that cannot be opened is said as such, not as the
    // command missing) until the command runs.
    let mut saw_pty_error = false;
    for limit in 4..64u64 {
        let mut cmd = otorepair(&["--dry-run", "--pty", "--", "true"]);
        // SAFETY: setrlimit is async-signal-safe.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                let rl = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
                Ok(())
            });
        }
        let out = cmd.output().expect("run otorepair");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "limit {limit}: {err}");
        assert!(!err.contains("command not found"), "limit {limit}: {err}");
        saw_pty_error |= err.contains("cannot open a pseudo-terminal");
        if out.status.code() == Some(0) {
            assert!(saw_pty_error, "never saw the pseudo-terminal error");
            return;
        }
    }
    panic!("otorepair never ran with up to 63 descriptors");
}

#[test]
fn keys_typed_during_a_crash_fix_reach_the_restarted_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("app.py"),
        "import os\n\
         if not os.path.exists('fixed'):\n    raise SystemExit('broken')\n\
         print('ask', flush=True)\nprint('got', repr(input()))\n",
    )
    .unwrap();
    // The agent finishes only once the test has typed.
    let agent = "cat >/dev/null; while [ ! -e typed ]; do sleep 0.05; done; touch fixed";
    let mut t = Term::spawn(
        &["--agent-cmd", agent, "--", "python3", "app.py"],
        Opts {
            cwd: Some(dir.path()),
            ..Opts::default()
        },
    );
    t.expect("Attempting fix");
    t.send(b"hello\r");
    std::fs::write(dir.path().join("typed"), "").unwrap();
    t.expect("got 'hello'");
    assert_eq!(t.wait(), 0);
}

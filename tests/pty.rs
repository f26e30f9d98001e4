//! The transparent shim, as the person at the terminal sees it.

mod common;

use common::{processes_with, run_piped, wait_no_processes, Opts, Term};

fn py(code: &str) -> Vec<String> {
    vec!["--".into(), "python3".into(), "-c".into(), code.into()]
}

fn spawn_py(code: &str, opts: Opts<'_>) -> Term {
    let args = py(code);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Term::spawn(&args, opts)
}

#[test]
fn child_sees_a_terminal_with_the_users_size_and_environment() {
    let mut t = spawn_py(
        "import os,sys\n\
         print('ttys', [os.isatty(i) for i in range(3)])\n\
         print('size', os.get_terminal_size().lines, os.get_terminal_size().columns)\n\
         print('env', os.environ.get('TERM'), os.environ.get('OTOREPAIR'), os.environ.get('PYTHONUNBUFFERED'))\n\
         print('fds', sorted(int(f) for f in os.listdir('/proc/self/fd')))",
        Opts {
            rows: 33,
            cols: 101,
            ..Opts::default()
        },
    );
    assert_eq!(t.wait(), 0);
    let text = t.text();
    assert!(text.contains("ttys [True, True, True]"), "{text}");
    assert!(text.contains("size 33 101"), "{text}");
    assert!(text.contains("env xterm-256color 1 1"), "{text}");
    // 0, 1, 2 and the fd listdir itself opened: nothing of otorepair's leaked.
    assert!(text.contains("fds [0, 1, 2, 3]"), "{text}");
}

#[test]
fn output_arrives_byte_for_byte_including_invalid_utf8() {
    // Written with os.write so no line discipline is involved on the child's side:
    // colours, cursor movement, UTF-8, invalid UTF-8, a lone CR.
    let payload: &[u8] =
        b"\x1b[31mred\x1b[0m \x1b[2;5H\xe2\x9c\x93 caf\xc3\xa9 \xff\xfe\x80 \rover";
    let code = format!(
        "import os; os.write(1, bytes({:?})); os.write(1, b'<END>')",
        payload.to_vec()
    );
    let mut t = spawn_py(&code, Opts::default());
    assert_eq!(t.wait(), 0);
    let mut expected = payload.to_vec();
    expected.extend_from_slice(b"<END>");
    let out = t.output();
    assert!(
        out.windows(expected.len())
            .any(|w| w == expected.as_slice()),
        "payload not passed through unchanged: {:?}",
        String::from_utf8_lossy(&out)
    );
    // Nothing added: a well-behaved child gets no reset sequences after it.
    assert!(
        out.ends_with(b"<END>"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
}

#[test]
fn a_four_megabyte_tail_written_just_before_exit_all_arrives() {
    let code = "import sys\n\
                line = ''.join(chr(33 + i % 90) for i in range(99)) + '\\n'\n\
                sys.stdout.write(line * 42000 + 'LAST')\n\
                sys.stdout.flush()\n\
                sys.exit(3)";
    // --dry-run: a crash is reported, not healed, and its exit code passes through.
    let args = py(code);
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.insert(0, "--dry-run");
    let mut t = Term::spawn(&args, Opts::default());
    assert_eq!(t.wait(), 3);
    let out = t.output();
    let line: String = (0..99).map(|i| char::from(33 + (i % 90) as u8)).collect();
    // The child's PTY turns \n into \r\n, exactly as the user's terminal would.
    let mut expected = format!("{line}\r\n").repeat(42000);
    expected.push_str("LAST");
    // The child's bytes come between our status lines, as one unchanged run.
    let start = out
        .windows(line.len())
        .position(|w| w == line.as_bytes())
        .expect("payload start");
    let got = &out[start..(start + expected.len()).min(out.len())];
    assert_eq!(got.len(), expected.len(), "bytes lost");
    assert!(got == expected.as_bytes(), "content differs");
    // Nothing of ours was written into the middle of it, and nothing was added.
    assert!(
        out[start + expected.len()..].starts_with(b"\r\n\x1b[1;36m[otorepair]")
            || out[start + expected.len()..].starts_with(b"\x1b[1;36m[otorepair]"),
        "{:?}",
        String::from_utf8_lossy(&out[start + expected.len()..])
    );
}

#[test]
fn keystrokes_reach_the_child_in_raw_mode() {
    let mut t = spawn_py(
        "import readline\ns = input('name? ')\nprint('got', repr(s))\nimport sys\nprint('rest', repr(sys.stdin.read()))",
        Opts::default(),
    );
    // The banner repeats the command, prompt text included: wait for the real one.
    t.wait_for(|s| s.matches("name? ").count() >= 2, "the prompt");
    assert!(
        t.is_raw(),
        "the user's terminal is not raw while the child runs"
    );
    // Left arrow moves the cursor in Python's line editor: "ab" <- "c" = "acb".
    t.send(b"ab\x1b[Dc\r");
    t.expect("got 'acb'");
    t.send(b"more\r\x04");
    t.expect("rest 'more\\n'");
    assert_eq!(t.wait(), 0);
}

#[test]
fn a_debugger_session_works_through_the_shim() {
    let mut t = spawn_py("x = 41\nbreakpoint()\nprint('x is', x)", Opts::default());
    t.expect("(Pdb) ");
    t.send(b"x = x + 1\r");
    t.wait_for(|s| s.matches("(Pdb)").count() >= 2, "second pdb prompt");
    t.send(b"c\r");
    t.expect("x is 42");
    assert_eq!(t.wait(), 0);
}

#[test]
fn a_window_resize_reaches_the_child() {
    let mut t = spawn_py(
        "import signal, os, sys, time\n\
         def on(*_):\n    s = os.get_terminal_size(); print('resized', s.lines, s.columns, flush=True); sys.exit(0)\n\
         signal.signal(signal.SIGWINCH, on)\nprint('ready', flush=True)\ntime.sleep(60)",
        Opts::default(),
    );
    t.expect("ready\r\n");
    t.resize(40, 132);
    t.expect("resized 40 132");
    assert_eq!(t.wait(), 0);
}

#[test]
fn ctrl_c_reaches_the_child_and_is_a_stop_by_the_user() {
    let mut t = spawn_py(
        "import time\nprint('ready', flush=True)\ntime.sleep(60)",
        Opts::default(),
    );
    t.expect("ready\r\n");
    t.send(b"\x03");
    t.expect("KeyboardInterrupt");
    assert_eq!(t.wait(), 130);
}

#[test]
fn ctrl_c_twice_stops_a_child_that_ignores_it() {
    let mut t = Term::spawn(
        &["trap '' INT; echo ready; sleep 971.5; echo survived"],
        Opts::default(),
    );
    t.expect("ready\r\n");
    t.send(b"\x03");
    t.send(b"\x03");
    assert_eq!(t.wait(), 130);
    // Once in the banner ("Watching: ..."), never from the child.
    assert_eq!(t.text().matches("survived").count(), 1, "{}", t.text());
    wait_no_processes("sleep 971.5");
}

#[test]
fn termination_signals_stop_the_whole_group() {
    for (sig, marker) in [
        (libc::SIGTERM, "972.1"),
        (libc::SIGHUP, "972.2"),
        (libc::SIGQUIT, "972.3"),
    ] {
        let cmd = format!("sleep {marker} & sleep {marker} & echo ready; wait");
        let mut t = Term::spawn(&[&cmd], Opts::default());
        t.expect("ready\r\n");
        // Both sleeps run before the signal arrives.
        let deadline = std::time::Instant::now() + common::DEADLINE;
        while processes_with(&format!("sleep {marker}")).len() < 2 {
            assert!(std::time::Instant::now() < deadline, "sleeps did not start");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        t.signal(sig);
        assert_eq!(t.wait(), 128 + sig, "signal {sig}");
        wait_no_processes(&format!("sleep {marker}"));
    }
}

#[test]
fn a_child_that_ignores_sigterm_is_killed_after_the_grace_period() {
    let mut t = Term::spawn(&["trap '' TERM; echo ready; sleep 973.5"], Opts::default());
    t.expect("ready\r\n");
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(), 143);
    wait_no_processes("sleep 973.5");
}

#[test]
fn exit_codes_and_signal_deaths_pass_through() {
    // Without --dry-run these crashes would be healed (see tests/heal.rs).
    let mut t = Term::spawn(&["--dry-run", "exit 7"], Opts::default());
    assert_eq!(t.wait(), 7);
    let mut t = Term::spawn(
        &["--dry-run", "--", "sh", "-c", "kill -SEGV $$"],
        Opts::default(),
    );
    assert_eq!(t.wait(), 139);
    // A command that cannot run is not a crash to heal, with or without --dry-run.
    let mut t = Term::spawn(&["--", "no-such-program-xyz"], Opts::default());
    assert_eq!(t.wait(), 127);
    assert!(t.text().contains("no-such-program-xyz: command not found"));
    let mut t = Term::spawn(&["no-such-program-xyz --flag"], Opts::default());
    assert_eq!(t.wait(), 127);
    assert!(t.text().contains("not found"), "{}", t.text());
}

#[test]
fn terminal_modes_a_crashed_child_left_on_are_switched_off() {
    let mut t = Term::spawn(
        &[
            "--dry-run",
            "printf '\\033[?1049h\\033[?25l\\033[?1000h\\033[?2004hfullscreen'; kill -9 $$",
        ],
        Opts::default(),
    );
    assert_eq!(t.wait(), 137);
    let text = t.text();
    let tail = &text[text.rfind("fullscreen").expect("child output")..];
    for seq in ["\x1b[?1049l", "\x1b[?25h", "\x1b[?1000l", "\x1b[?2004l"] {
        assert!(
            tail.contains(seq),
            "{seq:?} missing after the crash: {tail:?}"
        );
    }
}

/// The panic hook exists in debug builds only (what `cargo test` builds).
#[cfg(debug_assertions)]
#[test]
fn a_panic_inside_otorepair_restores_the_terminal_and_stops_the_child() {
    let mut t = Term::spawn(
        &["sleep 974.5"],
        Opts {
            env: vec![("OTOREPAIR_TEST_PANIC", "start".into())],
            ..Opts::default()
        },
    );
    assert_eq!(t.wait(), 101);
    assert!(t.text().contains("panicking on purpose"));
    wait_no_processes("sleep 974.5");
}

#[test]
fn pipe_mode_keeps_stdout_and_stderr_apart() {
    let out = run_piped(
        &[
            "--dry-run",
            "--",
            "python3",
            "-c",
            "import os,sys; print('out', os.isatty(1)); print('err', file=sys.stderr); sys.exit(4)",
        ],
        &[],
        None,
    );
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out False\n");
    // stderr carries the child's line unchanged; everything else is our status lines.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.lines().any(|l| l == "err"), "{err}");
    assert!(
        err.lines()
            .all(|l| l == "err" || l.starts_with("[otorepair]")),
        "{err}"
    );
}

#[test]
fn forced_pty_without_a_terminal_gets_80x24() {
    let out = run_piped(&["--pty", "--", "stty", "size"], &[], None);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "24 80");
}

#[test]
fn bad_input_is_one_clear_line_and_exit_2() {
    for (args, env, needle) in [
        (vec![], vec![], "no command given"),
        (vec![""], vec![], "the command is empty"),
        (
            vec!["--workspace", "/nonexistent/dir", "true"],
            vec![],
            "--workspace: '/nonexistent/dir' does not exist",
        ),
        (
            vec!["--frobnicate", "true"],
            vec![],
            "unexpected argument '--frobnicate'",
        ),
        (
            vec!["true"],
            vec![("OTOREPAIR_WORKSPACE", "/etc/hostname")],
            "OTOREPAIR_WORKSPACE: '/etc/hostname' is not a directory",
        ),
    ] {
        let out = run_piped(&args, &env, None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.starts_with(&format!("otorepair: error: {needle}")),
            "{args:?}: {err}"
        );
    }
}

fn parent_of(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit(')')
        .next()
        .and_then(|s| s.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

fn process_state(pid: i32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit(')')
        .next()
        .and_then(|s| s.trim_start().chars().next())
        .unwrap_or('?')
}

#[test]
fn ctrl_z_suspends_child_and_otorepair_and_fg_resumes_both() {
    let mut t = Term::spawn(&["echo ready; read x; echo got $x"], Opts::default());
    t.expect("ready\r\n");
    let raw = t.termios_now();
    t.send(b"\x1a");
    // otorepair stops itself, as a shell job would, with the terminal given back.
    let deadline = std::time::Instant::now() + common::DEADLINE;
    while process_state(t.pid()) != 'T' {
        assert!(
            std::time::Instant::now() < deadline,
            "otorepair did not stop"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!t.is_raw(), "terminal left raw while suspended");
    // The command is stopped too, not running on behind the user's back.
    let child = processes_with("read x; echo got")
        .into_iter()
        .find(|&pid| parent_of(pid) == t.pid())
        .expect("the child");
    assert_eq!(process_state(child), 'T', "the command kept running");
    // `fg`: the shell continues otorepair, which takes the terminal and wakes the child.
    t.signal(libc::SIGCONT);
    let deadline = std::time::Instant::now() + common::DEADLINE;
    while t.termios_now() != raw {
        assert!(
            std::time::Instant::now() < deadline,
            "raw mode not re-entered"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    t.send(b"abc\r");
    t.expect("got abc");
    assert_eq!(t.wait(), 0);
}

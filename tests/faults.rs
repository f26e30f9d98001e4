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
    let out = std::process::Command::new(common::bin())
        .args(["--dry-run", "--", "true"])
        .env("PATH", common::path_with_fakes())
        .env("X", std::ffi::OsStr::from_bytes(b"\xff"))
        .env(std::ffi::OsStr::from_bytes(b"Y\xfe_TOKEN"), "s3cr3t-value")
        .stdin(std::process::Stdio::null())
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
        let (reader, writer) = nix::unistd::pipe().expect("pipe");
        drop(reader);
        let out = std::process::Command::new(common::bin())
            .args(args)
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .stdin(std::process::Stdio::null())
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

//! otorepair as a job of an interactive shell: `&`, Ctrl-Z, `bg`, `fg`. It must
//! behave as the command would without it: a background job neither takes the
//! keyboard nor is stopped by it, a foreground one has it.

mod common;

use common::{Opts, Term};

/// An interactive bash in the test's terminal, in `dir`, its first prompt
/// shown (`PROMPT-N> `, N counting the commands).
fn shell(dir: &std::path::Path) -> Term {
    let t = Term::spawn_program(
        std::path::Path::new("bash"),
        &["--norc", "--noprofile", "-i"],
        Opts {
            env: vec![("PS1", "PROMPT-\\#> ".to_string())],
            cwd: Some(dir),
            ..Opts::default()
        },
    );
    t.expect("PROMPT-1> ");
    t
}

/// Waits until otorepair has the terminal: raw mode as `cfmakeraw` makes it,
/// with signal keys and output processing off (a shell's line editor leaves
/// both on, so Ctrl-C works at its prompt).
fn wait_raw(t: &Term) {
    use nix::sys::termios::{LocalFlags, OutputFlags};
    let raw = || {
        let now = t.termios();
        !now.local_flags.contains(LocalFlags::ISIG)
            && !now.output_flags.contains(OutputFlags::OPOST)
    };
    let deadline = std::time::Instant::now() + common::DEADLINE;
    while !raw() {
        assert!(
            std::time::Instant::now() < deadline,
            "the terminal never went raw; it shows:\n{}",
            t.text()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Waits until the command has created `running`, then stops the job with
/// Ctrl-Z and resumes it with `bg`: the shell's third prompt is shown.
fn send_to_background_once_running(t: &mut Term, running: &std::path::Path, raw_first: bool) {
    let deadline = std::time::Instant::now() + common::DEADLINE;
    while !running.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the command never ran"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    if raw_first {
        wait_raw(t);
    }
    t.send(b"\x1a");
    t.expect("Stopped");
    t.send(b"bg\r");
    t.expect("PROMPT-3> ");
}

/// Kills, when dropped, every process whose command line names `dir` (the
/// test's own directory): a failed test must not leave a job running in the
/// background of a terminal that is gone.
struct KillLeftovers<'a>(&'a std::path::Path);

impl Drop for KillLeftovers<'_> {
    fn drop(&mut self) {
        for pid in common::processes_with(&self.0.display().to_string()) {
            // SAFETY: kill on a process this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// The highest `tick-N` the terminal shows.
fn last_tick(text: &str) -> u64 {
    text.split("tick-")
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn a_job_sent_to_the_background_is_not_stopped_by_keys_typed_at_the_shell_and_fg_takes_it_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("ticker.py"),
        "import itertools, time\n\
         for i in itertools.count(1):\n    print(f'tick-{i}', flush=True)\n    time.sleep(0.05)\n",
    )
    .unwrap();
    let _leftovers = KillLeftovers(dir.path());
    let ticker = dir.path().join("ticker.py");
    let mut t = shell(dir.path());
    t.send(
        format!(
            "{} --dry-run -- python3 {}\r",
            common::bin().display(),
            ticker.display()
        )
        .as_bytes(),
    );
    t.expect("tick-2");
    t.send(b"\x1a");
    t.expect("Stopped");
    t.send(b"bg\r");
    t.expect("PROMPT-3> ");
    // A line typed while the shell runs something else waits in the terminal
    // for the shell: otorepair, in the background, must not try to read it (the
    // terminal would stop it, and the command's output with it).
    t.send(b"sleep 2\recho TYPED-$((6*7))\r");
    t.expect("TYPED-42");
    let seen = last_tick(&t.text());
    t.wait_for(
        |text| last_tick(text) > seen + 10,
        "ticks going on after a line was typed at the shell",
    );
    // `fg` on a running job sends no signal, only hands it the terminal: it
    // takes it all the same, and Ctrl-C is the command's again.
    t.send(b"fg\r");
    wait_raw(&t);
    t.send(b"\x03");
    t.expect("KeyboardInterrupt");
    t.expect("PROMPT-6> ");
    t.send(b"exit\r");
    t.wait();
    common::wait_no_processes(&ticker.display().to_string());
}

#[test]
fn a_job_started_in_the_background_takes_the_keyboard_when_brought_to_the_foreground() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("ask.py"),
        "print('asking', flush=True)\nprint('got', repr(input()))\n",
    )
    .unwrap();
    let _leftovers = KillLeftovers(dir.path());
    let mut t = shell(dir.path());
    t.send(
        format!(
            "{} --dry-run -- python3 {} &\r",
            common::bin().display(),
            dir.path().join("ask.py").display()
        )
        .as_bytes(),
    );
    t.expect("asking");
    t.send(b"fg\r");
    // otorepair takes the terminal (raw, as if started in the foreground): the
    // keys are the command's.
    wait_raw(&t);
    t.send(b"hello\r");
    t.expect("got 'hello'");
    t.expect("PROMPT-3> ");
    t.send(b"exit\r");
    t.wait();
}

#[test]
fn a_pipe_mode_job_that_ends_in_the_background_leaves_the_terminal_to_the_shell() {
    // Pipe mode gives the terminal to the command's group while it runs in the
    // foreground, and takes it back when it ends, unless the user sent the job
    // to the background meanwhile: the shell has the terminal then, and taking
    // it would leave the shell in the background of its own terminal.
    let dir = tempfile::tempdir().expect("tempdir");
    let _leftovers = KillLeftovers(dir.path());
    let go = dir.path().join("go");
    let running = dir.path().join("running");
    let mut t = shell(dir.path());
    t.send(
        format!(
            "{} --dry-run --no-pty -- sh -c 'touch {}; while [ ! -e {} ]; do sleep 0.05; done; echo FIN''ISHED'\r",
            common::bin().display(),
            running.display(),
            go.display()
        )
        .as_bytes(),
    );
    send_to_background_once_running(&mut t, &running, false);
    std::fs::write(&go, "").unwrap();
    t.expect("FINISHED");
    common::wait_no_processes(&go.display().to_string());
    t.send(b"echo STILL-$((6*7))\r");
    t.expect("STILL-42");
    t.send(b"exit\r");
    t.wait();
}

#[test]
fn a_job_that_ends_in_the_background_leaves_the_shell_its_terminal_settings() {
    // In the background the terminal's settings are the shell's (its line
    // editor turns echo and line buffering off at the prompt): otorepair,
    // ending there, must not put back the ones it found when it started.
    let dir = tempfile::tempdir().expect("tempdir");
    let _leftovers = KillLeftovers(dir.path());
    let go = dir.path().join("go");
    let running = dir.path().join("running");
    let mut t = shell(dir.path());
    t.send(
        format!(
            "{} --dry-run -- sh -c 'touch {}; while [ ! -e {} ]; do sleep 0.05; done'\r",
            common::bin().display(),
            running.display(),
            go.display()
        )
        .as_bytes(),
    );
    send_to_background_once_running(&mut t, &running, true);
    let at_prompt = t.termios_now();
    std::fs::write(&go, "").unwrap();
    common::wait_no_processes(&go.display().to_string());
    assert_eq!(
        t.termios_now(),
        at_prompt,
        "the shell's settings were changed"
    );
    t.send(b"exit\r");
    t.wait();
}

#[test]
fn a_pipe_mode_command_restarted_in_the_background_leaves_the_terminal_to_the_shell() {
    // After Ctrl-Z and `bg`, the command crashes, is fixed and restarted: the
    // new one must not take the terminal from the shell (pipe mode gives it to
    // the command only while otorepair has it).
    let dir = tempfile::tempdir().expect("tempdir");
    let _leftovers = KillLeftovers(dir.path());
    let d = dir.path().display();
    std::fs::write(
        dir.path().join("app.sh"),
        format!(
            "touch {d}/running\n\
             if [ -e {d}/fixed ]; then echo HEAL''THY; while :; do sleep 1; done; fi\n\
             while [ ! -e {d}/go ]; do sleep 0.05; done\n\
             printf 'Traceback (most recent call last):\\n  File \"app.py\", line 3, in <module>\\nZeroDivisionError: division by zero\\n'\n\
             exit 1\n"
        ),
    )
    .unwrap();
    let mut t = shell(dir.path());
    t.send(
        format!(
            "{} --no-pty --agent-cmd 'cat >/dev/null; touch {d}/fixed' -- sh {d}/app.sh\r",
            common::bin().display(),
        )
        .as_bytes(),
    );
    send_to_background_once_running(&mut t, &dir.path().join("running"), false);
    std::fs::write(dir.path().join("go"), "").unwrap();
    t.expect("HEALTHY");
    t.send(b"echo STILL-$((6*7))\r");
    t.expect("STILL-42");
    t.send(b"kill %1; wait\r");
    t.send(b"exit\r");
    t.wait();
}

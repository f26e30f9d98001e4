//! A command that writes faster than otorepair can look at its output, or to a
//! reader that went away: memory stays bounded (the command waits, as it would
//! on a slow terminal) and otorepair still ends.

mod common;

use std::time::{Duration, Instant};

/// Starts otorepair with `args`, no terminal, its output to `stdout`.
fn start(args: &[&str], stdout: std::process::Stdio) -> std::process::Child {
    common::piped(args, &[])
        .stdout(stdout)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn otorepair")
}

/// Waits for `child` to exit (a hang past the deadline is a failure, and the
/// child is killed); its exit code and peak resident memory in KiB.
fn wait_with_peak(child: std::process::Child, what: &str) -> (i32, i64) {
    let pid = child.id() as i32;
    let deadline = Instant::now() + common::DEADLINE;
    loop {
        let mut status = 0;
        // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: wait4 on our own child, with pointers to our own locals.
        let rc = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if rc == pid {
            let code = if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            };
            return (code, usage.ru_maxrss);
        }
        if Instant::now() >= deadline {
            // SAFETY: kill and wait on our own child, not reaped yet.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("{what}: otorepair did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_flood_while_the_command_is_being_stopped_does_not_take_memory() {
    // While otorepair stops a command (the grace between SIGTERM and SIGKILL)
    // it handles none of its lines; one that ignores SIGTERM and prints as fast
    // as it can must then wait, not pile its lines up in otorepair.
    let dir = tempfile::tempdir().expect("tempdir");
    let started = dir.path().join("started");
    let script = format!(
        "trap '' TERM; touch {}; exec yes",
        started.to_str().expect("utf-8 path")
    );
    let child = start(
        &["--dry-run", "--no-pty", "--", "sh", "-c", &script],
        std::process::Stdio::null(),
    );
    let deadline = Instant::now() + common::DEADLINE;
    while !started.exists() {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let (code, peak) = wait_with_peak(child, "stopping a flood");
    assert_eq!(code, 143);
    assert!(peak < 64 * 1024, "otorepair peaked at {peak} KiB");
}

#[test]
fn in_a_pty_a_reader_that_goes_away_ends_the_command() {
    // `otorepair --pty -- yes | head -1`: in a PTY the command never meets the
    // closed pipe itself (its writes go to the PTY), so otorepair ends it, as a
    // broken pipe would have.
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("command.pid");
    let script = format!(
        "echo $$ > {}; exec yes",
        pid_file.to_str().expect("utf-8 path")
    );
    let (reader, writer) = common::cloexec_pipe();
    let child = start(
        &["--dry-run", "--pty", "--", "sh", "-c", &script],
        std::process::Stdio::from(writer),
    );
    let mut first = [0u8; 64];
    let n = nix::unistd::read(&reader, &mut first).expect("read the first bytes");
    assert!(first[..n].starts_with(b"y"), "{:?}", &first[..n]);
    drop(reader);
    let command = common::read_pid(&pid_file);
    let (code, _) = wait_with_peak(child, "stdout closed");
    assert_eq!(code, 128 + libc::SIGPIPE);
    common::wait_pid_gone(command, "the command");
}

#[test]
fn a_terminal_that_hangs_up_ends_the_command_even_without_a_sighup() {
    // otorepair's output is a terminal that is not its controlling one (a job
    // disowned by its shell is in the same spot): when the terminal goes away,
    // no SIGHUP comes, only EIO on every write. The command alone would meet
    // that EIO and end; wrapped, it must not print into the void for ever.
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("command.pid");
    let script = format!(
        "echo $$ > {}; while :; do echo tick; sleep 0.05; done",
        pid_file.to_str().expect("utf-8 path")
    );
    let pty = nix::pty::openpty(None, None).expect("openpty");
    for fd in [&pty.master, &pty.slave] {
        nix::fcntl::fcntl(
            fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        )
        .expect("close-on-exec");
    }
    let child = start(
        &["--dry-run", "--pty", "--", "sh", "-c", &script],
        std::process::Stdio::from(pty.slave),
    );
    let mut seen = Vec::new();
    let deadline = Instant::now() + common::DEADLINE;
    while !String::from_utf8_lossy(&seen).contains("tick") {
        assert!(Instant::now() < deadline, "no tick: {seen:?}");
        let mut buf = [0u8; 4096];
        let n = nix::unistd::read(&pty.master, &mut buf).expect("read the terminal");
        seen.extend_from_slice(&buf[..n]);
    }
    let command = common::read_pid(&pid_file);
    // The terminal goes away: its last master descriptor closes.
    drop(pty.master);
    let (code, _) = wait_with_peak(child, "terminal hung up");
    assert_eq!(code, 128 + libc::SIGHUP);
    common::wait_pid_gone(command, "the command");
}

/// The panic hook exists in debug builds only (what `cargo test` builds).
#[cfg(debug_assertions)]
#[test]
fn a_panic_with_a_stalled_stderr_still_ends_otorepair_and_the_command() {
    // `otorepair ... 2>&1 | less`, less not scrolled: the panic message cannot
    // be written. otorepair must still end, and the command with it.
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let (reader, writer) = common::cloexec_pipe();
    // Fill the pipe (non-blocking only while filling: the flag is shared).
    fcntl(&writer, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).expect("non-blocking");
    while nix::unistd::write(&writer, &[b'x'; 4096]).is_ok() {}
    fcntl(&writer, FcntlArg::F_SETFL(OFlag::empty())).expect("blocking again");
    let child = common::piped(
        &["--dry-run", "--no-pty", "--", "sleep", "974.6"],
        &[("OTOREPAIR_TEST_PANIC", "start")],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::from(writer))
    .spawn()
    .expect("spawn otorepair");
    let (code, _) = wait_with_peak(child, "a panic with a stalled stderr");
    assert_eq!(code, 101);
    common::wait_no_processes("sleep 974.6");
    drop(reader);
}

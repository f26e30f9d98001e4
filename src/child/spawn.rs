//! What every spawned command shares: the environment, the working directory, and
//! the clean slate set up between fork and exec.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use super::CommandSpec;

/// How the child's process group relates to the terminal.
#[derive(Clone, Copy)]
pub(crate) enum Session {
    /// New session owning the PTY on fd 0 as its controlling terminal (so it gets
    /// SIGWINCH, job control and Ctrl-C from the PTY's line discipline).
    PtyLeader,
    /// New process group; if `Some(fd)`, it also becomes the terminal's foreground
    /// group so it can read the terminal and receive Ctrl-C as it would in a shell.
    Group(Option<i32>),
    /// New session without a controlling terminal (the agents): nothing it runs
    /// can write to the user's terminal through `/dev/tty` or be stopped reading
    /// it; opening `/dev/tty` fails (ENXIO) instead.
    NoTerminal,
}

/// Sets `cmd` up as every process otorepair starts is: default signal
/// dispositions, an empty signal mask, no inherited descriptor beyond 0-2, and
/// the session or group `session` says.
///
/// It also announces its process group to the [`crate::guardian`] before it runs
/// anything, so that no moment exists in which otorepair could die and leave it.
pub(crate) fn clean_start(cmd: &mut Command, session: Session) {
    let guardian = crate::guardian::pipe_fd();
    let fd_limit = crate::os::fds::descriptor_limit();
    // SAFETY: the closure only makes async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(move || clean_slate(session, guardian, fd_limit));
    }
}

/// Builds the command for `spec` with otorepair's environment additions.
pub(crate) fn command(spec: &CommandSpec, cwd: &Path, session: Session) -> Command {
    let (program, args) = spec.program_and_args();
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        // Python buffers stdout when it is not a terminal (pipe mode): see errors live.
        .env("PYTHONUNBUFFERED", "1")
        // Lets shell integration see it is already inside otorepair.
        .env("OTOREPAIR", "1");
    clean_start(&mut cmd, session);
    cmd
}

/// Runs in the child between fork and exec.
fn clean_slate(session: Session, guardian: Option<i32>, fd_limit: libc::c_int) -> io::Result<()> {
    // SAFETY: plain system calls on this process, all async-signal-safe.
    unsafe {
        // Signal handlers are reset by exec, but an inherited blocked mask and
        // ignored dispositions are not: a dev server must still die on Ctrl-C.
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        for sig in [
            libc::SIGCHLD,
            libc::SIGHUP,
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGTERM,
            libc::SIGALRM,
            libc::SIGTSTP,
            libc::SIGTTIN,
            libc::SIGTTOU,
        ] {
            libc::signal(sig, libc::SIG_DFL);
        }
        match session {
            Session::PtyLeader => {
                if libc::setsid() < 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Session::NoTerminal => {
                if libc::setsid() < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Session::Group(foreground) => {
                if libc::setpgid(0, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
                if let Some(fd) = foreground {
                    // We are a background group until this call: ignore SIGTTOU for it.
                    libc::signal(libc::SIGTTOU, libc::SIG_IGN);
                    libc::tcsetpgrp(fd, libc::getpid());
                    libc::signal(libc::SIGTTOU, libc::SIG_DFL);
                }
            }
        }
        // Its own group now exists: the guardian must know before it runs.
        if let Some(fd) = guardian {
            crate::guardian::announce_from_child(fd);
        }
    }
    // No descriptor of ours may leak into the command (it would keep pipes and
    // the PTY open): mark everything above stderr close-on-exec.
    crate::os::fds::mark_cloexec_from_3(fd_limit);
    Ok(())
}

/// Marks a descriptor close-on-exec (openpty does not).
pub(crate) fn set_cloexec(fd: i32) {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
    }
}

/// Why the command could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// No pseudo-terminal (or none set up): otorepair's problem, not the command's.
    #[error("cannot open a pseudo-terminal: {0}")]
    Pty(#[source] io::Error),
    /// The command itself could not be executed.
    #[error("{0}")]
    Exec(#[source] io::Error),
}

/// A spawn error in the shell's words, with the shell's exit code: the user sees
/// what they would without otorepair. A pseudo-terminal that cannot be opened is
/// said as such (exit 1), never as the command missing.
pub fn spawn_failure(spec: &CommandSpec, err: &SpawnError) -> (String, i32) {
    let err = match err {
        SpawnError::Pty(_) => {
            return (format!("{err} (--no-pty runs the command without one)"), 1);
        }
        SpawnError::Exec(e) => e,
    };
    let name = match spec {
        CommandSpec::Argv(argv) => argv[0].clone(),
        CommandSpec::Shell(_) => "/bin/sh".into(),
    };
    match err.kind() {
        io::ErrorKind::NotFound => (format!("{name}: command not found"), 127),
        io::ErrorKind::PermissionDenied => (format!("{name}: Permission denied"), 126),
        _ => (format!("{name}: {err}"), 126),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pty_that_cannot_be_opened_is_not_a_missing_command() {
        let spec = CommandSpec::Argv(vec!["app".into()]);
        let missing = io::Error::from(io::ErrorKind::NotFound);
        let (msg, code) = spawn_failure(&spec, &SpawnError::Pty(missing));
        assert!(msg.starts_with("cannot open a pseudo-terminal"), "{msg}");
        assert_eq!(code, 1);
        let missing = io::Error::from(io::ErrorKind::NotFound);
        let (msg, code) = spawn_failure(&spec, &SpawnError::Exec(missing));
        assert_eq!((msg.as_str(), code), ("app: command not found", 127));
    }
}

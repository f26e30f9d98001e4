//! PTY mode: the command runs as the leader of a new session whose controlling
//! terminal is a fresh PTY, so it behaves exactly as in the user's terminal.
//!
//! We use `nix::pty::openpty` with our own spawn instead of portable-pty: that crate
//! reports a signal death as code 1 (the signal number is lost), kills one pid
//! rather than the group, and writes a newline and EOF into the child when its
//! writer is dropped. None of that is acceptable for a transparent wrapper.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use nix::pty::{openpty, Winsize};
use nix::sys::termios::Termios;
use nix::unistd::Pid;

use super::pump::{start_output, Source};
use super::spawn::{command, set_cloexec, Session};
use super::{start_waiter, Child, ChildEvent, CommandSpec, SpawnError};
use crate::line::Stream;
use crate::output::Output;
use crate::screen::ModeFlags;

pub struct PtyOptions<'a> {
    pub size: Winsize,
    /// The user's terminal settings, so the child starts with the same line
    /// discipline (erase key, IUTF8, ...) as the terminal it would have had.
    pub termios: Option<&'a Termios>,
}

/// Spawns `spec` in a new PTY. Output goes through `output` to stdout and is
/// reported as lines; the exit is reported by a waiter thread.
///
/// The master is non-blocking (it is ours alone, unlike fd 0): keys written to
/// a command that reads none must never block the thread that writes them.
pub fn spawn_pty(
    spec: &CommandSpec,
    cwd: &Path,
    opts: &PtyOptions<'_>,
    output: Arc<Output>,
    modes: ModeFlags,
    report: impl Fn(ChildEvent) + Send + Clone + 'static,
) -> Result<Child, SpawnError> {
    let pty =
        openpty(Some(&opts.size), opts.termios).map_err(|e| SpawnError::Pty(io::Error::from(e)))?;
    set_cloexec(pty.master.as_raw_fd());
    set_cloexec(pty.slave.as_raw_fd());
    set_nonblocking(&pty.master).map_err(SpawnError::Pty)?;
    let master = File::from(pty.master);
    let reader = master.try_clone().map_err(SpawnError::Pty)?;
    let child = {
        // The command holds copies of the slave until it is dropped; all of them
        // must be closed here or the master never reports the end of output.
        let mut cmd = command(spec, cwd, Session::PtyLeader);
        let slave = |fd: &std::os::fd::OwnedFd| fd.try_clone().map_err(SpawnError::Pty);
        cmd.stdin(Stdio::from(slave(&pty.slave)?))
            .stdout(Stdio::from(slave(&pty.slave)?))
            .stderr(Stdio::from(pty.slave));
        cmd.spawn().map_err(SpawnError::Exec)?
    };
    let pid = Pid::from_raw(child.id() as i32);
    // The waiter thread reaps it with waitpid; std's handle is not used for that.
    drop(child);
    let source = Source {
        file: reader,
        out_fd: 1,
        stream: Stream::Pty,
    };
    start_output(vec![source], output, modes, report.clone());
    start_waiter(pid, report);
    Ok(Child {
        pid,
        master: Some(Arc::new(master)),
    })
}

fn set_nonblocking(fd: &impl std::os::fd::AsFd) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

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

use super::spawn::{command, set_cloexec, Session};
use super::{start_pump, start_waiter, Child, ChildEvent, CommandSpec};
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
pub fn spawn_pty(
    spec: &CommandSpec,
    cwd: &Path,
    opts: &PtyOptions<'_>,
    output: Arc<Output>,
    modes: ModeFlags,
    report: impl Fn(ChildEvent) + Send + Clone + 'static,
) -> io::Result<Child> {
    let pty = openpty(Some(&opts.size), opts.termios).map_err(io::Error::from)?;
    set_cloexec(pty.master.as_raw_fd());
    set_cloexec(pty.slave.as_raw_fd());
    let child = {
        // The command holds copies of the slave until it is dropped; all of them
        // must be closed here or the master never reports the end of output.
        let mut cmd = command(spec, cwd, Session::PtyLeader);
        cmd.stdin(Stdio::from(pty.slave.try_clone()?))
            .stdout(Stdio::from(pty.slave.try_clone()?))
            .stderr(Stdio::from(pty.slave));
        cmd.spawn()?
    };
    let pid = Pid::from_raw(child.id() as i32);
    // The waiter thread reaps it with waitpid; std's handle is not used for that.
    drop(child);
    let master = File::from(pty.master);
    let reader = master.try_clone()?;
    start_pump(reader, 1, Stream::Pty, output, modes, report.clone());
    start_waiter(pid, report);
    Ok(Child {
        pid,
        master: Some(Arc::new(master)),
        pumps: 1,
    })
}

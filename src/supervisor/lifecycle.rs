//! The child's life cycle: spawning a generation, its window size, suspending
//! with it (Ctrl-Z), and stopping its whole process group.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use signal_hook::consts::signal::{SIGQUIT, SIGTERM};

use crate::child::{self, ChildEvent, PtyOptions};
use crate::cli::Mode;
use crate::os::group;
use crate::screen::ModeFlags;
use crate::status;
use crate::term::{self, RawMode};

use super::exit::EXIT_STALL;
use super::{Event, Running, Supervisor, STOP_GRACE};

impl Supervisor {
    /// Starts a new generation of the child. On failure returns the exit code a
    /// shell would give.
    pub(super) fn spawn(&mut self) -> Result<Pid, i32> {
        self.gen += 1;
        let gen = self.gen;
        let (tx, router) = (self.tx.clone(), self.router.clone());
        let report = move |e: ChildEvent| {
            if let ChildEvent::Exited(_) = e {
                // Before anyone hears of it: keys typed from now on are not its.
                router.child_exited(gen);
            }
            let _ = tx.send(Event::Child(gen, e));
        };
        self.modes.clear();
        let spawned = match self.cfg.mode {
            Mode::Pty => {
                let size = self
                    .tty_fd
                    .and_then(term::window_size)
                    .or_else(|| term::window_size(1))
                    .unwrap_or_else(term::default_size);
                let opts = PtyOptions {
                    size,
                    termios: self.user_termios.as_ref(),
                };
                child::spawn_pty(
                    &self.cfg.command,
                    &self.cfg.workspace,
                    &opts,
                    self.output.clone(),
                    self.modes.clone(),
                    report,
                )
            }
            // The command's group gets the terminal only if we have it: not
            // from the background (`bg`), where the shell has it.
            Mode::Pipe => child::spawn_pipe(
                &self.cfg.command,
                &self.cfg.workspace,
                self.tty_fd.filter(|&fd| term::is_foreground(fd)),
                self.output.clone(),
                self.modes.clone(),
                report,
            ),
        };
        match spawned {
            Ok(c) => {
                crate::guardian::watch(c.pid);
                if let Some(master) = &c.master {
                    self.router.set_child(gen, master.clone(), c.pid);
                }
                self.master = c.master;
                self.child = Some(Running {
                    gen,
                    pid: c.pid,
                    output_ended: false,
                    exit: None,
                    last_output: Instant::now(),
                    exited_at: None,
                });
                status::debug(1, &format!("started PID {}", c.pid));
                Ok(c.pid)
            }
            Err(e) => {
                let (msg, code) = child::spawn_failure(&self.cfg.command, &e);
                status::write_stderr(&format!("otorepair: {msg}\n"));
                Err(code)
            }
        }
    }

    pub(super) fn push_window_size(&self) {
        if let (Some(master), Some(fd)) = (self.master.as_ref(), self.tty_fd) {
            if let Some(ws) = term::window_size(fd) {
                use std::os::fd::AsRawFd;
                term::set_window_size(master.as_raw_fd(), &ws);
            }
        }
    }

    /// Makes a full-screen child redraw: a size change it must react to, then the
    /// real size again.
    pub(super) fn nudge_repaint(&self) {
        if let (Some(master), Some(fd)) = (self.master.as_ref(), self.tty_fd) {
            if let Some(ws) = term::window_size(fd) {
                use std::os::fd::AsRawFd;
                let mut smaller = ws;
                smaller.ws_row = ws.ws_row.saturating_sub(1).max(1);
                term::set_window_size(master.as_raw_fd(), &smaller);
                term::set_window_size(master.as_raw_fd(), &ws);
            }
        }
    }

    /// The child was stopped (Ctrl-Z): give the terminal back and stop ourselves, as
    /// a shell job would; once continued, [`Self::continued`] takes the terminal
    /// again if we are in the foreground, and the child runs on either way.
    pub(super) fn suspend_with_child(&mut self, pid: Pid) {
        self.give_back_terminal(EXIT_STALL);
        if self.cfg.mode == Mode::Pipe {
            if let Some(fd) = self.tty_fd {
                term::take_foreground_back(fd, Some(pid));
            }
        }
        self.terminal_given_back = true;
        let _ = nix::sys::signal::raise(Signal::SIGSTOP);
        self.continued();
        group::signal(pid, Signal::SIGCONT);
    }

    /// Continued (`fg`, `bg`, or after a stop we did not cause, such as a
    /// SIGTTIN): in the foreground of the terminal on fd 0, take it (raw mode,
    /// the modes the child had, its size; in pipe mode the command's group gets
    /// it); in the background, leave it and its keys to the shell (raw mode would
    /// break the user's prompt, a read would stop us). A job started in the
    /// background (`otorepair cmd &`) takes the terminal the first time it is
    /// brought to the foreground.
    pub(super) fn continued(&mut self) {
        if !term::is_tty(0) {
            return;
        }
        let foreground = term::is_foreground(0);
        self.router.set_background(!foreground);
        if !foreground {
            return;
        }
        match self.raw.as_ref() {
            Some(raw) => raw.reenter(),
            None if self.tty_fd.is_none() => self.adopt_terminal(),
            None => {}
        }
        let given_back = std::mem::take(&mut self.terminal_given_back);
        let modes = self.modes.get();
        if given_back && self.raw.is_some() {
            // Put back the screen modes the restore switched off; the size push
            // below makes a full-screen program repaint.
            let set = ModeFlags::set_sequence(modes);
            if !set.is_empty() {
                self.output.own_bytes(1, &set);
            }
        }
        if self.cfg.mode == Mode::Pipe {
            if let Some(r) = self.child.as_ref().filter(|r| r.exit.is_none()) {
                term::set_foreground(0, r.pid);
            }
        }
        if given_back && modes & crate::screen::mode::ALT_SCREEN != 0 {
            self.nudge_repaint();
        } else {
            self.push_window_size();
        }
    }

    /// Started in the background, now in the foreground: the terminal on fd 0
    /// is ours from now on, as if we had started there (the keyboard is read
    /// already: see [`crate::input`]).
    fn adopt_terminal(&mut self) {
        self.tty_fd = Some(0);
        self.user_termios = term::get_termios(0);
        if self.cfg.mode == Mode::Pty {
            self.enter_raw(0);
        }
    }

    /// Raw mode on the user's terminal `fd`, for PTY mode.
    pub(super) fn enter_raw(&mut self, fd: i32) {
        match RawMode::enter(fd) {
            Ok(raw) => self.raw = Some(raw),
            Err(e) => status::debug(1, &format!("cannot switch the terminal to raw mode: {e}")),
        }
    }

    /// Stops the child's whole process group: SIGTERM, a grace period, SIGKILL, and
    /// waits until the group is gone (so a restart can bind the same port).
    pub(super) fn stop_child(&mut self) {
        let Some(running) = self.child.as_ref() else {
            return;
        };
        let (pid, gen) = (running.pid, running.gen);
        group::signal(pid, Signal::SIGTERM);
        let mut exited = running.exit.is_some();
        let deadline = Instant::now() + STOP_GRACE;
        while !exited {
            match self
                .rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(Event::Child(g, ChildEvent::Exited(_))) if g == gen => exited = true,
                // Everything else is handled after the stop, in order: a signal or
                // a key that arrives meanwhile is not lost.
                Ok(Event::Signal(s)) if s == SIGTERM || s == SIGQUIT => {
                    self.deferred.push_back(Event::Signal(s));
                    break;
                }
                Ok(e) => self.deferred.push_back(e),
                Err(_) => break,
            }
        }
        // Grandchildren may outlive the leader: the group as a whole must go.
        let settle = Duration::from_millis(if exited { 300 } else { 0 });
        if !group::wait_gone(&[pid], Instant::now() + settle) {
            group::stop(&[pid], Duration::ZERO);
        }
        self.child = None;
        crate::guardian::release(pid);
    }
}

/// Stops whatever is left of the command's process group: SIGTERM, grace,
/// SIGKILL; then the guardian can forget it.
pub(super) fn stop_group(pgid: Pid) {
    crate::guardian::stop_group(pgid, STOP_GRACE);
}

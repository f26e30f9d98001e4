//! Stopping: signals, Ctrl-C and the way out. None of it waits on the terminal
//! (see [`crate::output`]): the writes queue, and the way out waits for them
//! only as long as the terminal takes bytes.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use signal_hook::consts::signal::{SIGCONT, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGWINCH};

use crate::cli::Mode;
use crate::heal::events::Event as Ev;
use crate::status;
use crate::term;

use super::heal::Phase;
use super::{Event, Supervisor};

/// Two Ctrl-C within this window stop the child even if it ignores SIGINT.
const DOUBLE_CTRL_C: Duration = Duration::from_secs(1);

/// How long after a Ctrl-C an exit still counts as the user's stop rather than a
/// crash. A dev server's graceful shutdown on SIGINT takes well under a second to
/// a few seconds; 10 s is the grace `docker stop` gives for the same reason.
/// Past it, the Ctrl-C was caught (a REPL, a debugger) and the program went on:
/// a crash minutes later is a crash, and is healed.
pub(super) const INTERRUPT_WINDOW: Duration = Duration::from_secs(10);

/// How long the way out (and a suspend) waits on a terminal that takes no byte
/// before it goes on without it.
pub(super) const EXIT_STALL: Duration = Duration::from_secs(1);

/// Whether an exit at `exit` follows the user's Ctrl-C at `ctrl_c` closely
/// enough to be their stop.
pub(super) fn interrupted_before(ctrl_c: Option<Instant>, exit: Instant) -> bool {
    ctrl_c.is_some_and(|at| exit.saturating_duration_since(at) <= INTERRUPT_WINDOW)
}

impl Supervisor {
    pub(super) fn start_signal_thread(&self) {
        let tx = self.tx.clone();
        match signal_hook::iterator::Signals::new([
            SIGWINCH, SIGTERM, SIGHUP, SIGQUIT, SIGINT, SIGCONT,
        ]) {
            Ok(mut signals) => {
                let spawned = std::thread::Builder::new()
                    .name("signals".into())
                    .spawn(move || {
                        for sig in signals.forever() {
                            if tx.send(Event::Signal(sig)).is_err() {
                                break;
                            }
                        }
                    });
                if let Err(e) = spawned {
                    status::error(&format!("cannot start signal thread: {e}"));
                }
            }
            Err(e) => status::error(&format!("cannot watch signals: {e}")),
        }
    }

    pub(super) fn on_ctrl_c(&mut self) -> Option<i32> {
        if matches!(self.phase, Phase::WaitingForChange { .. }) {
            return Some(130);
        }
        let now = Instant::now();
        let double = self
            .last_ctrl_c
            .is_some_and(|prev| now.duration_since(prev) <= DOUBLE_CTRL_C);
        self.last_ctrl_c = Some(now);
        if double && self.child.as_ref().is_some_and(|r| r.exit.is_none()) {
            status::debug(1, "Ctrl-C twice: stopping the command");
            self.exit_signalled = true;
            self.stop_child();
            return Some(130);
        }
        None
    }

    pub(super) fn on_signal(&mut self, sig: i32) -> Option<i32> {
        match sig {
            SIGWINCH => {
                self.push_window_size();
                None
            }
            SIGINT if matches!(self.phase, Phase::Fixing(_)) => {
                // Pipe mode has no keyboard of ours: SIGINT aborts the fix.
                self.abort_fix(false);
                None
            }
            SIGINT => {
                // From `kill -INT` (in PTY mode the keyboard's Ctrl-C is a byte): pass
                // it on as if typed, with the same double-press rule.
                if let Some(r) = self.child.as_ref().filter(|r| r.exit.is_none()) {
                    crate::os::group::signal(r.pid, Signal::SIGINT);
                }
                self.on_ctrl_c()
            }
            SIGCONT => {
                // `fg` or `bg` (the continuation after our own suspend is seen
                // there first; seeing it again changes nothing).
                self.continued();
                None
            }
            SIGTERM | SIGHUP | SIGQUIT => {
                status::debug(1, &format!("received signal {sig}: stopping the command"));
                self.exit_signalled = true;
                self.stop_child();
                Some(128 + sig)
            }
            _ => None,
        }
    }

    /// Restores the terminal exactly as it was and returns the exit code.
    pub(super) fn finish(&mut self, code: i32) -> i32 {
        match std::mem::replace(&mut self.phase, Phase::Running) {
            // Leaving in the middle of a fix or a triage: no agent outlives us, the
            // panel is closed and what the command printed meanwhile is shown.
            Phase::Fixing(run) => run.interrupt(),
            Phase::Triaging { process, .. } => process.stop(),
            Phase::Verifying(check) => check.stop(),
            _ => {}
        }
        self.emit(Ev::Exit { code });
        self.drain_before_exit();
        self.give_back_terminal(EXIT_STALL);
        self.raw = None;
        if self.cfg.mode == Mode::Pipe {
            if let Some(fd) = self.tty_fd {
                // The command is gone: whoever it gave the terminal to as well.
                term::take_foreground_back(fd, None);
            }
        }
        code
    }

    /// Before the modes reset and the way out: what the command printed reaches
    /// the terminal. After a normal exit we wait as long as it takes, as the
    /// command itself would have waited on a slow reader (`| less`, not
    /// scrolled); a termination signal (the user giving up) ends the wait. When
    /// a signal is why we exit, the wait is short.
    fn drain_before_exit(&mut self) {
        if self.exit_signalled {
            self.output.drain(EXIT_STALL);
            return;
        }
        while !self.output.drain(EXIT_STALL) {
            let signalled = std::iter::from_fn(|| self.rx.try_recv().ok())
                .any(|e| matches!(e, Event::Signal(SIGTERM | SIGHUP | SIGQUIT | SIGINT)));
            if signalled {
                return;
            }
        }
    }

    /// Switches off the modes the command left on (after its output, waiting up
    /// to `stall` for a terminal that reads nothing) and restores the user's
    /// settings. The modes stay recorded: a suspended child still has them. In
    /// the background (`bg`) the terminal is the shell's: nothing is touched.
    pub(super) fn give_back_terminal(&self, stall: Duration) {
        if self.raw.is_none() || !self.tty_fd.is_some_and(term::is_foreground) {
            return;
        }
        let reset = self.modes.reset_sequence();
        if !reset.is_empty() {
            self.output.own_bytes(1, &reset);
        }
        self.output.drain(stall);
        term::restore();
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ctrl_c_explains_an_exit_only_for_a_while() {
        let at = Instant::now();
        assert!(!interrupted_before(None, at));
        assert!(interrupted_before(Some(at), at + Duration::from_secs(2)));
        assert!(interrupted_before(Some(at), at + INTERRUPT_WINDOW));
        // A REPL caught it and ran on; the crash came minutes later.
        assert!(!interrupted_before(Some(at), at + Duration::from_secs(120)));
    }
}

//! The user's terminal: raw mode that is undone on every way out, and its size.
//!
//! The original settings live in a process-wide slot so that the panic hook and the
//! signal path can restore them too (`tcsetattr` is async-signal-safe). We use
//! `nix::sys::termios` directly rather than a TUI crate: we need the exact original
//! `termios` to hand to the child's PTY and to restore byte for byte.
//!
//! Nothing here writes to the terminal (the modes a dead child left on are
//! switched off through [`crate::output`], in order with its output) or waits on
//! it: settings are restored with `TCSANOW`, since `TCSADRAIN` waits for the
//! terminal to read what was written, forever if it reads nothing. Typed-ahead
//! input is kept either way (only `TCSAFLUSH` discards it).

use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::sync::Mutex;

use nix::libc;
use nix::pty::Winsize;
use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
use nix::sys::termios::{self, SetArg, Termios};

/// What must be undone on the way out: the fd and its original settings.
struct Saved {
    fd: RawFd,
    original: Termios,
}

static SAVED: Mutex<Option<Saved>> = Mutex::new(None);

pub fn is_tty(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: only used for fds 0..=2 or fds that outlive the call.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// Whether this process is in the foreground of the terminal on `fd`. A job started
/// with `&` is not, and must neither read the terminal nor change its settings
/// (that would stop it with SIGTTIN/SIGTTOU).
pub fn is_foreground(fd: RawFd) -> bool {
    match nix::unistd::tcgetpgrp(borrow(fd)) {
        Ok(pgrp) => pgrp == nix::unistd::getpgrp(),
        Err(_) => false,
    }
}

/// The settings of the terminal on `fd`, if it is one.
pub fn get_termios(fd: RawFd) -> Option<Termios> {
    termios::tcgetattr(borrow(fd)).ok()
}

/// The window size of the terminal on `fd`, if it is one with a size.
pub fn window_size(fd: RawFd) -> Option<Winsize> {
    let mut ws = Winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize into the pointed struct.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_row > 0 && ws.ws_col > 0).then_some(ws)
}

/// Sets the window size of a PTY (the kernel then sends SIGWINCH to its foreground group).
pub fn set_window_size(fd: RawFd, ws: &Winsize) {
    // SAFETY: TIOCSWINSZ reads a winsize from the pointed struct.
    unsafe {
        libc::ioctl(fd, libc::TIOCSWINSZ, ws);
    }
}

/// The size a child gets when the user's side has none (stdin/stdout not a terminal).
pub fn default_size() -> Winsize {
    Winsize {
        ws_row: 24,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

/// Raw mode on the user's terminal for as long as this guard lives.
pub struct RawMode {
    _private: (),
}

impl RawMode {
    /// Saves the settings of `fd` and switches it to raw mode.
    pub fn enter(fd: RawFd) -> nix::Result<RawMode> {
        let original = termios::tcgetattr(borrow(fd))?;
        let mut raw = original.clone();
        termios::cfmakeraw(&mut raw);
        if let Ok(mut saved) = SAVED.lock() {
            *saved = Some(Saved { fd, original });
        }
        termios::tcsetattr(borrow(fd), SetArg::TCSANOW, &raw)?;
        Ok(RawMode { _private: () })
    }

    /// Switches raw mode on again after a [`suspend`](restore) (Ctrl-Z, then `fg`).
    pub fn reenter(&self) {
        if let Ok(saved) = SAVED.lock() {
            if let Some(saved) = saved.as_ref() {
                let mut raw = saved.original.clone();
                termios::cfmakeraw(&mut raw);
                with_sigttou_blocked(|| {
                    let _ = termios::tcsetattr(borrow(saved.fd), SetArg::TCSANOW, &raw);
                });
            }
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore();
        if let Ok(mut saved) = SAVED.lock() {
            *saved = None;
        }
    }
}

/// Whether raw mode is on (so there is a terminal whose modes to reset).
pub fn raw_active() -> bool {
    SAVED.try_lock().is_ok_and(|saved| saved.is_some())
}

/// Puts back the user's original terminal settings. Safe to call more than once
/// and from any exit path; never waits on the terminal. Not from the
/// background (`bg`): the terminal's settings are the shell's then (its line
/// editor's, at its prompt), and were given back when otorepair was suspended.
pub fn restore() {
    // try_lock: a panic while the lock is held must not deadlock the hook.
    let Ok(saved) = SAVED.try_lock() else {
        return;
    };
    let Some(saved) = saved.as_ref() else {
        return;
    };
    if !is_foreground(saved.fd) {
        return;
    }
    with_sigttou_blocked(|| {
        let _ = termios::tcsetattr(borrow(saved.fd), SetArg::TCSANOW, &saved.original);
    });
}

/// A background job changing terminal settings gets SIGTTOU, which would stop us
/// on the way out; with it blocked the call simply proceeds.
fn with_sigttou_blocked(f: impl FnOnce()) {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTTOU);
    let mut old = SigSet::empty();
    let blocked = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old)).is_ok();
    f();
    if blocked {
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    }
}

/// Gives the terminal's foreground to `pgrp` (pipe mode hands it to the child's
/// group; [`take_foreground_back`] takes it back).
pub fn set_foreground(fd: RawFd, pgrp: nix::unistd::Pid) {
    with_sigttou_blocked(|| {
        let _ = nix::unistd::tcsetpgrp(borrow(fd), pgrp);
    });
}

/// Takes the terminal's foreground back for our own group from the command's
/// group `from` (see [`set_foreground`]): if `from` still has it, or whoever
/// has it is gone (`from` is `None` when the command is gone too). Not when a
/// live group other than `from` has it: the user sent otorepair to the
/// background (`bg`), the shell holds the terminal, and taking it would leave
/// the shell in the background of its own terminal.
pub fn take_foreground_back(fd: RawFd, from: Option<nix::unistd::Pid>) {
    let Ok(holder) = nix::unistd::tcgetpgrp(borrow(fd)) else {
        return;
    };
    let ours = nix::unistd::getpgrp();
    let gone = holder.as_raw() <= 0 || !crate::os::group::alive(holder);
    if holder != ours && (Some(holder) == from || gone) {
        set_foreground(fd, ours);
    }
}

/// How long a panic may take to report itself before the process ends anyway.
const PANIC_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// Installs a panic hook: `on_panic` (stop what we started, reset the screen),
/// then the terminal's settings are restored before the message is printed, so
/// the message is readable and the shell usable. A panic on any thread ends
/// otorepair (exit 101): half a supervisor would wait forever on a dead thread.
/// It ends within [`PANIC_DEADLINE`] even if the message cannot be written (the
/// default hook writes to stderr directly, and waits on a stderr that reads
/// nothing, `2>&1 | less` not scrolled): the guardian then does the rest.
pub fn install_panic_hook(on_panic: impl Fn() + Send + Sync + 'static) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = std::thread::Builder::new()
            .name("panic deadline".into())
            .spawn(|| {
                std::thread::sleep(PANIC_DEADLINE);
                // SAFETY: _exit ends the process at once; nothing is left to run.
                unsafe { libc::_exit(101) }
            });
        on_panic();
        restore();
        previous(info);
        std::process::exit(101);
    }));
}

/// Writes `bytes` fully to `fd`, retrying on EINTR and waiting out EAGAIN (in case
/// someone else set O_NONBLOCK on a shared descriptor).
pub fn write_all_fd(fd: impl AsFd, bytes: &[u8]) -> std::io::Result<()> {
    write_all_slices(fd, &mut [std::io::IoSlice::new(bytes)])
}

/// [`write_all_fd`] for several buffers, with as few `writev` calls as `fd`
/// allows.
pub fn write_all_slices(fd: impl AsFd, slices: &mut [std::io::IoSlice<'_>]) -> std::io::Result<()> {
    let fd = fd.as_fd();
    let mut rest = slices;
    while !rest.is_empty() {
        match nix::sys::uio::writev(fd, rest) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => std::io::IoSlice::advance_slices(&mut rest, n),
            Err(nix::errno::Errno::EINTR) => {}
            Err(nix::errno::Errno::EAGAIN) => {
                let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLOUT)];
                let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

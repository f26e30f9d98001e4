//! The user's keystrokes: read on a thread of their own and forwarded to the
//! child's PTY, or to otorepair while the overlay owns the keyboard.
//!
//! Keys are read only while someone wants them: the running child, or otorepair
//! (the overlay, a question, waiting for a change). The thread waits with `poll`
//! on fd 0 and a wake-up pipe, and reads fd 0 only when it is readable and
//! wanted; fd 0 is never made non-blocking (it is shared with the parent shell).
//! So keys typed once the child is gone stay in the terminal: for the next child
//! after a restart, or for the shell when otorepair exits (a line typed while a
//! wrapped command ends is not swallowed, as `script(1)` swallows it). Before
//! reading, the thread checks that the child has not exited in the meantime (its
//! exit may not be reported yet), so the window in which a key can still go to a
//! child that will never read it is the one between that check and the read.
//!
//! A job in the background of its terminal (`otorepair cmd &`, or `bg` after
//! Ctrl-Z) reads no key: the read would stop otorepair (SIGTTIN), and the
//! command's output with it, and the keys are the shell's. The thread checks
//! that it is in the foreground right before each read. Meanwhile it looks
//! five times a second whether it is in the foreground again, and says so
//! ([`InputEvent::Foreground`]): `fg` on a running job only hands it the
//! terminal, with no signal to wait for.
//!
//! Nothing here blocks on the child either: the PTY master is non-blocking, and
//! keys for a child that reads none wait in a bounded queue ([`QUEUE_LIMIT`];
//! beyond it they are dropped, as a terminal's full input buffer drops them),
//! written whenever the master takes them. Meanwhile the thread keeps reading,
//! so a double Ctrl-C still stops a command that reads nothing.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{self, LocalFlags, SpecialCharacterIndices, Termios};
use nix::unistd::Pid;

/// Ctrl-C as the terminal sends it in raw mode (the key that aborts a fix).
pub const CTRL_C: u8 = 0x03;

/// What the input thread tells the supervisor.
#[derive(Debug)]
pub enum InputEvent {
    /// The interrupt key was forwarded to the child, and the child's line
    /// discipline turns it into SIGINT (ISIG on, the key is its VINTR): a
    /// raw-mode program that reads 0x03 as a key does not count.
    CtrlC,
    /// Keys typed while the overlay owns the keyboard.
    Keys(Vec<u8>),
    /// The suspend key (Ctrl-Z) was pressed and the child's terminal would turn
    /// it into SIGTSTP. The child is a session leader of its own, whose group the
    /// kernel never stops with SIGTSTP (an orphaned group), so otorepair suspends
    /// the job itself instead of forwarding the key.
    Suspend,
    /// stdin ended.
    End,
    /// otorepair was in the background of its terminal and is in the
    /// foreground now (`fg`): the terminal is to be taken.
    Foreground,
}

/// How often a job in the background looks whether it is in the foreground.
const FOREGROUND_CHECK: u16 = 200;

/// Most keys waiting for a child (that reads none yet, or is not started yet).
const QUEUE_LIMIT: usize = 64 * 1024;

struct Child {
    master: Arc<File>,
    pid: Pid,
    /// The supervisor's generation of the child.
    gen: u64,
    /// It exited (seen by the input thread or reported by the waiter).
    gone: bool,
}

#[derive(Default)]
struct Route {
    child: Option<Child>,
    /// Keys go to otorepair.
    capture: bool,
    /// Keys for the child, written as its PTY takes them; while no child runs,
    /// keys for the next one.
    queued: Vec<u8>,
    stdin_ended: bool,
    /// otorepair is a background job of the terminal on fd 0: its keys are the
    /// shell's.
    background: bool,
}

impl Route {
    fn wants_keys(&self) -> bool {
        !self.stdin_ended
            && !self.background
            && (self.capture || self.child.as_ref().is_some_and(|c| !c.gone))
    }

    fn live_master(&self) -> Option<Arc<File>> {
        self.child
            .as_ref()
            .filter(|c| !c.gone)
            .map(|c| Arc::clone(&c.master))
    }
}

/// Where keystrokes go right now.
#[derive(Default)]
pub struct InputRouter {
    route: Mutex<Route>,
    /// Written to whenever the route changes, so the thread polls the right fds.
    wake: OnceLock<(OwnedFd, OwnedFd)>,
}

impl InputRouter {
    fn lock(&self) -> MutexGuard<'_, Route> {
        self.route.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake_up(&self) {
        if let Some((_, w)) = self.wake.get() {
            // Non-blocking: a full pipe already means "wake up".
            let _ = nix::unistd::write(w, &[1]);
        }
    }

    /// Keys go to this child's PTY master from now on; keys kept for the next
    /// child are delivered to it first.
    pub fn set_child(&self, gen: u64, master: Arc<File>, pid: Pid) {
        self.lock().child = Some(Child {
            master,
            pid,
            gen,
            gone: false,
        });
        self.wake_up();
    }

    /// The child of generation `gen` exited (called by its waiter, before the
    /// exit is reported): keys that arrive from now on stay in the terminal until
    /// someone wants them.
    pub fn child_exited(&self, gen: u64) {
        let mut route = self.lock();
        if let Some(c) = route.child.as_mut().filter(|c| c.gen == gen) {
            c.gone = true;
            // Keys it never took died with it.
            route.queued.clear();
        }
        drop(route);
        self.wake_up();
    }

    /// No child any more (its output is drained): the master can be closed.
    pub fn clear_child(&self) {
        let mut route = self.lock();
        if route.child.take().is_some() {
            route.queued.clear();
        }
        drop(route);
        self.wake_up();
    }

    /// Whether otorepair runs in the background of its terminal (started with
    /// `&`, continued by `bg`) or the foreground: in the background no key is
    /// read.
    pub fn set_background(&self, background: bool) {
        self.lock().background = background;
        self.wake_up();
    }

    /// While true, keys are delivered to otorepair instead of the child.
    pub fn capture(&self, on: bool) {
        self.lock().capture = on;
        self.wake_up();
    }

    /// Writes bytes to the child's PTY, or keeps them for the next child.
    pub fn send_to_child(&self, bytes: &[u8]) {
        let mut route = self.lock();
        queue_for_child(&mut route, bytes);
        drop(route);
        self.wake_up();
    }
}

/// Queues keys for the running child or, with none, for the next one.
fn queue_for_child(route: &mut Route, bytes: &[u8]) {
    let room = QUEUE_LIMIT.saturating_sub(route.queued.len());
    if route.live_master().is_some() {
        route.queued.extend(bytes.iter().take(room));
    } else {
        // Signal keys (Ctrl-C, Ctrl-\, Ctrl-Z) were meant for the child that
        // died; they must not hit the restarted one.
        route.queued.extend(
            bytes
                .iter()
                .filter(|&&b| !matches!(b, 0x03 | 0x1c | 0x1a))
                .take(room),
        );
    }
}

/// The child's terminal settings: what its line discipline does with keys.
fn child_termios(master: &File) -> Option<Termios> {
    termios::tcgetattr(master).ok()
}

/// A control character of `t`, if its line discipline acts on it (ISIG on, and
/// the character not disabled: _POSIX_VDISABLE is 0).
fn signal_char(t: &Termios, which: SpecialCharacterIndices) -> Option<u8> {
    if !t.local_flags.contains(LocalFlags::ISIG) {
        return None;
    }
    Some(t.control_chars[which as usize]).filter(|&c| c != 0)
}

/// Starts the thread that reads fd 0 until it ends.
pub fn start(router: Arc<InputRouter>, report: impl Fn(InputEvent) + Send + 'static) {
    let pipe = match crate::os::fds::cloexec_pipe(true) {
        Ok(p) => p,
        Err(e) => {
            crate::status::error(&format!("cannot read the keyboard: {e}"));
            return;
        }
    };
    if router.wake.set(pipe).is_err() {
        return; // already started
    }
    let spawned = thread::Builder::new()
        .name("stdin".into())
        .spawn(move || run(&router, &report));
    if let Err(e) = spawned {
        crate::status::error(&format!("cannot start input thread: {e}"));
    }
}

fn run(router: &InputRouter, report: &dyn Fn(InputEvent)) {
    let Some((wake, _)) = router.wake.get() else {
        return;
    };
    // SAFETY: fd 0 is open for the life of the process; it is only borrowed.
    let stdin = unsafe { BorrowedFd::borrow_raw(0) };
    let terminal = crate::term::is_tty(0);
    let mut buf = [0u8; 4096];
    loop {
        let (read_keys, out_master, background) = {
            let route = router.lock();
            let out = (!route.queued.is_empty())
                .then(|| route.live_master())
                .flatten();
            (route.wants_keys(), out, terminal && route.background)
        };
        let mut fds = vec![PollFd::new(wake.as_fd(), PollFlags::POLLIN)];
        if read_keys {
            fds.push(PollFd::new(stdin, PollFlags::POLLIN));
        }
        if let Some(m) = &out_master {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLOUT));
        }
        let timeout = if background {
            PollTimeout::from(FOREGROUND_CHECK)
        } else {
            PollTimeout::NONE
        };
        if poll(&mut fds, timeout).is_err() {
            continue; // EINTR
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.any().unwrap_or(false)).collect();
        drop(fds);
        if ready[0] {
            while nix::unistd::read(wake, &mut buf).is_ok_and(|n| n > 0) {}
        }
        if out_master.is_some() && ready[ready.len() - 1] {
            flush_to_child(router);
        }
        if read_keys && ready[1] {
            match read_keys_now(router, stdin, terminal, &mut buf) {
                Some(0) => {
                    stdin_ended(router);
                    report(InputEvent::End);
                }
                Some(n) => route_keys(router, &buf[..n], report),
                None => {}
            }
        }
        if background && crate::term::is_foreground(0) {
            router.lock().background = false;
            report(InputEvent::Foreground);
        }
    }
}

/// Reads what fd 0 has, if keys are still wanted: not when the child exited
/// since the poll (its exit not reported yet), so those keys stay in the
/// terminal, nor when the terminal on fd 0 (`terminal`) has another job in its
/// foreground. `Some(0)` at the end of input.
fn read_keys_now(
    router: &InputRouter,
    stdin: BorrowedFd<'_>,
    terminal: bool,
    buf: &mut [u8],
) -> Option<usize> {
    let mut route = router.lock();
    if let Some(c) = route.child.as_mut().filter(|c| !c.gone) {
        if crate::os::has_exited(c.pid) {
            c.gone = true;
            route.queued.clear();
        }
    }
    if terminal && !crate::term::is_foreground(0) {
        // Sent to the background before the supervisor could say so: from now
        // on the thread looks for the foreground instead.
        route.background = true;
    }
    if !route.wants_keys() {
        return None;
    }
    // poll said readable: this read does not wait.
    loop {
        match nix::unistd::read(stdin, buf) {
            Ok(n) => return Some(n),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(nix::errno::Errno::EAGAIN) => return None,
            Err(_) => return Some(0),
        }
    }
}

/// Keys read: to otorepair, or to the child (with its suspend and interrupt keys
/// told to the supervisor).
fn route_keys(router: &InputRouter, bytes: &[u8], report: &dyn Fn(InputEvent)) {
    let mut route = router.lock();
    if route.capture {
        drop(route);
        return report(InputEvent::Keys(bytes.to_vec()));
    }
    let t = route.live_master().and_then(|m| child_termios(&m));
    let intr = t
        .as_ref()
        .and_then(|t| signal_char(t, SpecialCharacterIndices::VINTR));
    let susp = t
        .as_ref()
        .and_then(|t| signal_char(t, SpecialCharacterIndices::VSUSP));
    let (keys, rest) = match susp.and_then(|s| bytes.iter().position(|&b| b == s)) {
        Some(at) => (&bytes[..at], Some(&bytes[at + 1..])),
        None => (bytes, None),
    };
    queue_for_child(&mut route, keys);
    drop(route);
    flush_to_child(router);
    // Each press counts: two in one read are a double Ctrl-C.
    if let Some(intr) = intr {
        for _ in keys.iter().filter(|&&b| b == intr) {
            report(InputEvent::CtrlC);
        }
    }
    if let Some(rest) = rest {
        report(InputEvent::Suspend);
        route_keys(router, rest, report);
    }
}

/// Writes what the child's PTY takes now of the queued keys; never waits.
fn flush_to_child(router: &InputRouter) {
    let mut route = router.lock();
    let Some(master) = route.live_master() else {
        return;
    };
    while !route.queued.is_empty() {
        match nix::unistd::write(master.as_ref(), &route.queued) {
            Ok(n) => {
                route.queued.drain(..n);
            }
            Err(nix::errno::Errno::EINTR) => {}
            // EAGAIN: full, the thread polls for room. Anything else: the child
            // is going away, its keys with it.
            Err(nix::errno::Errno::EAGAIN) => return,
            Err(_) => {
                route.queued.clear();
                return;
            }
        }
    }
}

/// Input that is not a terminal ended: tell the child as a terminal would, with
/// the EOF character, if its line discipline is canonical.
fn stdin_ended(router: &InputRouter) {
    let mut route = router.lock();
    route.stdin_ended = true;
    let eof = route
        .live_master()
        .and_then(|m| child_termios(&m))
        .filter(|t| t.local_flags.contains(LocalFlags::ICANON))
        .map(|t| t.control_chars[SpecialCharacterIndices::VEOF as usize]);
    if let Some(eof) = eof {
        queue_for_child(&mut route, &[eof]);
    }
    drop(route);
    flush_to_child(router);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_without_a_child_wait_for_the_next_one_without_signal_keys() {
        let mut route = Route::default();
        queue_for_child(&mut route, b"ls\x03\x1a\r");
        assert_eq!(route.queued, b"ls\r");
        assert!(
            !route.wants_keys(),
            "nobody wants keys: they stay in the terminal"
        );
        route.capture = true;
        assert!(route.wants_keys());
    }

    #[test]
    fn only_a_key_the_line_discipline_acts_on_is_a_signal() {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let master = File::from(pty.master);
        let mut t = child_termios(&master).expect("termios");
        assert_eq!(
            signal_char(&t, SpecialCharacterIndices::VINTR),
            Some(CTRL_C)
        );
        // A raw-mode program: 0x03 is a key like any other.
        t.local_flags.remove(LocalFlags::ISIG);
        assert_eq!(signal_char(&t, SpecialCharacterIndices::VINTR), None);
        t.local_flags.insert(LocalFlags::ISIG);
        t.control_chars[SpecialCharacterIndices::VINTR as usize] = 0;
        assert_eq!(signal_char(&t, SpecialCharacterIndices::VINTR), None);
        drop(pty.slave);
    }
}

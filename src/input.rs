//! The user's keystrokes: read on a blocking thread (never by setting O_NONBLOCK on
//! the shared stdin) and forwarded to the child's PTY, or to otorepair while the
//! overlay owns the keyboard.

use std::fs::File;
use std::io::{Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use nix::sys::termios::{self, LocalFlags, SpecialCharacterIndices};

/// Ctrl-C as the terminal sends it in raw mode.
pub const CTRL_C: u8 = 0x03;

/// What the input thread tells the supervisor.
#[derive(Debug)]
pub enum InputEvent {
    /// Ctrl-C was forwarded to the child.
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
}

/// Most typed-ahead input kept while no child runs (between a crash and its restart).
const PENDING_LIMIT: usize = 64 * 1024;

#[derive(Default)]
struct Target {
    master: Option<Arc<File>>,
    /// Keys typed while no child ran, delivered to the next one: typed-ahead input
    /// is not lost across a restart.
    pending: Vec<u8>,
}

/// Where keystrokes go right now.
#[derive(Default)]
pub struct InputRouter {
    target: Mutex<Target>,
    to_otorepair: AtomicBool,
}

impl InputRouter {
    /// Keys go to this PTY master from now on (None while no child runs); keys
    /// typed meanwhile are delivered to it first.
    pub fn set_target(&self, master: Option<Arc<File>>) {
        if let Ok(mut t) = self.target.lock() {
            t.master = master;
            if let Some(m) = t.master.clone() {
                let pending = std::mem::take(&mut t.pending);
                if !pending.is_empty() {
                    let _ = crate::term::write_all_fd(m.as_ref(), &pending);
                }
            }
        }
    }

    /// While true, keys are delivered to otorepair instead of the child.
    pub fn capture(&self, on: bool) {
        self.to_otorepair.store(on, Ordering::SeqCst);
    }

    fn target(&self) -> Option<Arc<File>> {
        self.target.lock().ok().and_then(|t| t.master.clone())
    }

    /// Writes bytes to the child's PTY, or keeps them for the next child.
    pub fn send_to_child(&self, bytes: &[u8]) {
        let master = match self.target.lock() {
            Ok(mut t) => match t.master.clone() {
                Some(m) => m,
                None => {
                    // Signal keys (Ctrl-C, Ctrl-\\, Ctrl-Z) were meant for the child
                    // that died; they must not hit the restarted one.
                    let room = PENDING_LIMIT.saturating_sub(t.pending.len());
                    t.pending.extend(
                        bytes
                            .iter()
                            .filter(|&&b| !matches!(b, 0x03 | 0x1c | 0x1a))
                            .take(room),
                    );
                    return;
                }
            },
            Err(_) => return,
        };
        let _ = crate::term::write_all_fd(master.as_ref(), bytes);
    }
}

/// Where the child's terminal's suspend character is in `bytes`, if its line
/// discipline would act on it.
fn suspend_key_at(router: &InputRouter, bytes: &[u8]) -> Option<usize> {
    let master = router.target()?;
    let t = termios::tcgetattr(master.as_ref()).ok()?;
    if !t.local_flags.contains(LocalFlags::ISIG) {
        return None;
    }
    let susp = t.control_chars[SpecialCharacterIndices::VSUSP as usize];
    // _POSIX_VDISABLE (0) means no suspend key.
    if susp == 0 {
        return None;
    }
    bytes.iter().position(|&b| b == susp)
}

/// Starts the thread that reads fd 0 until it ends.
pub fn start(router: Arc<InputRouter>, report: impl Fn(InputEvent) + Send + 'static) {
    let spawned = thread::Builder::new().name("stdin".into()).spawn(move || {
        // fd 0 belongs to the process: never close it.
        // SAFETY: fd 0 is open for the life of the process.
        let mut stdin = ManuallyDrop::new(unsafe { File::from_raw_fd(0) });
        let mut buf = [0u8; 4096];
        loop {
            let n = match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let bytes = &buf[..n];
            if router.to_otorepair.load(Ordering::SeqCst) {
                report(InputEvent::Keys(bytes.to_vec()));
                continue;
            }
            if let Some(at) = suspend_key_at(&router, bytes) {
                router.send_to_child(&bytes[..at]);
                report(InputEvent::Suspend);
                router.send_to_child(&bytes[at + 1..]);
                continue;
            }
            router.send_to_child(bytes);
            // Each press counts: two in one read are a double Ctrl-C.
            for _ in bytes.iter().filter(|&&b| b == CTRL_C) {
                report(InputEvent::CtrlC);
            }
        }
        // Input that is not a terminal ended: tell the child as a terminal would,
        // with the EOF character, if its line discipline is canonical.
        if let Some(master) = router.target() {
            if let Ok(t) = termios::tcgetattr(master.as_ref()) {
                if t.local_flags.contains(LocalFlags::ICANON) {
                    let eof = t.control_chars[SpecialCharacterIndices::VEOF as usize];
                    let _ = (&*master).write_all(&[eof]);
                }
            }
        }
        let _ = stdin.as_raw_fd();
        report(InputEvent::End);
    });
    if let Err(e) = spawned {
        crate::status::error(&format!("cannot start input thread: {e}"));
    }
}

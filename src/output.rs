//! The one way bytes reach the user's terminal.
//!
//! Every byte for stdout or stderr (the command's output, otorepair's own lines,
//! the overlay, the mode resets) goes out in one order, one write at a time: by
//! the writer thread, or by the command's pump for its own chunk when nothing
//! waits before it. Those two are the only code that ever blocks on the
//! terminal: a terminal that stops reading (`otorepair ... | less` not scrolled,
//! a frozen terminal window) stalls them and nothing else. Signals, keys,
//! the event loop and the way out never wait on it, and the lock here is never
//! held across a write.
//!
//! The queue is bounded, with a policy per side that can stall:
//!
//! - **The command's output** ([`Output::child_bytes`], from the pump): when
//!   nothing waits before a chunk, the pump writes it itself (outside the lock:
//!   meanwhile our own lines queue behind it, and the writer thread waits its
//!   turn); otherwise it is queued, and when [`CHILD_QUEUE`] bytes wait, the
//!   pump waits for room. That is back-pressure to the command, exactly what a
//!   slow terminal does to a program without otorepair: no byte is lost, and
//!   the command's writes block as they would.
//! - **otorepair's own bytes** ([`Output::own_bytes`], from the event loop): never
//!   wait. Beyond [`OWN_QUEUE`] waiting bytes, new ones are dropped (a terminal
//!   that reads nothing shows nothing anyway) and counted.
//! - **Held output** (while the overlay is up): never waits; beyond
//!   [`HOLD_LIMIT`] the oldest is dropped and counted, and [`Output::release`]
//!   queues what is left without waiting.
//! - **The way out** ([`Output::drain`]): waits for the queue to be written while
//!   the terminal makes progress, and gives up after a stall of the length the
//!   caller chooses, so an exit never hangs on a terminal that reads nothing.
//!
//! Writing the command's chunks whole, one at a time, also means otorepair's
//! own lines never land in the middle of a chunk.
//!
//! A reader that went away (`otorepair ... | head`: EPIPE; a terminal that hung
//! up: EIO) is remembered per descriptor: the pump for it stops reading, so the
//! command meets the closed pipe too, as it would without otorepair (see
//! [`Gone`]).

use std::collections::VecDeque;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::term::write_all_fd;

/// Most child output kept while the overlay is up; beyond it the oldest is dropped.
const HOLD_LIMIT: usize = 1024 * 1024;

/// Most of the command's output waiting for the terminal before its pump waits.
const CHILD_QUEUE: usize = 256 * 1024;

/// Most of otorepair's own bytes waiting for the terminal; beyond, they are dropped.
const OWN_QUEUE: usize = 256 * 1024;

struct Chunk {
    fd: RawFd,
    bytes: Arc<[u8]>,
    /// The command's output (counts against [`CHILD_QUEUE`]) or ours.
    child: bool,
}

#[derive(Default)]
struct Held {
    chunks: VecDeque<(RawFd, Arc<[u8]>)>,
    bytes: usize,
    dropped: usize,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Chunk>,
    queued_child: usize,
    queued_own: usize,
    /// The writer is inside a write of chunks taken off the queue.
    writing: bool,
    /// The writer waits for work (so queueing must wake it).
    writer_idle: bool,
    /// Pumps waiting for room and drains waiting for the queue to empty (so a
    /// write must wake them).
    waiters: usize,
    /// Bytes handed to the terminal so far: progress, for [`Output::drain`].
    written: u64,
    held: Option<Held>,
    /// Own bytes dropped because the terminal did not keep up.
    dropped_own: usize,
    /// Per descriptor 0..8: its reader is gone, and why.
    gone: [Option<Gone>; 8],
    writer_started: bool,
}

/// Shared by the output pumps, the overlay and status messages.
#[derive(Default)]
pub struct Output {
    state: Mutex<State>,
    /// Work was queued (the writer waits on it).
    work: Condvar,
    /// Bytes were written, or the queue's policy changed (pumps waiting for room
    /// and [`Output::drain`] wait on it).
    written: Condvar,
}

/// Why the reader of a descriptor is gone for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// EPIPE: the pipe's reader closed it (`otorepair ... | head`).
    Pipe,
    /// EIO: the terminal hung up (closed, or the connection to it lost) without
    /// a SIGHUP reaching us: it is not our controlling terminal, or our shell
    /// disowned us. The command alone would meet the EIO on its next write.
    HungUp,
}

/// Most bytes the writer hands to one `writev`.
const BATCH: usize = 256 * 1024;

fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: only stdout/stderr are written here; they live as long as the process.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

impl Output {
    /// A new output; its writer thread starts with the first chunk it queues.
    pub fn new() -> Arc<Output> {
        Arc::new(Output::default())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a thread panicked; the state is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a chunk for the writer, starting it the first time.
    fn enqueue(self: &Arc<Self>, state: &mut State, chunk: Chunk) {
        if chunk.child {
            state.queued_child += chunk.bytes.len();
        } else {
            state.queued_own += chunk.bytes.len();
        }
        state.queue.push_back(chunk);
        if !state.writer_started {
            state.writer_started = true;
            let me = Arc::clone(self);
            let spawned = std::thread::Builder::new()
                .name("terminal".into())
                .spawn(move || me.writer());
            if spawned.is_err() {
                // No thread (the system is out of them): write in place, under
                // the lock, rather than never.
                state.writer_started = false;
                while let Some(c) = state.queue.pop_front() {
                    let _ = write_all_fd(borrow(c.fd), &c.bytes);
                }
                state.queued_child = 0;
                state.queued_own = 0;
                return;
            }
        }
        // Waking costs a system call: only when the writer sleeps.
        if state.writer_idle {
            self.work.notify_one();
        }
    }

    /// Waits for a write, as one of the `waiters` the writer wakes.
    fn wait_written<'a>(&self, mut state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        state.waiters += 1;
        state = self.written.wait(state).unwrap_or_else(|e| e.into_inner());
        state.waiters -= 1;
        state
    }

    /// The writer thread: writes what is queued, one batch at a time.
    fn writer(self: Arc<Self>) {
        let mut state = self.lock();
        loop {
            // Idle while nothing waits, or while a pump writes its own chunk.
            if state.queue.is_empty() || state.writing {
                state.writer_idle = true;
                state = self.work.wait(state).unwrap_or_else(|e| e.into_inner());
                state.writer_idle = false;
                continue;
            }
            // What waits for the same descriptor goes out in one write: under a
            // steady stream the queue holds several chunks by the time the last
            // write returns.
            let fd = state.queue[0].fd;
            let mut batch = Vec::new();
            let mut size = 0;
            while let Some(c) = state.queue.front() {
                if c.fd != fd || (size > 0 && size + c.bytes.len() > BATCH) {
                    break;
                }
                size += c.bytes.len();
                batch.extend(state.queue.pop_front());
            }
            state.writing = true;
            drop(state);
            // A closed terminal (EIO/EPIPE) must not stop the command from being
            // drained: the batch is dropped and the next one tried.
            let result = write_all_vectored(borrow(fd), &batch);
            state = self.lock();
            for c in &batch {
                if c.child {
                    state.queued_child -= c.bytes.len();
                } else {
                    state.queued_own -= c.bytes.len();
                }
            }
            self.wrote(&mut state, fd, size, result);
        }
    }

    /// Bookkeeping after a write by the writer or a pump: progress, a reader
    /// gone, and whoever waits on it.
    fn wrote(&self, state: &mut State, fd: RawFd, size: usize, result: std::io::Result<()>) {
        if let Err(e) = result {
            let why = match e.raw_os_error() {
                Some(libc::EPIPE) => Some(Gone::Pipe),
                Some(libc::EIO) => Some(Gone::HungUp),
                _ => None,
            };
            if let (Some(why), Ok(i)) = (why, usize::try_from(fd)) {
                if let Some(slot) = state.gone.get_mut(i) {
                    slot.get_or_insert(why);
                }
            }
        }
        state.writing = false;
        state.written += size as u64;
        if state.waiters > 0 {
            self.written.notify_all();
        }
        if state.writer_idle && !state.queue.is_empty() {
            self.work.notify_one();
        }
    }

    /// The command's output: queued for `fd`, or held while the overlay is up.
    /// Waits while [`CHILD_QUEUE`] bytes are already waiting (back-pressure):
    /// only the pump calls this.
    pub fn child_bytes(self: &Arc<Self>, fd: RawFd, bytes: Arc<[u8]>) {
        let mut state = self.lock();
        while state.held.is_none() && state.queued_child >= CHILD_QUEUE && state.writer_started {
            state = self.wait_written(state);
        }
        if state.held.is_none() && state.queue.is_empty() && !state.writing {
            // Nothing waits before it: the pump writes it itself, sparing a
            // hand-over to the writer per chunk. Still never under the lock:
            // meanwhile our own lines queue, and the writer waits its turn.
            state.writing = true;
            drop(state);
            let result = write_all_fd(borrow(fd), &bytes);
            let mut state = self.lock();
            self.wrote(&mut state, fd, bytes.len(), result);
            return;
        }
        self.child_bytes_now(&mut state, fd, bytes);
    }

    fn child_bytes_now(self: &Arc<Self>, state: &mut State, fd: RawFd, bytes: Arc<[u8]>) {
        match state.held.as_mut() {
            None => self.enqueue(
                state,
                Chunk {
                    fd,
                    bytes,
                    child: true,
                },
            ),
            Some(held) => {
                held.bytes += bytes.len();
                held.chunks.push_back((fd, bytes));
                while held.bytes > HOLD_LIMIT {
                    let Some((_, old)) = held.chunks.pop_front() else {
                        break;
                    };
                    held.bytes -= old.len();
                    held.dropped += old.len();
                }
            }
        }
    }

    /// Bytes that belong after the command's output so far, held with it while
    /// the overlay is up (the modes reset after it died). Never waits.
    pub fn after_child(self: &Arc<Self>, fd: RawFd, bytes: &[u8]) {
        let mut state = self.lock();
        self.child_bytes_now(&mut state, fd, Arc::from(bytes));
    }

    /// otorepair's own text (status lines, the overlay), written between the
    /// command's chunks. Never waits; dropped if [`OWN_QUEUE`] bytes are waiting.
    pub fn own_bytes(self: &Arc<Self>, fd: RawFd, bytes: &[u8]) {
        let mut state = self.lock();
        self.own_bytes_now(&mut state, fd, bytes);
    }

    fn own_bytes_now(self: &Arc<Self>, state: &mut State, fd: RawFd, bytes: &[u8]) {
        if state.queued_own + bytes.len() > OWN_QUEUE {
            state.dropped_own += bytes.len();
            return;
        }
        self.enqueue(
            state,
            Chunk {
                fd,
                bytes: Arc::from(bytes),
                child: false,
            },
        );
    }

    /// From now on the command's output is held instead of shown.
    pub fn hold(&self) {
        let mut state = self.lock();
        if state.held.is_none() {
            state.held = Some(Held::default());
        }
        // A pump waiting for room may go on: held output never waits.
        self.written.notify_all();
    }

    /// Queues everything held, in order, and goes back to passing output
    /// through. Never waits. Returns how many bytes were dropped because the
    /// hold buffer was full.
    pub fn release(self: &Arc<Self>) -> usize {
        let mut state = self.lock();
        let Some(held) = state.held.take() else {
            return 0;
        };
        for (fd, bytes) in held.chunks {
            self.enqueue(
                &mut state,
                Chunk {
                    fd,
                    bytes,
                    child: true,
                },
            );
        }
        held.dropped
    }

    /// Waits until everything queued has been written, as long as the terminal
    /// keeps taking bytes: gives up once nothing was written for `stall`.
    /// Returns whether the queue is empty.
    pub fn drain(&self, stall: Duration) -> bool {
        let mut state = self.lock();
        let mut progress = (state.written, Instant::now());
        loop {
            if state.queue.is_empty() && !state.writing {
                return true;
            }
            if state.written != progress.0 {
                progress = (state.written, Instant::now());
            }
            let left = stall.saturating_sub(progress.1.elapsed());
            if left.is_zero() {
                return false;
            }
            state.waiters += 1;
            state = self
                .written
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            state.waiters -= 1;
        }
    }

    /// For the panic hook: queues `bytes` and waits up to `within` for them to
    /// be written. Gives up at once if the lock cannot be had (the panicking
    /// thread may hold it).
    pub fn write_on_panic(self: &Arc<Self>, fd: RawFd, bytes: &[u8], within: Duration) {
        let deadline = Instant::now() + within;
        let queued = loop {
            let guard = match self.state.try_lock() {
                Ok(state) => Some(state),
                Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => None,
            };
            if let Some(mut state) = guard {
                self.own_bytes_now(&mut state, fd, bytes);
                break true;
            }
            if Instant::now() >= deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        if queued {
            self.drain(deadline.saturating_duration_since(Instant::now()));
        }
    }

    /// Whether the reader of `fd` went away, and why.
    pub fn reader_gone(&self, fd: RawFd) -> Option<Gone> {
        let i = usize::try_from(fd).ok()?;
        self.lock().gone.get(i).copied().flatten()
    }

    /// How many of otorepair's own bytes were dropped because the terminal did
    /// not keep up.
    #[cfg(test)]
    fn take_dropped_own(&self) -> usize {
        std::mem::take(&mut self.lock().dropped_own)
    }
}

/// Writes every chunk of `batch` fully to `fd`.
fn write_all_vectored(fd: BorrowedFd<'_>, batch: &[Chunk]) -> std::io::Result<()> {
    let mut slices: Vec<std::io::IoSlice<'_>> = batch
        .iter()
        .map(|c| std::io::IoSlice::new(&c.bytes))
        .collect();
    crate::term::write_all_slices(fd, &mut slices)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(n: usize) -> Arc<[u8]> {
        Arc::from(vec![b'a'; n])
    }

    #[test]
    fn hold_keeps_the_newest_mebibyte_and_counts_the_rest() {
        let out = Output::new();
        out.hold();
        for _ in 0..5 {
            out.child_bytes(-1, chunk(300 * 1024));
        }
        let state = out.lock();
        let held = state.held.as_ref().unwrap();
        assert!(held.bytes <= HOLD_LIMIT);
        assert_eq!(held.bytes + held.dropped, 5 * 300 * 1024);
    }

    #[test]
    fn a_stalled_terminal_stalls_only_the_pump() {
        // A pipe nobody reads: the writer blocks once it is full.
        // Close-on-exec: a child another test starts must not keep it open.
        let (reader, writer) = crate::os::fds::cloexec_pipe(false).expect("pipe");
        let fd = std::os::fd::AsRawFd::as_raw_fd(&writer);
        let out = Output::new();
        let pump = {
            let out = Arc::clone(&out);
            std::thread::spawn(move || {
                for _ in 0..64 {
                    out.child_bytes(fd, chunk(64 * 1024));
                }
            })
        };
        // The pump fills the pipe and blocks writing (outside the lock); our own
        // lines still never wait, and neither does holding, releasing or a
        // bounded drain.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut available: libc::c_int = 0;
        while available < 32 * 1024 || !out.lock().writing {
            assert!(Instant::now() < deadline, "the pipe never filled");
            std::thread::sleep(Duration::from_millis(5));
            // SAFETY: FIONREAD writes an int.
            unsafe {
                libc::ioctl(
                    std::os::fd::AsRawFd::as_raw_fd(&reader),
                    libc::FIONREAD,
                    &mut available,
                )
            };
        }
        let started = Instant::now();
        for _ in 0..20_000 {
            out.own_bytes(fd, b"[otorepair] status line\r\n");
        }
        assert!(!out.drain(Duration::from_millis(50)));
        assert!(
            out.take_dropped_own() > 0,
            "beyond the bound, own bytes are dropped"
        );
        assert!(!pump.is_finished(), "the pump waits for the terminal");
        // Holding and releasing do not wait either.
        out.hold();
        out.child_bytes(fd, chunk(10));
        out.release();
        assert!(started.elapsed() < Duration::from_secs(10));
        // Once the terminal reads again, everything flows.
        drop(reader);
        pump.join().expect("pump");
        assert!(out.drain(Duration::from_secs(10)));
        drop(writer);
    }
}

//! The one way bytes reach the user's terminal.
//!
//! The child's output is copied here unchanged; while the overlay owns the screen
//! the child's bytes are held (bounded) and replayed afterwards, in order. A single
//! lock makes sure otorepair's own lines never land in the middle of a child's chunk.

use std::collections::VecDeque;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::{Mutex, MutexGuard};

use crate::term::write_all_fd;

/// Most child output kept while the overlay is up; beyond it the oldest is dropped.
pub const HOLD_LIMIT: usize = 1024 * 1024;

#[derive(Default)]
struct Held {
    chunks: VecDeque<(RawFd, Vec<u8>)>,
    bytes: usize,
    dropped: usize,
}

#[derive(Default)]
struct State {
    held: Option<Held>,
}

/// Shared by the output pumps, the overlay and status messages.
#[derive(Default)]
pub struct Output {
    state: Mutex<State>,
}

/// Holds the terminal: no child chunk is written while it lives (used around the
/// reset sequence on the way out).
pub struct Exclusive<'a> {
    _guard: MutexGuard<'a, State>,
}

fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: only stdout/stderr are written here; they live as long as the process.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

impl Output {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a writer panicked; the state is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Child output: straight to `fd`, or into the hold buffer while held.
    pub fn child_bytes(&self, fd: RawFd, bytes: &[u8]) {
        let mut state = self.lock();
        match state.held.as_mut() {
            None => {
                // A closed terminal (EIO/EPIPE) must not stop us from draining the child.
                let _ = write_all_fd(borrow(fd), bytes);
            }
            Some(held) => {
                held.chunks.push_back((fd, bytes.to_vec()));
                held.bytes += bytes.len();
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

    /// Otorepair's own text (status lines), written between child chunks.
    pub fn own_bytes(&self, fd: RawFd, bytes: &[u8]) {
        let _guard = self.lock();
        let _ = write_all_fd(borrow(fd), bytes);
    }

    /// Locks the terminal for a sequence of otorepair's own writes.
    pub fn exclusive(&self) -> Exclusive<'_> {
        Exclusive {
            _guard: self.lock(),
        }
    }

    /// From now on the child's output is held instead of shown.
    pub fn hold(&self) {
        let mut state = self.lock();
        if state.held.is_none() {
            state.held = Some(Held::default());
        }
    }

    /// Shows everything held, in order, and goes back to passing output through.
    /// Returns how many bytes were dropped because the hold buffer was full.
    pub fn release(&self) -> usize {
        let mut state = self.lock();
        let Some(held) = state.held.take() else {
            return 0;
        };
        for (fd, chunk) in &held.chunks {
            let _ = write_all_fd(borrow(*fd), chunk);
        }
        held.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_keeps_the_newest_mebibyte_and_counts_the_rest() {
        let out = Output::default();
        out.hold();
        let chunk = vec![b'a'; 300 * 1024];
        for _ in 0..5 {
            out.child_bytes(-1, &chunk);
        }
        let state = out.lock();
        let held = state.held.as_ref().unwrap();
        assert!(held.bytes <= HOLD_LIMIT);
        assert_eq!(held.bytes + held.dropped, 5 * chunk.len());
    }
}

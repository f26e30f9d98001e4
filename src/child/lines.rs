//! The clean lines on their way from the parser to the supervisor, bounded.
//!
//! The supervisor's channel is unbounded (keys and signals must never wait),
//! so the lines in it are counted here instead: the parser takes room for a
//! batch before it sends it and waits while [`IN_FLIGHT`] bytes of lines are
//! not handled yet; a batch gives its room back when it is dropped (handled,
//! ignored as an old generation's, or discarded on the way out), whatever path
//! it took. A command that prints faster than otorepair looks at its lines (or
//! while the supervisor is busy stopping it) then waits on its writes, as on a
//! slow terminal: the parser waits, so the pump does, so the command does.

use std::sync::{Arc, Condvar, Mutex};

use crate::line::Line;

/// Most bytes of lines (text and bookkeeping) sent to the supervisor and not yet
/// handled. Enough for several full reads of short lines.
const IN_FLIGHT: usize = 4 * 1024 * 1024;

/// What a line costs while in flight: its text and its place in a batch.
fn cost(lines: &[Line]) -> usize {
    lines
        .iter()
        .map(|l| l.text.len() + std::mem::size_of::<Line>())
        .sum()
}

#[derive(Default)]
struct Room {
    taken: usize,
    /// The parser waits for room (so giving room back must wake it).
    waiting: bool,
}

/// The room shared by one parser and the batches it sent.
#[derive(Default)]
pub(super) struct Budget {
    room: Mutex<Room>,
    freed: Condvar,
}

impl Budget {
    fn lock(&self) -> std::sync::MutexGuard<'_, Room> {
        // A poisoned lock only means a thread panicked; the count is still usable.
        self.room.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wraps `lines` for sending, once there is room for them (a batch larger
    /// than the whole budget goes alone).
    pub(crate) fn batch(self: &Arc<Self>, lines: Vec<Line>) -> Lines {
        let cost = cost(&lines);
        let mut room = self.lock();
        while room.taken > 0 && room.taken + cost > IN_FLIGHT {
            room.waiting = true;
            room = self.freed.wait(room).unwrap_or_else(|e| e.into_inner());
        }
        room.taken += cost;
        Lines {
            lines,
            cost,
            budget: Arc::clone(self),
        }
    }

    fn give_back(&self, cost: usize) {
        let mut room = self.lock();
        room.taken -= cost;
        if room.waiting {
            room.waiting = false;
            self.freed.notify_one();
        }
    }
}

/// A batch of lines in flight; its room is given back when it is dropped.
#[derive(Debug)]
pub struct Lines {
    lines: Vec<Line>,
    cost: usize,
    budget: Arc<Budget>,
}

impl Lines {
    /// The lines, leaving the batch empty (its room is given back when the
    /// batch itself is dropped).
    pub fn take(&mut self) -> Vec<Line> {
        std::mem::take(&mut self.lines)
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        self.budget.give_back(self.cost);
    }
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Budget")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::Stream;
    use std::time::Duration;

    fn lines(n: usize, len: usize) -> Vec<Line> {
        (0..n)
            .map(|_| Line::new("x".repeat(len), Stream::Pty))
            .collect()
    }

    #[test]
    fn the_parser_waits_until_a_batch_is_dropped() {
        let budget = Arc::new(Budget::default());
        // More than the whole budget: goes alone, at once.
        let big = budget.batch(lines(1, IN_FLIGHT * 2));
        let (tx, rx) = std::sync::mpsc::channel();
        let waiting = {
            let budget = Arc::clone(&budget);
            std::thread::spawn(move || {
                let next = budget.batch(lines(1, 10));
                tx.send(()).expect("send");
                drop(next);
            })
        };
        assert!(
            rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "a second batch went while the budget was spent"
        );
        drop(big);
        rx.recv_timeout(Duration::from_secs(30))
            .expect("room given back on drop");
        waiting.join().expect("parser thread");
        assert_eq!(budget.lock().taken, 0);
    }
}

//! A settled block: a live error, or a crash whose command has not exited yet?
//!
//! A complete traceback settles 150 ms after its last line. When a wrapper
//! outlives the crashing process (`npm run`, `make`, `sh -c "...; cleanup"`),
//! the command is still alive then, so the block looked like a live error: it
//! was triaged, then superseded by the crash a moment later (one wasted model
//! call per crash, and `--dry-run` reported it twice). So a block settles as a
//! live error only when the command's process tree is steady: if a process of
//! the tree just died, the block waits up to [`CRASH_HOLD`] for the command to
//! exit. If it exits, the crash path takes the block; if not, it is a live
//! error after all (nodemon keeps running after its app crashed).
//!
//! "Just died", without racing the dying process: a process seen in the tree
//! since the last block is gone; or a process's children's CPU time grew (the
//! kernel adds a child's time to its parent when the parent reaps it, so
//! `npm` or `sh` show that their script died even if we never saw it alive);
//! or, where that counter is unknown (not Linux), a process started less than
//! [`RECENT`] ago (a cleanup step, or a command only starting).
//!
//! The tree is listed when output resumes after a quiet spell, when an error
//! block opens, and when one settles: never on a timer.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use nix::unistd::Pid;

use crate::detect::ErrorBlock;
use crate::os::{command_tree, ProcessInfo};
use crate::status;

use super::Supervisor;

/// How long a block waits for the command to exit when its tree just changed.
/// `npm run` exits about 0.3 s after its script; a cleanup step may take longer.
pub(super) const CRASH_HOLD: Duration = Duration::from_millis(1500);
/// A process this young that already waited for a child saw it die; where
/// that is unknown, a process this young means the tree is changing.
const RECENT: Duration = Duration::from_secs(1);
/// Output after this much silence starts a new burst: the tree is listed then.
const BURST_GAP: Duration = Duration::from_millis(250);

fn young(p: &ProcessInfo) -> bool {
    p.age.is_some_and(|a| a < RECENT)
}

/// What the command's tree looked like, and the block waiting on it.
#[derive(Default)]
pub(super) struct TreeMemory {
    /// Processes seen in the tree since the last block settled, with their
    /// children's CPU time when first seen.
    seen: HashMap<i32, Option<u64>>,
    last_output: Option<Instant>,
    held: Option<(ErrorBlock, Instant)>,
}

impl TreeMemory {
    /// Output arrived from the command started as `root`; `block_opened` when
    /// it opened an error block.
    pub(super) fn on_output(&mut self, root: Pid, now: Instant, block_opened: bool) {
        let burst = self
            .last_output
            .is_none_or(|last| now.duration_since(last) >= BURST_GAP);
        self.last_output = Some(now);
        if burst || block_opened {
            for p in command_tree(root) {
                // A young process's children all died just now, if any did.
                let baseline = if young(&p) {
                    p.children_cpu.map(|_| 0)
                } else {
                    p.children_cpu
                };
                self.seen.entry(p.pid).or_insert(baseline);
            }
        }
    }

    /// Whether a process of the tree just died (see the module docs): lists the
    /// tree now and starts remembering afresh from it.
    fn changing(&mut self, root: Pid) -> bool {
        let now = command_tree(root);
        let alive: HashSet<i32> = now.iter().map(|p| p.pid).collect();
        let gone = self.seen.keys().any(|pid| !alive.contains(pid));
        let reaped = now
            .iter()
            .any(|p| match (self.seen.get(&p.pid), p.children_cpu) {
                (Some(Some(before)), Some(after)) => after > *before,
                (None, Some(after)) => after > 0 && young(p),
                _ => false,
            });
        let unknown_young = now.iter().any(|p| p.children_cpu.is_none() && young(p));
        let changing = gone || reaped || unknown_young;
        if changing {
            status::debug(
                2,
                &format!("the command's processes are changing (gone: {gone}, a child reaped: {reaped}, young: {unknown_young})"),
            );
        }
        self.seen = now.into_iter().map(|p| (p.pid, p.children_cpu)).collect();
        changing
    }

    /// When the held block is due.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.held.as_ref().map(|(_, until)| *until)
    }

    /// A new generation of the command, or its exit: nothing carries over.
    pub(super) fn forget(&mut self) {
        *self = TreeMemory::default();
    }
}

impl Supervisor {
    /// A block settled while the command may still be running.
    pub(super) fn on_settled(&mut self, block: ErrorBlock) {
        if self.is_old_code(&block) {
            return;
        }
        let root = self
            .child
            .as_ref()
            .filter(|r| r.exit.is_none())
            .map(|r| r.pid);
        let Some(root) = root else {
            // The exit is already known: the crash path takes the block.
            return;
        };
        if let Some((held, _)) = self.tree.held.as_mut() {
            // The newest block is the one a crash would be about.
            *held = block;
            return;
        }
        if self.tree.changing(root) {
            self.debug_block(1, &block, |s| {
                format!("holding {s} until the command exits or {CRASH_HOLD:?} pass")
            });
            self.tree.held = Some((block, Instant::now() + CRASH_HOLD));
            return;
        }
        self.on_suspect(block);
    }

    /// The hold passed and the command still runs: a live error after all.
    pub(super) fn on_hold_deadline(&mut self, now: Instant) {
        if self.tree.deadline().is_some_and(|d| now >= d) {
            // A fix may have started landing meanwhile: the old code's error is
            // no new one.
            if let Some(block) = self.tree.held.take().map(|(b, _)| b) {
                if !self.is_old_code(&block) {
                    self.on_suspect(block);
                }
            }
        }
    }
}

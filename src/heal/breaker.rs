//! Circuit breaker: how many fix attempts one error (fingerprint) may get.
//!
//! Semantics, precisely:
//!
//! * Counts are kept per fingerprint. Each fingerprint has a number of *failed*
//!   attempts and a flag "the last fix for it was reported as succeeded".
//! * A failed attempt is one the caller records as [`Outcome::Failed`] (the agent
//!   exited non-zero, timed out, or the user aborted it), **or** a fix recorded as
//!   [`Outcome::Succeeded`] whose fingerprint comes back: the next
//!   [`Breaker::before_attempt`] on that fingerprint turns the pending success
//!   into a failure before deciding.
//! * Progress: when `before_attempt` is called for a fingerprint *different* from
//!   the one of the last recorded attempt, and that last attempt succeeded, the
//!   previous fingerprint's count is forgotten (the fix worked; a new error is a
//!   new problem). A previous attempt that *failed* stays counted for its own
//!   fingerprint, so two errors alternating under failing fixes both trip.
//! * `before_attempt` returns [`Attempt::Tripped`] once a fingerprint has `max`
//!   failed attempts, so a fingerprint gets exactly `max` attempts and never a
//!   `max + 1`-th; it stays tripped until [`Breaker::reset_all`] (call it
//!   after the user changed a file).
//!
//! Known limit, shared with the reference tool: two errors that each "fix" into
//! the other (A fixed, B appears, B fixed, A appears, ...) count as progress forever.

use std::collections::HashMap;

/// What the caller may do for a fingerprint right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Go ahead with attempt number `n` (1-based) of at most `max`.
    Go { n: u32, max: u32 },
    /// Do not fix: this fingerprint already had `attempts` failed attempts.
    Tripped { attempts: u32 },
}

/// How a fix attempt ended, as far as the agent process tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The agent exited 0. Not final: the error coming back makes it a failure.
    Succeeded,
    /// The agent exited non-zero, timed out, or was aborted by the user.
    Failed,
}

#[derive(Debug, Default, Clone)]
struct Entry {
    failed: u32,
    pending_success: bool,
}

/// Attempts per fingerprint; see the module docs for the exact rules.
#[derive(Debug, Clone)]
pub struct Breaker {
    max: u32,
    entries: HashMap<String, Entry>,
    /// Fingerprint of the last recorded attempt, for the progress rule.
    last: Option<String>,
}

impl Breaker {
    /// A breaker allowing `max` attempts per fingerprint. `max` 0 is taken as 1,
    /// because a breaker that never lets a fix start is what `--no-fix` is for.
    pub fn new(max: u32) -> Self {
        Breaker {
            max: max.max(1),
            entries: HashMap::new(),
            last: None,
        }
    }

    /// Attempts allowed per fingerprint.
    pub fn max(&self) -> u32 {
        self.max
    }

    /// Decide whether a fix for `fp` may start, applying the progress rule and the
    /// "same error came back after a success" rule first.
    pub fn before_attempt(&mut self, fp: &str) -> Attempt {
        if let Some(last) = self.last.take() {
            if last != fp {
                if self.entries.get(&last).is_some_and(|e| e.pending_success) {
                    self.entries.remove(&last);
                }
            } else {
                self.last = Some(last);
            }
        }
        let entry = self.entries.entry(fp.to_string()).or_default();
        if entry.pending_success {
            entry.pending_success = false;
            entry.failed += 1;
        }
        if entry.failed >= self.max {
            Attempt::Tripped {
                attempts: entry.failed,
            }
        } else {
            Attempt::Go {
                n: entry.failed + 1,
                max: self.max,
            }
        }
    }

    /// Record how the attempt on `fp` ended.
    pub fn record(&mut self, fp: &str, outcome: Outcome) {
        let entry = self.entries.entry(fp.to_string()).or_default();
        match outcome {
            Outcome::Succeeded => entry.pending_success = true,
            Outcome::Failed => {
                entry.pending_success = false;
                entry.failed += 1;
            }
        }
        self.last = Some(fp.to_string());
    }

    /// Failed attempts counted so far for `fp` (a pending success is not counted).
    #[cfg(test)]
    fn failures(&self, fp: &str) -> u32 {
        self.entries.get(fp).map_or(0, |e| e.failed)
    }

    /// Whether `fp` has used up its attempts.
    #[cfg(test)]
    fn is_tripped(&self, fp: &str) -> bool {
        self.failures(fp) >= self.max
    }

    /// Forget every fingerprint.
    pub fn reset_all(&mut self) {
        self.entries.clear();
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_after_exactly_max_failed_attempts() {
        let mut b = Breaker::new(3);
        for n in 1..=3 {
            assert_eq!(b.before_attempt("A"), Attempt::Go { n, max: 3 });
            assert!(!b.is_tripped("A"));
            b.record("A", Outcome::Failed);
        }
        assert!(b.is_tripped("A"));
        assert_eq!(b.before_attempt("A"), Attempt::Tripped { attempts: 3 });
        assert_eq!(b.before_attempt("A"), Attempt::Tripped { attempts: 3 });
    }

    #[test]
    fn success_then_same_error_counts_as_failed() {
        let mut b = Breaker::new(2);
        assert_eq!(b.before_attempt("A"), Attempt::Go { n: 1, max: 2 });
        b.record("A", Outcome::Succeeded);
        assert_eq!(b.failures("A"), 0);
        // The same error is back: the "success" was a failure.
        assert_eq!(b.before_attempt("A"), Attempt::Go { n: 2, max: 2 });
        b.record("A", Outcome::Succeeded);
        assert_eq!(b.before_attempt("A"), Attempt::Tripped { attempts: 2 });
    }

    #[test]
    fn changed_error_after_success_resets_the_count() {
        let mut b = Breaker::new(3);
        b.before_attempt("A");
        b.record("A", Outcome::Failed);
        b.before_attempt("A");
        b.record("A", Outcome::Failed);
        b.before_attempt("A");
        b.record("A", Outcome::Succeeded);
        // Progress: a different error shows up, A's count starts over.
        assert_eq!(b.before_attempt("B"), Attempt::Go { n: 1, max: 3 });
        assert_eq!(b.failures("A"), 0);
        assert_eq!(b.before_attempt("A"), Attempt::Go { n: 1, max: 3 });
    }

    #[test]
    fn failed_attempts_stay_counted_when_errors_alternate() {
        let mut b = Breaker::new(2);
        for _ in 0..2 {
            assert!(matches!(b.before_attempt("A"), Attempt::Go { .. }));
            b.record("A", Outcome::Failed);
            assert!(matches!(b.before_attempt("B"), Attempt::Go { .. }));
            b.record("B", Outcome::Failed);
        }
        assert_eq!(b.before_attempt("A"), Attempt::Tripped { attempts: 2 });
        assert_eq!(b.before_attempt("B"), Attempt::Tripped { attempts: 2 });
    }

    #[test]
    fn reset_gives_fresh_attempts() {
        let mut b = Breaker::new(1);
        b.before_attempt("A");
        b.record("A", Outcome::Failed);
        b.before_attempt("B");
        b.record("B", Outcome::Failed);
        assert!(b.is_tripped("A") && b.is_tripped("B"));
        b.reset_all();
        assert_eq!(b.before_attempt("A"), Attempt::Go { n: 1, max: 1 });
        assert_eq!(b.before_attempt("B"), Attempt::Go { n: 1, max: 1 });
    }

    #[test]
    fn zero_max_is_one() {
        let mut b = Breaker::new(0);
        assert_eq!(b.before_attempt("A"), Attempt::Go { n: 1, max: 1 });
    }
}

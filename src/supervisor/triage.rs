//! The live path's first step: asking the cheap model whether a settled block is
//! a real error, without holding up the event loop.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::agent::{parse_verdict, spawn_collecting, triage_prompt, Role};
use crate::detect::ErrorBlock;
use crate::heal::events::{Event as Ev, Verdict};
use crate::status;
use crate::text::clip;

use super::heal::{labelled, millis, Phase};
use super::{Event, Supervisor};

/// How long an error whose triage failed waits before it is triaged again,
/// doubling with each failure up to [`RETRY_MAX`]. A failing triage agent is
/// broken (not logged in, no network, out of quota) far more often than
/// unlucky, and a server hit a few times a second logs the same error for every
/// request: asking each time would start a model call and print a warning for
/// every request.
const RETRY_FIRST: Duration = Duration::from_secs(30);
const RETRY_MAX: Duration = Duration::from_secs(600);
/// Errors remembered at most (a command printing ever new errors must not grow
/// this without bound).
const RETRY_REMEMBERED: usize = 256;

/// When each error whose triage failed may be triaged again.
#[derive(Default)]
pub(super) struct TriageRetry {
    /// Per fingerprint: not before this instant, and the failures so far.
    failed: HashMap<String, (Instant, u32)>,
}

impl TriageRetry {
    /// Notes a failure of `fingerprint`'s triage at `now`; returns how long it
    /// now waits.
    fn failed(&mut self, fingerprint: &str, now: Instant) -> Duration {
        let failures = self.failed.get(fingerprint).map_or(0, |&(_, n)| n) + 1;
        let wait = RETRY_FIRST
            .saturating_mul(1 << (failures - 1).min(16))
            .min(RETRY_MAX);
        if self.failed.len() >= RETRY_REMEMBERED && !self.failed.contains_key(fingerprint) {
            self.failed.retain(|_, &mut (until, _)| until > now);
            if self.failed.len() >= RETRY_REMEMBERED {
                let soonest = self
                    .failed
                    .iter()
                    .min_by_key(|(_, &(until, _))| until)
                    .map(|(fp, _)| fp.clone());
                if let Some(fp) = soonest {
                    self.failed.remove(&fp);
                }
            }
        }
        self.failed
            .insert(fingerprint.to_string(), (now + wait, failures));
        wait
    }

    /// How long `fingerprint` still waits at `now`, or `None` when it may be
    /// triaged.
    pub(super) fn waiting(&self, fingerprint: &str, now: Instant) -> Option<Duration> {
        let &(until, _) = self.failed.get(fingerprint)?;
        (until > now).then(|| until - now)
    }

    /// A verdict came: the next failure starts from [`RETRY_FIRST`] again.
    fn answered(&mut self, fingerprint: &str) {
        self.failed.remove(fingerprint);
    }
}

impl Supervisor {
    pub(super) fn start_triage(&mut self, block: ErrorBlock) {
        let cmd = match self.cfg.heal.backend.command(Role::Triage) {
            Ok(c) => c,
            Err(e) => {
                self.triage_failed(&block.fingerprint, &e.to_string(), 0);
                return;
            }
        };
        self.token += 1;
        let token = self.token;
        let prompt = triage_prompt(
            &self.redactor.redact(&self.cfg.command.display()),
            &labelled(&block.lines, &self.redactor),
        );
        status::debug(3, &format!("triage prompt:\n{prompt}"));
        let timeout = self.cfg.heal.triage_timeout;
        let tx = self.tx.clone();
        let started = Instant::now();
        let (process, collector) = match spawn_collecting(&cmd, prompt) {
            Ok(p) => p,
            Err(e) => {
                let why = format!("cannot run {}: {e}", cmd.argv[0]);
                self.triage_failed(&block.fingerprint, &why, 0);
                return;
            }
        };
        let waiting = process.clone();
        let spawned = std::thread::Builder::new()
            .name("triage".into())
            .spawn(move || {
                let result = collector.wait(&waiting, timeout).map_err(|e| e.to_string());
                let _ = tx.send(Event::Triage(token, result, started.elapsed()));
            });
        match spawned {
            Ok(_) => {
                self.phase = Phase::Triaging {
                    token,
                    block,
                    process,
                }
            }
            Err(e) => {
                process.stop();
                self.triage_failed(&block.fingerprint, &e.to_string(), 0);
            }
        }
    }

    pub(super) fn on_triage_done(
        &mut self,
        token: u64,
        result: Result<crate::agent::BlockingOutput, String>,
        took: Duration,
    ) {
        let block = match std::mem::replace(&mut self.phase, Phase::Running) {
            Phase::Triaging {
                token: t, block, ..
            } if t == token => block,
            other => {
                self.phase = other;
                return;
            }
        };
        let fp = block.fingerprint.clone();
        let verdict = match result {
            Err(e) => Err(format!("cannot run the triage agent: {e}")),
            Ok(out) if out.timed_out => Err(format!(
                "timed out after {}s",
                self.cfg.heal.triage_timeout.as_secs_f64()
            )),
            Ok(out) if !out.outcome.success() => Err(format!(
                "the triage agent ended with {}{}",
                out.outcome,
                out.stderr
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .map(|l| format!(": {}", status::sanitize(l)))
                    .unwrap_or_default()
            )),
            Ok(out) => match parse_verdict(&out.stdout) {
                Some(v) => Ok(v),
                None => Err(format!(
                    "unclear answer: {}",
                    clip(&status::sanitize(out.stdout.trim()), 120)
                )),
            },
        };
        let duration_ms = millis(took);
        match verdict {
            Ok(is_error) => {
                let said = if is_error { "error" } else { "not an error" };
                self.debug_block(2, &block, |s| format!("triage verdict: {said}: {s}"));
                self.triage_retry.answered(&fp);
                self.triage_cache.insert(fp.clone(), is_error);
                self.emit(Ev::Triage {
                    fingerprint: fp,
                    verdict: if is_error {
                        Verdict::Error
                    } else {
                        Verdict::NotError
                    },
                    duration_ms,
                });
                if is_error {
                    self.start_fix(self.live_job(&block));
                } else {
                    self.debug_block(1, &block, |s| format!("triage: not an error: {s}"));
                }
            }
            Err(why) => self.triage_failed(&fp, &why, duration_ms),
        }
    }

    /// Says why the triage of `fingerprint` failed, and holds that error back
    /// from triage for a while.
    fn triage_failed(&mut self, fingerprint: &str, why: &str, duration_ms: u64) {
        let wait = self.triage_retry.failed(fingerprint, Instant::now());
        status::warn(&format!(
            "Triage failed: {why} (this error is not triaged again for {}s)",
            wait.as_secs()
        ));
        self.emit(Ev::Triage {
            fingerprint: fingerprint.to_string(),
            verdict: Verdict::Failed,
            duration_ms,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_triage_waits_longer_each_time_until_a_verdict() {
        let mut retry = TriageRetry::default();
        let t0 = Instant::now();
        assert_eq!(retry.waiting("a", t0), None);
        assert_eq!(retry.failed("a", t0), RETRY_FIRST);
        assert_eq!(retry.waiting("a", t0), Some(RETRY_FIRST));
        assert_eq!(retry.waiting("b", t0), None, "other errors are asked");
        let later = t0 + RETRY_FIRST;
        assert_eq!(retry.waiting("a", later), None);
        assert_eq!(retry.failed("a", later), RETRY_FIRST * 2);
        for _ in 0..40 {
            retry.failed("a", later);
        }
        assert_eq!(retry.failed("a", later), RETRY_MAX);
        retry.answered("a");
        assert_eq!(retry.failed("a", later), RETRY_FIRST);
    }

    #[test]
    fn ever_new_errors_are_remembered_within_a_bound() {
        let mut retry = TriageRetry::default();
        let t0 = Instant::now();
        for i in 0..RETRY_REMEMBERED * 4 {
            retry.failed(&format!("fp{i}"), t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(retry.failed.len(), RETRY_REMEMBERED);
        let newest = format!("fp{}", RETRY_REMEMBERED * 4 - 1);
        assert!(retry.waiting(&newest, t0).is_some());
    }
}

//! `--verify CMD`: the user's own check, run once a fix is live (think aider's
//! `--test-cmd`). It runs with `sh -c` in the workspace, in a process group of
//! its own (stopped as a whole on timeout, and whatever it left behind when it
//! exits). A failing check is a failed attempt: the next prompt carries its
//! output, redacted, and the attempt's history entry (written when its agent
//! ended) is amended to say it failed, on the check's worker thread before the
//! loop hears of the verdict, so the next attempt's prompt already reads it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::agent::{spawn_collecting, AgentCommand, AgentProcess, BlockingOutput};
use crate::heal::events::Event as Ev;
use crate::heal::Outcome;
use crate::status;

use super::heal::{millis, unix_now, Phase};
use super::reload::Landing;
use super::{Event, Supervisor};

/// The check's output given to the next attempt: its last lines, at most this much.
const OUTPUT_TAIL_BYTES: usize = 4000;

/// A check in progress.
pub(super) struct Check {
    token: u64,
    process: Arc<AgentProcess>,
    /// Set when otorepair stops the check itself: its end is then no verdict.
    stopped: Arc<AtomicBool>,
    pub(super) landing: Box<Landing>,
}

impl Check {
    /// otorepair is exiting: the check goes with it.
    pub(super) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.process.stop();
    }
}

impl Drop for Check {
    /// Whatever replaces the check (a crash of the command) must not leave it running.
    fn drop(&mut self) {
        if !self.process.is_finished() {
            self.stopped.store(true, Ordering::SeqCst);
            self.process.stop_in_background();
        }
    }
}

/// Why the check failed, or `None` when it passed.
fn failure(result: &Result<BlockingOutput, String>, timeout: Duration) -> Option<String> {
    match result {
        Err(e) => Some(format!("could not run: {e}")),
        Ok(out) if out.timed_out => Some(format!("timed out after {}s", timeout.as_secs_f64())),
        Ok(out) if !out.outcome.success() => Some(format!("ended with {}", out.outcome)),
        Ok(_) => None,
    }
}

/// The last [`OUTPUT_TAIL_BYTES`] of the check's stdout and stderr, whole lines.
fn tail(out: &BlockingOutput) -> String {
    let mut all = out.stdout.clone();
    if !out.stderr.trim().is_empty() {
        // stdout's last line may lack its newline: not glued to stderr's first.
        if !all.is_empty() && !all.ends_with('\n') {
            all.push('\n');
        }
        all.push_str(&out.stderr);
    }
    let all = all.trim_end();
    if all.len() <= OUTPUT_TAIL_BYTES {
        return all.to_string();
    }
    let mut cut = all.len() - OUTPUT_TAIL_BYTES;
    while !all.is_char_boundary(cut) {
        cut += 1;
    }
    let rest = &all[cut..];
    let rest = rest.split_once('\n').map_or(rest, |(_, whole)| whole);
    format!("[... earlier output cut]\n{rest}")
}

impl Supervisor {
    /// The fix is live: run the user's check.
    pub(super) fn start_verify(&mut self, landing: Box<Landing>) -> Option<i32> {
        let Some(check) = self.cfg.heal.verify.clone() else {
            self.resume(landing.waiting);
            return None;
        };
        let cmd = AgentCommand {
            argv: vec!["sh".into(), "-c".into(), check.clone()],
            cwd: self.cfg.workspace.clone(),
            env: Vec::new(),
        };
        let (process, collector) = match spawn_collecting(&cmd, String::new()) {
            Ok(p) => p,
            Err(e) => {
                let shown = self.redactor.redact(&check);
                status::error(&format!("cannot run the check `{shown}`: {e}"));
                self.resume(landing.waiting);
                return None;
            }
        };
        // The check's command line may carry a credential (`curl -H ...`).
        status::info(&format!(
            "Checking the fix: {}",
            self.redactor.redact(&check)
        ));
        self.token += 1;
        let token = self.token;
        let tx = self.tx.clone();
        let timeout = self.cfg.heal.verify_timeout;
        let started = Instant::now();
        let waiting = process.clone();
        let stopped = Arc::new(AtomicBool::new(false));
        let stopped2 = stopped.clone();
        let recorded = landing.recorded.clone();
        let spawned = std::thread::Builder::new()
            .name("verify".into())
            .spawn(move || {
                let result = collector.wait(&waiting, timeout).map_err(|e| e.to_string());
                let failed = failure(&result, timeout).is_some();
                let warnings = recorded
                    .filter(|_| failed && !stopped2.load(Ordering::SeqCst))
                    .map(|entry| entry.check_failed(unix_now()))
                    .unwrap_or_default();
                let _ = tx.send(Event::Verified(token, result, started.elapsed(), warnings));
            });
        if let Err(e) = spawned {
            process.stop();
            status::error(&format!("cannot run the check: {e}"));
            self.resume(landing.waiting);
            return None;
        }
        self.phase = Phase::Verifying(Box::new(Check {
            token,
            process,
            stopped,
            landing,
        }));
        None
    }

    /// The check ended: passed, or a failed attempt with its output for the next.
    pub(super) fn on_verified(
        &mut self,
        token: u64,
        result: Result<BlockingOutput, String>,
        took: Duration,
        warnings: Vec<String>,
    ) -> Option<i32> {
        let check = match std::mem::replace(&mut self.phase, Phase::Running) {
            Phase::Verifying(check) if check.token == token => check,
            other => {
                self.phase = other;
                return None;
            }
        };
        let command = self.cfg.heal.verify.clone().unwrap_or_default();
        let shown = self.redactor.redact(&command);
        let secs = took.as_secs_f64();
        let failure = failure(&result, self.cfg.heal.verify_timeout);
        let fingerprint = check.landing.job.fingerprint.clone();
        self.emit(Ev::Verify {
            fingerprint: fingerprint.clone(),
            attempt: check.landing.job.attempt,
            ok: failure.is_none(),
            code: result.as_ref().ok().and_then(|o| o.outcome.code),
            duration_ms: millis(took),
        });
        let Some(why) = failure else {
            status::info(&format!("✓ check passed in {secs:.1}s: {shown}"));
            let mut check = check;
            let waiting = std::mem::take(&mut check.landing.waiting);
            drop(check);
            self.resume(waiting);
            return None;
        };
        let output = result.as_ref().map(tail).unwrap_or_default();
        let last = output.lines().rev().find(|l| !l.trim().is_empty());
        status::warn(&format!(
            "✗ check failed in {secs:.1}s ({why}): {shown}{}",
            last.map(|l| format!(" — {}", self.redactor.redact(l.trim())))
                .unwrap_or_default()
        ));
        warnings.iter().for_each(|w| status::warn(w));
        // The fix did not hold: a failed attempt, and the next one sees why.
        self.breaker.record(&fingerprint, Outcome::Failed);
        let mut job = check.landing.job.clone();
        job.verify = Some(
            self.redactor
                .redact(&format!("$ {command}\n{output}\n({why})")),
        );
        drop(check);
        self.start_fix(job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::ExitOutcome;

    #[test]
    fn the_checks_streams_are_kept_apart_line_by_line() {
        let out = |stdout: &str, stderr: &str| BlockingOutput {
            outcome: ExitOutcome {
                code: Some(1),
                signal: None,
            },
            stdout: stdout.into(),
            stderr: stderr.into(),
            timed_out: false,
        };
        assert_eq!(tail(&out("ok", "FAIL: x\n")), "ok\nFAIL: x");
        assert_eq!(tail(&out("ok\n", "FAIL: x\n")), "ok\nFAIL: x");
        assert_eq!(tail(&out("", "FAIL: x\n")), "FAIL: x");
        assert_eq!(tail(&out("ok", " \n")), "ok");
    }
}

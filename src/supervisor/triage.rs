//! The live path's first step: asking the cheap model whether a settled block is
//! a real error, without holding up the event loop.

use std::time::{Duration, Instant};

use crate::agent::{parse_verdict, spawn_collecting, triage_prompt, Role};
use crate::detect::ErrorBlock;
use crate::heal::events::{Event as Ev, Verdict};
use crate::heal::history::clip;
use crate::status;

use super::heal::{labelled, millis, Phase};
use super::{Event, Supervisor};

impl Supervisor {
    pub(super) fn start_triage(&mut self, block: ErrorBlock) {
        let cmd = match self.cfg.heal.backend.command(Role::Triage) {
            Ok(c) => c,
            Err(e) => {
                status::error(&format!("Triage failed: {e}"));
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
                status::warn(&format!("Triage failed: cannot run {}: {e}", cmd.argv[0]));
                self.emit(Ev::Triage {
                    fingerprint: block.fingerprint.clone(),
                    verdict: Verdict::Failed,
                    duration_ms: 0,
                });
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
                status::error(&format!("Triage failed: {e}"));
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
        let summary = self.redactor.redact_excerpt(&block.summary, &block.text());
        match verdict {
            Ok(is_error) => {
                let said = if is_error { "error" } else { "not an error" };
                status::debug(2, &format!("triage verdict: {said}: {summary}"));
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
                    status::debug(1, &format!("triage: not an error: {summary}"));
                }
            }
            Err(why) => {
                status::warn(&format!("Triage failed: {why}"));
                self.emit(Ev::Triage {
                    fingerprint: fp,
                    verdict: Verdict::Failed,
                    duration_ms,
                });
            }
        }
    }
}

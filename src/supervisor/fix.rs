//! A fix: snapshot, prompt, the agent streamed into the overlay, and what follows
//! (history, breaker, restart or reload).

use std::sync::Arc;
use std::time::Instant;

use crate::agent::{
    fix_prompt, AgentEvent, AgentOutput, AgentProcess, ExitOutcome, FixRequest, Role, StreamParser,
};
use crate::cli::OnFix;
use crate::heal::events::{Event as Ev, FixPath};
use crate::heal::history::{clip, relevant, render_for_prompt, MAX_SNIPPET};
use crate::heal::{FileChange, HistoryEntry, Outcome, Snapshot};
use crate::overlay::Overlay;
use crate::redact::Redacted;
use crate::status;

use super::heal::{millis, unix_now, FixJob, Phase};
use super::{Event, Supervisor};

/// A fix in progress.
pub(super) struct FixRun {
    job: FixJob,
    token: u64,
    started: Instant,
    pub(super) deadline: Instant,
    process: Arc<AgentProcess>,
    parser: StreamParser,
    overlay: Overlay,
    snapshot: Option<Snapshot>,
    aborted: bool,
    timed_out: bool,
    /// Files the agent's own tool calls named; `None` once it ran a shell command
    /// (or never said), when any change in the workspace may be its work.
    touched: Option<Vec<String>>,
    named_any: bool,
}

impl FixRun {
    /// Records the files an agent event says it edited.
    fn note_files(&mut self, event: &AgentEvent) {
        let named: Vec<String> = match event {
            AgentEvent::Tool { name, detail } => match name.as_str() {
                "Edit" | "Write" | "Delete" => vec![detail.clone()],
                // A shell can change anything: every change may be the agent's.
                "Run" => {
                    self.touched = None;
                    return;
                }
                _ => return,
            },
            AgentEvent::FilesChanged(files) => files.clone(),
            _ => return,
        };
        self.named_any = true;
        if let Some(t) = self.touched.as_mut() {
            t.extend(named);
        }
    }

    /// otorepair is exiting during the fix: stop the agent, close the panel, and
    /// show what the command printed meanwhile.
    pub(super) fn interrupt(self) {
        self.process.stop();
        self.overlay
            .close("Fix interrupted: otorepair is exiting", false);
    }

    /// The agent is being stopped (aborted or timed out); its exit ends the fix.
    pub(super) fn stopping(&self) -> bool {
        self.aborted || self.timed_out
    }
}

impl Supervisor {
    pub(super) fn launch_fix(&mut self, job: FixJob) -> Option<i32> {
        let heal = &self.cfg.heal;
        let max = self.breaker.max();
        let header = match job.path {
            FixPath::Crash => format!(
                "Process crashed. Attempting fix (attempt {}/{max})...",
                job.attempt
            ),
            FixPath::Live => format!(
                "Error detected: {}. Attempting fix (attempt {}/{max})...",
                job.summary, job.attempt
            ),
        };
        let snapshot = match Snapshot::take(&self.cfg.workspace) {
            Ok(s) => Some(s),
            Err(e) => {
                status::warn(&format!(
                    "cannot snapshot the workspace (undo will not cover this fix): {e:#}"
                ));
                None
            }
        };
        if self.history.is_none() {
            match crate::heal::History::open(&self.cfg.workspace) {
                Ok(h) => self.history = Some(h),
                Err(e) => status::warn(&format!("fix history disabled: {e:#}")),
            }
        }
        let history_text = match &self.history {
            Some(h) => match h.load(unix_now()) {
                Ok(loaded) => {
                    if let Some(w) = loaded.warning {
                        status::warn(&w);
                    }
                    let picked = relevant(&loaded.entries, &job.fingerprint, &job.summary, 5);
                    // Entries are redacted; the rendering around them is ours.
                    self.redactor
                        .redact(&render_for_prompt(&picked, &job.fingerprint))
                }
                Err(e) => {
                    status::warn(&format!("cannot read the fix history: {e:#}"));
                    Redacted::default()
                }
            },
            None => Redacted::default(),
        };
        let command = self.redactor.redact(&self.cfg.command.display());
        let prompt = fix_prompt(&FixRequest {
            command: &command,
            workspace: &self.cfg.workspace,
            summary: &job.summary,
            block: &job.text,
            files: &job.files,
            history: &history_text,
            verify: None,
            allow_shell: heal.backend.allow_shell,
        });
        status::debug(3, &format!("fix prompt:\n{prompt}"));
        let cmd = match heal.backend.command(Role::Fix) {
            Ok(c) => c,
            Err(e) => {
                status::error(&e);
                return Some(2);
            }
        };
        let parser = StreamParser::new(heal.backend.format(Role::Fix), &self.cfg.workspace);
        let title = heal.backend.kind.name().to_string();
        self.emit(Ev::FixStart {
            fingerprint: job.fingerprint.clone(),
            attempt: job.attempt,
            path: job.path,
        });
        self.token += 1;
        let token = self.token;
        let tx = self.tx.clone();
        self.router.capture(true);
        let overlay = Overlay::open(self.output.clone(), &self.modes, &header, &title);
        let started = Instant::now();
        match AgentProcess::spawn(&cmd, prompt, move |out| {
            let _ = tx.send(Event::Agent(token, out));
        }) {
            Ok(process) => {
                status::debug(1, &format!("fix agent started: {}", cmd.argv.join(" ")));
                self.phase = Phase::Fixing(Box::new(FixRun {
                    job,
                    token,
                    started,
                    deadline: started + self.cfg.heal.fix_timeout,
                    process: Arc::new(process),
                    parser,
                    overlay,
                    snapshot,
                    aborted: false,
                    timed_out: false,
                    touched: Some(Vec::new()),
                    named_any: false,
                }));
                None
            }
            Err(e) => {
                let outcome = format!("Fix failed: cannot start {}: {e}", cmd.argv[0]);
                let repaint = overlay.close(&outcome, false);
                self.router.capture(false);
                self.breaker.record(&job.fingerprint, Outcome::Failed);
                self.after_fix(job, false, false, repaint)
            }
        }
    }

    pub(super) fn on_agent_output(&mut self, token: u64, out: AgentOutput) -> Option<i32> {
        let Phase::Fixing(run) = &mut self.phase else {
            return None;
        };
        if run.token != token {
            return None;
        }
        match out {
            AgentOutput::Stdout(line) => {
                for event in run.parser.feed_line(&line) {
                    run.note_files(&event);
                    show(&run.overlay, &event);
                }
                None
            }
            AgentOutput::Stderr(line) => {
                status::debug(2, &format!("agent stderr: {line}"));
                None
            }
            AgentOutput::Exited(outcome) => self.finish_fix(outcome),
        }
    }

    /// Ctrl-C during the fix, or its timeout: stop the agent's whole group. The
    /// exit then arrives as usual and ends the fix as failed.
    pub(super) fn abort_fix(&mut self, timed_out: bool) {
        let Phase::Fixing(run) = &mut self.phase else {
            return;
        };
        if run.aborted || run.timed_out {
            return;
        }
        if timed_out {
            run.timed_out = true;
            run.overlay.line(&format!(
                "Timed out after {}s: stopping the agent",
                self.cfg.heal.fix_timeout.as_secs_f64()
            ));
        } else {
            run.aborted = true;
            run.overlay.line("Ctrl-C: stopping the agent");
        }
        let process = run.process.clone();
        // stop() waits out the grace period; the event loop must not.
        std::thread::spawn(move || process.stop());
    }

    pub(super) fn finish_fix(&mut self, outcome: ExitOutcome) -> Option<i32> {
        let Phase::Fixing(run) = std::mem::replace(&mut self.phase, Phase::Running) else {
            return None;
        };
        let mut run = *run;
        for event in run.parser.finish() {
            run.note_files(&event);
            show(&run.overlay, &event);
        }
        let took = run.started.elapsed();
        // Only what the agent's tools touched is the fix's (when it said so).
        let touched = run.touched.clone().filter(|_| run.named_any);
        let keep = |path: &str| touched.as_ref().is_none_or(|t| t.iter().any(|p| p == path));
        let files = match &run.snapshot {
            Some(s) => s.finish_only(unix_now(), keep).unwrap_or_else(|e| {
                status::warn(&format!("cannot tell what the fix changed: {e:#}"));
                Vec::new()
            }),
            None => Vec::new(),
        };
        let failure = if run.aborted {
            Some("aborted".to_string())
        } else if run.timed_out {
            Some(format!(
                "timed out after {}s",
                self.cfg.heal.fix_timeout.as_secs_f64()
            ))
        } else if !outcome.success() {
            let tail = run.process.stderr_tail();
            let last = tail.iter().rev().find(|l| !l.trim().is_empty());
            Some(match last {
                Some(l) => format!("the agent ended with {outcome}: {}", status::sanitize(l)),
                None => format!("the agent ended with {outcome}"),
            })
        } else if run.parser.result_ok() == Some(false) {
            Some("the agent reported an error".to_string())
        } else if files.is_empty() && run.snapshot.is_some() {
            Some("the agent changed no file".to_string())
        } else {
            None
        };
        let ok = failure.is_none();
        let secs = took.as_secs_f64();
        let line = match &failure {
            None if files.is_empty() => format!("Fix applied in {secs:.1}s"),
            None => format!("Fix applied in {secs:.1}s · {}", describe_changes(&files)),
            Some(why) => format!("Fix failed after {secs:.1}s: {why}"),
        };
        let repaint = run.overlay.close(&line, ok);
        self.router.capture(false);
        self.breaker.record(
            &run.job.fingerprint,
            if ok {
                Outcome::Succeeded
            } else {
                Outcome::Failed
            },
        );
        self.emit(Ev::FixEnd {
            fingerprint: run.job.fingerprint.clone(),
            attempt: run.job.attempt,
            ok,
            duration_ms: millis(took),
            files: files.clone(),
        });
        if let Some(h) = &self.history {
            let entry = HistoryEntry {
                time: unix_now(),
                fingerprint: run.job.fingerprint.clone(),
                summary: run.job.summary.clone(),
                command: self.redactor.redact(&self.cfg.command.display()),
                backend: self.cfg.heal.backend.kind.name().to_string(),
                success: ok,
                duration_ms: millis(took),
                error_snippet: run.job.text.part(|s| clip(s, MAX_SNIPPET)),
                files,
            };
            match h.append(entry, unix_now()) {
                Ok(Some(w)) => status::warn(&w),
                Ok(None) => {}
                Err(e) => status::warn(&format!("cannot write the fix history: {e:#}")),
            }
        }
        self.after_fix(run.job, ok, run.aborted, repaint)
    }

    /// What follows a fix: restart after a crash, or reload/restart/wait after a
    /// live error.
    pub(super) fn after_fix(
        &mut self,
        job: FixJob,
        ok: bool,
        aborted: bool,
        repaint: bool,
    ) -> Option<i32> {
        if repaint {
            self.nudge_repaint();
        }
        let crashed = job.path == FixPath::Crash || self.child.is_none();
        if aborted {
            self.paused.insert(job.fingerprint.clone());
            if crashed {
                return self.wait_for_change_or_exit(1);
            }
            status::info("Auto-fix is paused for this error; the command keeps running.");
            return None;
        }
        if crashed {
            return self.restart();
        }
        match self.cfg.heal.on_fix {
            OnFix::Auto if ok => status::info("Waiting for hot-reload..."),
            OnFix::Restart => return self.restart_running(),
            _ => {}
        }
        None
    }
}

/// `app.py +1 -1, lib.py +3 -0`
fn describe_changes(files: &[FileChange]) -> String {
    files
        .iter()
        .map(|f| format!("{} +{} -{}", f.path, f.added, f.removed))
        .collect::<Vec<_>>()
        .join(", ")
}

fn show(overlay: &Overlay, event: &AgentEvent) {
    if let Some(line) = event.display() {
        for part in line.lines() {
            overlay.line(part);
        }
    }
}

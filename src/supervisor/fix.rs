//! A fix: the panel opens at once; the snapshot is started (its bulk is copied
//! in the background while the agent runs) and the history read on a worker
//! thread, then the prompt is built and the agent streamed into the overlay;
//! when it exits, what it changed, its undo record and its history entry
//! are worked out on a worker thread again; then what follows (breaker,
//! restart or reload). The event loop never waits on the files, so keys
//! (Ctrl-C aborts the fix at any point) and signals act at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

pub(super) use super::fix_run::FixRun;
use super::fix_run::{off_the_loop, Stage};
use crate::agent::{
    fix_prompt, AgentEvent, AgentOutput, AgentProcess, ExitOutcome, FixRequest, Role, StreamParser,
};
use crate::cli::OnFix;
use crate::heal::attempt::{self, Finished, Prepared, Recorded};
use crate::heal::events::{Event as Ev, FixPath};
use crate::heal::history::MAX_SNIPPET;
use crate::heal::snapshot::Report;
use crate::heal::{FileChange, HistoryEntry, Outcome};
use crate::overlay::Overlay;
use crate::status;
use crate::text::clip;

use super::heal::{millis, unix_now, FixJob, Phase};
use super::reload::{after_fix_for, Arrival};
use super::{Event, Supervisor};

impl Supervisor {
    /// Opens the panel and starts reading the workspace on a worker thread;
    /// the agent starts when that is done ([`Supervisor::on_fix_prepared`]).
    pub(super) fn launch_fix(&mut self, job: FixJob) -> Option<i32> {
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
        let entry = HistoryEntry {
            time: 0,
            fingerprint: job.fingerprint.clone(),
            summary: job.summary.clone(),
            command: self.redactor.redact(&self.cfg.command.display()),
            backend: self.cfg.heal.backend.kind.name().to_string(),
            success: false,
            duration_ms: 0,
            error_snippet: job.text.part(|s| clip(s, MAX_SNIPPET)),
            files: Vec::new(),
        };
        let title = self.cfg.heal.backend.kind.name().to_string();
        self.emit(Ev::FixStart {
            fingerprint: job.fingerprint.clone(),
            attempt: job.attempt,
            path: job.path,
        });
        self.token += 1;
        let token = self.token;
        self.router.capture(true);
        let overlay = Overlay::open(self.output.clone(), &self.modes, &header, &title);
        let started = Instant::now();
        let cancel = Arc::new(AtomicBool::new(false));
        {
            let (tx, cancel) = (self.tx.clone(), cancel.clone());
            let workspace = self.cfg.workspace.clone();
            let error = attempt::Job {
                fingerprint: job.fingerprint.clone(),
                summary: job.summary.to_string(),
                files: job.files.clone(),
            };
            off_the_loop("fix-prepare", move || {
                let copied = Box::new(|r: &Report| status::debug(1, &r.to_string()));
                let prepared = attempt::prepare(&workspace, &error, unix_now(), &cancel, copied);
                let _ = tx.send(Event::FixPrepared(token, prepared.map(Box::new)));
            });
        }
        self.phase = Phase::Fixing(Box::new(FixRun {
            job,
            token,
            started,
            deadline: started + self.cfg.heal.fix_timeout,
            overlay,
            stage: Stage::Preparing { cancel },
            aborted: false,
            timed_out: false,
            workspace: self.cfg.workspace.clone(),
            named: Vec::new(),
            unnamed_edits: false,
            entry,
        }));
        None
    }

    /// The snapshot and the history are read: build the prompt, start the agent.
    pub(super) fn on_fix_prepared(
        &mut self,
        token: u64,
        prepared: Option<Box<Prepared>>,
    ) -> Option<i32> {
        let Phase::Fixing(run) = &mut self.phase else {
            return None;
        };
        if run.token != token || !matches!(run.stage, Stage::Preparing { .. }) {
            return None;
        }
        let prepared = match prepared {
            Some(p) if !run.aborted && !run.timed_out => p,
            // Aborted (or timed out) before the agent started.
            _ => return self.end_unstarted(),
        };
        for w in &prepared.warnings {
            status::warn(w);
        }
        let (files, ms) = prepared.snapshot_before_agent();
        status::debug(
            1,
            &format!("snapshot: {files} files captured before the agent starts, in {ms:.1} ms"),
        );
        let heal = &self.cfg.heal;
        let command = self.redactor.redact(&self.cfg.command.display());
        // History entries are redacted; the rendering around them is ours.
        let history = self.redactor.redact(&prepared.history_text);
        let prompt = fix_prompt(&FixRequest {
            command: &command,
            workspace: &self.cfg.workspace,
            summary: &run.job.summary,
            block: &run.job.text,
            files: &run.job.files,
            history: &history,
            verify: run.job.verify.as_ref(),
            allow_shell: heal.backend.allow_shell,
            after_fix: after_fix_for(run.job.path, heal.on_fix),
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
        let tx = self.tx.clone();
        match AgentProcess::spawn(&cmd, prompt, move |out| {
            let _ = tx.send(Event::Agent(token, out));
        }) {
            Ok(process) => {
                let argv = self.redactor.redact(&cmd.argv.join(" "));
                status::debug(1, &format!("fix agent started: {argv}"));
                run.stage = Stage::Running {
                    process: Arc::new(process),
                    parser,
                    prepared: Arc::from(prepared),
                };
                None
            }
            Err(e) => {
                let Phase::Fixing(run) = std::mem::replace(&mut self.phase, Phase::Running) else {
                    return None;
                };
                let outcome = format!("Fix failed: cannot start {}: {e}", cmd.argv[0]);
                let repaint = run.overlay.close(&outcome, false);
                self.router.capture(false);
                self.breaker.record(&run.job.fingerprint, Outcome::Failed);
                self.after_fix(run.job, None, false, repaint)
            }
        }
    }

    /// The fix was aborted or timed out before its agent started.
    fn end_unstarted(&mut self) -> Option<i32> {
        let Phase::Fixing(run) = std::mem::replace(&mut self.phase, Phase::Running) else {
            return None;
        };
        let took = run.started.elapsed();
        let why = if run.timed_out {
            format!(
                "timed out after {}s",
                self.cfg.heal.fix_timeout.as_secs_f64()
            )
        } else {
            "aborted".to_string()
        };
        let line = format!("Fix failed after {:.1}s: {why}", took.as_secs_f64());
        let repaint = run.overlay.close(&line, false);
        self.router.capture(false);
        self.breaker.record(&run.job.fingerprint, Outcome::Failed);
        self.emit(Ev::FixEnd {
            fingerprint: run.job.fingerprint.clone(),
            attempt: run.job.attempt,
            ok: false,
            duration_ms: millis(took),
            files: Vec::new(),
        });
        self.after_fix(run.job, None, run.aborted, repaint)
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
                let Stage::Running { parser, .. } = &mut run.stage else {
                    return None;
                };
                let events = parser.feed_line(&line);
                for event in events {
                    run.note_files(&event);
                    show(&run.overlay, &event);
                }
                None
            }
            AgentOutput::Stderr(line) => {
                // What the agent read (a `.env`) can come back here.
                if status::verbosity() >= 2 {
                    let line = self.redactor.redact(&line);
                    status::debug(2, &format!("agent stderr: {line}"));
                }
                None
            }
            AgentOutput::Exited(outcome) => self.finish_fix(outcome),
        }
    }

    /// Ctrl-C during the fix, or its timeout. Before the agent started, the fix
    /// ends at once; while it runs, its whole group is stopped and its exit
    /// then ends the fix as failed.
    pub(super) fn abort_fix(&mut self, timed_out: bool) {
        let timeout = self.cfg.heal.fix_timeout;
        let Phase::Fixing(run) = &mut self.phase else {
            return;
        };
        if run.stopping() {
            return;
        }
        if timed_out {
            run.timed_out = true;
            run.overlay.line(&format!(
                "Timed out after {}s: stopping the agent",
                timeout.as_secs_f64()
            ));
        } else {
            run.aborted = true;
            run.overlay.line("Ctrl-C: stopping the agent");
        }
        match &run.stage {
            Stage::Preparing { cancel } => {
                cancel.store(true, Ordering::Relaxed);
                // Handled next by the loop, ahead of whatever the worker sends.
                let _ = self.tx.send(Event::FixPrepared(run.token, None));
            }
            Stage::Running { process, .. } => process.stop_in_background(),
            Stage::Finishing { .. } => {}
        }
    }

    /// The agent exited: work out what it changed on a worker thread.
    pub(super) fn finish_fix(&mut self, outcome: ExitOutcome) -> Option<i32> {
        let timeout = self.cfg.heal.fix_timeout;
        let Phase::Fixing(run) = &mut self.phase else {
            return None;
        };
        let events = match &mut run.stage {
            Stage::Running { parser, .. } => parser.finish(),
            _ => return None,
        };
        for event in events {
            run.note_files(&event);
            show(&run.overlay, &event);
        }
        let failure = match &run.stage {
            Stage::Running {
                process, parser, ..
            } => run.failure(&outcome, parser, process, timeout),
            _ => None,
        };
        let (done_tx, done) = mpsc::channel();
        let took = run.started.elapsed();
        let Stage::Running { prepared, .. } =
            std::mem::replace(&mut run.stage, Stage::Finishing { done, took })
        else {
            return None;
        };
        let ending = run.ending(failure);
        let (tx, token) = (self.tx.clone(), run.token);
        off_the_loop("fix-finish", move || {
            let finished = attempt::finish(&prepared, ending.resolve());
            let _ = done_tx.send(());
            let _ = tx.send(Event::FixFinished(token, Box::new(finished)));
        });
        None
    }

    /// What the fix changed is known: judge it, close the panel, go on.
    pub(super) fn on_fix_finished(&mut self, token: u64, finished: Finished) -> Option<i32> {
        match &self.phase {
            Phase::Fixing(run)
                if run.token == token && matches!(run.stage, Stage::Finishing { .. }) => {}
            _ => return None,
        }
        let Phase::Fixing(run) = std::mem::replace(&mut self.phase, Phase::Running) else {
            return None;
        };
        let Stage::Finishing { took, .. } = run.stage else {
            return None;
        };
        let Finished {
            files,
            failure,
            warnings,
            recorded,
        } = finished;
        let ok = failure.is_none();
        let secs = took.as_secs_f64();
        let line = match &failure {
            None if files.is_empty() => format!("Fix applied in {secs:.1}s"),
            None => format!("Fix applied in {secs:.1}s · {}", describe_changes(&files)),
            Some(why) if files.is_empty() => format!("Fix failed after {secs:.1}s: {why}"),
            // Aborted or failed after editing: the edits stay, and say so.
            Some(why) => format!(
                "Fix failed after {secs:.1}s: {why} · {} (otorepair undo to revert)",
                describe_changes(&files)
            ),
        };
        let repaint = run.overlay.close(&line, ok);
        self.router.capture(false);
        for w in &warnings {
            status::warn(w);
        }
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
        let applied = ok.then_some(Applied { files, recorded });
        self.after_fix(run.job, applied, run.aborted, repaint)
    }

    /// What follows a fix: restart after a crash, or reload/restart/wait after a
    /// live error; a successful fix then lands (see `reload`): it is live once the
    /// command runs it, and only then verified and recorded on screen.
    pub(super) fn after_fix(
        &mut self,
        job: FixJob,
        applied: Option<Applied>,
        aborted: bool,
        repaint: bool,
    ) -> Option<i32> {
        if repaint {
            self.nudge_repaint();
        }
        // A crash's fix can run while the command does: the restarted command's
        // `--verify` check failed. Then the command is restarted, never started
        // beside itself, and an aborted fix leaves it running.
        let dead = self.child.is_none();
        if aborted {
            self.watch = None;
            self.paused.insert(job.fingerprint.clone());
            if dead {
                return self.wait_for_change_or_exit(1);
            }
            status::info("Auto-fix is paused for this error; the command keeps running.");
            return None;
        }
        let arrival = match self.cfg.heal.on_fix {
            _ if dead => {
                if let Some(code) = self.restart() {
                    return Some(code);
                }
                Arrival::Restarted
            }
            // A crash fix was made for a restart, whatever --on-fix says.
            _ if job.path == FixPath::Crash => {
                if let Some(code) = self.restart_running() {
                    return Some(code);
                }
                Arrival::Restarted
            }
            OnFix::Restart => {
                if let Some(code) = self.restart_running() {
                    return Some(code);
                }
                Arrival::Restarted
            }
            OnFix::Auto => Arrival::Reload,
            OnFix::Wait => Arrival::Unknown,
        };
        let Some(applied) = applied else {
            self.watch = None;
            return None;
        };
        self.land(job, applied, arrival)
    }
}

/// A fix that worked as far as its agent goes: what it changed, and its
/// history entry (amended if the fix's check fails once it is live).
pub(super) struct Applied {
    pub(super) files: Vec<FileChange>,
    pub(super) recorded: Option<Recorded>,
}

/// `app.py +1 -1, .env changed (not undoable: git-ignored)`
pub(super) fn describe_changes(files: &[FileChange]) -> String {
    files
        .iter()
        .map(ToString::to_string)
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

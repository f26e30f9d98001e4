//! The healing paths: a crash (fix, then restart) and a live error (triage, fix,
//! then hot reload or restart), with the breaker, history, snapshots and overlay.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::agent::{
    fix_prompt, parse_verdict, spawn_collecting, triage_prompt, AgentEvent, AgentOutput,
    AgentProcess, ExitOutcome, FixRequest, Role, StreamParser,
};
use crate::child::ExitStatus;
use crate::cli::OnFix;
use crate::detect::{fingerprint, ErrorBlock};
use crate::heal::events::{Event as Ev, FixPath, Verdict};
use crate::heal::history::{clip, relevant, render_for_prompt, MAX_SNIPPET};
use crate::heal::{Attempt, FileChange, HistoryEntry, Outcome, Snapshot};
use crate::input::CTRL_C;
use crate::line::{Line, Stream};
use crate::overlay::Overlay;
use crate::status;

use super::{Event, Supervisor};

/// Lines of output given to the fix agent after a crash.
pub const CRASH_CONTEXT_LINES: usize = 80;

/// What the supervisor is doing about errors right now.
pub(super) enum Phase {
    Running,
    Triaging {
        token: u64,
        block: ErrorBlock,
        /// Kept so the triage agent never outlives otorepair.
        process: Arc<AgentProcess>,
    },
    Confirming(FixJob),
    Fixing(Box<FixRun>),
    /// The breaker tripped on a crash: wait for the user to change a file.
    WaitingForChange {
        _watcher: notify::RecommendedWatcher,
    },
}

/// An error to fix.
pub(super) struct FixJob {
    fingerprint: String,
    summary: String,
    /// The captured output given to the agent.
    text: String,
    files: Vec<String>,
    path: FixPath,
    attempt: u32,
}

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
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Workspace-relative paths of the files an error names that exist in the workspace.
fn workspace_files(block: Option<&ErrorBlock>, workspace: &Path) -> Vec<String> {
    let mut files: Vec<String> = Vec::new();
    for f in block.map(|b| b.files.as_slice()).unwrap_or_default() {
        let p = Path::new(&f.path);
        let full = if p.is_absolute() {
            p.to_path_buf()
        } else {
            workspace.join(p)
        };
        let Ok(full) = full.canonicalize() else {
            continue;
        };
        if let Ok(rel) = full.strip_prefix(workspace) {
            let rel = rel.to_string_lossy().into_owned();
            if full.is_file() && !files.contains(&rel) {
                files.push(rel);
            }
        }
    }
    files
}

/// The captured lines as the agent sees them. In pipe mode the stream each line
/// came from is kept: a note when all share one, a prefix per line when mixed.
fn labelled(lines: &[Line]) -> String {
    let Some(first) = lines.first() else {
        return String::new();
    };
    let join = |f: &dyn Fn(&Line) -> String| lines.iter().map(f).collect::<Vec<_>>().join("\n");
    if first.stream == Stream::Pty {
        return join(&|l| l.text.clone());
    }
    if lines.iter().all(|l| l.stream == first.stream) {
        return format!(
            "(all from {})\n{}",
            first.stream.label(),
            join(&|l| l.text.clone())
        );
    }
    join(&|l| format!("{}| {}", l.stream.label(), l.text))
}

/// `app.py +1 -1, lib.py +3 -0`
fn describe_changes(files: &[FileChange]) -> String {
    files
        .iter()
        .map(|f| format!("{} +{} -{}", f.path, f.added, f.removed))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Supervisor {
    pub(super) fn emit(&mut self, event: Ev) {
        if let Some(log) = self.events.as_mut() {
            if let Err(e) = log.emit(&event) {
                status::warn(&format!("cannot write the events file: {e:#}"));
                self.events = None;
            }
        }
    }

    /// A suspect block settled while the child runs.
    pub(super) fn on_suspect(&mut self, block: ErrorBlock) {
        self.emit(Ev::Suspect {
            fingerprint: block.fingerprint.clone(),
            summary: block.summary.clone(),
            lines: block.lines.iter().map(|l| l.text.clone()).collect(),
        });
        if self.cfg.heal.dry_run {
            self.print_would_fix(&block.summary, &block.text());
            return;
        }
        if !matches!(self.phase, Phase::Running) {
            status::debug(1, &format!("busy; not handling: {}", block.summary));
            return;
        }
        if self.paused.contains(&block.fingerprint) {
            status::debug(1, &format!("auto-fix paused for: {}", block.summary));
            return;
        }
        status::debug(1, &format!("suspect: {}", block.summary));
        if let Some(&is_error) = self.triage_cache.get(&block.fingerprint) {
            self.emit(Ev::Triage {
                fingerprint: block.fingerprint.clone(),
                verdict: Verdict::Cached,
                duration_ms: 0,
            });
            if is_error {
                self.start_fix(self.live_job(&block));
            }
            return;
        }
        self.start_triage(block);
    }

    fn print_would_fix(&self, summary: &str, text: &str) {
        status::info(&format!("would fix: {summary}"));
        for line in text.lines() {
            status::info(&format!("  {line}"));
        }
    }

    fn live_job(&self, block: &ErrorBlock) -> FixJob {
        FixJob {
            fingerprint: block.fingerprint.clone(),
            summary: block.summary.clone(),
            text: labelled(&block.lines),
            files: workspace_files(Some(block), &self.cfg.workspace),
            path: FixPath::Live,
            attempt: 0,
        }
    }

    fn start_triage(&mut self, block: ErrorBlock) {
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
            &self.cfg.command.display(),
            &labelled(&block.lines),
            &self.redactor,
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
        match verdict {
            Ok(is_error) => {
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
                    status::debug(1, &format!("triage: not an error: {}", block.summary));
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

    /// The child crashed (non-zero exit the user did not ask for).
    pub(super) fn on_crash(&mut self, exit: ExitStatus) -> Option<i32> {
        let block = self.detector.crash_block();
        let context_lines = self.detector.context(CRASH_CONTEXT_LINES);
        let context: Vec<String> = context_lines.iter().map(|l| l.text.clone()).collect();
        let how = match (exit.code, exit.signal) {
            (Some(c), _) => format!("exited with code {c}"),
            (None, Some(s)) => format!("was killed by signal {s}"),
            _ => "ended".to_string(),
        };
        let (summary, fp) = match &block {
            Some(b) => (b.summary.clone(), b.fingerprint.clone()),
            None => {
                // No recognisable error: identify it by how it ended and its last line.
                let last = context.iter().rev().find(|l| !l.trim().is_empty());
                let summary = match last {
                    Some(l) => format!("command {how}: {}", clip(l.trim(), 160)),
                    None => format!("command {how} without output"),
                };
                let norm = fingerprint::normalize(&summary);
                (
                    summary,
                    format!("{:016x}", fingerprint::fnv1a64(norm.as_bytes())),
                )
            }
        };
        if self.cfg.heal.dry_run {
            let text = match &block {
                Some(b) => b.text(),
                None => context.join("\n"),
            };
            self.print_would_fix(&summary, &text);
            return Some(exit.shell_code());
        }
        status::debug(1, &format!("crash: {summary}"));
        let job = FixJob {
            fingerprint: fp,
            summary,
            text: labelled(&context_lines),
            files: workspace_files(block.as_ref(), &self.cfg.workspace),
            path: FixPath::Crash,
            attempt: 0,
        };
        self.start_fix(job)
    }

    /// Checks the breaker, then asks (with --confirm) or fixes.
    fn start_fix(&mut self, mut job: FixJob) -> Option<i32> {
        match self.breaker.before_attempt(&job.fingerprint) {
            Attempt::Tripped { attempts } => self.on_tripped(&job, attempts),
            Attempt::Go { n, .. } => {
                job.attempt = n;
                if self.cfg.heal.confirm {
                    let question = format!(
                        "{} — Fix with {}? [Y/n]",
                        job.summary,
                        self.cfg.heal.backend.kind.name()
                    );
                    self.router.capture(true);
                    self.phase = Phase::Confirming(job);
                    status::info(&question);
                    None
                } else {
                    self.launch_fix(job)
                }
            }
        }
    }

    fn on_tripped(&mut self, job: &FixJob, attempts: u32) -> Option<i32> {
        status::error(&format!(
            "Giving up on {} after {attempts} failed fix attempts.",
            job.summary
        ));
        self.emit(Ev::Tripped {
            fingerprint: job.fingerprint.clone(),
            attempts,
        });
        self.paused.insert(job.fingerprint.clone());
        if self.child.is_some() {
            status::info("Auto-fix is paused for this error; the command keeps running.");
            self.phase = Phase::Running;
            return None;
        }
        self.wait_for_change_or_exit(1)
    }

    /// After a crash we will not fix: in a terminal, wait for the user to change a
    /// file and restart; otherwise give up with `code`.
    fn wait_for_change_or_exit(&mut self, code: i32) -> Option<i32> {
        if self.tty_fd.is_none() || self.cfg.mode != crate::cli::Mode::Pty {
            return Some(code);
        }
        let tx = self.tx.clone();
        match crate::watch::watch(&self.cfg.workspace, move || {
            let _ = tx.send(Event::FileChanged);
        }) {
            Ok(watcher) => {
                // Keys are ours before the user is told what they do.
                self.router.capture(true);
                self.phase = Phase::WaitingForChange { _watcher: watcher };
                status::info(
                    "Fix the error yourself: waiting for a file change to restart (Enter restarts now, Ctrl-C quits).",
                );
                None
            }
            Err(e) => {
                status::error(&format!("cannot watch the workspace for changes: {e}"));
                Some(code)
            }
        }
    }

    pub(super) fn on_file_changed(&mut self) -> Option<i32> {
        if !matches!(self.phase, Phase::WaitingForChange { .. }) {
            return None;
        }
        status::info("File changed: restarting.");
        self.breaker.reset_all();
        self.paused.clear();
        self.phase = Phase::Running;
        self.router.capture(false);
        self.restart()
    }

    fn launch_fix(&mut self, job: FixJob) -> Option<i32> {
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
                    render_for_prompt(&picked, &job.fingerprint)
                }
                Err(e) => {
                    status::warn(&format!("cannot read the fix history: {e:#}"));
                    String::new()
                }
            },
            None => String::new(),
        };
        let command = self.cfg.command.display();
        let prompt = fix_prompt(
            &FixRequest {
                command: &command,
                workspace: &self.cfg.workspace,
                summary: &job.summary,
                block: &job.text,
                files: &job.files,
                history: &history_text,
                allow_shell: heal.backend.allow_shell,
            },
            &self.redactor,
        );
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

    fn finish_fix(&mut self, outcome: ExitOutcome) -> Option<i32> {
        let Phase::Fixing(run) = std::mem::replace(&mut self.phase, Phase::Running) else {
            return None;
        };
        let mut run = *run;
        for event in run.parser.finish() {
            show(&run.overlay, &event);
        }
        let took = run.started.elapsed();
        let files = match &run.snapshot {
            Some(s) => s.finish(unix_now()).unwrap_or_else(|e| {
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
                summary: self.redactor.redact(&run.job.summary),
                command: self.redactor.redact(&self.cfg.command.display()),
                backend: self.cfg.heal.backend.kind.name().to_string(),
                success: ok,
                duration_ms: millis(took),
                error_snippet: clip(&self.redactor.redact(&run.job.text), MAX_SNIPPET).to_string(),
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
    fn after_fix(&mut self, job: FixJob, ok: bool, aborted: bool, repaint: bool) -> Option<i32> {
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

    /// Keys while otorepair owns the keyboard.
    pub(super) fn on_keys(&mut self, keys: &[u8]) -> Option<i32> {
        match &self.phase {
            Phase::Fixing(_) => {
                if keys.contains(&CTRL_C) {
                    self.abort_fix(false);
                }
                None
            }
            Phase::Confirming(_) => {
                let &key = keys.first()?;
                let Phase::Confirming(job) = std::mem::replace(&mut self.phase, Phase::Running)
                else {
                    return None;
                };
                self.router.capture(false);
                if matches!(key, b'y' | b'Y' | b'\r' | b'\n') {
                    self.launch_fix(job)
                } else {
                    status::info("Not fixing; auto-fix is paused for this error.");
                    self.paused.insert(job.fingerprint.clone());
                    if self.child.is_none() {
                        return self.wait_for_change_or_exit(1);
                    }
                    None
                }
            }
            Phase::WaitingForChange { .. } => {
                if keys.contains(&CTRL_C) {
                    return Some(130);
                }
                if keys.iter().any(|&k| k == b'\r' || k == b'\n') {
                    self.phase = Phase::Running;
                    self.router.capture(false);
                    self.breaker.reset_all();
                    self.paused.clear();
                    return self.restart();
                }
                None
            }
            _ => None,
        }
    }
}

impl FixRun {
    /// Stops the agent now (we are exiting).
    pub(super) fn stop_agent(&self) {
        self.process.stop();
    }
}

fn show(overlay: &Overlay, event: &AgentEvent) {
    if let Some(line) = event.display() {
        for part in line.lines() {
            overlay.line(part);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_mode_lines_keep_their_stream_for_the_prompt() {
        let pty = [Line::new("a", Stream::Pty), Line::new("b", Stream::Pty)];
        assert_eq!(labelled(&pty), "a\nb");
        let err = [
            Line::new("a", Stream::Stderr),
            Line::new("b", Stream::Stderr),
        ];
        assert_eq!(labelled(&err), "(all from stderr)\na\nb");
        let mixed = [
            Line::new("a", Stream::Stdout),
            Line::new("b", Stream::Stderr),
        ];
        assert_eq!(labelled(&mixed), "stdout| a\nstderr| b");
    }
}

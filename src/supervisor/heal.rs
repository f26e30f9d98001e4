//! The healing paths: a crash (fix, then restart) and a live error (triage, fix,
//! then hot reload or restart), with the breaker, history, snapshots and overlay.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::agent::AgentProcess;
use crate::child::ExitStatus;
use crate::detect::{fingerprint, ErrorBlock};
use crate::heal::events::{Event as Ev, FixPath, Verdict};
use crate::heal::Attempt;
use crate::input::CTRL_C;
use crate::line::{Line, Stream};
use crate::redact::{Redacted, Redactor};
use crate::status;
use crate::text::clip;

use super::fix::FixRun;
use super::reload::Landing;
use super::verify::Check;
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
    /// A successful fix, until the command runs it (see `reload`).
    Reloading(Box<Landing>),
    /// The fix is live; the user's `--verify` check runs.
    Verifying(Box<Check>),
    /// The breaker tripped on a crash: wait for the user to change a file.
    WaitingForChange {
        _watcher: notify::RecommendedWatcher,
    },
}

/// An error to fix.
#[derive(Clone)]
pub(super) struct FixJob {
    pub(super) fingerprint: String,
    pub(super) summary: Redacted,
    /// The captured output given to the agent.
    pub(super) text: Redacted,
    pub(super) files: Vec<String>,
    pub(super) path: FixPath,
    pub(super) attempt: u32,
    /// The user's `--verify` check that failed after the previous attempt: its
    /// command line and output, for the prompt.
    pub(super) verify: Option<Redacted>,
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Workspace-relative paths of the user's own files an error names (the error's
/// own file first): no virtualenv, installed package, vendored or built file.
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
            if full.is_file() && !files.contains(&rel) && !crate::detect::is_third_party(&rel) {
                files.push(rel);
            }
        }
    }
    files
}

/// The captured lines as the agent sees them, redacted. In pipe mode the stream
/// each line came from is kept: a note when all share one, a prefix per line when
/// mixed. Each stream's consecutive lines are redacted together, so a secret that
/// spans lines (a key block) is seen whole.
pub(super) fn labelled(lines: &[Line], redactor: &Redactor) -> Redacted {
    let redact = |run: &[Line]| {
        let texts: Vec<&str> = run.iter().map(|l| l.text.as_str()).collect();
        redactor.redact(&texts.join("\n"))
    };
    let Some(first) = lines.first() else {
        return Redacted::default();
    };
    if first.stream == Stream::Pty {
        return redact(lines);
    }
    let mut out = Redacted::default();
    if lines.iter().all(|l| l.stream == first.stream) {
        out.push_literal("(all from ");
        out.push_literal(first.stream.label());
        out.push_literal(")\n");
        out.push(&redact(lines));
        return out;
    }
    for run in lines.chunk_by(|a, b| a.stream == b.stream) {
        for line in redact(run).lines() {
            if !out.is_empty() {
                out.push_literal("\n");
            }
            out.push_literal(run[0].stream.label());
            out.push_literal("| ");
            out.push(&line);
        }
    }
    out
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

    /// A `-v` line about `block`, its summary redacted; the redaction (a scan
    /// of the whole block) is not paid below that level.
    pub(super) fn debug_block(
        &self,
        level: u8,
        block: &ErrorBlock,
        say: impl FnOnce(&str) -> String,
    ) {
        if status::verbosity() >= level {
            let summary = self.redactor.redact_excerpt(&block.summary, &block.text());
            status::debug(level, &say(&summary));
        }
    }

    /// A suspect block settled while the child runs.
    pub(super) fn on_suspect(&mut self, block: ErrorBlock) {
        // A fix is on its way to being live: other errors wait for it.
        let Some(block) = self.keep_for_later(block) else {
            return;
        };
        let text = block.text();
        if self.events.is_some() {
            // Redacted only for a sink that takes it.
            self.emit(Ev::Suspect {
                fingerprint: block.fingerprint.clone(),
                summary: self.redactor.redact_excerpt(&block.summary, &text),
                lines: self.redactor.redact(&text).lines().collect(),
            });
        }
        if self.on_environment_suspect(&block) {
            return;
        }
        if self.cfg.heal.dry_run {
            self.print_would_fix(&block.summary, &text);
            return;
        }
        if !matches!(self.phase, Phase::Running) {
            self.debug_block(1, &block, |s| format!("busy; not handling: {s}"));
            return;
        }
        if self.paused.contains(&block.fingerprint) {
            self.debug_block(1, &block, |s| format!("auto-fix paused for: {s}"));
            return;
        }
        self.debug_block(1, &block, |s| format!("suspect: {s}"));
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
        if let Some(left) = self
            .triage_retry
            .waiting(&block.fingerprint, std::time::Instant::now())
        {
            self.debug_block(1, &block, |s| {
                format!(
                    "triage failed for this error; asking again in {}s: {s}",
                    left.as_secs()
                )
            });
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

    pub(super) fn live_job(&self, block: &ErrorBlock) -> FixJob {
        FixJob {
            fingerprint: block.fingerprint.clone(),
            summary: self.redactor.redact_excerpt(&block.summary, &block.text()),
            text: labelled(&block.lines, &self.redactor),
            files: workspace_files(Some(block), &self.cfg.workspace),
            path: FixPath::Live,
            attempt: 0,
            verify: None,
        }
    }

    /// The child crashed (non-zero exit the user did not ask for).
    pub(super) fn on_crash(&mut self, exit: ExitStatus) -> Option<i32> {
        // A block held in case this crash came is the crash's now.
        self.tree.forget();
        let block = self.detector.crash_block();
        let context_lines = self.detector.context(CRASH_CONTEXT_LINES);
        if let Some(done) = self.on_environment_crash(block.as_ref(), &context_lines, exit) {
            return done;
        }
        if exit.shell_could_not_run() {
            // Not found / not executable, in a way the list above does not know:
            // nothing in the source for an agent to fix; the shell's message says why.
            return Some(exit.shell_code());
        }
        let context: Vec<String> = context_lines.iter().map(|l| l.text.clone()).collect();
        let how = match (exit.code, exit.signal) {
            (Some(c), _) => format!("exited with code {c}"),
            (None, Some(s)) => format!("was killed by signal {s}"),
            _ => "ended".to_string(),
        };
        let (summary, fp) = match &block {
            Some(b) => (b.summary.clone(), b.fingerprint.clone()),
            None => {
                // No recognisable error: identify it by how it ended and its last
                // line, on stderr when it wrote any (in pipe mode the last line of
                // both streams depends on timing; stderr's own order does not).
                let any_stderr = context_lines.iter().any(|l| l.stream == Stream::Stderr);
                let last = context_lines
                    .iter()
                    .rev()
                    .filter(|l| !any_stderr || l.stream == Stream::Stderr)
                    .map(|l| &l.text)
                    .find(|l| !l.trim().is_empty());
                let summary = match last {
                    Some(l) => format!("command {how}: {}", clip(l.trim(), 160)),
                    None => format!("command {how} without output"),
                };
                let norm = fingerprint::normalize(&summary);
                (summary, fingerprint::id_of(&norm))
            }
        };
        if let Some(done) = self.old_code_crashed(&fp) {
            return done;
        }
        if self.cfg.heal.dry_run {
            let text = match &block {
                Some(b) => b.text(),
                None => context.join("\n"),
            };
            self.print_would_fix(&summary, &text);
            return Some(exit.shell_code());
        }
        let summary = self.redactor.redact_excerpt(&summary, &context.join("\n"));
        status::debug(1, &format!("crash: {summary}"));
        let job = FixJob {
            fingerprint: fp,
            summary,
            text: labelled(&context_lines, &self.redactor),
            files: workspace_files(block.as_ref(), &self.cfg.workspace),
            path: FixPath::Crash,
            attempt: 0,
            verify: None,
        };
        self.start_fix(job)
    }

    /// Checks the breaker, then asks (with --confirm) or fixes.
    pub(super) fn start_fix(&mut self, mut job: FixJob) -> Option<i32> {
        // Before any file changes: what the running command looks like.
        self.watch_for_reload();
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
    pub(super) fn wait_for_change_or_exit(&mut self, code: i32) -> Option<i32> {
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

    /// Keys while otorepair owns the keyboard.
    pub(super) fn on_keys(&mut self, keys: &[u8]) -> Option<i32> {
        match &self.phase {
            Phase::Fixing(_) => {
                if keys.contains(&CTRL_C) {
                    self.abort_fix(false);
                } else if self.child.is_none() {
                    // Typed while the crashed command is being fixed: for the
                    // restarted one, as typeahead would be.
                    self.router.send_to_child(keys);
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
            // Typed just as the fix ended: they were meant for the command.
            _ => {
                self.router.send_to_child(keys);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_mode_lines_keep_their_stream_for_the_prompt() {
        let red = Redactor::default();
        let pty = [Line::new("a", Stream::Pty), Line::new("b", Stream::Pty)];
        assert_eq!(labelled(&pty, &red).as_str(), "a\nb");
        let err = [
            Line::new("a", Stream::Stderr),
            Line::new("b", Stream::Stderr),
        ];
        assert_eq!(labelled(&err, &red).as_str(), "(all from stderr)\na\nb");
        let mixed = [
            Line::new("a", Stream::Stdout),
            Line::new("b", Stream::Stderr),
        ];
        assert_eq!(labelled(&mixed, &red).as_str(), "stdout| a\nstderr| b");
    }

    #[test]
    fn a_key_block_on_one_stream_is_masked_whole_between_labels() {
        let body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj";
        let lines = [
            Line::new("config loaded:", Stream::Stdout),
            Line::new(body, Stream::Stdout),
            Line::new(body, Stream::Stdout),
            Line::new("-----END PRIVATE KEY-----", Stream::Stdout),
            Line::new("Traceback (most recent call last):", Stream::Stderr),
            Line::new("password=hunter2", Stream::Stderr),
        ];
        assert_eq!(
            labelled(&lines, &Redactor::default()).as_str(),
            "stdout| config loaded:\nstdout| [REDACTED PRIVATE KEY]\n\
             stderr| Traceback (most recent call last):\nstderr| password=[REDACTED]"
        );
    }
}

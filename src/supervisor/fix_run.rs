//! A fix in progress: where it is ([`Stage`]), what its agent named, and the
//! way out when otorepair exits in the middle of it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::agent::{AgentEvent, AgentProcess, ExitOutcome, StreamParser};
use crate::heal::attempt::{self, Ending, Prepared};
use crate::heal::paths;
use crate::heal::HistoryEntry;
use crate::overlay::Overlay;
use crate::status;

use super::heal::{millis, unix_now, FixJob};

/// How long otorepair, exiting, waits for a fix's undo record and history
/// entry to be written.
const FINISH_WAIT: Duration = Duration::from_secs(5);

/// Where a fix is.
pub(super) enum Stage {
    /// The snapshot and the history are being read on a worker thread.
    Preparing { cancel: Arc<AtomicBool> },
    /// The agent runs.
    Running {
        process: Arc<AgentProcess>,
        parser: StreamParser,
        prepared: Arc<Prepared>,
    },
    /// The agent ended; what it changed is being worked out on a worker thread,
    /// which says so on `done`.
    Finishing { done: Receiver<()>, took: Duration },
}

/// How an attempt ended, the paths its agent named not yet resolved against
/// the workspace: that looks at the disk, so [`Unresolved::resolve`] is called
/// on the worker that finishes the attempt, not on the event loop.
pub(super) struct Unresolved {
    workspace: PathBuf,
    named: Vec<PathBuf>,
    ending: Ending,
}

impl Unresolved {
    pub(super) fn resolve(mut self) -> Ending {
        let workspace = &self.workspace;
        self.ending.named = self
            .named
            .iter()
            .map(|p| paths::resolve(workspace, p))
            .collect();
        self.ending
    }
}

/// A fix in progress.
pub(super) struct FixRun {
    pub(super) job: FixJob,
    pub(super) token: u64,
    pub(super) started: Instant,
    pub(super) deadline: Instant,
    pub(super) overlay: Overlay,
    pub(super) stage: Stage,
    pub(super) aborted: bool,
    pub(super) timed_out: bool,
    pub(super) workspace: PathBuf,
    /// Files the agent's own tool calls named as edited, as it named them.
    pub(super) named: Vec<PathBuf>,
    /// Set once the agent ran a shell command or edited without naming the
    /// file: then any change in the workspace may be its work.
    pub(super) unnamed_edits: bool,
    /// This attempt's history entry; time, duration, success and files are
    /// filled in at the end.
    pub(super) entry: HistoryEntry,
}

/// Runs `work` on a thread of its own (the event loop must not wait on files),
/// or here if no thread can be started. `Builder::spawn` consumes the closure
/// even when it fails, hence the shared slot it is taken from.
pub(super) fn off_the_loop(name: &str, work: impl FnOnce() + Send + 'static) {
    let work = std::sync::Mutex::new(Some(work));
    let work = Arc::new(work);
    let spare = work.clone();
    let spawned = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            if let Some(w) = spare.lock().ok().and_then(|mut w| w.take()) {
                w();
            }
        });
    if spawned.is_err() {
        if let Some(w) = work.lock().ok().and_then(|mut w| w.take()) {
            w();
        }
    }
}

impl FixRun {
    /// Records the files an agent event says it edited.
    pub(super) fn note_files(&mut self, event: &AgentEvent) {
        match event {
            AgentEvent::Tool { name, path, .. } => match (name.as_str(), path) {
                ("Edit" | "Write" | "Delete", Some(p)) => self.named.push(p.clone()),
                // A shell can change anything; an edit that names no file, too.
                ("Edit" | "Write" | "Delete" | "Run", _) => self.unnamed_edits = true,
                _ => {}
            },
            AgentEvent::FilesChanged { paths, .. } => self.named.extend(paths.iter().cloned()),
            _ => {}
        }
    }

    /// How the attempt ended, for [`attempt::finish`] once resolved.
    pub(super) fn ending(&self, failure: Option<String>) -> Unresolved {
        let now = unix_now();
        let mut entry = self.entry.clone();
        entry.time = now;
        entry.duration_ms = millis(self.started.elapsed());
        Unresolved {
            workspace: self.workspace.clone(),
            named: self.named.clone(),
            ending: Ending {
                named: Vec::new(),
                everything: self.unnamed_edits || self.named.is_empty(),
                failure,
                entry,
                now,
            },
        }
    }

    /// otorepair is exiting during the fix: stop the agent, keep the undo
    /// record and the history entry of what it did so far, close the panel,
    /// and show what the command printed meanwhile.
    pub(super) fn interrupt(self) {
        let mut warnings = Vec::new();
        match &self.stage {
            Stage::Preparing { cancel } => cancel.store(true, Ordering::Relaxed),
            Stage::Running {
                process, prepared, ..
            } => {
                // Nothing the copy reaches now can make the fix undoable.
                prepared.stop_snapshot();
                process.stop();
                let ending = self.ending(Some("interrupted: otorepair was exiting".into()));
                // On a worker, as for a fix that ends: the way out waits for the
                // record at most FINISH_WAIT, whatever the history lock does.
                let (written, wait) = std::sync::mpsc::channel();
                let prepared = prepared.clone();
                off_the_loop("fix-interrupt", move || {
                    let _ = written.send(attempt::finish(&prepared, ending.resolve()).warnings);
                });
                warnings = wait.recv_timeout(FINISH_WAIT).unwrap_or_default();
            }
            Stage::Finishing { done, .. } => {
                let _ = done.recv_timeout(FINISH_WAIT);
            }
        }
        self.overlay
            .close("Fix interrupted: otorepair is exiting", false);
        for w in warnings {
            status::warn(&w);
        }
    }

    /// No deadline applies: the agent is being stopped, or has ended.
    pub(super) fn stopping(&self) -> bool {
        self.aborted || self.timed_out || matches!(self.stage, Stage::Finishing { .. })
    }

    /// Why the attempt failed, from the agent's exit and its own word.
    pub(super) fn failure(
        &self,
        outcome: &ExitOutcome,
        parser: &StreamParser,
        process: &AgentProcess,
        timeout: Duration,
    ) -> Option<String> {
        if self.aborted {
            Some("aborted".to_string())
        } else if self.timed_out {
            Some(format!("timed out after {}s", timeout.as_secs_f64()))
        } else if !outcome.success() {
            let tail = process.stderr_tail();
            let last = tail.iter().rev().find(|l| !l.trim().is_empty());
            Some(match last {
                Some(l) => format!("the agent ended with {outcome}: {}", status::sanitize(l)),
                None => format!("the agent ended with {outcome}"),
            })
        } else if parser.result_ok() == Some(false) {
            Some("the agent reported an error".to_string())
        } else {
            None
        }
    }
}

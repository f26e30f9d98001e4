//! The file work of one fix attempt, done on worker threads so it never
//! delays the supervisor's event loop (the panel, keys, signals): before the
//! agent starts, the state directory, the start of the snapshot (its rest is
//! copied in the background while the agent runs) and the history for the
//! prompt ([`prepare`]); after it ends, what it changed, its undo record and
//! its history entry ([`finish`]).

use std::path::Path;
use std::sync::atomic::AtomicBool;

use super::diff::FileChange;
use super::history::{relevant, render_for_prompt, History, HistoryEntry};
use super::legacy;
use super::paths::Resolved;
use super::snapshot::{Changed, OnDone, Taking};
use super::undo::record::{Loaded, NotRestorable, Record, RecordedFile, Store};

/// Past attempts shown in a fix prompt.
const HISTORY_IN_PROMPT: usize = 5;

/// What [`prepare`] made ready for a fix.
#[derive(Debug)]
pub struct Prepared {
    snapshot: Taking,
    history: Option<History>,
    store: Option<Store>,
    /// Undo records that existed before this fix.
    records_before: Vec<String>,
    /// The history section of the prompt (empty when there is none).
    pub history_text: String,
    /// To show the user (a corrupt file moved aside, a lock held too long...).
    pub warnings: Vec<String>,
}

impl Prepared {
    /// Files the snapshot captured before the agent starts, and how long
    /// that took (ms), for `-v`.
    pub fn snapshot_before_agent(&self) -> (usize, f64) {
        let (files, took) = self.snapshot.before_agent();
        (files, took.as_secs_f64() * 1000.0)
    }

    /// Tells the snapshot's background copy to stop, without waiting.
    pub fn stop_snapshot(&self) {
        self.snapshot.cancel();
    }

    /// Waits until the snapshot's background copy has ended: as an agent that
    /// thinks that long before its first edit, whose edits are all undoable.
    pub fn wait_for_snapshot(&self) {
        self.snapshot.wait();
    }
}

/// The error a fix is for, as far as the files are concerned.
#[derive(Debug, Clone)]
pub struct Job {
    pub fingerprint: String,
    pub summary: String,
    /// Workspace-relative files the error names: snapshotted first.
    pub files: Vec<String>,
}

/// Everything a fix needs before its agent starts. `None` when `cancel` was
/// set meanwhile (the fix was aborted). `on_copied` is told what the snapshot
/// copied once its background copy ends.
pub fn prepare(
    workspace: &Path,
    job: &Job,
    now: u64,
    cancel: &AtomicBool,
    on_copied: OnDone,
) -> Option<Prepared> {
    let Job {
        fingerprint,
        summary,
        files,
    } = job;
    let mut warnings = Vec::new();
    let state = match legacy::open_state(workspace) {
        Ok((state, w)) => {
            warnings.extend(w);
            Some(state)
        }
        Err(e) => {
            warnings.push(format!(
                "no state directory (history and undo are off for this fix): {e:#}"
            ));
            None
        }
    };
    let store = state.as_ref().and_then(|s| match Store::open(s) {
        Ok(store) => Some(store),
        Err(e) => {
            warnings.push(format!("undo is off for this fix: {e}"));
            None
        }
    });
    let records_before = store
        .as_ref()
        .and_then(|s| s.ids().ok())
        .unwrap_or_default();
    let probe = state.as_ref().map(|s| s.dir());
    let snapshot = Taking::start(workspace, files, probe, cancel, on_copied).ok()?;
    let history = state.map(History::new);
    let history_text = match &history {
        Some(h) => match h.load(now) {
            Ok(loaded) => {
                warnings.extend(loaded.warning);
                let picked = relevant(&loaded.entries, fingerprint, summary, HISTORY_IN_PROMPT);
                render_for_prompt(&picked, fingerprint)
            }
            Err(e) => {
                warnings.push(format!("the fix history is left out of this fix: {e:#}"));
                String::new()
            }
        },
        None => String::new(),
    };
    Some(Prepared {
        snapshot,
        history,
        store,
        records_before,
        history_text,
        warnings,
    })
}

/// How a fix ended, as far as the supervisor knows before looking at files.
#[derive(Debug)]
pub struct Ending {
    /// Files the agent's tools named as edited.
    pub named: Vec<Resolved>,
    /// Every change in the workspace may be the agent's (it ran a shell, or does
    /// not say what it edits).
    pub everything: bool,
    /// Why the attempt failed, if it already did (aborted, timed out, the agent
    /// failed or reported an error).
    pub failure: Option<String>,
    /// The history entry; `success` and `files` are filled in here.
    pub entry: HistoryEntry,
    /// Unix seconds.
    pub now: u64,
}

/// What [`finish`] found.
#[derive(Debug)]
pub struct Finished {
    pub files: Vec<FileChange>,
    pub failure: Option<String>,
    pub warnings: Vec<String>,
    /// The history entry written, to amend once the fix is checked.
    pub recorded: Option<Recorded>,
}

/// An attempt's history entry, written by [`finish`] before the fix was live
/// and checked: a `--verify` check that fails later makes it a failed attempt.
#[derive(Debug, Clone)]
pub struct Recorded {
    history: History,
    time: u64,
    fingerprint: String,
}

impl Recorded {
    /// The fix's check failed: the entry says the attempt failed. File work (a
    /// lock, a read, a write): call it off the event loop. Returns warnings.
    pub fn check_failed(&self, now: u64) -> Vec<String> {
        match self.history.amend(self.time, &self.fingerprint, false, now) {
            Ok(w) => w.into_iter().collect(),
            Err(e) => vec![format!(
                "cannot record the failed check in the fix history: {e:#}"
            )],
        }
    }
}

/// What the fix changed; judges it (no change is a failure); leaves its undo
/// record and its history entry.
pub fn finish(prepared: &Prepared, ending: Ending) -> Finished {
    let mut warnings = Vec::new();
    // What the background copy has not reached by now, the agent's ending
    // cannot make undoable any more: stop it rather than wait.
    let snapshot = prepared.snapshot.stop();
    let mut changed = snapshot.changed(&ending.named, ending.everything);
    if ending.everything {
        if let Some(store) = &prepared.store {
            drop_claimed_by_others(store, &prepared.records_before, &mut changed, ending.now);
        }
    }
    let files: Vec<FileChange> = changed.iter().map(|c| c.change.clone()).collect();
    let failure = ending.failure.or_else(|| {
        files
            .is_empty()
            .then(|| "the agent changed no file".to_string())
    });
    if let (Some(store), false) = (&prepared.store, changed.is_empty()) {
        if let Err(e) = save_record(store, &changed, ending.now) {
            warnings.push(format!("undo will not cover this fix: {e:#}"));
        }
    }
    let mut recorded = None;
    if let Some(h) = &prepared.history {
        let mut entry = ending.entry;
        entry.success = failure.is_none();
        entry.files = files.clone();
        let (time, fingerprint) = (entry.time, entry.fingerprint.clone());
        match h.append(entry, ending.now) {
            Ok(w) => {
                warnings.extend(w);
                recorded = Some(Recorded {
                    history: h.clone(),
                    time,
                    fingerprint,
                });
            }
            Err(e) => warnings.push(format!("cannot write the fix history: {e:#}")),
        }
    }
    Finished {
        files,
        failure,
        warnings,
        recorded,
    }
}

fn save_record(store: &Store, changed: &[Changed], now: u64) -> anyhow::Result<()> {
    let mut files = Vec::new();
    let mut not_restorable = Vec::new();
    for c in changed {
        match (&c.before, &c.change.not_undoable) {
            (Some(before), None) => files.push(RecordedFile {
                path: c.change.path.clone(),
                before: before.clone(),
                after: c.after.clone(),
            }),
            (_, why) => not_restorable.push(NotRestorable {
                path: c.change.path.clone(),
                reason: why.clone().unwrap_or_else(|| "not captured".into()),
            }),
        }
    }
    let _lock = store.lock()?;
    store.add_now(&Record::new(now, files, not_restorable))?;
    Ok(())
}

/// Another otorepair process on this workspace finished a fix while ours ran:
/// the files its record claims, still as it left them, are its work, not ours.
fn drop_claimed_by_others(store: &Store, before: &[String], changed: &mut Vec<Changed>, now: u64) {
    let Ok(_lock) = store.lock() else { return };
    let Ok(ids) = store.ids() else { return };
    let mut theirs: Vec<(String, Option<String>)> = Vec::new();
    for id in ids.iter().filter(|id| !before.contains(id)) {
        if let Ok(Loaded::Record(r)) = store.load(id, now) {
            theirs.extend(r.files.into_iter().map(|f| (f.path, f.after)));
        }
    }
    changed.retain(|c| {
        !theirs
            .iter()
            .any(|(path, after)| *path == c.change.path && *after == c.after)
    });
}

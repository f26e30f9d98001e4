//! Taking a snapshot: the part before the agent starts, then the rest on a
//! worker thread while it runs (see the parent module for why it is sound).

use std::fmt;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::super::confined;
use super::epoch::Epoch;
use super::{walk, Reach, Snapshot, BEFORE_AGENT, MAX_FILES};

/// The snapshot was cancelled before the agent started (the fix was aborted).
#[derive(Debug)]
pub struct Cancelled;

/// What a snapshot copied, for `-v`.
#[derive(Debug, Clone)]
pub struct Report {
    pub copied: usize,
    pub stat_only: usize,
    pub bytes: u64,
    pub reach: Reach,
    /// Files captured before the agent started, and how long that took.
    pub before_agent: usize,
    pub before_agent_time: Duration,
    /// From the start to the end of the copy.
    pub took: Duration,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match self.reach {
            Reach::Complete => "complete".to_string(),
            Reach::Limit => format!("stopped at {MAX_FILES} files"),
            Reach::Stopped => "stopped (the fix ended first)".to_string(),
        };
        write!(
            f,
            "snapshot {how}: {} files copied ({} bytes), {} only stat-ed, in {:.1} ms \
             ({} before the agent started, in {:.1} ms)",
            self.copied,
            self.bytes,
            self.stat_only,
            self.took.as_secs_f64() * 1000.0,
            self.before_agent,
            self.before_agent_time.as_secs_f64() * 1000.0
        )
    }
}

/// Told once, when the copy ends.
pub type OnDone = Box<dyn FnOnce(&Report) + Send>;

/// A snapshot whose copy may still run on a worker thread. Dropping it stops
/// the copy.
pub struct Taking {
    cancel: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<Option<Snapshot>>>>,
    done: OnceLock<Snapshot>,
    /// For a copy thread that panicked: an empty snapshot of this workspace,
    /// which makes every change "not undoable" rather than unseen.
    spare: (std::path::PathBuf, Epoch),
    /// Files captured before the agent started, and how long that took.
    early: (usize, Duration),
}

impl fmt::Debug for Taking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Taking")
            .field("done", &self.done.get().is_some())
            .finish()
    }
}

impl Drop for Taking {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl Snapshot {
    /// What is copied before the agent starts, `limit` files at most besides
    /// the error's own (`first`, workspace-relative): those, then the other
    /// files of their directories and of the workspace's top (the next
    /// likeliest edits, which a depth-first walk may reach last), then the
    /// walk. Checks `cancel` between files. Returns the rest of the walk.
    fn before_agent(
        &mut self,
        first: &[String],
        limit: usize,
        cancel: &AtomicBool,
    ) -> Result<Option<walk::Files>, Cancelled> {
        let mut dirs = Vec::new();
        for rel in first {
            let Ok(meta) = fs::symlink_metadata(self.workspace.join(rel)) else {
                continue;
            };
            let plain = confined::is_plain_relative(rel) && meta.file_type().is_file();
            if plain && walk::left_out(&self.workspace, rel).is_none() {
                self.capture(rel.clone(), &meta, true);
                let dir = rel.rsplit_once('/').map_or("", |(dir, _)| dir);
                if !dirs.contains(&dir) {
                    dirs.push(dir);
                }
            }
        }
        if !dirs.contains(&"") {
            dirs.push("");
        }
        let limit = limit + self.kept.len() + self.not_kept.len();
        let room = |snap: &Snapshot| snap.kept.len() + snap.not_kept.len() < limit;
        for dir in dirs {
            for (rel, meta) in walk::files_in(&self.workspace, dir) {
                if cancel.load(Ordering::Relaxed) {
                    return Err(Cancelled);
                }
                if !room(self) {
                    break;
                }
                self.capture(rel, &meta, true);
            }
        }
        let mut files = walk::files(&self.workspace);
        while room(self) {
            if cancel.load(Ordering::Relaxed) {
                return Err(Cancelled);
            }
            let Some((rel, meta)) = files.next() else {
                self.reach = Reach::Complete;
                return Ok(None);
            };
            self.walked += 1;
            self.capture(rel, &meta, true);
        }
        Ok(Some(files))
    }

    /// The rest of the walk, while the agent runs, until it ends, reaches
    /// [`MAX_FILES`], or `cancel` is set.
    fn in_background(&mut self, mut files: walk::Files, cancel: &AtomicBool) {
        self.reach = loop {
            if cancel.load(Ordering::Relaxed) {
                break Reach::Stopped;
            }
            if self.walked >= MAX_FILES {
                break Reach::Limit;
            }
            let Some((rel, meta)) = files.next() else {
                break Reach::Complete;
            };
            self.walked += 1;
            self.capture(rel, &meta, false);
        };
    }

    fn report(&self, before_agent: usize, before_agent_time: Duration, took: Duration) -> Report {
        let (copied, stat_only, bytes) = self.counts();
        Report {
            copied,
            stat_only,
            bytes,
            reach: self.reach,
            before_agent,
            before_agent_time,
            took,
        }
    }
}

/// What the worker thread copies.
struct Rest {
    snap: Snapshot,
    files: walk::Files,
    on_done: OnDone,
    /// Files captured before the agent, and when that was done.
    early: (usize, Duration),
    started: Instant,
}

impl Rest {
    fn take_and_run(slot: &Mutex<Option<Rest>>, cancel: &AtomicBool) -> Option<Snapshot> {
        let Rest {
            mut snap,
            files,
            on_done,
            early,
            started,
        } = slot.lock().ok()?.take()?;
        snap.in_background(files, cancel);
        on_done(&snap.report(early.0, early.1, started.elapsed()));
        Some(snap)
    }
}

impl Taking {
    /// Starts the snapshot of `workspace`: returns once what must be copied
    /// before the agent starts is (see the parent module), the rest being
    /// copied on a worker thread. `probe_dir`: otorepair's state directory,
    /// to read the filesystem's clock ([`super::epoch`]). `on_done` is told
    /// what was copied when the copy ends (on whichever thread ends it).
    pub fn start(
        workspace: &Path,
        first: &[String],
        probe_dir: Option<&Path>,
        cancel: &AtomicBool,
        on_done: OnDone,
    ) -> Result<Taking, Cancelled> {
        Self::start_with(workspace, first, probe_dir, BEFORE_AGENT, cancel, on_done)
    }

    fn start_with(
        workspace: &Path,
        first: &[String],
        probe_dir: Option<&Path>,
        before_agent: usize,
        cancel: &AtomicBool,
        on_done: OnDone,
    ) -> Result<Taking, Cancelled> {
        let started = Instant::now();
        let starting = Epoch::begin(probe_dir);
        // The epoch is settled below, before anything is read in the background.
        let mut snap = Snapshot::empty(workspace, starting.so_far());
        let rest = snap.before_agent(first, before_agent, cancel)?;
        snap.epoch = starting.settle(workspace);
        let early = (snap.counts().0 + snap.counts().1, started.elapsed());
        let taking = Taking {
            cancel: Arc::new(AtomicBool::new(false)),
            thread: Mutex::new(None),
            done: OnceLock::new(),
            spare: (workspace.to_path_buf(), snap.epoch.clone()),
            early,
        };
        let Some(rest) = rest else {
            on_done(&snap.report(early.0, early.1, started.elapsed()));
            let _ = taking.done.set(snap);
            return Ok(taking);
        };
        let rest = Rest {
            snap,
            files: rest,
            on_done,
            early,
            started,
        };
        // Moved into the thread, or run here when no thread can be started
        // (`Builder::spawn` consumes the closure even when it fails).
        let work = Arc::new(Mutex::new(Some(rest)));
        let spare = work.clone();
        let cancel = taking.cancel.clone();
        let spawned = std::thread::Builder::new()
            .name("fix-snapshot".into())
            .spawn(move || Rest::take_and_run(&spare, &cancel));
        match spawned {
            Ok(handle) => {
                if let Ok(mut slot) = taking.thread.lock() {
                    *slot = Some(handle);
                }
            }
            Err(_) => {
                if let Some(snap) = Rest::take_and_run(&work, &AtomicBool::new(false)) {
                    let _ = taking.done.set(snap);
                }
            }
        }
        Ok(taking)
    }

    /// Files captured before the agent started, and how long that took.
    pub fn before_agent(&self) -> (usize, Duration) {
        self.early
    }

    /// The snapshot, once its copy has ended by itself.
    pub fn wait(&self) -> &Snapshot {
        self.done.get_or_init(|| {
            let handle = self.thread.lock().ok().and_then(|mut t| t.take());
            handle
                .and_then(|h| h.join().ok().flatten())
                .unwrap_or_else(|| Snapshot::empty(&self.spare.0, self.spare.1.clone()))
        })
    }

    /// Tells the copy to stop (within a file), without waiting.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// The snapshot as far as it got: the copy is stopped.
    pub fn stop(&self) -> &Snapshot {
        self.cancel();
        self.wait()
    }

    #[cfg(test)]
    pub(super) fn into_snapshot(mut self) -> Snapshot {
        self.stop();
        self.done.take().expect("stopped")
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::write;
    use super::*;

    fn start(d: &Path, first: &[String], before_agent: usize) -> Taking {
        let start = Taking::start_with(d, first, Some(d), before_agent, &AtomicBool::new(false), {
            Box::new(|_| {})
        });
        start.unwrap()
    }

    #[test]
    fn a_small_tree_is_copied_before_the_agent_and_a_big_one_after() {
        let ws = tempfile::TempDir::new().unwrap();
        let d = ws.path();
        for i in 0..20 {
            write(d, &format!("src/m{i:02}.py"), b"x\n");
        }
        let taking = start(d, &[], 100);
        assert!(taking.thread.lock().unwrap().is_none());
        assert_eq!(taking.wait().counts().0, 20);
        let taking = start(d, &["src/m19.py".into()], 5);
        let snap = taking.wait();
        assert_eq!(snap.counts().0, 20);
        assert_eq!(snap.reach(), Reach::Complete);
        assert!(snap.kept.contains_key("src/m19.py"));
    }

    #[test]
    fn before_the_agent_the_error_s_neighbours_and_the_top_come_first() {
        let ws = tempfile::TempDir::new().unwrap();
        let d = ws.path();
        for i in 0..50 {
            write(d, &format!("a/deep/m{i:02}.py"), b"x\n");
            write(d, &format!("z/deep/m{i:02}.py"), b"x\n");
        }
        write(d, "app.py", b"x\n");
        write(d, "pkg/views.py", b"x\n");
        write(d, "pkg/models.py", b"x\n");
        let mut snap = Snapshot::empty(d, Epoch::begin(None).so_far());
        let first = ["pkg/views.py".to_string()];
        let rest = snap.before_agent(&first, 2, &AtomicBool::new(false));
        assert!(rest.unwrap().is_some());
        let mut got: Vec<&str> = snap.kept.keys().map(|k| &**k).collect();
        got.sort();
        assert_eq!(got, ["app.py", "pkg/models.py", "pkg/views.py"]);
    }

    #[test]
    fn stopping_or_cancelling_ends_the_copy() {
        let ws = tempfile::TempDir::new().unwrap();
        let d = ws.path();
        for i in 0..3000 {
            write(d, &format!("d{}/m{i}.py", i % 30), b"x\n");
        }
        let taking = start(d, &[], 0);
        let snap = taking.stop();
        assert!(snap.walked <= 3000);
        if snap.walked < 3000 {
            assert_eq!(snap.reach(), Reach::Stopped);
        }
        let cancelled = Taking::start(d, &[], Some(d), &AtomicBool::new(true), Box::new(|_| {}));
        assert!(cancelled.is_err());
    }
}

//! After a fix: knowing, not hoping, that the command runs the fixed code.
//!
//! A fix is *landing* until there is evidence that the command picked it up:
//! a worker of the command's tree replaced by a new process (Werkzeug,
//! uvicorn, Django and nodemon restart a worker), or a line in which a
//! reloader says it took the change (Vite's `hmr update`, tsc's `File change
//! detected`), or our own restart. A reloader's first line is not the end:
//! uvicorn's old worker still answers for a moment after `Reloading...`, and a
//! restarted worker takes a second to start. So the fix is *live* once, after
//! the evidence, (1) the processes that came and went have spoken since (the
//! new worker's start-up line), (2) the output has been quiet for [`QUIET`]
//! (request log lines do not count: a server answering requests is serving),
//! and (3) no error block is still open (the old code's last traceback settles
//! first, and is ignored); or at the latest [`SETTLE_CAP`] after the evidence.
//!
//! While landing, the fixed error coming back is the old code still running:
//! it is not counted, not triaged, not sent to an agent; the old code crashing
//! with it is restarted with the fix ([`Supervisor::old_code_crashed`]). A
//! block held back in case the command was exiting, released meanwhile, is
//! the old code's too. Other errors wait
//! until the fix is live. With `--on-fix auto`, no evidence within
//! `--reload-timeout` means the command has no reloader (or missed the change):
//! otorepair restarts it. The tree is listed every [`LOOK_EVERY`] only during
//! that bounded wait.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use nix::unistd::Pid;

use crate::agent::AfterFix;
use crate::cli::OnFix;
use crate::detect::ErrorBlock;
use crate::heal::attempt::Recorded;
use crate::heal::events::{Event as Ev, Evidence, FixPath};
use crate::os::{command_tree, ProcessInfo};
use crate::status;

mod lines;

use lines::{is_request_log, says_reloaded};

use super::fix::{describe_changes, Applied};
use super::heal::{millis, FixJob, Phase};
use super::Supervisor;

/// How often the tree is listed while waiting for a reload.
const LOOK_EVERY: Duration = Duration::from_millis(100);
/// Output quiet this long after the evidence: the new code is up.
const QUIET: Duration = Duration::from_millis(500);
/// A chatty command is taken as live this long after the evidence regardless.
const SETTLE_CAP: Duration = Duration::from_secs(5);
/// Errors other than the fixed one kept while landing, handled once live.
const WAITING_MAX: usize = 4;

/// A process of the command this old when the fix started is one of its
/// workers; a younger one may be a helper it runs for a request.
const WORKER_AGE: Duration = Duration::from_secs(1);

/// What the command looked like when the fix started, and what it has said since.
pub(super) struct Watch {
    root: Pid,
    before: HashSet<i32>,
    /// The processes of `before` that had run for [`WORKER_AGE`] (or whose age
    /// is unknown).
    workers: HashSet<i32>,
    /// When the command first said it took a change, since the fix started.
    said: Option<Instant>,
}

impl Watch {
    pub(super) fn start(root: Pid) -> Watch {
        let tree = command_tree(root);
        Watch {
            root,
            before: tree.iter().map(|p| p.pid).collect(),
            workers: tree
                .iter()
                .filter(|p| p.age.is_none_or(|a| a >= WORKER_AGE))
                .map(|p| p.pid)
                .collect(),
            said: None,
        }
    }

    /// A process of the tree that replaced a worker: see [`replacement`].
    fn new_process(&self) -> Option<i32> {
        replacement(&self.before, &self.workers, &command_tree(self.root))
    }

    fn evidence(&self) -> Option<Evidence> {
        if self.said.is_some() {
            return Some(Evidence::Output);
        }
        self.new_process().map(|_| Evidence::Process)
    }
}

/// How the fixed code gets loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arrival {
    /// The command's own reloader, watched for (`--on-fix auto`).
    Reload,
    /// otorepair restarted the command.
    Restarted,
    /// Nobody we know of (`--on-fix wait`): taken as live at once.
    Unknown,
}

enum Stage {
    /// Waiting for evidence; restart at `until`.
    Waiting { until: Instant, next_look: Instant },
    /// Evidence seen at `since`: live once settled, or at `since + SETTLE_CAP`.
    Settling(Settling),
}

struct Settling {
    evidence: Evidence,
    since: Instant,
    /// The tree at the last look, and when it last changed (a worker went or came).
    tree: HashSet<i32>,
    changed: Option<Instant>,
    next_look: Instant,
    /// The command's last line, and its last line that was not a request log.
    spoke: Option<Instant>,
    busy: Option<Instant>,
}

impl Settling {
    fn new(evidence: Evidence, since: Instant, root: Option<Pid>) -> Settling {
        Settling {
            evidence,
            since,
            tree: root.map(tree_pids).unwrap_or_default(),
            // A new process (ours, or the reloader's) has yet to speak.
            changed: matches!(evidence, Evidence::Restart | Evidence::Process).then_some(since),
            next_look: since,
            spoke: None,
            busy: None,
        }
    }
}

/// A reloader replaces a worker: one that ran when the fix started is gone and
/// a process that was not there runs (its pid). A process that merely appears
/// is no evidence: a server that runs a helper per request (a shell command, a
/// compiler service) shows new processes all the time without reloading.
fn replacement(before: &HashSet<i32>, workers: &HashSet<i32>, now: &[ProcessInfo]) -> Option<i32> {
    let alive: HashSet<i32> = now.iter().map(|p| p.pid).collect();
    if workers.iter().all(|pid| alive.contains(pid)) {
        return None;
    }
    now.iter().map(|p| p.pid).find(|pid| !before.contains(pid))
}

fn tree_pids(root: Pid) -> HashSet<i32> {
    command_tree(root).into_iter().map(|p| p.pid).collect()
}

/// A successful fix on its way to being live.
pub(super) struct Landing {
    pub(super) job: FixJob,
    /// `app.py +1 -1, lib.py +3 -0`, for the record printed once live.
    pub(super) changes: String,
    fix_ended: Instant,
    watch: Option<Watch>,
    stage: Stage,
    /// Other errors that settled meanwhile.
    pub(super) waiting: Vec<ErrorBlock>,
    /// The attempt's history entry: a failing `--verify` check amends it.
    pub(super) recorded: Option<Recorded>,
}

impl Landing {
    /// The command was restarted since the fix: it runs the fixed code.
    fn restarted(&self) -> bool {
        matches!(&self.stage, Stage::Settling(s) if s.evidence == Evidence::Restart)
    }
}

/// What the prompt may promise about the running command after the fix.
pub(super) fn after_fix_for(path: FixPath, on_fix: OnFix) -> AfterFix {
    match (path, on_fix) {
        (FixPath::Crash, _) | (_, OnFix::Restart) => AfterFix::Restart,
        (FixPath::Live, OnFix::Auto) => AfterFix::ReloadOrRestart,
        (FixPath::Live, OnFix::Wait) => AfterFix::Nothing,
    }
}

impl Supervisor {
    /// A live fix starts: remember the command's processes, to tell a restarted
    /// worker afterwards.
    pub(super) fn watch_for_reload(&mut self) {
        self.watch = self
            .child
            .as_ref()
            .filter(|r| r.exit.is_none())
            .map(|r| Watch::start(r.pid));
    }

    /// A line from the command: a reloader saying it took the change, or output
    /// that keeps a landing fix from looking settled.
    pub(super) fn reload_line(&mut self, text: &str, now: Instant) {
        let redactor = &self.redactor;
        let watch = match &mut self.phase {
            Phase::Reloading(landing) => {
                if let Stage::Settling(s) = &mut landing.stage {
                    s.spoke = Some(now);
                    if !is_request_log(text) {
                        s.busy = Some(now);
                    }
                }
                landing.watch.as_mut()
            }
            _ => self.watch.as_mut(),
        };
        if let Some(w) = watch.filter(|w| w.said.is_none()) {
            if says_reloaded(text) {
                status::debug(1, &format!("reload seen: {}", redactor.redact(text.trim())));
                w.said = Some(now);
            }
        }
    }

    /// A successful fix: wait for it to be live (`arrival` says how it gets
    /// loaded), then verify and say what changed.
    pub(super) fn land(&mut self, job: FixJob, applied: Applied, arrival: Arrival) -> Option<i32> {
        let now = Instant::now();
        let watch = self.watch.take().filter(|_| arrival == Arrival::Reload);
        let root = self.child.as_ref().map(|r| r.pid);
        let stage = match arrival {
            Arrival::Restarted => Stage::Settling(Settling::new(Evidence::Restart, now, root)),
            Arrival::Unknown => Stage::Settling(Settling::new(
                Evidence::Assumed,
                now.checked_sub(SETTLE_CAP).unwrap_or(now),
                None,
            )),
            Arrival::Reload => Stage::Waiting {
                until: now + self.cfg.heal.reload_timeout,
                next_look: now,
            },
        };
        let mut landing = Box::new(Landing {
            job,
            changes: describe_changes(&applied.files),
            fix_ended: now,
            watch,
            stage,
            waiting: Vec::new(),
            recorded: applied.recorded,
        });
        if arrival == Arrival::Reload {
            match landing.watch.as_ref().and_then(Watch::evidence) {
                // The reloader was quicker than the agent's last words.
                Some(evidence) => self.seen_evidence(&mut landing, evidence, now),
                None => status::info(&format!(
                    "Waiting for hot-reload (restarting in {}s if none is seen)...",
                    self.cfg.heal.reload_timeout.as_secs_f64()
                )),
            }
        }
        self.phase = Phase::Reloading(landing);
        if arrival == Arrival::Unknown {
            return self.on_landing_deadline(now);
        }
        None
    }

    fn seen_evidence(&mut self, landing: &mut Landing, evidence: Evidence, now: Instant) {
        status::debug(1, &format!("reload evidence: {evidence:?}"));
        self.emit(Ev::Reload {
            fingerprint: landing.job.fingerprint.clone(),
            evidence,
            after_ms: millis(now.saturating_duration_since(landing.fix_ended)),
        });
        let root = self.child.as_ref().map(|r| r.pid);
        landing.stage = Stage::Settling(Settling::new(evidence, now, root));
    }

    /// While a fix lands, is this block the fixed error from the old code?
    pub(super) fn is_old_code(&self, block: &ErrorBlock) -> bool {
        let Phase::Reloading(landing) = &self.phase else {
            return false;
        };
        let old = block.fingerprint == landing.job.fingerprint && !landing.restarted();
        if old {
            self.debug_block(1, block, |s| {
                format!("old code still running (fix not live yet): {s}")
            });
        }
        old
    }

    /// The command crashed with `fingerprint` (the phase is still the landing
    /// fix's, if any): when that is the fixed error and the command has not
    /// been restarted since the fix, the old code crashed, which says nothing
    /// about the fix. It is restarted (the restart is the evidence), and
    /// nothing is counted: `Some(exit)`. `None`: a crash to fix; the landing,
    /// if any, is over.
    pub(super) fn old_code_crashed(&mut self, fingerprint: &str) -> Option<Option<i32>> {
        let Phase::Reloading(landing) = &self.phase else {
            return None;
        };
        let old = !landing.restarted() && landing.job.fingerprint == fingerprint;
        let Phase::Reloading(mut landing) = std::mem::replace(&mut self.phase, Phase::Running)
        else {
            return None;
        };
        if !old {
            return None;
        }
        status::info("The old code crashed before the fix was live: restarting with the fix.");
        if let Some(code) = self.restart() {
            return Some(Some(code));
        }
        self.seen_evidence(&mut landing, Evidence::Restart, Instant::now());
        self.phase = Phase::Reloading(landing);
        Some(None)
    }

    /// When the landing fix needs attention next.
    pub(super) fn landing_deadline(&self) -> Option<Instant> {
        let Phase::Reloading(landing) = &self.phase else {
            return None;
        };
        Some(match &landing.stage {
            Stage::Waiting { until, next_look } => (*until).min(*next_look),
            Stage::Settling(s) => s.next_look.min(self.settled_at(s)),
        })
    }

    /// When the settling fix is live, as far as is known now (see the module docs).
    fn settled_at(&self, s: &Settling) -> Instant {
        let cap = s.since + SETTLE_CAP;
        if s.changed.is_some_and(|c| s.spoke.is_none_or(|t| t <= c)) {
            return cap; // a worker came or went and has not spoken since
        }
        let quiet = s.busy.map_or(s.since, |b| b.max(s.since)) + QUIET;
        let open_block = self.detector.deadline().unwrap_or(quiet);
        quiet.max(open_block).min(cap)
    }

    /// A landing deadline passed: look for a new process, restart after the
    /// reload timeout, or go live once settled.
    pub(super) fn on_landing_deadline(&mut self, now: Instant) -> Option<i32> {
        let Phase::Reloading(landing) = &mut self.phase else {
            return None;
        };
        match landing.stage {
            Stage::Waiting { until, next_look } => {
                // The output is free to check; the process list only at its time.
                let evidence = landing
                    .watch
                    .as_ref()
                    .filter(|w| w.said.is_some() || now >= next_look)
                    .and_then(Watch::evidence);
                if let Some(evidence) = evidence {
                    let Phase::Reloading(mut landing) =
                        std::mem::replace(&mut self.phase, Phase::Running)
                    else {
                        return None;
                    };
                    self.seen_evidence(&mut landing, evidence, now);
                    self.phase = Phase::Reloading(landing);
                    return None;
                }
                if now >= until {
                    return self.restart_for_landing();
                }
                if now >= next_look {
                    landing.stage = Stage::Waiting {
                        until,
                        next_look: now + LOOK_EVERY,
                    };
                }
                None
            }
            Stage::Settling(_) => {
                let root = self.child.as_ref().map(|r| r.pid);
                if let (Phase::Reloading(landing), Some(root)) = (&mut self.phase, root) {
                    if let Stage::Settling(s) = &mut landing.stage {
                        if now >= s.next_look {
                            let tree = tree_pids(root);
                            if tree != s.tree {
                                s.tree = tree;
                                s.changed = Some(now);
                            }
                            s.next_look = now + LOOK_EVERY;
                        }
                    }
                }
                let Phase::Reloading(landing) = &self.phase else {
                    return None;
                };
                let Stage::Settling(s) = &landing.stage else {
                    return None;
                };
                if now < self.settled_at(s) {
                    return None;
                }
                let Phase::Reloading(landing) = std::mem::replace(&mut self.phase, Phase::Running)
                else {
                    return None;
                };
                self.went_live(landing)
            }
        }
    }

    /// No reload seen in time: restart the command; the restart is the evidence.
    fn restart_for_landing(&mut self) -> Option<i32> {
        let Phase::Reloading(mut landing) = std::mem::replace(&mut self.phase, Phase::Running)
        else {
            return None;
        };
        status::info(&format!(
            "no reload seen in {}s; restarting",
            self.cfg.heal.reload_timeout.as_secs_f64()
        ));
        if let Some(code) = self.restart_running() {
            return Some(code);
        }
        let now = Instant::now();
        self.seen_evidence(&mut landing, Evidence::Restart, now);
        self.phase = Phase::Reloading(landing);
        None
    }

    /// The fixed code is serving: say what changed (after any screen clear the
    /// reload made), then run the user's check or carry on.
    fn went_live(&mut self, landing: Box<Landing>) -> Option<i32> {
        self.emit(Ev::Live {
            fingerprint: landing.job.fingerprint.clone(),
        });
        self.print_fix_record(&landing);
        if self.cfg.heal.verify.is_some() {
            return self.start_verify(landing);
        }
        self.resume(landing.waiting);
        None
    }

    /// `[otorepair] fixed KeyError: 'total' in index (app.py) · app.py +1 -1 · otorepair undo to revert`
    fn print_fix_record(&self, landing: &Landing) {
        let changes = if landing.changes.is_empty() {
            String::new()
        } else {
            format!(" · {}", landing.changes)
        };
        status::info(&format!(
            "fixed {}{changes} · otorepair undo to revert",
            crate::text::ellipsize(&landing.job.summary, 120)
        ));
    }

    /// Back to running: the errors that waited are handled now.
    pub(super) fn resume(&mut self, waiting: Vec<ErrorBlock>) {
        self.phase = Phase::Running;
        for block in waiting {
            self.on_suspect(block);
        }
    }

    /// An error other than the fixed one settled while landing: later.
    pub(super) fn keep_for_later(&mut self, block: ErrorBlock) -> Option<ErrorBlock> {
        // Redacted only for a `-v` line.
        let summary = (status::verbosity() >= 1)
            .then(|| self.redactor.redact_excerpt(&block.summary, &block.text()));
        let waiting = match &mut self.phase {
            Phase::Reloading(landing) => &mut landing.waiting,
            Phase::Verifying(check) => &mut check.landing.waiting,
            _ => return Some(block),
        };
        if !waiting.iter().any(|b| b.fingerprint == block.fingerprint)
            && waiting.len() < WAITING_MAX
        {
            if let Some(summary) = summary {
                status::debug(1, &format!("after the fix is live: {summary}"));
            }
            waiting.push(block);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(pid: i32) -> ProcessInfo {
        ProcessInfo {
            pid,
            ppid: 1,
            pgid: 1,
            sid: 1,
            age: None,
            children_cpu: None,
            name: "python3".into(),
        }
    }

    #[test]
    fn a_replaced_worker_is_evidence_and_a_helper_coming_and_going_is_not() {
        let tree = |pids: &[i32]| pids.iter().map(|&p| process(p)).collect::<Vec<_>>();
        let set = |pids: &[i32]| pids.iter().copied().collect::<HashSet<i32>>();
        // The reloader (1) and its worker (2) when the fix started; 3 was a helper.
        let (before, workers) = (set(&[1, 2, 3]), set(&[1, 2]));
        // A helper per request: the worker still runs.
        assert_eq!(replacement(&before, &workers, &tree(&[1, 2, 4])), None);
        assert_eq!(replacement(&before, &workers, &tree(&[1, 2])), None);
        // The reloader restarted the worker.
        assert_eq!(replacement(&before, &workers, &tree(&[1, 5])), Some(5));
        // The old worker went, the new one is not up yet.
        assert_eq!(replacement(&before, &workers, &tree(&[1])), None);
    }
}

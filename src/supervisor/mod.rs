//! The supervisor: the one place that knows the order of things. It owns the event
//! loop (one channel, waiting on deadlines, never polling), the child's life cycle,
//! and the way out; `heal` (with `triage`, `fix`) holds the crash and live-error
//! paths, `lifecycle` the child, `startup` the checks before it starts.

mod environment;
mod exit;
mod fix;
mod fix_run;
mod heal;
mod hold;
mod lifecycle;
mod reload;
mod startup;
mod triage;
mod verify;

use crate::os::process_stopped;
use lifecycle::stop_group;
use startup::check_backend;

use std::collections::{HashMap, HashSet};

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::agent::{AgentOutput, BlockingOutput};
use crate::child::{ChildEvent, ExitStatus};
use crate::cli::{Config, Mode};
use crate::detect::{DetectSettings, Detector};
use crate::heal::attempt::{Finished, Prepared};
use crate::heal::events::{Event as Ev, EventLog};
use crate::heal::Breaker;
use crate::input::{self, InputEvent, InputRouter};
use crate::output::{Gone, Output};
use crate::redact::Redactor;
use crate::screen::ModeFlags;
use crate::status;
use crate::term::{self, RawMode};
use heal::Phase;

/// How long a stopped child gets between SIGTERM and SIGKILL.
use crate::os::group::GRACE as STOP_GRACE;
/// After the child exits, how long output may keep trickling in (a grandchild can
/// hold the PTY open) before we stop waiting for the end of output.
const DRAIN_QUIET: Duration = Duration::from_millis(200);
const DRAIN_MAX: Duration = Duration::from_secs(2);
/// How long the panic hook waits for the modes reset to be written.
const PANIC_WRITE: Duration = Duration::from_millis(500);

/// Everything that can happen, on one channel.
#[derive(Debug)]
pub enum Event {
    /// From the child of generation `gen` (older generations are ignored).
    Child(u64, ChildEvent),
    Input(InputEvent),
    Signal(i32),
    /// Output of the fix agent run `token`.
    Agent(u64, AgentOutput),
    /// The triage run `token` ended, after the given time.
    Triage(u64, Result<BlockingOutput, String>, Duration),
    /// A file in the workspace changed (only watched after giving up on a crash).
    FileChanged,
    /// The file work before fix `token` is done (`None`: it was cancelled).
    FixPrepared(u64, Option<Box<Prepared>>),
    /// The file work after fix `token` is done.
    FixFinished(u64, Box<Finished>),
    /// The `--verify` check run `token` ended, after the given time, with the
    /// warnings of amending the history when it failed.
    Verified(u64, Result<BlockingOutput, String>, Duration, Vec<String>),
}

/// The running child as the supervisor tracks it.
struct Running {
    gen: u64,
    pid: Pid,
    /// Every output stream ended.
    output_ended: bool,
    exit: Option<ExitStatus>,
    last_output: Instant,
    exited_at: Option<Instant>,
}

pub struct Supervisor {
    cfg: Config,
    tx: Sender<Event>,
    rx: Receiver<Event>,
    output: Arc<Output>,
    modes: ModeFlags,
    router: Arc<InputRouter>,
    raw: Option<RawMode>,
    /// The user's terminal, when otorepair owns it (stdin a terminal, foreground).
    tty_fd: Option<i32>,
    user_termios: Option<nix::sys::termios::Termios>,
    gen: u64,
    child: Option<Running>,
    master: Option<Arc<std::fs::File>>,
    /// The user's last Ctrl-C (forwarded to the child, or SIGINT to us): an
    /// exit soon after it is their stop, not a crash (see `exit::INTERRUPT_WINDOW`).
    last_ctrl_c: Option<Instant>,
    /// otorepair is exiting because of a signal (or a double Ctrl-C): the way
    /// out does not wait long on the terminal.
    exit_signalled: bool,
    /// The terminal was given back for a suspend (its modes reset), and is to
    /// be taken again once otorepair is continued in the foreground.
    terminal_given_back: bool,
    detector: Detector,
    breaker: Breaker,
    events: Option<EventLog>,
    redactor: Redactor,
    phase: Phase,
    /// Errors whose auto-fix is paused (breaker tripped while alive, or declined).
    paused: HashSet<String>,
    /// Triage verdicts per fingerprint, for the session.
    triage_cache: HashMap<String, bool>,
    /// Errors whose triage failed, held back from triage for a while.
    triage_retry: triage::TriageRetry,
    /// Identifies agent runs, so output of an abandoned run is ignored.
    token: u64,
    /// Events that arrived while the loop was busy stopping the child, handled next.
    deferred: std::collections::VecDeque<Event>,
    /// The command's processes when the current live fix started (reload evidence).
    watch: Option<reload::Watch>,
    /// Which processes the command had, and a block waiting to see if it crashes.
    tree: hold::TreeMemory,
}

/// A problem found before the command starts: exit 2 with this message and hint.
pub struct StartupError {
    pub message: String,
    pub hint: Option<String>,
}

impl Supervisor {
    /// Checks everything that can be wrong before the command starts.
    pub fn new(cfg: Config) -> Result<Self, StartupError> {
        let (tx, rx) = mpsc::channel();
        let output = Output::new();
        status::init(cfg.verbosity, output.clone());
        let tty_fd = (term::is_tty(0) && term::is_foreground(0)).then_some(0);
        let user_termios = tty_fd.and_then(term::get_termios);
        let detector = Detector::new(DetectSettings {
            settle: cfg.heal.settle,
            extra_patterns: cfg.heal.detect_patterns.clone(),
            extra_ignores: cfg.heal.detect_ignores.clone(),
        })
        .map_err(|e| StartupError {
            message: format!("bad detection pattern: {e}"),
            hint: None,
        })?;
        let events = match &cfg.heal.events {
            Some(path) => Some(EventLog::open(path).map_err(|e| StartupError {
                message: format!("--events: {e:#}"),
                hint: Some("give a file path otorepair can append to".into()),
            })?),
            None => None,
        };
        if !cfg.heal.dry_run {
            check_backend(&cfg)?;
        }
        // vars() panics on a name or value that is not UTF-8; such a secret is
        // matched as the screen decodes it (invalid bytes replaced), so the lossy
        // form is the one to mask.
        let env: Vec<(String, String)> = std::env::vars_os()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            })
            .collect();
        let breaker = Breaker::new(cfg.heal.max_attempts);
        Ok(Supervisor {
            cfg,
            tx,
            rx,
            output,
            modes: ModeFlags::default(),
            router: Arc::new(InputRouter::default()),
            raw: None,
            tty_fd,
            user_termios,
            gen: 0,
            child: None,
            master: None,
            last_ctrl_c: None,
            exit_signalled: false,
            terminal_given_back: false,
            detector,
            breaker,
            events,
            redactor: Redactor::from_env(&env),
            phase: Phase::Running,
            paused: HashSet::new(),
            triage_cache: HashMap::new(),
            triage_retry: triage::TriageRetry::default(),
            token: 0,
            deferred: std::collections::VecDeque::new(),
            watch: None,
            tree: hold::TreeMemory::default(),
        })
    }

    /// Runs the command until otorepair should exit; returns the exit code.
    pub fn run(mut self) -> i32 {
        // Whatever we start from here on is stopped if we die: by the guardian
        // after a SIGKILL, by the panic hook after a panic.
        if let Err(e) = crate::guardian::start() {
            status::debug(
                1,
                &format!("no guardian ({e}): a SIGKILL would leave processes running"),
            );
        }
        let (output, modes) = (self.output.clone(), self.modes.clone());
        term::install_panic_hook(move || {
            crate::guardian::stop_all_now();
            if term::raw_active() {
                output.write_on_panic(1, &modes.reset_sequence(), PANIC_WRITE);
            }
        });
        self.start_signal_thread();
        if self.cfg.mode == Mode::Pty {
            if let Some(fd) = self.tty_fd {
                self.enter_raw(fd);
            }
            // A background job must not read the terminal (SIGTTIN would stop
            // it): it reads keys once brought to the foreground.
            if term::is_tty(0) && self.tty_fd.is_none() {
                self.router.set_background(true);
            }
            let tx = self.tx.clone();
            input::start(self.router.clone(), move |e| {
                let _ = tx.send(Event::Input(e));
            });
        }
        status::debug(
            1,
            &format!(
                "running {} in {} ({:?} mode)",
                self.redactor.redact(&self.cfg.command.display()),
                self.cfg.workspace.display(),
                self.cfg.mode
            ),
        );
        self.banner();
        let pid = match self.spawn() {
            Ok(pid) => pid,
            Err(code) => return self.finish(code),
        };
        self.emit(Ev::Start {
            command: self.redactor.redact(&self.cfg.command.display()),
            pid: pid.as_raw() as u32,
            mode: match self.cfg.mode {
                Mode::Pty => crate::heal::events::Mode::Pty,
                Mode::Pipe => crate::heal::events::Mode::Pipe,
            },
            backend: self.cfg.heal.backend.kind.name().to_string(),
        });
        panic_here_for_tests("start");
        let code = self.event_loop();
        self.finish(code)
    }

    fn event_loop(&mut self) -> i32 {
        // The last deadline handled, to notice one that handling did not clear
        // (which would otherwise spin).
        let mut handled: Option<Instant> = None;
        loop {
            let now = Instant::now();
            let deadline = self.next_deadline().filter(|&at| Some(at) != handled);
            // A deadline that passed while events kept arriving is handled before
            // the next event: steady output must not starve a settle or a timeout.
            let event = match deadline {
                _ if !self.deferred.is_empty() => self.deferred.pop_front(),
                Some(at) if at <= now => None,
                Some(at) => match self.rx.recv_timeout(at - now) {
                    Ok(e) => Some(e),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return 1,
                },
                None => match self.rx.recv() {
                    Ok(e) => Some(e),
                    Err(_) => return 1,
                },
            };
            let result = match event {
                Some(e) => {
                    handled = None;
                    self.handle(e)
                }
                None => {
                    handled = deadline;
                    self.on_deadline()
                }
            };
            if let Some(code) = result {
                return code;
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let drain = self
            .child
            .as_ref()
            .and_then(|r| r.exited_at.map(|at| drain_deadline(r.last_output, at)));
        let fix = match &self.phase {
            Phase::Fixing(run) if !run.stopping() => Some(run.deadline),
            _ => None,
        };
        [
            drain,
            fix,
            self.detector.deadline(),
            self.tree.deadline(),
            self.landing_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Handles one event; `Some(code)` ends otorepair.
    fn handle(&mut self, event: Event) -> Option<i32> {
        match event {
            Event::Child(gen, e) => self.on_child_event(gen, e),
            Event::Input(InputEvent::CtrlC) => self.on_ctrl_c(),
            Event::Input(InputEvent::Suspend) => {
                if let Some(r) = self.child.as_ref().filter(|r| r.exit.is_none()) {
                    let pid = r.pid;
                    crate::os::group::signal(pid, Signal::SIGSTOP);
                    self.suspend_with_child(pid);
                }
                None
            }
            Event::Input(InputEvent::Keys(keys)) => self.on_keys(&keys),
            Event::Input(InputEvent::End) => None,
            Event::Input(InputEvent::Foreground) => {
                self.continued();
                None
            }
            Event::Signal(sig) => self.on_signal(sig),
            Event::Agent(token, out) => {
                if matches!(out, crate::agent::AgentOutput::Stdout(_)) {
                    panic_here_for_tests("agent");
                }
                self.on_agent_output(token, out)
            }
            Event::Triage(token, result, took) => {
                self.on_triage_done(token, result, took);
                None
            }
            Event::FileChanged => self.on_file_changed(),
            Event::FixPrepared(token, prepared) => self.on_fix_prepared(token, prepared),
            Event::FixFinished(token, finished) => self.on_fix_finished(token, *finished),
            Event::Verified(token, result, took, warnings) => {
                self.on_verified(token, result, took, warnings)
            }
        }
    }

    fn on_child_event(&mut self, gen: u64, event: ChildEvent) -> Option<i32> {
        let running = self.child.as_mut().filter(|r| r.gen == gen)?;
        match event {
            ChildEvent::Output(mut lines) => {
                let now = Instant::now();
                running.last_output = now;
                let pid = running.pid;
                let had_block = self.detector.deadline().is_some();
                for line in lines.take() {
                    if status::verbosity() >= 3 {
                        let text = self.redactor.redact(&line.text);
                        status::debug(3, &format!("line: {text}"));
                    }
                    self.reload_line(&line.text, now);
                    self.detector.push(line, now);
                }
                let opened = !had_block && self.detector.deadline().is_some();
                self.tree.on_output(pid, now, opened);
            }
            ChildEvent::OutputEnd => {
                running.output_ended = true;
                let gone = self.output.reader_gone(1);
                if let Some(gone) = gone.filter(|_| running.exit.is_none()) {
                    if self.cfg.mode == Mode::Pty {
                        // `otorepair --pty ... | head` and head is done, or the
                        // terminal hung up. In pipe mode the command meets the
                        // closed pipe itself; in a PTY its writes would only fill
                        // the PTY, forever: end it, as the broken pipe (or the
                        // hang-up) would have.
                        status::debug(1, "stdout's reader went away: stopping the command");
                        self.exit_signalled = true;
                        self.stop_child();
                        return Some(match gone {
                            Gone::Pipe => 128 + libc::SIGPIPE,
                            Gone::HungUp => 128 + libc::SIGHUP,
                        });
                    }
                }
            }
            ChildEvent::Stopped => {
                // Stopped by us (Ctrl-Z) and already continued, or by someone else:
                // only the latter suspends otorepair here.
                let pid = running.pid;
                if process_stopped(pid) {
                    self.suspend_with_child(pid);
                }
            }
            ChildEvent::Exited(status) => {
                status::debug(1, &format!("PID {} exited: {status:?}", running.pid));
                running.exit = Some(status);
                running.exited_at = Some(Instant::now());
            }
        }
        let running = self.child.as_ref()?;
        match running.exit {
            Some(status) if running.output_ended => self.on_child_exit(status),
            _ => None,
        }
    }

    /// A deadline passed: the fix timeout, a settled error block, or the end of
    /// the drain after the child's exit.
    fn on_deadline(&mut self) -> Option<i32> {
        let now = Instant::now();
        if let Phase::Fixing(run) = &self.phase {
            if now >= run.deadline {
                self.abort_fix(true);
            }
        }
        if self.detector.deadline().is_some_and(|d| now >= d) {
            while let Some(block) = self.detector.poll(now) {
                self.on_settled(block);
            }
        }
        self.on_hold_deadline(now);
        if let Some(code) = self.on_landing_deadline(now) {
            return Some(code);
        }
        let running = self.child.as_ref()?;
        let exited_at = running.exited_at?;
        if now >= drain_deadline(running.last_output, exited_at) {
            let status = running.exit?;
            status::debug(
                2,
                "output still open after the exit (a grandchild holds it); not waiting longer",
            );
            return self.on_child_exit(status);
        }
        None
    }

    /// The child has exited and its output is drained.
    fn on_child_exit(&mut self, status: ExitStatus) -> Option<i32> {
        let (pid, exited_at) = match self.child.take() {
            Some(r) => (Some(r.pid), r.exited_at.unwrap_or_else(Instant::now)),
            None => (None, Instant::now()),
        };
        // Whatever comes next (a fix, a restart) starts from a sane screen: switch
        // off what the dead child left on, as on the way out. While a fix holds the
        // output, the reset queues behind the child's held bytes.
        if self.raw.is_some() {
            let reset = self.modes.reset_sequence();
            if !reset.is_empty() {
                self.output.after_child(1, &reset);
            }
            self.modes.clear();
        }
        // Pipe mode gave the terminal to the child's group; with it gone, Ctrl-C
        // must reach otorepair again (to abort a fix).
        if self.cfg.mode == Mode::Pipe {
            if let Some(fd) = self.tty_fd {
                term::take_foreground_back(fd, pid);
            }
        }
        self.master = None;
        self.router.clear_child();
        self.emit(Ev::ChildExit {
            code: status.code,
            signal: status.signal,
        });
        // Processes the command left behind must not hold its port on a restart.
        if let Some(pid) = pid {
            stop_group(pid);
        }
        if status.code == Some(0) {
            return Some(0);
        }
        // Its reader went away (`otorepair ... | head`): the broken pipe that
        // ended it is not a bug to fix.
        let reader_gone =
            self.output.reader_gone(1).is_some() || self.output.reader_gone(2).is_some();
        let interrupted = exit::interrupted_before(self.last_ctrl_c, exited_at);
        if status.is_user_stop() || interrupted || reader_gone {
            status::debug(1, "the command was stopped by the user");
            return Some(status.shell_code());
        }
        match std::mem::replace(&mut self.phase, Phase::Running) {
            // A live fix is running: the restart follows when it ends.
            phase @ (Phase::Fixing(_) | Phase::Confirming(_)) => {
                self.phase = phase;
                None
            }
            // The crash supersedes the live error being triaged.
            Phase::Triaging { process, .. } => {
                process.stop_in_background();
                self.on_crash(status)
            }
            // The landing fix tells whether this is its old code crashing.
            phase @ Phase::Reloading(_) => {
                self.phase = phase;
                self.on_crash(status)
            }
            _ => self.on_crash(status),
        }
    }

    /// Starts the command again after a fix or a file change.
    fn restart(&mut self) -> Option<i32> {
        self.detector.reset();
        self.tree.forget();
        self.last_ctrl_c = None;
        match self.spawn() {
            Ok(pid) => {
                status::info(&format!("Process restarted (PID {pid})"));
                self.emit(Ev::Restart {
                    pid: pid.as_raw() as u32,
                });
                None
            }
            Err(code) => Some(code),
        }
    }

    /// Stops the running command and starts it again (`--on-fix restart`).
    fn restart_running(&mut self) -> Option<i32> {
        self.stop_child();
        self.restart()
    }
}

/// Panics on purpose at `point` when `OTOREPAIR_TEST_PANIC` names it (`start`:
/// once the command runs; `agent`: at a fix agent's first line), so the tests
/// can check the panic path: terminal restored, command and agents stopped.
/// Compiled into debug builds only (what `cargo test` builds); a release build
/// has no such hook.
#[cfg(debug_assertions)]
fn panic_here_for_tests(point: &str) {
    if std::env::var_os("OTOREPAIR_TEST_PANIC").is_some_and(|v| v == point) {
        panic!("OTOREPAIR_TEST_PANIC={point}: panicking on purpose");
    }
}

#[cfg(not(debug_assertions))]
fn panic_here_for_tests(_point: &str) {}

/// When to stop waiting for the rest of a dead child's output: a quiet spell that
/// starts no earlier than the exit (the waiter can report the exit before the
/// parser has passed on the last lines, however quiet the child was before),
/// capped in case a grandchild keeps the output open.
fn drain_deadline(last_output: Instant, exited_at: Instant) -> Instant {
    (last_output.max(exited_at) + DRAIN_QUIET).min(exited_at + DRAIN_MAX)
}

/// Runs otorepair with a validated config.
pub fn run(cfg: Config) -> Result<i32, StartupError> {
    Ok(Supervisor::new(cfg)?.run())
}

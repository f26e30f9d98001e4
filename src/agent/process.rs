//! Running an agent CLI: its own process group, prompt on stdin, output by line.
//!
//! The agent runs in a new process group so that stopping it reaches everything
//! it started (a test run, a dev server it should not have started): `stop`
//! sends SIGTERM to the group, waits up to [`STOP_GRACE`], then SIGKILLs it.
//! Timeouts are the caller's: it calls [`AgentProcess::stop`]. [`run_blocking`]
//! wraps this for the short plain-text triage call.

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a stopped agent gets between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

/// After the agent itself exits, how long its leftover children may keep its
/// stdout open before they are killed so the run can finish.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Stderr lines kept for error messages.
pub const STDERR_TAIL_LINES: usize = 20;

/// What to run: argv (the program first), working directory, added env vars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentCommand {
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
}

/// How the agent process ended: the same shape as the watched command's exit.
pub use crate::child::ExitStatus as ExitOutcome;

fn outcome_of(status: std::process::ExitStatus) -> ExitOutcome {
    ExitOutcome {
        code: status.code(),
        signal: status.signal(),
    }
}

/// One piece of output, delivered in order per stream. `Exited` comes last,
/// after stdout and stderr are drained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentOutput {
    Stdout(String),
    Stderr(String),
    Exited(ExitOutcome),
}

/// A running agent. Dropping the handle does not stop the agent (stopping
/// blocks for up to [`STOP_GRACE`]); call [`AgentProcess::stop`].
#[derive(Debug)]
pub struct AgentProcess {
    pgid: Pid,
    exited: Arc<AtomicBool>,
    finished: Arc<AtomicBool>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

impl AgentProcess {
    /// Starts `cmd` with `prompt` on its stdin. `on_output` is called from
    /// background threads for every stdout and stderr line, then once with
    /// `Exited`.
    pub fn spawn<F>(cmd: &AgentCommand, prompt: String, on_output: F) -> io::Result<Self>
    where
        F: FnMut(AgentOutput) + Send + 'static,
    {
        let (program, args) = cmd
            .argv
            .split_first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty agent argv"))?;
        let mut child = Command::new(program)
            .args(args)
            .current_dir(&cmd.cwd)
            .envs(cmd.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()?;
        let pgid = Pid::from_raw(child.id() as i32);
        let on_output = Arc::new(Mutex::new(on_output));
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let exited = Arc::new(AtomicBool::new(false));
        let finished = Arc::new(AtomicBool::new(false));

        if let Some(mut stdin) = child.stdin.take() {
            // An agent that exits without reading its prompt makes this fail
            // with EPIPE; that is reported by its exit, not here.
            thread::spawn(move || {
                let _ = stdin.write_all(prompt.as_bytes());
            });
        }
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let mut readers = 0;
        if let Some(out) = child.stdout.take() {
            readers += 1;
            let cb = Arc::clone(&on_output);
            let tx = done_tx.clone();
            thread::spawn(move || {
                read_lines(out, |l| deliver(&cb, AgentOutput::Stdout(l)));
                let _ = tx.send(());
            });
        }
        if let Some(err) = child.stderr.take() {
            readers += 1;
            let cb = Arc::clone(&on_output);
            let tail = Arc::clone(&stderr_tail);
            let tx = done_tx.clone();
            thread::spawn(move || {
                read_lines(err, |l| {
                    if let Ok(mut t) = tail.lock() {
                        if t.len() == STDERR_TAIL_LINES {
                            t.pop_front();
                        }
                        t.push_back(l.clone());
                    }
                    deliver(&cb, AgentOutput::Stderr(l));
                });
                let _ = tx.send(());
            });
        }
        drop(done_tx);

        let (exited_w, finished_w) = (Arc::clone(&exited), Arc::clone(&finished));
        thread::spawn(move || {
            let outcome = wait_child(&mut child);
            exited_w.store(true, Ordering::SeqCst);
            // Drain: give the readers time to reach EOF, then kill whatever
            // else in the group still holds the pipes open.
            let deadline = Instant::now() + DRAIN_GRACE;
            let mut remaining = readers;
            while remaining > 0 {
                let left = deadline.saturating_duration_since(Instant::now());
                match done_rx.recv_timeout(left) {
                    Ok(()) => remaining -= 1,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        let _ = killpg(pgid, Signal::SIGKILL);
                        // A descendant that left the group (setsid) may still
                        // hold a pipe: the exit is reported regardless.
                        for _ in 0..remaining {
                            if done_rx.recv_timeout(Duration::from_secs(1)).is_err() {
                                break;
                            }
                        }
                        break;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
            // Whatever the agent left running in its group (a server it started
            // with --allow-shell, say) must not outlive its run and hold a port.
            if group_alive(pgid) {
                let _ = killpg(pgid, Signal::SIGKILL);
            }
            deliver(&on_output, AgentOutput::Exited(outcome));
            finished_w.store(true, Ordering::SeqCst);
        });

        Ok(AgentProcess {
            pgid,
            exited,
            finished,
            stderr_tail,
        })
    }

    /// The process group id (the agent's pid).
    pub fn pgid(&self) -> i32 {
        self.pgid.as_raw()
    }

    /// True once `Exited` has been delivered.
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::SeqCst)
    }

    /// The last [`STDERR_TAIL_LINES`] stderr lines.
    pub fn stderr_tail(&self) -> Vec<String> {
        self.stderr_tail
            .lock()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Stops the agent and everything in its process group: SIGTERM, up to
    /// [`STOP_GRACE`] for the group to go, then SIGKILL. Blocks meanwhile.
    pub fn stop(&self) {
        if self.is_finished() && !group_alive(self.pgid) {
            return;
        }
        let _ = killpg(self.pgid, Signal::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            // The leader must be reaped (by the waiter thread) and the rest gone.
            if self.exited.load(Ordering::SeqCst) && !group_alive(self.pgid) {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = killpg(self.pgid, Signal::SIGKILL);
    }
}

fn deliver<F: FnMut(AgentOutput)>(cb: &Mutex<F>, out: AgentOutput) {
    // A callback that panicked poisons the lock; later output is dropped
    // rather than panicking a reader thread again.
    if let Ok(mut f) = cb.lock() {
        f(out);
    }
}

fn group_alive(pgid: Pid) -> bool {
    !matches!(killpg(pgid, None), Err(Errno::ESRCH))
}

fn wait_child(child: &mut Child) -> ExitOutcome {
    match child.wait() {
        Ok(status) => outcome_of(status),
        // wait only fails if the child was already reaped, which nothing else does.
        Err(_) => ExitOutcome {
            code: None,
            signal: None,
        },
    }
}

/// Reads `r` line by line with no length cap; invalid UTF-8 is replaced.
fn read_lines<R: Read>(r: R, mut each: impl FnMut(String)) {
    let mut reader = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {
                while matches!(buf.last(), Some(b'\n' | b'\r')) {
                    buf.pop();
                }
                each(String::from_utf8_lossy(&buf).into_owned());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
}

/// The result of [`run_blocking`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockingOutput {
    pub outcome: ExitOutcome,
    pub stdout: String,
    pub stderr: String,
    /// The timeout fired and the group was stopped.
    pub timed_out: bool,
}

/// Runs `cmd` to completion with `prompt` on stdin, collecting its output; on
/// `timeout` the whole group is stopped (see [`AgentProcess::stop`]).
pub fn run_blocking(
    cmd: &AgentCommand,
    prompt: String,
    timeout: Duration,
) -> io::Result<BlockingOutput> {
    let (process, collector) = spawn_collecting(cmd, prompt)?;
    collector.wait(&process, timeout)
}

/// Starts `cmd` like [`run_blocking`], but returns at once: the process handle
/// (so a caller can stop it early, e.g. when otorepair exits) and the collector
/// to wait with, typically on another thread.
pub fn spawn_collecting(
    cmd: &AgentCommand,
    prompt: String,
) -> io::Result<(Arc<AgentProcess>, Collector)> {
    let (tx, rx) = mpsc::channel();
    let process = AgentProcess::spawn(cmd, prompt, move |o| {
        let _ = tx.send(o);
    })?;
    Ok((Arc::new(process), Collector { rx }))
}

/// The output of a process started by [`spawn_collecting`].
pub struct Collector {
    rx: mpsc::Receiver<AgentOutput>,
}

impl Collector {
    /// Collects stdout and stderr until the process exits, stopping its group
    /// when `timeout` passes.
    pub fn wait(self, process: &AgentProcess, timeout: Duration) -> io::Result<BlockingOutput> {
        let deadline = Instant::now() + timeout;
        let (mut stdout, mut stderr) = (String::new(), String::new());
        let mut timed_out = false;
        loop {
            let msg = if timed_out {
                self.rx
                    .recv()
                    .map_err(|_| mpsc::RecvTimeoutError::Disconnected)
            } else {
                self.rx
                    .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            };
            match msg {
                Ok(AgentOutput::Stdout(l)) => {
                    stdout.push_str(&l);
                    stdout.push('\n');
                }
                Ok(AgentOutput::Stderr(l)) => {
                    stderr.push_str(&l);
                    stderr.push('\n');
                }
                Ok(AgentOutput::Exited(outcome)) => {
                    return Ok(BlockingOutput {
                        outcome,
                        stdout,
                        stderr,
                        timed_out,
                    })
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    timed_out = true;
                    process.stop();
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(io::Error::other("agent output channel closed"))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> AgentCommand {
        AgentCommand {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            cwd: std::env::temp_dir(),
            env: vec![("OTOREPAIR_TEST".into(), "yes".into())],
        }
    }

    fn pid_alive(pid: i32) -> bool {
        // A zombie still answers kill(0); check its state instead.
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(s) => !s
                .rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z')),
            Err(_) => false,
        }
    }

    #[test]
    fn prompt_env_and_output() {
        let out = run_blocking(
            &sh("cat; echo \"env=$OTOREPAIR_TEST\"; echo oops >&2; exit 3"),
            "line one\nline two".into(),
            Duration::from_secs(10),
        )
        .expect("spawn sh");
        assert_eq!(out.stdout, "line one\nline twoenv=yes\n");
        assert_eq!(out.stderr, "oops\n");
        assert_eq!(
            out.outcome,
            ExitOutcome {
                code: Some(3),
                signal: None
            }
        );
        assert!(!out.timed_out);
    }

    #[test]
    fn stdout_is_drained_before_exited() {
        let (tx, rx) = mpsc::channel();
        let script =
            "i=0; while [ $i -lt 2000 ]; do echo line$i; i=$((i+1)); done; printf 'no newline'";
        let p = AgentProcess::spawn(&sh(script), String::new(), move |o| {
            let _ = tx.send(o);
        })
        .expect("spawn sh");
        let all: Vec<AgentOutput> = rx.iter().collect();
        assert!(p.is_finished());
        assert_eq!(all.len(), 2002, "2000 lines, the tail, then Exited");
        assert_eq!(all[1999], AgentOutput::Stdout("line1999".into()));
        assert_eq!(all[2000], AgentOutput::Stdout("no newline".into()));
        assert!(matches!(all[2001], AgentOutput::Exited(o) if o.success()));
    }

    #[test]
    fn long_lines_are_not_cut() {
        let out = run_blocking(
            &sh("head -c 300000 /dev/zero | tr '\\0' x; echo"),
            String::new(),
            Duration::from_secs(10),
        )
        .expect("spawn sh");
        assert_eq!(out.stdout.len(), 300_001);
    }

    #[test]
    fn stop_kills_the_whole_group() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pidfile = dir.path().join("pid");
        let script = format!(
            "sleep 100 & echo $! > {}; echo started; sleep 100",
            pidfile.display()
        );
        let (tx, rx) = mpsc::channel();
        let p = AgentProcess::spawn(&sh(&script), String::new(), move |o| {
            let _ = tx.send(o);
        })
        .expect("spawn sh");
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)),
            Ok(AgentOutput::Stdout("started".into()))
        );
        let grandchild: i32 = std::fs::read_to_string(&pidfile)
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid");
        assert!(pid_alive(grandchild));
        p.stop();
        let exited = rx.recv_timeout(Duration::from_secs(10));
        assert!(
            matches!(
                exited,
                Ok(AgentOutput::Exited(ExitOutcome {
                    signal: Some(15),
                    ..
                }))
            ),
            "{exited:?}"
        );
        // The grandchild was in the group: it got the SIGTERM too.
        let deadline = Instant::now() + Duration::from_secs(5);
        while pid_alive(grandchild) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        assert!(!pid_alive(grandchild), "grandchild {grandchild} survived");
    }

    #[test]
    fn stop_escalates_to_sigkill() {
        let (tx, rx) = mpsc::channel();
        let p = AgentProcess::spawn(
            &sh("trap '' TERM; echo ready; while :; do sleep 1; done"),
            String::new(),
            move |o| {
                let _ = tx.send(o);
            },
        )
        .expect("spawn sh");
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)),
            Ok(AgentOutput::Stdout("ready".into()))
        );
        let start = Instant::now();
        p.stop();
        assert!(start.elapsed() >= STOP_GRACE);
        let exited = rx.recv_timeout(Duration::from_secs(10));
        assert!(
            matches!(
                exited,
                Ok(AgentOutput::Exited(ExitOutcome {
                    signal: Some(9),
                    ..
                }))
            ),
            "{exited:?}"
        );
    }

    #[test]
    fn run_blocking_times_out() {
        let start = Instant::now();
        let out = run_blocking(
            &sh("echo partial; sleep 100"),
            String::new(),
            Duration::from_millis(300),
        )
        .expect("spawn sh");
        assert!(out.timed_out);
        assert_eq!(out.stdout, "partial\n");
        assert_eq!(out.outcome.signal, Some(15));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn missing_program_is_an_error() {
        let cmd = AgentCommand {
            argv: vec!["/nonexistent/otorepair-agent".into()],
            cwd: std::env::temp_dir(),
            env: vec![],
        };
        assert!(run_blocking(&cmd, String::new(), Duration::from_secs(1)).is_err());
        let empty = AgentCommand {
            argv: vec![],
            ..cmd
        };
        assert!(run_blocking(&empty, String::new(), Duration::from_secs(1)).is_err());
    }

    #[test]
    fn stderr_tail_keeps_the_last_lines() {
        let (tx, rx) = mpsc::channel();
        let p = AgentProcess::spawn(
            &sh("i=0; while [ $i -lt 50 ]; do echo e$i >&2; i=$((i+1)); done"),
            String::new(),
            move |o| {
                let _ = tx.send(o);
            },
        )
        .expect("spawn sh");
        let _: Vec<_> = rx.iter().collect();
        let tail = p.stderr_tail();
        assert_eq!(tail.len(), STDERR_TAIL_LINES);
        assert_eq!(tail.last().map(String::as_str), Some("e49"));
        assert_eq!(tail[0], "e30");
    }
}

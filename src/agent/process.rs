//! Running an agent CLI: its own session, prompt on stdin, output by line.
//!
//! The agent runs in a new session with no controlling terminal: stopping its
//! process group reaches everything it started (a test run, a dev server it
//! should not have started), and nothing it runs can write escape sequences to
//! the user's terminal or be stopped reading it (`/dev/tty` fails to open).
//! `stop` sends SIGTERM to the group, waits up to [`STOP_GRACE`], then SIGKILLs
//! it; the group is announced to the [`crate::guardian`] until then, so it is
//! stopped even if otorepair is killed. Timeouts are the caller's: it calls
//! [`AgentProcess::stop`]. [`run_blocking`] wraps this for the short plain-text
//! triage call.
//!
//! Memory is bounded whatever the agent prints: a stdout line longer than
//! [`MAX_STDOUT_LINE`] is skipped (and replaced by a short notice), a stderr line
//! is cut at [`MAX_STDERR_LINE`], and [`run_blocking`] keeps at most
//! [`MAX_COLLECTED`] of each stream.

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::os::group;

/// How long a stopped agent gets between SIGTERM and SIGKILL.
pub use crate::os::group::GRACE as STOP_GRACE;

/// Longest stdout line passed on. Real agents print long JSON lines (Codex's
/// `item.completed` carries a command's whole output: lines over 4 MiB were
/// seen), so the cap is four times that; what is past it is a command's output
/// no one reads in a panel, and skipping it costs at most a "failed" note.
pub const MAX_STDOUT_LINE: usize = 16 * 1024 * 1024;

/// Longest stderr line kept: stderr is only shown (in `-vv` and a failure's last
/// line), so it is cut, not skipped.
pub const MAX_STDERR_LINE: usize = 64 * 1024;

/// Most of each stream [`run_blocking`] collects (a triage answer is a word).
pub const MAX_COLLECTED: usize = 1024 * 1024;

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
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(&cmd.cwd)
            .envs(cmd.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        crate::child::clean_start(&mut command, crate::child::Session::NoTerminal);
        let mut child = command.spawn()?;
        // A session leader leads its process group too.
        let pgid = Pid::from_raw(child.id() as i32);
        crate::guardian::watch(pgid);
        let on_output = Arc::new(Mutex::new(on_output));
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
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
                read_lines(out, MAX_STDOUT_LINE, |line, cut| {
                    let line = match cut {
                        None => line,
                        Some(len) => format!(
                            "[otorepair: skipped a line of {} MiB from the agent (over {} MiB)]",
                            len >> 20,
                            MAX_STDOUT_LINE >> 20
                        ),
                    };
                    deliver(&cb, AgentOutput::Stdout(line));
                });
                let _ = tx.send(());
            });
        }
        if let Some(err) = child.stderr.take() {
            readers += 1;
            let cb = Arc::clone(&on_output);
            let tail = Arc::clone(&stderr_tail);
            let tx = done_tx.clone();
            thread::spawn(move || {
                read_lines(err, MAX_STDERR_LINE, |mut l, cut| {
                    if cut.is_some() {
                        l.push('…');
                    }
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

        let finished_w = Arc::clone(&finished);
        thread::spawn(move || {
            let outcome = wait_child(&mut child);
            // Drain: give the readers time to reach EOF, then kill whatever
            // else in the group still holds the pipes open.
            let deadline = Instant::now() + DRAIN_GRACE;
            let mut remaining = readers;
            while remaining > 0 {
                let left = deadline.saturating_duration_since(Instant::now());
                match done_rx.recv_timeout(left) {
                    Ok(()) => remaining -= 1,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        group::signal(pgid, Signal::SIGKILL);
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
            if group::alive(pgid) {
                group::signal(pgid, Signal::SIGKILL);
            }
            crate::guardian::release(pgid);
            deliver(&on_output, AgentOutput::Exited(outcome));
            finished_w.store(true, Ordering::SeqCst);
        });

        Ok(AgentProcess {
            pgid,
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
        // "Gone" includes the leader being reaped, by the waiter thread.
        crate::guardian::stop_group(self.pgid, STOP_GRACE);
    }

    /// [`AgentProcess::stop`] on a thread of its own, so that the caller (the
    /// event loop) does not wait out the grace period; here if no thread can be
    /// started (a panic would end otorepair).
    pub fn stop_in_background(self: &Arc<Self>) {
        let process = self.clone();
        let spawned = thread::Builder::new()
            .name("agent-stop".into())
            .spawn(move || process.stop());
        if spawned.is_err() {
            self.stop();
        }
    }
}

fn deliver<F: FnMut(AgentOutput)>(cb: &Mutex<F>, out: AgentOutput) {
    // A callback that panicked poisons the lock; later output is dropped
    // rather than panicking a reader thread again.
    if let Ok(mut f) = cb.lock() {
        f(out);
    }
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

/// Reads `r` line by line; invalid UTF-8 is replaced. A line longer than `cap`
/// bytes is passed on cut to `cap`, with its whole length; the rest of it is read
/// and dropped, so memory stays at `cap` whatever the line.
fn read_lines<R: Read>(r: R, cap: usize, mut each: impl FnMut(String, Option<usize>)) {
    let mut reader = BufReader::with_capacity(64 * 1024, r);
    let mut line = Vec::new();
    let mut len = 0usize;
    let mut emit = |line: &mut Vec<u8>, len: &mut usize| {
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        let text = match String::from_utf8(std::mem::take(line)) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        let cut = (*len > cap).then_some(*len);
        *len = 0;
        each(text, cut);
    };
    loop {
        let chunk = match reader.fill_buf() {
            Ok([]) => break,
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let newline = chunk.iter().position(|&b| b == b'\n');
        let part = &chunk[..newline.unwrap_or(chunk.len())];
        let room = cap.saturating_sub(line.len());
        line.extend_from_slice(&part[..part.len().min(room)]);
        len += part.len();
        let used = newline.map_or(chunk.len(), |i| i + 1);
        reader.consume(used);
        if newline.is_some() {
            emit(&mut line, &mut len);
        }
    }
    if len > 0 {
        emit(&mut line, &mut len);
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

/// Appends a line to what [`Collector::wait`] keeps, up to [`MAX_COLLECTED`].
fn collect(into: &mut String, line: &str) {
    if into.len() + line.len() < MAX_COLLECTED {
        into.push_str(line);
        into.push('\n');
    }
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
                Ok(AgentOutput::Stdout(l)) => collect(&mut stdout, &l),
                Ok(AgentOutput::Stderr(l)) => collect(&mut stderr, &l),
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
        crate::os::process_state(Pid::from_raw(pid)).is_some_and(|s| s != 'Z')
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

    #[test]
    fn a_line_past_the_cap_is_cut_and_its_length_told() {
        let input = b"short\r\n0123456789abcdef\nlast without newline";
        let mut got = Vec::new();
        read_lines(&input[..], 8, |l, cut| got.push((l, cut)));
        assert_eq!(
            got,
            vec![
                ("short".to_string(), None),
                ("01234567".to_string(), Some(16)),
                ("last wit".to_string(), Some(20)),
            ]
        );
        // Lines cross read boundaries (64 KiB) whole.
        let long = format!("{}\n{}\n", "x".repeat(200_000), "y".repeat(10));
        let mut got = Vec::new();
        read_lines(long.as_bytes(), 1 << 20, |l, cut| got.push((l.len(), cut)));
        assert_eq!(got, vec![(200_000, None), (10, None)]);
    }

    #[test]
    fn a_stdout_line_past_the_cap_becomes_a_notice_and_memory_stays_bounded() {
        let out = run_blocking(
            &sh(&format!(
                "head -c {} /dev/zero | tr '\\0' x; echo; echo next; head -c 100000 /dev/zero | tr '\\0' e >&2",
                MAX_STDOUT_LINE + 10
            )),
            String::new(),
            Duration::from_secs(60),
        )
        .expect("spawn sh");
        assert_eq!(
            out.stdout,
            "[otorepair: skipped a line of 16 MiB from the agent (over 16 MiB)]\nnext\n"
        );
        assert_eq!(
            out.stderr.chars().count(),
            MAX_STDERR_LINE + 2,
            "cut, with an ellipsis"
        );
    }

    #[test]
    fn the_agent_has_no_controlling_terminal() {
        // Whatever otorepair's own terminal, the agent's session has none: opening
        // /dev/tty fails at once instead of stopping the agent or reaching the user.
        let out = run_blocking(
            &sh("if (: </dev/tty) 2>/dev/null; then echo tty; else echo no-tty; fi; ps -o sid= -p $$; echo $$"),
            String::new(),
            Duration::from_secs(10),
        )
        .expect("spawn sh");
        let lines: Vec<&str> = out.stdout.lines().map(str::trim).collect();
        assert_eq!(lines[0], "no-tty");
        assert_eq!(lines[1], lines[2], "the agent leads its own session");
    }
}

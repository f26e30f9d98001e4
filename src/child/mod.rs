//! The watched command: spawning it (in a PTY or with pipes), copying its output,
//! and waiting for it (stopping its group is `os::group`'s).

mod lines;
mod pipe;
mod pty;
mod pump;
mod spawn;

pub use lines::Lines;
pub use pipe::spawn_pipe;
pub use pty::{spawn_pty, PtyOptions};
pub(crate) use spawn::{clean_start, Session};
pub use spawn::{spawn_failure, SpawnError};

use std::fs::File;
use std::sync::Arc;
use std::thread;

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// What to run: a shell command line (`sh -c`) or a program with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandSpec {
    Shell(String),
    Argv(Vec<String>),
}

impl CommandSpec {
    /// How the command is shown to the user and in prompts.
    pub fn display(&self) -> String {
        match self {
            CommandSpec::Shell(line) => line.clone(),
            CommandSpec::Argv(argv) => argv
                .iter()
                .map(|a| {
                    if a.is_empty()
                        || a.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c))
                    {
                        format!("'{}'", a.replace('\'', "'\\''"))
                    } else {
                        a.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    fn program_and_args(&self) -> (String, Vec<String>) {
        match self {
            CommandSpec::Shell(line) => ("/bin/sh".into(), vec!["-c".into(), line.clone()]),
            CommandSpec::Argv(argv) => (argv[0].clone(), argv[1..].to_vec()),
        }
    }
}

/// How the child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code, self.signal) {
            (Some(c), _) => write!(f, "exit code {c}"),
            (None, Some(s)) => write!(f, "killed by signal {s}"),
            (None, None) => write!(f, "unknown exit"),
        }
    }
}

impl ExitStatus {
    /// Exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The shell's convention: the exit code, or 128 + the signal that killed it.
    pub fn shell_code(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(code), _) => code,
            (None, Some(sig)) => 128 + sig,
            (None, None) => 1,
        }
    }

    /// The shell's codes for a program it could not run: 127 not found, 126 not
    /// executable.
    pub fn shell_could_not_run(&self) -> bool {
        matches!(self.code, Some(126 | 127)) && self.signal.is_none()
    }

    /// Ended by Ctrl-C, SIGTERM or SIGHUP (or the codes a shell gives them): a stop
    /// by the user, not a crash.
    pub fn is_user_stop(&self) -> bool {
        match (self.code, self.signal) {
            (_, Some(sig)) => [libc::SIGINT, libc::SIGTERM, libc::SIGHUP].contains(&sig),
            (Some(code), None) => code == 130 || code == 143 || code == 129,
            _ => false,
        }
    }
}

/// What the child's threads report to the supervisor.
#[derive(Debug)]
pub enum ChildEvent {
    /// A chunk of output passed through; the clean lines it completed (their
    /// room in [`lines`]' bound is given back when the event is dropped).
    Output(Lines),
    /// Every output stream ended (EOF/EIO): everything the child wrote has been read.
    OutputEnd,
    /// The child stopped (Ctrl-Z).
    Stopped,
    Exited(ExitStatus),
}

/// A running child: its pid (also its process group) and, in PTY mode, the master.
pub struct Child {
    pub pid: Pid,
    pub master: Option<Arc<File>>,
}

/// Waits for the child on its own thread; reports stops (Ctrl-Z) and the exit.
pub(crate) fn start_waiter(pid: Pid, report: impl Fn(ChildEvent) + Send + 'static) {
    let spawned = thread::Builder::new()
        .name("waiter".into())
        .spawn(move || loop {
            match waitpid(pid, Some(WaitPidFlag::WUNTRACED)) {
                Ok(WaitStatus::Exited(_, code)) => {
                    return report(ChildEvent::Exited(ExitStatus {
                        code: Some(code),
                        signal: None,
                    }))
                }
                Ok(WaitStatus::Signaled(_, sig, _)) => {
                    return report(ChildEvent::Exited(ExitStatus {
                        code: None,
                        signal: Some(sig as i32),
                    }))
                }
                Ok(WaitStatus::Stopped(..)) => report(ChildEvent::Stopped),
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => {
                    return report(ChildEvent::Exited(ExitStatus {
                        code: None,
                        signal: None,
                    }))
                }
            }
        });
    if let Err(e) = spawned {
        crate::status::error(&format!("cannot start waiter thread: {e}"));
    }
}

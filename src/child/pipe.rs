//! Pipe mode: stdout to stdout and stderr to stderr, each copied unchanged and
//! parsed with its stream kept; stdin is inherited.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use nix::unistd::Pid;

use super::pump::{start_output, Source};
use super::spawn::{command, Session};
use super::{start_waiter, Child, ChildEvent, CommandSpec, SpawnError};
use crate::line::Stream;
use crate::output::Output;
use crate::screen::ModeFlags;

/// Spawns `spec` with piped stdout/stderr in its own process group. When stdin is
/// the terminal and we own its foreground, the child's group gets it (as a shell
/// would do), so it can read input and Ctrl-C reaches it.
pub fn spawn_pipe(
    spec: &CommandSpec,
    cwd: &Path,
    foreground_tty: Option<i32>,
    output: Arc<Output>,
    modes: ModeFlags,
    report: impl Fn(ChildEvent) + Send + Clone + 'static,
) -> Result<Child, SpawnError> {
    let mut cmd = command(spec, cwd, Session::Group(foreground_tty));
    cmd.stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(SpawnError::Exec)?;
    let pid = Pid::from_raw(child.id() as i32);
    if let Some(fd) = foreground_tty {
        // Done in both processes so neither order of scheduling leaves a gap.
        let _ = nix::unistd::setpgid(pid, pid);
        crate::term::set_foreground(fd, pid);
    }
    let stdout = child.stdout.take().map(|s| File::from(OwnedFd::from(s)));
    let stderr = child.stderr.take().map(|s| File::from(OwnedFd::from(s)));
    drop(child);
    let sources = [(stdout, 1, Stream::Stdout), (stderr, 2, Stream::Stderr)]
        .into_iter()
        .filter_map(|(file, out_fd, stream)| {
            Some(Source {
                file: file?,
                out_fd,
                stream,
            })
        })
        .collect();
    start_output(sources, output, modes, report.clone());
    start_waiter(pid, report);
    Ok(Child { pid, master: None })
}

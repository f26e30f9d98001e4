//! The guardian: a small process that outlives otorepair long enough to stop
//! what otorepair started when otorepair itself dies without cleaning up
//! (SIGKILL, the OOM killer, a crash that skips the panic hook).
//!
//! It is a re-exec of the otorepair binary (`otorepair --otorepair-guardian PID`,
//! refused unless stdin is a pipe), so it works wherever otorepair runs, in its
//! own process group (the terminal's signals do not reach it) with no terminal
//! at all. Its stdin is a pipe whose
//! only writer is otorepair: every process group otorepair starts (the command,
//! each agent) is announced on it by the new process itself between fork and
//! exec (`?PGID`), confirmed by otorepair once the exec succeeded (`+PGID`), and
//! withdrawn once stopped (`-PGID`). An announcement never confirmed is an exec
//! that failed (the process is gone, its number free for anyone): it counts
//! only for [`UNCONFIRMED`], the moment otorepair could die between the two.
//! When otorepair dies, for whatever reason, the kernel closes the pipe; the
//! guardian reads EOF and stops every group still announced: SIGTERM, a grace
//! period, SIGKILL, the same as otorepair's own stop. A parent-death signal
//! would not do: it reaches one process, and the real command under `sh -c` is
//! not that process.
//!
//! Writes to the pipe never block otorepair (the write end is non-blocking: a
//! guardian that stopped reading loses announcements, not otorepair's time).
//! The groups are also kept in this process, so the panic hook can stop them
//! at once, before the process goes.

use std::io::{BufRead, Write};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{signal, SigHandler, Signal};
use nix::unistd::Pid;

use crate::os::group;

/// The hidden first argument that makes the binary a guardian.
pub const ARG: &str = "--otorepair-guardian";

/// How long a group announced by the new process (`?PGID`) and not confirmed
/// by otorepair (`+PGID`) is still stopped: a successful spawn is confirmed
/// within milliseconds; past this, the exec failed.
const UNCONFIRMED: Duration = Duration::from_secs(10);

struct Link {
    /// The pipe to the guardian (None if it could not be started).
    pipe: Option<std::process::ChildStdin>,
    /// The groups announced and not yet withdrawn.
    groups: Vec<Pid>,
}

static LINK: Mutex<Link> = Mutex::new(Link {
    pipe: None,
    groups: Vec::new(),
});

/// Starts the guardian for this process. Without one (the binary cannot be
/// re-executed), everything still works except the cleanup after a SIGKILL;
/// the reason is returned for a diagnostic.
pub fn start() -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find our own binary: {e}"))?;
    let mut child = Command::new(exe)
        .arg(ARG)
        .arg(std::process::id().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own group: Ctrl-C, Ctrl-Z and a hang-up sent to ours miss it.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start the guardian: {e}"))?;
    let pipe = child.stdin.take();
    if let Some(p) = &pipe {
        // Ours alone (std opens it close-on-exec): never wait on a slow reader.
        crate::os::fds::set_nonblocking(p, true).map_err(|e| e.to_string())?;
    }
    // It is reaped by init once we are gone; while we live it only waits.
    drop(child);
    let mut link = LINK.lock().unwrap_or_else(|e| e.into_inner());
    link.pipe = pipe;
    Ok(())
}

fn tell(link: &mut Link, message: &str) {
    if let Some(pipe) = link.pipe.as_mut() {
        // One short write: atomic on a pipe. EAGAIN or EPIPE: the guardian is
        // stuck or gone, and nothing better can be done about it from here.
        let _ = pipe.write_all(message.as_bytes());
    }
}

/// `pgid` must be stopped if otorepair dies before [`release`] is called. (A
/// process started through [`crate::child::clean_start`] has already announced
/// itself to the guardian, before it ran anything; this confirms it, now that
/// its exec succeeded, and keeps it for the panic hook.)
pub fn watch(pgid: Pid) {
    let mut link = LINK.lock().unwrap_or_else(|e| e.into_inner());
    link.groups.push(pgid);
    tell(&mut link, &format!("+{pgid}\n"));
}

/// The guardian's pipe, for a process about to start to announce itself.
pub(crate) fn pipe_fd() -> Option<std::os::fd::RawFd> {
    let link = LINK.lock().unwrap_or_else(|e| e.into_inner());
    link.pipe.as_ref().map(std::os::fd::AsRawFd::as_raw_fd)
}

/// Runs in a new process between fork and exec, once it leads its own group:
/// announces `?PID` on the guardian's pipe (to be confirmed by [`watch`] once
/// the exec succeeded). Only async-signal-safe calls, no allocation.
/// Announcing from the parent after the spawn would leave a window in which
/// otorepair could be killed with the command already running.
pub(crate) fn announce_from_child(fd: std::os::fd::RawFd) {
    // SAFETY: getpid and write are async-signal-safe; the buffer is ours.
    unsafe {
        let mut pid = libc::getpid() as u32;
        let mut digits = [0u8; 10];
        let mut n = 0;
        loop {
            digits[n] = b'0' + (pid % 10) as u8;
            n += 1;
            pid /= 10;
            if pid == 0 {
                break;
            }
        }
        let mut line = [0u8; 12];
        line[0] = b'?';
        for i in 0..n {
            line[1 + i] = digits[n - 1 - i];
        }
        line[1 + n] = b'\n';
        libc::write(fd, line.as_ptr().cast(), 2 + n);
    }
}

/// Stops process group `pgid` (SIGTERM, up to `grace`, SIGKILL), then forgets
/// it: how otorepair ends a group it started.
pub fn stop_group(pgid: Pid, grace: std::time::Duration) {
    crate::os::group::stop(&[pgid], grace);
    release(pgid);
}

/// `pgid` was stopped (or is being SIGKILLed): the guardian forgets it, so a
/// later process that reuses the number is never touched.
pub fn release(pgid: Pid) {
    let mut link = LINK.lock().unwrap_or_else(|e| e.into_inner());
    link.groups.retain(|&p| p != pgid);
    tell(&mut link, &format!("-{pgid}\n"));
}

/// For the panic hook: SIGTERM to every watched group now, without waiting (the
/// guardian escalates to SIGKILL once this process is gone).
pub fn stop_all_now() {
    // try_lock: the panicking thread may hold the lock; then the guardian alone
    // does the work, a moment later.
    if let Ok(link) = LINK.try_lock() {
        for &pgid in &link.groups {
            group::signal(pgid, Signal::SIGTERM);
        }
    }
}

/// The guardian's `main`: `args` are those after [`ARG`]. Returns the exit code.
pub fn serve(args: &[std::ffi::OsString]) -> i32 {
    // Only ever started by otorepair, with its pid and a pipe on stdin: run by
    // hand (stdin a terminal), this is the unknown flag it looks like. The
    // parent is not checked: otorepair may already be gone (killed at once),
    // and then the announcements in the pipe are exactly what must be stopped.
    let named = args.first().and_then(|a| a.to_str()?.parse::<i32>().ok());
    let piped = nix::sys::stat::fstat(std::io::stdin().as_fd()).is_ok_and(|st| {
        nix::sys::stat::SFlag::from_bits_truncate(st.st_mode) & nix::sys::stat::SFlag::S_IFMT
            == nix::sys::stat::SFlag::S_IFIFO
    });
    if named.is_none() || !piped {
        crate::status::fatal(&format!("unexpected argument '{ARG}'"), None);
        return 2;
    }
    for sig in [
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGTSTP,
        Signal::SIGTTIN,
        Signal::SIGTTOU,
        Signal::SIGPIPE,
    ] {
        // SAFETY: SIG_IGN installs no handler code.
        unsafe {
            let _ = signal(sig, SigHandler::SigIgn);
        }
    }
    let groups = read_announcements(std::io::stdin().lock());
    group::stop(&groups.to_stop(Instant::now()), group::GRACE);
    0
}

/// The groups announced and not withdrawn, in the order they came, each with
/// the time of its announcement while it is not confirmed.
#[derive(Default)]
struct Announcements {
    groups: Vec<(Pid, Option<Instant>)>,
}

impl Announcements {
    /// One line: `?PGID` (from the new process), `+PGID` (confirmed),
    /// `-PGID` (withdrawn); anything else is ignored.
    fn line(&mut self, text: &str, now: Instant) {
        let pgid = |s: &str| s.parse::<i32>().ok().filter(|&p| p > 1).map(Pid::from_raw);
        if let Some(p) = text.strip_prefix('?').and_then(pgid) {
            if !self.groups.iter().any(|&(g, _)| g == p) {
                self.groups.push((p, Some(now)));
            }
        } else if let Some(p) = text.strip_prefix('+').and_then(pgid) {
            match self.groups.iter_mut().find(|(g, _)| *g == p) {
                Some(entry) => entry.1 = None,
                None => self.groups.push((p, None)),
            }
        } else if let Some(p) = text.strip_prefix('-').and_then(pgid) {
            self.groups.retain(|&(g, _)| g != p);
        }
    }

    /// What to stop once otorepair is gone at `now`.
    fn to_stop(&self, now: Instant) -> Vec<Pid> {
        self.groups
            .iter()
            .filter(|(_, announced)| {
                announced.is_none_or(|at| now.saturating_duration_since(at) < UNCONFIRMED)
            })
            .map(|&(g, _)| g)
            .collect()
    }
}

/// Reads announcement lines until EOF (otorepair is gone). A line too long, or
/// cut short by the writer's death, is ignored.
fn read_announcements(mut input: impl BufRead) -> Announcements {
    let mut groups = Announcements::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        match std::io::Read::take(&mut input, 64).read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
        if let Some(text) = line
            .strip_suffix(b"\n")
            .and_then(|l| std::str::from_utf8(l).ok())
        {
            groups.line(text, Instant::now());
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_announced_from_its_fork_but_never_confirmed_is_left_alone_after_a_while() {
        // `?PID` comes from the new process before its exec; an exec that fails
        // (no such program) is never confirmed with `+PID`, and the number may
        // belong to anyone later: it is not stopped once it is old.
        let start = Instant::now();
        let mut seen = Announcements::default();
        for line in ["?100", "?200", "+200", "?300"] {
            seen.line(line, start);
        }
        assert_eq!(
            seen.to_stop(start + Duration::from_secs(1)),
            [100, 200, 300].map(Pid::from_raw),
            "killed between the fork and the confirmation: all are stopped"
        );
        assert_eq!(
            seen.to_stop(start + UNCONFIRMED + Duration::from_secs(1)),
            [Pid::from_raw(200)]
        );
    }

    #[test]
    fn announcements_are_added_withdrawn_and_garbage_ignored() {
        let input = b"+100\n+200\n-100\nhello\n+1\n+-5\n+300\n+40";
        let groups = read_announcements(&input[..]).to_stop(Instant::now());
        assert_eq!(groups, vec![Pid::from_raw(200), Pid::from_raw(300)]);
        let long = format!("+{}\n+7\n", "9".repeat(100));
        let groups = read_announcements(long.as_bytes()).to_stop(Instant::now());
        assert_eq!(groups, vec![Pid::from_raw(7)]);
    }
}

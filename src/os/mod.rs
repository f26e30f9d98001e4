//! Everything that asks the operating system about processes and sockets
//! (`ports`: who listens on a port): the one place with `/proc` paths, so a port
//! to macOS changes this module only. Each function has a portable answer where
//! Linux's `/proc` is missing; callers never read `/proc` themselves.

mod ports;
pub use ports::port_owner;

mod processes;

pub use processes::{command_tree, ProcessInfo};

pub mod fds;
pub mod files;
pub mod group;

use nix::unistd::Pid;

/// Whether `pid` is stopped right now (Ctrl-Z, SIGSTOP). Linux reads the state
/// letter from `/proc/PID/stat`; elsewhere `ps -o stat=` gives the same letter.
pub fn process_stopped(pid: Pid) -> bool {
    process_state(pid).is_some_and(|s| s == 'T')
}

/// Whether our child `pid` has exited, without reaping it (its waiter does):
/// `waitid` with `WNOWAIT`, POSIX. A child already reaped counts as exited.
pub fn has_exited(pid: Pid) -> bool {
    // SAFETY: waitid writes a siginfo_t into the zeroed struct we own.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let rc = libc::waitid(
            libc::P_PID,
            pid.as_raw() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        if rc != 0 {
            return std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD);
        }
        info.si_pid() != 0
    }
}

/// The process state letter (`R`, `S`, `T`, `Z`, ...), if the process exists.
pub(crate) fn process_state(pid: Pid) -> Option<char> {
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The command name in parentheses may hold spaces or ')': the state is
        // the first field after the last ')'.
        return stat.rsplit(')').next()?.trim_start().chars().next();
    }
    let out = std::process::Command::new("ps")
        .args(["-o", "stat=", "-p", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().chars().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exited_child_is_seen_exited_and_left_for_its_waiter() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "cat >/dev/null"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let pid = Pid::from_raw(child.id() as i32);
        assert!(!has_exited(pid));
        drop(child.stdin.take());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !has_exited(pid) {
            assert!(std::time::Instant::now() < deadline, "never seen exited");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // Not reaped: its waiter still gets the status.
        assert!(child.wait().expect("wait").success());
    }

    #[test]
    fn a_stopped_process_is_seen_stopped() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = Pid::from_raw(child.id() as i32);
        assert!(!process_stopped(pid));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !process_stopped(pid) {
            assert!(std::time::Instant::now() < deadline, "never seen stopped");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

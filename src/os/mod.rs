//! Everything that asks the operating system about processes (and, later,
//! sockets): the one place with `/proc` paths, so a port to macOS changes this
//! module only. Each function has a portable answer where Linux's `/proc` is
//! missing; callers never read `/proc` themselves.

pub mod group;

use nix::unistd::Pid;

/// Whether `pid` is stopped right now (Ctrl-Z, SIGSTOP). Linux reads the state
/// letter from `/proc/PID/stat`; elsewhere `ps -o stat=` gives the same letter.
pub fn process_stopped(pid: Pid) -> bool {
    state_letter(pid).is_some_and(|s| s == 'T')
}

/// The process state letter (`R`, `S`, `T`, `Z`, ...), if the process exists.
fn state_letter(pid: Pid) -> Option<char> {
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

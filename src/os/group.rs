//! Process groups: signalling one, waiting until one is gone, and stopping one
//! (SIGTERM, a grace period, SIGKILL). The one implementation used for the
//! watched command, the agents and the guardian that outlives otorepair.
//!
//! A group counts as alive while `kill(-pgid, 0)` finds any member, zombies
//! included, so "gone" also means the leader was reaped. EPERM means a member
//! exists that we may not signal (a setuid program): alive, so a stop still
//! escalates to SIGKILL instead of taking it for gone.

use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// How long a stopped group gets between SIGTERM and SIGKILL: the command, an
/// agent, or what the guardian stops after otorepair died.
pub const GRACE: Duration = Duration::from_secs(3);

/// How long a group gets after SIGKILL to be reaped before a stop gives up on it.
const KILL_WAIT: Duration = Duration::from_secs(2);

/// Whether any process of the group is left (see the module docs for EPERM).
pub fn alive(pgid: Pid) -> bool {
    !matches!(killpg(pgid, None), Err(Errno::ESRCH))
}

/// Sends `signal` to the whole group, and SIGCONT after a terminating signal so
/// that a stopped group can act on it.
pub fn signal(pgid: Pid, signal: Signal) {
    let _ = killpg(pgid, signal);
    let stops_or_continues = matches!(
        signal,
        Signal::SIGKILL | Signal::SIGCONT | Signal::SIGSTOP | Signal::SIGTSTP
    );
    if !stops_or_continues {
        let _ = killpg(pgid, Signal::SIGCONT);
    }
}

/// Waits until every group in `pgids` is gone, up to `deadline`; true if they are.
pub fn wait_gone(pgids: &[Pid], deadline: Instant) -> bool {
    // Bounded, and only while stopping: the kernel has no "group empty" event.
    loop {
        if !pgids.iter().any(|&p| alive(p)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Stops every group in `pgids` at once: SIGTERM (and SIGCONT), up to `grace`
/// for them to go, then SIGKILL to what is left. Blocks meanwhile; true if all
/// are gone.
pub fn stop(pgids: &[Pid], grace: Duration) -> bool {
    let live: Vec<Pid> = pgids.iter().copied().filter(|&p| alive(p)).collect();
    if live.is_empty() {
        return true;
    }
    for &p in &live {
        signal(p, Signal::SIGTERM);
    }
    if wait_gone(&live, Instant::now() + grace) {
        return true;
    }
    for &p in live.iter().filter(|&&p| alive(p)) {
        signal(p, Signal::SIGKILL);
    }
    wait_gone(&live, Instant::now() + KILL_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    fn group(script: &str) -> (std::process::Child, Pid) {
        let child = std::process::Command::new("sh")
            .args(["-c", script])
            .process_group(0)
            .spawn()
            .expect("spawn sh");
        let pgid = Pid::from_raw(child.id() as i32);
        (child, pgid)
    }

    #[test]
    fn stop_escalates_for_a_group_that_ignores_sigterm_and_reaps_nothing_itself() {
        let (mut a, pa) = group("trap '' TERM; sleep 100 & wait");
        let (mut b, pb) = group("sleep 100");
        // Reap the leaders as their parent must, on another thread.
        let reaper = thread::spawn(move || {
            let _ = a.wait();
            let _ = b.wait();
        });
        let started = Instant::now();
        assert!(stop(&[pa, pb], Duration::from_millis(300)));
        assert!(!alive(pa) && !alive(pb));
        // Both groups shared one grace period.
        assert!(started.elapsed() < Duration::from_secs(2) + KILL_WAIT);
        reaper.join().expect("reaper");
    }

    #[test]
    fn a_group_that_is_gone_is_not_alive() {
        let (mut c, p) = group("exit 0");
        let _ = c.wait();
        assert!(!alive(p));
        assert!(stop(&[p], Duration::from_secs(1)));
    }
}

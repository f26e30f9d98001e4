//! When the fix started, in the clock that stamps files: to tell whether a file
//! the background copy reaches could have been changed by the agent already.
//!
//! The witness is a file's ctime. The kernel sets it to "now" on every write,
//! truncate, rename, link count or mode change, and unlike the mtime no tool
//! can set it back. Comparing a ctime with a start time needs care, because
//! the clock that stamps files is not the clock a process reads:
//!
//! - Linux stamps files from a coarse clock, up to one tick (1–10 ms) behind
//!   `clock_gettime`; a change made just after the start can carry a ctime
//!   just before it.
//! - Some filesystems keep whole seconds (ext3, HFS+) or two (FAT).
//! - A network filesystem's server stamps with its own clock, maybe skewed.
//!
//! So the start is read from the filesystem itself whenever possible: the
//! state directory (in a git repository `.git/otorepair/`, on the workspace's
//! filesystem) is touched (its mtime set, which makes the kernel or the server
//! stamp its ctime with the filesystem's own "now") and its ctime read: that is
//! the start. Before the agent may start, [`Starting::settle`] touches it again
//! until the ctime moves on (the filesystem's clock has ticked; at once with
//! fine-grained timestamps, within a tick otherwise). From then on, a change
//! has a ctime after the start, and a file whose ctime is not after it was last
//! changed before the agent started. On a filesystem whose clock does not tick
//! within [`TICK_WAIT`] (whole seconds), a ctime equal to the start is
//! ambiguous and counts as after.
//!
//! A file on another filesystem than the state directory (a non-git workspace
//! with the state under `~/.local/state`, a mount inside the workspace) is
//! judged by this process's clock instead: the agent starts at least
//! [`MAX_LAG`] after the start, so a change after that carries a ctime after
//! the start even from a coarse clock; a ctime in whole seconds marks a coarse
//! filesystem, and then anything within [`COARSE`] of the start counts as
//! after. What this cannot catch: a network filesystem whose server's clock
//! is behind this machine's, for files outside the state directory's
//! filesystem, and a clock stepped back during the fix.

use std::fs::File;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch (saturating: until the year 2262).
pub type Nanos = i64;

/// The most a file's stamp lags this process's clock on a local filesystem
/// (one kernel tick at 100 Hz, with room).
const MAX_LAG: Duration = Duration::from_millis(15);
/// The coarsest timestamps a filesystem keeps (FAT: 2 s).
const COARSE: Duration = Duration::from_secs(2);
/// How long [`Starting::settle`] waits for the filesystem's clock to tick.
const TICK_WAIT: Duration = Duration::from_millis(20);

fn nanos(d: Duration) -> Nanos {
    Nanos::try_from(d.as_nanos()).unwrap_or(Nanos::MAX)
}

/// A timestamp in [`Nanos`], from its seconds and nanoseconds.
pub fn stamp_nanos(secs: i64, nsec: i64) -> Nanos {
    secs.saturating_mul(1_000_000_000).saturating_add(nsec)
}

fn now() -> Nanos {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(nanos)
        .unwrap_or(0)
}

/// A file's ctime, in [`Nanos`].
pub fn ctime(meta: &std::fs::Metadata) -> Nanos {
    stamp_nanos(meta.ctime(), meta.ctime_nsec())
}

/// The start as the state directory's filesystem stamped it.
#[derive(Debug, Clone)]
struct Probe {
    dev: u64,
    start: Nanos,
    /// Its clock ticked before the agent started.
    ticked: bool,
}

/// The start of a fix, before [`Starting::settle`].
#[derive(Debug)]
pub struct Starting {
    local: Nanos,
    probe: Option<(File, Probe)>,
}

/// When the fix started: see the module docs.
#[derive(Debug, Clone)]
pub struct Epoch {
    local: Nanos,
    /// The agent starts at least [`MAX_LAG`] after `local`.
    local_settled: bool,
    probe: Option<Probe>,
}

/// Sets the mtime of `file`, so that its filesystem stamps its ctime with its
/// own "now"; returns that ctime.
fn touch(file: &File) -> Option<Nanos> {
    file.set_modified(SystemTime::now()).ok()?;
    file.metadata().ok().map(|m| ctime(&m))
}

impl Epoch {
    /// Marks the start, before anything of the fix is read. `probe_dir`: a
    /// directory otorepair owns (the state directory), touched to read the
    /// filesystem's clock.
    pub fn begin(probe_dir: Option<&Path>) -> Starting {
        let local = now();
        let probe = probe_dir.and_then(|dir| {
            let file = File::options()
                .read(true)
                .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
                .open(dir)
                .ok()?;
            let dev = file.metadata().ok()?.dev();
            let start = touch(&file)?;
            Some((
                file,
                Probe {
                    dev,
                    start,
                    ticked: false,
                },
            ))
        });
        Starting { local, probe }
    }

    /// Whether a file with this device and ctime may have been changed after
    /// the start (see the module docs).
    pub fn maybe_after(&self, dev: u64, ctime: Nanos) -> bool {
        match &self.probe {
            Some(p) if p.dev == dev => ctime > p.start || (!p.ticked && ctime == p.start),
            _ => {
                let mut since = self.local;
                if !self.local_settled {
                    since = since.saturating_sub(nanos(MAX_LAG));
                }
                if ctime % 1_000_000_000 == 0 {
                    since = since.saturating_sub(nanos(COARSE));
                }
                ctime >= since
            }
        }
    }
}

impl Starting {
    /// The start as known before [`Starting::settle`]: its judgement is the
    /// stricter one (a stamp equal to the probe's, or within [`MAX_LAG`] of
    /// the local start, counts as after).
    pub fn so_far(&self) -> Epoch {
        Epoch {
            local: self.local,
            local_settled: false,
            probe: self.probe.as_ref().map(|(_, p)| p.clone()),
        }
    }

    /// Waits, before the agent starts, until a change made from now on is told
    /// apart from one made before [`Epoch::begin`]: the probe's clock has
    /// ticked (at most [`TICK_WAIT`]), and, when files of `workspace` are on
    /// another filesystem than the probe, [`MAX_LAG`] has passed.
    pub fn settle(self, workspace: &Path) -> Epoch {
        let Starting { local, probe } = self;
        let waited = Instant::now();
        let probe = probe.map(|(file, mut p)| {
            loop {
                // Checked before the touch: a stall here still ends on a fresh one.
                let last = waited.elapsed() >= TICK_WAIT;
                match touch(&file) {
                    Some(t) if t > p.start => {
                        p.ticked = true;
                        break;
                    }
                    Some(_) if !last => std::thread::sleep(Duration::from_millis(1)),
                    _ => break,
                }
            }
            p
        });
        let ws_dev = std::fs::metadata(workspace).ok().map(|m| m.dev());
        let same_fs = probe.as_ref().is_some_and(|p| Some(p.dev) == ws_dev);
        if !same_fs {
            let lag = local.saturating_add(nanos(MAX_LAG)).saturating_sub(now());
            if lag > 0 {
                std::thread::sleep(Duration::from_nanos(lag as u64));
            }
        }
        Epoch {
            local,
            local_settled: !same_fs,
            probe,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const S: Nanos = 1_000_000_000;

    #[test]
    fn on_the_probe_s_filesystem_only_a_later_stamp_is_after() {
        let dir = tempfile::TempDir::new().unwrap();
        let before = dir.path().join("before");
        fs::write(&before, "x").unwrap();
        let epoch = Epoch::begin(Some(dir.path())).settle(dir.path());
        let p = epoch.probe.clone().expect("a probe");
        assert!(p.ticked, "the filesystem's clock did not tick");
        let meta = fs::metadata(&before).unwrap();
        assert!(!epoch.maybe_after(meta.dev(), ctime(&meta)));
        assert!(!epoch.maybe_after(p.dev, p.start));
        fs::write(&before, "y").unwrap();
        let meta = fs::metadata(&before).unwrap();
        assert!(epoch.maybe_after(meta.dev(), ctime(&meta)));
        // Without the tick, a stamp equal to the start is ambiguous.
        let coarse = Epoch {
            probe: Some(Probe {
                ticked: false,
                ..p.clone()
            }),
            ..epoch
        };
        assert!(coarse.maybe_after(p.dev, p.start));
        assert!(!coarse.maybe_after(p.dev, p.start - 1));
    }

    #[test]
    fn elsewhere_the_local_clock_judges_with_room_for_coarse_stamps() {
        let local = 1_700_000_000 * S + 500_000_000;
        let settled = Epoch {
            local,
            local_settled: true,
            probe: None,
        };
        assert!(settled.maybe_after(1, local));
        assert!(!settled.maybe_after(1, local - 1));
        // Whole seconds: a coarse filesystem, within 2 s counts as after.
        assert!(settled.maybe_after(1, local - 500_000_000));
        assert!(settled.maybe_after(1, local - S - 500_000_000));
        assert!(!settled.maybe_after(1, local - 3 * S - 500_000_000));
        // Not waited out: a stamp up to one lag before may be a change after.
        let unsettled = Epoch {
            local_settled: false,
            ..settled
        };
        assert!(unsettled.maybe_after(1, local - 1_000_000));
        assert!(!unsettled.maybe_after(1, local - 100_000_000 - 1));
        // The probe's filesystem is judged by the probe only.
        let probed = Epoch {
            probe: Some(Probe {
                dev: 7,
                start: local + S,
                ticked: true,
            }),
            ..unsettled
        };
        assert!(!probed.maybe_after(7, local + S));
        assert!(probed.maybe_after(8, local + S));
    }

    #[test]
    fn elsewhere_the_agent_starts_after_the_lag() {
        let dir = tempfile::TempDir::new().unwrap();
        let started = Instant::now();
        let epoch = Epoch::begin(None).settle(dir.path());
        assert!(started.elapsed() >= MAX_LAG);
        assert!(epoch.local_settled);
    }
}

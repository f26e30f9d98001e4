//! Listing processes: which processes belong to the watched command, and how
//! long each has been running.
//!
//! Linux reads `/proc/PID/stat` (one small file per process, no fork); elsewhere
//! one `ps -A` run gives the same fields (macOS has no `/proc`). No crate: the
//! fields needed are four numbers and a start time, and both paths are short.
//! Callers list processes only at moments that call for it (an error block
//! settling, the bounded wait after a fix), never on a timer of their own.

use std::time::Duration;

use nix::unistd::Pid;

/// One process, as far as the command's tree is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    /// The session id; 0 where the platform's `ps` does not give it.
    pub sid: i32,
    /// How long it has been running, when known.
    pub age: Option<Duration>,
    /// CPU time (clock ticks) of its children that exited and were waited for:
    /// it grows when one of its children dies. Linux only (`None` elsewhere).
    pub children_cpu: Option<u64>,
    /// The executable's short name (`python3`, `node`).
    pub name: String,
}

/// Every process the OS shows us (Linux: `/proc`; elsewhere: `ps -A`).
fn all_processes() -> Vec<ProcessInfo> {
    match proc_fs::list() {
        Some(list) => list,
        None => ps::list(),
    }
}

/// The processes of the command started as `root`: `root` itself, its
/// descendants, and anything else in its process group or session (an orphan
/// re-parented to init is still the command's). Sorted by pid.
pub fn command_tree(root: Pid) -> Vec<ProcessInfo> {
    tree_of(root.as_raw(), all_processes())
}

fn tree_of(root: i32, all: Vec<ProcessInfo>) -> Vec<ProcessInfo> {
    let mut inside: std::collections::HashSet<i32> = all
        .iter()
        .filter(|p| p.pid == root || p.pgid == root || (p.sid == root && root > 0))
        .map(|p| p.pid)
        .collect();
    // Descendants: grow the set until no process's parent is newly inside.
    loop {
        let before = inside.len();
        for p in &all {
            if inside.contains(&p.ppid) {
                inside.insert(p.pid);
            }
        }
        if inside.len() == before {
            break;
        }
    }
    let mut tree: Vec<ProcessInfo> = all
        .into_iter()
        .filter(|p| inside.contains(&p.pid))
        .collect();
    tree.sort_by_key(|p| p.pid);
    tree
}

mod proc_fs {
    use super::ProcessInfo;
    use std::time::Duration;

    /// `None` when there is no `/proc` to read (not Linux).
    pub(super) fn list() -> Option<Vec<ProcessInfo>> {
        let dir = std::fs::read_dir("/proc").ok()?;
        let uptime = std::fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|u| u.split_whitespace().next()?.parse::<f64>().ok());
        // SAFETY: sysconf only reads a constant of the system.
        let ticks = Some(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
            .filter(|&t| t > 0)
            .map(|t| t as f64);
        let mut out = Vec::new();
        for entry in dir.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            // A process can vanish between readdir and read: skip it.
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            if let Some(p) = parse_stat(pid, &stat, uptime, ticks) {
                out.push(p);
            }
        }
        Some(out)
    }

    /// `/proc/PID/stat`: `pid (comm) state ppid pgrp session ... starttime(22) ...`.
    /// The name may hold spaces and parentheses: fields start after the last ')'.
    pub(super) fn parse_stat(
        pid: i32,
        stat: &str,
        uptime: Option<f64>,
        ticks: Option<f64>,
    ) -> Option<ProcessInfo> {
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        let name = stat.get(open + 1..close)?.to_string();
        let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
        // fields[0] is the state (field 3), so field N is fields[N - 3].
        let state = *fields.first()?;
        if state == "Z" || state == "X" {
            return None; // dead, waiting to be reaped: not running code
        }
        let num = |n: usize| fields.get(n - 3)?.parse::<i64>().ok();
        let started = num(22)?;
        let age = match (uptime, ticks) {
            (Some(up), Some(t)) => {
                Some(Duration::from_secs_f64((up - started as f64 / t).max(0.0)))
            }
            _ => None,
        };
        let children_cpu = u64::try_from(num(16)?.saturating_add(num(17)?)).ok();
        Some(ProcessInfo {
            pid,
            ppid: i32::try_from(num(4)?).ok()?,
            pgid: i32::try_from(num(5)?).ok()?,
            sid: i32::try_from(num(6)?).ok()?,
            age,
            children_cpu,
            name,
        })
    }
}

mod ps {
    use super::ProcessInfo;
    use std::time::Duration;

    /// One `ps -A` run. Its session column is not portable (macOS prints a
    /// kernel address), so membership there is by group and parentage.
    pub(super) fn list() -> Vec<ProcessInfo> {
        let out = std::process::Command::new("ps")
            .args(["-A", "-o", "pid=,ppid=,pgid=,etime=,stat=,comm="])
            .stderr(std::process::Stdio::null())
            .output();
        let Ok(out) = out else {
            return Vec::new();
        };
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(parse_line)
            .collect()
    }

    pub(super) fn parse_line(line: &str) -> Option<ProcessInfo> {
        let mut it = line.split_whitespace();
        let pid = it.next()?.parse().ok()?;
        let ppid = it.next()?.parse().ok()?;
        let pgid = it.next()?.parse().ok()?;
        let age = elapsed(it.next()?);
        if it.next()?.starts_with('Z') {
            return None;
        }
        let name = it.collect::<Vec<_>>().join(" ");
        let name = name.rsplit('/').next().unwrap_or(&name).to_string();
        Some(ProcessInfo {
            pid,
            ppid,
            pgid,
            sid: 0,
            age,
            children_cpu: None,
            name,
        })
    }

    /// `ps` elapsed time: `[[dd-]hh:]mm:ss`.
    fn elapsed(text: &str) -> Option<Duration> {
        let (days, rest) = match text.split_once('-') {
            Some((d, r)) => (d.parse::<u64>().ok()?, r),
            None => (0, text),
        };
        let mut secs = 0u64;
        for part in rest.split(':') {
            secs = secs
                .checked_mul(60)?
                .checked_add(part.parse::<u64>().ok()?)?;
        }
        Some(Duration::from_secs(days * 86_400 + secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: i32, ppid: i32, pgid: i32, sid: i32) -> ProcessInfo {
        ProcessInfo {
            pid,
            ppid,
            pgid,
            sid,
            age: None,
            children_cpu: None,
            name: "x".into(),
        }
    }

    #[test]
    fn the_tree_is_descendants_group_and_session() {
        let all = vec![
            p(1, 0, 1, 1),
            p(100, 1, 100, 100),   // the command (session leader)
            p(101, 100, 100, 100), // its child
            p(102, 101, 102, 100), // a grandchild in a group of its own
            p(103, 1, 100, 100),   // an orphan still in the session
            p(104, 1, 104, 104),   // unrelated
            p(105, 102, 105, 105), // a descendant that made its own session
        ];
        let pids: Vec<i32> = tree_of(100, all).iter().map(|p| p.pid).collect();
        assert_eq!(pids, [100, 101, 102, 103, 105]);
    }

    #[test]
    fn stat_lines_parse_with_odd_names_and_skip_zombies() {
        let stat =
            "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 0 0 0 0 0 0 3 4 20 0 1 0 500 0 0";
        let p = proc_fs::parse_stat(4242, stat, Some(10.0), Some(100.0)).expect("parsed");
        assert_eq!((p.pid, p.ppid, p.pgid, p.sid), (4242, 1, 4242, 4242));
        assert_eq!(p.children_cpu, Some(7));
        assert_eq!(p.name, "my (odd) name");
        assert_eq!(p.age, Some(Duration::from_secs(5)));
        let zombie = stat.replace(") S ", ") Z ");
        assert_eq!(proc_fs::parse_stat(4242, &zombie, None, None), None);
        assert_eq!(proc_fs::parse_stat(1, "garbage", None, None), None);
    }

    #[test]
    fn ps_lines_parse() {
        let p = ps::parse_line("  512   1   512  1-02:03:04 Ss   /usr/bin/python3").unwrap();
        assert_eq!((p.pid, p.ppid, p.pgid, p.sid), (512, 1, 512, 0));
        assert_eq!(
            p.age,
            Some(Duration::from_secs(86_400 + 2 * 3600 + 3 * 60 + 4))
        );
        assert_eq!(p.name, "python3");
        assert!(ps::parse_line("  7 1 7 00:01 Z+ defunct").is_none());
        assert!(ps::parse_line("junk").is_none());
    }

    #[test]
    fn a_real_child_and_grandchild_are_in_the_tree() {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30; wait"])
            .process_group(0)
            .spawn()
            .expect("spawn sh");
        let root = Pid::from_raw(child.id() as i32);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let tree = command_tree(root);
            if tree.iter().filter(|p| p.name == "sleep").count() == 2 {
                assert!(tree
                    .iter()
                    .all(|p| p.age.is_some_and(|a| a < Duration::from_secs(60))));
                // The portable path sees the same tree.
                let via_ps: Vec<i32> = tree_of(root.as_raw(), ps::list())
                    .iter()
                    .map(|p| p.pid)
                    .collect();
                let via_proc: Vec<i32> = tree.iter().map(|p| p.pid).collect();
                assert_eq!(via_ps, via_proc);
                break;
            }
            assert!(std::time::Instant::now() < deadline, "tree: {tree:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = nix::sys::signal::killpg(root, nix::sys::signal::Signal::SIGKILL);
        let _ = child.wait();
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(crate::proptest_cases(256)))]

        /// A process names itself (the text in parentheses): any bytes there,
        /// or anywhere, give a parse or nothing, never a panic.
        #[test]
        fn any_stat_or_ps_text_parses_or_is_skipped(
            name in ".{0,40}",
            rest in "[ -~]{0,200}",
        ) {
            let stat = format!("42 ({name}) {rest}");
            let _ = proc_fs::parse_stat(42, &stat, Some(1.0), Some(100.0));
            let _ = proc_fs::parse_stat(42, &rest, None, None);
            let _ = ps::parse_line(&rest);
            let _ = ps::parse_line(&format!("1 1 1 00:01 S {name}"));
        }
    }
}

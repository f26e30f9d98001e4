//! Descriptors that must not leak into the processes otorepair starts: pipes
//! made close-on-exec from the start, and every inherited descriptor marked
//! close-on-exec between fork and exec.
//!
//! Linux (and the BSDs) create a pipe close-on-exec in one call (`pipe2`) and
//! mark a whole range in one call (`close_range`, Linux 5.11); macOS has
//! neither: the pipe's flags are set right after it is made, and the range is
//! walked descriptor by descriptor up to the process's limit.

use std::os::fd::OwnedFd;

/// A pipe (read end, write end), both ends close-on-exec; non-blocking too when
/// `nonblocking`.
pub fn cloexec_pipe(nonblocking: bool) -> nix::Result<(OwnedFd, OwnedFd)> {
    #[cfg(not(target_vendor = "apple"))]
    {
        use nix::fcntl::OFlag;
        let flags = if nonblocking {
            OFlag::O_CLOEXEC | OFlag::O_NONBLOCK
        } else {
            OFlag::O_CLOEXEC
        };
        nix::unistd::pipe2(flags)
    }
    #[cfg(target_vendor = "apple")]
    {
        use nix::fcntl::{fcntl, FcntlArg, FdFlag};
        // Another thread's fork+exec in between could inherit the pair; the
        // processes otorepair starts mark everything close-on-exec anyway
        // (see `mark_cloexec_from_3`).
        let (read, write) = nix::unistd::pipe()?;
        for fd in [&read, &write] {
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
            if nonblocking {
                set_nonblocking(fd, true)?;
            }
        }
        Ok((read, write))
    }
}

/// Makes `fd` non-blocking, or blocking again.
pub fn set_nonblocking(fd: impl std::os::fd::AsFd, nonblocking: bool) -> nix::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let fd = fd.as_fd();
    let mut flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    flags.set(OFlag::O_NONBLOCK, nonblocking);
    fcntl(fd, FcntlArg::F_SETFL(flags)).map(drop)
}

/// Most descriptors walked one by one where no range call exists: the
/// process's limit, but never more than this many system calls per spawn.
const WALK_LIMIT: libc::c_int = 65_536;

/// The highest descriptor a process we start could have inherited, for
/// [`mark_cloexec_from_3`]; taken before the fork (`getrlimit` is not on the
/// async-signal-safe list).
pub fn descriptor_limit() -> libc::c_int {
    // SAFETY: an all-zero rlimit is valid; getrlimit fills it.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: getrlimit writes into the struct we own.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    if !ok {
        return 4096;
    }
    libc::c_int::try_from(limit.rlim_cur)
        .unwrap_or(WALK_LIMIT)
        .min(WALK_LIMIT)
}

/// Between fork and exec: marks every descriptor from 3 up close-on-exec, so
/// nothing of otorepair's (pipes, the PTY) leaks into the command or an agent.
/// `limit` comes from [`descriptor_limit`]. Async-signal-safe: system calls only.
pub fn mark_cloexec_from_3(limit: libc::c_int) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: close_range only changes flags of this process's descriptors.
        let marked = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            )
        } == 0;
        if marked {
            return;
        }
        // Older than 5.11: walk them, as everywhere else.
    }
    for fd in 3..limit {
        // SAFETY: fcntl on a descriptor number; one that is not open fails (EBADF).
        unsafe {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn pipes_are_close_on_exec_and_non_blocking_when_asked() {
        for nonblocking in [false, true] {
            let (read, write) = cloexec_pipe(nonblocking).expect("pipe");
            for fd in [&read, &write] {
                // SAFETY: fcntl queries on descriptors we own.
                let (fd_flags, fl_flags) = unsafe {
                    (
                        libc::fcntl(fd.as_raw_fd(), libc::F_GETFD),
                        libc::fcntl(fd.as_raw_fd(), libc::F_GETFL),
                    )
                };
                assert_ne!(fd_flags & libc::FD_CLOEXEC, 0);
                assert_eq!(fl_flags & libc::O_NONBLOCK != 0, nonblocking);
            }
        }
    }

    #[test]
    fn the_walk_is_bounded() {
        let limit = descriptor_limit();
        assert!((3..=WALK_LIMIT).contains(&limit), "{limit}");
    }
}

//! Reading and writing workspace files by workspace-relative path without ever
//! leaving the workspace: every directory on the path is opened with
//! `O_NOFOLLOW` relative to the one before (`openat`), so a directory that a fix
//! (or anyone) replaced with a symlink stops the walk instead of redirecting it,
//! and the file itself is never a symlink followed.
//!
//! This is stricter than "stay inside the workspace": a symlink pointing back
//! into the workspace is refused too, since writing through it would change a
//! different file than the one recorded. POSIX `openat`/`renameat`/`unlinkat`,
//! so the same code runs on macOS.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{self, AtFlags, OFlag};
use nix::sys::stat::{self, Mode, SFlag};
use nix::unistd::{self, UnlinkatFlags};

/// Why a path cannot be reached without leaving the workspace or following a link.
pub(super) const THROUGH_SYMLINK: &str = "a directory on its path is a symlink or not a directory";
pub(super) const IS_SYMLINK: &str = "it is a symlink";
pub(super) const NOT_REGULAR: &str = "it is not a regular file";

/// What is at a workspace-relative path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Missing,
    File(Vec<u8>),
    /// Larger than the limit asked for; its length.
    TooLarge(u64),
    /// Not reachable as a plain file without following a symlink; says why.
    Unreachable(&'static str),
}

/// Whether `rel` is a plain relative path (only normal components): the only
/// kind this module accepts.
pub fn is_plain_relative(rel: &str) -> bool {
    !rel.is_empty()
        && Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

fn invalid(rel: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("not a path inside the workspace: {rel}"),
    )
}

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

enum Parent {
    Dir(OwnedFd, String),
    Missing,
    Unreachable,
}

/// Opens the directory holding `rel`, one component at a time; with `create`,
/// missing directories are made.
fn parent(workspace: &Path, rel: &str, create: bool) -> io::Result<Parent> {
    if !is_plain_relative(rel) {
        return Err(invalid(rel));
    }
    let mut parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
    let name = parts.pop().ok_or_else(|| invalid(rel))?.to_string();
    let mut dir = fcntl::open(
        workspace,
        DIR_FLAGS.difference(OFlag::O_NOFOLLOW),
        Mode::empty(),
    )?;
    for part in parts {
        dir = match fcntl::openat(&dir, part, DIR_FLAGS, Mode::empty()) {
            Ok(d) => d,
            Err(Errno::ENOENT) if create => {
                match stat::mkdirat(&dir, part, Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                match fcntl::openat(&dir, part, DIR_FLAGS, Mode::empty()) {
                    Ok(d) => d,
                    Err(Errno::ELOOP | Errno::ENOTDIR) => return Ok(Parent::Unreachable),
                    Err(e) => return Err(e.into()),
                }
            }
            Err(Errno::ENOENT) => return Ok(Parent::Missing),
            Err(Errno::ELOOP | Errno::ENOTDIR) => return Ok(Parent::Unreachable),
            Err(e) => return Err(e.into()),
        };
    }
    Ok(Parent::Dir(dir, name))
}

/// Reads the file at `rel`, at most `max` bytes.
pub fn read(workspace: &Path, rel: &str, max: u64) -> io::Result<Found> {
    let (dir, name) = match parent(workspace, rel, false)? {
        Parent::Dir(d, n) => (d, n),
        Parent::Missing => return Ok(Found::Missing),
        Parent::Unreachable => return Ok(Found::Unreachable(THROUGH_SYMLINK)),
    };
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let fd = match fcntl::openat(&dir, name.as_str(), flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(Found::Missing),
        Err(Errno::ELOOP) => return Ok(Found::Unreachable(IS_SYMLINK)),
        Err(Errno::ENOTDIR) => return Ok(Found::Unreachable(THROUGH_SYMLINK)),
        Err(e) => return Err(e.into()),
    };
    let st = stat::fstat(&fd)?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
        return Ok(Found::Unreachable(NOT_REGULAR));
    }
    let len = u64::try_from(st.st_size).unwrap_or(0);
    if len > max {
        return Ok(Found::TooLarge(len));
    }
    let mut bytes = Vec::new();
    File::from(fd).take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Ok(Found::TooLarge(bytes.len() as u64));
    }
    Ok(Found::File(bytes))
}

/// Replaces the file at `rel` with `bytes` (creating missing directories),
/// atomically: a temp file beside it, then a rename over it, which replaces a
/// symlink there rather than writing through it. Keeps the permissions of the
/// file it replaces. `Ok(Some(why))` when the path cannot be reached safely.
pub fn write(workspace: &Path, rel: &str, bytes: &[u8]) -> io::Result<Option<&'static str>> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let (dir, name) = match parent(workspace, rel, true)? {
        Parent::Dir(d, n) => (d, n),
        Parent::Missing | Parent::Unreachable => return Ok(Some(THROUGH_SYMLINK)),
    };
    let mode = match stat::fstatat(&dir, name.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG => {
            Mode::from_bits_truncate(st.st_mode & 0o7777)
        }
        _ => Mode::from_bits_truncate(0o644),
    };
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = format!(".{name}.otorepair-undo-{}-{n}", std::process::id());
    let flags =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = fcntl::openat(&dir, tmp.as_str(), flags, mode)?;
    let result = (|| -> io::Result<()> {
        let mut f = File::from(fd);
        f.write_all(bytes)?;
        f.sync_all()?;
        // The umask may have narrowed the mode given at creation.
        stat::fchmod(f.as_fd(), mode)?;
        fcntl::renameat(&dir, tmp.as_str(), &dir, name.as_str())?;
        Ok(())
    })();
    if result.is_err() {
        let _ = unistd::unlinkat(&dir, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
    }
    result.map(|()| None)
}

/// Deletes the file at `rel` (the entry itself, never what a symlink points to).
/// `Ok(Some(why))` when the path cannot be reached safely.
pub fn remove(workspace: &Path, rel: &str) -> io::Result<Option<&'static str>> {
    let (dir, name) = match parent(workspace, rel, false)? {
        Parent::Dir(d, n) => (d, n),
        Parent::Missing => return Ok(None),
        Parent::Unreachable => return Ok(Some(THROUGH_SYMLINK)),
    };
    match unistd::unlinkat(&dir, name.as_str(), UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn reads_writes_and_removes_inside() {
        let ws = tempfile::TempDir::new().unwrap();
        let d = ws.path();
        assert_eq!(read(d, "a/b.txt", 100).unwrap(), Found::Missing);
        assert_eq!(write(d, "a/b.txt", b"hi").unwrap(), None);
        assert_eq!(
            read(d, "a/b.txt", 100).unwrap(),
            Found::File(b"hi".to_vec())
        );
        assert_eq!(read(d, "a/b.txt", 1).unwrap(), Found::TooLarge(2));
        fs::set_permissions(d.join("a/b.txt"), fs::Permissions::from_mode(0o751)).unwrap();
        write(d, "a/b.txt", b"again").unwrap();
        let mode = fs::metadata(d.join("a/b.txt"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o751);
        assert_eq!(remove(d, "a/b.txt").unwrap(), None);
        assert_eq!(read(d, "a/b.txt", 100).unwrap(), Found::Missing);
        assert_eq!(fs::read_dir(d.join("a")).unwrap().count(), 0);
        assert!(read(d, "../x", 1).is_err());
        assert!(write(d, "/etc/x", b"").is_err());
    }

    #[test]
    fn never_goes_through_a_symlink() {
        let ws = tempfile::TempDir::new().unwrap();
        let out = tempfile::TempDir::new().unwrap();
        let d = ws.path();
        fs::write(out.path().join("f.txt"), "outside").unwrap();
        symlink(out.path(), d.join("src")).unwrap();
        assert_eq!(
            read(d, "src/f.txt", 100).unwrap(),
            Found::Unreachable(THROUGH_SYMLINK)
        );
        assert_eq!(write(d, "src/f.txt", b"x").unwrap(), Some(THROUGH_SYMLINK));
        assert_eq!(remove(d, "src/f.txt").unwrap(), Some(THROUGH_SYMLINK));
        assert_eq!(
            write(d, "src/new/g.txt", b"x").unwrap(),
            Some(THROUGH_SYMLINK)
        );
        assert_eq!(
            fs::read_to_string(out.path().join("f.txt")).unwrap(),
            "outside"
        );
        assert_eq!(fs::read_dir(out.path()).unwrap().count(), 1);
        // A symlinked file is replaced, not written through.
        symlink(out.path().join("f.txt"), d.join("link.txt")).unwrap();
        assert_eq!(
            read(d, "link.txt", 100).unwrap(),
            Found::Unreachable(IS_SYMLINK)
        );
        write(d, "link.txt", b"mine").unwrap();
        assert_eq!(
            fs::read_to_string(out.path().join("f.txt")).unwrap(),
            "outside"
        );
        assert_eq!(fs::read_to_string(d.join("link.txt")).unwrap(), "mine");
    }
}

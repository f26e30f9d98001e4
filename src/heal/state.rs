//! otorepair's own files for one workspace: creating the directory, locking,
//! bounded reads and atomic writes.
//!
//! Where: see [`super::location`]; `otorepair config` prints it.
//!
//! Never through a symlink: every directory otorepair creates below the base
//! (`.git`, or the user's state directory) must be a real directory, or nothing
//! is written. Files are replaced by rename, which replaces a symlink planted in
//! the directory instead of following it.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use thiserror::Error;

use super::location::locate;

/// How long a lock is waited for before giving up: another otorepair process
/// holds it for milliseconds, so a longer wait means something is stuck.
pub const LOCK_WAIT: Duration = Duration::from_secs(3);

/// What can go wrong with the state directory.
#[derive(Debug, Error)]
pub enum StateError {
    #[error("{} is locked by another process (waited {}s)", path.display(), LOCK_WAIT.as_secs())]
    Locked { path: PathBuf },
    #[error("{} is a symlink or not a directory: otorepair does not write through it", path.display())]
    NotADirectory { path: PathBuf },
    #[error("{} is larger than {max} bytes", path.display())]
    TooLarge { path: PathBuf, max: u64 },
    #[error("{} is not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error("no place for otorepair's state: HOME is not set and {} is not in a git repository", workspace.display())]
    NoHome { workspace: PathBuf },
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StateError + 'a {
    move |source| StateError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// The state directory of one workspace.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
    workspace: PathBuf,
}

/// An exclusive `flock` held until dropped.
pub type Lock = Flock<File>;

/// The content of the regular file `path`, reading at most `max` bytes: `None`
/// when it does not exist, [`StateError::TooLarge`] past `max`. A symlink or a
/// FIFO there is refused, never followed or waited on.
pub fn read_bounded(path: &Path, max: u64) -> Result<Option<Vec<u8>>, StateError> {
    use crate::os::files::{read_regular, ReadRegular};
    read_regular(path, max, false).map_err(|e| match e {
        ReadRegular::NotRegular => StateError::NotAFile {
            path: path.to_path_buf(),
        },
        ReadRegular::TooLarge => StateError::TooLarge {
            path: path.to_path_buf(),
            max,
        },
        ReadRegular::Open(e) => io_err("opening", path)(e),
        ReadRegular::Read(e) => io_err("reading", path)(e),
    })
}

/// Creates `dir` if missing; fails unless it is a real directory (a symlink
/// there is refused, never followed).
fn make_real_dir(dir: &Path) -> Result<(), StateError> {
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err("creating", dir)(e)),
    }
    let real_dir = fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_dir());
    if !real_dir {
        return Err(StateError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    Ok(())
}

impl StateDir {
    /// The state directory of `workspace` (see the module docs), created if
    /// missing.
    pub fn open(workspace: &Path) -> Result<StateDir, StateError> {
        Self::open_with(workspace, &|name| std::env::var_os(name))
    }

    fn open_with(
        workspace: &Path,
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<StateDir, StateError> {
        let loc = locate(workspace, env)?;
        fs::create_dir_all(&loc.base).map_err(io_err("creating", &loc.base))?;
        let mut dir = loc.base.clone();
        for part in &loc.parts {
            dir.push(part);
            make_real_dir(&dir)?;
        }
        let state = StateDir {
            dir,
            workspace: workspace.to_path_buf(),
        };
        // Tells a person browsing the state directory whose it is.
        let named = state.path("workspace");
        if !named.exists() {
            let mut text = workspace.as_os_str().as_encoded_bytes().to_vec();
            text.push(b'\n');
            state.write_note("workspace", &text)?;
        }
        Ok(state)
    }

    /// The directory itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The workspace this state belongs to.
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// A file inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A subdirectory (created if missing, and checked to be a real directory).
    pub fn subdir(&self, name: &str) -> Result<StateDir, StateError> {
        let dir = self.path(name);
        make_real_dir(&dir)?;
        Ok(StateDir {
            dir,
            workspace: self.workspace.clone(),
        })
    }

    /// Take the exclusive lock `name` (a file in the directory), waiting at most
    /// [`LOCK_WAIT`]. `flock` locks belong to the open file, so threads of one
    /// process exclude each other as well as other processes.
    pub fn lock(&self, name: &str) -> Result<Lock, StateError> {
        self.lock_within(name, LOCK_WAIT)
    }

    fn lock_within(&self, name: &str, wait: Duration) -> Result<Lock, StateError> {
        let path = self.path(name);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(io_err("opening lock file", &path))?;
        let deadline = Instant::now() + wait;
        loop {
            // flock has no timed wait: try, and sleep a little between tries.
            // This runs on a worker thread or in `otorepair undo`, never on the
            // supervisor's event loop.
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => return Ok(lock),
                Err((f, Errno::EWOULDBLOCK | Errno::EINTR)) => {
                    if Instant::now() >= deadline {
                        return Err(StateError::Locked { path });
                    }
                    file = f;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err((_, e)) => return Err(io_err("locking", &path)(io::Error::from(e))),
            }
        }
    }

    /// The content of `name`, at most `max` bytes (see [`read_bounded`]).
    pub fn read(&self, name: &str, max: u64) -> Result<Option<Vec<u8>>, StateError> {
        read_bounded(&self.path(name), max)
    }

    /// Replace `name` with `bytes` so readers see the old or the new file, never
    /// a part: temp file in the same directory, fsync, rename, fsync the directory.
    pub fn write_atomic(&self, name: &str, bytes: &[u8]) -> Result<(), StateError> {
        self.replace(name, bytes, true)
    }

    /// Like [`StateDir::write_atomic`] without the fsyncs, for notes whose loss
    /// in a crash costs nothing (they are written again): an fsync is
    /// milliseconds between a crash and its fix.
    pub fn write_note(&self, name: &str, bytes: &[u8]) -> Result<(), StateError> {
        self.replace(name, bytes, false)
    }

    fn replace(&self, name: &str, bytes: &[u8], durable: bool) -> Result<(), StateError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = self.path(&format!(".{name}.tmp-{}-{n}", std::process::id()));
        let target = self.path(name);
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(io_err("creating", &tmp))?;
            f.write_all(bytes)
                .and_then(|()| if durable { f.sync_all() } else { Ok(()) })
                .map_err(io_err("writing", &tmp))?;
            fs::rename(&tmp, &target).map_err(io_err("renaming into", &target))?;
            // Make the rename itself durable; failure here loses nothing already written.
            if durable {
                if let Ok(d) = File::open(&self.dir) {
                    let _ = d.sync_all();
                }
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Delete `name`; a missing file is fine.
    pub fn remove(&self, name: &str) -> Result<(), StateError> {
        let path = self.path(name);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("deleting", &path)(e)),
        }
    }

    /// Names of the entries in the directory (not UTF-8 names left out).
    pub fn names(&self) -> Result<Vec<String>, StateError> {
        let entries = fs::read_dir(&self.dir).map_err(io_err("reading", &self.dir))?;
        Ok(entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect())
    }

    /// Rename `name` aside to `<name>.corrupt-<now>` (with `-1`, `-2`... if that is
    /// taken, so an earlier copy is never overwritten). Returns the new path.
    /// Callers hold the file's lock, so nothing races between check and rename.
    pub fn move_aside(&self, name: &str, now: u64) -> Result<PathBuf, StateError> {
        let from = self.path(name);
        for i in 0..10_000u32 {
            let to = if i == 0 {
                self.path(&format!("{name}.corrupt-{now}"))
            } else {
                self.path(&format!("{name}.corrupt-{now}-{i}"))
            };
            if fs::symlink_metadata(&to).is_ok() {
                continue;
            }
            fs::rename(&from, &to).map_err(io_err("moving aside", &from))?;
            return Ok(to);
        }
        Err(io_err("moving aside", &from)(io::Error::other(
            "too many corrupt copies already",
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with(state_home: &Path) -> impl Fn(&str) -> Option<OsString> {
        let home = state_home.as_os_str().to_owned();
        move |name| (name == "XDG_STATE_HOME").then(|| home.clone())
    }

    #[test]
    fn outside_git_the_state_is_in_the_users_state_directory() {
        let ws = tempfile::TempDir::new().unwrap();
        let home = tempfile::TempDir::new().unwrap();
        let s = StateDir::open_with(ws.path(), &env_with(home.path())).unwrap();
        assert!(s
            .dir()
            .starts_with(home.path().join("otorepair/workspaces")));
        let key = s.dir().file_name().unwrap().to_string_lossy().into_owned();
        let name = ws
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(key.starts_with(&format!("{name}-")), "{key}");
        assert_eq!(
            fs::read(s.path("workspace")).unwrap(),
            format!("{}\n", ws.path().display()).into_bytes()
        );
        assert_eq!(fs::read_dir(ws.path()).unwrap().count(), 0);
        // Another workspace of the same name gets another directory.
        let other = tempfile::TempDir::new().unwrap();
        let twin = other.path().join(ws.path().file_name().unwrap());
        fs::create_dir(&twin).unwrap();
        let t = StateDir::open_with(&twin, &env_with(home.path())).unwrap();
        assert_ne!(s.dir(), t.dir());
    }

    #[test]
    fn in_git_the_state_is_inside_the_git_directory() {
        let ws = tempfile::TempDir::new().unwrap();
        fs::create_dir_all(ws.path().join(".git")).unwrap();
        fs::write(ws.path().join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
        let none = |_: &str| None;
        let s = StateDir::open_with(ws.path(), &none).unwrap();
        assert_eq!(s.dir(), ws.path().join(".git/otorepair"));
        let sub = ws.path().join("web/app");
        fs::create_dir_all(&sub).unwrap();
        let s = StateDir::open_with(&sub, &none).unwrap();
        assert!(s
            .dir()
            .starts_with(ws.path().join(".git/otorepair/workspaces")));
        assert!(s
            .dir()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("app-"));
        // A linked worktree: `.git` is a file naming the git directory.
        let wt = tempfile::TempDir::new().unwrap();
        fs::write(
            wt.path().join(".git"),
            format!("gitdir: {}\n", ws.path().join(".git").display()),
        )
        .unwrap();
        let s = StateDir::open_with(wt.path(), &none).unwrap();
        assert_eq!(s.dir(), ws.path().join(".git/otorepair"));
    }

    #[test]
    fn a_symlinked_state_directory_is_refused() {
        let ws = tempfile::TempDir::new().unwrap();
        let elsewhere = tempfile::TempDir::new().unwrap();
        fs::create_dir_all(ws.path().join(".git")).unwrap();
        fs::write(ws.path().join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), ws.path().join(".git/otorepair")).unwrap();
        let err = StateDir::open_with(ws.path(), &|_| None).unwrap_err();
        assert!(matches!(err, StateError::NotADirectory { .. }), "{err}");
        assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_held_lock_is_waited_for_a_bounded_time() {
        let home = tempfile::TempDir::new().unwrap();
        let ws = tempfile::TempDir::new().unwrap();
        let s = StateDir::open_with(ws.path(), &env_with(home.path())).unwrap();
        let held = s.lock("x.lock").unwrap();
        let err = s
            .lock_within("x.lock", Duration::from_millis(50))
            .unwrap_err();
        assert!(
            err.to_string().contains("locked by another process"),
            "{err}"
        );
        drop(held);
        s.lock_within("x.lock", Duration::from_millis(50)).unwrap();
    }

    #[test]
    fn reads_are_bounded_and_only_of_regular_files() {
        let home = tempfile::TempDir::new().unwrap();
        let ws = tempfile::TempDir::new().unwrap();
        let s = StateDir::open_with(ws.path(), &env_with(home.path())).unwrap();
        assert_eq!(s.read("missing", 10).unwrap(), None);
        s.write_atomic("x", b"0123456789").unwrap();
        assert_eq!(s.read("x", 10).unwrap().unwrap(), b"0123456789");
        assert!(matches!(
            s.read("x", 9).unwrap_err(),
            StateError::TooLarge { .. }
        ));
        nix::unistd::mkfifo(&s.path("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(matches!(
            s.read("fifo", 10).unwrap_err(),
            StateError::NotAFile { .. }
        ));
        std::os::unix::fs::symlink(s.path("x"), s.path("link")).unwrap();
        assert!(matches!(
            s.read("link", 10).unwrap_err(),
            StateError::NotAFile { .. }
        ));
    }

    #[test]
    fn atomic_write_leaves_no_temp_files_and_replaces_a_planted_symlink() {
        let home = tempfile::TempDir::new().unwrap();
        let ws = tempfile::TempDir::new().unwrap();
        let s = StateDir::open_with(ws.path(), &env_with(home.path())).unwrap();
        s.write_atomic("x.json", b"1").unwrap();
        s.write_atomic("x.json", b"2").unwrap();
        assert_eq!(fs::read(s.path("x.json")).unwrap(), b"2");
        let mut names = s.names().unwrap();
        names.sort();
        assert_eq!(names, ["workspace", "x.json"]);
        let victim = ws.path().join("victim");
        fs::write(&victim, "mine").unwrap();
        std::os::unix::fs::symlink(&victim, s.path("y.json")).unwrap();
        s.write_atomic("y.json", b"3").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "mine");
    }

    #[test]
    fn move_aside_never_overwrites() {
        let home = tempfile::TempDir::new().unwrap();
        let ws = tempfile::TempDir::new().unwrap();
        let s = StateDir::open_with(ws.path(), &env_with(home.path())).unwrap();
        s.write_atomic("h", b"first").unwrap();
        let a = s.move_aside("h", 100).unwrap();
        s.write_atomic("h", b"second").unwrap();
        let b = s.move_aside("h", 100).unwrap();
        assert_ne!(a, b);
        assert_eq!(fs::read(a).unwrap(), b"first");
        assert_eq!(fs::read(b).unwrap(), b"second");
    }
}

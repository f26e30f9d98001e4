//! The `.otorepair/` directory: creation, locking, atomic writes.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Name of the state directory inside the workspace.
pub const DIR_NAME: &str = ".otorepair";

/// `.otorepair/` in one workspace.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

/// An exclusive `flock` held until dropped.
pub type Lock = Flock<File>;

impl StateDir {
    /// Create `.otorepair/` if missing, with a `.gitignore` of `*` so nothing in it
    /// ever shows in `git status` (nor lands in a snapshot tree).
    pub fn open(workspace: &Path) -> Result<StateDir> {
        let dir = workspace.join(DIR_NAME);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let state = StateDir { dir };
        let ignore = state.path(".gitignore");
        if fs::read(&ignore).ok().as_deref() != Some(b"*\n".as_slice()) {
            state.write_atomic(".gitignore", b"*\n")?;
        }
        Ok(state)
    }

    /// The directory itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A file inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Take the exclusive lock `name` (a file in the directory), waiting for it.
    /// `flock` locks belong to the open file, so threads of one process exclude
    /// each other as well as other processes.
    pub fn lock(&self, name: &str) -> Result<Lock> {
        let path = self.path(name);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening lock file {}", path.display()))?;
        loop {
            match Flock::lock(file, FlockArg::LockExclusive) {
                Ok(lock) => return Ok(lock),
                Err((f, Errno::EINTR)) => file = f,
                Err((_, e)) => {
                    return Err(e).with_context(|| format!("locking {}", path.display()))
                }
            }
        }
    }

    /// Replace `name` with `bytes` so readers see the old or the new file, never
    /// a part: temp file in the same directory, fsync, rename, fsync the directory.
    pub fn write_atomic(&self, name: &str, bytes: &[u8]) -> Result<()> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = self.path(&format!(".{name}.tmp-{}-{n}", std::process::id()));
        let target = self.path(name);
        let result = (|| -> Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .with_context(|| format!("creating {}", tmp.display()))?;
            f.write_all(bytes)
                .and_then(|()| f.sync_all())
                .with_context(|| format!("writing {}", tmp.display()))?;
            fs::rename(&tmp, &target)
                .with_context(|| format!("renaming into {}", target.display()))?;
            // Make the rename itself durable; failure here loses nothing already written.
            if let Ok(d) = File::open(&self.dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Rename `name` aside to `<name>.corrupt-<now>` (with `-1`, `-2`... if that is
    /// taken, so an earlier copy is never overwritten). Returns the new path.
    pub fn move_aside(&self, name: &str, now: u64) -> Result<PathBuf> {
        let from = self.path(name);
        for i in 0..10_000u32 {
            let to = if i == 0 {
                self.path(&format!("{name}.corrupt-{now}"))
            } else {
                self.path(&format!("{name}.corrupt-{now}-{i}"))
            };
            // Callers hold the state lock, so nothing races between check and rename.
            if fs::symlink_metadata(&to).is_ok() {
                continue;
            }
            fs::rename(&from, &to)
                .with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
            return Ok(to);
        }
        anyhow::bail!("too many corrupt copies of {} already", from.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_dir_and_gitignore() {
        let ws = tempfile::TempDir::new().unwrap();
        let s = StateDir::open(ws.path()).unwrap();
        assert_eq!(fs::read_to_string(s.path(".gitignore")).unwrap(), "*\n");
        StateDir::open(ws.path()).unwrap();
    }

    #[test]
    fn atomic_write_leaves_no_temp_files() {
        let ws = tempfile::TempDir::new().unwrap();
        let s = StateDir::open(ws.path()).unwrap();
        s.write_atomic("x.json", b"1").unwrap();
        s.write_atomic("x.json", b"2").unwrap();
        assert_eq!(fs::read(s.path("x.json")).unwrap(), b"2");
        let mut names: Vec<String> = fs::read_dir(s.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [".gitignore", "x.json"]);
    }

    #[test]
    fn move_aside_never_overwrites() {
        let ws = tempfile::TempDir::new().unwrap();
        let s = StateDir::open(ws.path()).unwrap();
        s.write_atomic("h", b"first").unwrap();
        let a = s.move_aside("h", 100).unwrap();
        s.write_atomic("h", b"second").unwrap();
        let b = s.move_aside("h", 100).unwrap();
        assert_ne!(a, b);
        assert_eq!(fs::read(a).unwrap(), b"first");
        assert_eq!(fs::read(b).unwrap(), b"second");
    }
}

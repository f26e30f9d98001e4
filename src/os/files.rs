//! Reading a file whose path may not be what it promises (a device that never
//! ends, a FIFO that waits for a writer, a symlink, a file growing while read):
//! only a regular file, at most so many bytes, is read; anything else is an
//! error at once.

use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Why [`read_regular`] read nothing.
#[derive(Debug)]
pub enum ReadRegular {
    /// A directory, device, FIFO... or, when symlinks are not followed, a symlink.
    NotRegular,
    /// Larger than the limit (checked before reading and while reading).
    TooLarge,
    /// It could not be opened.
    Open(io::Error),
    /// It was opened but could not be read.
    Read(io::Error),
}

/// The content of the regular file `path`, at most `max` bytes; `Ok(None)`
/// when it does not exist. Opened non-blocking (a FIFO does not wait), checked
/// on the open descriptor (no race with a rename), read through a bounded
/// reader; a final symlink is refused unless `follow_symlink`.
pub fn read_regular(
    path: &Path,
    max: u64,
    follow_symlink: bool,
) -> Result<Option<Vec<u8>>, ReadRegular> {
    let flags = libc::O_NONBLOCK | if follow_symlink { 0 } else { libc::O_NOFOLLOW };
    let file = match OpenOptions::new().read(true).custom_flags(flags).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) && !follow_symlink => {
            return Err(ReadRegular::NotRegular)
        }
        Err(e) => return Err(ReadRegular::Open(e)),
    };
    let meta = file.metadata().map_err(ReadRegular::Read)?;
    if !meta.is_file() {
        return Err(ReadRegular::NotRegular);
    }
    if meta.len() > max {
        return Err(ReadRegular::TooLarge);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadRegular::Read)?;
    if bytes.len() as u64 > max {
        return Err(ReadRegular::TooLarge);
    }
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_small_regular_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "abc").unwrap();
        assert_eq!(read_regular(&file, 3, false).unwrap().unwrap(), b"abc");
        assert!(matches!(
            read_regular(&file, 2, false),
            Err(ReadRegular::TooLarge)
        ));
        assert!(read_regular(&dir.path().join("none"), 3, false)
            .unwrap()
            .is_none());
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(matches!(
            read_regular(&link, 3, false),
            Err(ReadRegular::NotRegular)
        ));
        assert_eq!(read_regular(&link, 3, true).unwrap().unwrap(), b"abc");
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(matches!(
            read_regular(&fifo, 3, true),
            Err(ReadRegular::NotRegular)
        ));
        assert!(matches!(
            read_regular(Path::new("/dev/zero"), 3, true),
            Err(ReadRegular::NotRegular)
        ));
    }
}

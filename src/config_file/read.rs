//! Reading a settings file without trusting what the path points at: only a
//! small regular file is read, anything else is an error at once.

use std::path::Path;

/// Largest settings file read: a real one is a few lines.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Why a settings file could not be read.
#[derive(Debug, thiserror::Error)]
pub(super) enum ReadError {
    #[error("no such file")]
    Missing,
    #[error("cannot read: not a regular file")]
    NotRegular,
    #[error("cannot read: larger than 1 MiB")]
    TooLarge,
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads a regular file of at most [`MAX_FILE_BYTES`]. Anything else (a device
/// such as `/dev/zero`, which never ends; a FIFO, which waits for a writer; a
/// directory) is refused without waiting: opened non-blocking, checked on the
/// open descriptor (no race with a rename), and read through a bounded reader.
pub(super) fn read_small_file(path: &Path) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ReadError::Missing),
        Err(e) => return Err(e.into()),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular);
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge);
    }
    // The file may grow after the check: the reader is bounded too.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge);
    }
    Ok(bytes)
}

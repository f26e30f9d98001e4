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
    #[error("cannot read: larger than {} MiB", MAX_FILE_BYTES >> 20)]
    TooLarge,
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads a regular file of at most [`MAX_FILE_BYTES`]. Anything else (a device
/// such as `/dev/zero`, which never ends; a FIFO, which waits for a writer; a
/// directory) is refused without waiting (see [`crate::os::files`]).
pub(super) fn read_small_file(path: &Path) -> Result<Vec<u8>, ReadError> {
    use crate::os::files::{read_regular, ReadRegular};
    match read_regular(path, MAX_FILE_BYTES, true) {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(ReadError::Missing),
        Err(ReadRegular::NotRegular) => Err(ReadError::NotRegular),
        Err(ReadRegular::TooLarge) => Err(ReadError::TooLarge),
        Err(ReadRegular::Open(e) | ReadRegular::Read(e)) => Err(ReadError::Io(e)),
    }
}

//! Copying the command's output: a pump per stream (the PTY, or stdout and
//! stderr) passes every byte to the terminal, and one parser thread turns a copy
//! of all of them into clean lines.
//!
//! One parser for all streams keeps the order in which the chunks were read: in
//! pipe mode a traceback on stderr comes after the stdout lines printed before
//! it, as on the screen (two parsers reported each stream on its own schedule).
//! A pump hands its chunk to the parser right after the read, before the
//! terminal (which may be slow), so the order is the order of the reads.
//!
//! Bounded: the parse queue holds [`PARSE_QUEUE`] chunks; a pump waits when the
//! parser is a whole queue behind, or when the terminal is (see
//! [`crate::output`]). Both are back-pressure on the command, never on
//! otorepair's control path.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, RawFd};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread;

use super::ChildEvent;
use crate::line::Stream;
use crate::output::Output;
use crate::screen::{ModeFlags, Screen};

/// Chunks in flight between the pumps and the parser: enough to ride out a
/// burst, small enough to bound memory (at most 64 x 64 KiB).
const PARSE_QUEUE: usize = 64;

/// What a pump tells the parser.
enum Piece {
    Bytes(Stream, Arc<[u8]>),
    /// This stream ended: its unfinished last line is complete.
    End(Stream),
}

/// One output stream of the command: where it is read, and where it is shown.
pub(crate) struct Source {
    pub file: File,
    pub out_fd: RawFd,
    pub stream: Stream,
}

/// Starts a pump per source and the parser; `report` gets the lines in read
/// order, then `OutputEnd` once every stream has ended.
pub(crate) fn start_output(
    sources: Vec<Source>,
    output: Arc<Output>,
    modes: ModeFlags,
    report: impl Fn(ChildEvent) + Send + 'static,
) {
    let (tx, rx) = sync_channel::<Piece>(PARSE_QUEUE);
    let parser = thread::Builder::new().name("screen".into()).spawn(move || {
        let mut screens: Vec<(Stream, Screen)> = Vec::new();
        for piece in rx {
            let mut lines = Vec::new();
            match piece {
                Piece::Bytes(stream, chunk) => {
                    screen_for(&mut screens, stream, &modes).feed(&chunk, &mut lines)
                }
                Piece::End(stream) => screen_for(&mut screens, stream, &modes).flush(&mut lines),
            }
            if !lines.is_empty() {
                report(ChildEvent::Output(lines));
            }
        }
        report(ChildEvent::OutputEnd);
    });
    if let Err(e) = parser {
        crate::status::error(&format!("cannot start output parser thread: {e}"));
        return;
    }
    for source in sources {
        let (tx, output) = (tx.clone(), Arc::clone(&output));
        let spawned = thread::Builder::new()
            .name(format!("pump-{}", source.stream.label()))
            .spawn(move || pump(source, tx, output));
        if let Err(e) = spawned {
            crate::status::error(&format!("cannot start output thread: {e}"));
        }
    }
    // The parser ends when the last pump drops its sender.
}

/// The screen of `stream` (each stream has its own row and escape state).
fn screen_for<'a>(
    screens: &'a mut Vec<(Stream, Screen)>,
    stream: Stream,
    modes: &ModeFlags,
) -> &'a mut Screen {
    let i = match screens.iter().position(|(s, _)| *s == stream) {
        Some(i) => i,
        None => {
            screens.push((stream, Screen::new(stream, modes.clone())));
            screens.len() - 1
        }
    };
    &mut screens[i].1
}

fn pump(mut source: Source, tx: SyncSender<Piece>, output: Arc<Output>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match source.file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // The PTY master is non-blocking (so that keys never block on it):
            // wait for output.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                wait_readable(&source.file);
                continue;
            }
            // EIO: every slave fd is closed and the buffer is drained.
            Err(_) => break,
        };
        let chunk: Arc<[u8]> = Arc::from(&buf[..n]);
        if tx
            .send(Piece::Bytes(source.stream, Arc::clone(&chunk)))
            .is_err()
        {
            break;
        }
        output.child_bytes(source.out_fd, chunk);
        if output.reader_gone(source.out_fd) {
            // `otorepair ... | head` and head is done: closing our end gives the
            // command the broken pipe it would have had without us (pipe mode; a
            // PTY master has other holders and simply keeps being drained).
            break;
        }
    }
    let _ = tx.send(Piece::End(source.stream));
}

fn wait_readable(file: &File) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
    let _ = poll(&mut fds, PollTimeout::NONE);
}

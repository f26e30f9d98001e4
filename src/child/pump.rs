//! Copying the command's output: one pump thread reads every stream of the
//! command (the PTY, or stdout and stderr) and passes every byte to the
//! terminal, and one parser thread turns a copy into clean lines.
//!
//! One pump and one parser keep the order across streams: in pipe mode a
//! traceback on stderr comes after the stdout lines printed before it, as on the
//! screen (two pumps and two parsers reported each stream on its own schedule,
//! and the prompt showed the traceback first in about half of the runs). The
//! pump waits for any stream with `poll`, hands each chunk to the parser right
//! after the read (before the terminal, which may be slow), and when several
//! streams have bytes waiting, reads them in the order of `sources` (stdout
//! before stderr): bytes that arrived while the pump was busy have no order the
//! kernel could tell, and a program's error output usually comes last.
//!
//! Bounded: the parse queue holds [`PARSE_QUEUE`] chunks; the pump waits when
//! the parser is a whole queue behind, or when the terminal is (see
//! [`crate::output`]), and the parser waits when the supervisor is too far
//! behind with its lines (see [`super::lines`]). All are back-pressure on the
//! command, never on otorepair's control path.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, RawFd};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread;

use super::lines::Budget;
use super::ChildEvent;
use crate::line::Stream;
use crate::output::Output;
use crate::screen::{ModeFlags, Screen};

/// Chunks in flight between the pump and the parser: enough to ride out a
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

/// Starts the pump (one thread for every source) and the parser; `report` gets the lines in read
/// order, then `OutputEnd` once every stream has ended.
pub(crate) fn start_output(
    sources: Vec<Source>,
    output: Arc<Output>,
    modes: ModeFlags,
    report: impl Fn(ChildEvent) + Send + 'static,
) {
    let (tx, rx) = sync_channel::<Piece>(PARSE_QUEUE);
    let parser = thread::Builder::new().name("screen".into()).spawn(move || {
        let budget = Arc::new(Budget::default());
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
                // Waits while the supervisor is too far behind (see `lines`).
                report(ChildEvent::Output(budget.batch(lines)));
            }
        }
        report(ChildEvent::OutputEnd);
    });
    if let Err(e) = parser {
        crate::status::error(&format!("cannot start output parser thread: {e}"));
        return;
    }
    let spawned = thread::Builder::new()
        .name("pump".into())
        .spawn(move || pump(sources, tx, output));
    if let Err(e) = spawned {
        crate::status::error(&format!("cannot start output thread: {e}"));
    }
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

fn pump(mut sources: Vec<Source>, tx: SyncSender<Piece>, output: Arc<Output>) {
    let mut buf = vec![0u8; 64 * 1024];
    while !sources.is_empty() {
        // One stream (the PTY) has no order to keep: read at once, and poll only
        // when there is nothing (a system call per chunk saved).
        let single = sources.len() == 1;
        let ready = if single {
            vec![true]
        } else {
            wait_readable(&sources)
        };
        let mut ended = Vec::new();
        for (i, source) in sources.iter_mut().enumerate().filter(|(i, _)| ready[*i]) {
            let n = match source.file.read(&mut buf) {
                Ok(0) => {
                    ended.push(i);
                    continue;
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // Nothing yet (the PTY master is non-blocking, so that keys
                // never block on it): wait for it.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if single {
                        wait_readable(std::slice::from_ref(source));
                    }
                    continue;
                }
                // EIO: every slave fd is closed and the buffer is drained.
                Err(_) => {
                    ended.push(i);
                    continue;
                }
            };
            let chunk: Arc<[u8]> = Arc::from(&buf[..n]);
            if tx
                .send(Piece::Bytes(source.stream, Arc::clone(&chunk)))
                .is_err()
            {
                return;
            }
            output.child_bytes(source.out_fd, chunk);
            if output.reader_gone(source.out_fd).is_some() {
                // `otorepair ... | head` and head is done (or the terminal hung
                // up): closing our end gives
                // the command the broken pipe it would have had without us (pipe
                // mode; in a PTY nothing reaches the command, and the supervisor
                // ends it when it hears of the end of output).
                ended.push(i);
            }
        }
        for i in ended.into_iter().rev() {
            let source = sources.remove(i);
            let _ = tx.send(Piece::End(source.stream));
        }
    }
}

/// Waits until some source has bytes (or its end) to read; which ones.
fn wait_readable(sources: &[Source]) -> Vec<bool> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut fds: Vec<PollFd> = sources
        .iter()
        .map(|s| PollFd::new(s.file.as_fd(), PollFlags::POLLIN))
        .collect();
    match poll(&mut fds, PollTimeout::NONE) {
        // Readable, hung up or in error: a read tells which.
        Ok(_) => fds.iter().map(|f| f.any().unwrap_or(true)).collect(),
        // EINTR: nothing known; reading everything is safe only for blocking
        // fds, so ask again.
        Err(_) => vec![false; sources.len()],
    }
}

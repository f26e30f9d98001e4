//! `--events FILE`: one JSON object per line for tools that watch otorepair.
//!
//! Every line is `{"ts": <unix seconds, float>, "event": "<name>", ...fields}`.
//! Each line goes out in one `write(2)` on a file opened with `O_APPEND`, so
//! several otorepair processes appending to one file do not interleave lines.
//! Fields that carry the user's command or captured output are [`Redacted`]:
//! tools that watch the file (and whatever they ship it to) never see a secret.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::diff::FileChange;
use crate::redact::Redacted;

/// How the child is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Pty,
    Pipe,
}

/// What triage decided about a suspect block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Error,
    NotError,
    /// The triage agent failed (timeout, non-zero exit, unparsable answer).
    Failed,
    /// Answered from the per-fingerprint cache, no agent ran.
    Cached,
}

/// Which path led to the fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FixPath {
    /// The child exited with a crash.
    Crash,
    /// The child is alive and printed an error.
    Live,
}

/// What showed that the command picked a fix up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// A new process in the command's tree (a reloader restarted its worker).
    Process,
    /// The command said so (`hmr update`, `File change detected`, `reloading`).
    Output,
    /// otorepair restarted the command.
    Restart,
    /// `--on-fix wait`: nothing to wait for.
    Assumed,
}

/// One event; serialized with its name in the `event` field.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Start {
        command: Redacted,
        pid: u32,
        mode: Mode,
        backend: String,
    },
    /// `code` for a normal exit, `signal` (number) for a death by signal.
    ChildExit {
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// A settled error block; `lines` are its clean text lines (a private key
    /// block is one masked line).
    Suspect {
        fingerprint: String,
        summary: Redacted,
        lines: Vec<Redacted>,
    },
    Triage {
        fingerprint: String,
        verdict: Verdict,
        duration_ms: u64,
    },
    FixStart {
        fingerprint: String,
        attempt: u32,
        path: FixPath,
    },
    FixEnd {
        fingerprint: String,
        attempt: u32,
        ok: bool,
        duration_ms: u64,
        files: Vec<FileChange>,
    },
    Restart {
        pid: u32,
    },
    /// Evidence that the command picked the fix up, `after_ms` after the agent ended.
    Reload {
        fingerprint: String,
        evidence: Evidence,
        after_ms: u64,
    },
    /// The fixed code is serving (its start-up output has settled).
    Live {
        fingerprint: String,
    },
    /// The `--verify` check's result: the verdict of the attempt `attempt` (whose
    /// `fix_end` said only that its agent changed files); `code` is null when it
    /// could not run or was killed.
    Verify {
        fingerprint: String,
        attempt: u32,
        ok: bool,
        code: Option<i32>,
        duration_ms: u64,
    },
    Tripped {
        fingerprint: String,
        attempts: u32,
    },
    /// An environment error (a busy port, a refused connection, ...): said, never
    /// fixed. `kind` is `port-in-use`, `connection-refused`, `port-permission`,
    /// `no-space`, `watch-limit` or `missing-program`; `message` is the line the
    /// user saw (redacted).
    Environment {
        fingerprint: String,
        kind: String,
        message: Redacted,
    },
    Exit {
        code: i32,
    },
}

#[derive(Serialize)]
struct Line<'a> {
    ts: f64,
    #[serde(flatten)]
    event: &'a Event,
}

/// The serialized line for `event` at `ts`, newline included.
pub fn to_line(ts: f64, event: &Event) -> Result<Vec<u8>> {
    let mut buf = serde_json::to_vec(&Line { ts, event }).context("serializing an event")?;
    buf.push(b'\n');
    Ok(buf)
}

/// Lines queued for the writer at most: past this, whatever reads the file
/// (a pipe, a FIFO, a terminal) has stopped reading.
const QUEUE: usize = 1024;
/// How long dropping the log waits for the queued lines to be written.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

/// An append-only events file. Lines are written by a thread of its own: the
/// file may be a pipe or a terminal whose reader stops reading, and the
/// supervisor's loop must not wait on it. Dropping the log waits (a bounded
/// time) for what is queued to be written.
#[derive(Debug)]
pub struct EventLog {
    lines: Option<SyncSender<Vec<u8>>>,
    /// The writer's error, for the next [`EventLog::emit`] to report.
    failed: Arc<Mutex<Option<io::Error>>>,
    /// Closed by the writer when it has written everything and ended.
    done: Receiver<()>,
    path: PathBuf,
    /// The queue filled up: dropping the log does not wait on the reader.
    stalled: bool,
}

impl EventLog {
    /// Open `path` for appending, creating it if missing. Fails naming the path,
    /// because a bad `--events` value is a usage error the user must see.
    pub fn open(path: &Path) -> Result<EventLog> {
        use std::os::unix::fs::OpenOptionsExt;
        // Non-blocking, so that a FIFO nobody reads fails (ENXIO) instead of
        // waiting for a reader for ever; blocking again once open (the writer
        // thread owns the waits on a slow reader).
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ENXIO) => anyhow::anyhow!(
                    "cannot open events file {}: it is a FIFO and no process reads it",
                    path.display()
                ),
                _ => anyhow::Error::new(e)
                    .context(format!("cannot open events file {}", path.display())),
            })?;
        crate::os::fds::set_nonblocking(&file, false)
            .with_context(|| format!("cannot open events file {}", path.display()))?;
        let (lines, queued) = mpsc::sync_channel::<Vec<u8>>(QUEUE);
        let (finished, done) = mpsc::channel::<()>();
        let failed = Arc::new(Mutex::new(None));
        let report = failed.clone();
        std::thread::Builder::new()
            .name("events".into())
            .spawn(move || {
                for line in queued {
                    if let Err(e) = write_line(&mut file, &line) {
                        if let Ok(mut slot) = report.lock() {
                            *slot = Some(e);
                        }
                        break;
                    }
                }
                drop(finished);
            })
            .context("cannot start the events file's writer")?;
        Ok(EventLog {
            lines: Some(lines),
            failed,
            done,
            path: path.to_path_buf(),
            stalled: false,
        })
    }

    /// Append `event` stamped with the current time.
    pub fn emit(&mut self, event: &Event) -> Result<()> {
        self.emit_at(now_unix_f64(), event)
    }

    /// Append `event` stamped `ts` (unix seconds). Never waits on the file; an
    /// error writing an earlier line is reported here.
    pub fn emit_at(&mut self, ts: f64, event: &Event) -> Result<()> {
        let path = self.path.display();
        if let Some(e) = self.failed.lock().ok().and_then(|mut f| f.take()) {
            return Err(e).with_context(|| format!("writing to events file {path}"));
        }
        let line = to_line(ts, event)?;
        let Some(lines) = &self.lines else {
            bail!("events file {path} is closed");
        };
        match lines.try_send(line) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                self.stalled = true;
                bail!("events file {path} is not being read ({QUEUE} events waiting)")
            }
            Err(TrySendError::Disconnected(_)) => bail!("events file {path}: its writer ended"),
        }
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        self.lines = None;
        if !self.stalled {
            let _ = self.done.recv_timeout(FLUSH_WAIT);
        }
    }
}

fn write_line(file: &mut File, line: &[u8]) -> io::Result<()> {
    // One write for the whole line; a short write (disk full, signal) is
    // finished with more writes rather than dropped.
    let n = loop {
        match file.write(line) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other?,
        }
    };
    if n < line.len() {
        file.write_all(&line[n..])?;
    }
    file.flush()
}

/// Unix time in seconds with sub-second precision; 0.0 if the clock is before 1970.
pub fn now_unix_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::Redactor;
    use serde_json::{json, Value};

    fn parse(ts: f64, e: &Event) -> Value {
        serde_json::from_slice(&to_line(ts, e).unwrap()).unwrap()
    }

    #[test]
    fn json_shapes() {
        assert_eq!(
            parse(
                1.5,
                &Event::Start {
                    command: Redactor::default().redact("npm run dev"),
                    pid: 42,
                    mode: Mode::Pty,
                    backend: "claude".into()
                }
            ),
            json!({"ts": 1.5, "event": "start", "command": "npm run dev", "pid": 42, "mode": "pty", "backend": "claude"})
        );
        assert_eq!(
            parse(
                2.0,
                &Event::ChildExit {
                    code: None,
                    signal: Some(9)
                }
            ),
            json!({"ts": 2.0, "event": "child_exit", "code": null, "signal": 9})
        );
        assert_eq!(
            parse(
                3.0,
                &Event::Suspect {
                    fingerprint: "f".into(),
                    summary: Redactor::default().redact("TypeError"),
                    lines: Redactor::default().redact("a\nb").lines().collect()
                }
            ),
            json!({"ts": 3.0, "event": "suspect", "fingerprint": "f", "summary": "TypeError", "lines": ["a", "b"]})
        );
        assert_eq!(
            parse(
                4.0,
                &Event::Triage {
                    fingerprint: "f".into(),
                    verdict: Verdict::NotError,
                    duration_ms: 7
                }
            ),
            json!({"ts": 4.0, "event": "triage", "fingerprint": "f", "verdict": "not_error", "duration_ms": 7})
        );
        assert_eq!(
            parse(
                5.0,
                &Event::FixStart {
                    fingerprint: "f".into(),
                    attempt: 1,
                    path: FixPath::Live
                }
            ),
            json!({"ts": 5.0, "event": "fix_start", "fingerprint": "f", "attempt": 1, "path": "live"})
        );
        assert_eq!(
            parse(
                6.0,
                &Event::FixEnd {
                    fingerprint: "f".into(),
                    attempt: 1,
                    ok: true,
                    duration_ms: 900,
                    files: vec![FileChange {
                        path: "src/app.py".into(),
                        added: 3,
                        removed: 1,
                        not_undoable: None,
                    }]
                }
            ),
            json!({"ts": 6.0, "event": "fix_end", "fingerprint": "f", "attempt": 1, "ok": true,
                   "duration_ms": 900, "files": [{"path": "src/app.py", "added": 3, "removed": 1}]})
        );
        assert_eq!(
            parse(7.0, &Event::Restart { pid: 43 }),
            json!({"ts": 7.0, "event": "restart", "pid": 43})
        );
        assert_eq!(
            parse(
                8.0,
                &Event::Tripped {
                    fingerprint: "f".into(),
                    attempts: 3
                }
            ),
            json!({"ts": 8.0, "event": "tripped", "fingerprint": "f", "attempts": 3})
        );
        assert_eq!(
            parse(9.25, &Event::Exit { code: 1 }),
            json!({"ts": 9.25, "event": "exit", "code": 1})
        );
    }

    #[test]
    fn appends_one_line_per_event() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, "{\"old\":1}\n").unwrap();
        let mut log = EventLog::open(&path).unwrap();
        log.emit_at(1.0, &Event::Exit { code: 0 }).unwrap();
        log.emit(&Event::Restart { pid: 5 }).unwrap();
        // Written by the log's own thread; dropping the log waits for it.
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "{\"old\":1}");
        assert!(lines[1].starts_with("{\"ts\":1.0,\"event\":\"exit\""));
        let v: Value = serde_json::from_str(lines[2]).unwrap();
        assert!(v["ts"].as_f64().unwrap() > 1.0e9);
    }

    #[test]
    fn open_error_names_the_path() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("missing-dir").join("events.jsonl");
        let err = EventLog::open(&path).unwrap_err();
        assert!(format!("{err:#}").contains("missing-dir/events.jsonl"));
    }
}

//! otorepair's own messages: `[otorepair] ...` status lines, warnings, errors, and
//! verbose diagnostics, all written between the child's output chunks.
//!
//! Once [`init`] has run they go through [`crate::output`]'s queue, so writing
//! one never waits on the terminal; before that (argument errors) they are
//! written directly, when nothing else runs yet.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use crate::output::Output;

static VERBOSITY: AtomicU8 = AtomicU8::new(0);
static COLOR: AtomicBool = AtomicBool::new(false);
static CRLF: AtomicBool = AtomicBool::new(false);
static OUTPUT: OnceLock<Arc<Output>> = OnceLock::new();

/// Sets how status lines are written: verbosity, colour (only when stderr is a
/// terminal and NO_COLOR is unset), and the shared output lock.
pub fn init(verbosity: u8, output: Arc<Output>) {
    VERBOSITY.store(verbosity, Ordering::Relaxed);
    let tty = crate::term::is_tty(2);
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    COLOR.store(tty && !no_color, Ordering::Relaxed);
    // While the terminal is raw, "\n" does not return to column 0.
    CRLF.store(tty, Ordering::Relaxed);
    let _ = OUTPUT.set(output);
}

pub fn verbosity() -> u8 {
    VERBOSITY.load(Ordering::Relaxed)
}

pub fn color() -> bool {
    COLOR.load(Ordering::Relaxed)
}

/// [`crate::text::sanitize`] on one line: nothing printed by the child or an agent
/// can drive the user's terminal through our lines, and a newline in it does not
/// start a line of its own (it becomes a space).
pub fn sanitize(text: &str) -> String {
    crate::text::sanitize(text).replace('\n', " ")
}

fn newline() -> &'static str {
    if CRLF.load(Ordering::Relaxed) {
        "\r\n"
    } else {
        "\n"
    }
}

/// Writes raw text to stderr under the output lock (or directly before `init`).
pub fn write_stderr(text: &str) {
    match OUTPUT.get() {
        Some(out) => out.own_bytes(2, text.as_bytes()),
        None => {
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        }
    }
}

fn line(color: &str, prefix: &str, msg: &str) {
    let msg = sanitize(msg);
    let text = if self::color() {
        format!("\x1b[{color}m{prefix}\x1b[0m {msg}{}", newline())
    } else {
        format!("{prefix} {msg}{}", newline())
    };
    write_stderr(&text);
}

/// A status line: `[otorepair] msg`.
pub fn info(msg: &str) {
    line("1;36", "[otorepair]", msg);
}

/// A status line that needs attention.
pub fn warn(msg: &str) {
    line("1;33", "[otorepair]", msg);
}

/// An error that does not end otorepair.
pub fn error(msg: &str) {
    line("1;31", "[otorepair]", msg);
}

/// A diagnostic shown at `-v` (1), `-vv` (2) or `-vvv` (3).
pub fn debug(level: u8, msg: &str) {
    if verbosity() >= level {
        line("2", "[otorepair:debug]", msg);
    }
}

/// Waits (up to a stall of `stall`) for the status lines already queued to reach
/// the terminal: the last thing before the process exits.
pub fn flush(stall: std::time::Duration) {
    if let Some(out) = OUTPUT.get() {
        out.drain(stall);
    }
}

/// The fatal-error format for bad input: one line, then a hint.
pub fn fatal(msg: &str, hint: Option<&str>) {
    let mut text = format!("otorepair: error: {msg}\n");
    if let Some(hint) = hint {
        text.push_str(&format!("  hint: {hint}\n"));
    }
    write_stderr(&text);
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn sanitize_removes_escape_sequences_and_controls() {
        assert_eq!(sanitize("a\x1b[31mred\x1b[0m\x07b\r"), "aredb");
        assert_eq!(sanitize("\x1b]0;title\x07ok\tx"), "ok x");
        assert_eq!(sanitize("caf\u{e9}"), "caf\u{e9}");
        assert_eq!(sanitize("one\ntwo\u{202e}"), "one two");
    }
}

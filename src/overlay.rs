//! The overlay: a framed panel of the agent's work, drawn while the fix runs.
//!
//! While it is up, the child's output is held (see [`crate::output`]) and keys go
//! to otorepair. When the child is a full-screen program (alternate screen), the
//! panel takes the screen, and the supervisor makes the child repaint afterwards.
//! Everything drawn is sanitized: no control sequence from an agent reaches the
//! terminal through us.

use std::sync::Arc;

use crate::output::Output;
use crate::screen::ModeFlags;
use crate::status;

/// An open panel.
pub struct Overlay {
    output: Arc<Output>,
    /// The child was on the alternate screen: we drew over it.
    took_screen: bool,
    width: usize,
    color: bool,
    crlf: &'static str,
}

impl Overlay {
    /// Holds the child's output and draws the header and the panel's top edge.
    pub fn open(output: Arc<Output>, modes: &ModeFlags, header: &str, title: &str) -> Overlay {
        output.hold();
        let tty = crate::term::is_tty(2);
        let width = crate::term::window_size(2)
            .map(|ws| usize::from(ws.ws_col))
            .unwrap_or(100)
            .clamp(20, 200);
        let overlay = Overlay {
            output,
            took_screen: modes.in_alt_screen() && tty,
            width,
            color: status::color(),
            crlf: if tty { "\r\n" } else { "\n" },
        };
        let mut text = String::new();
        if overlay.took_screen {
            // Clear the full-screen program's picture; it repaints afterwards.
            text.push_str("\x1b[2J\x1b[H");
        }
        text.push_str(&overlay.paint("1;36", "[otorepair]"));
        text.push(' ');
        text.push_str(&status::sanitize(header));
        text.push_str(overlay.crlf);
        let label = format!("┌─ {} ", status::sanitize(title));
        text.push_str(&overlay.paint("2", &pad_rule(&label, overlay.width)));
        text.push_str(overlay.crlf);
        overlay.write(&text);
        overlay
    }

    fn paint(&self, sgr: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{sgr}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn write(&self, text: &str) {
        self.output.own_bytes(2, text.as_bytes());
    }

    /// One line of the agent's work, cut to the terminal's width.
    pub fn line(&self, text: &str) {
        let clean = status::sanitize(text);
        let clean = cut_to(&clean, self.width.saturating_sub(2));
        let text = format!("{} {clean}{}", self.paint("2", "│"), self.crlf);
        self.write(&text);
    }

    /// Draws the bottom edge with the outcome, then replays what the child printed
    /// meanwhile. Returns whether the child needs a repaint (it was full-screen).
    pub fn close(self, outcome: &str, ok: bool) -> bool {
        let sgr = if ok { "1;32" } else { "1;31" };
        let text = format!(
            "{} {}{}",
            self.paint("2", "└─"),
            self.paint(sgr, &status::sanitize(outcome)),
            self.crlf
        );
        self.write(&text);
        let dropped = self.output.release();
        if dropped > 0 {
            status::warn(&format!(
                "{dropped} bytes of the command's output were dropped while the fix ran (over 1 MiB)"
            ));
        }
        self.took_screen
    }
}

fn pad_rule(label: &str, width: usize) -> String {
    let used = label.chars().count();
    let rest = width.saturating_sub(used).min(60);
    format!("{label}{}", "─".repeat(rest))
}

use crate::text::ellipsize as cut_to;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_with_an_ellipsis() {
        assert_eq!(cut_to("abcdef", 4), "abc…");
        assert_eq!(cut_to("abc", 4), "abc");
        assert_eq!(pad_rule("┌─ x ", 10), "┌─ x ─────");
    }
}

//! The screen: turns the child's raw output bytes into clean text lines.
//!
//! A [`vte`] parser removes escape sequences; `\r` moves back to column 0 so a
//! progress bar yields its last state; backspace, TAB and simple cursor moves on
//! the current line are honoured. It also tracks the terminal modes a child
//! switches on (alternate screen, hidden cursor, mouse reporting, bracketed paste,
//! the DEC line-drawing charset, a scroll region, ...) so that otorepair can
//! switch them off again if the child dies without doing so.
//!
//! Whatever the bytes, memory is bounded: a row keeps at most [`MAX_LINE_BYTES`],
//! the cursor column is capped at the same number (so no cursor move or TAB can
//! run away), and vte is built without its `std` feature, which bounds its OSC
//! buffer (1 KiB) instead of letting an unterminated OSC string grow forever.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::line::{Line, Stream};

/// Longest line kept, in bytes of UTF-8; the rest of a longer line is dropped so
/// memory stays bounded even for a 100 MB line without a newline.
pub const MAX_LINE_BYTES: usize = 8 * 1024;

/// Terminal modes a child may leave switched on; bits of [`ModeFlags`].
pub mod mode {
    pub const ALT_SCREEN: u32 = 1;
    pub const CURSOR_HIDDEN: u32 = 1 << 1;
    pub const MOUSE: u32 = 1 << 2;
    pub const BRACKETED_PASTE: u32 = 1 << 3;
    pub const APP_CURSOR_KEYS: u32 = 1 << 4;
    pub const FOCUS_EVENTS: u32 = 1 << 5;
    /// `ESC =`: the keypad sends application sequences.
    pub const APP_KEYPAD: u32 = 1 << 6;
    /// `ESC ( 0`: G0 is the DEC line-drawing set (letters print as box pieces).
    pub const LINE_DRAWING: u32 = 1 << 7;
    /// `SO` (0x0e): G1 is in use; `SI` goes back to G0.
    pub const SHIFT_OUT: u32 = 1 << 8;
    /// `CSI ? 7 l`: autowrap is off (long lines are cut at the margin).
    pub const NO_AUTOWRAP: u32 = 1 << 9;
    /// `CSI T ; B r`: a scroll region smaller than the screen.
    pub const SCROLL_REGION: u32 = 1 << 10;
    /// `CSI ? 6 h`: cursor addressing relative to the scroll region.
    pub const ORIGIN: u32 = 1 << 11;
    /// `CSI 4 h`: typed characters shift the rest of the row right.
    pub const INSERT: u32 = 1 << 12;
    /// `CSI N SP q` with N > 0: a cursor shape other than the user's default.
    pub const CURSOR_STYLE: u32 = 1 << 13;
}

/// Modes shared between the output thread (which parses) and the code that
/// restores the user's terminal (which may run from a panic hook or signal path).
#[derive(Debug, Clone, Default)]
pub struct ModeFlags(Arc<AtomicU32>);

impl ModeFlags {
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    pub fn in_alt_screen(&self) -> bool {
        self.get() & mode::ALT_SCREEN != 0
    }

    fn set(&self, bits: u32, on: bool) {
        if on {
            self.0.fetch_or(bits, Ordering::Relaxed);
        } else {
            self.0.fetch_and(!bits, Ordering::Relaxed);
        }
    }

    pub fn clear(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    /// The escape sequences that switch `bits` on again (after a suspend). Modes
    /// whose value is unknown here (the scroll region's rows, the cursor shape)
    /// come back with the repaint the child is made to do.
    pub fn set_sequence(bits: u32) -> Vec<u8> {
        const ON: &[(u32, &[u8])] = &[
            (mode::ALT_SCREEN, b"\x1b[?1049h"),
            (mode::CURSOR_HIDDEN, b"\x1b[?25l"),
            (mode::APP_CURSOR_KEYS, b"\x1b[?1h"),
            (mode::APP_KEYPAD, b"\x1b="),
            (mode::MOUSE, b"\x1b[?1000h"),
            (mode::BRACKETED_PASTE, b"\x1b[?2004h"),
            (mode::FOCUS_EVENTS, b"\x1b[?1004h"),
            (mode::NO_AUTOWRAP, b"\x1b[?7l"),
            (mode::INSERT, b"\x1b[4h"),
            (mode::LINE_DRAWING, b"\x1b(0"),
            (mode::SHIFT_OUT, b"\x0e"),
        ];
        let mut out = Vec::new();
        for (bit, seq) in ON {
            if bits & bit != 0 {
                out.extend_from_slice(seq);
            }
        }
        out
    }

    /// The escape sequences that switch off every mode the child left on, in an
    /// order that leaves the main screen with a visible cursor where it was. Empty
    /// when the child left nothing on, so a well-behaved child gets no extra bytes.
    pub fn reset_sequence(&self) -> Vec<u8> {
        let bits = self.get();
        let on = |bit: u32| bits & bit != 0;
        let mut out = Vec::new();
        if on(mode::MOUSE) {
            out.extend_from_slice(b"\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1005l\x1b[?1006l");
        }
        if on(mode::BRACKETED_PASTE) {
            out.extend_from_slice(b"\x1b[?2004l");
        }
        if on(mode::FOCUS_EVENTS) {
            out.extend_from_slice(b"\x1b[?1004l");
        }
        if on(mode::APP_CURSOR_KEYS) {
            out.extend_from_slice(b"\x1b[?1l");
        }
        if on(mode::APP_KEYPAD) {
            out.extend_from_slice(b"\x1b>");
        }
        if on(mode::INSERT) {
            out.extend_from_slice(b"\x1b[4l");
        }
        if on(mode::SHIFT_OUT) {
            out.push(0x0f);
        }
        if on(mode::LINE_DRAWING) {
            out.extend_from_slice(b"\x1b(B");
        }
        // Both of these move the cursor home. On the alternate screen that does
        // not matter (leaving it restores the main screen's cursor); on the main
        // screen the scroll region is reset between a cursor save and restore.
        if on(mode::ORIGIN) {
            out.extend_from_slice(b"\x1b[?6l");
        }
        if on(mode::SCROLL_REGION) {
            if on(mode::ALT_SCREEN) {
                out.extend_from_slice(b"\x1b[r");
            } else {
                out.extend_from_slice(b"\x1b7\x1b[r\x1b8");
            }
        }
        if on(mode::ALT_SCREEN) {
            out.extend_from_slice(b"\x1b[?1049l");
        }
        if on(mode::NO_AUTOWRAP) {
            out.extend_from_slice(b"\x1b[?7h");
        }
        if on(mode::CURSOR_STYLE) {
            out.extend_from_slice(b"\x1b[0 q");
        }
        if on(mode::CURSOR_HIDDEN) {
            out.extend_from_slice(b"\x1b[?25h");
        }
        out
    }
}

/// Length of the UTF-8 sequence starting with `first`.
fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

/// How many bytes at the end of `bytes` are the start of a UTF-8 character that
/// continues in the next read (0 when the end is complete, or not UTF-8).
fn incomplete_utf8_tail(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let b = bytes[bytes.len() - back];
        if b & 0xc0 == 0x80 {
            continue; // a continuation byte: look further back for the lead
        }
        let needed = match b {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => return 0,
        };
        return if needed > back { back } else { 0 };
    }
    0
}

/// Byte stream in, clean lines out. One per output stream.
pub struct Screen {
    parser: vte::Parser,
    state: LineState,
    /// The start of a UTF-8 character whose rest is in the next read.
    carry: Vec<u8>,
}

impl Screen {
    pub fn new(stream: Stream, modes: ModeFlags) -> Self {
        Screen {
            carry: Vec::new(),
            parser: vte::Parser::new(),
            state: LineState {
                text: String::new(),
                chars: 0,
                col: 0,
                byte_pos: 0,
                stream,
                modes,
                lines: Vec::new(),
                ground: true,
            },
        }
    }

    /// Parse `bytes`, appending every completed line to `out`.
    ///
    /// Most output is plain ASCII text between escape sequences. While the parser
    /// is known to be in its ground state, runs of printable ASCII are appended in
    /// bulk and C0 controls executed directly, exactly as vte would do them one
    /// character at a time; escape sequences and non-ASCII text go through vte,
    /// which hands control back as soon as it is in the ground state again.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Line>) {
        // A character split across reads is completed here, never by vte: its
        // partial-character path (0.15) skips the bytes that follow the completed
        // character in the same read.
        let joined;
        let bytes = if self.carry.is_empty() {
            bytes
        } else {
            joined = [std::mem::take(&mut self.carry).as_slice(), bytes].concat();
            &joined[..]
        };
        let cut = bytes.len() - incomplete_utf8_tail(bytes);
        self.carry.extend_from_slice(&bytes[cut..]);
        let bytes = &bytes[..cut];
        let mut i = 0;
        while i < bytes.len() {
            if self.state.ground {
                let b = bytes[i];
                if (0x20..0x7f).contains(&b) {
                    let run = bytes[i..]
                        .iter()
                        .position(|b| !(0x20..0x7f).contains(b))
                        .map_or(bytes.len(), |n| i + n);
                    self.state.put_ascii(&bytes[i..run]);
                    i = run;
                    continue;
                }
                if b < 0x20 && b != 0x1b {
                    vte::Perform::execute(&mut self.state, b);
                    i += 1;
                    continue;
                }
            }
            self.state.ground = false;
            let n = self
                .parser
                .advance_until_terminated(&mut self.state, &bytes[i..]);
            i += n;
            // vte may stop right after an ESC that begins the next sequence (the
            // end of a plain run, or an OSC/DCS ended by ESC \): not ground yet.
            if n > 0 && bytes[i - 1] == 0x1b {
                self.state.ground = false;
            }
        }
        // The chunk may end inside a UTF-8 sequence that vte keeps: let vte see
        // what follows.
        if bytes.last().is_some_and(|&b| b >= 0x80) {
            self.state.ground = false;
        }
        out.append(&mut self.state.lines);
    }

    /// The unfinished last line, if any (for output that ends without a newline).
    pub fn flush(&mut self, out: &mut Vec<Line>) {
        let carry = std::mem::take(&mut self.carry);
        if !carry.is_empty() {
            self.parser.advance(&mut self.state, &carry);
        }
        self.state.end_line();
        out.append(&mut self.state.lines);
    }

    pub fn modes(&self) -> &ModeFlags {
        &self.state.modes
    }
}

struct LineState {
    /// The current row's text. Appending (the common case) is a plain push; `\r`,
    /// backspace and cursor moves overwrite in place.
    text: String,
    /// Length of `text` in characters.
    chars: usize,
    /// Cursor column in characters; may be past the end (padded on the next print).
    col: usize,
    /// Byte offset of `col` in `text` when `col < chars`.
    byte_pos: usize,
    stream: Stream,
    modes: ModeFlags,
    lines: Vec<Line>,
    /// vte is certainly in its ground state (set by the callbacks that only
    /// happen there or end a sequence), so plain text may bypass it.
    ground: bool,
}

impl LineState {
    /// Printable ASCII, as a run of `put`s would write it.
    fn put_ascii(&mut self, run: &[u8]) {
        if self.col != self.chars {
            for &b in run {
                self.put(char::from(b));
            }
            return;
        }
        let take = run
            .len()
            .min(MAX_LINE_BYTES.saturating_sub(self.text.len()));
        // Printable ASCII is valid UTF-8.
        if let Ok(text) = std::str::from_utf8(&run[..take]) {
            self.text.push_str(text);
            self.chars += take;
        }
        // What did not fit is dropped, but the cursor moves on as for `put`.
        self.col = (self.col + run.len()).min(MAX_LINE_BYTES);
        self.byte_pos = self.text.len();
    }

    /// Writes `c` at the cursor and moves it one column right. A character that
    /// would take the row past [`MAX_LINE_BYTES`] is dropped, but the cursor still
    /// moves (up to the cap): every caller makes progress, whatever the row holds.
    fn put(&mut self, c: char) {
        let len = c.len_utf8();
        if self.col >= self.chars {
            let pad = self.col - self.chars;
            if self.text.len() + pad + len <= MAX_LINE_BYTES {
                for _ in 0..pad {
                    self.text.push(' ');
                }
                self.text.push(c);
                self.chars = self.col + 1;
            }
            self.col = (self.col + 1).min(MAX_LINE_BYTES);
            self.byte_pos = self.text.len();
            return;
        }
        // Overwrite the character under the cursor.
        let old_len = utf8_len(self.text.as_bytes()[self.byte_pos]);
        if self.text.len() - old_len + len > MAX_LINE_BYTES {
            self.byte_pos += old_len;
            self.col += 1;
            return;
        }
        let mut buf = [0u8; 4];
        self.text.replace_range(
            self.byte_pos..self.byte_pos + old_len,
            c.encode_utf8(&mut buf),
        );
        self.byte_pos += len;
        self.col += 1;
    }

    /// Moves the cursor to column `col` (in characters).
    fn set_col(&mut self, col: usize) {
        self.col = col.min(MAX_LINE_BYTES);
        self.byte_pos = if self.col >= self.chars {
            self.text.len()
        } else if self.text.len() == self.chars {
            // All ASCII: columns are bytes.
            self.col
        } else {
            self.text
                .char_indices()
                .nth(self.col)
                .map_or(self.text.len(), |(i, _)| i)
        };
    }

    fn end_line(&mut self) {
        // Text drawn on the alternate screen is a full-screen program's UI, not log
        // output: it is not scanned for errors.
        if !self.modes.in_alt_screen() {
            let text = self.text.trim_end();
            if !text.is_empty() {
                self.lines.push(Line::new(text, self.stream));
            }
        }
        self.text.clear();
        self.chars = 0;
        self.col = 0;
        self.byte_pos = 0;
    }

    fn erase_in_line(&mut self, how: u16) {
        match how {
            0 => {
                if self.col < self.chars {
                    self.text.truncate(self.byte_pos);
                    self.chars = self.col;
                }
            }
            1 => {
                let upto = (self.col + 1).min(self.chars);
                let rest: String = self.text.chars().skip(upto).collect();
                self.text = " ".repeat(upto) + &rest;
                let col = self.col;
                self.set_col(col);
            }
            _ => {
                self.text.clear();
                self.chars = 0;
                let col = self.col;
                self.set_col(col);
            }
        }
    }

    fn private_mode(&mut self, code: u16, on: bool) {
        let bits = match code {
            1049 | 1047 | 47 => mode::ALT_SCREEN,
            25 => {
                // ?25h shows the cursor: "hidden" is the mode to undo.
                self.modes.set(mode::CURSOR_HIDDEN, !on);
                return;
            }
            1000 | 1002 | 1003 | 1005 | 1006 => mode::MOUSE,
            2004 => mode::BRACKETED_PASTE,
            1004 => mode::FOCUS_EVENTS,
            1 => mode::APP_CURSOR_KEYS,
            6 => mode::ORIGIN,
            7 => {
                // ?7h is the default: "no autowrap" is the mode to undo.
                self.modes.set(mode::NO_AUTOWRAP, !on);
                return;
            }
            _ => return,
        };
        if bits == mode::ALT_SCREEN && on {
            // Whatever was on the main screen's current line is finished.
            self.end_line();
        }
        self.modes.set(bits, on);
    }
}

fn first_param(params: &vte::Params, default: u16) -> u16 {
    match params.iter().next().and_then(|p| p.first().copied()) {
        Some(0) | None => default,
        Some(n) => n,
    }
}

impl vte::Perform for LineState {
    fn print(&mut self, c: char) {
        self.put(c);
        self.ground = true;
    }

    fn terminated(&self) -> bool {
        self.ground
    }

    fn osc_dispatch(&mut self, _params: &[&[u8]], _bell_terminated: bool) {
        self.ground = true;
    }

    fn unhook(&mut self) {
        self.ground = true;
    }

    fn execute(&mut self, byte: u8) {
        match byte {
            b'\n' | 0x0b | 0x0c => self.end_line(),
            b'\r' => self.set_col(0),
            0x08 => self.set_col(self.col.saturating_sub(1)),
            // A TAB moves to the next stop (every 8 columns); it writes nothing,
            // as on a terminal. set_col caps the column, so this always ends.
            b'\t' => self.set_col((self.col / 8 + 1) * 8),
            0x0e => self.modes.set(mode::SHIFT_OUT, true),
            0x0f => self.modes.set(mode::SHIFT_OUT, false),
            _ => {}
        }
    }

    fn csi_dispatch(
        &mut self,
        params: &vte::Params,
        intermediates: &[u8],
        _ignore: bool,
        action: char,
    ) {
        self.ground = true;
        if intermediates == b"?" {
            if action == 'h' || action == 'l' {
                for p in params.iter() {
                    if let Some(&code) = p.first() {
                        self.private_mode(code, action == 'h');
                    }
                }
            }
            return;
        }
        if intermediates == b" " && action == 'q' {
            // DECSCUSR: 0 is the user's default cursor shape.
            self.modes
                .set(mode::CURSOR_STYLE, first_param(params, 0) != 0);
            return;
        }
        if !intermediates.is_empty() {
            return;
        }
        match action {
            'h' | 'l' if params.iter().any(|p| p.first() == Some(&4)) => {
                self.modes.set(mode::INSERT, action == 'h');
            }
            'r' => {
                // DECSTBM without rows (or from row 1 to the default) is the
                // whole screen again.
                let top = first_param(params, 1);
                let bottom = params.iter().nth(1).and_then(|p| p.first().copied());
                let whole = top == 1 && matches!(bottom, None | Some(0));
                self.modes.set(mode::SCROLL_REGION, !whole);
            }
            'K' => self.erase_in_line(
                params
                    .iter()
                    .next()
                    .and_then(|p| p.first().copied())
                    .unwrap_or(0),
            ),
            'G' | '`' => self.set_col(usize::from(first_param(params, 1)) - 1),
            'C' => self.set_col(self.col + usize::from(first_param(params, 1))),
            'D' => self.set_col(self.col.saturating_sub(usize::from(first_param(params, 1)))),
            // Moving to another row ends the line being written: it is what the
            // user sees on that row.
            'H' | 'f' | 'A' | 'B' | 'E' | 'F' | 'd' => {
                if !self.text.is_empty() {
                    self.end_line();
                }
                if action == 'H' || action == 'f' {
                    let col = params
                        .iter()
                        .nth(1)
                        .and_then(|p| p.first().copied())
                        .unwrap_or(1);
                    self.set_col(usize::from(col.max(1)) - 1);
                }
            }
            _ => {}
        }
    }

    fn esc_dispatch(&mut self, intermediates: &[u8], _ignore: bool, byte: u8) {
        self.ground = true;
        match (intermediates, byte) {
            (b"", b'c') => {
                // RIS: a full reset switches every mode off.
                self.modes.clear();
                self.text.clear();
                self.chars = 0;
                self.set_col(0);
            }
            (b"", b'=') => self.modes.set(mode::APP_KEYPAD, true),
            (b"", b'>') => self.modes.set(mode::APP_KEYPAD, false),
            // G0's character set: `0` is DEC line drawing, anything else is text.
            (b"(", set) => self.modes.set(mode::LINE_DRAWING, set == b'0'),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(bytes: &[u8]) -> (Vec<String>, ModeFlags) {
        let modes = ModeFlags::default();
        let mut screen = Screen::new(Stream::Pty, modes.clone());
        let mut out = Vec::new();
        screen.feed(bytes, &mut out);
        screen.flush(&mut out);
        (out.into_iter().map(|l| l.text).collect(), modes)
    }

    // Real byte streams, captured on a PTY by fixtures/screen/capture.py.
    const PYTEST: &[u8] = include_bytes!("../fixtures/screen/pytest_color.bin");
    const TQDM: &[u8] = include_bytes!("../fixtures/screen/tqdm_progress.bin");
    const LESS: &[u8] = include_bytes!("../fixtures/screen/less_fullscreen.bin");

    #[test]
    fn a_coloured_pytest_run_becomes_plain_text() {
        let (lines, modes) = lines_of(PYTEST);
        // "collecting ... " was overwritten by \r with "collected 1 item".
        assert!(lines.iter().any(|l| l == "collected 1 item"), "{lines:#?}");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("test_cart.py F") && l.ends_with("[100%]")),
            "{lines:#?}"
        );
        assert!(
            lines.iter().any(|l| l == "E       KeyError: 'total'"),
            "{lines:#?}"
        );
        assert!(lines.iter().all(|l| !l.contains('\x1b')));
        assert_eq!(modes.get(), 0);
    }

    #[test]
    fn a_progress_bar_yields_its_last_state() {
        let (lines, _) = lines_of(TQDM);
        let bars: Vec<&String> = lines.iter().filter(|l| l.contains("it/s]")).collect();
        assert_eq!(bars.len(), 1, "{lines:#?}");
        assert!(
            bars[0].starts_with("100%|") && bars[0].contains("20/20"),
            "{bars:?}"
        );
        assert_eq!(lines.last().map(String::as_str), Some("done"));
    }

    #[test]
    fn a_full_screen_program_is_not_scanned_and_leaves_no_mode_on() {
        // `less` on a file full of "Traceback" lines, then `q`.
        let (lines, modes) = lines_of(LESS);
        assert!(lines.iter().all(|l| !l.contains("Traceback")), "{lines:#?}");
        assert!(modes.reset_sequence().is_empty());
        // Cut before `q`: the alternate screen and keypad mode are still on.
        let end = LESS.windows(8).position(|w| w == b"\x1b[?1049l").unwrap();
        let (_, modes) = lines_of(&LESS[..end]);
        assert!(modes.in_alt_screen());
        let reset = String::from_utf8(modes.reset_sequence()).unwrap();
        assert!(reset.contains("\x1b[?1049l"), "{reset:?}");
    }

    #[test]
    fn progress_bar_yields_its_last_state() {
        // The shape pip and tqdm print: redraws on one row with \r, then \n.
        let raw = b"  10%|#         | 1/10\r  50%|#####     | 5/10\r 100%|##########| 10/10\r\n";
        let (lines, _) = lines_of(raw);
        assert_eq!(lines, vec![" 100%|##########| 10/10"]);
    }

    #[test]
    fn erase_line_and_backspace_are_honoured() {
        let (lines, _) = lines_of(b"Downloading 1/3\r\x1b[2KDone\nabd\x08c\n");
        assert_eq!(lines, vec!["Done", "abc"]);
        let (lines, _) = lines_of(b"long line here\r\x1b[Kshort\n");
        assert_eq!(lines, vec!["short"]);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_dropped() {
        let (lines, _) = lines_of(b"caf\xc3\xa9 \xff\xfe ok\n");
        assert_eq!(lines, vec!["caf\u{e9} \u{fffd}\u{fffd} ok"]);
    }

    #[test]
    fn utf8_split_across_reads_is_joined() {
        let modes = ModeFlags::default();
        let mut screen = Screen::new(Stream::Pty, modes);
        let mut out = Vec::new();
        screen.feed(b"caf\xc3", &mut out);
        screen.feed(b"\xa9\n", &mut out);
        assert_eq!(out[0].text, "caf\u{e9}");
    }

    #[test]
    fn full_screen_program_is_tracked_and_not_scanned() {
        // Synthetic: the shape of `less` starting, then a crash left on screen.
        let raw = b"before\r\n\x1b[?1049h\x1b[22;0;0t\x1b[?1h\x1b=\r\x1b[?25lTraceback (most recent call last):\r\n\x1b[7m(END)\x1b[27m\x1b[K";
        let (lines, modes) = lines_of(raw);
        assert_eq!(lines, vec!["before"]);
        assert!(modes.in_alt_screen());
        let reset = String::from_utf8(modes.reset_sequence()).unwrap();
        assert!(reset.contains("\x1b[?1049l") && reset.contains("\x1b[?25h"));

        let (lines, modes) =
            lines_of(b"\x1b[?1049h\x1b[?25lscreen\r\n\x1b[?25h\x1b[?1049lafter crash\r\n");
        assert_eq!(lines, vec!["after crash"]);
        assert!(modes.reset_sequence().is_empty());
        let (_, modes) = lines_of(b"\x1b[?47h");
        assert!(modes.in_alt_screen());
        let (_, modes) = lines_of(b"\x1b[?1047h\x1b[?1000h\x1b[?2004h");
        let reset = String::from_utf8(modes.reset_sequence()).unwrap();
        assert!(reset.contains("\x1b[?1000l") && reset.contains("\x1b[?2004l"));
    }

    #[test]
    fn a_huge_line_is_cut_and_memory_stays_bounded() {
        let modes = ModeFlags::default();
        let mut screen = Screen::new(Stream::Pty, modes);
        let mut out = Vec::new();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..100 {
            screen.feed(&chunk, &mut out);
            assert!(screen.state.text.capacity() <= 2 * MAX_LINE_BYTES);
        }
        screen.feed(b"\nnext\n", &mut out);
        assert_eq!(out[0].text.len(), MAX_LINE_BYTES);
        assert_eq!(out[1].text, "next");
        // A cursor jump far to the right cannot grow it either.
        screen.feed(b"\x1b[60000Cz\n", &mut out);
        assert!(out.iter().all(|l| l.text.len() <= MAX_LINE_BYTES));
    }

    #[test]
    fn the_fast_path_agrees_with_byte_by_byte_parsing() {
        // Every chunking of this stream must give the same lines: a split can land
        // inside an escape sequence, a UTF-8 character or an OSC string.
        let raw: &[u8] = b"\x1b[32mINFO\x1b[0m: ok caf\xc3\xa9 \xe2\x9c\x93\r\nplain line\r\n\
\x1b]0;title\x07after osc\n\x1b[3\n1mcsi with a newline inside\nbad \xff utf8\n\
\x1bPq#0;2;0;0;0\x1b\\after dcs\n10%\r100%\x1b[K\nab\x08c\ttab\x7fdel\n";
        let whole = lines_of(raw).0;
        for size in [1, 2, 3, 5, 7] {
            let mut screen = Screen::new(Stream::Pty, ModeFlags::default());
            let mut out = Vec::new();
            for chunk in raw.chunks(size) {
                screen.feed(chunk, &mut out);
            }
            screen.flush(&mut out);
            let texts: Vec<String> = out.into_iter().map(|l| l.text).collect();
            assert_eq!(texts, whole, "chunks of {size}");
        }
        assert!(
            whole.contains(&"INFO: ok caf\u{e9} \u{2713}".to_string()),
            "{whole:?}"
        );
        assert!(whole.contains(&"after osc".to_string()), "{whole:?}");
        assert!(whole.contains(&"100%".to_string()), "{whole:?}");
        assert!(whole.contains(&"after dcs".to_string()), "{whole:?}");
    }

    /// The same lines through vte alone, one byte at a time: the reference.
    fn reference_lines(bytes: &[u8]) -> Vec<String> {
        let mut screen = Screen::new(Stream::Pty, ModeFlags::default());
        for &b in bytes {
            screen.parser.advance(&mut screen.state, &[b]);
        }
        let mut out = std::mem::take(&mut screen.state.lines);
        screen.flush(&mut out);
        out.into_iter().map(|l| l.text).collect()
    }

    /// Invalid UTF-8 is left out of the generated streams on purpose: vte itself
    /// decodes invalid bytes after a split character differently depending on
    /// how they are split. It is covered by the tests above.
    #[test]
    fn the_fast_path_matches_plain_vte_on_generated_streams() {
        const PIECES: &[&[u8]] = &[
            b"text",
            b" ",
            b"\r\n",
            b"\n",
            b"\r",
            b"\t",
            b"\x08",
            b"\x1b[31m",
            b"\x1b[0m",
            b"\x1b[2K",
            b"\x1b[5G",
            b"\x1b[2D",
            b"\x1b]0;t\x07",
            b"\x1b]8;;u\x1b\\",
            b"\x1bPq\x1b\\",
            b"\x1b(B",
            b"\x1b",
            b"[",
            b"\xc3\xa9",
            b"\xe2\x9c\x93",
            b"\x7f",
            b"\x18",
            b"\x1b[?1049h",
            b"\x1b[?1049l",
            b"Error: x",
            b"0123456789",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..300 {
            let mut stream = Vec::new();
            for _ in 0..40 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                stream.extend_from_slice(PIECES[(seed >> 33) as usize % PIECES.len()]);
            }
            let expected = reference_lines(&stream);
            for size in [1, 3, 64] {
                let mut screen = Screen::new(Stream::Pty, ModeFlags::default());
                let mut out = Vec::new();
                for chunk in stream.chunks(size) {
                    screen.feed(chunk, &mut out);
                }
                screen.flush(&mut out);
                let got: Vec<String> = out.into_iter().map(|l| l.text).collect();
                if got != expected {
                    // Shortest failing prefix, as bytes, for a readable report.
                    let n = (1..=stream.len())
                        .find(|&n| {
                            let p = &stream[..n];
                            let mut sc = Screen::new(Stream::Pty, ModeFlags::default());
                            let mut o = Vec::new();
                            for c in p.chunks(size) {
                                sc.feed(c, &mut o);
                            }
                            sc.flush(&mut o);
                            o.into_iter().map(|l| l.text).collect::<Vec<_>>() != reference_lines(p)
                        })
                        .unwrap_or(stream.len());
                    panic!(
                        "chunks of {size} differ; shortest failing prefix: {:?}",
                        &stream[..n]
                    );
                }
            }
        }
    }

    #[test]
    fn tabs_expand_and_cursor_moves_keep_the_row() {
        let (lines, _) = lines_of(b"a\tb\n\x1b[5Gx\nab\x1b[1Dc\n");
        assert_eq!(lines, vec!["a       b", "    x", "ac"]);
    }

    #[test]
    fn a_tab_at_the_line_cap_ends() {
        // Once a row is full the cursor still moves, up to the cap: a TAB there
        // used to wait forever for a column that never came.
        let mut bytes = vec![b'x'; 9000];
        bytes.extend_from_slice(b"\tafter\n\x1b[9999C\tjump\nnext\n");
        let (lines, _) = lines_of(&bytes);
        assert_eq!(
            lines.len(),
            2,
            "{:?}",
            lines.iter().map(String::len).collect::<Vec<_>>()
        );
        assert_eq!(lines[0].len(), MAX_LINE_BYTES);
        assert_eq!(lines[1], "next");
        // Non-ASCII rows take the same path.
        let mut bytes = "é".repeat(5000).into_bytes();
        bytes.extend_from_slice(b"\t\t\x08z\n");
        let (lines, _) = lines_of(&bytes);
        assert!(lines[0].len() <= MAX_LINE_BYTES);
    }

    #[test]
    fn a_tab_moves_without_overwriting() {
        let (lines, _) = lines_of(b"abcdefghij\r\tX\n");
        assert_eq!(lines, vec!["abcdefghXj"]);
    }

    #[test]
    fn modes_a_crashed_program_leaves_on_are_reset_and_only_those() {
        let reset_of = |bytes: &[u8]| {
            let (_, modes) = lines_of(bytes);
            String::from_utf8(modes.reset_sequence()).unwrap()
        };
        // Each mode on its own: its reset, and nothing else.
        for (on, reset) in [
            (&b"\x1b(0"[..], "\x1b(B"),
            (b"\x0e", "\x0f"),
            (b"\x1b[?7l", "\x1b[?7h"),
            (b"\x1b[?6h", "\x1b[?6l"),
            (b"\x1b[4h", "\x1b[4l"),
            (b"\x1b[2 q", "\x1b[0 q"),
            (b"\x1b=", "\x1b>"),
            (b"\x1b[?1h", "\x1b[?1l"),
            (b"\x1b[3;20r", "\x1b7\x1b[r\x1b8"),
        ] {
            assert_eq!(reset_of(on), reset, "{on:?}");
        }
        // Switched off again by the program itself: nothing to reset.
        for off in [
            &b"\x1b(0x\x1b(B"[..],
            b"\x0e\x0f",
            b"\x1b[?7l\x1b[?7h",
            b"\x1b[?6h\x1b[?6l",
            b"\x1b[4h\x1b[4l",
            b"\x1b[2 q\x1b[0 q",
            b"\x1b=\x1b>",
            b"\x1b[3;20r\x1b[r",
            b"\x1b[?1049h\x1b[?25l\x1b[?1h\x1b=\x1b[4h\x1bc",
        ] {
            assert_eq!(reset_of(off), "", "{off:?}");
        }
        // On the alternate screen the scroll region is reset before leaving it.
        let reset = reset_of(b"\x1b[?1049h\x1b[5;10r\x1b(0");
        assert_eq!(reset, "\x1b(B\x1b[r\x1b[?1049l");
        // After a suspend, the modes with known values come back.
        let set =
            ModeFlags::set_sequence(mode::LINE_DRAWING | mode::NO_AUTOWRAP | mode::APP_KEYPAD);
        assert_eq!(set, b"\x1b=\x1b[?7l\x1b(0");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Pieces that reach the parser's interesting states (escape sequences cut
        /// anywhere, OSC/DCS strings, UTF-8 and broken UTF-8, cursor moves, TABs,
        /// long runs), mixed with arbitrary bytes.
        fn stream() -> impl Strategy<Value = Vec<u8>> {
            let piece = prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..16),
                Just(b"\x1b[".to_vec()),
                Just(b"\x1b]0;".to_vec()),
                Just(b"\x1bP".to_vec()),
                Just(b"\x1b\\".to_vec()),
                Just(b"\x07".to_vec()),
                Just(b"\t".to_vec()),
                Just(b"\r".to_vec()),
                Just(b"\n".to_vec()),
                Just(b"\x08".to_vec()),
                Just(b"\x1b[9999C".to_vec()),
                Just(b"\x1b[3D".to_vec()),
                Just(b"\x1b[1K".to_vec()),
                Just(b"\x1b[?1049h".to_vec()),
                Just(b"\x1b[?1049l".to_vec()),
                Just(b"\x1b(0".to_vec()),
                Just("\u{e9}\u{2713}".as_bytes().to_vec()),
                Just(vec![0xe2, 0x9c]),
                (1usize..12_000).prop_map(|n| vec![b'x'; n]),
                (1usize..3_000).prop_map(|n| "\u{e9}".repeat(n).into_bytes()),
            ];
            proptest::collection::vec(piece, 0..40).prop_map(|p| p.concat())
        }

        fn feed_in(bytes: &[u8], sizes: &[usize]) -> (Vec<String>, Screen) {
            let mut screen = Screen::new(Stream::Pty, ModeFlags::default());
            let mut out = Vec::new();
            let mut rest = bytes;
            let mut sizes = sizes.iter().cycle();
            while !rest.is_empty() {
                let n = (*sizes.next().unwrap_or(&1)).clamp(1, rest.len());
                screen.feed(&rest[..n], &mut out);
                // Bounded after every read, whatever came before.
                assert!(screen.state.text.len() <= MAX_LINE_BYTES);
                assert!(screen.state.col <= MAX_LINE_BYTES);
                assert!(screen.carry.len() <= 3);
                assert!(screen.state.lines.is_empty());
                rest = &rest[n..];
            }
            screen.flush(&mut out);
            (out.into_iter().map(|l| l.text).collect(), screen)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(256)))]

            /// Any bytes, any chunking: it ends, stays bounded, and yields the
            /// same lines as reading one byte at a time.
            #[test]
            fn any_chunking_gives_the_lines_of_byte_at_a_time(
                bytes in stream(),
                sizes in proptest::collection::vec(1usize..5000, 1..8),
            ) {
                let (chunked, _) = feed_in(&bytes, &sizes);
                let (one_by_one, _) = feed_in(&bytes, &[1]);
                prop_assert_eq!(&chunked, &one_by_one);
                for line in &chunked {
                    prop_assert!(line.len() <= MAX_LINE_BYTES);
                    prop_assert!(!line.contains('\x1b'));
                }
            }
        }
    }
}

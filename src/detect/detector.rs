//! The rolling buffer, the open suspect block and its settle deadline.
//!
//! One block is open at a time. Lines that belong to it (frames, carets, chained
//! tracebacks) extend it and move its deadline; other lines go to the buffer only.
//! A block settles `settle` after its last belonging line, or 150 ms after it when it
//! is structurally complete, and at the latest [`MAX_OPEN`] after its first line
//! (output that never pauses cannot keep an error from being reported). Nothing
//! here reads the clock: callers pass `now`.

use super::analyze::{analyze, Analysis};
use super::continuation::{self, Cont, ContState};
use super::fingerprint::{fingerprint, summary};
use super::json;
use super::patterns::{self, Eco, Start};
use super::ErrorBlock;
use crate::line::Line;
use regex::{Regex, RegexSet};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Buffer bounds: the last 100 lines and at most 64 KiB of text.
pub const BUFFER_LINES: usize = 100;
pub const BUFFER_BYTES: usize = 64 * 1024;
/// A stored line is cut to this many bytes (upstream cuts too; memory must not rely on it).
pub const LINE_BYTES: usize = 8 * 1024;
/// Block bounds: lines from the middle are dropped beyond these (head and tail matter).
pub const BLOCK_LINES: usize = 200;
pub const BLOCK_BYTES: usize = 64 * 1024;
/// Settled blocks not yet taken by `poll`.
const QUEUE_MAX: usize = 8;
/// Early settle for a structurally complete block.
pub const EARLY_SETTLE: Duration = Duration::from_millis(150);
/// The longest a block stays open after its first line, however steadily lines
/// keep belonging to it (a settle longer than this raises it to the settle).
pub const MAX_OPEN: Duration = Duration::from_secs(10);

/// What the supervisor can tune.
#[derive(Debug, Clone)]
pub struct DetectSettings {
    /// Quiet time after the last line of a block before it is reported.
    pub settle: Duration,
    /// User regexes; a matching line opens a block on its own ("custom").
    pub extra_patterns: Vec<String>,
    /// User regexes; a matching line never opens a block, and a block whose summary
    /// or first line matches is dropped.
    pub extra_ignores: Vec<String>,
}

impl Default for DetectSettings {
    fn default() -> Self {
        DetectSettings {
            settle: Duration::from_secs(2),
            extra_patterns: Vec::new(),
            extra_ignores: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
struct OpenBlock {
    eco: Eco,
    strong: bool,
    lines: Vec<Line>,
    bytes: usize,
    /// Blank lines seen since the last belonging line: kept only if the block goes on.
    pending_blank: Vec<Line>,
    /// Belonging lines after the start (continuations); a weak block needs one.
    continuations: usize,
    free_next: u8,
    /// When the block's first line came: it is reported by `opened + MAX_OPEN`.
    opened: Instant,
    last: Instant,
    state: ContState,
    /// Sequence number of the newest line, to know whether it is still buffered.
    last_seq: u64,
    /// A structured log record's reading (its stack's ecosystem and analysis),
    /// made from the record's fields rather than its lines.
    record: Option<Box<(Eco, Analysis)>>,
}

impl OpenBlock {
    fn new(
        eco: Eco,
        strong: bool,
        end: bool,
        first_indented: bool,
        now: Instant,
        seq: u64,
    ) -> Self {
        OpenBlock {
            eco,
            strong,
            lines: Vec::new(),
            bytes: 0,
            pending_blank: Vec::new(),
            continuations: 0,
            free_next: 0,
            opened: now,
            last: now,
            state: ContState {
                last_indented: first_indented,
                complete: end,
                interrupted: false,
            },
            last_seq: seq,
            record: None,
        }
    }

    fn push(&mut self, line: Line) {
        self.bytes += line.text.len();
        self.lines.push(line);
        // Drop from the middle: the header and the final exception line both matter.
        while self.lines.len() > BLOCK_LINES || (self.bytes > BLOCK_BYTES && self.lines.len() > 2) {
            let mid = self.lines.len() / 2;
            let gone = self.lines.remove(mid);
            self.bytes -= gone.text.len();
        }
    }
}

/// A settled block, ready at `ready`.
#[derive(Debug, Clone)]
struct Settled {
    block: ErrorBlock,
    ready: Instant,
}

/// Watches every line of the child's output for error blocks.
#[derive(Debug, Clone)]
pub struct Detector {
    settle: Duration,
    custom: Option<RegexSet>,
    ignores: Option<RegexSet>,
    buffer: VecDeque<(u64, Line)>,
    buffer_bytes: usize,
    seq: u64,
    open: Option<OpenBlock>,
    queue: VecDeque<Settled>,
    /// The newest block seen (reported or too weak to report), for the crash path.
    last_block: Option<(u64, ErrorBlock)>,
}

fn set(patterns: &[String]) -> Result<Option<RegexSet>, regex::Error> {
    if patterns.is_empty() {
        return Ok(None);
    }
    for p in patterns {
        Regex::new(p)?; // report the offending pattern itself
    }
    RegexSet::new(patterns).map(Some)
}

/// Cut a line to `LINE_BYTES` at a char boundary and give the memory back.
fn bound(mut line: Line) -> Line {
    if line.text.len() > LINE_BYTES {
        let mut cut = LINE_BYTES;
        while !line.text.is_char_boundary(cut) {
            cut -= 1;
        }
        line.text.truncate(cut);
        line.text.shrink_to_fit();
    }
    line
}

impl Detector {
    /// Fails on an invalid user regex, so a bad flag is reported at startup.
    pub fn new(settings: DetectSettings) -> Result<Detector, regex::Error> {
        Ok(Detector {
            settle: settings.settle,
            custom: set(&settings.extra_patterns)?,
            ignores: set(&settings.extra_ignores)?,
            buffer: VecDeque::with_capacity(BUFFER_LINES + 1),
            buffer_bytes: 0,
            seq: 0,
            open: None,
            queue: VecDeque::new(),
            last_block: None,
        })
    }

    /// Feed one clean line observed at `now`.
    pub fn push(&mut self, line: Line, now: Instant) {
        self.settle_expired(now);
        let line = bound(line);
        self.seq += 1;
        let seq = self.seq;
        let text = line.text.as_str();

        let mut handled = false;
        if let Some(open) = self.open.as_mut() {
            let cont = if open.free_next > 0 {
                open.free_next -= 1;
                Cont::Belongs(None)
            } else {
                continuation::continues(open.eco, open.state, text)
            };
            match cont {
                Cont::Belongs(end) => {
                    open.eco = patterns::refine_eco(open.eco, text);
                    for blank in open.pending_blank.drain(..) {
                        open.bytes += blank.text.len();
                        open.lines.push(blank);
                    }
                    open.push(line.clone());
                    open.continuations += 1;
                    if let Some(end) = end {
                        open.state.complete = end;
                    }
                    open.state.last_indented = text.starts_with([' ', '\t']);
                    open.state.interrupted = false;
                    open.last = now;
                    open.last_seq = seq;
                    handled = true;
                }
                Cont::Neutral => {
                    if open.pending_blank.len() < 3 {
                        open.pending_blank.push(line.clone());
                    }
                    handled = true;
                }
                Cont::Foreign => open.state.interrupted = true,
            }
        }
        if !handled {
            if let Some(start) = self.custom_start(&line.text) {
                self.open_block(start, &line, now, seq);
            } else if json::is_record(&line.text) {
                if let Some(record) = json::judge(&line.text) {
                    self.open_record(record, &line, now, seq);
                }
            } else if let Some(start) = self.start_of(&line.text) {
                self.open_block(start, &line, now, seq);
            }
        }
        self.buffer_push(seq, line);
    }

    fn open_record(&mut self, record: json::Record, line: &Line, now: Instant, seq: u64) {
        if let Some(prev) = self.open.take() {
            self.settle_block(prev, now);
        }
        let mut block = OpenBlock::new(Eco::Json, record.strong, true, false, now, seq);
        block.push(line.clone());
        for l in &record.stack {
            block.push(Line::new(l.as_str(), line.stream));
        }
        block.record = Some(Box::new((record.eco, record.analysis)));
        self.open = Some(block);
    }

    fn open_block(&mut self, start: Start, line: &Line, now: Instant, seq: u64) {
        if let Some(prev) = self.open.take() {
            self.settle_block(prev, now);
        }
        let lead = patterns::lead_in(
            start,
            self.buffer.iter().rev().map(|(_, l)| l.text.as_str()),
        );
        let indented = line.text.starts_with([' ', '\t']);
        let mut block = OpenBlock::new(start.eco, start.strong, start.end, indented, now, seq);
        block.free_next = start.free_next;
        let skip = self.buffer.len().saturating_sub(lead);
        for (_, l) in self.buffer.iter().skip(skip) {
            block.push(l.clone());
        }
        block.push(line.clone());
        self.open = Some(block);
    }

    /// A user pattern opens a block on any line, a structured record too.
    fn custom_start(&self, text: &str) -> Option<Start> {
        self.custom.as_ref().filter(|c| c.is_match(text))?;
        Some(Start {
            eco: Eco::Custom,
            strong: true,
            end: true,
            free_next: 0,
            index: usize::MAX,
        })
    }

    /// How a plain text line opens a block, if it does.
    fn start_of(&self, text: &str) -> Option<Start> {
        if !patterns::prefilter(text) || patterns::is_ignored(text) || self.user_ignored(text) {
            return None;
        }
        patterns::classify_start(text)
    }

    fn user_ignored(&self, text: &str) -> bool {
        self.ignores.as_ref().is_some_and(|s| s.is_match(text))
    }

    fn buffer_push(&mut self, seq: u64, line: Line) {
        self.buffer_bytes += line.text.len();
        self.buffer.push_back((seq, line));
        while self.buffer.len() > BUFFER_LINES
            || (self.buffer_bytes > BUFFER_BYTES && self.buffer.len() > 1)
        {
            if let Some((_, old)) = self.buffer.pop_front() {
                self.buffer_bytes -= old.text.len();
            }
        }
    }

    fn open_deadline(&self) -> Option<Instant> {
        self.open.as_ref().map(|o| {
            let quiet = o.last
                + if o.state.complete {
                    EARLY_SETTLE.min(self.settle)
                } else {
                    self.settle
                };
            quiet.min(o.opened + MAX_OPEN.max(self.settle))
        })
    }

    /// The open block, if its deadline has passed: a line arriving late (before
    /// the caller polled) does not extend it.
    fn settle_expired(&mut self, now: Instant) {
        if self.open_deadline().is_some_and(|d| d <= now) {
            if let Some(open) = self.open.take() {
                self.settle_block(open, now);
            }
        }
    }

    /// When `poll` must next be called; `None` when nothing is pending.
    pub fn deadline(&self) -> Option<Instant> {
        let queued = self.queue.front().map(|s| s.ready);
        match (queued, self.open_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A settled block, once its deadline has passed.
    pub fn poll(&mut self, now: Instant) -> Option<ErrorBlock> {
        self.settle_expired(now);
        if self.queue.front().is_some_and(|s| s.ready <= now) {
            return self.queue.pop_front().map(|s| s.block);
        }
        None
    }

    /// The best error block for a crash: the open block (even a weak one), else the
    /// newest settled one, else the newest block still in the buffer.
    pub fn crash_block(&mut self) -> Option<ErrorBlock> {
        if let Some(open) = self.open.take() {
            let seq = open.last_seq;
            if let Some(block) = self.finish(open) {
                self.queue.clear();
                self.last_block = Some((seq, block.clone()));
                return Some(block);
            }
        }
        if let Some(s) = self.queue.pop_back() {
            self.queue.clear();
            return Some(s.block);
        }
        let oldest = self.buffer.front().map_or(u64::MAX, |(s, _)| *s);
        match &self.last_block {
            Some((seq, block)) if *seq >= oldest => Some(block.clone()),
            _ => None,
        }
    }

    /// The last `n` buffered lines (crash context uses 80).
    pub fn context(&self, n: usize) -> Vec<Line> {
        let skip = self.buffer.len().saturating_sub(n);
        self.buffer
            .iter()
            .skip(skip)
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// Forget everything (after a restart).
    pub fn reset(&mut self) {
        self.buffer.clear();
        self.buffer_bytes = 0;
        self.open = None;
        self.queue.clear();
        self.last_block = None;
    }

    fn settle_block(&mut self, open: OpenBlock, now: Instant) {
        let seq = open.last_seq;
        let strong_enough = open.strong || open.continuations > 0;
        if let Some(block) = self.finish(open) {
            self.last_block = Some((seq, block.clone()));
            if strong_enough {
                if self.queue.len() >= QUEUE_MAX {
                    self.queue.pop_front();
                }
                self.queue.push_back(Settled { block, ready: now });
            }
        }
    }

    /// Turn the lines into an [`ErrorBlock`]; `None` for a block that must not be
    /// reported at all (the user's Ctrl-C, a user ignore).
    fn finish(&self, open: OpenBlock) -> Option<ErrorBlock> {
        let texts: Vec<&str> = open.lines.iter().map(|l| l.text.as_str()).collect();
        let (eco, mut a) = match open.record {
            Some(record) => *record,
            None => (open.eco, analyze(open.eco, &texts)),
        };
        if eco == Eco::Python && a.kind == "KeyboardInterrupt" {
            return None;
        }
        let ecosystem = eco.name();
        let summary = summary(&a.kind, &a.message, a.func.as_deref(), a.file.as_deref());
        if self.user_ignored(&summary) || texts.first().is_some_and(|t| self.user_ignored(t)) {
            return None;
        }
        // Without a function, the code at the error tells two errors of one kind in
        // one file apart (and survives lines moving, unlike a line number).
        let fingerprint = fingerprint(
            ecosystem,
            a.identity.as_deref().unwrap_or(&a.kind),
            &a.message,
            a.file.as_deref(),
            a.func.as_deref().or(a.site.as_deref()),
        );
        // The file the summary names first: it is where a fix starts.
        if let Some(own) = a.file.as_deref() {
            if let Some(i) = a.files.iter().position(|f| f.path == own) {
                a.files[..=i].rotate_right(1);
            }
        }
        Some(ErrorBlock {
            lines: open.lines,
            ecosystem,
            summary,
            fingerprint,
            files: a.files,
        })
    }
}

#[cfg(test)]
#[path = "detector_tests.rs"]
mod tests;

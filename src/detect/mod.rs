//! Error detection: patterns, rolling buffer, settle, fingerprints.
//!
//! The supervisor feeds every clean [`Line`] to a [`Detector`]; suspect lines open a
//! block that grows while its continuation lines arrive and is handed back by
//! [`Detector::poll`] once it has settled. Pure logic: time comes in as arguments.

mod analyze;
mod continuation;
mod detector;
pub mod environment;
pub mod fingerprint;
mod json;
mod native;
mod paths;
mod patterns;
mod runners;

pub use detector::{DetectSettings, Detector};
pub use paths::is_third_party;

use crate::line::Line;

/// A completed error block: the lines plus what the agent and the breaker need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorBlock {
    /// The whole block (lead-in, frames, final line), not just the matching line.
    pub lines: Vec<Line>,
    /// "python", "node", "typescript", "rust", "go", "java", "ruby", "php", "vite",
    /// "webpack", "next", "pytest", "jest", "vitest", "cargo-test", "go-test", "c",
    /// "sanitizer", "generic" or "custom" (a user pattern). A structured log record
    /// takes the ecosystem of the stack it carries.
    pub ecosystem: &'static str,
    /// One human line, e.g. `KeyError: 'total' in index (flaskapp.py)`, at most ~200 chars.
    pub summary: String,
    /// 16 hex chars; the same bug keeps it when its line numbers move.
    pub fingerprint: String,
    /// Source locations named in the block: the error's own file first (the frame
    /// the summary names), then the others in order of appearance.
    pub files: Vec<FileRef>,
}

/// A source location named in an error block.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileRef {
    pub path: String,
    pub line: Option<u32>,
}

impl ErrorBlock {
    /// The block's lines joined with `\n` (what goes, fenced, into a prompt).
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (i, l) in self.lines.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&l.text);
        }
        out
    }
}

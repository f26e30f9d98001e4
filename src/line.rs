//! A clean text line of the child's output, as the detector sees it.

/// Which output stream a line came from. In PTY mode stdout and stderr are merged
/// by the terminal, so they cannot be told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Pty,
    Stdout,
    Stderr,
}

impl Stream {
    /// Label used in prompts and events.
    pub fn label(self) -> &'static str {
        match self {
            Stream::Pty => "terminal",
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One line of output with escape sequences removed and `\r` overwrites folded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    pub stream: Stream,
}

impl Line {
    pub fn new(text: impl Into<String>, stream: Stream) -> Self {
        Line {
            text: text.into(),
            stream,
        }
    }
}

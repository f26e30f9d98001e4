//! Per-ecosystem line patterns: which lines may open an error block (and which
//! lines before it belong to it), and which lines only look like errors. What
//! continues an open block is in `continuation`.
//!
//! Everything is compiled once (`OnceLock`). The detector calls [`prefilter`] on every
//! line first: a single literal-alternation regex (Teddy/Aho-Corasick inside `regex`)
//! that rejects the typical benign dev-server line without running the `RegexSet`.

use regex::{Regex, RegexSet};
use std::sync::OnceLock;

/// The ecosystem a block belongs to; it decides which lines continue the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Eco {
    Python,
    Node,
    TypeScript,
    Rust,
    Go,
    Java,
    Javac,
    Ruby,
    Php,
    Vite,
    Webpack,
    Next,
    Pytest,
    Jest,
    Vitest,
    CargoTest,
    GoTest,
    /// gcc / clang / g++ diagnostics, the linker, and make's `***` line after them.
    C,
    /// AddressSanitizer and friends (a report with frames) and UBSan `runtime error:`.
    Sanitizer,
    /// A structured log record (one JSON line); the block is built by `json`.
    Json,
    Generic,
    Custom,
}

impl Eco {
    /// The public name used in [`super::ErrorBlock::ecosystem`].
    pub(crate) fn name(self) -> &'static str {
        match self {
            Eco::Python => "python",
            Eco::Node => "node",
            Eco::TypeScript => "typescript",
            Eco::Rust => "rust",
            Eco::Go => "go",
            Eco::Java | Eco::Javac => "java",
            Eco::Ruby => "ruby",
            Eco::Php => "php",
            Eco::Vite => "vite",
            Eco::Webpack => "webpack",
            Eco::Next => "next",
            Eco::Pytest => "pytest",
            Eco::Jest => "jest",
            Eco::Vitest => "vitest",
            Eco::CargoTest => "cargo-test",
            Eco::GoTest => "go-test",
            Eco::C => "c",
            Eco::Sanitizer => "sanitizer",
            Eco::Json => "json",
            Eco::Generic => "generic",
            Eco::Custom => "custom",
        }
    }
}

/// How a line may open a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Start {
    pub eco: Eco,
    /// Unmistakable on its own; a weak start needs at least one continuation line
    /// before the block is reported (the false-positive rule of thumb).
    pub strong: bool,
    /// The start line alone is structurally complete (early settle).
    pub end: bool,
    /// Lines right after the start accepted whatever they say (a Rust panic message).
    pub free_next: u8,
    /// Index of the pattern, used to pick lead-in lines.
    pub index: usize,
}

/// (pattern, ecosystem, strong, end, free_next)
const STARTS: &[(&str, Eco, bool, bool, u8)] = &[
    (
        r"^Traceback \(most recent call last\):\s*$",
        Eco::Python,
        false,
        false,
        0,
    ),
    (
        r"^\s*\+ Exception Group Traceback",
        Eco::Python,
        false,
        false,
        0,
    ),
    (
        r#"^\s*File "[^"]+", line \d+\s*$"#,
        Eco::Python,
        false,
        false,
        0,
    ),
    (
        r"ERROR in \S+: Exception on \S+ \[\w+\]",
        Eco::Python,
        false,
        false,
        0,
    ),
    (r"^Internal Server Error: /", Eco::Python, false, false, 0),
    (
        r"^ERROR:\s+Exception in ASGI application",
        Eco::Python,
        false,
        false,
        0,
    ),
    (
        r"\[ERROR\] (?:Exception in worker process|Error handling request)",
        Eco::Python,
        false,
        false,
        0,
    ),
    (r"^\[nodemon\] app crashed", Eco::Node, true, true, 0),
    // Test runners: a failing run is one block from the first failure to the totals.
    (
        r"^=+ (?:FAILURES|ERRORS|short test summary info) =+$",
        Eco::Pytest,
        true,
        false,
        0,
    ),
    (r"^  ● \S", Eco::Jest, true, false, 0),
    (r"^ FAIL  \S.* > ", Eco::Vitest, true, false, 0),
    (r"^---- \S+ stdout ----$", Eco::CargoTest, true, false, 0),
    (r"^\s*--- FAIL: \S+", Eco::GoTest, true, false, 0),
    // C and C++: compiler diagnostics, the linker, sanitizers.
    (
        r"^\S+\.(?:c|cc|cpp|cxx|c\+\+|h|hh|hpp|hxx|m|mm):\d+:\d+: (?:fatal )?error: ",
        Eco::C,
        true,
        false,
        0,
    ),
    (
        r"^\S*(?-u:\b)ld(?:\.\w+)?: .*: in function ",
        Eco::C,
        false,
        false,
        0,
    ),
    (
        r"^==\d+==ERROR: \w*Sanitizer: ",
        Eco::Sanitizer,
        true,
        false,
        0,
    ),
    (
        r"^\S+:\d+:\d+: runtime error: ",
        Eco::Sanitizer,
        true,
        true,
        0,
    ),
    (
        r"(?-u:\b)http: panic serving \S+: ",
        Eco::Go,
        true,
        false,
        0,
    ),
    (
        r"^Exception in thread .*?[\w$]+(?:Exception|Error)",
        Eco::Java,
        true,
        false,
        0,
    ),
    (
        r"^(?:[a-z_][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable)(?::|$)",
        Eco::Java,
        false,
        false,
        0,
    ),
    (
        r"^(?:Uncaught )?(?:[A-Z][\w$]*)?(?:Error|Exception)(?: \[[\w-]+\])?: ",
        Eco::Generic,
        false,
        false,
        0,
    ),
    (
        r"^\S.*\.[mc]?tsx?\(\d+,\d+\): error TS\d+: ",
        Eco::TypeScript,
        true,
        true,
        0,
    ),
    (
        r"^\S.*\.[mc]?tsx?:\d+:\d+ - error TS\d+: ",
        Eco::TypeScript,
        true,
        true,
        0,
    ),
    (
        r"\[vite\] (?:\((?:client|ssr)\) )?(?:Internal server error|Pre-transform error): ",
        Eco::Vite,
        true,
        false,
        0,
    ),
    (r"^✘ \[ERROR\] ", Eco::Vite, true, false, 0),
    (r"^error during build:", Eco::Vite, true, false, 2),
    (r"^ERROR in ", Eco::Webpack, true, false, 0),
    (
        r"^Module not found: (?:Error: )?Can't resolve",
        Eco::Webpack,
        true,
        false,
        0,
    ),
    (r"^\s?⨯ ", Eco::Next, true, false, 0),
    (r"^Failed to compile\.?\s*$", Eco::Webpack, true, false, 0),
    (
        r"^thread '[^']*'(?: \(\d+\))? panicked at ",
        Eco::Rust,
        true,
        false,
        1,
    ),
    (r"^error\[E\d{4}\]: ", Eco::Rust, true, false, 0),
    (r"^error: could not compile ", Eco::Rust, true, true, 0),
    (r"^error: ", Eco::Rust, false, false, 0),
    (r"^panic: ", Eco::Go, true, false, 0),
    (r"^fatal error: ", Eco::Go, true, false, 0),
    (r"^goroutine \d+ \[[^\]]+\]:\s*$", Eco::Go, false, false, 0),
    (r"^(?:\./)?\S+\.go:\d+:\d+: ", Eco::Go, true, true, 0),
    (r"^\S+\.java:\d+: error: ", Eco::Javac, true, false, 0),
    (r"^e: \S+\.kts?[:( ]", Eco::Javac, true, false, 0),
    (
        r"^\S.*\.rb:\d+:in [`'].*\([A-Z][\w:]*\)$",
        Eco::Ruby,
        true,
        false,
        0,
    ),
    // Ruby <= 3.3 (parse.y): the source line and a caret follow.
    (r"^\S+\.rb:\d+: syntax error, ", Eco::Ruby, true, false, 2),
    (
        r"^\s?[A-Z][\w:]*(?:Error|Exception|Invalid|NotFound) \(.*\):\s*$",
        Eco::Ruby,
        false,
        false,
        0,
    ),
    (
        r"^(?:PHP )?(?:Fatal error|Parse error): ",
        Eco::Php,
        true,
        false,
        0,
    ),
    (
        r"^exception '[^']+' with message ",
        Eco::Php,
        false,
        false,
        0,
    ),
    (r"^(?:CRITICAL|FATAL|PANIC)\b", Eco::Generic, true, true, 0),
    // A log line with a timestamp, then the level (Python logging, Flask, log4j).
    (
        r"^\[?\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d[.,\d]*(?:Z|[+-]\d\d:?\d\d)?\]?\s+\[?(?:CRITICAL|FATAL)(?-u:\b)",
        Eco::Generic,
        true,
        true,
        0,
    ),
    (
        r"Segmentation fault|core dumped",
        Eco::Generic,
        true,
        true,
        0,
    ),
    (r"^Fatal: ", Eco::Generic, true, true, 0),
];

/// Pattern indexes the detector treats specially.
pub(crate) const START_TRACEBACK: usize = 0;
pub(crate) const START_GENERIC_ERROR: usize = 20;

/// Cheap literal check: a line none of these occur in cannot open a block.
const TRIGGERS: &[&str] = &[
    "Traceback",
    "File \"",
    "rror",
    "xception",
    "panic",
    "PANIC",
    "FATAL",
    "Fatal",
    "fatal",
    "CRITICAL",
    "crashed",
    "Segmentation fault",
    "core dumped",
    "goroutine ",
    ".go:",
    ".rb:",
    "⨯",
    "✘",
    "ERROR",
    "Failed to compile",
    "Can't resolve",
    "FAILURES",
    "short test summary",
    "FAIL",
    "●",
    " stdout ----",
    "ld: ",
];

/// Lines that look like errors and are not (research.md section D).
const IGNORES: &[&str] = &[
    r"(?:Deprecation|PendingDeprecation|Future|User|Resource|Runtime|Syntax)Warning\b",
    r"\bWatching for file changes",
    r"Performing system checks",
    r"\bFound 0 errors?\b",
    r"\(0 errors?\b",
    r"^\s*0 errors?\b",
    r"(?i)^npm warn",
    r"^Warning: ",
    r"WARNING: This is a development server",
    r#""(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) \S* HTTP/[\d.]+" \d{3}"#,
    r"\b(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /\S* \d{3}\b",
    r"\blevel=(?:error|warn|warning|info)\b",
    r#""level"\s*:\s*"(?:error|warn|warning|info)""#,
    r"compiled successfully",
    r"^\s*(?:WARN|WARNING)\b",
];

macro_rules! static_regex {
    ($name:ident, $pat:expr) => {
        pub(super) fn $name() -> &'static regex::Regex {
            static R: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
            R.get_or_init(|| regex::Regex::new($pat).expect("built-in pattern compiles"))
        }
    };
}
pub(super) use static_regex;

fn starts() -> &'static RegexSet {
    static S: OnceLock<RegexSet> = OnceLock::new();
    S.get_or_init(|| RegexSet::new(STARTS.iter().map(|s| s.0)).expect("built-in patterns compile"))
}

fn ignores() -> &'static RegexSet {
    static S: OnceLock<RegexSet> = OnceLock::new();
    S.get_or_init(|| RegexSet::new(IGNORES).expect("built-in patterns compile"))
}

fn trigger() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        let alt: Vec<String> = TRIGGERS.iter().map(|t| regex::escape(t)).collect();
        Regex::new(&alt.join("|")).expect("built-in pattern compiles")
    })
}

/// True when the line contains something a start pattern needs; false for almost
/// every benign line, without touching the `RegexSet`.
pub(crate) fn prefilter(text: &str) -> bool {
    trigger().is_match(text)
}

/// Built-in ignore list (noise that looks like an error).
pub(crate) fn is_ignored(text: &str) -> bool {
    ignores().is_match(text)
}

/// The first (highest-priority) start pattern the line matches.
pub(crate) fn classify_start(text: &str) -> Option<Start> {
    let m = starts().matches(text);
    let index = m.iter().next()?;
    let (_, eco, strong, end, free_next) = STARTS[index];
    Some(Start {
        eco,
        strong,
        end,
        free_next,
        index,
    })
}

static_regex!(re_js_frame, r"^\s+at \S");
static_regex!(
    re_node_header,
    r"^(?:file://)?(?:/|[A-Za-z]:\\|node:)\S*:\d+$"
);
static_regex!(
    re_lead_in_log,
    r"\b(?:ERROR|CRITICAL|Error|Exception|error)\b"
);
static_regex!(re_go_pkg_header, r"^# \S+$");
static_regex!(re_c_function, r"^\S+: In (?:member )?function ");

/// How many lines before a start line belong to the block (a Node uncaught header with
/// its source line and caret, the log line `logging.exception` writes, `# pkg` for Go).
pub(crate) fn lead_in<'a>(start: Start, previous: impl Iterator<Item = &'a str>) -> usize {
    let prev: Vec<&str> = previous.take(5).collect(); // newest first
    match start.eco {
        Eco::Generic | Eco::Node if start.index == START_GENERIC_ERROR => prev
            .iter()
            .position(|l| re_node_header().is_match(l))
            .map_or(0, |p| p + 1),
        Eco::Python if start.index == START_TRACEBACK => match prev.first() {
            Some(l) if re_lead_in_log().is_match(l) && !is_ignored(l) => 1,
            _ => 0,
        },
        Eco::Go => match prev.first() {
            Some(l) if re_go_pkg_header().is_match(l) => 1,
            _ => 0,
        },
        Eco::C => match prev.first() {
            Some(l) if re_c_function().is_match(l) => 1,
            _ => 0,
        },
        Eco::Sanitizer => match prev.first() {
            Some(l) if l.starts_with("=====") => 1,
            _ => 0,
        },
        _ => 0,
    }
}

/// A weak generic block turns into a concrete ecosystem from its first frame.
pub(crate) fn refine_eco(eco: Eco, text: &str) -> Eco {
    static_regex!(
        re_java_frame,
        r"^\s+at [\w.$<>/]+\([\w$]+\.(?:java|kt|scala|groovy):\d+\)"
    );
    if eco != Eco::Generic {
        return eco;
    }
    if re_java_frame().is_match(text) {
        Eco::Java
    } else if re_js_frame().is_match(text) {
        Eco::Node
    } else {
        eco
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_patterns_compile() {
        assert!(classify_start("Traceback (most recent call last):").is_some());
        assert!(is_ignored("Found 0 errors. Watching for file changes."));
        assert!(prefilter("KeyError: 'x'"));
    }

    #[test]
    fn special_start_indexes_name_their_rows() {
        assert!(STARTS[START_TRACEBACK].0.starts_with("^Traceback"));
        assert!(STARTS[START_GENERIC_ERROR].0.starts_with("^(?:Uncaught )?"));
    }

    #[test]
    fn benign_lines_do_not_start_blocks() {
        for l in [
            "127.0.0.1 - - [25/Nov/2026 11:30:19] \"GET /errors HTTP/1.1\" 404 -",
            "<ErrorBoundary> rendered",
            "webpack 5.90.0 compiled successfully in 120 ms",
        ] {
            assert!(is_ignored(l) || classify_start(l).is_none(), "{l}");
        }
    }
}

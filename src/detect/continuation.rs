//! Which lines continue an open block, per ecosystem: frames, carets, chained
//! tracebacks, a test run's output up to its totals line.

use super::patterns::{classify_start, re_js_frame, static_regex, Eco};

/// How a line relates to the open block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cont {
    /// Part of the block; `end` says whether the block is structurally complete after it,
    /// `None` keeps the previous completeness.
    Belongs(Option<bool>),
    /// A blank line: kept inside the block only if more belonging lines follow.
    Neutral,
    /// Not part of the block (an access-log line after a traceback).
    Foreign,
}

static_regex!(
    re_py_chain,
    r"^(?:During handling of the above exception|The above exception was the direct cause)"
);
static_regex!(re_py_exc_line, r"^[A-Za-z_][\w.]*(?::.*)?$");
// An exception's message going on after its line: indented details, a field
// path alone on its line (pydantic's `age`, `items.0.price`), SQLAlchemy's
// statement, parameters and link.
static_regex!(
    re_py_message_more,
    r"^(?:\s+\S|[A-Za-z_][\w]*(?:\.\w+)*$|\[(?:SQL|parameters): |\(Background on this error at: )"
);
static_regex!(re_node_footer, r"^Node\.js v\d+");
static_regex!(re_node_misc, r"^(?:\}|\]|Require stack:|- \S|\[nodemon\])");
static_regex!(
    re_java_more,
    r"^\s+\.\.\. \d+ (?:more|common frames omitted)"
);
static_regex!(re_java_cause, r"^\s*(?:Caused by|Suppressed): ");
static_regex!(re_javac_count, r"^\d+ errors?$");
static_regex!(
    re_rust_end,
    r"^(?:For more information about|note: run with `RUST_BACKTRACE|note: Some details are omitted)"
);
static_regex!(
    re_rust_cont,
    r"^(?:stack backtrace:|(?:help|note|warning)(?:\[\w+\])?: |error(?:\[E\d+\])?: )"
);
static_regex!(re_go_goroutine, r"^goroutine \d+ ");
static_regex!(
    re_go_frame_fn,
    r"^(?:[\w./*()\-]+\(.*\)|created by .+|\.\.\.additional frames elided\.\.\.)$"
);
static_regex!(
    re_go_misc,
    r"^(?:\[signal |exit status \d+|\S+\.go:\d+:\d+: )"
);
static_regex!(re_ruby_frame, r"^\s+(?:from )?\S.*:\d+:in ");
static_regex!(
    re_ruby_misc,
    r"^(?:Did you mean\?|\S+\.rb:\d+: syntax error, )"
);
static_regex!(re_php_cont, r"^(?:Stack trace:|#\d+ )");
static_regex!(re_php_end, r"^(?:#\d+ \{main\}|\s+thrown in )");
static_regex!(re_ts_cont, r"^(?:\d+\s|\S.*\.[mc]?tsx?[:(]\d+)");
static_regex!(
    re_ts_end,
    r"Found [1-9]\d* errors?\b|Watching for file changes"
);
static_regex!(
    re_bundler_end,
    r"compiled with \d+ errors?|Build failed|build failed"
);
static_regex!(
    re_runner_end,
    r"^(?:=+ .*\bin [\d.]+s(?: \([^)]*\))? =+|test result: FAILED\b.*|error: test failed\b.*|\s*Test Files\s+\d+ failed.*|==\d+==ABORTING|SUMMARY: \w*Sanitizer: .*)$"
);
static_regex!(re_sanitizer_tail, r"^(?:Shadow byte|=>0x|==\d+==)");
static_regex!(re_jest_end, r"^(?:Test Suites|Tests|Snapshots|Time):\s");
static_regex!(
    re_go_test_end,
    r"^(?:FAIL|ok)(?:\s+\S+\s+(?:[\d.]+s|\(cached\)))?$"
);
static_regex!(
    re_c_end,
    r"^(?:make(?:\[\d+\])?: \*\*\* |collect2: error: |clang(?:\+\+)?: error: linker|\d+ errors? generated\.|compilation terminated\.)"
);
static_regex!(
    re_c_cont,
    r"^(?:\S+:(?:\d+:\d+:)? (?:note|warning|error|In (?:member )?function|In file included from)|In file included from |\S+:\(\.\w+\+0x[0-9a-f]+\): |\S+:\d+: undefined reference|\S*\bld(?:\.\w+)?: )"
);

/// Per-block state the continuation rules need.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ContState {
    /// The previous belonging line started with whitespace (a Python frame or source).
    pub last_indented: bool,
    /// The block is structurally complete (webpack: nothing after its summary line).
    pub complete: bool,
    /// A foreign line came since the last belonging one (a request log between
    /// two tracebacks): a start line now begins another error.
    pub interrupted: bool,
}

/// Decide whether `text` continues an open block of ecosystem `eco`.
pub(crate) fn continues(eco: Eco, st: ContState, text: &str) -> Cont {
    if text.trim().is_empty() {
        return Cont::Neutral;
    }
    let indented = text.starts_with([' ', '\t']);
    let same_eco_start = || classify_start(text).map(|s| s.eco) == Some(eco);
    match eco {
        Eco::Python => {
            if re_py_chain().is_match(text) {
                Cont::Belongs(Some(false))
            } else if text.starts_with(" * ") {
                // Werkzeug's ` * Restarting with stat`, ` * Debugger is active!`:
                // the server talking, never part of an error.
                Cont::Foreign
            } else if st.complete {
                // A traceback is complete at its final exception line: only a
                // chained one goes on, and the exception's own message where it
                // takes more lines, right after it. What follows is the server
                // talking (an access-log line), or the next error.
                if !st.interrupted && re_py_message_more().is_match(text) {
                    Cont::Belongs(Some(true))
                } else {
                    Cont::Foreign
                }
            } else if text.starts_with("Traceback (") {
                // After its lead-in or a chain header; after other output, a new error.
                if st.interrupted {
                    Cont::Foreign
                } else {
                    Cont::Belongs(Some(false))
                }
            } else if indented {
                Cont::Belongs(Some(false))
            } else if st.last_indented && re_py_exc_line().is_match(text) {
                Cont::Belongs(Some(true))
            } else {
                Cont::Foreign
            }
        }
        Eco::Node | Eco::Generic | Eco::Custom => {
            if re_js_frame().is_match(text) || re_node_footer().is_match(text) {
                Cont::Belongs(Some(true))
            } else if indented || re_node_misc().is_match(text) {
                Cont::Belongs(None)
            } else {
                Cont::Foreign
            }
        }
        Eco::Java => {
            if re_js_frame().is_match(text) || re_java_more().is_match(text) {
                Cont::Belongs(Some(true))
            } else if re_java_cause().is_match(text) {
                Cont::Belongs(Some(false))
            } else {
                Cont::Foreign
            }
        }
        Eco::Javac => {
            if re_javac_count().is_match(text) {
                Cont::Belongs(Some(true))
            } else if indented || same_eco_start() {
                Cont::Belongs(Some(false))
            } else {
                Cont::Foreign
            }
        }
        Eco::Rust => {
            if re_rust_end().is_match(text) || text.starts_with("error: could not compile") {
                Cont::Belongs(Some(true))
            } else if indented || re_rust_cont().is_match(text) || text.starts_with('|') {
                Cont::Belongs(Some(false))
            } else {
                Cont::Foreign
            }
        }
        Eco::Go => {
            if text.starts_with('\t') || re_go_misc().is_match(text) {
                Cont::Belongs(Some(true))
            } else if re_go_goroutine().is_match(text) || re_go_frame_fn().is_match(text) {
                Cont::Belongs(Some(false))
            } else if indented {
                Cont::Belongs(None)
            } else {
                Cont::Foreign
            }
        }
        Eco::Ruby => {
            if re_ruby_frame().is_match(text) {
                Cont::Belongs(Some(true))
            } else if indented || re_ruby_misc().is_match(text) {
                // error_highlight's source line and carets, did_you_mean, more syntax errors
                Cont::Belongs(None)
            } else {
                Cont::Foreign
            }
        }
        Eco::Php => {
            if re_php_end().is_match(text) {
                Cont::Belongs(Some(true))
            } else if indented || re_php_cont().is_match(text) {
                Cont::Belongs(Some(false))
            } else {
                Cont::Foreign
            }
        }
        Eco::TypeScript => {
            if re_ts_end().is_match(text) {
                Cont::Belongs(Some(true))
            } else if indented || re_ts_cont().is_match(text) {
                Cont::Belongs(None)
            } else {
                Cont::Foreign
            }
        }
        // pytest, vitest and cargo test print anything (captured output, diffs,
        // panics) between the first failure and the totals line that ends the run.
        Eco::Pytest | Eco::Vitest | Eco::CargoTest | Eco::Sanitizer if !st.complete => {
            Cont::Belongs(Some(re_runner_end().is_match(text)))
        }
        Eco::Pytest | Eco::CargoTest => {
            if re_runner_end().is_match(text) {
                Cont::Belongs(Some(true))
            } else {
                Cont::Foreign
            }
        }
        Eco::Vitest | Eco::Sanitizer => {
            // vitest's indented totals; ASan's shadow bytes, legend and `==N==ABORTING`
            if indented || re_runner_end().is_match(text) || re_sanitizer_tail().is_match(text) {
                Cont::Belongs(None)
            } else {
                Cont::Foreign
            }
        }
        Eco::Jest => {
            if re_jest_end().is_match(text) {
                Cont::Belongs(Some(true))
            } else if indented || same_eco_start() {
                Cont::Belongs(None)
            } else {
                Cont::Foreign
            }
        }
        Eco::GoTest => {
            if re_go_test_end().is_match(text) {
                Cont::Belongs(Some(true))
            } else if indented
                || text.starts_with("panic: ")
                || matches!(continues(Eco::Go, st, text), Cont::Belongs(_))
                || same_eco_start()
            {
                Cont::Belongs(None)
            } else {
                Cont::Foreign
            }
        }
        Eco::C => {
            if re_c_end().is_match(text) {
                Cont::Belongs(Some(true))
            } else if indented || re_c_cont().is_match(text) {
                Cont::Belongs(None)
            } else {
                Cont::Foreign
            }
        }
        Eco::Json => Cont::Foreign,
        Eco::Webpack if !st.complete => {
            // webpack prints multi-line messages at column 0 until its summary line.
            Cont::Belongs(Some(re_bundler_end().is_match(text)))
        }
        Eco::Vite | Eco::Webpack | Eco::Next => {
            if re_bundler_end().is_match(text) || re_js_frame().is_match(text) {
                Cont::Belongs(Some(true))
            } else if indented || text.starts_with('|') || same_eco_start() {
                Cont::Belongs(Some(false))
            } else {
                Cont::Foreign
            }
        }
    }
}

//! What a command's lines say about a reload: a reloader saying it took a
//! change (evidence that the fix is being picked up), and request log lines
//! (a server answering requests is serving, not starting).

use regex::{Regex, RegexSet};

/// Lines in which reloaders say they took a change (checked against the real
/// servers in `tests/dev_servers.rs`; samples in the unit tests below).
const RELOAD_LINES: &[&str] = &[
    // Werkzeug (Flask --debug)
    r"^ \* Detected change in .*, reloading$",
    r"^ \* Restarting with (stat|watchdog|inotify)",
    // uvicorn --reload
    r"^WARNING: +(StatReload|WatchFiles|WatchGod) detected (file )?changes? in ",
    // Django runserver
    r" changed, reloading\.$",
    // nodemon
    r"^\[nodemon\] restarting due to changes",
    // Vite
    r"\b(hmr update|page reload) /?\S",
    // tsc --watch
    r"File change detected\. Starting incremental compilation",
    // webpack, Next.js
    r"^webpack \S+ compiled\b",
    r"^\s*[✓○] Compiled\b",
];

fn reload_lines() -> &'static RegexSet {
    static SET: std::sync::OnceLock<RegexSet> = std::sync::OnceLock::new();
    SET.get_or_init(|| RegexSet::new(RELOAD_LINES).expect("the reload patterns are valid"))
}

/// Whether the command says it took a change.
pub(super) fn says_reloaded(line: &str) -> bool {
    reload_lines().is_match(line)
}

/// A request log line (`"GET / HTTP/1.1" 200`, `GET /api 500 3.1 ms`).
pub(super) fn is_request_log(line: &str) -> bool {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r#"\b(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /\S*( HTTP/[\d.]+"?)? +[1-5]\d\d\b"#,
        )
        .expect("valid")
    })
    .is_match(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_logs_are_told_from_other_output() {
        for line in [
            "127.0.0.1 - - [29/Nov/2026 23:01:26] \"GET / HTTP/1.1\" 500 -",
            "INFO:     127.0.0.1:33024 - \"GET / HTTP/1.1\" 200 OK",
            "[29/Nov/2026 23:01:26] \"POST /api/cart HTTP/1.1\" 201 17",
            "GET /static/app.js 304 1.234 ms - -",
        ] {
            assert!(is_request_log(line), "{line:?}");
        }
        for line in [
            " * Debugger is active!",
            "INFO:     Application startup complete.",
            "Starting development server at http://127.0.0.1:8000/",
            "KeyError: 'GET'",
        ] {
            assert!(!is_request_log(line), "{line:?}");
        }
    }

    #[test]
    fn reloaders_are_recognised_by_their_own_words() {
        // Lines as the servers print them (tests/dev_servers.rs, research notes).
        for line in [
            " * Detected change in '/srv/app.py', reloading",
            " * Restarting with stat",
            "WARNING:  StatReload detected changes in 'main.py'. Reloading...",
            "WARNING:  WatchFiles detected changes in 'main.py'. Reloading...",
            "/srv/shop/views.py changed, reloading.",
            "[nodemon] restarting due to changes...",
            "10:42:01 PM [vite] hmr update /src/main.js",
            "10:42:01 PM [vite] page reload main.js",
            "10:42:01 PM - File change detected. Starting incremental compilation...",
            "webpack 5.90.1 compiled successfully in 35 ms",
            " ✓ Compiled in 120ms",
        ] {
            assert!(says_reloaded(line), "{line:?}");
        }
        for line in [
            "127.0.0.1 - - [29/Nov/2026 23:01:26] \"GET / HTTP/1.1\" 500 -",
            "KeyError: 'total'",
            "INFO:     Started server process [29226]",
            "Watching for file changes with StatReloader",
            "[nodemon] app crashed - waiting for file changes before starting...",
            "GET /reloading 200",
        ] {
            assert!(!says_reloaded(line), "{line:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(crate::proptest_cases(256)))]

        /// The command's lines are untrusted: any text is answered, quickly.
        #[test]
        fn any_line_is_answered(line in ".{0,400}") {
            let _ = says_reloaded(&line);
            let _ = is_request_log(&line);
        }
    }
}

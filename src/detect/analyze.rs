//! Reading a settled block: the error's kind and message, the innermost frame, and
//! every source location, per ecosystem. Feeds the summary and the fingerprint.

use super::continuation::re_py_chain;
use super::patterns::Eco;
use super::FileRef;

/// What a block says about its error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Analysis {
    /// Exception type or diagnostic code: `KeyError`, `TypeError`, `error[E0425]`, `panic`.
    pub kind: String,
    pub message: String,
    /// Function of the innermost frame worth naming (user code first).
    pub func: Option<String>,
    /// Path of the innermost frame (user code first).
    pub file: Option<String>,
    pub files: Vec<FileRef>,
    /// The source text at the error (a compiler's code frame), or its column: tells
    /// two errors with one message in one file apart when no function is named.
    pub site: Option<String>,
    /// What the fingerprint uses instead of `kind` when one error is printed under
    /// several headers (Vite's `Internal server error` / `Pre-transform error`).
    pub identity: Option<String>,
}

macro_rules! re {
    ($pat:expr) => {{
        static R: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        R.get_or_init(|| regex::Regex::new($pat).expect("built-in pattern compiles"))
    }};
}
pub(super) use re;

/// A frame: where, and in which function.
struct Frame {
    path: String,
    func: Option<String>,
}

pub(super) fn num(s: Option<regex::Match<'_>>) -> Option<u32> {
    s.and_then(|m| m.as_str().parse().ok())
}

/// Library and runtime code: the innermost frame outside it names the user's bug.
pub(super) use super::paths::is_third_party as is_library;

pub(super) fn push_file(files: &mut Vec<FileRef>, path: &str, line: Option<u32>) {
    let f = FileRef {
        path: path.to_string(),
        line,
    };
    if !files.contains(&f) {
        files.push(f);
    }
}

/// Innermost frame outside library code, else the innermost frame.
/// `frames` is ordered innermost first.
fn pick<'a>(frames: impl Iterator<Item = &'a Frame> + Clone) -> Option<&'a Frame> {
    frames
        .clone()
        .find(|f| !is_library(&f.path))
        .or_else(|| frames.clone().next())
}

fn apply(a: &mut Analysis, frame: Option<&Frame>) {
    if let Some(f) = frame {
        a.file = Some(f.path.clone());
        a.func = f.func.clone();
    }
}

pub(crate) fn analyze(eco: Eco, lines: &[&str]) -> Analysis {
    let mut a = match eco {
        Eco::Python => python(lines),
        Eco::Node | Eco::Generic | Eco::Custom | Eco::Vite | Eco::Webpack | Eco::Next => js(lines),
        Eco::Java | Eco::Javac => java(lines),
        Eco::Rust => rust(lines),
        Eco::Go => go(lines),
        Eco::Ruby => ruby(lines),
        Eco::Php => php(lines),
        Eco::TypeScript => typescript(lines),
        Eco::Pytest => super::runners::pytest(lines),
        Eco::Jest => super::runners::jest(lines),
        Eco::Vitest => super::runners::vitest(lines),
        Eco::CargoTest => super::runners::cargo_test(lines),
        Eco::GoTest => super::runners::go_test(lines),
        Eco::C => super::native::compiler(lines),
        Eco::Sanitizer => super::native::sanitizer(lines),
        // A record's analysis is made by `json` from its fields; this is the fallback.
        Eco::Json => Analysis::default(),
    };
    if a.kind.is_empty() && matches!(eco, Eco::Generic | Eco::Custom) {
        log_level_line(lines, &mut a);
    }
    if a.kind.is_empty() {
        // Fall back to the first non-blank line, whole.
        let first = lines
            .iter()
            .find(|l| !l.trim().is_empty())
            .copied()
            .unwrap_or("");
        a.kind = first.trim().to_string();
    }
    a
}

/// `2026-11-29 23:09:03,788 CRITICAL worker: worker 3 died` -> kind `CRITICAL`, the
/// rest as the message (the timestamp stays out of the summary).
fn log_level_line(lines: &[&str], a: &mut Analysis) {
    let level_re = re!(
        r"^\[?\d{4}-\d\d-\d\d[T ][\d:.,]+(?:Z|[+-]\d\d:?\d\d)?\]?\s+\[?(CRITICAL|FATAL)\]?\s+(?:in \S+: )?(.*)$"
    );
    if let Some(c) = lines.iter().find_map(|l| level_re.captures(l)) {
        a.kind = c[1].to_string();
        a.message = c[2].trim().to_string();
    } else if let Some(rest) = lines.iter().find_map(|l| l.strip_prefix("Fatal: ")) {
        a.kind = "Fatal".into();
        a.message = rest.trim().to_string();
    }
}

fn python(lines: &[&str]) -> Analysis {
    let frame_re = re!(r#"^\s*File "([^"]+)", line (\d+)(?:, in (.+))?"#);
    let exc_re = re!(r"^([A-Za-z_][\w.]*)(?::\s?(.*))?$");
    let mut a = Analysis::default();
    let mut frames: Vec<Frame> = Vec::new();
    // The exception line of the current traceback was seen: the lines after it
    // are its message going on (pydantic's field names), not another exception.
    let mut raised = false;
    for l in lines {
        if l.starts_with("Traceback (") {
            frames.clear(); // a chained traceback: the last one is the one raised
            raised = false;
        } else if re_py_chain().is_match(l) {
            raised = false;
        } else if let Some(c) = frame_re.captures(l) {
            let path = c.get(1).map_or("", |m| m.as_str());
            let line = num(c.get(2));
            push_file(&mut a.files, path, line);
            frames.push(Frame {
                path: path.to_string(),
                func: c.get(3).map(|m| m.as_str().trim().to_string()),
            });
        } else if !raised && !l.starts_with([' ', '\t']) {
            if let Some(c) = exc_re.captures(l) {
                a.kind = c[1].to_string();
                a.message = c.get(2).map_or("", |m| m.as_str()).trim().to_string();
                raised = !frames.is_empty();
            }
        }
    }
    apply(&mut a, pick(frames.iter().rev()));
    a
}

fn js(lines: &[&str]) -> Analysis {
    let err_re = re!(r"^(?:Uncaught )?((?:[\w$.]*)(?:Error|Exception)\w*)(?: \[[\w-]+\])?: (.*)$");
    let frame_re = re!(r"^\s+at (?:(?:async )?(.+?) \()?(?:file://)?(.+?):(\d+):(\d+)\)?$");
    let header_re = re!(r"^(?:file://)?((?:/|[A-Za-z]:\\)\S*?):(\d+)$");
    let vite_re =
        re!(r"\[vite\] (?:\((?:client|ssr)\) )?(Internal server error|Pre-transform error): (.*)$");
    let file_re = re!(r"^\s*[Ff]ile: (.+?)(?::(\d+))?(?::\d+)?$");
    let webpack_re = re!(r"^ERROR in (\S+)");
    let mut a = Analysis::default();
    let mut frames: Vec<Frame> = Vec::new();
    let mut message_next: Option<&str> = None;
    for l in lines {
        if let Some(kind) = message_next.take() {
            if a.kind.is_empty() && !l.trim().is_empty() {
                a.kind = kind.to_string();
                a.message = l.trim().to_string();
                if kind.is_empty() {
                    a.kind = a.message.clone();
                    a.message.clear();
                }
                continue;
            }
        }
        if l.starts_with("error during build:") {
            message_next = Some("error during build");
        }
        if let Some(c) = frame_re.captures(l) {
            let path = c.get(2).map_or("", |m| m.as_str());
            let line = num(c.get(3));
            if !path.starts_with("node:") {
                push_file(&mut a.files, path, line);
            }
            frames.push(Frame {
                path: path.to_string(),
                func: c.get(1).map(|m| m.as_str().to_string()),
            });
        } else if let Some(c) = header_re.captures(l) {
            push_file(&mut a.files, &c[1], num(c.get(2)));
        } else if let Some(c) = vite_re.captures(l) {
            if a.kind.is_empty() {
                a.kind = format!("[vite] {}", &c[1]);
                a.message = c[2].trim().to_string();
                // One failed transform is printed under both headers, in either order.
                a.identity = Some("[vite] Internal server error".into());
            }
        } else if let Some(c) = file_re.captures(l) {
            push_file(&mut a.files, &c[1], num(c.get(2)));
        } else if let Some(c) = webpack_re.captures(l) {
            push_file(&mut a.files, &c[1], None);
            message_next = Some("");
        } else if a.kind.is_empty() {
            if let Some(c) = err_re.captures(l) {
                a.kind = c[1].to_string();
                a.message = c[2].trim().to_string();
            }
        }
    }
    apply(&mut a, frames.iter().find(|f| !is_library(&f.path)));
    if a.file.is_none() {
        a.file = a.files.first().map(|f| f.path.clone());
    }
    a
}

fn java(lines: &[&str]) -> Analysis {
    let head_re = re!(r#"^(?:Exception in thread "[^"]*" )?((?:[\w$]+\.)*[\w$]+)(?:: (.*))?$"#);
    let frame_re = re!(r"^\s+at (?:[\w.]+/)?([\w.$<>]+)\.([\w$<>]+)\(([\w$.]+):(\d+)\)");
    let javac_re = re!(r"^(\S+\.(?:java|kts?)):(\d+): error: (.*)$");
    let kotlin_re = re!(r"^e: (?:file://)?(\S+\.kts?)[:( ]+(\d+)[,:]\s*\d+\)?:? (.*)$");
    let mut a = Analysis::default();
    let mut frames: Vec<Frame> = Vec::new();
    let mut in_cause = false;
    for l in lines {
        if let Some(c) = javac_re.captures(l).or_else(|| kotlin_re.captures(l)) {
            push_file(&mut a.files, &c[1], num(c.get(2)));
            if a.kind.is_empty() {
                a.kind = "error".into();
                a.message = c[3].trim().to_string();
                a.file = Some(c[1].to_string());
            }
        } else if let Some(c) = frame_re.captures(l) {
            push_file(&mut a.files, &c[3], num(c.get(4)));
            if !in_cause {
                frames.push(Frame {
                    path: format!("{}.{}", &c[1], &c[3]),
                    func: Some(format!("{}.{}", &c[1], &c[2])),
                });
            }
        } else if l.starts_with("Caused by: ") {
            in_cause = true;
        } else if a.kind.is_empty() {
            if let Some(c) = head_re.captures(l) {
                a.kind = c[1].to_string();
                a.message = c.get(2).map_or("", |m| m.as_str()).trim().to_string();
            }
        }
    }
    if let Some(f) = pick(frames.iter()) {
        // path was "class.File.java": keep the file, and the class for library checks
        let file = f
            .path
            .rsplit_once('.')
            .map_or(f.path.as_str(), |(head, ext)| {
                let start = head.rfind('.').map_or(0, |i| i + 1);
                &f.path[start..head.len() + 1 + ext.len()]
            });
        a.file = Some(file.to_string());
        a.func = f.func.clone();
    }
    a
}

fn rust(lines: &[&str]) -> Analysis {
    let panic_re =
        re!(r"^thread '[^']*'(?: \(\d+\))? panicked at (?:'(.*)', )?(.+?):(\d+):(\d+):?$");
    let err_re = re!(r"^(error(?:\[E\d+\])?): (.*)$");
    let arrow_re = re!(r"^\s*--> (.+?):(\d+):(\d+)");
    let gutter_re = re!(r"^\s*\d+\s+\|\s(.*\S.*)$");
    let mut a = Analysis::default();
    let mut want_message = false;
    for l in lines {
        if want_message {
            a.message = l.trim().to_string();
            want_message = false;
        } else if let Some(c) = panic_re.captures(l) {
            a.kind = "panic".into();
            push_file(&mut a.files, &c[2], num(c.get(3)));
            a.file = Some(c[2].to_string());
            match c.get(1) {
                Some(m) => a.message = m.as_str().to_string(),
                None => want_message = true,
            }
        } else if let Some(c) = arrow_re.captures(l) {
            push_file(&mut a.files, &c[1], num(c.get(2)));
            if a.file.is_none() {
                a.file = Some(c[1].to_string());
            }
        } else if let Some(c) = gutter_re.captures(l) {
            if a.site.is_none() && a.kind.starts_with("error") {
                a.site = Some(c[1].trim().to_string());
            }
        } else if a.kind.is_empty() {
            if let Some(c) = err_re.captures(l) {
                a.kind = c[1].to_string();
                a.message = c[2].trim().to_string();
            }
        }
    }
    a
}

fn go(lines: &[&str]) -> Analysis {
    let head_re = re!(r"^(panic|fatal error): (.*)$|\bhttp: (panic) serving \S+: (.*)$");
    // `main.lookup(...)` in Go's own traces; a bare `main.lookup` in zap's stacktrace
    let fn_re = re!(r"^([\w./*()\-]+?)(?:\([^()]*\))?$");
    let loc_re = re!(r"^\t(.+?\.go):(\d+)");
    let build_re = re!(r"^((?:\./)?\S+\.go):(\d+):\d+: (.*)$");
    let mut a = Analysis::default();
    let mut frames: Vec<Frame> = Vec::new();
    let mut pending_fn: Option<String> = None;
    let mut first_goroutine_done = false;
    let mut goroutines = 0;
    for l in lines {
        if let Some(c) = build_re.captures(l) {
            push_file(&mut a.files, &c[1], num(c.get(2)));
            if a.kind.is_empty() {
                a.kind = "go build".into();
                a.message = c[3].to_string();
                a.file = Some(c[1].to_string());
            }
        } else if a.kind.is_empty() && head_re.is_match(l) {
            if let Some(c) = head_re.captures(l) {
                a.kind = c.get(1).or(c.get(3)).map_or("", |m| m.as_str()).to_string();
                let message = c.get(2).or(c.get(4)).map_or("", |m| m.as_str());
                a.message = message.trim().to_string();
            }
        } else if l.starts_with("goroutine ") {
            goroutines += 1;
            first_goroutine_done = goroutines > 1;
        } else if let Some(c) = fn_re.captures(l) {
            pending_fn = Some(c[1].to_string());
        } else if let Some(c) = loc_re.captures(l) {
            push_file(&mut a.files, &c[1], num(c.get(2)));
            if !first_goroutine_done {
                let func = pending_fn.take();
                if matches!(func.as_deref(), Some("panic" | "runtime.gopanic")) {
                    // What ran before the panic frame is the deferred recovery
                    // (net/http's conn.serve, a middleware): the bug is below it.
                    frames.clear();
                }
                let runtime = func
                    .as_deref()
                    .is_some_and(|f| f.starts_with("runtime.") || f == "panic");
                frames.push(Frame {
                    path: if runtime {
                        format!("/go/src/{}", &c[1])
                    } else {
                        c[1].to_string()
                    },
                    func,
                });
            }
        }
    }
    if a.file.is_none() {
        apply(&mut a, pick(frames.iter()));
    }
    a
}

fn ruby(lines: &[&str]) -> Analysis {
    let head_re = re!(r"^(\S.*?\.rb):(\d+):in [`'](?:[\w:]+[#.])?(.+?)': (.*) \(([A-Z][\w:]*)\)$");
    let rails_re = re!(r"^\s?([A-Z][\w:]*) \((.*)\):\s*$");
    let frame_re = re!(r"^\s+(?:from )?(\S.*?\.rb):(\d+):in [`'](?:[\w:]+[#.])?(.+?)'");
    let syntax_re = re!(r"^(\S+\.rb):(\d+): syntax error, (.*)$");
    let mut a = Analysis::default();
    let mut frames: Vec<Frame> = Vec::new();
    for l in lines {
        if let Some(c) = head_re.captures(l) {
            push_file(&mut a.files, &c[1], num(c.get(2)));
            a.kind = c[5].to_string();
            a.message = c[4].to_string();
            // `in '/'`: an operator written in C names the caller's line; the next frame
            // names the caller.
            if c[3].contains(|ch: char| ch.is_alphanumeric() || ch == '_') {
                frames.push(Frame {
                    path: c[1].to_string(),
                    func: Some(c[3].to_string()),
                });
            }
        } else if let Some(c) = syntax_re.captures(l) {
            push_file(&mut a.files, &c[1], num(c.get(2)));
            if a.kind.is_empty() {
                a.kind = "SyntaxError".into();
                a.message = c[3].to_string();
                a.file = Some(c[1].to_string());
            }
        } else if let Some(c) = frame_re.captures(l) {
            push_file(&mut a.files, &c[1], num(c.get(2)));
            frames.push(Frame {
                path: c[1].to_string(),
                func: Some(c[3].to_string()),
            });
        } else if a.kind.is_empty() {
            if let Some(c) = rails_re.captures(l) {
                a.kind = c[1].to_string();
                a.message = c[2].to_string();
            }
        }
    }
    if a.file.is_none() {
        apply(&mut a, pick(frames.iter()));
    }
    a
}

fn php(lines: &[&str]) -> Analysis {
    let uncaught_re = re!(
        r"^(?:PHP )?(?:Fatal error|Parse error):\s+Uncaught (?:exception '([\w\\]+)' with message '(.*)'|([\w\\]+): (.*)) in (\S+?):(\d+)$"
    );
    let exc_re = re!(r"^exception '([\w\\]+)' with message '(.*)' in (\S+?):(\d+)$");
    let fatal_re =
        re!(r"^(?:PHP )?(Fatal error|Parse error):\s+(.*?) in (\S+?)(?: on line |:)(\d+)$");
    let frame_re = re!(r"^#\d+ (\S+?)\((\d+)\): (.+?)\(");
    // TypeError: ", called in FILE on line N and defined" (the frames say it)
    let called_re = re!(r", called in \S+ on line \d+(?: and defined)?$");
    let mut a = Analysis::default();
    for l in lines {
        if let Some(c) = uncaught_re.captures(l) {
            a.kind = c.get(1).or(c.get(3)).map_or("", |m| m.as_str()).to_string();
            let message = c.get(2).or(c.get(4)).map_or("", |m| m.as_str());
            a.message = called_re.replace(message, "").into_owned();
            push_file(&mut a.files, &c[5], num(c.get(6)));
            a.file = Some(c[5].to_string());
        } else if let Some(c) = exc_re.captures(l) {
            a.kind = c[1].to_string();
            a.message = c[2].to_string();
            push_file(&mut a.files, &c[3], num(c.get(4)));
            a.file = Some(c[3].to_string());
        } else if let Some(c) = fatal_re.captures(l) {
            if a.kind.is_empty() {
                a.kind = c[1].to_string();
                a.message = c[2].to_string();
                push_file(&mut a.files, &c[3], num(c.get(4)));
                a.file = Some(c[3].to_string());
            }
        } else if let Some(c) = frame_re.captures(l) {
            push_file(&mut a.files, &c[1], num(c.get(2)));
            if a.func.is_none() {
                a.func = Some(c[3].to_string());
            }
        }
    }
    a
}

fn typescript(lines: &[&str]) -> Analysis {
    let plain_re = re!(r"^(\S.*?\.[mc]?tsx?)\((\d+),\d+\): error (TS\d+): (.*)$");
    let pretty_re = re!(r"^(\S.*?\.[mc]?tsx?):(\d+):\d+ - error (TS\d+): (.*)$");
    let pretty_col_re = re!(r"^\S.*?\.[mc]?tsx?:\d+:(\d+) - error");
    let plain_col_re = re!(r"^\S.*?\.[mc]?tsx?\(\d+,(\d+)\): error");
    let numbered_re = re!(r"^\d+\s(.*)$");
    let mut a = Analysis::default();
    let mut code_next = false;
    for l in lines {
        if code_next && !l.trim().is_empty() {
            code_next = false;
            // pretty: `12   const unit: number = "3";` -- the code, without its number
            if let Some(c) = numbered_re.captures(l) {
                a.site = Some(c[1].trim().to_string());
            }
        }
        if let Some(c) = plain_re.captures(l).or_else(|| pretty_re.captures(l)) {
            push_file(&mut a.files, &c[1], num(c.get(2)));
            if a.kind.is_empty() {
                a.kind = format!("error {}", &c[3]);
                a.message = c[4].trim().to_string();
                a.file = Some(c[1].to_string());
                // plain output shows no code: the column survives lines moving
                a.site = plain_col_re
                    .captures(l)
                    .or_else(|| pretty_col_re.captures(l))
                    .map(|c| format!("col {}", &c[1]));
                code_next = pretty_re.is_match(l);
            }
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(a: &Analysis) -> (Option<&str>, Option<&str>) {
        (a.func.as_deref(), a.file.as_deref())
    }

    #[test]
    fn go_method_frames_and_debian_goroot() {
        let a = go(&[
            "panic: assignment to entry in nil map",
            "goroutine 6 [running]:",
            "main.(*cache).put(...)",
            "\t/app/main.go:10",
        ]);
        assert_eq!(named(&a), (Some("main.(*cache).put"), Some("/app/main.go")));
        let a = go(&[
            "fatal error: all goroutines are asleep - deadlock!",
            "goroutine 1 [semacquire]:",
            "sync.runtime_Semacquire(0xc000096060?)",
            "\t/usr/lib/go-1.19/src/runtime/sema.go:62 +0x25",
            "main.main()",
            "\t/app/main.go:18 +0x112",
        ]);
        assert_eq!(named(&a), (Some("main.main"), Some("/app/main.go")));
    }

    #[test]
    fn ruby_operator_frame_names_its_caller() {
        let a = ruby(&[
            "zerodiv.rb:2:in `/': divided by 0 (ZeroDivisionError)",
            "\tfrom zerodiv.rb:2:in `average'",
        ]);
        assert_eq!(named(&a), (Some("average"), Some("zerodiv.rb")));
        let a = ruby(&["s.rb:4: syntax error, unexpected end-of-input, expecting `end'"]);
        assert_eq!(a.kind, "SyntaxError");
        assert_eq!(a.message, "unexpected end-of-input, expecting `end'");
    }

    #[test]
    fn php_type_error_drops_called_in() {
        let a = php(&["PHP Fatal error:  Uncaught TypeError: f(): Argument #1 ($a) must be of type array, string given, called in /app/t.php on line 11 and defined in /app/t.php:4"]);
        assert_eq!(
            a.message,
            "f(): Argument #1 ($a) must be of type array, string given"
        );
        assert_eq!(a.file.as_deref(), Some("/app/t.php"));
    }
}

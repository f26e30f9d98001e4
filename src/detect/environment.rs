//! Environment errors: what is wrong with the machine, not with the source.
//!
//! A busy port, a refused connection to a local service, a port below 1024
//! without privileges, a full disk, the file-watcher limit, a missing program: no
//! edit of the code fixes these, and an agent told to "fix the cause in the
//! source" would change the port in code or catch the exception. So they are
//! recognised here, in one list built from real outputs
//! (`fixtures/errors/environment/`, made by `fixtures/errors/gen/environment.sh`),
//! and the supervisor says what is wrong instead of fixing.
//!
//! Pure: lines in, an [`EnvironmentError`] out. A line counts only when it reads as
//! the error itself: frames and source lines (indented 4+ or by a tab), a printed
//! Node error's properties (`  code: 'ENOSPC',`), log lines at info/debug/warn
//! level, and lines about a retry or a fallback ("retrying", "trying another one")
//! never do, and in a chained Python traceback only the exception after the last
//! "During handling ..." counts (a bug in the handler is the code's).

use super::analyze::re;
use crate::line::Line;
use crate::text::ellipsize as clip;
use regex::Regex;
use std::sync::OnceLock;

/// What kind of environment error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnvKind {
    /// Another program listens on the port the command wants.
    PortInUse,
    /// Nothing listens where the command connects (a database, a cache, an API).
    ConnectionRefused,
    /// A port below 1024 needs privileges the user does not have.
    PortPermission,
    /// The disk (or the device written to) is full.
    NoSpace,
    /// The system's limit on file watchers (inotify) is reached.
    WatchLimit,
    /// A program, interpreter or entry file the command runs does not exist.
    MissingProgram,
}

impl EnvKind {
    /// Stable name, used in identities and events.
    pub fn name(self) -> &'static str {
        match self {
            EnvKind::PortInUse => "port-in-use",
            EnvKind::ConnectionRefused => "connection-refused",
            EnvKind::PortPermission => "port-permission",
            EnvKind::NoSpace => "no-space",
            EnvKind::WatchLimit => "watch-limit",
            EnvKind::MissingProgram => "missing-program",
        }
    }
}

/// An environment error and what the output says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentError {
    pub kind: EnvKind,
    /// The port concerned (busy, privileged, or refusing), when the output names it.
    pub port: Option<u16>,
    /// `host:port` of a refused connection, when the output names it.
    pub target: Option<String>,
    /// The missing program or file.
    pub program: Option<String>,
    /// The line that told (trimmed, at most [`LINE_MAX`] chars).
    pub line: String,
}

/// Longest `line` kept, in chars.
pub const LINE_MAX: usize = 300;
/// On a crash with no error block of its own, how many of the last non-blank lines
/// may tell (the error is the last thing a program says; older lines are history).
pub const CRASH_TAIL: usize = 12;

impl EnvironmentError {
    /// What is wrong, in one line. `owner` names who holds a busy port
    /// (`PID 4242 (python3)`), when it could be found.
    pub fn describe(&self, owner: Option<&str>) -> String {
        let line = || clip(&self.line, 160);
        match self.kind {
            EnvKind::PortInUse => match (self.port, owner) {
                (Some(p), Some(o)) => format!("port {p} is in use by {o}"),
                (Some(p), None) => format!("port {p} is in use by another program"),
                (None, _) => format!(
                    "the address is already in use by another program ({})",
                    line()
                ),
            },
            EnvKind::ConnectionRefused => match (&self.target, self.port) {
                (Some(t), _) => format!("connection refused by {t}: is that service running?"),
                (None, Some(p)) => {
                    format!("connection refused on port {p}: is that service running?")
                }
                (None, None) => format!(
                    "connection refused: is the service it needs running? ({})",
                    line()
                ),
            },
            EnvKind::PortPermission => match self.port {
                Some(p) => format!(
                    "port {p} needs privileges (ports below 1024 do): use a port above 1023"
                ),
                None => format!("permission denied to listen on a port ({})", line()),
            },
            EnvKind::NoSpace => format!("no space left on the device ({})", line()),
            EnvKind::WatchLimit => "the system's limit on file watchers is reached: raise it \
                 (sysctl fs.inotify.max_user_watches) or watch fewer files"
                .to_string(),
            EnvKind::MissingProgram => match &self.program {
                Some(p) => format!("'{p}' was not found: install it or check PATH and the command"),
                None => format!("a program was not found ({})", line()),
            },
        }
    }

    /// What makes two occurrences the same error: the kind and what it concerns,
    /// never the wording or the line order (which differ between runs and streams).
    pub fn identity(&self) -> String {
        let what = match self.kind {
            EnvKind::PortInUse | EnvKind::PortPermission => self.port.map(|p| p.to_string()),
            EnvKind::ConnectionRefused => self
                .target
                .clone()
                .or_else(|| self.port.map(|p| p.to_string())),
            EnvKind::MissingProgram => self.program.clone(),
            EnvKind::NoSpace | EnvKind::WatchLimit => None,
        };
        format!("{}:{}", self.kind.name(), what.unwrap_or_default())
    }
}

/// One way an environment error reads. `needs`, when set, must match some line of
/// the block too (a bare `PermissionError` is a port only if a bind is in sight).
struct Rule {
    kind: EnvKind,
    re: Regex,
    needs: Option<Regex>,
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("built-in pattern compiles")
}

/// The list. Order matters only where one line could read two ways: the more
/// specific rule comes first.
fn rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let rule = |kind, pattern: &str| Rule {
            kind,
            re: re(pattern),
            needs: None,
        };
        let with = |kind, pattern: &str, needs: &str| Rule {
            kind,
            re: re(pattern),
            needs: Some(re(needs)),
        };
        use EnvKind::*;
        vec![
            // sh (dash): `sh: 1: vite: not found`; bash: `bash: line 1: x: command not found`
            rule(
                MissingProgram,
                r"^(?:\S*/)?(?:ba|da|k|z)?sh: (?:\d+: |line \d+: )?(?P<program>[^\s:]+): (?:command )?not found$",
            ),
            rule(MissingProgram, r"^(?:\S*/)?zsh: command not found: (?P<program>\S+)$"),
            // `/usr/bin/env: ‘python’: No such file or directory` (GNU), `env: python: ...` (BSD)
            rule(
                MissingProgram,
                r"^(?:\S*/)?env: ['‘]?(?P<program>[^'’:]+)['’]?: No such file or directory$",
            ),
            // Node: `Error: spawn tailwindcss ENOENT`
            rule(MissingProgram, r"\bspawn (?P<program>\S+) ENOENT\b"),
            // Go: `exec: "tailwindcss": executable file not found in $PATH`
            rule(
                MissingProgram,
                r#"exec: "(?P<program>[^"]+)": executable file not found"#,
            ),
            // Python's subprocess: the missing program is the FileNotFoundError's name
            with(
                MissingProgram,
                r"^FileNotFoundError: \[Errno 2\] No such file or directory: '(?P<program>[^']+)'$",
                r"in _execute_child$|subprocess\.py",
            ),
            // `python3: can't open file '/app/app.py': [Errno 2] No such file or directory`
            rule(
                MissingProgram,
                r"^\S*python[\d.]*: can't open file '(?P<program>[^']+)': \[Errno 2\]",
            ),
            // Node's entry file itself is missing (not a require inside the code)
            with(
                MissingProgram,
                r"^Error: Cannot find module '(?P<program>[^']+)'$",
                r"^\s*requireStack: \[\]",
            ),
            // Ports below 1024 without privileges
            rule(PortPermission, r"\blisten EACCES\b"),
            rule(PortPermission, r"(?i)\bbind\b.*\bpermission denied\b"),
            rule(PortPermission, r"(?i)\bpermission denied\b.*\bbind\b"),
            rule(PortPermission, r"(?i)failed to listen on .*\bpermission denied\b"),
            rule(PortPermission, r"BindException: Permission denied"),
            with(
                PortPermission,
                r"^PermissionError: \[Errno 13\] Permission denied$",
                r"\bserver_bind\b|\.bind\(",
            ),
            // Port in use: POSIX's wording in every language, Node's and Ruby's
            // code, the servers that say it their own way.
            rule(PortInUse, r"(?i)\baddress already in use\b"),
            rule(PortInUse, r"\bEADDRINUSE\b"),
            rule(PortInUse, r"(?i)\bport \d+ is (?:already )?in use\b"),
            rule(PortInUse, r"That port is already in use\."),
            // Node's fs.watch (and so Vite, webpack, nodemon) past the inotify
            // limit: an ENOSPC that is not about the disk.
            rule(
                WatchLimit,
                r"(?i)system limit for number of file watchers reached",
            ),
            // Full disk
            rule(NoSpace, r"(?i)\bno space left on device\b"),
            rule(NoSpace, r"\bENOSPC\b"),
            // Connection refused
            rule(ConnectionRefused, r"\bECONNREFUSED\b"),
            rule(ConnectionRefused, r"(?i)\bconnection refused\b"),
        ]
    })
}

/// Lines that mention an error without being one: handled (a retry, a fallback
/// port) or logged below error level.
fn is_aside(text: &str) -> bool {
    let aside = re!(
        r"(?i)\bretrying\b|\bwill retry\b|\bretry in\b|\btrying (?:again|another)\b|\binstead\b|\breconnecting\b"
    );
    if aside.is_match(text) {
        return true;
    }
    // The level comes early in a log line: after a timestamp, a logger name.
    let head: String = text.chars().take(48).collect();
    let level = re!(
        r"\b(?:INFO|DEBUG|TRACE|NOTICE|WARN|WARNING)\b|(?i)\blevel=(?:info|debug|trace|warn|warning)\b|(?i)\[(?:info|debug|trace|warn|warning)\]"
    );
    level.is_match(&head)
}

/// Frames and source lines: Python shows source indented by 4, Node and Java
/// frames are indented, Ruby's `from` lines start with a tab.
fn is_frame(text: &str) -> bool {
    text.starts_with('\t') || text.starts_with("    ")
}

/// A property of a printed Node error (`  code: 'ENOSPC',`): it repeats the
/// error's code without its message, so the message line decides. Still read for
/// a port (`  port: 5055`).
fn is_property(text: &str) -> bool {
    re!(r"^\s+[a-z]\w*: ").is_match(text)
}

/// The lines that may tell: after the last chained-traceback hand-over, because
/// the exception raised while handling another is the one that ended the program.
fn deciding(lines: &[Line]) -> &[Line] {
    let start = lines
        .iter()
        .rposition(|l| {
            l.text
                .starts_with("During handling of the above exception, another exception occurred")
        })
        .map_or(0, |i| i + 1);
    &lines[start..]
}

/// The environment error these lines (an error block) report, if they report one.
/// The newest deciding line wins.
pub fn classify(lines: &[Line]) -> Option<EnvironmentError> {
    let scope = deciding(lines);
    for line in scope.iter().rev() {
        let text = line.text.trim_end();
        if text.trim().is_empty() || is_frame(text) || is_property(text) || is_aside(text) {
            continue;
        }
        let text = text.trim_start();
        for rule in rules() {
            let Some(caps) = rule.re.captures(text) else {
                continue;
            };
            if let Some(needs) = &rule.needs {
                if !scope.iter().any(|l| needs.is_match(&l.text)) {
                    continue;
                }
            }
            let program = caps.name("program").map(|m| m.as_str().to_string());
            return Some(build(rule.kind, text, program, scope));
        }
    }
    None
}

/// On a crash: the error block's lines if they tell, else the lines printed after
/// it (or, with no block, the last [`CRASH_TAIL`] non-blank lines of the output).
pub fn classify_crash(block: Option<&[Line]>, context: &[Line]) -> Option<EnvironmentError> {
    let mut after = context;
    if let Some(block) = block {
        if let Some(found) = classify(block) {
            return Some(found);
        }
        // Only what follows the block: the block's own lines did not tell, and
        // re-reading them out of their chain could misread them. Its newest line
        // the output had (a JSON record's stack lines it never had); none when
        // the block scrolled out of the context, which is then all after it.
        let end = block
            .iter()
            .rev()
            .find_map(|b| context.iter().rposition(|l| l.text == b.text));
        if let Some(end) = end {
            after = &context[end + 1..];
        }
    }
    let mut tail: Vec<Line> = after
        .iter()
        .rev()
        .filter(|l| !l.text.trim().is_empty())
        .take(CRASH_TAIL)
        .cloned()
        .collect();
    tail.reverse();
    classify(&tail)
}

fn build(kind: EnvKind, text: &str, program: Option<String>, scope: &[Line]) -> EnvironmentError {
    let (mut target, mut port) = match kind {
        EnvKind::ConnectionRefused => endpoint(text),
        EnvKind::PortInUse | EnvKind::PortPermission => (None, port_in(text)),
        _ => (None, None),
    };
    if port.is_none() && target.is_none() {
        // The line may not say it; the rest of the block often does (Node's
        // `port: 5055` property, a server's start-up URL, uvicorn's address).
        for l in scope.iter().rev().filter(|l| !is_frame(&l.text)) {
            let (t, p) = match kind {
                EnvKind::ConnectionRefused => endpoint(&l.text),
                EnvKind::PortInUse | EnvKind::PortPermission => (None, port_in(&l.text)),
                _ => (None, None),
            };
            if t.is_some() || p.is_some() {
                (target, port) = (t, p);
                break;
            }
        }
    }
    if port.is_none() {
        port = target.as_deref().and_then(port_in);
    }
    EnvironmentError {
        kind,
        port,
        target,
        program,
        line: clip(text.trim(), LINE_MAX),
    }
}

fn valid_port(s: &str) -> Option<u16> {
    s.parse::<u16>().ok().filter(|&p| p > 0)
}

/// A log line's leading timestamp (`2026/11/29 23:02:05 `, `[Sun Nov 29 23:01:59
/// 2026] `), whose `hh:mm` must not read as `host:port`.
fn strip_timestamp(text: &str) -> &str {
    let ts = re!(
        r"^\[?(?:\d{4}[-/]\d\d[-/]\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?Z?|\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]?\s*"
    );
    ts.find(text).map_or(text, |m| &text[m.end()..])
}

/// `host:port` written together (`127.0.0.1:5432`, `[::1]:5432`, `:::5055`,
/// `localhost:6379`, `tcp :80`).
fn host_port(text: &str) -> Option<(String, u16)> {
    let hp = re!(
        r#"(?:^|[\s'"(=@/])(?P<host>\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]*\]|[0-9A-Fa-f]*::[0-9A-Fa-f:]*|localhost|[A-Za-z][\w-]*(?:\.[\w-]+)+)?:(?P<port>\d{1,5})\b"#
    );
    let text = strip_timestamp(text);
    hp.captures_iter(text).find_map(|c| {
        let port = c.name("port")?;
        let host = c.name("host").map_or("", |m| m.as_str());
        // `file.rs:4:55`, `socket.rb:1214:in`: a source location, not an address.
        let rest = &text[port.end()..];
        let location = rest
            .strip_prefix(':')
            .is_some_and(|r| r.starts_with(|ch: char| ch.is_ascii_digit()) || r.starts_with("in"));
        if location || is_source_file(host) {
            return None;
        }
        Some((host.to_string(), valid_port(port.as_str())?))
    })
}

/// A host that is a source file name (`server.js`, `socket.rb`).
fn is_source_file(host: &str) -> bool {
    const EXTENSIONS: [&str; 16] = [
        "py", "js", "mjs", "cjs", "ts", "tsx", "jsx", "rb", "go", "rs", "java", "kt", "php", "c",
        "cc", "cpp",
    ];
    host.rsplit_once('.')
        .is_some_and(|(_, ext)| EXTENSIONS.contains(&ext))
}

/// The port a line names: `port 5055`, `port=8089`, `port: 5055` (Node's error
/// properties), `('127.0.0.1', 5055)` (uvicorn), or `host:port`.
fn port_in(text: &str) -> Option<u16> {
    let word = re!(r#"(?i)\bport\b[ =:]*['"]?(\d{1,5})\b"#);
    let tuple = re!(r"\('[^']*', (\d{1,5})\)");
    word.captures(text)
        .or_else(|| tuple.captures(text))
        .and_then(|c| valid_port(&c[1]))
        .or_else(|| host_port(text).map(|(_, p)| p))
}

/// Where a refused connection went: `(Some("127.0.0.1:5432"), Some(5432))` when the
/// host is named, `(None, Some(port))` when only the port is.
fn endpoint(text: &str) -> (Option<String>, Option<u16>) {
    // psycopg: `connection to server at "localhost" (127.0.0.1), port 5432 failed`
    let pg = re!(r#"server at "([^"]+)"(?: \([^)]*\))?, port (\d{1,5})"#);
    // urllib3 / requests: `host='127.0.0.1', port=8089`
    let kw = re!(r"host='([^']+)', port=(\d{1,5})");
    // Ruby: `for "127.0.0.1" port 5432`
    let ruby = re!(r#"for "([^"]+)" port (\d{1,5})"#);
    for pattern in [pg, kw, ruby] {
        if let Some(c) = pattern.captures(text) {
            if let Some(p) = valid_port(&c[2]) {
                return (Some(format!("{}:{p}", &c[1])), Some(p));
            }
        }
    }
    match host_port(text) {
        Some((host, p)) if !host.is_empty() => (Some(format!("{host}:{p}")), Some(p)),
        Some((_, p)) => (None, Some(p)),
        None => (None, None),
    }
}

#[cfg(test)]
#[path = "environment_tests.rs"]
mod tests;

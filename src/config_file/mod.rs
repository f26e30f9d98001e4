//! Settings files: `.otorepair.toml` in the workspace (the project file) and
//! `$XDG_CONFIG_HOME/otorepair/config.toml`, else `$HOME/.config/otorepair/config.toml`
//! (the user file).
//!
//! Every value is checked when the file is loaded, and a mistake is reported as
//! `FILE:LINE: message` naming the key, so a typo such as `fix_timout` stops the
//! run with a pointer to the line instead of being silently ignored. Precedence
//! (flag > environment > project file > user file > default) belongs to the
//! caller; [`Loaded::pick`] gives the file layer's answer with its source.
//!
//! ```toml
//! backend = "codex"
//! fix_timeout = 90
//! on_fix = "restart"
//!
//! [detect]
//! patterns = ['^FATAL: ']
//! ignores = ['DeprecationWarning']
//! ```
//!
//! This module holds the types, loading and value checks; `errors.rs` turns
//! toml's and regex's complaints into [`ConfigError`]s with file, line and key.

mod errors;
#[cfg(test)]
mod properties;
mod read;

use std::ffi::OsString;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::agent::BackendKind;
use crate::cli::UsageError;
use errors::{line_of, regex_reason, toml_error};
use read::{read_small_file, ReadError};

/// The project file's name, looked up in the workspace.
pub const PROJECT_FILE: &str = ".otorepair.toml";

/// Every key a file may set, in the order `otorepair config` should list them.
pub const KEYS: &[&str] = &[
    "backend",
    "agent_cmd",
    "triage_cmd",
    "fix_timeout",
    "triage_timeout",
    "settle",
    "max_attempts",
    "on_fix",
    "reload_timeout",
    "verify",
    "verify_timeout",
    "allow_shell",
    "pty",
    "events",
    "detect.patterns",
    "detect.ignores",
];

/// What one file sets; `None` (or empty lists) where it says nothing.
///
/// Values are already validated: `backend` is a known backend name, `on_fix` is
/// auto/restart/wait, timeouts are seconds in (0, 86400], `max_attempts` is
/// 1..=100, and every detect regex compiles. `events` is the path as written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileSettings {
    pub backend: Option<String>,
    pub agent_cmd: Option<String>,
    pub triage_cmd: Option<String>,
    pub fix_timeout: Option<f64>,
    pub triage_timeout: Option<f64>,
    pub settle: Option<f64>,
    pub max_attempts: Option<u32>,
    pub on_fix: Option<String>,
    pub reload_timeout: Option<f64>,
    pub verify: Option<String>,
    pub verify_timeout: Option<f64>,
    pub allow_shell: Option<bool>,
    pub pty: Option<bool>,
    pub events: Option<String>,
    pub detect_patterns: Vec<String>,
    pub detect_ignores: Vec<String>,
}

/// The files found; either may be absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loaded {
    pub project: Option<(PathBuf, FileSettings)>,
    pub user: Option<(PathBuf, FileSettings)>,
}

/// A file that cannot be used: `FILE:LINE: message`, exit 2 for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; `None` when the whole file is at fault (unreadable, not UTF-8).
    pub line: Option<usize>,
    /// The key at fault, dotted for tables (`detect.patterns`), when known.
    pub key: Option<String>,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for UsageError {
    fn from(e: ConfigError) -> UsageError {
        UsageError::new(e.to_string(), e.hint.as_deref())
    }
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Project,
    User,
}

/// `"project file /p/.otorepair.toml"` or `"user file /home/me/.config/otorepair/config.toml"`.
pub fn source_label(origin: Origin, path: &Path) -> String {
    match origin {
        Origin::Project => format!("project file {}", path.display()),
        Origin::User => format!("user file {}", path.display()),
    }
}

/// One key's value from the files, rendered as TOML, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub value: String,
    pub source: String,
}

impl Loaded {
    /// The files in precedence order: project first, then user.
    fn layers(&self) -> impl Iterator<Item = (Origin, &Path, &FileSettings)> {
        let project = self
            .project
            .as_ref()
            .map(|(p, s)| (Origin::Project, p.as_path(), s));
        let user = self
            .user
            .as_ref()
            .map(|(p, s)| (Origin::User, p.as_path(), s));
        project.into_iter().chain(user)
    }

    /// The project file's value if it sets one, else the user file's, with its
    /// source label: `loaded.pick(|s| s.fix_timeout)`.
    pub fn pick<T>(&self, get: impl Fn(&FileSettings) -> Option<T>) -> Option<(T, String)> {
        self.layers()
            .find_map(|(origin, path, s)| get(s).map(|v| (v, source_label(origin, path))))
    }

    /// The detect regexes of both files, the user's first: lists add up rather
    /// than override, so personal patterns apply in every project.
    pub fn detect_patterns(&self) -> Vec<String> {
        self.lists(|s| &s.detect_patterns)
    }

    /// The detect ignores of both files, the user's first (see [`Self::detect_patterns`]).
    pub fn detect_ignores(&self) -> Vec<String> {
        self.lists(|s| &s.detect_ignores)
    }

    fn lists(&self, get: impl Fn(&FileSettings) -> &Vec<String>) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for (_, _, s) in self.layers().collect::<Vec<_>>().into_iter().rev() {
            all.extend(get(s).iter().cloned());
        }
        all
    }

    /// A key of [`KEYS`] as the files set it, rendered as TOML, with its source
    /// (for `otorepair config`); `None` if no file sets it or the key is unknown.
    /// The detect lists name every file that contributed, joined by " + ".
    pub fn lookup(&self, key: &str) -> Option<Setting> {
        let text = |v: &Option<String>| v.as_deref().map(toml_string);
        let secs = |v: Option<f64>| v.map(|n| n.to_string());
        let flag = |v: Option<bool>| v.map(|b| b.to_string());
        let found = match key {
            "backend" => self.pick(|s| text(&s.backend)),
            "agent_cmd" => self.pick(|s| text(&s.agent_cmd)),
            "triage_cmd" => self.pick(|s| text(&s.triage_cmd)),
            "fix_timeout" => self.pick(|s| secs(s.fix_timeout)),
            "triage_timeout" => self.pick(|s| secs(s.triage_timeout)),
            "settle" => self.pick(|s| secs(s.settle)),
            "max_attempts" => self.pick(|s| s.max_attempts.map(|n| n.to_string())),
            "on_fix" => self.pick(|s| text(&s.on_fix)),
            "reload_timeout" => self.pick(|s| secs(s.reload_timeout)),
            "verify" => self.pick(|s| text(&s.verify)),
            "verify_timeout" => self.pick(|s| secs(s.verify_timeout)),
            "allow_shell" => self.pick(|s| flag(s.allow_shell)),
            "pty" => self.pick(|s| flag(s.pty)),
            "events" => self.pick(|s| text(&s.events)),
            "detect.patterns" => return self.list_setting(|s| &s.detect_patterns),
            "detect.ignores" => return self.list_setting(|s| &s.detect_ignores),
            _ => None,
        };
        found.map(|(value, source)| Setting { value, source })
    }

    fn list_setting(&self, get: impl Fn(&FileSettings) -> &Vec<String>) -> Option<Setting> {
        let mut values = Vec::new();
        let mut sources = Vec::new();
        for (origin, path, s) in self.layers().collect::<Vec<_>>().into_iter().rev() {
            let list = get(s);
            if !list.is_empty() {
                values.extend(list.iter().map(|v| toml_string(v)));
                sources.push(source_label(origin, path));
            }
        }
        (!values.is_empty()).then(|| Setting {
            value: format!("[{}]", values.join(", ")),
            source: sources.join(" + "),
        })
    }
}

/// A TOML basic string: JSON's escapes are all valid TOML.
fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("'{s}'"))
}

/// `$XDG_CONFIG_HOME/otorepair/config.toml` when XDG_CONFIG_HOME is an absolute
/// path (the XDG spec says to ignore a relative one), else
/// `$HOME/.config/otorepair/config.toml`; `None` without either.
pub fn user_path(env: &dyn Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let base = match set("XDG_CONFIG_HOME").filter(|p| p.is_absolute()) {
        Some(dir) => dir,
        None => set("HOME")?.join(".config"),
    };
    Some(base.join("otorepair").join("config.toml"))
}

/// The project file's path in `workspace`.
pub fn project_path(workspace: &Path) -> PathBuf {
    workspace.join(PROJECT_FILE)
}

/// Loads the project file in `workspace` and the user file; a missing file is
/// fine, anything wrong inside one is an error naming file, line and key.
pub fn load(
    workspace: &Path,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Loaded, ConfigError> {
    let project_file = project_path(workspace);
    let project = load_file(&project_file)?.map(|s| (project_file, s));
    let user = match user_path(env) {
        Some(path) => load_file(&path)?.map(|s| (path, s)),
        None => None,
    };
    Ok(Loaded { project, user })
}

/// Reads and checks one file; `Ok(None)` if it does not exist.
pub fn load_file(path: &Path) -> Result<Option<FileSettings>, ConfigError> {
    let whole = |message: String| ConfigError {
        file: path.to_path_buf(),
        line: None,
        key: None,
        message,
        hint: None,
    };
    let bytes = match read_small_file(path) {
        Ok(b) => b,
        Err(ReadError::Missing) => return Ok(None),
        Err(e) => return Err(whole(e.to_string())),
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        whole(format!(
            "not valid UTF-8 (at byte {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    parse(path, &text).map(Some)
}

/// Checks the text of a settings file; `path` is only used in messages.
pub fn parse(path: &Path, text: &str) -> Result<FileSettings, ConfigError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
    let at = |key: &str, span: Range<usize>, message: String, hint: Option<String>| ConfigError {
        file: path.to_path_buf(),
        line: Some(line_of(text, span.start)),
        key: Some(key.to_string()),
        message,
        hint,
    };

    if let Some(b) = &raw.backend {
        if BackendKind::from_name(b.get_ref()).is_none() {
            let names: Vec<&str> = BackendKind::ALL.iter().map(|k| k.name()).collect();
            return Err(at(
                "backend",
                b.span(),
                format!("invalid value '{}' for 'backend'", b.get_ref()),
                Some(format!("choose one of: {}", names.join(", "))),
            ));
        }
    }
    if let Some(v) = &raw.on_fix {
        if !matches!(v.get_ref().as_str(), "auto" | "restart" | "wait") {
            return Err(at(
                "on_fix",
                v.span(),
                format!("invalid value '{}' for 'on_fix'", v.get_ref()),
                Some("choose one of: auto, restart, wait".into()),
            ));
        }
    }
    let seconds = |key: &str, v: &Option<Spanned<f64>>| -> Result<Option<f64>, ConfigError> {
        match v {
            None => Ok(None),
            Some(s) if s.get_ref().is_finite() && *s.get_ref() > 0.0 && *s.get_ref() <= 86_400.0 => {
                Ok(Some(*s.get_ref()))
            }
            Some(s) => Err(at(
                key,
                s.span(),
                format!(
                    "invalid value {} for '{key}': expected a number of seconds greater than 0 (at most 86400)",
                    s.get_ref()
                ),
                None,
            )),
        }
    };
    let fix_timeout = seconds("fix_timeout", &raw.fix_timeout)?;
    let triage_timeout = seconds("triage_timeout", &raw.triage_timeout)?;
    let settle = seconds("settle", &raw.settle)?;
    let reload_timeout = seconds("reload_timeout", &raw.reload_timeout)?;
    let verify_timeout = seconds("verify_timeout", &raw.verify_timeout)?;
    let max_attempts = match &raw.max_attempts {
        None => None,
        Some(n) => match u32::try_from(*n.get_ref()) {
            Ok(v) if (1..=100).contains(&v) => Some(v),
            _ => {
                return Err(at(
                    "max_attempts",
                    n.span(),
                    format!(
                    "invalid value {} for 'max_attempts': expected a whole number from 1 to 100",
                    n.get_ref()
                ),
                    None,
                ))
            }
        },
    };
    let detect = raw.detect.unwrap_or_default();
    let regexes = |key: &str, list: Vec<Spanned<String>>| -> Result<Vec<String>, ConfigError> {
        let mut out = Vec::with_capacity(list.len());
        for p in list {
            if let Err(e) = regex::Regex::new(p.get_ref()) {
                return Err(at(
                    key,
                    p.span(),
                    format!(
                        "invalid regex {} in '{key}': {}",
                        toml_string(p.get_ref()),
                        regex_reason(&e)
                    ),
                    Some("patterns use Rust regex syntax: https://docs.rs/regex".into()),
                ));
            }
            out.push(p.into_inner());
        }
        Ok(out)
    };
    Ok(FileSettings {
        backend: raw.backend.map(Spanned::into_inner),
        agent_cmd: raw.agent_cmd,
        triage_cmd: raw.triage_cmd,
        fix_timeout,
        triage_timeout,
        settle,
        max_attempts,
        on_fix: raw.on_fix.map(Spanned::into_inner),
        reload_timeout,
        verify: raw.verify,
        verify_timeout,
        allow_shell: raw.allow_shell,
        pty: raw.pty,
        events: raw.events,
        detect_patterns: regexes("detect.patterns", detect.patterns)?,
        detect_ignores: regexes("detect.ignores", detect.ignores)?,
    })
}

/// The file's shape. Values that need checking keep their span, so a bad one is
/// reported at its line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    backend: Option<Spanned<String>>,
    agent_cmd: Option<String>,
    triage_cmd: Option<String>,
    fix_timeout: Option<Spanned<f64>>,
    triage_timeout: Option<Spanned<f64>>,
    settle: Option<Spanned<f64>>,
    /// Signed, so `-1` gets our range message rather than serde's type message.
    max_attempts: Option<Spanned<i64>>,
    on_fix: Option<Spanned<String>>,
    reload_timeout: Option<Spanned<f64>>,
    verify: Option<String>,
    verify_timeout: Option<Spanned<f64>>,
    allow_shell: Option<bool>,
    pty: Option<bool>,
    events: Option<String>,
    detect: Option<RawDetect>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDetect {
    #[serde(default)]
    patterns: Vec<Spanned<String>>,
    #[serde(default)]
    ignores: Vec<Spanned<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The path every test file is reported under.
    pub(super) fn p() -> PathBuf {
        PathBuf::from("/p/.otorepair.toml")
    }

    /// The error for a file that must be rejected. Shared with the `errors` tests.
    pub(super) fn err(text: &str) -> ConfigError {
        parse(&p(), text).expect_err("accepted a bad file")
    }

    #[test]
    fn a_full_file_parses() {
        let text = r#"
backend = "custom"
agent_cmd = "my-agent --fix"
triage_cmd = "my-agent --triage"
fix_timeout = 90
triage_timeout = 12.5
settle = 0.5
max_attempts = 5
on_fix = "restart"
reload_timeout = 8
verify = "pytest -x -q"
verify_timeout = 30
allow_shell = true
pty = false
events = "events.jsonl"

[detect]
patterns = ['^FATAL: ', "panic!"]
ignores = ['DeprecationWarning']
"#;
        let s = parse(&p(), text).unwrap();
        assert_eq!(
            s,
            FileSettings {
                backend: Some("custom".into()),
                agent_cmd: Some("my-agent --fix".into()),
                triage_cmd: Some("my-agent --triage".into()),
                fix_timeout: Some(90.0),
                triage_timeout: Some(12.5),
                settle: Some(0.5),
                max_attempts: Some(5),
                on_fix: Some("restart".into()),
                reload_timeout: Some(8.0),
                verify: Some("pytest -x -q".into()),
                verify_timeout: Some(30.0),
                allow_shell: Some(true),
                pty: Some(false),
                events: Some("events.jsonl".into()),
                detect_patterns: vec!["^FATAL: ".into(), "panic!".into()],
                detect_ignores: vec!["DeprecationWarning".into()],
            }
        );
        assert_eq!(parse(&p(), "").unwrap(), FileSettings::default());
        assert_eq!(parse(&p(), "# nothing\n").unwrap(), FileSettings::default());
    }

    #[test]
    fn bad_values_name_the_key() {
        for (text, key, needle) in [
            (
                "backend = \"copilot\"\n",
                "backend",
                "invalid value 'copilot' for 'backend'",
            ),
            (
                "on_fix = \"later\"\n",
                "on_fix",
                "invalid value 'later' for 'on_fix'",
            ),
            ("settle = 0\n", "settle", "invalid value 0 for 'settle'"),
            ("fix_timeout = -3\n", "fix_timeout", "for 'fix_timeout'"),
            (
                "triage_timeout = nan\n",
                "triage_timeout",
                "for 'triage_timeout'",
            ),
            ("fix_timeout = inf\n", "fix_timeout", "for 'fix_timeout'"),
            (
                "reload_timeout = 0\n",
                "reload_timeout",
                "for 'reload_timeout'",
            ),
            (
                "verify_timeout = -1\n",
                "verify_timeout",
                "for 'verify_timeout'",
            ),
            (
                "max_attempts = 0\n",
                "max_attempts",
                "invalid value 0 for 'max_attempts'",
            ),
            ("max_attempts = 101\n", "max_attempts", "from 1 to 100"),
            ("max_attempts = -1\n", "max_attempts", "invalid value -1"),
        ] {
            let e = err(text);
            assert_eq!(e.line, Some(1), "{text:?}: {e}");
            assert_eq!(e.key.as_deref(), Some(key), "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
        let e = err("backend = \"copilot\"\n");
        assert!(e.hint.unwrap().contains("claude"));
    }

    #[test]
    fn user_path_follows_xdg() {
        let env = |k: &str| match k {
            "XDG_CONFIG_HOME" => Some(OsString::from("/x/cfg")),
            "HOME" => Some(OsString::from("/home/me")),
            _ => None,
        };
        assert_eq!(
            user_path(&env),
            Some(PathBuf::from("/x/cfg/otorepair/config.toml"))
        );
        let env = |k: &str| match k {
            "XDG_CONFIG_HOME" => Some(OsString::from("relative")),
            "HOME" => Some(OsString::from("/home/me")),
            _ => None,
        };
        assert_eq!(
            user_path(&env),
            Some(PathBuf::from("/home/me/.config/otorepair/config.toml"))
        );
        assert_eq!(user_path(&|_| None), None);
    }

    #[test]
    fn pick_prefers_the_project_and_lists_add_up() {
        let loaded = Loaded {
            project: Some((
                PathBuf::from("/p/.otorepair.toml"),
                FileSettings {
                    settle: Some(1.5),
                    detect_patterns: vec!["proj".into()],
                    ..FileSettings::default()
                },
            )),
            user: Some((
                PathBuf::from("/u/config.toml"),
                FileSettings {
                    settle: Some(3.0),
                    backend: Some("codex".into()),
                    detect_patterns: vec!["mine".into()],
                    ..FileSettings::default()
                },
            )),
        };
        assert_eq!(
            loaded.pick(|s| s.settle),
            Some((1.5, "project file /p/.otorepair.toml".to_string()))
        );
        assert_eq!(
            loaded.pick(|s| s.backend.clone()),
            Some(("codex".to_string(), "user file /u/config.toml".to_string()))
        );
        assert_eq!(loaded.pick(|s| s.pty), None);
        assert_eq!(loaded.detect_patterns(), vec!["mine", "proj"]);
        assert_eq!(
            loaded.lookup("backend"),
            Some(Setting {
                value: "\"codex\"".into(),
                source: "user file /u/config.toml".into()
            })
        );
        assert_eq!(loaded.lookup("settle").unwrap().value, "1.5");
        let list = loaded.lookup("detect.patterns").unwrap();
        assert_eq!(list.value, "[\"mine\", \"proj\"]");
        assert_eq!(
            list.source,
            "user file /u/config.toml + project file /p/.otorepair.toml"
        );
        assert_eq!(loaded.lookup("detect.ignores"), None);
        assert_eq!(loaded.lookup("nonsense"), None);
        for key in KEYS {
            // Every listed key is known to lookup (None only because unset).
            let _ = loaded.lookup(key);
        }
    }
}

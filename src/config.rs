//! The resolved settings of the healing loop, and where each came from.
//!
//! Precedence: flag > environment variable > project file (`.otorepair.toml`) >
//! user file (`~/.config/otorepair/config.toml`) > default. Every value is parsed
//! here with the name of its source, so a bad one is reported as
//! `invalid value 'abc' for OTOREPAIR_FIX_TIMEOUT` — never replaced by a default.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::agent::{BackendKind, BackendSetup};
use crate::cli::{Cli, UsageError};
use crate::config_file::Loaded;

/// After a fix of a live error, how the fixed code gets loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFix {
    /// Wait for the command's own hot reload.
    Auto,
    /// Restart the command (servers without reload).
    Restart,
    /// Do nothing.
    Wait,
}

/// The healing loop's settings.
#[derive(Debug, Clone)]
pub struct HealConfig {
    pub backend: BackendSetup,
    pub fix_timeout: Duration,
    pub triage_timeout: Duration,
    pub settle: Duration,
    pub max_attempts: u32,
    pub on_fix: OnFix,
    /// With `OnFix::Auto`: how long to wait for reload evidence before restarting.
    pub reload_timeout: Duration,
    /// The user's own check, run after a fix is live (`sh -c` in the workspace).
    pub verify: Option<String>,
    pub verify_timeout: Duration,
    pub dry_run: bool,
    pub confirm: bool,
    pub events: Option<PathBuf>,
    /// Extra detection regexes and ignores from the config files.
    pub detect_patterns: Vec<String>,
    pub detect_ignores: Vec<String>,
}

/// One resolved setting, as `otorepair config` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub key: &'static str,
    pub value: String,
    /// `--settle`, `OTOREPAIR_SETTLE`, `project file /p/.otorepair.toml`, `default`.
    pub from: String,
}

/// Looks settings up through the layers, remembering where each came from.
pub struct Resolver<'a> {
    cli: &'a Cli,
    env: &'a dyn Fn(&str) -> Option<OsString>,
    files: &'a Loaded,
    sources: Vec<Source>,
}

/// A raw value and the name of where it came from.
type Raw = Option<(String, String)>;

/// An agent command given but blank is a mistake, not "no command": falling back
/// to the default backend would run an agent the user did not choose.
fn non_empty(raw: Raw) -> Result<Raw, UsageError> {
    match raw {
        Some((value, from)) if value.trim().is_empty() => Err(UsageError::new(
            format!("{from} is empty"),
            Some("give the command that reads the prompt on stdin, e.g. --agent-cmd \"aider --yes --message-file -\""),
        )),
        raw => Ok(raw),
    }
}

impl<'a> Resolver<'a> {
    pub fn new(cli: &'a Cli, env: &'a dyn Fn(&str) -> Option<OsString>, files: &'a Loaded) -> Self {
        Resolver {
            cli,
            env,
            files,
            sources: Vec::new(),
        }
    }

    pub fn into_sources(self) -> Vec<Source> {
        self.sources
    }

    fn note(&mut self, key: &'static str, value: impl Into<String>, from: impl Into<String>) {
        self.sources.push(Source {
            key,
            value: value.into(),
            from: from.into(),
        });
    }

    /// Flag, then environment variable, then the config files.
    fn raw(
        &self,
        flag: Option<&str>,
        flag_name: &str,
        var: &str,
        file: impl Fn(&crate::config_file::FileSettings) -> Option<String>,
    ) -> Result<Raw, UsageError> {
        if let Some(v) = flag {
            return Ok(Some((v.to_string(), flag_name.to_string())));
        }
        if let Some(v) = (self.env)(var) {
            return match v.into_string() {
                Ok(s) => Ok(Some((s, var.to_string()))),
                Err(v) => Err(UsageError::new(
                    format!("{var} is not valid UTF-8: {}", v.to_string_lossy()),
                    None,
                )),
            };
        }
        Ok(self.files.pick(file))
    }

    /// `pty` from a config file counts only when no flag chose a mode.
    pub fn pty(&mut self, flag: Option<bool>) -> Option<bool> {
        if let Some(v) = flag {
            self.note("pty", v.to_string(), if v { "--pty" } else { "--no-pty" });
            return Some(v);
        }
        match self.files.pick(|s| s.pty) {
            Some((v, from)) => {
                self.note("pty", v.to_string(), from);
                Some(v)
            }
            None => {
                let auto = if crate::term::is_tty(1) {
                    "auto: pty (stdout is a terminal)"
                } else {
                    "auto: pipes (stdout is not a terminal)"
                };
                self.note("pty", auto, "default");
                None
            }
        }
    }

    fn seconds(
        &mut self,
        key: &'static str,
        raw: Raw,
        default: f64,
    ) -> Result<Duration, UsageError> {
        let Some((text, from)) = raw else {
            self.note(key, default.to_string(), "default");
            return Ok(Duration::from_secs_f64(default));
        };
        match text.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => {
                self.note(key, text.trim(), from);
                Ok(Duration::from_secs_f64(s))
            }
            _ => Err(UsageError::new(
                format!("invalid value '{text}' for {from}: expected a number of seconds greater than 0"),
                None,
            )),
        }
    }

    fn boolean(
        &mut self,
        key: &'static str,
        flag: bool,
        flag_name: &str,
        raw: Raw,
    ) -> Result<bool, UsageError> {
        if flag {
            self.note(key, "true", flag_name);
            return Ok(true);
        }
        let Some((text, from)) = raw else {
            self.note(key, "false", "default");
            return Ok(false);
        };
        let value = match text.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" | "" => false,
            _ => {
                return Err(UsageError::new(
                    format!("invalid value '{text}' for {from}: expected 1/0, true/false, yes/no"),
                    None,
                ))
            }
        };
        self.note(key, value.to_string(), from);
        Ok(value)
    }

    /// Resolves every setting of the healing loop.
    pub fn heal_config(&mut self, workspace: &Path) -> Result<HealConfig, UsageError> {
        let cli = self.cli;
        let agent_cmd = non_empty(self.raw(
            cli.agent_cmd.as_deref(),
            "--agent-cmd",
            "OTOREPAIR_AGENT_CMD",
            |s| s.agent_cmd.clone(),
        )?)?;
        let triage_cmd = non_empty(self.raw(
            cli.triage_cmd.as_deref(),
            "--triage-cmd",
            "OTOREPAIR_TRIAGE_CMD",
            |s| s.triage_cmd.clone(),
        )?)?;
        let kind = match self.raw(
            cli.backend.as_deref(),
            "--backend",
            "OTOREPAIR_BACKEND",
            |s| s.backend.clone(),
        )? {
            Some((name, from)) => {
                let kind = BackendKind::from_name(name.trim()).ok_or_else(|| {
                    UsageError::new(
                        format!("invalid value '{name}' for {from}"),
                        Some("choose one of: claude, cursor, codex, gemini, custom"),
                    )
                })?;
                self.note("backend", kind.name(), from);
                kind
            }
            // An agent command on its own means the custom backend.
            None if agent_cmd.is_some() => {
                self.note("backend", "custom", "implied by the agent command");
                BackendKind::Custom
            }
            None => {
                self.note("backend", "claude", "default");
                BackendKind::Claude
            }
        };
        if kind == BackendKind::Custom && agent_cmd.is_none() {
            return Err(UsageError::new(
                "the custom backend needs a command",
                Some("give --agent-cmd \"CMD\" (or OTOREPAIR_AGENT_CMD); it gets the prompt on stdin"),
            ));
        }
        for (key, value) in [("agent_cmd", &agent_cmd), ("triage_cmd", &triage_cmd)] {
            if let Some((v, from)) = value {
                self.note(key, v.clone(), from.clone());
            }
        }
        let cursor_triage_model = (self.env)("OTOREPAIR_CURSOR_TRIAGE_MODEL")
            .map(|v| v.to_string_lossy().into_owned())
            .filter(|v| !v.trim().is_empty());
        let raw_shell = self.raw(None, "--allow-shell", "OTOREPAIR_ALLOW_SHELL", |s| {
            s.allow_shell.map(|b| b.to_string())
        })?;
        let allow_shell =
            self.boolean("allow_shell", cli.allow_shell, "--allow-shell", raw_shell)?;

        let raw = self.raw(
            cli.fix_timeout.as_deref(),
            "--fix-timeout",
            "OTOREPAIR_FIX_TIMEOUT",
            |s| s.fix_timeout.map(|v| v.to_string()),
        )?;
        let fix_timeout = self.seconds("fix_timeout", raw, 120.0)?;
        let raw = self.raw(
            cli.triage_timeout.as_deref(),
            "--triage-timeout",
            "OTOREPAIR_TRIAGE_TIMEOUT",
            |s| s.triage_timeout.map(|v| v.to_string()),
        )?;
        let triage_timeout = self.seconds("triage_timeout", raw, 30.0)?;
        let raw = self.raw(cli.settle.as_deref(), "--settle", "OTOREPAIR_SETTLE", |s| {
            s.settle.map(|v| v.to_string())
        })?;
        let settle = self.seconds("settle", raw, 2.0)?;

        let max_attempts = match self.raw(
            cli.max_attempts.as_deref(),
            "--max-attempts",
            "OTOREPAIR_MAX_ATTEMPTS",
            |s| s.max_attempts.map(|v| v.to_string()),
        )? {
            None => {
                self.note("max_attempts", "3", "default");
                3
            }
            Some((raw, from)) => match raw.trim().parse::<u32>() {
                Ok(n) if (1..=100).contains(&n) => {
                    self.note("max_attempts", n.to_string(), from);
                    n
                }
                _ => {
                    return Err(UsageError::new(
                        format!(
                        "invalid value '{raw}' for {from}: expected a whole number from 1 to 100"
                    ),
                        None,
                    ))
                }
            },
        };
        let on_fix = match self.raw(cli.on_fix.as_deref(), "--on-fix", "OTOREPAIR_ON_FIX", |s| {
            s.on_fix.clone()
        })? {
            None => {
                self.note("on_fix", "auto", "default");
                OnFix::Auto
            }
            Some((raw, from)) => {
                let value = match raw.trim() {
                    "auto" => OnFix::Auto,
                    "restart" => OnFix::Restart,
                    "wait" => OnFix::Wait,
                    _ => {
                        return Err(UsageError::new(
                            format!("invalid value '{raw}' for {from}"),
                            Some("choose one of: auto, restart, wait"),
                        ))
                    }
                };
                self.note("on_fix", raw.trim(), from);
                value
            }
        };
        let raw = self.raw(
            cli.reload_timeout.as_deref(),
            "--reload-timeout",
            "OTOREPAIR_RELOAD_TIMEOUT",
            |s| s.reload_timeout.map(|v| v.to_string()),
        )?;
        let reload_timeout = self.seconds("reload_timeout", raw, 5.0)?;
        let verify = self
            .raw(cli.verify.as_deref(), "--verify", "OTOREPAIR_VERIFY", |s| {
                s.verify.clone()
            })?
            // Empty turns off a check set at a lower level (the project file),
            // unlike an empty agent command, which would leave nothing to run.
            .filter(|(v, _)| !v.trim().is_empty());
        if let Some((v, from)) = &verify {
            self.note("verify", v.clone(), from.clone());
        }
        let raw = self.raw(
            cli.verify_timeout.as_deref(),
            "--verify-timeout",
            "OTOREPAIR_VERIFY_TIMEOUT",
            |s| s.verify_timeout.map(|v| v.to_string()),
        )?;
        let verify_timeout = self.seconds("verify_timeout", raw, 60.0)?;
        let events = match &cli.events {
            Some(p) => {
                self.note("events", p.to_string_lossy(), "--events");
                Some(PathBuf::from(p))
            }
            None => match (self.env)("OTOREPAIR_EVENTS").filter(|v| !v.is_empty()) {
                Some(p) => {
                    self.note("events", p.to_string_lossy(), "OTOREPAIR_EVENTS");
                    Some(PathBuf::from(p))
                }
                None => match self.files.pick(|s| s.events.clone()) {
                    Some((p, from)) => {
                        self.note("events", p.clone(), from);
                        // A relative path in a file is relative to the workspace.
                        Some(workspace.join(p))
                    }
                    None => None,
                },
            },
        };
        let detect_patterns = self.files.detect_patterns();
        let detect_ignores = self.files.detect_ignores();
        if !detect_patterns.is_empty() {
            self.note(
                "detect.patterns",
                detect_patterns.join(" | "),
                "config files",
            );
        }
        if !detect_ignores.is_empty() {
            self.note("detect.ignores", detect_ignores.join(" | "), "config files");
        }

        Ok(HealConfig {
            backend: BackendSetup {
                kind,
                workspace: workspace.to_path_buf(),
                allow_shell,
                cursor_triage_model,
                agent_cmd: agent_cmd.map(|(v, _)| v),
                triage_cmd: triage_cmd.map(|(v, _)| v),
                env: Vec::new(),
            },
            fix_timeout,
            triage_timeout,
            settle,
            max_attempts,
            on_fix,
            reload_timeout,
            verify: verify.map(|(v, _)| v),
            verify_timeout,
            dry_run: cli.dry_run,
            confirm: cli.confirm,
            events,
            detect_patterns,
            detect_ignores,
        })
    }
}

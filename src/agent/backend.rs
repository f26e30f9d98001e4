//! The one table of agent backends, and the commands built from it.
//!
//! Every flag below was checked against the real help texts in
//! `/work/shared/agents/` (Claude Code 2.1.197, Codex 0.169.0, Gemini CLI 0.61.0)
//! and the captures there; Cursor's come from its CLI reference (no offline run
//! was possible). The prompt always goes on stdin: Claude's `--tools` takes
//! several values, so a prompt argument after it would be read as a tool name.
//!
//! Least privilege, per backend (the fix agent; triage never edits):
//!
//! | backend | default (no `--allow-shell`) | `--allow-shell` |
//! | --- | --- | --- |
//! | claude | `--tools Read,Edit,Write,Glob,Grep`: no shell tool at all | adds `Bash` |
//! | cursor | `--force` applies edits and also allows commands; the CLI has no flag to withhold its shell (only `.cursor/cli.json` permissions can) | same |
//! | codex | `--sandbox workspace-write` with network off: Codex always offers its model a shell, but the sandbox confines writes to the workspace | workspace-write with network on; never `danger-full-access` |
//! | gemini | `--approval-mode auto_edit`: the shell tool is left out of the request | `--approval-mode yolo` |
//! | custom | whatever the command does | same |
//!
//! Triage: claude gets no tools (`--tools ""`), codex a read-only sandbox,
//! gemini `--approval-mode plan` (read-only), cursor no `--force` (nothing applied).

use super::process::{run_blocking, AgentCommand};
use super::stream::StreamFormat;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which agent CLI to use (`--backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BackendKind {
    #[default]
    Claude,
    Cursor,
    Codex,
    Gemini,
    Custom,
}

/// The two kinds of agent call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Cheap yes/no question: is this output a real error? Plain text answer.
    Triage,
    /// The fix itself, streamed.
    Fix,
}

/// What argv builders get.
#[derive(Debug, Clone, Copy)]
pub struct ArgContext<'a> {
    pub workspace: &'a str,
    pub allow_shell: bool,
    /// Cursor's triage model (`OTOREPAIR_CURSOR_TRIAGE_MODEL`, read by the caller).
    pub triage_model: Option<&'a str>,
    /// The custom backend's shell command for this role.
    pub custom_cmd: &'a str,
}

/// One row of the backend table.
#[derive(Debug)]
pub struct BackendInfo {
    pub kind: BackendKind,
    /// The `--backend` value.
    pub name: &'static str,
    /// The program run (looked up on PATH).
    pub executable: &'static str,
    /// The format of the fix run's stdout (triage is always plain text).
    pub fix_format: StreamFormat,
    /// How to install the CLI, shown when it is missing.
    pub install_hint: &'static str,
    /// Banner label for the triage model.
    pub triage_model: &'static str,
    /// Banner label for the fix model.
    pub fix_model: &'static str,
    /// Arguments after the executable for a triage run.
    pub triage_args: fn(&ArgContext) -> Vec<String>,
    /// Arguments after the executable for a fix run.
    pub fix_args: fn(&ArgContext) -> Vec<String>,
}

/// Instruction given to Gemini with `-p`; Gemini puts it after the prompt read from stdin.
pub const GEMINI_FIX_INSTRUCTION: &str =
    "Fix the error described above, following the constraints given.";
/// Gemini's `-p` text for triage.
pub const GEMINI_TRIAGE_INSTRUCTION: &str = "Answer with exactly one word: ERROR or NO.";

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// The table. One entry per backend, in `BackendKind` order.
pub static BACKENDS: [BackendInfo; 5] = [
    BackendInfo {
        kind: BackendKind::Claude,
        name: "claude",
        executable: "claude",
        fix_format: StreamFormat::ClaudeJson,
        install_hint: "npm install -g @anthropic-ai/claude-code",
        triage_model: "haiku",
        fix_model: "Claude Code default",
        triage_args: |_| strings(&["-p", "--model", "haiku", "--tools", "", "--no-session-persistence"]),
        fix_args: |c| {
            let tools = if c.allow_shell {
                "Read,Edit,Write,Glob,Grep,Bash"
            } else {
                "Read,Edit,Write,Glob,Grep"
            };
            strings(&[
                "-p",
                "--output-format",
                "stream-json",
                "--verbose",
                "--permission-mode",
                "acceptEdits",
                "--tools",
                tools,
                "--no-session-persistence",
            ])
        },
    },
    BackendInfo {
        kind: BackendKind::Cursor,
        name: "cursor",
        executable: "agent",
        fix_format: StreamFormat::CursorJson,
        install_hint: "curl https://cursor.com/install -fsS | bash  (see https://cursor.com/docs/cli/installation)",
        triage_model: "Cursor default",
        fix_model: "Cursor default",
        triage_args: |c| {
            // The documented default output format differs between doc pages: say it.
            let mut a = strings(&["-p", "--trust", "--workspace", c.workspace, "--output-format", "text"]);
            if let Some(m) = c.triage_model {
                a.extend(strings(&["--model", m]));
            }
            a
        },
        fix_args: |c| {
            strings(&[
                "-p",
                "--force",
                "--trust",
                "--workspace",
                c.workspace,
                "--output-format",
                "stream-json",
                "--stream-partial-output",
            ])
        },
    },
    BackendInfo {
        kind: BackendKind::Codex,
        name: "codex",
        executable: "codex",
        fix_format: StreamFormat::CodexJson,
        install_hint: "npm install -g @openai/codex",
        triage_model: "Codex default",
        fix_model: "Codex default",
        triage_args: |c| {
            strings(&["exec", "--sandbox", "read-only", "--skip-git-repo-check", "-C", c.workspace, "-"])
        },
        fix_args: |c| {
            let network = if c.allow_shell {
                "sandbox_workspace_write.network_access=true"
            } else {
                "sandbox_workspace_write.network_access=false"
            };
            strings(&[
                "exec",
                "--json",
                "--sandbox",
                "workspace-write",
                "-c",
                network,
                "--skip-git-repo-check",
                "-C",
                c.workspace,
                "-",
            ])
        },
    },
    BackendInfo {
        kind: BackendKind::Gemini,
        name: "gemini",
        executable: "gemini",
        fix_format: StreamFormat::GeminiJson,
        install_hint: "npm install -g @google/gemini-cli",
        triage_model: "Gemini default",
        fix_model: "Gemini default",
        // --skip-trust: an untrusted folder would not get the approval mode asked for.
        triage_args: |_| {
            strings(&[
                "-p",
                GEMINI_TRIAGE_INSTRUCTION,
                "--skip-trust",
                "--output-format",
                "text",
                "--approval-mode",
                "plan",
            ])
        },
        fix_args: |c| {
            let mode = if c.allow_shell { "yolo" } else { "auto_edit" };
            strings(&[
                "-p",
                GEMINI_FIX_INSTRUCTION,
                "--skip-trust",
                "--output-format",
                "stream-json",
                "--approval-mode",
                mode,
            ])
        },
    },
    BackendInfo {
        kind: BackendKind::Custom,
        name: "custom",
        executable: "sh",
        fix_format: StreamFormat::PlainText,
        install_hint: "a POSIX shell is needed to run --agent-cmd",
        triage_model: "custom command",
        fix_model: "custom command",
        triage_args: |c| strings(&["-c", c.custom_cmd]),
        fix_args: |c| strings(&["-c", c.custom_cmd]),
    },
];

impl BackendKind {
    pub const ALL: [BackendKind; 5] = [
        BackendKind::Claude,
        BackendKind::Cursor,
        BackendKind::Codex,
        BackendKind::Gemini,
        BackendKind::Custom,
    ];

    /// This backend's row of [`BACKENDS`].
    pub fn info(self) -> &'static BackendInfo {
        &BACKENDS[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// Parses a `--backend` value.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The message for a missing executable: `'claude' not found on PATH` and how to install it.
    pub fn missing_message(self) -> String {
        let info = self.info();
        format!(
            "'{}' not found on PATH; install it with: {}",
            info.executable, info.install_hint
        )
    }
}

impl std::str::FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::from_name(s).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
            format!(
                "unknown backend '{s}' (expected one of: {})",
                names.join(", ")
            )
        })
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The resolved backend settings, from which commands are built.
#[derive(Debug, Clone, Default)]
pub struct BackendSetup {
    pub kind: BackendKind,
    /// The directory the agent works in (its cwd, and `-C`/`--workspace`).
    pub workspace: PathBuf,
    pub allow_shell: bool,
    /// Cursor only: `--model` for triage.
    pub cursor_triage_model: Option<String>,
    /// Custom only: `--agent-cmd`, run by `sh -c`.
    pub agent_cmd: Option<String>,
    /// Custom only: a separate triage command; defaults to `agent_cmd`.
    pub triage_cmd: Option<String>,
    /// Environment variables added for the agent process.
    pub env: Vec<(String, String)>,
}

impl BackendSetup {
    /// The command for `role`. Fails only for `custom` without `--agent-cmd`.
    pub fn command(&self, role: Role) -> Result<AgentCommand, String> {
        let info = self.kind.info();
        let custom_cmd = match (self.kind, role) {
            (BackendKind::Custom, Role::Triage) => self
                .triage_cmd
                .as_deref()
                .or(self.agent_cmd.as_deref())
                .ok_or("--backend custom needs --agent-cmd")?,
            (BackendKind::Custom, Role::Fix) => self
                .agent_cmd
                .as_deref()
                .ok_or("--backend custom needs --agent-cmd")?,
            _ => "",
        };
        let workspace = self.workspace.to_string_lossy();
        let ctx = ArgContext {
            workspace: &workspace,
            allow_shell: self.allow_shell,
            triage_model: self.cursor_triage_model.as_deref(),
            custom_cmd,
        };
        let args = match role {
            Role::Triage => (info.triage_args)(&ctx),
            Role::Fix => (info.fix_args)(&ctx),
        };
        let mut argv = vec![info.executable.to_string()];
        argv.extend(args);
        Ok(AgentCommand {
            argv,
            cwd: self.workspace.clone(),
            env: self.env.clone(),
        })
    }

    /// The stdout format for `role`.
    pub fn format(&self, role: Role) -> StreamFormat {
        match role {
            Role::Triage => StreamFormat::PlainText,
            Role::Fix => self.kind.info().fix_format,
        }
    }

    /// Banner labels: (triage model, fix model).
    pub fn model_labels(&self) -> (String, String) {
        let info = self.kind.info();
        let triage = match (self.kind, &self.cursor_triage_model) {
            (BackendKind::Cursor, Some(m)) => m.clone(),
            _ => info.triage_model.to_string(),
        };
        (triage, info.fix_model.to_string())
    }

    /// Resolves the executable on `path_env` (the caller's `PATH`), or says how to install it.
    pub fn check_installed(&self, path_env: Option<&OsStr>) -> Result<PathBuf, String> {
        find_on_path(self.kind.info().executable, path_env)
            .ok_or_else(|| self.kind.missing_message())
    }
}

/// Finds `exe` the way `execvp` would: a name containing `/` is used as is,
/// otherwise each directory of `path_env` is tried. Empty `PATH` entries
/// (meaning the current directory) are skipped on purpose.
pub fn find_on_path(exe: &str, path_env: Option<&OsStr>) -> Option<PathBuf> {
    if exe.is_empty() {
        return None;
    }
    if exe.contains('/') {
        let p = PathBuf::from(exe);
        return is_executable(&p).then_some(p);
    }
    std::env::split_paths(path_env?)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(exe))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// How long `agent status` may take.
pub const CURSOR_STATUS_TIMEOUT: Duration = Duration::from_secs(15);

/// The command that asks Cursor whether it is logged in.
pub fn cursor_status_command(agent_exe: &Path, cwd: &Path) -> AgentCommand {
    AgentCommand {
        argv: vec![agent_exe.to_string_lossy().into_owned(), "status".into()],
        cwd: cwd.to_path_buf(),
        env: Vec::new(),
    }
}

/// Cursor preflight: a `CURSOR_API_KEY` in the environment is enough;
/// otherwise `status` (see [`cursor_status_command`]) must exit 0 within `timeout`.
pub fn cursor_auth_check(
    env_has_key: bool,
    status: &AgentCommand,
    timeout: Duration,
) -> Result<(), String> {
    if env_has_key {
        return Ok(());
    }
    const HINT: &str = "run `agent login`, or set CURSOR_API_KEY";
    match run_blocking(status, String::new(), timeout) {
        Ok(out) if out.timed_out => Err(format!(
            "`agent status` did not answer within {}s; {HINT}",
            timeout.as_secs()
        )),
        Ok(out) if out.outcome.success() => Ok(()),
        Ok(_) => Err(format!("Cursor Agent is not logged in: {HINT}")),
        Err(e) => Err(format!("could not run `agent status`: {e}; {HINT}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(kind: BackendKind, allow_shell: bool) -> BackendSetup {
        BackendSetup {
            kind,
            workspace: PathBuf::from("/home/dev/shop"),
            allow_shell,
            ..BackendSetup::default()
        }
    }

    fn argv(kind: BackendKind, role: Role, allow_shell: bool) -> Vec<String> {
        match setup(kind, allow_shell).command(role) {
            Ok(c) => c.argv,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn table_rows_match_kinds() {
        for k in BackendKind::ALL {
            assert_eq!(k.info().kind, k);
            assert_eq!(BackendKind::from_name(k.name()), Some(k));
            assert_eq!(k.name().parse::<BackendKind>(), Ok(k));
        }
        assert!("nope".parse::<BackendKind>().is_err());
        assert_eq!(BackendKind::default(), BackendKind::Claude);
    }

    #[test]
    fn claude_argv() {
        assert_eq!(
            argv(BackendKind::Claude, Role::Triage, false),
            [
                "claude",
                "-p",
                "--model",
                "haiku",
                "--tools",
                "",
                "--no-session-persistence"
            ]
        );
        let fix = argv(BackendKind::Claude, Role::Fix, false);
        assert_eq!(
            fix,
            [
                "claude",
                "-p",
                "--output-format",
                "stream-json",
                "--verbose",
                "--permission-mode",
                "acceptEdits",
                "--tools",
                "Read,Edit,Write,Glob,Grep",
                "--no-session-persistence"
            ]
        );
        assert!(!fix.iter().any(|a| a.contains("Bash")));
        let shell = argv(BackendKind::Claude, Role::Fix, true);
        assert!(shell.contains(&"Read,Edit,Write,Glob,Grep,Bash".to_string()));
        // Never the modes that skip permission checks.
        for a in [fix, shell] {
            assert!(!a
                .iter()
                .any(|x| x.contains("bypass") || x.contains("dangerously")));
        }
        let cmd = setup(BackendKind::Claude, false).command(Role::Fix);
        assert_eq!(cmd.map(|c| c.cwd), Ok(PathBuf::from("/home/dev/shop")));
    }

    #[test]
    fn cursor_argv() {
        assert_eq!(
            argv(BackendKind::Cursor, Role::Triage, false),
            [
                "agent",
                "-p",
                "--trust",
                "--workspace",
                "/home/dev/shop",
                "--output-format",
                "text"
            ]
        );
        let mut s = setup(BackendKind::Cursor, false);
        s.cursor_triage_model = Some("gpt-5-mini".into());
        let triage = s.command(Role::Triage).map(|c| c.argv).unwrap_or_default();
        assert_eq!(&triage[triage.len() - 2..], ["--model", "gpt-5-mini"]);
        assert!(
            !triage.contains(&"--force".to_string()),
            "triage applies nothing"
        );
        assert_eq!(s.model_labels().0, "gpt-5-mini");
        assert_eq!(
            argv(BackendKind::Cursor, Role::Fix, false),
            [
                "agent",
                "-p",
                "--force",
                "--trust",
                "--workspace",
                "/home/dev/shop",
                "--output-format",
                "stream-json",
                "--stream-partial-output"
            ]
        );
    }

    #[test]
    fn codex_argv() {
        assert_eq!(
            argv(BackendKind::Codex, Role::Triage, false),
            [
                "codex",
                "exec",
                "--sandbox",
                "read-only",
                "--skip-git-repo-check",
                "-C",
                "/home/dev/shop",
                "-"
            ]
        );
        let fix = argv(BackendKind::Codex, Role::Fix, false);
        assert_eq!(
            fix,
            [
                "codex",
                "exec",
                "--json",
                "--sandbox",
                "workspace-write",
                "-c",
                "sandbox_workspace_write.network_access=false",
                "--skip-git-repo-check",
                "-C",
                "/home/dev/shop",
                "-"
            ]
        );
        let shell = argv(BackendKind::Codex, Role::Fix, true);
        assert!(shell.contains(&"sandbox_workspace_write.network_access=true".to_string()));
        for a in [fix, shell] {
            assert!(!a.iter().any(|x| x.contains("danger")));
            assert_eq!(a.last().map(String::as_str), Some("-"), "prompt on stdin");
        }
    }

    #[test]
    fn gemini_argv() {
        assert_eq!(
            argv(BackendKind::Gemini, Role::Triage, false),
            [
                "gemini",
                "-p",
                GEMINI_TRIAGE_INSTRUCTION,
                "--skip-trust",
                "--output-format",
                "text",
                "--approval-mode",
                "plan"
            ]
        );
        let fix = argv(BackendKind::Gemini, Role::Fix, false);
        assert_eq!(
            fix,
            [
                "gemini",
                "-p",
                GEMINI_FIX_INSTRUCTION,
                "--skip-trust",
                "--output-format",
                "stream-json",
                "--approval-mode",
                "auto_edit"
            ]
        );
        assert!(!fix.iter().any(|a| a == "yolo" || a == "-y"));
        let shell = argv(BackendKind::Gemini, Role::Fix, true);
        assert_eq!(shell.last().map(String::as_str), Some("yolo"));
    }

    #[test]
    fn custom_argv() {
        let mut s = setup(BackendKind::Custom, false);
        assert!(s.command(Role::Fix).is_err());
        s.agent_cmd = Some("my-agent --fix".into());
        let fix = s.command(Role::Fix).map(|c| c.argv).unwrap_or_default();
        assert_eq!(fix, ["sh", "-c", "my-agent --fix"]);
        let triage = s.command(Role::Triage).map(|c| c.argv).unwrap_or_default();
        assert_eq!(triage, ["sh", "-c", "my-agent --fix"]);
        s.triage_cmd = Some("my-agent --triage".into());
        let triage = s.command(Role::Triage).map(|c| c.argv).unwrap_or_default();
        assert_eq!(triage, ["sh", "-c", "my-agent --triage"]);
        assert_eq!(s.format(Role::Fix), StreamFormat::PlainText);
    }

    #[test]
    fn formats() {
        assert_eq!(
            setup(BackendKind::Claude, false).format(Role::Fix),
            StreamFormat::ClaudeJson
        );
        assert_eq!(
            setup(BackendKind::Gemini, false).format(Role::Triage),
            StreamFormat::PlainText
        );
    }

    #[test]
    fn missing_executable_message_and_lookup() {
        assert_eq!(
            BackendKind::Claude.missing_message(),
            "'claude' not found on PATH; install it with: npm install -g @anthropic-ai/claude-code"
        );
        assert!(BackendKind::Gemini
            .missing_message()
            .contains("@google/gemini-cli"));
        assert!(BackendKind::Codex
            .missing_message()
            .contains("@openai/codex"));
        assert!(BackendKind::Cursor
            .missing_message()
            .contains("cursor.com/install"));

        let dir = tempfile::tempdir().expect("tempdir");
        let exe = dir.path().join("claude");
        std::fs::write(&exe, "#!/bin/sh\n").expect("write");
        let path = std::env::join_paths([Path::new("/nonexistent"), dir.path()]).expect("join");
        assert_eq!(
            find_on_path("claude", Some(&path)),
            None,
            "not executable yet"
        );
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(find_on_path("claude", Some(&path)), Some(exe.clone()));
        assert_eq!(find_on_path("codex", Some(&path)), None);
        assert_eq!(find_on_path("claude", None), None);
        let exe_str = exe.to_string_lossy().into_owned();
        assert_eq!(find_on_path(&exe_str, None), Some(exe));
        let s = setup(BackendKind::Codex, false);
        assert_eq!(
            s.check_installed(Some(&path)),
            Err(BackendKind::Codex.missing_message())
        );
    }

    #[test]
    fn cursor_auth_check_uses_status_exit() {
        let status = |script: &str| AgentCommand {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            cwd: std::env::temp_dir(),
            env: vec![],
        };
        let t = Duration::from_secs(5);
        assert_eq!(cursor_auth_check(true, &status("exit 1"), t), Ok(()));
        assert_eq!(cursor_auth_check(false, &status("exit 0"), t), Ok(()));
        let err = cursor_auth_check(false, &status("exit 1"), t).unwrap_err();
        assert!(err.contains("agent login"), "{err}");
        let err =
            cursor_auth_check(false, &status("sleep 30"), Duration::from_millis(200)).unwrap_err();
        assert!(
            err.contains("did not answer") && err.contains("agent login"),
            "{err}"
        );
        let missing = cursor_status_command(Path::new("/nonexistent/agent"), Path::new("/"));
        assert!(cursor_auth_check(false, &missing, t)
            .unwrap_err()
            .contains("agent login"));
    }
}

//! Before the command starts: the checks that end in exit 2, and the banner.

use crate::agent::BackendKind;
use crate::cli::Config;
use crate::status;

use super::{StartupError, Supervisor};

impl Supervisor {
    /// The startup lines: backend and models, then what is watched.
    pub(super) fn banner(&self) {
        let heal = &self.cfg.heal;
        if heal.dry_run {
            status::info("Dry run: errors are reported, no agent runs.");
        } else {
            let (triage, fix) = heal.backend.model_labels();
            status::info(&format!(
                "Backend: {} · triage model: {triage} · fix model: {fix}{}",
                heal.backend.kind.name(),
                if heal.backend.allow_shell {
                    " · shell allowed"
                } else {
                    ""
                }
            ));
            if heal.backend.kind == BackendKind::Cursor {
                status::info(&format!(
                    "Workspace: {} (agent --workspace)",
                    self.cfg.workspace.display()
                ));
                if !heal.backend.allow_shell {
                    // Least privilege cannot be enforced by flags here: say so.
                    status::warn(
                        "Cursor's agent can run shell commands under --force and has no flag to withhold them; restrict it in .cursor/cli.json.",
                    );
                }
            }
        }
        status::info(&format!("Watching: {}", self.cfg.command.display()));
    }
}

/// The backend's executable must be installed (and Cursor logged in) before the
/// command starts, not when the first error needs it.
pub(super) fn check_backend(cfg: &Config) -> Result<(), StartupError> {
    let setup = &cfg.heal.backend;
    let path = std::env::var_os("PATH");
    let exe = setup.check_installed(path.as_deref()).map_err(|msg| {
        let (message, hint) = match msg.split_once("; ") {
            Some((m, h)) => (m.to_string(), Some(h.to_string())),
            None => (msg, None),
        };
        StartupError { message, hint }
    })?;
    if setup.kind == BackendKind::Custom {
        for (cmd, flag) in [
            (setup.agent_cmd.as_deref(), "--agent-cmd"),
            (setup.triage_cmd.as_deref(), "--triage-cmd"),
        ] {
            if let Some(program) = cmd.and_then(first_program) {
                if !shell_finds(&exe, program, &cfg.workspace) {
                    return Err(StartupError {
                        message: format!("'{program}' not found (the first word of {flag})"),
                        hint: Some(
                            "the command runs with sh -c in the workspace: check the program's name and PATH".into(),
                        ),
                    });
                }
            }
        }
    }
    if setup.kind == BackendKind::Cursor {
        let has_key = std::env::var_os("CURSOR_API_KEY").is_some_and(|v| !v.is_empty());
        let status_cmd = crate::agent::backend::cursor_status_command(&exe, &cfg.workspace);
        crate::agent::cursor_auth_check(
            has_key,
            &status_cmd,
            crate::agent::backend::CURSOR_STATUS_TIMEOUT,
        )
        .map_err(|message| StartupError {
            message,
            hint: Some("run `agent login`, or set CURSOR_API_KEY".into()),
        })?;
    }
    Ok(())
}

/// The program a shell command line starts with, when that can be read without a
/// shell: after any `NAME=value` assignments, a plain word. `None` for anything
/// quoted, expanded or otherwise shell syntax (the shell is the judge then).
fn first_program(cmd: &str) -> Option<&str> {
    let word = cmd.split_whitespace().find(|w| {
        let assignment = w.split_once('=').is_some_and(|(name, _)| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        !assignment
    })?;
    let plain = word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./+@%:,".contains(c));
    plain.then_some(word)
}

/// Whether `sh` (at `sh_path`), run in `cwd`, finds `program`: on PATH, as a
/// path, or as one of its builtins.
fn shell_finds(sh_path: &std::path::Path, program: &str, cwd: &std::path::Path) -> bool {
    std::process::Command::new(sh_path)
        .args(["-c", "command -v -- \"$1\" >/dev/null 2>&1", "sh", program])
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::first_program;

    #[test]
    fn the_program_is_read_only_from_plain_words() {
        assert_eq!(first_program("aider --yes --message-file -"), Some("aider"));
        assert_eq!(
            first_program("FOO=1 BAR= ./bin/agent x"),
            Some("./bin/agent")
        );
        assert_eq!(first_program("\"my agent\" x"), None);
        assert_eq!(first_program("$AGENT --fix"), None);
        assert_eq!(first_program("(cd x; agent)"), None);
        assert_eq!(first_program("   "), None);
    }
}

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
    if setup.kind == BackendKind::Custom {
        return Ok(());
    }
    let path = std::env::var_os("PATH");
    let exe = setup.check_installed(path.as_deref()).map_err(|msg| {
        let (message, hint) = match msg.split_once("; ") {
            Some((m, h)) => (m.to_string(), Some(h.to_string())),
            None => (msg, None),
        };
        StartupError { message, hint }
    })?;
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

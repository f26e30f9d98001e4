//! Environment errors on both paths: a busy port, a refused connection, a missing
//! program is the user's to fix, so otorepair says exactly what is wrong (naming
//! the process that holds a busy port) and runs no agent. After a crash it then
//! waits like a tripped breaker (a terminal: Enter or a file change restarts; no
//! terminal: exit with the command's own code); while the command runs, it says it
//! once per distinct error and lets the command run on.

use crate::child::{CommandSpec, ExitStatus};
use crate::detect::environment::{classify, classify_crash, EnvKind, EnvironmentError};
use crate::detect::{fingerprint, ErrorBlock};
use crate::heal::events::Event as Ev;
use crate::line::Line;
use crate::os::port_owner;
use crate::status;

use super::heal::Phase;
use super::Supervisor;

/// Ports some dev servers use when the command names none (and their error does
/// not say): only believed when something really listens there.
const DEFAULT_PORTS: [(&str, u16); 5] = [
    ("runserver", 8000),
    ("uvicorn", 8000),
    ("http.server", 8000),
    ("flask", 5000),
    ("vite", 5173),
];

/// Environment variables that name a port for the command (it inherits ours).
const PORT_VARS: [&str; 3] = ["PORT", "FLASK_RUN_PORT", "DJANGO_PORT"];

impl Supervisor {
    /// After a crash: `Some(exit)` when it was an environment error (said, no agent;
    /// then a wait in a terminal, else the command's own code), `None` to go on
    /// with the fix.
    pub(super) fn on_environment_crash(
        &mut self,
        block: Option<&ErrorBlock>,
        context: &[Line],
        exit: ExitStatus,
    ) -> Option<Option<i32>> {
        let found = classify_crash(block.map(|b| b.lines.as_slice()), context)?;
        if exit.shell_could_not_run() && self.is_the_command_itself(&found) {
            // A mistyped command (`flsk run`): the shell said it; exit as it would.
            return Some(Some(exit.shell_code()));
        }
        let (message, fingerprint) = self.resolve(found.clone());
        status::error(&format!("Not a code error: {message}"));
        self.emit_environment(&found, &message, fingerprint);
        let code = exit.shell_code();
        if self.cfg.heal.dry_run {
            return Some(Some(code));
        }
        Some(self.wait_for_change_or_exit(code))
    }

    /// A block settled while the command runs: `true` when it is an environment
    /// error (said the first time; never triaged or fixed).
    pub(super) fn on_environment_suspect(&mut self, block: &ErrorBlock) -> bool {
        let Some(found) = classify(&block.lines) else {
            return false;
        };
        if !self.cfg.heal.dry_run && !matches!(self.phase, Phase::Running) {
            let line = self.redactor.redact(&found.line);
            status::debug(1, &format!("busy; not reporting: {line}"));
            return true;
        }
        let (message, fingerprint) = self.resolve(found.clone());
        // Kept with the errors whose auto-fix is paused: said once, until the
        // user restarts the command after a crash (which clears them all).
        if self.paused.insert(fingerprint.clone()) {
            status::error(&format!(
                "Not a code error: {message} (no fix; the command keeps running)"
            ));
            self.emit_environment(&found, &message, fingerprint);
        }
        true
    }

    /// Whether the missing program is the one the command line starts with (not
    /// one it runs, like `vite` under `npm run dev`, which the user can install
    /// while otorepair waits).
    fn is_the_command_itself(&self, found: &EnvironmentError) -> bool {
        let (Some(missing), Some(first)) = (&found.program, first_program(&self.cfg.command))
        else {
            return false;
        };
        fingerprint::basename(missing) == fingerprint::basename(&first)
    }

    /// The line to show and the error's fingerprint, after filling in what the
    /// output did not say: the port from the command line, the owner from the OS.
    fn resolve(&self, mut found: EnvironmentError) -> (String, String) {
        let candidates = || {
            command_ports(&self.cfg.command, |name| {
                std::env::var(name).ok().filter(|v| !v.is_empty())
            })
        };
        let mut owner = None;
        match found.kind {
            EnvKind::PortInUse => {
                // One look at the OS's sockets per port (each walks every process).
                let held = match found.port {
                    Some(p) => port_owner(p).map(|o| (p, o)),
                    None => candidates()
                        .into_iter()
                        .find_map(|p| port_owner(p).map(|o| (p, o))),
                };
                if let Some((port, by)) = held {
                    found.port = Some(port);
                    owner = Some(by.to_string());
                }
            }
            EnvKind::PortPermission if found.port.is_none() => {
                found.port = candidates().into_iter().find(|&p| p < 1024);
            }
            _ => {}
        }
        let identity = format!("environment|{}", found.identity());
        (
            found.describe(owner.as_deref()),
            fingerprint::id_of(&identity),
        )
    }

    /// The event, its message redacted: the quoted line may hold a connection
    /// string with a password.
    fn emit_environment(&mut self, found: &EnvironmentError, message: &str, fingerprint: String) {
        let message = self.redactor.redact(message);
        self.emit(Ev::Environment {
            fingerprint,
            kind: found.kind.name().to_string(),
            message,
        });
    }
}

/// The command's words, quotes trimmed: a shell line split at whitespace (a
/// rough reading, enough to find a program name or a port), or the argv.
fn words(command: &CommandSpec) -> Vec<&str> {
    let words: Vec<&str> = match command {
        CommandSpec::Shell(line) => line.split_whitespace().collect(),
        CommandSpec::Argv(argv) => argv.iter().map(String::as_str).collect(),
    };
    words
        .into_iter()
        .map(|w| w.trim_matches(|c| c == '"' || c == '\''))
        .collect()
}

/// The program a command line starts with: past `VAR=value` assignments and
/// `exec` of a shell line, or the first word of an argv.
fn first_program(command: &CommandSpec) -> Option<String> {
    match command {
        CommandSpec::Shell(_) => words(command)
            .into_iter()
            .find(|w| !w.contains('=') && *w != "exec")
            .map(str::to_string),
        CommandSpec::Argv(argv) => argv.first().cloned(),
    }
}

/// Ports the command names, first to last: `--port N`, `--port=N`, `-p N`,
/// `PORT=N`, `host:N`, a bare number (`runserver 8000`), then the port variables,
/// then the default of a dev server it runs. Candidates only: the caller checks.
fn command_ports(command: &CommandSpec, env: impl Fn(&str) -> Option<String>) -> Vec<u16> {
    let words = words(command);
    let number = |s: &str| s.parse::<u16>().ok().filter(|&p| p > 0);
    let mut ports = Vec::new();
    let mut after_flag = false;
    for &word in &words {
        let found = if after_flag {
            number(word)
        } else if let Some((name, value)) = word.split_once('=') {
            let name = name.trim_start_matches('-').to_ascii_lowercase();
            (name == "port" || name == "p" || name.ends_with("_port"))
                .then(|| number(value))
                .flatten()
        } else if let Some((_, port)) = word.rsplit_once(':') {
            number(port)
        } else {
            number(word)
        };
        after_flag = matches!(word, "--port" | "-p" | "--http-port");
        ports.extend(found);
    }
    for var in PORT_VARS {
        ports.extend(env(var).as_deref().and_then(number));
    }
    for (word, port) in DEFAULT_PORTS {
        if words.iter().any(|w| w.contains(word)) {
            ports.push(port);
        }
    }
    ports.dedup();
    ports
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> CommandSpec {
        CommandSpec::Argv(words.iter().map(|w| w.to_string()).collect())
    }

    #[test]
    fn the_program_a_command_starts_with() {
        let shell = |l: &str| first_program(&CommandSpec::Shell(l.into()));
        assert_eq!(shell("flsk run --debug").as_deref(), Some("flsk"));
        assert_eq!(
            shell("PORT=3000 exec ./serve.sh").as_deref(),
            Some("./serve.sh")
        );
        assert_eq!(shell("  'vite' --port 1").as_deref(), Some("vite"));
        assert_eq!(shell("").as_deref(), None);
        assert_eq!(
            first_program(&argv(&["npm", "run", "dev"])).as_deref(),
            Some("npm")
        );
    }

    #[test]
    fn the_ports_a_command_names() {
        let none = |_: &str| None;
        assert_eq!(
            command_ports(&argv(&["python3", "-m", "http.server", "5055"]), none),
            [5055, 8000]
        );
        assert_eq!(
            command_ports(
                &CommandSpec::Shell("PORT=3001 node server.js --port 3002".into()),
                none
            ),
            [3001, 3002]
        );
        assert_eq!(
            command_ports(&argv(&["uvicorn", "app:main", "--port=9000"]), none),
            [9000, 8000]
        );
        assert_eq!(
            command_ports(&argv(&["php", "-S", "localhost:8080"]), none),
            [8080]
        );
        assert_eq!(
            command_ports(&argv(&["python3", "manage.py", "runserver"]), |v: &str| {
                (v == "PORT").then(|| "7000".to_string())
            }),
            [7000, 8000]
        );
        assert!(command_ports(&argv(&["python3", "app.py"]), none).is_empty());
    }
}

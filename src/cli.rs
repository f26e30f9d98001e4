//! Command-line definitions and their validation into a [`Config`].
//!
//! Values that come from environment variables are parsed here, not by clap, so
//! that a bad value is reported with the variable's name (`OTOREPAIR_SETTLE=abc`)
//! instead of a flag the user never typed, and is never replaced by a default.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches, Parser};

use crate::child::CommandSpec;
pub use crate::config::{HealConfig, OnFix};

const AFTER_HELP: &str = "\
The command comes in one of two forms:
  otorepair [OPTIONS] \"CMD\"               a shell command line, run by sh -c
  otorepair [OPTIONS] -- PROG [ARGS]...   a program run directly, whatever its name
Several words without `--` also run a program directly.

Subcommands, recognised only as the very first argument (`otorepair -- undo`
runs a program named undo):
  otorepair undo [--workspace DIR]      restore the files the last fix changed
  otorepair config [OPTIONS]            resolved settings and where each came from
  otorepair init bash|zsh|fish          shell integration (wraps OTOREPAIR_WRAP)
  otorepair completions bash|zsh|fish   completion script
  otorepair man                         manual page

Settings also come from .otorepair.toml and ~/.config/otorepair/config.toml
(flag > env > project file > user file > default).

Exit status: the command's own (128+N when killed by signal N); 130 when stopped
with Ctrl-C; 1 when giving up on a crash without a terminal; 2 for bad usage.";

/// Runs a dev command in a pseudo-terminal and heals it with a coding agent when it
/// crashes or prints an error.
#[derive(Debug, Parser)]
#[command(name = "otorepair", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// More diagnostics: -v key events, -vv details, -vvv everything
    #[arg(short, long, action = ArgAction::Count)]
    pub verbose: u8,

    /// Working directory of the command and the agents [env: OTOREPAIR_WORKSPACE]
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<OsString>,

    /// Run the command in a pseudo-terminal (default when stdout is a terminal)
    #[arg(long, overrides_with = "no_pty")]
    pub pty: bool,

    /// Run the command with plain pipes (default when stdout is not a terminal)
    #[arg(long, overrides_with = "pty")]
    pub no_pty: bool,

    /// Agent CLI: claude, cursor, codex, gemini or custom [env: OTOREPAIR_BACKEND] [default: claude]
    #[arg(long, value_name = "NAME")]
    pub backend: Option<String>,

    /// Command for the custom backend, run by sh -c with the prompt on stdin [env: OTOREPAIR_AGENT_CMD]
    #[arg(long, value_name = "CMD")]
    pub agent_cmd: Option<String>,

    /// Separate triage command for the custom backend [env: OTOREPAIR_TRIAGE_CMD]
    #[arg(long, value_name = "CMD")]
    pub triage_cmd: Option<String>,

    /// Most seconds a fix may take; then the agent's whole group is stopped [env: OTOREPAIR_FIX_TIMEOUT] [default: 120]
    #[arg(long, value_name = "SECS")]
    pub fix_timeout: Option<String>,

    /// Most seconds a triage may take [env: OTOREPAIR_TRIAGE_TIMEOUT] [default: 30]
    #[arg(long, value_name = "SECS")]
    pub triage_timeout: Option<String>,

    /// Quiet time that completes an error block [env: OTOREPAIR_SETTLE] [default: 2]
    #[arg(long, value_name = "SECS")]
    pub settle: Option<String>,

    /// Failed fixes of one error before giving up on it [env: OTOREPAIR_MAX_ATTEMPTS] [default: 3]
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<String>,

    /// After a live fix: auto (wait for the hot reload), restart, or wait [env: OTOREPAIR_ON_FIX] [default: auto]
    #[arg(long, value_name = "WHEN")]
    pub on_fix: Option<String>,

    /// With --on-fix auto: restart the command when no reload is seen this long after a fix [env: OTOREPAIR_RELOAD_TIMEOUT] [default: 5]
    #[arg(long, value_name = "SECS")]
    pub reload_timeout: Option<String>,

    /// After a fix is live, run this check in the workspace (sh -c); failing counts as a failed fix [env: OTOREPAIR_VERIFY]
    #[arg(long, value_name = "CMD")]
    pub verify: Option<String>,

    /// Most seconds the --verify check may take [env: OTOREPAIR_VERIFY_TIMEOUT] [default: 60]
    #[arg(long, value_name = "SECS")]
    pub verify_timeout: Option<String>,

    /// Let the fix agent run shell commands (off: it may only read, search and edit files) [env: OTOREPAIR_ALLOW_SHELL]
    #[arg(long)]
    pub allow_shell: bool,

    /// Detect only: print what would be fixed, never run an agent
    #[arg(long)]
    pub dry_run: bool,

    /// Ask before each fix (needs a terminal)
    #[arg(long)]
    pub confirm: bool,

    /// Append one JSON object per event to FILE [env: OTOREPAIR_EVENTS]
    #[arg(long, value_name = "FILE")]
    pub events: Option<OsString>,

    /// The command to run: "CMD" for a shell command line, or -- PROG ARGS...
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        num_args = 0..
    )]
    pub command: Vec<OsString>,
}

/// How the command talks to the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pty,
    Pipe,
}

/// Everything otorepair needs to run, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub verbosity: u8,
    pub workspace: PathBuf,
    pub mode: Mode,
    pub command: CommandSpec,
    pub heal: HealConfig,
    /// Where each setting came from, for `otorepair config`.
    pub sources: Vec<crate::config::Source>,
}

/// A usage error: exit code 2 with a message and an optional hint.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError {
    pub message: String,
    pub hint: Option<String>,
}

impl UsageError {
    pub fn new(message: impl Into<String>, hint: Option<&str>) -> Self {
        UsageError {
            message: message.into(),
            hint: hint.map(str::to_string),
        }
    }
}

/// What parsing the command line leads to.
#[derive(Debug)]
pub enum Parsed {
    Run(Box<Config>),
    /// --help or --version: print this text to stdout and exit 0.
    Print(String),
}

/// `otorepair undo [--workspace DIR]`: only the workspace matters.
#[derive(Debug, Parser)]
#[command(
    name = "otorepair undo",
    about = "Restore the files the last fix changed to their pre-fix content"
)]
struct UndoCli {
    /// The workspace whose last fix to undo [env: OTOREPAIR_WORKSPACE]
    #[arg(long, value_name = "DIR")]
    workspace: Option<OsString>,
}

/// What `otorepair undo ...` asks for.
pub enum UndoArgs {
    Print(String),
    Workspace(PathBuf),
}

/// Parses the arguments after `undo`.
pub fn parse_undo(
    args: &[OsString],
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<UndoArgs, UsageError> {
    let all = std::iter::once(OsString::from("otorepair undo")).chain(args.iter().cloned());
    match UndoCli::try_parse_from(all) {
        Ok(cli) => resolve_workspace(cli.workspace, env).map(UndoArgs::Workspace),
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                return Ok(UndoArgs::Print(e.render().to_string()));
            }
            Err(clap_error(e))
        }
    }
}

fn resolve_workspace(
    flag: Option<OsString>,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<PathBuf, UsageError> {
    match flag {
        Some(dir) => workspace_dir(dir, "--workspace"),
        None => match env("OTOREPAIR_WORKSPACE") {
            Some(dir) if !dir.is_empty() => workspace_dir(dir, "OTOREPAIR_WORKSPACE"),
            Some(_) => Err(UsageError::new(
                "OTOREPAIR_WORKSPACE is set but empty",
                Some("unset it or set it to a directory"),
            )),
            None => std::env::current_dir().map_err(|e| {
                UsageError::new(format!("cannot read the current directory: {e}"), None)
            }),
        },
    }
}

const USAGE_HINT: &str = "run `otorepair --help` for usage";

/// Parses `args` (including `argv[0]`) and the environment `env` into a config.
pub fn parse<I, T>(args: I, env: &dyn Fn(&str) -> Option<OsString>) -> Result<Parsed, UsageError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let matches = match Cli::command().try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                return Ok(Parsed::Print(e.render().to_string()));
            }
            return Err(clap_error(e));
        }
    };
    let cli = Cli::from_arg_matches(&matches).map_err(clap_error)?;
    build(cli, &matches, &args, env).map(|c| Parsed::Run(Box::new(c)))
}

fn clap_error(e: clap::Error) -> UsageError {
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or("invalid arguments");
    let msg = first.strip_prefix("error: ").unwrap_or(first);
    UsageError::new(msg, Some(USAGE_HINT))
}

fn build(
    cli: Cli,
    matches: &ArgMatches,
    args: &[OsString],
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Config, UsageError> {
    let command = command_spec(&cli.command, args)?;

    let workspace = resolve_workspace(cli.workspace.clone(), env)?;

    let files = crate::config_file::load(&workspace, env)?;
    let mut resolver = crate::config::Resolver::new(&cli, env, &files);
    let flag_pty = if matches.value_source("pty") == Some(ValueSource::CommandLine) && cli.pty {
        Some(true)
    } else if cli.no_pty {
        Some(false)
    } else {
        None
    };
    let mode = match resolver.pty(flag_pty) {
        Some(true) => Mode::Pty,
        Some(false) => Mode::Pipe,
        None if crate::term::is_tty(1) => Mode::Pty,
        None => Mode::Pipe,
    };
    let heal = resolver.heal_config(&workspace)?;
    if heal.confirm && !(crate::term::is_tty(0) && mode == Mode::Pty) {
        return Err(UsageError::new(
            "--confirm needs a terminal on stdin (and PTY mode) to ask",
            Some("drop --confirm when running without a terminal"),
        ));
    }

    let sources = resolver.into_sources();
    Ok(Config {
        verbosity: cli.verbose.min(3),
        workspace,
        mode,
        command,
        heal,
        sources,
    })
}

/// One word before any `--` is a shell command line; `--` or several words run a
/// program directly.
fn command_spec(words: &[OsString], args: &[OsString]) -> Result<CommandSpec, UsageError> {
    let hint =
        Some("usage: otorepair [OPTIONS] \"CMD\"  or  otorepair [OPTIONS] -- PROG [ARGS]...");
    if words.is_empty() {
        return Err(UsageError::new("no command given", hint));
    }
    let mut strings = Vec::with_capacity(words.len());
    for w in words {
        match w.to_str() {
            Some(s) => strings.push(s.to_string()),
            None => {
                return Err(UsageError::new(
                    format!(
                        "the command contains invalid UTF-8: {}",
                        w.to_string_lossy()
                    ),
                    None,
                ))
            }
        }
    }
    // trailing_var_arg takes the words up to the end, so they are the last ones;
    // the raw argument just before them tells whether `--` was used.
    let dashed = args.len() > words.len() && args[args.len() - words.len() - 1] == "--";
    if !dashed && strings.len() == 1 {
        if strings[0].trim().is_empty() {
            return Err(UsageError::new("the command is empty", hint));
        }
        return Ok(CommandSpec::Shell(strings.remove(0)));
    }
    if strings[0].is_empty() {
        return Err(UsageError::new("the program name is empty", hint));
    }
    Ok(CommandSpec::Argv(strings))
}

fn workspace_dir(dir: OsString, source: &str) -> Result<PathBuf, UsageError> {
    let path = PathBuf::from(&dir);
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_dir() => Ok(std::fs::canonicalize(&path).unwrap_or(path)),
        Ok(_) => Err(UsageError::new(
            format!("{source}: '{}' is not a directory", path.display()),
            Some("give the project's root directory"),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(UsageError::new(
            format!("{source}: '{}' does not exist", path.display()),
            Some("give the project's root directory"),
        )),
        Err(e) => Err(UsageError::new(
            format!("{source}: cannot use '{}': {e}", path.display()),
            None,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::BackendKind;
    use std::time::Duration;

    fn no_env(_: &str) -> Option<OsString> {
        None
    }

    fn run(args: &[&str]) -> Result<Config, UsageError> {
        let mut all = vec!["otorepair"];
        all.extend_from_slice(args);
        match parse(all, &no_env)? {
            Parsed::Run(c) => Ok(*c),
            Parsed::Print(_) => panic!("unexpected print"),
        }
    }

    #[test]
    fn one_word_is_a_shell_line_and_dashes_run_a_program() {
        assert_eq!(
            run(&["flask run --debug"]).unwrap().command,
            CommandSpec::Shell("flask run --debug".into())
        );
        assert_eq!(
            run(&["-v", "--", "npm", "run", "dev"]).unwrap().command,
            CommandSpec::Argv(vec!["npm".into(), "run".into(), "dev".into()])
        );
        // A program named like a flag or a shell line still runs as a program after --.
        assert_eq!(
            run(&["--", "flask run"]).unwrap().command,
            CommandSpec::Argv(vec!["flask run".into()])
        );
        // Flags after the program belong to it.
        assert_eq!(
            run(&["python3", "-v", "app.py"]).unwrap().command,
            CommandSpec::Argv(vec!["python3".into(), "-v".into(), "app.py".into()])
        );
        assert_eq!(run(&["-vv", "x"]).unwrap().verbosity, 2);
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        assert_eq!(run(&[]).unwrap_err().message, "no command given");
        assert_eq!(run(&["  "]).unwrap_err().message, "the command is empty");
        let e = run(&["--workspace", "/nonexistent/x", "true"]).unwrap_err();
        assert!(e.message.contains("does not exist"), "{e:?}");
        let e = run(&["--workspace", "/etc/hostname", "true"]).unwrap_err();
        assert!(e.message.contains("not a directory"), "{e:?}");
        let e = run(&["--bogus", "true"]).unwrap_err();
        assert!(e.message.contains("--bogus"), "{e:?}");
    }

    #[test]
    fn env_workspace_is_validated_and_named() {
        let env = |k: &str| (k == "OTOREPAIR_WORKSPACE").then(|| OsString::from("/nonexistent/y"));
        let Err(e) = parse(["otorepair", "true"], &env) else {
            panic!("accepted a missing workspace")
        };
        assert!(e.message.starts_with("OTOREPAIR_WORKSPACE:"), "{e:?}");
    }

    #[test]
    fn env_values_are_validated_and_named() {
        for (var, value, needle) in [
            (
                "OTOREPAIR_FIX_TIMEOUT",
                "abc",
                "invalid value 'abc' for OTOREPAIR_FIX_TIMEOUT",
            ),
            ("OTOREPAIR_SETTLE", "-1", "for OTOREPAIR_SETTLE"),
            ("OTOREPAIR_MAX_ATTEMPTS", "0", "for OTOREPAIR_MAX_ATTEMPTS"),
            ("OTOREPAIR_ON_FIX", "later", "for OTOREPAIR_ON_FIX"),
            ("OTOREPAIR_BACKEND", "copilot", "for OTOREPAIR_BACKEND"),
            (
                "OTOREPAIR_ALLOW_SHELL",
                "maybe",
                "for OTOREPAIR_ALLOW_SHELL",
            ),
            (
                "OTOREPAIR_TRIAGE_TIMEOUT",
                "nan",
                "for OTOREPAIR_TRIAGE_TIMEOUT",
            ),
            (
                "OTOREPAIR_RELOAD_TIMEOUT",
                "soon",
                "for OTOREPAIR_RELOAD_TIMEOUT",
            ),
            (
                "OTOREPAIR_VERIFY_TIMEOUT",
                "0",
                "for OTOREPAIR_VERIFY_TIMEOUT",
            ),
        ] {
            let env = move |k: &str| (k == var).then(|| OsString::from(value));
            let Err(e) = parse(["otorepair", "true"], &env) else {
                panic!("{var}={value} accepted")
            };
            assert!(e.message.contains(needle), "{var}: {e:?}");
        }
        // The flag wins over the environment, and is named when it is the bad one.
        let env = |k: &str| (k == "OTOREPAIR_SETTLE").then(|| OsString::from("abc"));
        let Ok(Parsed::Run(c)) = parse(["otorepair", "--settle", "0.5", "true"], &env) else {
            panic!("flag did not win")
        };
        assert_eq!(c.heal.settle, Duration::from_millis(500));
        let e = run(&["--fix-timeout", "soon", "x"]).unwrap_err();
        assert!(e.message.contains("for --fix-timeout"), "{e:?}");
    }

    #[test]
    fn backend_choice() {
        let c = run(&["x"]).unwrap();
        assert_eq!(c.heal.backend.kind, BackendKind::Claude);
        assert_eq!(c.heal.max_attempts, 3);
        assert_eq!(c.heal.fix_timeout, Duration::from_secs(120));
        assert_eq!(c.heal.reload_timeout, Duration::from_secs(5));
        assert_eq!(c.heal.verify, None);
        let c = run(&["--verify", "curl -fsS localhost:8000/health", "x"]).unwrap();
        assert_eq!(
            c.heal.verify.as_deref(),
            Some("curl -fsS localhost:8000/health")
        );
        let c = run(&["--agent-cmd", "my-agent --fix", "x"]).unwrap();
        assert_eq!(c.heal.backend.kind, BackendKind::Custom);
        let e = run(&["--backend", "custom", "x"]).unwrap_err();
        assert!(
            e.message.contains("custom backend needs a command"),
            "{e:?}"
        );
        assert_eq!(
            run(&["--backend", "gemini", "x"])
                .unwrap()
                .heal
                .backend
                .kind,
            BackendKind::Gemini
        );
    }

    #[test]
    fn pty_flags() {
        assert_eq!(run(&["--pty", "x"]).unwrap().mode, Mode::Pty);
        assert_eq!(run(&["--no-pty", "x"]).unwrap().mode, Mode::Pipe);
        assert_eq!(run(&["--pty", "--no-pty", "x"]).unwrap().mode, Mode::Pipe);
        assert_eq!(run(&["--no-pty", "--pty", "x"]).unwrap().mode, Mode::Pty);
    }
}

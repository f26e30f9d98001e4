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

const AFTER_HELP: &str = "\
The command comes in one of two forms:
  otorepair [OPTIONS] \"CMD\"             a shell command line, run by sh -c
  otorepair [OPTIONS] -- PROG [ARGS]...   a program run directly, whatever its name
Several words without `--` also run a program directly.

Exit status: the command's own (128+N when killed by signal N); 130 when stopped
with Ctrl-C; 2 for bad usage.";

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
    Run(Config),
    /// --help or --version: print this text to stdout and exit 0.
    Print(String),
}

const USAGE_HINT: &str = "run `otorepair --help` for usage";

/// Parses `args` (including argv[0]) and the environment `env` into a config.
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
    build(cli, &matches, &args, env).map(Parsed::Run)
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

    let workspace = match cli.workspace {
        Some(dir) => workspace_dir(dir, "--workspace")?,
        None => match env("OTOREPAIR_WORKSPACE") {
            Some(dir) if !dir.is_empty() => workspace_dir(dir, "OTOREPAIR_WORKSPACE")?,
            Some(_) => {
                return Err(UsageError::new(
                    "OTOREPAIR_WORKSPACE is set but empty",
                    Some("unset it or set it to a directory"),
                ))
            }
            None => std::env::current_dir().map_err(|e| {
                UsageError::new(format!("cannot read the current directory: {e}"), None)
            })?,
        },
    };

    let mode = if matches.value_source("pty") == Some(ValueSource::CommandLine) && cli.pty {
        Mode::Pty
    } else if cli.no_pty {
        Mode::Pipe
    } else if crate::term::is_tty(1) {
        Mode::Pty
    } else {
        Mode::Pipe
    };

    Ok(Config {
        verbosity: cli.verbose.min(3),
        workspace,
        mode,
        command,
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

    fn no_env(_: &str) -> Option<OsString> {
        None
    }

    fn run(args: &[&str]) -> Result<Config, UsageError> {
        let mut all = vec!["otorepair"];
        all.extend_from_slice(args);
        match parse(all, &no_env)? {
            Parsed::Run(c) => Ok(c),
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
    fn pty_flags() {
        assert_eq!(run(&["--pty", "x"]).unwrap().mode, Mode::Pty);
        assert_eq!(run(&["--no-pty", "x"]).unwrap().mode, Mode::Pipe);
        assert_eq!(run(&["--pty", "--no-pty", "x"]).unwrap().mode, Mode::Pipe);
        assert_eq!(run(&["--no-pty", "--pty", "x"]).unwrap().mode, Mode::Pty);
    }
}

//! Shell integration: `otorepair init SHELL` prints a snippet for the shell's rc
//! file that wraps the commands named in `OTOREPAIR_WRAP`, and
//! `otorepair completions SHELL` prints a completion script generated from the
//! [`Cli`] definition, so it never drifts from the real flags.
//!
//! The snippets live in `shell/` for people who source files; they are embedded
//! here with `include_str!`, so there is one copy of each.

use std::ffi::OsString;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, UsageError};

/// A shell otorepair integrates with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl Shell {
    pub const ALL: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

    pub fn name(self) -> &'static str {
        match self {
            Shell::Bash => "bash",
            Shell::Zsh => "zsh",
            Shell::Fish => "fish",
        }
    }

    pub fn from_name(name: &str) -> Option<Shell> {
        Shell::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The rc-file snippet that wraps the commands named in `OTOREPAIR_WRAP`.
    pub fn init_snippet(self) -> &'static str {
        match self {
            Shell::Bash => include_str!("../shell/otorepair.bash"),
            Shell::Zsh => include_str!("../shell/otorepair.zsh"),
            Shell::Fish => include_str!("../shell/otorepair.fish"),
        }
    }

    /// The completion script for `otorepair`'s flags, generated from [`Cli`].
    pub fn completions(self) -> String {
        let shell = match self {
            Shell::Bash => clap_complete::Shell::Bash,
            Shell::Zsh => clap_complete::Shell::Zsh,
            Shell::Fish => clap_complete::Shell::Fish,
        };
        let mut cmd = Cli::command();
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut cmd, "otorepair", &mut out);
        // The generators write only the text we give them, which is UTF-8.
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Parses a shell name, or a usage error listing the shells there are.
pub fn parse_shell(name: &str) -> Result<Shell, UsageError> {
    Shell::from_name(name.trim()).ok_or_else(|| {
        UsageError::new(
            format!("unknown shell '{name}'"),
            Some(&format!("choose one of: {}", shell_names())),
        )
    })
}

fn shell_names() -> String {
    Shell::ALL.map(Shell::name).join(", ")
}

const INIT_AFTER_HELP: &str = "\
Add to your shell's rc file:
  bash (~/.bashrc):                  eval \"$(otorepair init bash)\"
  zsh  (~/.zshrc):                   eval \"$(otorepair init zsh)\"
  fish (~/.config/fish/config.fish): otorepair init fish | source

Then set OTOREPAIR_WRAP before that line, e.g. export OTOREPAIR_WRAP=\"flask uvicorn npm\":
typing `flask run --debug` runs `otorepair -- flask run --debug`; `command flask`
runs flask itself. OTOREPAIR_WRAP is read when the snippet is evaluated: evaluate
it again after changing it. Nothing is wrapped in scripts or inside otorepair.";

/// `otorepair init SHELL`
#[derive(Debug, Parser)]
#[command(
    name = "otorepair init",
    about = "Print shell code that runs the commands in OTOREPAIR_WRAP under otorepair",
    after_help = INIT_AFTER_HELP
)]
struct InitCli {
    /// bash, zsh or fish
    #[arg(value_name = "SHELL")]
    shell: String,
}

const COMPLETIONS_AFTER_HELP: &str = "\
Install, for example:
  bash: otorepair completions bash > ~/.local/share/bash-completion/completions/otorepair
  zsh:  otorepair completions zsh > ~/.zfunc/_otorepair   (with ~/.zfunc in $fpath)
  fish: otorepair completions fish > ~/.config/fish/completions/otorepair.fish";

/// `otorepair completions SHELL`
#[derive(Debug, Parser)]
#[command(
    name = "otorepair completions",
    about = "Print a completion script for otorepair's options",
    after_help = COMPLETIONS_AFTER_HELP
)]
struct CompletionsCli {
    /// bash, zsh or fish
    #[arg(value_name = "SHELL")]
    shell: String,
}

/// What a shell subcommand asks for: text for stdout (exit 0) or a usage error.
pub type Outcome = Result<String, UsageError>;

/// `otorepair init ARGS...` (the arguments after `init`): the snippet, or the
/// help text.
pub fn init(args: &[OsString]) -> Outcome {
    match parse_sub::<InitCli>("otorepair init", args, |c| &c.shell)? {
        Sub::Help(text) => Ok(text),
        Sub::Shell(name) => Ok(parse_shell(&name)?.init_snippet().to_string()),
    }
}

/// `otorepair completions ARGS...` (the arguments after `completions`): the
/// script, or the help text.
pub fn completions(args: &[OsString]) -> Outcome {
    match parse_sub::<CompletionsCli>("otorepair completions", args, |c| &c.shell)? {
        Sub::Help(text) => Ok(text),
        Sub::Shell(name) => Ok(parse_shell(&name)?.completions()),
    }
}

enum Sub {
    Help(String),
    /// Still unchecked, so that a bad name gets our own message and hint.
    Shell(String),
}

fn parse_sub<P: Parser>(
    name: &str,
    args: &[OsString],
    shell: impl Fn(&P) -> &String,
) -> Result<Sub, UsageError> {
    let all = std::iter::once(OsString::from(name)).chain(args.iter().cloned());
    match P::try_parse_from(all) {
        Ok(parsed) => Ok(Sub::Shell(shell(&parsed).clone())),
        Err(e) => {
            use clap::error::ErrorKind;
            let rendered = e.render().to_string();
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                return Ok(Sub::Help(rendered));
            }
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            let msg = first.strip_prefix("error: ").unwrap_or(first);
            Err(UsageError::new(
                msg,
                Some(&format!("usage: {name} SHELL  (one of: {})", shell_names())),
            ))
        }
    }
}

/// `otorepair man`: the manual page (roff), generated from the same clap
/// definition as `--help`, e.g. `otorepair man > ~/.local/share/man/man1/otorepair.1`.
pub fn man_page() -> Outcome {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(|e| UsageError::new(format!("cannot render the man page: {e}"), None))?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn names_round_trip() {
        for s in Shell::ALL {
            assert_eq!(Shell::from_name(s.name()), Some(s));
        }
        assert_eq!(Shell::from_name("tcsh"), None);
    }

    #[test]
    fn init_prints_the_embedded_snippet() {
        let text = init(&args(&["bash"])).unwrap();
        assert!(text.contains("__otorepair_run"), "{text}");
        assert_eq!(text, include_str!("../shell/otorepair.bash"));
        assert!(init(&args(&["fish"]))
            .unwrap()
            .contains("status is-interactive"));
        assert!(init(&args(&["zsh"])).unwrap().contains("-o interactive"));
    }

    #[test]
    fn unknown_shell_names_the_shells() {
        let e = init(&args(&["tcsh"])).unwrap_err();
        assert_eq!(e.message, "unknown shell 'tcsh'");
        assert_eq!(e.hint.as_deref(), Some("choose one of: bash, zsh, fish"));
        let e = completions(&args(&["powershell"])).unwrap_err();
        assert_eq!(e.message, "unknown shell 'powershell'");
        let e = init(&args(&[])).unwrap_err();
        assert!(e.hint.unwrap().contains("bash, zsh, fish"));
    }

    #[test]
    fn help_is_text_not_an_error() {
        let text = init(&args(&["--help"])).unwrap();
        assert!(text.contains("OTOREPAIR_WRAP"), "{text}");
        let text = completions(&args(&["-h"])).unwrap();
        assert!(text.contains("SHELL"), "{text}");
    }

    #[test]
    fn completions_mention_the_flags() {
        for s in Shell::ALL {
            let text = s.completions();
            assert!(text.contains("backend"), "{}: {text}", s.name());
            assert!(text.contains("fix-timeout"), "{}: {text}", s.name());
        }
    }
}

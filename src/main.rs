//! The `otorepair` binary: parse, validate, run, exit with the right code.
//!
//! Subcommands are recognised only as the very first argument, so
//! `otorepair -- undo` (or `-- init`, `-- man`) still runs a program of that name.
//!
//! Nothing here uses `print!`/`println!`/`eprintln!`: they panic when the stream
//! is a closed pipe (`otorepair config | true`). Text goes through [`print`].

use std::ffi::OsString;
use std::process::ExitCode;

use otorepair::{cli, guardian, heal, shell, status, supervisor};

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let code = match args.get(1).and_then(|a| a.to_str()) {
        Some("undo") => undo(&args[2..]),
        Some("init") => print_or_fail(shell::init(&args[2..])),
        Some("completions") => print_or_fail(shell::completions(&args[2..])),
        Some("man") => print_or_fail(shell::man_page()),
        Some("config") => config(&args[2..]),
        Some(guardian::ARG) => guardian::serve(&args[2..]),
        _ => run(args),
    };
    // Status lines still queued for a terminal that is slow to take them.
    status::flush(std::time::Duration::from_secs(1));
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn run(args: Vec<OsString>) -> i32 {
    let env = |name: &str| std::env::var_os(name);
    match cli::parse(args, &env) {
        Ok(cli::Parsed::Print(text)) => print(&text),
        Ok(cli::Parsed::Run(cfg)) => match supervisor::run(*cfg) {
            Ok(code) => code,
            Err(e) => {
                status::fatal(&e.message, e.hint.as_deref());
                2
            }
        },
        Err(e) => {
            status::fatal(&e.message, e.hint.as_deref());
            2
        }
    }
}

/// Writes `text` to stdout; 0, or 1 if it cannot be written. A reader that went
/// away (`... | head`, `... | true`) is not an error: it has all it wanted.
fn print(text: &str) -> i32 {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            status::fatal(&format!("cannot write to stdout: {e}"), None);
            1
        }
    }
}

/// Prints a subcommand's text (exit 0) or its usage error (exit 2).
fn print_or_fail(outcome: Result<String, cli::UsageError>) -> i32 {
    match outcome {
        Ok(text) => print(&text),
        Err(e) => {
            status::fatal(&e.message, e.hint.as_deref());
            2
        }
    }
}

/// `otorepair config [OPTIONS]`: the resolved settings and where each came from.
/// Options are those of a run (so their effect can be checked); no command.
fn config(args: &[OsString]) -> i32 {
    let env = |name: &str| std::env::var_os(name);
    if args.iter().any(|a| a == "-h" || a == "--help") {
        return print("Print the resolved settings and where each came from (flag, env, project file, user file, default).\n\nUsage: otorepair config [OPTIONS]\n\nTakes the options of a run, to show their effect.\n");
    }
    let mut all = vec![OsString::from("otorepair")];
    all.extend(args.iter().cloned());
    // A placeholder command: `config` only resolves settings, it runs nothing.
    all.push(OsString::from("true"));
    match cli::parse(all, &env) {
        Ok(cli::Parsed::Print(text)) => print(&text),
        Ok(cli::Parsed::Run(cfg)) => {
            let mut text = format!("{:<16} {}\n", "workspace", cfg.workspace.display());
            text.push_str(&format!("{:<16} {:?}\n", "mode", cfg.mode));
            // Where history and undo records live (see README, "Files written").
            match heal::location::location(&cfg.workspace) {
                Ok(dir) => text.push_str(&format!("{:<16} {}\n", "state", dir.display())),
                Err(e) => text.push_str(&format!("{:<16} (none: {e})\n", "state")),
            }
            for s in &cfg.sources {
                text.push_str(&format!("{:<16} {:<28} ({})\n", s.key, s.value, s.from));
            }
            print(&text)
        }
        Err(e) => {
            status::fatal(&e.message, e.hint.as_deref());
            2
        }
    }
}

/// `otorepair undo [--workspace DIR]`: restores the files the last fix changed.
fn undo(args: &[OsString]) -> i32 {
    let env = |name: &str| std::env::var_os(name);
    let workspace = match cli::parse_undo(args, &env) {
        Ok(cli::UndoArgs::Print(text)) => return print(&text),
        Ok(cli::UndoArgs::Workspace(dir)) => dir,
        Err(e) => {
            status::fatal(&e.message, e.hint.as_deref());
            return 2;
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match heal::undo(&workspace, now) {
        Ok(report) => {
            for w in &report.warnings {
                status::write_stderr(&format!("otorepair: warning: {w}\n"));
            }
            if report.nothing_to_undo {
                return print(&format!(
                    "otorepair: nothing to undo in {}\n",
                    workspace.display()
                ));
            }
            let printed = print(&report.to_string());
            if report.complete() {
                return printed;
            }
            if !report.left_alone.is_empty() {
                status::write_stderr(&format!(
                    "otorepair: {} file(s) were edited since the fix and left alone\n",
                    report.left_alone.len()
                ));
            }
            if !report.unreachable.is_empty() {
                status::write_stderr(&format!(
                    "otorepair: {} file(s) are reached through a symlink now and were left alone\n",
                    report.unreachable.len()
                ));
            }
            if !report.cannot_restore.is_empty() {
                status::write_stderr(&format!(
                    "otorepair: {} file(s) were not captured before the fix and cannot be restored\n",
                    report.cannot_restore.len()
                ));
            }
            1
        }
        Err(e) => {
            status::fatal(&format!("undo failed: {e:#}"), None);
            1
        }
    }
}

//! The `otorepair` binary: parse, validate, run, exit with the right code.

use std::process::ExitCode;

use otorepair::{cli, status, supervisor};

fn main() -> ExitCode {
    let env = |name: &str| std::env::var_os(name);
    let code = match cli::parse(std::env::args_os(), &env) {
        Ok(cli::Parsed::Print(text)) => {
            print!("{text}");
            0
        }
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
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

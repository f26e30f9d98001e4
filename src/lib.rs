//! otorepair: a transparent PTY shim that heals a developer's command with a coding agent.
//!
//! Data flows terminal <-> PTY <-> child; a copy of every output byte goes through
//! [`screen`] into clean [`line::Line`]s for [`detect`]; confirmed errors go to
//! [`agent`]; [`heal`] keeps the breaker, history and snapshots; [`supervisor`]
//! orders it all. Captured text leaves otorepair only through [`redact`].

pub mod agent;
mod child;
pub mod cli;
mod config;
pub mod config_file;
pub mod detect;
pub mod guardian;
pub mod heal;
mod input;
pub mod line;
mod os;
mod output;
mod overlay;
pub mod redact;
pub mod screen;
pub mod shell;
pub mod status;
pub mod supervisor;
mod term;
mod text;
mod watch;

/// How many cases a property test runs: `n`, or `PROPTEST_CASES` when set (a
/// longer fuzz run: `PROPTEST_CASES=200000 cargo test --lib properties`).
#[cfg(test)]
pub(crate) fn proptest_cases(n: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n)
}

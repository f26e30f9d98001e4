//! otorepair: a transparent PTY shim that heals a developer's command with a coding agent.
//!
//! Data flows terminal <-> PTY <-> child; a copy of every output byte goes through
//! [`screen`] into clean [`line::Line`]s for [`detect`]; confirmed errors go to
//! [`agent`]; [`heal`] keeps the breaker, history and snapshots; [`supervisor`]
//! orders it all. Captured text leaves otorepair only through [`redact`].

pub mod agent;
pub mod child;
pub mod cli;
pub mod config;
pub mod config_file;
pub mod detect;
pub mod guardian;
pub mod heal;
pub mod input;
pub mod line;
pub mod os;
pub mod output;
pub mod overlay;
pub mod redact;
pub mod screen;
pub mod shell;
pub mod status;
pub mod supervisor;
pub mod term;
pub mod text;
pub mod watch;

/// How many cases a property test runs: `n`, or `PROPTEST_CASES` when set (a
/// longer fuzz run: `PROPTEST_CASES=200000 cargo test --lib properties`).
#[cfg(test)]
pub(crate) fn proptest_cases(n: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n)
}

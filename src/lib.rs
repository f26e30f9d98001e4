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

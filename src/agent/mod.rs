//! Agent backends: argv table, prompts, triage, stream parsing, process handling.
//!
//! The pieces are deliberately independent of the detector and the supervisor:
//! they take plain strings and paths, so each can be tested alone.
//!
//! - [`backend`]: the one table of supported agent CLIs and the argv they get.
//! - [`prompt`]: triage and fix prompts, with the captured output fenced as data.
//! - [`triage`]: reading the cheap model's `ERROR` / `NO` answer.
//! - [`stream`]: turning each CLI's event stream into [`stream::AgentEvent`]s.
//! - [`process`]: running an agent in its own process group, stoppable as a whole.

pub mod backend;
pub mod process;
pub mod prompt;
pub mod stream;
pub mod triage;

pub use backend::{cursor_auth_check, BackendKind, BackendSetup, Role};
pub use process::{
    run_blocking, spawn_collecting, AgentCommand, AgentOutput, AgentProcess, BlockingOutput,
    ExitOutcome,
};
pub use prompt::{fix_prompt, triage_prompt, AfterFix, FixRequest};
pub use stream::{AgentEvent, StreamParser};
pub use triage::parse_verdict;

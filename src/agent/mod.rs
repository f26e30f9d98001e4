//! Agent backends: argv table, prompts, triage, stream parsing, process handling.

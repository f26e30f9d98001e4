//! Error detection: patterns, rolling buffer, settle, fingerprints.

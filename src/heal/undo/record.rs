//! Undo records: one JSON file per fix in `fixes/` of the state directory,
//! named `<unix ms>-<pid>-<n>.json` so names sort oldest first.
//!
//! A record holds, for each file its fix changed and the snapshot covered, the
//! content before the fix (or that it did not exist) and a hash of the content
//! right after; and the changed files the snapshot could not cover, with why.
//! Kept: the newest [`MAX_RECORDS`]; a record is deleted once everything in it
//! is undone, so only what undo can still use stays. Before-content past
//! [`MAX_CONTENT`] per record is not kept (those files are recorded as not
//! restorable), so a record read back is bounded too ([`MAX_RECORD_BYTES`]).
//! A record that cannot be read is moved aside, never deleted.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::detect::fingerprint::fnv1a64;
use crate::heal::state::{Lock, StateDir, StateError};

const DIR: &str = "fixes";
const LOCK: &str = "fixes.lock";
/// Records kept, newest first.
pub const MAX_RECORDS: usize = 10;
/// Pre-fix content kept in one record.
pub const MAX_CONTENT: u64 = 16 << 20;
/// Largest record read: JSON escapes a byte in at most 6.
pub const MAX_RECORD_BYTES: u64 = 6 * MAX_CONTENT + (1 << 20);

/// A file's content before the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Before {
    /// The fix created the file.
    Missing,
    Text {
        text: String,
    },
    /// Content that is not UTF-8, hex-encoded.
    Bytes {
        hex: String,
    },
}

impl Before {
    pub fn from_bytes(bytes: Vec<u8>) -> Before {
        match String::from_utf8(bytes) {
            Ok(text) => Before::Text { text },
            Err(e) => Before::Bytes {
                hex: e.as_bytes().iter().fold(
                    String::with_capacity(e.as_bytes().len() * 2),
                    |mut hex, b| {
                        let _ = write!(hex, "{b:02x}");
                        hex
                    },
                ),
            },
        }
    }

    /// The content (`None`: the file did not exist).
    pub fn to_bytes(&self) -> Result<Option<Vec<u8>>> {
        Ok(match self {
            Before::Missing => None,
            Before::Text { text } => Some(text.clone().into_bytes()),
            Before::Bytes { hex } => {
                let digits = hex.as_bytes();
                if digits.len() % 2 != 0 {
                    bail!("odd-length hex in an undo record");
                }
                let bytes = digits
                    .chunks(2)
                    .map(|p| {
                        std::str::from_utf8(p)
                            .ok()
                            .and_then(|s| u8::from_str_radix(s, 16).ok())
                    })
                    .collect::<Option<Vec<u8>>>()
                    .context("bad hex in an undo record")?;
                Some(bytes)
            }
        })
    }

    /// Bytes this takes in a record (about).
    fn size(&self) -> u64 {
        match self {
            Before::Missing => 0,
            Before::Text { text } => text.len() as u64,
            Before::Bytes { hex } => hex.len() as u64,
        }
    }
}

/// FNV-1a 64 plus length: enough to notice an edit (this guards against
/// accidents, not adversaries).
pub fn content_hash(bytes: &[u8]) -> String {
    format!("fnv1a64:{:016x}:{}", fnv1a64(bytes), bytes.len())
}

/// One fix's record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub version: u32,
    /// Unix seconds when the fix ended.
    pub time: u64,
    /// Set by version 1 (`.otorepair/last-fix.json`) once undone.
    #[serde(default)]
    pub used: bool,
    pub files: Vec<RecordedFile>,
    #[serde(default)]
    pub not_restorable: Vec<NotRestorable>,
}

/// A changed file undo can restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedFile {
    /// Workspace-relative.
    pub path: String,
    pub before: Before,
    /// [`content_hash`] right after the fix; `None`: the fix deleted the file.
    pub after: Option<String>,
}

/// A changed file undo cannot restore, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotRestorable {
    pub path: String,
    pub reason: String,
}

impl Record {
    /// A record of the fix that ended at `time`: files past [`MAX_CONTENT`] of
    /// pre-fix content move to the not restorable ones.
    pub fn new(
        time: u64,
        files: Vec<RecordedFile>,
        mut not_restorable: Vec<NotRestorable>,
    ) -> Record {
        let mut kept = Vec::new();
        let mut size = 0u64;
        for f in files {
            if size + f.before.size() > MAX_CONTENT {
                not_restorable.push(NotRestorable {
                    path: f.path,
                    reason: format!("over the {} MiB undo budget", MAX_CONTENT >> 20),
                });
            } else {
                size += f.before.size();
                kept.push(f);
            }
        }
        Record {
            version: 2,
            time,
            used: false,
            files: kept,
            not_restorable,
        }
    }

    /// Whether undo has nothing left to do or say with it.
    pub fn is_spent(&self) -> bool {
        self.used || (self.files.is_empty() && self.not_restorable.is_empty())
    }
}

/// What [`Store::load`] found.
#[derive(Debug)]
pub enum Loaded {
    Record(Record),
    /// Could not be read; moved aside (the message names where).
    Corrupt(String),
}

/// The records of one workspace.
#[derive(Debug, Clone)]
pub struct Store {
    dir: StateDir,
}

fn unix_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

impl Store {
    pub fn open(state: &StateDir) -> Result<Store, StateError> {
        Ok(Store {
            dir: state.subdir(DIR)?,
        })
    }

    /// The lock every change of the records takes.
    pub fn lock(&self) -> Result<Lock, StateError> {
        self.dir.lock(LOCK)
    }

    /// Record names, oldest first.
    pub fn ids(&self) -> Result<Vec<String>, StateError> {
        let mut ids: Vec<String> = self
            .dir
            .names()?
            .into_iter()
            .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Adds `record` (as of `millis`, unix milliseconds) and drops the oldest
    /// past [`MAX_RECORDS`]. The caller holds [`Store::lock`]. Returns its name.
    pub fn add(&self, record: &Record, millis: u128) -> Result<String> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let id = format!("{millis:013}-{:010}-{n:04}.json", std::process::id());
        let json = serde_json::to_vec_pretty(record).context("serializing an undo record")?;
        self.dir.write_atomic(&id, &json)?;
        let ids = self.ids()?;
        for old in &ids[..ids.len().saturating_sub(MAX_RECORDS)] {
            self.dir.remove(old)?;
        }
        Ok(id)
    }

    /// Adds `record` now; see [`Store::add`].
    pub fn add_now(&self, record: &Record) -> Result<String> {
        self.add(record, unix_millis())
    }

    /// Reads record `id`; one that does not parse (or is too large) is moved
    /// aside to `<id>.corrupt-<now>`. The caller holds [`Store::lock`].
    pub fn load(&self, id: &str, now: u64) -> Result<Loaded> {
        let why = match self.dir.read(id, MAX_RECORD_BYTES) {
            Ok(Some(bytes)) => match parse(&bytes) {
                Ok(r) => return Ok(Loaded::Record(r)),
                Err(e) => e.to_string(),
            },
            Ok(None) => bail!("undo record {id} vanished"),
            Err(e @ StateError::TooLarge { .. }) => e.to_string(),
            Err(e) => return Err(e.into()),
        };
        let aside = self.dir.move_aside(id, now)?;
        Ok(Loaded::Corrupt(format!(
            "the undo record {} could not be read ({why}); moved it to {}",
            self.dir.path(id).display(),
            aside.display()
        )))
    }

    /// Replaces record `id` (what is left of it after an undo).
    pub fn replace(&self, id: &str, record: &Record) -> Result<()> {
        let json = serde_json::to_vec_pretty(record).context("serializing an undo record")?;
        Ok(self.dir.write_atomic(id, &json)?)
    }

    pub fn remove(&self, id: &str) -> Result<(), StateError> {
        self.dir.remove(id)
    }
}

/// A record from its bytes: any JSON that is not one is an error, never a panic.
pub fn parse(bytes: &[u8]) -> Result<Record, serde_json::Error> {
    serde_json::from_slice(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn store() -> (tempfile::TempDir, Store) {
        let ws = tempfile::TempDir::new().unwrap();
        std::fs::create_dir_all(ws.path().join(".git")).unwrap();
        std::fs::write(ws.path().join(".git/HEAD"), "ref: x\n").unwrap();
        let state = StateDir::open(ws.path()).unwrap();
        let s = Store::open(&state).unwrap();
        (ws, s)
    }

    fn file(path: &str, before: &str) -> RecordedFile {
        RecordedFile {
            path: path.into(),
            before: Before::Text {
                text: before.into(),
            },
            after: None,
        }
    }

    #[test]
    fn keeps_the_newest_ten() {
        let (_ws, s) = store();
        for i in 0..13u128 {
            s.add(
                &Record::new(i as u64, vec![file("a", "x")], vec![]),
                1000 + i,
            )
            .unwrap();
        }
        let ids = s.ids().unwrap();
        assert_eq!(ids.len(), MAX_RECORDS);
        assert!(ids[0].starts_with("0000000001003-"), "{ids:?}");
        let Loaded::Record(r) = s.load(ids.last().unwrap(), 1).unwrap() else {
            panic!()
        };
        assert_eq!(r.time, 12);
    }

    #[test]
    fn content_past_the_budget_is_not_restorable() {
        let big = "x".repeat((MAX_CONTENT / 2 + 1) as usize);
        let r = Record::new(
            1,
            vec![file("a", &big), file("b", &big), file("c", "c")],
            vec![],
        );
        let kept: Vec<&str> = r.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(kept, ["a", "c"]);
        assert_eq!(r.not_restorable[0].path, "b");
        assert!(r.not_restorable[0].reason.contains("undo budget"));
    }

    #[test]
    fn version_one_records_still_parse() {
        let v1 = br#"{"version":1,"time":5,"used":true,"files":[{"path":"a","before":{"kind":"missing"},"after":null}]}"#;
        let r = parse(v1).unwrap();
        assert!(r.used && r.is_spent());
        assert_eq!(r.files[0].before, Before::Missing);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(64)))]

        /// Any bytes: no panic; a record that does not parse is moved aside
        /// byte for byte, never lost.
        #[test]
        fn any_bytes_load_or_are_kept_aside(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let (_ws, s) = store();
            let id = "0000000000001-0000000001-0000.json";
            s.dir.write_atomic(id, &bytes).unwrap();
            match s.load(id, 7).unwrap() {
                Loaded::Record(r) => prop_assert_eq!(Some(r), parse(&bytes).ok()),
                Loaded::Corrupt(msg) => {
                    prop_assert!(msg.contains("moved it to"));
                    let aside = s.dir.path(&format!("{id}.corrupt-7"));
                    prop_assert_eq!(std::fs::read(aside).unwrap(), bytes);
                    prop_assert!(s.ids().unwrap().is_empty());
                }
            }
        }

        /// Valid JSON of the right shape with any strings round-trips.
        #[test]
        fn records_round_trip(path in ".{0,40}", text in ".{0,200}", time in any::<u64>()) {
            let r = Record::new(time, vec![file(&path, &text)], vec![]);
            let json = serde_json::to_vec(&r).unwrap();
            prop_assert_eq!(parse(&json).unwrap(), r);
        }
    }

    #[test]
    fn an_oversized_record_is_moved_aside_without_reading_it_all() {
        let (_ws, s) = store();
        let id = "0000000000001-0000000001-0000.json";
        let f = std::fs::File::create(s.dir.path(id)).unwrap();
        f.set_len(MAX_RECORD_BYTES + 1).unwrap();
        let Loaded::Corrupt(msg) = s.load(id, 3).unwrap() else {
            panic!()
        };
        assert!(msg.contains("larger than"), "{msg}");
    }
}

//! After the fix: what changed since the snapshot (see the parent module).

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, Metadata};

use nix::sys::stat::{FileStat, SFlag};

use super::super::confined::{self, Found};
use super::super::diff::{count_changes, is_binary, lines, FileChange};
use super::super::paths::Resolved;
use super::super::undo::record::{content_hash, Before};
use super::{walk, Changed, Reach, Snapshot, Stamp, Uncovered, MAX_COMPARE, MAX_FILE, MAX_FILES};

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn change(path: &str, added: u32, removed: u32, not_undoable: Option<&Uncovered>) -> FileChange {
    FileChange {
        path: path.to_string(),
        added,
        removed,
        not_undoable: not_undoable.map(ToString::to_string),
    }
}

fn not_undoable(path: &str, why: &Uncovered) -> Changed {
    Changed {
        change: change(path, 0, 0, Some(why)),
        before: None,
        after: None,
    }
}

/// What is at a path now: whether it is a regular file, and its stamp.
type Now = (bool, Stamp);

fn now_of(meta: &Metadata) -> Now {
    (meta.file_type().is_file(), Stamp::of(meta))
}

fn now_of_stat(st: &FileStat) -> Now {
    let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
    (kind == SFlag::S_IFREG, Stamp::of_stat(st))
}

/// What the snapshot has of a path.
#[derive(Clone, Copy)]
enum Known<'s> {
    /// Its content, and its stamp when copied.
    Kept(&'s [u8], &'s Stamp),
    /// Only its stamp, and why.
    NotKept(&'s Stamp, &'s Uncovered),
}

/// One walk thread's findings.
#[derive(Default)]
struct Seen<'s> {
    changed: Vec<(String, Changed)>,
    /// The snapshot's paths the walk found (borrowed: a big tree's worth of
    /// paths is not copied again).
    found: Vec<&'s str>,
}

impl Snapshot {
    /// What changed since the snapshot, sorted by path: the files in `named`
    /// (the agent's tools named them) and, with `everything`, any file the walk
    /// covers.
    pub fn changed(&self, named: &[Resolved], everything: bool) -> Vec<Changed> {
        let mut out: BTreeMap<String, Changed> = BTreeMap::new();
        // The snapshot's files the walk finds now: all of them (the usual
        // case, told by their count: no set of a big tree's paths to build
        // and search), or those in `found`.
        let mut found_all = false;
        let mut found: HashSet<&str> = HashSet::new();
        if everything {
            let seen = walk::visit_files(
                &self.workspace,
                MAX_FILES,
                Seen::default,
                |seen, rel, st| {
                    let known = self.known(rel);
                    let now = Some(now_of_stat(st));
                    if let Some(c) = self.compare_known(rel, known.map(|k| k.1), true, now) {
                        seen.changed.push((rel.to_string(), c));
                    }
                    if let Some((k, _)) = known {
                        seen.found.push(k);
                    }
                },
            );
            let mut found_in = Vec::new();
            for s in seen {
                out.extend(s.changed);
                found_in.push(s.found);
            }
            // Each path is walked once, and the two maps do not share one.
            let count: usize = found_in.iter().map(Vec::len).sum();
            found_all = count == self.kept.len() + self.not_kept.len();
            if !found_all {
                found = found_in.into_iter().flatten().collect();
                let gone: Vec<&str> = self
                    .kept
                    .keys()
                    .chain(self.not_kept.keys())
                    .map(|r| &**r)
                    .filter(|r| !found.contains(*r))
                    .collect();
                for rel in gone {
                    if let Some(c) = self.compare(rel, true) {
                        out.insert(rel.to_string(), c);
                    }
                }
            }
        }
        for name in named {
            let shown = name.shown();
            let walked = if found_all {
                self.known(&shown).is_some()
            } else {
                found.contains(shown.as_str())
            };
            if walked || out.contains_key(&shown) {
                continue;
            }
            let change = match name {
                Resolved::Inside(rel) => self.compare(rel, false),
                Resolved::Outside(path) => {
                    let now = fs::symlink_metadata(path).ok();
                    let after = now.is_some_and(|m| self.after_start(&Stamp::of(&m)));
                    after.then(|| not_undoable(&shown, &Uncovered::Outside))
                }
            };
            if let Some(c) = change {
                out.insert(shown, c);
            }
        }
        out.into_values().collect()
    }

    /// Whether a file so stamped may have been changed since the fix started.
    fn after_start(&self, stamp: &Stamp) -> bool {
        self.epoch.maybe_after(stamp.dev, stamp.ctime)
    }

    /// What the snapshot has of `rel`, with its own copy of the path.
    fn known(&self, rel: &str) -> Option<(&str, Known<'_>)> {
        if let Some((k, (old, stamp))) = self.kept.get_key_value(rel) {
            return Some((k, Known::Kept(old, stamp)));
        }
        let (k, (stamp, why)) = self.not_kept.get_key_value(rel)?;
        Some((k, Known::NotKept(stamp, why)))
    }

    /// How `rel` differs from the snapshot, if it does, as it is now on disk.
    /// `walked`: the walk found it now (or it was walked before), so it is
    /// not ignored.
    fn compare(&self, rel: &str, walked: bool) -> Option<Changed> {
        let now = fs::symlink_metadata(self.workspace.join(rel)).ok();
        let known = self.known(rel).map(|k| k.1);
        self.compare_known(rel, known, walked, now.as_ref().map(now_of))
    }

    /// [`Self::compare`], given what the snapshot has of `rel` and what is
    /// there now (`None`: nothing).
    fn compare_known(
        &self,
        rel: &str,
        known: Option<Known<'_>>,
        walked: bool,
        now: Option<Now>,
    ) -> Option<Changed> {
        if let Some(Known::Kept(old, stamp)) = known {
            // A stamp from after the start (an error's file read then) does
            // not prove the content the same: read it.
            let racy = self.after_start(stamp);
            let same_stamp = matches!(&now, Some((true, s)) if s == stamp);
            if same_stamp && !racy {
                return None;
            }
            return match confined::read(&self.workspace, rel, MAX_COMPARE) {
                Ok(Found::File(now)) if *now == *old => None,
                Ok(Found::File(now)) => {
                    let (added, removed) = if is_binary(&now) {
                        (0, saturate(lines(old).len()))
                    } else {
                        count_changes(old, &now)
                    };
                    Some(Changed {
                        change: change(rel, added, removed, None),
                        before: Some(Before::from_bytes(old.to_vec())),
                        after: Some(content_hash(&now)),
                    })
                }
                Ok(Found::Missing) => Some(Changed {
                    change: change(rel, 0, saturate(lines(old).len()), None),
                    before: Some(Before::from_bytes(old.to_vec())),
                    after: None,
                }),
                Ok(Found::TooLarge(_)) => Some(not_undoable(
                    rel,
                    &Uncovered::Unreachable("grown past 64 MiB"),
                )),
                Ok(Found::Unreachable(why)) => {
                    Some(not_undoable(rel, &Uncovered::Unreachable(why)))
                }
                Err(_) => Some(not_undoable(rel, &Uncovered::Unreachable("unreadable"))),
            };
        }
        if let Some(Known::NotKept(stamp, why)) = known {
            // Already changed when the background copy reached it: the
            // change is the fix's (or made during it), whatever follows.
            if *why == Uncovered::Raced {
                return Some(not_undoable(rel, why));
            }
            let same = now.as_ref().is_some_and(|(_, s)| s == stamp);
            return (!same).then(|| not_undoable(rel, why));
        }
        // Not there at the snapshot, or never walked.
        let after = self.after_start(&now?.1);
        if !walked {
            if let Some(why) = walk::left_out(&self.workspace, rel) {
                // Ignored or skipped: it may have been there all along.
                return after.then(|| not_undoable(rel, &why));
            }
        }
        let unseen = match self.reach {
            Reach::Complete => None,
            Reach::Limit => Some(Uncovered::OverBudget),
            Reach::Stopped => Some(Uncovered::Raced),
        };
        if let Some(why) = unseen {
            // Past where the walk got: it may have been there all along, too.
            return after.then(|| not_undoable(rel, &why));
        }
        let found = confined::read(&self.workspace, rel, MAX_FILE).ok()?;
        match found {
            Found::File(now) => {
                let added = if is_binary(&now) {
                    0
                } else {
                    saturate(lines(&now).len())
                };
                Some(Changed {
                    change: change(rel, added, 0, None),
                    before: Some(Before::Missing),
                    after: Some(content_hash(&now)),
                })
            }
            Found::TooLarge(_) => Some(not_undoable(rel, &Uncovered::TooLarge)),
            Found::Unreachable(why) => Some(not_undoable(rel, &Uncovered::Unreachable(why))),
            Found::Missing => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{take, write};
    use super::super::*;
    use crate::heal::paths::Resolved;
    use crate::heal::undo::record::Before;
    use std::fs;
    use std::time::{Duration, SystemTime};

    fn summary(changed: &[Changed]) -> Vec<(String, u32, u32, Option<String>)> {
        changed
            .iter()
            .map(|c| {
                let f = &c.change;
                (f.path.clone(), f.added, f.removed, f.not_undoable.clone())
            })
            .collect()
    }

    #[test]
    fn sees_edits_creations_deletions_and_what_it_could_not_copy() {
        let ws = tempfile::TempDir::new().unwrap();
        let d = ws.path();
        write(d, "app.py", b"a\nb\n");
        write(d, "old.py", b"1\n2\n3\n");
        write(d, "blob.bin", b"\0\x01");
        write(d, "big.txt", &vec![b'x'; MAX_FILE as usize + 1]);
        write(d, "node_modules/dep.js", b"dep\n");
        let snap = take(d, &[], d);
        assert_eq!(snap.counts().0, 2);
        write(d, "app.py", b"a\nc\nd\n");
        write(d, "new/mod.py", b"n\n");
        fs::remove_file(d.join("old.py")).unwrap();
        write(d, "blob.bin", b"\0\x02\x03");
        write(d, "big.txt", b"small now\n");
        write(d, "node_modules/dep.js", b"changed\n");
        let all = snap.changed(&[], true);
        assert_eq!(
            summary(&all),
            [
                ("app.py".into(), 2, 1, None),
                ("big.txt".into(), 0, 0, Some("larger than 1 MiB".into())),
                ("blob.bin".into(), 0, 0, Some("binary".into())),
                ("new/mod.py".into(), 1, 0, None),
                ("old.py".into(), 0, 3, None),
            ]
        );
        assert_eq!(all[3].before, Some(Before::Missing));
        assert_eq!(all[4].after, None);
        // Only what the agent named: the dependency it edited counts too.
        let named = [
            Resolved::Inside("app.py".into()),
            Resolved::Inside("node_modules/dep.js".into()),
            Resolved::Inside("unchanged/missing.py".into()),
        ];
        assert_eq!(
            summary(&snap.changed(&named, false)),
            [
                ("app.py".into(), 2, 1, None),
                (
                    "node_modules/dep.js".into(),
                    0,
                    0,
                    Some("in node_modules/".into())
                ),
            ]
        );
    }

    #[test]
    fn the_whole_walk_finds_every_change_in_a_wide_tree() {
        let ws = tempfile::TempDir::new().unwrap();
        let d = ws.path();
        for i in 0..30 {
            for f in 0..5 {
                write(d, &format!("pkg{i:02}/m{f}.py"), b"x\n");
            }
        }
        let snap = take(d, &[], d);
        assert_eq!((snap.counts().0, snap.reach()), (150, Reach::Complete));
        let mut want = Vec::new();
        for i in (0..30).step_by(7) {
            let rel = format!("pkg{i:02}/m1.py");
            write(d, &rel, b"y\n");
            want.push((rel, 1, 1, None));
        }
        for i in (3..30).step_by(9) {
            let rel = format!("pkg{i:02}/m2.py");
            fs::remove_file(d.join(&rel)).unwrap();
            want.push((rel, 0, 1, None));
        }
        fs::remove_dir_all(d.join("pkg29")).unwrap();
        for f in 0..5 {
            want.push((format!("pkg29/m{f}.py"), 0, 1, None));
        }
        write(d, "pkg30/new.py", b"n\n");
        want.push(("pkg30/new.py".into(), 1, 0, None));
        want.sort();
        assert_eq!(summary(&snap.changed(&[], true)), want);
    }

    #[test]
    fn named_files_count_once_beside_the_whole_walk_with_or_without_deletions() {
        let ws = tempfile::TempDir::new().unwrap();
        let d = ws.path();
        for f in ["app.py", "same.py", "gone.py", "node_modules/dep.js"] {
            write(d, f, b"x\n");
        }
        let snap = take(d, &[], d);
        write(d, "app.py", b"y\n");
        write(d, "node_modules/dep.js", b"y\n");
        let named = [
            Resolved::Inside("app.py".into()),
            Resolved::Inside("same.py".into()),
            Resolved::Inside("node_modules/dep.js".into()),
        ];
        let dep = (
            "node_modules/dep.js".to_string(),
            0,
            0,
            Some("in node_modules/".to_string()),
        );
        let app = ("app.py".to_string(), 1, 1, None);
        // The walk finds every file of the snapshot...
        let got = summary(&snap.changed(&named, true));
        assert_eq!(got, [app.clone(), dep.clone()]);
        // ... or not.
        fs::remove_file(d.join("gone.py")).unwrap();
        let got = summary(&snap.changed(&named, true));
        assert_eq!(got, [app, ("gone.py".into(), 0, 1, None), dep]);
    }

    #[test]
    fn a_file_it_never_saw_counts_only_when_changed_after_the_start() {
        let ws = tempfile::TempDir::new().unwrap();
        let d = ws.path();
        write(d, "node_modules/old.js", b"old\n");
        write(d, "node_modules/new.js", b"old\n");
        // An mtime set back hides nothing: the ctime says when it changed.
        let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
        let outside = tempfile::NamedTempFile::new().unwrap();
        let snap = take(d, &[], d);
        write(d, "node_modules/new.js", b"new\n");
        fs::File::options()
            .write(true)
            .open(d.join("node_modules/new.js"))
            .unwrap()
            .set_modified(an_hour_ago)
            .unwrap();
        let named = [
            Resolved::Inside("node_modules/old.js".into()),
            Resolved::Inside("node_modules/new.js".into()),
        ];
        assert_eq!(
            summary(&snap.changed(&named, false)),
            [(
                "node_modules/new.js".into(),
                0,
                0,
                Some("in node_modules/".into())
            )]
        );
        let named = [Resolved::Outside(outside.path().to_path_buf())];
        assert!(snap.changed(&named, false).is_empty());
        fs::write(outside.path(), "changed").unwrap();
        let got = snap.changed(&named, false);
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].change.not_undoable.as_deref(),
            Some("outside the workspace")
        );
    }

    #[test]
    fn past_the_walk_the_error_s_files_come_first_and_new_files_are_not_undoable() {
        let ws = tempfile::TempDir::new().unwrap();
        let d = ws.path();
        for f in ["a.py", "b.py", "c.py", "d.py"] {
            write(d, f, b"x\n");
        }
        let first = ["c.py".to_string(), "missing.py".into(), "../x".into()];
        let mut snap = take(d, &first, d);
        // As if the walk had stopped after the error's file.
        snap.kept.retain(|rel, _| &**rel == "c.py");
        for reach in [Reach::Limit, Reach::Stopped] {
            snap.reach = reach;
            write(d, "c.py", b"y\n");
            write(d, "new.py", b"n\n");
            let named = [
                Resolved::Inside("c.py".into()),
                Resolved::Inside("new.py".into()),
                Resolved::Inside("a.py".into()),
            ];
            let got = summary(&snap.changed(&named, false));
            assert_eq!(got.len(), 2, "{got:?}");
            assert_eq!(got[0], ("c.py".into(), 1, 1, None));
            assert_eq!(got[1].0, "new.py");
            let why = got[1].3.as_deref().unwrap();
            match reach {
                Reach::Limit => assert!(why.starts_with("over the snapshot budget"), "{why}"),
                _ => assert_eq!(why, "changed before the snapshot reached it"),
            }
        }
    }
}

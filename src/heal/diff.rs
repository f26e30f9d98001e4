//! What a fix changed: per-file `+`/`-` line counts.
//!
//! Counting: lines are split on `\n` and compared as bytes. After trimming the
//! common prefix and suffix, the exact edit distance is found with Myers' greedy
//! algorithm (O((N+M)·D) time, O(N+M) memory, no edit script kept). When the
//! distance would exceed [`MAX_EXACT_EDITS`] (huge rewrites, where exactness is
//! not worth the time) the counts fall back to a multiset difference: a line
//! counts as added for each extra occurrence in the new text and as removed for
//! each extra occurrence in the old one. That approximation ignores moves, so it
//! can only under-count.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// One file a fix changed. Created files have `removed == 0`, deleted ones
/// `added == 0`; binary files, and files the snapshot did not cover, are listed
/// with both 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    /// Workspace-relative, `/`-separated (absolute when outside the workspace).
    pub path: String,
    pub added: u32,
    pub removed: u32,
    /// Why undo cannot take this change back (`git-ignored`, `larger than 1
    /// MiB`, ...); absent when it can.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_undoable: Option<String>,
}

impl std::fmt::Display for FileChange {
    /// `app.py +1 -1`, or `.env changed (not undoable: git-ignored)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.not_undoable {
            None => write!(f, "{} +{} -{}", self.path, self.added, self.removed),
            Some(why) => write!(f, "{} changed (not undoable: {why})", self.path),
        }
    }
}

/// Past this many line edits, counting switches to the multiset approximation.
pub const MAX_EXACT_EDITS: usize = 4096;

/// Lines of `text`; a final line without `\n` counts, an empty text has none.
pub fn lines(text: &[u8]) -> Vec<&[u8]> {
    if text.is_empty() {
        return Vec::new();
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    body.split(|&b| b == b'\n').collect()
}

/// Whether `content` looks binary: a NUL byte in its first 8 KiB (git's rule).
pub fn is_binary(content: &[u8]) -> bool {
    content[..content.len().min(8192)].contains(&0)
}

/// `(added, removed)` lines going from `old` to `new` (see module docs).
pub fn count_changes(old: &[u8], new: &[u8]) -> (u32, u32) {
    let a = lines(old);
    let b = lines(new);
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[prefix..], &b[prefix..]);
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a, b) = (&a[..a.len() - suffix], &b[..b.len() - suffix]);
    let (added, removed) = match myers_distance(a, b, MAX_EXACT_EDITS) {
        Some(d) => {
            // d = added + removed and added - removed = |b| - |a|.
            let added = (d + b.len() - a.len()) / 2;
            (added, d - added)
        }
        None => multiset_difference(a, b),
    };
    (saturate(added), saturate(removed))
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Shortest edit distance (insertions + deletions), or `None` past `limit`.
fn myers_distance(a: &[&[u8]], b: &[&[u8]], limit: usize) -> Option<usize> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let max = (a.len() + b.len()).min(limit) as isize;
    let offset = max + 1;
    let mut v = vec![0isize; 2 * max as usize + 3];
    for d in 0..=max {
        let mut k = -d;
        while k <= d {
            let idx = (k + offset) as usize;
            let mut x = if k == -d || (k != d && v[idx - 1] < v[idx + 1]) {
                v[idx + 1]
            } else {
                v[idx - 1] + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[idx] = x;
            if x >= n && y >= m {
                return Some(d as usize);
            }
            k += 2;
        }
    }
    None
}

fn multiset_difference(a: &[&[u8]], b: &[&[u8]]) -> (usize, usize) {
    let mut counts: HashMap<&[u8], isize> = HashMap::new();
    for line in a {
        *counts.entry(line).or_default() -= 1;
    }
    for line in b {
        *counts.entry(line).or_default() += 1;
    }
    counts.values().fold((0, 0), |(add, rem), &c| {
        if c > 0 {
            (add + c as usize, rem)
        } else {
            (add, rem + (-c) as usize)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_simple_edits() {
        assert_eq!(count_changes(b"", b""), (0, 0));
        assert_eq!(count_changes(b"a\nb\n", b"a\nb\n"), (0, 0));
        assert_eq!(count_changes(b"", b"a\nb\n"), (2, 0));
        assert_eq!(count_changes(b"a\nb\n", b""), (0, 2));
        assert_eq!(count_changes(b"a\nb\nc\n", b"a\nB\nc\n"), (1, 1));
        assert_eq!(count_changes(b"a\nb\nc\n", b"a\nc\n"), (0, 1));
        assert_eq!(count_changes(b"a\nc\n", b"a\nb\nb2\nc\n"), (2, 0));
        // No final newline: the last line still counts, and changes when one is added.
        assert_eq!(count_changes(b"a\nb", b"a\nb\n"), (0, 0));
        assert_eq!(count_changes(b"x\ny\nz\n", b"z\ny\nx\n"), (2, 2));
    }

    #[test]
    fn matches_git_on_a_reordering() {
        let old = b"1\n2\n3\n4\n5\n6\n";
        let new = b"1\n3\n2\n4\n6\n7\n";
        // LCS = 1,2,4,6 (or 1,3,4,6): 4 kept, 2 removed, 2 added.
        assert_eq!(count_changes(old, new), (2, 2));
    }

    #[test]
    fn huge_rewrites_fall_back_to_multiset() {
        let old: String = (0..6000).map(|i| format!("old {i}\n")).collect();
        let new: String = (0..5000).map(|i| format!("new {i}\n")).collect();
        assert_eq!(count_changes(old.as_bytes(), new.as_bytes()), (5000, 6000));
    }

    #[test]
    fn binary_detection() {
        assert!(is_binary(b"ab\0cd"));
        assert!(!is_binary(b"plain text\n"));
    }
}

//! Stable error identity and the one-line summary.
//!
//! The fingerprint hashes the error kind, its message with the volatile parts
//! (numbers, hex addresses, UUIDs, timestamps, ports, PIDs) replaced, and the
//! innermost frame's file basename and function. Line numbers stay out, so a fix
//! that moves code does not make the same bug look new. The hash is FNV-1a 64,
//! implemented here, because std's `DefaultHasher` may change between Rust versions
//! and fingerprints are stored in the history file (`history.json` in the state
//! directory).

use regex::Regex;
use std::sync::OnceLock;

/// Longest summary, in chars, before it is cut with an ellipsis.
pub const SUMMARY_MAX: usize = 200;

/// FNV-1a, 64 bit.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The last path component (`/a/b/app.py` -> `app.py`, `C:\x\y.js` -> `y.js`).
pub fn basename(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// Replace the parts of a message that change between two runs of the same bug:
/// UUIDs, hex addresses and long hex ids, and every digit run (ports, PIDs,
/// timestamps, counters, line numbers).
pub fn normalize(msg: &str) -> String {
    static UUID: OnceLock<Regex> = OnceLock::new();
    static HEX: OnceLock<Regex> = OnceLock::new();
    let uuid = UUID.get_or_init(|| {
        Regex::new(r"(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
            .expect("built-in pattern compiles")
    });
    let hex = HEX.get_or_init(|| {
        Regex::new(r"(?i)\b0x[0-9a-f]+\b|\b[0-9a-f]*[0-9][0-9a-f]*[a-f][0-9a-f]*\b|\b[0-9a-f]*[a-f][0-9a-f]*[0-9][0-9a-f]*\b")
            .expect("built-in pattern compiles")
    });
    let s = uuid.replace_all(msg, "<uuid>");
    // Hex words need 8+ chars to count as ids: `e0425` or `abc1` stay words.
    let s = hex.replace_all(&s, |c: &regex::Captures<'_>| {
        let m = &c[0];
        if m.len() >= 8 || m.starts_with("0x") || m.starts_with("0X") {
            "<hex>".to_string()
        } else {
            m.to_string()
        }
    });
    let mut out = String::with_capacity(s.len());
    let mut in_digits = false;
    for ch in s.chars() {
        if ch.is_ascii_digit() {
            if !in_digits {
                out.push('N');
            }
            in_digits = true;
        } else {
            in_digits = false;
            out.push(ch);
        }
    }
    out.trim().to_string()
}

/// 16 hex chars from the error's stable parts. `file` is reduced to its basename.
pub fn fingerprint(
    ecosystem: &str,
    kind: &str,
    message: &str,
    file: Option<&str>,
    func: Option<&str>,
) -> String {
    let mut key = String::new();
    for part in [
        ecosystem,
        &normalize(kind),
        &normalize(message),
        file.map(basename).unwrap_or(""),
        func.unwrap_or(""),
    ] {
        key.push_str(part);
        key.push('\u{1f}');
    }
    id_of(&key)
}

/// The fingerprint of an identity key: its FNV-1a 64 hash in 16 hex digits.
pub fn id_of(key: &str) -> String {
    format!("{:016x}", fnv1a64(key.as_bytes()))
}

/// Functions that name nothing useful in a summary.
fn is_anonymous(func: &str) -> bool {
    matches!(func, "<module>" | "Object.<anonymous>" | "<anonymous>")
}

/// `KeyError: 'total' in index (flaskapp.py)`, capped at [`SUMMARY_MAX`] chars.
pub fn summary(kind: &str, message: &str, func: Option<&str>, file: Option<&str>) -> String {
    let mut s = String::from(kind.trim());
    if !message.is_empty() {
        s.push_str(": ");
        s.push_str(message.trim());
    }
    if let Some(f) = func.filter(|f| !is_anonymous(f)) {
        s.push_str(" in ");
        s.push_str(f);
    }
    if let Some(p) = file {
        s.push_str(" (");
        s.push_str(basename(p));
        s.push(')');
    }
    // Keep it one line whatever the child printed.
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    cap(&s, SUMMARY_MAX)
}

fn cap(s: &str, max: usize) -> String {
    crate::text::ellipsize(s, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_is_the_reference_fnv1a() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
    }

    #[test]
    fn normalize_replaces_volatile_parts() {
        assert_eq!(
            normalize("listen EADDRINUSE: address already in use :::3000"),
            "listen EADDRINUSE: address already in use :::N"
        );
        assert_eq!(
            normalize("pid 4242 at 2024-01-02T03:04:05Z obj 0x7ffd1234abcd"),
            "pid N at N-N-NTN:N:NZ obj <hex>"
        );
        assert_eq!(
            normalize("user 123e4567-e89b-12d3-a456-426614174000 gone"),
            "user <uuid> gone"
        );
        assert_eq!(
            normalize("commit deadbeef12 missing"),
            "commit <hex> missing"
        );
        assert_eq!(normalize("KeyError 'total'"), "KeyError 'total'");
    }

    #[test]
    fn fingerprint_ignores_lines_and_paths_but_not_kind() {
        let a = fingerprint(
            "python",
            "KeyError",
            "'total'",
            Some("/a/app.py"),
            Some("index"),
        );
        let b = fingerprint(
            "python",
            "KeyError",
            "'total'",
            Some("/b/app.py"),
            Some("index"),
        );
        let c = fingerprint(
            "python",
            "KeyError",
            "'count'",
            Some("/a/app.py"),
            Some("index"),
        );
        let d = fingerprint(
            "python",
            "TypeError",
            "'total'",
            Some("/a/app.py"),
            Some("index"),
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn summary_is_one_capped_line() {
        assert_eq!(
            summary("KeyError", "'total'", Some("index"), Some("/x/flaskapp.py")),
            "KeyError: 'total' in index (flaskapp.py)"
        );
        let long = "x".repeat(500);
        let s = summary("E", &long, None, None);
        assert_eq!(s.chars().count(), SUMMARY_MAX);
        assert!(!summary("E", "a\nb", None, None).contains('\n'));
    }
}

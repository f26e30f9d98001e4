//! Turning what toml and regex reject into a [`ConfigError`] a person can act on:
//! `FILE:LINE: message` naming the key, with a "did you mean" hint for a
//! misspelt key.
//!
//! toml reports a byte span and a message in its own words; the line comes from
//! the span, the key from parsing the document again with spans and finding
//! what covers that position, and the message is shortened to one line.

use std::ops::Range;
use std::path::Path;

use super::{ConfigError, KEYS};

/// What each key takes, for type errors.
fn expected(key: &str) -> &'static str {
    match key {
        "backend" => "a backend name in quotes",
        "agent_cmd" | "triage_cmd" | "verify" => "a command line in quotes",
        "fix_timeout" | "triage_timeout" | "settle" | "reload_timeout" | "verify_timeout" => {
            "a number of seconds"
        }
        "max_attempts" => "a whole number from 1 to 100",
        "on_fix" => "\"auto\", \"restart\" or \"wait\"",
        "allow_shell" | "pty" => "true or false",
        "events" => "a file path in quotes",
        "detect" => "a table: [detect]",
        "detect.patterns" | "detect.ignores" => "an array of regex strings",
        _ => "another type",
    }
}

/// Turns toml's error into ours: the line from its span, the key from the spanned
/// document (found again by position), and a shorter message.
pub(super) fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let span = e.span();
    let line = span.as_ref().map(|s| line_of(text, s.start));
    let key = span.as_ref().and_then(|s| key_at(text, s.start));
    let raw = e.message().trim();
    let (message, hint) = if let Some(rest) = raw.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        let full = match key.as_deref() {
            Some(k) if k.ends_with(name) => k.to_string(),
            _ => name.to_string(),
        };
        let hint = match closest_key(&full) {
            Some(k) => format!("did you mean '{k}'?"),
            None => format!("known keys: {}", KEYS.join(", ")),
        };
        (format!("unknown key '{full}'"), Some(hint))
    } else if let (Some(k), Some(found)) = (key.as_deref(), raw.strip_prefix("invalid type: ")) {
        let found = found.split(", expected").next().unwrap_or(found);
        (
            format!(
                "wrong type for '{k}': expected {}, found {found}",
                expected(k)
            ),
            None,
        )
    } else {
        // A syntax error or anything else: toml's own words, first line only,
        // and the offending line itself when no key could be found.
        let first = raw.lines().next().unwrap_or(raw);
        match (key.as_deref(), &span) {
            (Some(k), _) => (format!("'{k}': {first}"), None),
            (None, Some(s)) => match source_line(text, s.start) {
                Some(src) => (format!("{first}: {src}"), None),
                None => (first.to_string(), None),
            },
            (None, None) => (first.to_string(), None),
        }
    };
    ConfigError {
        file: path.to_path_buf(),
        line,
        key,
        message,
        hint,
    }
}

/// The 1-based line of byte `offset`.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    1 + text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// The trimmed text of the line holding byte `offset`, cut to 60 characters;
/// `None` if blank.
fn source_line(text: &str, offset: usize) -> Option<String> {
    let line = text.lines().nth(line_of(text, offset) - 1)?.trim();
    if line.is_empty() {
        return None;
    }
    let mut cut: String = line.chars().take(60).collect();
    if cut.len() < line.len() {
        cut.push_str("...");
    }
    Some(cut)
}

/// The dotted key whose name or value covers byte `offset` (deepest first), by
/// parsing the document again with spans. `None` for a syntax error.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    find_key(doc.get_ref(), offset, "")
}

fn find_key(table: &toml::de::DeTable<'_>, offset: usize, prefix: &str) -> Option<String> {
    let covers = |r: Range<usize>| r.contains(&offset) || (r.is_empty() && r.start == offset);
    for (k, v) in table.iter() {
        let path = format!("{prefix}{}", k.get_ref());
        if let toml::de::DeValue::Table(inner) = v.get_ref() {
            if let Some(found) = find_key(inner, offset, &format!("{path}.")) {
                return Some(found);
            }
        }
        if covers(k.span()) || covers(v.span()) {
            return Some(path);
        }
    }
    None
}

/// The known key nearest to a misspelt one, if it is close enough to be a typo.
fn closest_key(name: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The regex crate's reason on one line (its syntax errors draw a caret diagram).
pub(super) fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or_else(|| text.lines().next().unwrap_or("invalid"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::super::tests::err;

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let e = err("backend = \"codex\"\n\nfix_timout = 3\n");
        assert_eq!(
            e.to_string(),
            "/p/.otorepair.toml:3: unknown key 'fix_timout'"
        );
        assert_eq!(e.key.as_deref(), Some("fix_timout"));
        assert_eq!(e.hint.as_deref(), Some("did you mean 'fix_timeout'?"));
        let e = err("[detect]\npatterns = []\npattern = ['x']\n");
        assert_eq!(e.line, Some(3), "{e}");
        assert_eq!(e.message, "unknown key 'detect.pattern'");
        assert_eq!(e.hint.as_deref(), Some("did you mean 'detect.patterns'?"));
        let e = err("colour = true\n");
        assert_eq!(e.message, "unknown key 'colour'");
        assert!(e.hint.unwrap().starts_with("known keys: backend"));
    }

    #[test]
    fn wrong_types_name_the_key() {
        for (text, line, key) in [
            ("fix_timeout = \"soon\"\n", 1, "fix_timeout"),
            ("\nallow_shell = \"yes\"\n", 2, "allow_shell"),
            ("max_attempts = 2.5\n", 1, "max_attempts"),
            ("backend = 3\n", 1, "backend"),
            ("[detect]\npatterns = 'x'\n", 2, "detect.patterns"),
            (
                "[detect]\nignores = [\n  'ok',\n  7,\n]\n",
                4,
                "detect.ignores",
            ),
            ("detect = 1\n", 1, "detect"),
        ] {
            let e = err(text);
            assert_eq!(e.line, Some(line), "{text:?}: {e}");
            assert_eq!(e.key.as_deref(), Some(key), "{text:?}: {e}");
            assert!(
                e.message.starts_with(&format!("wrong type for '{key}'")),
                "{text:?}: {e}"
            );
        }
        let e = err("fix_timeout = \"soon\"\n");
        assert_eq!(
            e.to_string(),
            "/p/.otorepair.toml:1: wrong type for 'fix_timeout': expected a number of seconds, found string \"soon\""
        );
    }

    #[test]
    fn bad_regex_names_its_line() {
        let e = err("[detect]\npatterns = [\n  'fine',\n  '(unclosed',\n]\n");
        assert_eq!(e.line, Some(4), "{e}");
        assert_eq!(e.key.as_deref(), Some("detect.patterns"));
        assert_eq!(
            e.to_string(),
            "/p/.otorepair.toml:4: invalid regex \"(unclosed\" in 'detect.patterns': unclosed group"
        );
        let e = err("[detect]\nignores = ['[z-a]']\n");
        assert_eq!(e.line, Some(2));
        assert_eq!(e.key.as_deref(), Some("detect.ignores"));
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let e = err("backend = \"codex\"\nsettle = \n");
        assert_eq!(e.line, Some(2), "{e}");
        let e = err("backend = \"codex\"\nbackend = \"claude\"\n");
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.ends_with(": backend = \"claude\""), "{e}");
        let e = err("x = [\n");
        assert_eq!(e.line, Some(1), "{e}");
    }

    #[test]
    fn dotted_keys_are_found_too() {
        let e = err("detect.patterns = ['(']\n");
        assert_eq!(e.key.as_deref(), Some("detect.patterns"));
        let e = err("detect.oops = 1\n");
        assert_eq!(e.message, "unknown key 'detect.oops'", "{e}");
        assert_eq!(e.line, Some(1));
    }
}

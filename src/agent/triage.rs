//! Reading the triage model's answer.
//!
//! Models do not always answer with one bare word: they add fences, Markdown,
//! punctuation or a sentence. The rules, in order:
//! 1. the first word of the answer, if it is `ERROR` or `NO` (any case);
//! 2. the first line that is only `ERROR` or `NO` once decoration is removed;
//! 3. the first upper-case `ERROR` or `NO` word anywhere (chatter uses lower case),
//!    after removing echoes of the question ("ERROR or NO").
//!
//! Anything else is ambiguous and yields `None`, so the caller can choose a default.

use regex::Regex;
use std::sync::OnceLock;

/// `Some(true)` for an error that needs a fix, `Some(false)` for benign output,
/// `None` when the answer says neither clearly.
pub fn parse_verdict(answer: &str) -> Option<bool> {
    let body: Vec<&str> = answer
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("```") && !l.starts_with("~~~"))
        .collect();
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric() && c != '_')
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    };
    let decide = |w: &str| -> Option<bool> {
        match w.to_ascii_uppercase().as_str() {
            "ERROR" => Some(true),
            "NO" => Some(false),
            _ => None,
        }
    };
    // Rule 1: the first word.
    if let Some(first) = body.first().and_then(|l| words(l).into_iter().next()) {
        if let Some(v) = decide(&first) {
            return Some(v);
        }
    }
    // Rule 2: a line that is just the verdict.
    for line in &body {
        let w = words(line);
        if w.len() == 1 {
            if let Some(v) = decide(&w[0]) {
                return Some(v);
            }
        }
    }
    // Rule 3: the first upper-case verdict word, ignoring echoes of the question.
    static ECHO: OnceLock<Option<Regex>> = OnceLock::new();
    let echo = ECHO.get_or_init(|| Regex::new(r"ERROR\s*(?:or|OR|/|\|)\s*NO\b").ok());
    let joined = body.join("\n");
    let cleaned = match echo {
        Some(re) => re.replace_all(&joined, " ").into_owned(),
        None => joined,
    };
    words(&cleaned)
        .iter()
        .find(|w| w.as_str() == "ERROR" || w.as_str() == "NO")
        .and_then(|w| decide(w))
}

#[cfg(test)]
mod tests {
    use super::parse_verdict;

    #[test]
    fn bare_answers_in_any_case() {
        for (a, v) in [
            ("ERROR", true),
            ("error", true),
            ("  Error.\n", true),
            ("NO", false),
            ("no", false),
            ("No.", false),
            ("**NO**", false),
        ] {
            assert_eq!(parse_verdict(a), Some(v), "{a:?}");
        }
    }

    #[test]
    fn fences_and_chatter() {
        assert_eq!(parse_verdict("```\nERROR\n```"), Some(true));
        assert_eq!(parse_verdict("```text\nNO\n```\n"), Some(false));
        assert_eq!(
            parse_verdict("Looking at the traceback, this is a crash.\n\nERROR"),
            Some(true)
        );
        assert_eq!(
            parse_verdict("The log only mentions an error it handled, so: NO"),
            Some(false)
        );
        assert_eq!(
            parse_verdict("Answer (ERROR or NO): ERROR, the import failed"),
            Some(true)
        );
        // A word containing "error" is not a verdict.
        assert_eq!(parse_verdict("TypeError seen, verdict: NO"), Some(false));
    }

    #[test]
    fn ambiguous_is_none() {
        assert_eq!(parse_verdict(""), None);
        assert_eq!(parse_verdict("```\n```"), None);
        assert_eq!(parse_verdict("I am not sure what this is."), None);
        assert_eq!(parse_verdict("there is an error here, maybe"), None);
    }
}

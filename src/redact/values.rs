//! Which values are secrets, once a name says they might be: not placeholders,
//! not code, and for the loose forms and weak names, values that look random.

use std::sync::OnceLock;

use regex::Regex;

/// Values shorter than this (in bytes) are not masked (this bounds how much a mask can grow the text).
const MIN_VALUE_LEN: usize = 3;

/// Type names in source lines and declarations (`password: str`, `token: string;`).
const TYPE_NAMES: &[&str] = &[
    "str",
    "string",
    "bytes",
    "int",
    "number",
    "bool",
    "boolean",
    "text",
    "secretstr",
    "optional[str]",
    "option<string>",
    "&str",
    "char",
    "varchar",
    "any",
    "object",
];

/// A value that stands for a secret without being one: masks, template
/// variables, empty and boolean values, type names.
pub(super) fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    let lower = v.to_ascii_lowercase();
    v.len() < MIN_VALUE_LEN
        || v.chars().all(|c| "*xX•#.-_?".contains(c))
        || lower.starts_with("[redacted")
        || lower.starts_with("[filtered")
        || lower.starts_with("[hidden")
        || lower.starts_with("[masked")
        || (v.starts_with('<') && v.ends_with('>'))
        || v.starts_with("${")
        || v.starts_with("{{")
        || v.starts_with('%')
        || (v.starts_with('$')
            && v[1..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        || matches!(
            lower.as_str(),
            "null"
                | "none"
                | "nil"
                | "undefined"
                | "true"
                | "false"
                | "yes"
                | "off"
                | "enabled"
                | "disabled"
                | "redacted"
                | "filtered"
                | "hidden"
                | "masked"
                | "required"
                | "optional"
                | "missing"
                | "unset"
                | "empty"
                | "n/a"
        )
        || TYPE_NAMES.contains(&lower.as_str())
}

/// Code, not data: `os.environ["X"]`, `getpass()`, `self.password`.
pub(super) fn is_code(value: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"^(?:[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\s*[(\[]|(?:self|this|cls|settings|config|cfg|conf|os|process|env|request|req|params|options|opts|ctx|app)\.[A-Za-z_]|[a-z_]+(?:\.[a-z_]+)+$)")
            .expect("code pattern compiles")
    });
    re.is_match(value)
}

/// A loose-form value that is probably a secret rather than a word:
/// `hunter2`, `s3cr3t`, `Tr0ub4dor&3`, not `expired` or `required`.
pub(super) fn looks_secret(value: &str) -> bool {
    let has_digit = value.bytes().any(|b| b.is_ascii_digit());
    let has_alpha = value.bytes().any(|b| b.is_ascii_alphabetic());
    let inner_upper = value.bytes().skip(1).any(|b| b.is_ascii_uppercase())
        && value.bytes().any(|b| b.is_ascii_lowercase());
    let symbol = value
        .bytes()
        .any(|b| b.is_ascii_punctuation() && !b".,:;!?()'\"".contains(&b));
    value.len() >= 6 && ((has_digit && has_alpha) || inner_upper || (symbol && has_alpha))
}

/// A value next to a weak name or without a separator: long and random. Random
/// base64 has upper case, lower case and digits; random hex is a fifth digits or
/// more; a path or a sentence (`projects/shop/secrets/db/versions/3`) is neither.
pub(super) fn high_entropy(value: &str) -> bool {
    if value.len() < 20 {
        return false;
    }
    let count = |f: fn(&u8) -> bool| value.bytes().filter(f).count();
    let (lower, upper, digits) = (
        count(u8::is_ascii_lowercase),
        count(u8::is_ascii_uppercase),
        count(u8::is_ascii_digit),
    );
    let mixed = lower > 0 && upper > 0 && digits > 0;
    let hex =
        value.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') && digits * 5 >= value.len();
    let alnum = digits * 4 >= value.len() && (lower + upper) * 4 >= value.len();
    if !(mixed || hex || alnum) {
        return false;
    }
    let mut counts = [0u32; 256];
    for b in value.bytes() {
        counts[usize::from(b)] += 1;
    }
    let n = value.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    entropy >= 3.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_and_secret_looks() {
        assert!(high_entropy("9f8e7d6c5b4a39281706f5e4d3c2b1a0"));
        assert!(high_entropy("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"));
        assert!(!high_entropy("aaaaaaaaaaaaaaaaaaaa1"));
        assert!(!high_entropy("connection_refused"));
        assert!(looks_secret("hunter2"));
        assert!(looks_secret("Tr0ub4dor&3"));
        assert!(!looks_secret("expired"));
        assert!(!looks_secret("required"));
    }
}

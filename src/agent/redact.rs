//! Secret redaction, applied to everything captured before it goes into a prompt.
//!
//! The child's output leaves the machine when it is sent to a model, and dev
//! servers print more than they should: connection strings, tokens in request
//! logs, keys in stack traces. Redaction is pattern based (well-known token
//! shapes, credentials in URLs and headers, private key blocks) plus exact
//! matching of the values of environment variables whose names mark them as
//! secrets.

use regex::{Captures, Regex};
use std::sync::OnceLock;

/// What a secret is replaced with.
pub const MASK: &str = "[REDACTED]";

/// Environment values shorter than this are not redacted: short values such as
/// `1` or `dev` would otherwise mask ordinary words all over the output.
pub const MIN_ENV_SECRET_LEN: usize = 4;

/// Name fragments (matched case-insensitively) that mark an environment
/// variable's value as secret.
const SECRET_NAME_PARTS: [&str; 5] = ["KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD"];

/// Values that are flags rather than secrets even under a secret-looking name
/// (`DISABLE_TOKEN_CHECK=true`).
const NOT_SECRET_VALUES: [&str; 6] = ["true", "false", "null", "none", "enabled", "disabled"];

/// Masks secrets in text. Built once from the environment the child runs with.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// `(variable name, value)`, longest value first so that a value containing
    /// another one is masked whole.
    env_secrets: Vec<(String, String)>,
}

impl Redactor {
    /// Collects the values of secret-named variables from `env`.
    pub fn from_env(env: &[(String, String)]) -> Self {
        let mut env_secrets: Vec<(String, String)> = env
            .iter()
            .map(|(name, value)| (name, value.trim()))
            .filter(|(name, value)| is_secret_name(name) && is_maskable_value(value))
            .map(|(name, value)| (name.clone(), value.to_string()))
            .collect();
        // Longest first; equal values adjacent so `dedup_by` sees them.
        env_secrets.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.1.cmp(&b.1)));
        env_secrets.dedup_by(|a, b| a.1 == b.1);
        Redactor { env_secrets }
    }

    /// Returns `text` with every secret found replaced by a mask.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (name, value) in &self.env_secrets {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), &format!("[REDACTED ${name}]"));
            }
        }
        let p = patterns();
        out = p
            .private_key
            .replace_all(&out, "[REDACTED PRIVATE KEY]")
            .into_owned();
        out = p
            .url_password
            .replace_all(&out, |c: &Captures| format!("{}:{MASK}@", &c[1]))
            .into_owned();
        out = p
            .auth_header
            .replace_all(&out, |c: &Captures| {
                if looks_like_credential(&c[2]) {
                    format!("{} {MASK}", &c[1])
                } else {
                    c[0].to_string()
                }
            })
            .into_owned();
        for re in &p.tokens {
            out = re.replace_all(&out, MASK).into_owned();
        }
        out
    }
}

fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_NAME_PARTS.iter().any(|part| upper.contains(part))
}

/// Short all-digit values under secret-looking names are usually settings
/// (`CACHE_KEY_TTL=3600`) and would mask every such number in the output.
fn is_maskable_value(v: &str) -> bool {
    let len = v.chars().count();
    len >= MIN_ENV_SECRET_LEN
        && !NOT_SECRET_VALUES.iter().any(|n| v.eq_ignore_ascii_case(n))
        && !(len < 8 && v.chars().all(|c| c.is_ascii_digit()))
}

/// `Bearer`/`Basic` are also ordinary words ("Basic authentication failed"):
/// only mask what follows when it looks like an encoded credential.
fn looks_like_credential(token: &str) -> bool {
    let has_digit = token.chars().any(|c| c.is_ascii_digit());
    let has_symbol = token.chars().any(|c| "+/=-_.~".contains(c));
    let mixed_case = token.chars().skip(1).any(|c| c.is_ascii_uppercase())
        && token.chars().any(|c| c.is_ascii_lowercase());
    token.len() >= 8 && (has_digit || has_symbol || mixed_case)
}

struct Patterns {
    private_key: Regex,
    url_password: Regex,
    auth_header: Regex,
    tokens: Vec<Regex>,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        // The patterns are constants: failing to compile is a programming error
        // caught by the unit tests, so `expect` cannot fire on user input.
        let re = |s: &str| Regex::new(s).expect("redaction pattern compiles");
        Patterns {
            // A truncated block (no END line) is masked to the end of the text.
            private_key: re(
                r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\z)",
            ),
            url_password: re(r"\b([a-zA-Z][a-zA-Z0-9+.\-]*://[^\s/:@]*):[^\s/@]+@"),
            auth_header: re(r"(?i)\b(bearer|basic)\s+([A-Za-z0-9\-._~+/]+=*)"),
            tokens: vec![
                re(r"\bsk-ant-[A-Za-z0-9_\-]{8,}"),
                re(r"\bsk-[A-Za-z0-9_\-]{16,}"),
                re(r"\bgh[pousr]_[A-Za-z0-9]{20,}\b"),
                re(r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
                re(r"\bxox[baprs]-[A-Za-z0-9\-]{10,}"),
                re(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
                re(r"\beyJ[A-Za-z0-9_\-]{4,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*"),
            ],
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> String {
        Redactor::default().redact(text)
    }

    #[test]
    fn token_shapes_are_masked() {
        let cases = [
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
            "xoxb-123456789012-abcdefghijkl",
            "xoxp-123456789012-abcdefghijkl",
            "AKIAIOSFODNN7EXAMPLE",
            "sk-proj-abcdefghijklmnopqrstuvwx",
            "sk-ant-api03-abcdefghijklmnop",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        ];
        for secret in cases {
            let out = r(&format!("token={secret} end"));
            assert!(!out.contains(secret), "{secret} survived: {out}");
            assert!(out.contains(MASK), "{out}");
            assert!(out.ends_with(" end"), "{out}");
        }
    }

    #[test]
    fn auth_headers_are_masked_but_words_are_not() {
        let out = r("Authorization: Bearer abc.DEF-123_xyz");
        assert_eq!(out, "Authorization: Bearer [REDACTED]");
        let out = r("Authorization: Basic dXNlcjpwYXNzd29yZA==");
        assert_eq!(out, "Authorization: Basic [REDACTED]");
        let plain = "Basic authentication failed; Bearer Authentication required";
        assert_eq!(r(plain), plain);
    }

    #[test]
    fn url_passwords_are_masked() {
        let out = r("connect postgres://app:s3cr3t@db:5432/shop failed");
        assert_eq!(out, "connect postgres://app:[REDACTED]@db:5432/shop failed");
        let plain = "see http://localhost:8000/path and user@example.com at 10:30";
        assert_eq!(r(plain), plain);
    }

    #[test]
    fn private_key_blocks_are_masked() {
        let text = "before\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nabc\n-----END RSA PRIVATE KEY-----\nafter";
        assert_eq!(r(text), "before\n[REDACTED PRIVATE KEY]\nafter");
        let truncated = "x -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk";
        assert_eq!(r(truncated), "x [REDACTED PRIVATE KEY]");
    }

    #[test]
    fn env_secret_values_are_masked() {
        let env = vec![
            ("STRIPE_API_KEY".to_string(), "rk_live_51Habc".to_string()),
            ("db_password".to_string(), "hunter22".to_string()),
            ("MY_TOKEN".to_string(), "abc".to_string()),
            ("FEATURE_TOKEN_CHECK".to_string(), "true".to_string()),
            ("HOME".to_string(), "/home/dev".to_string()),
            ("CACHE_KEY_TTL".to_string(), "3600".to_string()),
            ("DB_PASSWORD_PIN".to_string(), "12345678".to_string()),
        ];
        let red = Redactor::from_env(&env);
        let out = red.redact("key rk_live_51Habc pw hunter22 abc true /home/dev 3600 12345678");
        assert_eq!(
            out,
            "key [REDACTED $STRIPE_API_KEY] pw [REDACTED $db_password] abc true /home/dev 3600 [REDACTED $DB_PASSWORD_PIN]"
        );
    }

    #[test]
    fn longer_env_values_win_and_values_are_trimmed() {
        let env = vec![
            ("A_TOKEN".to_string(), "abcd1234".to_string()),
            ("B_TOKEN".to_string(), "abcd1234extra".to_string()),
            ("C_SECRET".to_string(), " padded-secret\n".to_string()),
            ("D_SECRET".to_string(), "abcd1234".to_string()),
        ];
        let red = Redactor::from_env(&env);
        assert_eq!(
            red.redact("abcd1234extra abcd1234 padded-secret"),
            "[REDACTED $B_TOKEN] [REDACTED $A_TOKEN] [REDACTED $C_SECRET]"
        );
    }

    #[test]
    fn ordinary_output_is_untouched() {
        let text = "Traceback (most recent call last):\n  File \"/home/dev/shop/app.py\", line 2, in <module>\n    PORT = int(os.environ[\"PORT\"])\nKeyError: 'PORT'\nTypeError: task-runner failed at skeleton-key.js:10";
        assert_eq!(r(text), text);
    }
}

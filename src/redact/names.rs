//! Which names mark their value as a secret. A name is split into words (at
//! `_`, `-`, `.` and camelCase); it is secret when a word says password, secret,
//! token, credential, auth, signature, cookie or a qualified key (`api_key`,
//! `SECRET_KEY_BASE`), unless its last word says the value is about the secret
//! rather than the secret (`api_key_id`, `token_count`, `max_tokens`,
//! `auth_method`, `password_reset`). `key`, `pin` and `session` alone are weak:
//! their value must look like a secret too.

/// How sure a name is about its value being secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Class {
    No,
    /// `key`, `pin` or `session` alone: only a value that looks like a
    /// secret (high entropy; digits for a PIN) is masked.
    Weak {
        pin: bool,
    },
    Strong,
}

/// Variables the shell itself sets whose names read as secret: `PWD` is the
/// working directory (in every path of a traceback), not a password.
const SHELL_VARIABLES: &[&str] = &["PWD", "OLDPWD"];

/// Whether an environment variable's name marks its value as secret.
pub(super) fn is_secret_name(name: &str) -> bool {
    !SHELL_VARIABLES.contains(&name) && classify(name) == Class::Strong
}

/// Words that make a name secret wherever they stand in it.
const STRONG_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "pass",
    "passphrase",
    "passcode",
    "secret",
    "token",
    "credential",
    "credentials",
    "creds",
    "apikey",
    "auth",
    "authorization",
    "authkey",
    "privatekey",
    "signature",
    "sig",
    "cookie",
    "otp",
];

/// A word that ends with one of these is a secret word (`PGPASSWORD`,
/// `clientsecret`, `authtoken`).
const STRONG_SUFFIXES: &[&str] = &["password", "passwd", "secret", "token", "apikey"];

/// `<qualifier>key` written as one word (`SECRETKEY`, `accountkey`).
const KEY_QUALIFIERS: &[&str] = &[
    "api",
    "secret",
    "private",
    "access",
    "auth",
    "master",
    "signing",
    "encryption",
    "account",
    "client",
    "app",
    "license",
    "service",
    "session",
];

/// Qualifiers that make a `key` an ordinary identifier (`cache_key`, `primary key`).
const KEY_NOT_SECRET: &[&str] = &[
    "cache",
    "primary",
    "foreign",
    "public",
    "pub",
    "publishable",
    "partition",
    "sort",
    "object",
    "idempotency",
    "lookup",
    "routing",
    "shard",
    "hash",
    "map",
    "row",
    "group",
    "translation",
    "i18n",
    "dict",
    "unique",
    "composite",
    "natural",
    "range",
    "index",
    "hot",
    "message",
    "dedup",
    "event",
    "order",
    "cursor",
    "config",
    "setting",
    "s3",
    "bucket",
    "react",
    "storage",
];

/// Last words that say the value is about the secret, not the secret itself.
const NOT_SECRET_TAILS: &[&str] = &[
    "id",
    "ids",
    "uuid",
    "count",
    "num",
    "number",
    "total",
    "len",
    "length",
    "size",
    "bits",
    "type",
    "kind",
    "name",
    "names",
    "file",
    "filename",
    "path",
    "dir",
    "url",
    "uri",
    "endpoint",
    "host",
    "hostname",
    "port",
    "ip",
    "addr",
    "address",
    "region",
    "version",
    "format",
    "fmt",
    "algorithm",
    "alg",
    "algo",
    "mode",
    "method",
    "scheme",
    "strategy",
    "provider",
    "backend",
    "source",
    "env",
    "var",
    "header",
    "param",
    "prefix",
    "suffix",
    "enabled",
    "disabled",
    "required",
    "set",
    "present",
    "missing",
    "valid",
    "invalid",
    "status",
    "state",
    "scope",
    "scopes",
    "audience",
    "issuer",
    "usage",
    "location",
    "policy",
    "ttl",
    "expiry",
    "expires",
    "expiration",
    "exp",
    "lifetime",
    "age",
    "at",
    "time",
    "timeout",
    "date",
    "created",
    "updated",
    "error",
    "errors",
    "exception",
    "reset",
    "hint",
    "label",
    "field",
    "rules",
    "strength",
    "min",
    "max",
    "limit",
    "user",
    "username",
    "login",
    "email",
    "index",
    "idx",
    "memory",
    "fingerprint",
    "pair",
    "stdin",
    "arn",
    "ref",
    "store",
    "manager",
    "level",
    "tag",
    "tags",
    "request",
    "response",
    "mismatch",
    "changed",
    "rotation",
    "check",
    "checked",
    "verified",
    "only",
    "style",
    "color",
    "width",
    "event",
    "events",
    "handler",
    "callback",
    "class",
    "module",
    "text",
    "prompt",
];

/// Words of a name: split at non-alphanumerics and camelCase (`apiKey`,
/// `APIKey`, `SECRET_KEY_BASE`), lower-cased.
pub(super) fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in name.split(|c: char| !c.is_ascii_alphanumeric()) {
        let b = part.as_bytes();
        let mut from = 0;
        for i in 1..b.len() {
            let (p, c) = (b[i - 1], b[i]);
            let next_lower = b.get(i + 1).is_some_and(u8::is_ascii_lowercase);
            if c.is_ascii_uppercase()
                && (p.is_ascii_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_ascii_uppercase() && next_lower))
            {
                out.push(part[from..i].to_ascii_lowercase());
                from = i;
            }
        }
        if from < b.len() {
            out.push(part[from..].to_ascii_lowercase());
        }
    }
    out
}

pub(super) fn classify(name: &str) -> Class {
    let words = words(name);
    let Some(last) = words.last() else {
        return Class::No;
    };
    if NOT_SECRET_TAILS.contains(&last.as_str()) {
        return Class::No;
    }
    // Plurals name collections or counts (`max_tokens`, `num_keys`).
    if matches!(
        last.as_str(),
        "tokens" | "keys" | "secrets" | "passwords" | "pins" | "sigs" | "cookies"
    ) {
        return Class::No;
    }
    let mut class = Class::No;
    for (i, w) in words.iter().enumerate() {
        let w = w.as_str();
        let strong = STRONG_WORDS.contains(&w)
            || STRONG_SUFFIXES
                .iter()
                .any(|s| w.len() > s.len() && w.ends_with(s))
            || w.strip_suffix("key")
                .is_some_and(|q| KEY_QUALIFIERS.contains(&q));
        if strong {
            return Class::Strong;
        }
        match w {
            "key" => match i.checked_sub(1).map(|p| words[p].as_str()) {
                Some(q) if KEY_NOT_SECRET.contains(&q) => {}
                Some(_) => return Class::Strong,
                None => class = class.max(Class::Weak { pin: false }),
            },
            "pin" => class = class.max(Class::Weak { pin: true }),
            "session" | "sessionid" => class = class.max(Class::Weak { pin: false }),
            _ => {}
        }
    }
    class
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_words() {
        assert_eq!(words("SECRET_KEY_BASE"), ["secret", "key", "base"]);
        assert_eq!(words("apiKey"), ["api", "key"]);
        assert_eq!(words("APIKey"), ["api", "key"]);
        assert_eq!(words("x-api-key"), ["x", "api", "key"]);
        assert_eq!(
            words("spring.datasource.password"),
            ["spring", "datasource", "password"]
        );
        assert_eq!(
            words("AWS_SECRET_ACCESS_KEY"),
            ["aws", "secret", "access", "key"]
        );
    }

    #[test]
    fn classes_of_names() {
        for strong in [
            "password",
            "DATABASE_PASSWORD",
            "PGPASSWORD",
            "api_key",
            "apiKey",
            "X-Api-Key",
            "SECRET_KEY_BASE",
            "AccountKey",
            "aws_secret_access_key",
            "SecretAccessKey",
            "_authToken",
            "client_secret",
            "Authorization",
            "DB_PASS",
            "sig",
            "Ocp-Apim-Subscription-Key",
            "password_confirmation",
        ] {
            assert_eq!(classify(strong), Class::Strong, "{strong}");
        }
        for no in [
            "api_key_id",
            "token_count",
            "max_tokens",
            "prompt_tokens",
            "auth_method",
            "auth_user",
            "token_type",
            "cache_key",
            "idempotency_key",
            "KeyError",
            "AuthenticationError",
            "password_reset",
            "pin_memory",
            "primary_key",
            "author",
            "keyboard",
            "tokenizer",
            "AWS_ACCESS_KEY_ID",
            "public_key",
            "secret_name",
        ] {
            assert_eq!(classify(no), Class::No, "{no}");
        }
        assert_eq!(classify("key"), Class::Weak { pin: false });
        assert_eq!(classify("PIN"), Class::Weak { pin: true });
    }
}

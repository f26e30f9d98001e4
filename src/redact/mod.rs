//! Secret redaction: the one gate every piece of captured text passes before it
//! leaves otorepair (a prompt, the history file, the events file, `-vvv` logs).
//!
//! The child's output is sent to a model, and dev servers print more than they
//! should: connection strings, tokens in request logs, keys in stack traces,
//! their whole environment. [`Redactor::redact`] finds secrets with four kinds of
//! rule, all run on the original text, and masks the union of what they found:
//!
//! - `rules`: token shapes documented by their providers (cloud, payment, mail,
//!   chat, package registries, VCS hosts, AI APIs), JWTs, passwords in URLs,
//!   `Bearer`/`Basic` credentials, `curl -u user:pw` (each rule cites its source);
//! - `keyname`: values under names that say they are secret (`NAME=value`,
//!   `"name": "value"`, `name: value`, `--name value`, `<name>value</name>`);
//!   `names` decides which names, `values` which values;
//! - `pem`: private key blocks, with or without their armour lines;
//! - the values of otorepair's own secret-named environment variables, wherever
//!   they appear.
//!
//! What comes out is a [`Redacted`]: a text type only this module constructs. The
//! prompt builders, the history entry's text fields and the events that carry
//! captured text take a `Redacted`, so a sink that skips the redactor does not
//! compile. Redact first, then clip: [`Redacted::part`] cuts redacted text, and
//! [`Redactor::redact_excerpt`] redacts text that was clipped before it got here
//! (the detector's summary) using the full text it came from.
//!
//! Guarantees (property-tested in `tests.rs`): any input terminates; the output
//! is at most 6 times as long as the input (a plain mask is 10 bytes and replaces
//! at least 3, a key mask 22 bytes for at least 27, an environment mask at most
//! 32 bytes for at least 6); redacting twice changes nothing. Masks are never
//! matched again, but a mask can give its neighbour a word boundary it did not
//! have (`hunter2eyJ...` once `hunter2` is masked), so redaction repeats on its
//! own output until nothing more is found (at most `MAX_PASSES` times; one pass
//! when the text holds no secret).

mod keyname;
mod names;
mod pem;
mod rules;
mod values;

use std::fmt;
use std::ops::Deref;
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a secret is replaced with.
const MASK: &str = "[REDACTED]";
/// What a private key block (armour and body) is replaced with.
const KEY_MASK: &str = "[REDACTED PRIVATE KEY]";
/// Environment values shorter than this are not masked wherever they appear:
/// short values such as `dev` or `1234` would mask ordinary words all over the
/// output. (The same value still goes under a secret name, `PASSWORD=dev`.)
const MIN_ENV_SECRET_LEN: usize = 6;
/// Longest variable name shown in an environment mask (`[REDACTED $NAME]`).
const MAX_MASK_NAME: usize = 20;
/// The shortest secret prefix masked at the point where an excerpt was cut.
const MIN_CUT_PREFIX: usize = 4;
/// Passes over a text before its redaction is final (see the module docs).
const MAX_PASSES: usize = 4;

/// Text that went through a [`Redactor`] (or was written by otorepair itself, as a
/// compile-time literal). Only this module constructs one, so every sink that
/// takes a `Redacted` is covered by construction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redacted(String);

impl Redacted {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn push(&mut self, other: &Redacted) {
        self.0.push_str(&other.0);
    }

    /// Appends otorepair's own text: a literal in the source can hold no captured
    /// secret.
    pub fn push_literal(&mut self, text: &'static str) {
        self.0.push_str(text);
    }

    /// A part of this text, chosen by `pick` (a clip, a trim): a piece of redacted
    /// text is redacted. `pick` can only return a slice of its argument or a
    /// literal, so nothing unredacted gets in.
    pub fn part(&self, pick: impl for<'a> FnOnce(&'a str) -> &'a str) -> Redacted {
        Redacted(pick(&self.0).to_string())
    }

    /// The lines of this text, each still redacted.
    pub fn lines(&self) -> impl Iterator<Item = Redacted> + '_ {
        self.0.lines().map(|l| Redacted(l.to_string()))
    }
}

impl Deref for Redacted {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Redacted {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Text read back from a file (the history) is redacted again with the built-in
/// rules: a file written by an older otorepair, or edited by hand, holds no
/// guarantee. Redaction is idempotent, so text that was redacted stays as it is.
impl<'de> Deserialize<'de> for Redacted {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Redacted, D::Error> {
        let text = String::deserialize(d)?;
        Ok(Redactor::default().redact(&text))
    }
}

/// How a found secret is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mask {
    Plain,
    PrivateKey,
    /// The value of the environment variable at this index of `env_names`.
    Env(usize),
}

/// A byte range of the text to mask (on char boundaries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
    mask: Mask,
}

impl Span {
    fn plain(start: usize, end: usize) -> Span {
        Span {
            start,
            end,
            mask: Mask::Plain,
        }
    }
}

/// Masks secrets in text. Built once from the environment the child runs with;
/// `Redactor::default()` has the built-in rules only.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Secret-named variables whose values are masked wherever they appear.
    env_names: Vec<String>,
    /// One alternation of their escaped values, longest first (so a value that
    /// contains another one is masked whole); capture group `i` is `env_names[i]`.
    env_values: Option<Regex>,
}

impl Redactor {
    /// Collects the values of secret-named variables from `env`.
    pub fn from_env(env: &[(String, String)]) -> Self {
        let mut secrets: Vec<(&str, &str)> = env
            .iter()
            .map(|(name, value)| (name.as_str(), value.trim()))
            // Names are ASCII so that a mask stays short (see the guarantees above).
            .filter(|(name, value)| {
                name.is_ascii() && names::is_secret_name(name) && is_maskable_env_value(value)
            })
            .collect();
        secrets.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.1.cmp(b.1)));
        secrets.dedup_by(|a, b| a.1 == b.1);
        if secrets.is_empty() {
            return Redactor::default();
        }
        let alternation: Vec<String> = secrets
            .iter()
            .map(|(_, value)| format!("({})", regex::escape(value)))
            .collect();
        // Escaped literals always compile; a failure (a size limit on a huge
        // environment) falls back to the built-in rules rather than failing start-up.
        let env_values = Regex::new(&alternation.join("|")).ok();
        Redactor {
            env_names: secrets.iter().map(|(name, _)| name.to_string()).collect(),
            env_values,
        }
    }

    /// `text` with every secret found replaced by a mask.
    pub fn redact(&self, text: &str) -> Redacted {
        self.until_stable(text, self.spans(text))
    }

    /// Masks `spans` in `text`, then redacts the result again until a pass finds
    /// nothing new.
    fn until_stable(&self, text: &str, spans: Vec<Span>) -> Redacted {
        if spans.is_empty() {
            return Redacted(text.to_string());
        }
        let mut out = render(text, spans, &self.env_names);
        for _ in 1..MAX_PASSES {
            let more = self.spans(&out);
            if more.is_empty() {
                break;
            }
            out = render(&out, more, &self.env_names);
        }
        Redacted(out)
    }

    /// Redacts `excerpt`, a piece of `source` that may have been cut (a summary
    /// clipped with `…`): besides what the rules find in the excerpt itself, any
    /// secret found in `source` is masked where it appears whole, and where the
    /// cut left only its beginning (a JWT's header and claims).
    pub fn redact_excerpt(&self, excerpt: &str, source: &str) -> Redacted {
        let cut = excerpt
            .strip_suffix('…')
            .or_else(|| excerpt.strip_suffix("..."))
            .unwrap_or(excerpt)
            .len();
        let head = &excerpt[..cut];
        let mut spans = self.spans(head);
        let mut secrets: Vec<&str> = self
            .spans(source)
            .iter()
            .map(|s| &source[s.start..s.end])
            .filter(|s| s.len() >= MIN_CUT_PREFIX)
            .collect();
        secrets.sort_unstable();
        secrets.dedup();
        for secret in secrets {
            for (at, found) in head.match_indices(secret) {
                spans.push(Span::plain(at, at + found.len()));
            }
            let longest = secret.len().min(cut);
            let prefix = (MIN_CUT_PREFIX..=longest)
                .rev()
                .filter(|&k| secret.is_char_boundary(k))
                .find(|&k| head.ends_with(&secret[..k]));
            if let Some(k) = prefix {
                spans.push(Span::plain(cut - k, cut));
            }
        }
        self.until_stable(excerpt, spans)
    }

    /// Everything to mask in `text`, unmerged, minus the masks already there (so
    /// that a mask is never masked again).
    fn spans(&self, text: &str) -> Vec<Span> {
        let mut spans = Vec::new();
        pem::find(text, &mut spans);
        rules::find(text, &mut spans);
        keyname::find(text, &mut spans);
        if let Some(re) = &self.env_values {
            for caps in re.captures_iter(text) {
                let Some(i) = (1..caps.len()).find(|&i| caps.get(i).is_some()) else {
                    continue;
                };
                if let Some(m) = caps.get(0) {
                    spans.push(Span {
                        start: m.start(),
                        end: m.end(),
                        mask: Mask::Env(i - 1),
                    });
                }
            }
        }
        let masks: Vec<(usize, usize)> = existing_masks()
            .find_iter(text)
            .map(|m| (m.start(), m.end()))
            .collect();
        if masks.is_empty() {
            return spans;
        }
        // Both in text order: a sweep, not spans x masks.
        spans.sort_by_key(|s| s.start);
        let mut outside = Vec::with_capacity(spans.len());
        let mut first = 0; // masks before this one end before every span left
        for span in spans {
            while first < masks.len() && masks[first].1 <= span.start {
                first += 1;
            }
            let mut rest = Some(span);
            for &(a, b) in masks[first..].iter().take_while(|m| m.0 < span.end) {
                let Some(s) = rest else { break };
                if s.start < a {
                    outside.push(Span { end: a, ..s });
                }
                rest = (b < s.end).then_some(Span { start: b, ..s });
            }
            outside.extend(rest);
        }
        outside
    }
}

/// Masks already in the text (from an earlier pass, or a history file).
fn existing_masks() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\[REDACTED(?: [^\]\n]{1,40})?\]").expect("mask pattern compiles")
    })
}

/// `text` with the union of `spans` masked. Overlapping or touching spans merge;
/// a merged span takes the strongest mask among its parts (a private key over an
/// environment name over a plain mask).
fn render(text: &str, mut spans: Vec<Span>, env_names: &[String]) -> String {
    spans.retain(|s| s.start < s.end && s.end <= text.len());
    if spans.is_empty() {
        return text.to_string();
    }
    spans.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
    let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match merged.last_mut() {
            Some(last) if s.start <= last.end => {
                last.end = last.end.max(s.end);
                last.mask = stronger(last.mask, s.mask);
            }
            _ => merged.push(s),
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for s in merged {
        out.push_str(&text[at..s.start]);
        match s.mask {
            Mask::Plain => out.push_str(MASK),
            Mask::PrivateKey => out.push_str(KEY_MASK),
            Mask::Env(i) => {
                let name = env_names.get(i).map_or("", String::as_str);
                out.push_str("[REDACTED $");
                out.extend(name.chars().take(MAX_MASK_NAME));
                out.push(']');
            }
        }
        at = s.end;
    }
    out.push_str(&text[at..]);
    out
}

fn stronger(a: Mask, b: Mask) -> Mask {
    match (a, b) {
        (Mask::PrivateKey, _) | (_, Mask::PrivateKey) => Mask::PrivateKey,
        (Mask::Env(i), _) | (_, Mask::Env(i)) => Mask::Env(i),
        _ => Mask::Plain,
    }
}

/// Short all-digit values under secret-looking names are usually settings
/// (`CACHE_KEY_TTL=3600`) and would mask every such number in the output.
fn is_maskable_env_value(v: &str) -> bool {
    v.chars().count() >= MIN_ENV_SECRET_LEN
        // Flags and placeholders, not secrets, even under a secret-looking
        // name (`DISABLE_TOKEN_CHECK=enabled`).
        && !values::is_placeholder(v)
        && !(v.len() < 8 && v.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests;

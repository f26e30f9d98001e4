//! Secrets recognisable by their shape alone: provider token formats, JWTs,
//! passwords in URLs, HTTP credentials. Each rule names where its shape is
//! documented; `fixtures/secrets/leaks.txt` has at least one line per rule (a unit
//! test checks it).
//!
//! Word boundaries are ASCII (`(?-u:\b)`): Unicode boundaries would make the regex
//! engine leave its fast DFA on any non-ASCII output.

use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use regex::Regex;

use super::Span;

/// One shape. If the pattern has a group named `s`, only that group is masked
/// (the scheme and host of a URL stay readable); otherwise the whole match.
/// `name` and `source` are documentation, checked by the tests (every rule has a
/// corpus line and a source).
#[cfg_attr(not(test), allow(dead_code))]
pub(super) struct Rule {
    pub(super) name: &'static str,
    /// Lower-case literals one of which every match contains: a rule runs only
    /// on text that holds one (found in one pass for all rules).
    pub(super) triggers: &'static [&'static str],
    pub(super) pattern: &'static str,
    /// Where the shape is documented.
    pub(super) source: &'static str,
    /// A last check on the text to be masked.
    pub(super) check: fn(&str) -> bool,
}

fn any(_: &str) -> bool {
    true
}

pub(super) const RULES: &[Rule] = &[
    // --- clouds
    Rule {
        name: "aws-access-key-id",
        triggers: &["akia", "asia", "abia", "acca"],
        pattern: r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
        source: "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids",
        check: any,
    },
    Rule {
        name: "google-api-key",
        triggers: &["aiza"],
        pattern: r"\bAIza[0-9A-Za-z_\-]{35}",
        source: "https://cloud.google.com/docs/authentication/api-keys",
        check: any,
    },
    Rule {
        name: "google-oauth-client-secret",
        triggers: &["gocspx-"],
        pattern: r"\bGOCSPX-[A-Za-z0-9_\-]{28}",
        source: "https://developers.google.com/identity/protocols/oauth2 (client secrets since 2021 start with GOCSPX-)",
        check: any,
    },
    Rule {
        name: "google-oauth-access-token",
        triggers: &["ya29."],
        pattern: r"\bya29\.[0-9A-Za-z_\-]{20,}",
        source: "https://developers.google.com/identity/protocols/oauth2",
        check: any,
    },
    Rule {
        name: "digitalocean-token",
        triggers: &["_v1_"],
        pattern: r"\bdo[opr]_v1_[a-f0-9]{64}\b",
        source: "https://docs.digitalocean.com/reference/api/create-personal-access-token/",
        check: any,
    },
    Rule {
        name: "vault-token",
        triggers: &["hvs.", "hvb.", "hvr."],
        pattern: r"\bhv[sbr]\.[A-Za-z0-9_\-]{24,}",
        source: "https://developer.hashicorp.com/vault/docs/concepts/tokens#token-prefixes",
        check: any,
    },
    // --- payment
    Rule {
        name: "stripe-secret-or-restricted-key",
        triggers: &["k_live_", "k_test_"],
        pattern: r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}",
        source: "https://docs.stripe.com/keys (pk_ publishable keys are public and stay)",
        check: any,
    },
    Rule {
        name: "stripe-webhook-secret",
        triggers: &["whsec_"],
        pattern: r"\bwhsec_[A-Za-z0-9]{20,}",
        source: "https://docs.stripe.com/webhooks#verify-events",
        check: any,
    },
    Rule {
        name: "shopify-token",
        triggers: &["shpat_", "shpca_", "shppa_", "shpss_"],
        pattern: r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b",
        source: "https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens",
        check: any,
    },
    // --- mail
    Rule {
        name: "sendgrid-api-key",
        triggers: &["sg."],
        pattern: r"\bSG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}",
        source: "https://www.twilio.com/docs/sendgrid/ui/account-and-settings/api-keys",
        check: any,
    },
    // --- chat
    Rule {
        name: "slack-token",
        triggers: &["xox"],
        pattern: r"\bxox[abposre]-[A-Za-z0-9\-]{10,}",
        source: "https://api.slack.com/authentication/token-types",
        check: any,
    },
    Rule {
        name: "slack-app-token",
        triggers: &["xapp-"],
        pattern: r"\bxapp-[0-9]-[A-Za-z0-9\-]{10,}",
        source: "https://api.slack.com/authentication/token-types#app-level",
        check: any,
    },
    Rule {
        name: "slack-webhook-url",
        triggers: &["hooks.slack.com/"],
        pattern: r"https://hooks\.slack\.com/(?:services|workflows|triggers)/(?P<s>[A-Za-z0-9_/\-]{8,})",
        source: "https://api.slack.com/messaging/webhooks",
        check: any,
    },
    Rule {
        name: "discord-webhook-url",
        triggers: &["/api/webhooks/"],
        pattern: r"https://(?:canary\.|ptb\.)?discord(?:app)?\.com/api/webhooks/[0-9]+/(?P<s>[A-Za-z0-9_\-]{20,})",
        source: "https://discord.com/developers/docs/resources/webhook#execute-webhook",
        check: any,
    },
    Rule {
        name: "telegram-bot-token",
        triggers: &[":aa"],
        pattern: r"\b[0-9]{8,10}:AA[A-Za-z0-9_\-]{33}\b",
        source: "https://core.telegram.org/bots/api#authorizing-your-bot",
        check: any,
    },
    // --- package registries
    Rule {
        name: "npm-token",
        triggers: &["npm_"],
        pattern: r"\bnpm_[A-Za-z0-9]{36}\b",
        source: "https://github.blog/changelog/2021-09-23-npm-has-a-new-access-token-format/",
        check: any,
    },
    Rule {
        name: "pypi-token",
        triggers: &["pypi-ag"],
        pattern: r"\bpypi-Ag[A-Za-z0-9_\-]{50,}",
        source: "https://pypi.org/help/#apitoken",
        check: any,
    },
    Rule {
        name: "docker-hub-token",
        triggers: &["dckr_pat_"],
        pattern: r"\bdckr_pat_[A-Za-z0-9_\-]{20,}",
        source: "https://docs.docker.com/security/for-developers/access-tokens/",
        check: any,
    },
    // --- VCS hosts
    Rule {
        name: "github-token",
        triggers: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        pattern: r"\bgh[pousr]_[A-Za-z0-9]{36,251}\b",
        source: "https://github.blog/changelog/2021-03-31-authentication-token-format-updates-are-generally-available",
        check: any,
    },
    Rule {
        name: "github-fine-grained-pat",
        triggers: &["github_pat_"],
        pattern: r"\bgithub_pat_[A-Za-z0-9_]{22,}",
        source: "https://github.blog/security/application-security/introducing-fine-grained-personal-access-tokens-for-github/",
        check: any,
    },
    Rule {
        name: "gitlab-token",
        triggers: &["glpat-", "gldt-", "glrt-", "glptt-", "glcbt-", "glimt-", "gloas-", "glsoat-", "glffct-", "glft-", "glwt-", "glagent-"],
        pattern: r"\bgl(?:pat|dt|rt|ptt|cbt|imt|oas|soat|ffct|ft|wt|agent)-[A-Za-z0-9_\-]{20,}(?:\.[A-Za-z0-9_.\-]+)?",
        source: "https://docs.gitlab.com/security/tokens/#token-prefixes",
        check: any,
    },
    // --- AI APIs
    Rule {
        name: "anthropic-key",
        triggers: &["sk-ant-"],
        pattern: r"\bsk-ant-[a-z]+[0-9]{2}-[A-Za-z0-9_\-]{20,}",
        source: "https://docs.anthropic.com/en/api/overview#authentication",
        check: any,
    },
    Rule {
        name: "openai-key",
        triggers: &["sk-"],
        pattern: r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}",
        source: "https://platform.openai.com/docs/api-reference/authentication",
        check: any,
    },
    Rule {
        name: "huggingface-token",
        triggers: &["hf_"],
        pattern: r"\bhf_[A-Za-z0-9]{34,}",
        source: "https://huggingface.co/docs/hub/security-tokens",
        check: any,
    },
    // --- generic shapes
    Rule {
        // The header alone (`eyJ` is `{"` in base64url) is enough: a JWT cut
        // short by a clip keeps its claims otherwise.
        name: "jwt",
        triggers: &["eyj"],
        pattern: r"\beyJ[A-Za-z0-9_\-]{8,}(?:\.[A-Za-z0-9_\-]*){0,4}",
        source: "https://datatracker.ietf.org/doc/html/rfc7519#section-3.1",
        check: any,
    },
    Rule {
        // The password runs to the last `@` before the host: `p@ssw0rd!@mongo`.
        name: "url-password",
        triggers: &["://"],
        pattern: r#"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s/:@'"]*:(?P<s>[^\s/'"]+)@[^\s@/'"]*"#,
        source: "https://datatracker.ietf.org/doc/html/rfc3986#section-3.2.1",
        check: not_a_placeholder,
    },
    Rule {
        name: "go-mysql-dsn-password",
        triggers: &["@tcp(", "@unix("],
        pattern: r"\b[A-Za-z0-9_.\-]+:(?P<s>[^\s:@/]+)@(?:tcp|unix)\(",
        source: "https://github.com/go-sql-driver/mysql#dsn-data-source-name",
        check: not_a_placeholder,
    },
    Rule {
        // Anywhere, any case: `Authorization: bearer x`, `token_type=bearer`, logs.
        name: "bearer-credential",
        triggers: &["bearer"],
        // The credential ends at a blank, a quote or the end: `bearer x_y=z` is a
        // `name=value` pair after the word, not a credential.
        pattern: r#"(?i)\bbearer\s+(?P<s>[A-Za-z0-9\-._~+/]+=*)(?:$|[\s"',;)\]}])"#,
        source: "https://datatracker.ietf.org/doc/html/rfc6750#section-2.1",
        check: looks_like_credential,
    },
    Rule {
        name: "basic-credential",
        triggers: &["basic"],
        pattern: r#"(?i)\bbasic\s+(?P<s>[A-Za-z0-9+/]{8,}={0,2})(?:$|[\s"',;)\]}])"#,
        source: "https://datatracker.ietf.org/doc/html/rfc7617#section-2",
        check: looks_like_credential,
    },
    Rule {
        name: "curl-user-password",
        triggers: &["curl"],
        pattern: r#"\bcurl\b[^\n]*?\s(?:-u|--user|--proxy-user)(?:\s+|=)?['"]?[^\s:'"]*:(?P<s>[^\s'"]+)"#,
        source: "https://curl.se/docs/manpage.html#-u",
        check: not_a_placeholder,
    },
];

struct Compiled {
    /// Every rule's triggers, ASCII case-insensitive; pattern `i` belongs to
    /// rule `owner[i]`.
    triggers: AhoCorasick,
    owner: Vec<usize>,
    each: Vec<Regex>,
}

fn ascii_boundaries(pattern: &str) -> String {
    pattern.replace(r"\b", r"(?-u:\b)")
}

fn compiled() -> &'static Compiled {
    static C: OnceLock<Compiled> = OnceLock::new();
    C.get_or_init(|| {
        // The patterns are constants: failing to compile is a programming error
        // caught by the unit tests, so `expect` cannot fire on user input.
        let (owner, literals): (Vec<usize>, Vec<&str>) = RULES
            .iter()
            .enumerate()
            .flat_map(|(i, r)| r.triggers.iter().map(move |t| (i, *t)))
            .unzip();
        Compiled {
            triggers: AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(literals)
                .expect("trigger literals build"),
            owner,
            each: RULES
                .iter()
                .map(|r| Regex::new(&ascii_boundaries(r.pattern)).expect("redaction rule compiles"))
                .collect(),
        }
    })
}

/// The rules whose triggers occur in `text`, in table order.
fn triggered(text: &str) -> Vec<usize> {
    let c = compiled();
    let mut hit = vec![false; RULES.len()];
    for m in c.triggers.find_overlapping_iter(text) {
        hit[c.owner[m.pattern().as_usize()]] = true;
    }
    (0..RULES.len()).filter(|&i| hit[i]).collect()
}

/// Adds a span for every rule match in `text`. One pass finds which rules'
/// triggers occur; only those rules run.
pub(super) fn find(text: &str, out: &mut Vec<Span>) {
    let c = compiled();
    for i in triggered(text) {
        let rule = &RULES[i];
        for caps in c.each[i].captures_iter(text) {
            let Some(m) = caps.name("s").or_else(|| caps.get(0)) else {
                continue;
            };
            if (rule.check)(m.as_str()) {
                out.push(Span::plain(m.start(), m.end()));
            }
        }
    }
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

fn not_a_placeholder(value: &str) -> bool {
    !super::values::is_placeholder(value)
}

#[cfg(test)]
pub(super) fn rule_names_matching(text: &str) -> Vec<&'static str> {
    let c = compiled();
    (0..RULES.len())
        .filter(|&i| c.each[i].is_match(text))
        .map(|i| RULES[i].name)
        .collect()
}

#[cfg(test)]
pub(super) fn names_triggered(text: &str) -> Vec<&'static str> {
    triggered(text).into_iter().map(|i| RULES[i].name).collect()
}

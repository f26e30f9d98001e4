use super::*;
use proptest::prelude::*;

/// The output is never longer than this many times the input (module docs).
const MAX_GROWTH: usize = 6;

fn r(text: &str) -> String {
    Redactor::default().redact(text).to_string()
}

fn env(vars: &[(&str, &str)]) -> Redactor {
    let owned: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Redactor::from_env(&owned)
}

#[test]
fn token_shapes_are_masked_and_the_rest_stays() {
    let cases = [
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
        "xoxb-123456789012-abcdefghijkl",
        "AKIAIOSFODNN7EXAMPLE",
        "sk-proj-abcdefghijklmnopqrstuvwx",
        "sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ];
    for secret in cases {
        let out = r(&format!("upstream said {secret} end"));
        assert_eq!(out, "upstream said [REDACTED] end", "{secret}");
    }
}

#[test]
fn auth_headers_are_masked_but_words_are_not() {
    assert_eq!(
        r("Authorization: Bearer abc.DEF-123_xyz"),
        "Authorization: Bearer [REDACTED]"
    );
    assert_eq!(
        r("authorization: bearer abc.DEF-123_xyz"),
        "authorization: bearer [REDACTED]"
    );
    assert_eq!(
        r("Authorization: Basic dXNlcjpwYXNzd29yZA=="),
        "Authorization: Basic [REDACTED]"
    );
    assert_eq!(r("x-api-key: 0a1b2c3d4e5f"), "x-api-key: [REDACTED]");
    let plain = "Basic authentication failed; Bearer Authentication required";
    assert_eq!(r(plain), plain);
}

#[test]
fn url_passwords_are_masked_whatever_they_hold() {
    assert_eq!(
        r("connect postgres://app:s3cr3t@db:5432/shop failed"),
        "connect postgres://app:[REDACTED]@db:5432/shop failed"
    );
    assert_eq!(
        r("MongoServerError: mongodb://admin:p@ssw0rd!@mongo:27017/app"),
        "MongoServerError: mongodb://admin:[REDACTED]@mongo:27017/app"
    );
    let plain = "see http://localhost:8000/path?next=a@b.c and user@example.com at 10:30";
    assert_eq!(r(plain), plain);
}

#[test]
fn private_key_blocks_are_masked_with_or_without_armour() {
    let body = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw";
    let text = format!(
        "before\n-----BEGIN RSA PRIVATE KEY-----\n{body}\n{body}\nabcd==\n-----END RSA PRIVATE KEY-----\nafter"
    );
    assert_eq!(r(&text), "before\n[REDACTED PRIVATE KEY]\nafter");
    // Cut by the window: no BEGIN, no END.
    let headless = format!("  File \"app.py\", line 3\n{body}\n{body}\nKeyError: 'x'");
    assert_eq!(
        r(&headless),
        "  File \"app.py\", line 3\n[REDACTED PRIVATE KEY]\nKeyError: 'x'"
    );
    // No END: masked up to the first line that is not key text.
    let truncated = format!("x -----BEGIN OPENSSH PRIVATE KEY-----\n{body}\nValueError: bad");
    assert_eq!(r(&truncated), "x [REDACTED PRIVATE KEY]\nValueError: bad");
    // One JSON string holding the whole block.
    let json = r#"{"private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----\n", "x": 1}"#;
    assert_eq!(
        r(json),
        r#"{"private_key": "[REDACTED PRIVATE KEY]", "x": 1}"#
    );
    // Certificates are public: they stay.
    let cert = format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----");
    assert_eq!(r(&cert), cert);
}

#[test]
fn key_name_values_are_masked_in_every_form() {
    for (input, want) in [
        ("DATABASE_PASSWORD=hunter2", "DATABASE_PASSWORD=[REDACTED]"),
        ("export API_KEY=\"abc123def\"", "export API_KEY=\"[REDACTED]\""),
        ("{\"password\": \"hunter2\", \"user\": \"bob\"}", "{\"password\": \"[REDACTED]\", \"user\": \"bob\"}"),
        ("Config { api_key: \"k-1234\" }", "Config { api_key: \"[REDACTED]\" }"),
        ("db_password: hunter2", "db_password: [REDACTED]"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key = [REDACTED]"),
        ("run --password hunter2 --user bob", "run --password [REDACTED] --user bob"),
        ("<password>hunter2</password>", "<password>[REDACTED]</password>"),
        ("    [password] => hunter2", "    [password] => [REDACTED]"),
        ("{User:admin Password:hunter2}", "{User:admin Password:[REDACTED]}"),
        ("level=info token=abc123 user=bob", "level=info token=[REDACTED] user=bob"),
        (" * Debugger PIN: 120-730-225", " * Debugger PIN: [REDACTED]"),
        ("DefaultEndpointsProtocol=https;AccountName=shop;AccountKey=abc+/def==;EndpointSuffix=core.windows.net",
         "DefaultEndpointsProtocol=https;AccountName=shop;AccountKey=[REDACTED];EndpointSuffix=core.windows.net"),
    ] {
        assert_eq!(r(input), want, "{input}");
    }
}

#[test]
fn ids_counts_and_messages_survive() {
    for plain in [
        "api_key_id=7 token_count=3 max_tokens=256",
        "KeyError: 'SECRET_KEY'",
        "password reset email sent to bob@example.com",
        "Invalid password for user bob",
        "Password: too short (minimum is 8 characters)",
        "    password = os.environ[\"DB_PASSWORD\"]",
        "token_type=bearer expires_in=3600",
        "password=********",
        "commit 3f786850e387550fdab836ed7e6dc881de23001b",
        "request_id=550e8400-e29b-41d4-a716-446655440000",
        "TypeError: task-runner failed at skeleton-key.js:10",
        "Traceback (most recent call last):\n  File \"/home/dev/shop/app.py\", line 2, in <module>",
    ] {
        assert_eq!(r(plain), plain);
    }
}

#[test]
fn env_secret_values_are_masked_wherever_they_appear() {
    let red = env(&[
        ("STRIPE_API_KEY", "rk_live_51Habc"),
        ("db_password", "hunter22"),
        ("MY_TOKEN", "abc"),
        ("FEATURE_TOKEN_CHECK", "true"),
        ("HOME", "/home/dev"),
        ("CACHE_KEY_TTL", "3600"),
        ("SERVICE_PASSWORD", "12345678"),
    ]);
    let out = red.redact("key rk_live_51Habc pw hunter22 abc true /home/dev 3600 12345678");
    assert_eq!(
        out.as_str(),
        "key [REDACTED $STRIPE_API_KEY] pw [REDACTED $db_password] abc true /home/dev 3600 [REDACTED $SERVICE_PASSWORD]"
    );
}

#[test]
fn longer_env_values_win_and_values_are_trimmed() {
    let red = env(&[
        ("A_TOKEN", "abcd1234"),
        ("B_TOKEN", "abcd1234extra"),
        ("C_SECRET", " padded-secret\n"),
        ("D_SECRET", "abcd1234"),
    ]);
    assert_eq!(
        red.redact("abcd1234extra abcd1234 padded-secret").as_str(),
        "[REDACTED $B_TOKEN] [REDACTED $A_TOKEN] [REDACTED $C_SECRET]"
    );
}

#[test]
fn an_excerpt_cut_in_a_secret_is_masked_from_its_source() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IiLCJyb2xlIjoiYWRtaW4ifQ.c2lnbmF0dXJl";
    let line = format!("jwt.exceptions.InvalidSignatureError: bad token {jwt}");
    // The detector's summary, cut in the middle of the claims.
    let summary = format!("{}…", &line[..line.len() - 30]);
    let out = Redactor::default().redact_excerpt(&summary, &line);
    assert_eq!(
        out.as_str(),
        "jwt.exceptions.InvalidSignatureError: bad token [REDACTED]…"
    );
    // A value whose rule needs context the cut removed: its prefix still goes.
    let env_line = "ValueError: DATABASE_PASSWORD=correct-horse-battery-staple rejected";
    let cut = "ValueError: DATABASE_PASSWORD=correct-hor…";
    assert_eq!(
        Redactor::default().redact_excerpt(cut, env_line).as_str(),
        "ValueError: DATABASE_PASSWORD=[REDACTED]…"
    );
}

#[test]
fn redacted_text_read_back_is_redacted_again() {
    let old: Redacted = serde_json::from_str("\"token ghp_abcdefghijklmnopqrstuvwxyz0123456789\"")
        .expect("a JSON string");
    assert_eq!(old.as_str(), "token [REDACTED]");
    assert_eq!(
        serde_json::to_string(&old).expect("serializes"),
        "\"token [REDACTED]\""
    );
}

#[test]
fn parts_and_lines_of_redacted_text_stay_redacted() {
    let text = Redactor::default().redact("a password=hunter2\nb");
    assert_eq!(text.part(|s| &s[..5]).as_str(), "a pas");
    let lines: Vec<String> = text.lines().map(|l| l.to_string()).collect();
    assert_eq!(lines, ["a password=[REDACTED]", "b"]);
}

#[test]
fn a_mask_that_makes_a_new_word_boundary_is_followed_up() {
    // Found by the property test: once `hunter2` is masked, `eyJ...` starts a word.
    let red = env_redactor();
    let input = "password=hunter2eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIx[REDACTED]";
    let once = red.redact(input);
    assert!(!once.contains("hunter2") && !once.contains("eyJ"), "{once}");
    assert_eq!(red.redact(&once), once);
}

/// Fragments that trigger every kind of rule, glued with random text: the
/// properties must hold where rules meet, not only on text no rule matches.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("password=hunter2".to_string()),
        Just("\"api_key\": \"abc123\"".to_string()),
        Just("token: ".to_string()),
        Just("Bearer ".to_string()),
        Just("https://u:p@ss@host/".to_string()),
        Just("-----BEGIN RSA PRIVATE KEY-----\n".to_string()),
        Just("-----END PRIVATE KEY-----".to_string()),
        Just("MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw\n".to_string()),
        Just("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIx".to_string()),
        Just("ghp_abcdefghijklmnopqrstuvwxyz0123456789".to_string()),
        Just("[REDACTED]".to_string()),
        Just("[REDACTED $DB_TOKEN]".to_string()),
        Just("Debugger PIN: 120-730-225".to_string()),
        Just("curl -u admin:pw ".to_string()),
        // The key-name scan's other shapes: markup, flags, cookies, PHP's
        // print_r, escaped quotes, a JSON header.
        Just("<password>s3cr3t</password>".to_string()),
        Just("--token x9y8z7 ".to_string()),
        Just("Cookie: a=1; sid=abcdef123456".to_string()),
        Just("[password] => hunter2".to_string()),
        Just("\"secret\": \"a\\\"b\\\\\"".to_string()),
        Just("\"Authorization\": \"Bearer abc.def\"".to_string()),
        Just("\n".to_string()),
        Just(" ".to_string()),
        "[ -~]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..12).prop_map(|v| v.concat())
}

fn env_redactor() -> Redactor {
    env(&[("DB_TOKEN", "hunter2"), ("SECRET", "REDACTED")])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(400)))]

    #[test]
    fn output_is_bounded_and_redacting_twice_changes_nothing(input in text()) {
        for red in [Redactor::default(), env_redactor()] {
            let once = red.redact(&input);
            prop_assert!(once.len() <= input.len() * MAX_GROWTH, "{input:?} -> {once:?}");
            let twice = red.redact(&once);
            prop_assert_eq!(twice.as_str(), once.as_str(), "input {:?}", input);
        }
    }

    #[test]
    fn excerpts_of_any_text_are_bounded(input in text(), cut in 0usize..200) {
        let red = env_redactor();
        let mut end = cut.min(input.len());
        while !input.is_char_boundary(end) {
            end -= 1;
        }
        let excerpt = format!("{}…", &input[..end]);
        let out = red.redact_excerpt(&excerpt, &input);
        prop_assert!(out.len() <= excerpt.len() * MAX_GROWTH);
    }
}

#[test]
fn every_rule_has_a_source_and_a_corpus_line() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/secrets/leaks.txt");
    let corpus = std::fs::read_to_string(path).expect("fixtures/secrets/leaks.txt");
    let text = corpus.replace(['⟦', '⟧'], "");
    let mut seen = std::collections::HashSet::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        seen.extend(rules::rule_names_matching(line));
    }
    for rule in rules::RULES {
        assert!(
            rule.source.starts_with("https://"),
            "{} cites no source",
            rule.name
        );
        assert!(
            seen.contains(rule.name),
            "no corpus line for rule {}",
            rule.name
        );
    } // A rule runs only where one of its triggers occurs: each corpus line a rule
      // matches must hold a trigger of it.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let ran = rules::names_triggered(line);
        for name in rules::rule_names_matching(line) {
            assert!(
                ran.contains(&name),
                "{name} matches but is not triggered: {line}"
            );
        }
    }
}

#[test]
fn one_long_line_with_many_names_and_masks() {
    // No newline for the whole text: line lookups and the sweep over existing
    // masks must stay per name, not per name times text.
    let input = "token=abc123 [REDACTED] ".repeat(20_000);
    let out = r(&input);
    assert_eq!(out, "token=[REDACTED] [REDACTED] ".repeat(20_000));
}

#[test]
fn the_shells_working_directory_is_not_a_password() {
    // Every shell sets PWD: masking it masked the workspace in every path of
    // every traceback the agent was given.
    let red = env(&[("PWD", "/home/ana/shop"), ("OLDPWD", "/home/ana")]);
    let line = r#"  File "/home/ana/shop/app.py", line 7, in index"#;
    assert_eq!(red.redact(line).as_str(), line);
    // As a key in text it still reads as a password (`?user=ana&pwd=...`).
    assert_eq!(
        r("login?user=ana&pwd=hunter22"),
        "login?user=ana&pwd=[REDACTED]"
    );
}

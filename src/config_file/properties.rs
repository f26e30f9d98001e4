//! Property tests of the settings-file parser: any text, no panic, and an error
//! always names a line that exists.

use std::path::Path;

use proptest::prelude::*;

use super::{parse, KEYS};

/// TOML-ish text: the known keys (and near misses) with values of every type,
/// tables, comments and broken syntax, so the generator reaches the checks and
/// the error paths, not only the TOML syntax errors.
fn settings_text() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        proptest::sample::select(KEYS.to_vec()).prop_map(str::to_string),
        Just("fix_timout".to_string()),
        "[a-z_.]{1,12}",
    ];
    let value = prop_oneof![
        Just("\"codex\"".to_string()),
        Just("\"restart\"".to_string()),
        Just("true".to_string()),
        Just("-1".to_string()),
        Just("1e999".to_string()),
        Just("nan".to_string()),
        Just("['(', '^ok$']".to_string()),
        Just("[1, 2]".to_string()),
        Just("{ a = 1 }".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| format!("{n:?}")),
        ".{0,20}".prop_map(|s| format!("{s:?}")),
        ".{0,10}",
    ];
    let line = prop_oneof![
        (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        Just("[detect]".to_string()),
        Just("[detect.more]".to_string()),
        Just("# comment".to_string()),
        ".{0,30}",
    ];
    proptest::collection::vec(line, 0..12).prop_map(|l| l.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(512)))]

    #[test]
    fn any_text_is_settings_or_an_error_at_a_real_line(text in prop_oneof![settings_text(), ".{0,200}"]) {
        if let Err(e) = parse(Path::new("/p/.otorepair.toml"), &text) {
            let lines = text.split('\n').count().max(1);
            if let Some(line) = e.line {
                prop_assert!(line >= 1 && line <= lines, "line {} of {}: {}", line, lines, e);
            }
            prop_assert!(!e.message.is_empty());
            prop_assert!(!e.to_string().contains('\n'), "one line: {}", e);
        }
    }
}

//! Settings from flags, env and config files: precedence, sources, errors, effect.

mod common;

use common::run_piped;

#[test]
fn precedence_is_flag_env_project_user_default_and_config_says_where() {
    let ws = tempfile::tempdir().unwrap();
    let xdg = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(xdg.path().join("otorepair")).unwrap();
    std::fs::write(
        xdg.path().join("otorepair/config.toml"),
        "settle = 9\nmax_attempts = 7\non_fix = \"wait\"\nfix_timeout = 99\n",
    )
    .unwrap();
    std::fs::write(
        ws.path().join(".otorepair.toml"),
        "settle = 0.5\nmax_attempts = 4\nbackend = \"gemini\"\n",
    )
    .unwrap();
    let xdg_s = xdg.path().to_str().unwrap();
    let out = run_piped(
        &["config", "--max-attempts", "5"],
        &[("XDG_CONFIG_HOME", xdg_s), ("OTOREPAIR_FIX_TIMEOUT", "60")],
        Some(ws.path()),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let line = |key: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no {key} in:\n{text}"))
            .to_string()
    };
    assert!(
        line("max_attempts").contains("5") && line("max_attempts").contains("(--max-attempts)")
    );
    assert!(
        line("fix_timeout").contains("60")
            && line("fix_timeout").contains("(OTOREPAIR_FIX_TIMEOUT)")
    );
    assert!(line("settle").contains("0.5") && line("settle").contains("project file"));
    assert!(line("backend").contains("gemini") && line("backend").contains("project file"));
    assert!(line("on_fix").contains("wait") && line("on_fix").contains("user file"));
    assert!(line("triage_timeout").contains("(default)"));
}

#[test]
fn a_bad_config_file_names_file_line_and_key() {
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(
        ws.path().join(".otorepair.toml"),
        "settle = 1\n\n[detect]\npatterns = [\"(unclosed\"]\n",
    )
    .unwrap();
    let out = run_piped(&["--", "true"], &[], Some(ws.path()));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.starts_with("otorepair: error: "), "{err}");
    assert!(
        err.contains(".otorepair.toml:4:") && err.contains("detect.patterns"),
        "{err}"
    );
}

#[test]
fn detect_patterns_and_ignores_from_the_project_file_take_effect() {
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(
        ws.path().join(".otorepair.toml"),
        "settle = 0.3\n[detect]\npatterns = [\"^BOOM: \"]\nignores = [\"^FATAL: database\"]\n",
    )
    .unwrap();
    let out = run_piped(
        &[
            "--dry-run",
            "--",
            "sh",
            "-c",
            "echo 'FATAL: database is down'; echo 'BOOM: reactor core'; sleep 1",
        ],
        &[],
        Some(ws.path()),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("would fix: BOOM: reactor core"), "{err}");
    assert!(!err.contains("would fix: FATAL"), "{err}");
}

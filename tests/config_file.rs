//! Settings files on disk: the project file in the workspace and the user file
//! under XDG_CONFIG_HOME or HOME load together; a bad one names file and line.

use std::ffi::OsString;
use std::fs;
use std::path::Path;

use otorepair::config_file::{load, FileSettings};

fn env_for(home: &Path, xdg: Option<&Path>) -> impl Fn(&str) -> Option<OsString> {
    let home = home.as_os_str().to_os_string();
    let xdg = xdg.map(|p| p.as_os_str().to_os_string());
    move |k: &str| match k {
        "HOME" => Some(home.clone()),
        "XDG_CONFIG_HOME" => xdg.clone(),
        _ => None,
    }
}

#[test]
fn project_and_user_files_both_load() {
    let root = tempfile::tempdir().unwrap();
    let ws = root.path().join("ws");
    let home = root.path().join("home");
    fs::create_dir_all(&ws).unwrap();
    fs::create_dir_all(home.join(".config/otorepair")).unwrap();
    fs::write(
        ws.join(".otorepair.toml"),
        "settle = 1\n[detect]\nignores = ['noise']\n",
    )
    .unwrap();
    let user_file = home.join(".config/otorepair/config.toml");
    fs::write(&user_file, "settle = 4\nbackend = 'gemini'\n").unwrap();

    let loaded = load(&ws, &env_for(&home, None)).unwrap();
    let (project_path, project) = loaded.project.clone().unwrap();
    assert_eq!(project_path, ws.join(".otorepair.toml"));
    assert_eq!(project.settle, Some(1.0));
    assert_eq!(project.detect_ignores, vec!["noise"]);
    let (user_path, user) = loaded.user.clone().unwrap();
    assert_eq!(user_path, user_file);
    assert_eq!(user.backend.as_deref(), Some("gemini"));

    let (settle, source) = loaded.pick(|s| s.settle).unwrap();
    assert_eq!(settle, 1.0);
    assert_eq!(
        source,
        format!("project file {}", ws.join(".otorepair.toml").display())
    );
    let (_, source) = loaded.pick(|s| s.backend.clone()).unwrap();
    assert_eq!(source, format!("user file {}", user_file.display()));
}

#[test]
fn missing_files_are_fine_and_xdg_wins_over_home() {
    let root = tempfile::tempdir().unwrap();
    let loaded = load(root.path(), &env_for(root.path(), None)).unwrap();
    assert!(loaded.project.is_none() && loaded.user.is_none());

    let xdg = root.path().join("xdg");
    fs::create_dir_all(xdg.join("otorepair")).unwrap();
    fs::write(xdg.join("otorepair/config.toml"), "pty = false\n").unwrap();
    let loaded = load(root.path(), &env_for(root.path(), Some(&xdg))).unwrap();
    let (path, s) = loaded.user.unwrap();
    assert_eq!(path, xdg.join("otorepair/config.toml"));
    assert_eq!(
        s,
        FileSettings {
            pty: Some(false),
            ..FileSettings::default()
        }
    );
}

#[test]
fn errors_name_the_file_the_line_and_the_key() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join(".otorepair.toml");
    fs::write(&file, "# settings\nbackend = 'codex'\nfix_timout = 3\n").unwrap();
    let e = load(root.path(), &|_| None).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}:3: unknown key 'fix_timout'", file.display())
    );
    assert_eq!(e.key.as_deref(), Some("fix_timout"));

    fs::write(&file, "[detect]\npatterns = ['ok', '+bad']\n").unwrap();
    let e = load(root.path(), &|_| None).unwrap_err();
    assert_eq!(e.file, file);
    assert_eq!(e.line, Some(2));
    assert_eq!(e.key.as_deref(), Some("detect.patterns"));

    // The user file is checked as strictly, and named.
    fs::remove_file(&file).unwrap();
    let user = root.path().join("cfg/otorepair/config.toml");
    fs::create_dir_all(user.parent().unwrap()).unwrap();
    fs::write(&user, "\n\non_fix = 'never'\n").unwrap();
    let e = load(
        root.path(),
        &env_for(root.path(), Some(&root.path().join("cfg"))),
    )
    .unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "{}:3: invalid value 'never' for 'on_fix'",
            user.display()
        )),
        "{e}"
    );

    // A file that cannot be read is named too, without a line.
    fs::remove_file(&user).unwrap();
    fs::create_dir_all(&user).unwrap();
    let e = load(
        root.path(),
        &env_for(root.path(), Some(&root.path().join("cfg"))),
    )
    .unwrap_err();
    assert_eq!(e.line, None);
    assert!(
        e.to_string()
            .starts_with(&format!("{}: cannot read", user.display())),
        "{e}"
    );

    fs::remove_dir(&user).unwrap();
    fs::write(&file, b"backend = '\xff'\n").unwrap();
    let e = load(root.path(), &|_| None).unwrap_err();
    assert!(e.message.contains("UTF-8"), "{e}");
}

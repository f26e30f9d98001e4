//! The real agent CLIs (Claude Code 2.1.197, Codex 0.169.0, Gemini CLI 0.61.0 from
//! npm), offline, against local mocks of their model APIs
//! (`tests/real_agents/mock_*.py`).
//!
//! `*_cli_*` tests run each CLI directly with the exact argv of otorepair's backend
//! table: they prove the flags, the environment and the mocks. `otorepair_*` tests
//! run `otorepair --backend <cli>` in a PTY and check the healing loop end to end.
//!
//! Needs node/npm (the CLIs are installed once into `target/real-agents/` by
//! `tests/real_agents/install.sh`) and python3. `OTOREPAIR_SKIP_REAL_AGENTS=1` skips.

mod common;
#[path = "real_agents/support.rs"]
mod support;

use common::{Opts, Term};
use regex::Regex;
use serde_json::Value;
use std::time::{Duration, Instant};
use support::{plain, skip, tool_names, Cli, Sandbox};

const FIXED: &str = "port = int(os.environ.get(\"PORT\"";

/// otorepair's triage question, shaped like `agent::prompt::triage_prompt`.
fn triage_prompt(command: &str, output: &str) -> String {
    format!(
        "You are checking the output of a developer's running command (`{command}`) for errors.\n\
         Decide whether the output below shows a real error that needs a change to the project's \
         source code.\n\n````text\n{output}````\n\nReply with exactly one word: ERROR or NO.\n"
    )
}

fn all_text(v: &Value) -> String {
    // Every string inside a request body, for phrase checks.
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(all_text).collect::<Vec<_>>().join("\n"),
        Value::Object(o) => o.values().map(all_text).collect::<Vec<_>>().join("\n"),
        _ => String::new(),
    }
}

// ---------------------------------------------------------------------------------
// The CLIs directly, with otorepair's flags.
// ---------------------------------------------------------------------------------

#[test]
fn claude_cli_fixes_the_crash_with_otorepairs_flags() {
    if skip() {
        return;
    }
    let sb = Sandbox::new(Cli::Claude, "crash_on_start", &[]);
    let out = sb.run_cli(&sb.fix_args(), &sb.fix_prompt("app.py"));
    let ctx = format!("{out:#?}\nrequests:\n{}", sb.request_summary());
    assert_eq!(out.code, 0, "{ctx}");
    assert!(sb.file("app.py").contains(FIXED), "{ctx}");
    let events = out.events();
    let result = events.last().expect("no stream");
    assert_eq!(result["type"], "result", "{ctx}");
    assert_eq!(result["is_error"], false, "{ctx}");
    assert!(
        result["permission_denials"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "{ctx}"
    );
    let tools_used: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "assistant")
        .flat_map(|e| {
            e["message"]["content"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|b| b["type"] == "tool_use")
        .map(|b| if b["name"] == "Read" { "Read" } else { "Edit" })
        .collect();
    assert_eq!(tools_used, ["Read", "Edit"], "{ctx}");
    // The fix requests: three turns, editing tools only, no shell.
    let reqs = sb.mock.model_requests();
    assert_eq!(reqs.len(), 3, "{ctx}");
    for r in &reqs {
        let names = tool_names(r);
        assert!(names.iter().any(|n| n == "Edit"), "{ctx}");
        assert!(!names.iter().any(|n| n == "Bash"), "{ctx}");
        assert_eq!(r["stream"], true, "{ctx}");
    }
}

#[test]
fn claude_cli_triage_asks_haiku_with_no_tools() {
    if skip() {
        return;
    }
    let sb = Sandbox::new(Cli::Claude, "crash_on_start", &[]);
    let prompt = triage_prompt("python3 app.py", &sb.crash_output("app.py"));
    let out = sb.run_cli(&sb.triage_args(), &prompt);
    let ctx = format!("{out:#?}\nrequests:\n{}", sb.request_summary());
    assert_eq!(out.code, 0, "{ctx}");
    assert_eq!(out.stdout.trim(), "ERROR", "{ctx}");
    let reqs = sb.mock.model_requests();
    assert_eq!(reqs.len(), 1, "{ctx}");
    assert!(
        reqs[0]["model"].as_str().unwrap().contains("haiku"),
        "{ctx}"
    );
    assert!(tool_names(&reqs[0]).is_empty(), "{ctx}");
    assert!(!sb.file("app.py").contains(FIXED));
}

#[test]
fn codex_cli_fixes_the_crash_with_otorepairs_flags() {
    if skip() {
        return;
    }
    let sb = Sandbox::new(Cli::Codex, "crash_on_start", &[]);
    let out = sb.run_cli(&sb.fix_args(), &sb.fix_prompt("app.py"));
    let ctx = format!("{out:#?}\nrequests:\n{}", sb.request_summary());
    assert_eq!(out.code, 0, "{ctx}");
    assert!(sb.file("app.py").contains(FIXED), "{ctx}");
    let events = out.events();
    let app = sb.ws.join("app.py").display().to_string();
    assert!(
        events.iter().any(|e| e["type"] == "item.completed"
            && e["item"]["type"] == "file_change"
            && e["item"]["changes"][0]["path"] == app.as_str()),
        "{ctx}"
    );
    assert_eq!(events.last().unwrap()["type"], "turn.completed", "{ctx}");
    // The provider came from CODEX_HOME/config.toml (no -c model_provider).
    let reqs = sb.mock.model_requests();
    assert_eq!(reqs.len(), 2, "{ctx}");
    for r in &reqs {
        assert_eq!(r["model"], "mock-model", "{ctx}");
        // Codex always offers its shell; the sandbox is what confines it.
        assert!(tool_names(r).iter().any(|n| n == "exec_command"), "{ctx}");
        let text = all_text(&r["input"]);
        assert!(
            text.contains("`sandbox_mode` is `workspace-write`"),
            "{ctx}"
        );
        assert!(!text.contains("danger-full-access"), "{ctx}");
    }
}

#[test]
fn codex_cli_triage_runs_read_only() {
    if skip() {
        return;
    }
    let sb = Sandbox::new(Cli::Codex, "crash_on_start", &[]);
    let prompt = triage_prompt("python3 app.py", &sb.crash_output("app.py"));
    let out = sb.run_cli(&sb.triage_args(), &prompt);
    let ctx = format!("{out:#?}\nrequests:\n{}", sb.request_summary());
    assert_eq!(out.code, 0, "{ctx}");
    assert_eq!(out.stdout.trim(), "ERROR", "{ctx}");
    let reqs = sb.mock.model_requests();
    assert_eq!(reqs.len(), 1, "{ctx}");
    assert!(
        all_text(&reqs[0]["input"]).contains("`sandbox_mode` is `read-only`"),
        "{ctx}"
    );
}

#[test]
fn gemini_cli_fixes_the_crash_with_otorepairs_flags() {
    if skip() {
        return;
    }
    let sb = Sandbox::new(Cli::Gemini, "crash_on_start", &[]);
    let out = sb.run_cli(&sb.fix_args(), &sb.fix_prompt("app.py"));
    let ctx = format!("{out:#?}\nrequests:\n{}", sb.request_summary());
    assert_eq!(out.code, 0, "{ctx}");
    assert!(sb.file("app.py").contains(FIXED), "{ctx}");
    let events = out.events();
    let tools: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "tool_use")
        .map(|e| e["tool_name"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["read_file", "replace"], "{ctx}");
    assert!(
        events
            .iter()
            .filter(|e| e["type"] == "tool_result")
            .all(|e| e["status"] == "success"),
        "{ctx}"
    );
    let last = events.last().unwrap();
    assert_eq!(last["type"], "result", "{ctx}");
    assert_eq!(last["status"], "success", "{ctx}");
    // settings.json's model.name: no router call, every request to the named model.
    let all = sb.mock.requests();
    assert!(
        all.iter().all(|r| !r["path"]
            .as_str()
            .unwrap_or("")
            .contains(":generateContent")),
        "router/classifier call made: {ctx}"
    );
    let reqs = sb.mock.model_requests();
    assert_eq!(reqs.len(), 3, "{ctx}");
    for r in sb.mock.requests().iter().filter(|r| r["method"] == "POST") {
        let path = r["path"].as_str().unwrap();
        assert!(path.contains("/models/gemini-2.5-flash:"), "{ctx}");
        let names = tool_names(&r["body"]);
        assert!(names.iter().any(|n| n == "replace"), "{ctx}");
        assert!(!names.iter().any(|n| n == "run_shell_command"), "{ctx}");
    }
}

#[test]
fn gemini_cli_triage_answers_in_text() {
    if skip() {
        return;
    }
    let sb = Sandbox::new(Cli::Gemini, "crash_on_start", &[]);
    let prompt = triage_prompt("python3 app.py", &sb.crash_output("app.py"));
    let out = sb.run_cli(&sb.triage_args(), &prompt);
    let ctx = format!("{out:#?}\nrequests:\n{}", sb.request_summary());
    assert_eq!(out.code, 0, "{ctx}");
    assert_eq!(out.stdout.trim(), "ERROR", "{ctx}");
    let reqs = sb.mock.model_requests();
    assert!(!reqs.is_empty(), "{ctx}");
    for r in &reqs {
        let names = tool_names(r);
        assert!(!names.iter().any(|n| n == "run_shell_command"), "{ctx}");
        // Plan mode is on (it still declares replace/write_file, confined to plans).
        assert!(names.iter().any(|n| n == "exit_plan_mode"), "{ctx}");
    }
    assert!(!sb.file("app.py").contains(FIXED));
}

// ---------------------------------------------------------------------------------
// otorepair itself, in a PTY, healing with the real CLIs.
// ---------------------------------------------------------------------------------

fn opts(sb: &Sandbox, extra: &[(&'static str, String)]) -> Opts<'static> {
    let mut env = sb.env();
    env.extend(extra.iter().cloned());
    // The workspace outlives the Term (both live for the test), so leak a copy of the path.
    let cwd: &'static std::path::Path = Box::leak(sb.ws.clone().into_boxed_path());
    Opts {
        env,
        cwd: Some(cwd),
        rows: 40,
        cols: 120,
    }
}

/// A readable line naming `file` after one of `verbs`, and no raw stream JSON.
fn assert_readable(screen: &str, verbs: &str, file: &str) {
    let line = Regex::new(&format!(r"(?m)^.*\b({verbs})\b.*\b{}", regex::escape(file))).unwrap();
    assert!(
        line.is_match(screen),
        "no readable `{verbs} {file}` line on the terminal:\n{screen}"
    );
    for raw in [
        "{\"type\"",
        "\"tool_use\"",
        "\"item.completed\"",
        "\"functionCall\"",
    ] {
        assert!(
            !screen.contains(raw),
            "raw stream JSON ({raw}) on the terminal:\n{screen}"
        );
    }
}

fn heal_crash(cli: Cli, verbs: &str) -> (Sandbox, String) {
    // The fallback target only matters if otorepair's prompt lost the absolute path.
    // Port 0: parallel tests must not race for a fixed port.
    let sb = Sandbox::new(
        cli,
        "crash_on_start",
        &[
            ("MOCK_TARGET_FILE", "app.py"),
            ("MOCK_NEW", r#"os.environ.get("PORT", "0")"#),
        ],
    );
    let mut t = Term::spawn(
        &["--backend", cli.name(), "--", "python3", "app.py"],
        opts(&sb, &[]),
    );
    let code = t.wait();
    let screen = plain(&t.output());
    let ctx = format!("terminal:\n{screen}\nrequests:\n{}", sb.request_summary());
    assert_eq!(code, 0, "{ctx}");
    assert!(sb.file("app.py").contains(FIXED), "app.py not fixed; {ctx}");
    assert!(screen.contains("KeyError: 'PORT'"), "{ctx}");
    assert!(screen.contains("Serving on http://127.0.0.1:"), "{ctx}");
    assert_readable(&screen, verbs, "app.py");
    (sb, screen)
}

#[test]
fn otorepair_heals_a_crash_with_real_claude() {
    if skip() {
        return;
    }
    let (sb, screen) = heal_crash(Cli::Claude, "Edit");
    let reqs = sb.mock.model_requests();
    assert!(!reqs.is_empty(), "{screen}");
    for r in &reqs {
        // A crash needs no triage: every request is the fix, without a shell.
        let names = tool_names(r);
        assert!(
            names.iter().any(|n| n == "Edit"),
            "{}",
            sb.request_summary()
        );
        assert!(
            !names.iter().any(|n| n == "Bash"),
            "{}",
            sb.request_summary()
        );
    }
}

#[test]
fn otorepair_heals_a_crash_with_real_codex() {
    if skip() {
        return;
    }
    let (sb, _) = heal_crash(Cli::Codex, "Edit|Changed|Updated?");
    for r in sb.mock.model_requests() {
        let text = all_text(&r["input"]);
        assert!(
            text.contains("`sandbox_mode` is `workspace-write`"),
            "{}",
            sb.request_summary()
        );
        assert!(!text.contains("danger-full-access"));
    }
}

#[test]
fn otorepair_heals_a_crash_with_real_gemini() {
    if skip() {
        return;
    }
    let (sb, _) = heal_crash(Cli::Gemini, "Edit");
    for r in sb.mock.model_requests() {
        let names = tool_names(&r);
        assert!(
            !names.iter().any(|n| n == "run_shell_command"),
            "{}",
            sb.request_summary()
        );
    }
}

/// The live path: the server stays up and prints a traceback per request; otorepair
/// triages it with haiku and no tools, then fixes it without a shell.
#[test]
fn otorepair_triages_and_fixes_a_live_error_with_real_claude() {
    if skip() {
        return;
    }
    let old = r#"raise RuntimeError(f"greeting template for {name!r} is missing")"#;
    let new = r#"return f"hello, {name}\n""#;
    let sb = Sandbox::new(
        Cli::Claude,
        "broken_http_server",
        &[
            ("MOCK_OLD", old),
            ("MOCK_NEW", new),
            ("MOCK_TARGET_FILE", "server.py"),
        ],
    );
    let port = support::free_port();
    let mut t = Term::spawn(
        // server.py has no hot reload: restart it after the fix.
        &[
            "--backend",
            "claude",
            "--on-fix",
            "restart",
            "--",
            "python3",
            "server.py",
        ],
        opts(&sb, &[("PORT", port.to_string())]),
    );
    t.expect("Serving on");
    let first = support::http_get(port);
    assert!(
        first.as_deref().is_some_and(|s| s.contains("500")),
        "{first:?}"
    );
    // Wait for the fix to land in the file, then for the fixed server to answer.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut healed = false;
    while Instant::now() < deadline {
        if sb.file("server.py").contains("hello, {name}")
            && support::http_get(port).is_some_and(|s| s.contains("200"))
        {
            healed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let screen = plain(&t.output());
    let ctx = format!("terminal:\n{screen}\nrequests:\n{}", sb.request_summary());
    assert!(healed, "server not healed; {ctx}");
    t.send(b"\x03");
    let code = t.wait();
    assert!(code == 130 || code == 0, "exit {code}; {ctx}");
    let screen = plain(&t.output());
    assert_readable(&screen, "Edit", "server.py");

    let reqs = sb.mock.model_requests();
    let triage = reqs.first().expect("no model request");
    assert!(
        triage["model"].as_str().unwrap_or("").contains("haiku"),
        "first request is not a haiku triage; {ctx}"
    );
    assert!(tool_names(triage).is_empty(), "triage offered tools; {ctx}");
    let fixes: Vec<&Value> = reqs.iter().filter(|r| !tool_names(r).is_empty()).collect();
    assert!(!fixes.is_empty(), "no fix request; {ctx}");
    for r in fixes {
        assert!(!tool_names(r).iter().any(|n| n == "Bash"), "{ctx}");
    }
}

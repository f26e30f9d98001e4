//! Secrets never leave otorepair: a program prints secrets (a `.env` dump, a URL
//! password holding `@`, Werkzeug's debugger PIN, a key body whose BEGIN line fell
//! outside the crash window, a JWT long enough to be cut in the summary), and
//! every sink is searched for them: what each agent was given on stdin, the
//! history file, the events file and the `-vvv` output.

mod common;

use std::path::Path;

use common::{read_jsonl, Opts, Term};
use serde_json::Value;

/// A JWT whose claims are long enough that a 200-character summary ends in them.
fn long_jwt() -> String {
    let claims = "eyJzdWIiOiJ1c2VyXzQ4MjEiLCJlbWFpbCI6ImFuYUBzaG9wLmV4YW1wbGUiLCJyb2xlIjoiYWRtaW4i\
                  LCJwZXJtaXNzaW9ucyI6WyJvcmRlcnM6cmVhZCIsIm9yZGVyczp3cml0ZSIsInJlZnVuZHM6d3JpdGUi\
                  XSwidGVuYW50Ijoic2hvcC1wcm9kLWV1LXdlc3QtMSIsImV4cCI6MTc5MDAwMDAwMH0";
    format!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{claims}.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    )
}

/// 70 lines of a base64 key body (deterministic, random-looking).
fn key_body() -> Vec<String> {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..70)
        .map(|_| {
            (0..64)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    B64[(x % 64) as usize] as char
                })
                .collect()
        })
        .collect()
}

const ARGV_TOKEN: &str = "sk_live_51HqLyjWDarjtT1zdp7dcXGjmJ8rRkzQ3nhR3FXp";

/// Writes the secrets a program prints, and returns what must never leave.
fn write_secrets(dir: &Path) -> Vec<String> {
    let body = key_body();
    let jwt = long_jwt();
    let lines = [
        "DATABASE_PASSWORD=hunter2-db-Pw",
        "API_KEY=4f9c2a7e1b3d5f8a0c2e4b6d8f1a3c5e",
        "SECRET_KEY_BASE=9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a",
        "connecting to mongodb://admin:p@ssw0rd!@mongo:27017/shop",
        " * Debugger PIN: 120-730-225",
        "authorization: bearer Zm9vYmFyYmF6cXV4MTIzNDU2",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ];
    let mut printed = vec!["-----BEGIN PRIVATE KEY-----".to_string()];
    printed.extend(body.iter().cloned());
    printed.push("-----END PRIVATE KEY-----".to_string());
    printed.extend(lines.iter().map(|l| l.to_string()));
    std::fs::write(dir.join("secrets.txt"), printed.join("\n") + "\n").unwrap();
    std::fs::write(dir.join("jwt.txt"), &jwt).unwrap();
    let mut never = vec![
        "hunter2-db-Pw".to_string(),
        "4f9c2a7e1b3d5f8a0c2e4b6d8f1a3c5e".to_string(),
        "9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a".to_string(),
        "ssw0rd".to_string(),
        "120-730-225".to_string(),
        "Zm9vYmFyYmF6cXV4MTIzNDU2".to_string(),
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_string(),
        ARGV_TOKEN.to_string(),
        // The JWT's header, and pieces of its claims on both sides of the cut.
        jwt[..24].to_string(),
        jwt[40..60].to_string(),
        jwt[120..140].to_string(),
    ];
    never.extend(body.iter().map(|l| l[..24].to_string()));
    never
}

/// What the fake agent was given on stdin, for each run in `mode` (fix, triage).
fn stdin_of(records: &[Value], mode: &str) -> Vec<String> {
    records
        .iter()
        .filter(|r| r["mode"] == mode)
        .map(|r| r["stdin"].as_str().unwrap().to_string())
        .collect()
}

/// otorepair's diagnostic lines (`-v` to `-vvv`), without the command's own
/// output (which is the user's, shown as it is) or the banner echoing the command
/// line the user typed.
fn debug_lines(transcript: &str) -> Vec<&str> {
    transcript
        .split('\n')
        .filter_map(|l| l.find("[otorepair:debug]").map(|at| &l[at..]))
        .collect()
}

fn assert_absent(sink: &str, text: &str, never: &[String]) {
    for secret in never {
        assert!(
            !text.contains(secret.as_str()),
            "{secret:?} reached {sink}:\n{text}"
        );
    }
}

#[test]
fn a_crash_full_of_secrets_leaks_none_to_prompts_history_events_or_logs() {
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let never = write_secrets(dir.path());
    // Seventy key lines, then the rest: the crash window (80 lines) starts inside
    // the key, after its BEGIN line. The exception's message is cut in the summary.
    std::fs::write(
        dir.path().join("app.py"),
        "print(open('secrets.txt').read(), end='', flush=True)\n\
         raise PermissionError('token rejected: ' + open('jwt.txt').read())\n",
    )
    .unwrap();
    // A history written by an older otorepair, with a raw secret in it.
    let old_secret = "ghp_0ldH1st0ryT0k3nabcdefghijklmnopqrstu";
    std::fs::create_dir_all(dir.path().join(".otorepair")).unwrap();
    std::fs::write(
        dir.path().join(".otorepair/history.json"),
        format!(
            r#"{{"version":1,"entries":[{{"time":1,"fingerprint":"0000000000000000","summary":"RuntimeError: boom","command":"python3 app.py","backend":"claude","success":false,"duration_ms":5,"error_snippet":"token {old_secret} rejected","files":[]}}]}}"#
        ),
    )
    .unwrap();
    let agent_log = logs.path().join("agent.jsonl");
    let events = logs.path().join("events.jsonl");
    let token_arg = format!("--api-token={ARGV_TOKEN}");
    let mut t = Term::spawn(
        &[
            "-vvv",
            "--events",
            events.to_str().unwrap(),
            "--max-attempts",
            "2",
            "--",
            "python3",
            "app.py",
            &token_arg,
        ],
        Opts {
            cwd: Some(dir.path()),
            env: vec![
                ("FAKE_AGENT_LOG", agent_log.display().to_string()),
                // Each fix fails: the second prompt carries the first in its history.
                ("FAKE_AGENT_EXIT", "1".to_string()),
            ],
            ..Opts::default()
        },
    );
    t.expect("waiting for a file change");
    t.send(b"\x03");
    assert_eq!(t.wait(), 130);
    let mut never = never;
    never.push(old_secret.to_string());

    let records = read_jsonl(&agent_log);
    let prompts = stdin_of(&records, "fix");
    assert_eq!(prompts.len(), 2, "{records:?}");
    for prompt in &prompts {
        assert_absent("the fix prompt", prompt, &never);
        // The error stays readable, the secrets are marked as removed.
        for kept in [
            "PermissionError: token rejected: [REDACTED]",
            "DATABASE_PASSWORD=[REDACTED]",
            "mongodb://admin:[REDACTED]@mongo:27017/shop",
            "Debugger PIN: [REDACTED]",
            "[REDACTED PRIVATE KEY]",
            "--api-token=[REDACTED]",
        ] {
            assert!(prompt.contains(kept), "missing {kept:?} in:\n{prompt}");
        }
    }
    assert!(prompts[1].contains("Earlier attempts"), "{}", prompts[1]);

    let history =
        std::fs::read_to_string(common::state_dir(dir.path()).join("history.json")).unwrap();
    assert_absent("the history file", &history, &never);
    assert!(history.contains("[REDACTED"), "{history}");

    let events_text = std::fs::read_to_string(&events).unwrap();
    assert_absent("the events file", &events_text, &never);
    let start = &read_jsonl(&events)[0];
    assert_eq!(start["command"], "python3 app.py --api-token=[REDACTED]");

    let transcript = t.text();
    let own = debug_lines(&transcript).join("\n");
    assert_absent("the -vvv output", &own, &never);
    assert!(
        own.contains("line: DATABASE_PASSWORD=[REDACTED]"),
        "no -vvv line log:\n{own}"
    );
    assert!(own.contains("fix prompt:"), "no -vvv prompt dump:\n{own}");
    // The user still sees their own output unchanged.
    assert!(transcript.contains("DATABASE_PASSWORD=hunter2-db-Pw"));
}

#[test]
fn a_live_error_full_of_secrets_leaks_none_to_triage_or_suspect_events() {
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let never = write_secrets(dir.path());
    // A server that logs the secrets and a traceback, and keeps running.
    std::fs::write(
        dir.path().join("app.py"),
        "import sys, time, traceback\n\
         print(open('secrets.txt').read(), end='', flush=True)\n\
         try:\n    raise PermissionError('token rejected: ' + open('jwt.txt').read())\n\
         except Exception:\n    traceback.print_exc()\n    sys.stderr.flush()\n\
         print('still serving', flush=True)\n\
         time.sleep(60)\n",
    )
    .unwrap();
    let agent_log = logs.path().join("agent.jsonl");
    let events = logs.path().join("events.jsonl");
    let mut t = Term::spawn(
        &[
            "-vvv",
            "--events",
            events.to_str().unwrap(),
            "--on-fix",
            "wait",
            "--",
            "python3",
            "app.py",
        ],
        Opts {
            cwd: Some(dir.path()),
            env: vec![
                ("FAKE_AGENT_LOG", agent_log.display().to_string()),
                (
                    "FAKE_AGENT_EDIT",
                    "app.py::still serving::still  serving".to_string(),
                ),
            ],
            ..Opts::default()
        },
    );
    t.expect("Fix applied in");
    t.send(b"\x03");
    t.send(b"\x03");
    t.wait();

    let records = read_jsonl(&agent_log);
    let triage = stdin_of(&records, "triage");
    assert_eq!(triage.len(), 1, "{records:?}");
    assert_absent("the triage prompt", &triage[0], &never);
    assert!(
        triage[0].contains("PermissionError: token rejected: [REDACTED]"),
        "{}",
        triage[0]
    );
    for prompt in stdin_of(&records, "fix") {
        assert_absent("the fix prompt", &prompt, &never);
    }

    let events_text = std::fs::read_to_string(&events).unwrap();
    assert_absent("the events file", &events_text, &never);
    let suspect = read_jsonl(&events)
        .into_iter()
        .find(|e| e["event"] == "suspect")
        .expect("a suspect event");
    let summary = suspect["summary"].as_str().unwrap();
    // Cut by the clip inside the JWT, and still masked to the cut.
    assert!(
        summary.starts_with("PermissionError: token rejected: [REDACTED]"),
        "{summary}"
    );
    let lines: Vec<&str> = suspect["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("token rejected: [REDACTED]")),
        "{lines:?}"
    );

    let own = debug_lines(&t.text()).join("\n");
    assert_absent("the -vvv output", &own, &never);
    assert!(
        own.contains("triage prompt:"),
        "no -vvv triage dump:\n{own}"
    );
}

#[test]
fn what_an_agent_prints_and_its_command_line_leak_nothing_to_the_vv_output() {
    let dir = tempfile::tempdir().unwrap();
    let never = write_secrets(dir.path());
    std::fs::write(dir.path().join("app.py"), "raise SystemExit('boom')\n").unwrap();
    // An agent that read the secrets (as one reading `.env` would) and complains
    // with them on stderr; its command line carries a token of its own.
    let agent = format!("cat secrets.txt >&2; exit 1 # --api-token={ARGV_TOKEN}");
    let out = common::run_piped(
        &[
            "-vv",
            "--agent-cmd",
            &agent,
            "--max-attempts",
            "1",
            "--",
            "python3",
            "app.py",
        ],
        &[],
        Some(dir.path()),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let own = debug_lines(&err).join("\n");
    assert!(own.contains("agent stderr:"), "no -vv agent stderr:\n{err}");
    assert!(own.contains("fix agent started:"), "{err}");
    assert_absent("the -vv output", &own, &never);
}

//! The agent layer end to end against the fake CLIs in `fixtures/agents/`:
//! the backend table's argv, the process runner and the stream parser together.

mod common;
use otorepair::agent::backend::{cursor_auth_check, cursor_status_command, find_on_path};
use otorepair::agent::{
    parse_verdict, run_blocking, AgentEvent, AgentOutput, AgentProcess, BackendKind, BackendSetup,
    ExitOutcome, Role, StreamParser,
};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const APP: &str = "import os\nPORT = int(os.environ[\"PORT\"])\n";
const EDIT: &str = "app.py::os.environ[\"PORT\"]::os.environ.get(\"PORT\", \"8765\")";

fn fakes() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/agents")
}

struct Ws {
    dir: tempfile::TempDir,
}

impl Ws {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("app.py"), APP).expect("write app.py");
        Ws { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn log(&self) -> PathBuf {
        self.path().join("agent-log.jsonl")
    }

    fn setup(&self, kind: BackendKind, extra: &[(&str, &str)]) -> BackendSetup {
        let path = std::env::join_paths(std::iter::once(fakes()).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )))
        .expect("PATH");
        let mut env = vec![
            ("PATH".to_string(), path.to_string_lossy().into_owned()),
            (
                "FAKE_AGENT_LOG".to_string(),
                self.log().to_string_lossy().into_owned(),
            ),
            ("OTOREPAIR_RUN".to_string(), "1".to_string()),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        BackendSetup {
            kind,
            workspace: self.path().to_path_buf(),
            agent_cmd: (kind == BackendKind::Custom).then(|| "fake-custom".to_string()),
            triage_cmd: (kind == BackendKind::Custom).then(|| "fake-custom triage".to_string()),
            env,
            ..BackendSetup::default()
        }
    }

    fn records(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("log line is JSON"))
            .collect()
    }
}

/// Runs a fix; returns the lines shown, the exit and the parser's verdict.
fn fix(setup: &BackendSetup, prompt: &str) -> (Vec<String>, ExitOutcome, Option<bool>) {
    let cmd = setup.command(Role::Fix).expect("command");
    let (tx, rx) = mpsc::channel();
    let _proc = AgentProcess::spawn(&cmd, prompt.to_string(), move |o| {
        let _ = tx.send(o);
    })
    .expect("spawn fake agent");
    let mut parser = StreamParser::new(setup.format(Role::Fix), &setup.workspace);
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let outcome = loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(AgentOutput::Stdout(l)) => events.extend(parser.feed_line(&l)),
            Ok(AgentOutput::Stderr(_)) => {}
            Ok(AgentOutput::Exited(o)) => break o,
            Err(e) => panic!("fake agent did not finish: {e}"),
        }
    };
    events.extend(parser.finish());
    let shown = events.iter().filter_map(AgentEvent::display).collect();
    (shown, outcome, parser.result_ok())
}

#[test]
fn every_backend_fixes_through_its_stream() {
    let expected: [(BackendKind, &[&str]); 5] = [
        (
            BackendKind::Claude,
            &[
                "Reading the file named in the error.",
                "Read app.py",
                "Edit app.py",
                "Fixed 1 file(s).",
                "Agent finished in 0.2s",
            ],
        ),
        (
            BackendKind::Cursor,
            &[
                "Reading the file.",
                "Read app.py",
                "Edit app.py",
                "Fixed 1 file(s).",
                "Agent finished in 1.2s",
            ],
        ),
        (
            BackendKind::Codex,
            &["Changed app.py", "Fixed 1 file(s).", "Agent finished"],
        ),
        (
            BackendKind::Gemini,
            &[
                "Fixing the error.",
                "Edit app.py",
                "Fixed 1 file(s).",
                "Agent finished in 0.2s",
            ],
        ),
        (
            BackendKind::Custom,
            &["Looking at the error.", "Edited app.py", "Done."],
        ),
    ];
    for (kind, want) in expected {
        let ws = Ws::new();
        let setup = ws.setup(kind, &[("FAKE_AGENT_EDIT", EDIT)]);
        let (shown, outcome, ok) = fix(&setup, "the fix prompt");
        assert_eq!(shown, want, "{kind}");
        assert!(outcome.success(), "{kind}: {outcome}");
        if kind != BackendKind::Custom {
            assert_eq!(ok, Some(true), "{kind}");
        }
        let app = std::fs::read_to_string(ws.path().join("app.py")).expect("read");
        assert!(
            app.contains("os.environ.get(\"PORT\", \"8765\")"),
            "{kind}: {app}"
        );
        let rec = &ws.records()[0];
        assert_eq!(rec["mode"], "fix", "{kind}");
        assert_eq!(rec["stdin"], "the fix prompt", "{kind}");
        assert_eq!(rec["env"]["OTOREPAIR_RUN"], "1", "{kind}");
        let cwd = PathBuf::from(rec["cwd"].as_str().unwrap_or_default());
        assert_eq!(
            cwd.canonicalize().ok(),
            ws.path().canonicalize().ok(),
            "{kind}"
        );
    }
}

#[test]
fn failing_fix_is_reported() {
    for kind in [BackendKind::Claude, BackendKind::Codex, BackendKind::Gemini] {
        let ws = Ws::new();
        let setup = ws.setup(kind, &[("FAKE_AGENT_EDIT", "app.py::not there::x")]);
        let (shown, outcome, ok) = fix(&setup, "p");
        assert_eq!(outcome.code, Some(1), "{kind}");
        assert_eq!(ok, Some(false), "{kind}: {shown:?}");
        assert!(
            shown
                .iter()
                .any(|l| l.contains("old text not found in app.py")),
            "{kind}: {shown:?}"
        );
        assert_eq!(
            std::fs::read_to_string(ws.path().join("app.py"))
                .ok()
                .as_deref(),
            Some(APP)
        );
    }
}

#[test]
fn triage_answers_through_every_backend() {
    for kind in BackendKind::ALL {
        for (answer, verdict) in [
            ("ERROR", Some(true)),
            ("```\nno\n```", Some(false)),
            ("hmm", None),
        ] {
            let ws = Ws::new();
            let setup = ws.setup(kind, &[("FAKE_TRIAGE_ANSWER", answer)]);
            let cmd = setup.command(Role::Triage).expect("command");
            let out =
                run_blocking(&cmd, "triage prompt".into(), Duration::from_secs(30)).expect("run");
            assert!(out.outcome.success(), "{kind}: {out:?}");
            assert_eq!(
                parse_verdict(&out.stdout),
                verdict,
                "{kind}: {:?}",
                out.stdout
            );
            let rec = &ws.records()[0];
            assert_eq!(rec["mode"], "triage", "{kind}");
            assert_eq!(rec["stdin"], "triage prompt", "{kind}");
        }
    }
}

fn alive(pid: i32) -> bool {
    // A zombie still answers kill(0); read its state instead.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[test]
fn stop_kills_the_agent_and_its_children() {
    let ws = Ws::new();
    let pid_file = ws.path().join("child.pid");
    let pid_file_s = pid_file.to_string_lossy().into_owned();
    let setup = ws.setup(
        BackendKind::Claude,
        &[
            ("FAKE_AGENT_SLEEP", "100"),
            ("FAKE_AGENT_SPAWN_CHILD", "1"),
            ("FAKE_AGENT_CHILD_PID_FILE", &pid_file_s),
        ],
    );
    let cmd = setup.command(Role::Fix).expect("command");
    let (tx, rx) = mpsc::channel();
    let proc = AgentProcess::spawn(&cmd, "p".into(), move |o| {
        let _ = tx.send(o);
    })
    .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    let child: i32 = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            break pid;
        }
        assert!(
            Instant::now() < deadline,
            "fake agent never wrote its child pid"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(alive(child));
    proc.stop();
    let exited = loop {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(AgentOutput::Exited(o)) => break o,
            Ok(_) => continue,
            Err(e) => panic!("no exit after stop: {e}"),
        }
    };
    assert_eq!(exited.signal, Some(15));
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(child) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(child), "the agent's child {child} survived stop()");
}

#[test]
fn triage_timeout_kills_the_fake() {
    let ws = Ws::new();
    let setup = ws.setup(BackendKind::Codex, &[("FAKE_AGENT_SLEEP", "100")]);
    let cmd = setup.command(Role::Triage).expect("command");
    let start = Instant::now();
    let out = run_blocking(&cmd, "p".into(), Duration::from_millis(500)).expect("run");
    assert!(out.timed_out);
    assert_eq!(parse_verdict(&out.stdout), None);
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn cursor_status_preflight() {
    let agent = find_on_path("agent", Some(fakes().as_os_str())).expect("fake agent on PATH");
    let mut status = cursor_status_command(&agent, &std::env::temp_dir());
    assert!(cursor_auth_check(false, &status, Duration::from_secs(20)).is_err());
    status.env.push(("FAKE_CURSOR_STATUS".into(), "0".into()));
    assert_eq!(
        cursor_auth_check(false, &status, Duration::from_secs(20)),
        Ok(())
    );
}

#[test]
fn what_an_agent_leaves_running_does_not_outlive_its_run() {
    // An agent that starts a background process (stdout closed, so the run ends)
    // and exits: the leftover is stopped with the run.
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("leftover.pid");
    let cmd = otorepair::agent::AgentCommand {
        argv: vec![
            "sh".into(),
            "-c".into(),
            format!(
                "sleep 977 >/dev/null 2>&1 </dev/null & echo $! > {}; echo done",
                pid_file.display()
            ),
        ],
        cwd: dir.path().to_path_buf(),
        env: Vec::new(),
    };
    let out =
        otorepair::agent::run_blocking(&cmd, String::new(), std::time::Duration::from_secs(20))
            .unwrap();
    assert_eq!(out.outcome.code, Some(0));
    common::wait_pid_gone(common::read_pid(&pid_file), "the agent's leftover");
}

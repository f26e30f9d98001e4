//! Environment errors end to end: a busy port, a refused connection. otorepair says
//! what is wrong in one line (naming the process that holds the port), never runs
//! the fake agent (which records every call it gets), waits in a terminal and
//! exits with the command's own code without one.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{http_get_path, repo, run_piped, Opts, Term};

/// Programs from the environment corpus (the ones its samples were captured with).
fn program(path: &str) -> String {
    repo()
        .join("fixtures/errors/gen/environment")
        .join(path)
        .display()
        .to_string()
}

/// A listener on a free port, held by a python3 process of its own (as another dev
/// server would hold it); stopped on drop.
struct Holder {
    child: Child,
    port: u16,
}

impl Holder {
    fn start() -> Holder {
        let mut child = Command::new("python3")
            .args([
                "-c",
                "import socket, sys, time\n\
                 s = socket.socket()\n\
                 s.bind(('0.0.0.0', 0))\n\
                 s.listen()\n\
                 print(s.getsockname()[1], flush=True)\n\
                 time.sleep(600)",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the holder prints its port");
        let port = line.trim().parse().expect("a port");
        Holder { child, port }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nothing listens on (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn agent_log() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("agent.jsonl");
    (dir, log)
}

fn assert_no_agent(log: &Path, shown: &str) {
    assert!(
        !log.exists(),
        "the agent ran: {}\noutput:\n{shown}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

#[test]
fn port_in_use_runs_no_agent_and_names_the_port_and_its_owner() {
    let mut holder = Holder::start();
    let (logs, log) = agent_log();
    let port = holder.port.to_string();
    let bind_py = program("python/bind.py");
    let mut t = Term::spawn(
        &["--", "python3", &bind_py, &port],
        Opts {
            cwd: Some(logs.path()),
            env: vec![("FAKE_AGENT_LOG", log.display().to_string())],
            ..Opts::default()
        },
    );
    // Python's own message names no port: it comes from the command line, the
    // owner from the OS.
    let line = format!(
        "Not a code error: port {port} is in use by PID {} (python3)",
        holder.pid()
    );
    t.expect(&line);
    t.expect("waiting for a file change");
    assert_no_agent(&log, &t.text());
    assert_eq!(t.text().matches("Not a code error").count(), 1);
    assert!(!t.text().contains("Attempting fix"), "{}", t.text());

    // The user stops the other program and presses Enter: the command starts.
    holder.stop();
    t.send(b"\r");
    t.expect("Process restarted");
    t.expect(&format!("Serving on http://127.0.0.1:{port}"));
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(), 143);
    assert_no_agent(&log, &t.text());
}

#[test]
fn port_in_use_by_a_node_server_names_the_port_and_its_owner() {
    let holder = Holder::start();
    let (logs, log) = agent_log();
    let port = holder.port.to_string();
    let listen_js = program("node/listen.js");
    let mut t = Term::spawn(
        &["--", "node", &listen_js, &port],
        Opts {
            cwd: Some(logs.path()),
            env: vec![("FAKE_AGENT_LOG", log.display().to_string())],
            ..Opts::default()
        },
    );
    t.expect(&format!(
        "Not a code error: port {port} is in use by PID {} (python3)",
        holder.pid()
    ));
    t.expect("waiting for a file change");
    t.send(b"\x03");
    assert_eq!(t.wait(), 130);
    assert_no_agent(&log, &t.text());
}

#[test]
fn without_a_terminal_port_in_use_exits_with_the_commands_own_code() {
    let holder = Holder::start();
    let (logs, log) = agent_log();
    let log_env = log.display().to_string();
    let owner = format!(
        "[otorepair] Not a code error: port {} is in use by PID {} (python3)",
        holder.port,
        holder.pid()
    );
    // A wrapper's own exit code, so it cannot be confused with otorepair's "gave
    // up" (1). Python's message names no port (it comes from the command line);
    // Node's does.
    for (interpreter, script, code, says) in [
        (
            "python3",
            "python/bind.py",
            7,
            "OSError: [Errno 98] Address already in use",
        ),
        ("node", "node/listen.js", 9, "Error: listen EADDRINUSE"),
    ] {
        let cmd = format!(
            "{interpreter} {} {} || exit {code}",
            program(script),
            holder.port
        );
        let out = run_piped(
            &[&cmd],
            &[("FAKE_AGENT_LOG", log_env.as_str())],
            Some(logs.path()),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{err}");
        assert!(err.contains(&owner), "{err}");
        assert!(err.contains(says), "{err}");
        assert_no_agent(&log, &err);
    }
}

#[test]
fn a_refused_connection_on_a_crash_names_the_service_and_runs_no_agent() {
    let (logs, log) = agent_log();
    let port = free_port();
    let script = logs.path().join("client.js");
    std::fs::write(
        &script,
        format!(
            "const net = require('net');\n\
             net.connect({port}, '127.0.0.1').on('connect', () => console.log('connected'));\n"
        ),
    )
    .expect("write client.js");
    let cmd = format!("node {} || exit 5", script.display());
    let out = run_piped(
        &[&cmd],
        &[("FAKE_AGENT_LOG", &log.display().to_string())],
        Some(logs.path()),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains(&format!(
            "[otorepair] Not a code error: connection refused by 127.0.0.1:{port}: is that service running?"
        )),
        "{err}"
    );
    assert_no_agent(&log, &err);
}

#[test]
fn a_refused_connection_while_running_is_said_once_and_the_server_keeps_serving() {
    let (logs, log) = agent_log();
    let server_port = free_port();
    let db_port = free_port();
    // A server whose requests to / need a service that is not running; /ok works.
    let script = logs.path().join("server.py");
    std::fs::write(
        &script,
        format!(
            r#"import socket
from http.server import HTTPServer, BaseHTTPRequestHandler


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/":
            socket.create_connection(("127.0.0.1", {db_port})).close()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")


print("Serving on {server_port}", flush=True)
HTTPServer(("127.0.0.1", {server_port}), Handler).serve_forever()
"#
        ),
    )
    .expect("write server.py");
    let script = script.display().to_string();
    let events_dir = tempfile::tempdir().expect("tempdir");
    let events = events_dir.path().join("events.jsonl");
    let events_arg = events.display().to_string();
    let mut t = Term::spawn(
        &["--events", &events_arg, "--", "python3", &script],
        Opts {
            cwd: Some(logs.path()),
            env: vec![("FAKE_AGENT_LOG", log.display().to_string())],
            ..Opts::default()
        },
    );
    t.expect("Serving on");
    let said = "Not a code error: connection refused";
    let seen = |kind: &str| {
        std::fs::read_to_string(&events)
            .unwrap_or_default()
            .matches(&format!("\"event\":\"{kind}\""))
            .count()
    };
    for n in 1..=2 {
        http_get_path(server_port, "/");
        // Each traceback settles into a block of its own.
        let deadline = Instant::now() + common::DEADLINE;
        while seen("suspect") < n {
            assert!(
                Instant::now() < deadline,
                "block {n} never settled:\n{}",
                t.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        t.expect(said);
    }
    assert!(
        http_get_path(server_port, "/ok").ends_with("ok"),
        "the server stopped"
    );
    assert_eq!(t.text().matches(said).count(), 1, "{}", t.text());
    assert_eq!(seen("environment"), 1);
    assert!(t.text().contains("the command keeps running"));
    assert_no_agent(&log, &t.text());
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(), 143);
}

#[test]
fn a_tool_the_command_runs_that_is_not_installed_is_said_and_waited_for() {
    // `npm run dev` whose `vite` is not installed yet: the shell says so and
    // exits 127. The user installs it and presses Enter, as after any other
    // environment error; no agent is asked to "fix" the source.
    let (logs, log) = agent_log();
    // Installed outside the workspace: a file appearing inside it would
    // restart the command by itself (maybe before the tool is executable).
    let tools = tempfile::tempdir().expect("tempdir");
    let bin = tools.path();
    let path = format!("{}:{}", bin.display(), common::path_with_fakes());
    let mut t = Term::spawn(
        &["sh -c 'echo starting; devtool-otr-test --port 3000'"],
        Opts {
            cwd: Some(logs.path()),
            env: vec![
                ("FAKE_AGENT_LOG", log.display().to_string()),
                ("PATH", path),
            ],
            ..Opts::default()
        },
    );
    t.expect("Not a code error: 'devtool-otr-test' was not found");
    t.expect("waiting for a file change");
    // Installed meanwhile: Enter starts the command again, and it runs.
    let tool = bin.join("devtool-otr-test");
    std::fs::write(&tool, "#!/bin/sh\necho TOOL-RUNS-$((6*7))\n").expect("write tool");
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    t.send(b"\r");
    t.expect("TOOL-RUNS-42");
    assert_eq!(t.wait(), 0);
    assert_no_agent(&log, &t.text());
}

//! Real dev servers healed end to end: Flask with and without its reloader,
//! uvicorn `--reload`, Django's runserver, nodemon and Vite, each with a planted
//! bug, the fake claude fixing it, and a client hitting the server five times a
//! second during and after the fix (Flask also some twenty times a second; for
//! Vite, a page with its HMR websocket open); and `tsc --watch` with a type
//! error. Each must take one fix, then serve (or compile) the fixed code, with
//! no second attempt and no `Giving up`.
//!
//! The servers are pinned packages installed by `tests/dev_servers/install.sh`
//! into `target/dev-servers/` (`.ci/run` runs it; so does the first test here).
//! `OTOREPAIR_SKIP_DEV_SERVERS=1` skips these tests.

#[path = "dev_servers/client.rs"]
mod client;
mod common;

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use client::{get, Client, Requests, Seen};
use common::{free_port, read_jsonl, repo, Opts, Term};
use serde_json::Value;

const SKIP_VAR: &str = "OTOREPAIR_SKIP_DEV_SERVERS";
/// A page left open: `/` five times a second (the issue asks for at least once
/// a second).
const BROWSING: Requests = Requests {
    path: "/",
    every: Duration::from_millis(200),
    hmr: false,
};

fn skip() -> bool {
    if std::env::var(SKIP_VAR).is_ok_and(|v| v == "1") {
        eprintln!("skipping real dev-server tests: {SKIP_VAR}=1");
        return true;
    }
    false
}

/// `target/dev-servers`, installed once per test process (under a file lock
/// across processes).
fn servers() -> PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let res = DIR.get_or_init(|| {
        let area = repo().join("target/dev-servers");
        std::fs::create_dir_all(&area).map_err(|e| e.to_string())?;
        let lock = std::fs::File::create(area.join(".install.lock")).map_err(|e| e.to_string())?;
        // SAFETY: flock on a file we own; released when `lock` is dropped.
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
        let out = Command::new("bash")
            .arg(repo().join("tests/dev_servers/install.sh"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run install.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "tests/dev_servers/install.sh failed ({}); set {SKIP_VAR}=1 to skip these tests\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(area)
    });
    match res {
        Ok(p) => p.clone(),
        Err(e) => panic!("{e}"),
    }
}

/// A server with a planted bug, how to run it, and the agent's fix.
struct Server {
    name: &'static str,
    files: Vec<(&'static str, String)>,
    /// The command, given the tools directory and the port.
    command: fn(&Path, u16) -> Vec<String>,
    fix: &'static str,
    /// Evidence otorepair must have seen (`None`: depends on timing).
    evidence: Option<&'static [&'static str]>,
    /// What the client asks for, and how often.
    requests: Requests,
}

/// A project with a planted bug, running through otorepair with the fake
/// claude ready to apply its fix.
struct Running {
    t: Term,
    events: PathBuf,
    _dir: tempfile::TempDir,
    _logs: tempfile::TempDir,
}

/// Writes `files` into a new project and starts `command` (the tools directory
/// and a free port given) in it through otorepair; `fix` is `FAKE_AGENT_EDIT`.
fn start(
    tools: &Path,
    files: &[(&str, String)],
    command: impl FnOnce(&Path, u16) -> Vec<String>,
    fix: &str,
) -> (Running, u16) {
    // One level down: tsc --watch does not watch a project right under a
    // top-level directory (`/tmp/.tmpXXXX`), as it does not watch `/home/me`.
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    for (name, text) in files {
        let path = project.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, text).unwrap();
    }
    let logs = tempfile::tempdir().unwrap();
    let events = logs.path().join("events.jsonl");
    let port = free_port();
    let mut args = vec![
        "--events".to_string(),
        events.display().to_string(),
        "--".into(),
    ];
    args.extend(command(tools, port));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let t = Term::spawn(
        &args,
        Opts {
            cwd: Some(&project),
            env: vec![
                (
                    "FAKE_AGENT_LOG",
                    logs.path().join("agent.jsonl").display().to_string(),
                ),
                ("FAKE_AGENT_EDIT", fix.to_string()),
                ("PORT", port.to_string()),
                ("FLASK_RUN_PORT", port.to_string()),
                (
                    "PATH",
                    format!(
                        "{}:{}",
                        tools.join("venv/bin").display(),
                        common::path_with_fakes()
                    ),
                ),
            ],
            ..Opts::default()
        },
    );
    let running = Running {
        t,
        events,
        _dir: dir,
        _logs: logs,
    };
    (running, port)
}

/// What a healed run left: its terminal text and its events.
struct Healed {
    text: String,
    events: Vec<Value>,
}

impl Running {
    /// Stops otorepair (SIGTERM: 143, whatever the command does with it) and
    /// checks the fix was taken once: one attempt, no retry, one reload whose
    /// evidence is among `evidence` (`None`: depends on timing).
    fn stop_healed_once(mut self, evidence: Option<&[&str]>, ctx: &str) -> Healed {
        self.t.signal(libc::SIGTERM);
        let code = self.t.wait();
        let text = self.t.text();
        let events = read_jsonl(&self.events);
        let ctx = format!("{ctx}\nterminal:\n{text}");
        let named =
            |name: &str| -> Vec<&Value> { events.iter().filter(|e| e["event"] == name).collect() };
        assert!(!text.contains("attempt 2/"), "{ctx}");
        assert!(!text.contains("Giving up"), "{ctx}");
        assert_eq!(named("fix_start").len(), 1, "{ctx}");
        let seen: Vec<&str> = named("reload")
            .iter()
            .map(|e| e["evidence"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(seen.len(), 1, "{ctx}");
        if let Some(allowed) = evidence {
            assert!(allowed.contains(&seen[0]), "evidence {seen:?}: {ctx}");
        }
        assert_eq!(named("live").len(), 1, "{ctx}");
        assert_eq!(code, 143, "{ctx}");
        Healed { text, events }
    }
}

/// Runs `server` through otorepair with a client hitting it; checks the heal.
/// `None` when the test is skipped.
fn heal(server: Server) -> Option<Healed> {
    if skip() {
        return None;
    }
    let tools = servers();
    let (mut running, port) = start(&tools, &server.files, server.command, server.fix);
    let client = Client::start(port, server.requests);
    let t = &mut running.t;
    client.wait_for(
        |seen| seen.iter().any(Seen::answered_by_the_bug),
        "the planted bug to answer",
        t,
    );
    t.expect("Fix applied in");
    t.expect("otorepair undo to revert");
    client.wait_for(
        |seen| seen.iter().any(Seen::is_fixed),
        "the fixed code to serve",
        t,
    );
    // A few more requests: every one served by the fixed code, and nothing retried.
    let first = client.seen().iter().position(Seen::is_fixed).unwrap_or(0);
    client.wait_for(|seen| seen.len() >= first + 4, "three more requests", t);
    let seen = client.seen();
    drop(client);
    let ctx = format!("{}: client saw {seen:?}", server.name);
    assert!(seen[first..].iter().all(Seen::is_fixed), "{ctx}");
    Some(running.stop_healed_once(server.evidence, &ctx))
}

const FLASK_APP: &str = "from flask import Flask\n\
app = Flask(__name__)\n\
\n\
@app.route('/')\n\
def index():\n    cart = {}\n    return 'total: %s' % cart['total']\n";
const FLASK_FIX: &str = "app.py::'total: %s' % cart['total']::'fixed'";

/// `flask --app app run [FLAGS] --port PORT` from the pinned venv.
fn flask(tools: &Path, port: u16, flags: &[&str]) -> Vec<String> {
    let mut argv = vec![tools.join("venv/bin/flask").display().to_string()];
    argv.extend(
        ["--app", "app", "run"]
            .iter()
            .chain(flags)
            .map(|s| s.to_string()),
    );
    argv.extend(["--port".to_string(), port.to_string()]);
    argv
}

#[test]
fn flask_debug_reloads_the_fix_itself() {
    heal(Server {
        name: "flask --debug",
        files: vec![("app.py", FLASK_APP.into())],
        command: |tools, port| flask(tools, port, &["--debug"]),
        fix: FLASK_FIX,
        evidence: Some(&["output", "process"]),
        requests: BROWSING,
    });
}

#[test]
fn a_flask_route_hit_many_times_a_second_is_detected_at_once_and_fixed_once() {
    // Tracebacks less than 150 ms apart used to keep one block open for as long
    // as they came (12-45 s): each must be an error of its own, reported when the
    // next one starts, however steady the requests.
    let Some(healed) = heal(Server {
        name: "flask --debug, hammered",
        files: vec![("app.py", FLASK_APP.into())],
        command: |tools, port| flask(tools, port, &["--debug"]),
        fix: FLASK_FIX,
        evidence: Some(&["output", "process"]),
        requests: Requests {
            every: Duration::from_millis(40),
            ..BROWSING
        },
    }) else {
        return;
    };
    let first = healed
        .events
        .iter()
        .find(|e| e["event"] == "suspect")
        .expect("a suspect event");
    let lines: Vec<&str> = first["lines"]
        .as_array()
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let tracebacks = lines
        .iter()
        .filter(|l| l.starts_with("Traceback (most recent call last):"))
        .count();
    assert_eq!(tracebacks, 1, "one error per block: {lines:#?}");
    assert_eq!(
        lines.last().copied(),
        Some("KeyError: 'total'"),
        "{lines:#?}"
    );
}

#[test]
fn flask_without_a_reloader_is_restarted() {
    heal(Server {
        name: "flask",
        files: vec![("app.py", FLASK_APP.into())],
        command: |tools, port| flask(tools, port, &[]),
        fix: FLASK_FIX,
        evidence: Some(&["restart"]),
        requests: BROWSING,
    });
}

/// A bare ASGI app (uvicorn ships no framework): the bug raises in the handler.
const ASGI_APP: &str = "async def app(scope, receive, send):
    if scope['type'] != 'http':
        return
    cart = {}
    body = ('total: %s' % cart['total']).encode()
    await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
    await send({'type': 'http.response.body', 'body': body})
";

#[test]
fn uvicorn_reload_restarts_its_worker() {
    heal(Server {
        name: "uvicorn --reload",
        files: vec![("main.py", ASGI_APP.into())],
        command: |tools, port| {
            let uvicorn = tools.join("venv/bin/uvicorn").display().to_string();
            vec![
                uvicorn,
                "main:app".into(),
                "--reload".into(),
                "--port".into(),
                port.to_string(),
            ]
        },
        fix: "main.py::('total: %s' % cart['total']).encode()::b'fixed'",
        evidence: Some(&["output", "process"]),
        requests: BROWSING,
    });
}

/// A node server whose handler throws: node dies, nodemon waits for a change.
const NODE_SERVER: &str = "const http = require('http');\n\
http.createServer((req, res) => {\n\
  const cart = undefined;\n\
  res.end('total: ' + cart.total);\n\
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'));\n";

#[test]
fn nodemon_restarts_node_after_the_fix() {
    heal(Server {
        name: "nodemon",
        files: vec![("server.js", NODE_SERVER.into())],
        command: |tools, _| {
            let nodemon = tools
                .join("node_modules/.bin/nodemon")
                .display()
                .to_string();
            vec![nodemon, "server.js".into()]
        },
        fix: "server.js::'total: ' + cart.total::'fixed'",
        evidence: Some(&["output", "process"]),
        requests: BROWSING,
    });
}

/// A type error tsc reports, and nothing else wrong (no output files).
const TSCONFIG: &str =
    "{ \"compilerOptions\": { \"strict\": true, \"noEmit\": true, \"target\": \"es2022\" }, \"include\": [\"src\"] }\n";
const TS_CART: &str = "export function total(items: number[]): string {\n  \
const sum: number = items.reduce((a, b) => a + b, 0);\n  \
const label: string = sum;\n  \
return label;\n}\n";
const TS_FIX: &str = "src/cart.ts::const label: string = sum;::const label: string = String(sum);";

/// The byte offset just past the last screen clear in `text` (`ESC[2J` for
/// tsc, Vite's `ESC[1;1H ESC[0J`), or 0.
fn after_last_clear(text: &str) -> usize {
    ["\x1b[2J", "\x1b[0J"]
        .iter()
        .filter_map(|clear| text.rfind(clear).map(|at| at + clear.len()))
        .max()
        .unwrap_or(0)
}

#[test]
fn tsc_watch_type_error_is_fixed_once_and_recorded_after_its_screen_clear() {
    // tsc --watch keeps running with a type error: a live error. It takes the
    // fix in-process: `File change detected` (after clearing the screen), then
    // `Found 0 errors` is the new code; the fix record must come after the clear.
    if skip() {
        return;
    }
    let tools = servers();
    let files = [
        ("tsconfig.json", TSCONFIG.to_string()),
        ("src/cart.ts", TS_CART.to_string()),
    ];
    let tsc = |tools: &Path, _| {
        let tsc = tools.join("node_modules/.bin/tsc").display().to_string();
        vec![tsc, "--watch".to_string()]
    };
    let (mut running, _) = start(&tools, &files, tsc, TS_FIX);
    let t = &mut running.t;
    t.expect("error TS2322");
    t.expect("Fix applied in");
    t.expect("otorepair undo to revert");
    let healed = running.stop_healed_once(Some(&["output"]), "tsc --watch");
    let text = &healed.text;
    let fixed = text.find("Fix applied in").unwrap_or(0);
    let record = text
        .rfind("otorepair undo to revert")
        .unwrap_or_else(|| panic!("no fix record:\n{text}"));
    assert!(
        text[fixed..record].contains("Found 0 errors. Watching for file changes."),
        "the new code compiled before the fix was taken as live:\n{text}"
    );
    assert!(
        after_last_clear(text) <= record,
        "a screen clear erased the fix record:\n{text}"
    );
    let path = healed.events.iter().find(|e| e["event"] == "fix_start");
    assert_eq!(
        path.map(|e| e["path"].clone()),
        Some("live".into()),
        "{text}"
    );
}

const VITE_INDEX: &str = "<!doctype html>\n<html><body><div id=\"app\"></div>\
<script type=\"module\" src=\"/src/main.js\"></script></body></html>\n";
const VITE_MAIN: &str = "import { total } from './cart.js'\n\
document.querySelector('#app').textContent = 'total: ' + total([1, 2])\n";
/// A syntax error: the call is never closed.
const VITE_CART: &str =
    "export function total(items) {\n  return items.reduce((a, b) => a + b, 0\n}\n";

#[test]
fn vite_serves_the_fixed_module_after_its_page_reload() {
    // A browser has the page open (its HMR websocket connected) and reloads the
    // broken module: `[vite] Internal server error` on each request. Vite takes
    // the fix in-process and tells the page to reload: that line is the evidence.
    let Some(healed) = heal(Server {
        name: "vite",
        files: vec![
            ("index.html", VITE_INDEX.into()),
            ("src/main.js", VITE_MAIN.into()),
            ("src/cart.js", VITE_CART.into()),
        ],
        command: |tools, port| {
            let vite = tools.join("node_modules/.bin/vite").display().to_string();
            let port = port.to_string();
            [
                vite.as_str(),
                "--host",
                "127.0.0.1",
                "--port",
                &port,
                "--strictPort",
            ]
            .map(String::from)
            .to_vec()
        },
        fix: "src/cart.js::a + b, 0\n::a + b, 0) // fixed\n",
        evidence: Some(&["output"]),
        requests: Requests {
            path: "/src/cart.js",
            hmr: true,
            ..BROWSING
        },
    }) else {
        return;
    };
    let text = &healed.text;
    let record = text
        .rfind("otorepair undo to revert")
        .unwrap_or_else(|| panic!("no fix record:\n{text}"));
    assert!(text.contains("Internal server error"), "{text}");
    assert!(
        after_last_clear(text) <= record,
        "a screen clear erased the fix record:\n{text}"
    );
}

const DJANGO_MANAGE: &str = "import os, sys\n\
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'shop.settings')\n\
from django.core.management import execute_from_command_line\n\
execute_from_command_line(sys.argv)\n";
const DJANGO_SETTINGS: &str = "SECRET_KEY = 'dev-only'\n\
DEBUG = True\n\
ALLOWED_HOSTS = ['*']\n\
ROOT_URLCONF = 'shop.urls'\n\
INSTALLED_APPS = []\n\
DATABASES = {}\n\
MIDDLEWARE = []\n";
const DJANGO_URLS: &str = "from django.urls import path\n\
from shop import views\n\
urlpatterns = [path('', views.index)]\n";
const DJANGO_VIEWS: &str = "from django.http import HttpResponse\n\
\n\
def index(request):\n    cart = {}\n    return HttpResponse('total: %s' % cart['total'])\n";

#[test]
fn django_runserver_reloads_or_is_restarted() {
    heal(Server {
        name: "django runserver",
        files: vec![
            ("manage.py", DJANGO_MANAGE.into()),
            ("shop/__init__.py", String::new()),
            ("shop/settings.py", DJANGO_SETTINGS.into()),
            ("shop/urls.py", DJANGO_URLS.into()),
            ("shop/views.py", DJANGO_VIEWS.into()),
        ],
        command: |tools, port| {
            let python = tools.join("venv/bin/python").display().to_string();
            vec![
                python,
                "manage.py".into(),
                "runserver".into(),
                format!("127.0.0.1:{port}"),
            ]
        },
        fix: "shop/views.py::'total: %s' % cart['total']::'fixed'",
        // Its reloader polls once a second and misses an edit made within about a
        // second of the error; then the restart is the evidence.
        evidence: None,
        requests: BROWSING,
    });
}

#[test]
fn ctrl_c_stops_servers_that_exit_0_on_sigint_with_their_own_code() {
    if skip() {
        return;
    }
    let tools = servers();
    for (name, command, ready) in [
        (
            "flask",
            vec!["venv/bin/flask", "--app", "app", "run"],
            "Press CTRL+C to quit",
        ),
        (
            "uvicorn",
            vec!["venv/bin/uvicorn", "main:app"],
            "Press CTRL+C to quit",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.py"), FLASK_APP).unwrap();
        std::fs::write(dir.path().join("main.py"), ASGI_APP).unwrap();
        let port = free_port().to_string();
        let program = tools.join(command[0]).display().to_string();
        let mut args = vec!["--", program.as_str()];
        args.extend_from_slice(&command[1..]);
        args.extend_from_slice(&["--port", port.as_str()]);
        let mut t = Term::spawn(
            &args,
            Opts {
                cwd: Some(dir.path()),
                ..Opts::default()
            },
        );
        t.expect(ready);
        // Serving (past start-up, inside the loop that handles SIGINT).
        let deadline = Instant::now() + common::DEADLINE;
        while get(port.parse().unwrap(), "/").body == "refused" && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        t.send(b"\x03");
        assert_eq!(t.wait(), 0, "{name}: {}", t.text());
    }
}
